"""Figures for a fitted :class:`~skmfc.MFCVAEClustering`: the analyses of the MFCVAE paper.

Every plotting function takes a fitted estimator and X in any form ``fit`` takes (rows,
a DataFrame, or images of shape (n, H, W), (n, H, W, C) or (n, C, H, W)), returns a
:class:`matplotlib.figure.Figure` and, given ``path``, also saves it there as a PNG.

For any data, tabular or images: :func:`plot_latent_space` (each facet's latent space,
coloured by cluster or by a known label), :func:`plot_facet_contingency` (how two
facets' partitions cross), :func:`plot_cluster_sizes_and_confidence` and
:func:`plot_training_curve` (with the validation curve under early stopping). For
images only: :func:`plot_cluster_examples`, :func:`plot_facet_examples`,
:func:`plot_cluster_samples` and :func:`plot_facet_swap`.

The figures are built with the object-oriented API on a bare ``Figure``, so no GUI
backend is needed and no pyplot state is touched; in a notebook the returned figure
displays itself.

matplotlib is an optional dependency (``pip install 'skmfc[plot]'``): this module
imports without it, and only the plotting functions need it. :func:`swap_facet` and
:func:`swap_facet_latents` are plain numpy.

Images
------
The estimator sees flat rows. ``image_shape`` -- ``(height, width)`` for grey images or
``(height, width, channels)`` channel-last with 1, 3 or 4 channels -- says how to fold a
row back into an image. When it is not given, the estimator's own ``image_shape`` (or
``image_shape_``) attribute is used if it has one, else a square grey image when the
number of features is a perfect square; anything else raises a ``ValueError`` asking for
``image_shape``. Displayed values are clipped to [0, 1].
"""

import math
import os
from numbers import Integral, Real

import numpy as np
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from skmfc.estimator import _image_rows

__all__ = [
    "plot_cluster_examples",
    "plot_facet_examples",
    "plot_cluster_samples",
    "plot_facet_swap",
    "plot_training_curve",
    "plot_latent_space",
    "plot_facet_contingency",
    "plot_cluster_sizes_and_confidence",
    "swap_facet",
    "swap_facet_latents",
]

# Side of one image cell and room for the row labels, in inches.
_CELL_INCHES = 0.75
_LABEL_INCHES = 1.3
_TITLE_INCHES = 0.45
# Clusters whose prior mixing weight is below this are left out of plot_cluster_samples
# by default: the model never generates from them.
_NEGLIGIBLE_WEIGHT = 1e-3
_MAX_SEED = np.iinfo(np.int32).max


# ---------------------------------------------------------------------- helpers
def _import_matplotlib():
    """Import matplotlib's Figure class, or explain how to install matplotlib.

    Returns
    -------
    type
        :class:`matplotlib.figure.Figure`.

    Raises
    ------
    ImportError
        When matplotlib is not installed.
    """
    try:
        import matplotlib  # noqa: F401  (the package itself first: see the tests)
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            "skmfc.plotting needs matplotlib, which is not installed; install it with "
            "pip install 'skmfc[plot]' (or pip install matplotlib)") from error
    return Figure


def _new_figure(width, height):
    Figure = _import_matplotlib()
    return Figure(figsize=(width, height), layout="constrained")


def _finish(figure, path):
    """Save ``figure`` as a PNG at ``path`` (when given) and return it."""
    if path is not None:
        figure.savefig(os.fspath(path), format="png", dpi=100)
    return figure


def _n_facets(estimator):
    return len(estimator.n_clusters_)


def _check_facet(estimator, facet):
    n_facets = _n_facets(estimator)
    if not isinstance(facet, Integral) or isinstance(facet, bool) or not 0 <= facet < n_facets:
        raise ValueError(f"facet must be an int in [0, {n_facets - 1}] for this estimator "
                         f"with n_facets={n_facets}, got {facet!r}")
    return int(facet)


def _check_positive_int(value, name):
    if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _check_clusters(estimator, facet, clusters):
    """Validated list of cluster indices of ``facet``."""
    n_clusters = estimator.n_clusters_[facet]
    clusters = list(np.ravel(clusters)) if not isinstance(clusters, Integral) else [clusters]
    if not clusters:
        raise ValueError("clusters must name at least one cluster")
    for cluster in clusters:
        if not isinstance(cluster, Integral) or isinstance(cluster, bool) or not (
                0 <= cluster < n_clusters):
            raise ValueError(f"clusters must hold ints in [0, {n_clusters - 1}] for facet "
                             f"{facet}, got {cluster!r}")
    return [int(cluster) for cluster in clusters]


