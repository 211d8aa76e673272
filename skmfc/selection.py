"""Choosing among models: which restart to keep, and how many facets to ask for.

Two questions come up when fitting :class:`skmfc.MFCVAEClustering` without known
labels, and the training ELBO answers neither well:

* **Which restart?** With ``n_init > 1`` the estimator (``init_selection="agreement"``)
  keeps the restart whose partitions agree most with those of the other restarts
  (:func:`restart_agreement`, :func:`select_restart`). A restart that found the real
  structure of the data shares it with the other restarts that found it; a failure is
  idiosyncratic.
* **How many facets?** :func:`facet_diagnostics` flags facets that carry no clustering
  (collapsed) and facets that repeat another facet's clustering (duplicates);
  :func:`compare_n_facets` fits ``n_facets = 1, 2, ...`` several times each and
  recommends the number whose *least reproducible* facet is most reproducible across
  the restarts (:func:`facet_reproducibility`): a facet that found a property of the
  data finds it again from another seed, a facet with nothing left to find clusters
  whatever nuisance its seed gives it.

The label-level functions take plain arrays of shape (n_samples, n_facets), one
clustering per column, and need no model.
"""

from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score
from sklearn.utils import check_random_state

__all__ = [
    "partition_agreement",
    "restart_agreement",
    "select_restart",
    "facet_reproducibility",
    "label_diagnostics",
    "facet_diagnostics",
    "FacetDiagnostics",
    "compare_n_facets",
    "NFacetsComparison",
    "NFacetsRow",
]

#: Two facets whose labels agree with at least this adjusted Rand index are duplicates.
DUPLICATE_ARI = 0.5
#: A facet whose mean posterior confidence ``max_k q(c_j = k | x)`` lies less than this
#: fraction of the way from uniform (``1 / K_j``) to certain (1) carries no clustering.
COLLAPSE_CONFIDENCE = 0.1
#: Restart scores closer than this are a tie, broken by the ELBO.
TIE_TOLERANCE = 1e-9
#: Numbers of facets whose reproducibility is within this of the best are a tie in
#: :func:`compare_n_facets`, won by the fewest facets.
REPRODUCIBILITY_TIE = 0.02


def _as_label_matrix(labels, name):
    """Labels as a 2-D array (n_samples, n_facets); a 1-D array is one facet."""
    labels = np.asarray(labels)
    if labels.ndim == 1:
        labels = labels[:, np.newaxis]
    if labels.ndim != 2 or labels.shape[0] == 0 or labels.shape[1] == 0:
        raise ValueError(f"{name} must have shape (n_samples, n_facets) with at least one "
                         f"sample and one facet, got shape {labels.shape}")
    return labels


def _ari_matrix(labels_a, labels_b):
    """Adjusted Rand index of every facet of ``labels_a`` with every facet of ``labels_b``."""
    return np.array([[adjusted_rand_score(a, b) for b in labels_b.T] for a in labels_a.T])


def _restart_pairs(matrices, indices):
    """Every unordered pair ``r, s`` of ``indices`` (``r`` first), with the adjusted Rand
    index of each facet of ``r`` with each facet of ``s``: each pair computed once."""
    for position, r in enumerate(indices):
        for s in indices[position + 1:]:
            yield r, s, _ari_matrix(matrices[r], matrices[s])


def _symmetric_agreement(ari):
    """Mean best match of the rows' facets and of the columns' facets, averaged."""
    return 0.5 * (float(ari.max(axis=1).mean()) + float(ari.max(axis=0).mean()))


