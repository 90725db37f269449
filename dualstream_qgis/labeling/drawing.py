"""What the labelling panel draws on the canvas: the mask, the box prompt and a marker per click, and the one way
they are all taken off again.

A mask traced at the image's pixels can have a hundred thousand vertices; drawn as they are, a rubber band holds
QGIS's GUI thread for seconds at every repaint. So the mask is drawn as the canvas can show it: reprojected to the
canvas CRS and simplified to half a screen pixel (:func:`for_canvas`, run in the panel's task beside the model,
never in the GUI thread). What Accept writes is the mask as traced, not the drawing.
"""

from __future__ import annotations

from qgis.core import QgsCoordinateTransform, QgsGeometry, QgsRectangle
from qgis.gui import QgsRubberBand, QgsVertexMarker
from qgis.PyQt.QtGui import QColor

from ..compat import GEOMETRY_POLYGON

MASK_FILL = QColor(0, 160, 255, 90)
MASK_STROKE = QColor(0, 90, 255)
BOX_STROKE = QColor(255, 160, 0)  # the map tool's colour while the box is dragged
#: The drawing's simplification, in screen pixels: under a pixel, the outline looks the same as traced.
TOLERANCE_PX = 0.5


class Sight:
    """How the canvas shows the map when a prompt is asked: the transform from the raster layer's CRS to the
    canvas's, and the simplification tolerance in canvas units. Made in the GUI thread, used in the task's."""

    def __init__(self, to_canvas: QgsCoordinateTransform, map_units_per_pixel: float):
        self.to_canvas = to_canvas
        self.tolerance = TOLERANCE_PX * map_units_per_pixel


def for_canvas(geometries: list[QgsGeometry], sight: Sight) -> list[QgsGeometry]:
    """``geometries`` (in the raster layer's CRS) as the canvas draws them: in its CRS, simplified to ``sight``'s
    tolerance. A part smaller than the tolerance is kept as it is rather than dropped (it is small anyway)."""
    drawn = []
    for geometry in geometries:
        moved = QgsGeometry(geometry)
        moved.transform(sight.to_canvas)
        simpler = moved.simplify(sight.tolerance) if sight.tolerance > 0 else moved
        drawn.append(moved if simpler.isNull() or simpler.isEmpty() else simpler)
    return drawn


def vertex_count(geometries: list[QgsGeometry]) -> int:
    return sum(g.constGet().nCoordinates() for g in geometries if not g.isNull())


class Marks:
    """The panel's canvas items: the mask band, the box band, the click markers."""

    def __init__(self, canvas):
        self.canvas = canvas
        self.markers: list[QgsVertexMarker] = []
        self.mask_band = QgsRubberBand(canvas, GEOMETRY_POLYGON)
        self.mask_band.setColor(MASK_FILL)
        self.mask_band.setStrokeColor(MASK_STROKE)
        self.mask_band.setWidth(2)
        self.box_band = QgsRubberBand(canvas, GEOMETRY_POLYGON)  # the box prompt, shown until cleared
        self.box_band.setColor(QColor(0, 0, 0, 0))
        self.box_band.setStrokeColor(BOX_STROKE)
        self.box_band.setWidth(2)

    def show_mask(self, drawn: list[QgsGeometry]) -> None:
        """``drawn`` (in the canvas's CRS, see :func:`for_canvas`) as the mask, in place of the one before."""
        self.mask_band.reset(GEOMETRY_POLYGON)
        for geometry in drawn:
            self.mask_band.addGeometry(geometry, None)  # no CRS: already in the canvas's

    def show_box(self, box: QgsRectangle) -> None:
        self.box_band.setToGeometry(QgsGeometry.fromRect(box), None)  # in the canvas's CRS

    def mark(self, point, positive: bool) -> None:
        marker = QgsVertexMarker(self.canvas)
        marker.setCenter(point)
        marker.setIconType(QgsVertexMarker.IconType.ICON_CIRCLE if positive else QgsVertexMarker.IconType.ICON_X)
        marker.setColor(QColor(0, 200, 0) if positive else QColor(220, 0, 0))
        marker.setIconSize(12)
        marker.setPenWidth(3)
        self.markers.append(marker)

    def clear(self) -> None:
        """Everything drawn taken off the canvas (the bands stay, empty, for the next prompt)."""
        self.mask_band.reset(GEOMETRY_POLYGON)
        self.box_band.reset(GEOMETRY_POLYGON)
        for marker in self.markers:
            self.canvas.scene().removeItem(marker)
        self.markers = []

    def release(self) -> None:
        """The bands themselves taken off the canvas (the plugin unloads: the canvas must not outlive it holding
        them)."""
        self.clear()
        self.canvas.scene().removeItem(self.mask_band)
        self.canvas.scene().removeItem(self.box_band)
