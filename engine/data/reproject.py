"""Reprojecting polygons (AOI, label layers, extents) with failures explained: which file, its CRS, and whether
its coordinates lie outside that CRS's area of use or cannot be carried into the image's CRS (PROJ alone says
"Invalid coordinate" or "Full reprojection failed")."""

from __future__ import annotations

import math
from typing import Any

from ..errors import DataError
from ..io.geopackage import spatial_ref
from .vector_layer import ogr_osr


def _to_wgs84(srs: Any) -> Any:
    """An osr.CoordinateTransformation from ``srs`` to WGS 84 (longitude, latitude order)."""
    _, osr = ogr_osr()
    return osr.CoordinateTransformation(srs, spatial_ref("EPSG:4326"))


def crs_label(srs: Any) -> str:
    """'EPSG:4326 (WGS 84)' for a SpatialReference; its name alone when it has no authority code."""
    if srs is None:
        return "no CRS"
    code, name = srs.GetAuthorityCode(None), srs.GetName() or "unnamed CRS"
    return f"{srs.GetAuthorityName(None)}:{code} ({name})" if code else name


def layer_crs_label(path: str) -> str:
    """The CRS of the first layer of vector file ``path``, as :func:`crs_label` says it ('unknown' if unreadable)."""
    ogr, _ = ogr_osr()
    try:
        ds = ogr.Open(str(path))
        return crs_label(ds.GetLayer(0).GetSpatialRef()) if ds is not None and ds.GetLayerCount() else "unknown"
    except RuntimeError:
        return "unknown"


def _lon_lat_box(geom: Any, srs: Any) -> tuple[float, float, float, float] | None:
    """(west, south, east, north) of ``geom`` (in ``srs``) in degrees; None when it cannot be had."""
    try:
        copy = geom.Clone()
        if not srs.IsGeographic() and copy.Transform(_to_wgs84(srs)) != 0:
            return None
        xmin, xmax, ymin, ymax = copy.GetEnvelope()
        return xmin, ymin, xmax, ymax
    except RuntimeError:
        return None


#: How far (degrees) a polygon may lie from the image and still be reprojected into the image's CRS.
NEAR_DEGREES = 1.0


def near_box(bounds: tuple[float, float, float, float], srs: Any) -> tuple[float, float, float, float] | None:
    """The image ``bounds`` (in ``srs``) as a lon/lat box grown by :data:`NEAR_DEGREES`; None when unknown (or
    across 180°, where the check is left out)."""
    try:
        west, south, east, north = bounds if srs.IsGeographic() else _to_wgs84(srs).TransformBounds(*bounds, 21)
    except RuntimeError:
        return None
    if not all(math.isfinite(v) for v in (west, south, east, north)) or west > east:
        return None
    return west - NEAR_DEGREES, south - NEAR_DEGREES, east + NEAR_DEGREES, north + NEAR_DEGREES


def is_far(geom: Any, srs: Any, near: tuple[float, float, float, float] | None) -> bool:
    """Whether ``geom`` (in ``srs``) lies wholly outside the lon/lat box ``near`` (:func:`near_box`). Such a polygon
    cannot cover the image, and reprojecting it into the image's CRS (a UTM zone half a world away) fails or
    gives coordinates that mean nothing."""
    if near is None or srs is None:
        return False
    box = _lon_lat_box(geom, srs)
    if box is None or _outside_area_of_use(box, srs):
        return False  # coordinates its own CRS cannot hold: the reprojection says what is wrong
    west, south, east, north = box
    return east < near[0] or west > near[2] or north < near[1] or south > near[3]


def _outside_area_of_use(box: tuple[float, float, float, float] | None, srs: Any) -> str:
    """Words saying how ``box`` (degrees) lies outside ``srs``'s area of use; '' when it does not (or unknown)."""
    if box is None:
        return ""
    west, south, east, north = box
    if not all(math.isfinite(v) for v in box) or south < -90 or north > 90 or west < -180 or east > 180:
        return (f"it reaches lon {west:g}..{east:g}, lat {south:g}..{north:g}, which are no valid "
                f"longitudes/latitudes")
    if (area := srs.GetAreaOfUse()) is None:
        return ""
    w, s, e, n = area.west_lon_degree, area.south_lat_degree, area.east_lon_degree, area.north_lat_degree
    lon_inside = (w <= west and east <= e) if w <= e else (west >= w or east <= e)  # e < w: across 180°
    return "" if lon_inside and s <= south and north <= n else (
        f"it (lon {west:g}..{east:g}, lat {south:g}..{north:g}) lies outside that CRS's area of use "
        f"({area.name}: lon {w:g}..{e:g}, lat {s:g}..{n:g})")


def coordinate_transform(src: Any, dst: Any, what: str) -> Any:
    """An osr.CoordinateTransformation ``src`` -> ``dst``; DataError naming ``what`` and both CRSs when PROJ
    knows no way between them (another body's CRS, an engineering CRS)."""
    _, osr = ogr_osr()
    try:
        return osr.CoordinateTransformation(src, dst)
    except RuntimeError as exc:
        raise DataError(f"The {what} is in {crs_label(src)}, which cannot be reprojected into the image's CRS "
                        f"{crs_label(dst)} (PROJ: {' '.join(str(exc).split())}); give it in the image's CRS or "
                        f"one PROJ can transform. Nothing was written.") from exc


def transform_geometry(geom: Any, transform: Any, src: Any, dst: Any, what: str) -> None:
    """``geom.Transform(transform)`` in place (``src`` -> ``dst``); DataError naming ``what`` (the file or setting
    and its role), its CRS and the cause when PROJ fails or gives coordinates that are not numbers."""
    before, cause = geom.Clone(), ""
    try:
        failed = geom.Transform(transform) != 0
    except RuntimeError as exc:
        failed, cause = True, " ".join(str(exc).split()).removeprefix("PROJ: ")
    if not failed and all(math.isfinite(v) for v in geom.GetEnvelope()):
        return
    outside = _outside_area_of_use(_lon_lat_box(before, src), src)
    said = f" (PROJ: {cause})" if cause else ""
    if outside:
        raise DataError(f"The {what} is in {crs_label(src)}, but {outside}{said}; check its CRS and its coordinates. "
                        f"Nothing was written.")
    raise DataError(f"The {what} (CRS {crs_label(src)}) cannot be reprojected into the image's CRS "
                    f"{crs_label(dst)}{said}: it lies too far from the area that CRS can represent; give an AOI "
                    f"over the image. Nothing was written.")
