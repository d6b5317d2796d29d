"""Predictions of CN and motif for measured spectra, with probabilities and a domain check.

A spectrum (file path or Larch Group) is normalized with Larch's ``pre_edge`` unless it already
is, aligned at its half-step E0, put on the model's grid, and classified. The absorber element
is inferred from E0 with xraydb unless given. ``in_domain`` is false, with the reasons in
``warnings``, when the element or edge differ from the model's, the spectrum does not cover the
model's grid, or it is farther from every training spectrum than the model's threshold.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from larch_motif.errors import LarchMotifError, SpectrumError
from larch_motif.models import MotifModel, load_model
from larch_motif.spectra import features, normalize, read_spectrum

TARGET_CHOICES = ("cn", "motif", "both")


def _as_group(spectrum: object, group: str | None, normalized: bool):
    if isinstance(spectrum, (str, os.PathLike)):
        return read_spectrum(spectrum, group=group, normalized=normalized)
    if hasattr(spectrum, "energy") and hasattr(spectrum, "mu"):
        if normalized:
            spectrum.is_normalized = True
        return spectrum
    raise SpectrumError(f"not a spectrum: {type(spectrum).__name__} (give a file or a Group with energy and mu)")


def infer_element(group) -> tuple[str, str]:
    """Absorber element and edge from E0 (eV) with xraydb (K edges: those the models cover)."""
    import xraydb

    element, edge = xraydb.guess_edge(float(group.e0), edges=("K",))
    return element, edge


def edge_mismatch(e0_eV: float, element: str, edge: str, tolerance_eV: float = 60.0) -> str | None:
    """A warning when E0 (eV) is farther than ``tolerance_eV`` from the element's edge energy."""
    import xraydb

    expected = xraydb.xray_edge(element, edge).energy
    if abs(e0_eV - expected) > tolerance_eV:
        return (f"E0 {e0_eV:.1f} eV is {e0_eV - expected:+.0f} eV from the {element} {edge} edge "
                f"({expected:.0f} eV): another element than the model's?")
    return None


def is_in_domain(warnings: list[str]) -> bool:
    """False when a warning says the spectrum is outside the model's domain."""
    return not any(w.startswith(("far from", "range too short")) or "another element" in w for w in warnings)


def resolve_models(target: str, model: str | os.PathLike | MotifModel | None = None,
                   element: str | None = None, edge: str = "K",
                   backend: str | None = None) -> dict[str, MotifModel]:
    """Models by target: a given model file/object, or the default models of ``element``
    (of ``backend``, default ``training.DEFAULT_BACKEND``)."""
    if target not in TARGET_CHOICES:
        raise LarchMotifError(f"unknown target {target!r} (choose from {', '.join(TARGET_CHOICES)})")
    targets = ("cn", "motif") if target == "both" else (target,)
    if model is not None:
        m = model if isinstance(model, MotifModel) else load_model(model)
        if target == "both":
            return {m.target: m}
        if m.target != target:
            raise LarchMotifError(f"the model predicts {m.target}, not {target}")
        return {m.target: m}
    if element is None:
        raise LarchMotifError("give a model file or an element")
    from larch_motif.training import DEFAULT_BACKEND, default_model

    return {t: default_model(element, t, edge, backend or DEFAULT_BACKEND) for t in targets}


def predict(spectra: object | Iterable[object], model: str | os.PathLike | MotifModel | None = None,
            element: str | None = None, target: str = "both", group: str | None = None,
            normalized: bool = False, edge: str = "K", backend: str | None = None,
            min_confidence: float | None = None) -> list[dict]:
    """Predict CN and/or motif of each spectrum (files or Larch Groups).

    With ``target="both"`` and the default models, ``cn_site_average`` is the site-averaged CN
    from the regressor of compound spectra (``training.train_cn_mean``): for compounds with
    several absorber sites it lies between the CN of the sites.
    Each target also gets ``{target}_confidence``: the calibrated chance that the answer is
    right (``MotifModel.confidence``). With ``min_confidence`` (0-1), an answer below it is
    ``"uncertain"`` and ``{target}_top2`` lists the two most probable classes with their
    probabilities.

    Without ``model``, the default models of the element are used, of ``backend`` (rf,
    xgboost, lightgbm; default rf).

    Returns one dict per spectrum: file, group, element, edge, e0 (eV), e0_half (eV), cn,
    cn_probabilities, motif, motif_probabilities, in_domain, warnings, domain_distance. The
    element comes from ``element``, else from the model, else from E0 (xraydb).
    """
    if min_confidence is not None and not 0 <= min_confidence <= 1:
        raise LarchMotifError(f"min_confidence {min_confidence!r} must lie between 0 and 1")
    items = list(spectra) if isinstance(spectra, (list, tuple)) else [spectra]
    if not items:
        raise LarchMotifError("no spectra given")
    groups = []
    for item in items:
        grp = _as_group(item, group, normalized)
        grp.motif_warnings = []
        normalize(grp)
        groups.append(grp)
    if element is None and model is None:
        element, edge = infer_element(groups[0])
    models = resolve_models(target, model, element, edge, backend)
    first = next(iter(models.values()))
    results = []
    for grp in groups:
        seen_element, seen_edge = infer_element(grp)
        results.append({
            "file": getattr(grp, "filename", None), "group": getattr(grp, "groupname", None),
            "element": element or first.element, "edge": edge, "e0": float(grp.e0),
            "e0_half": float(grp.e0_half), "edge_from_e0": f"{seen_element} {seen_edge}",
            "in_domain": True, "warnings": [],
        })
    for name, m in models.items():
        X = np.vstack([features(g, m.preprocessing) for g in groups])
        proba = m.predict_proba(X)
        distance = m.domain_distance(X)
        threshold = float(m.metadata.get("domain_threshold", np.inf))
        confidence = m.confidence(proba.max(axis=1))
        for res, p, d, conf in zip(results, proba, distance, confidence):
            res[name] = m.classes[int(np.argmax(p))]
            res[f"{name}_probabilities"] = {c: round(float(v), 4) for c, v in zip(m.classes, p)}
            res[f"{name}_confidence"] = round(float(conf), 4)
            if min_confidence is not None and conf < min_confidence:
                top = np.argsort(p)[::-1][:2]
                res[f"{name}_top2"] = [[m.classes[int(k)], round(float(p[k]), 4)] for k in top]
                res[name] = "uncertain"
            res["domain_distance"] = round(float(d), 4)
            if d > threshold:
                res["warnings"].append(
                    f"far from the training spectra ({name} model): distance {d:.3f} > {threshold:.3f}")
        for res in results:
            mismatch = edge_mismatch(res["e0"], m.element, m.edge)
            if mismatch and mismatch not in res["warnings"]:
                res["warnings"].append(mismatch)
    if target == "both" and model is None:
        from larch_motif.training import DEFAULT_BACKEND, default_model

        # compounds with several absorber sites (magnetite, Mn3O4): the site-averaged CN
        average = default_model(element or first.element, "cn_mean", edge, backend or DEFAULT_BACKEND)
        X = np.vstack([features(g, average.preprocessing) for g in groups])
        for res, value in zip(results, average.predict(X)):
            res["cn_site_average"] = round(float(value), 2)
    for res, grp in zip(results, groups):
        res["warnings"] = list(dict.fromkeys(grp.motif_warnings + res["warnings"]))
        res["in_domain"] = is_in_domain(res["warnings"])
    return results
