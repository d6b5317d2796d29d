"""Validation on measured reference spectra, per kind, with the three baselines beside each backend.

Reads the measured sets of ``../shared/data`` (``experimental``: column files; ``xaslib``: raw
XDI files of the XAS Data Library, mu from their i0/itrans columns), each with a
``labels.json`` giving element, CN, motif, ``cn_site_average`` and ``kind`` (and, where a user
would say it, ``normalized`` and ``herfd``: passed to ``predict`` as the user would pass them;
without ``herfd``, ``predict`` reads a file that says HERFD so):

- ``compound`` (one absorber environment): the CN and the motif are checked;
- ``mixed`` (several absorber sites: magnetite, hausmannite, hopeite, covellite): the
  site-averaged CN is checked, right within 0.5;
- ``metal`` (foils, cementite): right when answered metallic, flagged out of domain, or
  answered "uncertain"; wrong when a CN is given in domain.

Files of ``experimental`` without ``kind`` are ``compound`` where they have a CN, else
``mixed``. Each backend (rf, xgboost, lightgbm) answers with its default models (the metallic
detector, the CN/motif classifiers and the site-averaged CN regressor; short scans by their
window models). Beside them, on the same database sites and features: Larch's PLS regression
of CN (its value is the site average, rounded for CN; never metallic), the nearest database
spectrum (cosine similarity; trained on metallic sites too, so it can answer metallic) and the
majority class. A compound answered metallic has a wrong CN. ``--min-confidence`` lists the
wrong CN answers at or above it (the promise a confidence makes). The page ends with the
findings of the default backend's answers (pre-edge caps, weak white lines, glitches, ...), so
that what a user is told beside each answer is on record too. ``--write`` writes the table as a
Markdown validation page with the command and the commit.

    .venv/bin/python benchmarks/measured.py [--data DIR ...] [--backends rf xgboost lightgbm]
        [--json] [--write docs/validation/measured.md]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from validation_page import emit, provenance

from larch_motif.baselines import baselines
from larch_motif.database import open_database
from larch_motif.prediction import herfd_reason, predict
from larch_motif.spectra import (
    features,
    herfd_broadened,
    normalize,
    preprocessing_for,
    read_spectrum,
)
from larch_motif.training import DEFAULT_BACKEND, METALLIC, select_sites, site_features, site_label

BACKENDS = ("rf", "xgboost", "lightgbm")
BASELINES = ("larch_pls", "nearest_reference", "majority")
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_DATA = (SHARED / "experimental", SHARED / "xaslib")
KINDS = ("compound", "mixed", "metal")


def kind_of(label: dict) -> str:
    return label.get("kind") or ("compound" if label.get("cn") is not None else "mixed")


def site_average_truth(label: dict) -> float | None:
    if label.get("cn_site_average") is not None:
        return float(label["cn_site_average"])
    if label.get("cn") is not None:
        return float(label["cn"])
    text = label.get("compound", "")  # experimental/labels.json names it in the compound text
    if "site-averaged CN" in text:
        return float(text.split("site-averaged CN")[1].strip(" )").split()[0])
    return None


def fit_baselines(element: str, sites: list[dict]) -> dict:
    """The baselines of CN (anion sites) and of metallic (anion and metallic sites) of one element."""
    fitted = {}
    for target, domain in (("cn", "anion"), ("motif", "anion"), ("metallic", "anion+metallic")):
        prep = preprocessing_for(element, target=target)  # the default models' grid for the target
        chosen = select_sites(sites, domain)
        X = site_features(chosen, prep).X
        y = np.array([site_label(s, target) for s in chosen])
        if np.unique(y).size < 2:
            continue
        fitted[target] = {name: b.fit(X, y) for name, b in baselines(
            "cn" if target == "cn" else "motif", prep.feature_energies()).items()}
    return fitted


def baseline_answers(fitted: dict, xs: dict[str, np.ndarray]) -> dict:
    """Each baseline's answer: cn (str or 'metallic'), motif, site average (float or None).
    ``xs``: the measured spectrum's features (one row) on each target's grid."""
    out = {}
    for name in BASELINES:
        cn_clf = fitted["cn"].get(name)
        motif_clf = fitted["motif"].get(name)
        metal_clf = fitted.get("metallic", {}).get(name)
        value = cn_clf.predict(xs["cn"])[0] if cn_clf is not None else None
        if name == "larch_pls":
            average = float(cn_clf.predict_value(xs["cn"])[0])
        else:
            average = float(value) if value is not None else None
        metallic = metal_clf is not None and str(metal_clf.predict(xs["metallic"])[0]) == METALLIC
        out[name] = {"cn": "metallic" if metallic else str(value),
                     "motif": "metallic" if metallic else (str(motif_clf.predict(xs["motif"])[0]) if motif_clf else None),
                     "site_average": None if metallic else average, "metallic": metallic,
                     "flagged": False, "confidence": None}
    return out


def backend_answer(res: dict) -> dict:
    metallic = bool(res.get("metallic"))
    cn = "metallic" if metallic else str(res.get("cn"))
    return {"cn": cn, "motif": res.get("motif"), "site_average": res.get("cn_site_average"),
            "metallic": metallic, "flagged": not res["in_domain"] or cn == "uncertain",
            "confidence": res.get("metallic_confidence") if metallic else res.get("cn_confidence"),
            "grid_eV": res.get("grid_eV"), "warnings": res["warnings"],
            "findings": [f"{f['code']} ({f['message'].split(':')[0]})" for f in res["findings"]]}


def judge(kind: str, truth: dict, answer: dict) -> dict:
    """Whether an answer is right for its kind: cn, motif (compounds), site_average (mixed),
    metal (metals)."""
    if kind == "compound":
        if answer["motif"] is None:  # Larch PLS: a motif is not a number
            return {"cn": answer["cn"] == str(truth["cn"])}
        return {"cn": answer["cn"] == str(truth["cn"]), "motif": answer["motif"] == truth["motif"]}
    if kind == "mixed":
        avg = answer["site_average"]
        return {"site_average": avg is not None and abs(avg - truth["site_average"]) <= 0.5}
    return {"metal": answer["metallic"] or answer["flagged"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, nargs="+", default=list(DEFAULT_DATA))
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    parser.add_argument("--min-confidence", type=float, default=0.9)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--write", type=Path, default=None, help="Markdown validation page to write")
    args = parser.parse_args()
    entries = []
    for folder in args.data:
        labels_path = folder / "labels.json"
        if not labels_path.is_file():
            print(f"measured.py: skipped {folder}: no labels.json", file=sys.stderr)
            continue
        for name, lab in sorted(json.loads(labels_path.read_text()).items()):
            entries.append((folder, name, lab))
    if not entries:
        print("measured.py: skipped: no measured spectra found")
        return 0
    with open_database(None) as db:
        bundled = {el for el, _ in db.elements()}
        references = {el: db.site_spectra(el) for el in bundled}
    fitted = {el: fit_baselines(el, references[el]) for el in sorted({lab["element"] for _, _, lab in entries} & bundled)}
    rows = []
    for folder, name, lab in entries:
        kind = kind_of(lab)
        row = {"set": folder.name, "file": name, "compound": lab["compound"], "element": lab["element"],
               "kind": kind, "true_cn": lab.get("cn"), "true_motif": lab.get("motif"),
               "true_site_average": site_average_truth(lab)}
        if lab["element"] not in bundled:
            row["skipped"] = f"no bundled {lab['element']} model"
            rows.append(row)
            continue
        truth = {"cn": lab.get("cn"), "motif": lab.get("motif"), "site_average": row["true_site_average"]}
        answers = {}
        # what a user says of the file: normalized, HERFD (None: as predict decides from the file)
        told = {"normalized": bool(lab.get("normalized", False)), "herfd": lab.get("herfd")}
        for backend in args.backends:
            (res,) = predict(folder / name, element=lab["element"], backend=backend, **told)
            answers[backend] = backend_answer(res)
        grp = read_spectrum(folder / name, normalized=told["normalized"])
        grp.motif_warnings = []
        normalize(grp)
        if reason := herfd_reason(grp, told["herfd"], lab.get("edge", "K")):  # the baselines read what the models read
            grp = herfd_broadened(grp, lab["element"], lab.get("edge", "K"), reason)
        xs = {t: features(grp, preprocessing_for(lab["element"], target=t))[None, :] for t in ("cn", "motif", "metallic")}
        answers.update(baseline_answers(fitted[lab["element"]], xs))
        row["answers"] = answers
        row["right"] = {m: judge(kind, truth, a) for m, a in answers.items()}
        rows.append(row)
    methods = (*args.backends, *BASELINES)
    scored = [r for r in rows if "skipped" not in r]
    summary: dict = {}
    for kind, checks in (("compound", ("cn", "motif")), ("mixed", ("site_average",)), ("metal", ("metal",))):
        of_kind = [r for r in scored if r["kind"] == kind]
        summary[kind] = {"n": len(of_kind), **{
            check: {m: (None if check == "motif" and m == "larch_pls"
                        else sum(r["right"][m][check] for r in of_kind)) for m in methods}
            for check in checks}}
    confident_wrong = {m: [r["file"] for r in scored if not all(r["right"][m].values())
                           and (r["answers"][m]["confidence"] or 0) >= args.min_confidence]
                       for m in args.backends}
    combined = {m: sum(sum(v for v in r["right"][m].values()) for r in scored) for m in methods}
    n_checks = sum(len(r["right"][methods[0]]) for r in scored)  # PLS has fewer (no motif)
    out = {"rows": rows, "summary": summary, "combined_right": combined, "n_checks": n_checks,
           "confident_wrong": confident_wrong, "min_confidence": args.min_confidence}
    text = render(out, methods, args)
    emit(text, args.write, json.dumps(out, indent=1, default=str) if args.json else None)
    return 0


def _cell(answer: dict, kind: str) -> str:
    if kind == "mixed":
        return "-" if answer["site_average"] is None else f"{answer['site_average']:.2f}"
    cell = answer["cn"] if kind == "compound" else ("metallic" if answer["metallic"] else answer["cn"])
    if answer.get("confidence") is not None:
        cell += f" ({answer['confidence']:.2f})"
    return cell + (" *" if answer["flagged"] else "")


def render(out: dict, methods: tuple[str, ...], args: argparse.Namespace) -> str:
    lines = ["# Measured reference spectra", "",
             provenance() + ". "
             "Cells: the answer (CN, `metallic`, or the site-averaged CN for mixed compounds) with the "
             "calibrated CN confidence; `*` flagged (out of domain or uncertain). A compound's CN is "
             "right when equal to the label; a mixed compound's site average within 0.5; a metal "
             "when answered metallic or flagged.", "",
             "| set | compound | kind | truth | " + " | ".join(methods) + " |",
             "|---|---|---|---|" + "---|" * len(methods)]
    for r in out["rows"]:
        if "skipped" in r:
            lines.append(f"| {r['set']} | {r['compound']} | {r['kind']} | - | skipped: {r['skipped']} |"
                         + " |" * (len(methods) - 1))
            continue
        truth = {"compound": f"{r['true_cn']} {r['true_motif']}", "mixed": f"avg {r['true_site_average']}",
                 "metal": "metallic"}[r["kind"]]
        cells = []
        for m in methods:
            ok = all(r["right"][m].values())
            cells.append(("" if ok else "**x** ") + _cell(r["answers"][m], r["kind"]))
        lines.append(f"| {r['set']} | {r['compound']} | {r['kind']} | {truth} | " + " | ".join(cells) + " |")
    lines += ["", "Right answers per kind:", "", "| kind | check | n | " + " | ".join(methods) + " |",
              "|---|---|---|" + "---|" * len(methods)]
    for kind, s in out["summary"].items():
        for check, by in s.items():
            if check == "n":
                continue
            lines.append(f"| {kind} | {check} | {s['n']} | "
                         + " | ".join("n/a" if by[m] is None else str(by[m]) for m in methods) + " |")
    lines.append(f"| all | every check | {out['n_checks']} | "
                 + " | ".join(str(out["combined_right"][m]) for m in methods) + " |")
    lines += ["", f"Wrong answers (CN, motif, metallic) at confidence >= {out['min_confidence']}: "
              + "; ".join(f"{m}: {', '.join(v) or 'none'}" for m, v in out["confident_wrong"].items()), ""]
    first = DEFAULT_BACKEND if DEFAULT_BACKEND in methods else methods[0]
    found = [r for r in out["rows"] if "skipped" not in r and r["answers"][first]["findings"]]
    lines += [f"Findings of the {first} answers (code, and the message up to its first colon); the other files "
              "have none:", "", "| file | kind | findings |", "|---|---|---|"]
    lines += [f"| {r['file']} | {r['kind']} | {'; '.join(r['answers'][first]['findings'])} |" for r in found]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
