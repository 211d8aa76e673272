"""Fitting on several processes with :mod:`torch.distributed`: what the estimator's
``strategy`` parameter decides, and the process group's life around ``fit``.

``strategy="ddp"`` (or ``"auto"`` under a launcher such as ``torchrun``) trains one model
data-parallel over the processes: each calls ``fit`` with the same data, trains on its
slice of every batch (:mod:`skmfc.training.parallel`), and ends with the same fitted
estimator. skmfc initialises torch's default process group when the processes have not
(from the launcher's environment variables: ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
``MASTER_PORT``; NCCL for CUDA, gloo for the CPU) and destroys it after ``fit``; a group
the processes initialised themselves is used and left as it is. See
``docs/scaling.md``, section "Several GPUs and nodes".
"""

import dataclasses
import itertools
import multiprocessing
import os
from contextlib import contextmanager, nullcontext

import numpy as np
import torch

from skmfc._device import resolve_device
from skmfc.data import CheckedRows
from skmfc.training.parallel import DataParallel

# The environment variables a launcher sets for torch.distributed's "env://" rendezvous.
LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
# Numbers the process groups skmfc initialises in this process (the same sequence in
# every process, as they fit together).
_GROUPS_INITIALISED = itertools.count()


def uses_data_parallel(strategy):
    """Whether ``fit`` with ``strategy`` trains data-parallel in this process.

    Parameters
    ----------
    strategy : {"auto", "single", "ddp"}
        ``"single"``: never. ``"ddp"``: always, over the processes of torch's default
        group, or of the group the launcher's environment describes. ``"auto"``: when
        the default group is initialised with more than one process, or the launcher's
        ``WORLD_SIZE`` is more than 1.

    Returns
    -------
    bool

    Raises
    ------
    ValueError
        For ``"ddp"`` with neither an initialised group nor a launcher's environment.
    RuntimeError
        When skmfc would have to join the launcher's group from a child process of a
        launched process (e.g. a joblib worker of ``GridSearchCV(n_jobs=2)``), which
        cannot take part in it.
    """
    if strategy == "single":
        return False
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return strategy == "ddp" or dist.get_world_size() > 1
    if strategy == "auto" and _launched_world_size() <= 1:
        return False
    if not dist.is_available():
        raise RuntimeError(f"strategy={strategy!r} needs torch.distributed, which this "
                           "build of torch lacks; use strategy='single'")
    missing = [name for name in LAUNCH_VARIABLES if name not in os.environ]
    if missing:
        raise ValueError(
            f"strategy='ddp' trains over the processes of a torch.distributed group, but "
            f"none is initialised and the launcher's variables {', '.join(missing)} are "
            "not set: launch the script with torchrun (e.g. torchrun --nproc-per-node 2 "
            "script.py), call torch.distributed.init_process_group first, or use "
            "strategy='single'")
    if multiprocessing.parent_process() is not None:
        raise RuntimeError(
            "fit runs in a child process of a process started by torchrun (e.g. a joblib "
            "worker of GridSearchCV(n_jobs=...) or cross_validate(n_jobs=...)), which "
            "cannot join the processes that torchrun started: use n_jobs=1 under torchrun "
            "(the search then runs fit by fit, each data-parallel), or strategy='single' "
            "to train a whole model in every process")
    return True


def rank_device(device):
    """The training device of this process under data-parallel training: ``device``,
    where ``"auto"`` (with CUDA) and ``"cuda"`` mean this process's GPU, numbered by
    the launcher's ``LOCAL_RANK`` (or the rank modulo the GPUs)."""
    if isinstance(device, str) and (device == "cuda" or (
            device == "auto" and torch.cuda.is_available())):
        return torch.device("cuda", _local_rank() % max(1, torch.cuda.device_count()))
    return resolve_device(device)


@contextmanager
def fit_strategy(strategy, device):
    """The data-parallel hooks for one ``fit``, or None for a fit in one process.

    Initialises torch's default process group when data-parallel training needs one
    and none is (NCCL for CUDA, gloo otherwise), and destroys it on leaving; with CUDA,
    this process's GPU is torch's current device meanwhile.

    Parameters
    ----------
    strategy : {"auto", "single", "ddp"}
        See :func:`uses_data_parallel`.
    device : str or torch.device
        The estimator's ``device`` parameter.

    Yields
    ------
    DataParallel or None
    """
    if not uses_data_parallel(strategy):
        yield None
        return
    import torch.distributed as dist

    device = rank_device(device)
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"data-parallel training runs on the CPU or on CUDA, not on "
                         f"{device}; use device='cpu', 'cuda' or 'auto'")
    created = not dist.is_initialized()
    with torch.cuda.device(device) if device.type == "cuda" else nullcontext():
        if created:
            _initialise_group("nccl" if device.type == "cuda" else "gloo")
        try:
            if str(dist.get_backend()) == "nccl" and device.type != "cuda":
                raise ValueError("the process group uses NCCL, which reduces CUDA tensors "
                                 f"only, but training runs on {device}: use device='cuda' "
                                 "or initialise the group with the gloo backend")
            yield DataParallel()
        finally:
            if created:
                dist.destroy_process_group()