def _resolve_image_shape(estimator, image_shape, n_features):
    """The (H, W) or (H, W, C) shape that turns a row of ``n_features`` into an image."""
    source = "image_shape"
    if image_shape is None:
        for attribute in ("image_shape", "image_shape_"):
            image_shape = getattr(estimator, attribute, None)
            if image_shape is not None:
                source = f"estimator.{attribute}"
                break
    if image_shape is None:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ValueError(
                f"cannot show rows of {n_features} features as images: the estimator has "
                "no image_shape and the number of features is not a perfect square; pass "
                "image_shape=(height, width) or (height, width, channels). These figures "
                "are only meaningful for image data; for tabular data see "
                "plot_latent_space, plot_facet_contingency and "
                "plot_cluster_sizes_and_confidence.")
        return (side, side)
    try:
        image_shape = tuple(int(size) for size in image_shape)
    except TypeError as error:
        raise ValueError(f"{source} must be a tuple (height, width) or (height, width, "
                         f"channels), got {image_shape!r}") from error
    if len(image_shape) not in (2, 3) or min(image_shape) < 1:
        raise ValueError(f"{source} must be a tuple (height, width) or (height, width, "
                         f"channels) of positive ints, got {image_shape!r}")
    if len(image_shape) == 3 and image_shape[2] not in (1, 3, 4):
        raise ValueError(f"{source} must have 1 (grey), 3 (RGB) or 4 (RGBA) channels to be "
                         f"shown, got {image_shape!r}")
    if math.prod(image_shape) != n_features:
        raise ValueError(f"{source}={image_shape} holds {math.prod(image_shape)} values but "
                         f"the rows have {n_features} features")
    return image_shape


def _as_images(rows, image_shape):
    """Flat rows -> display images clipped to [0, 1]: (n, H, W) grey or (n, H, W, C)."""
    images = np.clip(np.asarray(rows, dtype=np.float64), 0.0, 1.0)
    images = images.reshape((len(images),) + tuple(image_shape))
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    return images


def _as_array(X, name):
    """X in any form ``fit`` takes (rows, a DataFrame, or image arrays, flattened
    channel-last as the estimator flattens them) as a 2-D float array, for display only."""
    X = np.asarray(_image_rows(X)[0], dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{name} must be of shape (n_samples, n_features) or hold images "
                         f"(n, H, W), (n, H, W, C) or (n, C, H, W), got shape {X.shape}")
    return X


def _draw_image_rows(container, rows, row_labels, n_columns, *, n_grid_rows=None,
                     title=None, column_labels=None):
    """Draw a grid of images, one list of images per row, on a figure or subfigure.

    Every row gets ``n_columns`` axes; a row with fewer images leaves its last axes
    empty. ``n_grid_rows`` (>= ``len(rows)``) reserves room for more rows, so that
    panels side by side get cells of the same size.

    Returns
    -------
    ndarray of Axes, shape (len(rows), n_columns)
    """
    n_grid_rows = len(rows) if n_grid_rows is None else n_grid_rows
    grid = container.add_gridspec(max(n_grid_rows, 1), n_columns)
    axes = np.empty((len(rows), n_columns), dtype=object)
    for r, (images, label) in enumerate(zip(rows, row_labels)):
        for c in range(n_columns):
            ax = container.add_subplot(grid[r, c])
            axes[r, c] = ax
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c < len(images):
                image = images[c]
                if image.ndim == 2:
                    ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
                else:
                    ax.imshow(image, interpolation="nearest")
            if c == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
            if r == 0 and column_labels is not None:
                ax.set_title(column_labels[c], fontsize=8)
    if title is not None:
        container.suptitle(title)
    return axes


def _grid_figure(n_rows, n_columns, *, n_panels=1, titled=True):
    width = n_panels * (_LABEL_INCHES + n_columns * _CELL_INCHES)
    height = max(n_rows, 1) * _CELL_INCHES + (_TITLE_INCHES if titled else 0.0) + 0.2
    return _new_figure(width, height)


def _cluster_example_rows(X, proba, clusters, n_examples, image_shape):
    """Rows of images and labels for :func:`plot_cluster_examples`.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    proba : ndarray of shape (n_samples, K)
        ``q(c | x)`` of one facet.
    clusters : list of int or None
        Clusters to show; None: every non-empty cluster, largest first.

    Returns
    -------
    rows : list of ndarray
        The images of each row, most confident first.
    labels : list of str
    indices : list of ndarray of int
        The rows of X shown in each row.
    """
    assigned = proba.argmax(axis=1)
    sizes = np.bincount(assigned, minlength=proba.shape[1])
    if clusters is None:
        # Largest first; a stable sort keeps ties in cluster order.
        clusters = [int(k) for k in np.argsort(-sizes, kind="stable") if sizes[k] > 0]
    rows, labels, indices = [], [], []
    for cluster in clusters:
        members = np.flatnonzero(assigned == cluster)
        confidence_order = np.argsort(-proba[members, cluster], kind="stable")
        chosen = members[confidence_order[:n_examples]]
        indices.append(chosen)
        rows.append(_as_images(X[chosen], image_shape))
        labels.append(f"cluster {cluster}\nn={sizes[cluster]}")
    return rows, labels, indices


