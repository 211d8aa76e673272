"""Clustering quality on data with known facets: the model must find them.

These tests train real models for tens of seconds each (marked ``slow``). Thresholds
sit far above what a broken model reaches: with an untrained or collapsed prior the
ARI is near 0, and a model whose facets both took the same property cannot score on
the other one.
"""

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

from skmfc import MFCVAEClustering
from skmfc.datasets import make_coloured_digits
from skmfc.metrics import facet_scores

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def coloured_digits():
    """Digits drawn in one of three colours on black: two known facets."""
    digits = make_coloured_digits(n_background_colours=1, random_state=0)
    return digits.data, digits.target[:, :2]


@pytest.fixture(scope="module")
def fitted_on_coloured_digits(coloured_digits):
    X, _ = coloured_digits
    # The colour facet gets one latent dimension: enough for three colours, too little
    # to also carry the digit's shape, which must therefore go to the other facet.
    est = MFCVAEClustering(n_facets=2, n_clusters=(10, 3), latent_dim=(5, 1), max_iter=150,
                           progressive=True, guide=None, device="cpu", random_state=0)
    return est.fit(X)


def baseline_table(X, targets):
    """ARI of KMeans and Gaussian mixtures on the raw data, with 10 and 3 clusters."""
    baselines = np.column_stack([
        KMeans(10, n_init=3, random_state=0).fit_predict(X),
        KMeans(3, n_init=3, random_state=0).fit_predict(X),
        GaussianMixture(10, covariance_type="diag", random_state=0).fit_predict(X),
        GaussianMixture(3, covariance_type="diag", random_state=0).fit_predict(X),
    ])
    return facet_scores(baselines, targets)


def test_recovers_every_known_facet_of_coloured_digits(coloured_digits,
                                                       fitted_on_coloured_digits):
    X, targets = coloured_digits
    est = fitted_on_coloured_digits
    table = facet_scores(est.labels_, targets, target_names=("digit", "colour"))
    digit, colour = table.best_score
    baselines = baseline_table(X, targets)
    assert colour > 0.9, table
    assert digit > 0.4, table
    # The digit is far above what one-partition clusterers find on the raw pixels
    # (about 0.14): the colour swamps it there.
    assert digit > baselines.best_score[0] + 0.25, (table, baselines)
    # Colour alone is easy (KMeans with 3 clusters finds it), but no single partition
    # finds both properties, while the facets do.
    assert np.all(baselines.scores.min(axis=0) < 0.3), baselines
    # Each property lives in its own facet; the other facet does not also hold it.
    assert table.best_facet[0] != table.best_facet[1]
    assert table.scores[0, table.best_facet[1]] < 0.1
    assert table.scores[1, table.best_facet[0]] < 0.1
    # No collapsed facet: every cluster in use and confident posteriors.
    assert est.clusters_used_ == (10, 3)
    assert min(est.mean_confidence_) > 0.6


def test_generated_samples_carry_their_colour_cluster(coloured_digits, fitted_on_coloured_digits):
    X, targets = coloured_digits
    est = fitted_on_coloured_digits
    colour_facet = facet_scores(est.labels_, targets).best_facet[1]
    digit_facet = 1 - colour_facet
    for cluster in range(3):
        members = X[est.labels_[:, colour_facet] == cluster]
        generated, labels = est.sample(200, facet=colour_facet, cluster=cluster,
                                       temperature=0.5, random_state=cluster)
        assert np.all(labels[:, colour_facet] == cluster)
        # The generated images have the colour of the cluster's members: their mean
        # colour is closer to this cluster's than to any other cluster's.
        mean_colour = generated.reshape(len(generated), -1, 3).mean((0, 1))
        centres = [X[est.labels_[:, colour_facet] == k].reshape(-1, 3).mean(0) for k in range(3)]
        distances = [np.linalg.norm(mean_colour - centre) for centre in centres]
        assert np.argmin(distances) == cluster
        # Generated samples are assigned back to the cluster they came from.
        assert np.mean(est.predict(generated, facet=colour_facet) == cluster) > 0.9
        assert len(members) > 0
    # Fixing the colour leaves the digit facet free: several digit clusters appear.
    _, labels = est.sample(300, facet=colour_facet, cluster=0, random_state=0)
    assert len(np.unique(labels[:, digit_facet])) >= 8


def test_single_facet_is_a_deep_gaussian_mixture_clusterer():
    X, y = load_digits(return_X_y=True)
    est = MFCVAEClustering(n_facets=1, n_clusters=10, max_iter=50, device="cpu",
                           random_state=0).fit(X / 16.0)
    ari = adjusted_rand_score(y, est.labels_)
    assert ari > 0.45
    assert est.clusters_used_ == (10,)
    # The ELBO rises during training: the last epochs beat the first ones clearly.
    curve = np.asarray(est.elbo_curve_)
    assert curve[-5:].mean() > curve[1:6].mean() + 2.0
    assert np.all(np.isfinite(curve))


