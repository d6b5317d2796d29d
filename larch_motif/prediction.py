"""Predictions of CN and motif for measured spectra, with probabilities and a domain check.

A spectrum (file path or Larch Group) is normalized with Larch's ``pre_edge`` unless it already
is, aligned at its half-step E0, put on the model's grid, and classified. The absorber element
is inferred from E0 with xraydb unless given. ``in_domain`` is false, with the reasons in
``warnings``, when the element or edge differ from the model's, the spectrum does not cover the
model's grid, it is farther from every training spectrum than the model's threshold, or it does
not look like an absorption edge (a pre-edge that is not a smooth line, a post-edge that does not
normalize to 1): nonsense that passes reading is flagged, never given a silent class.

``predict_iter`` works through any number of spectra in batches, so memory stays bounded by one
batch; ``predict`` returns the list.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Iterable, Iterator

import numpy as np

from larch_motif.errors import LarchMotifError, SpectrumError
from larch_motif.findings import Finding, code_of
from larch_motif.models import MotifModel, load_model, temper
from larch_motif.preedge import (
    CONFIDENCE_CAP,
    OCTAHEDRAL_MAX_HEIGHT,
    as_cn,
    motif_cn,
    preedge_findings,
    preedge_peak,
)
from larch_motif.results import Prediction
from larch_motif.spectra import (
    cut_scan,
    ends_short,
    feature_vector,
    features,
    herfd_broadened,
    herfd_evidence,
    normalize,
    preprocessing_for,
    read_spectrum,
    set_mu_from_columns,
    window_for,
)

TARGET_CHOICES = ("cn", "motif", "both")


def _as_group(spectrum: object, group: str | None, normalized: bool, mu_columns: str | None = None):
    if isinstance(spectrum, (str, os.PathLike)):
        return read_spectrum(spectrum, group=group, normalized=normalized, mu_columns=mu_columns)
    if hasattr(spectrum, "energy"):  # a Group from Larch's readers: mu from its columns
        set_mu_from_columns(spectrum, mu_columns)
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


def element_to_answer(group, bundled: list[tuple[str, str]] | None = None) -> tuple[str, str]:
    """The element and edge whose default models answer a spectrum given without an element:
    the K edge nearest E0 (eV). Where that element has no bundled model and E0 lies nearer an
    L edge, a ``LarchMotifError`` names that L edge (an Fe L3 spectrum at 708 eV would
    otherwise be taken for the F K edge at 697 eV); the bundled models are K edges only.
    ``bundled``: the bundled (element, edge) pairs, read from the database where not given (a
    batch reads them once)."""
    import xraydb

    element, edge = infer_element(group)
    if bundled is None:
        bundled = _bundled_elements()
    if (element, edge) in bundled:
        return element, edge
    e0 = float(group.e0)
    near_el, near_edge = xraydb.guess_edge(e0, edges=("K", "L1", "L2", "L3"))
    if near_edge != "K":
        at = xraydb.xray_edge(near_el, near_edge).energy
        have = ", ".join(f"{e} {k}" for e, k in bundled)
        raise LarchMotifError(f"E0 {e0:.1f} eV is nearest the {near_el} {near_edge} edge ({at:.0f} eV): "
                              f"the bundled models are K edges only (bundled: {have}); name the element "
                              "(--element, element=) if this is the K edge of one of them")
    return element, edge


def _bundled_elements() -> list[tuple[str, str]]:
    """The (element, edge) pairs of the bundled database."""
    from larch_motif.database import open_database

    with open_database(None) as store:
        return store.elements()


@functools.lru_cache(maxsize=64)
def edge_energy_eV(element: str, edge: str) -> float:
    """The element's absorption edge energy (eV) from xraydb, looked up once per process (a
    lookup is an SQL query: 1.2 ms, two per spectrum in a batch)."""
    import xraydb

    return float(xraydb.xray_edge(element, edge).energy)


def edge_mismatch(e0_eV: float, element: str, edge: str, tolerance_eV: float = 60.0) -> str | None:
    """A warning when E0 (eV) is farther than ``tolerance_eV`` from the element's edge energy."""
    expected = edge_energy_eV(element, edge)
    if abs(e0_eV - expected) > tolerance_eV:
        return Finding("other_element", f"E0 {e0_eV:.1f} eV is {e0_eV - expected:+.0f} eV from the {element} "
                                        f"{edge} edge ({expected:.0f} eV): another element than the model's?")
    return None


