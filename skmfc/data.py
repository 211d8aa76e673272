"""Data that are read in pieces: numpy memmaps, HDF5 and zarr arrays, dask arrays and
torch datasets, seen as one kind of object, a :class:`RowSource`.

The estimator takes numpy arrays whole; anything :func:`as_source` recognises it reads
instead a block of rows at a time, so the data never need to fit in memory. Nothing
here imports h5py, zarr or dask: their arrays are recognised by the module their type
comes from, and read through the slicing they share with numpy.

Reading is done in *spans*, ranges of consecutive rows: :meth:`RowSource.read` sorts
the rows asked for, covers them with spans (rows closer together than the source's own
chunks, for a chunked store, share one span, so each stored chunk is decompressed once),
and gives the rows back in the order asked for.
"""

import mmap

import numpy as np

#: Rows read at once by :meth:`RowSource.blocks` when a caller does not say.
BLOCK_ROWS = 65536
#: A span read by :meth:`RowSource.read` covers at most this many rows (or one stored
#: chunk, where that is larger), so that memory stays bounded whatever rows are asked for.
MAX_SPAN_ROWS = 65536

# The libraries whose arrays are read in pieces, by the top-level module of their type.
_ARRAY_LIBRARIES = {"h5py": "h5py Dataset", "zarr": "zarr array", "dask": "dask array"}


def as_source(X):
    """``X`` as a :class:`RowSource` when it is data to read in pieces, else None.

    Recognised: a ``numpy.memmap`` (also what ``np.load(..., mmap_mode="r")`` gives), an
    h5py ``Dataset``, a zarr array, a dask array, and a map-style
    ``torch.utils.data.Dataset``. Everything else (numpy arrays, lists, pandas frames,
    sparse matrices, tensors) is None: the caller validates it whole, as before.

    Parameters
    ----------
    X : object
        The data, rows along the first axis.

    Returns
    -------
    RowSource or None
        The source that reads ``X``; None for data to be validated whole.
    """
    if isinstance(X, RowSource):
        return X
    if isinstance(X, np.memmap):
        return _MemmapSource(X)
    library = type(X).__module__.partition(".")[0]
    if library in _ARRAY_LIBRARIES and hasattr(X, "shape") and hasattr(X, "dtype"):
        return _ArraySource(X, _ARRAY_LIBRARIES[library])
    if _is_torch_dataset(X):
        return _DatasetSource(X)
    return None


def is_dask_array(X):
    """Whether ``X`` is a dask array, told without importing dask.

    Parameters
    ----------
    X : object
        Anything.

    Returns
    -------
    bool
        True for a ``dask.array.Array``.
    """
    return (type(X).__module__.partition(".")[0] == "dask"
            and hasattr(X, "map_blocks") and hasattr(X, "chunks"))


def _is_torch_dataset(X):
    import torch.utils.data

    return isinstance(X, torch.utils.data.Dataset)


