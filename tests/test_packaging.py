"""``pip install .`` gives a package that works from where pip put it: the bundled database and
default models inside, the built-in plugins importable, both entry points, under 50 MB.

The dependencies come from the test environment (``--no-deps``; no network at test time); the
package itself is built and installed from a copy of this checkout's sources (pyproject.toml,
README, LICENSE, larch_motif/) into an empty folder, which comes first on ``PYTHONPATH`` so that
nothing of the checkout is imported instead. The copy leaves out what earlier builds left in the
checkout: setuptools packs whatever is in ``build/lib``, so a stale model file there would be
installed beside the current ones (it once made a local install 51 MB).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


#: What ``pip install .`` builds the package from
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "larch_motif")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source)], check=True, capture_output=True, text=True)
    return target


def _run(installed: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(installed), "LARCH_MOTIF_CACHE": str(cwd / "cache")}
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_installed_package_carries_its_data_and_stays_small(installed):
    data = installed / "larch_motif" / "data"
    assert (data / "default_xanes.sqlite").is_file()
    assert len(list((data / "models").glob("*.lmm"))) >= 4
    size_MB = sum(p.stat().st_size for p in installed.glob("larch_motif*/**/*") if p.is_file()) / 1e6
    assert size_MB < 50, f"installed larch_motif is {size_MB:.1f} MB"


def test_installed_entry_points_work_from_the_installed_copy(installed, tmp_path):
    where = _run(installed, "-c", "import larch_motif, larch_motif.plugins.sklearn_rf; print(larch_motif.__file__)", cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith(str(installed))
    for script in ("larch-motif", "larix-motif"):
        assert (installed / "bin" / script).is_file(), f"no {script} entry point"
    info = _run(installed, str(installed / "bin" / "larch-motif"), "db", "info", cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    assert str(installed) in info.stdout.splitlines()[0] and "Fe K:" in info.stdout
    ready = _run(installed, str(installed / "bin" / "larch-motif"), "models", "prepare", "--element", "Zn",
                 cwd=tmp_path)
    assert ready.returncode == 0, ready.stderr
    assert all(" ready " in line for line in ready.stdout.splitlines())  # the shipped models, found
    gui = _run(installed, str(installed / "bin" / "larix-motif"), "--help", cwd=tmp_path)
    assert gui.returncode == 0 and "usage" in gui.stdout.lower(), gui.stderr
