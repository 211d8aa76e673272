"""The training loop of MFCVAE: prior initialisation and progressive training.

Tensors in, tensors out. The whole training set lives on the device (or, too large for a
GPU, streams to it from host memory in chunks); minibatches are drawn by index
permutation and, on GPUs, losses are read back once per epoch, so the loop never waits
on the device inside an epoch (on the CPU, where reading a value costs nothing, every
batch's loss is checked at once). On CUDA each step can be replayed from a CUDA graph.
:func:`train` rolls back epochs whose loss or weights become non-finite, halves the batch
size when CUDA runs out of memory, keeps the last completed epoch on Ctrl-C, and stops
early on held-out data.
"""

import copy
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.mixture import GaussianMixture

from skmfc._device import (PRECISIONS, autocast, device_of, set_tensor_float32,
                           uses_tensor_float32)
from skmfc.nn.inference import (INFERENCE_BATCH_SIZE, cluster_scores, elbo_samples,
                                encode_means, encode_posteriors)
from skmfc.nn.inference import mean_elbo as validation_elbo

# The prior's Gaussian mixture is fitted to the posterior means of at most this many rows
# (hundreds per component for the usual K; its fit costs time in every progressive step).
GMM_MAX_SAMPLES = 10000
# Dead clusters are confirmed, and re-seeded onto poorly explained points, on a random
# subset of at most this many rows: enough for shares of a fraction of a percent, and
# one inference chunk instead of a pass over a large data set after an epoch.
RESEED_MAX_SAMPLES = INFERENCE_BATCH_SIZE
# Training data that stay in host memory reach the device in chunks of about this size.
STREAM_CHUNK_BYTES = 256 * 2 ** 20
# A non-finite epoch is retried this many times, each with half the learning rate.
MAX_NONFINITE_RETRIES = 3
# Out of GPU memory, the batch size is halved down to this and no further.
MIN_BATCH_SIZE = 8


@dataclass
class TrainingHistory:
    """What happened during training.

    Attributes
    ----------
    elbo : list of float
        Mean training objective (the progressive-weighted ELBO, without the free-nats
        floor) of each epoch.
    step_of_epoch : list of int
        Progressive step each epoch belonged to (0: deepest facet alone).
    n_reseeded : list of int
        Dead clusters re-seeded after each epoch.
    validation : list of float
        Validation ELBO (standardised units) after each epoch, when validation data
        were given.
    best_validation : float or None
        Best validation ELBO among the epochs where early stopping could act; the
        module holds the weights of that epoch.
    best_epoch : int or None
        Number (1-based) of that epoch.
    stopped_early : bool
        Whether training ended because the validation ELBO stopped improving (possibly
        in the last scheduled epoch).
    converged : bool
        Whether the ELBO that training watches (the validation ELBO with validation
        data, the training ELBO otherwise) improved by no more than ``tol`` over the last
        ``n_iter_no_change`` epochs, counted once every facet is switched on and the
        priors are refitted.
    interrupted : bool
        Whether a KeyboardInterrupt ended training; the module then holds the last
        completed epoch (or the best validated one).
    skipped_passes : list of str
        Passes over the data after training (the estimator's final ELBO and labels,
        cluster merging) that a KeyboardInterrupt cut short.
    learning_rate : float
        Learning rate at the end (halved after every non-finite epoch).
    batch_size : int
        Batch size at the end (halved after every out-of-memory error).
    n_nonfinite_epochs : int
        Epochs that were rolled back because the loss or the weights became non-finite.
    """

    elbo: list = field(default_factory=list)
    step_of_epoch: list = field(default_factory=list)
    n_reseeded: list = field(default_factory=list)
    validation: list = field(default_factory=list)
    best_validation: float = None
    best_epoch: int = None
    stopped_early: bool = False
    converged: bool = False
    interrupted: bool = False
    skipped_passes: list = field(default_factory=list)
    learning_rate: float = None
    batch_size: int = None
    n_nonfinite_epochs: int = 0


def split_epochs(max_iter, n_facets, progressive=True):
    """Share ``max_iter`` epochs among the progressive steps, earliest steps first.

    >>> split_epochs(10, 3)
    [4, 3, 3]
    >>> split_epochs(10, 3, progressive=False)
    [10]

    Raises
    ------
    ValueError
        When a progressive step would get no epoch, and its facet no training.
    """
    if not progressive or n_facets == 1:
        return [max_iter]
    if max_iter < n_facets:
        raise ValueError(
            f"max_iter={max_iter} is too few epochs for progressive training of "
            f"n_facets={n_facets}: each facet needs a step of at least one epoch, so "
            f"max_iter must be at least {n_facets} (or use progressive=False)")
    base, extra = divmod(max_iter, n_facets)
    return [base + (step < extra) for step in range(n_facets)]


