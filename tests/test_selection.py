"""skmfc.selection: choosing the restart by agreement, and diagnosing facets."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from skmfc import MFCVAEClustering
from skmfc.selection import (
    FacetDiagnostics,
    NFacetsComparison,
    compare_n_facets,
    facet_diagnostics,
    facet_reproducibility,
    label_diagnostics,
    partition_agreement,
    restart_agreement,
    select_restart,
)
from tests.conftest import tiny_estimator


def two_factors(n=600, seed=0):
    """Two independent groupings of n samples: 4 and 3 groups."""
    rng = np.random.RandomState(seed)
    return np.column_stack([rng.randint(4, size=n), rng.randint(3, size=n)])


def renamed(labels, seed):
    """The same partitions with every facet's clusters renamed."""
    rng = np.random.RandomState(seed)
    return np.column_stack([rng.permutation(column.max() + 1)[column] + 10
                            for column in labels.T])


def noisy(labels, share, seed):
    """``labels`` with ``share`` of every facet's labels redrawn at random."""
    rng = np.random.RandomState(seed)
    labels = labels.copy()
    for column in labels.T:
        hit = rng.rand(len(column)) < share
        column[hit] = rng.randint(column.max() + 1, size=hit.sum())
    return labels


# ---------------------------------------------------------------------- agreement
def test_identical_partitions_up_to_renaming_and_facet_order_agree_fully():
    labels = two_factors()
    other = renamed(labels, seed=1)[:, ::-1]
    assert partition_agreement(labels, other) == pytest.approx(1.0)
    assert partition_agreement(labels[:, 0], labels[:, 0] + 7) == pytest.approx(1.0)


def test_independent_partitions_agree_about_zero():
    labels = two_factors(n=3000, seed=0)
    assert abs(partition_agreement(labels, two_factors(n=3000, seed=1))) < 0.01


def test_agreement_is_symmetric_and_a_repeated_facet_does_not_agree_fully():
    labels = two_factors()
    doubled = labels[:, [0, 0]]  # one partition found twice, the other missed
    assert partition_agreement(labels, doubled) == partition_agreement(doubled, labels)
    # Both facets of ``doubled`` are found in ``labels`` (1 and 1), but only one of the
    # facets of ``labels`` is found in ``doubled`` (1 and about 0): (1 + 0.5) / 2.
    assert partition_agreement(labels, doubled) == pytest.approx(0.75, abs=0.01)


def test_the_restart_that_agrees_with_the_majority_wins():
    truth = two_factors()
    restarts = [renamed(noisy(truth, 0.05, seed), seed) for seed in range(3)]
    restarts[1] = restarts[1][:, ::-1]  # facet order does not matter
    restarts.append(two_factors(seed=9))  # an idiosyncratic failure
    restarts.append(truth[:, [1, 1]])  # found one factor, twice
    scores = restart_agreement(restarts)
    assert scores.shape == (5,) and np.isfinite(scores).all()
    assert scores[:3].min() > scores[4] > scores[3]
    assert abs(scores[3]) < 0.05
    # The failure has the best ELBO, which does not matter unless the scores tie.
    elbos = [-5.0, -4.0, -6.0, -1.0, -2.0]
    assert select_restart(scores, elbos) == int(np.argmax(scores)) in (0, 1, 2)


def test_ties_are_broken_by_the_elbo_then_by_the_lower_index():
    truth = two_factors()
    # Two restarts always agree with each other equally.
    scores = restart_agreement([truth, noisy(truth, 0.3, 0)])
    assert scores[0] == scores[1]
    assert select_restart(scores, [-3.0, -2.0]) == 1
    assert select_restart(scores, [-2.0, -3.0]) == 0
    assert select_restart([0.5, 0.5, 0.5], [-1.0, -1.0, -1.0]) == 0
    assert select_restart([0.7, 0.7 - 1e-12, 0.2], [-3.0, -1.0, 0.0]) == 1  # a tie
    assert select_restart([0.7, 0.6, 0.2], [-3.0, -1.0, 0.0]) == 0  # no tie
    # nan (no score, no ELBO) ranks lowest.
    assert select_restart([np.nan, 0.1], [0.0, -9.0]) == 1
    assert select_restart([np.nan, np.nan], [np.nan, -9.0]) == 1


