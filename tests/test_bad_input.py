"""Bad input gets a clear error that names the problem, or works with finite outputs.

Property-based over the data (hypothesis, few examples, tiny networks trained for two
epochs, one per facet) and table-driven over the parameters.
"""

import re

import numpy as np
import pytest
import scipy.sparse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tests.conftest import tiny_estimator

pytestmark = pytest.mark.filterwarnings(
    # k-means inside the prior initialisation says so when data collapse to few points.
    "ignore:Number of distinct clusters:sklearn.exceptions.ConvergenceWarning")

FEW = settings(max_examples=15, deadline=None, derandomize=True, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Every refusal of data says what is wrong with them in one of these ways.
CLEAR_DATA_ERRORS = re.compile("|".join([
    r"Input X contains NaN", r"Input X contains infinity", r"too large to standardise",
    r"cannot be standardised", r"minimum of \d+ is required", r"must be >= the number of "
    r"clusters", r"features, but MFCVAEClustering is expecting", r"not finite for \d+ of",
    r"the ELBO of X is", r"Expected 2D array", r"dim \d+, while dim <= 2",
    r"Found array with dim \d+",  # scikit-learn 1.6's wording of the one before
    r"images of shape", r"channel axis", r"Complex data not supported",
    r"could not convert", r"Sparse data was passed", r"feature names",
]))


def fit_or_clear_error(X, **params):
    """Fit a tiny model; return it, or None after checking that the error is a clear one."""
    try:
        est = tiny_estimator(max_iter=params.pop("max_iter", 2), **params).fit(X)
    except (ValueError, TypeError) as error:
        assert CLEAR_DATA_ERRORS.search(str(error)), f"unclear error: {error!r}"
        return None
    return est


def assert_finite_outputs(est, X):
    """Every output is finite, or the call refuses X clearly."""
    for method in (est.predict, est.predict_proba, est.transform, est.score):
        try:
            out = method(X)
        except ValueError as error:
            assert CLEAR_DATA_ERRORS.search(str(error)), f"unclear error: {error!r}"
            continue
        assert np.all(np.isfinite(out)), method.__name__
    assert est.labels_.min() >= 0
    for parameter in est.module_.parameters():
        assert np.isfinite(parameter.detach().numpy()).all()


SPECIAL = [np.nan, np.inf, -np.inf, 1e300, -1e300, 1e-300, -1e-300, 0.0, 1.7e308,
           np.finfo(np.float64).tiny, 5e-324]


@FEW
@given(n_samples=st.integers(2, 30), n_features=st.integers(1, 5),
       seed=st.integers(0, 2 ** 16),
       special=st.lists(st.tuples(st.sampled_from(SPECIAL), st.floats(0, 1), st.floats(0, 1)),
                        max_size=3))
def test_special_values_in_X(n_samples, n_features, seed, special):
    X = np.random.RandomState(seed).normal(size=(n_samples, n_features))
    for value, row, column in special:
        X[int(row * (n_samples - 1)), int(column * (n_features - 1))] = value
    est = fit_or_clear_error(X, n_clusters=2)
    if est is not None:
        assert_finite_outputs(est, X)
    elif np.isfinite(X).all() and np.abs(X).max() < 1e307:
        pytest.fail(f"finite X was refused: {X!r}")


@FEW
@given(magnitude=st.integers(-300, 300), offset=st.sampled_from([0.0, 1.0, -1e10, 1e200]),
       constant_columns=st.lists(st.integers(0, 3), max_size=4),
       dtype=st.sampled_from([np.float64, np.float32]))
def test_huge_tiny_shifted_and_constant_data_standardise_without_overflow(
        magnitude, offset, constant_columns, dtype):
    X = np.random.RandomState(0).normal(size=(24, 4)) * 10.0 ** magnitude + offset
    X[:, constant_columns] = 3.0
    with np.errstate(over="ignore"):
        X = X.astype(dtype)
    if not np.isfinite(X).all():  # beyond float32
        return
    est = fit_or_clear_error(X, n_clusters=2)
    assert est is not None, "finite data of ordinary size must train"
    assert np.isfinite(est.input_scale_) and est.input_scale_ > 0
    assert np.isfinite(est.input_offset_).all()
    assert_finite_outputs(est, X)


@FEW
@given(X=arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 4)),
                elements=st.floats(allow_nan=True, allow_infinity=True, width=64)))
def test_arbitrary_float_arrays(X):
    est = fit_or_clear_error(X, n_facets=1, n_clusters=1)
    if est is not None:
        assert_finite_outputs(est, X)


@FEW
@given(n_samples=st.integers(0, 6), n_clusters=st.integers(1, 7), n_features=st.integers(0, 3))
def test_few_samples_few_features(n_samples, n_clusters, n_features):
    X = np.random.RandomState(0).normal(size=(n_samples, n_features))
    est = fit_or_clear_error(X, n_clusters=n_clusters)
    if est is not None:
        assert n_samples >= max(2, n_clusters) and n_features >= 1
        assert_finite_outputs(est, X)


