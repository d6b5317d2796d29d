"""The metallic detector on theory: metal/non-metal confusion in grouped CV, per element.

For every bundled element with metallic sites (``labels.is_metallic``: a metal among the
ligands, no O, N, halogen or chalcogen), the detector's sites (the ``anion+metallic`` domain,
with the augmentation of the default models) are scored by grouped 5-fold CV by mineral, over
``--repeats`` assignments of minerals to folds (seeds 0..N-1). Prints the share of sites right,
the confusion summed over the repeats (true metallic called not metallic, and the reverse)
and the sites missed most often. ``--write`` writes a Markdown validation page with the command
and the commit.

``--pool`` adds other elements' sites as training-only rows (never scored; a held-out mineral
is held out with every element it holds): ``default`` as the default models do
(``training.METALLIC_POOL_ELEMENTS`` learn their neighbours' metallic sites), ``none``,
``neighbours`` (the metallic sites of Z - 1 and Z + 1 for every element), ``metallic`` (every
other element's metallic sites) or ``all`` (every other element's sites).

    .venv/bin/python benchmarks/metallic.py [--elements Fe Zn] [--repeats 5] [--pool default]
        [--backends lightgbm] [--grid-min-eV -12] [--grid-max-eV 100] [--write docs/validation/metallic.md] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from hyperparameters import SETS, parameter_set
from validation_page import emit, provenance

from larch_motif.database import open_database
from larch_motif.labels import is_metallic
from larch_motif.spectra import preprocessing_for
from larch_motif.training import (
    DEFAULT_BACKEND,
    METALLIC,
    METALLIC_POOL_ELEMENTS,
    METALLIC_POOL_WEIGHT,
    SITE_DOMAIN_BY_TARGET,
    augmentation_for,
    cross_validate,
    neighbour_elements,
    select_sites,
    training_set,
    with_pooled_sites,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", nargs="*", default=None, help="default: all bundled")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backends", nargs="+", default=[DEFAULT_BACKEND])
    parser.add_argument("--pool", choices=("none", "metallic", "all", "neighbours", "default"), default="default",
                        help="add other elements' sites as training-only rows: their metallic ones, all of "
                             "them, the metallic ones of the neighbours in Z (Z - 1, Z + 1), or as the "
                             "default models do (the neighbours' for training.METALLIC_POOL_ELEMENTS)")
    parser.add_argument("--pool-weight", type=float, default=None,
                        help="training weight of each pooled row (the element's own rows weigh 1; "
                             "default: training.METALLIC_POOL_WEIGHT for neighbours, else 1)")
    parser.add_argument("--derivative", action="store_true",
                        help="append d(norm)/dE to the features (Preprocessing.derivative)")
    parser.add_argument("--grid-min-eV", type=float, default=None,
                        help="lower end of the feature grid (eV relative to E0; default: the element's)")
    parser.add_argument("--grid-max-eV", type=float, default=None,
                        help="upper end of the feature grid (eV above E0; default: the detector's, spectra.preprocessing_for(element, target=\"metallic\"))")
    parser.add_argument("--params", default="default", choices=list(SETS),
                        help="hyper-parameter set of benchmarks/hyperparameters.py laid over the backend's defaults")
    parser.add_argument("--seed0", type=int, default=0, help="first fold seed (the validation pages use 0..)")
    parser.add_argument("--write", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.pool_weight is None:
        args.pool_weight = METALLIC_POOL_WEIGHT if args.pool in ("neighbours", "default") else 1.0
    domain = SITE_DOMAIN_BY_TARGET["metallic"]
    with open_database(None) as store:
        bundled = [el for el, _ in store.elements()]
        elements = args.elements or bundled
        loaded = bundled if args.pool != "none" else elements
        sites = {el: select_sites(store.site_spectra(el), domain) for el in loaded}
        augmentation = {el: augmentation_for(store.calculation(el), "metallic") for el in loaded}
    table: dict = {}
    for el in elements:
        t0 = time.perf_counter()
        prep = preprocessing_for(el, target="metallic")
        if args.derivative:
            prep = dataclasses.replace(prep, derivative=True)
        if args.grid_min_eV is not None:
            prep = dataclasses.replace(prep, grid_min_eV=args.grid_min_eV)
        if args.grid_max_eV is not None:
            prep = dataclasses.replace(prep, grid_max_eV=args.grid_max_eV)
        ts = training_set(sites[el], "metallic", prep, augmentation[el])
        pooled_from = pooled_elements(el, loaded, args.pool)
        if pooled_from:
            others = [s for other in pooled_from for s in sites[other]
                      if args.pool == "all" or is_metallic(s.get("ligands"))]
            ts = with_pooled_sites(ts, others, "metallic", prep, augmentation[el], args.pool_weight)
        by_id = {s["site_id"]: s for s in sites[el]}
        n_metal = int(((ts.y == METALLIC) & ~ts.augmented).sum())
        row: dict = {"n_sites": len(sites[el]), "n_metallic": n_metal, "pooled_from": pooled_from,
                     "n_pooled_metallic": int(sum(is_metallic(s.get("ligands")) for o in pooled_from for s in sites[o])),
                     "n_minerals": len({s["mineral"] for s in sites[el]})}
        if np.unique(ts.y).size < 2:
            row["skipped"] = "one class only (no metallic sites computed)"
            table[el] = row
            continue
        for backend in args.backends:
            accuracy, missed, confusion = [], Counter(), Counter()
            params, shape = parameter_set(args.params)
            for seed in range(args.seed0, args.seed0 + args.repeats):
                res = cross_validate(ts, backend, fold_seed=seed, return_predictions=True,
                                     backend_params=params, shape_components=shape)
                accuracy.append(res["accuracy"])
                pred = res["predictions"]
                for site_id, true, got in zip(pred["site_id"], pred["true"], pred["predicted"]):
                    confusion[true, got] += 1
                    if true != got:
                        missed[site_id] += 1
            row[backend] = {
                "accuracy_mean": round(float(np.mean(accuracy)), 4),
                "accuracy_min": round(float(np.min(accuracy)), 4),
                "metallic_called_not": confusion[METALLIC, "not metallic"],
                "not_called_metallic": confusion["not metallic", METALLIC],
                "answers": sum(confusion.values()),
                "missed_most": [[by_id[k]["mineral"], by_id[k]["ligands"], by_id[k]["cn"], n]
                                for k, n in missed.most_common(6)]}
        row["seconds"] = round(time.perf_counter() - t0, 1)
        table[el] = row
        print(f"metallic.py: {el} done in {row['seconds']} s", file=sys.stderr)
    text = render(table, args)
    emit(text, args.write, json.dumps(table, indent=1) if args.json else None)
    return 0


def pooled_elements(element: str, loaded: list[str], pool: str) -> list[str]:
    """The elements whose sites ``element``'s detector is trained with, by ``--pool``."""
    if pool == "none":
        return []
    if pool in ("metallic", "all"):
        return [el for el in loaded if el != element]
    if pool == "default" and element not in METALLIC_POOL_ELEMENTS:
        return []
    return neighbour_elements(element, loaded)


