"""TreeSHAP explanations of CN and motif predictions, on the energy axis and by physical region.

A local explanation gives, for one spectrum and one class, the SHAP value of every feature
(energy point, eV relative to E0), the expected value and the model output they add up to, in the
model's output space: probability for random forests, margin (log-odds) for the boosted trees.
Values are summed over physical regions relative to E0 (``DEFAULT_REGIONS``, adjustable) and over
contiguous windows, of which the strongest are listed.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from larch_motif.errors import LarchMotifError
from larch_motif.findings import Finding
from larch_motif.models import MotifModel, explained_model, load_model
from larch_motif.models import raw_output as backend_raw_output
from larch_motif.results import Explanation, ModelExplanation
from larch_motif.spectra import features, herfd_broadened, normalize

#: Physical regions, (low, high) in eV relative to E0 (half edge step): the pre-edge peak lies
#: below the edge, the rising edge spans the half-step point, the white line is the first maximum,
#: the post-edge carries the multiple-scattering features that follow bond lengths.
DEFAULT_REGIONS: dict[str, tuple[float, float]] = {
    "pre-edge": (-np.inf, -2.0),
    "rising edge": (-2.0, 5.0),
    "white line": (5.0, 15.0),
    "post-edge": (15.0, np.inf),
}


def _tree_model(model: MotifModel):
    backend = model.classifier.backend_
    if not getattr(backend, "tree_explainer", False):
        raise LarchMotifError(f"backend {backend.name!r} declares no TreeSHAP support: no explanation")
    return explained_model(backend, model.classifier.estimator_)


def tree_explainer(model: MotifModel):
    """The model's ``shap.TreeExplainer``, built once per model object (building one for a
    LightGBM or XGBoost model reads every tree and takes longer than explaining a spectrum)."""
    import shap

    explainer = getattr(model, "_tree_explainer", None)
    if explainer is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            explainer = shap.TreeExplainer(_tree_model(model))
        model._tree_explainer = explainer
    return explainer


def raw_output(model: MotifModel, X: np.ndarray) -> np.ndarray:
    """The model's own output per class, (n, n_classes), in its output space."""
    clf = model.classifier
    out = backend_raw_output(clf.backend_, clf.estimator_, clf.expand(np.asarray(X, float)))
    out = np.asarray(out, float)
    return np.column_stack([-out, out]) if out.ndim == 1 else out


