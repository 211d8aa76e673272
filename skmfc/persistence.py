"""Saving and loading a :class:`~skmfc.MFCVAEClustering` without pickle.

The file is written with :func:`torch.save` and holds nothing but a dict of plain
values: strings, ints, tensors. It is read back with ``torch.load(weights_only=True)``,
whose unpickler refuses every Python object other than tensors and plain containers,
so loading a file never runs code, whoever wrote it.

Layout of the dict in the file::

    {
        "format": "skmfc-model",          # identifies the file
        "format_version": 1,              # FORMAT_VERSION of the skmfc that wrote it
        "skmfc_version": "0.1.0",         # skmfc.__version__ that wrote it
        "metadata": "<JSON text>",        # class, parameters, fitted attributes, module config
        "tensors": {name: Tensor},        # "module.<key>": module state; "array.<name>": arrays
        "sha256": "<hex digest>",         # over the format, the JSON and every tensor's bytes
    }

The JSON holds ``{"class": ..., "params": {...}, "attributes": {...}, "module": {"config":
{...}, "dtype": "float32"} or null}``. Values that JSON cannot hold are tagged objects:
``{"__tuple__": [...]}``, ``{"__dict__": {...}}``, ``{"__float__": "nan"}``,
``{"__device__": "cuda:0"}``, ``{"__array__": "array.labels_", "dtype": "int64"}``,
``{"__str_array__": [...]}`` and ``{"__random_state__": {...}}`` (a numpy RandomState is
stored by its state, as pickle does). The checksum detects a file that was damaged or
edited by hand; it is not a signature (whoever edits a file can recompute it). What
keeps loading safe is ``weights_only=True``, and checking every size the file declares
against the file before anything is built from it; ``docs/persistence.md`` lists what
:func:`load_estimator` checks.
"""

import contextlib
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import socket
import stat
import warnings
import zipfile

import numpy as np
import torch

from skmfc._device import device_available, for_inference

FORMAT_NAME = "skmfc-model"
FORMAT_VERSION = 1
_TOP_LEVEL_KEYS = {"format", "format_version", "skmfc_version", "metadata", "tensors", "sha256"}
_METADATA_KEYS = {"class", "params", "attributes", "module"}
_ARRAY_KINDS = "biuf"  # bool, signed and unsigned ints, floats
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive
_TEMPORARY_SUFFIX = ".skmfc-tmp"
_HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_TEMPORARY_NAME = re.compile(r"^\..*\.(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]+)-[0-9a-f]{8}"
                             + re.escape(_TEMPORARY_SUFFIX) + "$")
_MAX_DEPTH = 32  # nesting of a value in the metadata (skmfc writes at most a few levels)
# The dtypes an skmfc file holds: the module's floats and the arrays of _ARRAY_KINDS.
_TENSOR_DTYPES = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
                  torch.float16, torch.bfloat16, torch.float32, torch.float64)
# Fitted attributes that inference reads; a file with a network must hold every one.
_INFERENCE_ATTRIBUTES = ("n_features_in_", "input_offset_", "input_scale_", "architecture_",
                         "image_shape_", "n_clusters_", "latent_dims_", "likelihood_",
                         "labels_", "_seed")


class ModelFileError(ValueError):
    """A model file that cannot be loaded: damaged, edited, not a model file, or too new.

    Both parameters are kept as attributes of the same name.

    Parameters
    ----------
    path : str
        The file.
    problem : str
        What is wrong with it.
    """

    def __init__(self, path, problem):
        self.path = path
        self.problem = problem
        super().__init__(f"cannot load the skmfc model file {path!r}: {problem}")


