"""Convolutional ladder against an MLP ladder of the same arithmetic, per training step.

Issue 14 asks for the convolutional ladder on the CPU within 2x of an MLP ladder of the
same FLOP count. This script builds the convolutional ladder the estimator uses for
grey images (``hidden_sizes`` "auto" for ``n_facets`` facets), counts the FLOPs of one
training step (forward and backward, :class:`torch.utils.flop_counter.FlopCounterMode`),
widens an MLP ladder until its step has about as many FLOPs, and times Adam training
steps of both, plus the convolutional ladder in channels-last memory format. The variants
take turns over several rounds; the table gives medians and the median of each round's
ratio.

Run from the repository root::

    python benchmarks/conv_speed.py                 # 20x20 images, batch 128, 3 rounds
    python benchmarks/conv_speed.py --image-size 32 --rounds 5
"""

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPOSITORY), str(REPOSITORY / "benchmarks")]

from skmfc.nn import MFCVAE  # noqa: E402


def conv_ladder(image_size, n_facets):
    """The estimator's convolutional ladder for grey images (auto hidden sizes)."""
    hidden_sizes = tuple(min(32 * 2 ** level, 256) for level in range(n_facets))
    return MFCVAE((1, image_size, image_size), hidden_sizes, (5,) * n_facets,
                  (3,) * n_facets, architecture="conv")


def mlp_ladder(n_features, width, n_facets):
    return MFCVAE((n_features,), (width,) * n_facets, (5,) * n_facets, (3,) * n_facets)


def step_flops(module, x):
    """FLOPs of one training step's forward and backward passes."""
    weights = torch.ones(module.n_facets)
    with FlopCounterMode(display=False) as counter:
        loss, _, _ = module.loss(x, weights, weights, torch.ones(module.n_facets))
        loss.backward()
    module.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def matched_mlp(target_flops, n_features, n_facets, x):
    """The MLP ladder width whose step has about ``target_flops`` (bisection on width)."""
    low, high = 8, 8192
    while high - low > 8:
        middle = (low + high) // 2
        if step_flops(mlp_ladder(n_features, middle, n_facets), x) < target_flops:
            low = middle
        else:
            high = middle
    return high


def time_steps(module, X, batch_size, steps, channels_last=False):
    """Seconds per Adam training step, after three untimed ones."""
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    weights = torch.ones(module.n_facets)
    free_nats = torch.ones(module.n_facets)
    n_batches = len(X) // batch_size

    def step(index):
        x = X[(index % n_batches) * batch_size:][:batch_size]
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        loss, _, _ = module.loss(x, weights, weights, free_nats)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for index in range(3):
        step(index)
    start = time.perf_counter()
    for index in range(steps):
        step(index)
    return (time.perf_counter() - start) / steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-size", type=int, default=20)
    parser.add_argument("--n-facets", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per variant")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    size, n_facets = args.image_size, args.n_facets
    images = (torch.rand(4 * args.batch_size, 1, size, size) > 0.7).float()
    flat = images.reshape(len(images), -1)
    batch = images[:args.batch_size]
    conv_flops = step_flops(conv_ladder(size, n_facets), batch)
    width = matched_mlp(conv_flops, size * size, n_facets, flat[:args.batch_size])
    mlp_flops = step_flops(mlp_ladder(size * size, width, n_facets), flat[:args.batch_size])
    variants = {
        "conv": lambda: time_steps(conv_ladder(size, n_facets), images, args.batch_size,
                                   args.steps),
        "conv, channels-last": lambda: time_steps(
            conv_ladder(size, n_facets).to(memory_format=torch.channels_last), images,
            args.batch_size, args.steps, channels_last=True),
        f"MLP, width {width}": lambda: time_steps(mlp_ladder(size * size, width, n_facets),
                                                  flat, args.batch_size, args.steps),
    }
    flops = dict(zip(variants, (conv_flops, conv_flops, mlp_flops)))
    rounds = []
    for round_number in range(args.rounds):
        rounds.append({name: run() for name, run in variants.items()})
        print(f"round {round_number + 1}: " + ", ".join(
            f"{name} {seconds * 1e3:.1f} ms" for name, seconds in rounds[-1].items()),
            file=sys.stderr, flush=True)
    reference = f"MLP, width {width}"
    print(f"images {size}x{size} grey, {n_facets} facets, batch {args.batch_size}, "
          f"{torch.get_num_threads()} torch threads, {args.rounds} rounds taking turns; "
          f"torch {torch.__version__}\n")
    print("| variant | GFLOP per step | ms per step | GFLOP/s | time per FLOP vs the MLP |")
    print("|---|---:|---:|---:|---:|")
    for name in variants:
        seconds = statistics.median(results[name] for results in rounds)
        per_flop = statistics.median(
            (results[name] / flops[name]) / (results[reference] / flops[reference])
            for results in rounds)
        print(f"| {name} | {flops[name] / 1e9:.2f} | {seconds * 1e3:.1f} | "
              f"{flops[name] / seconds / 1e9:.1f} | {per_flop:.2f}x |")


if __name__ == "__main__":
    main()
