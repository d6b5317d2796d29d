"""Built-in plugins of larch_motif, installed as the package ``larch_motif_plugins``.

Each module is a plugin like any third-party one: functions marked with
``larch_motif.hookspecs.hookimpl``, registered by ``larch_motif.plugins.DEFAULT_PLUGINS``.
"""
