"""Training levers measured against the nearest-reference baseline: class weighting,
reference-similarity features and a principal-component representation.

Where the nearest reference (the class of the most similar database spectrum) beats the trees
on theory, it is by a few sites of rare classes (Ni CN 4 and 2, Zn CN 5) or of minerals with a
near-identical relative in the database. Two changes could move that, and this script measures
them on the same repeated grouped CV as ``benchmarks/accuracy.py`` (5-fold by mineral, the
same shuffled assignments of minerals to folds, augmented training rows, scores on the
unaugmented site spectra, each element on its default grid):

- ``balanced`` (the default models): classes weighted by n_max / n_class (scikit-learn's
  ``class_weight='balanced'``), which trades sites of the large class for the rare ones.
- ``sqrt``: weights (n_max / n_class) ** 0.5, normalized to a mean of 1: half the trade.
- ``similarity``: ``balanced``, with one feature per class appended to the grid: the cosine
  similarity of the spectrum to the most similar training spectrum of that class, as
  -ln(1 - cos). A training row is compared only with training spectra of *other* minerals,
  as a held-out spectrum is; so the trees learn how far to trust a close match. Such
  features take part of the explanation off the energy axis, so they would need a reason
  beyond a site or two to be adopted.
- ``similarity_sqrt``: both.
- ``pca``: ``balanced``, on the scores of the first ``PCA_COMPONENTS`` principal components of
  the fold's unaugmented training spectra in place of the grid. A rotation that lets a split
  follow a whole-spectrum shape, as the nearest reference's cosine does; each score is a
  linear sum over the energy grid, so an explanation could be carried back onto the energy
  axis, but only approximately.
- ``grid_pca``: ``balanced``, on the grid with those ``PCA_COMPONENTS`` scores appended: the
  explanation keeps its energy-axis features beside the whole-spectrum shapes.
- ``derivative``: ``balanced``, on the grid with d(norm)/dE on the same grid appended
  (``Preprocessing.derivative``, as the short-scan window models have it); the nearest
  reference stays on the default features.

Prints, per element, target and backend, the mean accuracy over the repeats of each variant
(balanced accuracy in brackets) and the nearest reference's, and the sum over the 10
element-target cells per backend and variant.

    .venv/bin/python benchmarks/training_levers.py [--elements Fe Ni] [--repeats 5]
        [--variants balanced sqrt similarity similarity_sqrt pca grid_pca derivative] [--json] [--write docs/validation/training_levers.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
from hyperparameters import SETS, parameter_set
from sklearn.metrics import balanced_accuracy_score
from validation_page import element_sites, emit, provenance

from larch_motif.baselines import NearestReferenceBaseline
from larch_motif.models import MotifClassifier
from larch_motif.spectra import preprocessing_for
from larch_motif.training import (
    cross_validate,
    grouped_folds,
    site_features,
    training_set,
)

BACKENDS = ("rf", "xgboost", "lightgbm")
VARIANTS = ("balanced", "sqrt", "similarity", "similarity_sqrt", "pca", "grid_pca", "derivative")
PCA_COMPONENTS = 20


def similarity_features(X: np.ndarray, groups: np.ndarray, X_ref: np.ndarray, y_ref: np.ndarray,
                        groups_ref: np.ndarray, classes: list[str]) -> np.ndarray:
    """-ln(1 - cos) of each spectrum to the most similar reference of each class, references
    of the spectrum's own mineral left out (-ln 2, i.e. cos -1, where a class has none)."""
    q = X / np.linalg.norm(X, axis=1, keepdims=True)
    r = X_ref / np.linalg.norm(X_ref, axis=1, keepdims=True)
    cos = q @ r.T
    cos[groups[:, None] == groups_ref[None, :]] = -1.0
    best = np.full((len(X), len(classes)), -1.0)
    for j, c in enumerate(classes):
        mine = y_ref == c
        if mine.any():
            best[:, j] = cos[:, mine].max(axis=1)
    return -np.log(np.clip(1.0 - best, 1e-9, None))


def principal_scores(X_ref: np.ndarray, *Xs: np.ndarray, k: int = PCA_COMPONENTS) -> list[np.ndarray]:
    """Scores of each of ``Xs`` on the first ``k`` principal components of ``X_ref`` (centred on
    its mean)."""
    mean = X_ref.mean(axis=0)
    _, _, vt = np.linalg.svd(X_ref - mean, full_matrices=False)
    return [(X - mean) @ vt[:k].T for X in Xs]


