"""Saving and loading: the code-free .skmfc format, pickle, and models trained on a GPU."""

import errno
import functools
import io
import json
import math
import os
import pickle
import stat
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

try:
    import resource
except ImportError:  # not on Windows
    resource = None

from skmfc import MFCVAEClustering
from skmfc.persistence import FORMAT_VERSION, ModelFileError, _checksum
from tests.conftest import tiny_estimator

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
CUDA_PICKLE = os.path.join(FIXTURES, "model_cuda.pkl")
CUDA_SKMFC = os.path.join(FIXTURES, "model_cuda.skmfc")
CUDA_EXPECTED = os.path.join(FIXTURES, "model_cuda_expected.npz")


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    centres = rng.normal(scale=5.0, size=(4, 6))
    return centres[rng.randint(4, size=120)] + rng.normal(size=(120, 6))


@pytest.fixture(scope="module")
def fitted(data):
    return tiny_estimator().fit(data)


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "model.skmfc"
    fitted.save(path)
    return path


def assert_same_model(restored, est, X):
    """Every output of the two estimators is identical, and so are their attributes."""
    np.testing.assert_array_equal(restored.predict(X), est.predict(X))
    np.testing.assert_array_equal(restored.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(restored.transform(X), est.transform(X))
    assert restored.score(X) == est.score(X)
    for a, b in zip(restored.sample(7, random_state=3), est.sample(7, random_state=3)):
        np.testing.assert_array_equal(a, b)
    Z = est.transform(X[:5])
    np.testing.assert_array_equal(restored.inverse_transform(Z), est.inverse_transform(Z))
    assert set(restored.__dict__) == set(est.__dict__)
    for name, value in est.__dict__.items():
        if name == "module_":
            continue
        other = restored.__dict__[name]
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(other, value)
            assert other.dtype == value.dtype
        elif isinstance(value, np.random.RandomState):
            assert other is not value
            for a, b in zip(other.get_state(), value.get_state()):
                np.testing.assert_array_equal(a, b)
        else:
            assert other == value and type(other) is type(value), name


def test_round_trip_gives_identical_predictions(fitted, saved, data):
    restored = MFCVAEClustering.load(saved)
    assert_same_model(restored, fitted, data)
    assert restored.module_ is not fitted.module_
    assert restored.device_ == torch.device("cpu")
    assert next(restored.module_.parameters()).dtype == torch.float64
    assert not restored.module_.training


@pytest.mark.parametrize("params", [
    dict(early_stopping=True, max_iter=4, random_state=np.random.RandomState(5)),
    dict(n_facets=3, n_clusters=(2, 3, 2), latent_dim=(1, 2, 3), covariance_type="full",
         device=torch.device("cpu"), learn_weights=True, likelihood_std=0.7),
])
def test_round_trip_of_variants(data, tmp_path, params):
    est = tiny_estimator(**params).fit(data)
    path = tmp_path / "variant.skmfc"
    est.save(path)
    assert_same_model(MFCVAEClustering.load(path), est, data)


def test_round_trip_of_images_frames_and_output_config(tmp_path):
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    images = rng.rand(20, 8, 8, 3)
    est = tiny_estimator(max_iter=2, batch_size=10).fit(images)
    est.save(tmp_path / "images.skmfc")
    restored = MFCVAEClustering.load(tmp_path / "images.skmfc")
    assert restored.image_shape_ == (8, 8, 3) and restored.architecture_ == "conv"
    np.testing.assert_array_equal(restored.predict_proba(images), est.predict_proba(images))

    frame = pd.DataFrame(rng.normal(size=(30, 3)), columns=["a", "b", "c"])
    est = tiny_estimator(n_clusters=2).fit(frame).set_output(transform="pandas")
    est.save(tmp_path / "frame.skmfc")
    restored = MFCVAEClustering.load(tmp_path / "frame.skmfc")
    assert_same_model(restored, est, frame)
    assert list(restored.feature_names_in_) == ["a", "b", "c"]
    assert list(restored.transform(frame).columns) == list(est.get_feature_names_out())


def test_random_state_instance_is_stored_by_its_state(data, tmp_path):
    random_state = np.random.RandomState(11)
    est = tiny_estimator(random_state=random_state).fit(data)
    est.save(tmp_path / "rs.skmfc")
    restored = MFCVAEClustering.load(tmp_path / "rs.skmfc")
    assert isinstance(restored.random_state, np.random.RandomState)
    assert restored.random_state is not random_state
    assert restored.random_state.randint(10 ** 9) == random_state.randint(10 ** 9)


def test_unfitted_estimator_and_file_objects(data):
    buffer = io.BytesIO()
    tiny_estimator(n_clusters=(2, 4)).save(buffer)
    buffer.seek(0)
    restored = MFCVAEClustering.load(buffer)
    assert restored.get_params() == tiny_estimator(n_clusters=(2, 4)).get_params()
    assert not hasattr(restored, "module_")
    assert restored.fit(data).labels_.shape == (len(data), 2)


def test_saving_over_a_file_is_atomic(fitted, data, tmp_path, monkeypatch):
    path = tmp_path / "model.skmfc"
    fitted.save(path)
    before = path.read_bytes()

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        tiny_estimator(random_state=1).fit(data).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.skmfc"]  # no temporary file left behind


def test_unsupported_attribute_is_refused_by_name(fitted, tmp_path):
    est = pickle.loads(pickle.dumps(fitted))
    est.extra_ = object()
    with pytest.raises(TypeError, match="cannot save extra_"):
        est.save(tmp_path / "bad.skmfc")


# ---------------------------------------------------------------------- files on disk
@pytest.fixture
def umask():
    """Set the process umask for one test, and put it back."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_the_mode_the_umask_gives(fitted, tmp_path, umask, mask, mode):
    umask(mask)
    fitted.save(tmp_path / "model.skmfc")
    assert stat.S_IMODE((tmp_path / "model.skmfc").stat().st_mode) == mode


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_overwriting_keeps_the_mode_of_the_file(fitted, tmp_path, umask):
    path = tmp_path / "model.skmfc"
    fitted.save(path)
    path.chmod(0o640)
    fitted.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_a_symbolic_link_is_followed_and_kept(fitted, data, tmp_path):
    (tmp_path / "store").mkdir()
    target = tmp_path / "store" / "model.skmfc"
    target.write_bytes(b"old")
    link = tmp_path / "latest.skmfc"
    link.symlink_to(target)
    fitted.save(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    np.testing.assert_array_equal(MFCVAEClustering.load(target).predict(data),
                                  fitted.predict(data))
    assert sorted(os.listdir(tmp_path / "store")) == ["model.skmfc"]


@pytest.mark.skipif(os.name != "posix", reason="leftovers are recognised by their POSIX pid")
def test_a_killed_save_leaves_a_temporary_file_that_the_next_save_removes(fitted, tmp_path):
    path = tmp_path / "model.skmfc"
    killed = ("import os, sys, torch\n"
              "from skmfc import MFCVAEClustering\n"
              "torch.save = lambda payload, stream: (stream.write(b'half'), os._exit(3))\n"
              "MFCVAEClustering().save(sys.argv[1])\n")
    result = subprocess.run([sys.executable, "-c", killed, str(path)],
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 3
    leftovers = [name for name in os.listdir(tmp_path) if name.endswith(".skmfc-tmp")]
    assert len(leftovers) == 1 and leftovers[0].startswith(".model.skmfc.")
    # A save still in progress (this process is alive) and other files are left alone.
    in_progress = tmp_path / leftovers[0].replace(leftovers[0].split("-")[-2],
                                                  str(os.getpid()))
    in_progress.write_bytes(b"half")
    (tmp_path / ".other.skmfc-tmp").write_bytes(b"mine")
    fitted.save(tmp_path / "another.skmfc")
    assert sorted(os.listdir(tmp_path)) == sorted(
        [".other.skmfc-tmp", in_progress.name, "another.skmfc"])


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_raises_no_space_left_on_device(fitted):
    with open("/dev/full", "wb", buffering=0) as stream:
        with pytest.raises(OSError, match="No space left on device") as info:
            fitted.save(stream)
    assert info.value.errno == errno.ENOSPC


def test_bytes_paths_and_wrong_path_types(fitted, data, tmp_path):
    path = os.fsencode(tmp_path / "model.skmfc")
    fitted.save(path)
    np.testing.assert_array_equal(MFCVAEClustering.load(path).predict(data),
                                  fitted.predict(data))
    with pytest.raises(TypeError, match="path must be a str, bytes, path-like or binary file"):
        fitted.save(12)
    with pytest.raises(TypeError, match="path must be a str, bytes, path-like or binary file"):
        MFCVAEClustering.load(None)


# ---------------------------------------------------------------------- damaged files
def _payload(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def _write(payload, path, fix_checksum=True):
    if fix_checksum:
        payload["sha256"] = _checksum(payload["format_version"], payload["metadata"],
                                      payload["tensors"])
    torch.save(payload, path)
    return path


def _edit_metadata(payload, edit):
    metadata = json.loads(payload["metadata"])
    edit(metadata)
    payload["metadata"] = json.dumps(metadata)
    return payload


class _RunsCode:
    """Unpickling this creates a file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _damaged_files(saved, tmp_path):
    """(name, path, message pattern) of files that must be refused."""
    raw = saved.read_bytes()
    cases = []

    def add(name, path, pattern):
        cases.append((name, path, pattern))

    # Bytes flipped inside a tensor's data: the zip container stays readable.
    flipped = bytearray(raw)
    payload = _payload(saved)
    tensor = payload["tensors"]["module.priors.0.means"]
    needle = tensor.numpy().tobytes()[:8]
    position = bytes(flipped).find(needle)
    assert position > 0
    flipped[position] ^= 0x40
    (tmp_path / "flipped.skmfc").write_bytes(bytes(flipped))
    add("flipped tensor byte", tmp_path / "flipped.skmfc", "checksum does not match")
    # Bytes flipped in the zip structure.
    broken = bytearray(raw)
    broken[10:60] = bytes(50)
    (tmp_path / "broken.skmfc").write_bytes(bytes(broken))
    add("broken container", tmp_path / "broken.skmfc", "not a readable skmfc model file")
    for fraction in (0.5, 0.99):
        truncated = tmp_path / f"truncated{fraction}.skmfc"
        truncated.write_bytes(raw[:int(len(raw) * fraction)])
        add(f"truncated at {fraction}", truncated, "damaged or truncated")
    (tmp_path / "empty.skmfc").write_bytes(b"")
    add("empty file", tmp_path / "empty.skmfc", "it is empty")
    # Edited values with the old checksum.
    payload = _payload(saved)
    payload["tensors"]["array.labels_"][0] += 1
    add("edited labels", _write(payload, tmp_path / "labels.skmfc", fix_checksum=False),
        "checksum does not match")
    payload = _edit_metadata(_payload(saved), lambda m: m["params"].update(max_iter=7))
    add("edited parameter", _write(payload, tmp_path / "param.skmfc", fix_checksum=False),
        "checksum does not match")
    payload = _payload(saved)
    payload["sha256"] = "0" * 64
    add("wrong checksum", _write(payload, tmp_path / "sha.skmfc", fix_checksum=False),
        "checksum does not match")
    # Unknown keys, even with a matching checksum.
    payload = _payload(saved)
    payload["extra"] = "surprise"
    add("unknown top-level key", _write(payload, tmp_path / "key.skmfc"), "unexpected keys")
    payload = _payload(saved)
    payload["tensors"]["array.extra"] = torch.zeros(3)
    add("unknown tensor", _write(payload, tmp_path / "tensor.skmfc"), "unexpected tensors")
    payload = _edit_metadata(_payload(saved), lambda m: m.update(more=1))
    add("unknown metadata key", _write(payload, tmp_path / "meta.skmfc"), "does not have the keys")
    payload = _edit_metadata(_payload(saved), lambda m: m["attributes"].update(
        n_iter_={"__eval__": "print('hi')"}))
    add("unknown tag", _write(payload, tmp_path / "tag.skmfc"), "unknown value")
    payload = _edit_metadata(_payload(saved), lambda m: m["attributes"].update(predict=1))
    add("attribute shadowing a method", _write(payload, tmp_path / "shadow.skmfc"),
        "attributes that a fitted estimator does not have")
    payload = _edit_metadata(_payload(saved), lambda m: m["params"].update(warp_drive=True))
    add("unknown parameter", _write(payload, tmp_path / "unknown.skmfc"),
        "parameters are not valid")
    payload = _edit_metadata(_payload(saved), lambda m: m["params"].update(n_facets=-1))
    add("invalid parameter", _write(payload, tmp_path / "invalid.skmfc"),
        "parameters are not valid")
    payload = _edit_metadata(_payload(saved), lambda m: m["module"]["config"]["__dict__"].update(
        hidden_sizes={"__tuple__": [100000000, 100000000]}))
    add("network larger than its weights", _write(payload, tmp_path / "huge.skmfc"),
        "network cannot be rebuilt")
    payload = _payload(saved)
    del payload["tensors"]["module.encoder.heads.0.mean.weight"]
    add("missing weights", _write(payload, tmp_path / "missing.skmfc"),
        "network cannot be rebuilt")
    payload = _edit_metadata(_payload(saved), lambda m: m.update({"class": "KMeans"}))
    add("another class", _write(payload, tmp_path / "class.skmfc"), "not a 'MFCVAEClustering'")
    # Newer format.
    payload = _payload(saved)
    payload["format_version"] = FORMAT_VERSION + 1
    add("newer format", _write(payload, tmp_path / "newer.skmfc"), "newer than format")
    # Files that are not skmfc models.
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    add("another torch file", tmp_path / "other.pt", "not an skmfc model file")
    (tmp_path / "text.skmfc").write_text("hello")
    add("text", tmp_path / "text.skmfc", "not a zip archive")
    return cases


def test_damaged_edited_and_foreign_files_are_refused(saved, tmp_path):
    for name, path, pattern in _damaged_files(saved, tmp_path):
        with pytest.raises(ModelFileError, match=pattern) as info:
            MFCVAEClustering.load(path)
        assert str(path) in str(info.value), name
        assert isinstance(info.value, ValueError) and info.value.path == str(path)


@pytest.mark.parametrize("how", ["pickle", "torch.save", "joblib", "inside the payload"])
def test_a_pickle_that_would_run_code_is_refused_without_running_it(saved, tmp_path, how):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.skmfc"
    if how == "pickle":
        path.write_bytes(pickle.dumps({"format": "skmfc-model", "x": _RunsCode(str(marker))}))
    elif how == "torch.save":
        torch.save({"format": "skmfc-model", "x": _RunsCode(str(marker))}, path)
    elif how == "joblib":
        import joblib
        joblib.dump(_RunsCode(str(marker)), path)
    else:
        payload = _payload(saved)
        payload["tensors"]["array.labels_"] = _RunsCode(str(marker))
        torch.save(payload, path)
    expected = ("not a zip archive written by torch.save" if how in ("pickle", "joblib")
                else "a pickle that would run code.*nothing was executed")
    with pytest.raises(ModelFileError, match=expected):
        MFCVAEClustering.load(path)
    assert not marker.exists()


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        MFCVAEClustering.load(tmp_path / "absent.skmfc")


# ---------------------------------------------------------------------- hostile files
def _rezip(path, out, compress=lambda name: False):
    """Copy the zip archive at ``path`` to ``out``, deflating the entries ``compress``
    picks: what a hand-made archive may do and torch.save never does."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w") as target:
        for entry in source.infolist():
            data = source.read(entry)
            entry.compress_type = (zipfile.ZIP_DEFLATED if compress(entry.filename)
                                   else zipfile.ZIP_STORED)
            target.writestr(entry, data)
    return out


def _peak_rss_growth(function):
    """Growth of the process's peak resident memory, in bytes, while ``function`` runs."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    function()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024


def _load_refused(path, pattern):
    with pytest.raises(ModelFileError, match=pattern):
        MFCVAEClustering.load(path)


@pytest.mark.skipif(resource is None, reason="needs the resource module (POSIX)")
def test_a_small_file_cannot_make_load_allocate_much_memory(saved, tmp_path):
    # A 1 GiB tensor declared over one stored float: an expanded, stride-0 view.
    payload = _payload(saved)
    payload["tensors"]["array.input_offset_"] = torch.zeros(1, dtype=torch.float64).expand(
        2 ** 27)
    path = tmp_path / "expanded.skmfc"
    torch.save(payload, path)  # the checksum is left as it was: computing it would allocate
    assert path.stat().st_size < 100_000
    growth = _peak_rss_growth(lambda: _load_refused(path, "not a plain contiguous tensor"))
    assert growth < 100 * 2 ** 20
    # The same amplification through a compressed archive entry.
    big = _payload(saved)
    big["tensors"]["array.input_offset_"] = torch.zeros(2 ** 27, dtype=torch.float64)
    big_path = tmp_path / "big.skmfc"
    _write(big, big_path)
    deflated = _rezip(big_path, tmp_path / "deflated.skmfc",
                      compress=lambda name: "/data/" in name)
    big_path.unlink()
    del big
    assert deflated.stat().st_size < 5 * 2 ** 20
    growth = _peak_rss_growth(lambda: _load_refused(deflated, "is compressed"))
    assert growth < 100 * 2 ** 20


def _tampered(saved, tmp_path, edit):
    payload = _payload(saved)
    edit(payload)
    try:
        return _write(payload, tmp_path / "tampered.skmfc")
    except UnicodeEncodeError:  # no checksum covers text that is not UTF-8
        return _write(payload, tmp_path / "tampered.skmfc", fix_checksum=False)


def _set_attribute(name, value):
    return lambda payload: _edit_metadata(payload, lambda m: m["attributes"].update(
        {name: value}))


def _set_config(name, value):
    return lambda payload: _edit_metadata(
        payload, lambda m: m["module"]["config"]["__dict__"].update({name: value}))


def _set_tensor(name, tensor):
    return lambda payload: payload["tensors"].update({name: tensor})


def _nested_metadata(payload):
    payload["metadata"] = "[" * 100_000 + "]" * 100_000


def _surrogate_metadata(payload):
    payload["metadata"] = payload["metadata"].replace('"max_iter"', '"max_iter\udc80"')


def _many_facets(payload):
    n = 5000
    _edit_metadata(payload, lambda m: (
        m["params"].update(n_facets=n),
        m["module"]["config"]["__dict__"].update({
            key: {"__tuple__": [2] * n} for key in ("latent_dims", "n_clusters",
                                                    "hidden_sizes")})))


def _deep_value(payload):
    # Shallow enough for json.loads.
    depth = 450
    _edit_metadata(payload, lambda m: m["attributes"].update(n_iter_="DEEP"))
    payload["metadata"] = payload["metadata"].replace(
        '"DEEP"', '{"__tuple__": [' * depth + "1" + "]}" * depth)


# Every edit keeps a matching checksum: what someone editing a file by hand can do.
TAMPERED = [
    ("n_facets param", lambda p: _edit_metadata(p, lambda m: m["params"].update(n_facets=3)),
     "one entry per facet"),
    ("n_facets beyond the weights", _many_facets, "weights for fewer than n_facets=5000"),
    ("n_clusters_", _set_attribute("n_clusters_", {"__tuple__": [3, 4]}), "n_clusters_"),
    ("latent_dims_", _set_attribute("latent_dims_", {"__tuple__": [2]}), "latent_dims_"),
    ("n_features_in_", _set_attribute("n_features_in_", 5), "n_features_in_"),
    ("n_features_in_ as a float", _set_attribute("n_features_in_", 6.0), "n_features_in_"),
    ("input_offset_ shape",
     _set_tensor("array.input_offset_", torch.zeros(5, dtype=torch.float64)), "input_offset_"),
    ("input_offset_ nan", _set_tensor("array.input_offset_",
                                      torch.full((6,), math.nan, dtype=torch.float64)),
     "input_offset_"),
    ("input_scale_ negative", _set_attribute("input_scale_", -1.0), "input_scale_"),
    ("input_scale_ nan", _set_attribute("input_scale_", {"__float__": "nan"}), "input_scale_"),
    ("input_scale_ a string", _set_attribute("input_scale_", "1"), "input_scale_"),
    ("labels_ beyond n_clusters", _set_tensor("array.labels_", torch.full((120, 2), 7)),
     "labels_"),
    ("architecture_", _set_attribute("architecture_", "conv"), "architecture_"),
    ("likelihood_", _set_attribute("likelihood_", "bernoulli"), "likelihood_"),
    ("_seed too large", _set_attribute("_seed", 2 ** 70), "_seed"),
    ("_seed a float", _set_attribute("_seed", 0.5), "_seed"),
    ("missing attribute", lambda p: _edit_metadata(p, lambda m: m["attributes"].pop(
        "input_scale_")), "lacks the fitted attributes"),
    ("attributes without a network", lambda p: (
        _edit_metadata(p, lambda m: m.update(module=None)),
        [p["tensors"].pop(key) for key in list(p["tensors"]) if key.startswith("module.")]),
     "fitted attributes but no network"),
    ("hidden size overflowing", _set_config("hidden_sizes", {"__tuple__": [10 ** 30, 16]}),
     "network cannot be rebuilt|inconsistent"),
    ("latent dim a string", _set_config("latent_dims", {"__tuple__": ["2", 2]}),
     "network cannot be rebuilt|inconsistent"),
    ("config key unknown", _set_config("warp", 1), "network cannot be rebuilt"),
    ("device beyond range", _set_attribute("device_", {"__device__": "cuda:" + "9" * 30}),
     "unknown device|inconsistent"),
    ("metadata nested too deeply", _nested_metadata, "not valid JSON"),
    ("value nested too deeply", _deep_value, "nested too deeply"),
    ("metadata not UTF-8", _surrogate_metadata, "not valid UTF-8"),
    ("class not a string", lambda p: _edit_metadata(p, lambda m: m.update({"class": [1]})),
     "not a 'MFCVAEClustering'"),
    ("partial storage", _set_tensor("array.input_offset_",
                                    torch.zeros(600, dtype=torch.float64)[:6]),
     "storage of its own"),
    ("shared storage", lambda p: p["tensors"].update(
        {"array.init_elbos_": p["tensors"]["module.priors.0.means"]}), "storage of its own"),
    ("complex tensor", _set_tensor("array.input_offset_", torch.zeros(6, dtype=torch.complex64)),
     "unsupported dtype"),
    ("tensor requiring grad", _set_tensor("array.input_offset_",
                                          torch.zeros(6, dtype=torch.float64,
                                                      requires_grad=True)),
     "not a plain contiguous tensor"),
    ("format version huge", lambda p: p.update(format_version=10 ** 30), "newer than format"),
]


@pytest.mark.parametrize("edit, pattern", [case[1:] for case in TAMPERED],
                         ids=[case[0] for case in TAMPERED])
def test_tampered_files_with_a_recomputed_checksum_are_refused(saved, tmp_path, edit, pattern):
    path = _tampered(saved, tmp_path, edit)
    with pytest.raises(ModelFileError, match=pattern) as info:
        MFCVAEClustering.load(path)
    assert str(path) in str(info.value)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70)
    | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["__tuple__", "__dict__", "__float__", "__device__",
                                       "__array__", "dtype", "__str_array__", "shape", "x"]),
                      children, max_size=2),
    max_leaves=6)