def test_restarts_without_labels_get_no_score():
    truth = two_factors()
    scores = restart_agreement([truth, None, renamed(truth, 0), two_factors(seed=5)])
    assert np.isnan(scores[1]) and np.isfinite(scores[[0, 2, 3]]).all()
    assert np.isnan(restart_agreement([truth, None])).all()
    assert np.isnan(restart_agreement([truth])).all()
    assert restart_agreement([]).shape == (0,)


def test_agreement_refuses_labels_of_different_samples():
    with pytest.raises(ValueError, match="different numbers of samples"):
        partition_agreement(two_factors(n=10), two_factors(n=12))
    with pytest.raises(ValueError, match="different numbers of samples"):
        restart_agreement([two_factors(n=10), two_factors(n=12)])
    with pytest.raises(ValueError, match="same length"):
        select_restart([0.1, 0.2], [0.0])


# ---------------------------------------------------------------------- diagnostics
def test_a_duplicated_facet_is_flagged():
    truth = two_factors()
    labels = np.column_stack([truth, renamed(noisy(truth[:, :1], 0.1, 0), 3)])
    diagnostics = label_diagnostics(labels)
    assert diagnostics.duplicates == ((2,), (), (0,))
    assert diagnostics.duplicate_pairs == [(0, 2)]
    assert diagnostics.n_collapsed == 0 and not diagnostics.ok
    assert diagnostics.ari.shape == (3, 3) and np.allclose(np.diag(diagnostics.ari), 1.0)
    # A stricter threshold lets the noisy copy pass.
    assert label_diagnostics(labels, duplicate_ari=0.99).ok


def test_a_one_cluster_facet_is_collapsed():
    truth = two_factors()
    labels = np.column_stack([truth, np.full(len(truth), 4)])
    diagnostics = label_diagnostics(labels, n_clusters=(4, 3, 5))
    assert diagnostics.collapsed == (False, False, True)
    assert diagnostics.clusters_used == (4, 3, 1) and diagnostics.largest_share[2] == 1.0
    assert diagnostics.n_collapsed == 1 and not diagnostics.ok
    assert diagnostics.duplicate_pairs == []


@pytest.mark.parametrize("n_clusters, confidence, collapsed", [
    (2, 0.54, True), (2, 0.56, False), (10, 0.18, True), (10, 0.20, False),
])
def test_a_near_uniform_posterior_is_collapsed(n_clusters, confidence, collapsed):
    # Collapsed below a tenth of the way from 1/K to 1: 0.55 for K=2, 0.19 for K=10.
    labels = two_factors()[:, :1] % 2
    diagnostics = label_diagnostics(labels, n_clusters=n_clusters,
                                    mean_confidence=[confidence])
    assert diagnostics.collapsed == (collapsed,)
    assert diagnostics.ok is not collapsed


def test_healthy_labels_are_ok_and_print_as_a_table():
    diagnostics = label_diagnostics(two_factors(), n_clusters=(4, 3),
                                    mean_confidence=(0.9, 0.8))
    assert isinstance(diagnostics, FacetDiagnostics)
    assert diagnostics.ok and diagnostics.n_facets == 2
    text = str(diagnostics)
    lines = text.splitlines()
    assert lines[0].split() == ["facet", "K", "used", "largest", "confidence", "collapsed",
                                "duplicates"]
    assert lines[2].split()[:5] == ["0", "4", "4", f"{diagnostics.largest_share[0]:.2f}",
                                    "0.90"]
    assert lines[-1].startswith("ok")


def test_label_diagnostics_checks_its_arguments():
    labels = two_factors()
    with pytest.raises(ValueError, match="n_clusters"):
        label_diagnostics(labels, n_clusters=(4, 3, 2))
    with pytest.raises(ValueError, match="mean_confidence"):
        label_diagnostics(labels, n_clusters=4, mean_confidence=[0.5])
    with pytest.raises(ValueError, match="duplicate_ari"):
        label_diagnostics(labels, duplicate_ari=2.0)
    with pytest.raises(ValueError, match="shape"):
        label_diagnostics(np.zeros((0, 2)))
    with pytest.raises(NotFittedError):
        facet_diagnostics(tiny_estimator())


