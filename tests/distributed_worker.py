"""One process of the data-parallel tests (tests/test_distributed.py), started by torchrun.

Fits every configuration of ``SCENARIOS`` with ``strategy="ddp"`` and writes what the
tests compare into ``<output>/<scenario>_rank<rank>.npz``; then saves the fitted
estimator of the first scenario to one path per rank (only rank 0's may exist).

Run as ``python -m torch.distributed.run --nproc-per-node 2 tests/distributed_worker.py
OUTPUT_DIR DEVICE``.
"""

import os
import sys
import warnings

import numpy as np
import torch

from skmfc import MFCVAEClustering
from skmfc.datasets import make_tabular_facets
from skmfc.distributed import fit_strategy
from skmfc.nn import MFCVAE
from skmfc.training import (EngineConfig, OptimisationConfig, PriorConfig, ScheduleConfig,
                            train)
from skmfc.training.parallel import DataParallel, SingleProcess

SMALL = dict(n_clusters=3, latent_dim=2, hidden_sizes=16, max_iter=4, batch_size=32,
             random_state=0)

# Name -> (estimator parameters, whether the script initialises the process group itself).
SCENARIOS = {
    # The guide (Nr-Kmeans), progressive steps, prior fits and refits, re-seeding.
    "guided": (dict(SMALL), False),
    "early_stopping": (dict(SMALL, guide=None, max_iter=30, early_stopping=True,
                            n_iter_no_change=2, tol=5.0), False),
    # A batch of 33 rows shared 17 / 16; cluster merging; a group the script owns.
    "uneven_merged": (dict(SMALL, guide=None, n_clusters="auto", batch_size=33), True),
    # The guided fit again, X given as a memmap (read in pieces, skmfc.data): small data
    # read in pieces fit as the array does, so one process's in-memory fit is the answer.
    "memmap": (dict(SMALL), False),
}
#: Scenarios whose X every process reads from its own memmap of the same values.
READ_IN_PIECES = {"memmap"}
#: The run that records which rows each process reads: 157 rows in 3 batches of 53 (two
#: rows of the epoch's order seen twice), shared 27 / 26, read in pieces of 48 rows.
SHARD_READS = dict(n_samples=157, batch_size=53, chunk_rows=48)


class RecordingRows:
    """A row reader (:mod:`skmfc.training.streaming`) over a tensor that records the rows
    every read asks for, in order, with what was running: ``"once"`` inside what rank 0
    computes for every rank (:meth:`OnceMarked.once`), ``"training"`` otherwise; and
    ``("end", epoch)`` after every epoch (:meth:`end_epoch`)."""

    device = torch.device("cpu")
    chunk_rows = None

    def __init__(self, X):
        self.X, self.shape, self.dtype = X, X.shape, X.dtype
        self.phase = "training"
        self.log = []

    def __len__(self):
        return len(self.X)

    def element_size(self):
        """Bytes per value."""
        return self.X.element_size()

    def __getitem__(self, rows):
        self.log.append((self.phase, torch.arange(len(self.X))[rows].reshape(-1).clone()))
        return self.X[rows]

    def end_epoch(self, epoch, elbo):
        """An ``on_epoch_end`` hook of :func:`skmfc.training.train`."""
        self.log.append(("end", epoch))

    def epochs(self):
        """The rows read in training, as one array per epoch (in the order read)."""
        epochs, current = [], []
        for phase, rows in self.log:
            if phase == "end":
                epochs.append(np.concatenate(current) if current else np.zeros(0, int))
                current = []
            elif phase == "training":
                current.append(rows.numpy())
        return epochs

    def n_read_once(self):
        """How many rows were read inside ``once``."""
        return sum(len(rows) for phase, rows in self.log if phase == "once")


class _MarksOnce:
    """The hooks of :func:`~skmfc.training.train` with ``once`` telling ``self.reader``
    (a :class:`RecordingRows`) while it runs."""

    def once(self, compute, *modules):
        self.reader.phase = "once"
        try:
            return super().once(compute, *modules)
        finally:
            self.reader.phase = "training"


class OnceMarkedSingleProcess(_MarksOnce, SingleProcess):
    """:class:`~skmfc.training.parallel.SingleProcess`, marking ``once`` in ``reader``."""

    def __init__(self, reader):
        self.reader = reader


class OnceMarkedDataParallel(_MarksOnce, DataParallel):
    """:class:`~skmfc.training.parallel.DataParallel`, marking ``once`` in ``reader``."""

    def __init__(self, reader):
        super().__init__()
        self.reader = reader


