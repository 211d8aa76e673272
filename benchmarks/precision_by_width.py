"""Training-step throughput in float32 and under bfloat16 autocast, by network size.

On a CPU, bfloat16 pays only when the matrix products of a step are large enough; this
prints samples/s of one training step of an MLP-ladder MFCVAE (2 facets, d = 5, K = 10,
Adam) for a grid of input widths, batch sizes and hidden sizes, the two arithmetics
taking turns over ``--rounds`` rounds (the better round of each is reported). Run from
the repository root, with nothing else running::

    python benchmarks/precision_by_width.py
    python benchmarks/precision_by_width.py --features 784 --batches 512 --hidden 500,2000
"""

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

from skmfc.nn import MFCVAE  # noqa: E402
from speed import matmul_flops_per_sample  # noqa: E402
from skmfc.training.state import _adam  # noqa: E402
from skmfc.training.steps import _EagerSteps  # noqa: E402

HIDDEN_GRID = ((64, 64), (128, 128), (256, 256), (500, 500), (500, 2000), (1000, 1000),
               (2000, 2000))
N_ROWS = 8192


def samples_per_second(n_features, batch_size, hidden_sizes, precision, n_steps, seed=0):
    """Samples/s of ``n_steps`` training steps after 5 untimed ones, and the matrix-product
    FLOPs of one step."""
    torch.manual_seed(seed)
    X = torch.rand(N_ROWS, n_features)
    module = MFCVAE((n_features,), hidden_sizes, (5, 5), (10, 10), likelihood="bernoulli")
    optimizer = _adam(module, 1e-3)  # as training builds it
    steps = _EagerSteps(module, optimizer, X, torch.ones(2), precision)
    weights = torch.ones(3, 2)
    generator = torch.Generator().manual_seed(seed)
    batches = [torch.randint(0, N_ROWS, (batch_size,), generator=generator)
               for _ in range(n_steps + 5)]
    for batch in batches[:5]:
        steps.step(batch, weights)
    start = time.perf_counter()
    for batch in batches[5:]:
        steps.step(batch, weights)
    seconds = time.perf_counter() - start
    return batch_size * n_steps / seconds, matmul_flops_per_sample(module) * batch_size


def _ints(text):
    return [int(value) for value in text.split(",")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", type=_ints, default=[784, 192],
                        help="comma-separated input widths (784,192)")
    parser.add_argument("--batches", type=_ints, default=[128, 512],
                        help="comma-separated batch sizes (128,512)")
    parser.add_argument("--hidden", type=_ints, default=None,
                        help="one pair of hidden sizes, e.g. 500,2000 (default: a grid of 7)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps (30)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds taking turns (2)")
    args = parser.parse_args(argv)
    grid = [tuple(args.hidden)] if args.hidden else HIDDEN_GRID
    print("| input features | batch | hidden sizes | GFLOP per step | float32 samples/s "
          "| bfloat16 samples/s | bfloat16 / float32 |")
    print("|---:|---:|---|---:|---:|---:|---:|")
    rows = []
    for n_features in args.features:
        for batch_size in args.batches:
            for hidden_sizes in grid:
                best = {"float32": 0.0, "bfloat16": 0.0}
                for _ in range(args.rounds):
                    for precision in best:
                        rate, flops = samples_per_second(n_features, batch_size, hidden_sizes,
                                                         precision, args.steps)
                        best[precision] = max(best[precision], rate)
                ratio = best["bfloat16"] / best["float32"]
                rows.append(dict(n_features=n_features, batch_size=batch_size,
                                 hidden_sizes=hidden_sizes, step_flops=flops, ratio=ratio,
                                 **best))
                print(f"| {n_features} | {batch_size} | {', '.join(map(str, hidden_sizes))} "
                      f"| {flops / 1e9:.2f} | {best['float32']:,.0f} | {best['bfloat16']:,.0f} "
                      f"| {ratio:.2f}x |", flush=True)
    return rows


if __name__ == "__main__":
    main()
