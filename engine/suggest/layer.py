"""The suggested windows as a GeoPackage layer, written beside the destination and renamed when complete.

The layer carries its style (``windows.qml``: orange outlines, each window labelled with its rank, the reasons as
map tip) in the GeoPackage's ``layer_styles`` table as its default, so QGIS shows it styled however it is opened
(the plugin, Layer > Add Layer, or a drag from the file browser).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io.atomic import temporary_path
from ..io.writers import commit_file, gdal_errors, remove_quietly, writing
from ..runtime.environment import require

STYLE = Path(__file__).with_name("windows.qml")
FIELDS = (("rank", "int"), ("score", "real"), ("why", "str"), ("scene", "str"), ("col", "int"), ("row", "int"),
          ("size_px", "int"), ("confidence", "real"), ("entropy", "real"), ("disagreement", "real"),
          ("labelled", "real"), ("focus_class", "str"), ("top_class", "str"), ("top_share", "real"))


@dataclass
class SuggestedWindow:
    """One window to label: where it is, its rank and score, and why."""

    rank: int
    score: float
    why: str
    scene: str
    col: int  # top-left pixel on the scene's grid
    row: int
    size: int
    corners: list[tuple[float, float]]  # map coordinates, clockwise from the top-left
    confidence: float
    entropy: float
    disagreement: float
    labelled: float
    focus_class: str
    top_class: str
    top_share: float

    def values(self) -> dict[str, Any]:
        return {"rank": self.rank, "score": self.score, "why": self.why, "scene": self.scene, "col": self.col,
                "row": self.row, "size_px": self.size, "confidence": self.confidence, "entropy": self.entropy,
                "disagreement": self.disagreement, "labelled": self.labelled, "focus_class": self.focus_class,
                "top_class": self.top_class, "top_share": self.top_share}


def write_windows(destination: str, windows: list[SuggestedWindow], crs: Any) -> str:
    """Write ``windows`` as the layer ``suggested_windows`` of a new GeoPackage at ``destination``."""
    destination_path = Path(destination)
    tmp = temporary_path(destination_path, ".gpkg")
    try:
        _write(tmp, windows, crs, destination_path.stem)
        commit_file(tmp, destination_path)
    except BaseException:
        remove_quietly(tmp)
        raise
    return str(destination_path)


def _write(path: Path, windows: list[SuggestedWindow], crs: Any, name: str) -> None:
    gdal = require("osgeo.gdal")
    ogr = require("osgeo.ogr")
    osr = require("osgeo.osr")
    kinds = {"int": ogr.OFTInteger, "real": ogr.OFTReal, "str": ogr.OFTString}
    with gdal_errors(gdal), writing(path):
        srs = None
        if crs is not None:
            srs = osr.SpatialReference()
            srs.SetFromUserInput(crs.to_wkt() if hasattr(crs, "to_wkt") else str(crs))
            srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        out = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
        layer = styles = feature = None
        try:
            layer = out.CreateLayer(name, srs=srs, geom_type=ogr.wkbPolygon, options=["SPATIAL_INDEX=YES"])
            for field, kind in FIELDS:
                layer.CreateField(ogr.FieldDefn(field, kinds[kind]))
            layer.StartTransaction()
            for window in windows:
                feature = ogr.Feature(layer.GetLayerDefn())
                for field, value in window.values().items():
                    feature.SetField(field, value)
                ring = ogr.Geometry(ogr.wkbLinearRing)
                for x, y in [*window.corners, window.corners[0]]:
                    ring.AddPoint_2D(float(x), float(y))
                polygon = ogr.Geometry(ogr.wkbPolygon)
                polygon.AddGeometry(ring)
                feature.SetGeometry(polygon)
                layer.CreateFeature(feature)
            layer.CommitTransaction()
            styles = out.CreateLayer("layer_styles", geom_type=ogr.wkbNone)
            for field, kind in (("f_table_catalog", "str"), ("f_table_schema", "str"), ("f_table_name", "str"),
                                ("f_geometry_column", "str"), ("styleName", "str"), ("styleQML", "str"),
                                ("styleSLD", "str"), ("useAsDefault", "int"), ("description", "str"),
                                ("owner", "str"), ("ui", "str"), ("update_time", "str")):
                styles.CreateField(ogr.FieldDefn(field, kinds[kind]))
            feature = ogr.Feature(styles.GetLayerDefn())
            for field, value in (("f_table_catalog", ""), ("f_table_schema", ""), ("f_table_name", name),
                                 ("f_geometry_column", "geom"), ("styleName", name),
                                 ("styleQML", STYLE.read_text(encoding="utf-8")), ("styleSLD", ""),
                                 ("useAsDefault", 1), ("description", "DualStream: windows to label, by rank"),
                                 ("owner", ""), ("ui", ""), ("update_time", "")):
                feature.SetField(field, value)
            styles.CreateFeature(feature)
        finally:
            layer = styles = feature = out = None
