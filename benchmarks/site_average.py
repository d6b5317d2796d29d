"""Site-averaged CN of compounds: grouped CV of the ``cn_site_average`` regressor.

``predict`` answers ``cn_site_average`` from a regressor of the multiplicity-weighted CN of the
database's compound spectra (``training.train_cn_mean``). This scores it per element and
backend by grouped 5-fold CV by mineral: the mean absolute error (MAE, CN units) over every
compound, over the compounds with mixed CN (sites of different CN), and the share within 0.5
of the truth.

    .venv/bin/python benchmarks/site_average.py [--elements Fe Mn] [--write docs/validation/site_average.md]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from validation_page import emit, provenance

from larch_motif.database import open_database
from larch_motif.training import DEFAULT_BACKEND, train_cn_mean

BACKENDS = (DEFAULT_BACKEND, *(b for b in ("rf", "xgboost", "lightgbm") if b != DEFAULT_BACKEND))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", nargs="*", default=None, help="default: all bundled")
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--write", type=Path, default=None, help="also write the validation page there")
    args = parser.parse_args()
    with open_database(None) as store:
        if args.elements is None:
            args.elements = [el for el, edge in store.elements() if edge == "K"]
        scf = {el: (store.calculation(el) or {}).get("parameters", {}).get("scf_radius_A") for el in args.elements}
    reports = {el: {b: train_cn_mean(el, backend=b, cv=args.cv)[1] for b in BACKENDS} for el in args.elements}
    lines = ["# Site-averaged CN of compounds", "",
             provenance() + f". The `cn_site_average` regressor (`training.train_cn_mean`), grouped {args.cv}-fold "
             "CV by mineral on the compound spectra of the bundled database (each compound's spectrum the "
             "multiplicity-weighted mean of its absorber sites', its truth the multiplicity-weighted CN). "
             f"Cells: mean absolute error in CN units per backend ({DEFAULT_BACKEND} is the default); for the "
             f"default backend also the error on the compounds with mixed CN and the share within 0.5.", "",
             "| element | SCF | compounds (mixed CN) | " + " | ".join(f"MAE {b}" for b in BACKENDS)
             + f" | MAE on the mixed ({DEFAULT_BACKEND}) | within 0.5 ({DEFAULT_BACKEND}) |",
             "|---|---|---|" + "---|" * len(BACKENDS) + "---|---|"]
    for el, per in reports.items():
        d = per[DEFAULT_BACKEND]
        mixed = f"{d['mae_mixed']:.2f}" if d["mae_mixed"] is not None else "-"
        lines.append(f"| {el} | {f'{scf[el]:g} A' if scf[el] else 'none'} | {d['n_spectra']} ({d['n_mixed']}) | "
                     + " | ".join(f"{per[b]['mae']:.2f}" for b in BACKENDS)
                     + f" | {mixed} | {100 * d['within_0.5']:.1f} % |")
    emit("\n".join(lines) + "\n", args.write, json.dumps(reports, indent=1) if args.write is None else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
