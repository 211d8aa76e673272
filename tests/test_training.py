"""Pieces of the training loop: dead-cluster re-seeding, the batch order, data fed from
host memory in chunks."""

import numpy as np
import pytest
import torch

from skmfc.nn import MFCVAE
from skmfc.training import (RESEED_MAX_SAMPLES, EngineConfig, GuideConfig, OptimisationConfig,
                            PriorConfig, ScheduleConfig, _batch_indices, _Permutations,
                            encode_means, reseed_dead_clusters, train)


def module_with_a_dead_cluster(n_samples):
    """A small untrained module whose deepest facet has one component far from the data."""
    torch.manual_seed(0)
    module = MFCVAE((8,), (16, 16), (2, 2), (3, 3))
    X = torch.rand(n_samples, 8)
    means = encode_means(module, X)[1]
    centre = means.mean(0)
    module.priors[1].set_components(
        torch.stack([centre, centre + 0.01, torch.full((2,), 1e3)]), torch.full((3, 2), 0.1))
    return module, X, means


def test_a_dead_cluster_moves_onto_an_encoded_point():
    # More rows than the re-seeding subset, so that the subset path is the one exercised.
    module, X, means = module_with_a_dead_cluster(RESEED_MAX_SAMPLES + 1000)
    live_means = module.priors[1].means[:2].detach().clone()
    assert reseed_dead_clusters(module, [1], X, min_share=0.1, random_state=0) == 1
    new_mean = module.priors[1].means[2].detach()
    assert torch.linalg.vector_norm(means - new_mean, dim=1).min() < 1e-4
    torch.testing.assert_close(module.priors[1].means[:2].detach(), live_means)
    assert torch.isfinite(module.priors[1].variances()).all()


def test_shares_from_the_epoch_screen_out_facets_that_look_alive():
    module, X, _ = module_with_a_dead_cluster(500)
    looks_alive = [np.full(3, 1 / 3), np.full(3, 1 / 3)]
    assert reseed_dead_clusters(module, [1], X, 0.1, cluster_shares=looks_alive) == 0
    assert module.priors[1].means[2, 0].item() == 1e3
    looks_dead = [np.full(3, 1 / 3), np.array([0.5, 0.5, 0.0])]
    assert reseed_dead_clusters(module, [1], X, 0.1, cluster_shares=looks_dead) == 1


def test_drawing_the_next_order_ahead_keeps_the_sequence():
    ahead = _Permutations(10, torch.Generator().manual_seed(3))
    plain = _Permutations(10, torch.Generator().manual_seed(3))
    drawn = []
    for _ in range(3):
        drawn.append(ahead.draw())
        ahead.draw_ahead()
        ahead.draw_ahead()  # a second call does not skip an order
    for order in drawn:
        torch.testing.assert_close(order, plain.draw())


def test_batches_have_equal_sizes_and_cover_every_row():
    order = torch.randperm(10, generator=torch.Generator().manual_seed(0))
    batches = _batch_indices(order, 3)
    assert batches.shape == (3, 4)
    assert set(batches.flatten().tolist()) == set(range(10))
    # The two padding slots repeat the first rows of the order.
    torch.testing.assert_close(batches.flatten()[10:], order[:2])


def small_training_run(X, kl_warmup_fraction=0.0, **configs):
    """Four epochs of a small module on X; ``configs``: more of train's keywords."""
    torch.manual_seed(0)
    module = MFCVAE((X.shape[1],), (16, 16), (2, 2), (3, 3))
    history = train(module, X, schedule=ScheduleConfig([2, 2], fade_in_fraction=0.5,
                                                       kl_warmup_fraction=kl_warmup_fraction),
                    optimisation=OptimisationConfig(batch_size=32, learning_rate=1e-3,
                                                    free_nats=[0.5, 0.5]),
                    seed=0, priors=PriorConfig(min_cluster_share=0.1), **configs)
    return module, history


def test_data_fed_in_chunks_train_exactly_as_data_in_place():
    # 300 rows in batches of 32 (10 batches, padded) through chunks of 3 batches: three
    # full chunks and a last one of a single batch, alternating the two staging buffers.
    X = torch.rand(300, 8)
    whole, whole_history = small_training_run(X)
    chunked, chunked_history = small_training_run(X, engine=EngineConfig(chunk_rows=3 * 32 + 5))
    assert chunked_history.elbo == whole_history.elbo
    for key, value in whole.state_dict().items():
        torch.testing.assert_close(chunked.state_dict()[key], value, rtol=0, atol=0)


