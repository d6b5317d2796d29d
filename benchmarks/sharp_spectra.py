"""Sharper measurements than the training theory: held-out theory spectra presented at less
broadening, as a HERFD or high-resolution measurement is (issue 20, item 4).

The models read theory spectra broadened by ``Preprocessing``'s Gaussian 3.0 and Lorentzian
2.0 eV FWHM (what brings FEFF10 to measured transmission spectra), and the augmented copies
draw their widths in the ranges of ``training.Augmentation``. A HERFD spectrum has about 1 eV
less core-hole width and a finer resolution, so its white line is narrower and higher than any
the default broadening gives. Here each element's CN, motif and metallic models are
cross-validated as ``benchmarks/accuracy.py`` does (grouped 5-fold by mineral, ``--repeats``
assignments of minerals to folds from ``--seed0``, training rows with their augmented copies and
the element's derived and pooled rows, LightGBM by default), and the held-out unaugmented site
spectra are scored at each broadening level of ``LEVELS``: the first is the training default,
the others sharper. Per augmentation variant (``benchmarks/augmentation.py``'s names), per
level: accuracy, per-class recall, and wrong answers at model probability >= 0.9. Then, per
variant, models fitted on every row answer the element's measured files of ``../shared/data``
(class and model probability). Each finished (element, target, variant) is kept
(``validation_page.Checkpoint``, under ``benchmarks/checkpoints/sharp_spectra/``), so a run
stopped part way resumes where it stopped.

    .venv/bin/python benchmarks/sharp_spectra.py [--elements Cu Fe] [--variants default log8]
        [--repeats 3] [--seed0 100] [--targets cn motif metallic] [--write PAGE]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from augmentation import measured_groups, truth_text, variant
from measured import DEFAULT_DATA
from validation_page import Checkpoint, emit, provenance

from larch_motif.database import open_database
from larch_motif.models import MotifClassifier
from larch_motif.spectra import (
    Preprocessing,
    features,
    herfd_lorentzian_eV,
    preprocessing_for,
    theory_group,
)
from larch_motif.training import (
    DEFAULT_BACKEND,
    METALLIC_POOL_WEIGHT,
    SITE_DOMAIN_BY_TARGET,
    derived_pool,
    grouped_folds,
    metallic_pool,
    select_sites,
    shape_components_for,
    site_features,
    training_set_with_derived,
    with_pooled_sites,
)

#: (Gaussian, Lorentzian) FWHM in eV of the held-out spectra: the training default, then
#: about 1.5 / 1 eV sharper (HERFD-like), sharper still, and FEFF10's own core-hole width only;
#: each element adds the default less the core-hole width that Kalpha1 HERFD takes away
#: (``spectra.herfd_lorentzian_eV``), the part that ``predict(..., herfd=True)`` adds back
LEVELS: tuple[tuple[float, float], ...] = (
    (Preprocessing().gaussian_fwhm_eV, Preprocessing().lorentzian_fwhm_eV), (1.5, 1.0), (1.0, 0.3), (0.5, 0.0))
HIGH = 0.9


def level_name(level: tuple[float, float]) -> str:
    return f"G {level[0]:g} / L {level[1]:g}"


def one_element(el: str, variants: list[str], targets: list[str], backend: str, seeds: range,
                folders: list[Path], checkpoint: Checkpoint) -> tuple[list[dict], list[dict]]:
    """Rows of (element, target, variant, level) with accuracy and per-class recall, and the
    measured answers per (target, variant); each (target, variant) is kept in ``checkpoint`` as it
    finishes and read back from there by a repeated run."""
    levels = [*LEVELS, (LEVELS[0][0], round(LEVELS[0][1] - herfd_lorentzian_eV(el), 3))]
    with open_database(None) as store:
        all_sites = store.site_spectra(el)
        calculation = store.calculation(el)
        pool = metallic_pool(store, el)[0]
    files, groups = measured_groups(el, folders)
    rows, answers = [], []
    for target in targets:
        kept = [checkpoint.get(f"{el}_{target}_{name}") for name in variants]
        if all(kept):
            for piece in kept:
                rows += piece["rows"]
                answers += piece["answers"]
            continue
        prep = preprocessing_for(el, target=target)  # Cu's metallic detector: its own grid
        measured_X = [features(grp, prep) for grp in groups]
        sites = select_sites(all_sites, SITE_DOMAIN_BY_TARGET.get(target, "anion"))
        by_id = {s["site_id"]: s for s in sites}
        sharp = {}  # (level, site id) -> features, the same for every variant
        for level in levels:
            p2 = Preprocessing(**{**prep.as_dict(), "gaussian_fwhm_eV": level[0], "lorentzian_fwhm_eV": level[1]})
            for sid, s in by_id.items():
                sharp[level, sid] = features(theory_group(s["energy_eV"], s["mu"], p2, sid), prep)
        derived = derived_pool(el, target)[0]
        for name, piece in zip(variants, kept):
            if piece:
                rows += piece["rows"]
                answers += piece["answers"]
                continue
            t0 = time.perf_counter()
            first_row, first_answer = len(rows), len(answers)
            aug = variant(name, calculation, target)
            ts = training_set_with_derived(sites, target, prep, aug, derived, site_features(sites, prep, aug))
            if target == "metallic" and pool:
                ts = with_pooled_sites(ts, pool, target, prep, aug, METALLIC_POOL_WEIGHT)
            got = {level: [] for level in levels}
            for seed in seeds:
                for train, test in grouped_folds(ts.groups, ts.augmented, 5, seed):
                    clf = MotifClassifier(backend, shape_components=shape_components_for(backend)).fit(
                        ts.X[train], ts.y[train], sample_weight=None if ts.weights is None else ts.weights[train],
                        shape_rows=~ts.augmented[train])
                    for level in levels:
                        proba = clf.predict_proba(np.vstack([sharp[level, sid] for sid in ts.site_ids[test]]))
                        got[level] += zip(ts.y[test], clf.classes_[proba.argmax(1)], proba.max(1))
            for index, (level, r) in enumerate(got.items()):
                truth = np.array([t for t, _, _ in r])
                right = np.array([t == p for t, p, _ in r])
                conf = np.array([c for _, _, c in r])
                rows.append({"element": el, "target": target, "variant": name, "level": index, "widths": level,
                             "n": len(r), "accuracy": float(right.mean()),
                             "wrong_high": int((~right & (conf >= HIGH)).sum()),
                             "recall": {str(c): (float(right[truth == c].mean()), int((truth == c).sum() // len(seeds)))
                                        for c in np.unique(truth)}})
            if files:
                clf = MotifClassifier(backend, shape_components=shape_components_for(backend)).fit(
                    ts.X, ts.y, sample_weight=ts.weights, shape_rows=~ts.augmented)
                proba = clf.predict_proba(np.vstack(measured_X))
                for (path, lab), p in zip(files, proba):
                    answers.append({"element": el, "target": target, "variant": name, "file": path.name,
                                    "truth": truth_text(lab), "kind": lab["kind"],
                                    "answer": str(clf.classes_[p.argmax()]), "p": float(p.max())})
            print(f"{el} {target} {name}: " + ", ".join(
                f"{level_name(r['widths'])} {r['accuracy']:.3f}" for r in rows[-len(levels):])
                + f" ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
            checkpoint.put(f"{el}_{target}_{name}", {"rows": rows[first_row:], "answers": answers[first_answer:]})
    return rows, answers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", nargs="*", default=None, help="default: all bundled")
    parser.add_argument("--variants", nargs="+", default=["default"])
    parser.add_argument("--targets", nargs="+", default=["cn", "motif", "metallic"])
    parser.add_argument("--backend", default=DEFAULT_BACKEND)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed0", type=int, default=0)
    parser.add_argument("--data", type=Path, nargs="+", default=list(DEFAULT_DATA))
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    seeds = range(args.seed0, args.seed0 + args.repeats)
    with open_database(None) as store:
        elements = args.elements or [el for el, _ in store.elements()]
    checkpoint = Checkpoint(Path(__file__).name, {"backend": args.backend, "seeds": list(seeds),
                                                   "data": [str(d) for d in args.data]})
    rows, answers = [], []
    for el in elements:
        r, a = one_element(el, args.variants, args.targets, args.backend, seeds, args.data, checkpoint)
        rows += r
        answers += a
    columns = [*(level_name(lv) for lv in LEVELS), f"{level_name(LEVELS[0])} less HERFD's"]
    levels = range(len(columns))
    lines = ["# Sharper spectra than the training theory (HERFD-like)", "",
             provenance() + f". {args.backend}, grouped 5-fold CV by mineral over {args.repeats} assignments "
             f"of minerals to folds (seeds {seeds[0]}-{seeds[-1]}); the held-out site spectra broadened at "
             "each level (Gaussian / Lorentzian FWHM, eV) instead of the training default G 3 / L 2. Variants: "
             "`default` the shipped augmentation (4 copies, widths uniform in Gaussian 0.5-5, Lorentzian 0.3-4 "
             "eV); `logN` the widths uniform in their logarithm, N copies; `copiesN` N copies. Accuracy "
             f"over all held-out answers; in brackets, wrong answers at model probability >= {HIGH}.", "",
             "The last column: the training default less the part of the element's K core-hole width that "
             "Kalpha1 HERFD takes away (`spectra.herfd_lorentzian_eV`: Ti 0.73 to Zn 1.06 eV FWHM), what "
             "`predict(..., herfd=True)` adds back before the models read a spectrum.", "",
             f"| element | target | variant | {' | '.join(columns)} |", "|---|---|---|" + "---|" * len(columns)]
    keyed = {(r["element"], r["target"], r["variant"], r["level"]): r for r in rows}
    combos = list(dict.fromkeys((r["element"], r["target"], r["variant"]) for r in rows))
    for el, target, name in combos:
        cells = [keyed[el, target, name, lv] for lv in levels]
        lines.append(f"| {el} | {target} | {name} | " + " | ".join(
            f"{c['accuracy']:.3f} ({c['wrong_high']})" for c in cells) + " |")
    for name in dict.fromkeys(r["variant"] for r in rows):
        lines += ["", f"Mean over elements, `{name}`: " + ", ".join(
            f"{target} " + " / ".join(f"{np.mean([keyed[el, t, name, lv]['accuracy'] for el, t, n in combos if t == target and n == name]):.3f}"
                                      for lv in levels)
            for target in args.targets) + " (levels in the table's order)."]
    lines += ["", "Recall per class at the training default and at the HERFD-like level (G 1.5 / L 1), per "
              "variant; sites: the class's held-out site spectra per assignment.", "",
              "| element | target | class | sites | " + " | ".join(
                  f"{n}: default, HERFD-like" for n in dict.fromkeys(r["variant"] for r in rows)) + " |",
              "|---|---|---|---|" + "---|" * len(dict.fromkeys(r["variant"] for r in rows))]
    names = list(dict.fromkeys(r["variant"] for r in rows))
    for el, target in dict.fromkeys((e, t) for e, t, _ in combos):
        first = keyed[el, target, names[0], 0]["recall"]
        for cls, (_, n) in first.items():
            cells = []
            for name in names:
                a, b = (keyed[el, target, name, lv]["recall"].get(cls, (float("nan"), 0))[0] for lv in (0, 1))
                cells.append(f"{a:.2f}, {b:.2f}")
            lines.append(f"| {el} | {target} | {cls} | {n} | " + " | ".join(cells) + " |")
    if answers:
        lines += ["", "Measured files: models fitted on every training row of each variant (class, model "
                  "probability).", "", "| element | file | truth | target | " + " | ".join(names) + " |",
                  "|---|---|---|---|" + "---|" * len(names)]
        by = {(a["file"], a["target"], a["variant"]): a for a in answers}
        for f, target in dict.fromkeys((a["file"], a["target"]) for a in answers):
            a0 = by[f, target, names[0]]
            lines.append(f"| {a0['element']} | {f} | {a0['truth']} | {target} | " + " | ".join(
                f"{by[f, target, n]['answer']} ({by[f, target, n]['p']:.2f})" for n in names) + " |")
    emit("\n".join(lines) + "\n", args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
