"""The *Label with Segment Anything* panel: the prompts collected on the canvas, the mask drawn, accepted or undone.

The panel owns the state of one labelling session: the raster layer prompted, the window of it the engine embedded
(the part of the layer the canvas shows when the first prompt comes; panning elsewhere starts a new window), the
prompts so far (points and at most one box, as Segment Anything takes them) and the mask they give. Every prompt
asks the engine again with all of them, so a negative click corrects the mask in place. Every answer is worked
out in a background task, never in the GUI thread: the first prompt of a window embeds it (seconds on the CPU),
later ones answer from the kept embedding, and each mask is traced into polygons and simplified for drawing
there too (:mod:`.drawing`); the time the status gives is the whole wait. Clear prompts, a new window, and putting
the panel away (its button unchecked, or the panel closed) take the same one path: prompts, mask, markers and the
status's figures all go. A STAC item is shown as a layer by the STAC item row (:mod:`.stac_row`); that layer's
windows are read from the item.
"""

from __future__ import annotations

import time

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
from qgis.gui import QgsMapLayerComboBox
from qgis.PyQt import sip
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..compat import FILTER_POLYGON, FILTER_RASTER
from ..engine_bridge import engine_api
from ..feedback import engine_task
from ..provider import LOG_TAG
from . import prompts
from .drawing import Marks, Sight, for_canvas
from .map_tool import Prompt, PromptMapTool
from .stac_row import StacRow, stac_source
from .targets import CLASS_FIELD, Accepted, class_target, is_polygon_layer, new_scratch_layer


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
        self.marks = Marks(self.canvas)
        self.drawn_scale = 0.0  # the canvas scale the mask was simplified for
        self.canvas.scaleChanged.connect(self._rescaled)
        self._asked = 0  # the prompts' version: a change makes a running task's answer out of date
        self._asking: prompts.Window | None = None  # the window the running task asks
        self._figures = False  # the status shows the mask's figures
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
        self.target_box.layerChanged.connect(lambda layer: self.target_box.setToolTip(layer.name() if layer else ""))
        target_row.addWidget(self.target_box, 1)
        # an icon, as QGIS's own "New Temporary Scratch Layer": a text button left the layer's name a few letters
        scratch = QToolButton(body)
        scratch.setIcon(QgsApplication.getThemeIcon("/mActionCreateMemory.svg"))
        scratch.setToolTip("New scratch layer (a memory layer with 'class' and 'score' fields, drawn by class)")
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
            self.marks.show_box(prompt.box)
        else:
            self.points.append((prompt.point, prompt.positive))
            self.marks.mark(prompt.point, prompt.positive)
        self._asked += 1
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
            self._asked += 1
            self.ask()

    def ask(self) -> None:
        """Ask the engine for the mask of the prompts so far (embedding the window first where needed)."""
        if not self.points and self.box is None and not self.text:
            return  # cleared while the window was being embedded: nothing to ask
        layer = self.raster_box.currentLayer()
        if layer is None:
            self.say("Choose a raster layer first (or add one to the project).", Qgis.MessageLevel.Warning)
            return
        if self.task is not None:  # asked again, with every prompt so far, when the running task is done
            if self._asking is not None and not self._asking.embedded():
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
        window = self._asking = self.window
        embedding = not window.embedded()
        if embedding:
            self.say(f"Embedding the window of '{layer.name()}' with {model} (once per window)…")
            self._watch.start()
        sight = Sight(QgsCoordinateTransform(layer.crs(), canvas_crs, QgsProject.instance()),
                      self.canvas.mapUnitsPerPixel())
        asked, started = self._asked, time.monotonic()
        self.task = engine_task(  # torch in a thread Python started (QGIS's task threads crash it on Python 3.13)
            "DualStream: embedding for Segment Anything" if embedding else "DualStream: Segment Anything's mask",
            lambda: window.answer(request, sight),
            lambda exception, result=None: self._answered(exception, result, asked, started, embedding))
        self.drawn_scale = self.canvas.scale()
        QgsApplication.taskManager().addTask(self.task)

    def _show_said(self) -> None:
        said = self._asking.said if self._asking is not None else []
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

    def _answered(self, exception, answer, asked: int, started: float, embedding: bool) -> None:
        """The task's answer drawn, unless the prompts changed meanwhile (then the prompts made since are asked)."""
        self.task = None
        self._watch.stop()
        window, self._asking = self._asking, None
        said = window.said if window is not None and embedding else []
        for line in said:  # all of it in the log panel: the model, its licence, the bands read, warnings
            QgsMessageLog.logMessage(line, LOG_TAG, Qgis.MessageLevel.Info)
        if exception is not None:
            self.say(prompts.explain(exception), Qgis.MessageLevel.Critical)
            if asked != self._asked:
                self.ask()
            return
        if window is not self.window or asked != self._asked:  # cleared, or more prompts, or another window
            if self.points or self.box is not None or self.text:
                self.ask()  # the prompts made since, all of them (on their own window where it changed)
            elif window is not self.window:
                self.say("The layer or model changed while the window was being embedded; click again.")
            return
        self.masks, self.score = answer.geometries, answer.score
        self.marks.show_mask(answer.drawn)
        summary = answer.summary(time.monotonic() - started)
        notes = prompts.notes(said)
        self.say(f"{summary}\n{notes}" if notes else summary)
        self._figures = True

    def _rescaled(self, _scale: float) -> None:
        """The mask drawn again for the new scale once it is twice as fine or coarse as it was drawn for (the
        outline simplified for a coarser view would show its corners zoomed in)."""
        scale = self.canvas.scale()
        if not self.masks or self.task is not None or not self.drawn_scale or \
                0.5 < scale / self.drawn_scale < 2.0:
            return
        self.drawn_scale = scale
        sight = Sight(QgsCoordinateTransform(self.window.layer.crs(), self.canvas.mapSettings().destinationCrs(),
                                             QgsProject.instance()), self.canvas.mapUnitsPerPixel())
        self.marks.show_mask(for_canvas(self.masks, sight))

    @property
    def mask_band(self):
        return self.marks.mask_band

    @property
    def box_band(self):
        return self.marks.box_band

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
        """The one way prompts go (Clear prompts, an accept, a new window, the panel put away): the prompts, the
        mask, everything drawn and the status's figures of the mask; ``new_window``: the window embedded too."""
        self.points, self.box, self.text, self.masks, self.score = [], None, "", [], 0.0
        self._asked += 1  # a task still running answers prompts that are gone
        self.marks.clear()
        if new_window:
            self.window = None
        if self._figures:  # what else the status says (the STAC row's layer, an error) stays
            self.say(prompts.CLEARED)

    def say(self, text: str, level=Qgis.MessageLevel.Info) -> None:
        self.status.setText(text)
        self._figures = False
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

    def put_away(self) -> None:
        """The panel put away, by its toolbar button or its close button alike: the prompts, the mask and the
        markers off the canvas (:meth:`clear`), the tool current before given back, the panel hidden."""
        self.clear(new_window=True)
        self.put_tool_away()
        self.hide()

    def release(self) -> None:
        """Everything the panel drew taken off the canvas, and its tool put away (the plugin is unloading)."""
        self.put_away()
        self.canvas.scaleChanged.disconnect(self._rescaled)
        self.marks.release()
        self.tool.release()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.put_away()
        super().closeEvent(event)
