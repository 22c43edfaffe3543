"""Sphinx configuration: ``make docs`` builds the site into docs/_build/html (warnings are errors)."""
import os
import pathlib
import sys

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")  # import the CUDA twins without a GPU
ROOT = pathlib.Path(os.environ.get("SOLARPREP_ROOT")
                    or pathlib.Path(__file__).resolve().parents[1])
sys.path.insert(0, str(ROOT))

from solarprep import __version__  # noqa: E402

project = "solarprep · kernels · solarmodels"
author = "the solarprep developers"
copyright = "2026, the solarprep developers"
version = release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "sg_execution_times.rst", "gallery/sg_execution_times.rst",
                    "gallery/*.ipynb", "gallery/*.py", "gallery/*.zip", "gallery/*.json",
                    "gallery/*.md5"]
templates_path = ["_templates"]

autosummary_generate = True
autodoc_default_options = {}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "xarray": ("https://docs.xarray.dev/en/stable", None),
    "astropy": ("https://docs.astropy.org/en/stable", None),
    "sunpy": ("https://docs.sunpy.org/en/stable", None),
    "torch": ("https://docs.pytorch.org/docs/stable", None),
}
# Offline builds (CI, this machine) cannot fetch the inventories: no cross-links then.
if os.environ.get("SOLARPREP_DOCS_OFFLINE", "1") == "1":
    intersphinx_mapping = {}

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "gallery",
    "filename_pattern": r"^$",       # render the scripts, do not run them (make demo runs them)
    "plot_gallery": False,
    "ignore_pattern": r"(^|/)_[^/]*\.py$",
    "download_all_examples": False,
    "show_signature": False,
}

html_theme = "pydata_sphinx_theme"
html_title = project
html_theme_options = {"navigation_depth": 2, "show_toc_level": 2}