def check_same_data(data_parallel, X):
    """Raise ValueError on every process unless all were given the same training data
    (compared by shape, dtype and sum; for data read in pieces,
    :class:`~skmfc.data.CheckedRows`, by shape and the sum of the per-feature means,
    gathered in one pass that standardising the data needs anyway)."""
    if isinstance(X, CheckedRows):
        fingerprint = (tuple(X.shape), "rows read in pieces",
                       float(np.sum(X.moments().mean, dtype=np.float64)))
    else:
        fingerprint = (tuple(X.shape), str(X.dtype), float(np.sum(X, dtype=np.float64)))
    same = fingerprint == data_parallel.broadcast_object(fingerprint)
    if not data_parallel.all_finite(same):
        raise ValueError(
            "data-parallel fit needs the same X in every process (each trains on its "
            "slice of every batch of all of X), but the processes were given different "
            f"X (process {data_parallel.rank}: shape {fingerprint[0]}, sum "
            f"{fingerprint[2]:.6g}); load the whole data set in every process")


def once_on_host(data_parallel, compute, device):
    """``compute()`` on rank 0 and broadcast, its tensors travelling through host memory
    and landing on ``device`` on every process."""
    return _to(data_parallel.once(lambda: _to(compute(), "cpu")), device)


def merged_once(data_parallel, merge, device):
    """The module ``merge()`` gives on rank 0 (cluster merging), rebuilt on every
    process: the same configuration and weights everywhere."""
    from skmfc.nn import MFCVAE

    config, state = data_parallel.once(lambda: _config_and_host_state(merge()))
    with torch.random.fork_rng(devices=[]):
        module = MFCVAE.from_config(config)
    module.load_state_dict(state)
    return module.to(device=device, dtype=next(iter(state.values())).dtype)


def writes_files(strategy):
    """Whether this process writes the files of ``save``: all but rank 0 skip it under
    data-parallel training (by the initialised group's rank, or the launcher's)."""
    if strategy == "single":
        return True
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if strategy == "ddp" or dist.get_world_size() > 1:
            return dist.get_rank() == 0
        return True
    if strategy == "ddp" or _launched_world_size() > 1:
        return _int_variable("RANK", 0) == 0
    return True


def _initialise_group(backend):
    """Initialise torch's default process group from the launcher's environment.

    Its keys in the launcher's store get a prefix of their own: a group initialised
    before in these processes (by an earlier ``fit``) left its keys there under torch's
    usual prefix, and a process that arrived first would read the old addresses.
    """
    import torch.distributed as dist
    # torch.distributed.nn binds torch's default group, as it is when first imported, as
    # the default argument of its functions; torch imports it on the way to torch._dynamo,
    # which the first optimizer of a process imports. First imported inside this group,
    # it would keep the group alive after destroy_process_group, and its gloo threads to
    # the interpreter's exit, where one still releasing a collective's tensors aborts the
    # process ("terminate called without an active exception"). Imported now, it binds
    # no group.
    import torch.distributed.nn  # noqa: F401

    store, rank, world_size = next(dist.rendezvous("env://"))
    store = dist.PrefixStore(f"skmfc_fit_{next(_GROUPS_INITIALISED)}", store)
    dist.init_process_group(backend, store=store, rank=rank, world_size=world_size)


def _config_and_host_state(module):
    return module.config, {name: tensor.detach().to("cpu", copy=True)
                           for name, tensor in module.state_dict().items()}


def _to(value, device):
    """``value`` with every tensor in it (through tuples, lists, dicts and dataclasses)
    on ``device``."""
    if torch.is_tensor(value):
        return value.to(device)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{field.name: _to(getattr(value, field.name), device)
                                             for field in dataclasses.fields(value)})
    if isinstance(value, dict):
        return {key: _to(item, device) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_to(item, device) for item in value)
    return value


def _launched_world_size():
    return _int_variable("WORLD_SIZE", 1)


def _local_rank():
    if "LOCAL_RANK" in os.environ:
        return _int_variable("LOCAL_RANK", 0)
    import torch.distributed as dist

    return dist.get_rank() if dist.is_initialized() else _int_variable("RANK", 0)


def _int_variable(name, default):
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default
