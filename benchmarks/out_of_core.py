"""Fits on data larger than memory: peak resident memory and throughput of a fit on a
numpy memmap on disk, against the same data loaded in memory (issue 13, part 2).

For every size, a ``.npy`` file of float32 rows (a mixture of Gaussian blobs, two
groupings in separate features) is written under ``--dir``, then each way of passing it
is fitted for ``--epochs`` epochs in a fresh Python process, so that peak memory does not
carry over from one run to the next:

- ``memmap``: ``np.load(path, mmap_mode="r")``, read in pieces (:mod:`skmfc.data`);
- ``memory``: ``np.load(path)``, the whole array in memory, as before.

Reported per run: the peak resident set size of the process (``ru_maxrss``; it includes
the ~0.3-0.5 GB of Python, torch and scikit-learn, shown in ``baseline``), the time of the
whole ``fit`` (statistics, guide, training, the final pass for ``labels_``) and
``samples/s`` = rows x epochs / that time. The files are deleted at the end.

    OMP_NUM_THREADS=1 python benchmarks/out_of_core.py                        # 100k to 2M rows
    python benchmarks/out_of_core.py --sizes 2000 5000 --epochs 1 --features 16   # smoke run

The target of issue 13: peak memory flat in the number of rows with the memmap, and its
throughput within 15 % of the in-memory fit's. Run it alone on the machine: timings of
a machine shared with other work are not valid.
"""

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_SIZES = (100_000, 500_000, 1_000_000, 2_000_000)
WRITE_ROWS = 100_000


def write_data(path, n_samples, n_features, seed=0):
    """A float32 ``.npy`` file of ``n_samples`` rows: two groupings (4 and 3 blobs), each
    in half of the features, plus noise; written a block of rows at a time."""
    rng = np.random.default_rng(seed)
    half = n_features // 2
    centres = [rng.normal(scale=4.0, size=(4, half)),
               rng.normal(scale=4.0, size=(3, n_features - half))]
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                      shape=(n_samples, n_features))
    for start in range(0, n_samples, WRITE_ROWS):
        rows = min(WRITE_ROWS, n_samples - start)
        block = np.concatenate([c[rng.integers(len(c), size=rows)] for c in centres], axis=1)
        array[start:start + rows] = block + rng.normal(size=block.shape)
    array.flush()
    del array


def run_one(path, how, epochs, batch_size, device):
    """Fit once in this process; returns the measurements as a dict."""
    import warnings

    from skmfc import MFCVAEClustering

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    X = np.load(path, mmap_mode="r") if how == "memmap" else np.load(path)
    est = MFCVAEClustering(max_iter=epochs, batch_size=batch_size, device=device,
                           random_state=0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    seconds = time.perf_counter() - start
    return dict(how=how, n_samples=len(X), seconds=seconds,
                samples_per_second=len(X) * epochs / seconds,
                peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                baseline_rss_mb=baseline, device=str(est.device_))


def run_in_subprocess(path, how, args):
    command = [sys.executable, __file__, "--child", str(path), how, "--epochs",
               str(args.epochs), "--batch-size", str(args.batch_size), "--device",
               args.device]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def table(results):
    lines = ["| rows | how | device | peak RSS (MB) | baseline (MB) | fit (s) | samples/s "
             "| memmap / memory |",
             "|---:|---|---|---:|---:|---:|---:|---:|"]
    memory_speed = {r["n_samples"]: r["samples_per_second"] for r in results
                    if r["how"] == "memory"}
    for r in results:
        ratio = (f"{r['samples_per_second'] / memory_speed[r['n_samples']]:.2f}"
                 if r["how"] == "memmap" and r["n_samples"] in memory_speed else "")
        lines.append(f"| {r['n_samples']:,} | {r['how']} | {r['device']} | "
                     f"{r['peak_rss_mb']:.0f} | {r['baseline_rss_mb']:.0f} | "
                     f"{r['seconds']:.1f} | {r['samples_per_second']:,.0f} | {ratio} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--ways", nargs="+", default=["memmap", "memory"],
                        choices=["memmap", "memory"])
    parser.add_argument("--dir", default=None,
                        help="where the data files go (default: a new temporary folder)")
    parser.add_argument("--child", nargs=2, metavar=("PATH", "HOW"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_one(args.child[0], args.child[1], args.epochs, args.batch_size,
                                 args.device)))
        return
    folder = Path(tempfile.mkdtemp(prefix="skmfc-out-of-core-", dir=args.dir))
    results = []
    try:
        for n_samples in args.sizes:
            path = folder / f"X_{n_samples}.npy"
            write_data(path, n_samples, args.features)
            for how in args.ways:
                results.append(run_in_subprocess(path, how, args))
                print(f"{n_samples:,} rows, {how}: {results[-1]['seconds']:.1f} s",
                      file=sys.stderr)
            path.unlink()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{args.features} float32 features, {args.epochs} epoch(s), batch size "
          f"{args.batch_size}, estimator defaults otherwise")
    print(table(results))


if __name__ == "__main__":
    main()