#: Largest scatter (RMS, in units of the edge step) of a pre-edge about Larch's pre-edge line:
#: measured references stay below 0.012 and 2 % noise gives 0.017; random walks reach 0.05 and more.
MAX_PRE_EDGE_SCATTER = 0.03

def edge_shape_warnings(group) -> list[str]:
    """Warnings for a group normalized by Larch's ``pre_edge`` that is not an absorption edge:
    its pre-edge scatters about the fitted line by more than ``MAX_PRE_EDGE_SCATTER`` edge steps
    (noise, drift, a random walk). Groups given as normalized are not checked."""
    details = getattr(group, "pre_edge_details", None)
    line = getattr(group, "pre_edge", None)
    if getattr(group, "is_normalized", False) or details is None or line is None:
        return []
    energy, mu = np.asarray(group.energy, float), np.asarray(group.mu, float)
    pre = energy < float(group.e0) + float(getattr(details, "pre2", -30.0))
    line = np.asarray(line, float)
    if pre.sum() < 5 or line.shape != mu.shape or not group.edge_step > 0:
        return []
    scatter = float(np.std((mu - line)[pre]) / group.edge_step)
    if scatter > MAX_PRE_EDGE_SCATTER:
        return [Finding("pre_edge_not_smooth", f"pre-edge not a smooth line: scatter {scatter:.3f} of the edge step "
                                               f"(> {MAX_PRE_EDGE_SCATTER}): noise, drift, or not an absorption edge")]
    return []


def resolve_models(target: str, model: str | os.PathLike | MotifModel | None = None,
                   element: str | None = None, edge: str = "K",
                   backend: str | None = None, grid_max_eV: float | None = None) -> dict[str, MotifModel]:
    """Models by target: a given model file/object, or the default models of ``element``
    (of ``backend``, default ``training.DEFAULT_BACKEND``; ``grid_max_eV``: those of a
    short-scan window, ``spectra.SHORT_SCAN_WINDOWS_EV``)."""
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
    return {t: _default_model(element, t, edge, backend, grid_max_eV) for t in targets}


_DEFAULT_MODELS: dict[tuple[str, str, str, str | None, float | None], tuple[tuple, MotifModel]] = {}


def _default_model(element: str, target: str, edge: str, backend: str | None = None,
                   grid_max_eV: float | None = None) -> MotifModel:
    """``defaults.default_model`` of ``backend`` (default ``training.DEFAULT_BACKEND``), kept in
    memory while the bundled database file is unchanged: loading it takes about 0.4 s, too long
    for each of hundreds of Larch commands."""
    from larch_motif.database import database_stamp
    from larch_motif.defaults import DEFAULT_BACKEND, cache_folder, default_model

    backend = backend or DEFAULT_BACKEND
    file_stamp = database_stamp()
    if file_stamp is None:
        return default_model(element, target, edge, backend, grid_max_eV)
    stamp = (*file_stamp, str(cache_folder()))
    key = (element, target, edge, backend, grid_max_eV)
    cached = _DEFAULT_MODELS.get(key)
    if cached is None or cached[0] != stamp:
        cached = (stamp, default_model(element, target, edge, backend, grid_max_eV))
        _DEFAULT_MODELS[key] = cached
    return cached[1]


