"""``n_init``: several restarts; ``init_selection`` keeps the one that agrees most with
the others (default) or the one with the best training ELBO."""

import gc
import io
import warnings
import weakref

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import skmfc.estimator
from skmfc import MFCVAEClustering
from skmfc.selection import restart_agreement
from tests.conftest import tiny_estimator


def patch_train(monkeypatch, restarts, action):
    """Make the estimator's ``train`` call ``action(train, args, kwargs)`` in the calls
    numbered (from 0) in ``restarts`` and train normally in the others; returns the list
    of the modules each call was given."""
    original = skmfc.estimator.train
    modules = []

    def patched(module, *args, **kwargs):
        modules.append(module)
        if len(modules) - 1 in restarts:
            return action(original, (module, *args), kwargs)
        return original(module, *args, **kwargs)

    monkeypatch.setattr(skmfc.estimator, "train", patched)
    return modules


def diverge(train, args, kwargs):
    raise FloatingPointError("injected divergence")


def interrupt(train, args, kwargs):
    raise KeyboardInterrupt


def test_every_restart_is_scored_and_the_best_elbo_kept(blobs):
    X, _ = blobs
    est = tiny_estimator(n_init=3, random_state=3, init_selection="elbo").fit(X)
    assert est.init_elbos_.shape == (3,) and np.isfinite(est.init_elbos_).all()
    assert est.best_init_ == int(np.argmax(est.init_elbos_))
    np.testing.assert_array_equal(est.init_scores_, est.init_elbos_)
    # init_elbos_ is in the units of score(), computed the same way: exactly equal.
    assert est.score(X) == est.init_elbos_[est.best_init_]
    np.testing.assert_array_equal(est.predict(X), est.labels_)
    assert est.n_iter_ == len(est.elbo_curve_) == 3


def test_restart_zero_is_the_single_fit_and_more_restarts_never_score_lower(blobs):
    X, _ = blobs
    improved = False
    for random_state in (0, 3):
        single = tiny_estimator(random_state=random_state).fit(X)
        multi = tiny_estimator(n_init=3, random_state=random_state,
                               init_selection="elbo").fit(X)
        assert single.init_elbos_.shape == (1,) and single.best_init_ == 0
        assert multi.init_elbos_[0] == single.init_elbos_[0] == single.score(X)
        assert multi.score(X) >= single.score(X)
        if multi.best_init_ != 0:
            improved = True
            assert multi.score(X) > single.score(X)
            assert not np.array_equal(multi.transform(X), single.transform(X))
    # Otherwise this test could not tell whether a later restart is ever kept.
    assert improved


def test_same_random_state_same_restarts(blobs):
    X, _ = blobs
    first = tiny_estimator(n_init=2, random_state=5).fit(X)
    second = tiny_estimator(n_init=2, random_state=5).fit(X)
    np.testing.assert_array_equal(first.labels_, second.labels_)
    np.testing.assert_array_equal(first.init_elbos_, second.init_elbos_)
    np.testing.assert_array_equal(first.init_scores_, second.init_scores_)
    assert first.init_elbos_[0] != first.init_elbos_[1]  # the restarts differ
    # Two restarts agree with each other equally: the ELBO breaks the tie.
    assert first.init_scores_[0] == first.init_scores_[1]
    assert first.best_init_ == int(np.argmax(first.init_elbos_))


def test_agreement_keeps_the_restart_that_agrees_most(blobs, monkeypatch):
    X, _ = blobs
    labels_seen = []
    original = MFCVAEClustering._restart_labels

    def recording(self, module, X):
        labels = original(self, module, X)
        labels_seen.append(labels)
        return labels

    monkeypatch.setattr(MFCVAEClustering, "_restart_labels", recording)
    est = tiny_estimator(n_init=3, random_state=3).fit(X)
    assert est.init_selection == "agreement" and len(labels_seen) == 3
    assert est.init_scores_.shape == (3,) and np.isfinite(est.init_scores_).all()
    np.testing.assert_array_equal(est.init_scores_, restart_agreement(labels_seen))
    assert est.best_init_ == int(np.argmax(est.init_scores_))
    # The kept model is the restart's own: its labels, its ELBO, to the last bit.
    np.testing.assert_array_equal(est.labels_, labels_seen[est.best_init_])
    np.testing.assert_array_equal(est.predict(X), est.labels_)
    assert est.score(X) == est.init_elbos_[est.best_init_]
    assert est.n_iter_ == len(est.elbo_curve_) == 3