# ---------------------------------------------------------------------- saving
def save_estimator(estimator, path):
    """Write ``estimator`` (fitted or not) to ``path``; see the module docstring.

    The file is written next to its destination and moved into place once complete, so
    an interrupted save never leaves a half-written file under ``path``; see
    :func:`_replace_file` for modes, symbolic links and leftover temporary files.

    Parameters
    ----------
    estimator : MFCVAEClustering
        The estimator to save, fitted or not.
    path : str, bytes, path-like or binary file object
        Where to write.
    """
    from skmfc import __version__

    tensors = {}
    encoder = _Encoder(tensors)
    state = dict(estimator.__dict__)
    params = estimator.get_params(deep=False)
    module = state.pop("module_", None)
    for name in params:
        state.pop(name, None)
    metadata = {
        "class": type(estimator).__name__,
        "params": {name: encoder.encode(value, f"params.{name}")
                   for name, value in params.items()},
        "attributes": {name: encoder.encode(value, name) for name, value in state.items()},
        "module": None,
    }
    if module is not None:
        config, module_tensors, dtype, _ = _module_state(module, copy=True)
        metadata["module"] = {"config": encoder.encode(config, "module.config"), "dtype": dtype}
        for key, tensor in module_tensors.items():
            tensors[f"module.{key}"] = tensor
    metadata_text = json.dumps(metadata, allow_nan=False, sort_keys=True)
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "skmfc_version": __version__,
        "metadata": metadata_text,
        "tensors": tensors,
        "sha256": _checksum(FORMAT_VERSION, metadata_text, tensors),
    }
    path = _as_path(path)
    if isinstance(path, str):
        _replace_file(path, payload)
    else:  # a writable binary file object
        _save_to_stream(payload, path)


def _replace_file(path, payload):
    """Write ``payload`` to a temporary file beside ``path``, then move it over ``path``.

    A symbolic link at ``path`` is followed: the file it points to is replaced and the
    link kept, as ``open(path, "w")`` would. The new file gets the mode of the file it
    replaces, or the default mode of new files under the umask (the temporary file is
    created with 0o666, which the umask trims).
    """
    target = os.path.realpath(path)
    directory, base = os.path.split(target)
    _remove_stale_temporaries(directory)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None
    # The name says which host and process wrote it, so that a later save can tell a
    # killed save's leftover from a save in progress.
    temporary = os.path.join(directory, f".{base[:100]}.{_HOST_TAG}-{os.getpid()}-"
                                        f"{secrets.token_hex(4)}{_TEMPORARY_SUFFIX}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                         | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            _save_to_stream(payload, stream)
            stream.flush()
            os.fsync(stream.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def _save_to_stream(payload, stream):
    """``torch.save(payload, stream)``, raising the stream's own ``OSError`` (such as "No
    space left on device") where torch would report only that its write fell short."""
    writer = _ErrorKeepingWriter(stream)
    try:
        torch.save(payload, writer)
    except Exception:
        if writer.error is not None:
            raise writer.error from None
        raise


class _ErrorKeepingWriter:
    """A binary stream's ``write`` and ``flush`` that remember the first ``OSError``."""

    def __init__(self, stream):
        self.stream, self.error = stream, None

    def write(self, data):
        return self._call(self.stream.write, data)

    def flush(self):
        return self._call(self.stream.flush)

    def _call(self, function, *args):
        try:
            return function(*args)
        except OSError as error:
            self.error = self.error or error
            raise


def _remove_stale_temporaries(directory):
    """Delete the temporary files that killed saves left in ``directory``: those named by
    :func:`_replace_file` on this host for a process that no longer exists."""
    if os.name != "posix":  # os.kill(pid, 0) would end the process on Windows
        return
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        match = _TEMPORARY_NAME.match(name)
        if match and match["host"] == _HOST_TAG and not _process_exists(int(match["pid"])):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(directory, name))


def _process_exists(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # another user's process, or no valid pid: leave it
        return True
    return True


class _Encoder:
    """Python values -> JSON values, arrays moved to ``tensors``."""

    def __init__(self, tensors):
        self.tensors = tensors

    def encode(self, value, name):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, (int, np.integer)):
            return int(value)
        if isinstance(value, (float, np.floating)):
            value = float(value)
            return value if math.isfinite(value) else {"__float__": repr(value)}
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, f"{name}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self.encode(v, f"{name}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict):
            if not all(isinstance(key, str) for key in value):
                raise TypeError(f"cannot save {name}: a dict with non-string keys")
            return {"__dict__": {key: self.encode(v, f"{name}[{key!r}]")
                                 for key, v in value.items()}}
        if isinstance(value, torch.device):
            return {"__device__": str(value)}
        if isinstance(value, np.random.RandomState):
            kind, keys, position, has_gauss, cached_gaussian = value.get_state()
            return {"__random_state__": {
                "kind": kind, "keys": self.array(np.asarray(keys), f"{name}.keys"),
                "position": int(position), "has_gauss": int(has_gauss),
                "cached_gaussian": self.encode(float(cached_gaussian), name)}}
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                if not all(isinstance(v, str) for v in value.ravel()):
                    raise TypeError(f"cannot save {name}: an object array that is not all str")
                return {"__str_array__": [str(v) for v in value.ravel()],
                        "shape": list(value.shape)}
            return self.array(value, name)
        raise TypeError(f"cannot save {name}: values of type {type(value).__name__} "
                        "have no representation in the skmfc file format")

    def array(self, value, name):
        if value.dtype.kind not in _ARRAY_KINDS:
            raise TypeError(f"cannot save {name}: arrays of dtype {value.dtype} are not supported")
        key = f"array.{name}"
        # torch has no unsigned types beyond uint8 everywhere: widen them to int64.
        stored = value.astype(np.int64) if value.dtype.kind == "u" else value
        self.tensors[key] = torch.from_numpy(np.ascontiguousarray(stored)).clone()
        return {"__array__": key, "dtype": value.dtype.str}