def shard_reads_training(reader, hooks):
    """Train a small module on ``reader`` (a :class:`RecordingRows`) through pieces of 48
    rows, with the prior fits and the re-seeding that rank 0 computes, with ``hooks``
    (``OnceMarkedSingleProcess(reader)`` or ``OnceMarkedDataParallel(reader)``); the
    reads are in ``reader.log``. ``SHARD_READS`` describes the data and batches."""
    torch.manual_seed(0)
    module = MFCVAE((reader.shape[1],), (8, 8), (2, 2), (3, 3), likelihood="gaussian")
    train(module, reader, schedule=ScheduleConfig([2, 2], fade_in_fraction=0.5),
          optimisation=OptimisationConfig(batch_size=SHARD_READS["batch_size"],
                                          learning_rate=1e-3, free_nats=[0.5, 0.5]),
          seed=0, priors=PriorConfig(refit_fraction=0.5, min_cluster_share=0.1),
          engine=EngineConfig(chunk_rows=SHARD_READS["chunk_rows"]),
          on_epoch_end=reader.end_epoch, data_parallel=hooks)


def shard_reads_data():
    """The rows of the shard-reads run: 157 rows of 6 features."""
    return torch.as_tensor(np.random.RandomState(1).standard_normal(
        (SHARD_READS["n_samples"], 6)), dtype=torch.float32)


def gloo_threads():
    """How many threads of gloo process groups this process runs (-1 where the threads
    cannot be listed): none once every group is destroyed, unless something still holds
    one."""
    tasks = "/proc/self/task"
    if not os.path.isdir(tasks):
        return -1
    names = []
    for task in os.listdir(tasks):
        try:
            with open(os.path.join(tasks, task, "comm")) as comm:
                names.append(comm.read().strip())
        except OSError:  # the thread ended meanwhile
            pass
    return sum(name.startswith(("pt_gloo", "gloo")) for name in names)


def training_data():
    """Easy data: two groupings far apart, 160 samples."""
    return make_tabular_facets(n_samples=160, separation=(10.0, 10.0), random_state=0).data


def fitted_arrays(estimator):
    """What the tests compare of a fitted estimator, as named arrays."""
    arrays = {"labels": np.asarray(estimator.labels_),
              "elbo_curve": np.asarray(estimator.elbo_curve_),
              "n_iter": np.asarray(estimator.n_iter_),
              "n_clusters": np.asarray(estimator.n_clusters_)}
    for name, tensor in estimator.module_.state_dict().items():
        arrays[f"state:{name}"] = tensor.detach().cpu().double().numpy()
    return arrays


def main(output, device):
    import torch.distributed as dist

    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    for name, (params, own_group) in SCENARIOS.items():
        X = training_data()
        if name in READ_IN_PIECES:
            path = os.path.join(output, f"{name}_data_rank{rank}.npy")
            np.save(path, X)
            X = np.load(path, mmap_mode="r")
        if own_group:
            dist.init_process_group("nccl" if device == "cuda" else "gloo")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator = MFCVAEClustering(**params, device=device, strategy="ddp").fit(X)
        arrays = fitted_arrays(estimator)
        # skmfc destroys a group it initialised, and leaves the script's own one.
        arrays["group_left_initialised"] = np.asarray(dist.is_initialized())
        arrays["gloo_threads_left"] = np.asarray(gloo_threads())
        np.savez(os.path.join(output, f"{name}_rank{rank}.npz"), **arrays)
        if name == "guided":
            estimator.save(os.path.join(output, f"saved_by_rank{rank}.skmfc"))
        if own_group:
            dist.destroy_process_group()
    record_shard_reads(output, rank, device)


def record_shard_reads(output, rank, device):
    """Write the rows this process read in each epoch of :func:`shard_reads_training`
    (``epoch0``, ``epoch1``, ...) and the number it read inside ``once`` to
    ``<output>/shard_reads_rank<rank>.npz``."""
    if device != "cpu":
        return
    reader = RecordingRows(shard_reads_data())
    with fit_strategy("ddp", "cpu"):  # initialises the group as fit does
        shard_reads_training(reader, OnceMarkedDataParallel(reader))
    np.savez(os.path.join(output, f"shard_reads_rank{rank}.npz"), n_read_once=reader.n_read_once(),
             **{f"epoch{index}": rows for index, rows in enumerate(reader.epochs())})


if __name__ == "__main__":
    main(*sys.argv[1:])
