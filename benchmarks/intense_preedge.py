"""Where E0 lands when a pre-edge peak rises above half the edge step, and what the answer does.

The 1s->3d peak of a tetrahedral d0 site (chromates, permanganates, orthovanadates, Ba2TiO4)
is 0.6-1.2 of the edge step in measured spectra, 10-15 eV below the half-step of the main edge.
FEFF10 at the database's broadening keeps it below 0.5, so theory does not show what such a
spectrum does to the half-step E0 (``spectra.e0_half_step``) that the feature grid hangs on.

For every database site of the d0 tetrahedral oxo anions (Ti4+, V5+, Cr6+, Mn7+; motif T:4,
O ligands) the computed spectrum is made to look like a measured scan: broadened as the models
see theory, extended to 150 eV below the edge, on a 0.25 eV grid, on a sloping background, with
a Gaussian peak (FWHM 2 eV) of height ``h`` (edge-step units) 13 eV below its half-step. Each is
put through ``predict`` with the element's default models twice: with E0 at the first crossing
of 0.5 (``first crossing``: the rule before 2026-12-06), and as ``predict`` does now (``main
edge``: the crossing after which the spectrum holds, ``E0_HOLD_EV``). The sites are
training sites of those models, so "CN right" measures the alignment, not generalization.

Each spectrum is also answered as a short scan ending ``SHORT_SCAN_END_EV`` above the edge.

    .venv/bin/python benchmarks/intense_preedge.py [--heights 0 0.3 0.6 0.9 1.2] [--write docs/validation/intense_preedge.md]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from validation_page import emit, provenance

import larch_motif.spectra as spectra
from larch_motif.database import open_database
from larch_motif.prediction import predict

#: The d0 oxidation state of each element whose tetrahedral oxo anion has the intense peak
D0_STATE = {"Ti": 4, "V": 5, "Cr": 6, "Mn": 7}
PEAK_BELOW_EDGE_EV = 13.0
PEAK_FWHM_EV = 2.0
#: End (eV above the main edge's half step) of the short scan each spectrum is also answered as
#: (by the +45 eV window's models, cut from the main edge: ``spectra.cut_scan``)
SHORT_SCAN_END_EV = 50.0


@contextlib.contextmanager
def first_crossing_rule() -> Iterator[None]:
    """E0 as before: the first crossing of 0.5 (no hold)."""
    saved = spectra.E0_HOLD_EV
    spectra.E0_HOLD_EV = 0.0
    try:
        yield
    finally:
        spectra.E0_HOLD_EV = saved


def measured_like(site: dict, height: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(energy eV, mu, half-step E0 of the main edge eV) of a site's spectrum made to look like a
    transmission scan with a pre-edge peak of ``height`` edge steps."""
    prep = spectra.preprocessing_for(site["element"])
    theory = spectra.theory_group(site["energy_eV"], site["mu"], prep)
    e_th, flat = np.asarray(theory.energy, float), np.asarray(theory.flat, float)
    energy = np.arange(e_th[0] - 150.0, e_th[-1], 0.25)
    norm = np.interp(energy, e_th, flat, left=flat[0], right=flat[-1])
    e0 = float(theory.e0_half)
    sigma = PEAK_FWHM_EV / 2.3548
    norm = norm + height * np.exp(-0.5 * ((energy - (e0 - PEAK_BELOW_EDGE_EV)) / sigma) ** 2)
    mu = 0.4 - 2e-4 * (energy - energy[0]) + 0.8 * norm
    return energy, mu, e0