POOL_TEXT = {"metallic": "the other elements' metallic sites", "all": "the other elements' sites",
             "neighbours": "the metallic sites of the neighbours in Z (Z - 1, Z + 1)",
             "default": "as the default models: the metallic sites of the neighbours in Z for "
                        "training.METALLIC_POOL_ELEMENTS, none for the others"}


def render(table: dict, args: argparse.Namespace) -> str:
    lines = ["# The metallic detector on theory", "",
             provenance() + f": grouped 5-fold CV by mineral, {args.repeats} assignments of minerals to "
             f"folds (seeds {args.seed0}-{args.seed0 + args.repeats - 1})"
             + ("" if args.params == "default" else f", backend parameters {SETS[args.params]} over the defaults")
             + "; the sites of the anion+metallic domain"
             + ("" if args.pool == "none" else f", with {POOL_TEXT[args.pool]} "
                f"as training-only rows (never scored) of weight {args.pool_weight:g}") + ". Errors are summed over the assignments "
             "(each site is answered once per assignment).", "",
             "| element | sites | metallic sites | pooled metallic sites | minerals | backend | right (mean, min) "
             "| metallic called not | not called metallic | missed most (mineral, ligands, CN, times) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for el, row in table.items():
        if "skipped" in row:
            lines.append(f"| {el} | {row['n_sites']} | {row['n_metallic']} | {pooled(row)} | {row['n_minerals']} | - | "
                         f"skipped: {row['skipped']} | | | |")
            continue
        for backend in args.backends:
            r = row[backend]
            missed = "; ".join(f"{m} ({lig}, {cn}, {n})" for m, lig, cn, n in r["missed_most"]) or "none"
            lines.append(f"| {el} | {row['n_sites']} | {row['n_metallic']} | {pooled(row)} | {row['n_minerals']} | {backend} | "
                         f"{r['accuracy_mean']:.3f}, {r['accuracy_min']:.3f} | {r['metallic_called_not']} | "
                         f"{r['not_called_metallic']} | {missed} |")
    return "\n".join(lines) + "\n"


def pooled(row: dict) -> str:
    """The pooled-sites cell: how many, from which elements."""
    if not row["pooled_from"]:
        return "none"
    return f"{row['n_pooled_metallic']} ({', '.join(row['pooled_from'])})"


if __name__ == "__main__":
    sys.exit(main())