def partition_agreement(labels_a, labels_b):
    """How far two multi-facet clusterings of the same samples find the same partitions.

    Every facet of one clustering is matched with the facet of the other that agrees
    with it most (adjusted Rand index, ARI), so neither the cluster names nor the order
    of the facets matter. The agreement is the mean of these best matches taken both
    ways, facets of ``labels_a`` in ``labels_b`` and facets of ``labels_b`` in
    ``labels_a``, averaged: it is symmetric, and a clustering that repeats one partition
    in two facets does not fully agree with one that has two different partitions.

    Parameters
    ----------
    labels_a : array-like of shape (n_samples, n_facets_a) or (n_samples,)
        One clustering per column (a 1-D array is one facet).
    labels_b : array-like of shape (n_samples, n_facets_b) or (n_samples,)
        Labels of the same samples; the number of facets may differ.

    Returns
    -------
    float
        1 when every facet of each has an identical partition (up to renaming) in the
        other; about 0 for unrelated partitions; ARI can be slightly negative.

    See Also
    --------
    restart_agreement : The agreement of each of several clusterings with the others.

    Examples
    --------
    >>> import numpy as np
    >>> from skmfc.selection import partition_agreement
    >>> a = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    >>> b = np.array([[5, 1], [7, 1], [5, 0], [7, 0]])  # facets swapped, clusters renamed
    >>> partition_agreement(a, b)
    1.0
    >>> one_facet = np.array([[0, 0], [0, 0], [1, 0], [1, 0]])  # and a constant one
    >>> partition_agreement(a, one_facet)
    0.5
    """
    labels_a = _as_label_matrix(labels_a, "labels_a")
    labels_b = _as_label_matrix(labels_b, "labels_b")
    if labels_a.shape[0] != labels_b.shape[0]:
        raise ValueError(f"labels_a and labels_b label different numbers of samples: "
                         f"{labels_a.shape[0]} and {labels_b.shape[0]}")
    return _symmetric_agreement(_ari_matrix(labels_a, labels_b))


def restart_agreement(labels_per_restart):
    """Score each restart by how much its partitions agree with the other restarts'.

    The score of restart ``r`` is the mean, over the other restarts ``s`` that have
    labels, of :func:`partition_agreement` of ``r`` and ``s``. A restart that found the
    structure of the data shares it with the others that found it, while failures
    differ from each other, so a high score marks a partition that is reproducible.

    Parameters
    ----------
    labels_per_restart : sequence of array-like of shape (n_samples, n_facets) or None
        The labels each restart gives the same samples; ``None`` for a restart that
        failed or did not run, which is left out of the others' scores.

    Returns
    -------
    ndarray of shape (len(labels_per_restart),)
        Mean agreement of each restart with the others; nan for a restart without
        labels, and for every restart when fewer than two have labels.

    See Also
    --------
    select_restart : The restart these scores choose, ties broken by the ELBO.

    Examples
    --------
    >>> import numpy as np
    >>> from skmfc.selection import restart_agreement
    >>> found = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 3)
    >>> renamed = 1 - found[:, ::-1]       # the same two partitions
    >>> collapsed = np.zeros_like(found)     # one cluster in every facet
    >>> restart_agreement([found, renamed, collapsed, None]).tolist()
    [0.5, 0.5, 0.0, nan]
    """
    matrices = [None if labels is None else _as_label_matrix(labels, "labels")
                for labels in labels_per_restart]
    valid = [index for index, labels in enumerate(matrices) if labels is not None]
    if len({matrices[index].shape[0] for index in valid}) > 1:
        raise ValueError("the restarts label different numbers of samples")
    scores = np.full(len(matrices), np.nan)
    if len(valid) < 2:
        return scores
    # partition_agreement is symmetric: compute each pair once, so that the two
    # restarts of a pair get exactly the same value.
    pairs = {}
    for r, s, ari in _restart_pairs(matrices, valid):
        pairs[r, s] = pairs[s, r] = _symmetric_agreement(ari)
    for r in valid:
        scores[r] = float(np.mean([pairs[r, s] for s in valid if s != r]))
    return scores


