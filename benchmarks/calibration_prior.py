"""The confidence calibration with and without pseudo-answers at the model's own probability.

``training.fit_confidence_calibration`` maps a model's top-class probability to the held-out
chance that the answer is right (isotonic regression on grouped-CV answers). Where a model is
nearly always sure, the few held-out answers below its usual probability decide the map there
alone: two wrong answers at p 0.98 gave xgboost's Cr CN model a confidence of 0.00 for every
answer below 0.986 (measured CrO2, right at p 0.92, included). ``CALIBRATION_PRIOR_WEIGHT``
adds that many answers' worth of pseudo-answers, spread over the probabilities, each right with
the chance it states.

For each element, backend and target: the held-out answers of one grouped 5-fold CV by mineral
(as training makes them, augmented training rows, unaugmented held-out spectra); the
calibration fitted on four fifths of the minerals' answers and applied to the last fifth (so the
calibration is scored out of sample), for each prior weight. Cells: expected calibration error
(10 bins), wrong answers at confidence >= 0.9, and right answers at p_max >= 0.8 given a
confidence below 0.5 (a sure, right model told the user it is likely wrong).

    .venv/bin/python benchmarks/calibration_prior.py [--elements Cr Fe] [--backends rf xgboost lightgbm]
        [--weights 0 10] [--write docs/validation/calibration_prior.md]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from calibration import ece, held_out_groups, out_of_sample_confidence
from validation_page import emit, provenance

from larch_motif.database import open_database
from larch_motif.spectra import preprocessing_for
from larch_motif.training import (
    CALIBRATION_PRIOR_WEIGHT,
    augmentation_for,
    cross_validate,
    select_sites,
    training_set,
)

TARGETS = ("cn", "motif", "metallic")


def scores(p_max: np.ndarray, correct: np.ndarray, groups: np.ndarray, weight: float) -> dict:
    """Out-of-sample calibration scores of one prior weight."""
    conf = out_of_sample_confidence(p_max, correct, groups, weight)
    return {"ece": round(ece(conf, correct), 4),
            "wrong_at_0.9": int(((conf >= 0.9) & ~correct).sum()),
            "sure_right_below_0.5": int(((p_max >= 0.8) & correct & (conf < 0.5)).sum())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--elements", nargs="*", default=None, help="default: all bundled")
    parser.add_argument("--backends", nargs="*", default=["rf", "xgboost", "lightgbm"])
    parser.add_argument("--weights", nargs="*", type=float, default=[0.0, CALIBRATION_PRIOR_WEIGHT])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--write", type=Path, default=None, help="also write the validation page there")
    args = parser.parse_args(argv)
    rows = []
    with open_database(None) as db:
        elements = args.elements or [el for el, _ in db.elements()]
        for element in elements:
            t0 = time.time()
            all_sites = db.site_spectra(element)
            calculation = db.calculation(element, "K")
            for target in TARGETS:
                augmentation = augmentation_for(calculation, target)
                prep = preprocessing_for(element, target=target)  # Cu's metallic detector: its own grid
                domain = "anion+metallic" if target == "metallic" else "anion"
                ts = training_set(select_sites(all_sites, domain), target, prep, augmentation)
                for backend in args.backends:
                    res = cross_validate(ts, backend, 5, return_predictions=True)
                    pred = res["predictions"]
                    p_max = np.array(pred["probability"], float)
                    correct = np.array(pred["true"]) == np.array(pred["predicted"])
                    groups = held_out_groups(ts, pred)
                    rows.append({"element": element, "target": target, "backend": backend, "n": int(p_max.size),
                                 **{f"{w:g}": scores(p_max, correct, groups, w) for w in args.weights}})
            print(f"{element}: {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    emit(render(rows, args), args.write, json.dumps(rows, indent=1) if args.json else None)
    return 0


def render(rows: list[dict], args: argparse.Namespace) -> str:
    weights = [f"{w:g}" for w in args.weights]
    lines = ["# Confidence calibration: pseudo-answers at the model's own probability", "",
             f"{provenance()}. Held-out answers of one grouped 5-fold CV by mineral per element, "
             "target and backend; the isotonic confidence fitted on four fifths of the minerals' "
             "answers, applied to the last fifth, for each prior weight (answers' worth of "
             "pseudo-answers; 0 is the calibration before 2026-12-06). Cells: ECE (10 bins) / wrong "
             "answers at confidence >= 0.9 / right answers at p_max >= 0.8 given confidence < 0.5.", "",
             "| element | target | backend | answers | " + " | ".join(f"prior {w}" for w in weights) + " |",
             "|---|---|---|---|" + "---|" * len(weights)]
    for r in rows:
        cells = [f"{r[w]['ece']:.3f} / {r[w]['wrong_at_0.9']} / {r[w]['sure_right_below_0.5']}" for w in weights]
        lines.append(f"| {r['element']} | {r['target']} | {r['backend']} | {r['n']} | " + " | ".join(cells) + " |")
    lines += ["", "| prior | mean ECE | wrong at >= 0.9 | sure right answers below 0.5 |", "|---|---|---|---|"]
    for w in weights:
        lines.append(f"| {w} | {np.mean([r[w]['ece'] for r in rows]):.4f} | "
                     f"{sum(r[w]['wrong_at_0.9'] for r in rows)} | {sum(r[w]['sure_right_below_0.5'] for r in rows)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
