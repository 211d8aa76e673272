"""How much of each known factor the guide hands to the facets, without training.

For every data set of the facet suite (``benchmarks/facets.py``) and every seed, runs the
guide exactly as ``MFCVAEClustering(n_facets=J, n_clusters=K, random_state=seed).fit``
would (J the number of known factors, K the largest number of classes; the same
preprocessing and the same guide seed) and prints, per factor, the best ARI of the
partitions that anchor a facet. A guided facet rarely ends far from its partition, so
this is a ceiling for the factors the guide finds, measured in seconds instead of a
training run. Run from the repository root::

    python benchmarks/guide_ceiling.py --datasets stick,stickpos --seeds 10
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import adjusted_rand_score
from sklearn.utils import check_random_state

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPOSITORY), str(REPOSITORY / "benchmarks")]

import facets  # noqa: E402
import skmfc.estimator as estimator_module  # noqa: E402
from skmfc import MFCVAEClustering  # noqa: E402


def guide_seed(random_state):
    """The seed ``fit`` gives the guide of its first restart for this ``random_state``."""
    return int(check_random_state(random_state).randint(estimator_module._MAX_SEED))


def guide_ceiling(prepared, seeds, guide="nonredundant"):
    """Per seed and factor, the best ARI of an anchoring guide partition (0 when none
    anchors a facet); and per seed, how many facets were anchored."""
    n_factors = len(prepared.factor_names)
    estimator = MFCVAEClustering(n_facets=n_factors, n_clusters=max(prepared.factor_sizes),
                                 guide=guide, device="cpu")
    X, layout = estimator._check_fit_input(prepared.X, False)
    config = estimator._new_network(X, layout)
    X_train = estimator._training_input(X, torch.device("cpu"))
    ceiling, anchored = np.zeros((len(seeds), n_factors)), []
    for row, seed in enumerate(seeds):
        _, guide_config = estimator_module._guide_facets(config, X_train, guide_seed(seed),
                                                         estimator._guide_view())
        facets_anchored = ([] if guide_config is None
                           else np.flatnonzero(guide_config.strength > 0))
        anchored.append(len(facets_anchored))
        labels = None if guide_config is None else guide_config.labels.cpu().numpy()
        for factor in range(n_factors):
            ceiling[row, factor] = max(
                (adjusted_rand_score(prepared.targets[:, factor], labels[:, facet])
                 for facet in facets_anchored), default=0.0)
    return ceiling, anchored


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=facets._dataset_names,
                        default=list(facets.DEFAULT_SET),
                        help="comma-separated data sets of benchmarks/facets.py (all but mnist)")
    parser.add_argument("--seeds", type=int, default=10, help="random_state 0 to N-1 (10)")
    parser.add_argument("--max-samples", type=int, default=None,
                        help="subsample every data set to N samples, as facets.py does")
    parser.add_argument("--images", action="store_true",
                        help="pass image data sets as images, as facets.py --images does "
                             "(the guide then also runs on the shift-invariant view)")
    parser.add_argument("--guide", default="nonredundant",
                        choices=("nonredundant", "nonredundant-raw"),
                        help="the estimator's guide parameter (nonredundant)")
    args = parser.parse_args(argv)
    results = {}
    for name in args.datasets:
        prepared = facets.prepare(facets.SUITE[name], max_samples=args.max_samples,
                                  images=args.images)
        ceiling, anchored = guide_ceiling(prepared, list(range(args.seeds)), args.guide)
        results[name] = dict(factors=prepared.factor_names, ceiling=ceiling, anchored=anchored)
        print(f"{name}: facets anchored per seed {anchored}")
        for factor, factor_name in enumerate(prepared.factor_names):
            column = ceiling[:, factor]
            print(f"  {factor_name:12s} ({prepared.factor_sizes[factor]} groups) mean "
                  f"{column.mean():.2f}: " + " ".join(f"{value:.2f}" for value in column),
                  flush=True)
    return results


if __name__ == "__main__":
    main()