class RowSource:
    """Rows of a data set read a span at a time.

    Attributes
    ----------
    kind : str
        What the data are, for messages ("h5py Dataset", ...).
    n_samples : int
        Number of rows.
    row_shape : tuple of int
        Shape of one row (one sample): ``(n_features,)`` or an image's shape.
    dtype : numpy.dtype
        Type of the values as stored.
    chunk_rows : int or None
        Rows per stored chunk, for a chunked store; reads are cheapest in whole chunks.
    """

    kind = "data"
    chunk_rows = None

    def __len__(self):
        return self.n_samples

    @property
    def shape(self):
        """``(n_samples, *row_shape)``."""
        return (self.n_samples, *self.row_shape)

    def read(self, rows):
        """Read rows, in the order asked for.

        Parameters
        ----------
        rows : slice or array-like of int
            A slice (with step 1) or row indices in any order, repeats allowed.

        Returns
        -------
        ndarray of shape (len(rows), ...)
            The rows (each of shape ``row_shape``), of the stored dtype.
        """
        if isinstance(rows, slice):
            start, stop, step = rows.indices(self.n_samples)
            if step == 1:
                return self._read_span(start, max(start, stop))
            rows = np.arange(start, stop, step)
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows) and (rows.min() < 0 or rows.max() >= self.n_samples):
            raise IndexError(f"rows out of range for {self.n_samples} rows of a {self.kind}")
        wanted, order = np.unique(rows, return_inverse=True)
        if len(wanted) == 0:
            return self._read_span(0, 0)
        pieces = [span[wanted[first:last] - start]
                  for start, first, last, span in self._spans_of(wanted)]
        return np.concatenate(pieces)[order.reshape(-1)]

    def _spans_of(self, wanted):
        """Yield ``(start, first, last, span)``: the rows ``wanted[first:last]`` (sorted,
        unique) lie in ``span``, the rows read from ``start`` on."""
        gap = self.chunk_rows or 1
        limit = max(MAX_SPAN_ROWS, self.chunk_rows or 0)
        # A new span starts where the next wanted row is a gap away, or too far.
        breaks = np.flatnonzero(np.diff(wanted) > gap) + 1
        first = 0
        for last in [*breaks.tolist(), len(wanted)]:
            while first < last:
                start = int(wanted[first])
                stop_index = first + int(np.searchsorted(wanted[first:last], start + limit))
                stop = int(wanted[stop_index - 1]) + 1
                yield start, first, stop_index, self._read_span(start, stop)
                first = stop_index

    def blocks(self, block_rows=None):
        """Yield ``(start, block)`` for consecutive blocks of ``block_rows`` rows.

        Parameters
        ----------
        block_rows : int, optional
            Rows per block (the last block may have fewer); ``BLOCK_ROWS`` by default.

        Yields
        ------
        start : int
            Index of the block's first row.
        block : ndarray of shape (rows, ...)
            The block's rows, each of shape ``row_shape``.
        """
        block_rows = block_rows or BLOCK_ROWS
        for start in range(0, self.n_samples, block_rows):
            yield start, self._read_span(start, min(start + block_rows, self.n_samples))

    def subset(self, rows):
        """The rows ``rows`` (sorted, unique) of this source, as a source of their own.

        Parameters
        ----------
        rows : ndarray of int
            Sorted, unique indices of rows of this source.

        Returns
        -------
        RowSource
            Its row ``i`` is row ``rows[i]`` of this source.
        """
        return _SubsetSource(self, np.asarray(rows, dtype=np.int64))

    def _read_span(self, start, stop):
        raise NotImplementedError


class _ArraySource(RowSource):
    """An array sliced by rows the numpy way: a memmap, an h5py Dataset, a zarr or dask
    array. A slice is read with ``np.asarray(data[start:stop])`` (which computes a dask
    array's slice)."""

    def __init__(self, data, kind):
        self.data, self.kind = data, kind
        shape = tuple(int(v) for v in data.shape)
        if len(shape) < 2:
            raise ValueError(f"Expected 2D array, got a {kind} of shape {shape}: give "
                             "samples along the first axis and features along the others")
        if any(v != v for v in data.shape):  # nan: a dask array of unknown chunk sizes
            raise ValueError(f"the {kind} has rows of unknown number (shape {data.shape}); "
                             "call compute_chunk_sizes() first")
        self.n_samples, self.row_shape = shape[0], shape[1:]
        self.dtype = _numeric_dtype(np.dtype(data.dtype), kind)
        self.chunk_rows = _stored_chunk_rows(data)

    def _read_span(self, start, stop):
        return np.asarray(self.data[start:stop])


class _MemmapSource(_ArraySource):
    """A numpy memmap. A memmap of a whole file (``np.memmap(path, ...)`` or
    ``np.load(path, mmap_mode="r")``) is read with ordinary file reads, so the rows read
    pass through the page cache without becoming part of the process's memory, as rows
    touched through the mapping would (its resident size would grow to the file's size
    over an epoch). Other memmaps (slices of one, copy-on-write ones) are copied from
    the mapping."""

    def __init__(self, data):
        super().__init__(data, "numpy memmap")
        whole_file = (isinstance(data.base, mmap.mmap) and data.flags.c_contiguous
                      and getattr(data, "filename", None) and data.mode in ("r", "r+", "w+"))
        self.file_offset = int(data.offset) if whole_file else None
        self.row_items = int(np.prod(self.row_shape))

    def _read_span(self, start, stop):
        if self.file_offset is None:
            return np.array(self.data[start:stop])
        offset = self.file_offset + start * self.row_items * self.data.dtype.itemsize
        values = np.fromfile(self.data.filename, dtype=self.data.dtype,
                             count=(stop - start) * self.row_items, offset=offset)
        return values.reshape(stop - start, *self.row_shape)