def predict(spectra: object | Iterable[object], model: str | os.PathLike | MotifModel | None = None,
            element: str | None = None, target: str = "both", group: str | None = None,
            normalized: bool = False, edge: str = "K", backend: str | None = None,
            min_confidence: float | None = None, mu_columns: str | None = None,
            herfd: bool | None = None) -> list[Prediction]:
    """Predict CN and/or motif of each spectrum (files or Larch Groups).

    With ``target="both"`` and the default models, ``cn_site_average`` is the site-averaged CN
    from the regressor of compound spectra (``training.train_cn_mean``): for compounds with
    several absorber sites it lies between the CN of the sites. Where it is
    ``SITE_AVERAGE_TOLERANCE`` (0.5) CN or more from the CN answer, ``cn_confidence`` is capped
    (``check_site_average``, finding ``cn_site_average_disagree``).
    ``{target}_probabilities`` are the model's class probabilities tempered by the temperature
    fitted on held-out minerals at training (``models.temper`` with ``MotifModel.temperature``;
    the answer is the same class as without it; SHAP explains the untempered output).
    Each target also gets ``{target}_confidence``: the calibrated chance that the answer is
    right (``MotifModel.confidence``). With ``min_confidence`` (0-1), an answer below it is
    ``"uncertain"`` and ``{target}_top2`` lists the two most probable classes with their
    probabilities.

    Without ``model``, the default models of the element are used, of ``backend`` (rf,
    xgboost, lightgbm; default lightgbm).

    ``mu_columns`` says how mu is made from the columns of a file or a Group read by Larch
    (``"ln(i0/itrans)"``, ``"ifluor/i0"``, ``"mutrans"``; ``spectra.mu_from_columns``) where
    the column labels do not tell it.

    ``herfd``: the spectra are HERFD (K edge, Kalpha1 detection). The models read a copy of each
    normalized spectrum broadened by the part of its absorber's core-hole width that HERFD takes
    away (``spectra.herfd_broadened``: 0.73 eV FWHM for Ti to 1.06 eV for Zn), since they learned
    spectra with the full width and read sharper ones less well
    (``docs/validation/sharp_spectra.md``); finding ``herfd_broadened``. A Group given keeps its
    mu; e0_half in the answer is the broadened spectrum's. A model of another edge is refused.
    ``None`` (default): each K-edge spectrum is read as HERFD where it says so (the word HERFD in
    its file name, Athena group name or header: ``spectra.herfd_evidence``), and the finding
    names where; ``False`` reads every spectrum as it is.

    Returns one ``results.Prediction`` per spectrum: typed fields (``answer("cn")``,
    ``metallic``, ``findings``, ...) and, read as a mapping or through ``to_dict()`` (the
    JSON form), the keys file, group, element, edge, e0 (eV), e0_half (eV), cn,
    cn_probabilities, motif, motif_probabilities, in_domain, warnings, findings,
    domain_distance, preedge, grid_eV (the models' grid, eV around E0). With the default models and ``target="both"`` also
    ``metallic`` and ``metallic_probability`` (the metallic detector): a metallic answer has
    ``cn: None``, ``motif: "metallic"``, ``cn_site_average: None`` and no class probabilities.
    A spectrum that ends before the full grid but reaches a short-scan window
    (``spectra.SHORT_SCAN_WINDOWS_EV``) is answered by that window's models, with a warning
    that names the window; one that ends before the smallest window (finding
    ``range_too_short``) has its CN, motif and metallic confidences capped at ``CONFIDENCE_CAP``
    (``check_range``), so it is "possibly metallic" at most. The
    element comes from ``element``, else from the model, else from E0 (xraydb). A spectrum that
    cannot be read or normalized raises ``SpectrumError``; ``predict_iter`` can flag it instead.
    """
    items = list(spectra) if isinstance(spectra, (list, tuple)) else [spectra]
    if not items:
        raise LarchMotifError("no spectra given")
    return list(predict_iter(items, model=model, element=element, target=target, group=group,
                             normalized=normalized, edge=edge, backend=backend,
                             min_confidence=min_confidence, batch_size=max(len(items), 1),
                             mu_columns=mu_columns, herfd=herfd))


ERROR_CHOICES = ("raise", "flag")


