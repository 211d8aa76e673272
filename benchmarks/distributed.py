"""Throughput of data-parallel training against the number of processes.

Run from the repository root::

    python benchmarks/distributed.py                          # CPU (gloo): 1 and 2 processes
    python benchmarks/distributed.py --processes 1,2,4,8      # more processes
    python benchmarks/distributed.py --device cuda            # one process per GPU (NCCL)

For each number of processes the script launches itself under ``torchrun`` (``python -m
torch.distributed.run``) on this machine; every process trains the same MLP ladder on the
same random data with :func:`skmfc.training.train` and
:class:`~skmfc.training.parallel.DataParallel`, as ``MFCVAEClustering(strategy="ddp")``
does, and rank 0 times whole epochs after one warm-up epoch (which pays the prior fit).
A first row trains in one process without torch.distributed (``strategy="single"``),
the reference of the speed-ups. The global batch is ``--batch-size`` rows shared by the
processes, as the estimator shares it; ``--batch-per-process`` multiplies it by the
number of processes instead (weak scaling). On the CPU each process uses ``--threads``
threads: keep processes x threads within the machine's cores, and run nothing else
beside it, or the figures measure the contention.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPOSITORY = Path(__file__).resolve().parent.parent


def worker(args):
    """One process: train, and on rank 0 write the epoch times to ``args.result``."""
    torch.set_num_threads(args.threads)
    from skmfc.distributed import fit_strategy
    from skmfc.nn import MFCVAE
    from skmfc.training import EngineConfig, OptimisationConfig, ScheduleConfig, train

    strategy = "single" if args.single else "ddp"
    device = args.device
    with fit_strategy(strategy, device) as data_parallel:
        if data_parallel is not None:
            from skmfc.distributed import rank_device
            device = rank_device(device)
        device = torch.device(device)
        world_size = 1 if data_parallel is None else data_parallel.world_size
        X = torch.as_tensor(np.random.RandomState(0).standard_normal(
            (args.samples, args.features)), dtype=torch.float32, device=device)
        torch.manual_seed(0)
        hidden = tuple(int(size) for size in args.hidden.split(","))
        module = MFCVAE((args.features,), hidden, (5,) * len(hidden), (10,) * len(hidden),
                        likelihood="gaussian").to(device)
        batch_size = args.batch_size * (world_size if args.batch_per_process else 1)
        ends = []

        def epoch_ended(epoch, elbo):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            ends.append(time.perf_counter())

        train(module, X,
              schedule=ScheduleConfig([args.epochs + 1], fade_in_fraction=0.5,
                                      progressive=False),
              optimisation=OptimisationConfig(batch_size=batch_size, learning_rate=1e-3,
                                              free_nats=[1.0] * len(hidden)),
              seed=0, engine=EngineConfig(
                  cuda_graphs=data_parallel is None and device.type == "cuda"),
              on_epoch_end=epoch_ended, data_parallel=data_parallel)
        if data_parallel is None or data_parallel.rank == 0:
            epoch_seconds = np.diff(ends)  # the first epoch, with the prior fit, is left out
            Path(args.result).write_text(json.dumps(dict(
                processes=world_size, batch_size=batch_size, device=str(device),
                backend="-" if data_parallel is None else _backend(),
                samples_per_second=args.samples / statistics.median(epoch_seconds))))


def _backend():
    import torch.distributed as dist

    return str(dist.get_backend())


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(args, n_processes, single=False):
    """Train in ``n_processes`` processes (one without torch.distributed with ``single``)
    and return rank 0's result."""
    with tempfile.TemporaryDirectory() as folder:
        result = Path(folder) / "result.json"
        options = [f"--{name.replace('_', '-')}={getattr(args, name)}" for name in
                   ("device", "samples", "features", "hidden", "epochs", "batch_size",
                    "threads")]
        options += ["--batch-per-process"] * args.batch_per_process + ["--single"] * single
        script = [str(Path(__file__).resolve()), "--worker", f"--result={result}", *options]
        if single:
            command = [sys.executable, *script]
        else:
            command = [sys.executable, "-m", "torch.distributed.run",
                       f"--nproc-per-node={n_processes}", "--master-addr=127.0.0.1",
                       f"--master-port={_free_port()}", *script]
        environment = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
                           PYTHONPATH=os.pathsep.join(filter(None, [
                               str(REPOSITORY), os.environ.get("PYTHONPATH")])))
        subprocess.run(command, env=environment, check=True)
        return json.loads(result.read_text())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", default="1,2",
                        help="numbers of processes, comma-separated (default 1,2)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="auto: CUDA (NCCL) when present, else the CPU (gloo)")
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--hidden", default="256,256", help="ladder widths, comma-separated")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs")
    parser.add_argument("--batch-size", type=int, default=512, help="global batch size")
    parser.add_argument("--batch-per-process", action="store_true",
                        help="--batch-size rows per process (weak scaling)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.worker:
        return worker(args)
    counts = [int(count) for count in args.processes.split(",")]
    if args.device == "cuda" and max(counts) > torch.cuda.device_count():
        parser.error(f"{max(counts)} processes need as many GPUs; "
                     f"{torch.cuda.device_count()} here")
    rows = [dict(run(args, 1, single=True), processes="1 (single)")]
    rows += [run(args, count) for count in counts]
    reference = rows[0]["samples_per_second"]
    print(f"\n{args.samples} samples x {args.features} features, ladder {args.hidden}, "
          f"{args.epochs} timed epochs, {args.threads} thread(s) per process, torch "
          f"{torch.__version__}")
    print(f"{'processes':>12} | {'backend':>7} | {'device':>8} | {'global batch':>12} | "
          f"{'samples/s':>10} | {'speed-up':>8} | {'efficiency':>10}")
    for row in rows:
        count = 1 if isinstance(row["processes"], str) else row["processes"]
        speedup = row["samples_per_second"] / reference
        print(f"{row['processes']!s:>12} | {row['backend']:>7} | {row['device']:>8} | "
              f"{row['batch_size']:>12} | {row['samples_per_second']:>10.0f} | "
              f"{speedup:>8.2f} | {speedup / count:>10.0%}")


if __name__ == "__main__":
    main()
