"""The canvas tool that turns clicks and drags into Segment Anything prompts.

A left click is a positive point, a click with Shift or Ctrl held (or a right click) a negative one, a left drag a
box. The tool only collects: it emits each prompt in map coordinates of the canvas's CRS, and the panel
(:mod:`.panel`) decides what to ask the engine. A drag shorter than :data:`DRAG_PX` screen pixels is a click, so a
shaky hand does not make a box of a few centimetres.
"""

from __future__ import annotations

from dataclasses import dataclass

from qgis.core import QgsGeometry, QgsRectangle
from qgis.gui import QgsMapTool, QgsRubberBand
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtGui import QColor

from ..compat import GEOMETRY_POLYGON

#: Screen pixels a press must move before it is a box rather than a click.
DRAG_PX = 5
#: Modifiers that make a click negative ("not this").
NEGATIVE_MODIFIERS = (Qt.KeyboardModifier.ShiftModifier, Qt.KeyboardModifier.ControlModifier)


@dataclass(frozen=True)
class Prompt:
    """One prompt in the canvas CRS: a point (``positive`` or not) or a box (``box`` set)."""

    point: object = None  # QgsPointXY
    positive: bool = True
    box: QgsRectangle | None = None


class PromptMapTool(QgsMapTool):
    """Collects point and box prompts on ``canvas``; :attr:`prompted` carries each :class:`Prompt`."""

    prompted = pyqtSignal(object)

    def __init__(self, canvas):
        super().__init__(canvas)
        self._press = None  # (screen position, map point, button) of the press under way
        self._box_band = QgsRubberBand(canvas, GEOMETRY_POLYGON)
        self._box_band.setColor(QColor(255, 200, 0, 60))
        self._box_band.setStrokeColor(QColor(255, 160, 0))
        self._box_band.setWidth(2)
        self.setCursor(Qt.CursorShape.CrossCursor)

    def canvasPressEvent(self, event) -> None:  # noqa: N802 - QGIS API
        self._press = (event.pos(), event.mapPoint(), event.button(), event.modifiers())

    def canvasMoveEvent(self, event) -> None:  # noqa: N802 - QGIS API
        if self._press is None or self._press[2] != Qt.MouseButton.LeftButton or not self._dragged(event):
            return
        self._box_band.setToGeometry(QgsGeometry.fromRect(QgsRectangle(self._press[1], event.mapPoint())), None)

    def canvasReleaseEvent(self, event) -> None:  # noqa: N802 - QGIS API
        if self._press is None:
            return
        _pos, start, button, modifiers = self._press
        dragged = self._dragged(event)
        self._press = None
        self._box_band.reset(GEOMETRY_POLYGON)
        if button == Qt.MouseButton.LeftButton and dragged:
            box = QgsRectangle(start, event.mapPoint())
            box.normalize()
            self.prompted.emit(Prompt(box=box))
            return
        negative = button == Qt.MouseButton.RightButton or any(modifiers & flag for flag in NEGATIVE_MODIFIERS)
        self.prompted.emit(Prompt(point=start, positive=not negative))

    def deactivate(self) -> None:
        self._press = None
        self._box_band.reset(GEOMETRY_POLYGON)
        super().deactivate()

    def release(self) -> None:
        """Take the box band off the canvas (before the plugin unloads: the canvas must not outlive it holding it)."""
        self._box_band.reset(GEOMETRY_POLYGON)
        self.canvas().scene().removeItem(self._box_band)

    def _dragged(self, event) -> bool:
        moved = event.pos() - self._press[0]
        return abs(moved.x()) + abs(moved.y()) >= DRAG_PX

