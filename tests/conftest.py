"""Shared fixtures: small, fast configurations of the estimator."""

import numpy as np
import pytest

from skmfc import MFCVAEClustering


def tiny_estimator(**params):
    """A small network trained briefly on the CPU: for API tests, not for quality."""
    defaults = dict(n_facets=2, n_clusters=3, latent_dim=2, hidden_sizes=16, max_iter=3,
                    batch_size=32, device="cpu", random_state=0)
    return MFCVAEClustering(**{**defaults, **params})


@pytest.fixture
def blobs():
    """Four well-separated Gaussian blobs in 6 dimensions."""
    rng = np.random.RandomState(0)
    centres = rng.normal(scale=5.0, size=(4, 6))
    labels = rng.randint(4, size=200)
    return centres[labels] + rng.normal(size=(200, 6)), labels
