"""Synthetic mixtures as training rows of the site-averaged CN regressor: measured, not adopted.

Measured mixed-site compounds (magnetite, hausmannite Mn3O4, hopeite, covellite) are answered
near the CN of their majority sites by ``cn_site_average``, and the database holds few compounds
of mixed CN (Mn 6, Zn 9, Fe 27, Cu 58). This trains the regressor (lightgbm) with and without
extra rows: pairs of the element's compound spectra with the same ligand species and CN differing
by at least 0.5, mixed on the absolute FEFF10 energy axis (which keeps the chemical shift: Mn2+,
Mn3+, Mn4+ oxides have median half-step E0 6548.0, 6550.7, 6553.2 eV) with a weight w drawn in
0.2-0.8, labelled w CN_A + (1 - w) CN_B. Grouped 5-fold CV by mineral (3 assignments): a mixture
is a training row of a fold only where both its parents' minerals are; scores on the real
compounds only. Then models trained on every row answer the element's measured mixed compounds
(``kind`` mixed in the ``labels.json`` of ``measured.DEFAULT_DATA``).

    .venv/bin/python benchmarks/site_average_mixtures.py Mn [--per-compound 2]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from augmentation import measured_files
from measured import DEFAULT_DATA

from larch_motif.database import open_database
from larch_motif.labels import cv_group
from larch_motif.models import SiteAverageRegressor
from larch_motif.spectra import features, normalize, preprocessing_for, read_spectrum
from larch_motif.training import (
    augmentation_for,
    grouped_folds,
    mixed_cn,
    select_compounds,
    site_features,
)


def mixtures(compounds: list[dict], ligands: dict[str, str], n: int, rng: np.random.Generator) -> list[dict]:
    """Up to ``n`` two-compound mixtures (module docstring), each naming its parents' CV groups."""
    out: list[dict] = []
    for _ in range(50 * n):
        if len(out) >= n:
            break
        a, b = rng.choice(len(compounds), 2, replace=False)
        A, B = compounds[a], compounds[b]
        if abs(A["cn_mean"] - B["cn_mean"]) < 0.5 or ligands[A["structure_id"]] != ligands[B["structure_id"]]:
            continue
        w = rng.uniform(0.2, 0.8)
        mu = w * A["mu"] + (1 - w) * np.interp(A["energy_eV"], B["energy_eV"], B["mu"])
        out.append({"site_id": f"mix:{A['structure_id']}+{B['structure_id']}", "energy_eV": A["energy_eV"],
                    "mu": mu, "cn_mean": w * A["cn_mean"] + (1 - w) * B["cn_mean"],
                    "parents": (cv_group(A), cv_group(B))})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("element")
    parser.add_argument("--per-compound", type=float, default=2.0, help="mixtures per real compound")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    el = args.element
    with open_database(None) as store:
        sites = store.site_spectra(el)
        compounds = select_compounds(store.compound_spectra(el), sites)
        augmentation = augmentation_for(store.calculation(el), "cn_mean")
    species: dict[str, set] = {}
    for s in sites:
        species.setdefault(s["structure_id"], set()).add(str(s.get("ligands")))
    ligands = {k: ",".join(sorted(v)) for k, v in species.items()}
    mixed_rows = mixtures(compounds, ligands, int(args.per_compound * len(compounds)), np.random.default_rng(0))
    rows = compounds + mixed_rows
    prep = preprocessing_for(el)
    sf = site_features(rows, prep, augmentation)
    y = np.array([rows[k]["cn_mean"] for k in sf.site_index])
    real = sf.site_index < len(compounds)
    groups = np.array([cv_group(rows[k]) if r else "mixture" for k, r in zip(sf.site_index, real)])
    measured = []
    for path, lab in measured_files(el, [f for f in DEFAULT_DATA if (f / "labels.json").is_file()]):
        if lab["kind"] == "mixed" and path.is_file():
            grp = read_spectrum(path, normalized=bool(lab.get("normalized")))
            grp.motif_warnings = []
            normalize(grp)
            measured.append((path.name, lab["cn_site_average"], features(grp, prep)[None, :]))
    for use in (False, True):
        errors, mixed = [], []
        rows_real = np.where(real)[0]
        for seed in range(args.repeats):
            for train, test in grouped_folds(groups[rows_real], sf.augmented[rows_real], 5, fold_seed=seed):
                train, test = rows_real[train], rows_real[test]
                if use:
                    in_train = set(groups[train])
                    train = np.concatenate([train, [r for r in np.where(~real)[0]
                                                    if all(p in in_train for p in rows[sf.site_index[r]]["parents"])]])
                reg = SiteAverageRegressor("lightgbm").fit(sf.X[train], y[train])
                errors.append(np.abs(reg.predict(sf.X[test]) - y[test]))
                mixed.append(mixed_cn(y[test]))
        e, m = np.concatenate(errors), np.concatenate(mixed)
        reg = SiteAverageRegressor("lightgbm").fit(sf.X if use else sf.X[real], y if use else y[real])
        answers = ", ".join(f"{name} {float(reg.predict(x)[0]):.2f} (truth {truth})" for name, truth, x in measured)
        print(f"{el} {'with' if use else 'without'} {len(mixed_rows)} mixtures: MAE {e.mean():.3f}, "
              f"on the mixed {e[m].mean():.3f}, within 0.5 {np.mean(e <= 0.5):.3f} "
              f"(mixed {np.mean(e[m] <= 0.5):.3f}); measured: {answers or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
