"""The object QGIS loads: registers the DualStream Processing provider and removes it on unload."""

from __future__ import annotations

from qgis.core import Qgis, QgsApplication, QgsMessageLog, QgsProject
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtGui import QIcon

# Qt6 moved QAction to QtGui; QGIS 4's qgis.PyQt.QtWidgets re-exports it from there, so this works on QGIS 3 and 4
from qgis.PyQt.QtWidgets import QAction

from .paths import icon_path


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
        self.toolbar = None
        self.label_panel = None
        self.label_action = None

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
        self.toolbar = self.iface.addToolBar("DualStream")
        self.toolbar.setObjectName("DualStreamToolbar")
        self.label_action = QAction(QIcon(str(icon_path())), "Label with Segment Anything", self.iface.mainWindow())
        self.label_action.setCheckable(True)
        self.label_action.setToolTip("Label with Segment Anything: click an object (Shift+click: not this), drag a "
                                     "box or type a word; Accept adds the mask to a polygon layer")
        # triggered, not toggled: only the user's click; the map tool checks and unchecks the action itself when it
        # is set or replaced, and answering that would hide the panel when another tool is picked (or recurse)
        self.label_action.triggered.connect(self.toggle_labelling)
        self.toolbar.addAction(self.label_action)
        self.iface.addPluginToMenu("DualStream", self.label_action)
        # a change dataset's A/x, B/x and label/x: named by folder and file, not three "x" in every combo
        QgsProject.instance().layersAdded.connect(self.name_layers)

    @staticmethod
    def name_layers(*_args) -> None:
        """Layers of files sharing one name told apart by their folders (:mod:`.layer_names`), once the event loop
        is back: QGIS names a layer it adds itself after the project announced it."""
        from .layer_names import distinguish

        QTimer.singleShot(0, lambda: distinguish(QgsProject.instance()))

    def toggle_labelling(self, on: bool) -> None:
        """Show the labelling panel and make its map tool current (on), or put both away and give back the tool
        current before (off): the toolbar button's click. Picking another map tool leaves the panel open (Accept and
        Undo still apply)."""
        if on:
            if self.label_panel is None:
                from .labeling.panel import LabelPanel

                self.label_panel = LabelPanel(self.iface, self.iface.mainWindow())
                self.label_panel.tool.setAction(self.label_action)
                self.iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.label_panel)
            self.label_panel.show()
            self.label_panel.use_tool()
        elif self.label_panel is not None:
            self.label_panel.put_away()  # as its close button: nothing left drawn, the tool before given back

    @staticmethod
    def open_dialog(alg_id: str) -> None:
        """Open an algorithm's Processing dialog (the menu's actions)."""
        import processing

        dialog = processing.createAlgorithmDialog(alg_id)
        if dialog is not None:
            dialog.show()

    def unload(self) -> None:
        if self.iface is not None:
            try:
                QgsProject.instance().layersAdded.disconnect(self.name_layers)
            except TypeError:  # never connected (initGui did not get that far)
                pass
        for action in self.actions:
            self.iface.removePluginMenu("DualStream", action)
        self.actions = []
        if self.label_action is not None:
            self.iface.removePluginMenu("DualStream", self.label_action)
            self.label_action.setChecked(False)
            self.label_action = None
        if self.label_panel is not None:
            self.label_panel.release()
            self.iface.removeDockWidget(self.label_panel)
            self.label_panel.deleteLater()
            self.label_panel = None
        if self.toolbar is not None:
            self.toolbar.deleteLater()
            self.toolbar = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
