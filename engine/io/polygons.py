"""A class raster's regions as attributed polygons in a GeoPackage layer, in bounded memory.

GDAL's Polygonize traces the whole raster at once (no feature cut at a seam) into a scratch GeoPackage on disk; the
features are then read back one at a time, reshaped per class (:mod:`engine.io.outlines`), filtered by each class's
minimum area, their small holes filled, and written with their attributes (:func:`fields`; area and perimeter in
metres where the CRS has metres, the confidence read window by window). Memory follows the largest polygon, not the
scene (bench/bench_polygons.py measures it on an 8192^2 raster).
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..callbacks import Callback, Stage
from ..errors import DataError
from ..runtime.environment import require
from . import outlines
from .atomic import temporary_path, uninterrupted
from .geopackage import create_layer, new_geopackage, spatial_ref
from .writers import commit_file, gdal_errors, remove_quietly, writing

TREATMENTS = ("regularise", "smooth", "as_is")
STRIP_PIXELS = 1 << 22  # a large polygon's pixels are read in strips of about this many pixels


@dataclass(frozen=True)
class ClassRule:
    """How one class's polygons are made: ``treatment`` (one of :data:`TREATMENTS`), ``min_area`` (polygons smaller
    are left out) and ``fill_holes`` (holes smaller are filled, with what lies in them), both in the layer's area
    unit (m² where the CRS has metres)."""

    treatment: str = "as_is"
    min_area: float = 0.0
    fill_holes: float = 0.0


@dataclass(frozen=True)
class FeatureTags:
    """The attributes every feature of one scene shares."""

    model: str = ""
    model_sha256: str = ""
    scene: str = ""


def field_names(metric: bool) -> tuple[str, str]:
    """The area and perimeter fields, named by their unit."""
    return ("area_m2", "perimeter_m") if metric else ("area_map_units", "perimeter_map_units")


def fields(metric: bool, class_fields: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(name, OGR type name) of the layer's fields (``class_fields``: text fields of each class, after its name: a
    change raster's ``from_class`` and ``to_class``)."""
    area, perimeter = field_names(metric)
    return [("class_id", "OFTInteger"), ("class_name", "OFTString"), *((name, "OFTString") for name in class_fields),
            ("treatment", "OFTString"), (area, "OFTReal"), (perimeter, "OFTReal"), ("conf_mean", "OFTReal"),
            ("conf_min", "OFTReal"), ("model", "OFTString"), ("model_sha256", "OFTString"), ("scene", "OFTString")]


def polygonize(raster: str | os.PathLike, destination: str | os.PathLike, class_names: Sequence[str],
               **options: Any) -> int:
    """:func:`write_polygons` into a temp file renamed onto ``destination`` when complete; returns the count."""
    destination = Path(destination)
    tmp = temporary_path(destination, ".gpkg")
    scratch = temporary_path(destination, ".gpkg")
    try:
        count = write_polygons(raster, tmp, class_names, layer_name=options.pop("layer_name", destination.stem),
                               scratch=scratch, **options)
        commit_file(tmp, destination)
    except BaseException:
        remove_quietly(tmp)
        raise
    finally:
        remove_quietly(scratch)
    return count


class _Grid:
    """The raster's pixel grid: pixel <-> map coordinates, pixel area, metres per map unit (None: no metres)."""

    def __init__(self, dataset: Any):
        self.transform = dataset.GetGeoTransform()
        self.inverse = require("osgeo.gdal").InvGeoTransform(self.transform)
        if self.inverse is None:
            raise DataError("The class raster's geotransform cannot be inverted; give it a valid georeferencing.")
        x0, dx, rx, y0, ry, dy = self.transform
        self.pixel_area = abs(dx * dy - rx * ry)
        self.srs = spatial_ref(dataset.GetProjection())
        self.metres = float(self.srs.GetLinearUnits()) if self.srs is not None and self.srs.IsProjected() else None

    def to_pixels(self, ring: np.ndarray) -> np.ndarray:
        return np.rint(self.to_map(ring, self.inverse))

    def to_map(self, ring: np.ndarray, transform: Any = None) -> np.ndarray:
        a, b, c, d, e, f = transform or self.transform
        return np.column_stack([a + b * ring[:, 0] + c * ring[:, 1], d + e * ring[:, 0] + f * ring[:, 1]])

    def area(self, pixels: float) -> float:
        """Pixels -> the layer's area unit."""
        return pixels * self.pixel_area * (self.metres ** 2 if self.metres else 1.0)