def facet_reproducibility(labels_per_restart, collapsed=None):
    """How reproducible each facet of each restart is: its best match in the others.

    The reproducibility of facet ``j`` of restart ``r`` is the mean, over the other
    restarts ``s``, of the highest adjusted Rand index between that facet's labels and
    any facet of ``s`` (facet order and cluster names do not matter). A facet that found
    a property of the data finds it again from another seed (about 1); a facet that
    clusters nuisance variation, or splits a property differently each time, does not.

    Parameters
    ----------
    labels_per_restart : sequence of array-like of shape (n_samples, n_facets)
        The labels of two or more restarts on the same samples, with the same number of
        facets (a 1-D array is one facet).
    collapsed : sequence of sequence of bool, optional
        Per restart, the facets that carry no clustering (see :func:`label_diagnostics`):
        they score 0, since two constant labellings agree perfectly and say nothing.

    Returns
    -------
    ndarray of shape (n_restarts, n_facets)
        The reproducibility of every facet of every restart, from about 0 (found by no
        other restart; the adjusted Rand index can be slightly negative) to 1.

    See Also
    --------
    restart_agreement : One score per restart, its facets' matches averaged both ways.
    compare_n_facets : Chooses the number of facets by the least reproducible facet.

    Examples
    --------
    >>> import numpy as np
    >>> from skmfc.selection import facet_reproducibility
    >>> found = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 3)
    >>> other_seed = np.column_stack([1 - found[:, 0], np.repeat([0, 1, 2], 4)])
    >>> facet_reproducibility([found, other_seed]).round(2).tolist()  # facet 1 differs
    [[1.0, -0.1], [1.0, -0.14]]
    """
    matrices = [_as_label_matrix(labels, "labels") for labels in labels_per_restart]
    if len(matrices) < 2:
        raise ValueError(f"facet_reproducibility needs at least two restarts, got "
                         f"{len(matrices)}")
    if len({matrix.shape for matrix in matrices}) > 1:
        raise ValueError("the restarts must label the same samples with the same number of "
                         f"facets, got shapes {[matrix.shape for matrix in matrices]}")
    n_restarts = len(matrices)
    best_matches = np.zeros((n_restarts, n_restarts, matrices[0].shape[1]))
    for r, s, ari in _restart_pairs(matrices, range(n_restarts)):
        best_matches[r, s], best_matches[s, r] = ari.max(axis=1), ari.max(axis=0)
    scores = best_matches.sum(axis=1) / (n_restarts - 1)
    if collapsed is not None:
        scores[np.asarray(collapsed, dtype=bool)] = 0.0
    return scores


def select_restart(scores, elbos):
    """Index of the restart with the highest score, ties broken by the ELBO.

    Scores within ``TIE_TOLERANCE`` (1e-9) of the highest are tied; among them the
    restart with the highest ELBO wins, and then the lowest index. A nan score or ELBO
    ranks below every number.

    Parameters
    ----------
    scores : array-like of shape (n_restarts,)
        Selection criterion of each restart, e.g. :func:`restart_agreement`.
    elbos : array-like of shape (n_restarts,)
        Training ELBO of each restart, the tie-breaker.

    Returns
    -------
    int
        The index of the restart to keep.

    Examples
    --------
    >>> from skmfc.selection import select_restart
    >>> select_restart([0.4, 0.9, 0.2], [-10.0, -12.0, -9.0])
    1
    >>> select_restart([0.5, 0.5], [-12.0, -10.0])  # tie: the better ELBO wins
    1
    >>> select_restart([float("nan"), float("nan")], [-12.0, float("nan")])
    0
    """
    scores = np.asarray(scores, dtype=float).ravel()
    elbos = np.asarray(elbos, dtype=float).ravel()
    if scores.size == 0 or scores.shape != elbos.shape:
        raise ValueError(f"scores and elbos must be non-empty and of the same length, got "
                         f"{scores.size} and {elbos.size}")
    scores = np.where(np.isnan(scores), -np.inf, scores)
    elbos = np.where(np.isnan(elbos), -np.inf, elbos)
    best_score = scores.max()
    tied = np.flatnonzero(scores >= best_score - TIE_TOLERANCE
                          if np.isfinite(best_score) else scores == best_score)
    # argmax returns the first, i.e. the lowest index, of equal ELBOs.
    return int(tied[np.argmax(elbos[tied])])


