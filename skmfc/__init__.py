"""skmfc: Multi-Facet Clustering Variational Autoencoders for scikit-learn."""

__version__ = "0.1.0"

from skmfc.estimator import MFCVAEClustering  # noqa: E402
from skmfc.persistence import ModelFileError  # noqa: E402

__all__ = ["MFCVAEClustering", "ModelFileError", "__version__"]
