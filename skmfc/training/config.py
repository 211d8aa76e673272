"""The options of a training run, as frozen dataclasses grouped by what they concern:
:func:`~skmfc.training.train` takes one of each (the schedule and the optimisation have
no defaults), and :class:`~skmfc.MFCVAEClustering` builds them from its parameters.
"""

from dataclasses import dataclass

import numpy as np
import torch

from skmfc.training.faults import MAX_NONFINITE_RETRIES, MIN_BATCH_SIZE


@dataclass(frozen=True)
class ScheduleConfig:
    """How the epochs are spent.

    Attributes
    ----------
    epochs_per_step : sequence of int
        Epochs of each progressive step (see :func:`~skmfc.training.split_epochs`).
    fade_in_fraction : float
        Fraction of a step's batches over which a new facet fades in.
    progressive : bool
        Whether to switch facets on one by one, deepest first; otherwise all train from
        the start.
    kl_warmup_fraction : float
        Fraction of all epochs over which the weight of every KL term rises linearly from
        0 to 1 (on top of the facets' fade-in): the first epochs then train the network
        mostly as an autoencoder, and a prior refit at the end of the warm-up starts the
        mixtures from a structured latent space instead of a random one. 0 switches it
        off.
    """

    epochs_per_step: tuple
    fade_in_fraction: float
    progressive: bool = True
    kl_warmup_fraction: float = 0.0


@dataclass(frozen=True)
class OptimisationConfig:
    """What each step optimises, and how far it moves.

    Attributes
    ----------
    batch_size : int
    learning_rate : float
        Adam step size.
    free_nats : sequence of float
        Per-facet floor of the batch-mean KL (minimum information constraint).
    """

    batch_size: int
    learning_rate: float
    free_nats: tuple


@dataclass(frozen=True)
class PriorConfig:
    """When and how the mixture priors are fitted to the encoder, and dead clusters
    re-seeded.

    Attributes
    ----------
    initialise : bool
        Fit the priors to the encoder when facets are switched on (and refit them);
        False continues training a trained module as it is (warm start).
    initial_variance : float, optional
        See :func:`~skmfc.training.initialise_prior`.
    refit_fraction : float
        Refit the priors of the facets switched on in a step this far into the step.
    min_cluster_share : float
        After every epoch, clusters of fully switched-on facets holding less than
        ``min_cluster_share / K`` of the data are re-seeded (see
        :func:`~skmfc.training.reseed_dead_clusters`); 0 switches this off.
    """

    initialise: bool = True
    initial_variance: float = None
    refit_fraction: float = 0.0
    min_cluster_share: float = 0.0


@dataclass(frozen=True)
class FaultConfig:
    """The limits of training's fault handling and the rule of early stopping (see
    :mod:`skmfc.training.faults`).

    Attributes
    ----------
    n_iter_no_change : int
        Epochs without improvement after which the watched ELBO counts as converged
        (and training with validation data stops).
    tol : float
        Absolute improvement, in nats per sample, of the validation ELBO (or, without
        validation data, the training ELBO) below which an epoch counts as no
        improvement.
    max_nonfinite_retries : int
        Retries in a row of an epoch that became non-finite, each with half the
        learning rate.
    min_batch_size : int
        Out of GPU memory, the batch size is halved down to this and no further.
    """

    n_iter_no_change: int = 10
    tol: float = 1e-4
    max_nonfinite_retries: int = MAX_NONFINITE_RETRIES
    min_batch_size: int = MIN_BATCH_SIZE


@dataclass(frozen=True)
class EngineConfig:
    """How the training steps run.

    Attributes
    ----------
    precision : {"float32", "tf32", "bfloat16"}
        Arithmetic of the training steps. ``"float32"``: every product in float32,
        TF32 switched off. ``"tf32"``: on CUDA, matrix products and convolutions on
        TF32 tensor cores (inputs rounded to 10 mantissa bits, float32 accumulation and
        everything else float32); the same as ``"float32"`` on the CPU. ``"bfloat16"``:
        the forward pass under bfloat16 autocast, on CUDA and on the CPU (matrix
        products in bfloat16; the weights and the optimizer in float32).
    cuda_graphs : bool
        On CUDA, capture each training step once as a CUDA graph and replay it; falls
        back to ordinary steps, with a warning, if the capture fails.
    compile_loss : bool
        Run the loss (forward and backward) through :func:`torch.compile`, which fuses
        its elementwise operations into fewer kernels; the first steps then pay for the
        compilation. Works with and without ``cuda_graphs``.
    chunk_rows : int, optional
        Rows per chunk for data in host memory (rounded down to whole batches, at least
        one); by default about ``STREAM_CHUNK_BYTES`` of data. Given for data already on
        the module's device, it makes them go through the chunks all the same.
    """

    precision: str = "float32"
    cuda_graphs: bool = False
    compile_loss: bool = False
    chunk_rows: int = None


@dataclass(frozen=True)
class GuideConfig:
    """The guide's pull on the clusters (:mod:`skmfc.guide`).

    Attributes
    ----------
    labels : LongTensor of shape (n, J)
        A guide cluster of every training row in every facet; facet ``j``'s clusters are
        pulled towards column ``j`` by a cross-entropy of weight ``strength[j]``, fading
        linearly to 0 over the epochs (see :func:`~skmfc.training.guide_weights_at`).
    strength : sequence of float
        Initial weight of each facet's guide (0: no guide).
    """

    labels: torch.Tensor
    strength: np.ndarray