# ---------------------------------------------------------------------- facet diagnostics
@dataclass(frozen=True)
class FacetDiagnostics:
    """Per-facet health of a multi-facet clustering; see :func:`label_diagnostics`.

    Each parameter is an attribute of the same name.

    Parameters
    ----------
    n_clusters : tuple of int or None
        Clusters available per facet (``K_j``), when known.
    clusters_used : tuple of int
        Distinct labels per facet.
    largest_share : tuple of float
        Share of the samples in each facet's largest cluster.
    mean_confidence : tuple of float or None
        Mean posterior confidence ``max_k q(c_j = k | x)`` per facet, when known.
    collapsed : tuple of bool
        Facets that carry no clustering: fewer than two clusters used, or a mean
        confidence less than ``COLLAPSE_CONFIDENCE`` (0.1) of the way from uniform
        (``1 / K_j``) to certain.
    duplicates : tuple of tuple of int
        For each facet, the other facets whose labels agree with its labels with an
        adjusted Rand index of at least ``duplicate_ari``.
    ari : ndarray of shape (n_facets, n_facets)
        Adjusted Rand index of every pair of facets (1 on the diagonal).
    duplicate_ari : float
        The threshold used for ``duplicates``.
    """

    n_clusters: tuple
    clusters_used: tuple
    largest_share: tuple
    mean_confidence: tuple
    collapsed: tuple
    duplicates: tuple
    ari: np.ndarray = field(repr=False)
    duplicate_ari: float = DUPLICATE_ARI

    @property
    def n_facets(self):
        """Number of facets."""
        return len(self.clusters_used)

    @property
    def n_collapsed(self):
        """Number of collapsed facets."""
        return int(sum(self.collapsed))

    @property
    def duplicate_pairs(self):
        """Pairs ``(j, k)``, ``j < k``, of facets that duplicate each other."""
        return [(j, k) for j, others in enumerate(self.duplicates) for k in others if j < k]

    @property
    def ok(self):
        """True when no facet is collapsed and no two facets duplicate each other."""
        return self.n_collapsed == 0 and not self.duplicate_pairs

    def __str__(self):
        header = ["facet", "K", "used", "largest", "confidence", "collapsed", "duplicates"]
        rows = []
        for j in range(self.n_facets):
            rows.append([
                str(j),
                "-" if self.n_clusters is None else str(self.n_clusters[j]),
                str(self.clusters_used[j]),
                f"{self.largest_share[j]:.2f}",
                "-" if self.mean_confidence is None else f"{self.mean_confidence[j]:.2f}",
                "yes" if self.collapsed[j] else "no",
                ", ".join(str(k) for k in self.duplicates[j]) or "-",
            ])
        lines = _table(header, rows)
        verdict = "ok: every facet is used and distinct" if self.ok else (
            f"not ok: {self.n_collapsed} collapsed facet(s), "
            f"{len(self.duplicate_pairs)} duplicated pair(s) (ARI >= {self.duplicate_ari:g})")
        return "\n".join(lines + [verdict])


