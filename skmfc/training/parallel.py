"""Data-parallel training on :mod:`torch.distributed`: the hooks :func:`~skmfc.training.train`
consults, for one process (:class:`SingleProcess`, which changes nothing) or for several
(:class:`DataParallel`).

With several processes (ranks), every rank holds the whole module, is given the whole
training data (a tensor, or a row reader of :mod:`skmfc.training.streaming`) and draws
the same batch order (the same seed); each trains on its slice of every batch, and the
gradients are summed over the ranks before every optimizer step. A rank gathers only the
rows of its slices (:meth:`_ShardedSteps.rows_trained_here`): from a row reader it reads
about ``1 / world_size`` of the rows per epoch, and from host memory it copies only
those to its device. Each step is then the step of one process on the whole batch, up
to the order of floating-point sums: the batch-mean KL under the free-nats floor is
summed over the ranks before the floor applies, and each rank's rows get the posterior
noise one process would draw for them. What training computes from the data outside
the steps (the prior fits, the re-seeding of dead clusters, the validation ELBO) is
computed once, on rank 0, and broadcast, so every rank holds the same module
throughout.
"""

import math
import pickle

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from skmfc.training.steps import _EagerSteps, _steps_for, _train_epoch


class SingleProcess:
    """The hooks of :func:`~skmfc.training.train` for training in one process: each
    does the plain thing."""

    rank = 0
    world_size = 1

    def steps_for(self, *args):
        """:func:`~skmfc.training.steps._steps_for` itself."""
        return _steps_for(*args)

    def train_epoch(self, *args):
        """:func:`~skmfc.training.steps._train_epoch` itself."""
        return _train_epoch(*args)

    def once(self, compute, *modules):
        """``compute()``."""
        return compute()

    def all_finite(self, finite):
        """``finite``."""
        return finite

    def finish(self, module):
        """Nothing to do."""


