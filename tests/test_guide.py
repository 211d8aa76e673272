"""Non-redundant k-means and the guide partitions built on it."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from skmfc.guide import (MIN_CLARITY, GuidePartitions, guide_partitions,
                         nonredundant_kmeans)


def two_factor_data(n_samples=600, seed=0, noise_features=6, noise_scale=2.0):
    """Two independent factors (3 and 4 groups), each visible only in its own pair of
    randomly rotated features, plus isotropic noise features."""
    rng = np.random.default_rng(seed)
    first, second = rng.integers(3, size=n_samples), rng.integers(4, size=n_samples)
    angles_first, angles_second = np.linspace(0, 2 * np.pi, 4)[:3], np.linspace(0, 2 * np.pi, 5)[:4]
    X = np.c_[5 * np.cos(angles_first[first]), 5 * np.sin(angles_first[first]),
              5 * np.cos(angles_second[second]), 5 * np.sin(angles_second[second]),
              rng.normal(scale=noise_scale, size=(n_samples, noise_features))]
    X += rng.normal(scale=0.3, size=X.shape)
    rotation, _ = np.linalg.qr(rng.normal(size=(X.shape[1], X.shape[1])))
    return X @ rotation, np.c_[first, second]


def best_ari(labels, factor):
    return max(adjusted_rand_score(factor, column) for column in labels.T)


def test_nonredundant_kmeans_finds_each_factor_in_its_own_clustering():
    X, factors = two_factor_data()
    result = nonredundant_kmeans(X, [3, 4], random_state=0)
    assert result.labels.shape == (len(X), 2)
    assert adjusted_rand_score(factors[:, 0], result.labels[:, 0]) > 0.95
    assert adjusted_rand_score(factors[:, 1], result.labels[:, 1]) > 0.95
    # The subspaces and the noise space together are one orthonormal basis.
    basis = np.hstack(result.bases + [result.noise_basis])
    np.testing.assert_allclose(basis.T @ basis, np.eye(X.shape[1]), atol=1e-8)


def test_plain_kmeans_misses_the_weaker_factor_that_nonredundant_kmeans_finds():
    # The reason for the guide: one k-means partition takes a product or one factor only.
    from sklearn.cluster import KMeans
    X, factors = two_factor_data(seed=1)
    kmeans = KMeans(4, n_init=5, random_state=0).fit_predict(X)
    assert min(adjusted_rand_score(factors[:, j], kmeans) for j in range(2)) < 0.6
    result = nonredundant_kmeans(X, [4, 4], random_state=0)
    assert min(best_ari(result.labels, factors[:, j]) for j in range(2)) > 0.5


def test_nonredundant_kmeans_is_reproducible_and_keeps_the_cheapest_start():
    X, _ = two_factor_data(seed=2)
    first = nonredundant_kmeans(X, [3, 4], n_init=3, random_state=5)
    again = nonredundant_kmeans(X, [3, 4], n_init=3, random_state=5)
    np.testing.assert_array_equal(first.labels, again.labels)
    single = [nonredundant_kmeans(X, [3, 4], n_init=1, random_state=seed).cost
              for seed in range(3)]
    assert nonredundant_kmeans(X, [3, 4], n_init=6, random_state=0).cost <= max(single)


@pytest.mark.parametrize("n_clusters, message", [([3, 0], "between 1"), ([3, 10_000], "between 1")])
def test_nonredundant_kmeans_rejects_impossible_cluster_counts(n_clusters, message):
    X, _ = two_factor_data(n_samples=100)
    with pytest.raises(ValueError, match=message):
        nonredundant_kmeans(X, n_clusters)


def test_nonredundant_kmeans_needs_a_feature_per_space():
    with pytest.raises(ValueError, match="at least 3 features"):
        nonredundant_kmeans(np.zeros((10, 2)), [2, 2])


def test_guide_merges_split_clumps_and_rates_clear_partitions_first():
    X, factors = two_factor_data(seed=3, noise_scale=1.0)
    # Upper bounds one above the true counts: the split clumps are merged back. (Far
    # larger bounds let Nr-Kmeans split the noise, see the module's docstring.)
    guide = guide_partitions(X, [4, 5], random_state=0)
    assert isinstance(guide, GuidePartitions)
    assert sorted(guide.n_groups.tolist()) == [3, 4]
    assert np.all(np.diff(guide.clarity) <= 0)
    assert guide.clear().all() and guide.clarity.min() >= MIN_CLARITY
    for j in range(2):
        assert best_ari(guide.labels, factors[:, j]) > 0.95
    assert guide.labels.max(axis=0).tolist() == (guide.n_groups - 1).tolist()


def test_guide_on_structureless_data_guides_nothing():
    X = np.random.default_rng(0).normal(size=(500, 12))
    guide = guide_partitions(X, [5, 5], random_state=0)
    assert not guide.clear().any()


def test_guide_with_too_few_features_guides_nothing():
    guide = guide_partitions(np.random.default_rng(0).normal(size=(50, 2)), [3, 3])
    assert not guide.clear().any()
    assert guide.labels.shape == (50, 2)


def test_guide_works_on_float32_images_in_chunks(monkeypatch):
    # Image-shaped float32 input (as the estimator passes it), projected in chunks:
    # the same partitions as one pass over float64 rows.
    import skmfc.guide
    X, factors = two_factor_data(n_samples=500, seed=4, noise_scale=1.0)
    images = X.astype(np.float32).reshape(500, 1, 2, 5)
    whole = guide_partitions(images, [3, 4], random_state=0)
    monkeypatch.setattr(skmfc.guide, "PROJECTION_CHUNK", 64)
    chunked = guide_partitions(images, [3, 4], random_state=0)
    np.testing.assert_array_equal(whole.labels, chunked.labels)
    assert min(best_ari(chunked.labels, factors[:, j]) for j in range(2)) > 0.9


def test_the_auto_schedule_trains_together_when_the_guide_anchors_a_facet():
    from tests.conftest import tiny_estimator
    X, _ = two_factor_data(n_samples=300)
    guided = tiny_estimator(n_clusters=4, max_iter=4).fit(X)
    assert guided.n_clusters_ != (4, 4)  # the guide cut an anchored facet's clusters
    assert guided.progressive_steps_ == [0]


def test_the_auto_schedule_is_progressive_without_an_anchored_facet():
    from tests.conftest import tiny_estimator
    X = np.random.default_rng(0).normal(size=(300, 12))
    unguided = tiny_estimator(n_clusters=4, max_iter=4).fit(X)
    assert unguided.n_clusters_ == (4, 4)
    assert unguided.progressive_steps_ == [0, 2]
    no_guide = tiny_estimator(n_clusters=4, max_iter=4, guide=None).fit(X[:, :4])
    assert no_guide.progressive_steps_ == [0, 2]
    # Too few epochs for a step per facet: "auto" trains them together instead.
    assert tiny_estimator(n_facets=3, max_iter=2, guide=None).fit(X).progressive_steps_ == [0]


def test_a_partition_repeating_a_clearer_one_is_redundant_and_guides_nothing():
    from skmfc.guide import _redundant
    rng = np.random.default_rng(0)
    factor, other = rng.integers(3, size=600), rng.integers(4, size=600)
    coarsened = (factor == 2).astype(int)  # one factor's groups merged: the same factor
    labels = np.c_[factor, coarsened, other, factor]
    clarity = np.array([0.8, 0.7, 0.6, 0.1])  # the last one is not clear: not judged
    every_row = np.arange(600)
    assert _redundant(labels, clarity, every_row).tolist() == [False, True, False, False]
    guide = GuidePartitions(labels=labels, clarity=clarity,
                            redundant=_redundant(labels, clarity, every_row))
    assert guide.clear().tolist() == [True, False, True, False]


def test_a_partition_depending_on_a_clearer_one_guides_nothing():
    # One factor's three groups spread over two partitions, as Nr-Kmeans left a face
    # colour: the first holds group 0 against the rest, the second mixes halves of
    # groups 0 and 2, and holds the other halves with group 1 and alone. Each shares
    # little information with the other, but together they leave a cell empty that
    # independent factors would fill.
    from skmfc.guide import _dependent, _redundant
    from sklearn.metrics import adjusted_mutual_info_score
    rng = np.random.default_rng(0)
    factor, other = rng.integers(3, size=2000), rng.integers(3, size=2000)
    group_against_rest = (factor == 0).astype(int)
    half = rng.integers(2, size=2000)
    rest_with_group_split = np.select([factor == 1, half == 0], [1, 0],
                                      np.where(factor == 0, 1, 2))
    assert adjusted_mutual_info_score(group_against_rest, rest_with_group_split) < 0.2
    assert _dependent(group_against_rest, rest_with_group_split)
    assert not _dependent(factor, other)
    assert not _dependent(group_against_rest, other)
    labels = np.c_[group_against_rest, rest_with_group_split, other]
    clarity = np.array([0.8, 0.7, 0.6])
    assert _redundant(labels, clarity, np.arange(1000)).tolist() == [False, True, False]
    # Cells too small to judge (fewer rows expected than MIN_EXPECTED_ROWS) are not.
    few = np.arange(40)
    assert not _dependent(group_against_rest[few], 1 - group_against_rest[few])


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_guide_of_faces_anchors_the_colour_alone(seed):
    # Cartoon faces: the colour is the one linear factor. Before dependent partitions
    # were dropped, guide seeds 1 and 2 of these 1,000 faces kept a start whose colour
    # was spread over two partitions (ARI 0.58 and 0.57 for the better one).
    from skmfc.datasets import make_faces
    faces = make_faces(1000, random_state=0)
    guide = guide_partitions(faces.data, [3, 3, 3], random_state=seed)
    clear = np.flatnonzero(guide.clear())
    assert len(clear) == 1
    assert adjusted_rand_score(faces.target[:, 0], guide.labels[:, clear[0]]) > 0.99


def test_pairwise_adjusted_rand_is_scikit_learns_for_every_pair():
    from skmfc.guide import _pairwise_adjusted_rand
    rng = np.random.default_rng(0)
    labels = np.c_[rng.integers(3, size=300), rng.integers(5, size=300),
                   np.zeros(300, dtype=int), np.zeros(300, dtype=int)]
    labels = np.c_[labels, 2 * labels[:, 0] + (labels[:, 1] > 2), labels[:, 1]]
    expected = [[adjusted_rand_score(a, b) for b in labels.T] for a in labels.T]
    np.testing.assert_allclose(_pairwise_adjusted_rand(labels), expected, atol=1e-12)


class _FakeStart:
    """What `_best_start` reads of one Nr-Kmeans start: its cost."""

    def __init__(self, cost):
        self.cost = cost


def _choose_among(monkeypatch, starts):
    """The start `_best_start` keeps among ``starts`` (cost, partition labels, clarity),
    with Nr-Kmeans and the rating replaced by the given ones."""
    import skmfc.guide
    made = iter(starts)
    rated = {}

    def fake_nonredundant_kmeans(X, n_clusters, n_init, random_state):
        cost, labels, clarity = next(made)
        result = _FakeStart(cost)
        rated[id(result)] = GuidePartitions(labels=labels, clarity=np.asarray(clarity),
                                            redundant=np.zeros(len(clarity), dtype=bool))
        return result

    monkeypatch.setattr(skmfc.guide, "nonredundant_kmeans", fake_nonredundant_kmeans)
    monkeypatch.setattr(skmfc.guide, "_rated_partitions",
                        lambda result, rows, sample: (rated[id(result)], np.arange(2)))
    _, _, kept = skmfc.guide._best_start(None, None, np.arange(400), [4, 4],
                                          n_init=len(starts), seed=0)
    return kept.cost


def test_the_guide_keeps_the_cheap_start_whose_partitions_recur_in_the_others(monkeypatch):
    rng = np.random.default_rng(0)
    corner, pose = rng.integers(4, size=400), rng.integers(3, size=400)
    mixed_corners = np.where(corner < 2, corner, corner + rng.integers(2, size=400)) % 4
    true_start = np.c_[corner, pose]
    mixed_start = np.c_[mixed_corners, pose]
    # The cheapest start mixes two corners; four dearer ones find the corners. The
    # cheaper half (three starts) competes, and its true start recurs most.
    starts = [(10.0, mixed_start, [0.9, 0.6]), (10.1, true_start, [0.9, 0.6]),
              (10.2, mixed_start, [0.9, 0.6])] + [(11.0 + k, true_start, [0.9, 0.6])
                                                  for k in range(3)]
    assert _choose_among(monkeypatch, starts) == 10.1
    # A start with more clear partitions wins whatever the others agree on.
    one_clear = [(cost, labels, [0.9, 0.1]) for cost, labels, _ in starts[1:]]
    assert _choose_among(monkeypatch, [(12.5, mixed_start, [0.9, 0.6])] + one_clear) == 12.5
    # Equal support: the cheapest start is kept.
    assert _choose_among(monkeypatch, [(11.0, true_start, [0.9, 0.6]),
                                       (10.0, true_start, [0.9, 0.6])]) == 10.0
    # A start outside the cheaper half is never kept, however well supported.
    assert _choose_among(monkeypatch, [(10.0, mixed_start, [0.9, 0.6]),
                                       (11.0, true_start, [0.9, 0.6]),
                                       (12.0, true_start, [0.9, 0.6])]) == 10.0


def _split_factor_data(seed=0):
    """A strong factor (3 far-apart clumps) and a weaker one (4 groups) in other
    directions, with noise: the rows plain k-means at 3 clusters separates cleanly."""
    rng = np.random.default_rng(seed)
    strong, weak = rng.integers(3, size=900), rng.integers(4, size=900)
    angles = np.linspace(0, 2 * np.pi, 4)[:3]
    X = np.c_[12 * np.cos(angles[strong]), 12 * np.sin(angles[strong]),
              3 * (weak % 2), 3 * (weak // 2), rng.normal(size=(900, 4))]
    return X + rng.normal(scale=0.5, size=X.shape), strong, weak, rng


def test_plain_kmeans_replaces_a_blurred_guide_partition_it_finds_clearer():
    from skmfc.guide import PLAIN_KMEANS, _prefer_plain_kmeans, _redundant
    X, strong, weak, rng = _split_factor_data()
    # Nr-Kmeans' version of the strong factor has one group cut in two at random.
    split = np.where((strong == 0) & (rng.random(900) < 0.5), 3, strong)
    every_row = np.arange(900)
    labels, clarity = np.c_[weak, split], np.array([0.8, 0.6])
    guide = GuidePartitions(labels, clarity, _redundant(labels, clarity, every_row))
    replaced, order, plain_kmeans = _prefer_plain_kmeans(guide, np.array([0, 1]), X, X,
                                                         every_row, 3, 0)
    assert PLAIN_KMEANS in order
    column = int(np.flatnonzero(order == PLAIN_KMEANS)[0])
    assert adjusted_rand_score(strong, replaced.labels[:, column]) == 1.0
    assert replaced.clear().all()  # the weaker factor is kept beside it
    assert best_ari(replaced.labels, weak) == 1.0
    # New rows go to plain k-means' groups as the training rows did.
    np.testing.assert_array_equal(plain_kmeans.predict(X), replaced.labels[:, column])


def test_plain_kmeans_leaves_a_guide_partition_that_is_as_clear():
    from skmfc.guide import PLAIN_KMEANS, _prefer_plain_kmeans, _redundant
    X, strong, weak, _ = _split_factor_data(seed=1)
    every_row = np.arange(900)
    labels, clarity = np.c_[strong, weak], np.array([0.9, 0.8])
    guide = GuidePartitions(labels, clarity, _redundant(labels, clarity, every_row))
    kept, order, _ = _prefer_plain_kmeans(guide, np.array([1, 0]), X, X, every_row, 3, 0)
    assert PLAIN_KMEANS not in order and order.tolist() == [1, 0]
    np.testing.assert_array_equal(kept.labels, labels)
