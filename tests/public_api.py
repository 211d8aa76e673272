"""The public API of skmfc, discovered from the code: shared by the documentation tests.

The public modules are those the API reference (``docs/api.rst``) documents with
``automodule``; every other module of the package must be listed in
``INTERNAL_MODULES``, so a new module is never skipped silently. A module's public names
are its ``__all__``, or else the functions and classes it defines whose names do not
start with an underscore; a public class's public methods and properties are those
defined in skmfc (not the ones inherited from scikit-learn).
"""

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import skmfc

ROOT = Path(__file__).resolve().parents[1]
API_PAGE = ROOT / "docs" / "api.rst"
# Implementation modules: reached through the estimator, not documented on their own.
INTERNAL_MODULES = {"skmfc.estimator", "skmfc.training", "skmfc.nn", "skmfc.nn.conv",
                    "skmfc.nn.ladder", "skmfc.nn.model", "skmfc.nn.prior", "skmfc._noise",
                    "skmfc._device", "skmfc.nn.inference", "skmfc.training.faults",
                    "skmfc.training.loop", "skmfc.training.priors", "skmfc.training.schedule",
                    "skmfc.training.state", "skmfc.training.steps",
                    "skmfc.training.streaming", "skmfc.distributed",
                    "skmfc.training.parallel", "skmfc.training.config"}


def public_module_names():
    """Names of the modules that ``docs/api.rst`` documents, in its order."""
    return re.findall(r"^\.\. automodule:: (\S+)$", API_PAGE.read_text(), re.MULTILINE)


def all_module_names():
    """Names of skmfc and every module inside it."""
    return ["skmfc"] + [info.name for info in pkgutil.walk_packages(skmfc.__path__, "skmfc.")]


def _is_documentable(obj):
    return inspect.isfunction(obj) or inspect.isclass(obj)


def public_objects():
    """``(dotted name, object)`` of every public function and class of the public modules.

    An object reachable under several names (``skmfc.ModelFileError`` is
    ``skmfc.persistence.ModelFileError``) comes once, under the first name met.
    """
    seen = set()
    for module_name in public_module_names():
        module = importlib.import_module(module_name)
        names = getattr(module, "__all__", None)
        if names is None:
            names = [name for name, obj in vars(module).items() if not name.startswith("_")
                     and _is_documentable(obj) and obj.__module__ == module_name]
        for name in names:
            obj = getattr(module, name)
            if _is_documentable(obj) and id(obj) not in seen:
                seen.add(id(obj))
                yield f"{module_name}.{name}", obj


def public_members(cls):
    """Names of the public methods and properties that skmfc defines on ``cls``."""
    names = []
    for klass in cls.__mro__:
        if not klass.__module__.startswith("skmfc"):
            continue
        for name, member in vars(klass).items():
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if (not name.startswith("_") and name not in names
                    and (inspect.isfunction(member) or isinstance(member, property))):
                names.append(name)
    return names


def public_callables():
    """Dotted names of every public function, class, method and property."""
    for name, obj in public_objects():
        yield name
        if inspect.isclass(obj):
            yield from (f"{name}.{member}" for member in public_members(obj))
