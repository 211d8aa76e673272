"""
Inspecting a fitted model: labels, mixture, scores and pictures for tabular data
================================================================================

What a scikit-learn user can read off a fitted :class:`~skmfc.MFCVAEClustering` without
touching torch, on tabular data with two independent groupings
(:func:`~skmfc.datasets.make_tabular_facets`): a readable summary, the mixture of each
facet as numpy arrays (``weights_``, ``means_``, ``covariances_``), per-sample ELBOs
that flag outliers (``score_samples``), one facet's labels for scikit-learn's metrics,
and the figures of :mod:`skmfc.plotting` that work for any data: each facet's latent
space, how two facets' partitions cross, cluster sizes and confidence, and the training
curve next to the validation curve. It runs in a few seconds on a CPU.

Environment variables: ``SKMFC_EXAMPLE_EPOCHS`` (default 60) sets the training epochs,
``SKMFC_EXAMPLES_OUTPUT`` (default ``examples_output``) the folder for the figures.
"""

# %%
# Fit a two-facet model
# ---------------------
# Two groupings (4 and 3 classes), each hidden non-linearly in its own 8 features, in
# random column order. ``early_stopping=True`` holds out 10% of the rows and records
# their ELBO after every epoch.

import os

import numpy as np
from sklearn.metrics import adjusted_rand_score, silhouette_score

from skmfc import MFCVAEClustering
from skmfc.datasets import make_tabular_facets
from skmfc.plotting import (
    plot_cluster_sizes_and_confidence,
    plot_facet_contingency,
    plot_latent_space,
    plot_training_curve,
)

EPOCHS = int(os.environ.get("SKMFC_EXAMPLE_EPOCHS", "60"))
OUTPUT = os.environ.get("SKMFC_EXAMPLES_OUTPUT", "examples_output")
os.makedirs(OUTPUT, exist_ok=True)

data = make_tabular_facets(600, random_state=0)
X, targets = data.data, data.target
model = MFCVAEClustering(n_facets=2, n_clusters=(4, 3), latent_dim=3, hidden_sizes=32,
                         max_iter=EPOCHS, early_stopping=True,
                         device="cpu", random_state=0).fit(X)
print(model.summary())

# %%
# Labels that scikit-learn's metrics take
# ---------------------------------------
# With several facets ``labels_`` has one column per facet, and ``predict(X, facet=j)``
# gives one facet's 1-D labels. A one-facet model gives 1-D labels, like every
# scikit-learn clusterer.

for facet in range(model.n_facets):
    labels = model.predict(X, facet=facet)
    print(f"facet {facet}: ARI with grouping 0 {adjusted_rand_score(targets[:, 0], labels):.2f},"
          f" grouping 1 {adjusted_rand_score(targets[:, 1], labels):.2f}")
single = MFCVAEClustering(n_facets=1, n_clusters=4, latent_dim=3, hidden_sizes=32,
                          max_iter=EPOCHS, device="cpu", random_state=0)
single_labels = single.fit_predict(X)
print(f"one facet: labels of shape {single_labels.shape}, silhouette "
      f"{silhouette_score(X, single_labels) if len(set(single_labels)) > 1 else float('nan'):.2f}")

# %%
# The mixture of each facet, and per-sample scores
# ------------------------------------------------
# The prior of facet ``j`` is a Gaussian mixture in its latent space (the columns of
# ``transform``), laid out as in :class:`~sklearn.mixture.GaussianMixture`.
# ``score_samples`` is the ELBO of every row (``score`` is its mean): rows far from
# everything seen in training score lowest.

for facet in range(model.n_facets):
    print(f"facet {facet}: weights_ {np.round(model.weights_[facet], 2)}, means_ "
          f"{model.means_[facet].shape}, covariances_ {model.covariances_[facet].shape}")
outliers = X[:5] + 8.0
scores = model.score_samples(np.vstack([X, outliers]))
lowest = np.argsort(scores)[:5]
print(f"mean ELBO {model.score(X):.1f}; {np.sum(lowest >= len(X))} of the 5 shifted rows "
      "have the 5 lowest scores")

# %%
# Pictures for any data
# ---------------------
# Each facet's posterior means (PCA to 2-D), coloured by the facet's clusters and by a
# known grouping; how the two facets' partitions cross; sizes and confidence per facet;
# training and validation ELBO per epoch.

figures = {
    "inspection_latent_space.png": lambda path: plot_latent_space(
        model, X, y=targets[:, 0], y_name="grouping 0", path=path),
    "inspection_contingency.png": lambda path: plot_facet_contingency(model, X, path=path),
    "inspection_sizes.png": lambda path: plot_cluster_sizes_and_confidence(model, X,
                                                                           path=path),
    "inspection_training_curve.png": lambda path: plot_training_curve(model, path=path),
}
for name, draw in figures.items():
    path = os.path.join(OUTPUT, name)
    draw(path)
    print(f"wrote {path}")
