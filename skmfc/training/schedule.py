"""The progressive schedule: how the epochs are shared among the facets, and the weights
of every batch (the facets' fade-in, the KL warm-up, the guide's pull), and the order of
the batches.

Plain numbers in, plain numbers out (numpy, and torch for the batch order), so that every
rule of the schedule can be checked without training.
"""

from dataclasses import dataclass

import numpy as np
import torch

from skmfc.training.config import GuideConfig


def split_epochs(max_iter, n_facets, progressive=True):
    """Share ``max_iter`` epochs among the progressive steps, earliest steps first.

    >>> split_epochs(10, 3)
    [4, 3, 3]
    >>> split_epochs(10, 3, progressive=False)
    [10]

    Raises
    ------
    ValueError
        When a progressive step would get no epoch, and its facet no training.
    """
    if not progressive or n_facets == 1:
        return [max_iter]
    if max_iter < n_facets:
        raise ValueError(
            f"max_iter={max_iter} is too few epochs for progressive training of "
            f"n_facets={n_facets}: each facet needs a step of at least one epoch, so "
            f"max_iter must be at least {n_facets} (or use progressive=False)")
    base, extra = divmod(max_iter, n_facets)
    return [base + (step < extra) for step in range(n_facets)]


def facet_weights_at(step, batch_in_step, fade_in_batches, n_facets, progressive=True):
    """Fade-in weights ``alpha = gamma`` of every facet at one training batch.

    Step 0 trains facet ``J-1`` alone; step ``s`` fades in facet ``J-1-s`` linearly from 0
    to 1 over ``fade_in_batches`` batches. Facets not yet switched on have weight 0.

    Returns
    -------
    ndarray of shape (J,)
    """
    weights = np.zeros(n_facets)
    if not progressive:
        weights[:] = 1.0
        return weights
    newest = n_facets - 1 - step
    weights[newest + 1:] = 1.0
    if step == 0:
        weights[newest] = 1.0
    else:
        weights[newest] = min(1.0, (batch_in_step + 1) / max(fade_in_batches, 1))
    return weights


def guide_weights_at(epoch, n_epochs, strength):
    """Weight of each facet's guide in epoch ``epoch`` (from 0): ``strength`` fading
    linearly to 0 at the end of training, so that the network has the last word.

    >>> guide_weights_at(5, 10, [10.0, 0.0])
    array([5., 0.])
    """
    return np.asarray(strength, dtype=float) * max(0.0, 1.0 - epoch / max(n_epochs, 1))


def kl_warmup_at(batch, n_batches_in_all, fraction):
    """Weight of the KL terms at a batch (counted from 0 over all of training): rising
    linearly to 1 over the first ``fraction`` of the batches, 1 with ``fraction`` 0.

    >>> [kl_warmup_at(batch, 8, 0.5) for batch in range(5)]
    [0.25, 0.5, 0.75, 1.0, 1.0]
    """
    warmup_batches = fraction * n_batches_in_all
    if warmup_batches <= 0:
        return 1.0
    return min(1.0, (batch + 1) / warmup_batches)


def _batch_weights(facet_weights, guide, epoch, n_epochs, kl_weight=1.0):
    """A batch's weights in epoch ``epoch`` of ``n_epochs``, shape (3, J): the facets'
    fade-in weights (decoder inputs), their KL weights (fade-in times the KL warm-up),
    and guide weights (0 without a guide; a facet not switched on yet is not pulled
    either)."""
    guide_weights = (np.zeros_like(facet_weights) if guide is None else
                     facet_weights * guide_weights_at(epoch, n_epochs, guide.strength))
    return np.stack([facet_weights, kl_weight * facet_weights, guide_weights])


@dataclass(frozen=True)
class Schedule:
    """The schedule of one training run: which facets train in which step, and the
    weights of every batch.

    Attributes
    ----------
    epochs_per_step : tuple of int
        Epochs of each progressive step (see :func:`split_epochs`).
    fade_in_fraction : float
        Fraction of a step's batches over which a new facet fades in.
    n_facets : int
        Number of facets ``J``.
    progressive : bool
        Whether facets are switched on one by one, deepest first.
    kl_warmup_fraction : float
        Fraction of all batches over which the KL weight rises from 0 to 1.
    guide : GuideConfig or None
        The guide's labels (of the rows the steps index) and strengths.
    """

    epochs_per_step: tuple
    fade_in_fraction: float
    n_facets: int
    progressive: bool = True
    kl_warmup_fraction: float = 0.0
    guide: GuideConfig = None

    @property
    def n_epochs(self):
        """Epochs in all."""
        return sum(self.epochs_per_step)

    @property
    def last_step(self):
        """The last step that has epochs (-1 when none has)."""
        return max((step for step, n in enumerate(self.epochs_per_step) if n > 0), default=-1)

    def facets_switched_on(self, step):
        """The facets whose priors are fitted when ``step`` begins."""
        return [self.n_facets - 1 - step] if self.progressive else range(self.n_facets)

    def fade_in_batches(self, step, n_batches):
        """Batches over which the facet of ``step`` fades in, with ``n_batches`` an epoch."""
        return max(1, int(round(self.fade_in_fraction * self.epochs_per_step[step] * n_batches)))

    def batch_weights(self, step, epoch_in_step, epoch, n_batches, batch):
        """Weights of batch ``batch`` of epoch ``epoch`` (the ``epoch_in_step``-th of
        ``step``), shape (3, J): see :func:`_batch_weights`."""
        facet_weights = facet_weights_at(step, epoch_in_step * n_batches + batch,
                                         self.fade_in_batches(step, n_batches), self.n_facets,
                                         self.progressive)
        kl_weight = kl_warmup_at(epoch * n_batches + batch, n_batches * self.n_epochs,
                                 self.kl_warmup_fraction)
        return _batch_weights(facet_weights, self.guide, epoch, self.n_epochs, kl_weight)

    def facet_weights_after(self, step, epoch_in_step, n_batches):
        """The facets' fade-in weights once the ``epoch_in_step``-th epoch of ``step`` has
        run: 1 for the facets fully switched on."""
        return facet_weights_at(step, (epoch_in_step + 1) * n_batches,
                                self.fade_in_batches(step, n_batches), self.n_facets,
                                self.progressive)

    def warmed_up_after(self, epoch, n_batches):
        """Whether the KL weight has reached 1 once epoch ``epoch`` has run."""
        return kl_warmup_at((epoch + 1) * n_batches, n_batches * self.n_epochs,
                            self.kl_warmup_fraction) == 1.0


def _batch_indices(order, n_batches):
    """The permutation ``order`` of the training rows cut into ``n_batches`` rows of equal
    length, shape (n_batches, ceil(len(order) / n_batches)).

    Equal sizes let every batch run the same computation (and one captured CUDA graph);
    the fewer than ``n_batches`` slots left over are filled with the permutation's first
    indices, so those examples are seen twice in the epoch.
    """
    batch_size = -(-len(order) // n_batches)
    padding = n_batches * batch_size - len(order)
    return torch.cat([order, order[:padding]]).view(n_batches, batch_size)


class _Permutations:
    """Random orders of ``range(n_samples)`` from one generator, in sequence; one can be
    drawn ahead (on the host, while the device trains) without changing the sequence."""

    def __init__(self, n_samples, generator):
        self.n_samples, self.generator = n_samples, generator
        self._ahead = None

    def draw(self):
        order = self._ahead if self._ahead is not None else self._new()
        self._ahead = None
        return order

    def draw_ahead(self):
        if self._ahead is None:
            self._ahead = self._new()

    def _new(self):
        return torch.randperm(self.n_samples, generator=self.generator)