def areal(geometry: Any, ogr: Any) -> Any:
    """``geometry`` as a MultiPolygon, keeping only its areas: making a self-touching outline valid can give a
    collection of polygons and the lines or points where it touched itself, which have no area (and no boundary)."""
    if geometry is None or ogr.GT_Flatten(geometry.GetGeometryType()) != ogr.wkbGeometryCollection:
        return None if geometry is None else ogr.ForceToMultiPolygon(geometry)
    areas = ogr.Geometry(ogr.wkbMultiPolygon)
    for i in range(geometry.GetGeometryCount()):
        part = geometry.GetGeometryRef(i)
        if ogr.GT_Flatten(part.GetGeometryType()) in (ogr.wkbPolygon, ogr.wkbMultiPolygon):
            for polygon in ([part] if ogr.GT_Flatten(part.GetGeometryType()) == ogr.wkbPolygon else
                            [part.GetGeometryRef(j) for j in range(part.GetGeometryCount())]):
                areas.AddGeometry(polygon)
    return areas


def rings_of(wkb: bytes) -> list[np.ndarray]:
    """The rings of a WKB polygon (exterior first), without their closing vertex."""
    order = "<" if wkb[0] == 1 else ">"
    count = struct.unpack_from(order + "I", wkb, 5)[0]
    offset, rings = 9, []
    for _ in range(count):
        n = struct.unpack_from(order + "I", wkb, offset)[0]
        offset += 4
        rings.append(np.frombuffer(wkb, order + "f8", 2 * n, offset).reshape(n, 2)[:-1].astype(np.float64))
        offset += 16 * n
    return rings


def multipolygon_wkb(polygons: list[list[np.ndarray]]) -> bytes:
    """A WKB multipolygon of ``polygons`` (each a list of rings, exterior first; rings not closed)."""
    parts = [struct.pack("<BII", 1, 6, len(polygons))]
    for rings in polygons:
        parts.append(struct.pack("<BII", 1, 3, len(rings)))
        for ring in rings:
            closed = np.vstack([ring, ring[:1]]).astype("<f8")
            parts += [struct.pack("<I", len(closed)), closed.tobytes()]
    return b"".join(parts)


