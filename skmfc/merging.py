"""Merging the clusters of a facet that split one group: ``n_clusters="auto"``.

A facet given more clusters than its property has classes (ten clusters for three
colours) splits each class into several clusters that sit close together in its latent
space, and the adjusted Rand index against the property drops by half. With
``n_clusters="auto"`` every facet trains with an upper bound of clusters, and afterwards
the clusters of each facet are merged where its latent space shows fewer groups: the
centroids of the clusters (posterior means of their members) are joined by single-linkage
agglomeration, and the tree is cut at its largest relative jump in merge height when that
jump is at least ``MIN_GAP_RATIO``: there, the gap between groups is several times the
largest distance between neighbouring clusters inside a group. Where no such jump exists
(evenly spread clusters, as digit classes are) nothing is merged. Single linkage, not
Ward's: Ward's merge heights grow with the size of the groups, so evenly spaced clusters
would show jumps too. Each merged group becomes one mixture
component whose mean, variance and share are the moments of its members' posteriors
(an M-step on the merged partition).
"""

import numpy as np
import torch
from scipy.cluster.hierarchy import fcluster, linkage

# Upper bound of the clusters of every facet with n_clusters="auto".
AUTO_MAX_CLUSTERS = 10
# A cut of the single-linkage tree needs a merge this many times costlier than the one before.
MIN_GAP_RATIO = 2.0


def merge_groups(centroids, min_gap_ratio=MIN_GAP_RATIO):
    """Group cluster centroids that sit together, by the largest jump of a linkage tree.

    The tree is single-linkage agglomeration of the centroids.

    Parameters
    ----------
    centroids : ndarray of shape (n_clusters, n_dims)
        One point per cluster.
    min_gap_ratio : float, default=MIN_GAP_RATIO
        The tree is cut only where one merge height is at least this many times the
        one before it.

    Returns
    -------
    ndarray of shape (n_clusters,)
        Group index of every cluster, ``0 .. n_groups - 1`` in order of first appearance;
        ``arange(n_clusters)`` when nothing is merged.

    Examples
    --------
    >>> import numpy as np
    >>> from skmfc.merging import merge_groups
    >>> centroids = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.0, 5.1], [9.0, 0.0]])
    >>> merge_groups(centroids).tolist()
    [0, 0, 1, 1, 2]
    >>> merge_groups(np.array([[0.0], [1.0], [2.0], [3.0]])).tolist()
    [0, 1, 2, 3]
    """
    centroids = np.asarray(centroids, dtype=np.float64)
    n_clusters = len(centroids)
    identity = np.arange(n_clusters)
    if n_clusters < 3:
        return identity
    tree = linkage(centroids, method="single")
    heights = tree[:, 2]
    # The first merge of exact duplicates has height 0: any later merge is a jump.
    ratios = heights[1:] / np.maximum(heights[:-1], 1e-12 * max(heights[-1], 1e-300))
    jump = int(np.argmax(ratios))
    if not ratios[jump] >= min_gap_ratio:
        return identity
    n_groups = n_clusters - (jump + 1)
    groups = fcluster(tree, n_groups, criterion="maxclust") - 1
    # Renumber in order of first appearance, so the groups keep the clusters' order.
    _, first = np.unique(groups, return_index=True)
    order = np.argsort(first)
    renumber = np.empty_like(order)
    renumber[groups[first[order]]] = np.arange(len(order))
    return renumber[groups]


