"""The mixture priors' fits to the encoder: initialisation and refits by a Gaussian
mixture, and the re-seeding of dead clusters. The only scikit-learn below the estimator.
"""

import numpy as np
import torch
from sklearn.mixture import GaussianMixture

from skmfc.nn.inference import (INFERENCE_BATCH_SIZE, cluster_scores, encode_means,
                                encode_posteriors)

# The prior's Gaussian mixture is fitted to the posterior means of at most this many rows
# (hundreds per component for the usual K; its fit costs time in every progressive step).
GMM_MAX_SAMPLES = 10000
# Dead clusters are confirmed, and re-seeded onto poorly explained points, on a random
# subset of at most this many rows: enough for shares of a fraction of a percent, and
# one inference chunk instead of a pass over a large data set after an epoch.
RESEED_MAX_SAMPLES = INFERENCE_BATCH_SIZE


def _random_rows(X, max_rows, random_state):
    """``X`` itself, or a random subset of ``max_rows`` of its rows (kept in order) when it
    has more."""
    if len(X) <= max_rows:
        return X
    rows = np.random.RandomState(random_state).choice(len(X), max_rows, replace=False)
    return X[torch.as_tensor(np.sort(rows), device=X.device)]


@torch.no_grad()
def initialise_prior(module, facet, X, random_state, initial_variance=None):
    """Fit a diagonal Gaussian mixture to the current encoder's means and copy it in.

    Parameters
    ----------
    module : MFCVAE
    facet : int
    X : Tensor
        Training data, on the module's device or in host memory; a random subset of
        ``GMM_MAX_SAMPLES`` rows when it has more.
    random_state : int
        Seed of the Gaussian mixture fit (and of the subset).
    initial_variance : float, optional
        Variance of every component after initialisation; the mixture's own fitted
        variances when None.
    """
    # A random subset is plenty for a mixture in a few dimensions, and the fit on all of a
    # large data set would cost seconds of every progressive step.
    subset = _random_rows(X, GMM_MAX_SAMPLES, random_state)
    means = encode_means(module, subset)[facet].double().cpu().numpy()
    if not np.isfinite(means).all():
        raise FloatingPointError(
            f"the encoder gives non-finite latent means for facet {facet}; check X for extreme "
            "values or outliers, or use a smaller learning_rate")
    prior = module.priors[facet]
    n_clusters = prior.n_clusters
    scale = float(means.std(0).mean()) + 1e-12
    try:
        mixture = GaussianMixture(n_clusters, covariance_type="diag", random_state=random_state,
                                  reg_covar=1e-6 * scale ** 2 + 1e-12, max_iter=200)
        mixture.fit(means / scale)
        component_means = mixture.means_ * scale
        variances = mixture.covariances_ * scale ** 2
    except ValueError:
        # The means have (almost) no spread, e.g. for constant data: the mixture's
        # covariances collapse. Spread the components around the means' centre instead.
        spread = max(scale, 1e-2)
        rng = np.random.RandomState(random_state)
        component_means = means.mean(0) + spread * rng.standard_normal(
            (n_clusters, means.shape[1]))
        variances = np.full_like(component_means, spread ** 2)
    if initial_variance is not None:
        variances = np.full_like(component_means, initial_variance)
    as_tensor = dict(dtype=prior.means.dtype, device=prior.means.device)
    prior.set_components(torch.as_tensor(component_means, **as_tensor),
                         torch.as_tensor(variances, **as_tensor).clamp_min(prior.min_variance))


@torch.no_grad()
def reseed_dead_clusters(module, facets, X, min_share, cluster_shares=None, random_state=0):
    """Move clusters that hold almost no data onto the worst-explained points.

    The data (a random subset of ``RESEED_MAX_SAMPLES`` rows when there are more) are
    encoded once for all ``facets``. A cluster is dead when its total
    posterior mass ``sum_x q(c_j = k | x)`` is below ``min_share / K_j`` of the data.
    With ``cluster_shares`` (each cluster's share of the data as seen during the last
    epoch's batches, which costs nothing to collect), only facets with a cluster that
    looks dead there are encoded and checked, so most epochs need no pass over the data.
    Each dead cluster gets, as its mean, the posterior mean of one of the points with the
    lowest mixture density, the median variance of the live clusters, and an average
    mixing weight: this is how k-means and EM implementations revive empty clusters, and
    it keeps every cluster in use.

    Parameters
    ----------
    module : MFCVAE
    facets : sequence of int
    X : Tensor
        Training data, on the module's device or in host memory.
    min_share : float
    cluster_shares : list of ndarray or Tensor, optional
        Per facet of the module, shape (K_j,), summing to 1.
    random_state : int
        Seed of the subset.

    Returns
    -------
    int
        Number of clusters moved, over all ``facets``.
    """
    if cluster_shares is not None:
        facets = [facet for facet in facets if bool(
            (cluster_shares[facet] < min_share / module.priors[facet].n_clusters).any())]
    if len(facets) == 0:
        return 0
    posteriors = encode_posteriors(module, _random_rows(X, RESEED_MAX_SAMPLES, random_state))
    return sum(_reseed_facet(module, facet, *posteriors[facet], min_share) for facet in facets)


def _reseed_facet(module, facet, means, log_variances, min_share):
    prior = module.priors[facet]
    log_proba, log_evidence = cluster_scores(module, facet, means, log_variances)
    share = log_proba.exp().mean(0)
    dead = torch.nonzero(share < min_share / prior.n_clusters).flatten()
    if len(dead) == 0 or len(dead) == prior.n_clusters:
        return 0
    worst_points = torch.argsort(log_evidence)[:len(dead)]
    live = torch.ones(prior.n_clusters, dtype=torch.bool, device=share.device)
    live[dead] = False
    variances = prior.variances()
    new_means = prior.means.detach().clone()
    new_variances = variances.detach().clone()
    new_means[dead] = means[worst_points].to(new_means.dtype)
    new_variances[dead] = variances[live].median(dim=0).values
    weights = prior.log_weights().exp()
    weights[dead] = weights[live].mean()
    prior.set_components(new_means, new_variances, weights / weights.sum())
    return len(dead)
