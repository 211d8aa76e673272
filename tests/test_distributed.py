"""Data-parallel fits (``strategy="ddp"``): two processes started by torchrun, with the
gloo backend on the CPU, against one process with the same global batch.

The two processes share every batch, so their fit is one process's fit up to the order
of floating-point sums (the gradients and the KL summed over the processes): the
weights agree within ``RTOL``/``ATOL`` after the few epochs run here (measured: at most
2.3e-6 apart in absolute terms, 8.2e-5 relative to ``|w| + 1e-3``), and the labels of
these easy data are the same. Deselect with ``-m "not distributed"``.
"""

import os
import socket
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
import torch.distributed as dist
from sklearn.utils._param_validation import InvalidParameterError

from skmfc import MFCVAEClustering
from skmfc.distributed import uses_data_parallel, writes_files
from skmfc.nn import MFCVAE
from skmfc.training import (GuideConfig, OptimisationConfig, PriorConfig, ScheduleConfig,
                            train)
from skmfc.training.parallel import DataParallel
from tests.distributed_worker import (SCENARIOS, SHARD_READS, OnceMarkedSingleProcess,
                                      RecordingRows, fitted_arrays, shard_reads_data,
                                      shard_reads_training, training_data)

pytestmark = pytest.mark.distributed

RTOL, ATOL = 1e-4, 1e-5
WORKER = os.path.join(os.path.dirname(__file__), "distributed_worker.py")


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_worker(output, device, n_processes):
    """Run tests/distributed_worker.py in ``n_processes`` processes with torchrun."""
    command = [sys.executable, "-m", "torch.distributed.run",
               f"--nproc-per-node={n_processes}", "--master-addr=127.0.0.1",
               f"--master-port={_free_port()}", WORKER, str(output), device]
    environment = dict(os.environ, OMP_NUM_THREADS="1",
                       PYTHONPATH=os.pathsep.join(filter(None, [
                           os.path.dirname(os.path.dirname(WORKER)),
                           os.environ.get("PYTHONPATH")])))
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        environment.pop(name, None)
    done = subprocess.run(command, env=environment, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return {(name, rank): dict(np.load(output / f"{name}_rank{rank}.npz"))
            for name in SCENARIOS for rank in range(n_processes)}


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    output = tmp_path_factory.mktemp("ddp")
    return output, run_worker(output, "cpu", 2)


@pytest.fixture(scope="module")
def one_process():
    """The same fits in one process (``strategy="single"``), by scenario."""
    X = training_data()
    fits = {}
    for name, (params, _) in SCENARIOS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits[name] = fitted_arrays(MFCVAEClustering(**params, device="cpu",
                                                        strategy="single").fit(X))
    return fits


def _weights(arrays):
    return {key: value for key, value in arrays.items() if key.startswith("state:")}


def assert_same_fit(distributed, single):
    np.testing.assert_array_equal(distributed["n_clusters"], single["n_clusters"])
    np.testing.assert_array_equal(distributed["n_iter"], single["n_iter"])
    np.testing.assert_array_equal(distributed["labels"], single["labels"])
    weights, expected = _weights(distributed), _weights(single)
    assert weights.keys() == expected.keys()
    for key in expected:
        np.testing.assert_allclose(weights[key], expected[key], rtol=RTOL, atol=ATOL,
                                   err_msg=key)
    np.testing.assert_allclose(distributed["elbo_curve"], single["elbo_curve"], rtol=RTOL)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_two_processes_fit_as_one_process_with_the_same_batch(two_processes, one_process,
                                                              scenario):
    _, fits = two_processes
    assert_same_fit(fits[scenario, 0], one_process[scenario])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_process_ends_with_the_same_estimator(two_processes, scenario):
    _, fits = two_processes
    first, second = fits[scenario, 0], fits[scenario, 1]
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)


def test_early_stopping_stops_every_process_at_the_same_epoch(two_processes, one_process):
    _, fits = two_processes
    max_iter = SCENARIOS["early_stopping"][0]["max_iter"]
    n_iter = [int(fits["early_stopping", rank]["n_iter"]) for rank in (0, 1)]
    assert n_iter[0] == n_iter[1] == int(one_process["early_stopping"]["n_iter"])
    assert n_iter[0] < max_iter


