"""Training that survives faults: non-finite losses, Ctrl-C, out of memory; early
stopping and warm starts."""

import io
import math
import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

import skmfc.estimator
import skmfc.training
import skmfc.training.loop
from skmfc.nn import MFCVAE
from skmfc.training import FaultConfig, OptimisationConfig, PriorConfig, ScheduleConfig
from skmfc.training.faults import state_kept_on_interrupt
from tests.conftest import tiny_estimator


@pytest.fixture(scope="module")
def X():
    rng = np.random.RandomState(0)
    centres = rng.normal(scale=5.0, size=(4, 6))
    return centres[rng.randint(4, size=160)] + rng.normal(size=(160, 6))


def patch_loss(monkeypatch, replacement):
    """Replace MFCVAE.loss by ``replacement(call_number, original, module, x, *args)``."""
    original = MFCVAE.loss
    calls = {"n": 0}

    def loss(self, x, *args, **kwargs):
        calls["n"] += 1
        return replacement(calls["n"], lambda: original(self, x, *args, **kwargs), x)

    monkeypatch.setattr(MFCVAE, "loss", loss)
    return calls


def poisoned(terms):
    """The loss and ELBO of ``MFCVAE.loss``'s output made nan."""
    loss, elbo, *rest = terms
    return (loss * math.nan, elbo * math.nan, *rest)


def assert_usable(est, X):
    """A fitted estimator whose weights and outputs are all finite."""
    for parameter in est.module_.parameters():
        assert torch.isfinite(parameter).all()
    assert np.isfinite(est.predict_proba(X)).all()
    assert np.isfinite(est.transform(X)).all()
    assert np.isfinite(est.score(X))
    assert est.labels_.shape == (len(X), est.n_facets) and est.labels_.min() >= 0
    assert all(np.isfinite(est.elbo_curve_))


# ---------------------------------------------------------------------- non-finite values
def test_a_poisoned_batch_is_rolled_back_and_retried(X, monkeypatch):
    # 5 batches per epoch: call 8 is in epoch 2.
    patch_loss(monkeypatch, lambda n, loss, x: poisoned(loss()) if n == 8 else loss())
    with pytest.warns(RuntimeWarning, match=r"non-finite in epoch 2.*runs epoch 2 again with "
                                            r"learning rate 0.0005"):
        est = tiny_estimator(max_iter=4).fit(X)
    assert est.n_iter_ == 4
    assert_usable(est, X)


