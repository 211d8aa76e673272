"""Behaviour of the estimator's public surface (small networks, few epochs)."""

import io
import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

import skmfc.estimator
import skmfc.training
from skmfc import MFCVAEClustering
from skmfc.nn import MFCVAE
from tests.conftest import tiny_estimator


def test_fit_predict_shapes_and_consistency(blobs):
    X, _ = blobs
    est = tiny_estimator(n_clusters=(4, 2))
    labels = est.fit_predict(X)
    assert labels.shape == (len(X), 2)
    assert np.issubdtype(labels.dtype, np.integer)
    assert labels[:, 0].max() < 4 and labels[:, 1].max() < 2 and labels.min() >= 0
    np.testing.assert_array_equal(labels, est.labels_)
    np.testing.assert_array_equal(labels, est.predict(X))
    np.testing.assert_array_equal(est.predict(X, facet=1), labels[:, 1])
    assert est.n_clusters_ == (4, 2)
    assert est.latent_dims_ == (2, 2)
    assert est.n_iter_ == len(est.elbo_curve_) == 3
    assert est.device_ == torch.device("cpu")
    assert est.n_features_in_ == X.shape[1]


def test_predict_proba_blocks(blobs):
    X, _ = blobs
    est = tiny_estimator(n_clusters=(4, 2)).fit(X)
    proba = est.predict_proba(X)
    assert proba.shape == (len(X), 6)
    np.testing.assert_allclose(proba[:, :4].sum(1), 1.0)
    np.testing.assert_allclose(proba[:, 4:].sum(1), 1.0)
    np.testing.assert_allclose(est.predict_proba(X, facet=0), proba[:, :4])
    np.testing.assert_array_equal(est.predict_proba(X, facet=1).argmax(1), est.predict(X, facet=1))


def test_transform_inverse_transform_and_feature_names(blobs):
    pd = pytest.importorskip("pandas")
    X, _ = blobs
    est = tiny_estimator(latent_dim=(3, 2)).fit(X)
    Z = est.transform(X)
    assert Z.shape == (len(X), 5)
    assert list(est.get_feature_names_out()) == [
        "facet0_z0", "facet0_z1", "facet0_z2", "facet1_z0", "facet1_z1"]
    frame = est.set_output(transform="pandas").transform(X)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns)[-1] == "facet1_z1"
    X_back = est.inverse_transform(Z)
    assert X_back.shape == X.shape and np.all(np.isfinite(X_back))
    with pytest.raises(ValueError, match=r"shape \(n_samples, 5\)"):
        est.inverse_transform(Z[:, :4])


def test_sample_controls_the_chosen_facet(blobs):
    X, _ = blobs
    # guide=None: each facet keeps exactly its n_clusters (a guide could cut one).
    est = tiny_estimator(n_clusters=(4, 3), guide=None).fit(X)
    X_new, labels = est.sample(50, facet=1, cluster=2, random_state=0)
    assert X_new.shape == (50, X.shape[1]) and labels.shape == (50, 2)
    assert np.all(labels[:, 1] == 2)
    assert set(labels[:, 0]) <= set(range(4)) and len(set(labels[:, 0])) > 1
    again, _ = est.sample(50, facet=1, cluster=2, random_state=0)
    np.testing.assert_array_equal(X_new, again)
    # Generated data come back in input units: the data are centred near X's mean.
    unconditional, _ = est.sample(2000, random_state=1)
    assert np.abs(unconditional.mean(0) - X.mean(0)).max() < 2.0 * X.std(0).max()
    with pytest.raises(ValueError, match="cluster must be an int in"):
        est.sample(3, facet=1, cluster=3)
    with pytest.raises(ValueError, match="both facet and cluster"):
        est.sample(3, facet=1)
    with pytest.raises(ValueError, match="facet must be an int"):
        est.sample(3, facet=2, cluster=0)


def test_bad_facet_and_parameters_give_clear_errors(blobs):
    X, _ = blobs
    est = tiny_estimator().fit(X)
    with pytest.raises(ValueError, match=r"facet must be an int in \[0, 1\]"):
        est.predict(X, facet=5)
    with pytest.raises(ValueError, match="n_clusters has 3 entries but n_facets=2"):
        tiny_estimator(n_clusters=(2, 2, 2)).fit(X)
    with pytest.raises(ValueError, match="must hold positive integers"):
        tiny_estimator(latent_dim=(2, 0)).fit(X)
    with pytest.raises(ValueError, match="n_samples=5 must be >= the number of clusters"):
        tiny_estimator(n_clusters=6).fit(X[:5])
    with pytest.raises(ValueError, match="every value of X in \\[0, 1\\]"):
        tiny_estimator(likelihood="bernoulli").fit(X)
    with pytest.raises(ValueError, match="not available"):
        tiny_estimator(device="cuda:7").fit(X)