def _checksum(format_version, metadata_text, tensors):
    digest = hashlib.sha256()
    digest.update(f"{FORMAT_NAME}\0{format_version}\0".encode())
    digest.update(metadata_text.encode("utf-8"))
    for key in sorted(tensors):
        tensor = tensors[key].detach().cpu().contiguous()
        digest.update(f"\0{key}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode(
            "utf-8", "surrogatepass"))
        # The tensor's own memory, without a copy.
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


# ---------------------------------------------------------------------- loading
def load_estimator(cls, path):
    """Read an estimator of class ``cls`` saved by :func:`save_estimator`.

    Nothing in the file is built before the archive, the tensors and the sizes they
    declare have been checked against the file's size, so a file cannot make loading
    cost much more memory or time than its size; the fitted attributes are then
    checked against the network's tensors.

    ``cls`` is the estimator's class, :class:`~skmfc.MFCVAEClustering`; the file must
    hold one.

    Parameters
    ----------
    path : str, bytes, path-like or binary file object
        The file to read.

    Returns
    -------
    MFCVAEClustering
        The estimator as it was saved, on its device or, where that is absent, on the
        CPU with a warning.

    Raises
    ------
    ModelFileError
        The file is not a model file, is damaged, edited or inconsistent, or was
        written by a newer skmfc. ``FileNotFoundError`` and other ``OSError`` pass
        through unchanged.
    """
    path = _as_path(path)
    name = path if isinstance(path, str) else getattr(path, "name", repr(path))
    payload = _read_payload(path, name)
    try:
        return _estimator_from_payload(cls, payload, name)
    except ModelFileError:
        raise
    except Exception as error:  # noqa: BLE001 - whatever a file holds, it is the file's fault
        raise ModelFileError(name, f"its contents are inconsistent ({_describe(error)})") from None