@functools.lru_cache(maxsize=1)
def _saved_payload_bytes():
    est = tiny_estimator(max_iter=2).fit(np.random.RandomState(1).normal(size=(40, 6)))
    buffer = io.BytesIO()
    est.save(buffer)
    return buffer.getvalue()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(where=st.sampled_from(["params", "attributes", "config", "tensor"]),
       key_index=st.integers(0, 100), value=JSON_VALUES,
       shape=st.lists(st.integers(0, 4), max_size=3),
       dtype=st.sampled_from([torch.float64, torch.float32, torch.int64, torch.uint8,
                              torch.bool]))
def test_any_edit_loads_a_working_model_or_raises_model_file_error(where, key_index, value,
                                                                    shape, dtype):
    payload = torch.load(io.BytesIO(_saved_payload_bytes()), weights_only=True)
    if where == "tensor":
        keys = sorted(payload["tensors"])
        payload["tensors"][keys[key_index % len(keys)]] = torch.zeros(shape, dtype=dtype)
    else:
        def edit(metadata):
            target = (metadata["module"]["config"]["__dict__"] if where == "config"
                      else metadata[where])
            keys = sorted(target)
            target[keys[key_index % len(keys)]] = value
        _edit_metadata(payload, edit)
    buffer = io.BytesIO()
    _write(payload, buffer)
    buffer.seek(0)
    X = np.random.RandomState(2).normal(size=(10, 6))
    try:
        est = MFCVAEClustering.load(buffer)
    except ModelFileError:
        return
    labels = est.predict(X)
    assert labels.shape == (10, est.n_facets)
    assert all(((column >= 0) & (column < k)).all() for column, k in zip(labels.T,
                                                                           est.n_clusters_))
    assert np.isfinite(est.transform(X)).all()
    assert math.isfinite(est.score(X))