def _table(header, rows):
    """Lines of a plain-text table, columns right-aligned to their widest cell."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    def line(cells):
        return "  ".join(cell.rjust(width) for cell, width in zip(cells, widths))
    return [line(header), line(["-" * width for width in widths])] + [line(r) for r in rows]


def label_diagnostics(labels, n_clusters=None, mean_confidence=None,
                      duplicate_ari=DUPLICATE_ARI):
    """Collapsed and duplicated facets of a multi-facet clustering, from its labels.

    A facet is *collapsed* when it uses fewer than two clusters, or when its mean
    posterior confidence (if given) lies less than ``COLLAPSE_CONFIDENCE`` (a tenth) of
    the way from uniform to certain: ``mean_confidence < 1/K + 0.1 * (1 - 1/K)``, i.e.
    below 0.55 for ``K = 2`` and 0.19 for ``K = 10``. This rule, unlike a fixed multiple
    of ``1/K``, means the same for every number of clusters. Two facets are
    *duplicates* when their labels agree with an adjusted Rand index of at least
    ``duplicate_ari`` (0.5 by default): they then split the data largely the same way,
    and one of them adds little.

    Parameters
    ----------
    labels : array-like of shape (n_samples, n_facets)
        One clustering per column.
    n_clusters : int or sequence of int, optional
        Clusters available per facet (``K_j``); needed to judge ``mean_confidence``.
    mean_confidence : sequence of float, optional
        Mean over samples of ``max_k q(c_j = k | x)`` per facet.
    duplicate_ari : float, default=0.5
        Adjusted Rand index from which two facets count as duplicates.

    Returns
    -------
    FacetDiagnostics
        Printing it gives a table; ``diagnostics.ok`` says whether every facet is used
        and distinct.

    See Also
    --------
    facet_diagnostics : The same for a fitted :class:`skmfc.MFCVAEClustering`.

    Examples
    --------
    >>> import numpy as np
    >>> from skmfc.selection import label_diagnostics
    >>> labels = np.array([[0, 1, 0], [0, 1, 0], [1, 0, 0], [1, 0, 0], [2, 2, 0]])
    >>> diagnostics = label_diagnostics(labels)
    >>> diagnostics.collapsed, diagnostics.duplicate_pairs, diagnostics.ok
    ((False, False, True), [(0, 1)], False)
    >>> print(diagnostics)
    facet  K  used  largest  confidence  collapsed  duplicates
    -----  -  ----  -------  ----------  ---------  ----------
        0  -     3     0.40           -         no           1
        1  -     3     0.40           -         no           0
        2  -     1     1.00           -        yes           -
    not ok: 1 collapsed facet(s), 1 duplicated pair(s) (ARI >= 0.5)
    """
    labels = _as_label_matrix(labels, "labels")
    n_facets = labels.shape[1]
    if n_clusters is not None:
        n_clusters = ((int(n_clusters),) * n_facets if isinstance(n_clusters, Integral)
                      else tuple(int(k) for k in n_clusters))
        if len(n_clusters) != n_facets or min(n_clusters) < 1:
            raise ValueError(f"n_clusters must be a positive int or one per facet "
                             f"({n_facets}), got {n_clusters!r}")
    if mean_confidence is not None:
        mean_confidence = tuple(float(c) for c in mean_confidence)
        if len(mean_confidence) != n_facets:
            raise ValueError(f"mean_confidence needs one value per facet ({n_facets}), got "
                             f"{len(mean_confidence)}")
    if not (isinstance(duplicate_ari, Real) and -1.0 <= duplicate_ari <= 1.0):
        raise ValueError(f"duplicate_ari must be a number in [-1, 1], got {duplicate_ari!r}")

    used, largest, collapsed = [], [], []
    for j, column in enumerate(labels.T):
        _, counts = np.unique(column, return_counts=True)
        used.append(len(counts))
        largest.append(float(counts.max() / counts.sum()))
        uninformative = False
        if mean_confidence is not None and n_clusters is not None:
            uniform = 1.0 / n_clusters[j]
            uninformative = (n_clusters[j] > 1 and mean_confidence[j]
                             < uniform + COLLAPSE_CONFIDENCE * (1.0 - uniform))
        collapsed.append(len(counts) < 2 or bool(uninformative))
    ari = _ari_matrix(labels, labels)
    duplicates = tuple(tuple(k for k in range(n_facets) if k != j and ari[j, k] >= duplicate_ari)
                       for j in range(n_facets))
    return FacetDiagnostics(n_clusters=n_clusters, clusters_used=tuple(used),
                            largest_share=tuple(largest), mean_confidence=mean_confidence,
                            collapsed=tuple(collapsed), duplicates=duplicates, ari=ari,
                            duplicate_ari=float(duplicate_ari))


def facet_diagnostics(estimator, X=None, duplicate_ari=DUPLICATE_ARI):
    """Collapsed and duplicated facets of a fitted :class:`skmfc.MFCVAEClustering`.

    Per facet: the clusters it uses, the share of its largest cluster, its mean
    posterior confidence, whether it is collapsed, and which other facets duplicate it;
    the rules are those of :func:`label_diagnostics`. These flags help to choose
    ``n_facets``: a collapsed facet, or two facets that find the same partition, say
    that the model has more facets than the data have independent groupings.

    Parameters
    ----------
    estimator : MFCVAEClustering
        A fitted estimator.
    X : array-like of shape (n_samples, n_features), optional
        Judge the labels and confidences the estimator predicts for X; by default its
        training labels (``labels_``) and ``mean_confidence_``.
    duplicate_ari : float, default=0.5
        Adjusted Rand index from which two facets count as duplicates.

    Returns
    -------
    FacetDiagnostics
        ``print(diagnostics)`` shows a table; ``diagnostics.ok`` is True when no facet
        is collapsed or duplicated.

    Examples
    --------
    >>> import numpy as np
    >>> from skmfc import MFCVAEClustering
    >>> from skmfc.selection import facet_diagnostics
    >>> X = np.random.RandomState(0).rand(60, 6)
    >>> est = MFCVAEClustering(n_facets=2, n_clusters=3, hidden_sizes=16, max_iter=2,
    ...                        device="cpu", random_state=0).fit(X)
    >>> diagnostics = facet_diagnostics(est)
    >>> diagnostics.n_facets, len(diagnostics.collapsed), isinstance(diagnostics.ok, bool)
    (2, 2, True)
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    if X is None:
        labels, confidence = estimator.labels_, estimator.mean_confidence_
    else:
        proba = estimator.predict_proba(X)
        blocks = np.split(proba, np.cumsum(estimator.n_clusters_)[:-1], axis=1)
        labels = np.stack([block.argmax(axis=1) for block in blocks], axis=1)
        confidence = tuple(float(block.max(axis=1).mean()) for block in blocks)
    return label_diagnostics(labels, n_clusters=estimator.n_clusters_,
                             mean_confidence=confidence, duplicate_ari=duplicate_ari)


