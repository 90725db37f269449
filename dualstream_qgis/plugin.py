"""The object QGIS loads: registers the DualStream Processing provider and removes it on unload."""

from __future__ import annotations

from qgis.core import Qgis, QgsApplication, QgsMessageLog

# Qt6 moved QAction to QtGui; QGIS 4's qgis.PyQt.QtWidgets re-exports it from there, so this works on QGIS 3 and 4
from qgis.PyQt.QtWidgets import QAction


class DualStreamPlugin:
    """QGIS plugin entry point (desktop and qgis_process)."""

    #: Plugins menu entries: (text, algorithm id).
    MENU = (("Install dependencies (torch, transformers)…", "dualstream:installdeps"),
            ("Check environment…", "dualstream:checkenv"),
            ("Create sample data…", "dualstream:sampledata"))

    def __init__(self, iface=None):
        self.iface = iface
        self.provider = None
        self.actions: list = []

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
                                     "DualStream", Qgis.MessageLevel.Warning)

    def initGui(self) -> None:  # noqa: N802 - QGIS API
        self.initProcessing()
        if self.iface is None:
            return
        for text, alg_id in self.MENU:
            action = QAction(text, self.iface.mainWindow())
            action.triggered.connect(lambda _checked=False, alg_id=alg_id: self.open_dialog(alg_id))
            self.iface.addPluginToMenu("DualStream", action)
            self.actions.append(action)

    @staticmethod
    def open_dialog(alg_id: str) -> None:
        """Open an algorithm's Processing dialog (the menu's actions)."""
        import processing

        dialog = processing.createAlgorithmDialog(alg_id)
        if dialog is not None:
            dialog.show()

    def unload(self) -> None:
        for action in self.actions:
            self.iface.removePluginMenu("DualStream", action)
        self.actions = []
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
