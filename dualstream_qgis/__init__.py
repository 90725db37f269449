"""DualStream for QGIS: a Processing provider for multi-modal semantic segmentation of rasters.

QGIS calls :func:`classFactory` when it loads the plugin. Everything heavy (the provider, the engine,
torch) is imported later, so a broken environment is reported by the algorithms instead of stopping
QGIS from loading the plugin.
"""


def classFactory(iface):  # noqa: N802 - name fixed by the QGIS plugin API
    """Return the plugin object QGIS manages (``iface`` is None in qgis_process)."""
    from .plugin import DualStreamPlugin

    return DualStreamPlugin(iface)
