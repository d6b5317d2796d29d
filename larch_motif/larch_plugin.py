"""Larch shell commands of larch_motif: functions on Groups, like Larch's own ``pre_edge``.

In a Larch session (``larch``, ``larch -e script.lar``, the Larix shell) after
``larch-motif install-larch``, or after running ``INIT_LINE`` once in a session::

    dat = read_ascii('fe_oxide.dat', labels='energy mu')
    motif_predict(dat, element='Fe')       # fills dat.motif
    print(dat.motif.cn, dat.motif.cn_probabilities, dat.motif.in_domain)
    help(motif_predict)

The commands live in the Larch group ``_motif`` (``_larch_builtins``), which joins the groups
Larch searches for names. A problem with the input (no group, a group without energy and mu,
a spectrum of another element than the model's) is reported by the Larch shell as one line,
``LarchMotifError: motif_predict: ...``; the script stops there, the session goes on, and the
group is left as it was. This module is an adapter: it calls the library and holds no method.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from larch import Group

from larch_motif.errors import LarchMotifError
from larch_motif.findings import code_of
from larch_motif.results import Explanation, Prediction

#: Larch group that holds the commands (``help(_motif)`` lists them).
GROUP_NAME = "_motif"

#: The line ``larch-motif install-larch`` adds to Larch's start-up file (and uninstall removes).
INIT_LINE = "import larch_motif.larch_plugin as _motif_plugin; _motif_plugin._larch_init(_larch)"


def _report(_larch, command: str, exc: Exception) -> None:
    """Hand a user error to Larch as one line naming the command; raise it outside Larch."""
    error = LarchMotifError(f"{command}: {exc}")
    if _larch is None:
        raise error from None
    _larch.raise_exception(None, exc=LarchMotifError, msg=str(error))
    # no Python traceback in the shell's message; Larch's try/except still sees the type
    _larch.error[-1].exc_info = (LarchMotifError, error, None)


def _spectrum_copy(group, mu_columns: str | None = None):
    """A Larch Group sharing the arrays of ``group``, so that a failure leaves ``group`` as it was.

    A Group read by Larch's ``read_xdi`` or ``read_ascii`` without ``mu`` gets it from its
    columns on the copy (``spectra.set_mu_from_columns``; ``mu_columns`` chooses)."""

    from larch_motif.spectra import set_mu_from_columns

    if group is None:
        raise LarchMotifError("no group given: give a Group with energy (eV) and mu")
    if not hasattr(group, "__dict__") or isinstance(group, type):
        raise LarchMotifError(f"{group!r} is not a Group: give a Group with energy (eV) and mu")
    work = Group(name=getattr(group, "__name__", None))
    # a snapshot of the attributes: Larix may add one while a worker thread copies
    for name, value in dict(vars(group)).items():
        if name != "__name__":
            # pre_edge records its call in these two in place: the copy gets its own
            setattr(work, name, copy.deepcopy(value) if name in ("journal", "callargs") else value)
    if hasattr(work, "energy"):
        set_mu_from_columns(work, mu_columns)
    missing = [name for name in ("energy", "mu") if not hasattr(work, name)]
    if missing:
        raise LarchMotifError(
            f"the group has no {' and no '.join(missing)}: give a Group with energy (eV) and mu "
            f"(read_ascii(file, labels='energy mu'), or set group.energy and group.mu)")
    return work


def _copy_of(group, mu_columns: str | None = None):
    try:
        return _spectrum_copy(group, mu_columns)
    except LarchMotifError as exc:
        raise GroupError(str(exc), group) from None


def _write_back(group, work, skip: tuple[str, ...] = ("__name__", "motif_warnings")) -> None:
    """Copy what the library added or replaced on ``work`` (pre_edge results, e0_half) to ``group``."""
    before = vars(group)
    for name, value in vars(work).items():
        if name not in skip and (name not in before or before[name] is not value):
            setattr(group, name, value)


class GroupError(LarchMotifError):
    """A problem with one Group of those given; ``group`` is that Group (the message does not
    name it, so that the shell's one-line message stays as it is for a single group)."""

    def __init__(self, message: str, group) -> None:
        super().__init__(message)
        self.group = group


def _refuse_other_element(warnings: list[str], group=None) -> None:
    for warning in warnings:
        if code_of(warning) == "other_element":
            raise GroupError(warning.replace("another element than the model's?",
                                             "a spectrum of another element than the model's"), group)


def _model_for(target: str, model, element: str | None):
    """The model given (file or object), checked against ``target`` and ``element``; ``None``
    when no model is given (the library then takes the defaults of the element)."""
    from larch_motif.prediction import resolve_models

    if model is None:
        return None
    (m,) = resolve_models(target, model, element).values()
    if element is not None and m.element.lower() != str(element).lower():
        raise LarchMotifError(f"the model is for {m.element}, not {element}")
    return m


#: What ``motif_predict`` writes into ``group.motif`` from a prediction.
_MOTIF_KEYS = ("cn", "cn_probabilities", "cn_confidence", "cn_top2", "cn_site_average", "motif",
               "motif_probabilities", "motif_confidence", "motif_top2", "metallic",
               "metallic_probability", "metallic_confidence", "grid_eV", "in_domain", "warnings",
               "e0", "e0_half", "element", "edge", "domain_distance", "preedge", "findings")


def motif_predict(group=None, model=None, target="both", element=None, normalized=False,
                  mu_columns=None, herfd=None, _larch=None):
    """Coordination number (CN) and coordination motif of the absorber from a XANES spectrum.

    motif_predict(group, model=None, target='both', element=None, normalized=False, mu_columns=None,
                  herfd=None)

    Parameters:
      group       Group with energy (eV) and mu (raw or normalized), or a list of such Groups.
      model       model file (.lmm, from motif_train or `larch-motif train`), or a model from
                  motif_train(...).model; default: the bundled models of `element`.
      target      'cn', 'motif' or 'both' (default; a model file gives its own target only).
      element     absorbing element, e.g. 'Fe'; default: the model's, else found from E0.
      normalized  True when mu is already normalized (flat): pre_edge is not run.
      mu_columns  how mu is made from the group's columns where it has no mu (a group from
                  read_xdi) or the labels do not tell: 'ln(i0/itrans)', 'ifluor/i0', 'mutrans'.
                  Default: from XDI's column names (i0 and itrans give ln(i0/itrans)).
      herfd       True for a HERFD spectrum (K edge, Kalpha1): the models read a copy of the
                  normalized spectrum broadened by the core-hole width HERFD takes away (Cu
                  1.02 eV); the group keeps its mu and gets its own pre_edge results.
                  None (default): so where the group says HERFD (its file name, group name or
                  header); False: never.

    Runs pre_edge on the group unless it is already normalized (an existing pre_edge result,
    e0, edge_step and flat, is used as it is), then writes:
      group.e0, edge_step, norm, flat, ...  as pre_edge does
      group.motif  a Group with
        cn, cn_probabilities           predicted CN and {CN: probability}
        motif, motif_probabilities     predicted motif and {motif: probability}
        metallic, metallic_probability True for a metallic environment (foil, alloy): then
                                       cn is None and motif 'metallic', without probabilities
        grid_eV                        the model grid (eV around E0); a short scan gets the
                                       models of the window it covers
        in_domain                      False when the spectrum is unlike the training spectra
        warnings                       list of reasons (range too short, far from training, ...)
        e0, e0_half                    E0 (eV) from pre_edge, and at half the edge step (eV)
        element, edge, domain_distance, target
        model                          the model file given, else None

    Returns None. Errors (no group, no energy/mu, a spectrum of another element than the
    model's) stop the script with one line and leave the group unchanged.

    With a list of Groups (hundreds at once: they are predicted in batches), every Group gets
    its .motif; one whose spectrum cannot be used does not stop the others: its .motif has
    .error (the reason), in_domain False, and the Group is otherwise left unchanged.

    Example:
      dat = read_ascii('fe_oxide.dat', labels='energy mu')
      motif_predict(dat, element='Fe')
      print(dat.motif.cn, dat.motif.cn_probabilities)
      motif_predict([dat1, dat2, dat3], element='Fe')
    """
    if isinstance(group, (list, tuple)):
        return _motif_predict_groups(group, model, target, element, normalized, _larch, mu_columns, herfd)
    try:
        ((work, res),) = predict_groups([group], model, target, element, normalized, mu_columns, herfd)
    except LarchMotifError as exc:
        return _report(_larch, "motif_predict", exc)
    write_prediction(group, work, res, model, target)
    return None


def predict_groups(groups: list, model=None, target: str = "both", element: str | None = None,
                   normalized: bool = False, mu_columns: str | None = None,
                   herfd: bool | None = None) -> list[tuple[object, dict]]:
    """CN and/or motif of Larch Groups, computed on copies in one ``predict`` call: the Groups
    are not changed (``write_prediction`` puts a result on its Group, as ``motif_predict`` does).

    Parameters as ``motif_predict``. Returns ``[(copy, prediction)]`` in the order of ``groups``.
    Raises ``GroupError`` (``.group``) for a Group without energy (eV) and mu or with a spectrum
    of another element than the model's, ``LarchMotifError`` for a problem with the model.
    """
    from larch_motif.prediction import predict

    works = [_copy_of(group, mu_columns) for group in groups]
    m = _model_for(target, model, element)
    results = predict(works, model=m, element=element, target=target, normalized=normalized, herfd=herfd)
    for group, res in zip(groups, results):
        _refuse_other_element(res.findings, group)
    return list(zip(works, results))


def _spectrum_name(group) -> str | None:
    """The file a Group was read from (read_ascii, read_xdi), else its Larch name."""
    return getattr(group, "filename", None) or getattr(group, "__name__", None)


class MotifResult(Group):
    """``group.motif``: the prediction's values as attributes (``_MOTIF_KEYS``), shown as a short
    text summary when printed (``print(dat.motif)`` or ``dat.motif`` at the Larch prompt):
    CN, motif, probabilities, confidences, site-averaged CN, in_domain and findings."""

    def __init__(self, spectrum: str | None = None, **values: object) -> None:
        super().__init__(name="motif", **values)
        self.spectrum = spectrum

    def as_dict(self) -> dict:
        """The prediction as ``predict`` returns it (the keys this group holds)."""
        res = {k: getattr(self, k) for k in (*_MOTIF_KEYS, "error") if hasattr(self, k)}
        res.setdefault("warnings", [])
        return {"group": self.spectrum, **res}

    def __repr__(self) -> str:
        from larch_motif.summary import summary_text

        return summary_text(self.as_dict())

    __str__ = __repr__


def write_prediction(group, work, res: Prediction, model=None, target: str = "both") -> None:
    """Write a prediction of ``predict_groups`` on its Group: pre_edge results, ``group.motif``
    (the attributes of the JSON form, ``Prediction.to_dict``)."""
    _write_back(group, work)
    values = res.to_dict()
    group.motif = MotifResult(_spectrum_name(group), **{k: values[k] for k in _MOTIF_KEYS if k in values},
                              model=str(model) if isinstance(model, (str, os.PathLike)) else None, target=target)


def _motif_predict_groups(groups, model, target, element, normalized, _larch, mu_columns=None,
                          herfd: bool | None = None) -> None:
    """``motif_predict`` on a list of Groups: batched, a failed Group flagged on its own."""

    from larch_motif.prediction import predict_iter

    try:
        if not groups:
            raise LarchMotifError("empty list of groups")
        works = []
        for k, grp in enumerate(groups):
            try:
                works.append(_spectrum_copy(grp, mu_columns))
            except LarchMotifError as exc:
                raise LarchMotifError(f"item {k} of the list: {exc}") from None
        m = _model_for(target, model, element)
        results = predict_iter(works, model=m, element=element, target=target, normalized=normalized,
                               errors="flag", herfd=herfd)
        pairs = list(zip(groups, works, results))
    except LarchMotifError as exc:
        return _report(_larch, "motif_predict", exc)
    model_name = str(model) if isinstance(model, (str, os.PathLike)) else None
    for grp, work, res in pairs:
        if res.error is not None:
            grp.motif = MotifResult(_spectrum_name(grp), error=res.error, in_domain=False,
                                    warnings=res.warnings, model=model_name, target=target)
            continue
        write_prediction(grp, work, res, model, target)
    return None


def motif_explain(group=None, model=None, target="cn", class_name=None, element=None, normalized=False,
                  mu_columns=None, herfd=None, _larch=None):
    """TreeSHAP explanation of a CN or motif prediction on the energy axis.

    motif_explain(group, model=None, target='cn', class_name=None, element=None, normalized=False,
                  mu_columns=None, herfd=None)

    Parameters:
      group       Group with energy (eV) and mu.
      model       model file (.lmm) or motif_train(...).model; default: the bundled model of
                  `element` for `target`.
      target      'cn' (default) or 'motif'.
      class_name  class to explain, e.g. '4' or 'T:4'; default: the predicted one.
      element     absorbing element; default: the model's, else found from E0.
      normalized  True when mu is already normalized.
      mu_columns  how mu is made from the group's columns, as in motif_predict.
      herfd       True for a HERFD spectrum, explained as motif_predict(..., herfd=True) reads it;
                  None (default) as motif_predict decides, False never.

    Runs pre_edge as motif_predict does and writes group.motif_explain, a Group with
      class_name        the class explained
      energy            feature energies (eV relative to E0)
      shap_values       SHAP value at each energy: + pushes towards class_name, - away
      expected_value, model_output (= expected_value + sum(shap_values)), output_space
      regions           {region: summed SHAP} for pre-edge, rising edge, white line, post-edge
      top_windows       strongest contiguous energy windows
      norm              normalized spectrum on the model's grid
      in_domain, warnings, target

    Returns None. Errors stop the script with one line and leave the group unchanged.
    """
    try:
        ((work, expl),) = explain_groups([group], model, target, class_name, element, normalized,
                                         mu_columns=mu_columns, herfd=herfd)
    except LarchMotifError as exc:
        return _report(_larch, "motif_explain", exc)
    write_explanation(group, work, expl)
    return None


def explain_groups(groups: list, model=None, target: str = "cn", class_name: str | None = None,
                   element: str | None = None, normalized: bool = False,
                   progress: Callable[[int, int], None] | None = None,
                   mu_columns: str | None = None, herfd: bool | None = None) -> list[tuple[object, dict]]:
    """TreeSHAP explanations of Larch Groups, computed on copies with one model: the Groups are
    not changed (``write_explanation`` puts a result on its Group, as ``motif_explain`` does).

    Parameters as ``motif_explain``; ``progress(done, total)`` is called after each Group.
    Returns ``[(copy, explanation)]`` in the order of ``groups``. Raises ``GroupError``
    (``.group``) for a Group without energy (eV) and mu or of another element than the model's,
    ``LarchMotifError`` for a problem with the model or the target.
    """
    from larch_motif.explain import explain_spectrum
    from larch_motif.prediction import element_to_answer, resolve_models
    from larch_motif.spectra import normalize

    if target not in ("cn", "motif"):
        raise LarchMotifError(f"unknown target {target!r} (choose from cn, motif)")
    works = [_copy_of(group, mu_columns) for group in groups]
    if not works:
        raise LarchMotifError("no group given: give a Group with energy (eV) and mu")
    if normalized:
        for work in works:
            work.is_normalized = True
    m = _model_for(target, model, element)
    if m is None:
        if element is None:
            works[0].motif_warnings = []
            normalize(works[0])
            element, _ = element_to_answer(works[0])
        (m,) = resolve_models(target, None, element).values()
    explained = []
    for group, work in zip(groups, works):
        expl = explain_spectrum(work, m, class_name, herfd=herfd)
        _refuse_other_element(expl.findings, group)
        explained.append((work, expl))
        if progress is not None:
            progress(len(explained), len(works))
    return explained


def write_explanation(group, work, expl: Explanation) -> None:
    """Write an explanation of ``explain_groups`` on its Group: pre_edge results,
    ``group.motif_explain`` (the attributes of its JSON form, ``class`` as ``class_name``)."""

    _write_back(group, work)
    values = {k: v for k, v in expl.to_dict().items() if k not in ("class", "file", "group")}
    for name in ("energy", "shap_values", "norm"):
        values[name] = np.asarray(values[name], float)
    group.motif_explain = Group(name="motif_explain", class_name=expl.class_name, **values)


def motif_train(element=None, target="cn", backend="rf", db=None, out=None, cv=5, _larch=None):
    """Train a CN or motif classifier on the theoretical XANES database, with grouped CV.

    result = motif_train(element, target='cn', backend='rf', db=None, out=None, cv=5)

    Parameters:
      element   absorbing element, e.g. 'Fe'.
      target    'cn' or 'motif'.
      backend   'rf', 'xgboost', 'lightgbm' or a plugin's (see motif_backends()).
      db        database file (default: the bundled one).
      out       model file to write (.lmm), for motif_predict(..., model=out) later.
      cv        folds of cross-validation grouped by mineral (0 or None: none).

    Returns a Group: model (use as motif_predict(dat, model=result.model)), model_file,
    element, target, backend, n_spectra, n_groups (minerals), accuracy, balanced_accuracy,
    macro_f1, confusion_matrix (with cv), seconds, report (everything, as a dict).
    """

    from larch_motif.training import train

    try:
        if element is None:
            raise LarchMotifError("no element given, e.g. motif_train('Fe', target='cn')")
        model, report = train(element, target, backend, db=db, cv=cv or None, out=out)
    except (LarchMotifError, OSError) as exc:
        return _report(_larch, "motif_train", exc)
    scores = {k: report[k] for k in ("accuracy", "balanced_accuracy", "macro_f1", "confusion_matrix")
              if k in report}
    return Group(name=f"motif_{element}_{target}_{backend}", model=model,
                 model_file=None if out is None else str(Path(out)), element=element, target=target,
                 backend=backend, n_spectra=report["n_spectra"], n_groups=report["n_groups"],
                 seconds=report["seconds"], report=report, **scores)


def motif_build_db(element=None, edge="K", db=None, source="amcsd", limit=None, per_mineral=1,
                   workers=None, retry_failed=False, _larch=None):
    """Compute (or resume) the theoretical XANES database of an element with FEFF10.

    result = motif_build_db(element, edge='K', db=None, source='amcsd', limit=None,
                            per_mineral=1, workers=None, retry_failed=False)

    Parameters:
      element       absorbing element, e.g. 'Fe'.
      edge          absorption edge (default 'K').
      db            database file (default: the bundled one).
      source        'amcsd' (the AMCSD shipped with larixite) or a folder of CIF files.
      limit         first N structures only; per_mineral: AMCSD CIFs per mineral.
      workers       local processes (default: all cores).
      retry_failed  recompute sites that failed before.

    Already computed sites are kept, so an interrupted build resumes. Takes minutes to hours.
    Returns a Group: db_path, element, edge, structures_new, sites_new, sites_failed,
    compounds_new, seconds, failures ({reason: count}).
    """

    from larch_motif.build import build_database

    try:
        if element is None:
            raise LarchMotifError("no element given, e.g. motif_build_db('Fe', limit=20)")
        report = build_database(element, edge=edge, db=db, source=source, limit=limit,
                                per_mineral=per_mineral, workers=workers, retry_failed=retry_failed)
    except (LarchMotifError, OSError) as exc:
        return _report(_larch, "motif_build_db", exc)
    return Group(name=f"motif_db_{element}_{edge}", **vars(report))


def motif_reconstruct(element=None, series=None, model=None, group=None, _larch=None, **params):
    """XANES of a structure from its structural parameters, by a tree surrogate of FEFF10.

    out = motif_reconstruct(element='Fe', series='O:6', bond_mean_A=2.05, axial_elongation_A=0.0,
                            angle_bending_deg=5.0, second_shell_shift_A=0.0)

    Parameters:
      element   absorbing element, e.g. 'Fe' (the model of the bundled data).
      series    a parametric series, by its motif ('O:6': hematite's Fe site distorted,
                'T:4': chromite's), or 'database' (site descriptors cn, motif, ligands,
                oxidation_state, bond_mean_A, bond_std_A, angle_std_deg).
      model     reconstruction model file (.lmr, from `larch-motif reconstruct-train`) instead.
      group     Group to write into (default: a new Group, returned).
      NAME=VALUE  every structural parameter of the model (Angstrom, degree):
                bond_mean_A, axial_elongation_A, angle_bending_deg, second_shell_shift_A.

    Writes to the group (and returns it):
      energy      energy grid, eV relative to E0 (half the edge step)
      mu          reconstructed normalized mu (FEFF10 broadened as in the database)
      parameters  the parameters given; series, element
      in_range    False when a value lies outside the trained range (computed, but flagged)
      warnings    list of reasons

    An unknown or missing parameter stops the script with one line naming it and its trained
    range. plot(out.energy, out.mu) shows the spectrum.
    """

    try:
        from larch_motif.reconstruction import reconstruct

        res = reconstruct(element, params, series=series, model=model)
    except LarchMotifError as exc:
        return _report(_larch, "motif_reconstruct", exc)
    out = group if group is not None else Group(name=f"reconstruct_{res['element']}")
    for name in ("element", "series", "parameters", "in_range", "warnings"):
        setattr(out, name, res[name])
    out.energy = np.asarray(res["energy"], float)
    out.mu = np.asarray(res["mu"], float)
    return out


def motif_backends(_larch=None):
    """Names of the model backends that motif_train can use (built-in and from plugins).

    motif_backends()  ->  ['lightgbm', 'rf', 'xgboost', ...]

    Details (plugin, version, TreeSHAP support): `larch-motif backends` in a terminal.
    """
    from larch_motif.models import available_backends

    return sorted(available_backends())


_larch_builtins = {GROUP_NAME: {
    "motif_predict": motif_predict,
    "motif_explain": motif_explain,
    "motif_train": motif_train,
    "motif_build_db": motif_build_db,
    "motif_reconstruct": motif_reconstruct,
    "motif_backends": motif_backends,
}}


def _larch_init(_larch) -> None:
    """Install the commands in a running Larch interpreter; running it again changes nothing.

    Larch installs only its own modules' ``_larch_builtins`` at start-up, so the start-up file
    (``INIT_LINE``) or a script calls this for larch_motif.
    """
    from inspect import signature

    from larch.closure import Closure

    symtable = _larch.symtable
    for group_name, entries in _larch_builtins.items():
        if not symtable.has_group(group_name):
            symtable.set_symbol(group_name, value=Group(name=group_name))
        group = symtable.get_group(group_name)
        group.__doc__ = __doc__
        for name, function in entries.items():
            # as the interpreter does for its own builtins: the function receives the session
            wrapped = Closure(func=function, _larch=_larch) if "_larch" in signature(function).parameters else function
            setattr(group, name, wrapped)
        core_groups = list(symtable._sys.core_groups)
        if group_name not in core_groups:
            symtable._sys.core_groups = [*core_groups, group_name]
        symtable._fix_searchGroups(force=True)


def larch_init_file() -> Path:
    """The start-up file Larch runs in every session: ``init.lar`` in Larch's user folder
    (``$LARCHDIR``, default ``~/.larch``), or ``$LARCHSTARTUP`` where that file exists."""
    from larch import site_config

    return Path(site_config.init_files[0])


def install_startup(init_file: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """Add ``INIT_LINE`` to Larch's start-up file (created if needed) unless it is there.

    Returns the file and whether it was changed.
    """
    path = Path(init_file) if init_file is not None else larch_init_file()
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if INIT_LINE in (line.strip() for line in text.splitlines()):
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    if text and not text.endswith("\n"):
        text += "\n"
    path.write_text(f"{text}{INIT_LINE}\n", encoding="utf-8")
    return path, True


def uninstall_startup(init_file: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """Remove ``INIT_LINE`` (every copy of it, nothing else) from Larch's start-up file.

    Returns the file and whether it was changed.
    """
    path = Path(init_file) if init_file is not None else larch_init_file()
    if not path.is_file():
        return path, False
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if line.strip() != INIT_LINE]
    if len(kept) == len(lines):
        return path, False
    path.write_text("".join(kept), encoding="utf-8")
    return path, True