# ---------------------------------------------------------------------- cluster examples
def plot_cluster_examples(estimator, X, facet, *, n_examples=10, clusters=None,
                          image_shape=None, path=None):
    """Show the most typical inputs of every cluster of one facet.

    The main figure of the MFCVAE paper: one row per cluster, holding the
    ``n_examples`` samples of ``X`` assigned to that cluster (``predict``) with the
    highest posterior probability ``q(c | x)``, most confident first. The row label
    gives the cluster index and how many samples of ``X`` it holds.

    Parameters
    ----------
    estimator : MFCVAEClustering
        A fitted estimator.
    X : array-like of shape (n_samples, n_features)
        Images as flat rows, e.g. the ``data`` of :func:`skmfc.datasets.make_shapes`.
    facet : int
        The facet whose clusters are shown.
    n_examples : int, default=10
        Images per row (fewer where a cluster holds fewer samples).
    clusters : sequence of int, optional
        The clusters to show, in this order (empty ones give an empty row). By
        default every cluster with at least one sample, largest first.
    image_shape : tuple of int, optional
        ``(height, width)`` or ``(height, width, channels)``; see the module notes.
    path : str or path-like, optional
        Also save the figure there as a PNG.

    Returns
    -------
    matplotlib.figure.Figure
        One row of ``n_examples`` axes per cluster.

    Raises
    ------
    ValueError
        For a facet the estimator does not have, or when the rows cannot be shown as
        images (tabular data without ``image_shape``).

    See Also
    --------
    plot_facet_examples : The same for every facet, side by side.

    Examples
    --------
    >>> from skmfc import MFCVAEClustering
    >>> from skmfc.datasets import make_coloured_digits
    >>> from skmfc.plotting import plot_cluster_examples
    >>> digits = make_coloured_digits(random_state=0)
    >>> est = MFCVAEClustering(n_facets=2, n_clusters=3, latent_dim=2, hidden_sizes=16,
    ...                        max_iter=2, device="cpu", random_state=0).fit(digits.data)
    >>> figure = plot_cluster_examples(est, digits.data, facet=1, n_examples=5,
    ...                                image_shape=digits.image_shape)
    >>> len(figure.axes) % 5
    0
    """
    check_is_fitted(estimator)
    facet = _check_facet(estimator, facet)
    n_examples = _check_positive_int(n_examples, "n_examples")
    if clusters is not None:
        clusters = _check_clusters(estimator, facet, clusters)
    image_shape = _resolve_image_shape(estimator, image_shape, estimator.n_features_in_)
    proba = estimator.predict_proba(X, facet=facet)
    rows, labels, _ = _cluster_example_rows(_as_array(X, "X"), proba, clusters, n_examples,
                                            image_shape)
    figure = _grid_figure(len(rows), n_examples)
    _draw_image_rows(figure, rows, labels, n_examples,
                     title=f"Facet {facet}: most confident examples per cluster")
    return _finish(figure, path)


def plot_facet_examples(estimator, X, *, n_examples=10, image_shape=None, path=None):
    """:func:`plot_cluster_examples` for every facet, side by side in one figure.

    Panel ``j`` (from the left) is facet ``j``: one row per non-empty cluster, largest
    first, holding its ``n_examples`` most confident samples of ``X``.

    Parameters
    ----------
    estimator : MFCVAEClustering
        A fitted estimator.
    X : array-like of shape (n_samples, n_features)
        Images as flat rows.
    n_examples : int, default=10
        Images per row.
    image_shape : tuple of int, optional
        ``(height, width)`` or ``(height, width, channels)``; see the module notes.
    path : str or path-like, optional
        Also save the figure there as a PNG.

    Returns
    -------
    matplotlib.figure.Figure
        One subfigure per facet (``figure.subfigs``).
    """
    check_is_fitted(estimator)
    n_examples = _check_positive_int(n_examples, "n_examples")
    image_shape = _resolve_image_shape(estimator, image_shape, estimator.n_features_in_)
    X_array = _as_array(X, "X")
    proba = estimator.predict_proba(X)
    blocks = np.split(proba, np.cumsum(estimator.n_clusters_)[:-1], axis=1)
    panels = [_cluster_example_rows(X_array, block, None, n_examples, image_shape)
              for block in blocks]
    n_grid_rows = max(len(rows) for rows, _, _ in panels)
    figure = _grid_figure(n_grid_rows, n_examples, n_panels=len(panels))
    subfigures = np.atleast_1d(figure.subfigures(1, len(panels)))
    for facet, (subfigure, (rows, labels, _)) in enumerate(zip(subfigures, panels)):
        _draw_image_rows(subfigure, rows, labels, n_examples, n_grid_rows=n_grid_rows,
                         title=f"Facet {facet}")
    return _finish(figure, path)