def fit_predict(variant: str, backend: str, ts, train: np.ndarray, test: np.ndarray,
                params: dict | None = None) -> np.ndarray:
    """Fit ``backend`` with ``variant`` on the rows ``train`` of ``ts``; the answers for ``test``."""
    X_train, X_test = ts.X[train], ts.X[test]
    ref = train[~ts.augmented[train]]  # the fold's unaugmented training spectra
    if variant.startswith("similarity"):
        classes = sorted(np.unique(ts.y[train]))
        args = (ts.X[ref], ts.y[ref], ts.groups[ref], classes)
        X_train = np.hstack([X_train, similarity_features(ts.X[train], ts.groups[train], *args)])
        X_test = np.hstack([X_test, similarity_features(ts.X[test], ts.groups[test], *args)])
    if variant == "pca":
        X_train, X_test = principal_scores(ts.X[ref], X_train, X_test)
    if variant == "grid_pca":
        P_train, P_test = principal_scores(ts.X[ref], X_train, X_test)
        X_train, X_test = np.hstack([X_train, P_train]), np.hstack([X_test, P_test])
    if variant.endswith("sqrt"):
        _, codes, counts = np.unique(ts.y[train], return_inverse=True, return_counts=True)
        w = np.sqrt(counts.max() / counts)[codes]
        clf = MotifClassifier(backend, params, class_weight=None).fit(X_train, ts.y[train], sample_weight=w / w.mean())
    else:
        clf = MotifClassifier(backend, params).fit(X_train, ts.y[train])
    return clf.predict(X_test)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", nargs="*", default=None, help="default: all bundled")
    parser.add_argument("--repeats", type=int, default=5, help="shuffled fold assignments (seeds 0..N-1)")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--backends", nargs="*", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--params", default="default", choices=list(SETS),
                        help="hyper-parameter set of benchmarks/hyperparameters.py laid over each backend's defaults")
    parser.add_argument("--seed0", type=int, default=0, help="first fold seed")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--write", type=Path, default=None, help="also write the validation page there")
    args = parser.parse_args()
    params, shape = parameter_set(args.params)
    seeds = range(args.seed0, args.seed0 + args.repeats)
    elements, data = element_sites(args.elements)
    scores: dict = {}
    for el in elements:
        t0 = time.perf_counter()
        sites, augmentation = data[el]
        prep = preprocessing_for(el)
        computed = site_features(sites, prep, augmentation)
        prep_d = dataclasses.replace(prep, derivative=True)
        computed_d = site_features(sites, prep_d, augmentation) if "derivative" in args.variants else None
        for target in ("cn", "motif"):
            ts = training_set(sites, target, prep, augmentation, computed)
            ts_d = None if computed_d is None else training_set(sites, target, prep_d, augmentation, computed_d)
            cell = scores.setdefault(f"{el} {target}", {})
            for seed in seeds:
                # the default weighting and the nearest reference: the library's own grouped CV
                library = {"nearest reference": cross_validate(ts, "nearest", estimator=NearestReferenceBaseline(),
                                                              fold_seed=seed)}
                library.update({f"{b} balanced": cross_validate(ts, b, fold_seed=seed, backend_params=params,
                                                                 shape_components=shape)
                               for b in args.backends if "balanced" in args.variants})
                library.update({f"{b} derivative": cross_validate(ts_d, b, fold_seed=seed, backend_params=params,
                                                                   shape_components=shape)
                               for b in args.backends if ts_d is not None})
                for name, res in library.items():
                    cell.setdefault(name, []).append((res["accuracy"], res["balanced_accuracy"]))
                folds = grouped_folds(ts.groups, ts.augmented, fold_seed=seed)  # the same folds
                truth = np.concatenate([ts.y[te] for _, te in folds])
                for backend in args.backends:
                    for v in args.variants:
                        if v not in ("balanced", "derivative"):
                            pred = np.concatenate([fit_predict(v, backend, ts, tr, te, params) for tr, te in folds])
                            cell.setdefault(f"{backend} {v}", []).append(
                                (float(np.mean(pred == truth)), float(balanced_accuracy_score(truth, pred))))
        print(f"{el}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(scores, indent=1))
        return 0
    means = {c: {n: np.mean(v, axis=0) for n, v in by.items()} for c, by in scores.items()}
    lines = ["| element | target | backend | nearest reference | " + " | ".join(args.variants) + " |",
             "|---|---|---|---|" + "---|" * len(args.variants)]
    for c, by in means.items():
        el, target = c.split()
        nn = by["nearest reference"]
        for backend in args.backends:
            lines.append(f"| {el} | {target} | {backend} | {nn[0]:.3f} ({nn[1]:.2f}) | " + " | ".join(
                f"{by[f'{backend} {v}'][0]:.3f} ({by[f'{backend} {v}'][1]:.2f})" for v in args.variants) + " |")
    summary = [f"| backend | variant | summed accuracy, {len(means)} cells | cells ahead of the nearest reference |",
               "|---|---|---|---|"]
    for backend in args.backends:
        for v in args.variants:
            acc = [by[f"{backend} {v}"][0] for by in means.values()]
            ahead = sum(by[f"{backend} {v}"][0] > by["nearest reference"][0] + 1e-9 for by in means.values())
            summary.append(f"| {backend} | {v} | {sum(acc):.3f} | {ahead} of {len(acc)} |")
    legend = (f"means over {args.repeats} assignments of minerals to folds (seeds {seeds[0]}-{seeds[-1]}): "
              "accuracy (balanced accuracy)"
              + ("" if args.params == "default" else f"; backend parameters {params} over the defaults"))
    if args.write is None:
        print("\n".join(lines) + f"\n\n{legend}\n\n" + "\n".join(summary))
        return 0
    emit("\n".join(["# Training levers against the nearest reference", "",
                     provenance() + ". The repeated grouped CV of the theory table (5-fold by mineral, augmented "
                     "training rows, unaugmented test spectra, each element on its default grid), with the "
                     "training changed: `balanced` (the default models: class weights n_max / n_class), `sqrt` "
                     "(weights (n_max / n_class)^1/2), `similarity` (one feature per class appended: the cosine "
                     "similarity to the most similar training spectrum of that class, a training row compared "
                     "only with other minerals), `similarity_sqrt` (both), `pca` (the first "
                     f"{PCA_COMPONENTS} principal components of the fold's training spectra in place of the grid), `grid_pca` (the grid with those "
                     "scores appended), `derivative` (the grid with d(norm)/dE appended; the nearest reference on the grid alone).",
                     "", f"Cells: {legend}.", "", *lines, "", *summary, ""]), args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
