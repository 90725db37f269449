"""The panel's STAC item row: an item (a file, or a URL typed in) and its bands, added as a layer the canvas shows
and the map tool prompts through the item.

QGIS 3.22 has no STAC layer. *Add layer* asks the engine (``engine.api.stac_layer``) for a VRT of the item's chosen
assets, written as a new file in the project's folder (a temporary folder while the project is unsaved), and adds
it as a raster layer marked with the item and its asset keys (custom properties, saved with the project). The
panel reads that layer's windows from the item itself, as Segment reads it (bands by name, ``raster:bands``
scale/offset, the network rule), never from the VRT.
"""

from __future__ import annotations

import os
import tempfile

from qgis.core import Qgis, QgsApplication, QgsProject, QgsRasterLayer, QgsTask
from qgis.gui import QgsFileWidget
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import QHBoxLayout, QLineEdit, QMenu, QPushButton, QToolButton, QVBoxLayout, QWidget

from ..algorithms.segment import STAC_FILTER
from ..band_menu import chosen_bands, fill_band_menu, stac_choices
from ..engine_bridge import engine_api
from ..feedback import engine_task
from .prompts import engine_messages, explain

#: Where a layer keeps the STAC item it shows and the asset keys shown (saved with the project).
ITEM_PROPERTY = "dualstream/stac_item"
BANDS_PROPERTY = "dualstream/stac_bands"
#: The engine's setting the bands are, in its messages (``label``'s bands: shown as red, green, blue).
BANDS_KEY = "label.bands"


def stac_source(layer) -> tuple[str, list[str]] | None:
    """(the STAC item, its asset keys shown) of a layer this row added, else None. ConfigError for a blank key
    (a project edited by hand: this row writes none)."""
    if layer is None:
        return None
    item = str(layer.customProperty(ITEM_PROPERTY, "") or "")
    return (item, chosen_bands(str(layer.customProperty(BANDS_PROPERTY, "") or ""), BANDS_KEY)) if item else None


def layer_folder() -> str:
    """Where the item's VRT goes: the project's folder once the project is saved, else a new temporary folder."""
    project = QgsProject.instance()
    if project.fileName() and os.path.isdir(project.homePath()):
        return project.homePath()
    return tempfile.mkdtemp(prefix="dualstream-stac-")


class StacRow(QWidget):
    """The item field, the bands field with a menu of the item's bands, and *Add layer*; :attr:`added` carries
    the layer added, :attr:`said` what to tell the user (text, Qgis.MessageLevel)."""

    added = pyqtSignal(object)
    said = pyqtSignal(str, object)

    def __init__(self, parent=None):
        super().__init__(parent)
        api = engine_api()
        declared = api.find_setting("segment.stac_item")
        self.task: QgsTask | None = None
        self.item_edit = QgsFileWidget(self)
        self.item_edit.setStorageMode(QgsFileWidget.StorageMode.GetFile)
        self.item_edit.setFilter(STAC_FILTER)
        self.item_edit.lineEdit().setPlaceholderText(declared.decl.label)
        self.item_edit.setToolTip(declared.decl.help)
        self.bands_edit = QLineEdit(self)
        self.bands_edit.setPlaceholderText("bands: by name")
        self.bands_edit.setToolTip(api.STAC_BANDS_HELP)
        self.pick = QToolButton(self)
        self.pick.setText("\u2026")
        self.pick.setToolTip("Pick the STAC item's bands by asset key (a file), in the order red, green, blue")
        self.menu = QMenu(self.pick)
        self.menu.aboutToShow.connect(self.fill_menu)
        self.pick.setMenu(self.menu)
        self.pick.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.add_button = QPushButton("Add layer", self)
        self.add_button.setToolTip("Show the item as a layer (a VRT of its bands, a new file) and label over it")
        self.add_button.clicked.connect(self.add_layer)
        second = QHBoxLayout()
        second.setContentsMargins(0, 0, 0, 0)
        second.addWidget(self.bands_edit, 1)
        second.addWidget(self.pick)
        second.addWidget(self.add_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.item_edit)
        layout.addLayout(second)

    def fill_menu(self) -> None:
        fill_band_menu(self.menu, self.bands_edit, stac_choices(self.item_edit.filePath()), BANDS_KEY)

    def add_layer(self) -> None:
        """The engine writes the item's VRT in a task (a URL may wait on its server); the layer is added after."""
        item = self.item_edit.filePath().strip()
        if not item:
            self.said.emit("Give a STAC item (a JSON file, or type its URL) first.", Qgis.MessageLevel.Warning)
            return
        if self.task is not None:
            return
        api = engine_api()
        try:  # the engine's rule for band lists, before the item is read: "red,,blue" is no red,blue
            bands = chosen_bands(self.bands_edit.text(), BANDS_KEY) or None
        except api.ConfigError as exc:
            self.said.emit(str(exc), Qgis.MessageLevel.Critical)
            return
        if not api.is_remote(item):
            item = os.path.abspath(item)  # the layer keeps it: the project may be opened from elsewhere
        folder = layer_folder()
        messages: list[str] = []
        callback = engine_messages(messages)
        self.said.emit(f"Reading the STAC item '{item}'…", Qgis.MessageLevel.Info)
        self.task = engine_task("DualStream: a layer of a STAC item",
                                lambda: api.stac_layer(item, bands, folder, callback),
                                lambda exception, made=None: self._made(item, exception, made))
        self.add_button.setEnabled(False)
        QgsApplication.taskManager().addTask(self.task)

    def _made(self, item: str, exception, made) -> None:
        self.task = None
        self.add_button.setEnabled(True)
        if exception is not None:
            self.said.emit(explain(exception), Qgis.MessageLevel.Critical)
            return
        layer = QgsRasterLayer(made.path, f"{made.item_id} ({','.join(made.bands)})")
        if not layer.isValid():
            self.said.emit(f"QGIS cannot show '{made.path}', the layer written for the STAC item '{item}'.",
                           Qgis.MessageLevel.Critical)
            return
        layer.setCustomProperty(ITEM_PROPERTY, item)
        layer.setCustomProperty(BANDS_PROPERTY, ",".join(made.bands))
        QgsProject.instance().addMapLayer(layer)
        self.said.emit("\n".join(made.said), Qgis.MessageLevel.Info)
        self.added.emit(layer)