def predict_iter(spectra: Iterable[object], model: str | os.PathLike | MotifModel | None = None,
                 element: str | None = None, target: str = "both", group: str | None = None,
                 normalized: bool = False, edge: str = "K", backend: str | None = None,
                 min_confidence: float | None = None, batch_size: int = 256,
                 errors: str = "raise", mu_columns: str | None = None, herfd: bool | None = None) -> Iterator[Prediction]:
    """Predict spectra from any iterable (a generator of files or Groups), ``batch_size`` at a time.

    Yields the ``Prediction`` objects of ``predict`` in input order; only one batch of spectra
    is held at once, so memory does not grow with the number of spectra. ``errors='flag'``
    yields, for a spectrum that cannot be read or normalized, a ``Prediction`` with ``error``
    (JSON: ``{'file', 'group', 'error', 'in_domain': False, 'warnings': [error], 'findings'}``)
    and goes on; ``errors='raise'`` (default) raises its ``SpectrumError``.
    """
    if errors not in ERROR_CHOICES:
        raise LarchMotifError(f"unknown errors={errors!r} (choose from {', '.join(ERROR_CHOICES)})")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise LarchMotifError(f"batch_size must be a positive integer, got {batch_size!r}")
    if target not in TARGET_CHOICES:
        raise LarchMotifError(f"unknown target {target!r} (choose from {', '.join(TARGET_CHOICES)})")
    if min_confidence is not None and not 0 <= min_confidence <= 1:
        raise LarchMotifError(f"min_confidence {min_confidence!r} must lie between 0 and 1")
    if herfd and edge != "K":
        raise LarchMotifError(f"herfd: HERFD broadening is for K edges (Kalpha1 detection), not {edge}")
    iterator = iter(spectra)
    # models by element, edge and short-scan window (None: the full grid); a model file serves all
    model_sets: dict[tuple, tuple[dict[str, MotifModel], MotifModel | None, MotifModel | None]] = {}
    while batch := list(itertools.islice(iterator, batch_size)):
        groups: list = []
        for item in batch:
            try:
                grp = _as_group(item, group, normalized, mu_columns)
                grp.motif_warnings = []
                normalize(grp)
                grp.motif_warnings = list(grp.motif_warnings) + edge_shape_warnings(grp)
                groups.append(grp)
            except LarchMotifError as exc:
                if errors == "raise":
                    raise
                groups.append(_error_result(item, group, exc))
        good = [g for g in groups if not isinstance(g, Prediction)]
        # each spectrum's element from its E0 where neither an element nor a model is given, so
        # that files of several elements in one call each get their element's models
        by_set: dict[tuple, list[int]] = {}
        bundled = _bundled_elements() if good and element is None and model is None else None
        for k, grp in enumerate(good):
            el, ed = (element, edge) if bundled is None else element_to_answer(grp, bundled)
            window = None if model is not None else window_for(float(np.max(grp.energy) - grp.e0_half), el)
            by_set.setdefault((el, ed, window), []).append(k)
        predicted: dict[int, Prediction] = {}
        for (el, ed, window), members in by_set.items():
            if (el, ed, window) not in model_sets:
                model_sets[el, ed, window] = _model_set(target, model, el, ed, backend, window)
            models, site_average, metallic = model_sets[el, ed, window]
            chunk = [good[k] for k in members]
            if herfd is not False:  # herfd_broadened refuses a model of another edge than K
                first = next(iter(models.values()))
                chunk = [herfd_broadened(grp, el or first.element, first.edge, reason) if reason else grp
                         for grp, reason in ((g, herfd_reason(g, herfd, first.edge)) for g in chunk)]
            for k, res in zip(members, _predict_groups(chunk, models, el, ed, min_confidence,
                                                       site_average, metallic, window)):
                predicted[k] = res
        results = iter(predicted[k] for k in range(len(good)))
        for grp in groups:
            yield grp if isinstance(grp, Prediction) else next(results)