def _estimator_from_payload(cls, payload, name):
    try:
        metadata = json.loads(payload["metadata"])
    except (ValueError, RecursionError) as error:
        raise ModelFileError(name, f"its metadata is not valid JSON ({_describe(error)})") \
            from None
    if not isinstance(metadata, dict) or set(metadata) != _METADATA_KEYS:
        raise ModelFileError(name, "its metadata does not have the keys "
                                   f"{sorted(_METADATA_KEYS)}")
    if metadata["class"] != cls.__name__:
        raise ModelFileError(name, f"it holds a {str(metadata['class'])[:80]!r}, not a "
                                   f"{cls.__name__!r}")
    tensors = payload["tensors"]
    decoder = _Decoder(tensors, name)
    if not (isinstance(metadata["params"], dict) and isinstance(metadata["attributes"], dict)):
        raise ModelFileError(name, "its parameters or attributes are not a mapping")
    params = {key: decoder.decode(value) for key, value in metadata["params"].items()}
    attributes = {key: decoder.decode(value) for key, value in metadata["attributes"].items()}
    module_info = metadata["module"]
    try:
        estimator = cls(**params)
        estimator._validate_params()
    except (TypeError, ValueError) as error:
        raise ModelFileError(name, f"its parameters are not valid ({_describe(error)})") \
            from None
    if set(attributes) & set(params):
        raise ModelFileError(name, "its attributes repeat its parameters")
    odd = [key for key in attributes if not key.isidentifier() or key.startswith("__")
           or not (key.endswith("_") or key.startswith("_")) or hasattr(cls, key)]
    if odd:
        raise ModelFileError(name, f"it sets attributes that a fitted estimator does not have: "
                                   f"{sorted(odd)[:5]}")
    module_keys = {key for key in tensors if key.startswith("module.")}
    if module_info is not None:
        if not isinstance(module_info, dict) or set(module_info) != {"config", "dtype"}:
            raise ModelFileError(name, "its module description is malformed")
        config = decoder.decode(module_info["config"])
        _check_config(config, params["n_facets"], module_keys, name)
        state = {key[len("module."):]: tensors[key] for key in module_keys}
        try:
            attributes["module_"], attributes["device_"] = _rebuild_module(
                config, state, module_info["dtype"], attributes.get("device_"), stacklevel=5)
        except (TypeError, ValueError, RuntimeError, KeyError, OverflowError,
                IndexError) as error:
            raise ModelFileError(name, f"its network cannot be rebuilt ({_describe(error)})") \
                from None
        _check_fitted_attributes(attributes, config, name)
    elif module_keys:
        raise ModelFileError(name, "it holds network weights but no network description")
    elif any(not key.startswith("_") for key in attributes):
        raise ModelFileError(name, "it holds fitted attributes but no network")
    unused = set(tensors) - decoder.used - module_keys
    if unused:
        raise ModelFileError(name, f"it holds unexpected tensors {sorted(unused)[:5]}")
    estimator.__dict__.update(attributes)
    return estimator


def _check_config(config, n_facets, module_keys, name):
    """Refuse a network description that disagrees with ``n_facets`` or that would build
    more facets than the file holds weights for, before anything is built from it."""
    if not isinstance(config, dict):
        raise ModelFileError(name, "its network description is not a mapping")
    per_facet = {key: config.get(key) for key in ("latent_dims", "n_clusters", "hidden_sizes")}
    wrong = sorted(key for key, value in per_facet.items()
                   if not (isinstance(value, tuple) and len(value) == n_facets))
    if wrong:
        raise ModelFileError(name, f"its network description has no {', '.join(wrong)} with "
                                   f"one entry per facet (n_facets={n_facets})")
    # Every facet has a prior of its own: a file cannot declare more facets than that.
    if n_facets > len(module_keys) or any(f"module.priors.{facet}.means" not in module_keys
                                          for facet in range(n_facets)):
        raise ModelFileError(name, f"its network has weights for fewer than n_facets="
                                   f"{n_facets} facets")


def _check_fitted_attributes(attributes, config, name):
    """Cross-check the fitted attributes that inference reads against the network."""
    missing = [key for key in _INFERENCE_ATTRIBUTES if key not in attributes]
    if missing:
        raise ModelFileError(name, f"it has a network but lacks the fitted attributes "
                                   f"{missing}")
    n_facets = len(config["latent_dims"])
    n_features = attributes["n_features_in_"]
    offset, scale = attributes["input_offset_"], attributes["input_scale_"]
    input_shape = tuple(config["input_shape"])
    image_shape = attributes["image_shape_"]
    labels = attributes["labels_"]
    if isinstance(labels, np.ndarray) and labels.ndim == 1 and n_facets == 1:
        labels = labels[:, None]  # a one-facet model's labels are 1-D
    problems = {
        "n_clusters_": attributes["n_clusters_"] != tuple(config["n_clusters"]),
        "latent_dims_": attributes["latent_dims_"] != tuple(config["latent_dims"]),
        "architecture_": attributes["architecture_"] != config["architecture"],
        "likelihood_": attributes["likelihood_"] != config["likelihood"],
        "n_features_in_": not (type(n_features) is int and n_features == math.prod(input_shape)),
        "image_shape_": image_shape != (None if config["architecture"] == "mlp" else
                                        (input_shape[1], input_shape[2], input_shape[0])),
        "input_offset_": not (isinstance(offset, np.ndarray) and offset.dtype.kind == "f"
                              and offset.shape == (n_features,) and np.isfinite(offset).all()),
        "input_scale_": not (type(scale) is float and math.isfinite(scale) and scale > 0),
        "labels_": not (isinstance(labels, np.ndarray) and labels.dtype.kind in "iu"
                        and labels.ndim == 2 and labels.shape[1] == n_facets
                        and all(((column >= -1) & (column < k)).all() for column, k
                                in zip(labels.T, config["n_clusters"]))),
        "_seed": not (type(attributes["_seed"]) is int and 0 <= attributes["_seed"] < 2 ** 63),
    }
    names = attributes.get("feature_names_in_")
    problems["feature_names_in_"] = names is not None and not (
        isinstance(names, np.ndarray) and names.shape == (n_features,))
    wrong = sorted(key for key, bad in problems.items() if bad)
    if wrong:
        raise ModelFileError(name, f"its fitted attributes {wrong} do not match its network")