def test_likelihood_is_chosen_from_the_data(blobs):
    X, _ = blobs
    assert tiny_estimator().fit(X).likelihood_ == "gaussian"
    unit = MinMaxScaler().fit_transform(X)
    est = tiny_estimator().fit(unit)
    assert est.likelihood_ == "bernoulli" and est.likelihood_std_ is None
    gaussian = tiny_estimator(likelihood_std=0.3).fit(X)
    assert gaussian.likelihood_std_ == 0.3


def test_same_seed_same_labels_and_global_rng_untouched(blobs):
    X, _ = blobs
    torch.manual_seed(123)
    np.random.seed(123)
    torch_state = torch.get_rng_state()
    numpy_state = np.random.get_state()[1].copy()
    first = tiny_estimator(random_state=7).fit_predict(X)
    second = tiny_estimator(random_state=7).fit_predict(X)
    np.testing.assert_array_equal(first, second)
    assert torch.equal(torch.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)
    other = tiny_estimator(random_state=8).fit(X)
    assert not np.allclose(other.transform(X), tiny_estimator(random_state=7).fit(X).transform(X))


def test_tf32_changes_nothing_on_the_cpu_and_bfloat16_trains_under_autocast(blobs,
                                                                             monkeypatch):
    X, _ = blobs
    float32 = tiny_estimator(random_state=3, precision="float32").fit(X)
    tf32 = tiny_estimator(random_state=3, precision="tf32").fit(X)
    np.testing.assert_array_equal(tf32.labels_, float32.labels_)
    np.testing.assert_array_equal(tf32.transform(X), float32.transform(X))
    assert (float32.precision_, tf32.precision_) == ("float32", "tf32")
    # bfloat16: the training steps' matrix products run in bfloat16, but the posterior's
    # parameters, from which the KL terms and cluster posteriors are built, come out in
    # float32; inference is not in bfloat16.
    seen = []
    original = MFCVAE.loss

    def recording_loss(module, x, *args, **kwargs):
        seen.append((module.encoder.blocks[0](x).dtype, module.encoder(x)[0][0].dtype))
        return original(module, x, *args, **kwargs)

    monkeypatch.setattr(MFCVAE, "loss", recording_loss)
    bf16 = tiny_estimator(random_state=3, precision="bfloat16").fit(X)
    assert seen and set(seen) == {(torch.bfloat16, torch.float32)}
    assert bf16.precision_ == "bfloat16"
    assert bf16.transform(X).dtype == np.float64 and np.isfinite(bf16.transform(X)).all()
    assert np.isfinite(bf16.score(X))  # quality vs float32: benchmarks/RESULTS.md
    seen.clear()
    assert tiny_estimator(random_state=3).fit(X).precision_ == "float32"  # "auto"
    assert set(seen) == {(torch.float32, torch.float32)}
    with pytest.raises(ValueError, match="precision must be one of"):
        skmfc.training.train(
            float32.module_, torch.zeros(4, X.shape[1]),
            schedule=skmfc.training.ScheduleConfig([1], fade_in_fraction=0.5),
            optimisation=skmfc.training.OptimisationConfig(
                batch_size=2, learning_rate=1e-3, free_nats=[0.0, 0.0]),
            seed=0, engine=skmfc.training.EngineConfig(precision="half"))


@pytest.mark.parametrize("dump, load", [
    (pickle.dumps, pickle.loads),
    (lambda est: _joblib_bytes(est), lambda data: joblib.load(io.BytesIO(data))),
])
def test_persistence_round_trip(blobs, dump, load):
    X, _ = blobs
    est = tiny_estimator().fit(X)
    restored = load(dump(est))
    np.testing.assert_array_equal(restored.predict(X), est.predict(X))
    np.testing.assert_array_equal(restored.transform(X), est.transform(X))
    assert restored.score(X) == est.score(X)
    np.testing.assert_array_equal(restored.sample(5, random_state=0)[0],
                                  est.sample(5, random_state=0)[0])


def _joblib_bytes(est):
    buffer = io.BytesIO()
    joblib.dump(est, buffer)
    return buffer.getvalue()


def test_clone_pipeline_and_grid_search(blobs):
    X, _ = blobs
    est = tiny_estimator()
    cloned = clone(est)
    assert cloned.get_params() == est.get_params() and not hasattr(cloned, "labels_")
    pipeline = make_pipeline(MinMaxScaler(), tiny_estimator()).fit(X)
    assert pipeline.predict(X).shape == (len(X), 2)
    assert pipeline[-1].likelihood_ == "bernoulli"
    search = GridSearchCV(tiny_estimator(), {"latent_dim": [1, 2]}, cv=2).fit(X)
    # Default scoring is the estimator's score: the mean ELBO, finite and comparable.
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_params_["latent_dim"] in (1, 2)


