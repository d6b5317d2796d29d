"""The foot of the edge: measured spectra against the FEFF10 theory of the same mineral, below E0.

For each measured reference (``measured.DEFAULT_DATA``, metals left out) whose mineral has a
compound spectrum in the bundled database (``REFERENCES``), the theory compound spectrum is
broadened and normalized as the database is (``spectra.theory_group``) and both are read on the
model grid (eV from the half-step E0). The page gives the difference measured - theory (fraction
of the edge step) per energy below and just above E0, per reference and its mean, minimum and
maximum over the references, and the site-averaged CN regressor's answer (``cn_site_average``,
default backend) with the grid from -8 eV and from ``spectra.CN_MEAN_GRID_MIN_EV``, on the
measurement and on the theory spectrum (which the regressor was trained on). A figure overlays
theory and measurement for the mixed spinels (tetrahedral and octahedral sites) and an
octahedral oxide.

    .venv/bin/python benchmarks/edge_foot.py [--write docs/validation/edge_foot.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
from augmentation import measured_groups
from measured import DEFAULT_DATA
from theory_vs_measurement import REFERENCES as COMPUTED_REFERENCES
from validation_page import emit, provenance

from larch_motif.database import open_database
from larch_motif.spectra import CN_MEAN_GRID_MIN_EV, features, preprocessing_for, theory_group
from larch_motif.training import DEFAULT_BACKEND, train_cn_mean

#: measured file -> AMCSD mineral of its compound spectrum in the database
REFERENCES: dict[str, str] = {
    **{name: mineral for name, (_, mineral) in COMPUTED_REFERENCES.items()},
    "Hansel2001_magnetite_xanes_001.xdi": "magnetite",
    "Hansel2001_siderite_xanes_001.xdi": "siderite",
    "Hansel2001_vivianite_xanes_001.xdi": "vivianite",
    "Chorover13BM_Zn_hopeite_rt_01.xdi": "hopeite",
    "Chorover13BM_Zn_smithsonite_rt_01.xdi": "smithsonite",
    "Chorover13BM_Zn_sphalerite_rt_01.xdi": "sphalerite",
    "Chorover13BM_ZnSO4_rt_01.xdi": "zincosite",
    "CuS_covellite_13K_01.xdi": "covellite",
    "NiOH2_rt_01.xdi": "theophrastite",
}
#: Energies (eV from E0) of the difference columns
ENERGIES_EV = (-8, -7, -6, -5, -4, -3, -2, -1, 0, 2, 4)
#: The overlays: the two mixed spinels and an octahedral oxide
OVERLAYS = ("Hansel2001_magnetite_xanes_001.xdi", "Mn_Mn3O4.dat", "fe2o3_rt1_xmu.dat")


def reference_pairs(data: list[Path] | None = None):
    """Each measured reference of ``REFERENCES`` (metals left out) with its theory: tuples
    (element, path, label, measured group, theory group, preprocessing of the element's
    classifiers), the theory compound spectrum broadened and normalized as the database is."""
    with open_database(None) as store:
        elements = sorted({el for el, edge in store.elements() if edge == "K"})
        compounds = {el: store.compound_spectra(el, "K") for el in elements}
    for el in elements:
        files, groups = measured_groups(el, list(DEFAULT_DATA if data is None else data))
        prep = preprocessing_for(el)
        for (path, lab), grp in zip(files, groups):
            if lab["kind"] == "metal" or path.name not in REFERENCES:
                continue
            theory = [c for c in compounds[el] if c["mineral"] == REFERENCES[path.name]]
            if not theory:
                print(f"edge_foot.py: {path.name}: no {REFERENCES[path.name]} in the {el} database", file=sys.stderr)
                continue
            yield el, path, lab, grp, theory_group(theory[0]["energy_eV"], theory[0]["mu"], prep), prep


def foot_differences(energies_eV=ENERGIES_EV) -> list[tuple[str, np.ndarray]]:
    """(file name, measured - theory at ``energies_eV``, fraction of the edge step) for each
    reference of ``reference_pairs``."""
    out = []
    for _, path, _, grp, tgrp, prep in reference_pairs():
        out.append((path.name, np.interp(energies_eV, prep.grid(), features(grp, prep) - features(tgrp, prep))))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, default=None, help="also write the validation page there")
    args = parser.parse_args()
    rows, regressors, overlays = [], {}, {}
    preps: dict[str, dict[float, object]] = {}
    for el, path, lab, grp, tgrp, prep in reference_pairs():
        if el not in regressors:
            preps[el] = {g: dataclasses.replace(preprocessing_for(el, target="cn_mean"), grid_min_eV=g)
                         for g in (-8.0, CN_MEAN_GRID_MIN_EV)}
            regressors[el] = {g: train_cn_mean(el, DEFAULT_BACKEND, cv=None, prep=p)[0] for g, p in preps[el].items()}
        grid, xm, xt = prep.grid(), features(grp, prep), features(tgrp, prep)
        diff = np.interp(ENERGIES_EV, grid, xm - xt)
        answers = {g: (float(regressors[el][g].predict(features(grp, p)[None])[0]),
                       float(regressors[el][g].predict(features(tgrp, p)[None])[0])) for g, p in preps[el].items()}
        truth = lab["cn_site_average"] if lab["kind"] == "mixed" else float(lab["cn"])
        rows.append({"file": path.name, "element": el, "mineral": REFERENCES[path.name], "kind": lab["kind"],
                     "truth": truth, "diff": diff, "answers": answers})
        if path.name in OVERLAYS:
            overlays[path.name] = (grid, xm, xt, REFERENCES[path.name])
    diffs = np.array([r["diff"] for r in rows])
    g0 = CN_MEAN_GRID_MIN_EV
    lines = ["# The foot of the edge: measurement against theory below E0", "",
             provenance() + f". {len(rows)} measured references (metals left out) against the bundled FEFF10 "
             "compound spectrum of their mineral, both on the model grid (eV from the half-step E0), theory "
             "broadened and normalized as the database is. Cells: measured - theory, fraction of the edge step.", "",
             "| reference | mineral | kind | " + " | ".join(f"{e:+d} eV" for e in ENERGIES_EV) + " |",
             "|---|---|---|" + "---|" * len(ENERGIES_EV)]
    for r in rows:
        lines.append(f"| {r['file']} | {r['mineral']} ({r['element']}) | {r['kind']} | "
                     + " | ".join(f"{v:+.3f}" for v in r["diff"]) + " |")
    for name, fn in (("mean", np.mean), ("min", np.min), ("max", np.max)):
        lines.append(f"| **{name}** | | | " + " | ".join(f"{v:+.3f}" for v in fn(diffs, axis=0)) + " |")
    below = (np.array(ENERGIES_EV) >= -7) & (np.array(ENERGIES_EV) <= -2)
    n_below = int((diffs[:, below] < 0).all(axis=1).sum())
    lines += ["", f"Measurement lies under theory at every energy from -7 to -2 eV for {n_below} of {len(rows)} "
              "references.", "",
              f"The site-averaged CN ({DEFAULT_BACKEND}, trained on every compound of the element) with the grid "
              f"from -8 eV and from {g0:+g} eV (the shipped models'), on the measurement and on the theory "
              "spectrum of its mineral (a training spectrum):", "",
              "| reference | kind | truth | measured, -8 eV | theory, -8 eV | "
              f"measured, {g0:+g} eV | theory, {g0:+g} eV |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        a = r["answers"]
        lines.append(f"| {r['file']} | {r['kind']} | {r['truth']:.2f} | {a[-8.0][0]:.2f} | {a[-8.0][1]:.2f} | "
                     f"{a[g0][0]:.2f} | {a[g0][1]:.2f} |")
    if args.write is not None and overlays:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, len(overlays), figsize=(5 * len(overlays), 4), squeeze=False)
        for ax, (grid, xm, xt, mineral) in zip(axes[0], overlays.values()):
            ax.plot(grid, xm, label="measured")
            ax.plot(grid, xt, label="FEFF10 (database broadening)")
            ax.axvspan(grid[0], g0, color="0.9", label=f"left out of the site average (< {g0:+g} eV)")
            ax.set(title=mineral, xlabel="E - E0 (eV, half-step E0)", ylabel="normalized mu")
            ax.legend(fontsize=8)
        fig.tight_layout()
        png = args.write.with_suffix(".png")
        fig.savefig(png, dpi=90)
        lines += ["", f"![theory and measurement at the foot of the edge]({png.name})"]
    emit("\n".join(lines) + "\n", args.write, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