@pytest.fixture(scope="module")
def fitted():
    X = np.random.RandomState(0).normal(size=(40, 6))
    return tiny_estimator(max_iter=2).fit(X), X


@FEW
@given(n_features=st.integers(0, 9), scale=st.sampled_from([1.0, 1e10, 1e100, 1e300, 1e-300]),
       rows=st.integers(1, 5))
def test_predict_time_input(fitted, n_features, scale, rows):
    est, _ = fitted
    X = np.random.RandomState(1).normal(size=(rows, n_features)) * scale
    try:
        est.predict(X)
    except ValueError as error:
        assert CLEAR_DATA_ERRORS.search(str(error)), f"unclear error: {error!r}"
        if n_features == 6:
            assert "not finite" in str(error)
        return
    assert n_features == 6
    assert_finite_outputs(est, X)


@pytest.mark.parametrize("shape", [(5, 2, 3), (5, 6, 1), (5, 1, 6), (5, 2, 3, 1),
                                   (5, 3, 2, 5), (5, 2, 2, 2, 2)])
def test_image_shapes_at_predict_time(fitted, shape):
    est, _ = fitted
    X = np.random.RandomState(0).rand(*shape)
    with pytest.raises(ValueError, match=CLEAR_DATA_ERRORS):
        est.predict(X)


def test_image_shapes_at_fit_time():
    rng = np.random.RandomState(0)
    with pytest.raises(ValueError, match="cannot tell the channel axis"):
        tiny_estimator().fit(rng.rand(6, 5, 6, 7))
    with pytest.raises(ValueError, match="image_shape=.* does not match the images"):
        tiny_estimator(image_shape=(4, 4)).fit(rng.rand(6, 2, 8))
    est = tiny_estimator(max_iter=2).fit(rng.rand(6, 3, 3))  # tiny grey images train
    assert est.architecture_ == "conv" and np.isfinite(est.predict_proba(rng.rand(2, 3, 3))).all()
    with pytest.raises(ValueError, match=r"images of shape \(4, 4, 1\)"):
        est.predict(rng.rand(2, 4, 4))


@pytest.mark.parametrize("make, error, pattern", [
    (lambda X: X.astype(object), None, None),
    (lambda X: np.full(X.shape, "a", dtype=object), ValueError, "could not convert"),
    (lambda X: X + 1j, ValueError, "Complex data not supported"),
    (lambda X: X > 0, None, None),
    (lambda X: X.tolist(), None, None),
    (lambda X: [[1.0, 2.0], [3.0]], ValueError, "inhomogeneous"),
    (lambda X: scipy.sparse.csr_matrix(X), TypeError, r"Sparse data.*\.toarray\(\)"),
    (lambda X: scipy.sparse.csr_array(X), TypeError, r"Sparse data.*\.toarray\(\)"),
    (lambda X: scipy.sparse.csr_matrix((np.ones(10), (np.arange(10), np.arange(10) * 10 ** 6)),
                                       shape=(10, 10 ** 7)), TypeError, "Sparse data"),
    (lambda X: X[:, 0], ValueError, "Expected 2D array"),
    (lambda X: X[:0], ValueError, "minimum of 2 is required"),
    (lambda X: X[:1], ValueError, "minimum of 2 is required"),
], ids=["object", "strings", "complex", "bool", "list", "ragged", "sparse matrix",
        "sparse array", "huge sparse", "1-D", "empty", "one sample"])
def test_array_kinds(make, error, pattern):
    X = np.random.RandomState(0).normal(size=(20, 4))
    bad = make(X)
    if error is None:
        est = tiny_estimator(max_iter=2).fit(bad)
        assert_finite_outputs(est, np.asarray(bad, dtype=np.float64))
        return
    with pytest.raises(error, match=pattern):
        tiny_estimator(max_iter=2).fit(bad)
    if isinstance(bad, list) or bad.shape[0] == 1:
        return
    est = tiny_estimator(max_iter=2).fit(X)
    with pytest.raises(error, match=pattern.replace("minimum of 2", "minimum of 1")):
        est.predict(bad)


def test_pandas_frames_with_and_without_names():
    pd = pytest.importorskip("pandas")
    X = np.random.RandomState(0).normal(size=(20, 3))
    named = pd.DataFrame(X, columns=["a", "b", "c"])
    est = tiny_estimator(max_iter=2).fit(named)
    assert list(est.feature_names_in_) == ["a", "b", "c"]
    np.testing.assert_array_equal(est.predict(named), est.labels_)
    with pytest.raises(ValueError, match="feature names"):
        est.predict(named.rename(columns={"a": "z"}))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        est.predict(X)
    unnamed = tiny_estimator(max_iter=2).fit(pd.DataFrame(X))
    assert not hasattr(unnamed, "feature_names_in_")
    assert np.isfinite(unnamed.predict_proba(pd.DataFrame(X))).all()
    with pytest.raises(ValueError, match="Input X contains NaN"):
        tiny_estimator().fit(named.assign(a=[np.nan] + [1.0] * 19))
    mixed = pd.DataFrame(X, columns=["a", 1, "c"])
    with pytest.raises(TypeError, match="Feature names are only supported if all input "
                                        "features have string names"):
        tiny_estimator().fit(mixed)


