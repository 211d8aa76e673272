"""Guide partitions: non-redundant k-means, the linear answer a facet may start from.

A mixture-prior VAE left alone often lets one facet take the product of two factors (nine
pose pairs of a stick figure grouped into three unions), and its ELBO does not prefer the
factorised answer strongly enough to leave it. Where the factors are visible *linearly*
(a colour, a position, a limb's pose, a group of tabular features), a cheap linear
method finds them: non-redundant k-means (Nr-Kmeans; Mautz, Ye, Plant and Boehm, KDD
2018) rotates the data so that each of several k-means clusterings lives in its own
subspace, with a shared noise space for what none of them explains.

:func:`guide_partitions` runs it on a PCA projection of the training data, merges the
clusters of each partition that sit in one clump (the gap rule of
:mod:`skmfc.merging`), and rates each partition by its silhouette in its own subspace.
Partitions rated at least :data:`MIN_CLARITY` guide training (see
:func:`skmfc.training.train`); the others, such as a digit's identity, which no linear
subspace separates, are left to the network. A clear partition that shares information
with a clearer one (two coarsenings of one colour, say), or depends on it (one colour
held partly by each: together they leave empty a combination of groups that the
independent factors the facets' prior assumes would fill), is redundant and guides
nothing. Plain k-means on all directions, which shares no direction among clusterings,
replaces the clear partition it repeats or depends on where it separates that
partition's groups more cleanly (:func:`_prefer_plain_kmeans`).

Limits, measured: with upper bounds far above a factor's true number of groups (8 for
3 and 4), Nr-Kmeans spends the extra clusters on noise directions and can keep a product
of two factors in one subspace, rated as clear as a true factor; on coloured digits
(bound 10, colours of 3) the starts that split the colours apart are rare, and with 20
starts in 2 of 6 seeds none did (with the default 40, every seed had one). Its pull
fades to nothing by the end of training, and the network then mends rows a guide
partition holds wrongly; but it keeps the partition's shape: two groups merged, or two
factors folded into one partition, stay so (benchmarks/FACETS_LOG.md, session 8).
"""

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_mutual_info_score, silhouette_score
from sklearn.metrics.cluster import contingency_matrix

from skmfc.merging import merge_groups

#: Components of the PCA projection the guide works in (fewer when the data has fewer).
GUIDE_COMPONENTS = 30
#: Silhouette a guide partition needs in its subspace to guide a facet: Kaufman and
#: Rousseeuw's lower bound of a "reasonable" structure (0.51-0.70 reasonable, above strong).
MIN_CLARITY = 0.5
#: Samples the silhouette is computed on (it costs O(n^2)).
CLARITY_SAMPLES = 1000
#: Initial weight of a guided facet's cross-entropy towards its guide partition, in nats
#: per example; it fades linearly to 0 over training (:func:`skmfc.training.guide_weights_at`).
GUIDE_STRENGTH = 10.0
#: Random starts of Nr-Kmeans for the guide: its cost has many local minima, and on
#: coloured digits the starts that split two colours apart are the cheapest but rare
#: (2 of 8), so a few starts often keep a product of the two. With 20 starts the
#: colour of the one-background digits was clear in 4 of 6 seeds, with 40 in 6 of 6;
#: 40 starts take twice the guide's time (on 60,000 x 784 rows, 14 -> 27 s on 2 vCPUs) and
#: raised the facet suite's mean ARI from 0.512 to 0.549 (benchmarks/FACETS_LOG.md,
#: session 4).
GUIDE_STARTS = 40
#: Adjusted mutual information above which a clear partition repeats a clearer one.
MAX_SHARED_INFORMATION = 0.2
#: Two clear partitions are dependent, and the less clear one guides nothing, when a
#: cell of their contingency table expected to hold at least ``MIN_EXPECTED_ROWS`` rows
#: (were they independent) holds fewer than ``MIN_CELL_SHARE`` of them. The facets'
#: prior is a product over facets, so two facets are meant to be independent; on the
#: tuning set, pairs of true factors leave every cell at 0.86 or more of its expected
#: count, while a factor split over two subspaces, or mixed with another, empties cells
#: (share 0.00) at a shared information far below ``MAX_SHARED_INFORMATION``
#: (benchmarks/FACETS_LOG.md, session 9).
MIN_CELL_SHARE = 0.25
MIN_EXPECTED_ROWS = 20
#: How much clearer (silhouette in the span of its group centres) plain k-means at the
#: largest number of clusters must be than the clear partition it repeats or depends on
#: to replace it (:func:`_prefer_plain_kmeans`).
KMEANS_MARGIN = 0.05
#: Rows the PCA and Nr-Kmeans are fitted on; the others are assigned to the nearest centres.
GUIDE_MAX_SAMPLES = 5000
#: Rows projected at a time (bounds the float64 copy of the data to a chunk).
PROJECTION_CHUNK = 65536


