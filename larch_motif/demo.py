"""The main job on the bundled default: grouped CV of every backend, default models, a report.

``run_demo(folder)`` writes ``report.md``, ``report.json``, ``heldout_predictions.csv`` (every
site spectrum predicted by a model that never saw its mineral) and PNG plots (accuracy per
backend, confusion matrices, mean spectra per CN) into ``folder``.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np

from larch_motif.baselines import baselines
from larch_motif.database import open_database
from larch_motif.defaults import default_model
from larch_motif.models import available_backends
from larch_motif.spectra import Preprocessing, preprocessing_for
from larch_motif.training import (
    DEFAULT_SITE_DOMAIN,
    Augmentation,
    augmentation_for,
    cross_validate,
    derived_pool,
    select_sites,
    site_features,
    training_set_with_derived,
)

BUILTIN_BACKENDS = ("rf", "xgboost", "lightgbm")


def run_demo(folder: str | Path = "larch_motif_output", element: str = "Fe", edge: str = "K",
             cv: int = 5, backends: tuple[str, ...] = BUILTIN_BACKENDS,
             site_domain: str = DEFAULT_SITE_DOMAIN) -> dict:
    """Cross-validate each backend and the baselines (``larch_motif.baselines``) for CN and
    motif on the sites of ``site_domain``, prepare the default models, write a report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = time.perf_counter()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    prep = preprocessing_for(element)
    with open_database(None) as store:
        info = store.info()["elements"].get(element)
        sites = select_sites(store.site_spectra(element, edge), site_domain)
        augmentation = augmentation_for(store.calculation(element, edge))
    computed = site_features(sites, prep, augmentation)
    results: dict = {"element": element, "edge": edge, "database": info, "site_domain": site_domain,
                     "n_domain_sites": len(sites), "cv": {}}
    for target in ("cn", "motif"):
        results["cv"][target] = compare_methods(sites, target, prep, augmentation, cv, backends, computed,
                                                derived=derived_pool(element, target, edge)[0])
        best = results["cv"][target]["best"]
        _plot_confusion(plt, results["cv"][target][best], f"{element} {target}: {best}",
                        folder / f"confusion_{target}.png")
    for target in ("cn", "motif"):
        default_model(element, target, edge)
    _write_predictions(results, folder / "heldout_predictions.csv")
    _plot_accuracy(plt, results, folder / "accuracy.png")
    _plot_mean_spectra(plt, sites, computed, prep, folder / "mean_spectra_by_cn.png")
    results["seconds"] = round(time.perf_counter() - t0, 1)
    results["summary"] = _summary(results, folder)
    (folder / "report.md").write_text(results["summary"] + "\n")
    slim = json.loads(json.dumps(results, default=str))
    for target in slim["cv"].values():
        for res in target.values():
            if isinstance(res, dict):
                res.pop("predictions", None)
    (folder / "report.json").write_text(json.dumps(slim, indent=1))
    return results


def compare_methods(sites: list[dict], target: str, prep: Preprocessing, augmentation: Augmentation,
                    cv: int = 5, backends: tuple[str, ...] = BUILTIN_BACKENDS,
                    computed=None, fold_seed: int | None = None, derived: list[dict] = ()) -> dict:
    """Grouped CV of each backend and each baseline on the same folds, by method name
    (baselines as ``baseline:NAME``), plus ``best``: the backend with the highest accuracy (a
    tie goes to the lower tempered Brier score). ``fold_seed``: see ``cross_validate``.
    ``derived``: sites of derived structures that every method also trains on, as the default
    models do (``training.derived_pool``), never scored."""
    ts = training_set_with_derived(sites, target, prep, augmentation, derived, computed)
    out: dict = {}
    for backend in backends:
        if backend not in available_backends():
            continue
        t1 = time.perf_counter()
        res = cross_validate(ts, backend, cv, return_predictions=True, fold_seed=fold_seed)
        res["seconds"] = round(time.perf_counter() - t1, 1)
        out[backend] = res
    best = max(out, key=lambda b: (out[b]["accuracy"], -out[b]["brier_calibrated"]))
    for name, baseline in baselines(target, prep.feature_energies()).items():
        t1 = time.perf_counter()
        res = cross_validate(ts, name, cv, return_predictions=True, estimator=baseline, fold_seed=fold_seed)
        res["seconds"] = round(time.perf_counter() - t1, 1)
        out[f"baseline:{name}"] = res
    out["best"] = best
    return out


