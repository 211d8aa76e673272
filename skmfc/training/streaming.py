"""Training data read from a source in pieces (a memmap, an HDF5 or zarr array, a torch
Dataset, ...), rather than held as one tensor.

:func:`~skmfc.training.train` takes, instead of a tensor, any *row reader*: an object
with ``len()``, ``shape``, a torch ``dtype`` and ``device`` (the host), and
``reader[rows]`` giving those rows (a slice, or a LongTensor of indices) as a tensor in
the module's input units. The training rows then reach the device a *piece* at a time,
and every epoch's order is drawn so that a piece comes from a few long runs of
consecutive rows, which a file reads quickly:

- the rows are cut into *blocks* of consecutive rows (a stored chunk of a chunked array,
  or about ``STREAM_BLOCK_BYTES`` of data), the blocks are put in a random order, and
  that sequence of rows is cut into pieces of ``piece_rows`` rows;
- the rows within each piece are shuffled, and batches are taken in that order.

Every row is still seen once per epoch, and both orders are drawn again every epoch,
but a batch mixes rows of the blocks of one piece only, not of the whole data set:
data stored sorted (by class, by time) give batches less varied than a full shuffle
would. When all rows fit in one piece the order is exactly the full shuffle of
:class:`~skmfc.training.schedule._Permutations`, so small data train as they do in memory.
"""

import torch

from skmfc.training.schedule import _Permutations
from skmfc.training.steps import _HostChunks

#: Training rows of a row reader reach the device in pieces of about this size.
STREAM_PIECE_BYTES = 32 * 2 ** 20
#: Blocks of consecutive rows, read as one, hold about this much data (or one stored chunk).
STREAM_BLOCK_BYTES = 2 ** 20


def is_row_reader(X):
    """Whether training data ``X`` is a row reader rather than a tensor."""
    return not torch.is_tensor(X)


class _BlockPermutations(_Permutations):
    """Orders of ``range(n_samples)`` in shuffled blocks and pieces (see the module's
    description), one per epoch, drawn from ``generator``; one can be drawn ahead without
    changing the sequence (:class:`~skmfc.training.schedule._Permutations`).

    Parameters
    ----------
    n_samples : int
    block_rows : int
        Rows per block of consecutive rows.
    piece_rows : int
        Rows per piece, shuffled together.
    generator : torch.Generator
    """

    def __init__(self, n_samples, block_rows, piece_rows, generator):
        super().__init__(n_samples, generator)
        self.block_rows, self.piece_rows = max(1, int(block_rows)), max(1, int(piece_rows))

    def _new(self):
        if self.n_samples <= self.piece_rows:
            return super()._new()
        n_blocks = -(-self.n_samples // self.block_rows)
        blocks = torch.randperm(n_blocks, generator=self.generator)
        rows = (blocks[:, None] * self.block_rows + torch.arange(self.block_rows)).reshape(-1)
        rows = rows[rows < self.n_samples]
        pieces = [piece[torch.randperm(len(piece), generator=self.generator)]
                  for piece in torch.split(rows, self.piece_rows)]
        return torch.cat(pieces)


class _ReaderChunks(_HostChunks):
    """Training data from a row reader, fed to the device a piece of whole batches at a
    time: what :class:`~skmfc.training.steps._HostChunks` does for a tensor in host memory,
    with the rows read (and standardised) by the reader instead of gathered from a tensor.

    The rows are read into two host buffers in turn (pinned on a GPU), each copied to the
    device without waiting, as there.

    Parameters
    ----------
    X : row reader
        See :mod:`skmfc.training.streaming`; ``X.chunk_rows`` (rows per stored chunk, or
        None) sets the blocks.
    device : torch.device
    batch_size : int
    chunk_rows : int, optional
        Rows per piece; by default about ``STREAM_PIECE_BYTES`` of data.
    labels : LongTensor, optional
        Guide labels of every row.
    """

    def __init__(self, X, device, batch_size, chunk_rows=None, labels=None):
        super().__init__(X, device, batch_size, chunk_rows, labels)
        self.block_rows = min(self.capacity, getattr(X, "chunk_rows", None)
                              or STREAM_BLOCK_BYTES // self.row_bytes)

    def permutations(self, generator):
        """The epochs' orders: :class:`_BlockPermutations` with these blocks and pieces."""
        return _BlockPermutations(len(self.X), self.block_rows, self.capacity, generator)

    def _chunk_bytes(self):
        return STREAM_PIECE_BYTES

    def _gather(self, rows, out):
        out.copy_(self.X[rows])