@dataclass(frozen=True)
class NonRedundantClustering:
    """The result of :func:`nonredundant_kmeans`.

    Parameters
    ----------
    labels : ndarray of shape (n_samples, n_clusterings)
        Cluster of every sample in every clustering.
    cost : float
        Sum over clusterings of the squared distances to the cluster centres within each
        clustering's subspace, plus the noise space's squared distances to the mean.
    bases : list of ndarray of shape (n_features, m_j)
        Orthonormal basis of each clustering's subspace.
    noise_basis : ndarray of shape (n_features, m_noise)
        Orthonormal basis of the noise space.
    centres : list of ndarray of shape (n_clusters_j, n_features)
        Cluster centres of each clustering, in the coordinates of ``X``.
    n_iter : int
        Iterations run (assignment, centres, rotation).
    """

    labels: np.ndarray
    cost: float
    bases: list
    noise_basis: np.ndarray
    centres: list
    n_iter: int

    def predict(self, X):
        """Assign rows to the nearest centre of every clustering, within its subspace.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Rows in the coordinates the clustering was fitted in.

        Returns
        -------
        ndarray of shape (n_samples, n_clusterings)
            Cluster of every row in every clustering.
        """
        X = np.asarray(X, dtype=np.float64)
        return np.stack([_nearest(X @ basis, centres @ basis)
                         for basis, centres in zip(self.bases, self.centres)], axis=1)


@dataclass(frozen=True)
class GuidePartitions:
    """The result of :func:`guide_partitions`, clearest partition first.

    Parameters
    ----------
    labels : ndarray of shape (n_samples, n_partitions)
        Group of every sample in every partition, ``0 .. n_groups[j] - 1``.
    clarity : ndarray of shape (n_partitions,)
        Silhouette of each partition in its own subspace (-1 for a single group); for
        a partition plain k-means found (:func:`_prefer_plain_kmeans`), in the span of
        its group centres.
    redundant : ndarray of bool of shape (n_partitions,)
        Whether a partition shares information with a clearer clear one (adjusted mutual
        information at least :data:`MAX_SHARED_INFORMATION`): two coarsenings of one
        factor, or a factor and a product holding it, are one factor, not two. Judged
        among the partitions of clarity at least :data:`MIN_CLARITY`.
    """

    labels: np.ndarray
    clarity: np.ndarray
    redundant: np.ndarray

    @property
    def n_groups(self):
        """Groups left in each partition after merging, shape (n_partitions,)."""
        return self.labels.max(axis=0) + 1

    def clear(self, min_clarity=MIN_CLARITY):
        """Find the partitions clear enough to guide a facet.

        Parameters
        ----------
        min_clarity : float, default=MIN_CLARITY
            Least silhouette a partition needs.

        Returns
        -------
        ndarray of bool of shape (n_partitions,)
            Whether each partition has at least two groups and ``min_clarity``, and is
            not redundant.
        """
        return (self.clarity >= min_clarity) & (self.n_groups > 1) & ~self.redundant


