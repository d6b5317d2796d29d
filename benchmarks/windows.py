"""Short-scan windows on theory: grouped-CV accuracy of the default backend with the feature grid
cut at each of ``spectra.SHORT_SCAN_WINDOWS_EV`` against the element's full grid.

For every bundled element and target (CN, motif), the same sites (anion-coordinated), the same
augmentation and the same assignments of minerals to folds (``--repeats`` shuffled
assignments, seeds 0..N-1) are scored with the full grid of the default models
(``spectra.preprocessing_for``) and with the grid ending at each window (-8 eV to +W eV around
E0): the accuracy a spectrum that ends at +W eV gets from its window model, beside the one a
full scan gets. ``--write`` writes the table as a Markdown validation page with the command
and the commit.

    .venv/bin/python benchmarks/windows.py [--elements Fe Zn] [--windows 45 30] [--repeats 3]
        [--backend lightgbm] [--write docs/validation/windows.md] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from validation_page import emit, provenance

from larch_motif.database import open_database
from larch_motif.spectra import SHORT_SCAN_WINDOWS_EV, preprocessing_for
from larch_motif.training import (
    DEFAULT_BACKEND,
    augmentation_for,
    cross_validate,
    select_sites,
    site_features,
    training_set,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", nargs="*", default=None, help="default: all bundled")
    parser.add_argument("--windows", nargs="+", type=float, default=list(SHORT_SCAN_WINDOWS_EV))
    parser.add_argument("--targets", nargs="+", default=["cn", "motif"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", default=DEFAULT_BACKEND)
    parser.add_argument("--write", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with open_database(None) as store:
        elements = args.elements or [el for el, _ in store.elements()]
        sites = {el: select_sites(store.site_spectra(el)) for el in elements}
        augmentation = {el: augmentation_for(store.calculation(el)) for el in elements}
    table: dict = {}
    for el in elements:
        t0 = time.perf_counter()
        full = preprocessing_for(el).grid_max_eV
        table[el] = {"n_sites": len(sites[el]), "full_grid_eV": full}
        for grid_max in (full, *args.windows):
            prep = preprocessing_for(el, grid_max)
            computed = site_features(sites[el], prep, augmentation[el])
            for target in args.targets:
                ts = training_set(sites[el], target, prep, computed=computed)
                scores = [cross_validate(ts, args.backend, fold_seed=seed)["accuracy"]
                          for seed in range(args.repeats)]
                table[el].setdefault(target, {})[f"{grid_max:g}"] = {
                    "mean": round(float(np.mean(scores)), 4), "min": round(float(np.min(scores)), 4),
                    "max": round(float(np.max(scores)), 4)}
        table[el]["seconds"] = round(time.perf_counter() - t0, 1)
        print(f"windows.py: {el} done in {table[el]['seconds']} s", file=sys.stderr)
    text = render(table, args)
    emit(text, args.write, json.dumps(table, indent=1) if args.json else None)
    return 0


def render(table: dict, args: argparse.Namespace) -> str:
    lines = ["# Short-scan windows on theory", "",
             provenance() + f": {args.backend}, grouped "
             f"5-fold CV by mineral, {args.repeats} assignments of minerals to folds (mean, min-max). "
             "A spectrum that ends before its element's full grid is answered by the largest window "
             "it reaches.", "",
             "| element | target | sites | full grid | " + " | ".join(f"to +{w:g} eV" for w in args.windows)
             + " | " + " | ".join(f"+{w:g} minus full" for w in args.windows) + " |",
             "|---|---|---|---|" + "---|" * (2 * len(args.windows))]
    for el, row in table.items():
        full = f"{row['full_grid_eV']:g}"
        for target in args.targets:
            cells = row[target]
            text = [f"{cells[full]['mean']:.3f} ({cells[full]['min']:.3f}-{cells[full]['max']:.3f}) to +{full}"]
            text += [f"{cells[f'{w:g}']['mean']:.3f} ({cells[f'{w:g}']['min']:.3f}-{cells[f'{w:g}']['max']:.3f})"
                     for w in args.windows]
            text += [f"{cells[f'{w:g}']['mean'] - cells[full]['mean']:+.3f}" for w in args.windows]
            lines.append(f"| {el} | {target} | {row['n_sites']} | " + " | ".join(text) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