def test_each_process_reads_only_its_shard_of_every_batch(two_processes):
    """Reading in pieces, each process reads in every epoch the rows of its slice of every
    global batch and no other; what rank 0 computes for all (prior fits and refits, the
    re-seeding of dead clusters) reads more, on rank 0 only."""
    output, _ = two_processes
    reads = [dict(np.load(output / f"shard_reads_rank{rank}.npz")) for rank in (0, 1)]
    # One process reads whole batches, in the order of the epoch: its reads of an epoch
    # are the epoch's batches, row after row.
    single = RecordingRows(shard_reads_data())
    shard_reads_training(single, OnceMarkedSingleProcess(single))
    batch_size = SHARD_READS["batch_size"]
    n_batches = -(-SHARD_READS["n_samples"] // batch_size)
    shards = [slice(0, 27), slice(27, 53)]  # the first rank takes the odd row
    epochs = single.epochs()
    assert len(epochs) == 4 and len(reads[0]) == len(reads[1]) == 4 + 1  # + n_read_once
    for epoch, order in enumerate(epochs):
        batches = order.reshape(n_batches, batch_size)
        for rank, shard in enumerate(shards):
            np.testing.assert_array_equal(np.sort(reads[rank][f"epoch{epoch}"]),
                                          np.sort(batches[:, shard].reshape(-1)),
                                          err_msg=f"rank {rank}, epoch {epoch}")
    assert reads[0]["n_read_once"] > 0 and reads[1]["n_read_once"] == 0


def test_only_rank_zero_writes_the_saved_file(two_processes):
    output, fits = two_processes
    assert not (output / "saved_by_rank1.skmfc").exists()
    restored = MFCVAEClustering.load(output / "saved_by_rank0.skmfc")
    np.testing.assert_array_equal(restored.predict(training_data()), fits["guided", 0]["labels"])


def test_the_process_group_is_left_as_found(two_processes):
    _, fits = two_processes
    for rank in (0, 1):
        # skmfc destroyed the group it initialised, and left the script's own.
        assert not fits["guided", rank]["group_left_initialised"]
        assert fits["uneven_merged", rank]["group_left_initialised"]


def test_a_group_skmfc_initialised_is_gone_with_its_threads(two_processes):
    """Nothing keeps the group alive after fit (the first fit of the processes imports
    torch.distributed.nn, which binds the group of the moment): gloo threads still alive
    at the interpreter's exit could abort it (docs/scaling.md)."""
    _, fits = two_processes
    for name, (_, own_group) in SCENARIOS.items():
        for rank in (0, 1):
            threads = int(fits[name, rank]["gloo_threads_left"])
            if threads < 0:
                pytest.skip("this system does not list a process's threads")
            if not own_group:
                assert threads == 0, (name, rank)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_processes_on_gpus_fit_as_one_process(tmp_path):
    """NCCL, one process per GPU (at most two), against one process on one GPU; looser
    than on the CPU, as cuBLAS may sum in another order for other batch shapes."""
    n_processes = min(2, torch.cuda.device_count())
    fits = run_worker(tmp_path, "cuda", n_processes)
    X = training_data()
    for name, (params, _) in SCENARIOS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            single = fitted_arrays(MFCVAEClustering(**params, device="cuda",
                                                    strategy="single").fit(X))
        for rank in range(n_processes):
            np.testing.assert_array_equal(fits[name, rank]["labels"], single["labels"])
            for key, value in _weights(single).items():
                np.testing.assert_allclose(fits[name, rank][key], value, rtol=1e-3,
                                           atol=1e-4, err_msg=f"{name} {key}")


def test_one_process_group_trains_bit_for_bit_as_without_one():
    """With one process, the shared-batch loss and its gradients are the plain ones."""
    X = torch.as_tensor(np.random.RandomState(0).rand(120, 6), dtype=torch.float32)

    def trained(data_parallel):
        torch.manual_seed(0)
        module = MFCVAE((6,), (8, 8), (2, 2), (3, 3), likelihood="gaussian")
        history = train(module, X, schedule=ScheduleConfig([2, 2], fade_in_fraction=0.5),
                        optimisation=OptimisationConfig(batch_size=32, learning_rate=1e-3,
                                                        free_nats=[0.5, 0.5]),
                        seed=0, priors=PriorConfig(min_cluster_share=0.1),
                        guide=GuideConfig(labels=torch.as_tensor(
                            np.arange(240).reshape(120, 2) % 3), strength=[1.0, 0.0]),
                        X_validation=X[:30], data_parallel=data_parallel)
        return module, history

    plain_module, plain_history = trained(None)
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        module, history = trained(DataParallel())
    finally:
        dist.destroy_process_group()
    assert history.elbo == plain_history.elbo
    assert history.validation == plain_history.validation
    for key, value in plain_module.state_dict().items():
        assert torch.equal(module.state_dict()[key], value), key


def test_strategy_auto_is_single_without_a_launcher(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert not uses_data_parallel("auto")
    assert not uses_data_parallel("single")
    assert writes_files("auto") and writes_files("ddp")


def test_strategy_ddp_without_a_launcher_says_how_to_launch(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="torchrun"):
        MFCVAEClustering(strategy="ddp").fit(training_data())


def test_a_child_of_a_launched_process_cannot_join(monkeypatch):
    """As in a joblib worker of GridSearchCV(n_jobs=2) under torchrun."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.setattr("multiprocessing.parent_process", lambda: object())
    with pytest.raises(RuntimeError, match="n_jobs=1"):
        uses_data_parallel("auto")
    assert uses_data_parallel("single") is False
    # Under the launcher only rank 0 writes, whatever strategy="auto" decides.
    assert not writes_files("auto")
    assert writes_files("single")


def test_strategy_is_validated():
    with pytest.raises(InvalidParameterError, match="strategy"):
        MFCVAEClustering(strategy="fsdp").fit(training_data())
