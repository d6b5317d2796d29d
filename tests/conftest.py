"""Shared fixtures: spectra and a small model from the bundled database (real FEFF10 data)."""

from __future__ import annotations

import numpy as np
import pytest

from larch_motif.database import default_database_path, open_database


@pytest.fixture(scope="session")
def fe_sites() -> list[dict]:
    """Fe K site spectra of the bundled database."""
    if not default_database_path().exists():
        pytest.fail("the bundled database larch_motif/data/default_xanes.sqlite is missing")
    with open_database(None) as db:
        return db.site_spectra("Fe", "K")


@pytest.fixture(scope="session")
def fe_cn_model(tmp_path_factory, fe_sites):
    """A random-forest CN model trained on the bundled Fe database without augmentation."""
    from larch_motif.training import train

    path = tmp_path_factory.mktemp("models") / "fe_cn_rf.lmm"
    model, report = train("Fe", "cn", "rf", cv=None, out=path, augmentation=None,
                          backend_params={"n_estimators": 60})
    return path, model, report


def write_measured_like(path, site: dict, noise: float = 0.0, seed: int = 0,
                        lorentzian_fwhm_eV: float | None = None) -> None:
    """Write a site spectrum as a two-column file that looks like a raw measurement:
    broadened as the models assume (``Preprocessing`` defaults; ``lorentzian_fwhm_eV`` in place
    of its Lorentzian), on an extended grid with a sloped pre-edge, an edge step of 1.7 and an
    offset."""
    from larch_motif.spectra import Preprocessing, broaden

    energy, mu = site["energy_eV"], site["mu"]
    prep = Preprocessing()
    lorentzian = prep.lorentzian_fwhm_eV if lorentzian_fwhm_eV is None else lorentzian_fwhm_eV
    mu = broaden(energy, mu, prep.gaussian_fwhm_eV, lorentzian)
    pre = np.arange(energy[0] - 150, energy[0], 2.0)
    e = np.concatenate([pre, energy])
    m = np.concatenate([np.full(pre.size, mu[0]), mu])
    raw = 0.3 - 2e-5 * (e - e[0]) + 1.7 * m
    raw += np.random.default_rng(seed).normal(0, noise, raw.size)
    header = "# energy_eV mu (raw)\n"
    path.write_text(header + "\n".join(f"{a:.4f} {b:.6f}" for a, b in zip(e, raw)) + "\n")
