"""A mask over a window -> georeferenced polygons, through the project's one polygon pipeline.

The mask is written as a one-class raster (in GDAL's memory file system) on the window's grid, with its
probabilities as the confidence raster, and handed to :func:`engine.io.polygons.write_polygons`: the same tracing,
speck removal (``min_area``), hole filling and outline treatment (``regularise`` squares buildings, ``smooth``,
``as_is``) as a segmentation's polygons. The features are read back as WKT in the image's CRS, cut at the window's
edge (a squared outline can reach past it, where the mask says nothing).
"""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io.polygons import ClassRule, field_names, write_polygons
from ..runtime.environment import require

THRESHOLD = 0.5  # a pixel is inside the mask when the model's probability reaches this


@dataclass
class MaskPolygon:
    """One polygon of a mask: WKT in the image's CRS, its area (m² where the CRS has metres, else map units) and the
    mean probability of its pixels."""

    wkt: str
    area: float
    confidence: float | None


def _raster(name: str, values: np.ndarray, transform: tuple, crs: str, dtype: int, nodata: float | None) -> str:
    gdal = require("osgeo.gdal")
    path = f"/vsimem/prompted-{uuid.uuid4().hex}-{name}.tif"
    dataset = gdal.GetDriverByName("GTiff").Create(path, values.shape[1], values.shape[0], 1, dtype)
    dataset.SetGeoTransform(transform)
    if crs:
        osr = require("osgeo.osr")
        ref = osr.SpatialReference()
        ref.SetFromUserInput(crs)  # WKT, or EPSG:XXXX
        dataset.SetProjection(ref.ExportToWkt())
    band = dataset.GetRasterBand(1)
    if nodata is not None:
        band.SetNoDataValue(nodata)
    band.WriteArray(values)
    dataset = band = None
    return path


def _frame(transform: tuple, shape: tuple[int, ...]) -> object:
    """The window's outline as an OGR polygon in map coordinates."""
    ogr = require("osgeo.ogr")
    x0, dx, rx, y0, ry, dy = transform
    rows, cols = shape[:2]
    corners = [(x0 + dx * c + rx * r, y0 + ry * c + dy * r) for c, r in ((0, 0), (cols, 0), (cols, rows), (0, rows),
                                                                         (0, 0))]
    return ogr.CreateGeometryFromWkt("POLYGON ((" + ", ".join(f"{x!r} {y!r}" for x, y in corners) + "))")


def mask_polygons(probabilities: np.ndarray, transform: tuple, crs: str, rule: ClassRule) -> list[MaskPolygon]:
    """The polygons of ``probabilities >= 0.5`` on the grid ``transform`` / ``crs``, shaped by ``rule``."""
    gdal, ogr = require("osgeo.gdal"), require("osgeo.ogr")
    inside = (probabilities >= THRESHOLD).astype(np.uint8)
    if not inside.any():
        return []
    mask = _raster("mask", inside, transform, crs, gdal.GDT_Byte, 0)
    confidence = _raster("p", probabilities.astype(np.float32), transform, crs, gdal.GDT_Float32, None)
    found: list[MaskPolygon] = []
    try:
        with tempfile.TemporaryDirectory(prefix="dualstream-prompt-") as folder:
            out = Path(folder) / "mask.gpkg"
            write_polygons(mask, out, ["", "object"], scratch=Path(folder) / "scratch.gpkg", rules={1: rule},
                           confidence=confidence)
            source = ogr.Open(str(out))
            layer = source.GetLayer(0)
            metric = layer.FindFieldIndex(field_names(True)[0], True) >= 0
            area_field = field_names(metric)[0]
            frame = _frame(transform, probabilities.shape)
            for feature in layer:
                mean = feature.GetField("conf_mean")
                geometry = feature.GetGeometryRef()
                if not frame.Contains(geometry):  # a squared outline may reach past the window: the mask ends there
                    geometry = geometry.Intersection(frame)
                    if geometry is None or geometry.IsEmpty() or geometry.GetArea() <= 0:
                        continue
                    geometry = ogr.ForceToMultiPolygon(geometry)
                area = float(feature.GetField(area_field)) * geometry.GetArea() / feature.GetGeometryRef().GetArea()
                found.append(MaskPolygon(geometry.ExportToWkt(), area, None if mean is None else float(mean)))
            layer = source = None
    finally:
        gdal.Unlink(mask)
        gdal.Unlink(confidence)
    return found
