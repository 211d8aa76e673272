"""Scoring clusterings against known labellings, facet by facet.

A multi-facet clustering assigns every sample one cluster per facet. These
functions compare each facet's clustering with each known labelling (digit
class, colour, ...) to tell which facet captured which labelling.
"""

import numbers
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import (
    adjusted_mutual_info_score,
    adjusted_rand_score,
    normalized_mutual_info_score,
)
from sklearn.metrics.cluster import contingency_matrix
from sklearn.utils import check_consistent_length, column_or_1d

__all__ = ["hungarian_accuracy", "majority_accuracy", "facet_scores", "FacetScores"]


def _check_no_nan(values, name):
    """Raise ValueError if a label array holds NaN (floats or objects)."""
    if values.dtype.kind in "fc":
        has_nan = bool(np.isnan(values).any())
    elif values.dtype.kind == "O":
        has_nan = any(value != value for value in values.ravel())  # NaN != NaN
    else:
        has_nan = False
    if has_nan:
        raise ValueError(f"{name} contains NaN; every sample needs a label.")


def _check_label_pair(y_true, y_pred):
    """Validate two 1-D labellings of the same non-empty set of samples."""
    y_true = column_or_1d(y_true)
    y_pred = column_or_1d(y_pred)
    check_consistent_length(y_true, y_pred)
    if y_true.size == 0:
        raise ValueError("y_true and y_pred are empty; at least one sample is needed.")
    _check_no_nan(y_true, "y_true")
    _check_no_nan(y_pred, "y_pred")
    return y_true, y_pred


def hungarian_accuracy(y_true, y_pred):
    """Accuracy of a clustering under the best one-to-one cluster-class matching.

    Clusters and classes are matched one-to-one so as to maximise the number of
    correctly labelled samples (Hungarian algorithm on the contingency
    matrix). The numbers of clusters and classes may differ: samples of
    clusters left without a class (or of classes left without a cluster)
    count as wrong.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Known class labels (any hashable values).
    y_pred : array-like of shape (n_samples,)
        Cluster labels (any hashable values).

    Returns
    -------
    float
        Fraction of samples whose cluster is matched to their class, in [0, 1].

    See Also
    --------
    majority_accuracy : Many-to-one matching, which never scores lower.

    Examples
    --------
    >>> from skmfc.metrics import hungarian_accuracy
    >>> hungarian_accuracy([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    >>> hungarian_accuracy([0, 0, 0, 0], [0, 0, 1, 1])
    0.5
    """
    y_true, y_pred = _check_label_pair(y_true, y_pred)
    contingency = contingency_matrix(y_true, y_pred)  # rows: classes, columns: clusters
    rows, columns = linear_sum_assignment(contingency, maximize=True)
    return float(contingency[rows, columns].sum() / y_true.size)


def majority_accuracy(y_true, y_pred):
    """Accuracy of a clustering when each cluster predicts its majority class.

    Every cluster is mapped to the class most frequent among its samples
    (several clusters may map to the same class). This is the unsupervised
    accuracy reported in the MFCVAE paper. It rewards over-clustering: with
    more clusters than classes it can only go up, and one cluster per sample
    scores 1.0. Compare with :func:`hungarian_accuracy` when the numbers of
    clusters differ.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Known class labels (any hashable values).
    y_pred : array-like of shape (n_samples,)
        Cluster labels (any hashable values).

    Returns
    -------
    float
        Fraction of samples belonging to their cluster's majority class.

    See Also
    --------
    hungarian_accuracy : One-to-one matching.

    Examples
    --------
    >>> from skmfc.metrics import majority_accuracy
    >>> majority_accuracy([0, 0, 0, 0], [0, 0, 1, 1])
    1.0
    >>> majority_accuracy([0, 0, 1, 1], [0, 0, 0, 0])
    0.5
    """
    y_true, y_pred = _check_label_pair(y_true, y_pred)
    contingency = contingency_matrix(y_true, y_pred)
    return float(contingency.max(axis=0).sum() / y_true.size)