def test_guided_data_fed_in_chunks_train_exactly_as_data_in_place():
    X = torch.rand(300, 8)
    labels = torch.randint(3, (300, 2), generator=torch.Generator().manual_seed(1))
    guide = GuideConfig(labels=labels, strength=[10.0, 0.0])
    whole, whole_history = small_training_run(X, guide=guide)
    chunked, chunked_history = small_training_run(
        X, engine=EngineConfig(chunk_rows=3 * 32 + 5), guide=guide)
    assert chunked_history.elbo == whole_history.elbo
    for key, value in whole.state_dict().items():
        torch.testing.assert_close(chunked.state_dict()[key], value, rtol=0, atol=0)


def test_a_guide_pulls_its_facet_onto_its_partition_and_only_that_facet():
    # Two factors; the guide asks facet 0 for the weaker one.
    from sklearn.metrics import adjusted_rand_score
    generator = torch.Generator().manual_seed(2)
    strong, weak = torch.randint(3, (600,), generator=generator), torch.randint(3, (600,),
                                                                                generator=generator)
    X = 0.1 * torch.rand(600, 8, generator=generator)
    X[:, :2] += 0.6 * torch.stack([strong == 1, strong == 2], 1)
    X[:, 2:4] += 0.4 * torch.stack([weak == 1, weak == 2], 1)
    guide = torch.stack([weak, torch.zeros_like(weak)], 1)
    torch.manual_seed(0)
    module = MFCVAE((8,), (32, 32), (2, 2), (3, 3))
    train(module, X, schedule=ScheduleConfig([60], fade_in_fraction=0.5, progressive=False),
          optimisation=OptimisationConfig(batch_size=50, learning_rate=3e-3,
                                          free_nats=[0.5, 0.5]),
          seed=0, guide=GuideConfig(labels=guide, strength=[10.0, 0.0]))
    module.eval()
    with torch.no_grad():
        posteriors = module.encode(X)
        assigned = [module.cluster_log_posterior(j, *posteriors[j]).argmax(1).numpy()
                    for j in range(2)]
    assert adjusted_rand_score(weak.numpy(), assigned[0]) > 0.9
    assert adjusted_rand_score(strong.numpy(), assigned[0]) < 0.1


def test_guide_weights_fade_to_nothing_and_spare_facets_not_switched_on():
    from skmfc.training import _batch_weights, guide_weights_at
    np.testing.assert_allclose(guide_weights_at(0, 4, [10.0, 0.0]), [10.0, 0.0])
    np.testing.assert_allclose(guide_weights_at(4, 4, [10.0, 2.0]), [0.0, 0.0])
    guide = GuideConfig(labels=torch.zeros(5, 2, dtype=torch.long),
                        strength=np.array([4.0, 4.0]))
    weights = _batch_weights(np.array([0.0, 1.0]), guide, epoch=1, n_epochs=2)
    np.testing.assert_allclose(weights, [[0.0, 1.0], [0.0, 1.0], [0.0, 2.0]])
    np.testing.assert_allclose(_batch_weights(np.array([1.0, 1.0]), None, 0, 2),
                               [[1, 1], [1, 1], [0, 0]])


def test_the_kl_warmup_scales_the_kl_weights_only():
    from skmfc.training import _batch_weights, kl_warmup_at
    assert kl_warmup_at(0, 100, 0.0) == 1.0
    assert kl_warmup_at(9, 100, 0.5) == pytest.approx(0.2)
    assert kl_warmup_at(49, 100, 0.5) == 1.0
    np.testing.assert_allclose(_batch_weights(np.array([0.5, 1.0]), None, 0, 2, kl_weight=0.2),
                               [[0.5, 1.0], [0.1, 0.2], [0.0, 0.0]])


def test_a_kl_warmup_trains_an_autoencoder_first():
    # With the KL weighted almost 0, the first epoch is spent on the reconstruction: it
    # ends far better than under the full KL, and the KL terms grow instead of shrinking.
    X = (torch.rand(300, 8) > 0.5).float()
    _, plain = small_training_run(X)
    _, warmed = small_training_run(X, kl_warmup_fraction=0.75)
    assert len(warmed.elbo) == len(plain.elbo) == 4
    assert warmed.elbo[0] > plain.elbo[0]