def test_full_covariance_and_one_sample_posterior_also_learn():
    X, y = load_digits(return_X_y=True)
    for params in (dict(covariance_type="full"), dict(categorical_posterior="one_sample")):
        est = MFCVAEClustering(n_facets=1, n_clusters=10, max_iter=40, device="cpu",
                               random_state=0, **params).fit(X / 16.0)
        assert adjusted_rand_score(y, est.labels_) > 0.35, params


def test_training_leaves_torch_threads_and_grad_mode_alone():
    before = (torch.get_num_threads(), torch.is_grad_enabled())
    MFCVAEClustering(n_facets=1, n_clusters=2, max_iter=1, hidden_sizes=8, device="cpu",
                     random_state=0).fit(np.random.RandomState(0).rand(20, 4))
    assert (torch.get_num_threads(), torch.is_grad_enabled()) == before


# ---------------------------------------------------------------------- defaults only
# Members of the facet suite (benchmarks/facets.py), fitted as a new user would: J the
# number of known factors, one K for every facet (the largest factor's), all else default.


def test_default_fit_finds_both_poses_of_stick_figures():
    from skmfc.datasets import make_stick_figures
    figures = make_stick_figures(random_state=0)
    labels = MFCVAEClustering(n_facets=2, n_clusters=3, device="cpu",
                              random_state=0).fit_predict(figures.data)
    scores = facet_scores(labels, figures.target, metric="ari")
    # A facet taking unions of the nine pose pairs (the old defaults) scores 0.2-0.6.
    assert scores.best_score.min() >= 0.9
    assert len(set(scores.best_facet.tolist())) == 2


def test_default_fit_finds_both_colours_of_coloured_digits():
    digits = make_coloured_digits(random_state=0)  # digit x stroke x background colour
    labels = MFCVAEClustering(n_facets=3, n_clusters=10, device="cpu",
                              random_state=0).fit_predict(digits.data)
    scores = facet_scores(labels, digits.target, metric="ari")
    # Both colours, each in a facet of its own; 10 clusters over 3 colours score ~0.4.
    # (The digit is not asserted: inside colour it is still not found, FACETS_LOG.md.)
    assert scores.best_score[1:].min() >= 0.9
    assert len(set(scores.best_facet[1:].tolist())) == 2


def test_default_fit_finds_the_digit_beside_its_colour():
    digits = make_coloured_digits(n_background_colours=1, random_state=0)
    labels = MFCVAEClustering(n_facets=2, n_clusters=10, device="cpu",
                              random_state=0).fit_predict(digits.data)
    scores = facet_scores(labels, digits.target[:, :2], metric="ari")
    # The guide anchors the colour to the top facet, and the digit is left to the
    # unguided facet nearest the data: 0.46-0.62 over seeds 0-4 there, 0.29-0.44 when
    # the unguided facet sat on top (FACETS_LOG.md, session 5); a colour-only model or
    # a facet taking digit x colour scores far lower on one of the two.
    assert scores.best_score[1] >= 0.9
    assert scores.best_score[0] >= 0.42
    assert scores.best_facet.tolist() == [0, 1]


def test_compare_n_facets_recommends_the_number_of_poses():
    # Two independent poses: one facet takes unions of pose pairs, which other seeds
    # draw differently, and a third facet clusters nuisance that other seeds do not
    # repeat, so only J = 2 is reproducible (at this size, template seeds 0-3: 0.82-1.00
    # against at most 0.40 with 2 threads, 0.96-1.00 against at most 0.37 with one;
    # FACETS_LOG.md, session 6). The old rule, the largest J whose facets are used and
    # distinct, recommended 3 and 4 on the full data set (seeds 0 and 1).
    from skmfc.datasets import make_stick_figures
    from skmfc.selection import compare_n_facets
    figures = make_stick_figures(600, random_state=0)
    template = MFCVAEClustering(n_clusters=3, max_iter=100, device="cpu", random_state=0)
    comparison = compare_n_facets(template, figures.data, max_facets=3)
    reproducibility = [row.reproducibility for row in comparison.rows]
    assert comparison.recommended_n_facets == 2
    assert reproducibility[1] >= 0.75
    assert max(reproducibility[0], reproducibility[2]) <= 0.5
    # The model kept for J = 2 has found both poses (0.82 and 1.00 for seed 0, 2 threads).
    scores = facet_scores(comparison.estimators[2].labels_, figures.target, metric="ari")
    assert scores.best_score.min() >= 0.75
    assert len(set(scores.best_facet.tolist())) == 2
