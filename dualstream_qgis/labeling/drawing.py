"""What the labelling panel draws on the canvas: the mask, the box prompt and a marker per click, and the one way
they are all taken off again.

A mask traced at the image's pixels can have a hundred thousand vertices; drawn as they are, a rubber band holds
QGIS's GUI thread for seconds at every repaint. So the mask is drawn as the canvas can show it: reprojected to the
canvas CRS and simplified to half a screen pixel (:func:`for_canvas`, run in the panel's task beside the model).
A mask of noise (thousands of specks, each under a pixel of the screen) stays tens of thousands of vertices after
that; such a mask is traced again at the screen's resolution: burnt onto a grid of screen pixels (a speck marks
the pixel it falls in) and its outline traced on that grid. What Accept writes is the mask as traced, not the
drawing.
"""

from __future__ import annotations

import math

from qgis.core import QgsCoordinateTransform, QgsGeometry, QgsRectangle
from qgis.gui import QgsRubberBand, QgsVertexMarker
from qgis.PyQt.QtGui import QColor

from ..compat import GEOMETRY_POLYGON

MASK_FILL = QColor(0, 160, 255, 90)
MASK_STROKE = QColor(0, 90, 255)
BOX_STROKE = QColor(255, 160, 0)  # the map tool's colour while the box is dragged
#: The drawing's simplification, in screen pixels: under a pixel, the outline looks the same as traced.
TOLERANCE_PX = 0.5
#: Vertices a drawing may keep after simplification; more (noise) and it is traced again on the screen's pixels: a
#: rubber band paints about 12 k vertices a second in QGIS 3.22's GUI thread (33-41 k took 2.5-3.3 s).
MOST_VERTICES = 3000
GRID_AT = 10 * MOST_VERTICES  # a mask of more vertices goes to the screen grid unsimplified
MOST_GRID_PX = 4096  # the screen grid's largest side (a mask far larger than the view is drawn coarser)


class Sight:
    """How the canvas shows the map when a prompt is asked: the transform from the raster layer's CRS to the
    canvas's, and the simplification tolerance in canvas units. Made in the GUI thread, used in the task's."""

    def __init__(self, to_canvas: QgsCoordinateTransform, map_units_per_pixel: float):
        self.to_canvas = to_canvas
        self.pixel = map_units_per_pixel
        self.tolerance = TOLERANCE_PX * map_units_per_pixel


def for_canvas(geometries: list[QgsGeometry], sight: Sight) -> list[QgsGeometry]:
    """``geometries`` (in the raster layer's CRS) as the canvas draws them: in its CRS, simplified to ``sight``'s
    tolerance. A part smaller than the tolerance is kept as it is rather than dropped (it is small anyway); a
    drawing of more than :data:`MOST_VERTICES` is traced again on the screen's pixels (:func:`on_screen_grid`),
    straight away for a mask of more than :data:`GRID_AT` vertices (simplifying its specks one by one takes long)."""
    whole = QgsGeometry.collectGeometry(geometries)  # every part, counted and moved at once
    if sight.pixel > 0 and vertex_count([whole]) > GRID_AT:
        whole.transform(sight.to_canvas)
        return on_screen_grid(whole, sight)
    drawn = []
    for geometry in geometries:
        moved = QgsGeometry(geometry)
        moved.transform(sight.to_canvas)
        simpler = moved.simplify(sight.tolerance) if sight.tolerance > 0 else moved
        drawn.append(moved if simpler.isNull() or simpler.isEmpty() else simpler)
    if sight.pixel > 0 and vertex_count(drawn) > MOST_VERTICES:
        return on_screen_grid(QgsGeometry.collectGeometry(drawn), sight)
    return drawn


def on_screen_grid(whole: QgsGeometry, sight: Sight) -> list[QgsGeometry]:
    """``whole`` (every part of the mask, in the canvas CRS) traced again on a grid of screen pixels: every pixel a
    part touches is the mask's (a speck under a pixel shows as that pixel), and the outline of those pixels is the
    drawing; where even that passes :data:`MOST_VERTICES` (specks scattered one a pixel), on a
    grid twice as coarse, and so on: a noise mask is drawn as the patches it covers, never vertex by vertex."""
    from osgeo import gdal, ogr

    extent = whole.boundingBox()
    source = ogr.GetDriverByName("Memory").CreateDataSource("mask")
    parts = source.CreateLayer("parts", geom_type=ogr.wkbMultiPolygon)
    feature = ogr.Feature(parts.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkb(bytes(whole.asWkb())))
    parts.CreateFeature(feature)
    pixel = max(sight.pixel, extent.width() / MOST_GRID_PX, extent.height() / MOST_GRID_PX)
    while True:
        width, height = max(1, math.ceil(extent.width() / pixel)), max(1, math.ceil(extent.height() / pixel))
        grid = gdal.GetDriverByName("MEM").Create("", width, height, 1, gdal.GDT_Byte)
        grid.SetGeoTransform((extent.xMinimum(), pixel, 0.0, extent.yMaximum(), 0.0, -pixel))
        gdal.PushErrorHandler("CPLQuietErrorHandler")  # neither has a CRS: both are the canvas's (GDAL warns)
        try:
            gdal.RasterizeLayer(grid, [1], parts, burn_values=[1], options=["ALL_TOUCHED=TRUE"])
        finally:
            gdal.PopErrorHandler()
        band = grid.GetRasterBand(1)
        traced = source.CreateLayer(f"traced{width}", geom_type=ogr.wkbPolygon)
        traced.CreateField(ogr.FieldDefn("value", ogr.OFTInteger))
        gdal.Polygonize(band, band, traced, 0, ["8CONNECTED=8"])  # the band masks itself: burnt pixels only
        # the outline runs along the grid's pixel edges: its vertices are its corners, nothing to simplify
        shown = QgsGeometry.collectGeometry([_from_ogr(feature.GetGeometryRef()) for feature in traced])
        if vertex_count([shown]) <= MOST_VERTICES or max(width, height) <= 2:
            return [shown] if not shown.isEmpty() else []
        pixel *= 2


def _from_ogr(geometry) -> QgsGeometry:
    made = QgsGeometry()
    made.fromWkb(bytes(geometry.ExportToWkb()))
    return made


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
