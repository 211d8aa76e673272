"""Data read in pieces (memmaps, HDF5, zarr and dask arrays, torch Datasets) and lazy
prediction over dask arrays (issue 13, part 2).

Small data fit exactly as they do in memory (one piece, one block: the same batch order
and the same statistics); larger data, with the pieces shrunk, are read in bounded
pieces, fit deterministically and find the groupings of an easy data set.
"""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

import skmfc.data
import skmfc.guide
import skmfc.training.streaming
from skmfc.data import RowSource, as_source
from skmfc.datasets import make_tabular_facets
from skmfc.guide import guide_partitions, guide_partitions_of_rows
from skmfc.training.streaming import _BlockPermutations
from tests.conftest import tiny_estimator

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def tabular():
    return make_tabular_facets(n_samples=160, random_state=0).data


def _memmap(X, tmp_path):
    np.save(tmp_path / "X.npy", X)
    return np.load(tmp_path / "X.npy", mmap_mode="r")


def _hdf5(X, tmp_path):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "X.h5", "w") as file:
        file.create_dataset("X", data=X, chunks=(16, X.shape[1]))
    return h5py.File(tmp_path / "X.h5", "r")["X"]


def _zarr(X, tmp_path):
    zarr = pytest.importorskip("zarr")
    array = zarr.open_array(str(tmp_path / "X.zarr"), mode="w", shape=X.shape,
                            chunks=(50, X.shape[1]), dtype=X.dtype)
    array[:] = X
    return array


def _dask(X, tmp_path):
    dask_array = pytest.importorskip("dask.array")
    return dask_array.from_array(X, chunks=(37, 5))


def _torch_dataset(X, tmp_path):
    # Items as (features, label) tuples: the first entry is taken.
    return torch.utils.data.TensorDataset(torch.as_tensor(X), torch.zeros(len(X)))


class _ArrayDataset(torch.utils.data.Dataset):
    """Items that are numpy rows themselves."""

    def __init__(self, X):
        self.X = X

    def __len__(self):
        return len(self.X)

    def __getitem__(self, index):
        return self.X[index]


SOURCES = {"memmap": _memmap, "hdf5": _hdf5, "zarr": _zarr, "dask": _dask,
           "torch_dataset": _torch_dataset,
           "array_dataset": lambda X, tmp_path: _ArrayDataset(X)}


@pytest.mark.parametrize("make_source", SOURCES.values(), ids=SOURCES.keys())
def test_small_source_fits_exactly_as_in_memory(make_source, tabular, tmp_path):
    source = make_source(tabular, tmp_path)
    in_memory = tiny_estimator().fit(tabular)
    streamed = tiny_estimator().fit(source)
    np.testing.assert_array_equal(streamed.labels_, in_memory.labels_)
    assert streamed.n_features_in_ == tabular.shape[1]
    assert not hasattr(streamed, "feature_names_in_")
    assert streamed.score(source) == in_memory.score(tabular)
    if not hasattr(source, "map_blocks"):  # dask arrays give dask arrays, tested below
        np.testing.assert_array_equal(in_memory.predict(source), in_memory.predict(tabular))
        np.testing.assert_array_equal(in_memory.transform(source),
                                      in_memory.transform(tabular))
        np.testing.assert_array_equal(in_memory.predict_proba(source, facet=1),
                                      in_memory.predict_proba(tabular, facet=1))
        np.testing.assert_array_equal(in_memory.score_samples(source),
                                      in_memory.score_samples(tabular))
    np.testing.assert_array_equal(tiny_estimator().fit_predict(source), in_memory.labels_)


def test_image_sources_are_flattened_as_arrays_are(tmp_path):
    rng = np.random.RandomState(0)
    images = rng.rand(40, 1, 8, 8).astype(np.float32)  # channel first
    params = dict(architecture="conv", hidden_sizes=4, max_iter=2, guide=None)
    in_memory = tiny_estimator(**params).fit(images)
    streamed = tiny_estimator(**params).fit(_memmap(images, tmp_path))
    assert streamed.image_shape_ == (8, 8, 1)
    np.testing.assert_array_equal(streamed.labels_, in_memory.labels_)
    np.testing.assert_array_equal(in_memory.predict(_ArrayDataset(images)),
                                  in_memory.predict(images))