# ---------------------------------------------------------------------- n_facets
def test_a_facet_found_again_by_every_restart_is_reproducible():
    labels = two_factors(n=2000)
    rng = np.random.RandomState(0)
    # Restarts that find both groupings (renamed, facets swapped) ...
    both = [labels, renamed(labels, 1)[:, ::-1], renamed(labels, 2)]
    np.testing.assert_allclose(facet_reproducibility(both), 1.0)
    # ... and restarts whose second facet clusters something different each time.
    nuisance = [np.column_stack([labels[:, 0], rng.randint(3, size=2000)])
                for _ in range(3)]
    scores = facet_reproducibility(nuisance)
    assert scores.shape == (3, 2)
    np.testing.assert_allclose(scores[:, 0], 1.0)
    assert np.abs(scores[:, 1]).max() < 0.01
    # A facet that repeats another's grouping half-matches a restart that found both.
    assert facet_reproducibility([labels, noisy(labels, 0.5, 3)]).max() < 0.5


def test_a_collapsed_facet_is_not_reproducible():
    labels = np.column_stack([two_factors()[:, 0], np.zeros(600, dtype=int)])
    # Two constant labellings agree perfectly, which says nothing.
    assert facet_reproducibility([labels, labels]).tolist() == [[1.0, 1.0]] * 2
    scores = facet_reproducibility([labels, labels], collapsed=[[False, True]] * 2)
    assert scores.tolist() == [[1.0, 0.0]] * 2


def test_facet_reproducibility_checks_its_arguments():
    labels = two_factors()
    with pytest.raises(ValueError, match="at least two restarts"):
        facet_reproducibility([labels])
    with pytest.raises(ValueError, match="same number of facets"):
        facet_reproducibility([labels, labels[:, :1]])
    with pytest.raises(ValueError, match="same samples"):
        facet_reproducibility([labels, labels[:100]])


def test_compare_n_facets_end_to_end(blobs):
    X, _ = blobs
    X = X[:120]
    template = tiny_estimator(max_iter=2)
    comparison = compare_n_facets(template, X, max_facets=2, n_restarts=3)
    assert isinstance(comparison, NFacetsComparison)
    assert not hasattr(template, "labels_")  # the template is cloned, not fitted
    assert [row.n_facets for row in comparison.rows] == [1, 2]
    assert sorted(comparison.estimators) == [1, 2]
    for row in comparison.rows:
        model = comparison.estimators[row.n_facets]
        # One facet: 1-D labels, as every scikit-learn clusterer's.
        assert model.labels_.shape == ((len(X),) if row.n_facets == 1 else (len(X), 2))
        assert row.facet_reproducibility.shape == (3, row.n_facets)
        assert row.reproducibility == pytest.approx(
            row.facet_reproducibility.min(axis=1).mean())
        assert row.elbo == model.score(X)
        assert row.diagnostics.n_facets == row.n_facets
        assert row.n_collapsed == row.diagnostics.n_collapsed
        assert row.n_duplicate_pairs == len(row.diagnostics.duplicate_pairs)
        assert row.ok == (row.n_collapsed == 0 and row.n_duplicate_pairs == 0)
    # The most reproducible number, the fewest facets on a tie.
    scores = {row.n_facets: row.reproducibility for row in comparison.rows}
    best = max(scores.values())
    assert comparison.recommended_n_facets == min(
        n for n, score in scores.items() if score >= best - 0.02)
    text = str(comparison)
    assert "reproducibility" in text and "recommended n_facets:" in text
    assert len(text.splitlines()) == 2 + 2 + 1
    # The restarts' seeds come from the template's random_state.
    again = compare_n_facets(template, X, max_facets=2, n_restarts=3)
    for first, second in zip(comparison.rows, again.rows):
        np.testing.assert_array_equal(first.facet_reproducibility, second.facet_reproducibility)

    # facet_diagnostics on the training data, given as X, agrees with the fitted labels.
    model = comparison.estimators[2]
    fitted = facet_diagnostics(model)
    assert fitted.clusters_used == model.clusters_used_
    assert fitted.mean_confidence == model.mean_confidence_
    assert fitted.n_clusters == model.n_clusters_
    given = facet_diagnostics(model, X)
    assert given.clusters_used == fitted.clusters_used
    np.testing.assert_allclose(given.mean_confidence, fitted.mean_confidence, rtol=1e-12)
    np.testing.assert_array_equal(given.ari, fitted.ari)


def test_compare_n_facets_checks_its_arguments(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="max_facets must be an int >= 1"):
        compare_n_facets(tiny_estimator(), X, max_facets=0)
    with pytest.raises(ValueError, match="n_restarts must be an int >= 2"):
        compare_n_facets(tiny_estimator(), X, max_facets=2, n_restarts=1)
    with pytest.raises(ValueError, match="n_clusters must be one value for every facet"):
        compare_n_facets(MFCVAEClustering(n_clusters=(3, 4)), X, max_facets=2)