class _Confidence:
    """Mean and minimum confidence of a region's pixels, read window by window."""

    def __init__(self, path: str | os.PathLike | None, width: int, height: int):
        self.band = self.dataset = None
        if path is None:
            return
        self.dataset = require("osgeo.gdal").Open(str(path))
        if (self.dataset.RasterXSize, self.dataset.RasterYSize) != (width, height):
            raise DataError(f"The confidence raster '{path}' is {self.dataset.RasterXSize}x"
                            f"{self.dataset.RasterYSize} pixels, the class raster {width}x{height}; give the "
                            f"confidence raster written with it (same grid).")
        self.band = self.dataset.GetRasterBand(1)
        self.scale = self.band.GetScale() or 1.0
        self.offset = self.band.GetOffset() or 0.0
        self.nodata = self.band.GetNoDataValue()

    def stats(self, rings: list[np.ndarray], x0: int, y0: int, cols: int, rows: int) -> tuple[float | None, ...]:
        if self.band is None:
            return None, None
        total, count, low = 0.0, 0, math.inf
        local = [ring - (x0, y0) for ring in rings]
        step = max(1, STRIP_PIXELS // max(cols, 1))
        for top in range(0, rows, step):
            n = min(step, rows - top)
            inside = outlines.region_mask(local, (n, cols), top)
            values = self.band.ReadAsArray(x0, y0 + top, cols, n)
            valid = inside & (values != self.nodata) if self.nodata is not None else inside
            if np.issubdtype(values.dtype, np.floating):
                valid &= ~np.isnan(values)
            picked = values[valid].astype(np.float64)
            if picked.size:
                total += float(picked.sum())
                count += picked.size
                low = min(low, float(picked.min()))
        if not count:
            return None, None
        return total / count * self.scale + self.offset, low * self.scale + self.offset


def _reshaped(rings: list[np.ndarray], rule: ClassRule, grid: _Grid, band: Any = None) -> list[np.ndarray]:
    """The polygon's pixel rings after its class's hole filling and treatment (``band``: the class raster's, where
    smoothing finds the points where three classes meet)."""
    exterior = rings[0]
    if rule.fill_holes > 0:
        rings = [exterior] + [h for h in rings[1:] if grid.area(abs(outlines.ring_area(h))) >= rule.fill_holes]
    if rule.treatment == "regularise":
        kept = outlines.drop_repeats(exterior)
        angle = outlines.dominant_angle([kept[outlines.simplified(kept, 1.0)]])
        rings = [outlines.regularise(ring, angle) for ring in rings]
    elif rule.treatment == "smooth":
        x0, y0, x1, y1 = map(int, (*exterior.min(axis=0), *exterior.max(axis=0)))
        window = _class_window(band, x0 - 1, y0 - 1, x1 - x0 + 2, y1 - y0 + 2)
        dense = [outlines.densify(outlines.drop_repeats(ring)) for ring in rings]
        rings = [outlines.smooth(ring, outlines.junctions(ring, window, x0, y0)) for ring in dense]
    else:
        rings = [outlines.drop_repeats(ring) for ring in rings]
    return rings[:1] + [h for h in rings[1:] if len(h) >= 3]


def _class_window(band: Any, x: int, y: int, cols: int, rows: int) -> np.ndarray:
    """The class raster's pixels in the window, -1 outside the raster."""
    out = np.full((rows, cols), -1, np.int64)
    left, top = max(x, 0), max(y, 0)
    right, bottom = min(x + cols, band.XSize), min(y + rows, band.YSize)
    if right > left and bottom > top:
        out[top - y:bottom - y, left - x:right - x] = band.ReadAsArray(left, top, right - left, bottom - top)
    return out


def _swallowed(raw_path: str | os.PathLike, rules: Mapping[int, ClassRule], grid: _Grid, ogr: Any,
               wanted: set[int] | None) -> set[int]:
    """The features lying in a hole that its class's ``fill_holes`` fills (they go with the hole). Only a written
    class has holes: a class left out (the background) is no polygon, and what lies in it is no hole of one."""
    filling = {c for c, rule in rules.items() if rule.fill_holes > 0 and (wanted is None or c in wanted)}
    if not filling:
        return set()
    found: set[int] = set()
    source = ogr.Open(str(raw_path))
    probe = ogr.Open(str(raw_path))
    layer, query = source.GetLayer(0), probe.GetLayer(0)
    for feature in layer:
        class_id = feature.GetFieldAsInteger(0)
        if class_id not in filling:
            continue
        for hole in rings_of(feature.GetGeometryRef().ExportToWkb())[1:]:
            if grid.area(abs(outlines.ring_area(grid.to_pixels(hole)))) >= rules[class_id].fill_holes:
                continue
            area = ogr.CreateGeometryFromWkb(multipolygon_wkb([[hole]]))
            query.SetSpatialFilter(area)
            found.update(inner.GetFID() for inner in query
                         if inner.GetFID() != feature.GetFID() and inner.GetGeometryRef().Within(area))
            query.SetSpatialFilter(None)
    layer = query = source = probe = None
    return found


def _outline(ogr: Any, rings: list[Any], rule: ClassRule, grid: Any, band: Any, simplify: float) -> Any | None:
    """One traced polygon drawn as its class's treatment says, in map units; None when no valid area is left."""
    shaped = [grid.to_map(r) for r in _reshaped(rings, rule, grid, band)]
    geometry = ogr.CreateGeometryFromWkb(multipolygon_wkb([shaped]))
    if rule.treatment == "as_is" and simplify > 0:
        geometry = ogr.ForceToMultiPolygon(geometry.SimplifyPreserveTopology(simplify))
    elif rule.treatment == "smooth" and not geometry.IsValid():  # thinner than the averaging: its corners cut
        geometry = ogr.CreateGeometryFromWkb(multipolygon_wkb([[grid.to_map(outlines.chaikin(r)) for r in rings]]))
    if rule.treatment != "as_is" and not geometry.IsValid():
        geometry = areal(geometry.MakeValid(), ogr)
    return None if geometry is None or geometry.IsEmpty() or geometry.GetArea() <= 0 else geometry


def write_polygons(raster: str | os.PathLike, path: str | os.PathLike, class_names: Sequence[str], *,
                   scratch: str | os.PathLike, layer_name: str = "polygons", classes: Sequence[int] | None = None,
                   rules: Mapping[int, ClassRule] | None = None, simplify: float = 0.0,
                   confidence: str | os.PathLike | None = None, tags: FeatureTags = FeatureTags(),
                   class_fields: Mapping[str, Sequence[str]] | None = None, callback: Callback | None = None) -> int:
    """Write the polygons of ``raster`` (band 1, its valid pixels, 4-connected) to a new GeoPackage at ``path``
    (no temp/rename; ``scratch``: where the traced outlines wait, removed by the caller); returns the count.
    ``classes``: those to write (default all); ``rules``: per class (default ``as_is``, no minimum); ``simplify``:
    a Douglas-Peucker tolerance (map units) for ``as_is``; ``confidence``: a raster on the same grid for
    ``conf_mean`` and ``conf_min``; ``class_fields``: text fields and each class's value of them."""
    gdal, ogr = require("osgeo.gdal"), require("osgeo.ogr")
    callback = callback or Callback()
    wanted = None if classes is None else {int(c) for c in classes}
    rules = dict(rules or {})
    written = 0
    with gdal_errors(gdal):
        src = gdal.Open(str(raster))
        band = src.GetRasterBand(1)
        grid = _Grid(src)
        stats = _Confidence(confidence, src.RasterXSize, src.RasterYSize)

        def _progress(done: float, _message: Any, _data: Any) -> int:
            callback.progress(0.5 * done, 1.0, Stage.POLYGONIZE)
            return 0 if callback.is_canceled() or stop else 1

        # Ctrl+C or SIGTERM stop GDAL through _progress and the loop below, then end the run once the files are
        # closed (raised inside GDAL's callback, they would print a traceback; raised while the scratch file is
        # open, GDAL would close it, creating its deferred table, after the caller removed it: an SQLite error)
        with uninterrupted() as stop:
            try:
                raw_source = new_geopackage(scratch, "polygons' scratch file")
                raw = create_layer(raw_source, "raw", grid.srs, [("class_id", "OFTInteger")], "Polygon",
                                   spatial_index=any(r.fill_holes > 0 for r in rules.values()))
                raw.StartTransaction()
                gdal.Polygonize(band, band.GetMaskBand(), raw, 0, [], callback=_progress)
                raw.CommitTransaction()
                total = raw.GetFeatureCount()
            except RuntimeError:
                if not stop:
                    callback.check_canceled()  # GDAL reports a user interrupt as an error
                    raise
            finally:  # closed here, not at garbage collection after the caller removed the scratch file
                raw = raw_source = None
            if stop:
                return 0  # leaving the block raises the interrupt
            callback.check_canceled()
            swallowed = _swallowed(scratch, rules, grid, ogr, wanted)
            with writing(path):  # a full disk may only show when SQLite commits or the file is closed
                out = new_geopackage(path, "polygons")
                try:
                    class_fields = dict(class_fields or {})
                    layer = create_layer(out, layer_name, grid.srs, fields(grid.metres is not None, list(class_fields)))
                    definition = layer.GetLayerDefn()
                    area_field, perimeter_field = field_names(grid.metres is not None)
                    source = ogr.Open(str(scratch))
                    reader = source.GetLayer(0)
                    layer.StartTransaction()
                    for count, feature in enumerate(reader):
                        if count % 1000 == 0:
                            callback.progress(0.5 + 0.5 * count / max(total, 1), 1.0, Stage.POLYGONIZE)
                            callback.check_canceled()
                            if stop:
                                break
                        class_id = feature.GetFieldAsInteger(0)
                        if (wanted is not None and class_id not in wanted) or feature.GetFID() in swallowed:
                            continue
                        rule = rules.get(class_id, ClassRule())
                        rings = [grid.to_pixels(r) for r in rings_of(feature.GetGeometryRef().ExportToWkb())]
                        pixels = abs(outlines.ring_area(rings[0])) - sum(abs(outlines.ring_area(h))
                                                                         for h in rings[1:])
                        if grid.area(pixels) < rule.min_area:
                            continue
                        x0, y0, x1, y1 = map(int, (*rings[0].min(axis=0), *rings[0].max(axis=0)))
                        mean, low = stats.stats(rings, x0, y0, x1 - x0, y1 - y0)
                        geometry = _outline(ogr, rings, rule, grid, band, simplify)
                        if geometry is None:
                            continue
                        new = ogr.Feature(definition)
                        named = 0 <= class_id < len(class_names)
                        values = {"class_id": class_id, "treatment": rule.treatment,
                                  "class_name": str(class_names[class_id]) if named else f"class {class_id}",
                                  area_field: geometry.GetArea() * (grid.metres or 1.0) ** 2,
                                  perimeter_field: geometry.Boundary().Length() * (grid.metres or 1.0),
                                  **{key: value for key, value in vars(tags).items() if value},  # the run's tags
                                  **{f: str(v[class_id]) for f, v in class_fields.items() if 0 <= class_id < len(v)}}
                        if mean is not None:
                            values.update(conf_mean=round(mean, 4), conf_min=round(low, 4))
                        for field, value in values.items():
                            new.SetField(field, value)
                        new.SetGeometry(geometry)
                        layer.CreateFeature(new)
                        written += 1
                    layer.CommitTransaction()
                finally:  # the layer keeps the file open: it goes too, so it closes here, not when a traceback dies
                    layer = definition = new = out = reader = source = None
                    stats = src = band = None
    callback.progress(1.0, 1.0, Stage.POLYGONIZE)
    return written