def nonredundant_kmeans(X, n_clusters, *, n_init=5, max_iter=100, random_state=None):
    """Several k-means clusterings of ``X``, each in its own orthogonal subspace.

    Alternates three steps until no label changes: assign every sample to the nearest
    centre of each clustering within that clustering's subspace; move each centre to
    the mean of its members; rotate every pair of spaces (the clusterings' and the noise
    space) so that directions along which one space's within-cluster scatter is smaller
    than the other's go to it (an eigendecomposition of the difference of the two
    scatter matrices restricted to the pair's span, as in Mautz et al. 2018).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data, ideally a low-dimensional projection (the cost is cubic in n_features).
    n_clusters : sequence of int
        Clusters of each clustering.
    n_init : int, default=5
        Random starts; the one of least cost is kept.
    max_iter : int, default=100
        Iterations per start.
    random_state : int, RandomState instance or None, default=None
        Seeds the rotations and the k-means++ centres.

    Returns
    -------
    NonRedundantClustering
        Labels, cost and subspaces of the cheapest start.

    Examples
    --------
    >>> import numpy as np
    >>> from skmfc.guide import nonredundant_kmeans
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.integers(3, size=300), rng.integers(2, size=300)
    >>> X = np.c_[4.0 * a, 4.0 * b, rng.normal(size=(300, 2))] + rng.normal(size=(300, 4)) * .3
    >>> result = nonredundant_kmeans(X, [3, 2], random_state=0)
    >>> result.labels.shape
    (300, 2)
    """
    X = np.asarray(X, dtype=np.float64)
    n_clusters = [int(k) for k in n_clusters]
    n_features = X.shape[1]
    if n_features < len(n_clusters) + 1:
        raise ValueError(f"{len(n_clusters)} clusterings and a noise space need at least "
                         f"{len(n_clusters) + 1} features; X has {n_features}")
    if min(n_clusters) < 1 or max(n_clusters) > len(X):
        raise ValueError(f"every clustering needs between 1 and {len(X)} clusters, "
                         f"got {n_clusters}")
    rng = np.random.default_rng(_seed_of(random_state))
    best = None
    for _ in range(n_init):
        result = _nonredundant_kmeans_once(X, n_clusters, rng, max_iter)
        if best is None or result.cost < best.cost:
            best = result
    return best


def guide_partitions(X, n_clusters, *, n_components=GUIDE_COMPONENTS, n_init=GUIDE_STARTS,
                     random_state=None):
    """Linear partitions of ``X`` a facet may be guided by, clearest first.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Training data (standardised, as the network sees it).
    n_clusters : sequence of int
        Upper bound of the groups of each partition (one per facet).
    n_components : int, default=GUIDE_COMPONENTS
        Dimension of the PCA projection Nr-Kmeans runs on.
    n_init : int, default=GUIDE_STARTS
        Random starts of :func:`nonredundant_kmeans`; the one leaving the most clear
        (and not redundant) partitions is kept (see :func:`_best_start`).
    random_state : int or None, default=None
        Seeds the PCA solver, the rows Nr-Kmeans is fitted on (at most
        ``GUIDE_MAX_SAMPLES``), Nr-Kmeans and the silhouette's sample.

    Returns
    -------
    GuidePartitions
        Every partition's groups and clarity, clearest first.
    """
    X = np.asarray(X)
    X = X.reshape(len(X), -1)
    n_clusterings = len(n_clusters)
    seed = _seed_of(random_state)
    dimension = min(n_components, X.shape[1], len(X) - 1)
    if dimension < n_clusterings + 1:
        return _no_guide(len(X), n_clusterings)
    rows = np.random.default_rng(seed).permutation(len(X))
    # Fitted on a subsample and applied in chunks: no float64 copy of all of X.
    pca = PCA(dimension, random_state=seed).fit(X[rows[:GUIDE_MAX_SAMPLES]].astype(np.float64))
    projected = np.concatenate([
        pca.transform(X[start:start + PROJECTION_CHUNK].astype(np.float64))
        for start in range(0, len(X), PROJECTION_CHUNK)])
    fitted_rows, sample = projected[rows[:GUIDE_MAX_SAMPLES]], rows[:CLARITY_SAMPLES]
    partitions, order, _ = _best_start(fitted_rows, projected, sample, n_clusters, n_init,
                                       seed)
    partitions, _, _ = _prefer_plain_kmeans(partitions, order, fitted_rows, projected, sample,
                                            max(n_clusters), seed)
    return partitions


