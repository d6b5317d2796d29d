"""A fit of the structural parameters to a measured spectrum through a reconstruction model
(a fast surrogate of FEFF10), with standard errors, and its plot."""

from __future__ import annotations

import os
import time
import warnings

import numpy as np

from larch_motif.errors import LarchMotifError
from larch_motif.reconstruction.data import _resolve
from larch_motif.reconstruction.model import (
    ReconstructionModel,
    r_factor,
)
from larch_motif.spectra import normalize


def fit_structure(spectrum: object, element: str | None = None, series: str | None = None,
                  model: str | os.PathLike | ReconstructionModel | None = None,
                  fixed: dict[str, object] | None = None, group: str | None = None, normalized: bool = False,
                  e0_shift_eV: float = 3.0, n_start: int = 2048, backend: str | None = None) -> dict:
    """Structural parameters whose reconstruction matches a measured spectrum best.

    spectrum: a file or a Larch Group with energy (eV) and mu; it is normalized with Larch's
    pre_edge and put on the model's grid (eV from E0 at half the edge step). ``fixed``: values
    of parameters held (categorical parameters of the database model must be fixed). The free
    parameters stay in their trained ranges; an energy shift of at most ``e0_shift_eV`` (eV) is
    fitted too. The search starts from the best of ``n_start`` design points and is refined
    with lmfit (``least_squares``, steps of 2 % of each range, because tree surrogates are
    piecewise constant). Returns ``parameters`` (best values), ``uncertainties`` (1 sigma, from
    the fit's covariance), ``e0_shift_eV``, ``r_factor``, ``chi_square``, ``energy``, ``mu``
    (measured, on the grid), ``mu_fit``, ``at_bound`` (parameters at an end of their range),
    ``warnings``, ``seconds``.
    """
    import lmfit
    from scipy.stats import qmc

    from larch_motif.prediction import _as_group

    t0 = time.perf_counter()
    m = _resolve(model, element, series, backend)
    fixed = dict(fixed or {})
    unknown = [k for k in fixed if k not in m.parameter_names]
    if unknown:
        raise LarchMotifError(f"unknown parameter {unknown[0]!r} in fixed: the {m.series} model takes "
                              + "; ".join(p.describe() for p in m.parameters))
    free = [p for p in m.parameters if p.name not in fixed]
    held = [p for p in free if p.kind == "categorical"]
    if held:
        raise LarchMotifError(f"categorical parameter {held[0].name} must be fixed: {held[0].describe()}")
    grp = _as_group(spectrum, group, normalized)
    grp.motif_warnings = []
    normalize(grp)
    energy_rel = np.asarray(grp.energy, float) - grp.e0_half
    flat = np.asarray(grp.flat, float)
    grid = m.energy
    warns = list(grp.motif_warnings)
    if energy_rel[0] > grid[0] + 1 or energy_rel[-1] < grid[-1] - 1:
        warns.append(f"range too short: the spectrum covers {energy_rel[0]:+.1f} to {energy_rel[-1]:+.1f} eV "
                     f"around E0, the model {grid[0]:+.1f} to {grid[-1]:+.1f} eV")
    base = {p.name: fixed.get(p.name, 0.0) for p in m.parameters}
    x0, _ = m.encode({**base, **{p.name: p.low for p in free}})
    index = [m.parameter_names.index(p.name) for p in free]
    lows = np.array([p.low for p in free])
    spans = np.array([p.high - p.low for p in free])

    def rows(unit: np.ndarray) -> np.ndarray:
        X = np.tile(x0, (unit.shape[0], 1))
        X[:, index] = lows + unit * spans
        return X

    measured = np.interp(grid, energy_rel, flat)
    starts = qmc.Halton(d=len(free), scramble=True, seed=0).random(n_start)
    chi2 = ((m.predict(rows(starts)) - measured) ** 2).sum(axis=1)
    best = starts[int(np.argmin(chi2))]

    params = lmfit.Parameters()
    for p, u in zip(free, best):
        params.add(f"u_{p.name}", value=float(u), min=0.0, max=1.0)
        params.add(p.name, expr=f"{p.low!r} + u_{p.name} * {p.high - p.low!r}")
    params.add("e0_shift_eV", value=0.0, min=-e0_shift_eV, max=e0_shift_eV)

    def residual_at(v: np.ndarray) -> np.ndarray:
        """Residual at unit-range values of the free parameters followed by the E0 shift (eV)."""
        return m.predict(rows(v[None, :-1]))[0] - np.interp(grid + v[-1], energy_rel, flat)

    def residual(pars: lmfit.Parameters) -> np.ndarray:
        return residual_at(np.array([pars[f"u_{p.name}"].value for p in free] + [pars["e0_shift_eV"].value]))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = lmfit.minimize(residual, params, method="least_squares", diff_step=0.02)
    final = result.params
    best_v = np.array([final[f"u_{p.name}"].value for p in free] + [final["e0_shift_eV"].value])
    stderr = _standard_errors(residual_at, best_v, np.r_[np.zeros(len(free)), -e0_shift_eV],
                              np.r_[np.ones(len(free)), e0_shift_eV], np.r_[np.full(len(free), 0.02), 0.25])
    unit = best_v[None, :-1]
    mu_fit = m.predict(rows(unit))[0]
    data = np.interp(grid + best_v[-1], energy_rel, flat)
    values = {p.name: float(final[p.name].value) for p in free}
    sigma = {p.name: (None if stderr[j] is None else float(stderr[j] * spans[j])) for j, p in enumerate(free)}
    at_bound = [p.name for p in free if min(final[f"u_{p.name}"].value, 1 - final[f"u_{p.name}"].value) < 0.01]
    if at_bound:
        warns.append("at the end of the trained range: " + ", ".join(at_bound))
    flat_params = [name for name, s in sigma.items() if s is None]
    if flat_params:
        warns.append("no uncertainty for " + ", ".join(flat_params) + ": the reconstruction does not "
                     "change with it near the fitted value")
    return {"element": m.element, "series": m.series, "file": getattr(grp, "filename", None),
            "parameters": {**values, **fixed}, "uncertainties": sigma,
            "e0_shift_eV": float(best_v[-1]), "e0_shift_uncertainty_eV": stderr[-1],
            "r_factor": float(r_factor(mu_fit, data)), "chi_square": float(result.chisqr),
            "n_evaluations": int(result.nfev), "energy": grid.tolist(), "mu": data.tolist(),
            "mu_fit": mu_fit.tolist(), "at_bound": at_bound, "warnings": warns,
            "seconds": time.perf_counter() - t0}


