"""The training loop of MFCVAE: progressive training, epoch by epoch, with its faults.

Tensors in, tensors out. The whole training set lives on the device (or, too large for a
GPU, streams to it from host memory in chunks, :mod:`skmfc.training.steps`); minibatches
are drawn by index permutation and, on GPUs, losses are read back once per epoch. On CUDA
each step can be replayed from a CUDA graph. :func:`train` rolls back epochs whose loss or
weights become non-finite, halves the batch size when CUDA runs out of memory, keeps the
last completed epoch on Ctrl-C, and stops early on held-out data; the rules it follows
for each live in :mod:`skmfc.training.faults`.
"""

import math
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from skmfc._device import (PRECISIONS, device_of, set_tensor_float32, uses_cuda_graphs,
                           uses_tensor_float32)
from skmfc.nn.inference import mean_elbo as validation_elbo
from skmfc.training.config import EngineConfig, FaultConfig, PriorConfig
from skmfc.training.faults import (EarlyStopping, NonFiniteRetries, halve_batch_size,
                                   state_kept_on_interrupt)
from skmfc.training.parallel import SingleProcess
from skmfc.training.priors import initialise_prior, reseed_dead_clusters
from skmfc.training.schedule import Schedule, _Permutations
from skmfc.training.state import (_adam, _restore, _set_learning_rate, _snapshot,
                                  _snapshot_finite)
from skmfc.training.steps import _HostChunks, _release
from skmfc.training.streaming import _ReaderChunks, is_row_reader


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


