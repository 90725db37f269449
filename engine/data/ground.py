"""Metres on the ground against a CRS's units: the one rule, for a model's pixel size, web windows, the ONNX
metadata and a bundle's description.

A projected CRS's unit is its linear unit (a metre, a foot: ``metres_per_unit``), true to scale in Transverse
Mercator (UTM) and the other projections a pixel size is given in; in Mercator (Web Mercator, EPSG:3857, and
Mercator_1SP/2SP) a unit is a metre at the equator only and cos(latitude) of one elsewhere. In a geographic CRS a
degree is :data:`METRES_PER_DEGREE` along the equator and cos(latitude) of that along a parallel: a sphere of the
WGS84 semi-major axis, as QGIS converts degrees and as Web Mercator is drawn, so the two agree exactly.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..io.geopackage import spatial_ref
from ..runtime.environment import require

#: Metres per degree along the equator: 2 pi 6378137 / 360 (QGIS's factor; Web Mercator's 20037508.34 m / 180).
METRES_PER_DEGREE = 111_319.49079327357
#: The kinds of unit a pixel size is in: metres (any linear unit), degrees, or pixels (imagery without a CRS).
METRES, DEGREES, PIXELS = "m", "deg", "px"


@dataclass(frozen=True)
class GroundUnit:
    """A CRS's unit on the ground: ``kind`` (:data:`METRES`, :data:`DEGREES` or :data:`PIXELS`), the metres of
    one linear unit, and whether the projection is Mercator (its units shrink by cos(latitude))."""

    kind: str = PIXELS
    metres_per_unit: float = 1.0
    mercator: bool = False

    def metres(self, size: float, latitude: float | None = None) -> float | None:
        """``size`` map units in metres on the ground at ``latitude`` (None: the equator); None without a CRS."""
        if self.kind == PIXELS:
            return None
        shrink = max(math.cos(math.radians(latitude or 0.0)), 1e-6)
        if self.kind == DEGREES:
            return size * METRES_PER_DEGREE * shrink
        return size * self.metres_per_unit * (shrink if self.mercator else 1.0)

    def square_metres(self, area: float, latitude: float | None = None) -> float | None:
        """``area`` square map units in square metres on the ground at ``latitude``; None without a CRS. A square
        degree shrinks by cos(latitude) once (along the parallel; a degree of latitude does not), a Mercator unit
        squared by cos(latitude) twice (it shrinks both ways)."""
        if self.kind == PIXELS:
            return None
        shrink = max(math.cos(math.radians(latitude or 0.0)), 1e-6)
        if self.kind == DEGREES:
            return area * METRES_PER_DEGREE ** 2 * shrink
        return area * self.metres_per_unit ** 2 * (shrink ** 2 if self.mercator else 1.0)


def _srs(crs: Any) -> Any:
    """``crs`` as an osr.SpatialReference (it may be one), axes in GIS order; None when GDAL cannot read it."""
    osr = require("osgeo.osr")
    if isinstance(crs, osr.SpatialReference):
        return crs
    srs = osr.SpatialReference()
    require("osgeo.gdal").PushErrorHandler("CPLQuietErrorHandler")  # a CRS GDAL cannot read has a rule below
    try:
        if srs.SetFromUserInput(str(crs)) != 0:
            return None
    except RuntimeError:
        return None
    finally:
        require("osgeo.gdal").PopErrorHandler()
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def ground_unit(crs: Any) -> GroundUnit:
    """The unit of ``crs`` (EPSG code, WKT, PROJ text, or an osr.SpatialReference) on the ground; no CRS: pixels.
    A CRS GDAL cannot read is taken by its WKT's first word (GEOGCS: degrees, else metres), as bundles always did."""
    if crs is None or (isinstance(crs, str) and not crs.strip()):
        return GroundUnit(PIXELS)
    return _unit_of_text(crs) if isinstance(crs, str) else _unit_of(crs)


def _unit_of(crs: Any) -> GroundUnit:
    if (srs := _srs(crs)) is None:
        return GroundUnit(DEGREES if str(crs).lstrip().upper().startswith("GEOG") else METRES)
    if srs.IsGeographic():
        return GroundUnit(DEGREES)
    projection = (srs.GetAttrValue("PROJECTION") or "").lower()
    mercator = projection.startswith("mercator") or "pseudo_mercator" in projection  # not Transverse Mercator
    return GroundUnit(METRES, float(srs.GetLinearUnits() or 1.0), mercator)


# a CRS given as text, remembered: a bundle's CRS is asked for several times for each scene of a bulk run, and
# reading a WKT into GDAL costs half a millisecond each time
_unit_of_text = functools.lru_cache(maxsize=64)(_unit_of)


def middle_latitude(crs: Any, bounds: tuple[float, float, float, float]) -> float:
    """The latitude (degrees) of the middle of ``bounds`` (xmin, ymin, xmax, ymax in ``crs``)."""
    srs = _srs(crs)
    if srs is None or srs.IsGeographic():
        return (bounds[1] + bounds[3]) / 2
    to_wgs84 = require("osgeo.osr").CoordinateTransformation(srs, spatial_ref("EPSG:4326"))
    _, latitude, _ = to_wgs84.TransformPoint((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
    return float(latitude)


def row_square_metres(crs: Any, transform: Any, width: int, height: int) -> np.ndarray | None:
    """The ground area (square metres) of one pixel of each of the ``height`` rows of a grid (``transform``, an
    affine.Affine, in ``crs``), measured at each row's latitude where the unit's size depends on it (degrees,
    Mercator): a grid of many rows in degrees holds less ground towards the pole. None without a CRS."""
    unit = ground_unit(crs)
    if unit.kind == PIXELS:
        return None
    area = abs(transform.a * transform.e - transform.b * transform.d)
    if not (unit.kind == DEGREES or unit.mercator):
        return np.full(height, unit.square_metres(area))
    rows = np.arange(height) + 0.5
    xs = transform.c + transform.a * width / 2 + transform.b * rows
    ys = transform.f + transform.d * width / 2 + transform.e * rows
    srs = _srs(crs)
    if srs is not None and not srs.IsGeographic():
        to_wgs84 = require("osgeo.osr").CoordinateTransformation(srs, spatial_ref("EPSG:4326"))
        ys = np.array([point[1] for point in to_wgs84.TransformPoints(np.column_stack([xs, ys]).tolist())])
    shrink = np.maximum(np.cos(np.radians(ys)), 1e-6)
    return unit.square_metres(area) * shrink ** (2 if unit.mercator else 1)


def map_units_per_metre(crs: Any, bounds: tuple[float, float, float, float]) -> float:
    """How many of ``crs``'s map units make one metre on the ground at the middle of ``bounds`` (1 without a CRS)."""
    unit = ground_unit(crs)
    return 1.0 / (unit.metres(1.0, middle_latitude(crs, bounds) if unit.kind == DEGREES or unit.mercator else None)
                  or 1.0)


def scenes_latitude(crs: Any, bounds: Sequence[tuple[float, float, float, float]]) -> float | None:
    """The latitude a pixel size in ``crs`` is measured at over scenes of ``bounds``: the mean of their middle
    latitudes (degrees, 4 decimals) where the unit's metres on the ground depend on it (Mercator, degrees); None
    for any other CRS."""
    unit = ground_unit(crs)
    if not bounds or not (unit.kind == DEGREES or unit.mercator):
        return None
    return round(sum(middle_latitude(crs, tuple(b)) for b in bounds) / len(bounds), 4)
