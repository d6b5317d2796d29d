"""Why does a tetrahedral and an octahedral Fe spectrum get its CN? TreeSHAP on the energy axis.

    .venv/bin/python examples/explain_fe_cn.py OUTPUT_FOLDER

Takes a T:4 and an O:6 Fe site of the bundled database, writes each as a measured-like file
(broadened, sloped background, edge step 1.7), explains the default CN model's answer and saves
one figure per spectrum plus the global explanation of the model.
"""

import sys
from pathlib import Path

import numpy as np

import larch_motif
from larch_motif.defaults import default_model
from larch_motif.explain import (
    explain_model,
    explain_spectrum,
    plot_explanation,
    plot_model_explanation,
)
from larch_motif.spectra import Preprocessing, broaden


def write_like_measurement(path: Path, site: dict) -> None:
    prep = Preprocessing()  # broadened as the models assume a measurement to be
    energy = site["energy_eV"]
    mu = broaden(energy, site["mu"], prep.gaussian_fwhm_eV, prep.lorentzian_fwhm_eV)
    pre = np.arange(energy[0] - 150, energy[0], 2.0)
    e = np.concatenate([pre, energy])
    m = np.concatenate([np.full(pre.size, mu[0]), mu])
    np.savetxt(path, np.c_[e, 0.3 - 2e-5 * (e - e[0]) + 1.7 * m], header="energy_eV mu")


def explain_sites(folder: Path) -> dict:
    """Explain the default Fe CN model's answer for the first T:4 and the first O:6 site of the
    database (figures ``<mineral>_<motif>.png``) and the model over its spectra
    (``global_cn.png``), all in ``folder``; returns one line per site and the global summary."""
    folder.mkdir(parents=True, exist_ok=True)
    model = default_model("Fe", "cn")
    with larch_motif.open_database(None) as db:
        sites = db.site_spectra("Fe")
    lines, figures = [], []
    for motif in ("T:4", "O:6"):
        site = next(s for s in sites if s["motif"] == motif)
        stem = "".join(ch for ch in site["mineral"] if ch.isalnum())
        spectrum = folder / f"{stem}_{motif.replace(':', '')}.dat"
        write_like_measurement(spectrum, site)
        expl = explain_spectrum(spectrum, model)
        plot_explanation(expl, spectrum.with_suffix(".png"))
        figures.append(spectrum.with_suffix(".png"))
        regions = ", ".join(f"{k} {v:+.3f}" for k, v in expl["regions"].items())
        (pred,) = larch_motif.predict(spectrum, model=model, target="cn")
        lines.append(f"{site['mineral']} ({motif}, CN {site['cn']}): predicted CN {expl['class']} "
                     f"(probability {pred['cn_probabilities'][expl['class']]:.2f}; {expl['output_space']} "
                     f"{expl['model_output']:+.2f} = expected {expl['expected_value']:+.2f} + SHAP); "
                     f"SHAP by region: {regions}")
    glob = explain_model(model)
    plot_model_explanation(glob, folder / "global_cn.png")
    figures.append(folder / "global_cn.png")
    return {"sites": lines, "summary": list(glob["summary"].values()), "figures": figures}


def main(folder: Path) -> None:
    result = explain_sites(folder)
    for line in result["sites"] + result["summary"]:
        print(line)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
