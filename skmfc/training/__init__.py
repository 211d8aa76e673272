"""Training of an :class:`~skmfc.nn.MFCVAE`, in small modules:

- :mod:`~skmfc.training.config`: the options of a training run, as frozen dataclasses;
- :mod:`~skmfc.training.schedule`: the progressive schedule, the weights of every batch;
- :mod:`~skmfc.training.priors`: the mixture priors' fits and the re-seeding of dead
  clusters (the only scikit-learn below the estimator);
- :mod:`~skmfc.training.steps`: the step engines (eager, CUDA graphs, host streaming);
- :mod:`~skmfc.training.state`: the optimiser and the state training rolls back to;
- :mod:`~skmfc.training.faults`: the rules for faults (non-finite epochs, out of
  memory, Ctrl-C) and for early stopping;
- :mod:`~skmfc.training.loop`: :func:`train`, which runs them.
"""

from skmfc.nn.inference import (INFERENCE_BATCH_SIZE, elbo_samples, encode_means,
                                encode_posteriors)
from skmfc.nn.inference import mean_elbo as validation_elbo
from skmfc.training.config import (EngineConfig, FaultConfig, GuideConfig, OptimisationConfig,
                                   PriorConfig, ScheduleConfig)
from skmfc.training.faults import MAX_NONFINITE_RETRIES, MIN_BATCH_SIZE, AdvisedOutOfMemoryError
from skmfc.training.loop import TrainingHistory, train
from skmfc.training.priors import (GMM_MAX_SAMPLES, RESEED_MAX_SAMPLES, _random_rows,
                                   initialise_prior, reseed_dead_clusters)
from skmfc.training.schedule import (Schedule, _batch_indices, _batch_weights, _Permutations,
                                     facet_weights_at, guide_weights_at, kl_warmup_at,
                                     split_epochs)
from skmfc.training.state import _adam
from skmfc.training.steps import STREAM_CHUNK_BYTES, _CapturedSteps, _EagerSteps, _HostChunks

__all__ = ["train", "TrainingHistory", "ScheduleConfig", "OptimisationConfig", "PriorConfig",
           "FaultConfig", "EngineConfig", "GuideConfig", "AdvisedOutOfMemoryError", "split_epochs",
           "facet_weights_at", "kl_warmup_at", "guide_weights_at", "Schedule",
           "initialise_prior", "reseed_dead_clusters", "encode_posteriors", "encode_means",
           "elbo_samples", "validation_elbo", "INFERENCE_BATCH_SIZE", "GMM_MAX_SAMPLES",
           "RESEED_MAX_SAMPLES", "STREAM_CHUNK_BYTES", "MAX_NONFINITE_RETRIES",
           "MIN_BATCH_SIZE", "_adam", "_batch_indices", "_batch_weights", "_CapturedSteps",
           "_EagerSteps", "_HostChunks", "_Permutations", "_random_rows"]
