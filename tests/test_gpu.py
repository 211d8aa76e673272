"""The CUDA training paths: captured CUDA graphs, TF32 and bfloat16 autocast. Skipped
without CUDA (run with ``pytest -m gpu`` on a GPU machine)."""

import math

import numpy as np
import pytest
import torch

import skmfc._device
import skmfc.training
from skmfc import MFCVAEClustering
from skmfc.nn import MFCVAE
from skmfc.training import (EngineConfig, GuideConfig, OptimisationConfig, PriorConfig,
                            ScheduleConfig, _CapturedSteps, train)

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def two_blob_images(n=3000, seed=0):
    """Binary 64-pixel patterns of two independent kinds (left half, right half)."""
    rng = np.random.default_rng(seed)
    left, right = rng.integers(4, size=n), rng.integers(3, size=n)
    patterns_left = rng.random((4, 32)) < 0.5
    patterns_right = rng.random((3, 32)) < 0.5
    noise = rng.random((n, 64)) < 0.05
    X = np.concatenate([patterns_left[left], patterns_right[right]], axis=1) ^ noise
    return torch.as_tensor(X, dtype=torch.float32, device="cuda")


GRAPHS = EngineConfig(cuda_graphs=True)
GRAPHS_STREAMED = EngineConfig(cuda_graphs=True, chunk_rows=1000)