class DataParallel(SingleProcess):
    """Data-parallel training over the processes of a :mod:`torch.distributed` group.

    Every process of the group must call :func:`~skmfc.training.train` with the same
    module (the same weights), the same data and the same options.

    Parameters
    ----------
    group : ProcessGroup, optional
        The processes that train together; torch's default group when None. It must
        be initialised.

    Attributes
    ----------
    rank : int
        This process's rank in ``group``; rank 0 computes what is computed once.
    world_size : int
        The number of processes in ``group``.
    """

    def __init__(self, group=None):
        import torch.distributed as dist

        self._dist = dist
        self.group = group
        self.rank = dist.get_rank(group)
        self.world_size = dist.get_world_size(group)
        self._source = 0 if group is None else dist.get_global_rank(group, 0)
        # NCCL reduces CUDA tensors only; gloo is given host tensors, which it reduces
        # everywhere (its CUDA support covers fewer operations).
        backend = str(dist.get_backend(group))
        self._on_cuda = backend == "nccl"
        self._collective_device = (torch.device("cuda", torch.cuda.current_device())
                                   if self._on_cuda else torch.device("cpu"))

    # ------------------------------------------------------------------ hooks of train
    def steps_for(self, steps, cuda_graphs, module, optimizer, X, free_nats, batch_size,
                  precision, guide_labels=None, compile_loss=False):
        """Steps that train this rank's slice of every batch (never CUDA graphs)."""
        if compile_loss:
            raise ValueError("compile_loss is not supported in data-parallel training")
        if batch_size < self.world_size:
            raise ValueError(f"batches of {batch_size} rows cannot be shared among "
                             f"{self.world_size} processes: use a batch_size of at least "
                             "the number of processes")
        if steps is None:
            steps = _ShardedSteps(self, module, optimizer, X, free_nats, precision,
                                  guide_labels)
        return steps, False

    def train_epoch(self, steps, chunks, orders, n_batches, weights_of_batch):
        """:func:`~skmfc.training.steps._train_epoch` on this rank's slices, its ELBO
        and the clusters' shares summed over the ranks (nan on every rank when a loss
        or a weight was non-finite on one)."""
        mean_elbo, cluster_shares = _train_epoch(steps, chunks, orders, n_batches,
                                                 weights_of_batch)
        n_clusters = [prior.n_clusters for prior in steps.module.priors]
        summary = torch.full((1 + sum(n_clusters),), math.nan, dtype=torch.float64)
        summary[0] = mean_elbo
        if cluster_shares is not None:
            summary[1:] = torch.as_tensor(np.concatenate(cluster_shares))
        summary = self._sum(summary).numpy()
        self._average_batch_norm_statistics(steps.module)
        if not math.isfinite(summary[0]) or not np.isfinite(summary[1:]).all():
            return math.nan, None
        return float(summary[0]), np.split(summary[1:], np.cumsum(n_clusters)[:-1])

    def once(self, compute, *modules):
        """``compute()`` on rank 0, its result (or the error it raised) broadcast to
        every rank, and then the weights and buffers of ``modules`` too.

        ``compute``'s result must be picklable and hold no CUDA tensors.
        """
        result = error = None
        if self.rank == 0:
            try:
                result = compute()
            except Exception as caught:  # every rank raises it, below
                error = caught
        result, sent_error = self.broadcast_object(
            (result, None if error is None else _picklable(error)))
        if error is not None:
            raise error
        if sent_error is not None:
            raise sent_error
        for module in modules:
            self.broadcast_module(module)
        return result

    def all_finite(self, finite):
        """Whether ``finite`` holds on every rank."""
        flag = torch.tensor([1.0 if finite else 0.0])
        return bool(self._reduce(flag, self._dist.ReduceOp.MIN)[0] == 1.0)

    def finish(self, module):
        """Give every rank rank 0's weights and buffers: the same module everywhere even
        where a device's arithmetic is not deterministic."""
        self.broadcast_module(module)

    # ------------------------------------------------------------------ collectives
    def broadcast_object(self, value):
        """Rank 0's ``value`` (picklable, without CUDA tensors) on every rank."""
        holder = [value]
        self._dist.broadcast_object_list(holder, src=self._source, group=self.group,
                                         device=self._collective_device)
        return holder[0]

    def broadcast_module(self, module):
        """Copy rank 0's weights and buffers of ``module`` into every rank's, in place."""
        for tensor in module.state_dict().values():
            if self._on_cuda or tensor.device.type == "cpu":
                self._dist.broadcast(tensor, src=self._source, group=self.group)
            else:
                host = tensor.cpu()
                self._dist.broadcast(host, src=self._source, group=self.group)
                tensor.copy_(host)

    def sum_gradients(self, module):
        """Sum every parameter's gradient over the ranks, in one collective."""
        gradients = [parameter.grad for parameter in module.parameters()
                     if parameter.grad is not None]
        if not gradients:
            return
        total = self._sum(torch.cat([gradient.reshape(-1) for gradient in gradients]))
        offset = 0
        for gradient in gradients:
            gradient.copy_(total[offset:offset + gradient.numel()].view_as(gradient))
            offset += gradient.numel()

    def shard(self, n_rows):
        """This rank's rows of a batch of ``n_rows``: ``(start, stop)``, contiguous, the
        first ``n_rows % world_size`` ranks one row more than the others."""
        base, extra = divmod(n_rows, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return start, start + base + (self.rank < extra)

    def _sum(self, tensor):
        return self._reduce(tensor, self._dist.ReduceOp.SUM)

    def _reduce(self, tensor, op):
        """``tensor`` reduced over the ranks by ``op``: a new tensor of its dtype and
        device (reduced in float32 at least, which every backend supports)."""
        dtype = torch.promote_types(tensor.dtype, torch.float32)
        reduced = tensor.detach().to(self._collective_device, dtype, copy=True)
        self._dist.all_reduce(reduced, op=op, group=self.group)
        return reduced.to(tensor.device, tensor.dtype)

    def _average_batch_norm_statistics(self, module):
        """Average the running statistics of batch normalisation over the ranks, which
        each collected on its own slices."""
        for layer in module.modules():
            if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) \
                    and layer.running_mean is not None:
                for statistic in (layer.running_mean, layer.running_var):
                    statistic.copy_(self._sum(statistic) / self.world_size)


