"""What a scikit-learn user reaches without torch: label shapes that sklearn metrics take
and per-sample scores."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skmfc.estimator
from skmfc.metrics import facet_scores
from skmfc.selection import facet_diagnostics
from tests.conftest import tiny_estimator


@pytest.fixture(scope="module")
def blob_data():
    rng = np.random.RandomState(0)
    centres = rng.normal(scale=5.0, size=(3, 4))
    y = rng.randint(3, size=120)
    return centres[y] + rng.normal(size=(120, 4)), y


@pytest.fixture(scope="module")
def one_facet(blob_data):
    return tiny_estimator(n_facets=1, max_iter=5).fit(blob_data[0])


@pytest.fixture(scope="module")
def two_facets(blob_data):
    return tiny_estimator(n_clusters=(3, 2), latent_dim=(2, 3)).fit(blob_data[0])


# ---------------------------------------------------------------------- labels
def test_one_facet_labels_are_one_dimensional_like_every_clusterer(one_facet, blob_data):
    X, y = blob_data
    n = len(X)
    assert one_facet.labels_.shape == (n,)
    assert one_facet.predict(X).shape == (n,)
    assert one_facet.sample(4, random_state=0)[1].shape == (4,)
    np.testing.assert_array_equal(one_facet.predict(X), one_facet.labels_)
    np.testing.assert_array_equal(one_facet.predict(X, facet=0), one_facet.labels_)
    # sklearn's scores take them as they are.
    assert -1.0 <= adjusted_rand_score(y, one_facet.labels_) <= 1.0
    if len(np.unique(one_facet.labels_)) > 1:
        assert -1.0 <= silhouette_score(X, one_facet.labels_) <= 1.0
    # skmfc's own helpers take 1-D labels as one facet.
    assert facet_diagnostics(one_facet).n_facets == 1
    assert facet_scores(one_facet.labels_, y).scores.shape == (1, 1)


def test_one_facet_fit_predict_and_pipeline(blob_data):
    X, y = blob_data
    labels = tiny_estimator(n_facets=1).fit_predict(X)
    assert labels.shape == (len(X),)
    np.testing.assert_array_equal(tiny_estimator(n_facets=1).fit_predict(X, facet=0), labels)
    pipeline = make_pipeline(StandardScaler(), tiny_estimator(n_facets=1))
    piped = pipeline.fit_predict(X)
    assert piped.shape == (len(X),)
    np.testing.assert_array_equal(pipeline.predict(X), piped)
    adjusted_rand_score(y, piped)


def test_several_facets_keep_one_column_each_and_give_one_facet_on_request(
        two_facets, blob_data):
    X, y = blob_data
    assert two_facets.labels_.shape == (len(X), 2)
    assert two_facets.predict(X).shape == (len(X), 2)
    assert two_facets.sample(3, random_state=0)[1].shape == (3, 2)
    for facet in (0, 1):
        labels = two_facets.predict(X, facet=facet)
        assert labels.shape == (len(X),)
        np.testing.assert_array_equal(labels, two_facets.labels_[:, facet])
        adjusted_rand_score(y, labels)
    fitted = tiny_estimator(n_clusters=(3, 2), latent_dim=(2, 3))
    labels = fitted.fit_predict(X, facet=1)
    assert labels.shape == (len(X),)
    np.testing.assert_array_equal(labels, fitted.labels_[:, 1])
    np.testing.assert_array_equal(labels, two_facets.labels_[:, 1])  # same seed
    pipeline = make_pipeline(StandardScaler(), tiny_estimator())
    assert pipeline.fit_predict(X).shape == (len(X), 2)


@pytest.mark.parametrize("facet", [2, -1, 1.0, True, "0"])
def test_a_wrong_facet_is_refused_before_training(blob_data, facet, monkeypatch):
    X, _ = blob_data

    def no_training(*args, **kwargs):
        raise AssertionError("fit_predict trained before checking facet")

    monkeypatch.setattr(skmfc.estimator, "train", no_training)
    with pytest.raises(ValueError, match=r"facet must be an int in \[0, 1\]"):
        tiny_estimator().fit_predict(X, facet=facet)


# ---------------------------------------------------------------------- scores
def test_score_samples_is_per_sample_and_score_is_its_mean(two_facets, blob_data):
    X, _ = blob_data
    scores = two_facets.score_samples(X)
    assert scores.shape == (len(X),) and scores.dtype == np.float64
    assert np.isfinite(scores).all()
    assert two_facets.score(X) == np.mean(scores)
    np.testing.assert_array_equal(two_facets.score_samples(X), scores)  # deterministic


def test_a_sample_scores_the_same_alone_and_in_any_order(two_facets, blob_data):
    X, _ = blob_data
    scores = two_facets.score_samples(X)
    order = np.random.RandomState(1).permutation(len(X))
    np.testing.assert_allclose(two_facets.score_samples(X[order]), scores[order],
                               rtol=0, atol=1e-9)
    alone = np.array([two_facets.score_samples(X[i:i + 1])[0] for i in range(5)])
    np.testing.assert_allclose(alone, scores[:5], rtol=0, atol=1e-9)
    # float32 input of the same values scores the same.
    X32 = X.astype(np.float32)
    np.testing.assert_allclose(two_facets.score_samples(X32),
                               two_facets.score_samples(X32.astype(np.float64)), atol=1e-9)


def test_score_samples_ranks_outliers_lowest(two_facets, blob_data):
    X, _ = blob_data
    outliers = X[:5] + 40.0
    scores = two_facets.score_samples(np.vstack([X, outliers]))
    assert scores[-5:].max() < np.percentile(scores[:-5], 5)


def test_grid_search_scores_with_the_mean_elbo(blob_data):
    X, _ = blob_data
    search = GridSearchCV(tiny_estimator(n_facets=1), {"latent_dim": [1, 2]}, cv=2).fit(X)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
