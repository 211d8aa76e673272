"""n_clusters="auto": over-split clusters of a facet are merged after training."""

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from skmfc import MFCVAEClustering
from skmfc.merging import AUTO_MAX_CLUSTERS, merge_groups, merged_components


def test_clusters_in_separate_clumps_merge_into_one_group_per_clump():
    rng = np.random.RandomState(0)
    clumps = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 0.0], [0.0, 6.0, 3.0]])
    centroids = np.concatenate([centre + 0.3 * rng.randn(4, 3) for centre in clumps])
    groups = merge_groups(centroids)
    assert groups.tolist() == [0] * 4 + [1] * 4 + [2] * 4


@pytest.mark.parametrize("n_clusters", [3, 10])
def test_evenly_spread_clusters_are_kept(n_clusters):
    # Digit-like: every cluster about as far from its neighbours as any other.
    rng = np.random.RandomState(1)
    centroids = np.arange(n_clusters)[:, None] * np.ones(2) + 0.05 * rng.randn(n_clusters, 2)
    assert merge_groups(centroids).tolist() == list(range(n_clusters))


def test_two_clusters_are_never_merged():
    assert merge_groups(np.array([[0.0], [0.001]])).tolist() == [0, 1]


def test_merged_components_are_the_moments_of_the_members():
    means = torch.tensor([[0.0], [2.0], [10.0], [12.0]], dtype=torch.float64)
    log_variances = torch.log(torch.full((4, 1), 0.5, dtype=torch.float64))
    # Hard assignments to clusters 0, 1, 2, 2; clusters 0 and 1 form group 0.
    proba = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]], dtype=torch.float64)
    group_means, variances, weights = merged_components(
        means, log_variances, torch.log(proba.clamp_min(1e-300)), np.array([0, 0, 1]), 1e-4)
    np.testing.assert_allclose(group_means.numpy(), [[1.0], [11.0]])
    # Spread of the member means (1) plus their posterior variance (0.5).
    np.testing.assert_allclose(variances.numpy(), [[1.5], [1.5]])
    np.testing.assert_allclose(weights.numpy(), [0.5, 0.5])


@pytest.fixture(scope="module")
def three_blobs():
    rng = np.random.RandomState(0)
    centres = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    labels = rng.randint(3, size=300)
    return centres[labels] + rng.randn(300, 2), labels


def test_auto_finds_the_number_of_clusters_of_well_separated_groups(three_blobs):
    X, labels = three_blobs
    est = MFCVAEClustering(n_facets=1, n_clusters="auto", latent_dim=2, hidden_sizes=32,
                           max_iter=40, device="cpu", random_state=0).fit(X)
    assert est.n_clusters_ == (3,)
    assert est.predict_proba(X).shape == (300, 3)
    assert adjusted_rand_score(labels, est.labels_) > 0.95
    np.testing.assert_array_equal(est.predict(X), est.labels_)


def test_an_int_n_clusters_is_kept_exactly_without_a_guide(three_blobs):
    X, _ = three_blobs
    est = MFCVAEClustering(n_facets=1, n_clusters=6, latent_dim=2, hidden_sizes=32,
                           max_iter=10, device="cpu", random_state=0).fit(X)
    assert est.n_clusters_ == (6,)
    two_facets = MFCVAEClustering(n_facets=2, n_clusters=6, latent_dim=2, hidden_sizes=32,
                                  max_iter=10, device="cpu", guide=None,
                                  random_state=0).fit(X)
    assert two_facets.n_clusters_ == (6, 6)


def test_auto_is_an_upper_bound_no_larger_than_the_data():
    X = np.random.RandomState(0).rand(6, 4)
    est = MFCVAEClustering(n_facets=2, n_clusters="auto", hidden_sizes=8, max_iter=2,
                           device="cpu", random_state=0).fit(X)
    assert all(1 <= k <= min(AUTO_MAX_CLUSTERS, 6) for k in est.n_clusters_)
    assert est.labels_.max(0).tolist() < list(est.n_clusters_)


def test_a_merged_model_saves_loads_and_pickles(three_blobs, tmp_path):
    import pickle

    X, _ = three_blobs
    est = MFCVAEClustering(n_facets=1, n_clusters="auto", latent_dim=2, hidden_sizes=32,
                           max_iter=40, device="cpu", random_state=0).fit(X)
    est.save(tmp_path / "model.skmfc")
    loaded = MFCVAEClustering.load(tmp_path / "model.skmfc")
    assert loaded.n_clusters == "auto" and loaded.n_clusters_ == est.n_clusters_
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).predict(X), est.predict(X))
