"""Standard normal noise that is a function of a sample's values and a seed alone.

:meth:`MFCVAEClustering.score_samples` draws one posterior sample per row. Drawn from
one random stream, a row's sample (and so its score) would depend on the rows before
it; keyed by the row's own values instead, a row scores the same alone, in any batch
and in any order, while different rows still get independent-looking draws.
"""

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(bits):
    """The splitmix64 finaliser: uint64 array -> well-mixed uint64 array (wrapping)."""
    bits = (bits ^ (bits >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    bits = (bits ^ (bits >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return bits ^ (bits >> np.uint64(31))


def row_noise(X, dims, seed):
    """Standard normal draws for every row of X, keyed by the row's values and ``seed``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The rows; float32 and float64 copies of the same values give the same draws.
    dims : sequence of int
        Number of draws per row of each block (a facet's latent dimension).
    seed : int
        A non-negative seed.

    Returns
    -------
    noise : list of ndarray of shape (n_samples, dims[j])
        One float64 block per entry of ``dims``.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    columns = _mix(np.arange(1, X.shape[1] + 1, dtype=np.uint64) * _GOLDEN)
    keys = np.bitwise_xor.reduce(_mix(X.view(np.uint64) ^ columns), axis=1)
    keys = _mix(keys ^ _mix(np.array([seed], dtype=np.uint64) * _GOLDEN))
    total = int(sum(dims))
    counters = np.arange(1, 2 * total + 1, dtype=np.uint64) * _GOLDEN
    uniform = (_mix(keys[:, np.newaxis] + counters) >> np.uint64(11)) * 2.0 ** -53
    # Box-Muller; 1 - u lies in (0, 1], so the logarithm is finite.
    normal = np.sqrt(-2.0 * np.log1p(-uniform[:, :total])) * np.cos(
        2.0 * np.pi * uniform[:, total:])
    return np.split(normal, np.cumsum(dims)[:-1], axis=1)
