"""The layers of the labelling loop read back: ``suggest``'s windows (rank, scene, outline) and a proposals layer.

``suggest`` writes its windows with the fields ``rank``, ``scene`` and ``size_px`` (``engine/suggest/layer.py``);
they are read here by name, so a layer the user edited or copied (QGIS keeps the fields) serves as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import DataError
from ..io.locations import split_layer
from ..runtime.environment import require

WINDOW_FIELDS = ("rank", "scene")


@dataclass
class Window:
    """One suggested window: its rank (the loop's window id), scene, outline (WKT) and bounds in ``crs``."""

    rank: int
    scene: str
    wkt: str
    bounds: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax
    crs: str
    size: int | None = None  # pixels across (suggest's size_px), when the layer says

    @property
    def inner_bounds(self) -> tuple[float, float, float, float]:
        """The bounds a hair (a thousandth of a pixel) inside: the window's own pixels, not one more column or
        row where a bound computed in floating point lands a trifle past a pixel edge."""
        xmin, ymin, xmax, ymax = self.bounds
        if not self.size:
            return self.bounds
        dx, dy = 1e-3 * (xmax - xmin) / self.size, 1e-3 * (ymax - ymin) / self.size
        return xmin + dx, ymin + dy, xmax - dx, ymax - dy


def open_layer(source: str, what: str, update: bool = False) -> tuple[Any, Any]:
    """(data source, layer) of ``file`` or ``file|layername=NAME``; DataError naming ``what`` when unreadable."""
    ogr = require("osgeo.ogr")
    path, name = split_layer(source)
    data = ogr.Open(path, 1 if update else 0)
    if data is None:
        raise DataError(f"The {what} '{source}' could not be opened as a vector layer; give the GeoPackage it names.")
    layer = data.GetLayerByName(name) if name else data.GetLayer(0)
    if layer is None:
        raise DataError(f"The {what} file '{path}' has no layer '{name}'.")
    return data, layer


def field_names(layer: Any) -> list[str]:
    definition = layer.GetLayerDefn()
    return [definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())]


def read_windows(source: str, ranks: list[int] | None = None, what: str = "windows layer") -> list[Window]:
    """The windows of ``source`` (all, or those of ``ranks`` in that order), outlines in the layer's CRS.

    Raises:
        DataError: not a windows layer of ``suggest``, or a rank it does not hold.
    """
    data, layer = open_layer(source, what)
    names = {n.lower(): n for n in field_names(layer)}
    missing = [f for f in WINDOW_FIELDS if f not in names]
    if missing:
        raise DataError(f"The {what} '{source}' lacks the field(s) {', '.join(missing)}: give the layer suggest "
                        f"wrote (fields rank, scene, size_px).")
    ref = layer.GetSpatialRef()
    crs = ref.ExportToWkt() if ref is not None else ""
    found: dict[int, Window] = {}
    for feature in layer:
        geometry = feature.GetGeometryRef()
        rank = feature.GetField(names["rank"])
        if geometry is None or geometry.IsEmpty() or rank is None:
            continue
        xmin, xmax, ymin, ymax = geometry.GetEnvelope()
        size = feature.GetField(names["size_px"]) if "size_px" in names else None
        found[int(rank)] = Window(int(rank), str(feature.GetField(names["scene"])), geometry.ExportToWkt(),
                                  (xmin, ymin, xmax, ymax), crs, int(size) if size else None)
    del data, layer  # closes the file
    if ranks is None:
        return [found[r] for r in sorted(found)]
    unknown = [r for r in ranks if r not in found]
    if unknown:
        raise DataError(f"The {what} '{source}' has no window of rank {', '.join(map(str, unknown))} (it holds "
                        f"ranks {', '.join(map(str, sorted(found))) or 'none'}).")
    return [found[r] for r in dict.fromkeys(ranks)]
