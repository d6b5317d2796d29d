"""Answers a person reads: a text block for one prediction, a table for several.

Both read the fields of ``results.Prediction`` (or its JSON dict, read back with
``Prediction.from_dict``) and nothing else;
the CLI prints them without ``--json`` and the Larch ``group.motif`` shows the block when
printed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from larch_motif.results import Answer, Prediction

#: Names of the ChemEnv motif symbols that the bundled databases hold most often
MOTIF_NAMES: dict[str, str] = {
    "L:2": "linear", "A:2": "angular", "TL:3": "trigonal plane", "TY:3": "trigonal non-coplanar",
    "TS:3": "T-shaped", "T:4": "tetrahedron", "S:4": "square plane", "SS:4": "see-saw",
    "S:5": "square pyramid", "T:5": "trigonal bipyramid", "PP:5": "pentagonal plane",
    "O:6": "octahedron", "T:6": "trigonal prism", "PP:6": "pentagonal pyramid",
    "PB:7": "pentagonal bipyramid", "ST:7": "square-face capped trigonal prism",
    "ET:7": "end-trigonal-face capped trigonal prism", "FO:7": "face-capped octahedron",
    "C:8": "cube", "SA:8": "square antiprism", "SBT:8": "square-face bicapped trigonal prism",
    "TBT:8": "triangular-face bicapped trigonal prism", "DD:8": "dodecahedron",
    "HB:8": "hexagonal bipyramid", "BO_1:8": "bicapped octahedron", "BO_2:8": "bicapped octahedron",
    "BO_3:8": "bicapped octahedron", "TT_1:9": "tricapped trigonal prism", "TC:9": "triangular cupola",
    "C:12": "cuboctahedron", "AC:12": "anticuboctahedron", "I:12": "icosahedron",
    "metallic": "metallic environment, no coordination polyhedron",
}


def motif_name(symbol: str | None) -> str:
    """``'O:6 (octahedron)'`` for a ChemEnv symbol, the symbol alone where it has no name here."""
    if symbol is None:
        return "-"
    name = MOTIF_NAMES.get(symbol)
    return f"{symbol} ({name})" if name and symbol != "metallic" else (name or symbol)


def _answer(a: Answer | None, target: str) -> str:
    """``'6  p 0.96, confidence 0.97'``, ``'uncertain: 4 (p 0.48) or 6 (p 0.41)'``, or ``'-'``."""
    if a is None or a.value is None:
        return "-"
    if a.uncertain:
        return "uncertain: " + " or ".join(f"{c} (p {p:.2f})" for c, p in (a.top2 or []))
    p, conf = a.probability, a.confidence
    shown = motif_name(a.value) if target == "motif" else str(a.value)
    details = ", ".join(x for x in (f"p {p:.2f}" if p is not None else "",
                                    f"confidence {conf:.2f}" if conf is not None else "") if x)
    return f"{shown}  ({details})" if details else shown


def _runners_up(a: Answer, n: int = 2) -> str:
    """The next most probable classes after the answer, ``'5 (p 0.03), 4 (p 0.01)'``."""
    return ", ".join(f"{c} (p {p:.2f})" for c, p in a.runners_up(n))


def _name(res: Prediction, folder: str | None = None) -> str:
    """The file (relative to ``folder`` where given), with its group where that is not just the
    file's stem (an Athena project)."""
    from pathlib import Path

    name = str(res.file or res.group or "spectrum")
    if folder and res.file:
        name = os.path.relpath(str(res.file), folder)
    shown = res.group and res.file and res.group != Path(str(res.file)).stem
    return name + (f" [{res.group}]" if shown else "")


def _common_folder(results: list[Prediction]) -> str | None:
    """The folder that holds every file of ``results`` (several files, all given as files, in
    one folder tree), else ``None``: the table then names them relative to it."""
    files = [str(r.file) for r in results if r.file]
    if len(files) < 2 or len(files) != len(results):
        return None
    try:
        folder = os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in files])
    except ValueError:  # paths on different drives
        return None
    return folder if folder not in ("", os.sep) else None