class _SubsetSource(RowSource):
    """Some rows of another source (held-out rows, or those left to train on)."""

    def __init__(self, source, rows):
        self.source, self.rows = source, rows
        self.kind, self.dtype, self.row_shape = source.kind, source.dtype, source.row_shape
        self.chunk_rows = source.chunk_rows
        self.n_samples = len(rows)

    def _read_span(self, start, stop):
        return self.source.read(self.rows[start:stop])


class _DatasetSource(RowSource):
    """A map-style ``torch.utils.data.Dataset``: item ``i`` is row ``i``, a tensor or array
    of the features, or a tuple or list whose first entry is (labels and other entries
    are ignored). Items are read one at a time, in the calling process."""

    kind = "torch Dataset"

    def __init__(self, dataset):
        self.dataset = dataset
        try:
            self.n_samples = len(dataset)
        except TypeError:
            raise TypeError("a torch Dataset must have a length (a map-style Dataset); an "
                            "IterableDataset cannot be read by rows") from None
        first = self._item(0) if self.n_samples else np.zeros((0,))
        self.row_shape = first.shape
        if len(self.row_shape) < 1:
            raise ValueError("Expected 2D array, got a torch Dataset whose items are "
                             "scalars: each item must hold one sample's features")
        self.dtype = _numeric_dtype(first.dtype, self.kind)

    def _item(self, index):
        item = self.dataset[index]
        if isinstance(item, (tuple, list)):
            item = item[0]
        if hasattr(item, "detach"):  # a tensor
            item = item.detach().cpu().numpy()
        return np.asarray(item)

    def _read_span(self, start, stop):
        items = [self._item(index) for index in range(start, stop)]
        for offset, item in enumerate(items):
            if item.shape != self.row_shape:
                raise ValueError(f"item {start + offset} of the torch Dataset has shape "
                                 f"{item.shape}, but item 0 has shape {self.row_shape}")
        if not items:
            return np.zeros((0, *self.row_shape), dtype=self.dtype)
        return np.stack(items)


def _numeric_dtype(dtype, kind):
    """``dtype`` if it holds real numbers (or booleans); a clear ValueError otherwise."""
    if dtype.kind == "c":
        raise ValueError(f"Complex data not supported: the {kind} holds {dtype}")
    if dtype.kind not in "biuf":
        raise ValueError(f"could not convert the {kind}'s values of type {dtype} to float: "
                         "X must hold numbers")
    return dtype


def _stored_chunk_rows(data):
    """Rows per stored chunk of an HDF5, zarr or dask array, None when it has none."""
    chunks = getattr(data, "chunks", None)
    if not chunks:
        return None
    first = chunks[0]
    if isinstance(first, tuple):  # dask: the sizes of every row block
        first = max(first) if first else None
    try:
        return int(first) if first else None
    except (TypeError, ValueError):
        return None


def check_rows(block, first_row, kind):
    """A block of rows as float32 or float64; a clear ValueError for NaN or infinity.

    Parameters
    ----------
    block : ndarray
        Rows read from a source.
    first_row : int or ndarray of int
        The index of the block's first row in the source (the rows are consecutive), or
        the index of every row.
    kind : str
        What the source is, for the message.

    Returns
    -------
    ndarray
        The block, in float32 when stored as float32 and in float64 otherwise.
    """
    dtype = np.float32 if block.dtype == np.float32 else np.float64
    block = np.asarray(block, dtype=dtype)
    finite = np.isfinite(block.reshape(len(block), -1)).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        rows = (first_row + bad if np.ndim(first_row) == 0 else np.asarray(first_row)[bad])
        what = "NaN" if np.isnan(block[bad[0]]).any() else "infinity"
        raise ValueError(f"Input X contains {what}: row {int(rows[0])} of the {kind} "
                         f"({len(bad)} bad rows in rows {int(np.min(rows))} to "
                         f"{int(np.max(rows))} of the block read); X must hold finite "
                         "numbers")
    return block