# ---------------------------------------------------------------------- generation
def _mixing_weights(estimator, facet):
    """Prior mixing weights ``pi`` of one facet (``weights_``), or None if the estimator
    has none."""
    weights = getattr(estimator, "weights_", None)
    if weights is None:
        return None
    try:
        return np.asarray(weights[facet], dtype=np.float64)
    except (IndexError, TypeError, ValueError):
        return None


def plot_cluster_samples(estimator, facet, *, n_samples=10, clusters=None, temperature=0.5,
                         random_state=None, image_shape=None, path=None):
    """Generate from each cluster of one facet: controlled generation.

    Row ``k`` shows ``estimator.sample(n_samples, facet=facet, cluster=k, ...)``. All
    rows use the same seed, so column ``i`` shares the other facets' clusters and the
    latent noise across rows: going down a column, only this facet's cluster changes.

    Parameters
    ----------
    estimator : MFCVAEClustering
        A fitted estimator.
    facet : int
        The facet whose cluster is fixed per row.
    n_samples : int, default=10
        Images per row.
    clusters : sequence of int, optional
        The clusters to show, in this order. By default every cluster whose prior
        mixing weight is at least 1e-3, heaviest first.
    temperature : float, default=0.5
        Scales the prior standard deviations; lower gives more typical images.
    random_state : int, RandomState instance or None, default=None
        Seeds the sampling.
    image_shape : tuple of int, optional
        ``(height, width)`` or ``(height, width, channels)``; see the module notes.
    path : str or path-like, optional
        Also save the figure there as a PNG.

    Returns
    -------
    matplotlib.figure.Figure
        One row of ``n_samples`` axes per cluster.
    """
    check_is_fitted(estimator)
    facet = _check_facet(estimator, facet)
    n_samples = _check_positive_int(n_samples, "n_samples")
    image_shape = _resolve_image_shape(estimator, image_shape, estimator.n_features_in_)
    weights = _mixing_weights(estimator, facet)
    if clusters is not None:
        clusters = _check_clusters(estimator, facet, clusters)
    elif weights is None:
        clusters = list(range(estimator.n_clusters_[facet]))
    else:
        clusters = [int(k) for k in np.argsort(-weights, kind="stable")
                    if weights[k] >= _NEGLIGIBLE_WEIGHT]
    seed = int(check_random_state(random_state).randint(_MAX_SEED))
    rows, labels = [], []
    for cluster in clusters:
        generated, _ = estimator.sample(n_samples, facet=facet, cluster=cluster,
                                        temperature=temperature, random_state=seed)
        rows.append(_as_images(generated, image_shape))
        labels.append(f"cluster {cluster}" if weights is None
                      else f"cluster {cluster}\n\u03c0={weights[cluster]:.2f}")
    figure = _grid_figure(len(rows), n_samples)
    _draw_image_rows(figure, rows, labels, n_samples,
                     title=f"Facet {facet}: samples per cluster (temperature {temperature:g})")
    return _finish(figure, path)


# ---------------------------------------------------------------------- compositionality
def _facet_slice(estimator, facet):
    """Columns of facet ``facet`` in the concatenated latent of ``transform``."""
    starts = np.concatenate([[0], np.cumsum(estimator.latent_dims_)])
    return slice(int(starts[facet]), int(starts[facet + 1]))


def swap_facet_latents(estimator, Z_a, Z_b, facet):
    """Exchange one facet's block between two latent arrays.

    Parameters
    ----------
    estimator : MFCVAEClustering
        A fitted estimator (for ``latent_dims_``).
    Z_a, Z_b : array-like of shape (n_pairs, n_latent)
        Latents as returned by ``estimator.transform`` (``n_latent`` is
        ``sum(estimator.latent_dims_)``).
    facet : int
        The facet whose block is exchanged.

    Returns
    -------
    Z_a_swapped : ndarray of shape (n_pairs, n_latent)
        A copy of ``Z_a`` with facet ``facet``'s columns taken from ``Z_b``.
    Z_b_swapped : ndarray of shape (n_pairs, n_latent)
        A copy of ``Z_b`` with facet ``facet``'s columns taken from ``Z_a``.
    """
    check_is_fitted(estimator)
    facet = _check_facet(estimator, facet)
    Z_a = np.array(Z_a, dtype=np.float64)
    Z_b = np.array(Z_b, dtype=np.float64)
    n_latent = sum(estimator.latent_dims_)
    for name, Z in (("Z_a", Z_a), ("Z_b", Z_b)):
        if Z.ndim != 2 or Z.shape[1] != n_latent:
            raise ValueError(f"{name} must have shape (n_pairs, {n_latent}), got {Z.shape}")
    if len(Z_a) != len(Z_b):
        raise ValueError(f"Z_a and Z_b must have as many rows, got {len(Z_a)} and {len(Z_b)}")
    block = _facet_slice(estimator, facet)
    Z_a[:, block], Z_b[:, block] = Z_b[:, block].copy(), Z_a[:, block].copy()
    return Z_a, Z_b


