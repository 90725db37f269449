"""The *Label with Segment Anything* panel: the prompts collected on the canvas, the mask drawn, accepted or undone.

The panel owns the state of one labelling session: the raster layer prompted, the window of it the engine embedded
(the part of the layer the canvas shows when the first prompt comes; panning elsewhere starts a new window), the
prompts so far (points and at most one box, as Segment Anything takes them) and the mask they give. Every prompt
asks the engine again with all of them, so a negative click corrects the mask in place. The first prompt of a
window embeds it in a background task (seconds on the CPU); later prompts answer from the kept embedding. A STAC
item is shown as a layer by the STAC item row (:mod:`.stac_row`); that layer's windows are read from the item.
"""

from __future__ import annotations

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsGeometry,
    QgsMessageLog,
    QgsProject,
    QgsRectangle,
    QgsTask,
)
from qgis.gui import QgsMapLayerComboBox, QgsRubberBand, QgsVertexMarker
from qgis.PyQt import sip
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..compat import FILTER_POLYGON, FILTER_RASTER, GEOMETRY_POLYGON
from ..engine_bridge import engine_api
from ..provider import LOG_TAG
from . import prompts
from .map_tool import Prompt, PromptMapTool
from .stac_row import StacRow, stac_source
from .targets import CLASS_FIELD, Accepted, class_target, is_polygon_layer, new_scratch_layer

MASK_FILL = QColor(0, 160, 255, 90)
MASK_STROKE = QColor(0, 90, 255)
BOX_STROKE = QColor(255, 160, 0)  # the map tool's colour while the box is dragged


