"""Validation on measured reference spectra (../shared/data/experimental), with baselines.

For every spectrum whose element has a bundled database, prints: compound, true CN/motif, the
default models' predictions with probabilities and in_domain, and the answers of two baselines
on the same preprocessing: the nearest database spectrum (cosine similarity on the feature
grid) and the majority CN class of the database. Skips with a message when the folder is absent.

    .venv/bin/python benchmarks/measured.py [--data ../shared/data/experimental]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from larch_motif.database import open_database
from larch_motif.prediction import predict
from larch_motif.spectra import Preprocessing, features, normalize, read_spectrum, theory_group

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "experimental"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    labels_path = args.data / "labels.json"
    if not labels_path.is_file():
        print(f"measured.py: skipped: no measured spectra at {args.data}")
        return 0
    labels = json.loads(labels_path.read_text())
    prep = Preprocessing()
    with open_database(None) as db:
        bundled = {el for el, _ in db.elements()}
        references = {el: db.site_spectra(el) for el in bundled}
    rows = []
    for name, lab in sorted(labels.items()):
        element = lab["element"]
        if element not in bundled:
            rows.append({"file": name, "compound": lab["compound"], "skipped": f"no bundled {element} model"})
            continue
        (res,) = predict(args.data / name, element=element)
        grp = read_spectrum(args.data / name)
        grp.motif_warnings = []
        normalize(grp)
        x = features(grp, prep)
        refs = references[element]
        R = np.vstack([features(theory_group(s["energy_eV"], s["mu"], prep), prep) for s in refs])
        cos = R @ x / (np.linalg.norm(R, axis=1) * np.linalg.norm(x))
        nearest = refs[int(np.argmax(cos))]
        majority = Counter(str(s["cn"]) for s in refs).most_common(1)[0][0]
        rows.append({"file": name, "compound": lab["compound"], "true_cn": lab["cn"], "true_motif": lab["motif"],
                     "cn": res["cn"], "p_cn": res["cn_probabilities"][res["cn"]],
                     "motif": res["motif"], "p_motif": res["motif_probabilities"][res["motif"]],
                     "in_domain": res["in_domain"], "nearest_cn": str(nearest["cn"]),
                     "nearest_site": nearest["site_id"], "majority_cn": majority})
    scored = [r for r in rows if "skipped" not in r and r["true_cn"] is not None]
    summary = {method: sum(str(r["true_cn"]) == r[key] for r in scored)
               for method, key in (("model", "cn"), ("nearest_reference", "nearest_cn"), ("majority", "majority_cn"))}
    if args.json:
        print(json.dumps({"rows": rows, "n_scored": len(scored), "cn_right": summary}, indent=1))
        return 0
    print(f"{'compound':45s} {'true':>9s} {'model CN (p)':>14s} {'motif (p)':>14s} {'dom':>4s} {'nearest':>7s} {'major':>5s}")
    for r in rows:
        if "skipped" in r:
            print(f"{r['compound'][:45]:45s} skipped: {r['skipped']}")
            continue
        true = f"{r['true_cn']}/{r['true_motif']}"
        print(f"{r['compound'][:45]:45s} {true:>9s} {r['cn']:>6s} ({r['p_cn']:.2f}) {r['motif']:>7s} ({r['p_motif']:.2f}) "
              f"{'yes' if r['in_domain'] else 'no':>4s} {r['nearest_cn']:>7s} {r['majority_cn']:>5s}")
    print(f"CN right of {len(scored)} with known CN: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
