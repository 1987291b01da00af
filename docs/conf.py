"""Sphinx configuration of dimred's documentation.

Build it, warnings as errors, with
    python -m sphinx -W --keep-going -b html docs docs/_build/html
(after `pip install -e '.[docs]'`). The example gallery in examples/gallery/ runs during the build.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The examples and autodoc run in this process: keep them to the built-in plugins and two threads, whatever the
# environment of the person building says.
os.environ["DIMRED_LOAD_PLUGINS"] = os.environ.get("DIMRED_LOAD_PLUGINS", "")
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

project = "dimred"
author = "the dimred authors"
copyright = "the dimred authors"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "sphinx_click",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.md5"]  # fmt: skip
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 4

html_theme = "furo"
html_title = "dimred"
html_static_path: list[str] = []

# API pages: the signature stays as written, type hints go in the description, members in source order.
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_default_options = {"show-inheritance": False}
autodoc_inherit_docstrings = True
autoclass_content = "class"
# The docstrings are written for readers, in a light reStructuredText; type hints name many things (numpy,
# torch, click) that have no page here, so unresolved references are not errors.
nitpicky = False
suppress_warnings = ["myst.header"]

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples" / "gallery"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "image_scrapers": ("matplotlib",),
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "remove_config_comments": True,
    "download_all_examples": False,
    "plot_gallery": "True",
    "within_subsection_order": "FileNameSortKey",
    "reset_modules": ("matplotlib",),
    "capture_repr": (),
}


def _documented_names(folder: Path) -> set[str]:
    """Every name an autodoc directive in the API pages documents."""
    pattern = re.compile(r"^\.\. auto(?:class|function|data|exception|decorator)::\s+(\S+)", re.MULTILINE)
    pattern_md = re.compile(r"^```\{auto(?:class|function|data|exception|decorator)\}\s+(\S+)", re.MULTILINE)
    names: set[str] = set()
    for page in folder.glob("*"):
        text = page.read_text()
        names |= set(pattern.findall(text)) | set(pattern_md.findall(text))
    return names


def _check_api_pages_are_complete(app) -> None:
    """A public name without an API entry is a build warning, so `-W` fails the build on it."""
    from sphinx.util import logging

    import dimred
    import dimred.plugin
    import dimred.testing

    documented = _documented_names(Path(app.srcdir) / "api")
    for module in (dimred, dimred.plugin, dimred.testing):
        for name in module.__all__:
            if f"{module.__name__}.{name}" not in documented:
                logging.getLogger(__name__).warning(
                    f"{module.__name__}.{name} is public but has no entry in docs/api/ (add an autodoc directive)"
                )


def setup(app) -> None:
    app.connect("builder-inited", _check_api_pages_are_complete)
