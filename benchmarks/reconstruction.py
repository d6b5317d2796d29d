"""Reconstruction model (structure -> XANES): held-out quality, speed, SHAP and fits.

    .venv/bin/python benchmarks/reconstruction.py --out reconstruction_output [--write docs/validation/reconstruction.md]

1. Parametric series (bundled ``larch_motif/data/parametric_fe.sqlite``): 5-fold CV over the
   design points (held-out designs) of rf, xgboost and lightgbm, through 10 principal
   components and (O:6 only) predicting every energy directly: overall R-squared (variance
   weighted), per-energy R-squared (mean and minimum over energies), mean R-factor.
2. The structure database (bundled): site descriptors -> site spectrum, 5-fold CV grouped by
   mineral: the same scores.
3. Reconstruction time per spectrum: one call of ``ReconstructionModel.reconstruct`` (parameter
   checks included) and per spectrum in a batch of 1,000.
4. SHAP heat maps and dependence curves of the lightgbm models (JSON and PNG).
5. Fits: held-out FEFF10 design spectra, broadened and written as raw measured-like files, fitted
   with the surrogate trained without them (errors of the recovered parameters, seconds); the
   measured hematite ``../shared/data/experimental/fe2o3_rt1_xmu.dat`` when present.
Figures and plots go to ``--out`` (``reconstruction.json``); the tables are printed as markdown.
``--write PAGE`` also writes them as a validation page, with the O:6 plots beside it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import r2_score
from sklearn.model_selection import GroupKFold, KFold

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import write_measured_like  # noqa: E402
from validation_page import emit, machine, provenance  # noqa: E402

from larch_motif.parametric import parametric_database_path, parametric_series  # noqa: E402
from larch_motif.reconstruction import (  # noqa: E402
    ReconstructionModel,
    SpectrumReconstructor,
    database_set,
    explain_reconstruction,
    fit_structure,
    load_reconstruction_model,
    parametric_set,
    plot_explanation,
    plot_fit,
    r_factor,
)
from larch_motif.spectra import Preprocessing  # noqa: E402

BACKENDS = ("rf", "xgboost", "lightgbm")
MEASURED = Path(__file__).resolve().parents[2] / "shared" / "data" / "experimental" / "fe2o3_rt1_xmu.dat"


def scores(Y: np.ndarray, P: np.ndarray) -> dict:
    """Overall (variance-weighted) and per-energy R-squared, mean R-factor of held-out spectra."""
    varied = Y.var(axis=0) > 1e-6  # flat pre-edge points have no variance to explain
    per_energy = r2_score(Y[:, varied], P[:, varied], multioutput="raw_values")
    return {"r2": float(r2_score(Y, P, multioutput="variance_weighted")),
            "r2_energy_mean": float(per_energy.mean()), "r2_energy_min": float(per_energy.min()),
            "r_factor_mean": float(r_factor(P, Y).mean()), "per_energy_r2": per_energy.tolist(),
            "n_energies_scored": int(varied.sum())}


def cross_validated(X, Y, splits, backend: str, n_components: int | None) -> tuple[np.ndarray, float]:
    P = np.zeros_like(Y)
    t0 = time.perf_counter()
    for train, test in splits:
        rec = SpectrumReconstructor(backend, n_components).fit(X[train], Y[train])
        P[test] = rec.predict(X[test])
    return P, time.perf_counter() - t0


def overlay(energy, Y, P, names, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(names), figsize=(3.4 * len(names), 3.2), sharey=True)
    for ax, k in zip(axes, names):
        ax.plot(energy, Y[k], "k", lw=1.4, label="FEFF10")
        ax.plot(energy, P[k], "tab:red", lw=1.1, label=f"reconstructed, R={r_factor(P[k], Y[k]):.4f}")
        ax.set_xlabel("E - E0 (eV)")
        ax.legend(fontsize=6)
    axes[0].set_ylabel("normalized mu")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def as_saved(model: ReconstructionModel, folder: Path) -> ReconstructionModel:
    """The model as users get it: written to a model file and read back."""
    path = folder / "model.lmr"
    model.save(path)
    return load_reconstruction_model(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="reconstruction_output")
    ap.add_argument("--db", default=str(parametric_database_path()))
    ap.add_argument("--no-direct", action="store_true", help="skip the direct (per-energy) models")
    ap.add_argument("--write", type=Path, default=None, help="also write the validation page there")
    args = ap.parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    prep = Preprocessing()
    energy = prep.grid()
    report: dict = {"parametric": {}, "database": {}, "speed": {}, "shap": {}, "fits": {}}
    rows = []
    lines: list[str] = []  # the page's tables, as printed

    # 1. parametric series, held-out designs
    motifs = sorted({r["series"].split()[1] for r in parametric_series(args.db, "Fe")})
    sets = {m: parametric_set("Fe", m, args.db) for m in motifs}
    for motif, ts in sets.items():
        splits = list(KFold(5, shuffle=True, random_state=0).split(ts.X))
        modes = [(10, "10 PCs")] + ([] if args.no_direct or motif != "O:6" else [(None, "direct")])
        for n_components, label in modes:
            for backend in BACKENDS:
                P, seconds = cross_validated(ts.X, ts.Y, splits, backend, n_components)
                s = scores(ts.Y, P)
                report["parametric"][f"{motif} {backend} {label}"] = {**s, "cv_seconds": seconds,
                                                                      "n_spectra": int(len(ts.X))}
                rows.append((f"parametric {motif} ({len(ts.X)} designs)", backend, label, s, seconds))
                if backend == "lightgbm" and n_components:
                    worst = np.argsort(r_factor(P, ts.Y))
                    picks = [worst[0], worst[len(worst) // 2], worst[-1]]
                    overlay(energy, ts.Y, P, picks, out_dir / f"heldout_{motif.replace(':', '')}.png",
                            f"Fe {motif} held-out designs (best, median, worst R-factor), lightgbm")
        pca = np.linalg.svd(ts.Y - ts.Y.mean(0), compute_uv=False) ** 2
        report["parametric"][f"{motif} explained_variance_10pc"] = float(pca[:10].sum() / pca.sum())

    # 2. structure database, held-out minerals
    ts = database_set("Fe")
    splits = list(GroupKFold(5).split(ts.X, groups=ts.groups))
    for backend in BACKENDS:
        P, seconds = cross_validated(ts.X, ts.Y, splits, backend, 10)
        s = scores(ts.Y, P)
        report["database"][backend] = {**s, "cv_seconds": seconds, "n_spectra": int(len(ts.X)),
                                       "n_minerals": int(np.unique(ts.groups).size)}
        rows.append((f"database ({len(ts.X)} sites, {np.unique(ts.groups).size} minerals)", backend,
                     "10 PCs", s, seconds))
        if backend == "lightgbm":
            order = np.argsort(r_factor(P, ts.Y))
            overlay(energy, ts.Y, P, [order[0], order[len(order) // 2], order[-1]], out_dir / "heldout_database.png",
                    "Fe database, held-out minerals (best, median, worst R-factor), lightgbm")

    lines += ["| data | backend | target | R2 (all energies) | per-energy R2 mean / min | mean R-factor | CV s |",
              "|---|---|---|---|---|---|---|"]
    for data, backend, label, s, seconds in rows:
        lines.append(f"| {data} | {backend} | {label} | {s['r2']:.3f} | {s['r2_energy_mean']:.3f} / "
                     f"{s['r2_energy_min']:.3f} | {s['r_factor_mean']:.5f} | {seconds:.1f} |")
    print("\n".join(lines))

    # 3. speed, models on every design of the O:6 series
    ts = sets.get("O:6") or next(iter(sets.values()))
    for backend in BACKENDS:
        rec = SpectrumReconstructor(backend, 10).fit(ts.X, ts.Y)
        model = as_saved(ReconstructionModel(rec, "Fe", "K", "Fe O:6", ts.parameters, prep, ts.X), out_dir)
        params = {p.name: float(v) for p, v in zip(ts.parameters, ts.X[0])}
        model.reconstruct(params)
        times = []
        for _ in range(200):
            t0 = time.perf_counter()
            model.reconstruct(params)
            times.append(time.perf_counter() - t0)
        X = np.repeat(ts.X, 1000 // len(ts.X) + 1, axis=0)[:1000]
        t0 = time.perf_counter()
        model.predict(X)
        batch = (time.perf_counter() - t0) / 1000
        report["speed"][backend] = {"single_call_ms_median": 1e3 * float(np.median(times)),
                                    "batch_ms_per_spectrum": 1e3 * batch}
    speed = ["| backend | one reconstruct() call, ms (median of 200) | in a batch of 1,000, ms per spectrum |",
             "|---|---|---|"]
    for backend, d in report["speed"].items():
        speed.append(f"| {backend} | {d['single_call_ms_median']:.2f} | {d['batch_ms_per_spectrum']:.3f} |")
    print("\n" + "\n".join(speed))
    lines += ["", "Speed of a saved and reloaded O:6 model (what `reconstruct` uses):", "", *speed]

    # 4. SHAP heat maps and dependence curves
    print()
    for motif, ts in sets.items():
        rec = SpectrumReconstructor("lightgbm", 10).fit(ts.X, ts.Y)
        model = ReconstructionModel(rec, "Fe", "K", f"Fe {motif}", ts.parameters, prep, ts.X)
        t0 = time.perf_counter()
        expl = explain_reconstruction(model)
        seconds = time.perf_counter() - t0
        name = motif.replace(":", "")
        plot_explanation(expl, out_dir / f"shap_{name}.png")
        (out_dir / f"shap_{name}.json").write_text(json.dumps(expl))
        heat = np.array(expl["mean_abs_shap"])
        report["shap"][motif] = {
            "seconds": seconds,
            "share": dict(zip(expl["parameters"], (heat.sum(1) / heat.sum()).round(3).tolist())),
            "readings": {k: d["reading"] for k, d in expl["dependence"].items()},
            "peak_height_change_per_step": {k: d["peak_height_change_per_step"] for k, d in expl["dependence"].items()}}
        print(f"{motif}: SHAP share {report['shap'][motif]['share']} ({seconds:.2f} s)")
        for reading in report["shap"][motif]["readings"].values():
            print(f"  {reading}")

    # 5. fits of held-out FEFF spectra written as raw measured-like files
    print()
    import tempfile

    for motif, ts in sets.items():
        sites = {r["site_id"]: r for r in parametric_series(args.db, "Fe") if r["series"].split()[1] == motif}
        held = np.random.default_rng(0).choice(len(ts.X), 10, replace=False)
        train = np.setdiff1d(np.arange(len(ts.X)), held)
        rec = SpectrumReconstructor("lightgbm", 10).fit(ts.X[train], ts.Y[train])
        model = as_saved(ReconstructionModel(rec, "Fe", "K", f"Fe {motif}", ts.parameters, prep, ts.X[train]),
                         out_dir)
        errors, seconds, rfs = [], [], []
        with tempfile.TemporaryDirectory() as tmp:
            for k in held:
                path = Path(tmp) / f"{k}.dat"
                write_measured_like(path, sites[ts.site_ids[k]], noise=0.002, seed=int(k))
                fit = fit_structure(path, model=model)
                errors.append([fit["parameters"][p.name] - ts.X[k, j] for j, p in enumerate(ts.parameters)])
                seconds.append(fit["seconds"])
                rfs.append(fit["r_factor"])
            plot_fit(fit, out_dir / f"fit_heldout_{motif.replace(':', '')}.png")
        errors = np.abs(np.array(errors))
        report["fits"][motif] = {"n": len(held), "mean_abs_error": dict(zip(model.parameter_names, errors.mean(0).tolist())),
                                 "seconds_mean": float(np.mean(seconds)), "seconds_max": float(np.max(seconds)),
                                 "r_factor_mean": float(np.mean(rfs)),
                                 "range": {p.name: [p.low, p.high] for p in ts.parameters}}
        print(f"fit {motif}, 10 held-out FEFF10 designs: mean |error| "
              + ", ".join(f"{k} {v:.3f}" for k, v in report["fits"][motif]["mean_abs_error"].items())
              + f"; R-factor {np.mean(rfs):.4f}; {np.mean(seconds):.2f} s mean, {np.max(seconds):.2f} s max")
    if MEASURED.is_file() and "O:6" in sets:
        ts = sets["O:6"]
        rec = SpectrumReconstructor("lightgbm", 10).fit(ts.X, ts.Y)
        model = as_saved(ReconstructionModel(rec, "Fe", "K", "Fe O:6 hematite", ts.parameters, prep, ts.X),
                         out_dir)
        fit = fit_structure(MEASURED, model=model)
        plot_fit(fit, out_dir / "fit_measured_hematite.png")
        report["fits"]["measured hematite"] = {k: fit[k] for k in ("parameters", "uncertainties", "r_factor",
                                                                   "e0_shift_eV", "seconds", "warnings")}
        print(f"measured hematite ({MEASURED.name}): R-factor {fit['r_factor']:.4f}, {fit['seconds']:.2f} s, "
              + ", ".join(f"{k} {v:.3f} +/- {fit['uncertainties'].get(k) or float('nan'):.3f}"
                          for k, v in fit["parameters"].items()) + f"; warnings {fit['warnings']}")
    else:
        print(f"measured hematite: {MEASURED} absent, skipped")
    # 6. the command line as a user runs it: new processes, an empty model cache first
    report["cli"] = cli_timings()
    for what, seconds in report["cli"].items():
        print(f"{what}: {seconds:.2f} s")
    (out_dir / "model.lmr").unlink()
    (out_dir / "reconstruction.json").write_text(json.dumps(report, indent=1))
    print(f"\nwritten to {out_dir}/")
    if args.write is not None:
        emit(render(report, lines, out_dir, args.write), args.write)


def cli_timings() -> dict[str, float]:
    """Wall time (s) of ``larch-motif reconstruct`` in a new process with an empty model cache
    (the default model is trained on the bundled series and cached), the same again (read from
    the cache), and ``larch-motif reconstruct-fit`` on the measured hematite (where present)."""
    import os
    import subprocess
    import tempfile

    command = str(Path(sys.executable).parent / "larch-motif")
    runs = {"`reconstruct --element Fe --series O:6 --param ...` (4 parameters), empty model cache":
            [command, "reconstruct", "--element", "Fe", "--series", "O:6", "--param", "bond_mean_A=2.05",
             "--param", "axial_elongation_A=0.05", "--param", "angle_bending_deg=5", "--param", "second_shell_shift_A=0"]}
    runs["the same, model cached"] = runs["`reconstruct --element Fe --series O:6 --param ...` (4 parameters), empty model cache"]
    if MEASURED.is_file():
        runs[f"`reconstruct-fit {MEASURED.name} --element Fe --series O:6`"] = [
            command, "reconstruct-fit", str(MEASURED), "--element", "Fe", "--series", "O:6"]
    times = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "LARCH_MOTIF_CACHE": cache}
        for what, cmd in runs.items():
            t0 = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, capture_output=True)
            times[what] = round(time.perf_counter() - t0, 2)
    return times


def render(report: dict, tables: list[str], out_dir: Path, page: Path) -> str:
    """The validation page: the printed tables, the SHAP shares and readings, the fits and the O:6
    plots (copied beside the page)."""
    lines = ["# Reconstruction (structure to spectrum)", "",
             provenance() + f"; {machine()} at the end. Parametric series: 5-fold CV over the design points "
             "(held-out designs); database: 5-fold CV grouped by mineral (held-out minerals). R2 over all "
             "energies is variance-weighted; per-energy R2 is over the energies where the spectra vary; "
             "R-factor sum((mu_rec - mu_feff)^2) / sum(mu_feff^2), the mean over the held-out spectra.", "",
             *tables, ""]
    shap = report["shap"]
    if shap:
        names = list(next(iter(shap.values()))["share"])
        lines += ["SHAP of the lightgbm models over their designs: the mean |SHAP| share of each parameter, "
                  "summed over energies, and what a step along each parameter does to the main peak (the "
                  "first maximum above the edge step), the others at their medians:", "",
                  "| series | " + " | ".join(f"`{n}`" for n in names) + " |", "|---|" + "---|" * len(names)]
        for motif, d in shap.items():
            lines.append(f"| {motif}, share | " + " | ".join(f"{d['share'][n]:.3f}" for n in names) + " |")
        lines.append("")
        for motif, d in shap.items():
            lines += [f"- {motif}: {reading}" for reading in d["readings"].values()]
        lines.append("")
    fits = {k: v for k, v in report["fits"].items() if k != "measured hematite"}
    if fits:
        names = list(next(iter(fits.values()))["mean_abs_error"])
        lines += ["Fits with the lightgbm surrogate trained without the spectra it fits: held-out FEFF10 "
                  "designs, broadened and written as raw measured-like files (sloped pre-edge, edge step 1.7, "
                  "noise 0.002); mean absolute errors of the recovered parameters:", "",
                  "| series | designs | " + " | ".join(f"`{n}`" for n in names) + " | mean R-factor | "
                  "seconds, mean / max |", "|---|---|" + "---|" * len(names) + "---|---|"]
        for motif, d in fits.items():
            lines.append(f"| {motif} | {d['n']} | " + " | ".join(f"{d['mean_abs_error'][n]:.3f}" for n in names)
                         + f" | {d['r_factor_mean']:.4f} | {d['seconds_mean']:.2f} / {d['seconds_max']:.2f} |")
        lines.append("")
    measured = report["fits"].get("measured hematite")
    if measured:
        lines += [f"The measured hematite `{MEASURED.name}` fitted with the O:6 surrogate: R-factor "
                  f"{measured['r_factor']:.4f} in {measured['seconds']:.2f} s; " + ", ".join(
                      f"`{k}` {v:.3f}" + (f" +/- {measured['uncertainties'][k]:.3f}"
                                          if measured["uncertainties"].get(k) is not None else " (no uncertainty)")
                      for k, v in measured["parameters"].items())
                  + (f"; warnings: {'; '.join(map(str, measured['warnings']))}" if measured["warnings"] else "") + ".", ""]
    if report.get("cli"):
        lines += ["The command line in new processes (`larch-motif`, wall time from start to exit):", "",
                  "| command | s |", "|---|---|"] + [f"| {what} | {seconds:.2f} |"
                                                    for what, seconds in report["cli"].items()] + [""]
    for source, title in (("shap_O6.png", "SHAP heat map and dependence curves, O:6"),
                          ("heldout_O6.png", "held-out O:6 designs"),
                          ("fit_heldout_O6.png", "fit of a held-out O:6 design")):
        if (out_dir / source).is_file():
            target = page.parent / f"reconstruction_{source}"
            page.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out_dir / source, target)
            lines += [f"![{title}]({target.name})", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
