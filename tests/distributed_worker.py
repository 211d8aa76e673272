"""One process of the data-parallel tests (tests/test_distributed.py), started by torchrun.

Fits every configuration of ``SCENARIOS`` with ``strategy="ddp"`` and writes what the
tests compare into ``<output>/<scenario>_rank<rank>.npz``; then saves the fitted
estimator of the first scenario to one path per rank (only rank 0's may exist).

Run as ``python -m torch.distributed.run --nproc-per-node 2 tests/distributed_worker.py
OUTPUT_DIR DEVICE``.
"""

import os
import sys
import warnings

import numpy as np
import torch

from skmfc import MFCVAEClustering
from skmfc.datasets import make_tabular_facets

SMALL = dict(n_clusters=3, latent_dim=2, hidden_sizes=16, max_iter=4, batch_size=32,
             random_state=0)

# Name -> (estimator parameters, whether the script initialises the process group itself).
SCENARIOS = {
    # The guide (Nr-Kmeans), progressive steps, prior fits and refits, re-seeding.
    "guided": (dict(SMALL), False),
    "early_stopping": (dict(SMALL, guide=None, max_iter=30, early_stopping=True,
                            n_iter_no_change=2, tol=5.0), False),
    # A batch of 33 rows shared 17 / 16; cluster merging; a group the script owns.
    "uneven_merged": (dict(SMALL, guide=None, n_clusters="auto", batch_size=33), True),
    # The guided fit again, X given as a memmap (read in pieces, skmfc.data): small data
    # read in pieces fit as the array does, so one process's in-memory fit is the answer.
    "memmap": (dict(SMALL), False),
}
#: Scenarios whose X every process reads from its own memmap of the same values.
READ_IN_PIECES = {"memmap"}


def training_data():
    """Easy data: two groupings far apart, 160 samples."""
    return make_tabular_facets(n_samples=160, separation=(10.0, 10.0), random_state=0).data


def fitted_arrays(estimator):
    """What the tests compare of a fitted estimator, as named arrays."""
    arrays = {"labels": np.asarray(estimator.labels_),
              "elbo_curve": np.asarray(estimator.elbo_curve_),
              "n_iter": np.asarray(estimator.n_iter_),
              "n_clusters": np.asarray(estimator.n_clusters_)}
    for name, tensor in estimator.module_.state_dict().items():
        arrays[f"state:{name}"] = tensor.detach().cpu().double().numpy()
    return arrays


def main(output, device):
    import torch.distributed as dist

    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    for name, (params, own_group) in SCENARIOS.items():
        X = training_data()
        if name in READ_IN_PIECES:
            path = os.path.join(output, f"{name}_data_rank{rank}.npy")
            np.save(path, X)
            X = np.load(path, mmap_mode="r")
        if own_group:
            dist.init_process_group("nccl" if device == "cuda" else "gloo")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator = MFCVAEClustering(**params, device=device, strategy="ddp").fit(X)
        arrays = fitted_arrays(estimator)
        # skmfc destroys a group it initialised, and leaves the script's own one.
        arrays["group_left_initialised"] = np.asarray(dist.is_initialized())
        np.savez(os.path.join(output, f"{name}_rank{rank}.npz"), **arrays)
        if name == "guided":
            estimator.save(os.path.join(output, f"saved_by_rank{rank}.skmfc"))
        if own_group:
            dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:])
