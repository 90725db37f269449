"""The object QGIS loads: registers the DualStream Processing provider and removes it on unload."""

from __future__ import annotations

from qgis.core import Qgis, QgsApplication, QgsMessageLog


class DualStreamPlugin:
    """QGIS plugin entry point (desktop and qgis_process)."""

    def __init__(self, iface=None):
        self.iface = iface
        self.provider = None

    def initProcessing(self) -> None:  # noqa: N802 - QGIS API
        """Add the provider to the Processing registry (called by QGIS desktop and by qgis_process)."""
        if self.provider is not None:
            return
        from .provider import DualStreamProvider

        provider = DualStreamProvider()
        if QgsApplication.processingRegistry().addProvider(provider):
            self.provider = provider
        else:  # another copy of the plugin already registered the id; leave that one in charge
            QgsMessageLog.logMessage("DualStream provider already registered; not adding a second copy",
                                     "DualStream", Qgis.Warning)

    def initGui(self) -> None:  # noqa: N802 - QGIS API
        self.initProcessing()

    def unload(self) -> None:
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
