"""The step engines: training steps run op by op (eager), replayed from CUDA graphs, or
fed from host memory in chunks; and one epoch over them.

Everything the host needs after an epoch is read back from the device in one transfer,
so the loop never waits on the device inside an epoch (on the CPU, where reading a value
costs nothing, every batch's loss is checked at once).
"""

import math
import warnings

import numpy as np
import torch

from skmfc._device import autocast
from skmfc.training.schedule import _batch_indices
from skmfc.training.state import _parameters_finite, _restore, _snapshot

# Training data that stay in host memory reach the device in chunks of about this size.
STREAM_CHUNK_BYTES = 256 * 2 ** 20


def _steps_for(steps, cuda_graphs, module, optimizer, X, free_nats, batch_size,
               precision, guide_labels=None, compile_loss=False):
    """The step runner for batches of ``batch_size``: ``steps`` itself when it fits, else a
    new one; returns it and whether CUDA graphs are (still) in use."""
    if cuda_graphs:
        if isinstance(steps, _CapturedSteps) and len(steps.batch_indices) == batch_size:
            return steps, True
        _release(steps)
        try:
            return _CapturedSteps(module, optimizer, X, free_nats, batch_size,
                                  precision, guide_labels, compile_loss), True
        except torch.cuda.OutOfMemoryError:
            raise
        except RuntimeError as error:
            warnings.warn(f"capturing the training step as a CUDA graph failed ({error}); "
                          "training goes on without CUDA graphs", RuntimeWarning, stacklevel=3)
            steps = None
    if steps is None:
        steps = _EagerSteps(module, optimizer, X, free_nats, precision, guide_labels,
                            compile_loss)
    return steps, False


def _release(steps):
    if isinstance(steps, _CapturedSteps):
        steps.release()
    return None


def _train_epoch(steps, chunks, orders, n_batches, weights_of_batch):
    """One pass over the training data in ``n_batches`` shuffled batches of equal size.

    Everything the host needs after the epoch (its ELBO, whether the weights are still
    finite, the clusters' shares) is read back from the device in one transfer, and the
    next epoch's order is drawn while the device works through this one.

    Parameters
    ----------
    steps : _EagerSteps or _CapturedSteps
        Runs the training steps on ``steps.X``.
    chunks : _HostChunks or None
        Feeds ``steps.X`` from host memory; None when ``steps.X`` is all of the data.
    orders : _Permutations
        Draws the batch order.
    n_batches : int
    weights_of_batch : callable
        ``weights_of_batch(batch)`` gives a batch's weights, shape (3, J): the facets'
        fade-in weights, their KL weights and their guide weights.

    Returns
    -------
    mean_elbo : float
        Mean ELBO of the epoch's batches; nan if a loss or, at the end, a weight was
        non-finite.
    cluster_shares : list of ndarray or None
        Per facet, each cluster's share of the epoch's posterior mass.
    """
    device = steps.X.device
    batches = _batch_indices(orders.draw(), n_batches)
    # Only this process's rows of every batch are gathered (or read from a file): with
    # data-parallel steps, its slice of each batch.
    rows_here = steps.rows_trained_here(batches)
    weights = torch.as_tensor(np.array([weights_of_batch(batch) for batch in range(n_batches)]),
                              dtype=steps.X.dtype).to(device, non_blocking=True)
    steps.reset_sums()
    if chunks is None:
        finite = steps.run(rows_here.to(device, non_blocking=True), weights)
    else:
        finite = chunks.run(steps, rows_here, weights)
    orders.draw_ahead()
    if not finite:
        return math.nan, None
    mass_sums = steps.mass_sums
    summary = torch.cat([value.reshape(-1).double() for value in (
        steps.elbo_sum, _parameters_finite(steps.module), *mass_sums)]).cpu().numpy()
    if summary[1] != 1.0:
        return math.nan, None
    shares = np.split(summary[2:] / batches.numel(), np.cumsum([len(m) for m in mass_sums])[:-1])
    return float(summary[0]) / n_batches, shares