def trained(X, epochs=6, seed=0, **configs):
    """A module trained on X for ``epochs``; ``configs``: more of train's keywords."""
    torch.manual_seed(seed)
    module = MFCVAE((X.shape[1],), (64, 64), (2, 2), (4, 3)).to("cuda")
    history = train(module, X,
                    schedule=ScheduleConfig([epochs // 2, epochs - epochs // 2],
                                            fade_in_fraction=0.5),
                    optimisation=OptimisationConfig(batch_size=128, learning_rate=1e-3,
                                                    free_nats=[0.5, 0.5]),
                    seed=seed, priors=PriorConfig(min_cluster_share=0.1), **configs)
    return module, history


def test_capturing_leaves_the_weights_and_optimizer_as_they_were():
    X = two_blob_images(512)
    module = MFCVAE((64,), (32, 32), (2, 2), (4, 3)).to("cuda")
    optimizer = skmfc.training._adam(module, 1e-3, capturable=True)
    before = {key: value.clone() for key, value in module.state_dict().items()}
    free_nats = torch.zeros(2, device="cuda")
    steps = _CapturedSteps(module, optimizer, X, free_nats, batch_size=128)
    for key, value in module.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    # One replayed epoch moves the weights and gives a finite ELBO.
    batches = torch.arange(512, device="cuda").view(4, 128)
    steps.reset_sums()
    # Per batch: the facets' fade-in, KL and guide weights, (3, J).
    assert steps.run(batches, torch.ones(4, 3, 2, device="cuda"))
    elbo_sum, mass_sums = steps.elbo_sum, steps.mass_sums
    assert math.isfinite(float(elbo_sum))
    assert not torch.equal(module.state_dict()["encoder.blocks.0.0.weight"],
                           before["encoder.blocks.0.0.weight"])
    # The mass sums count every example of the epoch once per facet.
    for mass in mass_sums:
        assert float(mass.sum()) == pytest.approx(512, rel=1e-4)
    steps.release()


@pytest.mark.parametrize("precision", ["float32", "tf32", "bfloat16"])
def test_graphed_training_reaches_the_eager_elbo(precision):
    X = two_blob_images()
    _, eager = trained(X)
    _, graphed = trained(X, engine=EngineConfig(precision=precision, cuda_graphs=True))
    assert all(map(math.isfinite, graphed.elbo))
    # Both improve on their first epoch, and end within a few nats of each other (the
    # random draws differ, so the curves are not identical).
    assert graphed.elbo[-1] > graphed.elbo[0] + 5
    assert abs(graphed.elbo[-1] - eager.elbo[-1]) < 0.05 * abs(eager.elbo[-1])


@pytest.mark.parametrize("precision", ["float32", "tf32"])
def test_tf32_is_on_exactly_while_training_in_tf32(precision):
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    seen = []
    trained(two_blob_images(500), epochs=2,
            engine=EngineConfig(precision=precision, cuda_graphs=True),
            on_epoch_end=lambda *_: seen.append((torch.backends.cuda.matmul.allow_tf32,
                                                 torch.backends.cudnn.allow_tf32)))
    assert seen == [(precision == "tf32",) * 2] * 2
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before


def test_a_broken_weight_is_rolled_back_in_place_under_graphs(monkeypatch):
    X = two_blob_images(1000)
    original = _CapturedSteps.run
    epochs = {"n": 0}

    def corrupting_run(steps, *args, **kwargs):
        result = original(steps, *args, **kwargs)
        epochs["n"] += 1
        if epochs["n"] == 2:  # the last replayed step broke a weight
            with torch.no_grad():
                next(steps.module.parameters())[0] = math.inf
        return result

    monkeypatch.setattr(_CapturedSteps, "run", corrupting_run)
    with pytest.warns(RuntimeWarning, match="non-finite in epoch 2"):
        module, history = trained(X, epochs=4, engine=GRAPHS)
    assert len(history.elbo) == 4 and all(map(math.isfinite, history.elbo))
    assert all(torch.isfinite(parameter).all() for parameter in module.parameters())
    # The replays after the rollback kept training the restored weights.
    assert history.elbo[-1] > history.elbo[0]


def test_the_estimator_trains_on_cuda_and_predicts_finite_labels():
    X = two_blob_images(2000).cpu().numpy()
    est = MFCVAEClustering(n_facets=2, n_clusters=(4, 3), latent_dim=2, hidden_sizes=(64, 64),
                           max_iter=10, device="cuda", random_state=0).fit(X)
    assert est.device_.type == "cuda"
    assert np.isfinite(est.predict_proba(X)).all()
    assert np.isfinite(est.elbo_curve_).all()


def test_data_in_host_memory_stream_to_the_gpu_and_train_as_data_on_it():
    X = two_blob_images(3000)
    _, on_device = trained(X, engine=GRAPHS)
    _, streamed = trained(X.cpu(), engine=GRAPHS_STREAMED)
    np.testing.assert_allclose(streamed.elbo, on_device.elbo, rtol=1e-5)


def test_guided_training_under_graphs_and_streamed_matches_eager():
    X = two_blob_images(3000)
    rng = np.random.default_rng(1)
    labels = torch.as_tensor(rng.integers(3, size=(3000, 2)), device="cuda")
    guide = GuideConfig(labels=labels, strength=[10.0, 0.0])
    _, eager = trained(X, guide=guide)
    _, graphed = trained(X, engine=GRAPHS, guide=guide)
    _, streamed = trained(X.cpu(), engine=GRAPHS_STREAMED,
                          guide=GuideConfig(labels=labels.cpu(), strength=[10.0, 0.0]))
    assert all(map(math.isfinite, graphed.elbo))
    assert abs(graphed.elbo[-1] - eager.elbo[-1]) < 0.05 * abs(eager.elbo[-1])
    np.testing.assert_allclose(streamed.elbo, graphed.elbo, rtol=1e-5)


def test_the_estimator_streams_data_that_would_crowd_the_gpu(monkeypatch):
    X = two_blob_images(2000).cpu().numpy()
    params = dict(n_facets=2, n_clusters=(4, 3), latent_dim=2, hidden_sizes=(64, 64),
                  max_iter=6, device="cuda", random_state=0)
    in_place = MFCVAEClustering(**params).fit(X)
    chunk_runs = []
    original_run = skmfc.training._HostChunks.run

    def counting_run(self, *args):
        chunk_runs.append(self.device_rows.device.type)
        return original_run(self, *args)

    monkeypatch.setattr(skmfc._device, "DEVICE_DATA_FRACTION", 0.0)
    monkeypatch.setattr(skmfc.training._HostChunks, "run", counting_run)
    streamed = MFCVAEClustering(**params).fit(X)
    assert chunk_runs and set(chunk_runs) == {"cuda"}
    np.testing.assert_allclose(streamed.elbo_curve_, in_place.elbo_curve_, rtol=1e-5)
    assert (streamed.labels_ == in_place.labels_).mean() > 0.99