@pytest.mark.slow
def test_a_compiled_loss_gives_the_plain_loss_and_gradients_and_trains():
    # torch.compile fuses the loss's elementwise operations, which may round differently
    # in the last bits (about 40 s of compiling on one CPU thread, paid once).
    torch.manual_seed(0)
    module = MFCVAE((8,), (16, 16), (2, 2), (3, 3))
    x = torch.rand(64, 8)
    arguments = (torch.ones(2), torch.full((2,), 0.5), torch.full((2,), 0.5))

    def loss_and_gradients(loss_function):
        module.zero_grad()
        torch.manual_seed(1)  # the same draw of z for both
        loss, elbo, _ = loss_function(x, *arguments)
        loss.backward()
        return [loss.detach(), elbo] + [p.grad.clone() for p in module.parameters()]

    plain = loss_and_gradients(module.loss)
    import torch._inductor.config as inductor_config
    with inductor_config.patch(fallback_random=True):  # eager's draw of z, for comparing
        compiled = loss_and_gradients(torch.compile(module.loss))
    for expected, actual in zip(plain, compiled):
        torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5)
    # Through train(): the same epochs' ELBOs (the runs drift apart in the last bits, which
    # the prior refits and re-seeding amplify in the weights, so those are not compared).
    X = torch.rand(300, 8)
    _, plain_history = small_training_run(X)
    _, compiled_history = small_training_run(X, engine=EngineConfig(compile_loss=True))
    np.testing.assert_allclose(compiled_history.elbo, plain_history.elbo, rtol=1e-3)


# ---------------------------------------------------------------------- the fault rules
def test_non_finite_retries_halve_the_learning_rate_and_give_up_after_a_run_of_failures():
    from skmfc.training.faults import NonFiniteRetries
    retries = NonFiniteRetries(max_retries=2)
    rate, message = retries.failed(epoch=4, learning_rate=1e-3)
    assert rate == 5e-4 and "non-finite in epoch 5" in message and "0.0005" in message
    rate, _ = retries.failed(4, rate)
    retries.succeeded()  # a good epoch: the run of failures starts again
    rate, _ = retries.failed(7, rate)
    rate, _ = retries.failed(7, rate)
    with pytest.raises(FloatingPointError, match=r"epoch 8, and again in each of 2 retries"
                                                 r".*down to 6.25e-05"):
        retries.failed(7, rate)


def test_out_of_memory_halves_the_batch_size_down_to_the_smallest():
    from skmfc.training.faults import AdvisedOutOfMemoryError, halve_batch_size
    size, message = halve_batch_size(64, 8, epoch=0, reason="CUDA out of memory")
    assert size == 32 and "runs again with batch size 32" in message
    assert halve_batch_size(16, 8, 0, "")[0] == 8
    with pytest.raises(AdvisedOutOfMemoryError,
                       match=r"epoch 3 at batch size 15 \(no room\).*device='cpu'"):
        halve_batch_size(15, 8, epoch=2, reason="no room")
    assert issubclass(AdvisedOutOfMemoryError, torch.cuda.OutOfMemoryError)


def test_early_stopping_keeps_the_best_and_counts_epochs_without_improvement():
    from skmfc.training.faults import EarlyStopping
    stopping = EarlyStopping(tol=0.5, n_iter_no_change=2)
    assert stopping.update(1.0)  # the first finite value is the best so far
    assert stopping.update(1.2) and stopping.no_improvement == 1  # better, but within tol
    assert not stopping.converged
    assert not stopping.update(float("nan"))
    assert stopping.converged and stopping.best == 1.2 and stopping.no_improvement == 2
    assert stopping.update(2.0) and not stopping.converged and stopping.best == 2.0
    # A non-finite first value counts as an improvement but is never the best.
    first = EarlyStopping(tol=0.0, n_iter_no_change=1)
    assert not first.update(float("inf")) and first.best is None and not first.converged


def test_the_schedule_fades_facets_in_and_warms_the_kl_up():
    from skmfc.training import Schedule
    schedule = Schedule((2, 2), fade_in_fraction=0.5, n_facets=2, kl_warmup_fraction=0.5)
    assert schedule.n_epochs == 4 and schedule.last_step == 1
    assert list(schedule.facets_switched_on(0)) == [1]
    # Step 1 fades facet 0 in over 0.5 * 2 epochs * 4 batches = 4 batches.
    assert schedule.fade_in_batches(1, n_batches=4) == 4
    weights = schedule.batch_weights(step=1, epoch_in_step=0, epoch=2, n_batches=4, batch=1)
    np.testing.assert_allclose(weights, [[0.5, 1.0], [0.5, 1.0], [0.0, 0.0]])
    np.testing.assert_allclose(schedule.facet_weights_after(1, 0, 4), [1.0, 1.0])
    assert not schedule.warmed_up_after(epoch=0, n_batches=4)
    assert schedule.warmed_up_after(epoch=1, n_batches=4)
    together = Schedule((3,), 0.5, n_facets=2, progressive=False)
    assert list(together.facets_switched_on(0)) == [0, 1] and together.last_step == 0