@torch.no_grad()
def merged_components(means, log_variances, log_proba, groups, min_variance):
    """Mixture components of the merged groups, from the members' posteriors.

    Parameters
    ----------
    means, log_variances : Tensor of shape (n_samples, d)
        Posterior ``q(z_j | x)`` of the facet's training samples.
    log_proba : Tensor of shape (n_samples, K)
        ``log q(c_j | x)`` under the unmerged prior.
    groups : ndarray of shape (K,)
        Group of every cluster (see :func:`merge_groups`).
    min_variance : float
        Floor of the variances.

    Returns
    -------
    means, variances : Tensor of shape (n_groups, d)
        Moments of the aggregated posterior of each group (the variance includes the
        posteriors' own variances).
    weights : Tensor of shape (n_groups,)
        Each group's share of the posterior mass.
    """
    group_index = torch.as_tensor(groups, device=means.device)
    n_groups = int(groups.max()) + 1
    membership = torch.zeros(len(means), n_groups, dtype=means.dtype, device=means.device)
    membership.index_add_(1, group_index, log_proba.exp().to(means.dtype))
    mass = membership.sum(0).clamp_min(1e-12)
    group_means = membership.T @ means / mass[:, None]
    second_moment = membership.T @ (means ** 2 + log_variances.exp()) / mass[:, None]
    variances = (second_moment - group_means ** 2).clamp_min(min_variance)
    return group_means, variances, mass / mass.sum()


@torch.no_grad()
def merge_module_clusters(module, X, min_gap_ratio=MIN_GAP_RATIO, random_state=0):
    """A copy of ``module`` whose facets' over-split clusters are merged.

    Parameters
    ----------
    module : MFCVAE
        A trained module.
    X : Tensor
        Training data, on the module's device or in host memory; a random subset of
        ``GMM_MAX_SAMPLES`` rows when it has more.
    min_gap_ratio : float, default=MIN_GAP_RATIO
        See :func:`merge_groups`.
    random_state : int, default=0
        Seed of the subset.

    Returns
    -------
    MFCVAE
        ``module`` itself when no facet has clusters to merge; otherwise a new module
        with the same weights and, for every merged facet, fewer mixture components
        (``merged.config["n_clusters"]``). Mixing weights are the groups' shares when
        the module learns them, uniform otherwise.
    """
    from skmfc.nn import MFCVAE
    from skmfc.nn.inference import encode_posteriors
    from skmfc.training.priors import GMM_MAX_SAMPLES, _random_rows

    subset = _random_rows(X, GMM_MAX_SAMPLES, random_state)
    posteriors = encode_posteriors(module, subset)
    new_components = {}
    for facet, (means, log_variances) in enumerate(posteriors):
        prior = module.priors[facet]
        log_proba = module.cluster_log_posterior(facet, means, log_variances)
        labels = log_proba.argmax(1)
        counts = torch.bincount(labels, minlength=prior.n_clusters)
        used = torch.nonzero(counts > 0).flatten()
        if len(used) < 3:
            continue
        centroids = torch.stack([means[labels == cluster].mean(0) for cluster in used])
        used_groups = merge_groups(centroids.double().cpu().numpy(), min_gap_ratio)
        if used_groups.max() + 1 == len(used) and len(used) == prior.n_clusters:
            continue
        # A cluster no sample chose joins the group whose centroid is nearest its mean.
        nearest_used = torch.cdist(prior.means.detach().to(centroids.dtype),
                                   centroids).argmin(1).cpu().numpy()
        groups = used_groups[nearest_used]
        groups[used.cpu().numpy()] = used_groups
        new_components[facet] = merged_components(means, log_variances, log_proba, groups,
                                                  prior.min_variance)
    if not new_components:
        return module
    config = dict(module.config)
    config["n_clusters"] = tuple(len(new_components[facet][2]) if facet in new_components
                                 else prior.n_clusters
                                 for facet, prior in enumerate(module.priors))
    parameter = next(module.parameters())
    merged = MFCVAE.from_config(config).to(device=parameter.device, dtype=parameter.dtype)
    state = {key: value for key, value in module.state_dict().items()
             if not any(key.startswith(f"priors.{facet}.") for facet in new_components)}
    merged.load_state_dict(state, strict=False)
    for facet, (means, variances, weights) in new_components.items():
        prior = merged.priors[facet]
        prior.set_components(means.to(prior.means.dtype), variances.to(prior.means.dtype),
                             weights.to(prior.means.dtype) if config["learn_weights"] else None)
    merged.train(module.training)
    return merged