def facet_weights_at(step, batch_in_step, fade_in_batches, n_facets, progressive=True):
    """Fade-in weights ``alpha = gamma`` of every facet at one training batch.

    Step 0 trains facet ``J-1`` alone; step ``s`` fades in facet ``J-1-s`` linearly from 0
    to 1 over ``fade_in_batches`` batches. Facets not yet switched on have weight 0.

    Returns
    -------
    ndarray of shape (J,)
    """
    weights = np.zeros(n_facets)
    if not progressive:
        weights[:] = 1.0
        return weights
    newest = n_facets - 1 - step
    weights[newest + 1:] = 1.0
    if step == 0:
        weights[newest] = 1.0
    else:
        weights[newest] = min(1.0, (batch_in_step + 1) / max(fade_in_batches, 1))
    return weights


def _random_rows(X, max_rows, random_state):
    """``X`` itself, or a random subset of ``max_rows`` of its rows (kept in order) when it
    has more."""
    if len(X) <= max_rows:
        return X
    rows = np.random.RandomState(random_state).choice(len(X), max_rows, replace=False)
    return X[torch.as_tensor(np.sort(rows), device=X.device)]


@torch.no_grad()
def initialise_prior(module, facet, X, random_state, initial_variance=None):
    """Fit a diagonal Gaussian mixture to the current encoder's means and copy it in.

    Parameters
    ----------
    module : MFCVAE
    facet : int
    X : Tensor
        Training data, on the module's device or in host memory; a random subset of
        ``GMM_MAX_SAMPLES`` rows when it has more.
    random_state : int
        Seed of the Gaussian mixture fit (and of the subset).
    initial_variance : float, optional
        Variance of every component after initialisation; the mixture's own fitted
        variances when None.
    """
    # A random subset is plenty for a mixture in a few dimensions, and the fit on all of a
    # large data set would cost seconds of every progressive step.
    subset = _random_rows(X, GMM_MAX_SAMPLES, random_state)
    means = encode_means(module, subset)[facet].double().cpu().numpy()
    if not np.isfinite(means).all():
        raise FloatingPointError(
            f"the encoder gives non-finite latent means for facet {facet}; check X for extreme "
            "values or outliers, or use a smaller learning_rate")
    prior = module.priors[facet]
    n_clusters = prior.n_clusters
    scale = float(means.std(0).mean()) + 1e-12
    try:
        mixture = GaussianMixture(n_clusters, covariance_type="diag", random_state=random_state,
                                  reg_covar=1e-6 * scale ** 2 + 1e-12, max_iter=200)
        mixture.fit(means / scale)
        component_means = mixture.means_ * scale
        variances = mixture.covariances_ * scale ** 2
    except ValueError:
        # The means have (almost) no spread, e.g. for constant data: the mixture's
        # covariances collapse. Spread the components around the means' centre instead.
        spread = max(scale, 1e-2)
        rng = np.random.RandomState(random_state)
        component_means = means.mean(0) + spread * rng.standard_normal(
            (n_clusters, means.shape[1]))
        variances = np.full_like(component_means, spread ** 2)
    if initial_variance is not None:
        variances = np.full_like(component_means, initial_variance)
    as_tensor = dict(dtype=prior.means.dtype, device=prior.means.device)
    prior.set_components(torch.as_tensor(component_means, **as_tensor),
                         torch.as_tensor(variances, **as_tensor).clamp_min(prior.min_variance))


@torch.no_grad()
def reseed_dead_clusters(module, facets, X, min_share, cluster_shares=None, random_state=0):
    """Move clusters that hold almost no data onto the worst-explained points.

    The data (a random subset of ``RESEED_MAX_SAMPLES`` rows when there are more) are
    encoded once for all ``facets``. A cluster is dead when its total
    posterior mass ``sum_x q(c_j = k | x)`` is below ``min_share / K_j`` of the data.
    With ``cluster_shares`` (each cluster's share of the data as seen during the last
    epoch's batches, which costs nothing to collect), only facets with a cluster that
    looks dead there are encoded and checked, so most epochs need no pass over the data.
    Each dead cluster gets, as its mean, the posterior mean of one of the points with the
    lowest mixture density, the median variance of the live clusters, and an average
    mixing weight: this is how k-means and EM implementations revive empty clusters, and
    it keeps every cluster in use.

    Parameters
    ----------
    module : MFCVAE
    facets : sequence of int
    X : Tensor
        Training data, on the module's device or in host memory.
    min_share : float
    cluster_shares : list of ndarray or Tensor, optional
        Per facet of the module, shape (K_j,), summing to 1.
    random_state : int
        Seed of the subset.

    Returns
    -------
    int
        Number of clusters moved, over all ``facets``.
    """
    if cluster_shares is not None:
        facets = [facet for facet in facets if bool(
            (cluster_shares[facet] < min_share / module.priors[facet].n_clusters).any())]
    if len(facets) == 0:
        return 0
    posteriors = encode_posteriors(module, _random_rows(X, RESEED_MAX_SAMPLES, random_state))
    return sum(_reseed_facet(module, facet, *posteriors[facet], min_share) for facet in facets)