class LabelPanel(QDockWidget):
    """Dock widget with the layer, model, target layer and class choices, and Accept / Undo / Clear."""

    def __init__(self, iface, parent=None):
        super().__init__("Label with Segment Anything", parent)
        self.setObjectName("DualStreamLabelPanel")
        self.iface = iface
        self.canvas = iface.mapCanvas()
        self.tool = PromptMapTool(self.canvas)
        self.tool.prompted.connect(self.add_prompt)
        self._previous_tool = None  # the canvas's tool before ours, given back when ours is put away
        self.accepted = Accepted()
        self.points: list[tuple[object, bool]] = []  # (QgsPointXY in canvas CRS, positive)
        self.box: QgsRectangle | None = None
        self.text = ""
        self.window: prompts.Window | None = None
        self.masks: list[QgsGeometry] = []  # the current answer, in the raster layer's CRS
        self.score = 0.0
        self.task: QgsTask | None = None
        self._pending = False  # a prompt came while the window was being embedded
        self._markers: list[QgsVertexMarker] = []
        self.mask_band = QgsRubberBand(self.canvas, GEOMETRY_POLYGON)
        self.mask_band.setColor(MASK_FILL)
        self.mask_band.setStrokeColor(MASK_STROKE)
        self.mask_band.setWidth(2)
        self.box_band = QgsRubberBand(self.canvas, GEOMETRY_POLYGON)  # the box prompt, shown until cleared
        self.box_band.setColor(QColor(0, 0, 0, 0))
        self.box_band.setStrokeColor(BOX_STROKE)
        self.box_band.setWidth(2)
        self._embedding: prompts.Window | None = None  # the window the running task embeds
        self._watch = QTimer(self)  # what the engine says while it embeds (a download's progress), shown as it comes
        self._watch.setInterval(500)
        self._watch.timeout.connect(self._show_said)
        self._build()

    # -- the form -------------------------------------------------------------------------------------------------
    def _build(self) -> None:
        body = QWidget(self)
        form = QFormLayout()
        self.raster_box = QgsMapLayerComboBox(body)
        self.raster_box.setFilters(FILTER_RASTER)
        self.raster_box.layerChanged.connect(lambda _layer: self.clear(new_window=True))
        form.addRow("Raster layer", self.raster_box)
        self.stac_row = StacRow(body)  # a STAC item shown as a layer, its windows read from the item
        self.stac_row.added.connect(self.raster_box.setLayer)
        self.stac_row.said.connect(self.say)
        form.addRow("STAC item", self.stac_row)
        self.model_box = QComboBox(body)
        self.model_box.setEditable(True)  # any hub id or local folder, beside the named models
        for name, description in prompts.model_choices():
            self.model_box.addItem(name)
            self.model_box.setItemData(self.model_box.count() - 1, description, Qt.ItemDataRole.ToolTipRole)
        self.model_box.setToolTip(prompts.model_help())
        self.model_box.currentTextChanged.connect(lambda _text: self.clear(new_window=True))
        form.addRow("Model", self.model_box)
        target_row = QHBoxLayout()
        self.target_box = QgsMapLayerComboBox(body)
        self.target_box.setFilters(FILTER_POLYGON)
        self.target_box.setAllowEmptyLayer(True)
        target_row.addWidget(self.target_box, 1)
        scratch = QPushButton("New scratch layer", body)
        scratch.clicked.connect(self.make_scratch_layer)
        target_row.addWidget(scratch)
        form.addRow("Accept into", target_row)
        self.class_box = QSpinBox(body)
        self.class_box.setRange(0, 255)
        self.class_box.setValue(1)
        form.addRow("Class value", self.class_box)
        self.field_label = QLabel(body)  # which field of the target takes the class, seen before any accept
        self.field_label.setWordWrap(True)
        form.addRow("Class field", self.field_label)
        self.target_box.layerChanged.connect(lambda _layer: self.show_class_field())
        self.show_class_field()
        text_row = QHBoxLayout()
        self.text_edit = QLineEdit(body)
        self.text_edit.setPlaceholderText("a word, e.g. building (text-prompted models)")
        self.text_edit.returnPressed.connect(self.add_text)
        text_row.addWidget(self.text_edit, 1)
        find = QPushButton("Segment text", body)
        find.clicked.connect(self.add_text)
        text_row.addWidget(find)
        form.addRow("Text", text_row)
        buttons = QHBoxLayout()
        self.accept_button = QPushButton("Accept", body)
        self.accept_button.clicked.connect(self.accept_mask)
        self.undo_button = QPushButton("Undo last accept", body)
        self.undo_button.clicked.connect(self.undo)
        clear = QPushButton("Clear prompts", body)
        clear.clicked.connect(lambda: self.clear(new_window=False))
        for button in (self.accept_button, self.undo_button, clear):
            buttons.addWidget(button)
        self.status = QLabel(prompts.HOW_TO, body)
        self.status.setWordWrap(True)
        layout = QVBoxLayout(body)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.setWidget(body)

    # -- prompts --------------------------------------------------------------------------------------------------
    def add_prompt(self, prompt: Prompt) -> None:
        """A click or a drag from the map tool: kept with the others, then the engine asked with all of them. One
        off the window embedded so far (the canvas was panned to another object) starts again on a new window."""
        if self.window is not None and not self._in_window(prompt):
            self.clear(new_window=True)
        if prompt.box is not None:
            self.box = prompt.box  # Segment Anything takes one box with its points: a new box replaces the old
            self.box_band.setToGeometry(QgsGeometry.fromRect(prompt.box), None)  # in the canvas's CRS
        else:
            self.points.append((prompt.point, prompt.positive))
            self._mark(prompt.point, prompt.positive)
        self.ask()

    def _in_window(self, prompt: Prompt) -> bool:
        to_layer = QgsCoordinateTransform(self.canvas.mapSettings().destinationCrs(), self.window.layer.crs(),
                                          QgsProject.instance())
        if prompt.box is not None:
            return self.window.extent.contains(to_layer.transformBoundingBox(prompt.box))
        return self.window.extent.contains(to_layer.transform(prompt.point))

    def add_text(self) -> None:
        self.text = self.text_edit.text().strip()
        if self.text:
            self.ask()

    def ask(self) -> None:
        """Ask the engine for the mask of the prompts so far (embedding the window first where needed)."""
        if not self.points and self.box is None and not self.text:
            return  # cleared while the window was being embedded: nothing to ask
        layer = self.raster_box.currentLayer()
        if layer is None:
            self.say("Choose a raster layer first (or add one to the project).", Qgis.MessageLevel.Warning)
            return
        if self.task is not None:
            self._pending = True  # asked again, with every prompt so far, when the embedding is done
            self.say("Still embedding the window; your prompts are asked when it is done.")
            return
        model = self.model_box.currentText().strip()
        canvas_crs = self.canvas.mapSettings().destinationCrs()
        to_layer = QgsCoordinateTransform(canvas_crs, layer.crs(), QgsProject.instance())
        if self.window is None or not self.window.matches(layer, model):
            extent = to_layer.transformBoundingBox(self.canvas.extent()).intersect(layer.extent())
            if extent.isEmpty():
                self.say("The canvas shows none of the raster layer: zoom to it first.", Qgis.MessageLevel.Warning)
                return
            try:
                stac = stac_source(layer)
            except engine_api().DualStreamError as exc:
                self.say(prompts.explain(exc), Qgis.MessageLevel.Critical)
                return
            self.window = prompts.Window(layer, model, extent, self._pixel_metres(), stac)
        request = prompts.Request(
            points=[(to_layer.transform(point), positive) for point, positive in self.points],
            box=to_layer.transformBoundingBox(self.box) if self.box is not None else None,
            text=self.text)
        if self.window.embedded():
            try:
                self._show(self.window.answer(request))
            except engine_api().DualStreamError as exc:  # said in the panel, not raised in a Qt slot
                self.say(prompts.explain(exc), Qgis.MessageLevel.Critical)
            return
        self.say(f"Embedding the window of '{layer.name()}' with {model} (once per window)…")
        window = self._embedding = self.window
        self.task = QgsTask.fromFunction("DualStream: embedding for Segment Anything",
                                         lambda _task: window.answer(request), on_finished=self._embedded)
        QgsApplication.taskManager().addTask(self.task)
        self._watch.start()

    def _show_said(self) -> None:
        said = self._embedding.said if self._embedding is not None else []
        if said:  # appended by the task's thread; reading the last line is safe
            self.say(f"Embedding the window (once per window)… {said[-1]}")

    def _pixel_metres(self) -> float:
        """The canvas's pixel in metres on the ground at its centre (a web layer is read at what the user sees).

        Its width, east-west: in a geographic canvas (EPSG:4326) a pixel is as many degrees high as wide, and a
        degree of latitude is longer on the ground than one of longitude (about 1/cos(latitude) times), so the
        pixel is taller than wide on the ground. The window is read in the service's CRS (web mercator keeps
        shapes: square pixels there are square on the ground) at that width: as sharp as the screen across,
        sharper up and down, so at 37.5°N a 463 x 649 canvas gives a window of about 463 x 815 pixels of the same
        ground. That is right: reading at the pixel's height would show less than the screen does across."""
        import math

        wgs84 = QgsCoordinateTransform(self.canvas.mapSettings().destinationCrs(),
                                       QgsCoordinateReferenceSystem("EPSG:4326"), QgsProject.instance())
        centre, size = self.canvas.extent().center(), self.canvas.mapUnitsPerPixel()
        a = wgs84.transform(centre.x(), centre.y())
        b = wgs84.transform(centre.x() + size, centre.y())
        lat1, lat2 = math.radians(a.y()), math.radians(b.y())
        dlat, dlon = lat2 - lat1, math.radians(b.x() - a.x())
        h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
        return 2 * 6_371_008.8 * math.asin(math.sqrt(h))

    def _embedded(self, exception, result=None) -> None:
        self.task = None
        self._watch.stop()
        window, self._embedding = self._embedding, None
        said = window.said if window is not None else []
        for line in said:  # all of it in the log panel: the model, its licence, the bands read, warnings
            QgsMessageLog.logMessage(line, LOG_TAG, Qgis.MessageLevel.Info)
        pending, self._pending = self._pending, False
        if exception is not None:
            self.say(prompts.explain(exception), Qgis.MessageLevel.Critical)
            return
        if window is not self.window:  # the layer, model or place changed meanwhile: an answer for another window
            if pending:
                self.ask()  # the prompts made since, on their own window
            else:
                self.say("The layer or model changed while the window was being embedded; click again.")
            return
        self._show(result, prompts.notes(said))
        if pending:
            self.ask()

    def _show(self, answer: prompts.Answer, notes: str = "") -> None:
        self.masks, self.score = answer.geometries, answer.score
        self.mask_band.reset(GEOMETRY_POLYGON)
        crs = self.window.layer.crs()
        for geometry in self.masks:
            self.mask_band.addGeometry(geometry, crs)
        self.say(f"{answer.summary}\n{notes}" if notes else answer.summary)

    # -- accept, undo, clear --------------------------------------------------------------------------------------
    def make_scratch_layer(self) -> None:
        layer = new_scratch_layer(self.canvas.mapSettings().destinationCrs())
        self.target_box.setLayer(layer)

    def show_class_field(self) -> None:
        """What Accept will write the class into, for the chosen target (or why it cannot)."""
        target = self.target_box.currentLayer()
        if not is_polygon_layer(target):
            self.field_label.setText(f"'{CLASS_FIELD}' of a new scratch layer")
            return
        try:
            self.field_label.setText(class_target(target).said())
        except ValueError as exc:
            self.field_label.setText(str(exc))

    def accept_mask(self) -> None:
        """The current mask into the target layer with the class value; the prompts start again."""
        if not self.masks:
            self.say("Nothing to accept yet: click inside the raster layer or drag a box.", Qgis.MessageLevel.Warning)
            return
        target = self.target_box.currentLayer()
        if not is_polygon_layer(target):
            self.make_scratch_layer()
            target = self.target_box.currentLayer()
        try:
            added, where = self.accepted.add(target, self.masks, self.window.layer.crs(), self.class_box.value(),
                                             self.score)
        except ValueError as exc:
            self.say(str(exc), Qgis.MessageLevel.Critical)
            return
        self.clear(new_window=False)
        written = f", {where.said(self.class_box.value())}" if where.text else ""
        self.say(f"Accepted {added} polygon(s) of class {self.class_box.value()} into '{target.name()}'{written} "
                 f"({len(self.accepted)} accept(s) so far). Next: click the next object.")

    def undo(self) -> None:
        removed = self.accepted.undo()
        self.say(f"Removed the last accept ({removed} polygon(s))." if removed else "Nothing accepted to undo.")

    def clear(self, new_window: bool) -> None:
        self.points, self.box, self.text, self.masks = [], None, "", []
        self.mask_band.reset(GEOMETRY_POLYGON)
        self.box_band.reset(GEOMETRY_POLYGON)
        for marker in self._markers:
            self.canvas.scene().removeItem(marker)
        self._markers = []
        if new_window:
            self.window = None

    def _mark(self, point, positive: bool) -> None:
        marker = QgsVertexMarker(self.canvas)
        marker.setCenter(point)
        marker.setIconType(QgsVertexMarker.IconType.ICON_CIRCLE if positive else QgsVertexMarker.IconType.ICON_X)
        marker.setColor(QColor(0, 200, 0) if positive else QColor(220, 0, 0))
        marker.setIconSize(12)
        marker.setPenWidth(3)
        self._markers.append(marker)

    def say(self, text: str, level=Qgis.MessageLevel.Info) -> None:
        self.status.setText(text)
        if level != Qgis.MessageLevel.Info and self.iface is not None:
            self.iface.messageBar().pushMessage("DualStream", text, level, 8)

    def use_tool(self) -> None:
        """The panel's map tool made current; the tool current before is kept to be given back."""
        current = self.canvas.mapTool()
        if current is not self.tool:
            self._previous_tool = current
            self.canvas.setMapTool(self.tool)  # checks the label action

    def put_tool_away(self) -> None:
        """The tool current before ours given back, as QGIS's own tools leave one current: QGIS's Pan where there
        was none or it is gone (a plugin's tool deleted meanwhile). Nothing changes while another tool is current."""
        previous, self._previous_tool = self._previous_tool, None
        if self.canvas.mapTool() is not self.tool:
            return
        if previous is not None and not sip.isdeleted(previous):
            self.canvas.setMapTool(previous)
        else:
            self.iface.actionPan().trigger()
        if self.canvas.mapTool() is self.tool:  # neither took the canvas: no tool rather than ours on a hidden panel
            self.canvas.unsetMapTool(self.tool)

    def release(self) -> None:
        """Everything the panel drew taken off the canvas, and its tool put away (the plugin is unloading)."""
        self.clear(new_window=True)
        self.put_tool_away()
        self.canvas.scene().removeItem(self.mask_band)
        self.canvas.scene().removeItem(self.box_band)
        self.tool.release()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.clear(new_window=True)
        self.put_tool_away()
        super().closeEvent(event)
