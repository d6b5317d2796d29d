"""Backend hyper-parameters measured against the nearest reference on the theory table's CV.

The bundled models use each backend's ``defaults`` (``larch_motif/plugins/*_backend.py``; LightGBM's
classifiers also its ``classifier_defaults``),
set once by hand and never measured against alternatives. This script runs the repeated
grouped CV of ``benchmarks/accuracy.py`` (5-fold by mineral, augmented training rows,
unaugmented test spectra, each element on its default grid) with named parameter sets laid
over one backend's defaults, beside the nearest reference on the same folds.

To keep the choice honest, the default fold assignments are seeds 100, 101, ... (``--seed0``):
the theory table reports seeds 0-19, so a set chosen here is checked there on assignments it
was not chosen on.

Prints per element and target the mean accuracy of each set (balanced accuracy in brackets)
and the nearest reference's, and per set the number of element-target cells ahead of the
nearest reference and the summed accuracy.

    .venv/bin/python benchmarks/hyperparameters.py [--backend lightgbm] [--elements V Co]
        [--sets default trees600 ...] [--targets cn motif] [--repeats 3] [--seed0 100]
        [--derivative] [--write docs/validation/hyperparameters.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
from validation_page import element_sites, emit, provenance

from larch_motif.baselines import NearestReferenceBaseline
from larch_motif.spectra import preprocessing_for
from larch_motif.training import (
    cross_validate,
    shape_components_for,
    site_features,
    training_set,
)

#: Parameter sets laid over the backend's defaults (keys are the backend's own names).
SETS: dict[str, dict] = {
    "default": {},
    # the LightGBM classifiers before the shape features ("shape_components": MotifClassifier's, not the backend's)
    "before": {"extra_trees": False, "n_estimators": 300, "shape_components": 0},
    "no_shape": {"shape_components": 0},
    "trees600": {"n_estimators": 600},
    "lr0.1": {"learning_rate": 0.1},
    "col0.2": {"colsample_bytree": 0.2},
    "col0.8": {"colsample_bytree": 0.8},
    "leaves31": {"num_leaves": 31},
    "leaves7": {"num_leaves": 7, "n_estimators": 600},
    "extra600": {"extra_trees": True, "n_estimators": 600},
    "child10_l2": {"min_child_samples": 10, "reg_lambda": 1.0},
    "depth6": {"max_depth": 6},
    "depth3": {"max_depth": 3, "n_estimators": 600},
    "rf_leaf2": {"min_samples_leaf": 2},
    "rf_feat0.3": {"max_features": 0.3},
    "rf_500": {"n_estimators": 500},
}


def parameter_set(name: str) -> tuple[dict, int | None]:
    """The backend parameters of set ``name`` and its number of shape features
    (``MotifClassifier``'s, not the backend's; ``None``: the backend's default)."""
    params = dict(SETS[name])
    return params, params.pop("shape_components", None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="lightgbm")
    parser.add_argument("--elements", nargs="*", default=None, help="default: all bundled")
    parser.add_argument("--sets", nargs="*", default=["default", "trees600", "lr0.1", "col0.2", "leaves31"],
                        choices=list(SETS))
    parser.add_argument("--targets", nargs="*", default=["cn", "motif"], choices=("cn", "motif"))
    parser.add_argument("--repeats", type=int, default=3, help="shuffled fold assignments")
    parser.add_argument("--seed0", type=int, default=100, help="first fold seed (the theory table uses 0-19)")
    parser.add_argument("--derivative", action="store_true", help="features: the grid with d(norm)/dE appended")
    parser.add_argument("--shape-components", type=int, default=None,
                        help="whole-spectrum shape features (MotifClassifier.shape_components; 0: the grid "
                             "alone) where a set does not say; default: the backend's (training.shape_components_for)")
    parser.add_argument("--write", type=Path, default=None, help="also write the validation page there")
    args = parser.parse_args()
    seeds = range(args.seed0, args.seed0 + args.repeats)
    elements, data = element_sites(args.elements)
    scores: dict = {}
    for el in elements:
        t0 = time.perf_counter()
        sites, augmentation = data[el]
        prep = preprocessing_for(el)
        if args.derivative:
            prep = dataclasses.replace(prep, derivative=True)
        computed = site_features(sites, prep, augmentation)
        for target in args.targets:
            ts = training_set(sites, target, prep, augmentation, computed)
            cell = scores.setdefault((el, target), {})
            for seed in seeds:
                res = cross_validate(ts, "nearest", estimator=NearestReferenceBaseline(), fold_seed=seed)
                cell.setdefault("nearest reference", []).append((res["accuracy"], res["balanced_accuracy"]))
                for name in args.sets:
                    params, shape = parameter_set(name)
                    res = cross_validate(ts, args.backend, backend_params=params, fold_seed=seed,
                                         shape_components=args.shape_components if shape is None else shape)
                    cell.setdefault(name, []).append((res["accuracy"], res["balanced_accuracy"]))
        print(f"{el}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    means = {c: {n: np.mean(v, axis=0) for n, v in by.items()} for c, by in scores.items()}
    lines = ["| element | target | nearest reference | " + " | ".join(args.sets) + " |",
             "|---|---|---|" + "---|" * len(args.sets)]
    for (el, target), by in means.items():
        nn = by["nearest reference"]
        lines.append(f"| {el} | {target} | {nn[0]:.3f} ({nn[1]:.2f}) | " + " | ".join(
            f"{by[s][0]:.3f} ({by[s][1]:.2f})" for s in args.sets) + " |")
    summary = [f"| set | parameters | summed accuracy, {len(means)} cells | cells ahead of the nearest reference "
               "| cells more than 0.01 below default |", "|---|---|---|---|---|"]
    for s in args.sets:
        acc = [by[s][0] for by in means.values()]
        ahead = sum(by[s][0] > by["nearest reference"][0] + 1e-9 for by in means.values())
        worse = sum(by[s][0] < by["default"][0] - 0.01 for by in means.values()) if "default" in args.sets else "-"
        summary.append(f"| {s} | `{SETS[s] or 'defaults'}` | {sum(acc):.3f} | {ahead} of {len(acc)} | {worse} |")
    n_shape = shape_components_for(args.backend) if args.shape_components is None else args.shape_components
    legend = (f"{args.backend}{' on the grid with d(norm)/dE appended' if args.derivative else ''}, "
              f"{n_shape} shape components unless a set says; "
              f"means over {args.repeats} assignments of minerals to folds (seeds {seeds[0]}-{seeds[-1]}): "
              "accuracy (balanced accuracy)")
    if args.write is None:
        print("\n".join(lines) + f"\n\n{legend}\n\n" + "\n".join(summary))
        return 0
    emit("\n".join(["# Backend hyper-parameters against the nearest reference", "",
                     provenance() + ". The repeated grouped CV of the theory table (5-fold by mineral, augmented "
                     "training rows, unaugmented test spectra, each element on its default grid), each parameter "
                     "set laid over the backend's defaults; fold seeds outside the theory table's 0-19.",
                     "", f"Cells: {legend}.", "", *lines, "", *summary, ""]), args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
