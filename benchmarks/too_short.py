"""Measured spectra cut short of every short-scan window: how the full-grid models answer them.

A spectrum that ends before the smallest short-scan window (``spectra.SHORT_SCAN_WINDOWS_EV``,
+30 eV) is answered by the full-grid models, which read it as its end value past its last
point (finding ``range_too_short``); ``predict`` caps its CN, motif and metallic confidences
at ``preedge.CONFIDENCE_CAP`` (so it is "possibly metallic" at most). This cuts every measured compound of ``measured.DEFAULT_DATA``
(``kind`` compound in ``labels.json``) at E0 + C eV for each ``--cuts`` C (E0: Larch's, of the
whole spectrum), writes the cut as a two-column file and answers it with the default backend as
a user would, beside the whole spectrum's answer. Cells: CN right of the compounds, the
answers' mean tempered top-class probability p (what the uncapped confidence follows), and the
wrong CN answers at p >= 0.9 (which the cap turns into answers at confidence <= 0.5); a
metallic answer counts as a wrong CN, with the metallic detector's probability and confidence.

    .venv/bin/python benchmarks/too_short.py [--cuts 15 20 25] [--write docs/validation/too_short.md]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from augmentation import measured_files
from measured import DEFAULT_DATA
from validation_page import emit, provenance

from larch_motif.database import open_database
from larch_motif.prediction import predict
from larch_motif.spectra import normalize, read_spectrum
from larch_motif.training import DEFAULT_BACKEND


def answer(path: Path, lab: dict) -> dict:
    """The default backend's answer for one file, as ``predict`` gives it to a user."""
    return predict(path, element=lab["element"], normalized=bool(lab.get("normalized")))[0].to_dict()


def top_p(res: dict) -> float:
    """The tempered top CN probability of an answer; for a metallic one (no CN), the metallic
    detector's probability of metallic."""
    return res["metallic_probability"] if res.get("metallic") else max(res["cn_probabilities"].values())


def confidence(res: dict) -> float:
    """The confidence of an answer as ``predict`` gives it: the CN's, or the metallic detector's."""
    return res["metallic_confidence"] if res.get("metallic") else res["cn_confidence"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuts", type=float, nargs="+", default=[15.0, 20.0, 25.0],
                        help="where the cut spectra end (eV above E0)")
    parser.add_argument("--write", type=Path, default=None, help="also write the validation page there")
    args = parser.parse_args()
    with open_database(None) as store:
        elements = sorted(el for el, edge in store.elements() if edge == "K")
    files = [(p, lab) for el in elements for p, lab in measured_files(el, list(DEFAULT_DATA))
             if lab["kind"] == "compound" and p.exists()]
    if not files:
        emit("too_short.py: skipped: no measured compound found\n", None)
        return 0
    rows = {c: [] for c in ["whole", *args.cuts]}
    with tempfile.TemporaryDirectory() as tmp:
        for path, lab in files:
            truth = str(lab["cn"])
            whole = answer(path, lab)
            rows["whole"].append((path.name, truth, whole))
            grp = read_spectrum(path, normalized=bool(lab.get("normalized")))
            normalize(grp)
            energy, mu = np.asarray(grp.energy, float), np.asarray(grp.mu, float)
            for cut in args.cuts:
                keep = energy <= grp.e0 + cut
                out = Path(tmp) / f"{path.stem}_to{cut:g}eV.dat"
                np.savetxt(out, np.column_stack([energy[keep], mu[keep]]), header="energy_eV mu")
                rows[cut].append((path.name, truth, answer(out, lab)))
            print(f"{path.name} done", file=sys.stderr, flush=True)
    lines = ["# Measured spectra cut short of every short-scan window", "",
             provenance() + f". Default backend ({DEFAULT_BACKEND}); the {len(files)} measured compounds of "
             "`../shared/data` (kind compound), each whole and cut at E0 + C eV (E0: Larch's, of the whole "
             "spectrum). Cells: CN right; mean tempered top-class probability p (what the uncapped confidence "
             "follows; for a metallic answer, which counts as a wrong CN, the detector's p of metallic and its "
             "confidence); wrong CN answers at p >= 0.9; the largest confidence of a wrong CN answer as `predict` "
             "gives it (capped at 0.5 where the spectrum is too short). A cut that reaches +30 eV above the half-step "
             "E0 the models read (Larch's E0 lies up to 6 eV above it in the Mn oxides) is answered by the +30 eV "
             "short-scan window, uncapped.", "",
             "| spectrum | CN right | mean p | wrong at p >= 0.9 | largest confidence of a wrong CN |",
             "|---|---|---|---|---|"]
    for cut, answers in rows.items():
        right = [a["cn"] == truth for _, truth, a in answers]
        p = [top_p(a) for _, _, a in answers]
        wrong_sure = [name for (name, truth, a), q in zip(answers, p) if a["cn"] != truth and q >= 0.9]
        wrong_conf = [confidence(a) for _, truth, a in answers if a["cn"] != truth]
        label = "whole" if cut == "whole" else f"cut at E0 + {cut:g} eV"
        lines.append(f"| {label} | {sum(right)} of {len(right)} | {np.mean(p):.2f} | {len(wrong_sure)}"
                     + (f" ({', '.join(wrong_sure)})" if wrong_sure else "")
                     + f" | {f'{max(wrong_conf):.2f}' if wrong_conf else '-'} |")
    lines += ["", "Answers (CN, p, confidence) per file:", "",
              "| file | truth | " + " | ".join("whole" if c == "whole" else f"+{c:g} eV" for c in rows) + " |",
              "|---|---|" + "---|" * len(rows)]
    for k, (name, truth, _) in enumerate(rows["whole"]):
        cells = [f"{a['cn'] or a['motif']} ({top_p(a):.2f}, {confidence(a):.2f})"
                 + ("" if a["cn"] == truth else " **x**") for _, _, a in (rows[c][k] for c in rows)]
        lines.append(f"| {name} | {truth} | " + " | ".join(cells) + " |")
    emit("\n".join(lines) + "\n", args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