def summary_text(res: Prediction | Mapping) -> str:
    """A few lines that a person reads: where the spectrum sits, the CN and motif with their
    probabilities and calibrated confidences, the site-averaged CN, whether it looks metallic,
    whether it is in the models' domain, and each finding on its own line. ``res``: a
    ``Prediction`` or its JSON dict."""
    res = Prediction.from_dict(res)
    if res.error is not None:
        return f"{_name(res)}: not predicted: {res.error}"
    lines = []
    head = f"{_name(res)}: {res.element or '?'} {res.edge or ''} edge"
    if res.e0 is not None:
        head += f", E0 {res.e0:.1f} eV"
    if res.grid_eV:
        lo, hi = res.grid_eV
        head += f" (model grid {lo:+g} to {hi:+g} eV)"
    lines.append(head)
    if res.metallic:
        lines.append(f"  metallic environment: no coordination polyhedron, no CN or motif "
                     f"(p {res.metallic_probability:.2f}, confidence {res.metallic_confidence:.2f})")
    else:
        for target, label in (("cn", "CN"), ("motif", "motif")):
            a = res.answer(target)
            if a is not None:
                runners = _runners_up(a)
                lines.append(f"  {label:6s} {_answer(a, target)}" + (f"; next {runners}" if runners else ""))
    if res.cn_site_average is not None:
        lines.append(f"  site-averaged CN {res.cn_site_average:.2f} (for compounds with several absorber sites)")
    if res.preedge is not None:
        if res.preedge.get("centroid_eV") is None or res.preedge["height"] <= 0:
            lines.append("  pre-edge: no peak above the baseline")
        else:
            lines.append(f"  pre-edge peak {res.preedge['height']:.3f} of the edge step at E0 "
                         f"{res.preedge['centroid_eV']:+.1f} eV")
    lines.append("  in domain: yes" if res.in_domain else
                 "  in domain: NO: the spectrum is unlike the training spectra; read the answer with care")
    for w in res.warnings:
        lines.append(f"  finding: {w}")
    return "\n".join(lines)


def results_table(results: list[Prediction] | list[Mapping]) -> str:
    """One row per spectrum (Markdown-style columns a terminal shows as a table), then the
    findings of each row by its number. Files that share a folder are named relative to it,
    and a first line names the folder."""
    results = [Prediction.from_dict(r) for r in results]
    folder = _common_folder(results)
    header = ["#", "spectrum", "element", "CN", "p", "conf", "motif", "site-avg CN", "in domain"]
    rows = []
    for k, res in enumerate(results, 1):
        if res.error is not None:
            rows.append([str(k), _name(res, folder), "-", "error", "", "", "", "", "no"])
            continue
        a = None if res.metallic else res.answer("cn")
        p = a.probability if a is not None else None
        conf = a.confidence if a is not None else None
        rows.append([str(k), _name(res, folder), str(res.element or "?"), "-" if a is None else str(a.value),
                     f"{p:.2f}" if p is not None else "", f"{conf:.2f}" if conf is not None else "",
                     motif_name(res.motif) if res.motif != "metallic" else "metallic",
                     f"{res.cn_site_average:.2f}" if res.cn_site_average is not None else "-",
                     "yes" if res.in_domain else "NO"])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:{'>' if i in (0, 4, 5, 7) else '<'}{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*header).rstrip(), "  ".join("-" * w for w in widths)]
    if folder:
        lines.insert(0, f"spectra in {folder}{os.sep}")
    lines += [fmt.format(*r).rstrip() for r in rows]
    notes = [(k, w) for k, res in enumerate(results, 1) for w in res.warnings
             if res.error is None or w != res.error]
    notes += [(k, res.error) for k, res in enumerate(results, 1) if res.error is not None]
    if notes:
        lines.append("")
        lines += [f"  {k}: {w}" for k, w in notes]
    return "\n".join(lines)
