"""The labelling panel's mask as the canvas draws it (dualstream_qgis/labeling/drawing.py): reprojected to the
canvas CRS and simplified to half a screen pixel, so a mask traced at the image's pixels (tens of thousands of
stair-step vertices) is drawn with as many vertices as the screen can show. Before, every traced vertex went into
the rubber band in the GUI thread (68-103 k vertices froze QGIS for 5-11 s). Real QgsGeometry on an offscreen
QgsApplication."""

from __future__ import annotations

import math

import pytest

pytestmark = [pytest.mark.qgis]


def _stairs(radius_px: int, x0: float = 500000.0, y0: float = 4100000.0):
    """A disc traced as a mask is: its outline along pixel edges (1 m pixels), thousands of stair-step vertices."""
    from qgis.core import QgsGeometry

    ring = []
    for quadrant in range(4):
        for step in range(radius_px):
            angle = (quadrant + step / radius_px) * math.pi / 2
            x, y = round(radius_px * math.cos(angle)), round(radius_px * math.sin(angle))
            if ring and ring[-1] != (x, y):
                ring.append((ring[-1][0], y))  # the step: along one pixel edge, then the other
            ring.append((x, y))
    ring.append(ring[0])
    points = ", ".join(f"{x0 + x} {y0 + y}" for x, y in ring)
    return QgsGeometry.fromWkt(f"POLYGON (({points}))")


def _sight(source: str, canvas: str, pixel: float):
    from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsProject

    from dualstream_qgis.labeling.drawing import Sight

    return Sight(QgsCoordinateTransform(QgsCoordinateReferenceSystem(source), QgsCoordinateReferenceSystem(canvas),
                                        QgsProject.instance()), pixel)


def test_a_traced_mask_is_drawn_with_the_vertices_a_screen_shows(plugin):
    from dualstream_qgis.labeling.drawing import for_canvas, vertex_count

    traced = _stairs(2000)
    assert vertex_count([traced]) > 10000
    (drawn,) = for_canvas([traced], _sight("EPSG:32633", "EPSG:32633", 8.0))  # 8 m a screen pixel
    assert vertex_count([drawn]) < vertex_count([traced]) / 20
    assert drawn.hausdorffDistance(traced) <= 0.5 * 8.0 + 1e-6  # within half a screen pixel of the traced outline
    assert abs(drawn.area() - traced.area()) < 0.001 * traced.area()


def test_a_part_under_a_pixel_is_kept_and_the_drawing_is_in_the_canvas_crs(plugin):
    from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsGeometry, QgsProject

    from dualstream_qgis.labeling.drawing import for_canvas

    speck = QgsGeometry.fromWkt("POLYGON ((500000 4100000, 500001 4100000, 500001 4100001, 500000 4100000))")
    disc = _stairs(300)
    drawn = for_canvas([disc, speck], _sight("EPSG:32633", "EPSG:3857", 20.0))
    assert len(drawn) == 2 and not drawn[1].isEmpty()  # smaller than the tolerance: kept as it is, not dropped
    moved = QgsGeometry(disc)
    moved.transform(QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:32633"),
                                           QgsCoordinateReferenceSystem("EPSG:3857"), QgsProject.instance()))
    assert drawn[0].centroid().asPoint().distance(moved.centroid().asPoint()) < 1.0  # metres of web mercator


def _noise(count: int, side_m: int, seed: int = 0):
    """A noise mask as a click on a speckled image answers: ``count`` specks of one 1 m pixel each, scattered over a
    ``side_m`` square, each a polygon of its own (as the mask is traced)."""
    import numpy as np
    from qgis.core import QgsGeometry

    rng = np.random.default_rng(seed)
    cells = rng.choice(side_m * side_m, size=count, replace=False)
    x0, y0 = 500000.0, 4100000.0
    return [QgsGeometry.fromRect(QgsRectangle_(x0 + c % side_m, y0 + c // side_m)) for c in cells]


def QgsRectangle_(x: float, y: float):  # noqa: N802 - named after what it makes
    from qgis.core import QgsRectangle

    return QgsRectangle(x, y, x + 1, y + 1)


def test_a_noise_mask_is_drawn_as_the_patches_it_covers_at_the_screens_resolution(plugin):
    """Issue 79, item 6: a click's noise mask (tens of thousands of specks under a screen pixel, each kept as it was)
    painted 33-41 k vertices in the GUI thread, 2.5-3.3 s at every draw and zoom: traced again on the screen's pixels
    it stays within the drawing's budget, and every speck lies in what is drawn (within a screen pixel)."""
    from qgis.core import QgsGeometry, QgsPointXY

    from dualstream_qgis.labeling.drawing import MOST_VERTICES, for_canvas, vertex_count

    specks = _noise(20000, 400)
    assert vertex_count(specks) == 100000
    sight = _sight("EPSG:32633", "EPSG:32633", 2.0)  # 2 m a screen pixel: a speck is half a pixel wide
    drawn = for_canvas(specks, sight)
    assert vertex_count(drawn) <= MOST_VERTICES, vertex_count(drawn)
    shown = QgsGeometry.collectGeometry(drawn)
    for speck in specks[::97]:
        centre = speck.centroid().asPoint()
        assert shown.distance(QgsGeometry.fromPointXY(QgsPointXY(centre))) <= 8 * sight.pixel
    assert shown.area() < 400 * 400 * 1.2  # the specks' patches, not a box drawn around the whole view