def test_score_is_a_deterministic_mean_elbo(blobs):
    X, _ = blobs
    est = tiny_estimator(max_iter=20).fit(X)
    assert est.score(X) == est.score(X)
    # Shifting and scaling the data changes the ELBO only by the change of variables.
    scaled = tiny_estimator(max_iter=20).fit(10.0 * X + 100.0)
    assert scaled.score(10.0 * X + 100.0) == pytest.approx(
        est.score(X) - X.shape[1] * np.log(10.0), rel=1e-6)


def test_variants_train(blobs):
    X, _ = blobs
    for params in (dict(n_facets=1), dict(n_facets=3, n_clusters=(2, 3, 4)),
                   dict(covariance_type="full"), dict(categorical_posterior="one_sample"),
                   dict(learn_weights=False), dict(progressive=False), dict(n_clusters=1),
                   dict(free_bits=0.0)):
        est = tiny_estimator(**params).fit(X)
        assert est.labels_.shape == ((len(X),) if est.n_facets == 1 else (len(X), est.n_facets))
        assert np.all(np.isfinite(est.predict_proba(X)))
    fixed = tiny_estimator(learn_weights=False).fit(X)
    # Uniform weights over each facet's clusters (a guided facet may have fewer than
    # n_clusters: as many as its guide partition's groups).
    for prior, n_clusters in zip(fixed.module_.priors, fixed.n_clusters_):
        assert n_clusters <= 3
        np.testing.assert_allclose(prior.log_weights().exp().detach().numpy(), 1 / n_clusters)


def test_verbose_shows_progress(blobs, capsys):
    X, _ = blobs
    tiny_estimator(verbose=1).fit(X)
    err = capsys.readouterr().err
    assert "MFCVAE" in err and "elbo=" in err
    tiny_estimator().fit(X)
    assert capsys.readouterr().err == ""


def test_failed_fit_keeps_the_previous_model(blobs, monkeypatch):
    X, _ = blobs
    est = tiny_estimator().fit(X)
    labels = est.labels_.copy()
    module = est.module_

    def broken_train(*args, **kwargs):
        raise FloatingPointError("injected")

    monkeypatch.setattr(skmfc.estimator, "train", broken_train)
    with pytest.raises(FloatingPointError, match="injected"):
        est.fit(X[:, :3])
    assert est.module_ is module and est.n_features_in_ == X.shape[1]
    np.testing.assert_array_equal(est.predict(X), labels)


def test_float32_int_and_list_inputs(blobs):
    X, _ = blobs
    est = tiny_estimator().fit(X.astype(np.float32))
    assert est.predict(X.astype(np.float64)).shape == (len(X), 2)
    ints = np.rint(X).astype(np.int64)
    assert tiny_estimator().fit(ints).predict(ints.tolist()).shape == (len(X), 2)


@pytest.mark.parametrize("height, width, channels", [(8, 8, 1), (12, 20, 3), (28, 28, 1)])
def test_image_inputs_in_every_layout(height, width, channels):
    rng = np.random.RandomState(0)
    images = rng.rand(40, height, width, channels).astype(np.float32)
    est = tiny_estimator(max_iter=2, batch_size=20).fit(images)
    assert est.architecture_ == "conv" and est.image_shape_ == (height, width, channels)
    labels = est.predict(images)
    np.testing.assert_array_equal(est.predict(images.reshape(40, -1)), labels)
    np.testing.assert_array_equal(est.predict(images.transpose(0, 3, 1, 2)), labels)
    if channels == 1:
        np.testing.assert_array_equal(est.predict(images[..., 0]), labels)
    generated, _ = est.sample(3, random_state=0)
    assert generated.shape == (3, height * width * channels)
    assert generated.min() >= 0.0 and generated.max() <= 1.0
    with pytest.raises(ValueError, match="images of shape"):
        est.predict(rng.rand(4, height + 1, width, channels))


def test_flat_images_with_image_shape_in_a_pipeline():
    rng = np.random.RandomState(0)
    flat = rng.rand(40, 8 * 8 * 3) * 255.0
    pipeline = make_pipeline(MinMaxScaler(), tiny_estimator(image_shape=(8, 8, 3), max_iter=2))
    pipeline.fit(flat)
    assert pipeline[-1].architecture_ == "conv" and pipeline[-1].image_shape_ == (8, 8, 3)
    with pytest.raises(ValueError, match="holds 100 values but X has 192 features"):
        tiny_estimator(image_shape=(10, 10)).fit(flat)
    with pytest.raises(ValueError, match="architecture='conv' needs images"):
        tiny_estimator(architecture="conv").fit(flat)
    with pytest.raises(ValueError, match="cannot tell the channel axis"):
        tiny_estimator().fit(rng.rand(10, 5, 6, 7))
