"""Larch shell commands of larch_motif, in Larch's idiom: functions on Groups.

Like ``pre_edge(group)``, ``motif_predict(group)`` writes its results into the group
(``group.motif.cn``, ``.cn_probabilities``, ``.motif``, ``.motif_probabilities``, ``.in_domain``,
``.warnings``) and runs ``pre_edge`` on the group first when it has not been normalized.

Activation: ``larch-motif install-larch`` adds one line to Larch's start-up file (``init.lar``
in Larch's user folder, ``LARCHDIR`` honoured), which imports this module and calls
``_larch_init(_larch)``; the same line works at the Larch prompt or in a script.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path

from larch_motif.errors import LarchMotifError

INIT_LINE = "import larch_motif.larch_plugin; larch_motif.larch_plugin._larch_init(_larch)  # larch_motif"


def _check_group(group: object) -> None:
    if group is None:
        raise LarchMotifError("no group given: motif_predict(group) needs a Group with energy and mu")
    if not (hasattr(group, "energy") and hasattr(group, "mu")):
        raise LarchMotifError(f"group {getattr(group, 'groupname', group)!r} has no energy and mu arrays")


def motif_predict(group, model=None, target: str = "both", element: str | None = None, _larch=None) -> None:
    """Predict the absorber's coordination number and motif of a XANES group.

    motif_predict(group, model=None, target='both', element=None)

    group:   Group with energy (eV) and mu; pre_edge is run first when the group is not
             normalized yet (its e0, edge_step, flat are then written as by pre_edge).
    model:   model file (.lmm); default: the bundled default models of the element.
    target:  'cn', 'motif' or 'both'.
    element: absorbing element; default: from E0 (xraydb).

    Writes group.motif, a Group with: cn, cn_probabilities, motif, motif_probabilities,
    in_domain, warnings, e0_half (eV), element, edge. Nothing is changed on error.
    """
    from larch import Group

    from larch_motif.prediction import predict

    _check_group(group)
    (res,) = predict(group, model=model, element=element, target=target)
    group.motif = Group(**{k: v for k, v in res.items() if k not in ("file", "group")},
                        __name__=f"motif prediction of {getattr(group, 'groupname', 'group')}")


def motif_explain(group, model=None, target: str = "cn", class_name: str | None = None, _larch=None) -> None:
    """TreeSHAP explanation of a group's CN or motif prediction on the energy axis.

    motif_explain(group, model=None, target='cn', class_name=None)

    Writes group.shap, a Group with: energy (eV from E0), shap_values, expected_value,
    model_output, output_space, regions (summed SHAP per physical region), top_windows, class.
    """
    from larch import Group

    from larch_motif.explain import explain_spectrum
    from larch_motif.prediction import infer_element, resolve_models
    from larch_motif.spectra import normalize

    _check_group(group)
    if model is None:
        group.motif_warnings = []
        normalize(group)
        element, edge = infer_element(group)
        (model,) = resolve_models(target, None, element, edge).values()
    expl = explain_spectrum(group, model, class_name)
    group.shap = Group(**{k: v for k, v in expl.items() if k not in ("file", "group")})


def motif_train(element: str, target: str = "cn", backend: str = "rf", db=None, out=None, cv: int = 5,
                _larch=None):
    """Train a CN or motif classifier on the (bundled) database; returns a Group with the
    grouped-CV report (accuracy, balanced_accuracy, macro_f1, confusion_matrix) and the model path.

    motif_train(element, target='cn', backend='rf', db=None, out=None, cv=5)
    """
    from larch import Group

    from larch_motif.training import train

    _, report = train(element, target, backend, db=db, cv=cv or None, out=out)
    return Group(model_file=str(out) if out else None, **report)


def motif_build_db(element: str, db=None, source: str = "amcsd", limit=None, workers=None, _larch=None):
    """Compute or resume a theoretical XANES database with FEFF10 (see larch-motif db build).

    motif_build_db(element, db=None, source='amcsd', limit=None, workers=None)
    """
    from larch import Group

    from larch_motif.build import build_database

    report = build_database(element, db=db, source=source, limit=limit, workers=workers)
    return Group(**report.__dict__)


def motif_reconstruct(*args, _larch=None, **kws):
    """Reconstruct a spectrum from structural parameters: not available in this version."""
    raise LarchMotifError("motif_reconstruct: the reconstruction model is not in this version of larch_motif")


def motif_backends(_larch=None) -> list:
    """Names of the registered model backends (rf, xgboost, lightgbm and plugins)."""
    from larch_motif.models import available_backends

    return sorted(available_backends())


_larch_builtins = {"_builtin": dict(motif_predict=motif_predict, motif_explain=motif_explain,
                                    motif_train=motif_train, motif_build_db=motif_build_db,
                                    motif_reconstruct=motif_reconstruct, motif_backends=motif_backends)}


def _larch_init(_larch) -> None:
    """Install the commands into a running Larch interpreter (as Larch does for its own)."""
    for group, functions in _larch_builtins.items():
        for name, fcn in functions.items():
            if "_larch" in inspect.signature(fcn).parameters:
                fcn = functools.wraps(fcn)(functools.partial(fcn, _larch=_larch))
            _larch.symtable.set_symbol(f"{group}.{name}", fcn)


def larch_init_file() -> Path:
    """Larch's user start-up file, as larch.site_config computes it (LARCHDIR honoured)."""
    from larch import site_config

    return Path(site_config.init_files[0])


def install_startup() -> tuple[Path, bool]:
    """Add the activation line to Larch's start-up file once; returns (file, whether changed)."""
    path = larch_init_file()
    text = path.read_text() if path.exists() else ""
    if INIT_LINE in text.splitlines():
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + ("" if text.endswith("\n") or not text else "\n") + INIT_LINE + "\n")
    return path, True


def uninstall_startup() -> tuple[Path, bool]:
    """Remove the activation line from Larch's start-up file; returns (file, whether changed)."""
    path = larch_init_file()
    if not path.exists() or INIT_LINE not in path.read_text().splitlines():
        return path, False
    lines = [line for line in path.read_text().splitlines() if line != INIT_LINE]
    path.write_text("\n".join(lines) + ("\n" if lines else ""))
    return path, True
