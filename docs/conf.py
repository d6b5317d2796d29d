"""Sphinx configuration of the larch_motif documentation (``sphinx-build -W docs docs/_build``)."""

from __future__ import annotations

import importlib.metadata

project = "larch_motif"
author = "larch_motif developers"
release = importlib.metadata.version("larch_motif")
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_numpy_docstring = True
html_theme = "alabaster"
suppress_warnings = ["myst.xref_missing"]