def _describe(error):
    """An exception as ``Type: first line of its message``, for error messages."""
    message = str(error).splitlines()[0].strip()[:200] if str(error) else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _as_path(path):
    """A str for paths given as str, bytes or path-like; file objects as they are."""
    if isinstance(path, (str, bytes, os.PathLike)):
        return os.fsdecode(path)
    if callable(getattr(path, "read", None)) or callable(getattr(path, "write", None)):
        return path
    raise TypeError(f"path must be a str, bytes, path-like or binary file object, got "
                    f"{type(path).__name__}")


def _read_payload(path, name):
    # Opening the file ourselves lets a missing or unreadable file raise its own OSError;
    # every error after that is about the content.
    stream = open(path, "rb") if isinstance(path, str) else path
    try:
        position = stream.tell()
        head = stream.read(4)
        stream.seek(position)
        if head != _ZIP_MAGIC:
            raise ModelFileError(name, "it is not a readable skmfc model file: " + (
                "it is empty" if not head else
                "it is not a zip archive written by torch.save (if it is a pickle or joblib "
                "file, note that pickle.load and joblib.load run code: use them only on "
                "files from sources you trust)"))
        size = stream.seek(0, os.SEEK_END) - position
        stream.seek(position)
        _check_archive(stream, size, name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on odd pickle protocols
            payload = torch.load(stream, map_location="cpu", weights_only=True)
    except ModelFileError:
        raise
    except Exception as error:  # noqa: BLE001 - every parse failure means the same thing
        message = str(error)
        if "Weights only load failed" in message or "Unsupported global" in message:
            problem = ("it is damaged, or holds Python objects other than tensors and plain "
                       "values (a pickle that would run code?); nothing was executed")
        else:
            problem = f"it is damaged or truncated ({_describe(error)})"
        raise ModelFileError(name, f"it is not a readable skmfc model file: {problem}") from None
    finally:
        if stream is not path:
            stream.close()
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise ModelFileError(name, "it is not an skmfc model file (it has no "
                                   f"format={FORMAT_NAME!r} entry)")
    version = payload.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(name, f"its format version {str(version)[:20]!r} is not valid")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            name, f"it was written by skmfc {str(payload.get('skmfc_version'))[:40]!r} in file "
                  f"format {version}, newer than format {FORMAT_VERSION} that this skmfc "
                  "reads: upgrade skmfc to load it")
    if set(payload) != _TOP_LEVEL_KEYS:
        unexpected = sorted(str(key)[:40] for key in set(payload) - _TOP_LEVEL_KEYS)
        missing = sorted(_TOP_LEVEL_KEYS - set(payload))
        raise ModelFileError(name, f"unexpected keys {unexpected[:5]} / missing keys {missing}")
    tensors = payload["tensors"]
    if not (isinstance(payload["metadata"], str) and isinstance(payload["sha256"], str)
            and isinstance(tensors, dict)
            and all(isinstance(key, str) and type(value) is torch.Tensor
                    and value.layout == torch.strided for key, value in tensors.items())):
        raise ModelFileError(name, "its entries have the wrong types")
    _check_tensors(tensors, size, name)
    try:
        payload["metadata"].encode("utf-8")
    except UnicodeEncodeError:
        raise ModelFileError(name, "its metadata is not valid UTF-8 text") from None
    expected = _checksum(version, payload["metadata"], tensors)
    if not hmac.compare_digest(expected, payload["sha256"].encode("ascii", "replace").decode()):
        raise ModelFileError(name, "its checksum does not match its contents: the file was "
                                   "damaged or edited after it was saved")
    return payload