def _standard_errors(residual, best: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                     steps: np.ndarray) -> list[float | None]:
    """1-sigma errors from a central-difference Jacobian with finite ``steps`` (a tree surrogate
    is flat on small scales), scaled by the reduced chi-square as lmfit does; ``None`` for a
    parameter the spectrum does not depend on there."""
    r0 = residual(best)
    columns = []
    for j, h in enumerate(steps):
        up, down = best.copy(), best.copy()
        up[j], down[j] = min(best[j] + h, upper[j]), max(best[j] - h, lower[j])
        columns.append((residual(up) - residual(down)) / (up[j] - down[j]))
    J = np.column_stack(columns)
    norms = np.linalg.norm(J, axis=0)
    ok = norms > 1e-9 * max(norms.max(), 1e-300)
    dof = max(r0.size - len(steps), 1)
    out: list[float | None] = [None] * len(steps)
    try:
        cov = np.linalg.inv(J[:, ok].T @ J[:, ok]) * (r0 @ r0) / dof
    except np.linalg.LinAlgError:
        return out
    for k, j in enumerate(np.nonzero(ok)[0]):
        out[j] = float(np.sqrt(max(cov[k, k], 0.0)))
    return out


def plot_fit(fit: dict, path: str | os.PathLike) -> None:
    """PNG: the measured spectrum and the fitted reconstruction, with the residual."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    energy = np.array(fit["energy"])
    fig, (ax, axr) = plt.subplots(2, 1, figsize=(6, 4.6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot(energy, fit["mu"], "k", lw=1.5, label="measured (normalized)")
    ax.plot(energy, fit["mu_fit"], "tab:red", lw=1.2, label=f"reconstruction, R = {fit['r_factor']:.4f}")
    text = "\n".join(f"{k} = {v:.3f}" + (f" ± {fit['uncertainties'][k]:.3f}" if fit["uncertainties"].get(k) else "")
                     for k, v in fit["parameters"].items() if isinstance(v, float))
    ax.text(0.98, 0.05, text, transform=ax.transAxes, ha="right", va="bottom", fontsize=7)
    ax.set_ylabel("normalized mu")
    ax.legend(fontsize=8)
    ax.set_title(f"fit of the {fit['series']} surrogate", fontsize=9)
    axr.plot(energy, np.array(fit["mu"]) - np.array(fit["mu_fit"]), "k", lw=1)
    axr.axhline(0, color="gray", lw=0.8)
    axr.set_xlabel("E - E0 (eV)")
    axr.set_ylabel("residual")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
