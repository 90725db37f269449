"""The GeoPackage a prompted job writes (``label``'s polygons, ``propose``'s candidate labels): one layer of
multipolygons with the job's fields, written beside its destination and renamed when complete."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..io.atomic import temporary_path
from ..io.writers import commit_file, remove_quietly, writing
from ..runtime.environment import require


def write_polygon_layer(output: str, crs: str, fields: Sequence[tuple[str, str]],
                        rows: Iterable[tuple[str, Sequence[Any]]]) -> int:
    """Write ``rows`` (WKT, the values of ``fields`` in order) into a new GeoPackage ``output`` whose layer is named
    after the file, in ``crs`` (WKT or any text OGR reads; "" for none); ``fields``: (name, OGR field type name).
    Returns the number of features written. A failure leaves no file behind."""
    ogr, osr = require("osgeo.ogr"), require("osgeo.osr")
    destination = Path(output)
    tmp = temporary_path(destination, ".gpkg")
    ref = None
    if crs:
        ref = osr.SpatialReference()
        ref.SetFromUserInput(crs)
    written = 0
    try:
        with writing(tmp):
            out = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp))
            layer = out.CreateLayer(destination.stem, srs=ref, geom_type=ogr.wkbMultiPolygon)
            for name, kind in fields:
                layer.CreateField(ogr.FieldDefn(name, getattr(ogr, kind)))
            layer.StartTransaction()
            for wkt, values in rows:
                feature = ogr.Feature(layer.GetLayerDefn())
                for (name, _kind), value in zip(fields, values):
                    feature.SetField(name, value)
                feature.SetGeometry(ogr.ForceToMultiPolygon(ogr.CreateGeometryFromWkt(wkt)))
                layer.CreateFeature(feature)
                written += 1
            layer.CommitTransaction()
            layer = out = feature = None
        commit_file(tmp, destination)
    except BaseException:
        remove_quietly(tmp)
        raise
    return written