def _reseed_facet(module, facet, means, log_variances, min_share):
    prior = module.priors[facet]
    log_proba, log_evidence = cluster_scores(module, facet, means, log_variances)
    share = log_proba.exp().mean(0)
    dead = torch.nonzero(share < min_share / prior.n_clusters).flatten()
    if len(dead) == 0 or len(dead) == prior.n_clusters:
        return 0
    worst_points = torch.argsort(log_evidence)[:len(dead)]
    live = torch.ones(prior.n_clusters, dtype=torch.bool, device=share.device)
    live[dead] = False
    variances = prior.variances()
    new_means = prior.means.detach().clone()
    new_variances = variances.detach().clone()
    new_means[dead] = means[worst_points].to(new_means.dtype)
    new_variances[dead] = variances[live].median(dim=0).values
    weights = prior.log_weights().exp()
    weights[dead] = weights[live].mean()
    prior.set_components(new_means, new_variances, weights / weights.sum())
    return len(dead)


def _snapshot(module, optimizer):
    """Copies of the module's weights and of the optimizer's per-parameter state."""
    return ({key: value.detach().clone() for key, value in module.state_dict().items()},
            [{key: value.clone() if torch.is_tensor(value) else value
              for key, value in optimizer.state[parameter].items()}
             for parameter in _parameters(optimizer)])


def _restore(module, optimizer, snapshot):
    """Copy a :func:`_snapshot` back *into* the existing tensors.

    In place, because a captured CUDA graph keeps reading the tensors it was captured
    with. An optimizer state that did not exist at the snapshot is zeroed, which for
    Adam (zero moments, step 0) is the same as no state.
    """
    module_state, optimizer_state = snapshot
    module.load_state_dict(module_state)
    with torch.no_grad():
        for parameter, saved in zip(_parameters(optimizer), optimizer_state):
            for key, value in optimizer.state[parameter].items():
                if not torch.is_tensor(value):
                    optimizer.state[parameter][key] = saved.get(key, value)
                elif key in saved:
                    value.copy_(saved[key])
                else:
                    value.zero_()
    optimizer.zero_grad(set_to_none=True)


def _parameters_finite(module):
    """Whether every weight is finite, as a 0-d bool tensor on the module's device (no
    synchronisation)."""
    return _all_finite(module.parameters())


def _snapshot_finite(snapshot):
    """Whether every floating-point value of a :func:`_snapshot` (weights, buffers and
    optimizer state) is finite: only such a snapshot is worth rolling back to."""
    module_state, optimizer_state = snapshot
    tensors = [*module_state.values(),
               *(value for state in optimizer_state for value in state.values()
                 if torch.is_tensor(value))]
    return bool(_all_finite(tensor for tensor in tensors if tensor.is_floating_point()))


def _all_finite(tensors):
    """Whether every value of ``tensors`` is finite, as a 0-d bool tensor. Summing each
    tensor first takes one pass and no temporary; a nan or inf anywhere makes the sum
    non-finite (finite values could only overflow it beyond 3e38 in float32, which no
    usable network has)."""
    sums = [tensor.detach().sum().float() for tensor in tensors]
    if not sums:
        return torch.ones((), dtype=torch.bool)
    return torch.isfinite(torch.stack([total.to(sums[0].device) for total in sums]).sum())


def _parameters(optimizer):
    return [parameter for group in optimizer.param_groups for parameter in group["params"]]


