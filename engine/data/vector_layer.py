"""The one vector-layer reader: one layer of a vector source, opened as QGIS names it, its fields and values read.

A source is a file or a remote GDAL path, ``file.gpkg|layername=NAME`` naming one layer of several and
``|subset=SQL`` QGIS's layer filter (only the features it selects are read). A file of several layers with none
named is refused with their names (reading the first would be a silent guess); tables without geometry (QGIS's
saved styles) are no candidates. Every reader of polygons, labels, prompts, windows or proposals opens its layer
here, so a filter or a second layer is treated the same everywhere.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from ..errors import DataError
from ..io import locations
from ..io.geopackage import spatial_ref
from ..runtime.environment import require
from .units import as_float


def ogr_osr() -> tuple[Any, Any]:
    """OGR and OSR with exceptions on."""
    require("osgeo")
    from osgeo import ogr, osr

    ogr.UseExceptions()
    osr.UseExceptions()
    return ogr, osr


class VectorLayer:
    """One layer of ``source`` opened for reading, its filter applied; ``role`` names it in messages. DataError: the
    source is missing or no vector file, the layer named is not in it, several layers and none named, or a filter
    OGR cannot read."""

    def __init__(self, source: str, role: str = "vector layer"):
        ogr, _ = ogr_osr()
        self.source, self.role = str(source), role
        if not locations.exists(source):
            raise DataError(f"The {role} '{source}' does not exist; check the path.")
        remote = locations.is_remote(source)
        file, wanted = (str(source), None) if remote else locations.split_layer(source)
        try:
            self.data = ogr.Open(locations.gdal_path(file))
        except RuntimeError as exc:
            raise DataError(f"The {role} '{source}' could not be opened as a vector layer ({exc}).") from exc
        if self.data is None or self.data.GetLayerCount() < 1:
            raise DataError(f"The {role} '{source}' has no vector layer; give a GeoPackage, GeoJSON or Shapefile.")
        self.layer = pick_layer(self.data, str(source), file, wanted, role)
        self.subset = None if remote else locations.layer_subset(source)
        if self.subset is not None:
            apply_subset(self.layer, self.subset, str(source), role)
        self.field_names = [definition.GetName() for definition in self.layer.schema]

    def __enter__(self) -> VectorLayer:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def close(self) -> None:
        """The file closed (OGR closes it when the last reference goes)."""
        self.layer = self.data = None

    def __iter__(self) -> Iterator[Any]:
        self.layer.ResetReading()
        return iter(self.layer)

    @property
    def name(self) -> str:
        return str(self.layer.GetName())

    def srs(self) -> Any:
        """A copy of the layer's spatial reference (x/y axis order), or None."""
        return spatial_ref(self.layer.GetSpatialRef())

    def crs_wkt(self) -> str:
        """The layer's CRS as WKT ("" when it has none)."""
        ref = self.layer.GetSpatialRef()
        return ref.ExportToWkt() if ref is not None else ""

    def field(self, wanted: str) -> str | None:
        """The layer's own spelling of the field ``wanted`` (any case), or None."""
        return next((n for n in self.field_names if n.lower() == wanted.lower()), None)

    def require_fields(self, wanted: tuple[str, ...], advice: str) -> dict[str, str]:
        """{wanted: the layer's spelling}; DataError naming the fields missing and ``advice`` otherwise."""
        found = {w: self.field(w) for w in wanted}
        if missing := [w for w, name in found.items() if name is None]:
            raise DataError(f"The {self.role} '{self.source}' lacks the field(s) {', '.join(missing)} (it has "
                            f"{', '.join(self.field_names) or 'none'}): {advice}")
        return {w: str(name) for w, name in found.items()}


def whole_number(value: Any, what: str, advice: str) -> int:
    """``value`` of a field (an integer, a whole real, or text holding one) as an int; DataError saying ``what``
    holds it and ``advice`` otherwise."""
    if isinstance(value, int):  # a bool too
        return int(value)
    if not (number := as_float(value)).is_integer():  # NaN and infinities neither
        raise DataError(f"{what} holds {value!r}, not a whole number; {advice}")
    return int(number)


def pick_layer(ds: Any, path: str, file: str, wanted: str | None, role: str) -> Any:
    """The layer ``wanted`` of the open vector dataset ``ds``, or its only layer; DataError otherwise."""
    ogr, _ = ogr_osr()
    names = [ds.GetLayer(i).GetName() for i in range(ds.GetLayerCount())]
    if wanted is not None:
        if wanted not in names:
            raise DataError(f"The {role} '{path}' has no layer '{wanted}'; its layers are {names}. Give one of them "
                            f"as '{file}|layername=NAME'.")
        return ds.GetLayerByName(wanted)
    spatial = [name for name in names if ds.GetLayerByName(name).GetGeomType() != ogr.wkbNone]
    if len(spatial) == 1:
        return ds.GetLayerByName(spatial[0])
    if len(spatial) > 1:
        raise DataError(f"The {role} '{file}' holds {len(spatial)} layers ({', '.join(spatial)}); name the one to "
                        f"read as '{file}|layername=NAME' (in QGIS: choose that layer).")
    return ds.GetLayer(0)


def check_layer_filter(source: str, role: str = "vector layer") -> int:
    """How many features of ``source``'s layer (``file|layername=NAME|subset=SQL``) its filter selects; DataError
    naming the layer and the filter when OGR cannot read it (QGIS shows no features for such a filter, silently)."""
    with VectorLayer(source, role) as layer:
        return int(layer.layer.GetFeatureCount())


def apply_subset(layer: Any, subset: str, path: str, role: str) -> None:
    """Keep only the features of ``layer`` that QGIS's layer filter ``subset`` selects (OGR's attribute filter,
    the WHERE part of a query); DataError naming the layer and the filter when OGR cannot read it."""
    names = [definition.GetName() for definition in layer.schema]
    fix = (f"Fix the filter (the layer's fields are {names}; names in double quotes, text in single quotes), or "
           f"remove '|subset=...'.")
    what = f"The {role} '{path}': layer '{layer.GetName()}'"
    if re.match(r"\s*select\s", subset, re.IGNORECASE):
        raise DataError(f"{what} has the filter '{subset}', a whole SELECT statement; give the filter as an "
                        f"expression on the layer's fields (e.g. \"class\" = 1), as QGIS's Query Builder writes it.")
    known = {n.lower() for n in [*names, layer.GetFIDColumn() or "fid", layer.GetGeometryColumn()]}
    # SQLite reads a double-quoted name that is no column as text: the filter would select nothing, silently
    unknown = [n for n in re.findall(r'"((?:[^"]|"")+)"', subset) if n.replace('""', '"').lower() not in known]
    if unknown:
        raise DataError(f"{what} has no field '{unknown[0]}', which its filter '{subset}' names. {fix}")
    try:
        failed, detail = layer.SetAttributeFilter(subset) != 0, ""
        layer.GetFeatureCount()  # some drivers only read the filter when it is first used
    except RuntimeError as exc:
        failed, detail = True, f" ({str(exc).strip()})"
    layer.ResetReading()
    if failed:
        raise DataError(f"{what} cannot be filtered by '{subset}'{detail}. {fix}")