_METRICS = {
    "ari": (adjusted_rand_score, "adjusted Rand index"),
    "nmi": (normalized_mutual_info_score, "normalised mutual information"),
    "ami": (adjusted_mutual_info_score, "adjusted mutual information"),
    "hungarian": (hungarian_accuracy, "Hungarian accuracy"),
    "majority": (majority_accuracy, "majority accuracy"),
}


@dataclass(frozen=True, eq=False)
class FacetScores:
    """Scores of every facet's clustering against every known labelling.

    Returned by :func:`facet_scores`; ``str(result)`` prints a table.

    Each parameter is an attribute of the same name.

    Parameters
    ----------
    scores : ndarray of shape (n_targets, n_facets)
        ``scores[l, j]`` compares known labelling ``l`` with facet ``j``.
    best_facet : ndarray of shape (n_targets,), int
        For each known labelling, the index of its best-scoring facet (the
        first one on ties; -1 if every score is NaN).
    best_score : ndarray of shape (n_targets,), float
        For each known labelling, the score of its best facet.
    target_names : tuple of str
        Names of the known labellings (rows).
    facet_names : tuple of str
        Names of the facets (columns).
    metric_name : str
        Name of the metric.
    """

    scores: np.ndarray
    best_facet: np.ndarray
    best_score: np.ndarray
    target_names: tuple
    facet_names: tuple
    metric_name: str

    def to_string(self, precision=3):
        """Return the scores as a fixed-width text table.

        Rows are the known labellings; columns are the facets, then the best
        facet and its score.

        Parameters
        ----------
        precision : int, default=3
            Number of decimals of the scores.

        Returns
        -------
        str
            The title, the header and one line per known labelling.
        """
        facet_headers = [str(name) for name in self.facet_names]
        best_names = [
            self.facet_names[index] if index >= 0 else "-" for index in self.best_facet
        ]
        number_width = precision + 3  # sign, integer digit and decimal point
        row_header_width = max(len("labelling"), *(len(str(n)) for n in self.target_names))
        column_widths = [max(len(header), number_width) for header in facet_headers]
        best_facet_width = max(len("best facet"), *(len(str(name)) for name in best_names))
        best_score_width = max(len("best score"), number_width)

        header = "  ".join(
            [f"{'labelling':<{row_header_width}}"]
            + [f"{h:>{w}}" for h, w in zip(facet_headers, column_widths)]
            + [f"{'best facet':<{best_facet_width}}", f"{'best score':>{best_score_width}}"]
        )
        title = f"{self.metric_name} of each facet (columns) per known labelling (rows)"
        lines = [title[:1].upper() + title[1:]]
        lines += [header, "-" * len(header)]
        for name, row, best_name, best in zip(
            self.target_names, self.scores, best_names, self.best_score
        ):
            cells = [f"{str(name):<{row_header_width}}"]
            cells += [f"{score:>{w}.{precision}f}" for score, w in zip(row, column_widths)]
            cells += [
                f"{str(best_name):<{best_facet_width}}",
                f"{best:>{best_score_width}.{precision}f}",
            ]
            lines.append("  ".join(cells))
        return "\n".join(lines)

    def __str__(self):
        return self.to_string()

    def to_frame(self, include_best=True):
        """Return the scores as a pandas DataFrame.

        Parameters
        ----------
        include_best : bool, default=True
            Add the columns ``"best facet"`` (facet name) and ``"best score"``.

        Returns
        -------
        pandas.DataFrame
            Indexed by the known labellings, one column per facet.
        """
        try:
            import pandas as pd
        except ImportError as error:
            raise ImportError(
                "FacetScores.to_frame needs pandas; install it with 'pip install pandas' "
                "or use FacetScores.to_string()."
            ) from error
        frame = pd.DataFrame(
            self.scores,
            index=pd.Index(self.target_names, name="labelling"),
            columns=list(self.facet_names),
        )
        if include_best:
            frame["best facet"] = [
                self.facet_names[index] if index >= 0 else None for index in self.best_facet
            ]
            frame["best score"] = self.best_score
        return frame


def _as_label_matrix(values, name):
    """Return labels as a 2-D array (n_samples, n_columns); 1-D becomes 1 column."""
    array = np.asarray(values)
    if array.ndim == 1:
        array = array[:, np.newaxis]
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be 1-D (one labelling) or 2-D (n_samples, n_labellings), got "
            f"an array of shape {array.shape}."
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}).")
    _check_no_nan(array, name)
    return array