def train(module, X, *, schedule, optimisation, seed, priors=PriorConfig(),
          faults=FaultConfig(), engine=EngineConfig(), guide=None, X_validation=None,
          on_epoch_end=None, data_parallel=None):
    """Train an :class:`~skmfc.nn.MFCVAE` progressively, deepest facet first.

    Each facet's prior is initialised from the encoder, as it is when that facet is
    switched on, by a Gaussian mixture on its posterior means.

    Training survives three kinds of fault, each by a rule of
    :mod:`skmfc.training.faults`. A copy of the module and optimizer state is kept at the
    end of every good epoch; an epoch whose end state holds a non-finite value anywhere
    (weights, buffers, optimizer moments) is not good.

    - A non-finite loss or weight: the loss is checked after every batch on the CPU
      (free there) and, on other devices, once per epoch through the epoch's ELBO sum,
      into which every batch's loss is folded, and the weights. The epoch is rolled
      back and run again with half the learning rate, up to
      ``faults.max_nonfinite_retries`` times in a row; then :class:`FloatingPointError`
      is raised.
    - ``torch.cuda.OutOfMemoryError`` in a training batch: the epoch is rolled back and
      run again with half the batch size, down to ``faults.min_batch_size``; then the
      error is raised again with advice.
    - ``KeyboardInterrupt`` (Ctrl-C, or raised by ``on_epoch_end``): training stops and
      the module gets the state of the last completed epoch (or of the best validated
      one with early stopping); the interrupt is raised again when no epoch has
      completed (:func:`~skmfc.training.faults.state_kept_on_interrupt`).

    Parameters
    ----------
    module : MFCVAE
        Module on its training device, in float32 (or float64).
    X : Tensor of shape (n, *input_shape), or row reader
        Training data, on the module's device, or in host memory when they do not fit
        there: each epoch then reaches the device in chunks of whole batches (see
        ``engine.chunk_rows``), gathered on the host into pinned buffers while the
        device trains on the chunk before. A row reader (data read from a file in
        pieces, see :mod:`skmfc.training.streaming`) goes through chunks too, read in
        shuffled blocks of consecutive rows.
    schedule : ScheduleConfig
        The progressive steps, the facets' fade-in and the KL warm-up.
    optimisation : OptimisationConfig
        Batch size, learning rate and free nats.
    seed : int
        Seeds the batch order and the mixture fits; the caller owns torch's global RNG.
    priors : PriorConfig
        The prior fits, refits and the re-seeding of dead clusters.
    faults : FaultConfig
        Early stopping and the limits of the fault handling.
    engine : EngineConfig
        Precision, CUDA graphs, compilation of the loss and chunks of host data.
    guide : GuideConfig, optional
        Guide labels of every row of ``X`` (on the device of ``X``) and the guide's
        strength per facet.
    X_validation : Tensor, optional
        Held-out data: their ELBO (:func:`validation_elbo`) is recorded after every
        epoch, and training stops early when it has not improved by at least
        ``faults.tol`` nats per sample for ``faults.n_iter_no_change`` epochs in a row.
        Only epochs of the last progressive step count, once every facet is fully faded
        in and the priors are refitted; the module ends with the weights of the best of
        them.
    on_epoch_end : callable, optional
        Called as ``on_epoch_end(epoch, elbo)`` after every completed epoch.
    data_parallel : DataParallel, optional
        Train data-parallel over the processes of a :mod:`torch.distributed` group
        (:class:`~skmfc.training.parallel.DataParallel`): every process calls
        :func:`train` with the same module, data and options, trains on its slice of
        every batch, and ends with the same module. Without CUDA graphs,
        ``engine.compile_loss`` or recovery from running out of memory.

    Returns
    -------
    TrainingHistory
    """
    batch_size, precision = optimisation.batch_size, engine.precision
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    n_samples = len(X)
    device = device_of(module)
    tensor_float32 = uses_tensor_float32(precision, device)
    chunks = _host_chunks(X, device, batch_size, engine.chunk_rows,
                          None if guide is None else guide.labels)
    parallel = SingleProcess() if data_parallel is None else data_parallel
    cuda_graphs = bool(engine.cuda_graphs) and uses_cuda_graphs(device) and data_parallel is None
    generator = torch.Generator().manual_seed(seed)
    orders = (chunks.permutations(generator) if isinstance(chunks, _ReaderChunks)
              else _Permutations(n_samples, generator))
    optimizer = _adam(module, optimisation.learning_rate, capturable=cuda_graphs)
    free_nats = torch.as_tensor(optimisation.free_nats, dtype=X.dtype, device=device)
    if guide is not None:
        # The steps index the guide labels of the rows they are given.
        guide = replace(guide, labels=guide.labels if chunks is None else chunks.device_labels,
                        strength=np.asarray(guide.strength, dtype=float))
    plan = Schedule(tuple(schedule.epochs_per_step), schedule.fade_in_fraction,
                    module.n_facets, schedule.progressive, schedule.kl_warmup_fraction, guide)
    history = TrainingHistory(learning_rate=float(optimisation.learning_rate),
                              batch_size=int(batch_size))
    retries = NonFiniteRetries(faults.max_nonfinite_retries)
    stopping = EarlyStopping(faults.tol, faults.n_iter_no_change)
    good = _snapshot(module, optimizer)
    best_state = None
    epoch = 0
    steps = None
    saved_tensor_float32 = set_tensor_float32(tensor_float32, tensor_float32)
    try:
        for step, n_epochs in enumerate(plan.epochs_per_step):
            if n_epochs == 0:
                continue
            facets_switched_on = plan.facets_switched_on(step)
            if priors.initialise:
                for facet in facets_switched_on:
                    parallel.once(lambda: initialise_prior(
                        module, facet, X, random_state=seed + facet,
                        initial_variance=priors.initial_variance), module.priors[facet])
            refit_epoch = (int(round(priors.refit_fraction * n_epochs))
                           if priors.initialise and priors.refit_fraction else -1)
            module.train()
            good = _snapshot(module, optimizer)
            epoch_in_step = 0
            retries.succeeded()
            while epoch_in_step < n_epochs:
                if epoch_in_step == refit_epoch and epoch_in_step > 0:
                    for facet in facets_switched_on:
                        parallel.once(lambda: initialise_prior(
                            module, facet, X, random_state=seed + facet), module.priors[facet])
                n_batches = max(1, -(-n_samples // history.batch_size))
                out_of_memory = None
                try:
                    steps, cuda_graphs = parallel.steps_for(
                        steps, cuda_graphs, module, optimizer,
                        X if chunks is None else chunks.device_rows, free_nats,
                        -(-n_samples // n_batches), precision,
                        None if guide is None else guide.labels, engine.compile_loss)
                    mean_elbo, cluster_shares = parallel.train_epoch(
                        steps, chunks, orders, n_batches,
                        lambda batch: plan.batch_weights(step, epoch_in_step, epoch,
                                                             n_batches, batch))
                except torch.cuda.OutOfMemoryError as error:
                    if data_parallel is not None:
                        raise  # the other processes are inside the epoch: no retry
                    # Handled outside the except clause, so that nothing keeps the error's
                    # traceback (and the memory it holds) alive.
                    out_of_memory = str(error).split("\n")[0]
                if out_of_memory is not None:
                    steps = _release(steps)
                    _restore(module, optimizer, good)
                    if torch.cuda.is_available():
                        torch.cuda.empty_cache()
                    history.batch_size, message = halve_batch_size(
                        history.batch_size, faults.min_batch_size, epoch, out_of_memory)
                    warnings.warn(message, RuntimeWarning, stacklevel=2)
                    continue
                end_weights = plan.facet_weights_after(step, epoch_in_step, n_batches)
                if math.isfinite(mean_elbo):
                    if priors.min_cluster_share > 0:
                        n_reseeded = parallel.once(lambda: reseed_dead_clusters(
                            module, np.flatnonzero(end_weights == 1.0), X,
                            priors.min_cluster_share,
                            cluster_shares, random_state=seed + epoch), *module.priors)
                    candidate = _snapshot(module, optimizer)
                    if not parallel.all_finite(_snapshot_finite(candidate)):
                        mean_elbo = math.nan  # e.g. an optimizer moment overflowed
                if not math.isfinite(mean_elbo):
                    _restore(module, optimizer, good)
                    history.n_nonfinite_epochs += 1
                    history.learning_rate, message = retries.failed(epoch,
                                                                    history.learning_rate)
                    _set_learning_rate(optimizer, history.learning_rate)
                    warnings.warn(message, RuntimeWarning, stacklevel=2)
                    continue
                retries.succeeded()
                if priors.min_cluster_share > 0:
                    history.n_reseeded.append(n_reseeded)
                if X_validation is not None:
                    score = parallel.once(lambda: validation_elbo(module, X_validation, seed))
                    history.validation.append(score)
                # Only epochs with every facet on, the KL warmed up and the priors refitted
                # count for convergence and early stopping.
                if (step == plan.last_step and np.all(end_weights == 1.0)
                        and plan.warmed_up_after(epoch, n_batches)
                        and epoch_in_step >= refit_epoch):
                    watched = mean_elbo if X_validation is None else score
                    if stopping.update(watched) and X_validation is not None:
                        history.best_validation = score
                        history.best_epoch = epoch + 1
                        best_state = {key: value.detach().clone()
                                      for key, value in module.state_dict().items()}
                    history.converged = stopping.converged
                good = candidate
                history.elbo.append(mean_elbo)
                history.step_of_epoch.append(step)
                epoch += 1
                epoch_in_step += 1
                if on_epoch_end is not None:
                    on_epoch_end(epoch, mean_elbo)
                if X_validation is not None and history.converged:
                    history.stopped_early = True
                    break
            if history.stopped_early:
                break
    except KeyboardInterrupt:
        kept = state_kept_on_interrupt(len(history.elbo), good[0], best_state)
        if kept is None:
            raise
        history.interrupted = True
        module.load_state_dict(kept)
    finally:
        _release(steps)
        set_tensor_float32(*saved_tensor_float32)
    if best_state is not None:
        module.load_state_dict(best_state)
    parallel.finish(module)
    return history


def _host_chunks(X, device, batch_size, chunk_rows, guide_labels):
    """The feed of training data that stay in host memory (or that ``chunk_rows`` asks to
    go through chunks all the same); None for data on the module's device."""
    if is_row_reader(X):
        return _ReaderChunks(X, device, batch_size, chunk_rows, guide_labels)
    if X.device == device and chunk_rows is None:
        return None
    if X.device.type != "cpu":
        raise ValueError(f"X must be on the module's device ({device}) or in host memory, "
                         f"got X on {X.device}")
    return _HostChunks(X, device, batch_size, chunk_rows, guide_labels)
