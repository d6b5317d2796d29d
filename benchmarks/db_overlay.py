"""Two databases' spectra of the same minerals against their measurements: white line, RMS, overlay.

For each ``--pair MINERAL=FILE`` the stored site spectra of MINERAL (``--element``) in each
database of ``--db`` (label=path; ``default`` is the bundled one) go through the element's
default preprocessing, as the models see them, beside the measured FILE: the highest
normalized mu within 15 eV above E0 (the white line) and the RMS difference to the
measurement on the model grid (multiplicity-weighted mean spectrum of the mineral's sites).
``--write`` writes the table as a validation page and the overlay beside it.

    .venv/bin/python benchmarks/db_overlay.py --element Zn --db default builds/zn_scf.sqlite \
        --pair smithsonite=../shared/data/xaslib/Chorover13BM_Zn_smithsonite_rt_01.xdi \
        --pair sphalerite=../shared/data/xaslib/Chorover13BM_Zn_sphalerite_rt_01.xdi \
        [--write docs/validation/zn_scf_overlay.md]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from validation_page import emit, provenance

from larch_motif.database import open_database
from larch_motif.spectra import features, normalize, preprocessing_for, read_spectrum, theory_group


def mineral_spectrum(db: str | None, element: str, mineral: str, prep) -> tuple[np.ndarray, str] | None:
    """The multiplicity-weighted mean of a mineral's site spectra on the model grid, and its motifs."""
    with open_database(db) as store:
        rows = store.conn.execute(
            "SELECT s.site_id FROM sites s JOIN structures t USING (structure_id, element, edge) "
            "WHERE s.element=? AND t.mineral=? AND s.status='done' ORDER BY s.site_id", (element, mineral)).fetchall()
        wanted = {r[0] for r in rows}
        sites = [s for s in store.site_spectra(element) if s["site_id"] in wanted]
    if not sites:
        return None
    # the first structure of the mineral only: several CIFs of one mineral are one compound
    first = sites[0]["structure_id"]
    sites = [s for s in sites if s["structure_id"] == first]
    n = prep.grid().size
    curves, weights = [], []
    for s in sites:
        group = theory_group(np.asarray(s["energy_eV"]), np.asarray(s["mu"]), prep)
        group.motif_warnings = []
        curves.append(features(group, prep)[:n])
        weights.append(float(s.get("multiplicity") or 1))
    motifs = ", ".join(sorted({str(s.get("motif")) for s in sites}))
    return np.average(np.array(curves), axis=0, weights=weights), f"{first}: {motifs}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--element", required=True)
    parser.add_argument("--db", nargs="+", default=["default"], help="database files ('default': the bundled one)")
    parser.add_argument("--pair", action="append", required=True, metavar="MINERAL=FILE")
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args(argv)
    prep = preprocessing_for(args.element)
    grid = prep.grid()
    near_edge = (grid > 0) & (grid < 15)
    rows, panels = [], []
    for pair in args.pair:
        mineral, file = pair.split("=", 1)
        measured = read_spectrum(file)
        measured.motif_warnings = []
        normalize(measured)
        xm = features(measured, prep)[:grid.size]
        curves = {f"measured {Path(file).name}": xm}
        rows.append(f"| {mineral} | measured | | {xm[near_edge].max():.2f} | |")
        for db in args.db:
            got = mineral_spectrum(None if db == "default" else db, args.element, mineral, prep)
            if got is None:
                rows.append(f"| {mineral} | {db} | not in the database | | |")
                continue
            x, what = got
            curves[db] = x
            rows.append(f"| {mineral} | {db} | {what} | {x[near_edge].max():.2f} | "
                        f"{np.sqrt(np.mean((x - xm) ** 2)):.3f} |")
        panels.append((mineral, curves))
    lines = [f"# {args.element}: database spectra against measurement", "", provenance() + ".",
             "Stored site spectra (the first structure of each mineral, sites weighted by multiplicity) through "
             "the element's default preprocessing, as the models see them; white line: the highest normalized "
             "mu from E0 to E0 + 15 eV; RMS to the measurement on the model grid "
             f"({grid[0]:+g} to {grid[-1]:+g} eV).", "",
             "| mineral | spectrum | structure: motifs | white line | RMS to measured |", "|---|---|---|---|---|",
             *rows, ""]
    if args.write is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
        for ax, (mineral, curves) in zip(axes[0], panels):
            for label, x in curves.items():
                ax.plot(grid, x, lw=2 if label.startswith("measured") else 1.2, label=label)
            ax.set_title(f"{args.element} {mineral}")
            ax.set_xlabel("E - E0 (eV)")
            ax.set_ylabel("normalized absorption")
            ax.legend(fontsize=7)
        fig.tight_layout()
        png = args.write.with_suffix(".png")
        png.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(png, dpi=100)
        lines += [f"![overlay]({png.name})", ""]
    emit("\n".join(lines), args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
