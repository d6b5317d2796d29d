"""What the benchmark scripts share for their validation pages (``--write``): the line that
names the command and the commit, and writing the page."""

from __future__ import annotations

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