# ---------------------------------------------------------------------- n_facets
@dataclass(frozen=True)
class NFacetsRow:
    """One fitted number of facets in :func:`compare_n_facets`.

    Each parameter is an attribute of the same name.

    Parameters
    ----------
    n_facets : int
        ``J``.
    reproducibility : float
        The least reproducible facet's :func:`facet_reproducibility`, averaged over the
        restarts: the number :func:`compare_n_facets` recommends by.
    facet_reproducibility : ndarray of shape (n_restarts, n_facets)
        Every facet's reproducibility in every restart.
    elbo : float
        Mean ELBO per sample of X (:meth:`~skmfc.MFCVAEClustering.score`) of the restart
        kept (the one whose facets are most reproducible on average).
    n_collapsed : int
        Collapsed facets of the restart kept.
    n_duplicate_pairs : int
        Pairs of facets of the restart kept that duplicate each other.
    ok : bool
        No collapsed and no duplicated facet in the restart kept.
    diagnostics : FacetDiagnostics
        The full per-facet diagnostics of the restart kept.
    """

    n_facets: int
    reproducibility: float
    facet_reproducibility: np.ndarray = field(repr=False)
    elbo: float
    n_collapsed: int
    n_duplicate_pairs: int
    ok: bool
    diagnostics: FacetDiagnostics = field(repr=False)


@dataclass(frozen=True)
class NFacetsComparison:
    """Result of :func:`compare_n_facets`.

    Each parameter is an attribute of the same name.

    Parameters
    ----------
    rows : list of NFacetsRow
        One per number of facets, ``n_facets = 1, 2, ...``.
    recommended_n_facets : int
        The ``n_facets`` with the highest ``reproducibility``; numbers within
        ``REPRODUCIBILITY_TIE`` (0.02) of it are a tie, won by the fewest facets.
    estimators : dict of int to MFCVAEClustering
        The restart kept of every number of facets.
    """

    rows: list
    recommended_n_facets: object
    estimators: dict = field(repr=False)

    def __str__(self):
        header = ["n_facets", "reproducibility", "ELBO", "collapsed", "duplicated pairs",
                  "ok"]
        rows = [[str(row.n_facets), f"{row.reproducibility:.2f}", f"{row.elbo:.4g}",
                 str(row.n_collapsed), str(row.n_duplicate_pairs), "yes" if row.ok else "no"]
                for row in self.rows]
        return "\n".join(_table(header, rows) + [
            f"recommended n_facets: {self.recommended_n_facets}"])


def _single_value(name, value):
    """A per-facet parameter as one value for any number of facets."""
    if isinstance(value, tuple):
        if len(set(value)) != 1:
            raise ValueError(f"compare_n_facets fits several numbers of facets, so {name} must "
                             f"be one value for every facet, got {value!r}; fit the "
                             "variants yourself to give per-facet values")
        return value[0]
    return value