def test_early_stopping_holds_out_the_same_rows(tabular, tmp_path):
    params = dict(early_stopping=True, max_iter=6, n_iter_no_change=2)
    in_memory = tiny_estimator(**params).fit(tabular)
    streamed = tiny_estimator(**params).fit(_memmap(tabular, tmp_path))
    assert streamed.validation_scores_ == in_memory.validation_scores_
    np.testing.assert_array_equal(streamed.labels_, in_memory.labels_)


class _CountingSource(RowSource):
    """An array read through :class:`RowSource`, which records the rows of every span
    read and refuses spans larger than ``max_rows``."""

    kind = "counting source"

    def __init__(self, X, max_rows):
        self.X, self.max_rows = X, max_rows
        self.n_samples, self.row_shape, self.dtype = len(X), X.shape[1:], X.dtype
        self.span_rows = []

    def _read_span(self, start, stop):
        if stop - start > self.max_rows:
            raise AssertionError(f"a read of {stop - start} rows")
        self.span_rows.append(stop - start)
        return self.X[start:stop]


@pytest.fixture
def small_pieces(monkeypatch):
    """Pieces of 2000 rows, blocks of 100 rows and statistics over blocks of 3000 rows
    (for rows of 18 float32 features), so that 12000 rows take many of each."""
    monkeypatch.setattr(skmfc.training.streaming, "STREAM_PIECE_BYTES", 2000 * 18 * 4)
    monkeypatch.setattr(skmfc.training.streaming, "STREAM_BLOCK_BYTES", 100 * 18 * 4)
    monkeypatch.setattr(skmfc.data, "BLOCK_ROWS", 3000)
    monkeypatch.setattr(skmfc.data, "MAX_SPAN_ROWS", 3000)


def test_large_source_is_read_in_bounded_pieces_and_clusters_well(small_pieces):
    data = make_tabular_facets(n_samples=12000, separation=(10.0, 10.0), random_state=0)
    # Stored sorted by the first grouping: a batch of consecutive rows would hold one class.
    order = np.argsort(data.target[:, 0], kind="stable")
    X, target = data.data[order], data.target[order]
    params = dict(n_clusters=4, hidden_sizes=32, max_iter=6, batch_size=128)
    source = _CountingSource(X, max_rows=4096)
    est = tiny_estimator(**params).fit(source)
    assert max(source.span_rows) <= 4096  # an inference chunk; a third of the data
    # Statistics, guide labels, training, prior fits, labels: a few passes, not one per
    # batch or per row.
    assert sum(source.span_rows) < 30 * len(X)
    again = tiny_estimator(**params).fit(_CountingSource(X, max_rows=4096))
    np.testing.assert_array_equal(again.labels_, est.labels_)
    for grouping in range(2):
        best = max(adjusted_rand_score(target[:, grouping], est.labels_[:, facet])
                   for facet in range(2))
        assert best > 0.8, (grouping, best)  # in memory: 0.82 and 1.0
    np.testing.assert_array_equal(est.predict(X), est.labels_)


def test_block_permutations_are_permutations_made_of_few_runs():
    generator = torch.Generator().manual_seed(0)
    orders = _BlockPermutations(1050, block_rows=100, piece_rows=300, generator=generator)
    first, second = orders.draw(), orders.draw()
    for order in (first, second):
        assert sorted(order.tolist()) == list(range(1050))
        for start in range(0, 1050, 300):
            piece = np.sort(order[start:start + 300].numpy())
            runs = 1 + int(np.sum(np.diff(piece) > 1))
            assert runs <= 4  # three blocks, or parts of four
    assert not torch.equal(first, second)
    # All rows in one piece: the full shuffle that data in memory get.
    small = _BlockPermutations(50, 10, 300, torch.Generator().manual_seed(3)).draw()
    assert torch.equal(small, torch.randperm(50, generator=torch.Generator().manual_seed(3)))


