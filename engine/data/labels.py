"""Labels from rasters (value mapping, nodata) or vector polygons (reprojected, rasterised per tile).

Also the region restriction of a scene (an extent and/or area-of-interest polygons): label pixels
outside it become the ignore index.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..callbacks import QuietCallback
from ..errors import DataError, mention
from ..io.writers import class_raster_type
from .raster import RasterGrid
from .reproject import NEAR_DEGREES, coordinate_transform, is_far, near_box, transform_geometry
from .units import as_float
from .vector_layer import VectorLayer, ogr_osr


def raw_key(value: Any) -> str:
    """Canonical string of a raw label value, as used for ``label_mapping`` keys (90.0 -> "90")."""
    whole = isinstance(value, (float, np.floating)) and float(value).is_integer()
    return str(int(value)) if whole or isinstance(value, np.integer) else str(value)


ARROW = " → "  # between the two classes of a transition's name (from-to classes: "forest → bare")
ARROWS = ("→", "->")


def transition_name(before: str, after: str) -> str:
    return f"{before}{ARROW}{after}"


def transition_of(name: str) -> tuple[str, str]:
    """(from, to) of a class named ``from → to`` (or ``from -> to``); ("", "") for another name."""
    for arrow in ARROWS:
        if arrow in name:
            before, _, after = name.partition(arrow)
            return before.strip(), after.strip()
    return "", ""


def transition_key(before: Any, after: Any) -> str | None:
    """The raw value of a from-to polygon: ``BEFORE → AFTER`` of its two classes; None when they are the same (no
    change, class 0)."""
    first, last = raw_key(before), raw_key(after)
    return None if first == last else transition_name(first, last)


def layer_transitions(path: str, field: str, after_field: str) -> list[str]:
    """Every transition (``BEFORE → AFTER``, the two the same left out) of a from-to polygon layer, sorted."""
    opened = VectorLayer(path, "label layer")  # holds the data source the layer lives in
    _check_fields(opened.layer, path, "label layer", field, after_field)
    pairs = [(f.GetField(field), f.GetField(after_field)) for f in opened.layer]
    check_both_classes(path, field, after_field, pairs)
    return sorted(key for key in {transition_key(*pair) for pair in pairs} if key is not None)


def check_both_classes(path: str, field: str, after_field: str, pairs: list[tuple[Any, Any]]) -> None:
    """DataError naming the layer and its fields where a from-to polygon has no class before or after (NULL): it
    would become a class "0 → None", or be read as no change."""
    empty = sum(before is None or after is None for before, after in pairs)
    if empty:
        raise DataError(f"The label layer '{path}' has {empty} polygon(s) whose class before ('{field}') or after "
                        f"('{after_field}') is empty (NULL); a from-to class needs both. Fill them in, or delete those "
                        f"polygons (in QGIS: select by expression \"{field}\" IS NULL OR \"{after_field}\" IS "
                        f"NULL).")


def _check_fields(layer: Any, path: str, role: str, *fields: str | None) -> None:
    defn = layer.GetLayerDefn()
    for field in fields:
        if field is not None and defn.GetFieldIndex(field) < 0:
            names = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
            raise DataError(f"The {role} '{path}' has no field '{field}'; its fields are {names}.")


class LabelMapper:
    """Maps raw label values to classes: ``mapping`` {raw: class}, others -> ``default_class``. With ``mapping=None``
    the raw values are the classes (0..255; up to ``classes - 1`` past 255 classes, UInt16 like the class raster)."""

    def __init__(self, mapping: dict[str, int] | None, default_class: int, ignore_index: int, path: str, classes: int):
        self.dtype = np.dtype(class_raster_type(max(int(classes), int(ignore_index), 255))[0])
        self.highest = 255 if self.dtype == np.uint8 else 65535
        self.mapping = None if mapping is None else {str(k): int(v) for k, v in mapping.items()}
        self.default_class = int(default_class)
        self.ignore_index = int(ignore_index)
        self.path = path
        # text keys (NaN here) only apply to vector attribute values
        keyed = [(as_float(key), cls) for key, cls in (self.mapping or {}).items()]
        self._numeric = [(value, cls) for value, cls in keyed if not np.isnan(value)]
        for cls in [self.default_class, *(self.mapping or {}).values()]:
            if not 0 <= cls <= self.highest:
                raise DataError(f"label class {cls} for '{path}' is outside 0..{self.highest}; use small class "
                                f"numbers.")

    def map_raster(self, raw: np.ndarray, valid: np.ndarray, strict: bool = True) -> np.ndarray:
        """Classes (uint8, or uint16 past 255 classes) of raw raster values; invalid pixels -> ignore index.
        Values that are no class number (without a mapping) are refused, or with ``strict=False`` (the label scan,
        which lists them itself) ignored."""
        if self.mapping is None:
            bad = valid & ((raw < 0) | (raw > self.highest) | (raw != np.floor(raw)))
            if bad.any() and not strict:
                valid = valid & ~bad
            elif bad.any():
                values = np.unique(raw[bad])[:10]
                raise DataError(f"The label raster '{self.path}' has values {values.tolist()} that are not class "
                                f"numbers 0..{self.highest}; give a {mention('data.label_mapping')} from raw values "
                                f"to classes.")
            out = np.where(valid, raw, 0).astype(self.dtype)
        else:
            out = np.full(raw.shape, self.default_class, dtype=self.dtype)
            for value, cls in self._numeric:
                out[raw == value] = cls
        out[~valid] = self.ignore_index
        return out

    def map_value(self, value: Any) -> int:
        """Class of one raw vector attribute value."""
        if self.mapping is None:
            try:
                number = float(value)
            except (TypeError, ValueError) as exc:
                raise DataError(f"The label layer '{self.path}' has the non-numeric class value {value!r}; give a "
                                f"{mention('data.label_mapping')} from its values to class numbers (e.g. "
                                f"{value}=1).") from exc
            if not number.is_integer() or not 0 <= number <= self.highest:
                raise DataError(f"The label layer '{self.path}' has the value {value!r}, not a class "
                                f"0..{self.highest}; give a {mention('data.label_mapping')}.")
            return int(number)
        return self.mapping.get(raw_key(value), self.default_class)


def srs_from_crs(crs: Any) -> Any:
    """An osr.SpatialReference (traditional x/y axis order) from a rasterio CRS, WKT or 'EPSG:n' string."""
    _, osr = ogr_osr()
    srs = osr.SpatialReference()
    srs.SetFromUserInput(crs.to_wkt() if hasattr(crs, "to_wkt") else str(crs))
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


@dataclass
class VectorShape:
    """One polygon feature in the image CRS: GeoJSON geometry, raw attribute value, envelope."""

    geometry: dict
    value: Any
    bbox: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax


def read_polygons(path: str, target_crs: Any, field: str | None = None, role: str = "label layer", callback: Any = None,
                  near: tuple[float, float, float, float] | None = None,
                  after_field: str | None = None) -> tuple[list[VectorShape], int]:
    """Polygons of ``path`` (one vector layer; ``file.gpkg|layername=NAME`` names one of several), reprojected
    to ``target_crs`` (None = no reprojection), and how many were left out as far from ``near`` (the image's
    bounds in ``target_crs``: one layer for scenes in UTM zones far apart), with a warning, instead of reprojected.

    A file with several layers and none named is refused with their names: reading the first would be a silent
    guess. Non-polygon features are skipped with a warning; a missing ``field`` raises DataError listing the fields.
    ``after_field``: from-to labels, each polygon's value the pair (``field``'s, ``after_field``'s).
    """
    ogr, osr = ogr_osr()
    callback = callback or QuietCallback()
    opened = VectorLayer(path, role)
    layer, subset = opened.layer, opened.subset
    _check_fields(layer, path, role, field, after_field)
    src_srs = layer.GetSpatialRef()
    transform = near_lon_lat = None
    if target_crs is not None:
        dst_srs = srs_from_crs(target_crs)
        if src_srs is None:
            callback.warning(f"The {role} '{path}' has no CRS; assuming it is in the image CRS.")
        else:
            src_srs = src_srs.Clone()
            src_srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
            if not src_srs.IsSame(dst_srs):
                transform = coordinate_transform(src_srs, dst_srs, f"{role} '{path}'")
                near_lon_lat = near_box(near, dst_srs) if near is not None else None
    shapes: list[VectorShape] = []
    skipped = repaired = far = 0
    polygon_types = (ogr.wkbPolygon, ogr.wkbMultiPolygon)
    for feature in layer:
        geom = feature.GetGeometryRef()
        if geom is None or geom.IsEmpty():
            continue
        geom = geom.GetLinearGeometry() if geom.HasCurveGeometry() else geom.Clone()
        fixed = _repaired(geom)
        if fixed is not None:
            geom, repaired = fixed, repaired + 1
        if ogr.GT_Flatten(geom.GetGeometryType()) == ogr.wkbGeometryCollection:
            multi = ogr.Geometry(ogr.wkbMultiPolygon)
            for part in [geom.GetGeometryRef(i).Clone() for i in range(geom.GetGeometryCount())]:
                if ogr.GT_Flatten(part.GetGeometryType()) == ogr.wkbPolygon:
                    multi.AddGeometry(part)
            geom = multi
        if ogr.GT_Flatten(geom.GetGeometryType()) not in polygon_types or geom.IsEmpty():
            skipped += 1
            continue
        if transform is not None:
            if is_far(geom, src_srs, near_lon_lat):
                far += 1
                continue
            transform_geometry(geom, transform, src_srs, dst_srs, f"{role} '{path}'")
        xmin, xmax, ymin, ymax = geom.GetEnvelope()
        value = feature.GetField(field) if field is not None else 1
        if after_field is not None:
            value = (value, feature.GetField(after_field))
        shapes.append(VectorShape(json.loads(geom.ExportToJson()), value, (xmin, ymin, xmax, ymax)))
    if subset is not None:
        callback.info(f"The {role} '{path}': {len(shapes) + far} polygon(s) pass its filter '{subset}'.")
    for count, said in ((skipped, "non-polygon feature(s) ignored (only polygons are used)"),
                        (far, f"polygon(s) lie too far from the image (more than {NEAR_DEGREES:g}° from it) to cover "
                              f"it; they are left out for this image"),
                        (repaired, "invalid polygon(s) (self-intersections, bad rings) were repaired before use; fix "
                                   "them in the layer to be sure they mean what you drew")):
        if count:
            callback.warning(f"The {role} '{path}': {count} {said}.")
    return shapes, far


def _repaired(geom: Any) -> Any:
    """A valid version of an invalid polygon (GEOS MakeValid, else buffer(0)); None when it was valid."""
    from osgeo import gdal

    gdal.PushErrorHandler("CPLQuietErrorHandler")  # GEOS reports every self-intersection as a warning
    try:
        if geom.IsValid():
            return None
        try:
            fixed = geom.MakeValid()
        except (AttributeError, RuntimeError):  # GDAL < 3.0 or GEOS < 3.8
            fixed = None
        return fixed if fixed is not None and not fixed.IsEmpty() else geom.Buffer(0)
    finally:
        gdal.PopErrorHandler()


def rasterize_shapes(shapes: list[tuple[VectorShape, int]], grid: RasterGrid, dtype: Any = np.uint8) -> np.ndarray:
    """Burn (shape, value) pairs onto ``grid`` (pixel centres inside, later shapes on top; 0 elsewhere) as ``dtype``
    (uint8, or uint16 for the classes of a model of more than 255, which uint8 would wrap)."""
    from rasterio.features import rasterize

    xmin, ymin, xmax, ymax = grid.bounds
    chosen = [(s.geometry, int(v)) for s, v in shapes
              if s.bbox[0] <= xmax and s.bbox[2] >= xmin and s.bbox[1] <= ymax and s.bbox[3] >= ymin]
    if not chosen or grid.width == 0 or grid.height == 0:
        return np.zeros((grid.height, grid.width), dtype=dtype)
    return rasterize(chosen, out_shape=(grid.height, grid.width), transform=grid.transform, fill=0,
                     all_touched=False, dtype=np.dtype(dtype).name)


def _box(shapes: list[tuple[VectorShape, int]]) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) around the boxes of (shape, value) pairs."""
    boxes = np.array([s.bbox for s, _ in shapes])
    return (boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max())


