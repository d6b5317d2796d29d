"""The plugin manager: hook specifications, the built-in plugins and the entry-point group.

The built-in plugins are the modules of this package (FEFF10 as the spectrum calculator;
random forest, XGBoost and LightGBM as model backends). Each is a plugin like any third-party
one: functions marked with ``larch_motif.hookspecs.hookimpl``, registered from
``DEFAULT_PLUGINS`` exactly as third-party plugins are loaded from the ``larch_motif``
entry-point group (as datasette's ``DEFAULT_PLUGINS`` and pytest's own plugins); the core has
no special case for them.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import Any

import pluggy

from larch_motif import hookspecs

DEFAULT_PLUGINS: tuple[str, ...] = (
    "larch_motif.plugins.feff10_calculator",
    "larch_motif.plugins.sklearn_rf",
    "larch_motif.plugins.xgboost_backend",
    "larch_motif.plugins.lightgbm_backend",
)

ENTRY_POINT_GROUP = "larch_motif"

pm = pluggy.PluginManager("larch_motif")
pm.add_hookspecs(hookspecs)
pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
for _name in DEFAULT_PLUGINS:
    pm.register(importlib.import_module(_name), name=_name)


def get_plugins() -> list[dict[str, Any]]:
    """List the registered plugins: name, hooks they implement, and the distribution version."""
    dists = dict(pm.list_plugin_distinfo())
    plugins = []
    for plugin in pm.get_plugins():
        name = pm.get_name(plugin) or repr(plugin)
        info: dict[str, Any] = {
            "name": name,
            "hooks": sorted(h.name for h in pm.get_hookcallers(plugin) or []),
            "builtin": name in DEFAULT_PLUGINS,
        }
        dist = dists.get(plugin)
        if dist is not None:
            info["distribution"] = dist.project_name
            info["version"] = dist.version
        else:
            info["distribution"] = "larch_motif"
            info["version"] = importlib.metadata.version("larch_motif")
        plugins.append(info)
    return sorted(plugins, key=lambda p: p["name"])


def registered(hook: str) -> dict[str, Any]:
    """Objects (calculators, backends) returned by every implementation of ``hook``, by name."""
    found: dict[str, Any] = {}
    for items in getattr(pm.hook, hook)():
        for item in items:
            found[item.name] = item
    return found


def lookup(hook: str, name: str, what: str) -> Any:
    """The object called ``name`` from ``hook``; a clear error lists the available ones."""
    from larch_motif.errors import LarchMotifError

    found = registered(hook)
    if name not in found:
        raise LarchMotifError(f"unknown {what} {name!r} (available: {', '.join(sorted(found)) or 'none'})")
    return found[name]


def plugin_of(obj: Any) -> str:
    """Name of the plugin that provided a calculator or backend object (by its module)."""
    module = getattr(obj, "__module__", "") or type(obj).__module__
    for plugin in pm.get_plugins():
        if getattr(plugin, "__name__", None) == module:
            return pm.get_name(plugin) or module
    return module
