"""Site-averaged CN from the regressor, from the CN classifier's probabilities, or from both.

``cn_site_average`` comes from a regressor of the compound spectra (``training.train_cn_mean``).
Its training set holds few compounds of mixed CN (Mn 6, Zn 9, Fe 27, Cu 58 of 140-408), and it
answers a mixed compound near its majority sites' CN. The CN classifier, trained on every site
spectrum, gives a second estimate: the expected CN under its class probabilities,
E[CN] = sum_k p_k CN_k, which a compound spectrum whose features lie between two classes'
spreads between them. This scores, per element, the regressor, E[CN] and their blends
(1 - w) regressor + w E[CN] on the compound spectra of held-out minerals: grouped 5-fold CV by
mineral, one assignment of minerals to folds shared by the classifier (site spectra, derived
sites in their parent's fold, as ``training.train`` trains it) and the regressor (compound
spectra, as ``train_cn_mean``); each fold trains both on the other folds' minerals only.
E[CN] uses the classifier's untempered probabilities. Scores: mean absolute error (CN units)
over every compound and over the compounds of mixed CN, and the share within 0.5. Then the
shipped default models answer the measured mixed compounds (``kind`` mixed in the
``labels.json`` of ``measured.DEFAULT_DATA``): ``cn_site_average`` and E[CN] of the CN
probabilities ``predict`` shows.

    .venv/bin/python benchmarks/site_average_blend.py [--elements Fe Mn] [--backend lightgbm]
        [--fold-seeds 0 1 2] [--write docs/validation/site_average_blend.md]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from augmentation import measured_files
from measured import DEFAULT_DATA
from validation_page import Checkpoint, emit, provenance

from larch_motif.database import open_database
from larch_motif.labels import cv_group
from larch_motif.models import MotifClassifier, SiteAverageRegressor
from larch_motif.prediction import predict
from larch_motif.spectra import preprocessing_for
from larch_motif.training import (
    DEFAULT_BACKEND,
    augmentation_for,
    derived_pool,
    mixed_cn,
    select_compounds,
    select_sites,
    shape_components_for,
    site_features,
    training_set_with_derived,
)

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def fold_of(groups: list[str], cv: int, seed: int) -> dict[str, int]:
    """A fold for every mineral: the sorted minerals shuffled with ``seed``, dealt in turn."""
    unique = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(unique))
    return {unique[i]: k % cv for k, i in enumerate(order)}


def element_piece(element: str, backend: str, cv: int, seed: int) -> dict:
    """Held-out truth, regressor answer and E[CN] of every compound of ``element`` (one fold
    assignment)."""
    prep_cn, prep_mean = preprocessing_for(element, target="cn"), preprocessing_for(element, target="cn_mean")
    with open_database(None) as store:
        all_sites = store.site_spectra(element, "K")
        sites = select_sites(all_sites)
        compounds = select_compounds(store.compound_spectra(element, "K"), all_sites)
        calculation = store.calculation(element, "K")
    aug_cn, aug_mean = augmentation_for(calculation, "cn"), augmentation_for(calculation, "cn_mean")
    derived, _ = derived_pool(element, "cn")
    ts = training_set_with_derived(sites, "cn", prep_cn, aug_cn, derived)
    sf = site_features(compounds, prep_mean, aug_mean)
    y_mean = np.array([compounds[k]["cn_mean"] for k in sf.site_index], float)
    mean_groups = np.array([cv_group(compounds[k]) for k in sf.site_index])
    X_compounds_cn = site_features(compounds, prep_cn, None).X
    X_compounds_mean = sf.X[~sf.augmented]  # one row per compound, in order
    truth = np.array([c["cn_mean"] for c in compounds], float)
    compound_groups = np.array([cv_group(c) for c in compounds])
    folds = fold_of([*ts.groups.tolist(), *mean_groups.tolist()], cv, seed)
    site_fold = np.array([folds[g] for g in ts.groups])
    mean_fold = np.array([folds[g] for g in mean_groups])
    compound_fold = np.array([folds[g] for g in compound_groups])
    regressor, expected = np.full(len(compounds), np.nan), np.full(len(compounds), np.nan)
    for k in range(cv):
        test = compound_fold == k
        if not test.any():
            continue
        train = site_fold != k
        clf = MotifClassifier(backend, random_state=0, shape_components=shape_components_for(backend)).fit(
            ts.X[train], ts.y[train], sample_weight=None if ts.weights is None else ts.weights[train],
            shape_rows=~ts.augmented[train])
        proba = clf.predict_proba(X_compounds_cn[test])
        expected[test] = proba @ np.array([float(c) for c in clf.classes_])
        reg = SiteAverageRegressor(backend, random_state=0).fit(sf.X[mean_fold != k], y_mean[mean_fold != k])
        regressor[test] = reg.predict(X_compounds_mean[test])
    return {"truth": truth.tolist(), "regressor": regressor.tolist(), "expected": expected.tolist()}


def scores(piece: dict, w: float) -> dict:
    """MAE over every compound and over the mixed ones, share within 0.5, for blend weight ``w``."""
    truth = np.array(piece["truth"])
    answer = (1 - w) * np.array(piece["regressor"]) + w * np.array(piece["expected"])
    error = np.abs(answer - truth)
    mixed = mixed_cn(truth)
    return {"mae": float(error.mean()), "mae_mixed": float(error[mixed].mean()) if mixed.any() else None,
            "within": float((error <= 0.5).mean()),
            "within_mixed": float((error[mixed] <= 0.5).mean()) if mixed.any() else None,
            "n": int(truth.size), "n_mixed": int(mixed.sum())}


def measured_mixed(elements: list[str], backend: str) -> list[str]:
    """Page lines: the measured mixed compounds answered by the shipped default models of
    ``backend``, the regressor's site average, E[CN] and their mean against the truth."""
    rows = []
    for el in elements:
        for path, lab in measured_files(el, list(DEFAULT_DATA)):
            if lab["kind"] != "mixed" or not path.exists():
                continue
            res = predict(path, element=el, backend=backend, normalized=bool(lab.get("normalized")))[0].to_dict()
            if res.get("metallic"):
                rows.append(f"| {path.name} | {el} | {lab['cn_site_average']:.2f} | metallic | - | - | - |")
                continue
            expected = sum(float(c) * p for c, p in res["cn_probabilities"].items())
            truth, regressor = lab["cn_site_average"], res["cn_site_average"]
            cells = [f"{v:.2f}" + (" **x**" if abs(v - truth) > 0.5 else "")
                     for v in (regressor, (regressor + expected) / 2, expected)]
            rows.append(f"| {path.name} | {el} | {truth:.2f} | {res['cn']} | " + " | ".join(cells) + " |")
    if not rows:
        return ["", "No measured mixed compound was found (`../shared/data`)."]
    return ["", f"The measured mixed compounds, shipped {backend} models, E[CN] of the tempered CN probabilities "
            "`predict` shows (**x**: more than 0.5 from the truth):", "",
            "| file | element | truth | CN answer | regressor (w 0) | w 0.5 | E[CN] (w 1) |", "|---|---|---|---|---|---|---|",
            *rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", nargs="*", default=None, help="default: all bundled")
    parser.add_argument("--backend", default=DEFAULT_BACKEND)
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--fold-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--write", type=Path, default=None, help="also write the validation page there")
    args = parser.parse_args()
    with open_database(None) as store:
        elements = args.elements or [el for el, edge in store.elements() if edge == "K"]
    checkpoint = Checkpoint(Path(__file__).name, {"backend": args.backend, "cv": args.cv})
    pieces: dict[str, list[dict]] = {}
    for el in elements:
        for seed in args.fold_seeds:
            name = f"{el}_{seed}"
            piece = checkpoint.get(name)
            if piece is None:
                piece = element_piece(el, args.backend, args.cv, seed)
                checkpoint.put(name, piece)
            pieces.setdefault(el, []).append(piece)
            print(f"{el} seed {seed} done", file=sys.stderr, flush=True)
    lines = ["# Site-averaged CN: the regressor, the CN classifier's expected CN, and blends", "",
             provenance() + f". Backend {args.backend}; grouped {args.cv}-fold CV by mineral, the folds shared by "
             "the CN classifier (site spectra) and the site-average regressor (compound spectra), means over "
             f"fold assignments {', '.join(map(str, args.fold_seeds))}. w: the weight of E[CN] (the CN classifier's "
             "expected CN under its untempered class probabilities) in (1 - w) regressor + w E[CN]; w = 0 is the shipped "
             "regressor. Cells: mean absolute error (CN units) over every compound / over the compounds of mixed "
             "CN, and the share of the mixed within 0.5.", "",
             "| element | compounds (mixed) | " + " | ".join(f"w {w:g}: MAE all / mixed / mixed within 0.5" for w in WEIGHTS) + " |",
             "|---|---|" + "---|" * len(WEIGHTS)]
    totals = {w: [] for w in WEIGHTS}
    for el, ps in pieces.items():
        cells = []
        for w in WEIGHTS:
            s = [scores(p, w) for p in ps]
            totals[w].extend(s)
            mae = np.mean([x["mae"] for x in s])
            if s[0]["n_mixed"]:
                cells.append(f"{mae:.3f} / {np.mean([x['mae_mixed'] for x in s]):.2f} / "
                             f"{100 * np.mean([x['within_mixed'] for x in s]):.0f} %")
            else:
                cells.append(f"{mae:.3f} / - / -")
        lines.append(f"| {el} | {len(ps[0]['truth'])} ({scores(ps[0], 0)['n_mixed']}) | " + " | ".join(cells) + " |")
    cells = []
    for w in WEIGHTS:
        s = totals[w]
        mixed = [x for x in s if x["n_mixed"]]
        cells.append(f"{np.mean([x['mae'] for x in s]):.3f} / {np.mean([x['mae_mixed'] for x in mixed]):.2f} / "
                     f"{100 * np.mean([x['within_mixed'] for x in mixed]):.0f} %")
    lines.append("| mean of elements | | " + " | ".join(cells) + " |")
    lines += measured_mixed(elements, args.backend)
    emit("\n".join(lines) + "\n", args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
