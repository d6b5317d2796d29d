"""Calibration of the confidence: reliability diagram and expected calibration error (ECE).

Held-out predictions come from grouped 5-fold CV by mineral (as in training); the isotonic
calibration of ``training.fit_confidence_calibration`` is itself scored out of sample: fitted on
the held-out predictions of four fifths of the minerals, applied to the last fifth. Writes a
reliability diagram (PNG) and prints ECE before and after, the ECE of the top class of the
tempered class probabilities (``fit_temperature``, scored out of sample the same way), and
the share of answers kept and their accuracy when abstaining below a confidence.

``--tempering`` instead prints, for every bundled element, target and backend, the held-out
log loss and Brier score of the class probabilities before and after temperature scaling
(each fold tempered by the temperature fitted on the other folds, as ``cross_validate`` does)
and the temperature a trained model stores.

    .venv/bin/python benchmarks/calibration.py [--element Fe] [--backend lightgbm] [--plot calibration.png]
    .venv/bin/python benchmarks/calibration.py --tempering [--elements Fe Mn]

``--write PAGE`` writes either as a validation page (the reliability diagram beside it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.model_selection import GroupKFold
from validation_page import emit, provenance

from larch_motif.database import open_database
from larch_motif.models import temper
from larch_motif.spectra import preprocessing_for
from larch_motif.training import (
    CALIBRATION_PRIOR_WEIGHT,
    DEFAULT_BACKEND,
    augmentation_for,
    cross_validate,
    fit_confidence_calibration,
    fit_temperature,
    select_sites,
    training_set,
)


def held_out_groups(ts, predictions: dict) -> np.ndarray:
    """The CV group (mineral) of each held-out answer of ``cross_validate``'s ``predictions``."""
    group_of = dict(zip(ts.site_ids, ts.groups))
    return np.array([group_of[s] for s in predictions["site_id"]])


def out_of_sample_confidence(p_max: np.ndarray, correct: np.ndarray, groups: np.ndarray,
                             prior_weight: float = CALIBRATION_PRIOR_WEIGHT) -> np.ndarray:
    """The calibrated confidence of each held-out answer, the calibration fitted on the answers
    of the other four fifths of the groups (``GroupKFold(5)``)."""
    conf = np.empty_like(p_max, dtype=float)
    for fit, apply in GroupKFold(5).split(p_max, correct, groups):
        cal = fit_confidence_calibration(p_max[fit], correct[fit], prior_weight=prior_weight)
        conf[apply] = np.interp(p_max[apply], cal["p_max"], cal["accuracy"])
    return conf