class VectorLabels:
    """Polygon labels reprojected once to the image CRS and rasterised onto any tile grid."""

    def __init__(self, path: str, image_crs: Any, mapper: LabelMapper, field: str | None, callback: Any,
                 near: tuple[float, float, float, float] | None = None, after_field: str | None = None):
        if after_field is not None and field is None:
            raise DataError(f"The label layer '{path}': an after-class field ('{after_field}') needs the class field "
                            f"of the class before; give both (from-to classes).")
        shapes, self.far = read_polygons(path, image_crs, field, "label layer", callback, near, after_field)
        if after_field:
            check_both_classes(path, field, after_field, [s.value for s in shapes])
        keys = [transition_key(*s.value) if after_field else raw_key(s.value) for s in shapes]  # None: no change
        mapping = mapper.mapping
        if after_field and mapping is not None:  # "a -> b" and "a → b" are one transition
            mapping = {transition_name(*transition_of(k)) if transition_of(k)[0] else k: v for k, v in mapping.items()}

        def class_of(shape: VectorShape, key: str | None) -> int:
            if field is None:
                return 1
            if not after_field:
                return mapper.map_value(shape.value)
            if key is None:  # the same class before and after
                return 0
            return mapping.get(key, mapper.default_class) if mapping is not None else mapper.map_value(key)

        self.shapes = [(s, class_of(s, key)) for s, key in zip(shapes, keys)]
        self.dtype = mapper.dtype
        if field is not None and mapping is not None:
            unmapped = sorted({k for k in keys if k is not None and k not in mapping})
            if unmapped:  # a typo in the mapping would otherwise silently relabel those polygons
                count = sum(k is not None and k not in mapping for k in keys)
                what = f"transition ({field} → {after_field})" if after_field else f"'{field}' value"
                shown = ", ".join(f"'{k}'" if k else "(empty)" for k in unmapped[:10])
                callback.warning(
                    f"The label layer '{path}' has {count} polygon(s) whose {what} is not in the "
                    f"{mention('data.label_mapping')} ({shown}{', ...' if len(unmapped) > 10 else ''}); they become "
                    f"class {mapper.default_class}. Add those values to it if that is wrong (=255: unlabelled).")
        if not self.shapes:
            callback.warning(f"The label layer '{path}' has no polygons; every labelled pixel will be background.")

    def bounds(self) -> tuple[float, float, float, float] | None:
        return _box(self.shapes) if self.shapes else None

    def rasterize(self, grid: RasterGrid) -> np.ndarray:
        """Classes (the mapper's type) on ``grid``; pixels outside every polygon are class 0."""
        return rasterize_shapes(self.shapes, grid, dtype=self.dtype)