# ---------------------------------------------------------------------- other devices
def _as_if_trained_on_cuda(est):
    """est's pickled state as a CUDA-trained estimator would write it."""
    state = est.__getstate__()
    state["device_"] = "cuda:0"
    state["_module_dtype"] = "float32"
    state["_module_state"] = {key: value.float() if value.is_floating_point() else value
                              for key, value in state["_module_state"].items()}
    return state


def test_a_pickle_from_a_cuda_machine_loads_on_the_cpu(fitted, data, monkeypatch):
    state = _as_if_trained_on_cuda(fitted)
    monkeypatch.setattr(MFCVAEClustering, "__getstate__", lambda self: state)
    blob = pickle.dumps(fitted)
    monkeypatch.undo()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(RuntimeWarning, match="trained on cuda:0, which is not available"):
        restored = pickle.loads(blob)
    assert restored.device_ == torch.device("cpu")
    assert next(restored.module_.parameters()).device.type == "cpu"
    # Training ran in float32, so float32 -> float64 on loading is exact.
    assert_same_model(restored, fitted, data)


def test_a_saved_file_from_a_cuda_machine_loads_on_the_cpu(saved, fitted, data, tmp_path,
                                                          monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    payload = _edit_metadata(_payload(saved), lambda m: (
        m["attributes"].update(device_={"__device__": "cuda:0"}),
        m["module"].update(dtype="float32")))
    payload["tensors"] = {key: value.float() if key.startswith("module.")
                          and value.is_floating_point() else value
                          for key, value in payload["tensors"].items()}
    path = _write(payload, tmp_path / "cuda.skmfc")
    with pytest.warns(RuntimeWarning, match="not available here; it is loaded on the CPU"):
        restored = MFCVAEClustering.load(path)
    assert restored.device_ == torch.device("cpu")
    assert_same_model(restored, fitted, data)


def _fixture_data():
    return np.random.RandomState(0).normal(size=(60, 6)) * 3.0 + 1.0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_train_on_cuda_and_write_the_cpu_fixtures(tmp_path):
    """Trains on the GPU; (re)writes the fixtures that the CPU test below reads when they
    are missing or SKMFC_REGENERATE_FIXTURES=1."""
    X = _fixture_data()
    est = tiny_estimator(device="cuda", random_state=0).fit(X)
    assert est.device_.type == "cuda"
    assert next(est.module_.parameters()).dtype == torch.float32
    est.save(tmp_path / "model.skmfc")
    for restored in (pickle.loads(pickle.dumps(est)),
                     MFCVAEClustering.load(tmp_path / "model.skmfc")):
        assert restored.device_.type == "cuda"
        np.testing.assert_array_equal(restored.predict_proba(X), est.predict_proba(X))
    regenerate = os.environ.get("SKMFC_REGENERATE_FIXTURES") == "1"
    if regenerate or not all(map(os.path.exists, (CUDA_PICKLE, CUDA_SKMFC, CUDA_EXPECTED))):
        os.makedirs(FIXTURES, exist_ok=True)
        with open(CUDA_PICKLE, "wb") as stream:
            pickle.dump(est, stream)
        est.save(CUDA_SKMFC)
        np.savez(CUDA_EXPECTED, X=X, labels=est.predict(X), proba=est.predict_proba(X),
                 transform=est.transform(X))


@pytest.mark.parametrize("path", [CUDA_PICKLE, CUDA_SKMFC], ids=["pickle", "skmfc"])
def test_the_cuda_fixtures_load_on_a_machine_without_cuda(path, monkeypatch):
    if not (os.path.exists(path) and os.path.exists(CUDA_EXPECTED)):
        pytest.skip("fixture not yet generated on a GPU machine "
                    "(run the gpu tests on one: pytest -m gpu)")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(RuntimeWarning, match="not available here; it is loaded on the CPU"):
        if path.endswith(".pkl"):
            with open(path, "rb") as stream:
                est = pickle.load(stream)
        else:
            est = MFCVAEClustering.load(path)
    assert est.device_ == torch.device("cpu")
    expected = np.load(CUDA_EXPECTED, allow_pickle=False)
    X = expected["X"]
    # The GPU computed in float32, the CPU in float64: equal up to float32 rounding.
    np.testing.assert_allclose(est.predict_proba(X), expected["proba"], atol=1e-4)
    np.testing.assert_allclose(est.transform(X), expected["transform"], atol=1e-4, rtol=1e-4)
    margin = np.sort(expected["proba"][:, :3], axis=1)[:, -1] - np.sort(
        expected["proba"][:, :3], axis=1)[:, -2]
    clear = margin > 1e-3
    np.testing.assert_array_equal(est.predict(X)[clear, 0], expected["labels"][clear, 0])


def test_a_file_with_a_likelihood_std_of_zero_is_refused(tmp_path):
    # Found by the edit test above: a Gaussian model whose file says likelihood_std=False
    # (0) loaded, then failed in predict with "math domain error".
    payload = torch.load(io.BytesIO(_saved_payload_bytes()), weights_only=True)
    _edit_metadata(payload, lambda metadata: metadata["module"]["config"]["__dict__"].update(
        likelihood_std=False))
    buffer = io.BytesIO()
    _write(payload, buffer)
    buffer.seek(0)
    with pytest.raises(ModelFileError, match="likelihood_std"):
        MFCVAEClustering.load(buffer)