def herfd_reason(group, herfd: bool | None, edge: str) -> str | None:
    """Why ``group`` is read as HERFD (the text of the ``herfd_broadened`` finding), or None:
    ``herfd=True`` always; ``herfd=None`` a K-edge spectrum that says it is HERFD
    (``spectra.herfd_evidence``); ``herfd=False`` never."""
    if herfd:
        return "herfd=True"
    evidence = herfd_evidence(group) if herfd is None and edge == "K" else None
    return f"{evidence} says HERFD; herfd=False reads it as it is" if evidence else None


def _model_set(target: str, model, element: str | None, edge: str, backend: str | None,
               window: float | None) -> tuple[dict[str, MotifModel], MotifModel | None, MotifModel | None]:
    """The classifiers by target, the site-averaged CN regressor and the metallic detector of a
    prediction run (the last two only with the default models and ``target='both'``)."""
    models = resolve_models(target, model, element, edge, backend, grid_max_eV=window)
    if target != "both" or model is not None:
        return models, None, None
    element = element or next(iter(models.values())).element
    # compounds with several absorber sites (magnetite, Mn3O4): the site-averaged CN
    site_average = _default_model(element, "cn_mean", edge, backend, window)
    return models, site_average, _default_model(element, "metallic", edge, backend, window)


def _error_result(item: object, group: str | None, exc: Exception) -> dict:
    name = str(item) if isinstance(item, (str, os.PathLike)) else getattr(item, "filename", None)
    message = str(exc)
    return Prediction(file=name, group=group if name else getattr(item, "groupname", None), error=message,
                      findings=[Finding("error", message)])


#: Probability of the metallic class above which the spectrum looks metallic
METALLIC_THRESHOLD = 0.5
#: Calibrated confidence (held-out theory) the detector needs to answer "metallic" (no CN, no
#: motif); below it a metallic-looking spectrum keeps its CN and motif, flagged "possibly
#: metallic" (out of domain). Measured pyrite FeS2 looked metallic at p 0.63 (confidence 0.55)
#: and Zn foil at p 0.63 (confidence 0.25): a confident wrong answer is worse than a flag.
METALLIC_MIN_CONFIDENCE = 0.9


#: Calibrated confidence the CN and the motif answer each keep at most where the motif's CN is
#: not the CN answer (CN 2 with O:6): one of them is wrong. Held-out theory (grouped CV, lightgbm,
#: 9 elements, fold seeds 100-102): of 5,910 site answers 163 disagreed, and of those the CN was
#: right for 68 (0.42) and the motif for 72 (0.44), against 0.95 and 0.94 where they agreed
#: (``benchmarks/agreement.py``, ``docs/validation/agreement.md``).
DISAGREEMENT_CONFIDENCE = 0.43


def _cap(res: dict, targets: tuple[str, ...], cap: float, finding: Finding) -> None:
    """Cap the ``{target}_confidence`` (0-1) of each of ``targets`` at ``cap`` (a cap never
    raises) and add ``finding`` to the warnings once."""
    for name in targets:
        res[f"{name}_confidence"] = min(float(res[f"{name}_confidence"]), cap)
    if finding not in res["warnings"]:
        res["warnings"].append(finding)


def check_agreement(res: dict) -> None:
    """Flag a result whose CN answer and motif answer name different CNs (finding
    ``cn_motif_disagree``) and cap both confidences at ``DISAGREEMENT_CONFIDENCE``. ``res``: a
    result dict with ``cn``, ``motif`` and their ``*_confidence`` (0-1); one without both, or
    with a motif that names no CN, is left as it is."""
    motif_says, cn = motif_cn(res.get("motif")), as_cn(res.get("cn"))
    if motif_says is None or cn is None or motif_says == cn:
        return
    _cap(res, ("cn", "motif"), DISAGREEMENT_CONFIDENCE, Finding(
        "cn_motif_disagree", f"the CN model says {cn} but the motif model says {res['motif']} (CN {motif_says}): one "
        f"of them is wrong (on held-out theory such answers were right about {DISAGREEMENT_CONFIDENCE:.0%} of the "
        "time; both confidences capped at that)"))