def test_read_gives_rows_in_the_order_asked_for(monkeypatch):
    monkeypatch.setattr(skmfc.data, "MAX_SPAN_ROWS", 7)
    X = np.arange(200.0).reshape(100, 2)
    source = _CountingSource(X, max_rows=16)
    source.chunk_rows = 16
    rows = np.array([99, 3, 3, 50, 0, 17, 18, 64])
    np.testing.assert_array_equal(source.read(rows), X[rows])
    np.testing.assert_array_equal(source.read(slice(10, 20)), X[10:20])
    assert source.read([]).shape == (0, 2)
    with pytest.raises(IndexError):
        source.read([100])


def test_memmaps_of_a_whole_file_are_read_from_the_file(tmp_path):
    X = np.arange(60.0).reshape(20, 3)
    whole = as_source(_memmap(X, tmp_path))
    part = as_source(_memmap(X, tmp_path)[5:])
    assert whole.file_offset is not None and part.file_offset is None
    np.testing.assert_array_equal(whole.read([19, 0, 4]), X[[19, 0, 4]])
    np.testing.assert_array_equal(part.read([0, 14]), X[[5, 19]])


def test_guide_of_rows_is_the_guide_of_the_array_for_small_data(tabular):
    X = tabular[:150].astype(np.float32)
    expected = guide_partitions(X, [3, 3], random_state=4)
    found = guide_partitions_of_rows(lambda rows: X[rows], len(X), [3, 3], random_state=4)
    np.testing.assert_array_equal(found.labels, expected.labels)
    np.testing.assert_array_equal(found.clarity, expected.clarity)


def test_guide_of_rows_on_a_subset_finds_the_groupings_of_all_rows(monkeypatch):
    monkeypatch.setattr(skmfc.guide, "PROJECTION_CHUNK", 3000)
    data = make_tabular_facets(n_samples=8000, separation=(10.0, 10.0), random_state=1)
    read = []
    found = guide_partitions_of_rows(lambda rows: read.append(len(rows)) or data.data[rows],
                                     len(data.data), [4, 3], random_state=0)
    assert max(read) <= 5000 and found.labels.shape == (8000, 2)
    clear = np.flatnonzero(found.clear())
    assert len(clear) >= 1
    for partition in clear:
        assert max(adjusted_rand_score(data.target[:, grouping], found.labels[:, partition])
                   for grouping in range(2)) > 0.9


# ---------------------------------------------------------------------- bad input
def test_nan_in_the_third_block_is_named(monkeypatch, tabular, tmp_path):
    monkeypatch.setattr(skmfc.data, "BLOCK_ROWS", 32)
    X = tabular.copy()
    X[70, 3] = np.nan  # the third block of 32 rows
    with pytest.raises(ValueError, match=r"Input X contains NaN: row 70 of the h5py Dataset"):
        tiny_estimator().fit(_hdf5(X, tmp_path))
    fitted = tiny_estimator(max_iter=2).fit(tabular)
    X[70, 3] = np.inf
    with pytest.raises(ValueError, match=r"contains infinity: row 70 of the numpy memmap"):
        fitted.predict(_memmap(X, tmp_path))


def test_wrong_width_and_too_few_samples_are_refused(tabular, tmp_path):
    fitted = tiny_estimator(max_iter=2).fit(tabular)
    with pytest.raises(ValueError, match="features, but MFCVAEClustering is expecting"):
        fitted.predict(_memmap(tabular[:, :-1], tmp_path))
    with pytest.raises(ValueError, match="features, but MFCVAEClustering is expecting"):
        fitted.transform(_ArrayDataset(tabular[:, :5]))
    with pytest.raises(ValueError, match=r"minimum of 2 is required"):
        tiny_estimator().fit(_memmap(tabular[:1], tmp_path))
    with pytest.raises(ValueError, match=r"minimum of 1 is required"):
        fitted.predict(_ArrayDataset(tabular[:0]))


