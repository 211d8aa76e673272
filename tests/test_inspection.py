"""What a scikit-learn user reaches without torch: label shapes that sklearn metrics take,
the fitted mixture as numpy arrays, per-sample scores and a readable summary."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skmfc._device
import skmfc.estimator
from skmfc import MFCVAEClustering
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
    assert "facet" in one_facet.summary()


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


# ---------------------------------------------------------------------- the fitted mixture
@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_mixture_attributes_in_sklearn_vocabulary(blob_data, covariance_type):
    X, _ = blob_data
    est = tiny_estimator(n_clusters=(3, 2), latent_dim=(2, 3), learn_weights=True,
                         covariance_type=covariance_type).fit(X)
    assert len(est.weights_) == len(est.means_) == len(est.covariances_) == 2
    for j, (K, d) in enumerate(zip(est.n_clusters_, est.latent_dims_)):
        prior = est.module_.priors[j]
        weights, means, covariances = est.weights_[j], est.means_[j], est.covariances_[j]
        assert weights.shape == (K,) and means.shape == (K, d)
        assert all(a.dtype == np.float64 for a in (weights, means, covariances))
        assert weights.sum() == pytest.approx(1.0) and (weights > 0).all()
        np.testing.assert_allclose(weights, prior.log_weights().exp().detach().numpy())
        np.testing.assert_array_equal(means, prior.means.detach().numpy())
        variances = prior.variances().detach().double().numpy()
        if covariance_type == "diag":
            assert covariances.shape == (K, d)
            np.testing.assert_array_equal(covariances, variances)
        else:
            assert covariances.shape == (K, d, d)
            np.testing.assert_allclose(covariances, covariances.transpose(0, 2, 1))
            assert (np.linalg.eigvalsh(covariances) > 0).all()
            np.testing.assert_allclose(np.diagonal(covariances, axis1=1, axis2=2), variances)


def test_mixture_attributes_survive_save_load_and_pickle(two_facets, tmp_path):
    two_facets.save(tmp_path / "model.skmfc")
    for restored in (MFCVAEClustering.load(tmp_path / "model.skmfc"),
                     pickle.loads(pickle.dumps(two_facets))):
        for name in ("weights_", "means_", "covariances_"):
            for got, expected in zip(getattr(restored, name), getattr(two_facets, name)):
                np.testing.assert_array_equal(got, expected)


def test_mixture_attributes_need_a_fitted_model():
    est = MFCVAEClustering()
    for name in ("weights_", "means_", "covariances_"):
        assert not hasattr(est, name)
        with pytest.raises(NotFittedError):
            getattr(est, name)
    with pytest.raises(NotFittedError):
        est.summary()


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


# ---------------------------------------------------------------------- summary
def test_summary_describes_the_fitted_model(two_facets):
    text = two_facets.summary()
    lines = text.splitlines()
    assert "2 facet(s)" in lines[0] and "4 features" in lines[0]
    header = lines[1].split()
    assert header[:3] == ["facet", "clusters", "used"]
    for j in (0, 1):
        cells = lines[2 + j].split()
        assert cells[:3] == [str(j), str(two_facets.n_clusters_[j]),
                             str(two_facets.clusters_used_[j])]
        assert f"{two_facets.mean_confidence_[j]:.3f}" in cells
    assert f"{two_facets.n_iter_} epochs" in text and "device cpu" in text
    assert f"{two_facets.init_elbos_[two_facets.best_init_]:.4g}" in text


def test_summary_mentions_validation_and_restarts(blob_data):
    X, _ = blob_data
    est = tiny_estimator(n_init=2, early_stopping=True, max_iter=4).fit(X)
    text = est.summary()
    assert "best validation ELBO" in text and f"kept {est.best_init_} of 2" in text


# ---------------------------------------------------------------------- devices
def test_auto_never_picks_the_untested_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(skmfc._device, "device_available", lambda device: True)
    assert skmfc._device.resolve_device("auto") == torch.device("cpu")
    assert skmfc._device.resolve_device("mps") == torch.device("mps")


def test_auto_precision_is_bfloat16_only_for_large_steps_on_a_cpu_with_bfloat16_units(
        monkeypatch):
    resolve, cpu = skmfc._device.resolve_precision, torch.device("cpu")
    large = skmfc._device.AUTO_BFLOAT16_FLOPS
    monkeypatch.setattr(skmfc._device, "cpu_has_bfloat16", lambda: True)
    assert resolve("auto", cpu, large) == "bfloat16"
    assert resolve("auto", cpu, 0.99 * large) == "float32"
    assert resolve("auto", torch.device("cuda"), large) == "float32"
    assert resolve("auto") == "float32"
    assert resolve("float32", cpu, large) == "float32"  # asked for by name: kept
    monkeypatch.setattr(skmfc._device, "cpu_has_bfloat16", lambda: False)
    assert resolve("auto", cpu, large) == "float32"
    assert resolve("bfloat16", cpu, 0) == "bfloat16"
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve("half", cpu, large)


def test_an_estimator_counts_its_network_to_choose_the_precision(monkeypatch):
    monkeypatch.setattr(skmfc._device, "cpu_has_bfloat16", lambda: True)
    X = np.random.default_rng(0).random((64, 784), dtype=np.float32)
    # The paper's MNIST network: 17.6 MFLOP per sample, 1.1 GFLOP for the 64 rows here,
    # 9.0 for its batches of 512.
    paper = dict(n_facets=2, hidden_sizes=(500, 2000), max_iter=1, guide=None,
                 device="cpu", random_state=0)
    assert MFCVAEClustering(**paper, batch_size=64).fit(X).precision_ == "float32"
    many = np.concatenate([X] * 8)
    assert MFCVAEClustering(**paper, batch_size=512).fit(many).precision_ == "bfloat16"
    assert tiny_estimator().fit(X[:, :6]).precision_ == "float32"
