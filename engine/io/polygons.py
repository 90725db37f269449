"""Polygons of a class raster into a GeoPackage layer, written to a temporary file and renamed when complete."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..callbacks import Callback, Stage
from ..runtime.environment import require
from .atomic import temporary_path, uninterrupted
from .writers import commit_file, gdal_errors, remove_quietly, writing


def polygonize(raster: str | os.PathLike, destination: str | os.PathLike, class_names: Sequence[str], *,
               classes: Sequence[int] | None = None, min_area: float = 0.0, simplify: float = 0.0,
               callback: Callback | None = None) -> str:
    """Polygons of a class raster into a GeoPackage layer with ``class_id``, ``class_name`` and ``area``.

    Uses GDAL's Polygonize (4-connected) over valid pixels; drops polygons smaller than ``min_area``
    (map units squared, before simplification), simplifies with ``simplify`` map units (topology
    preserving) when > 0, keeps only ``classes`` when given. Written to a temp file, then renamed.
    """
    destination = Path(destination)
    tmp = temporary_path(destination, ".gpkg")
    try:
        write_polygons(raster, tmp, class_names, layer_name=destination.stem, classes=classes, min_area=min_area,
                       simplify=simplify, callback=callback)
        commit_file(tmp, destination)
    except BaseException:
        remove_quietly(tmp)
        raise
    return str(destination)


def write_polygons(raster: str | os.PathLike, path: str | os.PathLike, class_names: Sequence[str], *,
                   layer_name: str = "polygons", classes: Sequence[int] | None = None, min_area: float = 0.0,
                   simplify: float = 0.0, callback: Callback | None = None) -> int:
    """Write the polygons of ``raster`` to a new GeoPackage at ``path`` (no temp/rename); returns the count."""
    gdal = require("osgeo.gdal")
    ogr = require("osgeo.ogr")
    osr = require("osgeo.osr")
    callback = callback or Callback()
    wanted = None if classes is None else {int(c) for c in classes}
    written = 0
    with gdal_errors(gdal):
        src = gdal.Open(str(raster))
        band = src.GetRasterBand(1)
        srs = None
        if src.GetProjection():
            srs = osr.SpatialReference()
            srs.ImportFromWkt(src.GetProjection())
            srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        memory = ogr.GetDriverByName("Memory").CreateDataSource("polygons")
        raw = memory.CreateLayer("raw", srs=srs, geom_type=ogr.wkbPolygon)
        raw.CreateField(ogr.FieldDefn("class_id", ogr.OFTInteger))

        def _progress(done: float, _message: Any, _data: Any) -> int:
            callback.progress(done, 1.0, Stage.POLYGONIZE)
            return 0 if callback.is_canceled() or stop else 1

        # Ctrl+C or SIGTERM stop GDAL through _progress and the loop below, then end the run once the files are
        # closed (raised inside GDAL's callback, they would print a traceback; raised mid-write, the GeoPackage
        # would be closed after its temp file was removed)
        with uninterrupted() as stop:
            try:
                gdal.Polygonize(band, band.GetMaskBand(), raw, 0, [], callback=_progress)
            except RuntimeError:
                if not stop:
                    callback.check_canceled()  # GDAL reports a user interrupt as an error
                    raise
            if stop:
                return 0  # leaving the block raises the interrupt
            callback.check_canceled()
            with writing(path):  # a full disk may only show when SQLite commits or the file is closed
                out = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
                layer = definition = new = None
                try:
                    layer = out.CreateLayer(layer_name, srs=srs, geom_type=ogr.wkbMultiPolygon,
                                            options=["SPATIAL_INDEX=YES"])
                    layer.CreateField(ogr.FieldDefn("class_id", ogr.OFTInteger))
                    layer.CreateField(ogr.FieldDefn("class_name", ogr.OFTString))
                    layer.CreateField(ogr.FieldDefn("area", ogr.OFTReal))
                    definition = layer.GetLayerDefn()
                    layer.StartTransaction()
                    raw.ResetReading()
                    for count, feature in enumerate(raw):
                        if count % 1000 == 0:
                            callback.check_canceled()
                            if stop:
                                break
                        class_id = feature.GetFieldAsInteger(0)
                        if wanted is not None and class_id not in wanted:
                            continue
                        geometry = feature.GetGeometryRef()
                        area = geometry.GetArea()
                        if area < min_area:
                            continue
                        if simplify > 0:
                            geometry = geometry.SimplifyPreserveTopology(simplify)
                            if geometry is None or geometry.IsEmpty():
                                continue
                        new = ogr.Feature(definition)
                        new.SetField("class_id", class_id)
                        new.SetField("class_name", str(class_names[class_id]) if 0 <= class_id < len(class_names)
                                     else f"class {class_id}")
                        new.SetField("area", float(area))
                        new.SetGeometry(ogr.ForceToMultiPolygon(geometry))
                        layer.CreateFeature(new)
                        written += 1
                    layer.CommitTransaction()
                finally:  # the layer keeps the file open: it goes too, so it closes here, not when a traceback dies
                    layer = definition = new = out = None
                    memory = None
                    src = None
    return written