def test_agreement_with_one_restart_has_no_score(blobs):
    X, _ = blobs
    est = tiny_estimator(random_state=0).fit(X)
    assert est.best_init_ == 0 and est.init_scores_.shape == (1,)
    assert np.isnan(est.init_scores_).all()


@pytest.mark.parametrize("init_selection, expected", [
    ("elbo", [0, 1, 1, 1]),  # the best module so far
    ("agreement", [0, 0, 0, 0]),  # host copies of the weights, no module
])
def test_at_most_the_best_module_is_kept_while_the_next_trains(blobs, monkeypatch,
                                                               init_selection, expected):
    X, _ = blobs
    alive_at_start = []
    original = skmfc.estimator.train
    given = []

    def counting_train(module, *args, **kwargs):
        gc.collect()
        alive_at_start.append(sum(ref() is not None for ref in given))
        given.append(weakref.ref(module))
        return original(module, *args, **kwargs)

    monkeypatch.setattr(skmfc.estimator, "train", counting_train)
    tiny_estimator(n_init=4, random_state=3, init_selection=init_selection).fit(X)
    assert alive_at_start == expected


def test_a_diverging_restart_is_skipped_with_a_warning(blobs, monkeypatch):
    X, _ = blobs
    patch_train(monkeypatch, [1], diverge)
    with pytest.warns(RuntimeWarning, match=r"restart 1 of n_init=3 failed and was skipped "
                                            r"\(FloatingPointError: injected divergence\)"):
        est = tiny_estimator(n_init=3, random_state=3).fit(X)
    assert np.isnan(est.init_elbos_[1]) and np.isfinite(est.init_elbos_[[0, 2]]).all()
    # The two finished restarts agree with each other equally: the ELBO decides.
    assert np.isnan(est.init_scores_[1]) and est.init_scores_[0] == est.init_scores_[2]
    assert est.best_init_ == int(np.nanargmax(est.init_elbos_)) != 1
    assert est.score(X) == est.init_elbos_[est.best_init_]
    buffer = io.BytesIO()
    est.save(buffer)
    buffer.seek(0)
    restored = MFCVAEClustering.load(buffer)
    np.testing.assert_array_equal(restored.init_elbos_, est.init_elbos_)
    np.testing.assert_array_equal(restored.init_scores_, est.init_scores_)
    assert restored.best_init_ == est.best_init_


