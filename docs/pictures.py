"""The pictures and printed answers of docs/larch.md and docs/larix.md, from the bundled database.

A tetrahedral and an octahedral Fe site of the bundled FEFF10 database are written as raw
two-column spectra (as the tests do), predicted and explained with the default models; the
explanation plot goes to ``docs/img/explain_fe_t4.png`` and the printed answers to stdout. The
Larix screenshots come from the GUI test (``LARCH_MOTIF_GUI_REPORT``; see docs/larix.md).

    .venv/bin/python docs/pictures.py
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from conftest import write_measured_like  # noqa: E402

from larch_motif.database import open_database  # noqa: E402
from larch_motif.explain import explain_spectrum, plot_explanation  # noqa: E402
from larch_motif.prediction import predict, resolve_models  # noqa: E402
from larch_motif.summary import results_table, summary_text  # noqa: E402


def main() -> int:
    with open_database(None) as db:
        sites = [s for s in db.site_spectra("Fe") if s["ligands"] == "O"]
    t4 = next(s for s in sites if s["motif"] == "T:4")
    o6 = next(s for s in sites if s["motif"] == "O:6")
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for name, site in (("fe_tetrahedral.dat", t4), ("fe_octahedral.dat", o6)):
            files.append(Path(tmp) / name)
            write_measured_like(files[-1], site)
        # the answers name the file, not the temporary folder
        results = [dataclasses.replace(res, file=Path(res.file).name) for res in predict(files, element="Fe")]
        print(f"# {t4['mineral']} (T:4) and {o6['mineral']} (O:6), Fe K, bundled database\n")
        print(summary_text(results[0]), "\n")
        print(results_table(results), "\n")
        (model,) = resolve_models("cn", None, "Fe").values()
        plot_explanation(explain_spectrum(files[0], model), HERE / "img" / "explain_fe_t4.png")
    print(f"wrote {HERE / 'img' / 'explain_fe_t4.png'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
