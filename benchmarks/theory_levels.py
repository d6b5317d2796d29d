"""Two theory levels on the measured files: does a model trained without SCF flag the SCF models' errors?

Issue 20 proposes, as one way to make the CN confidence carry the gap between theory and
measurement, "the disagreement of models trained on two theory levels of the same sites, no SCF
and SCF". This measures that lever on the measured files of ``../shared/data``. For each element
given, LightGBM's CN classifier and site-averaged CN regressor are trained (the default
preprocessing and, as ``training.augmentation_for`` chooses it, the augmentation of the other
level's calculation settings) on the other level's database, and answer each measured file
beside the shipped default (SCF) models:

- CN: where the two CN answers differ, ``predict`` could cap the confidence as it does for a CN
  and motif that disagree (``prediction.DISAGREEMENT_CONFIDENCE``). Counted: the shipped answers
  at confidence >= 0.9, right and wrong, before and after such a cap.
- Site-averaged CN: the shipped regressor, the other level's, and their mean, each judged as
  ``measured.py`` judges a mixed compound (within 0.5), on the mixed compounds and, as a check of
  bias, on the single-site compounds (against their CN).

The other level's database is named per element as ``EL=PATH`` or ``EL=git:COMMIT`` (the bundled
``larch_motif/data/default_xanes.sqlite`` at that commit, read with ``git show``): the bundled
database held Mn and Fe without SCF up to aa1aa0a, Zn up to c49a3c4.

    .venv/bin/python benchmarks/theory_levels.py Mn=git:aa1aa0a Fe=git:aa1aa0a Zn=git:c49a3c4
        [--write docs/validation/theory_levels.md]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from augmentation import measured_files
from measured import DEFAULT_DATA, judge
from validation_page import emit, provenance

from larch_motif.database import open_database
from larch_motif.prediction import DISAGREEMENT_CONFIDENCE, predict
from larch_motif.spectra import features, normalize, read_spectrum
from larch_motif.training import train, train_cn_mean

BUNDLED = "larch_motif/data/default_xanes.sqlite"
HIGH = 0.9


def other_database(spec: str, tmp: Path) -> tuple[str, Path]:
    """``EL=PATH`` or ``EL=git:COMMIT`` -> (element, database path)."""
    element, _, where = spec.partition("=")
    if not where:
        raise SystemExit(f"theory_levels.py: {spec!r}: give EL=PATH or EL=git:COMMIT")
    if not where.startswith("git:"):
        return element, Path(where)
    commit = where[4:]
    path = tmp / f"{commit}.sqlite"
    if not path.exists():
        root = Path(__file__).resolve().parents[1]
        blob = subprocess.run(["git", "show", f"{commit}:{BUNDLED}"], cwd=root, capture_output=True, check=True).stdout
        path.write_bytes(blob)
    return element, path


def settings(db: Path | None, element: str) -> str:
    with open_database(db) as store:
        params = ((store.calculation(element) or {}).get("parameters") or {})
    scf = params.get("scf_radius_A")
    return f"SCF {scf} A" if scf else "no SCF"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("levels", nargs="+", help="EL=PATH or EL=git:COMMIT, the other level's database")
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    folders = [f for f in DEFAULT_DATA if (f / "labels.json").is_file()]
    if not folders:
        print("theory_levels.py: skipped: no measured spectra found")
        return 0
    rows, theory = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.levels:
            element, db = other_database(spec, Path(tmp))
            cn_model, cn_report = train(element, "cn", "lightgbm", db=db, cv=5)
            avg_model, avg_report = train_cn_mean(element, "lightgbm", db=db, cv=5)
            theory.append((element, spec.partition("=")[2], settings(db, element), settings(None, element),
                           cn_report["accuracy"], avg_report["mae"]))
            for path, lab in measured_files(element, folders):
                if not path.is_file() or lab["kind"] == "metal":
                    continue
                (ship,) = predict(path, element=element, backend="lightgbm")
                grp = read_spectrum(path, normalized=bool(lab.get("normalized")))
                grp.motif_warnings = []
                normalize(grp)
                (alt,) = predict(grp, model=cn_model, element=element, target="cn")
                alt_avg = float(avg_model.predict(features(grp, avg_model.preprocessing)[None, :])[0])
                rows.append({"element": element, "file": path.name, "compound": lab["compound"], "kind": lab["kind"],
                             "truth": lab["cn_site_average"], "cn": str(ship["cn"]), "confidence": ship["cn_confidence"] or 0.0,
                             "other_cn": str(alt["cn"]), "other_p": max(alt["cn_probabilities"].values()),
                             "average": ship["cn_site_average"], "other_average": alt_avg})
    emit(render(rows, theory), args.write)
    return 0


def _right(r: dict) -> bool:
    """Whether the shipped answer is right as ``measured.judge`` has it: a compound by its CN, a
    mixed compound by its site average."""
    truth = {"cn": int(r["truth"]) if r["kind"] == "compound" else None, "site_average": r["truth"]}
    return all(judge(r["kind"], truth, {"cn": r["cn"], "motif": None, "site_average": r["average"]}).values())


def render(rows: list[dict], theory: list[tuple]) -> str:
    out = [
        "# Two theory levels (no SCF, SCF) on the measured files", "",
        f"{provenance()}. LightGBM throughout. The shipped default models (SCF) answer each measured "
        "file (metals aside) beside a CN classifier and a site-averaged CN regressor trained on the other "
        "level's database (the same minerals computed with the other FEFF10 settings, trained with the "
        "augmentation of those settings). Right: a compound's CN equals its label; a site average within "
        "0.5 of the label's site average (a compound's: its CN).", "",
        "| element | other database | its settings | shipped settings | other level: CN accuracy, grouped 5-fold | "
        "other level: site-average MAE |", "|---|---|---|---|---|---|"]
    out += [f"| {el} | {src} | {s_other} | {s_ship} | {acc:.3f} | {mae:.2f} |"
            for el, src, s_other, s_ship, acc, mae in theory]
    out += ["", "| element | compound | kind | truth | CN shipped (confidence) | CN other level (p) | "
            "site average shipped | other level | mean |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        mark = "" if r["cn"] == r["other_cn"] else " **differs**"
        mean = (r["average"] + r["other_average"]) / 2
        out.append(f"| {r['element']} | {r['compound']} | {r['kind']} | {r['truth']:.2f} | {r['cn']} ({r['confidence']:.2f}) | "
                   f"{r['other_cn']} ({r['other_p']:.2f}){mark} | {r['average']:.2f} | {r['other_average']:.2f} | {mean:.2f} |")
    high = [r for r in rows if r["confidence"] >= HIGH]
    kept = [r for r in high if r["cn"] == r["other_cn"]]

    def wrong(rs: list[dict]) -> int:
        return sum(not _right(r) for r in rs)

    out += ["", f"CN answers at confidence >= {HIGH} (shipped): {len(high)}, of which wrong {wrong(high)}. "
            f"Capped at {DISAGREEMENT_CONFIDENCE} where the other level's CN differs: {len(kept)} stay at >= {HIGH}, "
            f"of which wrong {wrong(kept)}; right answers that lose their confidence: {len(high) - len(kept) - (wrong(high) - wrong(kept))}.",
            "", "Site averages within 0.5 of the truth:", "", "| kind | n | shipped | other level | mean of the two |",
            "|---|---|---|---|---|"]
    for kind in ("mixed", "compound"):
        of = [r for r in rows if r["kind"] == kind]
        counts = [sum(abs(v - r["truth"]) <= 0.5 for r, v in zip(of, vals)) for vals in (
            [r["average"] for r in of], [r["other_average"] for r in of],
            [(r["average"] + r["other_average"]) / 2 for r in of])]
        out.append(f"| {kind} | {len(of)} | " + " | ".join(str(c) for c in counts) + " |")
    bias = [r["other_average"] - r["truth"] for r in rows if r["kind"] == "compound" and r["truth"] == 6]
    if bias:
        mixed = [r for r in rows if r["kind"] == "mixed"]
        below = sum(r["other_average"] < r["average"] for r in mixed)
        out += ["", f"Offset of the other level's site average on the CN-6 compounds (its answer minus 6): mean "
                f"{sum(bias) / len(bias):+.2f} (n {len(bias)}). On {below} of the {len(mixed)} mixed compounds the other "
                "level answers lower than the shipped one."]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