def _adam(module, learning_rate, capturable=False):
    """Adam with the fused implementation (one kernel for all parameters) where torch
    has it for the module's device, the multi-tensor one elsewhere. ``capturable``
    keeps the step count and the learning rate on the device, for CUDA graphs."""
    if capturable:
        return torch.optim.Adam(module.parameters(), fused=True, capturable=True,
                                lr=torch.tensor(float(learning_rate), device=device_of(module)))
    try:
        return torch.optim.Adam(module.parameters(), lr=learning_rate, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(module.parameters(), lr=learning_rate)


def _set_learning_rate(optimizer, learning_rate):
    for group in optimizer.param_groups:
        if torch.is_tensor(group["lr"]):
            group["lr"].fill_(learning_rate)
        else:
            group["lr"] = learning_rate


def train(module, X, *, epochs_per_step, fade_in_fraction, batch_size, learning_rate,
          free_nats, seed, progressive=True, initial_variance=None, prior_refit_fraction=0.0,
          min_cluster_share=0.0, on_epoch_end=None, initialise_priors=True,
          X_validation=None, n_iter_no_change=10, tol=1e-4,
          max_nonfinite_retries=MAX_NONFINITE_RETRIES, min_batch_size=MIN_BATCH_SIZE,
          precision="float32", cuda_graphs=False, chunk_rows=None, guide_labels=None,
          guide_strength=None, compile_loss=False, kl_warmup_fraction=0.0):
    """Train an :class:`~skmfc.nn.MFCVAE` progressively, deepest facet first.

    Each facet's prior is initialised from the encoder, as it is when that facet is
    switched on, by a Gaussian mixture on its posterior means.

    Training survives three kinds of fault. A copy of the module and optimizer state is
    kept at the end of every good epoch; an epoch whose end state holds a non-finite
    value anywhere (weights, buffers, optimizer moments) is not good.

    - A non-finite loss or weight: the loss is checked after every batch on the CPU
      (free there) and, on other devices, once per epoch through the epoch's ELBO sum,
      into which every batch's loss is folded, and the weights. The epoch is rolled
      back and run again with half the learning rate, up to ``max_nonfinite_retries``
      times in a row; then :class:`FloatingPointError` is raised.
    - ``torch.cuda.OutOfMemoryError`` in a training batch: the epoch is rolled back and
      run again with half the batch size, down to ``min_batch_size``; then the error is
      raised again with advice.
    - ``KeyboardInterrupt``: training stops and the module gets the state of the last
      completed epoch (or of the best validated one with early stopping); the
      interrupt is raised again when no epoch has completed.

    Parameters
    ----------
    module : MFCVAE
        Module on its training device, in float32 (or float64).
    X : Tensor of shape (n, *input_shape)
        Training data, on the module's device, or in host memory when they do not fit
        there: each epoch then reaches the device in chunks of whole batches (see
        ``chunk_rows``), gathered on the host into pinned buffers while the device
        trains on the chunk before.
    epochs_per_step : list of int
        Epochs of each progressive step (see :func:`split_epochs`).
    fade_in_fraction : float
        Fraction of a step's batches over which a new facet fades in.
    batch_size : int
    learning_rate : float
        Adam step size.
    free_nats : sequence of float
        Per-facet floor of the batch-mean KL (minimum information constraint).
    seed : int
        Seeds the batch order and the mixture fits; the caller owns torch's global RNG.
    progressive : bool
        Whether to switch facets on one by one; otherwise all train from the start.
    initial_variance : float, optional
        See :func:`initialise_prior`.
    prior_refit_fraction : float
        Refit the priors of the facets switched on in a step this far into the step.
    min_cluster_share : float
        After every epoch, clusters of fully switched-on facets holding less than
        ``min_cluster_share / K`` of the data are re-seeded (see
        :func:`reseed_dead_clusters`); 0 switches this off.
    on_epoch_end : callable, optional
        Called as ``on_epoch_end(epoch, elbo)`` after every epoch.
    initialise_priors : bool
        Fit the priors to the encoder when facets are switched on (and refit them);
        False continues training a trained module as it is (warm start).
    X_validation : Tensor, optional
        Held-out data: their ELBO (:func:`validation_elbo`) is recorded after every
        epoch, and training stops early when it has not improved by at least ``tol``
        nats per sample for ``n_iter_no_change`` epochs in a row. Only epochs of the last
        progressive step count, once every facet is fully faded in and the priors are
        refitted; the module ends with the weights of the best of them.
    n_iter_no_change : int
    tol : float
        Absolute improvement, in nats per sample, of the validation ELBO (or, without
        validation data, the training ELBO) below which an epoch counts as no
        improvement, for early stopping and ``history.converged``.
    max_nonfinite_retries : int
    min_batch_size : int
    precision : {"float32", "tf32", "bfloat16"}
        Arithmetic of the training steps. ``"float32"``: every product in float32,
        TF32 switched off. ``"tf32"``: on CUDA, matrix products and convolutions on
        TF32 tensor cores (inputs rounded to 10 mantissa bits, float32 accumulation and
        everything else float32); the same as ``"float32"`` on the CPU. ``"bfloat16"``:
        the forward pass under bfloat16 autocast, on CUDA and on the CPU (matrix
        products in bfloat16; the weights and the optimizer in float32).
    cuda_graphs : bool
        On CUDA, capture each training step once as a CUDA graph and replay it (see
        :class:`_CapturedSteps`); falls back to ordinary steps, with a warning, if the
        capture fails.

    chunk_rows : int, optional
        Rows per chunk for data in host memory (rounded down to whole batches, at least
        one); by default about ``STREAM_CHUNK_BYTES`` of data. Given for data already on
        the module's device, it makes them go through the chunks all the same.
    guide_labels : LongTensor of shape (n, J), optional
        A guide cluster of every row of ``X`` in every facet (:mod:`skmfc.guide`), on the
        device of ``X``; facet ``j``'s clusters are pulled towards column ``j`` by a
        cross-entropy of weight ``guide_strength[j]``, fading linearly to 0 over the
        epochs (see :func:`guide_weights_at`).
    guide_strength : sequence of float, optional
        Initial weight of each facet's guide (0: no guide). Needed with ``guide_labels``.
    kl_warmup_fraction : float
        Fraction of all epochs over which the weight of every KL term rises linearly from
        0 to 1 (on top of the facets' fade-in): the first epochs then train the network
        mostly as an autoencoder, and a prior refit at the end of the warm-up starts the
        mixtures from a structured latent space instead of a random one. 0 switches it off.
    compile_loss : bool
        Run the loss (forward and backward) through :func:`torch.compile`, which fuses
        its elementwise operations into fewer kernels; the first steps then pay for the
        compilation. Works with and without ``cuda_graphs``.

    Returns
    -------
    TrainingHistory
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    n_samples = len(X)
    n_facets = module.n_facets
    device = device_of(module)
    tensor_float32 = uses_tensor_float32(precision, device)
    chunks = None
    if X.device != device or chunk_rows is not None:
        if X.device.type != "cpu":
            raise ValueError(f"X must be on the module's device ({device}) or in host memory, "
                             f"got X on {X.device}")
        chunks = _HostChunks(X, device, batch_size, chunk_rows, guide_labels)
    cuda_graphs = bool(cuda_graphs) and device.type == "cuda"
    orders = _Permutations(n_samples, torch.Generator().manual_seed(seed))
    optimizer = _adam(module, learning_rate, capturable=cuda_graphs)
    free_nats = torch.as_tensor(free_nats, dtype=X.dtype, device=device)
    guide = None
    if guide_labels is not None:
        guide = _Guide(labels=guide_labels if chunks is None else chunks.device_labels,
                       strength=np.asarray(guide_strength, dtype=float),
                       n_epochs=sum(epochs_per_step))
    history = TrainingHistory(learning_rate=float(learning_rate), batch_size=int(batch_size))
    n_epochs_in_all = sum(epochs_per_step)
    last_step = max((step for step, n in enumerate(epochs_per_step) if n > 0), default=-1)
    good = _snapshot(module, optimizer)
    best_state, best_watched, no_improvement = None, None, 0
    epoch = 0
    steps = None
    saved_tensor_float32 = set_tensor_float32(tensor_float32, tensor_float32)
    try:
        for step, n_epochs in enumerate(epochs_per_step):
            if n_epochs == 0:
                continue
            facets_switched_on = [n_facets - 1 - step] if progressive else range(n_facets)
            if initialise_priors:
                for facet in facets_switched_on:
                    initialise_prior(module, facet, X, random_state=seed + facet,
                                     initial_variance=initial_variance)
            refit_epoch = (int(round(prior_refit_fraction * n_epochs))
                           if initialise_priors and prior_refit_fraction else -1)
            module.train()
            good = _snapshot(module, optimizer)
            epoch_in_step, failures = 0, 0
            while epoch_in_step < n_epochs:
                if epoch_in_step == refit_epoch and epoch_in_step > 0:
                    for facet in facets_switched_on:
                        initialise_prior(module, facet, X, random_state=seed + facet)
                n_batches = max(1, -(-n_samples // history.batch_size))
                fade_in_batches = max(1, int(round(fade_in_fraction * n_epochs * n_batches)))
                out_of_memory = None
                try:
                    steps, cuda_graphs = _steps_for(
                        steps, cuda_graphs, module, optimizer,
                        X if chunks is None else chunks.device_rows, free_nats,
                        -(-n_samples // n_batches), precision,
                        None if guide is None else guide.labels, compile_loss)
                    mean_elbo, cluster_shares = _train_epoch(
                        steps, chunks, orders, n_batches,
                        lambda batch: _batch_weights(
                            facet_weights_at(step, epoch_in_step * n_batches + batch,
                                             fade_in_batches, n_facets, progressive),
                            guide, epoch,
                            kl_warmup_at(epoch * n_batches + batch, n_batches * n_epochs_in_all,
                                         kl_warmup_fraction)))
                except torch.cuda.OutOfMemoryError as error:
                    out_of_memory = str(error).split("\n")[0]
                if out_of_memory is not None:
                    steps = _release(steps)
                    _restore(module, optimizer, good)
                    if torch.cuda.is_available():
                        torch.cuda.empty_cache()
                    smaller = history.batch_size // 2
                    if smaller < min_batch_size:
                        raise torch.cuda.OutOfMemoryError(
                            f"the device ran out of memory in epoch {epoch + 1} at batch size "
                            f"{history.batch_size} ({out_of_memory}); the network does not fit "
                            "in memory even in small batches: use smaller hidden_sizes, or "
                            "device='cpu'")
                    warnings.warn(
                        f"the device ran out of memory in epoch {epoch + 1} at batch size "
                        f"{history.batch_size}; epoch {epoch + 1} runs again with batch size "
                        f"{smaller} (set a smaller batch_size to avoid this)",
                        RuntimeWarning, stacklevel=2)
                    history.batch_size = smaller
                    continue
                if math.isfinite(mean_elbo):
                    end_weights = facet_weights_at(step, (epoch_in_step + 1) * n_batches,
                                                   fade_in_batches, n_facets, progressive)
                    warmed_up = kl_warmup_at((epoch + 1) * n_batches, n_batches * n_epochs_in_all,
                                             kl_warmup_fraction) == 1.0
                    if min_cluster_share > 0:
                        n_reseeded = reseed_dead_clusters(
                            module, np.flatnonzero(end_weights == 1.0), X, min_cluster_share,
                            cluster_shares, random_state=seed + epoch)
                    candidate = _snapshot(module, optimizer)
                    if not _snapshot_finite(candidate):
                        mean_elbo = math.nan  # e.g. an optimizer moment overflowed
                if not math.isfinite(mean_elbo):
                    _restore(module, optimizer, good)
                    failures += 1
                    history.n_nonfinite_epochs += 1
                    if failures > max_nonfinite_retries:
                        raise FloatingPointError(
                            f"the loss or the weights became non-finite (inf or nan) in epoch "
                            f"{epoch + 1}, and again in each of {max_nonfinite_retries} "
                            f"retries from the last good state with the learning rate halved "
                            f"down to {history.learning_rate:.3g}. Use a smaller "
                            "learning_rate, check X for extreme values or outliers (scale it, "
                            "e.g. with sklearn.preprocessing.RobustScaler), or raise "
                            "likelihood_std")
                    history.learning_rate /= 2.0
                    _set_learning_rate(optimizer, history.learning_rate)
                    warnings.warn(
                        f"the loss or the weights became non-finite in epoch {epoch + 1}; "
                        "training went back to the state after the last good epoch and runs "
                        f"epoch {epoch + 1} again with learning rate {history.learning_rate:.3g}",
                        RuntimeWarning, stacklevel=2)
                    continue
                failures = 0
                if min_cluster_share > 0:
                    history.n_reseeded.append(n_reseeded)
                if X_validation is not None:
                    score = validation_elbo(module, X_validation, seed)
                    history.validation.append(score)
                if (step == last_step and np.all(end_weights == 1.0) and warmed_up
                        and epoch_in_step >= refit_epoch):
                    watched = mean_elbo if X_validation is None else score
                    improved = best_watched is None or (
                        math.isfinite(watched) and watched > best_watched + tol)
                    no_improvement = 0 if improved else no_improvement + 1
                    if math.isfinite(watched) and (best_watched is None
                                                   or watched > best_watched):
                        best_watched = watched
                        if X_validation is not None:
                            history.best_validation = score
                            history.best_epoch = epoch + 1
                            best_state = {key: value.detach().clone()
                                          for key, value in module.state_dict().items()}
                    history.converged = no_improvement >= n_iter_no_change
                stop = X_validation is not None and history.converged
                good = candidate
                history.elbo.append(mean_elbo)
                history.step_of_epoch.append(step)
                epoch += 1
                epoch_in_step += 1
                if on_epoch_end is not None:
                    on_epoch_end(epoch, mean_elbo)
                if stop:
                    history.stopped_early = True
                    break
            if history.stopped_early:
                break
    except KeyboardInterrupt:
        if not history.elbo:
            raise
        history.interrupted = True
        if best_state is None:
            module.load_state_dict(good[0])
    finally:
        _release(steps)
        set_tensor_float32(*saved_tensor_float32)
    if best_state is not None:
        module.load_state_dict(best_state)
    return history


def _steps_for(steps, cuda_graphs, module, optimizer, X, free_nats, batch_size,
               precision, guide_labels=None, compile_loss=False):
    """The step runner for batches of ``batch_size``: ``steps`` itself when it fits, else a
    new one; returns it and whether CUDA graphs are (still) in use."""
    if cuda_graphs:
        if isinstance(steps, _CapturedSteps) and len(steps.batch_indices) == batch_size:
            return steps, True
        _release(steps)
        try:
            return _CapturedSteps(module, optimizer, X, free_nats, batch_size,
                                  precision, guide_labels, compile_loss), True
        except torch.cuda.OutOfMemoryError:
            raise
        except RuntimeError as error:
            warnings.warn(f"capturing the training step as a CUDA graph failed ({error}); "
                          "training goes on without CUDA graphs", RuntimeWarning, stacklevel=3)
            steps = None
    if steps is None:
        steps = _EagerSteps(module, optimizer, X, free_nats, precision, guide_labels,
                            compile_loss)
    return steps, False


def _release(steps):
    if isinstance(steps, _CapturedSteps):
        steps.release()
    return None


def _train_epoch(steps, chunks, orders, n_batches, weights_of_batch):
    """One pass over the training data in ``n_batches`` shuffled batches of equal size.

    Everything the host needs after the epoch (its ELBO, whether the weights are still
    finite, the clusters' shares) is read back from the device in one transfer, and the
    next epoch's order is drawn while the device works through this one.

    Parameters
    ----------
    steps : _EagerSteps or _CapturedSteps
        Runs the training steps on ``steps.X``.
    chunks : _HostChunks or None
        Feeds ``steps.X`` from host memory; None when ``steps.X`` is all of the data.
    orders : _Permutations
        Draws the batch order.
    n_batches : int
    weights_of_batch : callable
        ``weights_of_batch(batch)`` gives a batch's weights, shape (3, J): the facets'
        fade-in weights, their KL weights and their guide weights.

    Returns
    -------
    mean_elbo : float
        Mean ELBO of the epoch's batches; nan if a loss or, at the end, a weight was
        non-finite.
    cluster_shares : list of ndarray or None
        Per facet, each cluster's share of the epoch's posterior mass.
    """
    device = steps.X.device
    batches = _batch_indices(orders.draw(), n_batches)
    weights = torch.as_tensor(np.array([weights_of_batch(batch) for batch in range(n_batches)]),
                              dtype=steps.X.dtype).to(device, non_blocking=True)
    steps.reset_sums()
    if chunks is None:
        finite = steps.run(batches.to(device, non_blocking=True), weights)
    else:
        finite = chunks.run(steps, batches, weights)
    orders.draw_ahead()
    if not finite:
        return math.nan, None
    mass_sums = steps.mass_sums
    summary = torch.cat([value.reshape(-1).double() for value in (
        steps.elbo_sum, _parameters_finite(steps.module), *mass_sums)]).cpu().numpy()
    if summary[1] != 1.0:
        return math.nan, None
    shares = np.split(summary[2:] / batches.numel(), np.cumsum([len(m) for m in mass_sums])[:-1])
    return float(summary[0]) / n_batches, shares


class _EagerSteps:
    """Training steps run op by op: gather a batch, loss (under bf16 autocast with
    ``precision="bfloat16"``), backward, Adam. On the CPU, where reading a value costs
    nothing, every batch's loss is checked; elsewhere the losses are folded into the
    epoch's ELBO sum and read once per epoch.
    """

    def __init__(self, module, optimizer, X, free_nats, precision="float32",
                 guide_labels=None, compile_loss=False):
        self.module, self.optimizer, self.X, self.free_nats = module, optimizer, X, free_nats
        self.loss = torch.compile(module.loss) if compile_loss else module.loss
        self.guide_labels = guide_labels
        self.check_each_batch = X.device.type == "cpu"
        self.autocast = autocast(X.device, precision)
        self.elbo_sum = torch.zeros((), dtype=X.dtype, device=X.device)
        self.mass_sums = [torch.zeros(prior.n_clusters, dtype=X.dtype, device=X.device)
                          for prior in module.priors]

    def step(self, batch_indices, weights):
        """One optimiser step on the rows ``batch_indices`` with ``weights`` (fade-in,
        KL and guide weights, shape (3, J)); returns the loss."""
        guide_targets = (None if self.guide_labels is None
                         else self.guide_labels.index_select(0, batch_indices))
        with self.autocast:
            loss, elbo, cluster_mass = self.loss(
                self.X.index_select(0, batch_indices), weights[0], weights[1],
                self.free_nats, guide_targets, weights[2])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        # 0 * loss is 0 for a finite loss and nan otherwise: a bad loss anywhere in the
        # epoch shows in the sum, read once at the end.
        self.elbo_sum += elbo.float() + 0.0 * loss.detach().float()
        for mass_sum, mass in zip(self.mass_sums, cluster_mass):
            mass_sum += mass
        return loss

    def run(self, batches, weights):
        """Run the batches (rows of indices into ``X``), adding to ``elbo_sum`` and
        ``mass_sums``; False if a loss checked on the way was not finite."""
        for batch_indices, batch_weights in zip(batches, weights):
            loss = self.step(batch_indices, batch_weights)
            if self.check_each_batch and not bool(torch.isfinite(loss)):
                return False
        return True

    def reset_sums(self):
        self.elbo_sum.zero_()
        for mass_sum in self.mass_sums:
            mass_sum.zero_()


class _CapturedSteps(_EagerSteps):
    """Training steps replayed from one CUDA graph.

    The whole step (batch gather, forward, backward, Adam update and the epoch sums) of
    one batch size is captured once; each batch then costs two small copies (its row
    indices and fade-in weights into the graph's input buffers) and one graph launch,
    instead of hundreds of kernel launches from Python. Capturing needs a few warm-up
    steps; the weights and optimizer state from before them are put back.
    """

    WARMUP_STEPS = 3

    def __init__(self, module, optimizer, X, free_nats, batch_size, precision="float32",
                 guide_labels=None, compile_loss=False):
        super().__init__(module, optimizer, X, free_nats, precision, guide_labels,
                         compile_loss)
        self.check_each_batch = False
        self.batch_indices = torch.zeros(batch_size, dtype=torch.long, device=X.device)
        self.weights = torch.ones(3, module.n_facets, dtype=X.dtype, device=X.device)
        before = _snapshot(module, optimizer)
        try:
            side_stream = torch.cuda.Stream(X.device)
            side_stream.wait_stream(torch.cuda.current_stream(X.device))
            with torch.cuda.stream(side_stream):
                for _ in range(self.WARMUP_STEPS):
                    self.step(self.batch_indices, self.weights)
            torch.cuda.current_stream(X.device).wait_stream(side_stream)
            self.graph = torch.cuda.CUDAGraph()
            optimizer.zero_grad(set_to_none=True)
            with torch.cuda.graph(self.graph):
                self.step(self.batch_indices, self.weights)
        finally:
            _restore(module, optimizer, before)

    def run(self, batches, weights):
        for batch_indices, batch_weights in zip(batches, weights):
            self.batch_indices.copy_(batch_indices)
            self.weights.copy_(batch_weights)
            self.graph.replay()
        return True

    def release(self):
        """Free the graph's memory and leave no gradients pointing into it."""
        del self.graph
        self.optimizer.zero_grad(set_to_none=True)


class _HostChunks:
    """Training data in host memory, fed to the device a chunk of whole batches at a time.

    Each chunk's rows are gathered on the host into one of two pinned buffers (on CUDA)
    and copied to ``device_rows`` without waiting; the steps then index ``device_rows``.
    The copy is queued behind the previous chunk's steps, and the host gathers the next
    chunk into the other buffer while the device trains, so only the transfer itself is
    not overlapped.
    """

    def __init__(self, X, device, batch_size, chunk_rows=None, labels=None):
        row_bytes = max(1, X[:1].nelement() * X.element_size())
        rows = chunk_rows if chunk_rows is not None else STREAM_CHUNK_BYTES // row_bytes
        self.capacity = max(int(rows), int(batch_size))
        self.X = X
        self.on_cuda = device.type == "cuda"
        shape, dtype = (self.capacity, *X.shape[1:]), X.dtype
        self.staging = [torch.empty(shape, dtype=dtype, pin_memory=self.on_cuda)
                        for _ in range(2)]
        self.copied = [None, None]
        # Zeros, not garbage: capturing a CUDA graph runs warm-up steps on these rows.
        self.device_rows = torch.zeros(shape, dtype=dtype, device=device)
        # Guide labels are small: all of them live on the device, and each chunk's are
        # gathered there into `device_labels`, which the steps index like `device_rows`.
        self.labels = None if labels is None else labels.to(device)
        self.device_labels = (None if labels is None else
                              torch.zeros((self.capacity, labels.shape[1]), dtype=labels.dtype,
                                          device=device))
        self.local_indices = torch.arange(self.capacity, device=device)

    def run(self, steps, batches, weights):
        """:meth:`_EagerSteps.run` over ``batches`` (rows of indices into the host ``X``),
        chunk by chunk; False if a checked loss was not finite."""
        per_chunk = max(1, self.capacity // batches.shape[1])
        for index, start in enumerate(range(0, len(batches), per_chunk)):
            chunk = batches[start:start + per_chunk]
            self._stage(chunk.reshape(-1), slot=index % 2)
            if self.labels is not None:
                rows = chunk.reshape(-1).to(self.labels.device, non_blocking=True)
                torch.index_select(self.labels, 0, rows, out=self.device_labels[:len(rows)])
            local = self.local_indices[:chunk.numel()].view(chunk.shape)
            if not steps.run(local, weights[start:start + per_chunk]):
                return False
        return True

    def _stage(self, rows, slot):
        staging = self.staging[slot][:len(rows)]
        if self.copied[slot] is not None:
            self.copied[slot].synchronize()  # its last copy to the device has been read
        torch.index_select(self.X, 0, rows, out=staging)
        self.device_rows[:len(rows)].copy_(staging, non_blocking=True)
        if self.on_cuda:
            self.copied[slot] = torch.cuda.Event()
            self.copied[slot].record()


class _Permutations:
    """Random orders of ``range(n_samples)`` from one generator, in sequence; one can be
    drawn ahead (on the host, while the device trains) without changing the sequence."""

    def __init__(self, n_samples, generator):
        self.n_samples, self.generator = n_samples, generator
        self._ahead = None

    def draw(self):
        order = self._ahead if self._ahead is not None else self._new()
        self._ahead = None
        return order

    def draw_ahead(self):
        if self._ahead is None:
            self._ahead = self._new()

    def _new(self):
        return torch.randperm(self.n_samples, generator=self.generator)


@dataclass
class _Guide:
    """Guide labels of the training rows (on the device the steps index) and the
    schedule of their weights."""

    labels: torch.Tensor
    strength: np.ndarray
    n_epochs: int


def guide_weights_at(epoch, n_epochs, strength):
    """Weight of each facet's guide in epoch ``epoch`` (from 0): ``strength`` fading
    linearly to 0 at the end of training, so that the network has the last word.

    >>> guide_weights_at(5, 10, [10.0, 0.0])
    array([5., 0.])
    """
    return np.asarray(strength, dtype=float) * max(0.0, 1.0 - epoch / max(n_epochs, 1))


def kl_warmup_at(batch, n_batches_in_all, fraction):
    """Weight of the KL terms at a batch (counted from 0 over all of training): rising
    linearly to 1 over the first ``fraction`` of the batches, 1 with ``fraction`` 0.

    >>> [kl_warmup_at(batch, 8, 0.5) for batch in range(5)]
    [0.25, 0.5, 0.75, 1.0, 1.0]
    """
    warmup_batches = fraction * n_batches_in_all
    if warmup_batches <= 0:
        return 1.0
    return min(1.0, (batch + 1) / warmup_batches)


def _batch_weights(facet_weights, guide, epoch, kl_weight=1.0):
    """A batch's weights, shape (3, J): the facets' fade-in weights (decoder inputs), their
    KL weights (fade-in times the KL warm-up), and guide weights (0 without a guide; a
    facet not switched on yet is not pulled either)."""
    guide_weights = (np.zeros_like(facet_weights) if guide is None else
                     facet_weights * guide_weights_at(epoch, guide.n_epochs, guide.strength))
    return np.stack([facet_weights, kl_weight * facet_weights, guide_weights])


def _batch_indices(order, n_batches):
    """The permutation ``order`` of the training rows cut into ``n_batches`` rows of equal
    length, shape (n_batches, ceil(len(order) / n_batches)).

    Equal sizes let every batch run the same computation (and one captured CUDA graph);
    the fewer than ``n_batches`` slots left over are filled with the permutation's first
    indices, so those examples are seen twice in the epoch.
    """
    batch_size = -(-len(order) // n_batches)
    padding = n_batches * batch_size - len(order)
    return torch.cat([order, order[:padding]]).view(n_batches, batch_size)