def test_all_restarts_diverging_raises_and_keeps_the_fitted_model(blobs, monkeypatch):
    X, _ = blobs
    est = tiny_estimator(random_state=0).fit(X)
    module, labels, elbos = est.module_, est.labels_.copy(), est.init_elbos_.copy()
    patch_train(monkeypatch, range(3), diverge)
    est.set_params(n_init=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is skipped: the failure is the error
        with pytest.raises(FloatingPointError,
                           match=r"all 2 restarts \(n_init=2\) failed.*injected divergence"):
            est.fit(X[:, :4])
    assert est.module_ is module and est.n_features_in_ == X.shape[1]
    np.testing.assert_array_equal(est.init_elbos_, elbos)
    np.testing.assert_array_equal(est.predict(X), labels)
    # A single restart raises the training error itself, as before n_init existed.
    with pytest.raises(FloatingPointError, match="^injected divergence$"):
        tiny_estimator(n_init=1).fit(X)


def test_ctrl_c_keeps_the_best_finished_restart(blobs, monkeypatch):
    X, _ = blobs
    single = tiny_estimator(random_state=3).fit(X)
    patch_train(monkeypatch, [1], interrupt)
    with pytest.warns(ConvergenceWarning, match=r"interrupted in restart 1 \(restart 2 did "
                                                r"not run\).*keeps restart 0"):
        try:
            est = tiny_estimator(n_init=3, random_state=3).fit(X)
        except KeyboardInterrupt:  # uncaught, it would end the test session
            pytest.fail("fit raised the interrupt although restart 0 had finished")
    assert est.best_init_ == 0 and np.isnan(est.init_elbos_[1:]).all()
    assert np.isnan(est.init_scores_).all()  # one finished restart: nothing to agree with
    assert est.init_elbos_[0] == single.init_elbos_[0]
    np.testing.assert_array_equal(est.labels_, single.labels_)
    assert est.score(X) == single.score(X)


def test_ctrl_c_chooses_by_agreement_among_the_finished_restarts(blobs, monkeypatch):
    X, _ = blobs
    patch_train(monkeypatch, [3], interrupt)
    with pytest.warns(ConvergenceWarning, match=r"interrupted in restart 3; the estimator "
                                                r"keeps restart \d, the best of those"):
        est = tiny_estimator(n_init=4, random_state=3).fit(X)
    assert np.isfinite(est.init_scores_[:3]).all() and np.isnan(est.init_scores_[3])
    assert np.isnan(est.init_elbos_[3])
    assert est.best_init_ == int(np.nanargmax(est.init_scores_)) != 3
    assert est.score(X) == est.init_elbos_[est.best_init_]


def test_ctrl_c_after_an_epoch_counts_the_interrupted_restart(blobs, monkeypatch):
    X, _ = blobs

    def interrupt_after_the_first_epoch(train, args, kwargs):
        def on_epoch_end(epoch, elbo):
            if epoch == 2:
                raise KeyboardInterrupt

        return train(*args, **{**kwargs, "on_epoch_end": on_epoch_end})

    patch_train(monkeypatch, [1], interrupt_after_the_first_epoch)
    with pytest.warns(ConvergenceWarning, match=r"in epoch 3 of 3 of restart 1 "
                                                r"\(restart 2 did not run\)"):
        est = tiny_estimator(n_init=3, random_state=3).fit(X)
    assert np.isfinite(est.init_elbos_[:2]).all() and np.isnan(est.init_elbos_[2])
    # Two finished restarts tie on agreement, so the ELBO decides.
    assert est.init_scores_[0] == est.init_scores_[1] and np.isnan(est.init_scores_[2])
    assert est.best_init_ == int(np.nanargmax(est.init_elbos_))


def test_ctrl_c_before_any_restart_has_a_model_raises(blobs, monkeypatch):
    X, _ = blobs
    est = tiny_estimator(n_init=3)
    patch_train(monkeypatch, [0], interrupt)
    with pytest.raises(KeyboardInterrupt):
        est.fit(X)
    assert not hasattr(est, "module_") and not hasattr(est, "init_elbos_")


def test_warm_start_continues_once(blobs, monkeypatch):
    X, _ = blobs
    est = tiny_estimator(n_init=2, random_state=0).fit(X)
    modules = patch_train(monkeypatch, [], None)
    est.set_params(warm_start=True).fit(X)
    assert len(modules) == 1 and est.n_iter_ == 6
    assert est.init_elbos_.shape == (1,) and est.best_init_ == 0
    assert est.init_scores_.shape == (1,)
    assert est.score(X) == est.init_elbos_[0]


@pytest.mark.parametrize("n_init", [0, -1, 1.5, "2"])
def test_n_init_must_be_a_positive_int(blobs, n_init):
    X, _ = blobs
    with pytest.raises(ValueError, match=r"'n_init' parameter .* must be an int in the range "
                                         r"\[1, inf\)"):
        tiny_estimator(n_init=n_init).fit(X)


@pytest.mark.parametrize("init_selection", ["best", "ELBO", None, 1])
def test_init_selection_must_be_a_known_criterion(blobs, init_selection):
    X, _ = blobs
    with pytest.raises(ValueError, match=r"'init_selection' parameter .* must be a str among"):
        tiny_estimator(n_init=2, init_selection=init_selection).fit(X)


def test_verbose_names_the_restart(blobs, capsys):
    X, _ = blobs
    tiny_estimator(n_init=2, verbose=1).fit(X)
    err = capsys.readouterr().err
    assert "MFCVAE restart 0" in err and "MFCVAE restart 1" in err
