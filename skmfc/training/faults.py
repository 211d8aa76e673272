"""What training does when something goes wrong, or stops going anywhere: the rules of
its fault handling (a non-finite epoch, running out of memory, Ctrl-C) and of early
stopping, as small objects the loop consults.

Each rule decides from plain numbers and says what to do (a new learning rate or batch
size and the warning that says so, the state to keep, or an error to raise); the loop
rolls the module back and issues the warning. So the rules can be checked without
training and without replacing anything inside the loop.
"""

import math

import torch

# A non-finite epoch is retried this many times, each with half the learning rate.
MAX_NONFINITE_RETRIES = 3
# Out of GPU memory, the batch size is halved down to this and no further.
MIN_BATCH_SIZE = 8


class AdvisedOutOfMemoryError(torch.cuda.OutOfMemoryError):
    """The device ran out of memory even in the smallest batches; the message says what
    to change, so callers pass it on as it is."""


class NonFiniteRetries:
    """Retries of an epoch whose loss or weights became non-finite, each with half the
    learning rate, at most ``max_retries`` in a row.

    Parameters
    ----------
    max_retries : int
        Retries allowed in a row before :meth:`failed` raises.
    """

    def __init__(self, max_retries=MAX_NONFINITE_RETRIES):
        self.max_retries = max_retries
        self.failures = 0

    def failed(self, epoch, learning_rate):
        """An epoch went non-finite: the learning rate of its retry.

        Parameters
        ----------
        epoch : int
            The epoch (from 0).
        learning_rate : float
            The learning rate it ran with.

        Returns
        -------
        learning_rate : float
            Half of it, for the retry.
        message : str
            The warning that says so.

        Raises
        ------
        FloatingPointError
            When this is the ``max_retries + 1``-th failure in a row.
        """
        self.failures += 1
        if self.failures > self.max_retries:
            raise FloatingPointError(
                f"the loss or the weights became non-finite (inf or nan) in epoch "
                f"{epoch + 1}, and again in each of {self.max_retries} "
                f"retries from the last good state with the learning rate halved "
                f"down to {learning_rate:.3g}. Use a smaller "
                "learning_rate, check X for extreme values or outliers (scale it, "
                "e.g. with sklearn.preprocessing.RobustScaler), or raise "
                "likelihood_std")
        learning_rate /= 2.0
        return learning_rate, (
            f"the loss or the weights became non-finite in epoch {epoch + 1}; "
            "training went back to the state after the last good epoch and runs "
            f"epoch {epoch + 1} again with learning rate {learning_rate:.3g}")

    def succeeded(self):
        """An epoch ended finite: the count of failures in a row starts again."""
        self.failures = 0


def halve_batch_size(batch_size, min_batch_size, epoch, reason):
    """The batch size after the device ran out of memory in an epoch.

    Parameters
    ----------
    batch_size : int
        The batch size that ran out of memory.
    min_batch_size : int
        The smallest batch size to try.
    epoch : int
        The epoch (from 0).
    reason : str
        The first line of the out-of-memory error.

    Returns
    -------
    batch_size : int
        Half of it.
    message : str
        The warning that says so.

    Raises
    ------
    AdvisedOutOfMemoryError
        (a ``torch.cuda.OutOfMemoryError``) when half of it is below ``min_batch_size``,
        with advice.
    """
    smaller = batch_size // 2
    if smaller < min_batch_size:
        raise AdvisedOutOfMemoryError(
            f"the device ran out of memory in epoch {epoch + 1} at batch size "
            f"{batch_size} ({reason}); the network does not fit "
            "in memory even in small batches: use smaller hidden_sizes, or "
            "device='cpu'")
    return smaller, (
        f"the device ran out of memory in epoch {epoch + 1} at batch size "
        f"{batch_size}; epoch {epoch + 1} runs again with batch size "
        f"{smaller} (set a smaller batch_size to avoid this)")


class EarlyStopping:
    """Watches an ELBO epoch by epoch: its best value, and whether it has stopped
    improving.

    Parameters
    ----------
    tol : float
        Absolute improvement over the best value below which an epoch counts as no
        improvement.
    n_iter_no_change : int
        Epochs without improvement after which the ELBO counts as converged.

    Attributes
    ----------
    best : float or None
        The best finite value so far.
    no_improvement : int
        Epochs in a row without improvement.
    converged : bool
        Whether ``no_improvement`` has reached ``n_iter_no_change``.
    """

    def __init__(self, tol, n_iter_no_change):
        self.tol, self.n_iter_no_change = tol, n_iter_no_change
        self.best, self.no_improvement, self.converged = None, 0, False

    def update(self, watched):
        """Record one epoch's value.

        Parameters
        ----------
        watched : float
            The epoch's ELBO (may be non-finite).

        Returns
        -------
        bool
            Whether it is the best so far (the weights worth keeping).
        """
        improved = self.best is None or (math.isfinite(watched)
                                         and watched > self.best + self.tol)
        self.no_improvement = 0 if improved else self.no_improvement + 1
        new_best = math.isfinite(watched) and (self.best is None or watched > self.best)
        if new_best:
            self.best = watched
        self.converged = self.no_improvement >= self.n_iter_no_change
        return new_best


def state_kept_on_interrupt(n_completed_epochs, last_completed, best_validated=None):
    """The module state training keeps when Ctrl-C (a ``KeyboardInterrupt``) stops it.

    Training ends with what it has completed rather than losing it: the weights of the
    best validated epoch when early stopping has chosen one, else those after the last
    completed epoch; with no epoch completed there is nothing to keep, and the interrupt
    goes on up.

    Parameters
    ----------
    n_completed_epochs : int
        Epochs completed before the interrupt.
    last_completed : dict
        The module's state dict after the last completed epoch.
    best_validated : dict, optional
        The module's state dict after the best validated epoch, if any.

    Returns
    -------
    dict or None
        The state dict to load into the module; None when the interrupt is to be raised
        again.
    """
    if n_completed_epochs == 0:
        return None
    return last_completed if best_validated is None else best_validated
