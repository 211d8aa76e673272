"""Sphinx configuration of the skmfc documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html`` (see docs/README.md).
Environment variables:

- ``SKMFC_DOCS_OFFLINE=1`` leaves out the links into the scikit-learn, numpy, torch and
  Python documentation (intersphinx), whose inventories are downloaded at build time;
  without network a build with ``-W`` would fail on the download instead.
- ``SKMFC_EXAMPLE_EPOCHS`` (read by the examples) shortens the training of every gallery
  example, e.g. ``SKMFC_EXAMPLE_EPOCHS=2`` to check that the gallery builds; the
  rendered results then mean nothing.
- ``SKMFC_DOCS_RUN_EXAMPLES``: a regular expression of the example files the gallery runs
  (default ``/plot_``, all of them); the others are shown as code without figures. The
  test suite runs every example on its own (``tests/test_examples.py``) and builds the site
  running only one, which is enough to check that figures are embedded.
"""

import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "sphinxext"))

import skmfc  # noqa: E402

project = "skmfc"
author = "The skmfc developers"
copyright = "the skmfc developers"
release = version = skmfc.__version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "README.md", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]

# API reference: one page per public object, generated from docs/api.rst.
autosummary_generate = True
autodoc_default_options = {"inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

# Links into other projects' documentation, unless the build is offline.
if os.environ.get("SKMFC_DOCS_OFFLINE", "0") in ("", "0"):
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "torch": ("https://docs.pytorch.org/docs/stable", None),
    }
else:
    intersphinx_mapping = {}

# The examples write their figures as PNG files (into SKMFC_EXAMPLES_OUTPUT, relative to
# examples/ while they run) instead of leaving pyplot figures open; the scraper embeds
# every PNG a code block writes.
os.environ.setdefault("SKMFC_EXAMPLES_OUTPUT", "examples_output")
sphinx_gallery_conf = {
    "examples_dirs": str(DOCS.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": os.environ.get("SKMFC_DOCS_RUN_EXAMPLES", r"/plot_"),
    "image_scrapers": ("matplotlib", "skmfc_gallery.png_scraper"),
    "reset_modules": ("matplotlib", "seaborn"),
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
}

html_theme = "pydata_sphinx_theme"
html_title = f"skmfc {version}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []

# Links from these pages to files outside docs/ (the benchmark logs) work on GitHub as
# they are; for Sphinx they become download links instead of unknown documents.
_OUTSIDE_LINK = re.compile(r"\]\((\.\./[^)]+)\)")


def _link_outside_files(app, docname, source):
    if app.env.doc2path(docname).suffix == ".md":
        source[0] = _OUTSIDE_LINK.sub(r"](path:\1)", source[0])


def _skip_metadata_request_methods(app, what, name, obj, skip, options):
    # scikit-learn adds set_{method}_request to every estimator; their docstrings refer
    # to scikit-learn's own user guide, and they are documented there.
    if re.fullmatch(r"set_\w+_request", name):
        return True
    return None


def setup(app):
    app.connect("source-read", _link_outside_files)
    app.connect("autodoc-skip-member", _skip_metadata_request_methods)
