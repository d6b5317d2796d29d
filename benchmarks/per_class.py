"""Per-class recall on theory: which CN and motif classes of each element the default backend
gets right, beside the nearest reference, and where the wrong answers go.

A total accuracy hides the rare classes (Cu linear L:2 and trigonal CN 3, Mn tetrahedra, Ni
CN 4); issue 20 asks for the figures per class. Same grouped CV as ``benchmarks/accuracy.py``
(5-fold by mineral, ``--repeats`` shuffled assignments of minerals to folds, seeds 0..N-1,
augmented training rows, scores on the unaugmented site spectra, each element on its default
grid and augmentation). Per element, target and class: the sites, the recall of the backend
(mean over the repeats, min-max) and of the nearest reference, and the backend's most frequent
wrong answer with its share of that class's held-out answers over all repeats.

A second table splits the CN 4, 5 and 6 sites by the spread of their first-shell bonds (longest
over shortest bond, ``bond_max_A / bond_min_A``): Jahn-Teller Cu(II) with 4 short and 1 or 2
long bonds is where ChemEnv's count and the spectrum's shape part ways.

    .venv/bin/python benchmarks/per_class.py [--elements Cu Fe] [--repeats 3]
        [--backend lightgbm] [--json] [--write docs/validation/per_class.md]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

import numpy as np
from validation_page import element_sites, emit, provenance

from larch_motif.baselines import NearestReferenceBaseline
from larch_motif.spectra import preprocessing_for
from larch_motif.training import (
    DEFAULT_BACKEND,
    cross_validate,
    derived_pool,
    site_features,
    training_set_with_derived,
)

#: bins of bond_max_A / bond_min_A (upper ends) for the CN 4-6 table
SPREAD_BINS = (1.05, 1.15, 1.25, np.inf)


def recalls(predictions: dict) -> dict[str, float]:
    """Recall of each true class in one CV's held-out predictions."""
    true, pred = np.array(predictions["true"]), np.array(predictions["predicted"])
    return {c: float(np.mean(pred[true == c] == c)) for c in np.unique(true)}


def spread_bin(site: dict) -> str:
    ratio = site["bond_max_A"] / site["bond_min_A"]
    lo = 1.0
    for hi in SPREAD_BINS:
        if ratio < hi:
            return f"{lo:.2f}-{hi:.2f}" if np.isfinite(hi) else f">= {lo:.2f}"
        lo = hi
    return f">= {lo:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", nargs="*", default=None, help="default: all bundled")
    parser.add_argument("--repeats", type=int, default=3, help="shuffled fold assignments (seeds 0..N-1)")
    parser.add_argument("--backend", default=DEFAULT_BACKEND)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--write", type=Path, default=None, help="also write the validation page there")
    args = parser.parse_args()
    elements, data = element_sites(args.elements)
    table: dict = {}
    for el in elements:
        t0 = time.perf_counter()
        sites, augmentation = data[el]
        by_id = {s["site_id"]: s for s in sites}
        prep = preprocessing_for(el)
        computed = site_features(sites, prep, augmentation)
        table[el] = {}
        for target in ("cn", "motif"):
            derived = derived_pool(el, target)[0]  # as the default models train (training.DERIVED_ELEMENTS)
            ts = training_set_with_derived(sites, target, prep, augmentation, derived, computed)
            backend, nearest, wrong, spread = [], [], collections.defaultdict(collections.Counter), \
                collections.defaultdict(list)
            for seed in range(args.repeats):
                p = cross_validate(ts, args.backend, fold_seed=seed, return_predictions=True)["predictions"]
                backend.append(recalls(p))
                for sid, t, pr in zip(p["site_id"], p["true"], p["predicted"]):
                    wrong[t][pr] += 1
                    if target == "cn" and t in ("4", "5", "6"):
                        spread[(t, spread_bin(by_id[sid]))].append(t == pr)
                nearest.append(recalls(cross_validate(ts, "nearest", estimator=NearestReferenceBaseline(),
                                                      fold_seed=seed, return_predictions=True)["predictions"]))
            n_sites = collections.Counter(site_label_of(by_id[s], target) for s in set(ts.site_ids[~ts.augmented]))
            classes = {}
            for c in backend[0]:
                r = [b[c] for b in backend]
                answers = wrong[c]
                misses = [(k, v) for k, v in answers.most_common() if k != c]
                classes[c] = {"sites": n_sites[c], "recall": float(np.mean(r)), "min": float(np.min(r)),
                              "max": float(np.max(r)), "nearest": float(np.mean([n[c] for n in nearest])),
                              "most_wrong": (misses[0][0], misses[0][1] / sum(answers.values())) if misses else None}
            table[el][target] = {"classes": classes,
                                 "dropped": ts.dropped_classes,
                                 "spread": {f"{t} {b}": {"n": len(v) // args.repeats, "recall": float(np.mean(v))}
                                            for (t, b), v in sorted(spread.items())}}
        table[el]["seconds"] = round(time.perf_counter() - t0, 1)
        print(f"per_class.py: {el} done in {table[el]['seconds']} s", file=sys.stderr)
    emit(render(table, args), args.write, json.dumps(table, indent=1) if args.json else None)
    return 0


def site_label_of(site: dict, target: str) -> str:
    return str(site["cn"] if target == "cn" else site["motif"])


def render(table: dict, args: argparse.Namespace) -> str:
    lines = ["# Per-class recall on theory", "",
             provenance() + f": {args.backend} and the nearest reference, grouped 5-fold CV by "
             f"mineral, {args.repeats} assignments of minerals to folds (recall: mean, min-max). "
             "Most wrong: the backend's most frequent wrong answer for the class, as a share of "
             "the class's held-out answers over all repeats. Classes with fewer sites than the "
             "models keep are listed as dropped (no model answers them).", "",
             "| element | target | class | sites | recall | nearest reference | most wrong |",
             "|---|---|---|---|---|---|---|"]
    for el, row in table.items():
        for target in ("cn", "motif"):
            for c, v in row[target]["classes"].items():
                wrong = f"{v['most_wrong'][0]} ({v['most_wrong'][1]:.0%})" if v["most_wrong"] else "-"
                lines.append(f"| {el} | {target} | {c} | {v['sites']} | {v['recall']:.3f} "
                             f"({v['min']:.3f}-{v['max']:.3f}) | {v['nearest']:.3f} | {wrong} |")
            if row[target]["dropped"]:
                dropped = ", ".join(f"{c} ({n})" for c, n in row[target]["dropped"].items())
                lines.append(f"| {el} | {target} | dropped: {dropped} | | | | |")
    lines += ["", "CN recall of the CN 4, 5 and 6 sites by the spread of their first-shell bonds "
              "(longest / shortest):", "",
              "| element | CN | bond spread | sites | recall |", "|---|---|---|---|---|"]
    for el, row in table.items():
        for key, v in row["cn"]["spread"].items():
            cn, spread = key.split(" ", 1)
            lines.append(f"| {el} | {cn} | {spread} | {v['n']} | {v['recall']:.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