class _EagerSteps:
    """Training steps run op by op: gather a batch, loss (under bf16 autocast with
    ``precision="bfloat16"``), backward, Adam. On the CPU, where reading a value costs
    nothing, every batch's loss is checked; elsewhere the losses are folded into the
    epoch's ELBO sum and read once per epoch.
    """

    def __init__(self, module, optimizer, X, free_nats, precision="float32",
                 guide_labels=None, compile_loss=False):
        self.module, self.optimizer, self.X, self.free_nats = module, optimizer, X, free_nats
        self.loss = torch.compile(module.loss) if compile_loss else module.loss
        self.guide_labels = guide_labels
        self.check_each_batch = X.device.type == "cpu"
        self.autocast = autocast(X.device, precision)
        self.elbo_sum = torch.zeros((), dtype=X.dtype, device=X.device)
        self.mass_sums = [torch.zeros(prior.n_clusters, dtype=X.dtype, device=X.device)
                          for prior in module.priors]

    def step(self, batch_indices, weights):
        """One optimiser step on the rows ``batch_indices`` with ``weights`` (fade-in,
        KL and guide weights, shape (3, J)); returns the loss."""
        guide_targets = (None if self.guide_labels is None
                         else self.guide_labels.index_select(0, batch_indices))
        with self.autocast:
            loss, elbo, cluster_mass = self.loss(
                self.X.index_select(0, batch_indices), weights[0], weights[1],
                self.free_nats, guide_targets, weights[2])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        # 0 * loss is 0 for a finite loss and nan otherwise: a bad loss anywhere in the
        # epoch shows in the sum, read once at the end.
        self.elbo_sum += elbo.float() + 0.0 * loss.detach().float()
        for mass_sum, mass in zip(self.mass_sums, cluster_mass):
            mass_sum += mass
        return loss

    def rows_trained_here(self, batches):
        """The columns of ``batches`` (rows of indices into the training data) that these
        steps train: all of them, in one process."""
        return batches

    def run(self, batches, weights):
        """Run the batches (rows of indices into ``X``, as :meth:`rows_trained_here`
        chose them), adding to ``elbo_sum`` and ``mass_sums``; False if a loss checked on
        the way was not finite."""
        for batch_indices, batch_weights in zip(batches, weights):
            loss = self.step(batch_indices, batch_weights)
            if self.check_each_batch and not bool(torch.isfinite(loss)):
                return False
        return True

    def reset_sums(self):
        self.elbo_sum.zero_()
        for mass_sum in self.mass_sums:
            mass_sum.zero_()


class _CapturedSteps(_EagerSteps):
    """Training steps replayed from one CUDA graph.

    The whole step (batch gather, forward, backward, Adam update and the epoch sums) of
    one batch size is captured once; each batch then costs two small copies (its row
    indices and fade-in weights into the graph's input buffers) and one graph launch,
    instead of hundreds of kernel launches from Python. Capturing needs a few warm-up
    steps; the weights and optimizer state from before them are put back.
    """

    WARMUP_STEPS = 3

    def __init__(self, module, optimizer, X, free_nats, batch_size, precision="float32",
                 guide_labels=None, compile_loss=False):
        super().__init__(module, optimizer, X, free_nats, precision, guide_labels,
                         compile_loss)
        self.check_each_batch = False
        self.batch_indices = torch.zeros(batch_size, dtype=torch.long, device=X.device)
        self.weights = torch.ones(3, module.n_facets, dtype=X.dtype, device=X.device)
        before = _snapshot(module, optimizer)
        try:
            side_stream = torch.cuda.Stream(X.device)
            side_stream.wait_stream(torch.cuda.current_stream(X.device))
            with torch.cuda.stream(side_stream):
                for _ in range(self.WARMUP_STEPS):
                    self.step(self.batch_indices, self.weights)
            torch.cuda.current_stream(X.device).wait_stream(side_stream)
            self.graph = torch.cuda.CUDAGraph()
            optimizer.zero_grad(set_to_none=True)
            with torch.cuda.graph(self.graph):
                self.step(self.batch_indices, self.weights)
        finally:
            _restore(module, optimizer, before)

    def run(self, batches, weights):
        for batch_indices, batch_weights in zip(batches, weights):
            self.batch_indices.copy_(batch_indices)
            self.weights.copy_(batch_weights)
            self.graph.replay()
        return True

    def release(self):
        """Free the graph's memory and leave no gradients pointing into it."""
        del self.graph
        self.optimizer.zero_grad(set_to_none=True)