def compare_n_facets(estimator, X, max_facets=4, n_restarts=2):
    """Fit ``n_facets`` from 1 to ``max_facets``, each several times, and recommend one.

    Every number of facets is fitted ``n_restarts`` times on X with clones of
    ``estimator`` (other parameters unchanged, seeds drawn from its ``random_state``),
    and every facet is scored by how well the other restarts find its partition again
    (:func:`facet_reproducibility`; a collapsed facet scores 0). A number of facets is as
    reproducible as its least reproducible facet, and the recommendation is the most
    reproducible number (the fewest facets on a tie): past the number of groupings the
    model can find in the data, an extra facet clusters nuisance variation, which
    differs between seeds, or takes part of a grouping another facet holds.

    What it recommends is the number of partitions the model finds *reproducibly*, which
    is fewer than the data hold when the model misses one. Measured on six data sets of
    the project's facet suite (defaults, 2 restarts, ``max_facets=4``;
    ``benchmarks/FACETS_LOG.md``, session 6): the true number on the three where the
    model finds every factor (stick figures, one-background digits, tabular data), one
    fewer on two where it loses one (the digit of three-colour digits, the letter of
    glyphs) and one on the stick figures in four corners, where only the position is
    found. The earlier rule (the largest number of facets all used and distinct)
    recommended the true number in 1 of the same 12 fits, almost always the largest
    tried. The cost is ``max_facets * n_restarts`` fits.

    Parameters
    ----------
    estimator : MFCVAEClustering
        Template: fitted or not, it is cloned (:func:`sklearn.base.clone`) and left
        unchanged. Per-facet parameters (``n_clusters``, ``latent_dim``,
        ``hidden_sizes``) must be one value for every facet.
    X : array-like of shape (n_samples, n_features)
        Training data.
    max_facets : int, default=4
        The largest number of facets tried.
    n_restarts : int, default=2
        Fits per number of facets, at least 2.

    Returns
    -------
    NFacetsComparison
        ``comparison.rows`` holds one :class:`NFacetsRow` per number of facets (its
        ``n_facets``, ``reproducibility``, ``elbo``, ``n_collapsed``,
        ``n_duplicate_pairs``, ``ok`` and ``diagnostics``),
        ``comparison.recommended_n_facets`` the recommendation and
        ``comparison.estimators`` the restart kept of every number; ``print(comparison)``
        shows a table.

    Examples
    --------
    >>> import numpy as np
    >>> from skmfc import MFCVAEClustering
    >>> from skmfc.selection import compare_n_facets
    >>> X = np.random.RandomState(0).rand(60, 6)
    >>> template = MFCVAEClustering(n_clusters=3, hidden_sizes=16, max_iter=2,
    ...                             device="cpu", random_state=0)
    >>> comparison = compare_n_facets(template, X, max_facets=2)
    >>> [row.n_facets for row in comparison.rows]
    [1, 2]
    >>> comparison.recommended_n_facets in (1, 2)
    True
    """
    for name, value, low in (("max_facets", max_facets, 1), ("n_restarts", n_restarts, 2)):
        if not (isinstance(value, Integral) and not isinstance(value, bool) and value >= low):
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    params = estimator.get_params(deep=False)
    per_facet = {name: _single_value(name, params[name])
                 for name in ("n_clusters", "latent_dim", "hidden_sizes") if name in params}
    seeds = check_random_state(params.get("random_state")).randint(
        np.iinfo(np.int32).max, size=int(n_restarts))
    rows, estimators = [], {}
    for n_facets in range(1, int(max_facets) + 1):
        models = [clone(estimator).set_params(n_facets=n_facets, random_state=int(seed),
                                              **per_facet).fit(X)
                  for seed in seeds]
        diagnostics = [facet_diagnostics(model) for model in models]
        scores = facet_reproducibility([model.labels_ for model in models],
                                       collapsed=[d.collapsed for d in diagnostics])
        kept = int(np.argmax(scores.mean(axis=1)))
        rows.append(NFacetsRow(
            n_facets=n_facets, reproducibility=float(scores.min(axis=1).mean()),
            facet_reproducibility=scores, elbo=float(models[kept].score(X)),
            n_collapsed=diagnostics[kept].n_collapsed,
            n_duplicate_pairs=len(diagnostics[kept].duplicate_pairs),
            ok=diagnostics[kept].ok, diagnostics=diagnostics[kept]))
        estimators[n_facets] = models[kept]
    best = max(row.reproducibility for row in rows)
    recommended = min(row.n_facets for row in rows
                      if row.reproducibility >= best - REPRODUCIBILITY_TIE)
    return NFacetsComparison(rows=rows, recommended_n_facets=recommended,
                             estimators=estimators)