class _ShardedSteps(_EagerSteps):
    """Eager training steps on this rank's slice of every batch, with the gradients
    summed over the ranks before the optimizer steps.

    Each rank's loss is its share of the whole batch's loss (sums over its rows divided
    by the whole batch's size), so that the gradients summed over the ranks are those of
    the whole batch. Losses are not checked after each batch, even on the CPU: a rank
    that left the epoch early would leave the others waiting for its gradients; a
    non-finite loss shows in the epoch's ELBO sum, as on GPUs.
    """

    def __init__(self, parallel, module, optimizer, X, free_nats, precision="float32",
                 guide_labels=None):
        super().__init__(module, optimizer, X, free_nats, precision, guide_labels)
        self.parallel = parallel
        self.check_each_batch = False
        self.rows = None

    def rows_trained_here(self, batches):
        """This rank's columns of ``batches`` (:meth:`DataParallel.shard`), which
        :meth:`run` is then given: the only rows of the epoch this rank gathers, or reads
        from a row reader."""
        start, stop = self.parallel.shard(batches.shape[1])
        self.rows = (start, stop, batches.shape[1])
        return batches[:, start:stop]

    def step(self, batch_indices, weights):
        """One optimiser step of the whole batch, from this rank's ``batch_indices``;
        returns this rank's loss."""
        guide_targets = (None if self.guide_labels is None
                         else self.guide_labels.index_select(0, batch_indices))
        with self.autocast:
            loss, elbo, cluster_mass = _share_of_loss(
                self.module, self.X.index_select(0, batch_indices), self.rows, weights[0],
                weights[1], self.free_nats, guide_targets, weights[2], self.parallel._sum)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.parallel.sum_gradients(self.module)
        self.optimizer.step()
        self.elbo_sum += elbo.float() + 0.0 * loss.detach().float()
        for mass_sum, mass in zip(self.mass_sums, cluster_mass):
            mass_sum += mass
        return loss


def _share_of_loss(module, x, rows, facet_weights, kl_weights, free_nats, guide_targets,
                   guide_weights, sum_over_ranks):
    """One rank's share of :meth:`~skmfc.nn.MFCVAE.loss` on a batch shared by the ranks.

    Parameters
    ----------
    module : MFCVAE
    x : Tensor
        This rank's rows of the batch.
    rows : tuple of int
        ``(start, stop, n_rows)``: where ``x`` lies in the batch, and the batch's size.
    facet_weights, kl_weights, free_nats, guide_targets, guide_weights
        As for :meth:`~skmfc.nn.MFCVAE.loss`.
    sum_over_ranks : callable
        Sums a tensor over the ranks.

    Returns
    -------
    loss : Tensor
        Scalar whose gradients, summed over the ranks, are those of the whole batch's
        loss.
    elbo : Tensor
        This rank's share of the batch's weighted ELBO (the shares sum to it).
    cluster_mass : list of Tensor
        Per facet, ``sum_x q(c_j = k | x)`` over this rank's rows.
    """
    start, stop, n_rows = rows

    def noise_of_these_rows(mean):
        # One process draws the noise of the whole batch, row after row: each rank
        # draws it all and keeps its rows, so the ranks together use the same numbers.
        return torch.randn((n_rows, *mean.shape[1:]), dtype=mean.dtype,
                           device=mean.device)[start:stop]

    reconstruction, kl, scores = module._elbo_terms_and_scores(x, facet_weights,
                                                               noise=noise_of_these_rows)
    reconstruction_share = reconstruction.sum() / n_rows
    kl_share = kl.sum(0) / n_rows
    # The floor applies to the whole batch's mean KL: its value is summed over the
    # ranks; its gradient, this rank's share's (summed over the ranks with the rest).
    mean_kl = sum_over_ranks(kl_share.detach()) + (kl_share - kl_share.detach())
    loss = -reconstruction_share + (kl_weights * torch.maximum(mean_kl, free_nats)).sum()
    if guide_targets is not None:
        cross_entropy = torch.stack([
            F.cross_entropy(facet_scores, guide_targets[:, facet], reduction="sum")
            for facet, facet_scores in enumerate(scores)]) / n_rows
        loss = loss + (guide_weights * cross_entropy).sum()
    elbo = reconstruction_share - (kl_weights * kl_share).sum()
    cluster_mass = [torch.softmax(facet_scores.detach(), dim=-1).sum(0)
                    for facet_scores in scores]
    return loss, elbo.detach(), cluster_mass


def _picklable(error):
    """``error`` itself when it survives pickling (to reach the other ranks), else a
    RuntimeError that says what it was."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RuntimeError(f"rank 0 raised {type(error).__name__}: {error}")
