"""The documentation builds with Sphinx, warnings as errors (a broken link, a page left out of
every table of contents, a docstring Sphinx cannot read all fail here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_sphinx_builds_the_docs_with_warnings_as_errors(tmp_path):
    result = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                             str(ROOT / "docs"), str(tmp_path / "html")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    for page in ("index", "install", "cli", "larch", "larix", "results", "method", "plugins", "api",
                 "validation/measured", "validation/cold_start"):
        assert (tmp_path / "html" / f"{page}.html").is_file(), page
    api = (tmp_path / "html" / "api.html").read_text()
    assert "predict_iter" in api and "ModelBackend" in api  # autodoc read the package
