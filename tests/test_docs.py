"""The documentation site builds without a warning, and the API reference is complete.

The build runs Sphinx as a user would (``python -m sphinx -W -b html``) on a copy of
``docs/``, ``examples/`` and ``benchmarks/`` in a temporary folder, so it leaves the
checkout as it was and never reuses a gallery cached there. It runs offline
(``SKMFC_DOCS_OFFLINE=1``: no intersphinx inventories to download) and with two training
epochs: it checks that every page and example renders, not what the examples find. It
runs one example (``SKMFC_DOCS_RUN_EXAMPLES``), enough to check that the figures the
examples write are embedded; ``tests/test_examples.py`` runs every example on its own.
"""

import importlib
import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.public_api import API_PAGE, ROOT, public_objects

# The one example the build runs; every other example page is rendered as code.
EMBEDDED_EXAMPLE = "plot_quickstart"
BUILD_TOOLS = ("sphinx", "numpydoc", "sphinx_gallery", "pydata_sphinx_theme", "myst_parser")


def _documented_objects():
    """Every object that an autosummary table of ``docs/api.rst`` lists."""
    objects, module = [], None
    in_table = False
    for line in API_PAGE.read_text().splitlines():
        if line.startswith(".. currentmodule::"):
            module = importlib.import_module(line.split("::")[1].strip())
        elif line.startswith(".. autosummary::"):
            in_table = True
        elif in_table and re.fullmatch(r"   \w+", line):
            objects.append(getattr(module, line.strip()))
        elif in_table and line and not line.startswith("   "):
            in_table = False
    return objects


def test_api_page_lists_every_public_function_and_class():
    documented = {id(obj) for obj in _documented_objects()}
    missing = [name for name, obj in public_objects() if id(obj) not in documented]
    assert not missing, f"add these to an autosummary table of docs/api.rst: {missing}"


@pytest.mark.slow
def test_site_builds_without_warnings(tmp_path):
    for tool in BUILD_TOOLS:
        pytest.importorskip(tool)
    pytest.importorskip("matplotlib")
    source = tmp_path / "source"
    skip = shutil.ignore_patterns("_build", "generated", "auto_examples", "examples_output",
                                  "__pycache__", "*.png", "sg_execution_times.rst")
    for folder in ("docs", "examples", "benchmarks"):
        shutil.copytree(ROOT / folder, source / folder, ignore=skip)
    html = tmp_path / "html"
    env = dict(os.environ, SKMFC_DOCS_OFFLINE="1", SKMFC_EXAMPLE_EPOCHS="2",
               SKMFC_DOCS_RUN_EXAMPLES=f"/{EMBEDDED_EXAMPLE}",
               SKMFC_EXAMPLES_OUTPUT=str(tmp_path / "figures"), MPLBACKEND="Agg",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         str(source / "docs"), str(html)],
        env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-8000:]}"

    for page in ["index", "api", "facets", "reproducibility", "persistence",
                 "generated/skmfc.MFCVAEClustering", "generated/skmfc.datasets.make_shapes",
                 "auto_examples/index", "auto_examples/plot_quickstart"]:
        assert (html / f"{page}.html").is_file(), page
    estimator_page = (html / "generated" / "skmfc.MFCVAEClustering.html").read_text()
    for method in ("fit", "predict_proba", "sample", "save", "load"):
        assert f'id="skmfc.MFCVAEClustering.{method}"' in estimator_page, method
    # Every example has a page; the one that ran shows its figures (the PNG files the
    # example wrote, embedded by docs/sphinxext/skmfc_gallery.py).
    for example in sorted((source / "examples").glob("plot_*.py")):
        assert (html / "auto_examples" / f"{example.stem}.html").is_file(), example.stem
    assert list(html.glob(f"_images/sphx_glr_{EMBEDDED_EXAMPLE}_0*.png"))
