"""Validation on measured reference spectra (../shared/data/experimental), with baselines.

For every spectrum whose element has a bundled database, prints: compound, true CN/motif, the
default models' predictions (rf, xgboost, lightgbm) with probabilities and in_domain, and the
answers of the baselines of ``larch_motif.baselines`` trained on the same database sites and
features: Larch's PLS regression of CN (``larch.math.learn_regress``), the nearest database
spectrum (cosine similarity) and the majority class, for CN and (all but PLS) for motif.
Besides the count of right answers it prints each method's mean Brier score over the
references (``baselines.brier_score``: 0 for sure and right, 2 for sure and wrong): the
majority baseline answers with the class shares of the database, the trees with the
probabilities of their answers (tempered by the temperature fitted on held-out minerals; the
untempered figures are printed too), the nearest reference and PLS with one sure class.
Skips with a message when the folder is absent.

    .venv/bin/python benchmarks/measured.py [--data ../shared/data/experimental]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from larch_motif.baselines import baselines, brier_score, class_probabilities
from larch_motif.database import open_database
from larch_motif.prediction import predict
from larch_motif.spectra import features, normalize, preprocessing_for, read_spectrum
from larch_motif.training import default_model, select_sites, site_features

BACKENDS = ("rf", "xgboost", "lightgbm")
TARGETS = ("cn", "motif")

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
    with open_database(None) as db:
        bundled = {el for el, _ in db.elements()}
        references = {el: db.site_spectra(el) for el in bundled}
    fitted: dict = {}
    for el in bundled:
        prep = preprocessing_for(el)  # the baselines see the features of the default models
        for target in TARGETS:
            sites = [s for s in select_sites(references[el]) if s[target] is not None]
            X = site_features(sites, prep).X
            y = np.array([str(s[target]) for s in sites])
            fitted[el, target] = {name: b.fit(X, y)
                                  for name, b in baselines(target, prep.feature_energies()).items()}
    rows = []
    for name, lab in sorted(labels.items()):
        element = lab["element"]
        if element not in bundled:
            rows.append({"file": name, "compound": lab["compound"], "skipped": f"no bundled {element} model"})
            continue
        row = {"file": name, "compound": lab["compound"], "true_cn": lab["cn"], "true_motif": lab["motif"]}
        for backend in BACKENDS:
            (res,) = predict(args.data / name, element=element, backend=backend)
            row[backend] = res["cn"]
            row[f"p_{backend}"] = res["cn_probabilities"][res["cn"]]
            row[f"{backend}_motif"] = res["motif"]
            for target in TARGETS:
                row[f"{backend}_{target}_probabilities"] = res[f"{target}_probabilities"]
            row[f"{backend}_site_average"] = res.get("cn_site_average")
            row["in_domain"] = res["in_domain"]
            row["warnings"] = res["warnings"]
        grp = read_spectrum(args.data / name)
        grp.motif_warnings = []
        normalize(grp)
        x = features(grp, preprocessing_for(element))[None, :]  # the default models' features too
        for target in TARGETS:
            for backend in BACKENDS:
                m = default_model(element, target, backend=backend)
                row[f"{backend}_untempered_{target}_probabilities"] = dict(
                    zip(m.classes, map(float, m.predict_proba(x)[0])))
            for base, clf in fitted[element, target].items():
                row[base if target == "cn" else f"{base}_motif"] = str(clf.predict(x)[0])
                row[f"{base}_{target}_probabilities"] = dict(
                    zip(map(str, clf.classes_), map(float, class_probabilities(clf, x)[0])))
        rows.append(row)
    methods = (*BACKENDS, "larch_pls", "nearest_reference", "majority")
    motif_methods = (*BACKENDS, "nearest_reference", "majority")
    scored = [r for r in rows if "skipped" not in r and r["true_cn"] is not None]
    summary = {m: sum(str(r["true_cn"]) == r[m] for r in scored) for m in methods}
    cn4 = [r for r in scored if str(r["true_cn"]) == "4"]
    summary_cn4 = {m: sum(r[m] == "4" for r in cn4) for m in methods}
    motif = {m: sum(r["true_motif"] == r[f"{m}_motif"] for r in scored) for m in motif_methods}
    brier = {target: {m: float(np.mean([brier_score(r[f"{m}_{target}_probabilities"], str(r[f"true_{target}"]))
                                        for r in scored]))
                      for m in (methods if target == "cn" else motif_methods)}
             for target in TARGETS}
    untempered = {target: {m: float(np.mean([brier_score(r[f"{m}_untempered_{target}_probabilities"],
                                                         str(r[f"true_{target}"])) for r in scored]))
                           for m in BACKENDS}
                  for target in TARGETS}
    if args.json:
        print(json.dumps({"rows": rows, "n_scored": len(scored), "cn_right": summary,
                          "cn4_right": summary_cn4, "n_cn4": len(cn4), "motif_right": motif,
                          "mean_brier": brier, "mean_brier_untempered": untempered}, indent=1))
        return 0
    head = " ".join(f"{m[:9]:>9s}" for m in methods)
    print(f"{'compound':38s} {'true':>9s} {head} {'motif(lgb)':>10s} {'avg(lgb)':>8s} {'dom':>4s}")
    for r in rows:
        if "skipped" in r:
            print(f"{r['compound'][:38]:38s} skipped: {r['skipped']}")
            continue
        true = f"{r['true_cn']}/{r['true_motif']}"
        cells = " ".join(f"{r[m]:>9s}" for m in methods)
        print(f"{r['compound'][:38]:38s} {true:>9s} {cells} {r['lightgbm_motif']:>10s} "
              f"{r['lightgbm_site_average']:8.2f} {'yes' if r['in_domain'] else 'no':>4s}")
    print(f"CN right of {len(scored)} with known CN: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    print(f"CN 4 right of {len(cn4)}: " + ", ".join(f"{k} {v}" for k, v in summary_cn4.items()))
    print("motif right: " + ", ".join(f"{k} {v}" for k, v in motif.items()))
    for target in TARGETS:
        print(f"mean Brier score, {target} (0 best, 2 sure and wrong): "
              + ", ".join(f"{k} {v:.3f}" for k, v in brier[target].items()))
        print(f"  {target} without the temperature (the trees' own probabilities): "
              + ", ".join(f"{k} {v:.3f}" for k, v in untempered[target].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
