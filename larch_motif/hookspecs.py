"""Hook specifications of larch_motif: the whole plugin interface, one function per hook.

A plugin is a module (or object) with functions marked ``@hookimpl`` and made known through
the ``larch_motif`` entry-point group. The built-in FEFF10 calculator and the rf, xgboost and
lightgbm backends in ``larch_motif/plugins/`` use exactly this interface.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("larch_motif")
hookimpl = pluggy.HookimplMarker("larch_motif")


@hookspec
def larch_motif_spectrum_calculators() -> list:
    """Return spectrum calculators (objects following ``calculators.SpectrumCalculator``)."""


@hookspec
def larch_motif_model_backends() -> list:
    """Return model backends (objects following ``models.ModelBackend``)."""
