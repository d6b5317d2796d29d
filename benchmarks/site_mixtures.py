"""Synthetic two-site mixtures as extra cn_mean training data (issue 20): grouped 5-fold CV MAE
of the site-averaged CN on the real compounds (3 fold assignments, mixtures drawn from the
training fold only) and the answer on the measured mixed file, per mixture factor (mixtures per
training compound). Usage: benchmarks/site_mixtures.py Mn,Fe,Zn,Cu 0,1"""
import sys
import time
from pathlib import Path

import numpy as np

import larch_motif.prediction as P
from larch_motif.database import open_database
from larch_motif.labels import cv_group
from larch_motif.models import MotifModel, SiteAverageRegressor
from larch_motif.spectra import preprocessing_for
from larch_motif.training import (
    DEFAULT_SITE_DOMAIN,
    FROM_DATABASE,
    _resolve_augmentation,
    grouped_folds,
    mixed_cn,
    select_compounds,
    site_features,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
#: the measured mixed compound of each element (../shared/data) and its site-averaged CN
MEASURED = {"Mn": (str(SHARED / "experimental/Mn_Mn3O4.dat"), 5.33),
            "Fe": (str(SHARED / "xaslib/Hansel2001_magnetite_xanes_001.xdi"), 5.33),
            "Zn": (str(SHARED / "xaslib/Chorover13BM_Zn_hopeite_rt_01.xdi"), 4.67),
            "Cu": (str(SHARED / "xaslib/CuS_covellite_13K_01.xdi"), 3.67)}
FRACTIONS = (1 / 3, 1 / 2, 2 / 3)


def mixtures(compounds, ligands, n, rng):
    pure = [c for c in compounds if not mixed_cn(c["cn_mean"])]
    out = []
    tries = 0
    while len(out) < n and tries < 50 * n:
        tries += 1
        a, b = rng.choice(len(pure), 2, replace=False)
        a, b = pure[a], pure[b]
        if a["cn_mean"] == b["cn_mean"] or ligands.get(a["structure_id"]) != ligands.get(b["structure_id"]):
            continue
        f = FRACTIONS[rng.integers(len(FRACTIONS))]
        ea, eb = a["energy_eV"], b["energy_eV"]
        keep = (ea >= eb[0]) & (ea <= eb[-1])
        e = ea[keep]
        mu = f * a["mu"][keep] + (1 - f) * np.interp(e, eb, b["mu"])
        out.append({"site_id": f"mix{len(out)}", "structure_id": f"mix{len(out)}", "energy_eV": e, "mu": mu,
                    "cn_mean": f * a["cn_mean"] + (1 - f) * b["cn_mean"], "mineral": None})
    return out


def run(element, factor, seeds=(0, 1, 2)):
    prep = preprocessing_for(element)
    with open_database(None) as store:
        sites = store.site_spectra(element, "K")
        compounds = select_compounds(store.compound_spectra(element, "K"), sites, DEFAULT_SITE_DOMAIN)
        aug = _resolve_augmentation(FROM_DATABASE, store, element, "K", "cn_mean")
    ligands = {}
    for s in sites:
        ligands.setdefault(s["structure_id"], set()).add(s.get("ligands"))
    ligands = {k: tuple(sorted(map(str, v))) for k, v in ligands.items()}
    sf = site_features(compounds, prep, aug)
    y = np.array([compounds[k]["cn_mean"] for k in sf.site_index])
    groups = np.array([cv_group(compounds[k]) for k in sf.site_index])
    res = []
    for seed in seeds:
        pred, true = [], []
        for k, (tr, te) in enumerate(grouped_folds(groups, sf.augmented, 5, fold_seed=seed)):
            Xtr, ytr = sf.X[tr], y[tr]
            if factor:
                train_c = sorted(set(sf.site_index[tr]))
                mix = mixtures([compounds[i] for i in train_c], ligands, int(factor * len(train_c)),
                               np.random.default_rng(100 * seed + k))
                if mix:
                    mf = site_features(mix, prep, aug)
                    Xtr = np.vstack([Xtr, mf.X])
                    ytr = np.concatenate([ytr, [mix[i]["cn_mean"] for i in mf.site_index]])
            reg = SiteAverageRegressor("lightgbm", None, 0).fit(Xtr, ytr)
            pred.append(reg.predict(sf.X[te]))
            true.append(y[te])
        pred, true = np.concatenate(pred), np.concatenate(true)
        mixed = mixed_cn(true)
        err = np.abs(pred - true)
        res.append((err.mean(), err[~mixed].mean(), err[mixed].mean() if mixed.any() else np.nan,
                    (err <= 0.5).mean()))
    res = np.array(res).mean(0)
    # final model on everything, measured file
    X, yy = sf.X, y
    if factor:
        mix = mixtures(compounds, ligands, int(factor * len(compounds)), np.random.default_rng(7))
        mf = site_features(mix, prep, aug)
        X = np.vstack([X, mf.X])
        yy = np.concatenate([yy, [mix[i]["cn_mean"] for i in mf.site_index]])
    reg = SiteAverageRegressor("lightgbm", None, 0).fit(X, yy)
    model = MotifModel(reg, element, "K", "cn_mean", prep, sf.X[~sf.augmented], {})
    meas = None
    if element in MEASURED:
        orig = P._default_model
        P._default_model = lambda el, target, *a, **k: model if target == "cn_mean" else orig(el, target, *a, **k)
        try:
            (r,) = P.predict(MEASURED[element][0], element=element)
            meas = r["cn_site_average"]
        finally:
            P._default_model = orig
    return res, meas, int(mixed_cn([c["cn_mean"] for c in compounds]).sum())


if __name__ == "__main__":
    factors = [float(f) for f in sys.argv[2].split(",")]
    for el in sys.argv[1].split(","):
        for fac in factors:
            t = time.time()
            (mae, mae_pure, mae_mixed, w05), meas, nmix = run(el, fac)
            truth = MEASURED.get(el, (None, None))[1]
            print(f"{el} factor {fac}: MAE {mae:.3f} pure {mae_pure:.3f} mixed({nmix}) {mae_mixed:.3f} within0.5 {w05:.3f}"
                  f" | measured {meas} (truth {truth})  [{time.time()-t:.0f}s]", flush=True)