def with_view_partitions(partitions, view_partitions, *, random_state=None):
    """The guide's partitions followed by the clear ones of another view that are new.

    A clear partition of ``view_partitions`` (the guide run on a view of the same rows,
    such as :func:`skmfc.views.shift_invariant_view`) is kept when it neither shares
    information with (adjusted mutual information at least
    :data:`MAX_SHARED_INFORMATION`) nor depends on (:func:`_dependent`) any clear
    partition of ``partitions`` or any view partition kept before it: the rules that
    judge two partitions of one view (:func:`_redundant`), applied across views, with
    the pixels' partitions first. A view cannot drop a partition of the pixels.

    Parameters
    ----------
    partitions : GuidePartitions
        The guide's partitions of the rows as given.
    view_partitions : GuidePartitions
        The guide's partitions of a view of the same rows.
    random_state : int or None, default=None
        Seeds the :data:`CLARITY_SAMPLES` rows the shared information is computed on.

    Returns
    -------
    GuidePartitions
        ``partitions``, then the kept view partitions in the view's order (clearest
        first).
    """
    n_samples = len(partitions.labels)
    sample = np.random.default_rng(_seed_of(random_state)).permutation(
        n_samples)[:CLARITY_SAMPLES]
    kept = [partitions.labels[:, j] for j in np.flatnonzero(partitions.clear())]
    added = []
    for j in np.flatnonzero(view_partitions.clear()):
        candidate = view_partitions.labels[:, j]
        if not any(_repeats(other, candidate, sample) for other in kept):
            kept.append(candidate)
            added.append(j)
    return GuidePartitions(
        labels=np.concatenate([partitions.labels, view_partitions.labels[:, added]], axis=1),
        clarity=np.concatenate([partitions.clarity, view_partitions.clarity[added]]),
        redundant=np.concatenate([partitions.redundant, np.zeros(len(added), dtype=bool)]))


def guide_partitions_of_rows(read_rows, n_samples, n_clusters, *,
                             n_components=GUIDE_COMPONENTS, n_init=GUIDE_STARTS,
                             random_state=None):
    """:func:`guide_partitions` of data read a few rows at a time.

    With at most ``GUIDE_MAX_SAMPLES`` rows, all are read and the result is exactly
    :func:`guide_partitions`'s. With more, the PCA and Nr-Kmeans are fitted on the same
    random ``GUIDE_MAX_SAMPLES`` rows as there, but each start is rated, and clusters in
    one clump merged, on those rows alone (in memory, on all rows); the other rows are
    then projected a chunk at a time and given the group of their nearest centre among
    the clusters the fitted rows use. Memory holds the fitted rows, a chunk and the
    labels, whatever ``n_samples``.

    Parameters
    ----------
    read_rows : callable
        ``read_rows(rows)`` gives the rows ``rows`` (sorted or not) as an array of shape
        (len(rows), ...), standardised as the network sees them.
    n_samples : int
        Number of rows.
    n_clusters : sequence of int
        Upper bound of the groups of each partition (one per facet).
    n_components : int, default=GUIDE_COMPONENTS
        Dimension of the PCA projection Nr-Kmeans runs on.
    n_init : int, default=GUIDE_STARTS
        Random starts of :func:`nonredundant_kmeans`, as for :func:`guide_partitions`.
    random_state : int or None, default=None
        Seeds the PCA solver, the fitted rows, Nr-Kmeans and the silhouette's sample.

    Returns
    -------
    GuidePartitions
        Every partition's groups (for all ``n_samples`` rows) and clarity, clearest
        first.
    """
    if n_samples <= GUIDE_MAX_SAMPLES:
        return guide_partitions(read_rows(np.arange(n_samples)), n_clusters,
                                n_components=n_components, n_init=n_init,
                                random_state=random_state)
    n_clusterings = len(n_clusters)
    seed = _seed_of(random_state)
    rows = np.random.default_rng(seed).permutation(n_samples)[:GUIDE_MAX_SAMPLES]
    fitted = np.asarray(read_rows(rows), dtype=np.float64).reshape(len(rows), -1)
    dimension = min(n_components, fitted.shape[1], n_samples - 1)
    if dimension < n_clusterings + 1:
        return _no_guide(n_samples, n_clusterings)
    pca = PCA(dimension, random_state=seed).fit(fitted)
    projected = pca.transform(fitted)
    sample = np.arange(CLARITY_SAMPLES)
    partitions, order, result = _best_start(projected, projected, sample, n_clusters, n_init,
                                            seed)
    partitions, order, plain_kmeans = _prefer_plain_kmeans(
        partitions, order, projected, projected, sample, max(n_clusters), seed)
    fitted_clusters = result.predict(projected)
    labels = []
    for start in range(0, n_samples, PROJECTION_CHUNK):
        chunk = np.asarray(read_rows(np.arange(start, min(start + PROJECTION_CHUNK,
                                                          n_samples))), dtype=np.float64)
        chunk = pca.transform(chunk.reshape(len(chunk), -1))
        labels.append(np.stack([
            plain_kmeans.predict(chunk) if j == PLAIN_KMEANS else
            _group_of_nearest(chunk, result, fitted_clusters, partitions.labels, j, column)
            for column, j in enumerate(order)], axis=1))
    return GuidePartitions(labels=np.concatenate(labels), clarity=partitions.clarity,
                           redundant=partitions.redundant)


