"""Sphinx configuration of fastki's reference site.

Build: pip install ".[docs]" && python -m sphinx -W -b html docs build/docs
(.ci/run does, and opens the result in headless Chromium).

The API pages are autodoc of the installed modules (docs/api/*.rst), so that signatures and
docstrings are read from the code, never copied. When the build ends, every public name of
the modules in fastki_documented must have been documented, else the build fails.
The figures of docs/distributions.md are drawn at build time from fastki's own values
(docs/_ext/fastki_figures.py)."""
import os
import pathlib
import sys

# Keras needs a backend before it is imported (fastki.keras imports it); NumPy's needs no
# other package. Set here, for autodoc only: the guides say what a user sets.
os.environ.setdefault("KERAS_BACKEND", "numpy")
sys.path.insert(0, str(pathlib.Path(__file__).parent / "_ext"))

import fastki  # noqa: E402  (the installed package: its version names the site)

project = "fastki"
author = "fastki developers"
copyright = "fastki developers, BSD-3-Clause"
release = fastki.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",       # NumPy-format docstrings
    "sphinx.ext.intersphinx",
    "myst_parser",               # the Markdown guides
    "fastki_figures",            # docs/_ext: the histogram figures
    "fastki_coverage",           # docs/_ext: every public name documented
    "fastki_plain_docstrings",   # docs/_ext: docstrings not yet in NumPy's format, as written
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_generated/*.py"]

napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
# the aliases of fastki/_typing.py by name, not expanded into long unions
autodoc_type_aliases = {name: f"fastki._typing.{name}" for name in (
    "Integer", "Real", "ShapeLike", "SeedLike", "DTypeLike", "BlockLike", "FloatArray",
    "OutArray", "UInt32Array", "Info", "Setting", "ThreadCount")}

myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]
# Links in the guides to files of the repository outside docs/ (src_c/..., tests/...,
# README.md) are correct on GitHub, where the guides are also read, but are not pages of
# this site: Sphinx would warn about each, and -W turn it into an error.
suppress_warnings = ["myst.xref_missing"]

# No network at build time: intersphinx maps are not fetched (links to NumPy stay text).
intersphinx_mapping = {}
nitpicky = False

html_theme = "alabaster"
html_title = f"fastki {release}"
html_static_path = []
html_theme_options = {"description": "fast, reproducible weight initializers",
                      "fixed_sidebar": True}

# docs/_ext/fastki_coverage.py: the modules whose every public name (__all__) is documented
fastki_documented = ("fastki", "fastki.initializers", "fastki.keras", "fastki.torch",
                     "fastki.jax", "fastki.jax.initializers", "fastki.dask")

# docs/_ext/fastki_plain_docstrings.py: modules whose docstrings are plain text, not yet in
# NumPy's format (shown as written). Shrink this list, never grow it.
fastki_plain_docstrings = ("fastki.torch", "fastki.jax", "fastki.keras", "fastki.initializers")
