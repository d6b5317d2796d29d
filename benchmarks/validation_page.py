"""What the benchmark scripts share for their validation pages (``--write``): the line that
names the command and the commit, writing the page, and the store that lets a long run resume
(``Checkpoint``)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path


def provenance() -> str:
    """'Written by `.venv/bin/python benchmarks/SCRIPT ARGS` at commit C', with a note where the
    tracked files differ from the commit (the generated pages and plots of docs/validation aside:
    a script that writes its plot before its page does not make its own page "uncommitted")."""
    here = Path(__file__).parent
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=here).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                            ":(top,exclude)docs/validation"], capture_output=True, text=True, cwd=here).stdout.strip()
    command = " ".join(["benchmarks/" + Path(sys.argv[0]).name, *sys.argv[1:]])
    return (f"Written by `.venv/bin/python {command}` at commit {commit}"
            + (" (with uncommitted changes)" if dirty else ""))


def machine() -> str:
    """'load average L on N cores' (and the OpenMP settings where set): how busy the machine was
    as the timings were taken."""
    omp = [f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY") if os.environ.get(k)]
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores" + "".join(f", {o}" for o in omp)


def emit(text: str, write: Path | None, as_json: str | None = None) -> None:
    """Write the page to ``write`` (if given) and print it, or the JSON form when given."""
    if write is not None:
        write.parent.mkdir(parents=True, exist_ok=True)
        write.write_text(text)
    print(as_json if as_json is not None else text)


def element_sites(elements: list[str] | None) -> tuple[list[str], dict]:
    """The elements asked for (default: every bundled one) and, for each, its anion-domain site
    spectra of the bundled database with the augmentation of its calculation settings, as the
    theory-table benchmarks train on them: ``(elements, {element: (sites, augmentation)})``."""
    from larch_motif.database import open_database
    from larch_motif.training import augmentation_for, select_sites

    with open_database(None) as store:
        elements = elements or [el for el, _ in store.elements()]
        return elements, {el: (select_sites(store.site_spectra(el)), augmentation_for(store.calculation(el)))
                          for el in elements}


#: Where ``Checkpoint`` keeps finished pieces; ``LARCH_MOTIF_BENCHMARK_CHECKPOINTS`` overrides (a
#: page written in a scratch worktree can keep its pieces in the main checkout this way)
CHECKPOINT_ROOT = Path(__file__).parent / "checkpoints"


class Checkpoint:
    """A crash-safe store of the finished pieces of a long benchmark, so that a run stopped by a
    crash, a timeout or the end of a session resumes where it stopped instead of starting again.

    Each piece is one small JSON file, written to a temporary name and renamed into place, under
    ``CHECKPOINT_ROOT/SCRIPT/FINGERPRINT/``. The fingerprint hashes everything that decides a
    piece's result: the package's code and bundled data (every file under ``larch_motif/``), the
    benchmark script itself and ``settings`` (the arguments that change results). A change to
    any of them starts a new folder, so no piece computed one way is read as computed another;
    a page's provenance commit is the one it is written at, and the pieces it read were computed
    from the same code and data. The folder is ignored by git: a run that a session cannot finish
    keeps its pieces for a later checkout with ``git add -f benchmarks/checkpoints/SCRIPT``.
    """

    def __init__(self, script: str, settings: dict) -> None:
        repo = Path(__file__).resolve().parents[1]
        digest = hashlib.sha256()
        for path in sorted((repo / "larch_motif").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and not path.name.endswith((".pyc", "-wal", "-shm")):
                digest.update(str(path.relative_to(repo)).encode())
                digest.update(path.read_bytes())
        digest.update((repo / "benchmarks" / script).read_bytes())
        digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
        self.fingerprint = digest.hexdigest()[:16]
        root = Path(os.environ.get("LARCH_MOTIF_BENCHMARK_CHECKPOINTS") or CHECKPOINT_ROOT)
        self.folder = root / Path(script).stem / self.fingerprint

    def _path(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def get(self, name: str) -> dict | None:
        """The piece ``name`` if a run with the same fingerprint finished it, else None."""
        path = self._path(name)
        return json.loads(path.read_text()) if path.exists() else None

    def put(self, name: str, value: dict) -> None:
        """Keep the finished piece ``name`` (JSON-serializable), atomically."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self._path(name).with_suffix(".json.tmp")
        tmp.write_text(json.dumps(value, default=float))
        os.replace(tmp, self._path(name))