def _resolve_names(names, count, default_prefix, argument):
    if names is None:
        return tuple(f"{default_prefix} {index}" for index in range(count))
    names = (names,) if isinstance(names, str) else tuple(str(name) for name in names)
    if len(names) != count:
        raise ValueError(f"{argument} has {len(names)} names for {count} columns.")
    return names


def facet_scores(labels, targets, *, metric="ari", target_names=None, facet_names=None):
    """Score every facet's clustering against every known labelling.

    Parameters
    ----------
    labels : array-like of shape (n_samples, n_facets) or (n_samples,)
        Predicted cluster of every sample in every facet (for example
        ``MFCVAEClustering.labels_``); 1-D means a single facet.
    targets : array-like of shape (n_samples, n_targets) or (n_samples,)
        Known labellings (for example ``bunch.target`` of
        :mod:`skmfc.datasets`); 1-D means a single labelling. A pandas
        DataFrame's column names are used as default ``target_names``.
    metric : {"ari", "nmi", "ami", "hungarian", "majority"} or callable, \
            default="ari"
        Adjusted Rand index, normalised or adjusted mutual information,
        :func:`hungarian_accuracy` or :func:`majority_accuracy`; a callable is
        called as ``metric(y_true, y_pred)`` and must return a float.
    target_names : sequence of str, default=None
        Names of the known labellings; defaults to ``"target 0"``, ... .
    facet_names : sequence of str, default=None
        Names of the facets; defaults to ``"facet 0"``, ... .

    Returns
    -------
    FacetScores
        ``result.scores[l, j]`` scores facet ``j`` against labelling ``l``;
        ``result.best_facet`` names, per labelling, the facet that captures it
        best. ``print(result)`` shows a table; ``result.to_frame()`` returns a
        DataFrame.

    Examples
    --------
    >>> import numpy as np
    >>> from skmfc.metrics import facet_scores
    >>> targets = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    >>> labels = targets[:, ::-1]  # facet 0 found the second labelling
    >>> result = facet_scores(labels, targets, metric="hungarian",
    ...                       target_names=["digit", "colour"])
    >>> result.best_facet
    array([1, 0])
    >>> result.best_score
    array([1., 1.])
    """
    if target_names is None and hasattr(targets, "columns"):
        target_names = [str(column) for column in targets.columns]
    labels = _as_label_matrix(labels, "labels")
    targets = _as_label_matrix(targets, "targets")
    check_consistent_length(labels, targets)

    if callable(metric):
        score_function = metric
        metric_name = getattr(metric, "__name__", repr(metric))
    elif isinstance(metric, str) and metric in _METRICS:
        score_function, metric_name = _METRICS[metric]
    else:
        raise ValueError(
            f"metric must be one of {sorted(_METRICS)} or a callable, got {metric!r}."
        )

    n_targets, n_facets = targets.shape[1], labels.shape[1]
    target_names = _resolve_names(target_names, n_targets, "target", "target_names")
    facet_names = _resolve_names(facet_names, n_facets, "facet", "facet_names")

    scores = np.empty((n_targets, n_facets), dtype=np.float64)
    for target_index in range(n_targets):
        for facet_index in range(n_facets):
            score = score_function(targets[:, target_index], labels[:, facet_index])
            if not isinstance(score, numbers.Real):
                raise TypeError(f"metric returned {score!r}; a real number is expected.")
            scores[target_index, facet_index] = score

    # NaN scores never win; a row of NaNs gets best_facet -1.
    ranked = np.where(np.isnan(scores), -np.inf, scores)
    best_facet = np.argmax(ranked, axis=1)
    all_nan = np.isnan(scores).all(axis=1)
    best_score = np.where(all_nan, np.nan, scores[np.arange(n_targets), best_facet])
    best_facet = np.where(all_nan, -1, best_facet)

    for array in (scores, best_facet, best_score):
        array.setflags(write=False)
    return FacetScores(
        scores=scores,
        best_facet=best_facet,
        best_score=best_score,
        target_names=target_names,
        facet_names=facet_names,
        metric_name=metric_name,
    )