#: CN units between the site-averaged CN and the CN answer from which they disagree: a compound
#: whose sites share one CN cannot have both right (the measured table's tolerance too)
SITE_AVERAGE_TOLERANCE = 0.5
#: Calibrated CN confidence kept at most where the site-averaged CN disagrees with the CN answer:
#: a mixture of sites, or a doubtful CN. Held-out theory compounds whose sites share one CN
#: (grouped CV, lightgbm, 9 elements, fold seed 0): of 1,610 answers 219 disagreed, and of those
#: the CN was right for 140 (0.64), against 0.94 where they agreed; at a model probability of 0.9
#: or more, 107 of 151 (0.71) (``benchmarks/site_agreement.py``, ``docs/validation/site_agreement.md``).
SITE_AVERAGE_DISAGREEMENT_CONFIDENCE = 0.64


def check_site_average(res: dict) -> None:
    """Flag a result whose site-averaged CN (``cn_site_average``) is ``SITE_AVERAGE_TOLERANCE``
    CN units or more from its CN answer (finding ``cn_site_average_disagree``) and cap the CN
    confidence (0-1) at ``SITE_AVERAGE_DISAGREEMENT_CONFIDENCE``. A result without both, or whose
    CN answer is not a number, is left as it is; the motif confidence is not touched (its
    rate under this disagreement was not measured)."""
    cn, average = as_cn(res.get("cn")), res.get("cn_site_average")
    if cn is None or average is None or abs(float(average) - cn) < SITE_AVERAGE_TOLERANCE:
        return
    _cap(res, ("cn",), SITE_AVERAGE_DISAGREEMENT_CONFIDENCE, Finding(
        "cn_site_average_disagree", f"the site-averaged CN is {float(average):.2f} but the CN answer is {cn}: a "
        "mixture of sites of different CN, or a doubtful CN (on held-out theory compounds of one CN such answers "
        f"were right about {SITE_AVERAGE_DISAGREEMENT_CONFIDENCE:.0%} of the time; CN confidence capped at that)"))


def check_range(res: dict, short_end: bool) -> None:
    """Cap the CN and motif confidences (0-1) of a result whose spectrum ends before its models'
    grid ends (``short_end``: ``spectra.ends_short`` for a model's grid; its finding
    ``range_too_short``) at ``CONFIDENCE_CAP``: the models read the missing energies as the
    spectrum's end value, and their calibration, measured on held-out spectra that cover the
    grid, says nothing of that. A scan to +18 eV of a featureless Fe step was answered CN 6 at
    confidence 0.97 before; measured compounds cut at E0 + 15 to 25 eV: ``benchmarks/too_short.py``.
    A spectrum that only starts late (above E0 - 8 eV) is flagged but not capped."""
    targets = tuple(name for name in ("cn", "motif") if f"{name}_confidence" in res)
    if not short_end or not targets:
        return
    for name in targets:
        res[f"{name}_confidence"] = min(float(res[f"{name}_confidence"]), CONFIDENCE_CAP)


def _site_average_features(grp, prep) -> np.ndarray:
    """The site-average regressor's features of a Group, without its findings: its grid (from
    ``CN_MEAN_GRID_MIN_EV`` to the same end) lies inside the CN and motif models', so its
    "range too short" would only repeat theirs in other words."""
    return feature_vector(np.asarray(grp.energy, float) - grp.e0_half, grp.flat, prep)[0]


def _ends_short(grp, prep) -> bool:
    """``spectra.ends_short`` of a normalized Group for a model's preprocessing ``prep``."""
    return ends_short(float(grp.energy[-1]) - float(grp.e0_half), prep)


#: The cap on the CN confidence (0-1) that each finding puts: what ``predict`` applies, for code
#: (``benchmarks/reliability.py``) that applies the same caps to another calibration
CONFIDENCE_CAPS: dict[str, float] = {"preedge_strong": CONFIDENCE_CAP, "preedge_weak": CONFIDENCE_CAP,
                                     "range_too_short": CONFIDENCE_CAP,  # where the spectrum ends short
                                     "cn_motif_disagree": DISAGREEMENT_CONFIDENCE,
                                     "cn_site_average_disagree": SITE_AVERAGE_DISAGREEMENT_CONFIDENCE}