def ece(conf: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: bin-weighted |accuracy - mean confidence| (0 is perfect)."""
    edges = np.linspace(0, 1, bins + 1)
    k = np.clip(np.digitize(conf, edges) - 1, 0, bins - 1)
    return float(sum(abs(correct[k == b].mean() - conf[k == b].mean()) * (k == b).mean()
                     for b in range(bins) if (k == b).any()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--element", default="Fe")
    parser.add_argument("--backend", default=DEFAULT_BACKEND)
    parser.add_argument("--plot", default=None, help="default: calibration.png, or beside the page")
    parser.add_argument("--tempering", action="store_true")
    parser.add_argument("--elements", nargs="*", default=None, help="with --tempering; default: all bundled")
    parser.add_argument("--write", type=Path, default=None, help="also write the validation page there")
    args = parser.parse_args()
    if args.tempering:
        return tempering_table(args.write, args.elements)
    if args.plot is None:
        args.plot = str(args.write.with_suffix(".png")) if args.write else "calibration.png"
    with open_database(None) as store:
        sites = select_sites(store.site_spectra(args.element))
        augmentation = augmentation_for(store.calculation(args.element))
    out = {}
    curves = {}
    for target in ("cn", "motif"):
        ts = training_set(sites, target, preprocessing_for(args.element), augmentation)
        res = cross_validate(ts, args.backend, 5, return_predictions=True)["predictions"]
        p_max = np.array(res["probability"])
        correct = (np.array(res["true"]) == np.array(res["predicted"])).astype(float)
        groups = held_out_groups(ts, res)
        proba, truth = np.array(res["probabilities"]), np.array(res["true"])
        calibrated = out_of_sample_confidence(p_max, correct, groups)
        tempered = np.empty_like(p_max)
        for fit, apply in GroupKFold(5).split(p_max, correct, groups):
            tempered[apply] = temper(proba[apply], fit_temperature(proba[fit], res["labels"], truth[fit])).max(axis=1)
        abstain = {}
        for level in (0.6, 0.8, 0.9):
            kept = calibrated >= level
            abstain[str(level)] = {"kept": round(float(kept.mean()), 3),
                                   "accuracy_kept": round(float(correct[kept].mean()), 3) if kept.any() else None}
        out[target] = {"n": int(p_max.size), "accuracy": round(float(correct.mean()), 3),
                       "ece_raw": round(ece(p_max, correct), 3), "ece_calibrated": round(ece(calibrated, correct), 3),
                       "ece_tempered_top_class": round(ece(tempered, correct), 3),
                       "abstain_below": abstain}
        curves[target] = (p_max, calibrated, tempered, correct)
    _plot(curves, args.plot, f"{args.element} K, {args.backend}")
    if args.write is None:
        print(json.dumps(out, indent=1))
        return 0
    lines = [f"# Calibrated confidence and abstaining ({args.element} K, {args.backend})", "",
             provenance() + ". Held-out predictions of grouped 5-fold CV by mineral; the isotonic "
             "confidence (`cn_confidence`, `motif_confidence`) is itself scored out of sample: fitted on "
             "the held-out predictions of four fifths of the minerals, applied to the last fifth; the "
             "tempered top class (the largest of the tempered class probabilities) the same way.", "",
             "Cells: expected calibration error (ECE, 10 bins, 0 is perfect) of the model's own top "
             "probability, of the calibrated confidence and of the tempered top class; then, when answers "
             "below a confidence are withheld (`--min-confidence`), the share kept and their accuracy.", "",
             "| target | spectra | accuracy | ECE: model probability | calibrated | tempered top class | "
             "kept / accuracy at confidence >= 0.6 | >= 0.8 | >= 0.9 |", "|---|---|---|---|---|---|---|---|---|"]
    for target, r in out.items():
        kept = [f"{100 * a['kept']:.1f} % / {a['accuracy_kept']}" for a in r["abstain_below"].values()]
        lines.append(f"| {target} | {r['n']} | {r['accuracy']} | {r['ece_raw']} | {r['ece_calibrated']} | "
                     f"{r['ece_tempered_top_class']} | " + " | ".join(kept) + " |")
    lines += ["", "The reliability diagram (bins of at least 3 answers):", "",
              f"![reliability diagram]({Path(args.plot).name})", ""]
    emit("\n".join(lines), args.write, json.dumps(out, indent=1))
    return 0


def tempering_table(write: Path | None = None, elements: list[str] | None = None) -> int:
    """Print held-out log loss and Brier score, untempered -> tempered, per element, target, backend."""
    lines = ["| element | target | backend | log loss | tempered | Brier score | tempered | stored T |",
             "|---|---|---|---|---|---|---|---|"]
    if write is None:
        print("\n".join(lines), flush=True)
    with open_database(None) as store:
        elements = elements or [el for el, edge in store.elements() if edge == "K"]
        data = {el: (select_sites(store.site_spectra(el)), augmentation_for(store.calculation(el)))
                for el in elements}
    for el in elements:
        sites, augmentation = data[el]
        for target in ("cn", "motif"):
            ts = training_set(sites, target, preprocessing_for(el), augmentation)
            for backend in ("rf", "xgboost", "lightgbm"):
                r = cross_validate(ts, backend, 5)
                lines.append(f"| {el} | {target} | {backend} | {r['log_loss']:.3f} | {r['log_loss_calibrated']:.3f} "
                             f"| {r['brier']:.3f} | {r['brier_calibrated']:.3f} | {r['temperature']:.2f} |")
                if write is None:
                    print(lines[-1], flush=True)
    if write is not None:
        emit("\n".join(["# Calibrated class probabilities (temperature)", "",
                         provenance() + f". Elements {', '.join(elements)}: each target and backend on its default grid, "
                         "grouped 5-fold CV by mineral (one fold assignment, GroupKFold's). The class "
                         "probabilities an answer reports are tempered, p_i^(1/T) renormalized, with T "
                         "fitted on held-out minerals by the lowest log loss and stored in the model file; "
                         "the ranking of the classes, so the answer, never changes.", "",
                         "Cells: held-out log loss and Brier score of the model's own probabilities and "
                         "tempered out of sample (each fold by the T fitted on the other four), and the T "
                         "a model trained on every site stores (T < 1 sharpens, T > 1 softens).", "",
                         *lines, ""]), write)
    return 0


def _plot(curves: dict, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 4.2))
    edges = np.linspace(0, 1, 11)
    for ax, (target, (raw, cal, tempered, correct)) in zip(np.atleast_1d(axes), curves.items()):
        for conf, label, style in ((raw, "model probability", "o-"), (cal, "calibrated (out of sample)", "s-"),
                                   (tempered, "tempered top class (out of sample)", "^--")):
            k = np.clip(np.digitize(conf, edges) - 1, 0, 9)
            xs = [conf[k == b].mean() for b in range(10) if (k == b).sum() >= 3]
            ys = [correct[k == b].mean() for b in range(10) if (k == b).sum() >= 3]
            ax.plot(xs, ys, style, label=label)
        ax.plot([0, 1], [0, 1], "k:", lw=1)
        ax.set_xlabel("confidence of the top class")
        ax.set_ylabel("fraction right (held-out minerals)")
        ax.set_title(f"{title}: {target}", fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
