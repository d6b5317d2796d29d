"""What the bundled database holds, per element: settings, sites, CN and motif counts, failures
by reason and FEFF10 time, against the coverage each element needs (issue 21: at least 150
anion-coordinated sites from at least 100 minerals, CN 4 and CN 6 both present).

Read from the database itself (``larch-motif db info`` and the stored sites), so the page follows
the file; ``--db`` reads another one (a build store). FEFF10 time is the sum of the stored
per-site calculation times (CPU seconds of one worker), not the wall time of a build.

    .venv/bin/python benchmarks/database.py [--db FILE] [--write docs/validation/database.md] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from validation_page import emit, provenance

from larch_motif.database import open_database
from larch_motif.labels import in_site_domain, is_metallic

MIN_ANION_SITES, MIN_MINERALS = 150, 100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, help="database file (default: the bundled one)")
    parser.add_argument("--write", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = {}
    with open_database(args.db) as store:
        info = store.info()["elements"]
        for key, el_info in info.items():
            element, edge = key.split()[0], el_info["edge"]
            sites = store.site_spectra(element, edge)
            anion = [s for s in sites if in_site_domain(s.get("ligands"), "anion")]
            metallic = [s for s in sites if is_metallic(s.get("ligands"))]
            cn = Counter(int(s["cn"]) for s in anion if s.get("cn") is not None)
            seconds = store.conn.execute(
                "SELECT SUM(seconds), COUNT(seconds) FROM sites WHERE element=? AND edge=? AND status='done'",
                (element, edge)).fetchone()
            params = el_info["calculation"]["parameters"] if el_info.get("calculation") else {}
            rows[f"{element} {edge}"] = {
                "scf_radius_A": params.get("scf_radius_A"), "sites": el_info["n_sites"],
                "minerals": el_info["n_minerals"], "anion_sites": len(anion),
                "anion_minerals": len({s["mineral"] for s in anion}), "metallic_sites": len(metallic),
                "cn": dict(sorted(cn.items())), "motif": dict(Counter(s["motif"] for s in anion).most_common(6)),
                "failures": el_info["failures"], "pending": el_info["pending"],
                "feff_seconds": round(seconds[0] or 0.0), "feff_seconds_per_site": round((seconds[0] or 0) / max(seconds[1], 1), 1)}
    text = render(rows, args)
    emit(text, args.write, json.dumps(rows, indent=1) if args.json else None)
    return 0


def render(rows: dict, args: argparse.Namespace) -> str:
    lines = ["# The database", "",
             provenance() + f"; {'the bundled database' if args.db is None else args.db}. Anion sites: the "
             "sites whose ligands are all anions (what the CN and motif models train on); metallic: no anion "
             f"ligand (the metallic detector's). Coverage wanted per element: at least {MIN_ANION_SITES} anion "
             f"sites from at least {MIN_MINERALS} minerals, CN 4 and CN 6 both present.", "",
             "| element | SCF | sites | minerals | anion sites (minerals) | metallic | CN of anion sites | "
             "commonest motifs | coverage | failures | FEFF10 s (per site) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, r in rows.items():
        short = []
        if r["anion_sites"] < MIN_ANION_SITES:
            short.append(f"{r['anion_sites']} < {MIN_ANION_SITES} sites")
        if r["anion_minerals"] < MIN_MINERALS:
            short.append(f"{r['anion_minerals']} < {MIN_MINERALS} minerals")
        short += [f"no CN {n}" for n in (4, 6) if not r["cn"].get(n)]
        scf = f"{r['scf_radius_A']:g} A" if r["scf_radius_A"] else "none"
        lines.append(
            f"| {key} | {scf} | {r['sites']} | "
            f"{r['minerals']} | {r['anion_sites']} ({r['anion_minerals']}) | {r['metallic_sites']} | "
            + ", ".join(f"{k}: {v}" for k, v in r["cn"].items()) + " | "
            + ", ".join(f"{k} {v}" for k, v in r["motif"].items()) + " | "
            + ("met" if not short else "short: " + "; ".join(short)) + " | "
            + ", ".join(f"{k}: {v}" for k, v in r["failures"].items()) + (f"; {r['pending']} pending" if r["pending"] else "")
            + f" | {r['feff_seconds']} ({r['feff_seconds_per_site']}) |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