def _check_archive(stream, size, name):
    """Refuse a zip archive whose entries would unpack to more than the file holds.

    torch.save stores every entry uncompressed; torch.load would inflate a compressed
    one in memory before anything could check it.
    """
    start = stream.tell()
    try:
        with zipfile.ZipFile(stream) as archive:
            entries = archive.infolist()
    except Exception as error:  # noqa: BLE001 - zipfile raises many kinds on bad input
        raise ModelFileError(name, "it is not a readable skmfc model file: it is damaged or "
                                   f"truncated ({_describe(error)})") from None
    finally:
        stream.seek(start)
    for entry in entries:
        if (entry.compress_type != zipfile.ZIP_STORED or entry.file_size != entry.compress_size
                or entry.file_size > size):
            raise ModelFileError(name, f"its archive entry {entry.filename[:80]!r} is compressed "
                                       "or larger than the file (torch.save writes neither)")


def _check_tensors(tensors, size, name):
    """Refuse tensors that are not plain, contiguous, own their whole storage, or that
    together declare more bytes than the file has: a view of a small storage (an
    expanded, stride-0 tensor) could otherwise claim gigabytes."""
    storages, total = set(), 0
    for key, tensor in tensors.items():
        nbytes = tensor.numel() * tensor.element_size()
        storage = tensor.untyped_storage()
        if tensor.dtype not in _TENSOR_DTYPES:
            raise ModelFileError(name, f"its tensor {key[:80]!r} has the unsupported dtype "
                                       f"{tensor.dtype}")
        if (tensor.requires_grad or tensor.is_conj() or tensor.is_neg()
                or not tensor.is_contiguous() or tensor.storage_offset() != 0
                or storage.nbytes() != nbytes or (nbytes and storage.data_ptr() in storages)):
            raise ModelFileError(name, f"its tensor {key[:80]!r} is not a plain contiguous "
                                       "tensor with a storage of its own and of its size")
        if nbytes:
            storages.add(storage.data_ptr())
        total += nbytes
    if total > size:
        raise ModelFileError(name, f"its tensors declare {total} bytes, more than the file's "
                                   f"{size}")


class _Decoder:
    """JSON values -> Python values, arrays taken from ``tensors``."""

    def __init__(self, tensors, name):
        self.tensors = tensors
        self.name = name
        self.used = set()

    def fail(self, problem):
        raise ModelFileError(self.name, problem)

    def decode(self, value, depth=0):
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if depth > _MAX_DEPTH:
            self.fail("its metadata is nested too deeply")
        depth += 1
        if isinstance(value, list):
            return [self.decode(v, depth) for v in value]
        if not isinstance(value, dict) or len(value) not in (1, 2):
            self.fail(f"it holds an unknown value {str(value)[:80]}")
        tag = next(iter(value)) if len(value) == 1 else (
            "__array__" if "__array__" in value else
            "__str_array__" if "__str_array__" in value else None)
        if tag == "__tuple__" and isinstance(value[tag], list):
            return tuple(self.decode(v, depth) for v in value[tag])
        if tag == "__dict__" and isinstance(value[tag], dict):
            return {key: self.decode(v, depth) for key, v in value[tag].items()}
        if tag == "__float__" and value[tag] in ("nan", "inf", "-inf"):
            return float(value[tag])
        if tag == "__device__" and isinstance(value[tag], str):
            try:
                return torch.device(value[tag])
            except (RuntimeError, TypeError):
                self.fail(f"it names an unknown device {value[tag]!r}")
        if tag == "__array__" and set(value) == {"__array__", "dtype"}:
            return self.array(value["__array__"], value["dtype"])
        if (tag == "__str_array__" and set(value) == {"__str_array__", "shape"}
                and all(isinstance(v, str) for v in value[tag])):
            try:
                return np.asarray(value[tag], dtype=object).reshape(value["shape"])
            except (TypeError, ValueError):
                self.fail("it holds a string array of the wrong shape")
        if tag == "__random_state__" and isinstance(value[tag], dict):
            spec = value[tag]
            try:
                random_state = np.random.RandomState()
                random_state.set_state((spec["kind"], self.decode(spec["keys"]),
                                        spec["position"], spec["has_gauss"],
                                        self.decode(spec["cached_gaussian"])))
                return random_state
            except (KeyError, TypeError, ValueError):
                self.fail("it holds a malformed random state")
        self.fail(f"it holds an unknown value {str(value)[:80]}")

    def array(self, key, dtype):
        if key not in self.tensors:
            self.fail(f"it refers to a missing tensor {key!r}")
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            self.fail(f"it names an unknown dtype {dtype!r}")
        if dtype.kind not in _ARRAY_KINDS:
            self.fail(f"it holds an array of unsupported dtype {dtype}")
        self.used.add(key)
        try:
            return self.tensors[key].numpy().astype(dtype, copy=True)
        except (TypeError, ValueError, RuntimeError):
            self.fail(f"its tensor {key!r} cannot be read as an array of {dtype}")