def corrupt_after_call(monkeypatch, owner, name, call, corrupt):
    """Make ``owner.name`` run as usual, then ``corrupt(first_argument)`` (under no_grad)
    after its ``call``-th call."""
    original = getattr(owner, name)
    calls = {"n": 0}

    def corrupting(first, *args, **kwargs):
        result = original(first, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == call:
            with torch.no_grad():
                corrupt(first)
        return result

    monkeypatch.setattr(owner, name, corrupting)


def test_non_finite_weights_at_an_epoch_end_are_caught(X, monkeypatch):
    # Every loss of epoch 2 was fine; its last step broke a weight.
    def break_a_weight(steps):
        next(steps.module.parameters())[0] = math.inf

    corrupt_after_call(monkeypatch, skmfc.training._EagerSteps, "run", 2, break_a_weight)
    with pytest.warns(RuntimeWarning, match="non-finite in epoch 2"):
        est = tiny_estimator(max_iter=3).fit(X)
    assert est.n_iter_ == 3
    assert_usable(est, X)


def test_a_loss_that_stays_non_finite_raises_and_keeps_the_previous_model(X, monkeypatch):
    est = tiny_estimator().fit(X)
    labels, module = est.labels_.copy(), est.module_
    patch_loss(monkeypatch, lambda n, loss, x: poisoned(loss()))
    with pytest.warns(RuntimeWarning, match="non-finite"):
        with pytest.raises(FloatingPointError, match="smaller learning_rate") as info:
            est.fit(X)
    assert "3 retries" in str(info.value) and "0.000125" in str(info.value)
    assert est.module_ is module
    np.testing.assert_array_equal(est.labels_, labels)
    np.testing.assert_array_equal(est.predict(X), labels)


@pytest.mark.filterwarnings(
    "ignore:Number of distinct clusters:sklearn.exceptions.ConvergenceWarning")
def test_extreme_values_train_to_finite_outputs(X):
    outlier = np.vstack([X, np.full((1, X.shape[1]), 1e12)])
    assert_usable(tiny_estimator().fit(outlier), outlier)
    huge = X * 1e300
    est = tiny_estimator().fit(huge)
    assert_usable(est, huge)
    assert math.isfinite(est.input_scale_) and est.input_scale_ > 1e299
    generated, _ = est.sample(5, random_state=0)
    assert np.isfinite(generated).all() and np.abs(generated).max() > 1e299
    tiny = X * 1e-300
    assert_usable(tiny_estimator(likelihood="gaussian").fit(tiny), tiny)


# ---------------------------------------------------------------------- Ctrl-C
def weights_after_each_epoch():
    """An ``on_epoch_end`` hook for :func:`skmfc.training.train` that keeps a copy of the
    module's weights after every epoch, and the list it keeps them in."""
    kept = []

    def on_epoch_end(module):
        return lambda epoch, elbo: kept.append(
            {key: value.clone() for key, value in module.state_dict().items()})

    return kept, on_epoch_end


def train_tiny(X, on_epoch_end, epochs_per_step=(3, 3), faults=FaultConfig(),
               X_validation=None):
    """:func:`skmfc.training.train` as ``tiny_estimator`` runs it, on a new module."""
    torch.manual_seed(0)
    module = MFCVAE((X.shape[1],), (16, 16), (2, 2), (3, 3))
    X = torch.as_tensor(X, dtype=torch.float32)
    return module, skmfc.training.train(
        module, X, schedule=ScheduleConfig(epochs_per_step, fade_in_fraction=0.5),
        optimisation=OptimisationConfig(batch_size=32, learning_rate=1e-3,
                                        free_nats=[1.0, 1.0]),
        seed=0, priors=PriorConfig(refit_fraction=0.5, min_cluster_share=0.1), faults=faults,
        X_validation=X_validation, on_epoch_end=on_epoch_end(module))


def test_ctrl_c_keeps_the_last_completed_epoch(X, monkeypatch):
    # 5 batches per epoch: call 13 is in epoch 3.
    calls = patch_loss(monkeypatch, lambda n, loss, x: (_ for _ in ()).throw(KeyboardInterrupt)
                       if n == 13 else loss())
    with pytest.warns(ConvergenceWarning, match="interrupted in epoch 3 of 6.*after epoch 2"):
        est = tiny_estimator(max_iter=6).fit(X)
    assert est.n_iter_ == len(est.elbo_curve_) == 2 and not est.converged_
    assert_usable(est, X)
    # The module train() leaves holds the weights after epoch 2, not those of the batches
    # epoch 3 ran before Ctrl-C.
    calls["n"] = 0
    kept, on_epoch_end = weights_after_each_epoch()
    module, history = train_tiny(X, on_epoch_end)
    assert history.interrupted and len(history.elbo) == len(kept) == 2
    for key, value in module.state_dict().items():
        torch.testing.assert_close(value, kept[-1][key], rtol=0, atol=0)


def interrupted_after_epoch(last_epoch, kept, scrambled_after=None):
    """An ``on_epoch_end`` hook (given the module) that keeps a copy of the weights after
    every epoch in ``kept`` and raises KeyboardInterrupt after epoch ``last_epoch``, as
    Ctrl-C between two epochs would; after epoch ``scrambled_after`` (and after the last)
    it adds noise to the weights, which the epochs after it then train from."""
    def on_epoch_end(module):
        def hook(epoch, elbo):
            kept.append({key: value.clone() for key, value in module.state_dict().items()})
            if epoch in (scrambled_after, last_epoch):
                with torch.no_grad():
                    for parameter in module.parameters():
                        parameter.add_(torch.randn_like(parameter))
            if epoch == last_epoch:
                raise KeyboardInterrupt
        return hook

    return on_epoch_end


def test_an_interrupt_from_on_epoch_end_keeps_the_last_completed_epoch(X):
    kept = []
    module, history = train_tiny(X, interrupted_after_epoch(4, kept))
    assert history.interrupted and not history.converged
    assert len(history.elbo) == len(kept) == 4
    for key, value in module.state_dict().items():
        assert torch.equal(value, kept[-1][key]), key


def test_an_interrupt_from_on_epoch_end_keeps_the_best_validated_epoch(X):
    # Epoch 16 is the first that early stopping watches (facet 0 has faded in and the
    # priors were refitted); scrambled after it, the weights of epochs 17 and 18 score
    # worse, so Ctrl-C after epoch 18 leaves the module with epoch 16's weights.
    kept = []
    module, history = train_tiny(
        X[16:], interrupted_after_epoch(18, kept, scrambled_after=16), epochs_per_step=[10, 10],
        faults=FaultConfig(n_iter_no_change=5, tol=1e-4),
        X_validation=torch.as_tensor(X[:16], dtype=torch.float32))
    assert history.interrupted and not history.stopped_early and len(kept) == 18
    assert history.best_epoch == 16 and history.validation[15] > max(history.validation[16:])
    for key, value in module.state_dict().items():
        assert torch.equal(value, kept[15][key]), key


def test_the_interrupt_rule_keeps_what_was_completed():
    last, best = {"w": torch.zeros(1)}, {"w": torch.ones(1)}
    assert state_kept_on_interrupt(0, last, best) is None  # nothing to keep: raised again
    assert state_kept_on_interrupt(3, last) is last
    assert state_kept_on_interrupt(3, last, best) is best


def test_ctrl_c_before_the_first_epoch_raises_and_keeps_what_was_there(X, monkeypatch):
    fresh = tiny_estimator()
    fitted = tiny_estimator().fit(X)
    labels, module = fitted.labels_.copy(), fitted.module_
    patch_loss(monkeypatch, lambda n, loss, x: (_ for _ in ()).throw(KeyboardInterrupt)
               if n == 3 else loss())
    with pytest.raises(KeyboardInterrupt):
        fresh.fit(X)
    assert not hasattr(fresh, "module_") and not hasattr(fresh, "n_iter_")
    patch_loss(monkeypatch, lambda n, loss, x: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        fitted.fit(X[:, :4])
    assert fitted.module_ is module and fitted.n_features_in_ == X.shape[1]
    np.testing.assert_array_equal(fitted.predict(X), labels)


# ---------------------------------------------------------------------- out of memory
def test_out_of_memory_halves_the_batch_size(X, monkeypatch):
    def loss(n, original, x):
        if len(x) > 16:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original()

    patch_loss(monkeypatch, loss)
    with pytest.warns(RuntimeWarning, match="out of memory in epoch 1") as record:
        est = tiny_estimator(batch_size=64).fit(X)
    assert [str(w.message).split("; ")[1] for w in record if w.category is RuntimeWarning] == [
        "epoch 1 runs again with batch size 32 (set a smaller batch_size to avoid this)",
        "epoch 1 runs again with batch size 16 (set a smaller batch_size to avoid this)"]
    assert est.n_iter_ == 3 and est.batch_size == 64  # the parameter is left alone
    assert_usable(est, X)


def test_out_of_memory_at_the_smallest_batch_says_what_to_change(X, monkeypatch):
    est = tiny_estimator().fit(X)
    module = est.module_

    def loss(n, original, x):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    patch_loss(monkeypatch, loss)
    with pytest.warns(RuntimeWarning, match="out of memory"):
        with pytest.raises(torch.cuda.OutOfMemoryError,
                           match="batch size 8.*smaller hidden_sizes, or device='cpu'"):
            est.set_params(batch_size=32).fit(X)
    assert est.module_ is module

    def failing_transfer(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory.")

    monkeypatch.setattr(skmfc.estimator.MFCVAEClustering, "_to_model_input", failing_transfer)
    with pytest.raises(torch.cuda.OutOfMemoryError,
                       match="smaller batch_size, smaller hidden_sizes, or device='cpu'"):
        tiny_estimator().fit(X)


# ---------------------------------------------------------------------- early stopping
def test_early_stopping_acts_in_the_last_step_and_restores_the_best_weights(X):
    # tol so large that no epoch improves: stop n_iter_no_change epochs after the first
    # eligible one, which comes once facet 0 has faded in and the priors were refitted.
    est = tiny_estimator(max_iter=20, progressive=True, early_stopping=True, n_iter_no_change=2,
                         tol=1e6).fit(X)
    assert est.progressive_steps_ == [0, 10]  # the first step ran all its epochs
    assert est.n_iter_ == 18 and est.converged_
    assert len(est.validation_scores_) == est.n_iter_
    eligible = est.validation_scores_[-3:]
    assert est.best_validation_score_ == max(eligible)
    # train() ends with the weights of the best of the eligible epochs.
    kept, on_epoch_end = weights_after_each_epoch()
    module, history = train_tiny(X[16:], on_epoch_end, epochs_per_step=[10, 10],
                                 faults=FaultConfig(n_iter_no_change=2, tol=1e6),
                                 X_validation=torch.as_tensor(
                                     X[:16], dtype=torch.float32))
    assert history.stopped_early and len(history.elbo) == len(kept) == 18
    best = -3 + int(np.argmax(history.validation[-3:]))
    assert history.best_validation == history.validation[best]
    assert history.best_epoch == len(kept) + best + 1
    for key, value in module.state_dict().items():
        assert torch.equal(value, kept[best][key])
    # score() on the held-out rows agrees (up to float32 vs float64 sampling noise).
    n_validation = math.ceil(0.1 * len(X))
    held_out = np.sort(np.random.RandomState(est._seed).permutation(len(X))[:n_validation])
    assert est.score(X[held_out]) == pytest.approx(est.best_validation_score_, rel=1e-2)
    assert_usable(est, X)


def test_early_stopping_bookkeeping(X):
    est = tiny_estimator(max_iter=6, early_stopping=True, n_iter_no_change=50).fit(X)
    assert est.n_iter_ == 6 and not est.converged_  # still allowed to improve
    assert len(est.validation_scores_) == 6 and np.isfinite(est.best_validation_score_)
    plain = tiny_estimator().fit(X)
    assert plain.validation_scores_ is None and plain.best_validation_score_ is None
    assert not plain.converged_  # 3 epochs cannot hold n_iter_no_change=10 without gain
    with pytest.raises(ValueError, match="early_stopping=True holds out"):
        tiny_estimator(early_stopping=True, validation_fraction=0.5).fit(X[:5])


# ---------------------------------------------------------------------- warm start
def test_warm_start_continues_the_fitted_network(X, monkeypatch):
    est = tiny_estimator(warm_start=True, max_iter=4, progressive=True).fit(X)
    first_curve, first_module = list(est.elbo_curve_), est.module_
    first_weights = {k: v.clone() for k, v in first_module.state_dict().items()}
    initialisations = []
    original = skmfc.training.loop.initialise_prior
    monkeypatch.setattr(skmfc.training.loop, "initialise_prior",
                        lambda *a, **k: initialisations.append(1) or original(*a, **k))
    est.set_params(max_iter=3).fit(X)
    assert initialisations == []  # the priors were kept
    assert est.n_iter_ == 7 and est.elbo_curve_[:4] == first_curve
    assert est.progressive_steps_ == [0, 2]
    assert est.module_ is not first_module
    for key, value in first_module.state_dict().items():  # the old network is untouched
        assert torch.equal(value, first_weights[key])
    assert_usable(est, X)
    # Continuing does not restart: the ELBO goes on from where it was.
    assert abs(est.elbo_curve_[4] - first_curve[-1]) < abs(first_curve[0] - first_curve[-1])


def test_warm_start_refuses_incompatible_data_and_parameters(X):
    est = tiny_estimator(warm_start=True).fit(X)
    with pytest.raises(ValueError, match="X has 5 features, but MFCVAEClustering is expecting 6"):
        est.fit(X[:, :5])
    with pytest.raises(ValueError, match="latent_dim, n_clusters changed since it was fitted"):
        est.set_params(n_clusters=2, latent_dim=3).fit(X)
    est.set_params(n_clusters=3, latent_dim=2)
    assert est.fit(X).n_iter_ == 6
    # warm_start on an unfitted estimator is an ordinary fit.
    assert tiny_estimator(warm_start=True).fit(X).n_iter_ == 3


# ---------------------------------------------------------------------- schedule, convergence
def test_too_few_epochs_for_the_progressive_schedule_is_an_error(X):
    with pytest.raises(ValueError, match="max_iter=2 is too few.*at least 3"):
        tiny_estimator(n_facets=3, max_iter=2, progressive=True).fit(X)
    est = tiny_estimator(n_facets=3, max_iter=2, progressive=False).fit(X)
    assert est.n_iter_ == 2


def test_converged_means_the_elbo_stopped_improving_by_tol(X):
    # n_facets=2 and max_iter=10: the last step has 5 epochs, of which 3 count (the
    # priors are refitted 2 epochs in). With a tol no epoch beats, the first counts as
    # the best and the next two make n_iter_no_change=2.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = tiny_estimator(max_iter=10, n_iter_no_change=2, tol=1e6).fit(X)
    assert est.converged_
    with pytest.warns(ConvergenceWarning, match=r"did not converge: the training ELBO still "
                                                r"improved by more than tol=1e-06.*max_iter=10"):
        est = tiny_estimator(max_iter=10, n_iter_no_change=3, tol=1e-6).fit(X)
    assert not est.converged_


def test_an_epoch_that_ends_in_a_non_finite_state_is_no_rollback_point(X, monkeypatch):
    # Epoch 2's loss was finite; its end state (after the re-seeding) is not.
    corrupt_after_call(monkeypatch, skmfc.training.loop, "reseed_dead_clusters", 2,
                       lambda module: module.priors[-1].means.fill_(math.inf))
    with pytest.warns(RuntimeWarning, match="non-finite in epoch 2"):
        est = tiny_estimator(max_iter=4).fit(X)
    assert est.n_iter_ == 4
    assert_usable(est, X)


# ---------------------------------------------------------------------- Ctrl-C after training
def interrupt_first_call(monkeypatch, owner, name):
    """Make ``owner.name`` raise KeyboardInterrupt on its first call only."""
    original = getattr(owner, name)
    calls = {"n": 0}

    def interrupted_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, interrupted_once)
    return calls


def test_ctrl_c_in_the_final_pass_for_labels_keeps_the_trained_model(X, monkeypatch, tmp_path):
    expected = tiny_estimator(max_iter=4).fit(X)
    # With n_clusters an int and n_init=1, only that pass asks for cluster posteriors.
    calls = interrupt_first_call(monkeypatch, MFCVAE, "cluster_log_posterior")
    with pytest.warns(ConvergenceWarning, match=r"training ended, then Ctrl-C cut short the "
                                                r"final pass for labels_; the estimator keeps "
                                                r"the trained model, n_iter_=4; labels_ were "
                                                r"not computed and are -1"):
        est = tiny_estimator(max_iter=4).fit(X)
    assert calls["n"] == 1
    assert (est.labels_ == -1).all() and est.labels_.shape == (len(X), 2)
    assert est.clusters_used_ == (0, 0) and np.isnan(est.mean_confidence_).all()
    assert est.n_iter_ == 4 and np.isfinite(est.init_elbos_).all()
    np.testing.assert_array_equal(est.predict(X), expected.labels_)
    assert est.score(X) == expected.score(X)
    est.save(tmp_path / "interrupted.skmfc")
    restored = type(est).load(tmp_path / "interrupted.skmfc")
    np.testing.assert_array_equal(restored.labels_, est.labels_)


def test_ctrl_c_in_the_final_elbo_or_the_merging_skips_it(X, monkeypatch):
    interrupt_first_call(monkeypatch, skmfc.estimator, "elbo_samples")
    with pytest.warns(ConvergenceWarning, match="cut short the ELBO of X for init_elbos_"):
        est = tiny_estimator().fit(X)
    assert np.isnan(est.init_elbos_).all()
    assert_usable(est, X)
    np.testing.assert_array_equal(est.predict(X), est.labels_)
    monkeypatch.undo()

    interrupt_first_call(monkeypatch, skmfc.estimator, "merge_module_clusters")
    with pytest.warns(ConvergenceWarning, match="cut short the merging of clusters"):
        est = tiny_estimator(n_clusters="auto", guide=None).fit(X)
    assert est.n_clusters_ == (10, 10)  # the upper bound, unmerged
    assert_usable(est, X)


# ---------------------------------------------------------------------- refits
def test_a_refit_replaces_the_fitted_state_at_once(X, monkeypatch):
    est = tiny_estimator().fit(X)
    before = dict(est.__dict__)
    labels = est.predict(X)
    seen = []
    original = MFCVAE.loss

    def observing_loss(module, *args, **kwargs):
        if not seen:  # in the refit's first training step
            buffer = io.BytesIO()
            est.save(buffer)
            buffer.seek(0)
            seen.append((dict(est.__dict__), est.predict(X), pickle.loads(pickle.dumps(est)),
                         type(est).load(buffer)))
        return original(module, *args, **kwargs)

    monkeypatch.setattr(MFCVAE, "loss", observing_loss)
    est.fit(X * 100.0 + 7.0)
    during, predicted, unpickled, loaded = seen[0]
    assert set(during) == set(before)
    assert all(during[key] is value for key, value in before.items())
    np.testing.assert_array_equal(predicted, labels)
    for copy in (unpickled, loaded):
        assert copy.input_scale_ == before["input_scale_"]
        np.testing.assert_array_equal(copy.predict(X), labels)
    assert est.input_scale_ != before["input_scale_"] and est.module_ is not before["module_"]
