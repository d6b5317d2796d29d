"""Site-averaged CN of compounds: grouped CV of the ``cn_site_average`` regressor.

``predict`` answers ``cn_site_average`` from a regressor of the multiplicity-weighted CN of the
database's compound spectra (``training.train_cn_mean``). This scores it per element and
backend by grouped 5-fold CV by mineral: the mean absolute error (MAE, CN units) over every
compound, over the compounds with mixed CN (sites of different CN), and the share within 0.5
of the truth. ``--grid-min-eV`` compares lower ends of the regressor's grid (eV from E0; default
the shipped ``spectra.CN_MEAN_GRID_MIN_EV``), ``--fold-seeds`` averages over shuffled
assignments of minerals to folds (default: ``GroupKFold``'s one assignment), ``--mixed-weights``
compares training weights of the compounds of mixed CN (``train_cn_mean``'s ``mixed_weight``;
shipped: 1).

    .venv/bin/python benchmarks/site_average.py [--elements Fe Mn] [--grid-min-eV -8 -2]
        [--fold-seeds 0 1 2] [--mixed-weights 1 3] [--write docs/validation/site_average.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
from validation_page import emit, provenance

from larch_motif.database import open_database
from larch_motif.spectra import CN_MEAN_GRID_MIN_EV, preprocessing_for
from larch_motif.training import DEFAULT_BACKEND, train_cn_mean

BACKENDS = (DEFAULT_BACKEND, *(b for b in ("rf", "xgboost", "lightgbm") if b != DEFAULT_BACKEND))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", nargs="*", default=None, help="default: all bundled")
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--grid-min-eV", type=float, nargs="+", default=[CN_MEAN_GRID_MIN_EV],
                        help="lower ends of the grid to compare (eV from E0)")
    parser.add_argument("--fold-seeds", type=int, nargs="+", default=None,
                        help="shuffled fold assignments to average (default: GroupKFold's one)")
    parser.add_argument("--mixed-weights", type=float, nargs="+", default=[1.0],
                        help="training weights of the compounds of mixed CN to compare (shipped: 1)")
    parser.add_argument("--write", type=Path, default=None, help="also write the validation page there")
    args = parser.parse_args()
    with open_database(None) as store:
        if args.elements is None:
            args.elements = [el for el, edge in store.elements() if edge == "K"]
        scf = {el: (store.calculation(el) or {}).get("parameters", {}).get("scf_radius_A") for el in args.elements}
    seeds = args.fold_seeds or [None]
    reports = {(el, gmin, w): {b: mean_report([train_cn_mean(
        el, backend=b, cv=args.cv, fold_seed=seed, mixed_weight=w,
        prep=dataclasses.replace(preprocessing_for(el, target="cn_mean"), grid_min_eV=gmin))[1] for seed in seeds])
        for b in BACKENDS} for el in args.elements for gmin in args.grid_min_eV for w in args.mixed_weights}
    folds = ("GroupKFold's assignment of minerals to folds" if args.fold_seeds is None
             else f"means over {len(seeds)} shuffled assignments of minerals to folds (seeds {', '.join(map(str, seeds))})")
    lines = ["# Site-averaged CN of compounds", "",
             provenance() + f". The `cn_site_average` regressor (`training.train_cn_mean`), grouped {args.cv}-fold "
             "CV by mineral on the compound spectra of the bundled database (each compound's spectrum the "
             "multiplicity-weighted mean of its absorber sites', its truth the multiplicity-weighted CN). "
             f"Cells: mean absolute error in CN units per backend ({DEFAULT_BACKEND} is the default), over every "
             "compound / over the compounds with mixed CN; for the default backend also the share within 0.5; "
             "mixed weight: the training weight of each compound of mixed CN (shipped: 1); "
             f"{folds}. Grid: from the lower end named (eV from the half-step E0; the shipped models' is "
             f"{CN_MEAN_GRID_MIN_EV:+g}) to the element's upper end.", "",
             "| element | SCF | grid from (eV) | mixed weight | compounds (mixed CN) | "
             + " | ".join(f"MAE {b}: all / mixed" for b in BACKENDS) + f" | within 0.5 ({DEFAULT_BACKEND}) |",
             "|---|---|---|---|---|" + "---|" * len(BACKENDS) + "---|"]
    for (el, gmin, w), per in reports.items():
        d = per[DEFAULT_BACKEND]
        lines.append(f"| {el} | {f'{scf[el]:g} A' if scf[el] else 'none'} | {gmin:+g} | {w:g} | {d['n_spectra']} ({d['n_mixed']}) | "
                     + " | ".join(f"{per[b]['mae']:.3f} / " + (f"{per[b]['mae_mixed']:.2f}" if per[b]["mae_mixed"] is not None
                                                                 else "-") for b in BACKENDS)
                     + f" | {100 * d['within_0.5']:.1f} % |")
    as_json = {f"{el} {gmin:+g} {w:g}": per for (el, gmin, w), per in reports.items()}
    emit("\n".join(lines) + "\n", args.write, json.dumps(as_json, indent=1) if args.write is None else None)
    return 0


def mean_report(reports: list[dict]) -> dict:
    """One report of several fold assignments: the mean of each score, the counts of the first."""
    out = dict(reports[0])
    for key in ("mae", "mae_mixed", "within_0.5"):
        values = [r[key] for r in reports if r.get(key) is not None]
        out[key] = float(np.mean(values)) if values else None
    return out


if __name__ == "__main__":
    sys.exit(main())