def _module_state(module, copy=False):
    """What :func:`_rebuild_module` needs to rebuild ``module`` exactly, in host memory:
    shared by :func:`save_estimator`, pickling and the restarts kept aside by ``fit``.

    Parameters
    ----------
    module : MFCVAE
        The module.
    copy : bool, default=False
        Copy the weights even where they are already in host memory (otherwise they are
        shared with a module on the CPU), contiguous.

    Returns
    -------
    config : dict
        ``module.config``.
    state : dict of Tensor
        The state dict in host memory.
    dtype : str
        The weights' dtype, e.g. ``"float64"``.
    device : torch.device
        Where the module lives.
    """
    if copy:
        state = {name: tensor.detach().to("cpu", copy=True).contiguous()
                 for name, tensor in module.state_dict().items()}
    else:
        state = {name: tensor.detach().cpu() for name, tensor in module.state_dict().items()}
    parameter = next(module.parameters())
    return module.config, state, str(parameter.dtype).replace("torch.", ""), parameter.device


def _rebuild_module(config, state, dtype, device, stacklevel=2):
    """The fitted torch module from its config and CPU state, on ``device`` if it is here.

    Shared by unpickling and :func:`load_estimator`. The shapes in ``state`` are checked
    against a module built on the meta device first, so a file cannot make us allocate
    a network much larger than the weights it holds.

    Returns
    -------
    module : MFCVAE
        In evaluation mode, float64 on the CPU.
    device : torch.device
        Where it lives: ``device``, or the CPU (with a warning) when that is absent here.
    """
    from skmfc.nn import MFCVAE

    if not isinstance(config, dict):
        raise TypeError("the module config is not a mapping")
    if dtype not in ("float32", "float64", "float16", "bfloat16"):
        raise ValueError(f"unknown module dtype {dtype!r}")
    device = torch.device(device if device is not None else "cpu")
    with torch.device("meta"):
        skeleton = MFCVAE.from_config(config)
    expected = {key: tuple(tensor.shape) for key, tensor in skeleton.state_dict().items()}
    given = {key: tuple(tensor.shape) for key, tensor in state.items()}
    if expected != given:
        missing = sorted(set(expected) - set(given))[:3]
        unexpected = sorted(set(given) - set(expected))[:3]
        wrong = sorted(key for key in set(expected) & set(given) if expected[key] != given[key])
        raise ValueError(f"weights do not match the network: missing {missing}, "
                         f"unexpected {unexpected}, wrong shapes {wrong[:3]}")
    if not device_available(device):
        warnings.warn(f"this model was trained on {device}, which is not available here; "
                      "it is loaded on the CPU", RuntimeWarning, stacklevel=stacklevel + 1)
        device = torch.device("cpu")
    module = MFCVAE.from_config(config)
    module.load_state_dict(state)
    module = module.to(dtype=getattr(torch, dtype))
    return for_inference(module.to(device)), device