def _predict_groups(groups: list, models: dict[str, MotifModel], element: str | None, edge: str,
                    min_confidence: float | None, site_average: MotifModel | None,
                    metallic: MotifModel | None = None, window: float | None = None) -> list[Prediction]:
    """Predictions for normalized groups with resolved models (one batch).

    With a metallic detector, a spectrum whose tempered probability of ``metallic`` is above
    ``METALLIC_THRESHOLD`` at a calibrated confidence of ``METALLIC_MIN_CONFIDENCE`` or more is
    answered ``cn: None``, ``motif: "metallic"``, ``metallic: True`` (no coordination
    polyhedron), without the CN and motif classes; above the threshold at a lower confidence it
    keeps its CN and motif, flagged "possibly metallic" (out of domain). Every answer gets
    ``metallic``, ``metallic_probability`` and ``metallic_confidence``. ``window``: the grid end (eV above E0) of a
    short-scan window model, stated in the answer as ``grid_eV``."""
    first = next(iter(models.values()))
    results = []
    for grp in groups:
        seen_element, seen_edge = infer_element(grp)
        results.append({
            "file": getattr(grp, "filename", None), "group": getattr(grp, "groupname", None),
            "element": element or first.element, "edge": edge, "e0": float(grp.e0),
            "e0_half": float(grp.e0_half), "edge_from_e0": f"{seen_element} {seen_edge}",
            "grid_eV": [float(first.preprocessing.grid_min_eV), float(first.preprocessing.grid_max_eV)],
            "in_domain": True, "warnings": [],
        })
        if window is not None:
            results[-1]["warnings"].append(Finding(
                "short_scan", f"short scan: answered by the models of the window {first.preprocessing.grid_min_eV:+g} "
                f"to {window:+g} eV around E0 (the full grid ends at "
                f"{preprocessing_for(first.element).grid_max_eV:+g} eV)"))
    if first.preprocessing.scan_end_eV is not None:
        # a window model sees measurement cut and normalized as its theory was (spectra.cut_scan)
        groups = [cut_scan(g, first.preprocessing.scan_end_eV) for g in groups]
    peaks = [preedge_peak(g.energy, g.norm, g.e0_half) if res["element"] in OCTAHEDRAL_MAX_HEIGHT else None
             for res, g in zip(results, groups)]
    for res, peak in zip(results, peaks):
        res["preedge"] = peak.to_dict() if peak is not None else None
    tempered: dict[str, np.ndarray] = {}
    for name, m in models.items():
        X = np.vstack([features(g, m.preprocessing) for g in groups])
        model_proba = m.predict_proba(X)
        tempered[name] = proba = temper(model_proba, m.temperature)
        distance = m.domain_distance(X)
        threshold = float(m.metadata.get("domain_threshold", np.inf))
        confidence = m.confidence(model_proba.max(axis=1))
        for res, p, d, conf, peak in zip(results, proba, distance, confidence, peaks):
            res[name] = m.classes[int(np.argmax(p))]
            res[f"{name}_probabilities"] = {c: round(float(v), 4) for c, v in zip(m.classes, p)}
            doubts = preedge_findings(peak, res["element"], motif_cn(res[name]) if name == "motif" else res[name])
            if doubts:
                conf = min(float(conf), CONFIDENCE_CAP)
                res["warnings"].extend(f for f in doubts if f not in res["warnings"])
            res[f"{name}_confidence"] = conf
            res["domain_distance"] = round(float(d), 4)
            if d > threshold:
                res["warnings"].append(Finding(
                    "far_from_training", f"far from the training spectra ({name} model): distance {d:.3f} > {threshold:.3f}"))
        for res in results:
            mismatch = edge_mismatch(res["e0"], m.element, m.edge)
            if mismatch and mismatch not in res["warnings"]:
                res["warnings"].append(mismatch)
    for res, grp in zip(results, groups):
        check_agreement(res)
        check_range(res, any(_ends_short(grp, m.preprocessing) for m in models.values()))
    if site_average is not None:
        X = np.vstack([_site_average_features(g, site_average.preprocessing) for g in groups])
        for res, value in zip(results, site_average.predict(X)):
            res["cn_site_average"] = round(float(value), 2)
            check_site_average(res)
    for name, m in models.items():
        for res, p in zip(results, tempered[name]):
            conf = res[f"{name}_confidence"] = round(float(res[f"{name}_confidence"]), 4)
            # judged as shown: a min_confidence equal to it keeps the answer
            if min_confidence is not None and conf < min_confidence:
                top = np.argsort(p)[::-1][:2]
                res[f"{name}_top2"] = [[m.classes[int(k)], round(float(p[k]), 4)] for k in top]
                res[name] = "uncertain"
    if metallic is not None:
        _answer_metallic(results, groups, metallic)
    for res, grp in zip(results, groups):
        res["warnings"] = list(dict.fromkeys(grp.motif_warnings + res["warnings"]))
    return [Prediction.from_dict(res) for res in results]


