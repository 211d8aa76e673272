"""The modules of skmfc import each other in one direction: no cycle, even through an
import inside a function."""

import ast
from pathlib import Path

import skmfc

PACKAGE = Path(skmfc.__file__).resolve().parent


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_of(path, known):
    """The skmfc modules that the file at ``path`` imports, anywhere in it. The package
    itself (``from skmfc import __version__``) is its public face, not a layer."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in known and name != "skmfc"}
    return found


def import_graph():
    """Module name -> the skmfc modules it imports."""
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: _imports_of(path, set(paths)) for name, path in paths.items()}


def test_no_import_cycle():
    edges = import_graph()
    state, cycles = {}, []

    def visit(name, path):
        state[name] = "open"
        for target in sorted(edges.get(name, ())):
            if state.get(target) == "open":
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[name] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def _imports_scikit_learn(path):
    for node in ast.walk(ast.parse(path.read_text())):
        names = ([alias.name for alias in node.names] if isinstance(node, ast.Import) else
                 [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        if any(name.split(".")[0] == "sklearn" for name in names):
            return True
    return False


def test_below_the_estimator_only_the_prior_fits_use_scikit_learn():
    below = [*(PACKAGE / "nn").rglob("*.py"), *(PACKAGE / "training").rglob("*.py"),
             PACKAGE / "_device.py"]
    users = sorted(path.relative_to(PACKAGE).as_posix() for path in below
                   if _imports_scikit_learn(path))
    assert users == ["training/priors.py"]