# ---------------------------------------------------------------------- parameters
BAD_PARAMETERS = [
    ("n_facets", 0), ("n_facets", -2), ("n_facets", 2.0), ("n_facets", "2"), ("n_facets", None),
    ("n_clusters", 0), ("n_clusters", -1), ("n_clusters", 2.5), ("n_clusters", (2, 2, 2)),
    ("n_clusters", (2,)), ("n_clusters", (2, 0)), ("n_clusters", (2, 1.5)), ("n_clusters", [2, 2]),
    ("n_clusters", (2, True)), ("latent_dim", 0), ("latent_dim", (1, 2, 3)),
    ("latent_dim", (2, -1)), ("hidden_sizes", "big"), ("hidden_sizes", -4),
    ("hidden_sizes", (4, -1)), ("hidden_sizes", (4,)), ("hidden_sizes", 16.0),
    ("architecture", "transformer"), ("image_shape", (8,)), ("image_shape", (0, 8)),
    ("image_shape", (8, 8, 8, 8)), ("image_shape", (2.5, 8)), ("image_shape", [5, 5]),
    ("covariance_type", "spherical"), ("learn_weights", "yes"), ("likelihood", "poisson"),
    ("likelihood_std", 0.0), ("likelihood_std", -1.0), ("likelihood_std", np.inf),
    ("likelihood_std", "big"), ("categorical_posterior", "two_samples"),
    ("progressive", 1.5), ("fade_in_fraction", 1.5), ("prior_refit_fraction", 1.0),
    ("free_bits", -1.0), ("free_bits", np.nan), ("min_cluster_share", 1.0),
    ("max_iter", 0), ("max_iter", 2.0), ("max_iter", -1), ("early_stopping", "no"),
    ("validation_fraction", 0.0), ("validation_fraction", 1.0), ("n_iter_no_change", 0),
    ("n_iter_no_change", 1.5), ("tol", -1e-3), ("warm_start", None), ("batch_size", 0),
    ("batch_size", 3.5), ("learning_rate", 0.0), ("learning_rate", np.inf),
    ("learning_rate", np.nan), ("device", 7), ("device", "tpu"), ("device", "cuda:99"),
    ("random_state", "seed"), ("verbose", "loud"),
]


@pytest.mark.parametrize("name, value", BAD_PARAMETERS,
                         ids=[f"{name}={value!r}" for name, value in BAD_PARAMETERS])
def test_bad_parameters_are_named(name, value):
    X = np.random.RandomState(0).rand(20, 64)
    with pytest.raises((ValueError, TypeError)) as info:
        tiny_estimator(**{name: value}).fit(X)
    assert name in str(info.value)


@FEW
@given(name=st.sampled_from(["n_facets", "n_clusters", "latent_dim", "hidden_sizes",
                             "max_iter", "batch_size", "n_iter_no_change"]),
       value=st.one_of(st.integers(-5, 0), st.floats(allow_nan=True, allow_infinity=True),
                       st.text(max_size=3), st.tuples(st.integers(-2, 3)),
                       st.tuples(st.integers(-2, 3), st.integers(-2, 3), st.integers(-2, 3))))
def test_generated_bad_parameters_fail_fast_with_the_name(name, value):
    X = np.random.RandomState(0).normal(size=(20, 3))
    try:
        est = tiny_estimator(**{name: value}).fit(X)
    except (ValueError, TypeError) as error:
        assert name in str(error) or "n_samples" in str(error), str(error)
        return
    # Only valid values get here (e.g. a tuple of positive ints of the right length).
    assert_finite_outputs(est, X)


def test_score_before_fit_raises_not_fitted_error():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        tiny_estimator().score(np.zeros((3, 6)))


def test_a_bernoulli_model_warns_about_values_outside_0_1():
    X = np.random.RandomState(0).rand(40, 6)
    est = tiny_estimator(max_iter=2).fit(X)
    assert est.likelihood_ == "bernoulli"
    with pytest.warns(UserWarning, match=r"values outside \[0, 1\].*divided by 255"):
        est.predict(X * 255)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.predict(X)


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(n_samples=True), "n_samples must be a positive int"),
    (dict(n_samples=2, facet=0, cluster=True), "cluster must be an int"),
    (dict(n_samples=2, facet=0, cluster=np.bool_(True)), "cluster must be an int"),
    (dict(n_samples=2, temperature=True), "temperature must be a non-negative float"),
])
def test_sample_refuses_bools(fitted, kwargs, pattern):
    est, _ = fitted
    with pytest.raises(ValueError, match=pattern):
        est.sample(**kwargs)
