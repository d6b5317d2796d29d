"""Reliability of the CN confidence on theory and on measured spectra, side by side.

Issue 20 asks that a confidence hold on measurement: no wrong CN at 0.9 or more. The default
``cn_confidence`` is the isotonic map (``training.fit_confidence_calibration``) of the model's top
probability to the held-out chance of being right, fitted on unperturbed held-out theory. Beside it
this script scores a second calibration, fitted on the augmented copies of the held-out sites
(broadening, E0, energy-axis stretch, step and noise: theory perturbed the way measurement differs
from it), to see whether it carries the theory-to-measurement gap.

Theory: for each element, grouped 5-fold CV by mineral of the default CN classifier (the default
backend on the element's default grid, the database's augmentation); each calibration is scored out
of sample (fitted on the held-out answers of four fifths of the minerals, applied to the last
fifth), on the unperturbed held-out spectra. Measured: every file of ``../shared/data`` with a
``labels.json`` whose element has a bundled model, answered by ``prediction.predict`` with the
default models (the confidence a user gets, its caps included: pre-edge, CN/motif and
site-average disagreement); compounds are right when
the CN is, mixed compounds when the site-averaged CN is within 0.5 (as ``benchmarks/measured.py``
judges them); metals are left out (their answer is ``metallic``, not a CN). The perturbed
calibration is applied to the same model probability (recovered from the tempered class
probabilities of the answer and the model's temperature) where the answer came from the full grid,
under the same caps (``prediction.CONFIDENCE_CAPS``).

    .venv/bin/python benchmarks/reliability.py [--elements Fe Zn] [--write docs/validation/reliability.md]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from calibration import ece
from measured import DEFAULT_DATA, kind_of, site_average_truth
from sklearn.model_selection import GroupKFold
from validation_page import emit, provenance

from larch_motif.database import open_database
from larch_motif.defaults import default_model
from larch_motif.models import MotifClassifier
from larch_motif.prediction import CONFIDENCE_CAPS, predict
from larch_motif.spectra import preprocessing_for
from larch_motif.training import (
    DEFAULT_BACKEND,
    augmentation_for,
    fit_confidence_calibration,
    grouped_folds,
    select_sites,
    training_set,
)

#: Confidence bins of the tables (lower edges; the last bin is [0.9, 1])
BINS = (0.0, 0.5, 0.7, 0.9)


def held_out(element: str, backend: str) -> dict:
    """Held-out top probability, rightness, mineral and whether perturbed, of the element's CN
    classifier in grouped 5-fold CV (test folds with their augmented copies)."""
    with open_database(None) as store:
        sites = select_sites(store.site_spectra(element))
        augmentation = augmentation_for(store.calculation(element))
    ts = training_set(sites, "cn", preprocessing_for(element), augmentation)
    p_max, right, group, perturbed = [], [], [], []
    for train, test in grouped_folds(ts.groups, np.zeros(len(ts.y), bool), 5):
        clf = MotifClassifier(backend).fit(ts.X[train], ts.y[train],
                                           sample_weight=None if ts.weights is None else ts.weights[train])
        proba = clf.predict_proba(ts.X[test])
        p_max.append(proba.max(axis=1))
        right.append(clf.classes_[proba.argmax(axis=1)] == ts.y[test])
        group.append(ts.groups[test])
        perturbed.append(ts.augmented[test])
    return {k: np.concatenate(v) for k, v in
            (("p_max", p_max), ("right", right), ("group", group), ("perturbed", perturbed))}


def out_of_sample(h: dict) -> dict:
    """Calibrated confidences of the unperturbed held-out answers, each calibration fitted on the
    other minerals: ``theory`` (fitted on unperturbed answers, the default) and ``perturbed``
    (fitted on the perturbed copies); and both fitted on every mineral, for measured answers."""
    plain = ~h["perturbed"]
    conf = {"theory": np.empty(plain.sum()), "perturbed": np.empty(plain.sum())}
    p, r, g = h["p_max"], h["right"].astype(float), h["group"]
    for fit_groups, apply_groups in GroupKFold(5).split(p[plain], groups=g[plain]):
        fit_set = np.isin(g, np.unique(g[plain][fit_groups]))
        apply = apply_groups
        for name, rows in (("theory", fit_set & plain), ("perturbed", fit_set & ~plain)):
            cal = fit_confidence_calibration(p[rows], r[rows])
            conf[name][apply] = np.interp(p[plain][apply], cal["p_max"], cal["accuracy"])
    full = {"theory": fit_confidence_calibration(p[plain], r[plain]),
            "perturbed": fit_confidence_calibration(p[~plain], r[~plain])}
    return {"confidence": conf, "right": h["right"][plain], "calibration": full}


def measured_answers(elements: set[str], calibrations: dict) -> list[dict]:
    """The default answer to every measured compound and mixed file of ``elements``, with its
    confidence as shipped and under the perturbed calibration."""
    rows = []
    for folder in DEFAULT_DATA:
        labels_path = folder / "labels.json"
        if not labels_path.is_file():
            continue
        for name, lab in sorted(json.loads(labels_path.read_text()).items()):
            kind = kind_of(lab)
            if lab["element"] not in elements or kind == "metal":
                continue
            (res,) = predict(folder / name, element=lab["element"])
            if res.get("metallic"):
                right, conf, conf_p = False, res.get("metallic_confidence") or 0.0, None
            else:
                if kind == "compound":
                    right = str(res["cn"]) == str(lab["cn"])
                else:
                    avg = res.get("cn_site_average")
                    right = avg is not None and abs(avg - site_average_truth(lab)) <= 0.5
                conf = float(res["cn_confidence"])
                conf_p = None
                if res["grid_eV"][1] >= preprocessing_for(lab["element"]).grid_max_eV:
                    model = default_model(lab["element"], "cn")
                    t = np.array([res["cn_probabilities"][c] for c in model.classes], float) ** model.temperature
                    raw = float(t.max() / t.sum())
                    cal = calibrations[lab["element"]]["perturbed"]
                    conf_p = float(np.interp(raw, cal["p_max"], cal["accuracy"]))
                    conf_p = min([conf_p, *(CONFIDENCE_CAPS[f["code"]] for f in res["findings"] if f["code"] in CONFIDENCE_CAPS)])
            rows.append({"set": folder.name, "file": name, "compound": lab["compound"], "element": lab["element"],
                         "kind": kind, "truth": lab.get("cn") if kind == "compound" else site_average_truth(lab),
                         "cn": res.get("cn") if not res.get("metallic") else "metallic",
                         "site_average": res.get("cn_site_average"), "right": bool(right),
                         "confidence": round(conf, 3), "confidence_perturbed": None if conf_p is None else round(conf_p, 3)})
    return rows


def bin_counts(conf: np.ndarray, right: np.ndarray) -> list[tuple[int, int]]:
    """(answers, right answers) per bin of ``BINS``."""
    k = np.digitize(conf, BINS) - 1
    return [(int((k == b).sum()), int(right[k == b].sum())) for b in range(len(BINS))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", nargs="*", default=None,
                        help="default: the bundled elements with measured files")
    parser.add_argument("--backend", default=DEFAULT_BACKEND)
    parser.add_argument("--write", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with open_database(None) as store:
        bundled = {el for el, _ in store.elements()}
    with_files = set()
    for folder in DEFAULT_DATA:
        if (folder / "labels.json").is_file():
            with_files |= {lab["element"] for lab in json.loads((folder / "labels.json").read_text()).values()}
    elements = sorted(args.elements or (bundled & with_files))
    theory, calibrations = {}, {}
    for el in elements:
        res = out_of_sample(held_out(el, args.backend))
        theory[el] = res
        calibrations[el] = res["calibration"]
        print(f"reliability.py: {el} theory done", file=sys.stderr)
    rows = measured_answers(set(elements), calibrations)
    out = {"elements": elements, "backend": args.backend, "measured": rows, "theory": {}}
    for el, res in theory.items():
        out["theory"][el] = {name: {"ece": round(ece(c, res["right"].astype(float)), 3),
                                    "bins": bin_counts(c, res["right"])}
                             for name, c in res["confidence"].items()}
    pooled_right = np.concatenate([theory[el]["right"] for el in elements])
    pooled = {name: np.concatenate([theory[el]["confidence"][name] for el in elements])
              for name in ("theory", "perturbed")}
    out["theory_pooled"] = {name: {"ece": round(ece(c, pooled_right.astype(float)), 3), "bins": bin_counts(c, pooled_right)}
                            for name, c in pooled.items()}
    m_right = np.array([r["right"] for r in rows])
    m_conf = np.array([r["confidence"] for r in rows])
    full_grid = np.array([r["confidence_perturbed"] is not None for r in rows])
    m_conf_p = np.array([r["confidence_perturbed"] if r["confidence_perturbed"] is not None else r["confidence"]
                         for r in rows])
    out["measured_bins"] = {"theory": bin_counts(m_conf, m_right), "perturbed": bin_counts(m_conf_p, m_right)}
    plot = args.write.with_suffix(".png") if args.write else Path("reliability.png")
    _plot(pooled, pooled_right, m_conf, m_conf_p, m_right, plot, elements, args.backend)
    text = render(out, args, plot, int(full_grid.sum()))
    emit(text, args.write, json.dumps(out, indent=1, default=str) if args.json else None)
    return 0


def _bin_label(b: int) -> str:
    hi = BINS[b + 1] if b + 1 < len(BINS) else 1.0
    return f"{BINS[b]:.1f}-{hi:.1f}"


def render(out: dict, args: argparse.Namespace, plot: Path, n_full_grid: int) -> str:
    lines = ["# Reliability of the CN confidence: theory and measurement", "",
             provenance() + f": {args.backend}, elements {', '.join(out['elements'])}. Theory: the unperturbed "
             "held-out spectra of grouped 5-fold CV by mineral, each calibration scored out of sample. "
             "Measured: the files of `../shared/data` (compounds by CN, mixed compounds by the site-averaged "
             "CN within 0.5; metals left out), the confidence as `predict` gives it (`default`) and under the "
             f"calibration fitted on the perturbed held-out copies (`perturbed`; {n_full_grid} answers from the "
             "full grid, the others keep their default confidence).", "",
             "Answers (right) per confidence bin:", "",
             "| confidence | theory, default | theory, perturbed | measured, default | measured, perturbed |",
             "|---|---|---|---|---|"]
    tp, mb = out["theory_pooled"], out["measured_bins"]
    for b in range(len(BINS)):
        cells = [tp["theory"]["bins"][b], tp["perturbed"]["bins"][b], mb["theory"][b], mb["perturbed"][b]]
        lines.append(f"| {_bin_label(b)} | " + " | ".join(
            f"{n} ({r}, {r / n:.2f})" if n else "0" for n, r in cells) + " |")
    lines += ["", f"Expected calibration error on theory (10 bins): default {tp['theory']['ece']}, perturbed "
              f"{tp['perturbed']['ece']}; per element:", "",
              "| element | ECE default | ECE perturbed | answers >= 0.9 (right), default | perturbed |",
              "|---|---|---|---|---|"]
    for el, t in out["theory"].items():
        d, p = t["theory"]["bins"][-1], t["perturbed"]["bins"][-1]
        lines.append(f"| {el} | {t['theory']['ece']} | {t['perturbed']['ece']} | {d[0]} ({d[1]}) | {p[0]} ({p[1]}) |")
    lines += ["", "Measured answers:", "",
              "| set | compound | kind | truth | CN answer | site average | right | confidence | perturbed |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in out["measured"]:
        avg = "-" if r["site_average"] is None else f"{r['site_average']:.2f}"
        perturbed = "-" if r["confidence_perturbed"] is None else f"{r['confidence_perturbed']:.3f}"
        lines.append(f"| {r['set']} | {r['compound']} | {r['kind']} | {r['truth']} | {r['cn']} | {avg} | "
                     f"{'yes' if r['right'] else '**no**'} | {r['confidence']:.3f} | {perturbed} |")
    wrong = [r for r in out["measured"] if not r["right"]]
    for name, key in (("default", "confidence"), ("perturbed", "confidence_perturbed")):
        high = [r["compound"].split(" (")[0] for r in wrong if (r[key] if r[key] is not None else r["confidence"]) >= 0.9]
        lines.append("")
        lines.append(f"Wrong at confidence >= 0.9, {name}: " + (", ".join(high) if high else "none") + ".")
    lines += ["", f"![reliability on theory and measurement]({plot.name})", ""]
    return "\n".join(lines)


def _plot(pooled: dict, right: np.ndarray, m_conf: np.ndarray, m_conf_p: np.ndarray, m_right: np.ndarray,
          path: Path, elements: list[str], backend: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4.2))
    edges = np.linspace(0, 1, 11)
    for name, style in (("theory", "s-"), ("perturbed", "^--")):
        conf = pooled[name]
        k = np.clip(np.digitize(conf, edges) - 1, 0, 9)
        keep = [b for b in range(10) if (k == b).sum() >= 3]
        ax_t.plot([conf[k == b].mean() for b in keep], [right[k == b].mean() for b in keep], style,
                  label=f"calibrated on {'held-out theory (default)' if name == 'theory' else 'perturbed held-out theory'}")
    rng = np.random.default_rng(0)
    jitter = rng.uniform(-0.04, 0.04, m_right.size)
    ax_m.scatter(m_conf, m_right + jitter, marker="s", label="default confidence", alpha=0.7)
    ax_m.scatter(m_conf_p, m_right + jitter + 0.1, marker="^", label="perturbed calibration", alpha=0.7)
    for ax, title in ((ax_t, f"theory, held-out minerals ({', '.join(elements)})"),
                      (ax_m, "measured files (1 right, 0 wrong; jittered)")):
        ax.plot([0, 1], [0, 1], "k:", lw=1)
        ax.set_xlabel("calibrated CN confidence")
        ax.set_title(f"{title}, {backend}", fontsize=9)
        ax.legend(fontsize=8)
    ax_t.set_ylabel("fraction right")
    ax_m.set_ylabel("right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