class RegionMask:
    """The part of a scene to use: an extent [xmin, ymin, xmax, ymax] (in ``extent_crs``) and/or AOI polygons."""

    def __init__(self, image_crs: Any, extent: list[float] | None = None, extent_crs: Any = None,
                 aoi: str | None = None, callback: Any = None, near: tuple[float, float, float, float] | None = None,
                 role: str = "area-of-interest layer", if_empty: str | None = "give a polygon layer"):
        """``role``: what the ``aoi`` layer is, in messages; ``if_empty``: the advice when it holds no polygon
        (None: an empty layer is an empty region, as a labelled area before anything is labelled)."""
        self.parts: list[list[tuple[VectorShape, int]]] = []
        if extent is not None:
            self.parts.append([(self._extent_shape(extent, extent_crs, image_crs), 1)])
        if aoi is not None:
            shapes, far = read_polygons(aoi, image_crs, None, role, callback, near)
            if not shapes and not far and if_empty is not None:
                raise DataError(f"The {role} '{aoi}' has no polygons; {if_empty}.")
            self.parts.append([(s, 1) for s in shapes])

    @staticmethod
    def _extent_shape(extent: list[float], extent_crs: Any, image_crs: Any) -> VectorShape:
        ogr, osr = ogr_osr()
        xmin, ymin, xmax, ymax = (float(v) for v in extent)
        ring = f"POLYGON(({xmin} {ymin},{xmax} {ymin},{xmax} {ymax},{xmin} {ymax},{xmin} {ymin}))"
        geom = ogr.CreateGeometryFromWkt(ring)
        if extent_crs is not None and image_crs is not None:
            src, dst = srs_from_crs(extent_crs), srs_from_crs(image_crs)
            if not src.IsSame(dst):
                geom.Segmentize(max(xmax - xmin, ymax - ymin) / 50.0)  # curved edges after reprojection
                what = f"extent {list(extent)} ({mention('segment.extent_crs')} {extent_crs})"
                transform_geometry(geom, coordinate_transform(src, dst, what), src, dst, what)
        gx0, gx1, gy0, gy1 = geom.GetEnvelope()
        return VectorShape(json.loads(geom.ExportToJson()), 1, (gx0, gy0, gx1, gy1))

    @property
    def active(self) -> bool:
        return bool(self.parts)

    @property
    def empty(self) -> bool:
        """Whether a part holds no polygon over the image (its AOI polygons all lie far away): nothing is inside."""
        return any(not part for part in self.parts)

    def bounds(self) -> tuple[float, float, float, float] | None:
        """Bounding box of the region (intersection of the parts' boxes) in the image CRS."""
        if not self.parts or self.empty:
            return None
        boxes = np.array([_box(part) for part in self.parts])
        return (*boxes[:, :2].max(axis=0), *boxes[:, 2:].min(axis=0))

    def mask(self, grid: RasterGrid) -> np.ndarray:
        """True where a pixel centre lies inside the region (every part); all True without a region."""
        inside = np.ones((grid.height, grid.width), dtype=bool)
        for part in self.parts:
            inside &= rasterize_shapes(part, grid) > 0
        return inside