class RunningMoments:
    """Count, minimum, maximum, per-feature mean and variance of rows seen in blocks.

    Chan, Golub and LeVeque's pairwise update, in float64. After a single block the values are exactly numpy's ``min``, ``max``,
    ``mean(axis=0, dtype=float64)`` and ``var(axis=0, dtype=float64)`` of it; each further
    block changes them by rounding only.
    """

    def __init__(self):
        self.count, self.min, self.max, self.mean, self.var = 0, None, None, None, None

    def add(self, block):
        """Take in a block of rows.

        Parameters
        ----------
        block : ndarray of shape (n, n_features)
            Rows, finite.
        """
        if len(block) == 0:
            return
        n = len(block)
        block_min, block_max = block.min(), block.max()
        mean = block.mean(axis=0, dtype=np.float64)
        var = block.var(axis=0, dtype=np.float64)
        if self.count == 0:
            self.count, self.min, self.max, self.mean, self.var = (n, block_min, block_max,
                                                                   mean, var)
            return
        total = self.count + n
        delta = mean - self.mean
        with np.errstate(over="ignore", invalid="ignore"):
            squares = (self.var * self.count + var * n
                       + delta ** 2 * (self.count * n / total))
            self.mean = self.mean + delta * (n / total)
            self.var = squares / total
        self.count = total
        self.min, self.max = min(self.min, block_min), max(self.max, block_max)


class CheckedRows:
    """A :class:`RowSource` as validated flat rows.

    Every read is flattened to ``(rows, n_features)`` by ``flatten``, refused when it
    holds NaN or infinity (:func:`check_rows`), and shown to ``on_read``. This is what the estimator works with in place of a validated numpy array: ``len``,
    ``shape``, ``X[rows]`` (the rows ``rows``, sorted, as a new ``CheckedRows`` read
    lazily), ``min()`` and ``max()`` behave as they do for the array, and the values
    themselves come from :meth:`read` and :meth:`blocks`.

    Parameters
    ----------
    source : RowSource
        The data.
    flatten : callable
        ``flatten(block)`` gives a block's rows as a 2-D array.
    n_features : int
        Columns of a flattened row.
    on_read : callable, optional
        Called as ``on_read(rows)`` with every validated block.
    """

    def __init__(self, source, flatten, n_features, on_read=None):
        self.source, self.flatten, self.on_read = source, flatten, on_read
        self.shape = (len(source), int(n_features))
        self._moments = None

    @property
    def chunk_rows(self):
        """Rows per stored chunk of the source, or None."""
        return self.source.chunk_rows

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, rows):
        return CheckedRows(self.source.subset(rows), self.flatten, self.shape[1], self.on_read)

    def read(self, rows):
        """Read rows, validated and flat.

        Parameters
        ----------
        rows : slice or array-like of int
            As for :meth:`RowSource.read`.

        Returns
        -------
        ndarray of shape (len(rows), n_features)
            The rows, in float32 when stored as float32 and in float64 otherwise.
        """
        if isinstance(rows, slice):
            first_row = rows.indices(len(self))[0]
        else:
            first_row = rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        return self._checked(self.source.read(rows), first_row)

    def blocks(self, block_rows=None):
        """Yield consecutive validated blocks of rows.

        Parameters
        ----------
        block_rows : int, optional
            Rows per block; ``BLOCK_ROWS`` by default.

        Yields
        ------
        start : int
            Index of the block's first row.
        rows : ndarray of shape (rows, n_features)
            The block, validated and flat.
        """
        for start, block in self.source.blocks(block_rows):
            yield start, self._checked(block, start)

    def _checked(self, block, first_row):
        block = check_rows(self.flatten(block), first_row, self.source.kind)
        if self.on_read is not None:
            self.on_read(block)
        return block

    def moments(self):
        """Gather the moments of all rows in one pass over the data (then kept).

        Returns
        -------
        RunningMoments
            Count, minimum, maximum, per-feature mean and variance.
        """
        if self._moments is None:
            moments = RunningMoments()
            for _, block in self.blocks():
                moments.add(block)
            self._moments = moments
        return self._moments

    def min(self):
        """Smallest value, from :meth:`moments`.

        Returns
        -------
        number
            The smallest value of all rows.
        """
        return self.moments().min

    def max(self):
        """Largest value, from :meth:`moments`.

        Returns
        -------
        number
            The largest value of all rows.
        """
        return self.moments().max
