"""The layers of the labelling loop read back: ``suggest``'s windows (rank, scene, outline) and a proposals layer.
Fields are read by name, so a layer the user edited or copied (QGIS keeps the fields) serves as well."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..data.reproject import coordinate_transform, transform_geometry
from ..data.vector_layer import VectorLayer, ogr_osr, whole_number
from ..errors import DataError
from ..io.geopackage import spatial_ref

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
        """The bounds a thousandth of a pixel inside: the window's own pixels, not one more column or row where a bound
        computed in floating point lands a trifle past a pixel edge."""
        xmin, ymin, xmax, ymax = self.bounds
        if not self.size:
            return self.bounds
        dx, dy = 1e-3 * (xmax - xmin) / self.size, 1e-3 * (ymax - ymin) / self.size
        return xmin + dx, ymin + dy, xmax - dx, ymax - dy

    def in_crs(self, crs: str) -> Window:
        """This window in ``crs`` (WKT), carried by :func:`carry` (itself where that does not apply): a window suggest
        wrote in another scene's CRS or the user saved in another CRS comes back to its scene's corners. DataError when
        it cannot be carried."""
        carried = carry([self.wkt], self.crs, crs, f"outline of window {self.rank} (windows layer)")
        if carried is None:
            return self
        xmin, xmax, ymin, ymax = carried[0].GetEnvelope()
        return replace(self, wkt=carried[0].ExportToWkt(), bounds=(xmin, ymin, xmax, ymax), crs=crs)


def carry(wkts: list[str], crs: str, target: str, what: str) -> list[Any] | None:
    """The OGR geometries ``wkts`` carried from ``crs`` into ``target`` vertex by vertex; None when either CRS is empty
    or they are the same. DataError naming ``what`` when one cannot be carried."""
    ogr, _ = ogr_osr()
    source, dest = spatial_ref(crs), spatial_ref(target)
    if source is None or dest is None or source.IsSame(dest):
        return None
    transform = coordinate_transform(source, dest, what)
    geometries = [ogr.CreateGeometryFromWkt(wkt) for wkt in wkts]
    for geometry in geometries:
        transform_geometry(geometry, transform, source, dest, what)
    return geometries


def read_windows(source: str, ranks: list[int] | None = None) -> list[Window]:
    """The windows of ``source`` (all, or those of ``ranks`` in that order), outlines in the layer's CRS. DataError for
    a layer that is not suggest's, a rank that is no whole number, or a rank it does not hold."""
    with VectorLayer(source, "windows layer") as layer:
        names = layer.require_fields(WINDOW_FIELDS, "give the layer suggest wrote (fields rank, scene, size_px).")
        size_field = layer.field("size_px")
        crs = layer.crs_wkt()
        found: dict[int, Window] = {}
        for feature in layer:
            geometry = feature.GetGeometryRef()
            rank = feature.GetField(names["rank"])
            if geometry is None or geometry.IsEmpty() or rank is None:
                continue
            advice = "give each window its rank as suggest wrote it."
            rank = whole_number(rank, f"A window's rank in '{source}'", advice)
            size = feature.GetField(size_field) if size_field else None
            size = whole_number(size, f"The size_px of window {rank} in '{source}'", advice) if size else None
            xmin, xmax, ymin, ymax = geometry.GetEnvelope()
            found[rank] = Window(rank, str(feature.GetField(names["scene"])), geometry.ExportToWkt(),
                                 (xmin, ymin, xmax, ymax), crs, size or None)
    if ranks is None:
        return [found[r] for r in sorted(found)]
    unknown = [r for r in ranks if r not in found]
    if unknown:
        raise DataError(f"The windows layer '{source}' has no window of rank {', '.join(map(str, unknown))} (it holds "
                        f"ranks {', '.join(map(str, sorted(found))) or 'none'}).")
    return [found[r] for r in dict.fromkeys(ranks)]