def _summary(results: dict, folder: Path) -> str:
    info = results["database"]
    lines = [f"# larch_motif demo: {results['element']} {results['edge']} edge",
             "",
             f"Bundled database: {info['n_sites']} site spectra, {info['n_minerals']} minerals, "
             f"CN {info['cn']}",
             f"Site domain {results['site_domain']!r}: {results['n_domain_sites']} site spectra.",
             "",
             "| target | backend | accuracy | balanced accuracy | macro F1 | Brier score | tempered | CV seconds |",
             "|---|---|---|---|---|---|---|---|"]
    for target, by_backend in results["cv"].items():
        for backend, res in by_backend.items():
            if backend == "best":
                continue
            lines.append(f"| {target} | {backend} | {res['accuracy']:.3f} | {res['balanced_accuracy']:.3f} "
                         f"| {res['macro_f1']:.3f} | {res['brier']:.3f} | {res['brier_calibrated']:.3f} "
                         f"| {res['seconds']} |")
    lines += ["", f"Grouped {next(iter(next(iter(results['cv'].values())).values()))['cv_folds']}-fold CV "
              "by mineral; scores on unaugmented spectra. baseline:* rows are the simple methods "
              "of larch_motif.baselines on the same folds. Brier score: mean over spectra of "
              "sum over classes (p - [true class])^2; 0 sure and right, 2 sure and wrong. "
              "tempered: the same with the probabilities tempered as the answers are, each fold "
              "by the temperature fitted on the other folds (out of sample).",
              f"Best backend: CN {results['cv']['cn']['best']}, motif {results['cv']['motif']['best']}.",
              f"Report folder: {folder.resolve()}", f"Total {results.get('seconds', 0)} s"]
    return "\n".join(lines)


def _write_predictions(results: dict, path: Path) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["target", "backend", "site_id", "true", "predicted", "probability"])
        for target, by_backend in results["cv"].items():
            for backend, res in by_backend.items():
                if backend == "best":
                    continue
                p = res["predictions"]
                for row in zip(p["site_id"], p["true"], p["predicted"], p["probability"]):
                    writer.writerow([target, backend, *row])


def _plot_confusion(plt, res: dict, title: str, path: Path) -> None:
    cm = np.array(res["confusion_matrix"]["matrix"])
    labels = res["confusion_matrix"]["labels"]
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * len(labels), 1.0 + 0.6 * len(labels)))
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, rotation=45)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_accuracy(plt, results: dict, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    width = 0.35
    for k, target in enumerate(results["cv"]):
        backends = [b for b in results["cv"]["cn"] if b != "best"]
        # a method that does not apply to the target (Larch PLS for motif) gets no bar
        values = [results["cv"][target][b]["accuracy"] if b in results["cv"][target] else np.nan
                  for b in backends]
        ax.bar(np.arange(len(backends)) + k * width, values, width, label=target)
        ax.set_xticks(np.arange(len(backends)) + width / 2,
                      [b.replace("baseline:", "") for b in backends], rotation=30, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("grouped-CV accuracy")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_mean_spectra(plt, sites: list[dict], computed, prep: Preprocessing, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    grid = prep.grid()
    base = ~computed.augmented
    cns = np.array([sites[k]["cn"] for k in computed.site_index[base]])
    X = computed.X[base][:, : grid.size]
    for cn in sorted(set(cns)):
        if (cns == cn).sum() >= 5:
            ax.plot(grid, X[cns == cn].mean(axis=0), label=f"CN {cn} (n={(cns == cn).sum()})")
    ax.set_xlabel("E - E0 (eV)")
    ax.set_ylabel("normalized mu (broadened FEFF10)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
