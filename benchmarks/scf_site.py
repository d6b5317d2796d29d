"""One database site computed again with SCF, against its stored spectrum and a measurement.

For a site of the bundled database (``--element``, ``--mineral``), FEFF10 runs again on the
stored cluster with ``--scf-radius`` (Angstrom); both spectra go through the element's default
preprocessing, as the models see them, and are compared with the measured file: the highest
normalized mu within 15 eV above E0 (the white line) and the RMS difference on the model grid.
``--plot`` draws the overlay.

    .venv/bin/python benchmarks/scf_site.py --element Zn --mineral smithsonite \
        --measured ../shared/data/xaslib/Chorover13BM_Zn_smithsonite_rt_01.xdi [--plot overlay.png]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from larch_motif.build import calculate_site
from larch_motif.calculators import CalculationParameters
from larch_motif.database import open_database
from larch_motif.spectra import features, normalize, preprocessing_for, read_spectrum, theory_group


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--element", required=True)
    parser.add_argument("--mineral", required=True)
    parser.add_argument("--measured", type=Path, required=True)
    parser.add_argument("--scf-radius", type=float, default=3.0)
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    with open_database(None) as db:
        rows = db.conn.execute(
            "SELECT s.site_id, s.cluster FROM sites s JOIN structures t USING (structure_id, element, edge) "
            "WHERE s.element=? AND t.mineral=? AND s.status='done'", (args.element, args.mineral)).fetchall()
        stored = {s["site_id"]: s for s in db.site_spectra(args.element)}
    if not rows:
        print(f"no computed {args.element} site of {args.mineral!r} in the database", file=sys.stderr)
        return 2
    prep = preprocessing_for(args.element)
    grid = prep.grid()
    near_edge = (grid > 0) & (grid < 15)

    def on_grid(energy, mu) -> np.ndarray:
        group = theory_group(np.asarray(energy), np.asarray(mu), prep)
        group.motif_warnings = []
        return features(group, prep)[:grid.size]

    measured = read_spectrum(args.measured)
    measured.motif_warnings = []
    normalize(measured)
    xm = features(measured, prep)[:grid.size]
    print(f"measured {args.measured.name}: white line {xm[near_edge].max():.2f}")
    curves = {"measured": xm}
    for site_id, cluster in rows:
        t0 = time.perf_counter()
        res = calculate_site(site_id, cluster, CalculationParameters(scf_radius_A=args.scf_radius), "feff10")
        seconds = time.perf_counter() - t0
        if "error" in res:
            print(f"{site_id}: SCF failed: {res['error']}")
            continue
        for label, (energy, mu) in (("stored", (stored[site_id]["energy_eV"], stored[site_id]["mu"])),
                                    (f"SCF {args.scf_radius:g} A", (res["energy_eV"], res["mu"]))):
            x = on_grid(energy, mu)
            curves[f"{site_id} {label}"] = x
            print(f"{site_id} {label}: white line {x[near_edge].max():.2f}, RMS to measured "
                  f"{np.sqrt(np.mean((x - xm) ** 2)):.4f}")
        print(f"{site_id}: FEFF10 with SCF {seconds:.1f} s")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        for label, x in curves.items():
            ax.plot(grid, x, lw=2 if label == "measured" else 1.2, label=label)
        ax.set_xlabel("E - E0 (eV)")
        ax.set_ylabel("normalized absorption")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