def _answer_metallic(results: list[dict], groups: list, detector: MotifModel) -> None:
    """Add the metallic detector's answer to each result; a metallic one loses its CN and motif.
    A spectrum that ends before the detector's grid ends has its metallic confidence capped at
    ``CONFIDENCE_CAP``, below ``METALLIC_MIN_CONFIDENCE``: it is flagged "possibly metallic" at
    most (measured CrO2 and Li2MnO3 cut at E0 + 15 eV were answered metallic before,
    ``benchmarks/too_short.py``)."""
    from larch_motif.training import METALLIC

    X = np.vstack([features(g, detector.preprocessing) for g in groups])
    model_proba = detector.predict_proba(X)
    column = detector.classes.index(METALLIC)
    p_metallic = temper(model_proba, detector.temperature)[:, column]
    confidence = detector.confidence(model_proba.max(axis=1))
    for k, grp in enumerate(groups):  # as check_range: a truncated oxide read as end values looks smooth
        if _ends_short(grp, detector.preprocessing):
            confidence[k] = min(float(confidence[k]), CONFIDENCE_CAP)
    for res, p, conf in zip(results, p_metallic, confidence):
        looks_metallic = bool(p > METALLIC_THRESHOLD)
        res["metallic"] = bool(looks_metallic and conf >= METALLIC_MIN_CONFIDENCE)
        res["metallic_probability"] = round(float(p), 4)
        res["metallic_confidence"] = round(float(conf), 4)
        if looks_metallic and not res["metallic"]:
            res["warnings"].append(Finding(
                "possibly_metallic", f"possibly metallic: the metallic detector gives p={p:.2f} at confidence "
                f"{conf:.2f} (< {METALLIC_MIN_CONFIDENCE}): the CN and motif may not apply"))
        if res["metallic"]:
            for key in [k for k in res if k.startswith(("cn", "motif"))]:
                del res[key]
            res.update(cn=None, motif="metallic", cn_site_average=None)
            # the answer is the detector's, read on its grid (Cu's is shorter than its CN model's)
            res["grid_eV"] = [float(detector.preprocessing.grid_min_eV), float(detector.preprocessing.grid_max_eV)]
            # the CN/motif models' distance says nothing of a metal: the detector's does
            # nor do the pre-edge's check and the CN/motif agreement of answers that are gone
            res["warnings"] = [w for w in res["warnings"]
                               if code_of(w) not in ("far_from_training", "preedge_strong", "preedge_weak",
                                                     "cn_motif_disagree", "cn_site_average_disagree")]
    distance = detector.domain_distance(X)
    threshold = float(detector.metadata.get("domain_threshold", np.inf))
    for res, d in zip(results, distance):
        if res["metallic"] and d > threshold:
            res["warnings"].append(Finding("far_from_training", f"far from the training spectra (metallic model): "
                                                                f"distance {d:.3f} > {threshold:.3f}"))
