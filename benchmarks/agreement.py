"""Agreement of the CN and the motif answer on held-out theory: how often the motif's CN is not
the CN answer, and how often each answer is right when they agree and when they do not.

``predict`` caps both confidences at ``prediction.DISAGREEMENT_CONFIDENCE`` where the two models
disagree (finding ``cn_motif_disagree``): one of them is wrong. This measures what that rests on.
Same grouped CV as ``benchmarks/accuracy.py`` (5-fold by mineral, ``--repeats`` shuffled
assignments of minerals to folds from ``--seed0``, augmented training rows, scores on the
unaugmented site spectra, each element on its default grid, augmentation and derived rows), the
CN and the motif classifier each cross-validated on its own training set; a site counts where
both answered it (classes kept by both). Confidence: the isotonic map of ``training.train``
(``fit_confidence_calibration``) fitted on the repeat's held-out answers of that target. Per
element: the answers, those that disagree, the accuracy of each answer where they agree and
where they disagree, and the wrong and right answers at confidence >= 0.9 before and after the cap.

    .venv/bin/python benchmarks/agreement.py [--elements Cu Fe] [--repeats 3] [--seed0 0]
        [--backend lightgbm] [--write docs/validation/agreement.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from validation_page import element_sites, emit, provenance

from larch_motif.prediction import DISAGREEMENT_CONFIDENCE
from larch_motif.preedge import as_cn, motif_cn
from larch_motif.spectra import preprocessing_for
from larch_motif.training import (
    DEFAULT_BACKEND,
    TrainingSet,
    cross_validate,
    derived_pool,
    fit_confidence_calibration,
    site_features,
    training_set_with_derived,
)

FIELDS = ("answers", "disagree", "cn_right_agree", "cn_right_disagree", "motif_right_agree",
          "motif_right_disagree", "wrong_hi_before", "wrong_hi_after", "right_hi_before", "right_hi_after")


def held_out_answers(ts: TrainingSet, backend: str, seed: int) -> dict[str, tuple[str, str, float]]:
    """``{site_id: (true, answer, calibrated confidence)}`` of one grouped CV of the training set ``ts``."""
    pr = cross_validate(ts, backend, return_predictions=True, fold_seed=seed)["predictions"]
    right = np.array(pr["true"]) == np.array(pr["predicted"])
    cal = fit_confidence_calibration(np.array(pr["probability"]), right)
    conf = np.interp(pr["probability"], cal["p_max"], cal["accuracy"])
    return {sid: (t, p, float(c)) for sid, t, p, c in zip(pr["site_id"], pr["true"], pr["predicted"], conf)}


def count(cn: dict, motif: dict, high: float = 0.9) -> dict[str, int]:
    """The ``FIELDS`` counts over the sites both targets answered (``held_out_answers`` of each);
    a wrong or right answer "at confidence" counts CN and motif answers alike."""
    c = dict.fromkeys(FIELDS, 0)
    for sid in cn.keys() & motif.keys():
        (ct, cp, cc), (mt, mp, mc) = cn[sid], motif[sid]
        agree = motif_cn(mp) == as_cn(cp)
        c["answers"] += 1
        c["disagree"] += not agree
        c["cn_right_agree" if agree else "cn_right_disagree"] += ct == cp
        c["motif_right_agree" if agree else "motif_right_disagree"] += mt == mp
        for right, conf in ((ct == cp, cc), (mt == mp, mc)):
            capped = conf if agree else min(conf, DISAGREEMENT_CONFIDENCE)
            key = "right" if right else "wrong"
            c[f"{key}_hi_before"] += conf >= high
            c[f"{key}_hi_after"] += capped >= high
    return c


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", nargs="*", default=None, help="default: all bundled")
    parser.add_argument("--repeats", type=int, default=3, help="shuffled fold assignments")
    parser.add_argument("--seed0", type=int, default=0, help="first fold seed")
    parser.add_argument("--backend", default=DEFAULT_BACKEND)
    parser.add_argument("--write", type=Path, default=None, help="also write the validation page there")
    args = parser.parse_args()
    seeds = range(args.seed0, args.seed0 + args.repeats)
    elements, data = element_sites(args.elements)
    rows: dict[str, dict[str, int]] = {}
    for el in elements:
        t0 = time.perf_counter()
        sites, augmentation = data[el]
        prep = preprocessing_for(el)
        computed = site_features(sites, prep, augmentation)
        sets = {target: training_set_with_derived(sites, target, prep, augmentation, derived_pool(el, target)[0],
                                                  computed)
                for target in ("cn", "motif")}  # built once; each seed only re-assigns the folds
        total = dict.fromkeys(FIELDS, 0)
        for seed in seeds:
            answers = {target: held_out_answers(ts, args.backend, seed) for target, ts in sets.items()}
            for k, v in count(answers["cn"], answers["motif"]).items():
                total[k] += v
        rows[el] = total
        print(f"{el}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    rows["all"] = {k: sum(r[k] for r in rows.values()) for k in FIELDS}

    def share(n: int, of: int) -> str:
        return f"{n / of:.2f} ({n}/{of})" if of else "-"

    lines = ["| element | site answers | disagree | CN right: agree | CN right: disagree | motif right: agree "
             "| motif right: disagree | wrong at >= 0.9: before, after | right at >= 0.9: before, after |",
             "|---|---|---|---|---|---|---|---|---|"]
    for el, c in rows.items():
        agree = c["answers"] - c["disagree"]
        lines.append(f"| {el} | {c['answers']} | {c['disagree']} | {share(c['cn_right_agree'], agree)} | "
                     f"{share(c['cn_right_disagree'], c['disagree'])} | {share(c['motif_right_agree'], agree)} | "
                     f"{share(c['motif_right_disagree'], c['disagree'])} | {c['wrong_hi_before']}, "
                     f"{c['wrong_hi_after']} | {c['right_hi_before']}, {c['right_hi_after']} |")
    text = "\n".join([
        "# Agreement of the CN and the motif answer", "",
        provenance() + f". {args.backend}, grouped 5-fold CV by mineral, {args.repeats} assignments of minerals to "
        f"folds (seeds {seeds[0]}-{seeds[-1]}), the CN and the motif classifier each on its own training set; a "
        "site answer counts once per assignment where both answered it. They disagree where the motif's CN "
        "(`O:6` -> 6) is not the CN answer. Confidence: the isotonic calibration of `training.train` fitted on "
        "the assignment's held-out answers of each target. The last two columns count CN and motif answers "
        f"together, before and after `predict` caps both at {DISAGREEMENT_CONFIDENCE:g} "
        "(`prediction.DISAGREEMENT_CONFIDENCE`) where they disagree.", "",
        *lines, ""])
    emit(text, args.write, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
