"""The one GeoPackage writer: a layer made with its CRS, geometry type and fields; a whole new file written beside
its destination and renamed when complete; a default style stored in the file for QGIS. Every vector output of the
engine makes its layers here, so field types, geometry type and spatial index are declared the same way."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..runtime.environment import require
from .atomic import temporary_path
from .writers import commit_file, gdal_errors, remove_quietly, writing

#: (name, OGR field type name such as "OFTInteger") of a layer's fields, in order
Fields = Sequence[tuple[str, str]]


def spatial_ref(crs: Any) -> Any:
    """An OSR spatial reference (x/y axis order) of WKT, "EPSG:n", a rasterio or an OSR CRS; None for "" or None."""
    osr = require("osgeo.osr")
    if crs is None or crs == "":
        return None
    if isinstance(crs, osr.SpatialReference):
        ref = crs.Clone()
    else:
        ref = osr.SpatialReference()
        ref.SetFromUserInput(crs.to_wkt() if hasattr(crs, "to_wkt") else str(crs))
    ref.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return ref


def new_geopackage(path: str | os.PathLike, what: str) -> Any:
    """A new, empty GeoPackage at ``path``; DataError naming it (``what``) when OGR cannot make it."""
    ogr, gdal = require("osgeo.ogr"), require("osgeo.gdal")
    try:
        made = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
        detail = gdal.GetLastErrorMsg()
    except RuntimeError as exc:
        made, detail = None, str(exc)
    if made is None:
        raise DataError(f"The {what} '{path}' cannot be created ({detail}); choose an output in a folder you can "
                        f"write to.")
    return made


def create_layer(data: Any, name: str, crs: Any, fields: Fields, geometry: str = "MultiPolygon",
                 spatial_index: bool = True) -> Any:
    """The new layer ``name`` of the open GeoPackage ``data``; ``geometry`` without its ``wkb`` ("Polygon")."""
    ogr = require("osgeo.ogr")
    options = [f"SPATIAL_INDEX={'YES' if spatial_index else 'NO'}"]
    layer = data.CreateLayer(name, srs=spatial_ref(crs), geom_type=getattr(ogr, f"wkb{geometry}"), options=options)
    for field_name, kind in fields:
        layer.CreateField(ogr.FieldDefn(field_name, getattr(ogr, kind)))
    return layer


def write_layer(output: str | os.PathLike, crs: Any, fields: Fields, rows: Iterable[tuple[Any, Sequence[Any]]], *,
                name: str = "", geometry: str = "MultiPolygon", then: Callable[[Any, str], None] | None = None) -> int:
    """Write ``rows`` (a WKT or OGR geometry, a polygon made multi in a MultiPolygon layer; the values of ``fields``,
    None unset) as the one layer ``name`` (default: the file's name) of a new GeoPackage ``output``, in one
    transaction; ``then(data, name)`` adds to the file before it is closed (a style). Returns the number of
    features; a failure leaves no file behind."""
    ogr, gdal = require("osgeo.ogr"), require("osgeo.gdal")
    destination = Path(output)
    name = name or destination.stem
    tmp = temporary_path(destination, ".gpkg")
    written = 0
    try:
        with gdal_errors(gdal), writing(tmp):
            data = new_geopackage(tmp, "vector output")
            try:
                layer = create_layer(data, name, crs, fields, geometry)
                multi = geometry == "MultiPolygon"
                layer.StartTransaction()
                for shape, values in rows:
                    feature = ogr.Feature(layer.GetLayerDefn())
                    for (field_name, _kind), value in zip(fields, values):
                        if value is not None:
                            feature.SetField(field_name, value)
                    shape = ogr.CreateGeometryFromWkt(shape) if isinstance(shape, str) else shape
                    feature.SetGeometry(ogr.ForceToMultiPolygon(shape) if multi else shape)
                    layer.CreateFeature(feature)
                    written += 1
                layer.CommitTransaction()
                if then is not None:
                    then(data, name)
            finally:  # closed here, before the rename, not when a traceback dies
                layer = feature = data = None
        commit_file(tmp, destination)
    except BaseException:
        remove_quietly(tmp)
        raise
    return written


def add_default_style(data: Any, layer_name: str, qml: str, description: str) -> None:
    """QGIS's ``layer_styles`` table with ``qml`` as ``layer_name``'s default style, however the layer is opened."""
    ogr = require("osgeo.ogr")
    row = {"f_table_catalog": "", "f_table_schema": "", "f_table_name": layer_name, "f_geometry_column": "geom",
           "styleName": layer_name, "styleQML": qml, "styleSLD": "", "useAsDefault": 1, "description": description,
           "owner": "", "ui": "", "update_time": ""}
    styles = data.CreateLayer("layer_styles", geom_type=ogr.wkbNone)
    for field_name, value in row.items():
        styles.CreateField(ogr.FieldDefn(field_name, ogr.OFTInteger if isinstance(value, int) else ogr.OFTString))
    feature = ogr.Feature(styles.GetLayerDefn())
    for field_name, value in row.items():
        feature.SetField(field_name, value)
    styles.CreateFeature(feature)