def _group_of_nearest(points, result, fitted_clusters, fitted_groups, clustering, column):
    """The group of the nearest centre of one Nr-Kmeans clustering for every point, among
    the clusters the fitted rows use (``fitted_clusters[:, clustering]``); the groups are
    those of the merged, rated partition ``fitted_groups[:, column]``."""
    used, first = np.unique(fitted_clusters[:, clustering], return_index=True)
    basis = result.bases[clustering]
    nearest = _nearest(points @ basis, result.centres[clustering][used] @ basis)
    return fitted_groups[first, column][nearest]


def _best_start(fitted_rows, rated_rows, sample, n_clusters, n_init, seed):
    """Run ``n_init`` single starts of Nr-Kmeans on ``fitted_rows`` and keep the one whose
    partitions of ``rated_rows`` (see :func:`_rated_partitions`) are best.

    The best start has the most clear (and not redundant) partitions: a product of two
    factors in one subspace is often as cheap, and as clear, as either factor, but leaves
    fewer clear partitions over all. Among those, the cheaper half competes on support
    (:func:`_support`), the cheapest winning a tie: the cheapest start alone sometimes
    anchors a mix of two groups of a factor (a mix of corners of stick figures), which
    the other starts do not repeat, while the groups of a true factor recur across starts.

    Returns
    -------
    partitions : GuidePartitions
    order : ndarray of int
        The clustering of ``result`` each partition comes from.
    result : NonRedundantClustering
        The start kept.
    """
    rng = np.random.default_rng(seed)
    starts = []
    for _ in range(n_init):
        result = nonredundant_kmeans(fitted_rows, n_clusters, n_init=1,
                                     random_state=int(rng.integers(2**31 - 1)))
        partitions, order = _rated_partitions(result, rated_rows, sample)
        starts.append((partitions, order, result))
    n_clear = [int(partitions.clear().sum()) for partitions, _, _ in starts]
    contenders = sorted((start for start, clear in zip(starts, n_clear)
                         if clear == max(n_clear)), key=lambda start: start[2].cost)
    if max(n_clear) == 0 or len(contenders) == 1:
        return contenders[0]
    clear_labels = [partitions.labels[sample][:, partitions.clear()]
                    for partitions, _, _ in contenders]
    support = _support(clear_labels)
    cheaper_half = support[:max(1, len(contenders) // 2)]
    # Rounded, so that a support equal to the third decimal goes to the cheaper start.
    return contenders[int(np.argmax(np.round(cheaper_half, 3)))]


#: The entry of ``order`` (the Nr-Kmeans clustering each guide partition comes from) of a
#: partition that plain k-means found instead (:func:`_prefer_plain_kmeans`).
PLAIN_KMEANS = -1


@dataclass(frozen=True)
class _MergedKMeans:
    """Plain k-means whose clusters sitting in one clump are merged into groups."""

    kmeans: KMeans
    group_of_cluster: np.ndarray

    def predict(self, projected):
        return self.group_of_cluster[self.kmeans.predict(projected)]


def _prefer_plain_kmeans(partitions, order, fitted_rows, rated_rows, sample, n_clusters,
                         seed):
    """Replace a clear guide partition by plain k-means' partition where that is a
    clearer version of it.

    Nr-Kmeans shares the data's directions among its clusterings, so a factor that
    plain k-means separates cleanly (the strongest one, usually) can come out of it
    blurred, or with a group split. Plain k-means at ``n_clusters`` on all directions,
    its clusters in one clump merged, replaces the clearest clear partition it repeats
    or depends on (as :func:`_redundant` judges) when its silhouette in the span of its
    group centres is higher, by :data:`KMEANS_MARGIN`, than that partition's in the span
    of its own. Both are rated in such a span so that they compare; the partitions are
    then sorted and judged for redundancy again.

    Returns
    -------
    partitions : GuidePartitions
    order : ndarray of int
        As :func:`_best_start` gives it, with :data:`PLAIN_KMEANS` for a partition
        replaced.
    plain_kmeans : _MergedKMeans
        Assigns new rows (projected) to the groups of plain k-means.
    """
    kmeans = KMeans(n_clusters, n_init=10, random_state=seed).fit(fitted_rows)
    clusters = kmeans.predict(rated_rows)
    merged = _merge_clumps(rated_rows, clusters)
    used, first = np.unique(clusters, return_index=True)
    group_of_cluster = np.zeros(n_clusters, dtype=np.int64)
    group_of_cluster[used] = merged[first]
    plain_kmeans = _MergedKMeans(kmeans, group_of_cluster)
    clarity = _centre_span_clarity(rated_rows, merged, sample)
    if clarity < MIN_CLARITY:
        return partitions, order, plain_kmeans
    for column in np.flatnonzero(partitions.clear()):
        labels = partitions.labels[:, column]
        if (adjusted_mutual_info_score(labels[sample], merged[sample])
                < MAX_SHARED_INFORMATION and not _dependent(labels, merged)):
            continue
        if clarity <= _centre_span_clarity(rated_rows, labels, sample) + KMEANS_MARGIN:
            return partitions, order, plain_kmeans
        all_labels, all_clarity = partitions.labels.copy(), partitions.clarity.copy()
        all_labels[:, column], all_clarity[column] = merged, clarity
        order = np.array(order).copy()
        order[column] = PLAIN_KMEANS
        by_clarity = np.argsort(-all_clarity, kind="stable")
        all_labels, all_clarity = all_labels[:, by_clarity], all_clarity[by_clarity]
        partitions = GuidePartitions(labels=all_labels, clarity=all_clarity,
                                     redundant=_redundant(all_labels, all_clarity, sample))
        return partitions, order[by_clarity], plain_kmeans
    return partitions, order, plain_kmeans


def _centre_span_clarity(coordinates, labels, sample):
    """Silhouette of ``labels`` on the rows ``sample`` in the span of its group centres."""
    groups = np.unique(labels)
    if len(groups) < 2 or not 1 < len(np.unique(labels[sample])) < len(sample):
        return -1.0  # a silhouette needs 2 to n - 1 groups, as in _rated_partitions
    centres = np.stack([coordinates[labels == group].mean(axis=0) for group in groups])
    basis, _ = np.linalg.qr((centres - centres.mean(axis=0)).T)
    return float(silhouette_score(coordinates[sample] @ basis[:, :len(groups) - 1],
                                  labels[sample]))


def _support(clear_labels):
    """How well each start's clear partitions recur in the other starts.

    Parameters
    ----------
    clear_labels : list of ndarray of shape (n_sample, n_clear)
        The clear partitions of each start, on the rows the clarity is rated on (the same
        number of partitions in every start).

    Returns
    -------
    ndarray of shape (n_starts,)
        For each start, the mean over the other starts of the mean over its partitions of
        the best adjusted Rand index with one of theirs.
    """
    n_starts, n_clear = len(clear_labels), clear_labels[0].shape[1]
    # agreement[start, partition, other start, other partition]
    agreement = _pairwise_adjusted_rand(np.concatenate(clear_labels, axis=1)).reshape(
        n_starts, n_clear, n_starts, n_clear)
    best_match = agreement.max(axis=3).mean(axis=1)
    np.fill_diagonal(best_match, 0.0)
    return best_match.sum(axis=1) / (n_starts - 1)


def _pairwise_adjusted_rand(labels):
    """Adjusted Rand index of every pair of columns of ``labels``, shape (n, n).

    All contingency tables come from one product of the columns' one-hot codes, which
    is some hundred times faster than a call of :func:`adjusted_rand_score` per pair
    (40 starts of 3 partitions are 7,000 pairs).
    """
    n_samples = len(labels)
    one_hot = np.concatenate([np.eye(column.max() + 1)[column] for column in labels.T],
                             axis=1)
    column_of_group = np.repeat(np.arange(labels.shape[1]), labels.max(axis=0) + 1)
    pairs_in_cell = _pairs(one_hot.T @ one_hot)
    pairs_in_group = np.diag(pairs_in_cell)
    # Sum the pairs of each block (one column's groups against another's).
    index = np.zeros((labels.shape[1], labels.shape[1]))
    np.add.at(index, (column_of_group[:, None], column_of_group[None, :]), pairs_in_cell)
    pairs_per_column = np.bincount(column_of_group, weights=pairs_in_group)
    expected = np.outer(pairs_per_column, pairs_per_column) / _pairs(n_samples)
    maximum = (pairs_per_column[:, None] + pairs_per_column[None, :]) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        ari = (index - expected) / (maximum - expected)
    # Two single-group (or all-singleton) partitions agree perfectly, as in scikit-learn.
    return np.where(maximum == expected, 1.0, ari)


def _pairs(counts):
    return counts * (counts - 1) / 2


def _rated_partitions(result, projected, sample):
    """The partitions of one Nr-Kmeans result over all rows of ``projected``, merged and
    rated, clearest first, and the clustering of ``result`` each comes from."""
    labels, clarity = [], []
    for basis, partition in zip(result.bases, result.predict(projected).T):
        coordinates = projected @ basis
        merged = _merge_clumps(coordinates, partition)
        labels.append(merged)
        n_groups_seen = len(np.unique(merged[sample]))
        clarity.append(silhouette_score(coordinates[sample], merged[sample])
                       if 1 < n_groups_seen < len(sample) else -1.0)
    labels, clarity = np.stack(labels, axis=1), np.array(clarity)
    order = np.argsort(-clarity, kind="stable")
    labels, clarity = labels[:, order], clarity[order]
    partitions = GuidePartitions(labels=labels, clarity=clarity,
                                 redundant=_redundant(labels, clarity, sample))
    return partitions, order


def _redundant(labels, clarity, sample):
    """Which partitions (clearest first) repeat, or depend on, a clearer clear one.

    A partition is redundant when it shares information with a kept clearer one
    (adjusted mutual information on the rows ``sample`` at least
    :data:`MAX_SHARED_INFORMATION`) or depends on it (:func:`_dependent`, on all rows).
    Only partitions of at least :data:`MIN_CLARITY` are judged (a single group is rated
    -1, so it is never among them).
    """
    redundant = np.zeros(labels.shape[1], dtype=bool)
    kept = []
    for partition in range(labels.shape[1]):
        if clarity[partition] < MIN_CLARITY:
            continue
        redundant[partition] = any(_repeats(labels[:, other], labels[:, partition], sample)
                                   for other in kept)
        if not redundant[partition]:
            kept.append(partition)
    return redundant


def _repeats(kept, candidate, sample):
    """Whether ``candidate`` shares information with the kept partition (adjusted mutual
    information on the rows ``sample`` at least :data:`MAX_SHARED_INFORMATION`) or
    depends on it (:func:`_dependent`, on all rows)."""
    return (adjusted_mutual_info_score(kept[sample], candidate[sample])
            >= MAX_SHARED_INFORMATION or _dependent(kept, candidate))


def _dependent(first, second):
    """Whether two partitions leave a cell of their contingency table nearly empty that
    independence would fill (see :data:`MIN_CELL_SHARE`): one factor's groups spread
    over both, or two factors mixed, rather than two factors."""
    counts = contingency_matrix(first, second)
    expected = np.outer(counts.sum(axis=1), counts.sum(axis=0)) / len(first)
    judged = expected >= MIN_EXPECTED_ROWS
    return bool(np.any(counts[judged] < MIN_CELL_SHARE * expected[judged]))


def _no_guide(n_samples, n_clusterings):
    return GuidePartitions(labels=np.zeros((n_samples, n_clusterings), dtype=np.int64),
                           clarity=np.full(n_clusterings, -1.0),
                           redundant=np.zeros(n_clusterings, dtype=bool))


def _merge_clumps(coordinates, partition):
    """Relabel ``partition`` with its clusters that sit in one clump merged, 0..G-1."""
    used, partition = np.unique(partition, return_inverse=True)
    if len(used) < 3:
        return partition
    centroids = np.stack([coordinates[partition == cluster].mean(axis=0)
                          for cluster in range(len(used))])
    return merge_groups(centroids)[partition]


def _nonredundant_kmeans_once(X, n_clusters, rng, max_iter):
    n_samples, n_features = X.shape
    n_clusterings = len(n_clusters)
    rotation, _ = np.linalg.qr(rng.standard_normal((n_features, n_features)))
    width = n_features // (n_clusterings + 1)
    # Columns of `rotation` spanning each clustering's subspace; the last entry is noise.
    spaces = [list(range(j * width, (j + 1) * width)) for j in range(n_clusterings)]
    spaces.append(list(range(n_clusterings * width, n_features)))
    centres = []
    for k, space in zip(n_clusters, spaces):
        _, rows = kmeans_plusplus(X @ rotation[:, space], k,
                                  random_state=int(rng.integers(2**31 - 1)))
        centres.append(X[rows].copy())
    mean = X.mean(axis=0)
    noise_scatter = (X - mean).T @ (X - mean)
    labels = None
    for iteration in range(1, max_iter + 1):
        new_labels = np.stack([_nearest(X @ rotation[:, space], centre @ rotation[:, space])
                               for centre, space in zip(centres, spaces)], axis=1)
        for j, k in enumerate(n_clusters):
            counts = np.bincount(new_labels[:, j], minlength=k)
            sums = np.zeros((k, n_features))
            np.add.at(sums, new_labels[:, j], X)
            empty = counts == 0
            centres[j][~empty] = sums[~empty] / counts[~empty, None]
            centres[j][empty] = X[rng.integers(n_samples, size=int(empty.sum()))]
        scatters = [_within_scatter(X, new_labels[:, j], centres[j])
                    for j in range(n_clusterings)] + [noise_scatter]
        for a in range(n_clusterings + 1):
            for b in range(a + 1, n_clusterings + 1):
                columns = spaces[a] + spaces[b]
                span = rotation[:, columns]
                difference = span.T @ (scatters[a] - scatters[b]) @ span
                eigenvalues, eigenvectors = np.linalg.eigh((difference + difference.T) / 2)
                rotation[:, columns] = span @ eigenvectors
                # Directions of smaller scatter in space a than in space b go to a; every
                # clustering keeps at least one direction.
                n_to_a = int(np.sum(eigenvalues < 0))
                n_to_a = max(n_to_a, 1) if a < n_clusterings else n_to_a
                n_to_a = min(n_to_a, len(columns) - 1) if b < n_clusterings else n_to_a
                spaces[a], spaces[b] = columns[:n_to_a], columns[n_to_a:]
        converged = labels is not None and np.array_equal(new_labels, labels)
        labels = new_labels
        if converged:
            break
    cost = sum(float(np.sum(((X - centre[labels[:, j]]) @ rotation[:, space]) ** 2))
               for j, (centre, space) in enumerate(zip(centres, spaces)))
    cost += float(np.sum(((X - mean) @ rotation[:, spaces[-1]]) ** 2))
    return NonRedundantClustering(labels=labels, cost=cost,
                                  bases=[rotation[:, space].copy() for space in spaces[:-1]],
                                  noise_basis=rotation[:, spaces[-1]].copy(),
                                  centres=centres, n_iter=iteration)


def _nearest(points, centres):
    distances = ((points ** 2).sum(1)[:, None] - 2.0 * points @ centres.T
                 + (centres ** 2).sum(1)[None, :])
    return distances.argmin(axis=1)


def _within_scatter(X, labels, centres):
    residuals = X - centres[labels]
    return residuals.T @ residuals


def _seed_of(random_state):
    """An int seed from what scikit-learn accepts as ``random_state``."""
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    return None if random_state is None else int(random_state)
