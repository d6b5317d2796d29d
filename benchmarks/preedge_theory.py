"""Does FEFF10 carry the pre-edge contrast of tetrahedral and octahedral sites?

For reference sites of the bundled database (Fe: hematite O:6, chromite T:4, magnetite T:4 and
O:6), FEFF10 is run again on the stored clusters with the element's database settings, with and
without ``MULTIPOLE 2 0`` (quadrupole transitions, the 1s->3d pre-edge of octahedra), and with
a finer XANES grid near the edge. For each spectrum (broadened as the models assume, Larch
``pre_edge``) it prints the pre-edge peak height and area above the rising-edge baseline
(normalized units, from E0 - 15 eV to E0 - 3 eV, E0 the half step), the seconds FEFF10 took, and
the same readings of measured spectra given with ``--measured FILE ...``. Writes the
spectra as columns to ``--out`` and their overlay, theory against measurement from E0 - 20 to
E0 + 15 eV, to ``--out``/overlay.png; ``--write`` writes the table as a Markdown validation
page with the command and the commit, the overlay beside it.

    .venv/bin/python benchmarks/preedge_theory.py [--element Fe] [--minerals hematite chromite magnetite]
        [--measured ../shared/data/experimental/fe2o3_rt1_xmu.dat ...] [--out build/preedge]
        [--write docs/validation/preedge.md]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from validation_page import emit, provenance

from larch_motif.build import calculate_site
from larch_motif.calculators import CalculationParameters
from larch_motif.database import open_database
from larch_motif.spectra import Preprocessing, normalize, read_spectrum, theory_group


def pre_edge_reading(energy: np.ndarray, flat: np.ndarray, e0_half: float) -> dict:
    """Height and area (normalized units; area in eV) of the pre-edge above a line drawn from
    E0 - 15 eV to the rising edge at E0 - 3 eV."""
    lo, hi = e0_half - 15.0, e0_half - 3.0
    m = (energy >= lo) & (energy <= hi)
    if m.sum() < 4:
        return {"height": None, "area_eV": None, "peak_eV": None}
    e, f = energy[m], flat[m]
    line = f[0] + (f[-1] - f[0]) * (e - e[0]) / (e[-1] - e[0])
    excess = np.clip(f - line, 0, None)
    k = int(np.argmax(excess))
    return {"height": round(float(excess[k]), 4), "area_eV": round(float(np.trapezoid(excess, e)), 4),
            "peak_eV": round(float(e[k] - e0_half), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--element", default="Fe")
    parser.add_argument("--minerals", nargs="+", default=["hematite", "chromite", "magnetite"])
    parser.add_argument("--measured", nargs="*", type=Path, default=[])
    parser.add_argument("--out", type=Path, default=Path("build/preedge"))
    parser.add_argument("--write", type=Path, default=None, help="Markdown validation page to write")
    args = parser.parse_args()
    with open_database(None) as store:
        calc = store.calculation(args.element)
        sites = [s for s in store.site_spectra(args.element) if s["mineral"] in args.minerals]
        clusters = {r["site_id"]: r["cluster"] for r in store.conn.execute(
            "select site_id, cluster from sites where element=?", (args.element,))}
    params_stored = {k: tuple(v) if isinstance(v, list) else v for k, v in (calc or {}).get("parameters", {}).items()}
    base = CalculationParameters(**{k: v for k, v in params_stored.items()
                                    if k in CalculationParameters.__dataclass_fields__})
    variants = {"database": base,
                "multipole": CalculationParameters(**{**base.as_dict(), "extra_cards": ("MULTIPOLE 2 0",)})}
    prep = Preprocessing()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for site in sites:
        for name, params in variants.items():
            if name == "database":
                energy, mu, seconds = site["energy_eV"], site["mu"], site.get("seconds")
            else:
                res = calculate_site(site["site_id"], clusters[site["site_id"]], params, "feff10")
                if "error" in res:
                    rows.append({"site": site["site_id"], "mineral": site["mineral"], "variant": name,
                                 "error": res["error"]})
                    continue
                energy, mu, seconds = res["energy_eV"], res["mu"], res["seconds"]
            grp = theory_group(np.asarray(energy), np.asarray(mu), prep, site["site_id"])
            reading = pre_edge_reading(grp.energy, grp.flat, grp.e0_half)
            rows.append({"site": site["site_id"], "mineral": site["mineral"], "motif": site["motif"],
                         "variant": name, "seconds": seconds, **reading})
            np.savetxt(args.out / f"{site['mineral']}_{site['site_id'].replace(':', '_').replace('#', '_')}_{name}.dat",
                       np.c_[grp.energy - grp.e0_half, grp.flat], header="energy_eV_minus_E0 norm")
            print(json.dumps(rows[-1]), flush=True)
    for path in args.measured:
        grp = read_spectrum(path)
        grp.motif_warnings = []
        normalize(grp)
        reading = pre_edge_reading(np.asarray(grp.energy), np.asarray(grp.flat), grp.e0_half)
        rows.append({"measured": path.name, **reading})
        np.savetxt(args.out / f"measured_{path.stem}.dat", np.c_[grp.energy - grp.e0_half, grp.flat],
                   header="energy_eV_minus_E0 norm")
        print(json.dumps(rows[-1]), flush=True)
    overlay = plot_overlay(args.out)
    if args.write:
        image = args.write.with_name(args.write.stem + "_overlay.png")
        image.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(overlay, image)
        emit(render(rows, args.element, image.name), args.write)
    return 0


def render(rows: list[dict], element: str, image: str) -> str:
    """The readings as a Markdown page: theory by site and variant, then the measured spectra."""
    lines = [f"# The {element} pre-edge in FEFF10 against measurement", "",
             provenance() + ". Pre-edge height and area above the line from E0 - 15 to E0 - 3 eV "
             "(normalized units; area in eV; E0 the half step; theory broadened 3 eV Gaussian + 2 eV "
             "Lorentzian, as the models see it). Variants: the database settings, and the same with "
             "`MULTIPOLE 2 0`.", "",
             "| spectrum | motif | variant | height | area (eV) | peak (eV from E0) | FEFF10 s |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['mineral']} {r['site']} | | {r['variant']} | failed: {r['error']} | | | |")
        elif "measured" in r:
            lines.append(f"| measured {r['measured']} | | | {r['height']} | {r['area_eV']} | {r['peak_eV']} | |")
        else:
            seconds = f"{r['seconds']:.1f}" if r.get("seconds") is not None else "-"
            lines.append(f"| {r['mineral']} {r['site']} | {r['motif']} | {r['variant']} | {r['height']} | "
                         f"{r['area_eV']} | {r['peak_eV']} | {seconds} |")
    lines += ["", f"![overlay]({image})", ""]
    return "\n".join(lines)


def plot_overlay(folder: Path) -> Path:
    """Overlay of the spectra written to ``folder``: database settings and MULTIPOLE 2 0 side
    by side, each with the measured spectra."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for path in sorted(folder.glob("*.dat")):
        data = np.loadtxt(path)
        name = path.stem
        targets = axes if name.startswith("measured") else [axes[0] if name.endswith("_database") else axes[1]]
        for ax in targets:
            ax.plot(data[:, 0], data[:, 1], "-" if name.startswith("measured") else "--", label=name)
    for ax, title in zip(axes, ("FEFF10, database settings", "FEFF10 with MULTIPOLE 2 0")):
        ax.set_xlim(-20, 15)
        ax.set_ylim(-0.05, 1.0)
        ax.set_xlabel("E - E0 (half step), eV")
        ax.set_title(title + " (dashed) against measured (solid)")
        ax.legend(fontsize=6)
    axes[0].set_ylabel("normalized mu (theory broadened 3 eV Gaussian + 2 eV Lorentzian)")
    fig.tight_layout()
    out = folder / "overlay.png"
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


if __name__ == "__main__":
    sys.exit(main())