def swap_facet(estimator, X_a, X_b, facet):
    """Decode pairs of inputs with one facet's latent exchanged between them.

    ``X_a[i]`` and ``X_b[i]`` are encoded (posterior means, ``transform``), facet
    ``facet``'s latent block is exchanged, and both are decoded
    (``inverse_transform``). If the facets are disentangled, ``X_a_swapped[i]`` keeps
    what the other facets capture of ``X_a[i]`` and takes what facet ``facet`` captures
    from ``X_b[i]``.

    Parameters
    ----------
    estimator : MFCVAEClustering
        A fitted estimator.
    X_a, X_b : array-like of shape (n_pairs, n_features)
        The pairs, row by row.
    facet : int
        The facet to exchange.

    Returns
    -------
    X_a_swapped : ndarray of shape (n_pairs, n_features)
        Decoding of ``X_a`` with ``X_b``'s facet ``facet``.
    X_b_swapped : ndarray of shape (n_pairs, n_features)
        Decoding of ``X_b`` with ``X_a``'s facet ``facet``.

    Examples
    --------
    >>> import numpy as np
    >>> from skmfc import MFCVAEClustering
    >>> from skmfc.plotting import swap_facet
    >>> X = np.random.RandomState(0).rand(40, 4)
    >>> est = MFCVAEClustering(n_facets=2, n_clusters=2, hidden_sizes=8, max_iter=2,
    ...                        device="cpu", random_state=0).fit(X)
    >>> X_a_swapped, X_b_swapped = swap_facet(est, X[:5], X[5:10], facet=0)
    >>> X_a_swapped.shape
    (5, 4)
    """
    check_is_fitted(estimator)
    facet = _check_facet(estimator, facet)
    Z_a, Z_b = estimator.transform(X_a), estimator.transform(X_b)
    if len(Z_a) != len(Z_b):
        raise ValueError(f"X_a and X_b must have as many rows (pairs), got {len(Z_a)} and "
                         f"{len(Z_b)}")
    Z_a_swapped, Z_b_swapped = swap_facet_latents(estimator, Z_a, Z_b, facet)
    return estimator.inverse_transform(Z_a_swapped), estimator.inverse_transform(Z_b_swapped)


def plot_facet_swap(estimator, X_a, X_b, facet, *, image_shape=None, path=None):
    """Show compositionality: pairs of inputs with one facet's latent exchanged.

    Columns are the pairs ``(X_a[i], X_b[i])``. The rows are: the inputs ``X_a``, the
    inputs ``X_b``, ``X_a`` decoded with ``X_b``'s facet ``facet``, and ``X_b`` decoded
    with ``X_a``'s facet ``facet`` (see :func:`swap_facet`).

    Parameters
    ----------
    estimator : MFCVAEClustering
        A fitted estimator.
    X_a, X_b : array-like of shape (n_pairs, n_features)
        The pairs, row by row.
    facet : int
        The facet to exchange.
    image_shape : tuple of int, optional
        ``(height, width)`` or ``(height, width, channels)``; see the module notes.
    path : str or path-like, optional
        Also save the figure there as a PNG.

    Returns
    -------
    matplotlib.figure.Figure
        4 rows of ``n_pairs`` axes.
    """
    check_is_fitted(estimator)
    facet = _check_facet(estimator, facet)
    image_shape = _resolve_image_shape(estimator, image_shape, estimator.n_features_in_)
    X_a_swapped, X_b_swapped = swap_facet(estimator, X_a, X_b, facet)
    n_pairs = len(X_a_swapped)
    rows = [_as_images(_as_array(X_a, "X_a"), image_shape),
            _as_images(_as_array(X_b, "X_b"), image_shape),
            _as_images(X_a_swapped, image_shape),
            _as_images(X_b_swapped, image_shape)]
    labels = ["a", "b", f"a with b's\nfacet {facet}", f"b with a's\nfacet {facet}"]
    figure = _grid_figure(len(rows), n_pairs)
    _draw_image_rows(figure, rows, labels, n_pairs,
                     title=f"Swapping facet {facet} between pairs")
    return _finish(figure, path)