class _HostChunks:
    """Training data in host memory, fed to the device a chunk of whole batches at a time
    (of this process's slices of them, with data-parallel steps: no other rows are
    gathered).

    Each chunk's rows are gathered on the host into one of two pinned buffers (on CUDA)
    and copied to ``device_rows`` without waiting; the steps then index ``device_rows``.
    The copy is queued behind the previous chunk's steps, and the host gathers the next
    chunk into the other buffer while the device trains, so only the transfer itself is
    not overlapped.
    """

    def __init__(self, X, device, batch_size, chunk_rows=None, labels=None):
        self.row_bytes = max(1, int(torch.Size(X.shape[1:]).numel()) * X.element_size())
        rows = chunk_rows if chunk_rows is not None else self._chunk_bytes() // self.row_bytes
        self.capacity = max(int(rows), int(batch_size))
        self.X = X
        self.on_cuda = device.type == "cuda"
        shape, dtype = (self.capacity, *X.shape[1:]), X.dtype
        self.staging = [torch.empty(shape, dtype=dtype, pin_memory=self.on_cuda)
                        for _ in range(2)]
        self.copied = [None, None]
        # Zeros, not garbage: capturing a CUDA graph runs warm-up steps on these rows.
        self.device_rows = torch.zeros(shape, dtype=dtype, device=device)
        # Guide labels are small: all of them live on the device, and each chunk's are
        # gathered there into `device_labels`, which the steps index like `device_rows`.
        self.labels = None if labels is None else labels.to(device)
        self.device_labels = (None if labels is None else
                              torch.zeros((self.capacity, labels.shape[1]), dtype=labels.dtype,
                                          device=device))
        self.local_indices = torch.arange(self.capacity, device=device)

    def run(self, steps, batches, weights):
        """:meth:`_EagerSteps.run` over ``batches`` (rows of indices into the host ``X``,
        as :meth:`_EagerSteps.rows_trained_here` chose them), chunk by chunk; False if a
        checked loss was not finite."""
        per_chunk = max(1, self.capacity // batches.shape[1])
        for index, start in enumerate(range(0, len(batches), per_chunk)):
            chunk = batches[start:start + per_chunk]
            self._stage(chunk.reshape(-1), slot=index % 2)
            if self.labels is not None:
                rows = chunk.reshape(-1).to(self.labels.device, non_blocking=True)
                torch.index_select(self.labels, 0, rows, out=self.device_labels[:len(rows)])
            local = self.local_indices[:chunk.numel()].view(chunk.shape)
            if not steps.run(local, weights[start:start + per_chunk]):
                return False
        return True

    def _chunk_bytes(self):
        """Data per chunk when ``chunk_rows`` is not given."""
        return STREAM_CHUNK_BYTES

    def _gather(self, rows, out):
        """Host rows ``rows`` of ``X`` into the host buffer ``out``."""
        torch.index_select(self.X, 0, rows, out=out)

    def _stage(self, rows, slot):
        staging = self.staging[slot][:len(rows)]
        if self.copied[slot] is not None:
            self.copied[slot].synchronize()  # its last copy to the device has been read
        self._gather(rows, staging)
        self.device_rows[:len(rows)].copy_(staging, non_blocking=True)
        if self.on_cuda:
            self.copied[slot] = torch.cuda.Event()
            self.copied[slot].record()
