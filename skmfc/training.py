"""The training loop of MFCVAE: prior initialisation and progressive training.

Tensors in, tensors out. The whole training set lives on the device; minibatches are
drawn by index permutation and losses are read back once per epoch, so the loop never
waits on the device inside an epoch.
"""

from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.mixture import GaussianMixture

# Prediction and encoding run in chunks of this many rows to bound memory.
INFERENCE_BATCH_SIZE = 4096


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
    """

    elbo: list = field(default_factory=list)
    step_of_epoch: list = field(default_factory=list)
    n_reseeded: list = field(default_factory=list)


def split_epochs(max_iter, n_facets, progressive=True):
    """Share ``max_iter`` epochs among the progressive steps, earliest steps first.

    >>> split_epochs(10, 3)
    [4, 3, 3]
    >>> split_epochs(10, 3, progressive=False)
    [10]
    """
    if not progressive or n_facets == 1:
        return [max_iter]
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


@torch.no_grad()
def encode_means(module, X, batch_size=INFERENCE_BATCH_SIZE):
    """Posterior means of every facet for the whole of ``X``, in eval mode."""
    was_training = module.training
    module.eval()
    chunks = [module.encode(X[start:start + batch_size]) for start in range(0, len(X), batch_size)]
    module.train(was_training)
    return [torch.cat([chunk[facet][0] for chunk in chunks]) for facet in range(module.n_facets)]


@torch.no_grad()
def initialise_prior(module, facet, X, random_state, initial_variance=None):
    """Fit a diagonal Gaussian mixture to the current encoder's means and copy it in.

    Parameters
    ----------
    module : MFCVAE
    facet : int
    X : Tensor
        Training data on the module's device.
    random_state : int
        Seed of the Gaussian mixture fit.
    initial_variance : float, optional
        Variance of every component after initialisation; the mixture's own fitted
        variances when None.
    """
    means = encode_means(module, X)[facet].double().cpu().numpy()
    prior = module.priors[facet]
    n_clusters = prior.n_clusters
    scale = float(means.std(0).mean()) + 1e-12
    mixture = GaussianMixture(n_clusters, covariance_type="diag", random_state=random_state,
                              reg_covar=1e-6 * scale ** 2 + 1e-12, max_iter=200)
    mixture.fit(means / scale)
    component_means = mixture.means_ * scale
    if initial_variance is None:
        variances = mixture.covariances_ * scale ** 2
    else:
        variances = np.full_like(component_means, initial_variance)
    as_tensor = dict(dtype=prior.means.dtype, device=prior.means.device)
    prior.set_components(torch.as_tensor(component_means, **as_tensor),
                         torch.as_tensor(variances, **as_tensor).clamp_min(prior.min_variance))


@torch.no_grad()
def reseed_dead_clusters(module, facet, X, min_share):
    """Move clusters that hold almost no data onto the worst-explained points.

    A cluster is dead when its total posterior mass ``sum_x q(c_j = k | x)`` is below
    ``min_share / K_j`` of the data. Each dead cluster gets, as its mean, the posterior
    mean of one of the points with the lowest mixture density, the median variance of
    the live clusters, and an average mixing weight: this is how k-means and EM
    implementations revive empty clusters, and it keeps every cluster in use.

    Returns
    -------
    int
        Number of clusters moved.
    """
    prior = module.priors[facet]
    was_training = module.training
    module.eval()
    log_proba, scores, means = [], [], []
    for start in range(0, len(X), INFERENCE_BATCH_SIZE):
        mean, log_variance = module.encode(X[start:start + INFERENCE_BATCH_SIZE])[facet]
        cluster_scores = module._cluster_scores(facet, mean, log_variance)
        log_proba.append(torch.log_softmax(cluster_scores, dim=-1))
        scores.append(torch.logsumexp(cluster_scores, dim=-1))
        means.append(mean)
    module.train(was_training)
    share = torch.cat(log_proba).exp().mean(0)
    dead = torch.nonzero(share < min_share / prior.n_clusters).flatten()
    if len(dead) == 0 or len(dead) == prior.n_clusters:
        return 0
    worst_points = torch.argsort(torch.cat(scores))[:len(dead)]
    live = torch.ones(prior.n_clusters, dtype=torch.bool, device=share.device)
    live[dead] = False
    variances = prior.variances()
    new_means = prior.means.detach().clone()
    new_variances = variances.detach().clone()
    new_means[dead] = torch.cat(means)[worst_points].to(new_means.dtype)
    new_variances[dead] = variances[live].median(dim=0).values
    weights = prior.log_weights().exp()
    weights[dead] = weights[live].mean()
    prior.set_components(new_means, new_variances, weights / weights.sum())
    return len(dead)


def train(module, X, *, epochs_per_step, fade_in_fraction, batch_size, learning_rate,
          free_nats, seed, progressive=True, initial_variance=None, prior_refit_fraction=0.0,
          min_cluster_share=0.0, on_epoch_end=None):
    """Train an :class:`~skmfc.nn.MFCVAE` progressively, deepest facet first.

    Each facet's prior is initialised from the encoder, as it is when that facet is
    switched on, by a Gaussian mixture on its posterior means.

    Parameters
    ----------
    module : MFCVAE
        Module on its training device, in float32 (or float64).
    X : Tensor of shape (n, *input_shape)
        Training data on the same device.
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
    min_cluster_share : float
        After every epoch, clusters of fully switched-on facets holding less than
        ``min_cluster_share / K`` of the data are re-seeded (see
        :func:`reseed_dead_clusters`); 0 switches this off.
    on_epoch_end : callable, optional
        Called as ``on_epoch_end(epoch, elbo)`` after every epoch.

    Returns
    -------
    TrainingHistory
    """
    n_samples = len(X)
    n_facets = module.n_facets
    device = X.device
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(module.parameters(), lr=learning_rate)
    free_nats = torch.as_tensor(free_nats, dtype=X.dtype, device=device)
    n_batches = max(1, -(-n_samples // batch_size))
    history = TrainingHistory()
    epoch = 0
    for step, n_epochs in enumerate(epochs_per_step):
        if n_epochs == 0:
            continue
        facets_switched_on = [n_facets - 1 - step] if progressive else range(n_facets)
        for facet in facets_switched_on:
            initialise_prior(module, facet, X, random_state=seed + facet,
                             initial_variance=initial_variance)
        fade_in_batches = max(1, int(round(fade_in_fraction * n_epochs * n_batches)))
        refit_epoch = int(round(prior_refit_fraction * n_epochs)) if prior_refit_fraction else -1
        module.train()
        batch_in_step = 0
        for epoch_in_step in range(n_epochs):
            if epoch_in_step == refit_epoch and epoch_in_step > 0:
                for facet in facets_switched_on:
                    initialise_prior(module, facet, X, random_state=seed + facet)
            order = torch.randperm(n_samples, generator=generator).to(device)
            elbo_sum = torch.zeros((), dtype=X.dtype, device=device)
            for batch_indices in torch.tensor_split(order, n_batches):
                weights = torch.as_tensor(
                    facet_weights_at(step, batch_in_step, fade_in_batches, n_facets, progressive),
                    dtype=X.dtype, device=device)
                loss, elbo = module.loss(X[batch_indices], weights, weights, free_nats)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                elbo_sum += elbo * len(batch_indices)
                batch_in_step += 1
            mean_elbo = float(elbo_sum) / n_samples
            if not np.isfinite(mean_elbo):
                raise FloatingPointError(
                    f"the ELBO became {mean_elbo} in epoch {epoch + 1}; try a smaller "
                    "learning_rate or check the input data for extreme values")
            if min_cluster_share > 0:
                fully_on = facet_weights_at(step, batch_in_step, fade_in_batches, n_facets,
                                            progressive) == 1.0
                history.n_reseeded.append(sum(
                    reseed_dead_clusters(module, facet, X, min_cluster_share)
                    for facet in np.flatnonzero(fully_on)))
            history.elbo.append(mean_elbo)
            history.step_of_epoch.append(step)
            epoch += 1
            if on_epoch_end is not None:
                on_epoch_end(epoch, mean_elbo)
    return history