# ---------------------------------------------------------------------- training
def plot_training_curve(estimator, *, path=None):
    """Plot the mean training ELBO of every epoch, and the validation ELBO if recorded.

    When the estimator has ``progressive_steps_`` (the epoch index at which each
    progressive step starts), a dashed vertical line marks the start of every step
    after the first. With ``early_stopping=True`` the validation ELBO of every epoch of
    the last ``fit`` (``validation_scores_``) is drawn on the same axes, in the units of
    ``elbo_curve_`` (standardised data; ``validation_scores_`` itself is in the input
    units of :meth:`~skmfc.MFCVAEClustering.score`), and the epoch whose weights were
    kept is marked.

    Parameters
    ----------
    estimator : MFCVAEClustering
        A fitted estimator.
    path : str or path-like, optional
        Also save the figure there as a PNG.

    Returns
    -------
    matplotlib.figure.Figure
        One axes; the training curve is its first line, the validation curve (when
        recorded) its second and the kept epoch's marker its third.
    """
    check_is_fitted(estimator)
    elbo = np.asarray(estimator.elbo_curve_, dtype=np.float64)
    epochs = np.arange(1, len(elbo) + 1)
    figure = _new_figure(6.0, 3.5)
    ax = figure.add_subplot()
    ax.plot(epochs, elbo, marker="." if len(elbo) <= 50 else None, label="training ELBO")
    validation = getattr(estimator, "validation_scores_", None)
    if validation:
        _draw_validation_curve(ax, estimator, np.asarray(validation, dtype=np.float64),
                               len(elbo))
    step_starts = getattr(estimator, "progressive_steps_", None) or []
    first_line = True
    for step, start in enumerate(step_starts):
        if not isinstance(start, (Integral, Real)) or start <= 0:
            continue  # the first step starts with training itself
        # Epoch index `start` (0-based) is epoch number start + 1: the line sits between.
        ax.axvline(start + 0.5, color="grey", linestyle="--", linewidth=1,
                   label="progressive step starts" if first_line else None)
        ax.annotate(f"step {step}", xy=(start + 0.5, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(3, -3), textcoords="offset points", va="top", fontsize=8,
                    color="grey")
        first_line = False
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean ELBO per sample (nats)")
    ax.set_title("Training curve" if not validation else "Training and validation curves")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return _finish(figure, path)


def _draw_validation_curve(ax, estimator, validation, n_epochs):
    """The validation ELBO of the last fit's epochs (the last ``len(validation)`` of
    ``n_epochs``), in the units of the training curve, and the kept epoch marked."""
    # score() units -> the standardised units of elbo_curve_ (change of variables).
    shown = validation + estimator.n_features_in_ * np.log(estimator.input_scale_)
    epochs = np.arange(n_epochs - len(validation) + 1, n_epochs + 1)
    ax.plot(epochs, shown, color="tab:orange", marker="." if len(shown) <= 50 else None,
            label="validation ELBO")
    # The kept epoch is the first with the best score (a later tie does not replace it).
    kept = np.flatnonzero(validation == getattr(estimator, "best_validation_score_", None))
    if len(kept):
        ax.plot(epochs[kept[:1]], shown[kept[:1]], linestyle="none", marker="o",
                markersize=8, markerfacecolor="none", color="tab:red", label="weights kept")


# ---------------------------------------------------------------------- any data
def _facet_latents(estimator, X):
    """Posterior means of X, one (n, latent_dims_[j]) array per facet."""
    Z = np.asarray(estimator.transform(X), dtype=np.float64)
    return np.split(Z, np.cumsum(estimator.latent_dims_)[:-1], axis=1)


def _facet_proba(estimator, X):
    """``q(c_j | x)`` of X, one (n, n_clusters_[j]) array per facet."""
    proba = estimator.predict_proba(X)
    return np.split(proba, np.cumsum(estimator.n_clusters_)[:-1], axis=1)


def _check_facets(estimator, facets):
    """A validated list of facets; None means all of them."""
    if facets is None:
        return list(range(_n_facets(estimator)))
    facets = [facets] if isinstance(facets, Integral) else list(facets)
    if not facets:
        raise ValueError("facets must name at least one facet")
    return [_check_facet(estimator, facet) for facet in facets]


def _project_2d(latents, means):
    """2-D coordinates of a facet's posterior means and cluster means, and axis labels.

    Two dimensions are shown as they are, more through the PCA of the posterior means;
    a single dimension is spread over the second axis by cluster (see the caller).
    """
    d = latents.shape[1]
    if d == 2:
        return latents, means, ("z0", "z1")
    pca = PCA(n_components=2).fit(latents)
    return pca.transform(latents), pca.transform(means), ("PC 1", "PC 2")


def _categorical_colours(values):
    """Integer codes of ``values`` (any labels) and a matching colour map name."""
    categories, codes = np.unique(np.asarray(values), return_inverse=True)
    cmap = "tab10" if len(categories) <= 10 else "tab20" if len(categories) <= 20 else "turbo"
    return categories, codes.ravel(), cmap


def _scatter_categories(ax, points, values, max_legend=12):
    """Scatter ``points`` coloured by the categories in ``values``, with a legend."""
    categories, codes, cmap = _categorical_colours(values)
    scatter = ax.scatter(points[:, 0], points[:, 1], c=codes, cmap=cmap, s=8, alpha=0.7,
                         vmin=-0.5, vmax=max(len(categories), 10) - 0.5, linewidths=0)
    if len(categories) <= max_legend:
        handles, _ = scatter.legend_elements()
        ax.legend(handles, [str(c) for c in categories], fontsize=7, markerscale=0.8,
                  loc="best", framealpha=0.6)
    return scatter


def plot_latent_space(estimator, X, *, facets=None, y=None, y_name="known label",
                      path=None):
    """Show each facet's latent space in 2-D, coloured by cluster (and by a known label).

    Every facet's posterior means (its columns of ``transform(X)``) are shown as they
    are when the facet has two latent dimensions, and projected on their first two
    principal components otherwise; a one-dimensional facet is shown against its
    cluster. The first row colours the points by the facet's cluster (``predict``) and
    marks the prior's cluster means (``means_``) with black crosses; with ``y`` a second
    row colours the same points by the known label, so it shows which facet holds it.

    Parameters
    ----------
    estimator : MFCVAEClustering
        A fitted estimator.
    X : array-like of shape (n_samples, n_features) or image array
        Data in any form ``fit`` takes.
    facets : int or sequence of int, optional
        The facets to show, one column each; all by default.
    y : array-like of shape (n_samples,), optional
        A known label (any values) to colour a second row by.
    y_name : str, default="known label"
        Name of ``y`` in the titles.
    path : str or path-like, optional
        Also save the figure there as a PNG.

    Returns
    -------
    matplotlib.figure.Figure
        ``len(facets)`` axes per row, one row (two with ``y``); in every axes the
        samples are the first collection.

    Examples
    --------
    >>> import numpy as np
    >>> from skmfc import MFCVAEClustering
    >>> from skmfc.plotting import plot_latent_space
    >>> X = np.random.RandomState(0).rand(60, 6)
    >>> est = MFCVAEClustering(n_facets=2, n_clusters=3, latent_dim=3, hidden_sizes=8,
    ...                        max_iter=2, device="cpu", random_state=0).fit(X)
    >>> len(plot_latent_space(est, X, y=(X[:, 0] > 0.5)).axes)
    4
    """
    check_is_fitted(estimator)
    facets = _check_facets(estimator, facets)
    latents = _facet_latents(estimator, X)
    n = len(latents[0])
    if y is not None:
        y = np.asarray(y)
        if y.shape != (n,):
            raise ValueError(f"y must have shape ({n},), one label per sample of X, got "
                             f"shape {y.shape}")
    labels = [block.argmax(axis=1) for block in _facet_proba(estimator, X)]
    means = estimator.means_
    n_rows = 1 if y is None else 2
    figure = _new_figure(3.6 * len(facets), 3.4 * n_rows)
    axes = np.asarray(figure.subplots(n_rows, len(facets), squeeze=False))
    jitter = np.random.RandomState(0).uniform(-0.3, 0.3, size=n)
    for column, facet in enumerate(facets):
        if latents[facet].shape[1] == 1:
            points = np.column_stack([latents[facet][:, 0], labels[facet] + jitter])
            centres = np.column_stack([means[facet][:, 0], np.arange(len(means[facet]))])
            axis_labels = ("z0", "cluster")
        else:
            points, centres, axis_labels = _project_2d(latents[facet], means[facet])
        colourings = [(labels[facet], "cluster")] + ([] if y is None else [(y, y_name)])
        for row, (values, name) in enumerate(colourings):
            ax = axes[row, column]
            _scatter_categories(ax, points, values)
            if row == 0:
                ax.scatter(centres[:, 0], centres[:, 1], marker="x", c="black", s=40,
                           label="_cluster means")
            ax.set_title(f"Facet {facet} (d={latents[facet].shape[1]}): by {name}",
                         fontsize=10)
            ax.set_xlabel(axis_labels[0])
            ax.set_ylabel(axis_labels[1])
    return _finish(figure, path)


def plot_facet_contingency(estimator, X, facets=(0, 1), *, path=None):
    """Show how the partitions of two facets cross: a contingency heat map.

    Cell ``(a, b)`` counts the samples of X in cluster ``a`` of the first facet and
    cluster ``b`` of the second (``predict``). Independent groupings found by two facets
    fill the table evenly; a facet that repeats the other shows one dominant cell per
    row. The title gives the adjusted Rand index between the two partitions.

    Parameters
    ----------
    estimator : MFCVAEClustering
        A fitted estimator with at least two facets.
    X : array-like of shape (n_samples, n_features) or image array
        Data in any form ``fit`` takes.
    facets : tuple of two int, default=(0, 1)
        The facets on the rows and on the columns.
    path : str or path-like, optional
        Also save the figure there as a PNG.

    Returns
    -------
    matplotlib.figure.Figure
        One axes showing the (n_clusters_[facets[0]], n_clusters_[facets[1]]) table
        as its image, each count written in its cell.
    """
    check_is_fitted(estimator)
    if _n_facets(estimator) < 2:
        raise ValueError("plot_facet_contingency crosses two facets, but the estimator has "
                         "one; fit it with n_facets >= 2")
    try:
        rows_facet, columns_facet = facets
    except (TypeError, ValueError):
        raise ValueError(f"facets must be a pair of facets, got {facets!r}") from None
    rows_facet = _check_facet(estimator, rows_facet)
    columns_facet = _check_facet(estimator, columns_facet)
    proba = _facet_proba(estimator, X)
    rows_labels = proba[rows_facet].argmax(axis=1)
    columns_labels = proba[columns_facet].argmax(axis=1)
    shape = (estimator.n_clusters_[rows_facet], estimator.n_clusters_[columns_facet])
    table = np.zeros(shape, dtype=np.int64)
    np.add.at(table, (rows_labels, columns_labels), 1)
    figure = _new_figure(1.2 + 0.45 * shape[1] + 1.0, 1.2 + 0.45 * shape[0])
    ax = figure.add_subplot()
    image = ax.imshow(table, cmap="viridis", aspect="auto")
    figure.colorbar(image, ax=ax, label="samples")
    threshold = table.max() / 2.0
    for (a, b), count in np.ndenumerate(table):
        ax.text(b, a, str(count), ha="center", va="center", fontsize=7,
                color="black" if count > threshold else "white")
    ax.set_xticks(range(shape[1]))
    ax.set_yticks(range(shape[0]))
    ax.set_xlabel(f"facet {columns_facet} cluster")
    ax.set_ylabel(f"facet {rows_facet} cluster")
    ari = adjusted_rand_score(rows_labels, columns_labels)
    ax.set_title(f"Facet {rows_facet} x facet {columns_facet} (ARI {ari:.2f})", fontsize=10)
    return _finish(figure, path)


def plot_cluster_sizes_and_confidence(estimator, X, *, path=None):
    """Show, per facet, how many samples each cluster holds and how sure the model is.

    Top row: the number of samples of X in every cluster of the facet (``predict``),
    empty clusters included, with the prior mixing weights (``weights_``) times the
    number of samples as black dots. Bottom row: the histogram of every sample's
    posterior confidence ``max_k q(c_j = k | x)``, from chance (``1 / K``, dashed) to
    certain (1), with its mean dotted; a facet piled up at chance carries no clustering.

    Parameters
    ----------
    estimator : MFCVAEClustering
        A fitted estimator.
    X : array-like of shape (n_samples, n_features) or image array
        Data in any form ``fit`` takes.
    path : str or path-like, optional
        Also save the figure there as a PNG.

    Returns
    -------
    matplotlib.figure.Figure
        Two rows of ``n_facets`` axes: the sizes (bars in cluster order) above the
        confidences.
    """
    check_is_fitted(estimator)
    proba = _facet_proba(estimator, X)
    weights = estimator.weights_
    figure = _new_figure(3.2 * len(proba), 5.6)
    axes = np.asarray(figure.subplots(2, len(proba), squeeze=False))
    for facet, block in enumerate(proba):
        n, n_clusters = block.shape
        sizes = np.bincount(block.argmax(axis=1), minlength=n_clusters)
        ax = axes[0, facet]
        ax.bar(np.arange(n_clusters), sizes, color="tab:blue")
        ax.plot(np.arange(n_clusters), weights[facet] * n, linestyle="none", marker="o",
                color="black", markersize=4, label="prior weight x n")
        ax.set_xticks(range(n_clusters))
        ax.set_xlabel("cluster")
        ax.set_ylabel("samples")
        ax.set_title(f"Facet {facet}: {int((sizes > 0).sum())} of {n_clusters} clusters used",
                     fontsize=10)
        ax.legend(fontsize=7)
        confidence = block.max(axis=1)
        ax = axes[1, facet]
        ax.hist(confidence, bins=np.linspace(1.0 / n_clusters, 1.0, 21), color="tab:green")
        ax.axvline(1.0 / n_clusters, color="grey", linestyle="--", label="chance 1/K")
        ax.axvline(confidence.mean(), color="black", linestyle=":",
                   label=f"mean {confidence.mean():.2f}")
        ax.set_xlabel("max posterior probability")
        ax.set_ylabel("samples")
        ax.set_title(f"Facet {facet}: confidence", fontsize=10)
        ax.legend(fontsize=7)
    return _finish(figure, path)
