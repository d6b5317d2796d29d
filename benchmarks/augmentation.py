"""Augmentation ranges judged on theory and on the measured files together (issue 20).

For each element and each augmentation variant: grouped 5-fold CV by mineral (augmented
training rows, unaugmented test spectra, the element's default grid; ``--repeats``
assignments of minerals to folds, seeds 0..N-1) of CN, motif and the metallic detector, and
the answers on the measured files of that element in ``../shared/data`` of models trained on
every site with that variant (the class with the highest model probability, and that
probability; the shipped models' calibrated confidence is in ``measured.md``).

Variants (``--variants``), each the augmentation of ``training.augmentation_for`` with:
- ``before``: broadening Gaussian 1.5-5.0 eV, Lorentzian 1.0-4.0 eV FWHM, energy stretch from 1.0
  (the ranges up to commit 65200f0);
- ``sharp``: broadening from Gaussian 0.5, Lorentzian 0.3 eV (sharper measurements: HERFD, a
  Si(311) monochromator), stretch from 1.0;
- ``after``: as ``sharp``, the stretch from 0.85 (measured features nearer E0 than theory's);
- ``copiesN`` (``copies4``, ``copies10``, ...): the default augmentation with N perturbed copies
  of each training spectrum;
- ``default``: ``training.augmentation_for`` as it stands;
- ``log``, ``logN``: the broadening widths drawn uniform in their logarithm
  (``Augmentation.width_draw``), with N copies (default: as many as ``default``).

    .venv/bin/python benchmarks/augmentation.py [--elements Zn Fe] [--repeats 3] [--write PAGE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from measured import DEFAULT_DATA, kind_of, site_average_truth
from validation_page import emit, provenance

from larch_motif.database import open_database
from larch_motif.models import MotifClassifier
from larch_motif.spectra import features, normalize, preprocessing_for, read_spectrum
from larch_motif.training import (
    DEFAULT_BACKEND,
    SITE_DOMAIN_BY_TARGET,
    augmentation_for,
    cross_validate,
    select_sites,
    site_features,
    training_set,
)

TARGETS = ("cn", "motif", "metallic")


def variant(name: str, calculation: dict | None, target: str):
    """The augmentation ``name`` (module docstring) of a ``target`` model for an element computed
    with ``calculation`` (``training.augmentation_for``: the foot gap depends on the target)."""
    base = augmentation_for(calculation, target)
    high = base.energy_stretch[1]
    if name == "before":
        return dataclasses.replace(base, gaussian_fwhm_eV=(1.5, 5.0), lorentzian_fwhm_eV=(1.0, 4.0),
                                   energy_stretch=(1.0, high))
    if name == "sharp":
        return dataclasses.replace(base, gaussian_fwhm_eV=(0.5, 5.0), lorentzian_fwhm_eV=(0.3, 4.0),
                                   energy_stretch=(1.0, high))
    if name == "after":
        return dataclasses.replace(base, gaussian_fwhm_eV=(0.5, 5.0), lorentzian_fwhm_eV=(0.3, 4.0),
                                   energy_stretch=(0.85, high))
    if name.startswith("copies") and name[6:].isdigit():
        return dataclasses.replace(base, copies=int(name[6:]))
    if name == "default":
        return base
    if name == "log" or (name.startswith("log") and name[3:].isdigit()):
        return dataclasses.replace(base, width_draw="log", copies=int(name[3:] or base.copies))
    raise SystemExit(f"unknown variant {name!r} (default, before, sharp, after, copiesN, log, logN)")


def measured_files(element: str, folders: list[Path]) -> list[tuple[Path, dict]]:
    """The measured files of ``element`` with their labels (``labels.json`` of each folder), each
    label given its ``kind`` and site average as ``measured.py`` reads them."""
    out = []
    for folder in folders:
        labels = json.loads((folder / "labels.json").read_text())
        out += [(folder / name, {**lab, "kind": kind_of(lab), "cn_site_average": site_average_truth(lab)})
                for name, lab in sorted(labels.items()) if lab.get("element") == element]
    return out


def measured_groups(element: str, folders: list[Path]) -> tuple[list[tuple[Path, dict]], list]:
    """The measured files of ``element`` that exist (``measured_files``) and their spectra read
    and normalized as ``predict`` reads them (Larch Groups, in the same order)."""
    files = [(path, lab) for path, lab in measured_files(element, folders) if path.exists()]
    groups = []
    for path, lab in files:
        grp = read_spectrum(path, normalized=bool(lab.get("normalized")))
        normalize(grp)
        groups.append(grp)
    return files, groups


def truth_text(lab: dict) -> str:
    if lab["kind"] == "metal":
        return "metallic"
    if lab.get("cn") is None:
        return f"avg {lab['cn_site_average']}"
    return f"{lab['cn']} {lab.get('motif', '')}".strip()


def one_element(el: str, sites: list[dict], calculation: dict | None, variants: list[str], backend: str,
                repeats: int, folders: list[Path]) -> tuple[list[dict], list[dict]]:
    """The CV rows (one per variant) and measured answers of one element."""
    cv_rows, measured_rows = [], []
    files, groups = measured_groups(el, folders)
    for name in variants:
        t0 = time.perf_counter()
        row = {"element": el, "variant": name}
        answers = {}
        for target in TARGETS:
            aug = variant(name, calculation, target)
            prep = preprocessing_for(el, target=target)  # Cu's metallic detector: its own grid
            chosen = select_sites(sites, SITE_DOMAIN_BY_TARGET.get(target, "anion"))
            ts = training_set(chosen, target, prep, aug, site_features(chosen, prep, aug))
            acc = [cross_validate(ts, backend, 5, fold_seed=seed)["accuracy"] for seed in range(repeats)]
            row[target] = float(np.mean(acc))
            row[f"n_{target}"] = int((~ts.augmented).sum())
            if groups:
                clf = MotifClassifier(backend).fit(ts.X, ts.y)
                X = np.vstack([features(g, prep) for g in groups])
                proba = clf.predict_proba(X)
                answers[target] = [(str(clf.classes_[k]), float(p[k])) for p, k in zip(proba, proba.argmax(1))]
        row["seconds"] = round(time.perf_counter() - t0, 1)
        cv_rows.append(row)
        print(f"{el} {name}: " + ", ".join(f"{t} {row[t]:.3f}" for t in TARGETS) + f" ({row['seconds']} s)",
              file=sys.stderr, flush=True)
        for k, (path, lab) in enumerate(files):
            measured_rows.append({"element": el, "variant": name, "file": path.name,
                                  "compound": lab.get("compound") or path.stem, "kind": lab.get("kind"),
                                  "truth": truth_text(lab), **{t: answers[t][k] for t in TARGETS}})
    return cv_rows, measured_rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", nargs="*", default=None, help="default: all bundled")
    parser.add_argument("--variants", nargs="+", default=["before", "after"])
    parser.add_argument("--backend", default=DEFAULT_BACKEND)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, nargs="+", default=list(DEFAULT_DATA))
    parser.add_argument("--jobs", type=int, default=2, help="elements computed at once")
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    with open_database(None) as store:
        elements = args.elements or [el for el, _ in store.elements()]
        data = {el: (store.site_spectra(el), store.calculation(el)) for el in elements}
    work = [(el, *data[el], args.variants, args.backend, args.repeats, args.data) for el in elements]
    cv_rows, measured_rows = [], []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for rows, answers in pool.map(one_element, *zip(*work)):
            cv_rows += rows
            measured_rows += answers
    lines = ["# Augmentation ranges: theory and measurement", "",
             provenance() + f". Backend {args.backend}; grouped 5-fold CV by mineral, mean accuracy over "
             f"{args.repeats} assignments of minerals to folds (seeds 0-{args.repeats - 1}); metallic on the "
             "anion+metallic sites. Variants: `before` Gaussian 1.5-5.0 eV, Lorentzian 1.0-4.0 eV FWHM, energy "
             "stretch 1.0 to the element's upper end (1.15 with SCF, 1.4 without); `sharp` the broadening from "
             "0.5 / 0.3 eV; `after` that and the stretch from 0.85; `copiesN` the default augmentation with N "
             "perturbed copies of each training spectrum (the default models: 4).", "",
             "| element | variant | CN | motif | metallic | sites (CN, motif, metallic) | seconds |",
             "|---|---|---|---|---|---|---|"]
    for r in cv_rows:
        lines.append(f"| {r['element']} | {r['variant']} | {r['cn']:.3f} | {r['motif']:.3f} | {r['metallic']:.3f} "
                     f"| {r['n_cn']}, {r['n_motif']}, {r['n_metallic']} | {r['seconds']} |")
    lines += ["", "Measured files: the answer of models trained on every site (class, model probability); "
              "`x` marks a wrong CN (a metal: not answered metallic by the detector; a mixed compound: not judged).", "",
              "| element | file | kind | truth | variant | CN | motif | metallic |", "|---|---|---|---|---|---|---|---|"]
    for r in measured_rows:
        cn, p = r["cn"]
        if r["kind"] == "metal":
            wrong = r["metallic"][0] != "metallic"
        elif r["kind"] == "mixed":
            wrong = False
        else:
            wrong = cn != r["truth"].split()[0] or r["metallic"][0] == "metallic"
        lines.append(f"| {r['element']} | {r['file']} | {r['kind']} | {r['truth']} | {r['variant']} | "
                     f"{'**x** ' if wrong else ''}{cn} ({p:.2f}) | {r['motif'][0]} ({r['motif'][1]:.2f}) "
                     f"| {r['metallic'][0]} ({r['metallic'][1]:.2f}) |")
    emit("\n".join(lines) + "\n", args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
