"""Tests of the clustering accuracies and of per-facet scoring."""

import dataclasses
import itertools
import sys

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from skmfc.metrics import FacetScores, facet_scores, hungarian_accuracy, majority_accuracy


def brute_force_one_to_one_accuracy(y_true, y_pred):
    """Best accuracy over every injective cluster -> class assignment."""
    classes, clusters = np.unique(y_true), np.unique(y_pred)
    n_matched = min(len(classes), len(clusters))
    best = 0
    for chosen_clusters in itertools.permutations(clusters, n_matched):
        for chosen_classes in itertools.permutations(classes, n_matched):
            correct = sum(
                np.sum((y_pred == cluster) & (y_true == label))
                for cluster, label in zip(chosen_clusters, chosen_classes)
            )
            best = max(best, correct)
    return best / len(y_true)


# --------------------------------------------------------------------------
# hungarian_accuracy and majority_accuracy
# --------------------------------------------------------------------------


@pytest.mark.parametrize("accuracy", [hungarian_accuracy, majority_accuracy])
def test_permuted_labels_score_one(accuracy):
    y_true = np.array([0, 0, 1, 1, 2, 2, 2])
    permutation = np.array([2, 0, 1])
    assert accuracy(y_true, permutation[y_true]) == 1.0
    assert accuracy(["a", "a", "b"], [7, 7, 3]) == 1.0


def test_more_clusters_than_classes():
    y_true = [0, 0, 0, 1, 1, 1]
    y_pred = [0, 0, 1, 2, 2, 3]
    # One-to-one: clusters 0 and 2 take the classes; clusters 1 and 3 are wrong.
    assert hungarian_accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    # Many-to-one: every cluster is pure, so every sample counts as right.
    assert majority_accuracy(y_true, y_pred) == 1.0
    # One cluster per sample is the extreme case the majority accuracy rewards.
    assert majority_accuracy(y_true, np.arange(6)) == 1.0
    assert hungarian_accuracy(y_true, np.arange(6)) == pytest.approx(2 / 6)


def test_fewer_clusters_than_classes():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 0, 0, 0, 1, 1]
    assert hungarian_accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    assert majority_accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    assert hungarian_accuracy(y_true, np.zeros(6)) == pytest.approx(2 / 6)


def test_majority_beats_hungarian_when_two_clusters_share_a_class():
    y_true = [0, 0, 0, 0, 1, 1]
    y_pred = [0, 0, 1, 1, 1, 2]
    # Majority: cluster 0 -> 0 (2), cluster 1 -> 0 (2 of 3), cluster 2 -> 1 (1).
    assert majority_accuracy(y_true, y_pred) == pytest.approx(5 / 6)
    # One-to-one: 0 -> class 0 (2) and 1 -> class 1 (1), or 1 -> 0 (2) and 2 -> 1 (1).
    assert hungarian_accuracy(y_true, y_pred) == pytest.approx(3 / 6)


def test_hungarian_matches_brute_force_and_never_beats_majority():
    rng = np.random.RandomState(0)
    for _ in range(30):
        n_samples = rng.randint(1, 15)
        y_true = rng.randint(0, rng.randint(1, 4), size=n_samples)
        y_pred = rng.randint(0, rng.randint(1, 5), size=n_samples)
        hungarian = hungarian_accuracy(y_true, y_pred)
        assert hungarian == pytest.approx(brute_force_one_to_one_accuracy(y_true, y_pred))
        assert majority_accuracy(y_true, y_pred) >= hungarian


@pytest.mark.parametrize("accuracy", [hungarian_accuracy, majority_accuracy])
def test_accuracies_return_python_floats(accuracy):
    assert type(accuracy([0, 1], [0, 1])) is float


