"""scikit-learn's estimator checks, including those check_estimator does not run itself."""

import pytest
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_param_validation,
    check_set_output_transform,
    check_transformer_get_feature_names_out,
    parametrize_with_checks,
)

from tests.conftest import tiny_estimator

EXPECTED_FAILED_CHECKS = {
    # By design predict/labels_ of several facets have one column per facet, shape
    # (n_samples, n_facets); check_clustering asserts a 1-D labels_ of shape (n_samples,).
    "check_clustering": "labels_ has one column per facet: shape (n_samples, n_facets)",
}


def expected_failed_checks(estimator):
    # A one-facet model has 1-D labels like every clusterer and passes every check,
    # check_clustering included (its ARI > 0.4 on three blobs too).
    return EXPECTED_FAILED_CHECKS if estimator.n_facets > 1 else {}


@parametrize_with_checks([tiny_estimator(), tiny_estimator(n_facets=1)],
                         expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("check", [
    check_set_output_transform,
    check_transformer_get_feature_names_out,
    check_dataframe_column_names_consistency,
    check_param_validation,
])
def test_extra_sklearn_checks(check):
    pytest.importorskip("pandas")
    check("MFCVAEClustering", tiny_estimator())
