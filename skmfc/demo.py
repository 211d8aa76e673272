"""The skmfc demo: multi-facet clustering of coloured digits, scored against the known facets.

Run it with ``python -m skmfc.demo`` (``--help`` lists the options). It generates the
coloured digits (scikit-learn's 8x8 digits, each drawn in one of three colours on
black), fits a two-facet MFCVAE with a progress bar, prints how well each facet
recovers each known property next to KMeans and Gaussian mixtures on the raw pixels,
and writes figures as PNG files when matplotlib is installed.
"""

import argparse
import os
import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

from skmfc.datasets import make_coloured_digits
from skmfc.estimator import MFCVAEClustering
from skmfc.metrics import facet_scores


def demo_estimator(max_iter=150, random_state=0, verbose=1):
    """Make the demo's model: a facet of 10 clusters for the digit, one of 3 for the colour.

    The colour facet gets one latent dimension: enough for three colours, too little
    to also carry the digit's shape, which must therefore go to the other facet. The
    facets train in the authors' progressive schedule without the linear guide (not
    the defaults): hand-sized facets are what this demo shows. With the defaults and
    one ``n_clusters=10`` the colour is found, but the digit is not reliably
    (``benchmarks/FACETS_LOG.md``).

    Parameters
    ----------
    max_iter : int, default=150
        Training epochs.
    random_state : int, default=0
        Seed of the model.
    verbose : int, default=1
        ``>= 1`` shows a progress bar while training.

    Returns
    -------
    MFCVAEClustering
        The unfitted two-facet model.
    """
    return MFCVAEClustering(n_facets=2, n_clusters=(10, 3), latent_dim=(5, 1),
                            progressive=True, guide=None, max_iter=max_iter,
                            random_state=random_state, verbose=verbose)


def main(argv=None):
    """Run the demo: fit, print the scores, write the figures.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (see ``python -m skmfc.demo --help``); by default those
        of the process.

    Returns
    -------
    est : MFCVAEClustering
        The fitted model.
    table : skmfc.metrics.FacetScores
        The adjusted Rand index of every facet against every known property.
    """
    parser = argparse.ArgumentParser(prog="python -m skmfc.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=150, help="training epochs (150)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--output", default="skmfc-demo",
                        help="folder for the figures (skmfc-demo)")
    args = parser.parse_args(argv)

    digits = make_coloured_digits(n_background_colours=1, random_state=args.seed)
    X = digits.data
    known = [name != "background" for name in digits.target_names]
    targets = digits.target[:, known]
    target_names = tuple(np.asarray(digits.target_names)[known])
    print(f"coloured digits: {X.shape[0]} images of {digits.image_shape}, known facets "
          f"{', '.join(target_names)}")

    start = time.perf_counter()
    est = demo_estimator(args.epochs, args.seed).fit(X)
    print(f"trained {est.n_iter_} epochs in {time.perf_counter() - start:.0f} s on "
          f"{est.device_}; clusters used per facet: {est.clusters_used_}")

    facet_names = [f"facet {j} (K={k})" for j, k in enumerate(est.n_clusters_)]
    table = facet_scores(est.labels_, targets, target_names=target_names,
                         facet_names=facet_names)
    print("\nAdjusted Rand index of every facet against every known property:")
    print(table)

    baselines = {}
    for k in (10, 3):
        baselines[f"KMeans({k})"] = KMeans(k, n_init=3, random_state=args.seed).fit_predict(X)
        baselines[f"GMM({k})"] = GaussianMixture(k, covariance_type="diag",
                                                 random_state=args.seed).fit_predict(X)
    print("\nBaselines on the raw pixels (one clustering each):")
    print(facet_scores(np.column_stack(list(baselines.values())), targets,
                       target_names=target_names, facet_names=list(baselines)))

    written = _write_figures(est, X, digits.image_shape, args.output, args.seed)
    if written:
        print("\nfigures:\n  " + "\n  ".join(written))
    return est, table


def _write_figures(est, X, image_shape, folder, seed):
    try:
        from skmfc import plotting
        plotting._import_matplotlib()
    except ImportError:
        print("\n(no figures: install matplotlib, e.g. pip install 'skmfc[plot]')")
        return []
    os.makedirs(folder, exist_ok=True)
    written = []
    for facet in range(est.n_facets):
        path = os.path.join(folder, f"facet{facet}_cluster_examples.png")
        plotting.plot_cluster_examples(est, X, facet, image_shape=image_shape, path=path)
        written.append(path)
        path = os.path.join(folder, f"facet{facet}_generated.png")
        plotting.plot_cluster_samples(est, facet, image_shape=image_shape, random_state=seed,
                                      path=path)
        written.append(path)
    rng = np.random.RandomState(seed)
    pairs = rng.choice(len(X), size=(2, 8), replace=False)
    for facet in range(est.n_facets):
        path = os.path.join(folder, f"facet{facet}_swap.png")
        plotting.plot_facet_swap(est, X[pairs[0]], X[pairs[1]], facet, image_shape=image_shape,
                                 path=path)
        written.append(path)
    path = os.path.join(folder, "training_curve.png")
    plotting.plot_training_curve(est, path=path)
    written.append(path)
    return written


if __name__ == "__main__":
    main()
