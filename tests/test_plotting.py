"""Tests of skmfc.plotting: what each figure shows, not only that it draws."""

import importlib
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from skmfc import MFCVAEClustering  # noqa: E402
from skmfc import plotting  # noqa: E402
from skmfc.datasets import make_coloured_digits  # noqa: E402
from skmfc.plotting import (  # noqa: E402
    plot_cluster_examples,
    plot_cluster_samples,
    plot_facet_examples,
    plot_facet_swap,
    plot_training_curve,
    swap_facet,
    swap_facet_latents,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMAGE_SHAPE = (8, 8, 3)


@pytest.fixture(scope="module")
def digits():
    data = make_coloured_digits(random_state=0)
    assert data.image_shape == IMAGE_SHAPE
    return data.data[:300]


@pytest.fixture(scope="module")
def fitted(digits):
    """One tiny estimator on coloured digits (192 features: not a square image)."""
    return MFCVAEClustering(n_facets=2, n_clusters=3, latent_dim=2, hidden_sizes=32,
                            max_iter=5, device="cpu", random_state=0).fit(digits)


@pytest.fixture(scope="module")
def fitted_grey():
    """A tiny estimator on 4x4 'images': 16 features, a perfect square."""
    X = np.random.RandomState(0).rand(60, 16)
    return MFCVAEClustering(n_facets=2, n_clusters=2, latent_dim=2, hidden_sizes=8,
                            max_iter=2, device="cpu", random_state=0).fit(X), X


def shown_images(axes_list):
    """The array shown by each axes that shows one, in axes order."""
    return [np.asarray(ax.images[0].get_array()) for ax in axes_list if ax.images]


def as_displayed(rows, image_shape=IMAGE_SHAPE):
    return np.clip(np.asarray(rows, dtype=np.float64), 0, 1).reshape((-1,) + image_shape)


def row_axes(axes_list, row, n_columns):
    return axes_list[row * n_columns:(row + 1) * n_columns]


# ---------------------------------------------------------------------- cluster examples
@pytest.mark.parametrize("facet", [0, 1])
def test_cluster_examples_rows_are_most_confident_members(fitted, digits, facet):
    n_examples = 4
    figure = plot_cluster_examples(fitted, digits, facet, n_examples=n_examples,
                                   image_shape=IMAGE_SHAPE)
    assert isinstance(figure, Figure)

    proba = fitted.predict_proba(digits, facet=facet)
    assigned = proba.argmax(1)
    sizes = np.bincount(assigned, minlength=proba.shape[1])
    non_empty = [k for k in range(proba.shape[1]) if sizes[k] > 0]
    expected_order = sorted(non_empty, key=lambda k: (-sizes[k], k))
    assert len(figure.axes) == len(expected_order) * n_examples

    for row, cluster in enumerate(expected_order):
        axes = row_axes(figure.axes, row, n_examples)
        assert axes[0].get_ylabel() == f"cluster {cluster}\nn={sizes[cluster]}"
        members = np.flatnonzero(assigned == cluster)
        top = members[np.argsort(-proba[members, cluster], kind="stable")][:n_examples]
        images = shown_images(axes)
        assert len(images) == min(n_examples, sizes[cluster])
        np.testing.assert_array_equal(np.stack(images), as_displayed(digits[top]))


def test_cluster_examples_chosen_clusters_and_short_rows(fitted, digits):
    facet = 1
    digits = digits[:30]  # small clusters keep the figure small
    proba = fitted.predict_proba(digits, facet=facet)
    sizes = np.bincount(proba.argmax(1), minlength=3)
    n_examples = int(sizes.max()) + 5  # more than any cluster holds: rows run short
    figure = plot_cluster_examples(fitted, digits, facet, n_examples=n_examples,
                                   clusters=[2, 0], image_shape=IMAGE_SHAPE)
    assert len(figure.axes) == 2 * n_examples
    for row, cluster in enumerate([2, 0]):
        axes = row_axes(figure.axes, row, n_examples)
        assert axes[0].get_ylabel().startswith(f"cluster {cluster}\n")
        assert len(shown_images(axes)) == sizes[cluster]


def test_cluster_examples_clip_values_to_unit_range(fitted, digits):
    X = digits[:50].astype(np.float64)
    X[:, 0] = 1.5
    X[:, 1] = -0.5
    # The model is Bernoulli: its predictions say that X is out of its range.
    with pytest.warns(UserWarning, match=r"outside \[0, 1\]"):
        figure = plot_cluster_examples(fitted, X, 0, n_examples=3, image_shape=IMAGE_SHAPE)
    for image in shown_images(figure.axes):
        assert image.min() >= 0.0 and image.max() <= 1.0
        assert image[0, 0, 0] == 1.0 and image[0, 0, 1] == 0.0


def test_facet_examples_one_panel_per_facet_matching_single_facet_plot(fitted, digits):
    n_examples = 3
    figure = plot_facet_examples(fitted, digits, n_examples=n_examples,
                                 image_shape=IMAGE_SHAPE)
    assert len(figure.subfigs) == fitted.n_facets
    for facet, subfigure in enumerate(figure.subfigs):
        single = plot_cluster_examples(fitted, digits, facet, n_examples=n_examples,
                                       image_shape=IMAGE_SHAPE)
        assert len(subfigure.axes) == len(single.axes)
        assert ([ax.get_ylabel() for ax in subfigure.axes]
                == [ax.get_ylabel() for ax in single.axes])
        for panel_image, single_image in zip(shown_images(subfigure.axes),
                                             shown_images(single.axes), strict=True):
            np.testing.assert_array_equal(panel_image, single_image)


def test_image_shape_taken_from_estimator_attribute(fitted, digits, monkeypatch):
    monkeypatch.setattr(fitted, "image_shape", IMAGE_SHAPE, raising=False)
    figure = plot_cluster_examples(fitted, digits, 0, n_examples=2)
    assert shown_images(figure.axes)[0].shape == IMAGE_SHAPE


def test_square_grey_default_image_shape(fitted_grey):
    estimator, X = fitted_grey
    figure = plot_cluster_examples(estimator, X, 0, n_examples=3)
    images = figure.axes[0].images
    assert images[0].get_array().shape == (4, 4)
    assert images[0].get_cmap().name == "gray"
    assert images[0].get_clim() == (0.0, 1.0)


def test_grey_images_with_channel_axis_are_shown_in_grey(fitted_grey):
    estimator, X = fitted_grey
    figure = plot_cluster_examples(estimator, X, 1, n_examples=2, image_shape=(4, 4, 1))
    image = figure.axes[0].images[0]
    assert image.get_array().shape == (4, 4)
    assert image.get_cmap().name == "gray"


# ---------------------------------------------------------------------- generation
def test_cluster_samples_rows_are_samples_of_each_cluster(fitted):
    n_samples = 5
    figure = plot_cluster_samples(fitted, 1, n_samples=n_samples, clusters=[2, 0],
                                  temperature=0.3, random_state=0, image_shape=IMAGE_SHAPE)
    assert len(figure.axes) == 2 * n_samples
    # Every row uses the one seed drawn from random_state.
    seed = int(np.random.RandomState(0).randint(np.iinfo(np.int32).max))
    for row, cluster in enumerate([2, 0]):
        axes = row_axes(figure.axes, row, n_samples)
        assert axes[0].get_ylabel().startswith(f"cluster {cluster}")
        expected, labels = fitted.sample(n_samples, facet=1, cluster=cluster,
                                         temperature=0.3, random_state=seed)
        assert (labels[:, 1] == cluster).all()
        np.testing.assert_array_equal(np.stack(shown_images(axes)), as_displayed(expected))


def test_cluster_samples_default_clusters_and_reproducibility(fitted):
    weights = np.exp(fitted.module_.priors[0].log_weights().detach().numpy())
    expected = [int(k) for k in np.argsort(-weights, kind="stable") if weights[k] >= 1e-3]
    first = plot_cluster_samples(fitted, 0, n_samples=3, random_state=1,
                                 image_shape=IMAGE_SHAPE)
    again = plot_cluster_samples(fitted, 0, n_samples=3, random_state=1,
                                 image_shape=IMAGE_SHAPE)
    assert len(first.axes) == len(expected) * 3
    assert [first.axes[3 * r].get_ylabel().split("\n")[0] for r in range(len(expected))] == [
        f"cluster {k}" for k in expected]
    for a, b in zip(shown_images(first.axes), shown_images(again.axes), strict=True):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------- swapping
def split_latent(estimator, Z):
    return np.split(Z, np.cumsum(estimator.latent_dims_)[:-1], axis=1)


@pytest.mark.parametrize("facet", [0, 1])
def test_swap_facet_latents_exchanges_only_that_block(fitted, digits, facet):
    Z_a, Z_b = fitted.transform(digits[:10]), fitted.transform(digits[10:20])
    Z_a_swapped, Z_b_swapped = swap_facet_latents(fitted, Z_a, Z_b, facet)
    blocks = zip(split_latent(fitted, Z_a), split_latent(fitted, Z_b),
                 split_latent(fitted, Z_a_swapped), split_latent(fitted, Z_b_swapped))
    for j, (a, b, a_swapped, b_swapped) in enumerate(blocks):
        if j == facet:
            np.testing.assert_array_equal(a_swapped, b)
            np.testing.assert_array_equal(b_swapped, a)
        else:
            np.testing.assert_array_equal(a_swapped, a)
            np.testing.assert_array_equal(b_swapped, b)
    # The inputs are left alone, and swapping twice is the identity.
    np.testing.assert_array_equal(Z_a, fitted.transform(digits[:10]))
    Z_a_back, Z_b_back = swap_facet_latents(fitted, Z_a_swapped, Z_b_swapped, facet)
    np.testing.assert_array_equal(Z_a_back, Z_a)
    np.testing.assert_array_equal(Z_b_back, Z_b)


@pytest.mark.parametrize("facet", [0, 1])
def test_swap_facet_decodes_the_swapped_latents(fitted, digits, facet):
    X_a, X_b = digits[:7], digits[7:14]
    X_a_swapped, X_b_swapped = swap_facet(fitted, X_a, X_b, facet)
    assert X_a_swapped.shape == X_a.shape and X_b_swapped.shape == X_b.shape

    Z_a, Z_b = fitted.transform(X_a), fitted.transform(X_b)
    a_blocks, b_blocks = split_latent(fitted, Z_a), split_latent(fitted, Z_b)
    a_blocks[facet], b_blocks[facet] = b_blocks[facet], a_blocks[facet]
    np.testing.assert_allclose(X_a_swapped,
                               fitted.inverse_transform(np.concatenate(a_blocks, axis=1)))
    np.testing.assert_allclose(X_b_swapped,
                               fitted.inverse_transform(np.concatenate(b_blocks, axis=1)))

    # Swapping back on the latent level decodes to the originals' reconstructions.
    Z_a_twice, Z_b_twice = swap_facet_latents(
        fitted, *swap_facet_latents(fitted, Z_a, Z_b, facet), facet)
    np.testing.assert_allclose(fitted.inverse_transform(Z_a_twice), fitted.inverse_transform(Z_a))
    np.testing.assert_allclose(fitted.inverse_transform(Z_b_twice), fitted.inverse_transform(Z_b))

    # Swapping with itself is reconstruction; swapping the pair's order swaps the outputs.
    X_self, _ = swap_facet(fitted, X_a, X_a, facet)
    np.testing.assert_allclose(X_self, fitted.inverse_transform(Z_a))
    X_b_first, X_a_first = swap_facet(fitted, X_b, X_a, facet)
    np.testing.assert_allclose(X_b_first, X_b_swapped)
    np.testing.assert_allclose(X_a_first, X_a_swapped)


def test_swap_facet_needs_pairs(fitted, digits):
    with pytest.raises(ValueError, match="as many rows"):
        swap_facet(fitted, digits[:3], digits[3:7], 0)
    Z = fitted.transform(digits[:3])
    with pytest.raises(ValueError, match="shape"):
        swap_facet_latents(fitted, Z, Z[:, :-1], 0)


def test_facet_swap_figure_rows(fitted, digits):
    n_pairs = 6
    X_a, X_b = digits[:n_pairs], digits[n_pairs:2 * n_pairs]
    figure = plot_facet_swap(fitted, X_a, X_b, 1, image_shape=IMAGE_SHAPE)
    assert len(figure.axes) == 4 * n_pairs
    assert len(shown_images(figure.axes)) == 4 * n_pairs
    X_a_swapped, X_b_swapped = swap_facet(fitted, X_a, X_b, 1)
    for row, expected in enumerate([X_a, X_b, X_a_swapped, X_b_swapped]):
        images = np.stack(shown_images(row_axes(figure.axes, row, n_pairs)))
        np.testing.assert_allclose(images, as_displayed(expected))


# ---------------------------------------------------------------------- training curve
def test_training_curve_without_progressive_steps(fitted, monkeypatch):
    monkeypatch.delattr(fitted, "progressive_steps_", raising=False)
    figure = plot_training_curve(fitted)
    (ax,) = figure.axes
    assert len(ax.lines) == 1
    x, y = ax.lines[0].get_data()
    np.testing.assert_array_equal(x, np.arange(1, fitted.n_iter_ + 1))
    np.testing.assert_array_equal(y, fitted.elbo_curve_)
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()


def test_training_curve_marks_progressive_steps(fitted, monkeypatch):
    monkeypatch.setattr(fitted, "progressive_steps_", [0, 3], raising=False)
    (ax,) = plot_training_curve(fitted).axes
    assert len(ax.lines) == 2  # the curve and one line: step 0 starts with training
    np.testing.assert_array_equal(ax.lines[1].get_xdata(), [3.5, 3.5])


# ---------------------------------------------------------------------- files
@pytest.mark.parametrize("name, draw", [
    ("examples", lambda est, X, p: plot_cluster_examples(est, X, 0, n_examples=3,
                                                         image_shape=IMAGE_SHAPE, path=p)),
    ("facets", lambda est, X, p: plot_facet_examples(est, X, n_examples=3,
                                                     image_shape=IMAGE_SHAPE, path=p)),
    ("samples", lambda est, X, p: plot_cluster_samples(est, 1, n_samples=3, random_state=0,
                                                       image_shape=IMAGE_SHAPE, path=p)),
    ("swap", lambda est, X, p: plot_facet_swap(est, X[:4], X[4:8], 0,
                                               image_shape=IMAGE_SHAPE, path=p)),
    ("curve", lambda est, X, p: plot_training_curve(est, path=p)),
])
def test_path_writes_a_png_and_returns_the_figure(fitted, digits, tmp_path, name, draw):
    path = tmp_path / f"{name}.png"
    figure = draw(fitted, digits, path)
    assert isinstance(figure, Figure)
    content = path.read_bytes()
    assert len(content) > len(PNG_SIGNATURE)
    assert content.startswith(PNG_SIGNATURE)
    # A string path works too.
    draw(fitted, digits, str(tmp_path / f"{name}_str.png"))
    assert (tmp_path / f"{name}_str.png").read_bytes().startswith(PNG_SIGNATURE)


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("facet", [2, -1, 1.0, True, None])
def test_wrong_facet(fitted, digits, facet):
    calls = [
        lambda: plot_cluster_examples(fitted, digits, facet, image_shape=IMAGE_SHAPE),
        lambda: plot_cluster_samples(fitted, facet, image_shape=IMAGE_SHAPE),
        lambda: plot_facet_swap(fitted, digits[:2], digits[2:4], facet,
                                image_shape=IMAGE_SHAPE),
        lambda: swap_facet(fitted, digits[:2], digits[2:4], facet),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="facet must be an int in \\[0, 1\\]"):
            call()


def test_wrong_clusters(fitted, digits):
    with pytest.raises(ValueError, match="clusters"):
        plot_cluster_examples(fitted, digits, 0, clusters=[3], image_shape=IMAGE_SHAPE)
    with pytest.raises(ValueError, match="clusters"):
        plot_cluster_samples(fitted, 0, clusters=[-1], image_shape=IMAGE_SHAPE)


def test_image_shape_cannot_be_determined(fitted, digits):
    assert getattr(fitted, "image_shape", None) is None  # 192 features: not a square
    calls = [
        lambda: plot_cluster_examples(fitted, digits, 0),
        lambda: plot_facet_examples(fitted, digits),
        lambda: plot_cluster_samples(fitted, 0),
        lambda: plot_facet_swap(fitted, digits[:2], digits[2:4], 0),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="pass image_shape"):
            call()


@pytest.mark.parametrize("image_shape, message", [
    ((8, 8), "holds 64 values"),
    ((8, 8, 2), "channels"),
    ((8,), "height, width"),
    (8, "height, width"),
])
def test_bad_image_shape(fitted, digits, image_shape, message):
    with pytest.raises(ValueError, match=message):
        plot_cluster_examples(fitted, digits, 0, image_shape=image_shape)


def test_tabular_estimator_is_refused():
    X = np.random.RandomState(0).rand(40, 6)
    estimator = MFCVAEClustering(n_facets=1, n_clusters=2, hidden_sizes=8, max_iter=1,
                                 device="cpu", random_state=0).fit(X)
    with pytest.raises(ValueError, match="only meaningful for image data"):
        plot_cluster_examples(estimator, X, 0)


def test_unfitted_estimator():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        plot_training_curve(MFCVAEClustering())


# ---------------------------------------------------------------------- optional matplotlib
def test_missing_matplotlib_gives_an_install_hint(fitted, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    module = importlib.reload(plotting)  # the module itself imports without matplotlib
    with pytest.raises(ImportError, match=r"pip install 'skmfc\[plot\]'"):
        module._import_matplotlib()
    with pytest.raises(ImportError, match=r"pip install 'skmfc\[plot\]'"):
        module.plot_training_curve(fitted)
    # numpy-only helpers keep working.
    Z = fitted.transform(np.zeros((2, fitted.n_features_in_)))
    module.swap_facet_latents(fitted, Z, Z, 0)


# ---------------------------------------------------------------------- any data
from sklearn.decomposition import PCA  # noqa: E402

from skmfc.plotting import (  # noqa: E402
    plot_cluster_sizes_and_confidence,
    plot_facet_contingency,
    plot_latent_space,
)


@pytest.fixture(scope="module")
def tabular():
    """A two-facet model on tabular blobs, trained with early stopping."""
    rng = np.random.RandomState(0)
    y = rng.randint(3, size=150)
    X = rng.normal(scale=4.0, size=(3, 5))[y] + rng.normal(size=(150, 5))
    est = MFCVAEClustering(n_facets=2, n_clusters=(3, 2), latent_dim=(3, 2), hidden_sizes=16,
                           max_iter=6, early_stopping=True, n_iter_no_change=10,
                           device="cpu", random_state=0).fit(X)
    return est, X, y


@pytest.fixture(scope="module")
def images_chw(digits):
    """A tiny convolutional model fitted on channel-first images (n, 3, 8, 8)."""
    images = digits[:120].reshape(-1, 8, 8, 3).transpose(0, 3, 1, 2)
    est = MFCVAEClustering(n_facets=2, n_clusters=2, latent_dim=2, hidden_sizes=(4, 8),
                           max_iter=1, device="cpu", random_state=0).fit(images)
    assert est.architecture_ == "conv" and est.image_shape_ == IMAGE_SHAPE
    return est, images


def samples_of(ax):
    return np.asarray(ax.collections[0].get_offsets())


def test_latent_space_shows_each_facets_posterior_means(tabular):
    est, X, y = tabular
    figure = plot_latent_space(est, X, y=y, y_name="blob")
    assert len(figure.axes) == 4  # two facets, by cluster and by the known label
    top, bottom = figure.axes[:2], figure.axes[2:]
    latents = np.split(est.transform(X), [3], axis=1)
    expected = [PCA(n_components=2).fit_transform(latents[0]), latents[1]]
    for facet in (0, 1):
        for ax in (top[facet], bottom[facet]):
            np.testing.assert_allclose(samples_of(ax), expected[facet], atol=1e-8)
            assert f"Facet {facet}" in ax.get_title()
        assert "cluster" in top[facet].get_title() and "blob" in bottom[facet].get_title()
        # Colours: the facet's clusters on top, the known label below.
        np.testing.assert_array_equal(top[facet].collections[0].get_array(),
                                      est.predict(X, facet=facet))
        np.testing.assert_array_equal(bottom[facet].collections[0].get_array(), y)
        # The prior's cluster means, in the same projection, as crosses on top.
        assert len(samples_of_means(top[facet])) == est.n_clusters_[facet]
    assert top[0].get_xlabel() == "PC 1" and top[1].get_xlabel() == "z0"


def samples_of_means(ax):
    return np.asarray(ax.collections[1].get_offsets())


def test_latent_space_of_chosen_facets_and_one_dimensional_facets():
    X = np.random.RandomState(0).rand(60, 4)
    est = MFCVAEClustering(n_facets=2, n_clusters=2, latent_dim=(1, 2), hidden_sizes=8,
                           max_iter=2, device="cpu", random_state=0).fit(X)
    figure = plot_latent_space(est, X, facets=0)
    (ax,) = figure.axes
    points = samples_of(ax)
    np.testing.assert_allclose(points[:, 0], est.transform(X)[:, 0])
    # One latent dimension: spread over the second axis by cluster.
    assert np.all(np.abs(points[:, 1] - est.predict(X, facet=0)) <= 0.3)
    with pytest.raises(ValueError, match="y must have shape"):
        plot_latent_space(est, X, y=np.zeros(3))
    with pytest.raises(ValueError, match="facet must be an int"):
        plot_latent_space(est, X, facets=[0, 2])


def test_facet_contingency_counts_how_two_partitions_cross(tabular):
    est, X, _ = tabular
    figure = plot_facet_contingency(est, X, facets=(1, 0))
    ax = figure.axes[0]  # the second axes is the colour bar
    table = np.asarray(ax.images[0].get_array())
    expected = np.zeros((2, 3), dtype=int)
    np.add.at(expected, (est.predict(X, facet=1), est.predict(X, facet=0)), 1)
    np.testing.assert_array_equal(table, expected)
    assert sorted(int(t.get_text()) for t in ax.texts) == sorted(expected.ravel())
    assert ax.get_title().startswith("Facet 1 x facet 0 (ARI")
    one_facet = MFCVAEClustering(n_facets=1, n_clusters=2, hidden_sizes=8, max_iter=1,
                                 device="cpu", random_state=0).fit(X)
    with pytest.raises(ValueError, match="n_facets >= 2"):
        plot_facet_contingency(one_facet, X)
    with pytest.raises(ValueError, match="pair of facets"):
        plot_facet_contingency(est, X, facets=0)


def test_cluster_sizes_and_confidence_per_facet(tabular):
    est, X, _ = tabular
    figure = plot_cluster_sizes_and_confidence(est, X)
    assert len(figure.axes) == 4
    for facet, (K, weights) in enumerate(zip(est.n_clusters_, est.weights_)):
        sizes_ax, confidence_ax = figure.axes[facet], figure.axes[2 + facet]
        heights = [patch.get_height() for patch in sizes_ax.patches]
        np.testing.assert_array_equal(heights, np.bincount(est.predict(X, facet=facet),
                                                           minlength=K))
        np.testing.assert_allclose(sizes_ax.lines[0].get_ydata(), weights * len(X))
        assert sum(patch.get_height() for patch in confidence_ax.patches) == len(X)
        assert confidence_ax.lines[0].get_xdata()[0] == pytest.approx(1 / K)
        mean = est.predict_proba(X, facet=facet).max(1).mean()
        assert confidence_ax.lines[1].get_xdata()[0] == pytest.approx(mean)
        assert sizes_ax.get_title().startswith(f"Facet {facet}")


def test_training_curve_shows_the_validation_curve_next_to_it(tabular):
    est, _, _ = tabular
    (ax,) = plot_training_curve(est).axes
    training, validation, kept = ax.lines[:3]
    np.testing.assert_array_equal(training.get_ydata(), est.elbo_curve_)
    offset = est.n_features_in_ * np.log(est.input_scale_)
    np.testing.assert_allclose(validation.get_ydata(),
                               np.asarray(est.validation_scores_) + offset)
    np.testing.assert_array_equal(validation.get_xdata(), np.arange(1, est.n_iter_ + 1))
    # The marked epoch is the one whose weights were kept (the best of the last step).
    assert est.validation_scores_[int(kept.get_xdata()[0]) - 1] == est.best_validation_score_
    assert "validation" in ax.get_title().lower()


def test_new_plots_take_a_dataframe(tabular):
    pd = pytest.importorskip("pandas")
    est, X, _ = tabular
    frame = pd.DataFrame(X)
    assert len(plot_latent_space(est, frame).axes) == 2
    assert len(plot_cluster_sizes_and_confidence(est, frame).axes) == 4
    plot_facet_contingency(est, frame)


@pytest.mark.parametrize("layout", ["chw", "hwc"])
def test_every_plot_takes_image_arrays(images_chw, layout):
    est, images = images_chw
    if layout == "hwc":
        images = images.transpose(0, 2, 3, 1)
    channel_last = images if layout == "hwc" else images.transpose(0, 2, 3, 1)
    figure = plot_cluster_examples(est, images, 0, n_examples=3)
    shown = shown_images(figure.axes)
    assert len(shown) > 0
    assert any(np.allclose(image, np.clip(channel_last[i], 0, 1))
               for image in shown[:1] for i in range(len(images)))
    assert len(plot_facet_examples(est, images, n_examples=2).subfigs) == 2
    swap = plot_facet_swap(est, images[:3], images[3:6], 1)
    np.testing.assert_allclose(shown_images(row_axes(swap.axes, 0, 3)),
                               np.clip(channel_last[:3], 0, 1))
    assert len(plot_latent_space(est, images).axes) == 2
    assert len(plot_facet_contingency(est, images).axes) == 2  # the map and its colour bar
    assert len(plot_cluster_sizes_and_confidence(est, images).axes) == 4
    assert len(plot_cluster_samples(est, 0, n_samples=2).axes) % 2 == 0
