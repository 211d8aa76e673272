"""Bit-for-bit equivalence of fits across a refactoring (issue 13).

Fits a handful of small configurations on the CPU with fixed seeds and records, for
each, everything a user sees of the fitted model: ``labels_``, ``score(X)``,
``predict_proba(X)``, ``transform(X)``, one ``sample`` draw and a hash of every tensor
of the module's state dict (and the training curve). Run it on two commits and compare:

    OMP_NUM_THREADS=1 python benchmarks/equivalence.py record reference.json
    OMP_NUM_THREADS=1 python benchmarks/equivalence.py compare reference.json

``compare`` exits with status 1 and names the differing values when anything differs
(exact equality, no tolerance).
"""

import hashlib
import json
import sys
import warnings

import numpy as np

from skmfc import MFCVAEClustering
from skmfc.datasets import make_coloured_digits, make_stick_figures, make_tabular_facets

SMALL = dict(n_clusters=3, latent_dim=2, hidden_sizes=16, max_iter=4, batch_size=32,
             device="cpu", random_state=0)


def _data():
    tabular = make_tabular_facets(n_samples=160, random_state=0).data
    sticks = make_stick_figures(n_samples=96, image_size=12, random_state=0).images
    digits = make_coloured_digits(random_state=0).images[:96]
    separated = make_tabular_facets(n_samples=160, separation=(10.0, 10.0),
                                    random_state=0).data
    return {"tabular": tabular, "separated": separated, "sticks": sticks, "digits": digits}


def configurations():
    """Name -> (data name, estimator parameters, second fit's parameters or None)."""
    return {
        "default_guided": ("tabular", dict(SMALL), None),
        "guided_k5": ("separated", dict(SMALL, n_clusters=5, max_iter=6), None),
        "unguided_progressive": ("tabular", dict(SMALL, guide=None, progressive=True), None),
        "one_facet": ("tabular", dict(SMALL, n_facets=1), None),
        "conv_sticks": ("sticks", dict(SMALL, architecture="conv", hidden_sizes=8), None),
        "conv_digits_auto": ("digits", dict(SMALL, hidden_sizes=8, guide=None), None),
        "n_init_2": ("tabular", dict(SMALL, n_init=2), None),
        "n_init_2_elbo": ("tabular", dict(SMALL, n_init=2, init_selection="elbo",
                                           guide=None), None),
        "early_stopping": ("tabular", dict(SMALL, early_stopping=True, max_iter=6,
                                           n_iter_no_change=2), None),
        "warm_start": ("tabular", dict(SMALL, warm_start=True), dict(max_iter=2)),
        "n_clusters_auto": ("tabular", dict(SMALL, n_clusters="auto", guide=None), None),
        "kl_warmup": ("tabular", dict(SMALL, kl_warmup_fraction=0.5, guide=None), None),
        "full_covariance_learnt": ("tabular", dict(SMALL, covariance_type="full",
                                                   learn_weights=True,
                                                   categorical_posterior="one_sample"), None),
        "bfloat16": ("tabular", dict(SMALL, precision="bfloat16", guide=None), None),
    }


def _digest(array):
    array = np.ascontiguousarray(array)
    return f"{array.dtype}{array.shape}:" + hashlib.sha256(array.tobytes()).hexdigest()


def record_one(X, params, refit):
    """Everything recorded of one configuration, as a dict of strings and numbers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MFCVAEClustering(**params).fit(X)
        if refit is not None:
            est.set_params(**refit).fit(X)
        sampled, sampled_labels = est.sample(7, random_state=3)
        fixed, _ = est.sample(5, facet=0, cluster=1, temperature=0.5, random_state=4)
        out = {
            "labels_": _digest(est.labels_),
            "score": repr(est.score(X)),
            "score_samples": _digest(est.score_samples(X)),
            "predict_proba": _digest(est.predict_proba(X)),
            "transform": _digest(est.transform(X)),
            "sample": _digest(sampled),
            "sample_labels": _digest(sampled_labels),
            "sample_fixed": _digest(fixed),
            "elbo_curve_": repr(list(est.elbo_curve_)),
            "n_clusters_": repr(est.n_clusters_),
            "init_elbos_": _digest(est.init_elbos_),
            "validation_scores_": repr(est.validation_scores_),
            "weights_means_covariances": _digest(np.concatenate(
                [np.ravel(a) for a in (*est.weights_, *est.means_, *est.covariances_)])),
        }
    for name, tensor in est.module_.state_dict().items():
        out[f"state:{name}"] = _digest(tensor.detach().cpu().numpy())
    return out


def record():
    data = _data()
    return {name: record_one(data[data_name], params, refit)
            for name, (data_name, params, refit) in configurations().items()}


def main(argv):
    if len(argv) != 3 or argv[1] not in ("record", "compare"):
        sys.exit(__doc__)
    results = record()
    if argv[1] == "record":
        with open(argv[2], "w") as file:
            json.dump(results, file, indent=1, sort_keys=True)
        print(f"recorded {len(results)} configurations in {argv[2]}")
        return
    with open(argv[2]) as file:
        reference = json.load(file)
    failed = False
    for name in sorted(set(reference) | set(results)):
        ref, now = reference.get(name), results.get(name)
        if ref is None or now is None:
            print(f"{name}: only in {'the reference' if now is None else 'this run'}")
            failed = True
            continue
        differing = sorted(key for key in set(ref) | set(now) if ref.get(key) != now.get(key))
        print(f"{name}: {'identical' if not differing else 'DIFFERS in ' + ', '.join(differing)}")
        failed |= bool(differing)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv)