@pytest.mark.parametrize("accuracy", [hungarian_accuracy, majority_accuracy])
@pytest.mark.parametrize(
    "y_true, y_pred, message",
    [
        ([0, 1, 1], [0, 1], "inconsistent numbers of samples"),
        ([], [], "empty"),
        ([0.0, np.nan], [0, 1], "NaN"),
        ([0, 1], [0.0, np.nan], "NaN"),
        (np.array([0, np.nan], dtype=object), [0, 1], "NaN"),
        ([[0, 1], [1, 0]], [0, 1], "1d array"),
    ],
)
def test_accuracies_validate_their_input(accuracy, y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        accuracy(y_true, y_pred)


# --------------------------------------------------------------------------
# facet_scores
# --------------------------------------------------------------------------


def make_two_facet_problem(seed=0, n_samples=300):
    """Targets (digit, colour) and predictions whose facets find them swapped."""
    rng = np.random.RandomState(seed)
    targets = np.column_stack([rng.randint(0, 4, n_samples), rng.randint(0, 3, n_samples)])
    relabel_digit, relabel_colour = np.array([3, 1, 0, 2]), np.array([2, 0, 1])
    labels = np.column_stack(
        [relabel_colour[targets[:, 1]], relabel_digit[targets[:, 0]], rng.randint(0, 5, n_samples)]
    )
    return labels, targets


@pytest.mark.parametrize("metric", ["ari", "nmi", "ami", "hungarian", "majority"])
def test_facet_scores_finds_the_facet_of_each_labelling(metric):
    labels, targets = make_two_facet_problem()
    result = facet_scores(labels, targets, metric=metric, target_names=["digit", "colour"])
    assert isinstance(result, FacetScores)
    assert result.scores.shape == (2, 3)
    np.testing.assert_array_equal(result.best_facet, [1, 0])
    np.testing.assert_allclose(result.best_score, [1.0, 1.0])
    assert result.target_names == ("digit", "colour")
    assert result.facet_names == ("facet 0", "facet 1", "facet 2")


def test_facet_scores_values_are_the_metric_of_each_pair():
    labels, targets = make_two_facet_problem()
    result = facet_scores(labels, targets)
    assert result.metric_name == "adjusted Rand index"
    for target_index, facet_index in itertools.product(range(2), range(3)):
        expected = adjusted_rand_score(targets[:, target_index], labels[:, facet_index])
        assert result.scores[target_index, facet_index] == pytest.approx(expected)
    result = facet_scores(labels, targets, metric="nmi")
    expected = normalized_mutual_info_score(targets[:, 0], labels[:, 2])
    assert result.scores[0, 2] == pytest.approx(expected)


def test_facet_scores_accepts_a_callable_metric():
    labels, targets = make_two_facet_problem()

    def agreement(y_true, y_pred):
        return float(np.mean(y_true == y_pred))

    result = facet_scores(labels, targets, metric=agreement)
    assert result.metric_name == "agreement"
    assert result.scores[0, 1] == pytest.approx(np.mean(targets[:, 0] == labels[:, 1]))


def test_facet_scores_accepts_one_dimensional_inputs():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    result = facet_scores(y_true[::-1], y_true, metric="hungarian")
    assert result.scores.shape == (1, 1)
    assert result.best_score[0] == 1.0
    assert result.target_names == ("target 0",)


def test_facet_scores_takes_target_names_from_dataframe_columns():
    pd = pytest.importorskip("pandas")
    labels, targets = make_two_facet_problem()
    frame = pd.DataFrame(targets, columns=["digit", "colour"])
    result = facet_scores(labels, frame, facet_names=["a", "b", "c"])
    assert result.target_names == ("digit", "colour")
    assert result.facet_names == ("a", "b", "c")


def test_facet_scores_result_is_immutable():
    labels, targets = make_two_facet_problem()
    result = facet_scores(labels, targets)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.metric_name = "other"
    with pytest.raises(ValueError):
        result.scores[0, 0] = 2.0


def test_facet_scores_table_shows_names_and_scores():
    labels, targets = make_two_facet_problem()
    result = facet_scores(
        labels,
        targets,
        metric="hungarian",
        target_names=["digit", "foreground colour"],
        facet_names=["shape facet", "colour facet", "noise"],
    )
    table = str(result)
    assert table == result.to_string()
    lines = table.splitlines()
    assert "Hungarian accuracy" in lines[0]
    for name in ("digit", "foreground colour", "shape facet", "colour facet", "noise"):
        assert name in table
    assert "best facet" in lines[1] and "best score" in lines[1]
    digit_line = next(line for line in lines if line.startswith("digit"))
    assert "colour facet" in digit_line and "1.000" in digit_line
    # Fixed width: every row lines up with the header.
    assert len({len(line) for line in lines[1:]}) == 1
    assert "1.00000" in result.to_string(precision=5)


def test_facet_scores_to_frame():
    pd = pytest.importorskip("pandas")
    labels, targets = make_two_facet_problem()
    result = facet_scores(labels, targets, target_names=["digit", "colour"])
    frame = result.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index) == ["digit", "colour"]
    assert list(frame.columns) == ["facet 0", "facet 1", "facet 2", "best facet", "best score"]
    assert list(frame["best facet"]) == ["facet 1", "facet 0"]
    np.testing.assert_allclose(frame[["facet 0", "facet 1", "facet 2"]].to_numpy(), result.scores)
    assert list(result.to_frame(include_best=False).columns) == ["facet 0", "facet 1", "facet 2"]


def test_facet_scores_to_frame_without_pandas_says_so(monkeypatch):
    labels, targets = make_two_facet_problem()
    result = facet_scores(labels, targets)
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` fail
    with pytest.raises(ImportError, match="pandas"):
        result.to_frame()


def test_facet_scores_handles_nan_scores():
    labels, targets = make_two_facet_problem()

    def undefined(y_true, y_pred):
        return float("nan")

    result = facet_scores(labels, targets, metric=undefined)
    np.testing.assert_array_equal(result.best_facet, [-1, -1])
    assert np.isnan(result.best_score).all()
    assert "nan" in str(result)


@pytest.mark.parametrize(
    "labels, targets, kwargs, message",
    [
        (np.zeros((5, 2)), np.zeros((4, 2)), {}, "inconsistent numbers of samples"),
        (np.zeros((0, 2)), np.zeros((0, 2)), {}, "empty"),
        (np.zeros((5, 0)), np.zeros((5, 2)), {}, "empty"),
        (np.array([[0.0], [np.nan]]), np.zeros((2, 1)), {}, "NaN"),
        (np.zeros((2, 1)), np.array([0.0, np.nan]), {}, "NaN"),
        (np.zeros((2, 1, 1)), np.zeros(2), {}, "1-D .* or 2-D"),
        (np.zeros((4, 2)), np.zeros((4, 2)), {"metric": "accuracy"}, "metric must be"),
        (np.zeros((4, 2)), np.zeros((4, 2)), {"facet_names": ["only one"]}, "facet_names"),
        (np.zeros((4, 2)), np.zeros((4, 2)), {"target_names": ["a", "b", "c"]}, "target_names"),
    ],
)
def test_facet_scores_validates_its_input(labels, targets, kwargs, message):
    with pytest.raises(ValueError, match=message):
        facet_scores(labels, targets, **kwargs)


def test_facet_scores_rejects_metrics_that_do_not_return_numbers():
    with pytest.raises(TypeError, match="real number"):
        facet_scores([0, 1], [0, 1], metric=lambda y_true, y_pred: "high")