def _grid_shap(model: MotifModel, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TreeSHAP values of rows X (n, n_features, n_classes) on the energy grid, and the expected
    value per class: the shape scores' values (``MotifClassifier.shape_components``) carried
    back onto the grid by ``MotifClassifier.fold_shape``, so they still add up to the output."""
    explainer = tree_explainer(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = np.asarray(explainer.shap_values(model.classifier.expand(X)))
    expected = np.atleast_1d(np.asarray(explainer.expected_value, float))
    if values.ndim == 2:  # binary margin models: one column for class 1
        values = np.stack([-values, values], axis=-1)
        expected = np.array([-expected[0], expected[0]])
    return model.classifier.fold_shape(values, X), expected


def shap_values(model: MotifModel, X: np.ndarray, class_name: str | None = None) -> dict:
    """SHAP values of rows X for one class (default: each row's predicted class).

    Returns ``class_index`` (n,), ``values`` (n, n_features), ``expected`` (n,), ``output`` (n,).
    """
    X = np.atleast_2d(np.asarray(X, float))
    values, expected = _grid_shap(model, X)
    output = raw_output(model, X)
    if class_name is None:
        index = output.argmax(axis=1)
    else:
        if class_name not in model.classes:
            raise LarchMotifError(f"class {class_name!r} unknown to the model (classes: {', '.join(model.classes)})")
        index = np.full(X.shape[0], model.classes.index(class_name))
    rows = np.arange(X.shape[0])
    return {"class_index": index, "values": values[rows, :, index], "expected": expected[index],
            "output": output[rows, index]}


def probability_scale(model: MotifModel, x: np.ndarray, class_index: int, expected: float,
                      output: float) -> tuple[float, float, float]:
    """``(p_mean, p_output, scale)`` of one explained class: the class probability averaged over
    the model's training spectra and that of this spectrum (the model's own, untempered), and the
    factor that turns SHAP values into shares of the change p_mean -> p_output.

    A probability-space model (random forest) has SHAP values that add up to
    ``p_output - expected``, and ``expected`` is its mean probability: scale 1. A margin-space
    model (boosted trees) has additive SHAP values only in log-odds; spreading the probability
    change over the features in proportion to their margin SHAP values is an approximation
    (it keeps signs, ranks and the total), and the plot says so.
    """
    p_output = float(model.predict_proba(np.atleast_2d(x))[0, class_index])
    if model.classifier.backend_.output_space == "probability":
        return float(expected), p_output, 1.0
    p_mean = float(model.predict_proba(model.training_features)[:, class_index].mean())
    change = output - expected
    return p_mean, p_output, (p_output - p_mean) / change if abs(change) > 1e-12 else 0.0


def energy_windows(energy: np.ndarray, values: np.ndarray, window_eV: float = 5.0) -> list[dict]:
    """SHAP summed over contiguous windows of ``window_eV`` (eV) along the energy axis, in
    energy order: ``{"start_eV", "end_eV", "shap"}`` (every feature at an energy in the window:
    the normalized spectrum and any other feature of that energy)."""
    edges = np.arange(energy.min(), energy.max() + window_eV, window_eV)
    windows = []
    for lo in edges[:-1]:
        mask = (energy >= lo) & (energy < lo + window_eV)
        if mask.any():
            windows.append({"start_eV": float(lo), "end_eV": float(lo + window_eV), "shap": float(values[mask].sum())})
    return windows


def summarize(energy: np.ndarray, values: np.ndarray, regions: dict[str, tuple[float, float]] = DEFAULT_REGIONS,
              window_eV: float = 5.0, n_windows: int = 5) -> tuple[dict, list]:
    """Summed SHAP per region and the strongest contiguous windows of ``window_eV`` (eV)."""
    sums = {name: float(values[(energy >= lo) & (energy < hi)].sum()) for name, (lo, hi) in regions.items()}
    windows = energy_windows(energy, values, window_eV)
    windows.sort(key=lambda w: -abs(w["shap"]))
    return sums, windows[:n_windows]


def explain_spectrum(spectrum: object, model: str | os.PathLike | MotifModel, target_class: str | None = None,
                     group: str | None = None, normalized: bool = False,
                     regions: dict[str, tuple[float, float]] = DEFAULT_REGIONS,
                     mu_columns: str | None = None, herfd: bool | None = None) -> Explanation:
    """Local explanation of one spectrum (file or Larch Group) for one class (default: predicted).

    Returns a ``results.Explanation`` (read as a mapping: its JSON form): file, group, element, edge (the model's), target, class, energy (eV relative to E0), shap_values, expected_value,
    model_output (= expected_value + sum(shap_values)), output_space, regions, top_windows,
    in_domain, warnings; plus norm (the normalized spectrum on the grid) for plotting, and the
    same in probability (``probability_scale``): expected_probability (the class probability
    averaged over the training spectra), class_probability,
    windows (every 5-eV window in energy order, ``shap`` and ``probability``: its share of the
    change of the class probability) and regions_probability.
    ``mu_columns``: how mu is made from the columns (``spectra.mu_from_columns``).
    ``herfd``: a HERFD spectrum, explained as ``predict(..., herfd=True)`` reads it (a copy
    broadened by ``spectra.herfd_broadened``; ``norm`` is that copy's); ``None`` (default): as
    ``predict`` decides, where the spectrum says it is HERFD (``prediction.herfd_reason``).
    """
    from larch_motif.prediction import _as_group, edge_mismatch, edge_shape_warnings, herfd_reason

    m = model if isinstance(model, MotifModel) else load_model(model)
    grp = _as_group(spectrum, group, normalized, mu_columns)
    grp.motif_warnings = []
    normalize(grp)
    shape_warnings = edge_shape_warnings(grp)
    if reason := herfd_reason(grp, herfd, m.edge):  # herfd_broadened refuses another edge than K
        grp = herfd_broadened(grp, m.element, m.edge, reason)
    x = features(grp, m.preprocessing)
    res = shap_values(m, x[None], target_class)
    energy = m.preprocessing.feature_energies()
    values = res["values"][0]
    sums, windows = summarize(energy, values, regions)
    index = int(res["class_index"][0])
    p_expected, p_class, scale = probability_scale(m, x, index, float(res["expected"][0]), float(res["output"][0]))
    fine = [{**w, "probability": w["shap"] * scale} for w in energy_windows(energy, values)]
    warns = list(grp.motif_warnings) + shape_warnings
    mismatch = edge_mismatch(float(grp.e0), m.element, m.edge)
    if mismatch:
        warns.append(mismatch)
    distance = float(m.domain_distance(x[None])[0])
    if distance > float(m.metadata.get("domain_threshold", np.inf)):
        warns.append(Finding("far_from_training", f"far from the training spectra: distance {distance:.3f}"))
    return Explanation(
        file=getattr(grp, "filename", None), group=getattr(grp, "groupname", None),
        target=m.target, class_name=m.classes[int(res["class_index"][0])],
        energy=energy.tolist(), shap_values=values.tolist(),
        expected_value=float(res["expected"][0]), model_output=float(res["output"][0]),
        output_space=m.classifier.backend_.output_space, regions=sums, top_windows=windows,
        expected_probability=p_expected, class_probability=p_class, windows=fine,
        regions_probability={k: v * scale for k, v in sums.items()},
        norm=x[: m.preprocessing.grid().size].tolist(), findings=warns, element=m.element, edge=m.edge)


def _class_words(explanation: dict) -> str:
    """``'CN 6'`` or ``'motif O:6'``: the explained class in words."""
    return f"{'CN' if explanation['target'] == 'cn' else explanation['target']} {explanation['class']}"


def plot_explanation(explanation: dict, path: str | os.PathLike) -> None:
    """PNG a person reads: which parts of the spectrum decided, as bars over the spectrum.

    Left: the normalized spectrum with the SHAP values summed over 5-eV windows as bars (red:
    pushes towards the class, blue: away), in probability where ``probability_scale`` gives
    it, the physical regions shaded and named. Right: the change of the class probability
    region by region, from the model's expected value to this spectrum's answer.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    words = _class_words(explanation)
    n = len(explanation["norm"])
    energy = np.array(explanation["energy"][:n])
    margin = explanation["output_space"] != "probability"
    fig, (ax, axr) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [2.3, 1]})
    twin = ax.twinx()  # the bars, drawn under the spectrum; the regions shaded under both
    shades = ("#f3f3f3", "#e4e4e4")
    for k, (name, (lo, hi)) in enumerate(DEFAULT_REGIONS.items()):
        lo, hi = max(lo, energy.min()), min(hi, energy.max())
        twin.axvspan(lo, hi, color=shades[k % 2], zorder=0)
        twin.text((lo + hi) / 2, 0.03 + 0.07 * (k % 2), name, transform=twin.get_xaxis_transform(), ha="center",
                  fontsize=7, color="0.3")
    windows = explanation["windows"]
    starts = np.array([w["start_eV"] for w in windows])
    widths = np.array([w["end_eV"] - w["start_eV"] for w in windows])
    values = np.array([w["probability"] for w in windows])
    twin.bar(starts, values, width=0.92 * widths, align="edge", color=np.where(values > 0, "tab:red", "tab:blue"),
             alpha=0.55, zorder=1)
    twin.axhline(0, color="gray", lw=0.6)
    twin.set_ylabel(f"pushes towards {words} (+) / away (-)\nchange of p({words}) per 5 eV")
    ax.set_zorder(twin.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.plot(energy, explanation["norm"], color="k", lw=1.5)
    ax.set_xlabel("E - E0 (eV)")
    ax.set_ylabel("normalized absorption")
    note = "; margin SHAP spread over the probability change" if margin else ""
    ax.set_title(f"why {words}: p {explanation['expected_probability']:.2f} averaged over the training spectra -> "
                 f"{explanation['class_probability']:.2f} here\n(the model's own probability, before tempering"
                 f"{note})", fontsize=8.5)
    regions = explanation["regions_probability"]
    names = list(regions)
    axr.barh(range(len(names)), [regions[k] for k in names],
             color=["tab:red" if regions[k] > 0 else "tab:blue" for k in names])
    axr.set_yticks(range(len(names)), names)
    axr.invert_yaxis()
    axr.axvline(0, color="gray", lw=0.8)
    axr.set_xlabel(f"change of p({words}) by region")
    axr.set_title("which part of the spectrum decided", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def explain_model(model: str | os.PathLike | MotifModel, X: np.ndarray | None = None, max_samples: int = 1000,
                  regions: dict[str, tuple[float, float]] = DEFAULT_REGIONS, seed: int = 0) -> ModelExplanation:
    """Global explanation: mean |SHAP| against energy for every class over spectra X (default:
    the model's training spectra, at most ``max_samples``), the impurity importance where the
    backend has one, the share of each region per class, and a one-line reading per class."""
    m = model if isinstance(model, MotifModel) else load_model(model)
    X = m.training_features if X is None else np.atleast_2d(np.asarray(X, float))
    if X.shape[0] > max_samples:
        X = X[np.random.default_rng(seed).choice(X.shape[0], max_samples, replace=False)]
    values, _ = _grid_shap(m, X)
    energy = m.preprocessing.feature_energies()
    mean_abs = np.abs(values).mean(axis=0)  # (n_features, n_classes)
    per_class, summary = {}, {}
    for k, name in enumerate(m.classes):
        sums, _ = summarize(energy, mean_abs[:, k], regions)
        total = sum(sums.values()) or 1.0
        shares = {r: v / total for r, v in sums.items()}
        per_class[name] = {"mean_abs_shap": mean_abs[:, k].tolist(), "region_share": shares}
        top = sorted(shares, key=shares.get, reverse=True)
        peak = float(energy[int(np.argmax(mean_abs[:, k]))])
        summary[name] = (f"{m.target} {name}: decided mostly by the {top[0]} ({shares[top[0]]:.0%}) and the "
                         f"{top[1]} ({shares[top[1]]:.0%}); strongest single energy {peak:+.0f} eV")
    importance = getattr(m.classifier.estimator_, "feature_importances_", None)
    return ModelExplanation(target=m.target, element=m.element, n_spectra=int(X.shape[0]),
                            output_space=m.classifier.backend_.output_space, energy=energy.tolist(),
                            classes=per_class,
                            impurity_importance=None if importance is None
                            else m.classifier.fold_importance(importance).tolist(),
                            summary=summary, shap_array=values, X=X)


def plot_model_explanation(expl: ModelExplanation, path: str | os.PathLike, n_top: int = 12) -> None:
    """PNG: mean |SHAP| against energy per class (with impurity importance), and a beeswarm of
    the top features for the first class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    energy = np.array(expl["energy"])
    fig, (ax, axb) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, d in expl["classes"].items():
        ax.plot(energy, d["mean_abs_shap"], label=f"{expl['target']} {name}")
    if expl["impurity_importance"] is not None:
        imp = np.array(expl["impurity_importance"])
        scale = max(max(d["mean_abs_shap"]) for d in expl["classes"].values()) / max(imp.max(), 1e-12)
        ax.plot(energy, imp * scale, "k--", lw=1, label="impurity importance (scaled)")
    ax.set_xlabel("E - E0 (eV)")
    ax.set_ylabel(f"mean |SHAP| ({expl['output_space']})")
    ax.legend(fontsize=7, ncol=2)
    values, X = expl.shap_array, expl.X
    k = int(np.argmax(np.abs(values).mean(axis=(0, 1))))  # the class the model explains most
    order = np.argsort(np.abs(values[:, :, k]).mean(axis=0))[::-1][:n_top]
    for row, j in enumerate(order[::-1]):
        v = values[:, j, k]
        colors = (X[:, j] - X[:, j].min()) / max(np.ptp(X[:, j]), 1e-12)
        jitter = np.random.default_rng(j).normal(0, 0.08, v.size)
        axb.scatter(v, row + jitter, c=colors, cmap="coolwarm", s=6)
    axb.set_yticks(range(len(order)), [f"{energy[j]:+.0f} eV" for j in order[::-1]])
    axb.axvline(0, color="gray", lw=0.8)
    axb.set_xlabel(f"SHAP for {expl['target']} {list(expl['classes'])[k]} (colour: feature value)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