def test_sources_that_are_not_numbers_or_not_rows_are_refused(tabular, tmp_path):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "words.h5", "w") as file:
        file.create_dataset("words", data=np.array([[b"a", b"b"]] * 5))
    with pytest.raises(ValueError, match="could not convert"):
        tiny_estimator().fit(h5py.File(tmp_path / "words.h5", "r")["words"])
    with pytest.raises(ValueError, match="Expected 2D array"):
        tiny_estimator().fit(_memmap(tabular[:, 0], tmp_path))

    class Ragged(_ArrayDataset):
        def __getitem__(self, index):
            return self.X[index][: 5 if index == 7 else None]

    with pytest.raises(ValueError, match="item 7 of the torch Dataset has shape"):
        tiny_estimator().fit(Ragged(tabular))

    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(tabular)

    with pytest.raises(TypeError, match="IterableDataset"):
        tiny_estimator().fit(Stream())


# ---------------------------------------------------------------------- dask
class _GuardedArray:
    """An array that counts the rows read and refuses to give more than ``max_rows`` at
    once: a dask array over it never materialises as a whole."""

    def __init__(self, X, max_rows):
        self.X, self.max_rows = X, max_rows
        self.shape, self.dtype, self.ndim = X.shape, X.dtype, X.ndim
        self.rows_read = 0

    def __getitem__(self, key):
        block = self.X[key]
        if len(block) > self.max_rows:
            raise AssertionError(f"asked for {len(block)} rows at once")
        self.rows_read += len(block)
        return block


def test_dask_prediction_is_lazy_and_equals_numpy(tabular):
    dask_array = pytest.importorskip("dask.array")
    import dask

    fitted = tiny_estimator(max_iter=2).fit(tabular)
    guarded = _GuardedArray(tabular, max_rows=40)
    X = dask_array.from_array(guarded, chunks=(40, 6), asarray=True)
    results = {
        "predict": (fitted.predict(X), fitted.predict(tabular)),
        "predict facet": (fitted.predict(X, facet=1), fitted.predict(tabular, facet=1)),
        "predict_proba": (fitted.predict_proba(X), fitted.predict_proba(tabular)),
        "transform": (fitted.transform(X), fitted.transform(tabular)),
        "score_samples": (fitted.score_samples(X), fitted.score_samples(tabular)),
    }
    assert guarded.rows_read == 0
    for name, (lazy, expected) in results.items():
        assert isinstance(lazy, dask_array.Array), name
        assert lazy.shape == expected.shape and lazy.dtype == expected.dtype, name
        assert lazy.chunks[0] == (40, 40, 40, 40), name
    computed = dask.compute(*(lazy for lazy, _ in results.values()), scheduler="sync")
    for (name, (_, expected)), values in zip(results.items(), computed):
        if name.startswith("predict") and name != "predict_proba":
            np.testing.assert_array_equal(values, expected)
        else:
            np.testing.assert_allclose(values, expected, rtol=1e-10, atol=1e-10)
    # One compute of the five shares the reads: each of the 4 x 3 blocks is read once.
    assert guarded.rows_read == 3 * len(tabular)
    # Fitting again does not change a lazy result made before.
    lazy = fitted.predict(X)
    fitted.set_params(random_state=1).fit(tabular[::-1])
    np.testing.assert_array_equal(lazy.compute(scheduler="sync"), results["predict"][1])


def test_dask_prediction_checks_features_now_and_values_when_computed(tabular):
    dask_array = pytest.importorskip("dask.array")
    fitted = tiny_estimator(max_iter=2).fit(tabular)
    with pytest.raises(ValueError, match="features, but MFCVAEClustering is expecting"):
        fitted.predict(dask_array.zeros((10, 5), chunks=5))
    X = tabular.copy()
    X[3, 0] = np.nan
    lazy = fitted.transform(dask_array.from_array(X, chunks=20))
    with pytest.raises(ValueError, match="NaN"):
        lazy.compute(scheduler="sync")


def test_optional_libraries_are_not_imported_with_skmfc():
    code = ("import sys, numpy, skmfc, skmfc.data, skmfc.estimator\n"
            "from skmfc.data import as_source\n"
            "as_source(numpy.zeros((3, 2)))\n"
            "print(sorted({'h5py', 'zarr', 'dask'} & set(sys.modules)))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout
    assert output.strip() == "[]"


def test_plain_arrays_are_not_sources(tabular):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert as_source(tabular) is None
        assert as_source(tabular.tolist()) is None
        assert as_source(torch.as_tensor(tabular)) is None
