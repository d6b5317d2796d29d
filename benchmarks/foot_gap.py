"""The foot gap: CN and motif classifiers on held-out theory with the gap measurement shows below E0.

Measured spectra lie under their FEFF10 theory from -7 to -1 eV (``benchmarks/edge_foot.py``).
This puts the gap of the measured references onto held-out theory spectra and asks how the
classifiers answer them, per class, trained with and without ``Augmentation.foot_gap`` (copies
whose foot is lowered by ``training.foot_gap_profile`` times a depth drawn in [0, foot_gap]).

The repeated grouped CV of the theory table (5-fold by mineral, seeds 0..N-1, augmented training
rows as the default models have them, derived structures where the element learns them). Each
held-out spectrum is answered as computed ("theory"), with the mean measured - theory difference
of the references added from -8 eV to E0 ("mean gap"), and with the difference of one reference
drawn at random for each spectrum ("a reference's gap"). The references: ``edge_foot.REFERENCES``
in ``../shared/data`` (the mean gap is the shape the augmentation uses, so "a reference's gap" is
the check that is not built into it).

    .venv/bin/python benchmarks/foot_gap.py [--elements Fe Mn] [--targets cn motif] [--foot-gaps 0 0.15]
        [--repeats 2] [--backend lightgbm] [--write docs/validation/foot_gap.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from edge_foot import foot_differences
from validation_page import element_sites, emit, provenance

from larch_motif.models import MotifClassifier
from larch_motif.spectra import preprocessing_for
from larch_motif.training import (
    DEFAULT_BACKEND,
    derived_pool,
    grouped_folds,
    shape_components_for,
    training_set_with_derived,
)

#: eV from E0 of the measured differences put onto theory (zero from E0 up)
GAP_ENERGIES_EV = (-8, -7, -6, -5, -4, -3, -2, -1, 0)
CASES = ("theory", "mean gap", "a reference's gap")


def score(element: str, target: str, sites: list[dict], augmentation, foot_gap: float, gaps: np.ndarray,
          repeats: int, backend: str) -> dict[str, Counter]:
    """Counters per case: ('n', class), ('right', class), ('wrong_0.9', class) over the repeats."""
    prep = preprocessing_for(element)
    grid = prep.grid()
    derived, _ = derived_pool(element, target)
    ts = training_set_with_derived(sites, target, prep, dataclasses.replace(augmentation, foot_gap=foot_gap), derived)

    def on_features(diff: np.ndarray) -> np.ndarray:
        out = np.zeros(ts.X.shape[1])
        out[:grid.size] = np.interp(grid, GAP_ENERGIES_EV, diff, left=diff[0], right=0.0)
        return out

    mean_gap = on_features(gaps.mean(axis=0))
    each_gap = np.array([on_features(g) for g in gaps])
    rng = np.random.default_rng(0)
    counts = {case: Counter() for case in CASES}
    for seed in range(repeats):
        for train, test in grouped_folds(ts.groups, ts.augmented, 5, seed):
            clf = MotifClassifier(backend, None, random_state=0, shape_components=shape_components_for(backend)).fit(
                ts.X[train], ts.y[train], sample_weight=None if ts.weights is None else ts.weights[train],
                shape_rows=~ts.augmented[train])
            X = ts.X[test]
            cases = {"theory": X, "mean gap": X + mean_gap,
                     "a reference's gap": X + each_gap[rng.integers(len(each_gap), size=len(test))]}
            for case, Xc in cases.items():
                p = clf.predict_proba(Xc)
                pred, conf = np.asarray(clf.classes_)[p.argmax(axis=1)].astype(str), p.max(axis=1)
                for truth, answer, c in zip(ts.y[test], pred, conf):
                    counts[case]["n", truth] += 1
                    counts[case]["right", truth] += int(answer == truth)
                    counts[case]["wrong_0.9", truth] += int(answer != truth and c >= 0.9)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", nargs="*", default=None, help="default: all bundled")
    parser.add_argument("--targets", nargs="+", default=["cn", "motif"])
    parser.add_argument("--foot-gaps", type=float, nargs="+", default=[0.0, 0.15])
    parser.add_argument("--repeats", type=int, default=2, help="shuffled fold assignments (seeds 0..N-1)")
    parser.add_argument("--backend", default=DEFAULT_BACKEND)
    parser.add_argument("--min-sites", type=int, default=10, help="classes with fewer sites are not listed")
    parser.add_argument("--write", type=Path, default=None, help="also write the validation page there")
    args = parser.parse_args()
    assignments = ("1 assignment of minerals to folds (seed 0)" if args.repeats == 1 else
                   f"{args.repeats} assignments of minerals to folds (seeds 0-{args.repeats - 1})")
    refs = foot_differences(GAP_ENERGIES_EV)
    gaps = np.array([d for _, d in refs])
    elements, data = element_sites(args.elements)
    table, summary = [], []
    for el in elements:
        sites, augmentation = data[el]
        for target in args.targets:
            results = {fg: score(el, target, sites, augmentation, fg, gaps, args.repeats, args.backend)
                       for fg in args.foot_gaps}
            base = results[args.foot_gaps[0]]["theory"]
            classes = sorted({c for kind, c in base if kind == "n"}, key=lambda c: -base["n", c])
            majority = classes[0]
            for fg, counts in results.items():
                cells, minority = [], []
                for case in CASES:
                    n = sum(counts[case]["n", c] for c in classes)
                    right = sum(counts[case]["right", c] for c in classes)
                    wrong = sum(counts[case]["wrong_0.9", c] for c in classes)
                    n_min = sum(counts[case]["n", c] for c in classes if c != majority)
                    right_min = sum(counts[case]["right", c] for c in classes if c != majority)
                    cells.append(f"{right / n:.3f} ({right_min / max(n_min, 1):.3f}; {wrong})")
                    minority.append(right_min / max(n_min, 1))
                summary.append((el, target, fg, minority))
                table.append(f"| {el} | {target} | {fg:g} | " + " | ".join(cells) + " |")
                listed = [c for c in classes if base["n", c] >= args.min_sites * args.repeats]
                per_class = "; ".join(f"{c} " + " / ".join(f"{counts[case]['right', c]}" for case in CASES)
                                      + f" of {counts['theory']['n', c]}" for c in listed)
                table.append(f"| | | | per class (theory / mean gap / a reference's gap): {per_class} | | |")
            print(f"foot_gap.py: {el} {target} done", file=sys.stderr)
    lines = ["# The foot gap: classifiers on theory with the measured gap below E0", "",
             provenance() + f". {args.backend}, grouped 5-fold CV by mineral, {assignments}, each element's default grid and augmentation with the "
             "training foot gap named (0: the augmentation without it). Held-out spectra answered as computed "
             "(theory), with the mean measured - theory difference of the references added from -8 eV to E0, and with "
             f"one reference's difference drawn at random per spectrum. References: {len(refs)} measured spectra "
             "against the FEFF10 spectrum of their mineral (`benchmarks/edge_foot.py`), mean difference "
             + ", ".join(f"{v:+.3f} at {e:+d} eV" for e, v in zip(GAP_ENERGIES_EV, gaps.mean(axis=0))) + ".", "",
             "Cells: accuracy (recall of the classes other than the element's majority; wrong answers at a class "
             "probability >= 0.9, uncalibrated).", "",
             "| element | target | training foot gap | theory | mean gap | a reference's gap |",
             "|---|---|---|---|---|---|", *table, ""]
    lines += ["Minority-class recall summed over the element/target cells, per training foot gap:", "",
              "| training foot gap | theory | mean gap | a reference's gap |", "|---|---|---|---|"]
    for fg in args.foot_gaps:
        rows = np.array([m for _, _, f, m in summary if f == fg])
        lines.append(f"| {fg:g} | " + " | ".join(f"{v:.2f}" for v in rows.sum(axis=0)) + " |")
    emit("\n".join(lines) + "\n", args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
