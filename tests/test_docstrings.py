"""Every public docstring follows numpydoc and its examples run.

The names checked are discovered from the code (``tests/public_api.py``), so new public
functions and methods are covered without editing this file.
"""

import doctest
import importlib
import re

import pytest

from tests.public_api import public_callables, public_module_names, public_objects

numpydoc_validate = pytest.importorskip("numpydoc.validate")

# GL07: section order; PR: parameters; RT: returns; SS: the summary line.
CHECKS = re.compile(r"GL07|PR\d\d|RT\d\d|SS\d\d")


@pytest.mark.parametrize("name", sorted(public_callables()))
def test_docstring_follows_numpydoc(name):
    result = numpydoc_validate.validate(name)
    errors = [f"{code}: {message}" for code, message in result["errors"]
              if CHECKS.fullmatch(code)]
    assert not errors, f"{name} ({result['file']}:{result['file_line']}):\n" + "\n".join(errors)


def _doctests():
    """Every example of the public modules' docstrings and of their public objects'."""
    tests = []
    for module_name in public_module_names():
        module = importlib.import_module(module_name)
        tests += doctest.DocTestFinder(recurse=False).find(module)
    finder = doctest.DocTestFinder()
    for name, obj in public_objects():
        tests += finder.find(obj, name, globs={})
    return [test for test in tests if test.examples]


@pytest.mark.parametrize("test", _doctests(), ids=lambda test: test.name)
def test_docstring_examples_run(test):
    output = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    result = runner.run(test, out=output.append)
    assert result.failed == 0, "".join(output)


def test_every_module_is_documented_or_internal():
    from tests.public_api import INTERNAL_MODULES, all_module_names

    undecided = set(all_module_names()) - set(public_module_names()) - INTERNAL_MODULES
    assert not undecided, (f"modules neither in docs/api.rst nor in "
                           f"tests/public_api.py's INTERNAL_MODULES: {sorted(undecided)}")
