"""TreeSHAP of a reconstruction model on the energy axis: which parameter moves which part of
the spectrum, read in words, and its plot."""

from __future__ import annotations

import os

import numpy as np

from larch_motif.reconstruction.model import (
    Parameter,
    ReconstructionModel,
)


def explain_reconstruction(model: ReconstructionModel, params: dict[str, object] | None = None,
                           n_curve: int = 21) -> dict:
    """TreeSHAP of the reconstruction on the energy axis, and dependence curves.

    Returns ``energy`` (eV), ``parameters``; ``mean_abs_shap`` (n_parameters x n_energies, over
    the training designs: the heat map); with ``params`` the ``local`` SHAP values of that point
    with its ``expected`` spectrum; and ``dependence``: for each continuous parameter, the
    spectrum's main-peak energy (eV) and height along the parameter's trained range (the others
    at their training medians), with the fitted shift per step (``peak_shift_eV_per_step``).
    """
    values, _ = model.reconstructor.shap_values(model.training_X)
    out: dict = {"element": model.element, "series": model.series, "energy": model.energy.tolist(),
                 "parameters": model.parameter_names,
                 "mean_abs_shap": np.abs(values).mean(axis=0).tolist()}
    if params is not None:
        x, warns = model.encode(params)
        local, expected = model.reconstructor.shap_values(x[None])
        out["local"] = {"parameters": dict(params), "shap_values": local[0].tolist(),
                        "expected": expected.tolist(), "mu": model.predict(x[None])[0].tolist(),
                        "warnings": warns}
    median = np.median(model.training_X, axis=0)
    energy = model.energy
    out["dependence"] = {}
    for j, p in enumerate(model.parameters):
        if p.kind != "continuous":
            continue
        grid = np.linspace(p.low, p.high, n_curve)
        X = np.tile(median, (n_curve, 1))
        X[:, j] = grid
        mu = model.predict(X)
        peaks = [_main_peak(energy, m) for m in mu]
        pos, height = np.array([q[0] for q in peaks]), np.array([q[1] for q in peaks])
        step = _step(p)
        slope = float(np.polyfit(grid, pos, 1)[0]) * step
        rise = float(np.polyfit(grid, height, 1)[0]) * step
        out["dependence"][p.name] = {
            "unit": p.unit, "values": grid.tolist(), "peak_energy_eV": pos.tolist(),
            "peak_height": height.tolist(), "step": step, "peak_shift_eV_per_step": slope,
            "peak_height_change_per_step": rise, "mu": mu.tolist(),
            "reading": (f"+{step:g}{' ' + p.unit if p.unit else ''} on {p.name} moves the main peak by {slope:+.2f} eV "
                        f"and changes its height by {rise:+.3f}"),
        }
    return out


def _step(p: Parameter) -> float:
    return {"Angstrom": 0.1, "degree": 5.0}.get(p.unit, 1.0)


def _main_peak(energy: np.ndarray, mu: np.ndarray) -> tuple[float, float]:
    """Energy (eV) and height of the main peak (white line): the first local maximum above E0
    that rises over the edge step (else the highest point up to +30 eV), refined with a
    parabola through its neighbours."""
    inner = np.arange(1, len(mu) - 1)
    peaks = inner[(mu[inner] >= mu[inner - 1]) & (mu[inner] > mu[inner + 1]) & (energy[inner] > 0) & (mu[inner] > 1)]
    if peaks.size:
        i = int(peaks[0])
    else:
        window = np.nonzero((energy > 0) & (energy < 30))[0]
        i = int(window[np.argmax(mu[window])])
    if 0 < i < len(mu) - 1:
        y0, y1, y2 = mu[i - 1], mu[i], mu[i + 1]
        denom = y0 - 2 * y1 + y2
        if denom < 0:
            delta = 0.5 * (y0 - y2) / denom
            step = energy[i + 1] - energy[i]
            return float(energy[i] + delta * step), float(y1 - 0.25 * (y0 - y2) * delta)
    return float(energy[i]), float(mu[i])


def plot_explanation(expl: dict, path: str | os.PathLike) -> None:
    """PNG: the energy x parameter heat map of mean |SHAP| and the dependence curves (spectra
    along each parameter's range, and the main-peak energy against the parameter)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    energy = np.array(expl["energy"])
    heat = np.array(expl["mean_abs_shap"])
    dep = expl["dependence"]
    fig, axes = plt.subplots(1, 1 + len(dep), figsize=(4.2 * (1 + len(dep)), 3.8))
    ax = axes[0]
    im = ax.imshow(heat, aspect="auto", cmap="magma",
                   extent=(energy[0], energy[-1], len(heat) - 0.5, -0.5))
    ax.set_yticks(range(len(heat)), expl["parameters"], fontsize=7)
    ax.set_xlabel("E - E0 (eV)")
    ax.set_title(f"mean |SHAP| on normalized mu ({expl['series']})", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.05)
    cmap = plt.get_cmap("viridis")
    for ax, (name, d) in zip(axes[1:], dep.items()):
        mu = np.array(d["mu"])
        for k, row in enumerate(mu):
            ax.plot(energy, row, color=cmap(k / max(len(mu) - 1, 1)), lw=0.8)
        ax.plot(d["peak_energy_eV"], d["peak_height"], "k.", ms=3)
        ax.set_xlim(energy[0], min(energy[-1], 40))
        ax.set_xlabel("E - E0 (eV)")
        ax.set_title(f"{name} {d['values'][0]:.2f} to {d['values'][-1]:.2f} {d['unit']}\n" + d["reading"].replace(" and ", "\n"),
                     fontsize=7)
    axes[1].set_ylabel("normalized mu (dark: low, yellow: high)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