def answer(energy: np.ndarray, mu: np.ndarray, element: str) -> dict:
    from larch import Group

    (res,) = predict(Group(energy=energy, mu=mu, filename="measured-like"), element=element)
    d = res.to_dict()
    return {"cn": d.get("cn"), "confidence": d.get("cn_confidence"), "in_domain": d.get("in_domain"),
            "e0_half": d.get("e0_half"), "e0": d.get("e0"), "grid_eV": d.get("grid_eV")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--heights", nargs="*", type=float, default=[0.0, 0.3, 0.6, 0.9, 1.2])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--write", type=Path, default=None, help="also write the validation page there")
    args = parser.parse_args(argv)
    with open_database(None) as db:
        sites = [dict(s, element=el) for el, _ in db.elements() if el in D0_STATE
                 for s in db.site_spectra(el)
                 if s.get("motif") == "T:4" and s.get("ligands") == "O"
                 and s.get("oxidation_state") is not None and round(s["oxidation_state"]) == D0_STATE[el]]
    if not sites:
        print("intense_preedge.py: no d0 tetrahedral oxo site in the bundled database")
        return 1
    rows = []
    for s in sites:
        for h in args.heights:
            energy, mu, e0 = measured_like(s, h)
            with first_crossing_rule():
                before = answer(energy, mu, s["element"])
            after = answer(energy, mu, s["element"])
            short = energy <= e0 + SHORT_SCAN_END_EV
            rows.append({"element": s["element"], "site": s["site_id"], "mineral": s.get("mineral"),
                         "true_cn": int(s["cn"]), "height": h, "e0_main_edge": e0,
                         "first crossing": before, "main edge": after,
                         "short scan": answer(energy[short], mu[short], s["element"])})
        print(f"{s['element']} {s.get('mineral')}", file=sys.stderr, flush=True)
    emit(render(rows, args), args.write, json.dumps(rows, indent=1) if args.json else None)
    return 0


def _cell(rows: list[dict], rule: str) -> str:
    n = len(rows)
    off = [abs(r[rule]["e0_half"] - r["e0_main_edge"]) for r in rows]
    right = sum(str(r[rule]["cn"]) == str(r["true_cn"]) for r in rows)
    dom = sum(bool(r[rule]["in_domain"]) for r in rows)
    sure_right = sum(str(r[rule]["cn"]) == str(r["true_cn"]) and (r[rule]["confidence"] or 0) >= 0.9 for r in rows)
    return (f"{sum(o <= 2.0 for o in off)}/{n} (median {np.median(off):.1f} eV) | {right}/{n} | "
            f"{sure_right}/{n} | {dom}/{n}")


def render(rows: list[dict], args: argparse.Namespace) -> str:
    elements = sorted({r["element"] for r in rows})
    counts = ", ".join(f"{el} {len({r['site'] for r in rows if r['element'] == el})}" for el in elements)
    lines = ["# An intense pre-edge peak: where E0 lands, and the answer", "",
             f"{provenance()}. "
             f"Sites: the d0 tetrahedral oxo anions of the bundled database ({counts}), each computed "
             f"spectrum broadened as the models see theory, extended to 150 eV below the edge, with a "
             f"Gaussian peak (FWHM {PEAK_FWHM_EV} eV) of the given height in edge steps "
             f"{PEAK_BELOW_EDGE_EV} eV below the half-step of the main edge, through `predict` with "
             "the default models (lightgbm). `first crossing`: E0 where the normalized spectrum "
             "first reaches 0.5 (before); `main edge`: the crossing of 0.5 after which it stays "
             f"at or above {spectra.E0_HOLD_LEVEL} for {spectra.E0_HOLD_EV:g} eV (now). These are training sites "
             "of the models: `CN right` measures the alignment, not generalization.", "",
             "| peak height | rule | E0 within 2 eV of the main edge | CN right | CN right at >= 0.9 | in domain |",
             "|---|---|---|---|---|---|"]
    for h in args.heights:
        of_h = [r for r in rows if r["height"] == h]
        for rule in ("first crossing", "main edge"):
            lines.append(f"| {h:g} | {rule} | {_cell(of_h, rule)} |")
    grids = sorted({str(r["short scan"]["grid_eV"]) for r in rows})
    lines += ["", f"The same spectra as short scans ending {SHORT_SCAN_END_EV:g} eV above the main edge "
              f"(answered on the grid {', '.join(grids)} eV; E0 and the window's cut as `predict` does now):", "",
              "| peak height | E0 within 2 eV of the main edge | CN right | CN right at >= 0.9 | in domain |",
              "|---|---|---|---|---|"]
    for h in args.heights:
        lines.append(f"| {h:g} | {_cell([r for r in rows if r['height'] == h], 'short scan')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
