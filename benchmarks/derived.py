"""Structures derived for rare motifs as training rows: per-class recall on theory with and without.

Issue 20 asks whether structures derived from AMCSD prototypes by substitution on the absorber
site (``larch-motif db derive``: an element put on the tetrahedral sites of Zn, Co, Fe and the
chromates' Cr, or on the square-planar sites of Cu; ``build.DERIVED_DONORS``) lift the recall
of an element's rare motifs. The derived spectra are added as training-only rows
(``training.training_set_with_derived``: never scored, each held out with its parent mineral; those of
``training.DERIVED_MOTIFS`` of the element only, ``training.derived_training_sites``) at
``--weight`` against 1 for the element's own; the scores are those of the element's own sites,
grouped 5-fold CV by mineral over ``--repeats`` assignments of minerals to folds (seeds 0..N-1),
the same folds with and without. Prints, per element and target, the accuracy and the recall
of each class (mean over the repeats), and the CN and motif counts of the own and the derived
sites. ``--write`` writes the Markdown validation page with the command and the commit.

    .venv/bin/python benchmarks/derived.py --derived-db builds/derived.sqlite [--elements Mn Ni]
        [--repeats 3] [--weight 1.0] [--backend lightgbm] [--write docs/validation/derived.md] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from per_class import recalls
from validation_page import emit, provenance

from larch_motif.database import open_database
from larch_motif.spectra import preprocessing_for
from larch_motif.training import (
    DEFAULT_BACKEND,
    augmentation_for,
    cross_validate,
    derived_training_sites,
    select_sites,
    site_features,
    site_label,
    training_set,
    training_set_with_derived,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--derived-db", type=Path, required=True, help="database of derived spectra (db derive)")
    parser.add_argument("--elements", nargs="*", default=None, help="default: every element of --derived-db")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--weight", type=float, nargs="+", default=[1.0],
                        help="training weight of each derived row (own rows weigh 1); several compare")
    parser.add_argument("--backend", default=DEFAULT_BACKEND)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    with open_database(args.derived_db) as store:
        elements = args.elements or [el for el, _ in store.elements()]
        derived = {el: derived_training_sites(store.site_spectra(el), el) for el in elements}
    with open_database(None) as store:
        own = {el: select_sites(store.site_spectra(el)) for el in elements}
        augmentation = {el: augmentation_for(store.calculation(el)) for el in elements}
    table: dict = {}
    for el in elements:
        t0 = time.perf_counter()
        prep = preprocessing_for(el)
        computed = site_features(own[el], prep, augmentation[el])
        row: dict = {"n_own": len(own[el]), "n_derived": len(derived[el]),
                     "n_parents": len({s["mineral"] for s in derived[el]})}
        for target in ("cn", "motif"):
            ts = training_set(own[el], target, prep, augmentation[el], computed)
            variants = {"own only": ts}
            for w in args.weight:
                variants[f"with derived, weight {w:g}"] = training_set_with_derived(
                    own[el], target, prep, augmentation[el], derived[el], computed, w)
            kept = set(variants[f"with derived, weight {args.weight[0]:g}"].y)
            row[f"{target}_counts"] = {
                "own": dict(Counter(site_label(s, target) for s in own[el]).most_common()),
                "derived": dict(Counter(site_label(s, target) for s in derived[el]).most_common()),
                "derived_kept": sum(site_label(s, target) in kept for s in derived[el])}
            common = set(ts.site_ids[~ts.augmented])  # the sites every variant scores
            for name, data in variants.items():
                accuracy, per_class = [], []
                for seed in range(args.repeats):
                    res = cross_validate(data, args.backend, fold_seed=seed, return_predictions=True)
                    pred = res["predictions"]
                    mine = np.isin(pred["site_id"], list(common))
                    accuracy.append(float(np.mean(np.array(pred["true"])[mine] == np.array(pred["predicted"])[mine])))
                    per_class.append(recalls(pred))
                classes = sorted(set().union(*per_class), key=lambda c: -row[f"{target}_counts"]["own"].get(c, 0))
                row.setdefault(target, {})[name] = {
                    "accuracy": round(float(np.mean(accuracy)), 4),
                    "recall": {c: round(float(np.mean([r[c] for r in per_class if c in r])), 3)
                               for c in classes if any(c in r for r in per_class)}}
        row["seconds"] = round(time.perf_counter() - t0, 1)
        table[el] = row
        print(f"derived.py: {el} done in {row['seconds']} s", file=sys.stderr)
    emit(render(table, args), args.write, json.dumps(table, indent=1) if args.json else None)
    return 0


def render(table: dict, args: argparse.Namespace) -> str:
    lines = ["# Derived structures for rare motifs", "",
             provenance() + f": {args.backend}, grouped 5-fold CV by mineral, {args.repeats} assignments of "
             "minerals to folds, scored on each element's own sites only; the derived spectra (the element on "
             "a donor's sites, `larch-motif db derive`) are training-only rows, held out with their parent "
             "mineral.", ""]
    for el, row in table.items():
        lines += [f"## {el}: {row['n_own']} own sites, {row['n_derived']} derived from {row['n_parents']} "
                  "parent minerals", ""]
        for target in ("cn", "motif"):
            counts = row[f"{target}_counts"]
            lines.append(f"{target} counts, own: " + ", ".join(f"{k} {v}" for k, v in counts["own"].items()
                                                              if v >= 3)
                         + "; derived: " + ", ".join(f"{k} {v}" for k, v in counts["derived"].items())
                         + f" ({counts['derived_kept']} of a class the model keeps)")
            lines.append("")
            variants = row[target]
            classes = sorted({c for v in variants.values() for c in v["recall"]},
                             key=lambda c: -counts["own"].get(c, 0))
            lines.append("| training | accuracy | " + " | ".join(
                f"{c} ({counts['own'].get(c, 0)})" for c in classes) + " |")
            lines.append("|---|---|" + "---|" * len(classes))
            for name, v in variants.items():
                lines.append(f"| {name} | {v['accuracy']:.3f} | " + " | ".join(
                    f"{v['recall'][c]:.3f}" if c in v["recall"] else "not a class" for c in classes) + " |")
            lines.append("")
    lines.append("Cells: accuracy over the own sites that every variant scores (a class with fewer than "
                 "training.MIN_CLASS_SITES own sites is no class of the own-only model, and its sites are not scored "
                 "there; with the derived sites counted it can be one), and the recall of each class (own sites in "
                 "brackets), means over the repeats.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
