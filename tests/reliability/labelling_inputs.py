"""The reliability suite's inputs of the labelling wing (issue 61, item 10): a windows layer and proposals as
``suggest`` and ``propose`` write them (made here with OGR, no model run), label layers accept must not append to
(class names in a text field, points), proposals with a text class_id, prompts with two layers or a label field of
words, and an image of nodata only.

Built once per session beside the other inputs (read-only for the cases), over the suite's 64 x 64 px scene.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _layer(path: Path, name: str, geometry: str, fields: list[tuple[str, str]],
           rows: list[tuple[str, list[Any]]], crs: str, more: bool = False) -> str:
    """One layer ``name`` of (WKT, values) rows in the GeoPackage ``path`` (created, or added to with ``more``)."""
    from osgeo import ogr, osr

    ref = osr.SpatialReference()
    ref.SetFromUserInput(crs)
    data = ogr.Open(str(path), 1) if more else ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = data.CreateLayer(name, srs=ref, geom_type=getattr(ogr, f"wkb{geometry}"))
    for field, kind in fields:
        layer.CreateField(ogr.FieldDefn(field, getattr(ogr, kind)))
    for wkt, values in rows:
        feature = ogr.Feature(layer.GetLayerDefn())
        for (field, _kind), value in zip(fields, values):
            feature.SetField(field, value)
        feature.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
        layer.CreateFeature(feature)
    data = layer = None
    return str(path)


def _box(x0: float, y0: float, x1: float, y1: float) -> str:
    return f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"


def build_labelling(w: dict[str, Any], folder: Path) -> None:
    """Write the labelling wing's inputs under ``folder``; their paths go into ``w`` (``lab_*``)."""
    import rasterio

    folder.mkdir(parents=True, exist_ok=True)
    with rasterio.open(w["image"]) as src:
        left, top, crs, profile = src.bounds.left, src.bounds.top, src.crs.to_wkt(), src.profile
        count = src.count
    # suggest's windows (rank 1: the scene's top-left 32 x 32 px) and propose's polygons in it
    windows = [(_box(left, top - 32, left + 32, top), [1, w["image"], 32])]
    w["lab_windows"] = _layer(folder / "windows.gpkg", "windows", "Polygon",
                              [("rank", "OFTInteger"), ("scene", "OFTString"), ("size_px", "OFTInteger")], windows, crs)
    blob = _box(left + 4, top - 12, left + 12, top - 4)
    w["lab_proposals"] = _layer(folder / "proposals.gpkg", "proposals", "MultiPolygon",
                                [("window", "OFTInteger"), ("class_id", "OFTInteger")], [(blob, [1, 1])], crs)
    w["lab_text_class"] = _layer(folder / "text_class.gpkg", "proposals", "MultiPolygon",
                                 [("window", "OFTInteger"), ("class_id", "OFTString")], [(blob, [1, "field"])], crs)
    corner = _box(left + 40, top - 50, left + 50, top - 40)
    w["lab_names"] = _layer(folder / "names.gpkg", "labels", "MultiPolygon", [("class", "OFTString")],
                            [(corner, ["building"])], crs)
    w["lab_points"] = _layer(folder / "points.gpkg", "labels", "Point", [("class", "OFTInteger")],
                             [(f"POINT({left + 45} {top - 45})", [1])], crs)
    # prompts: two layers in one file; a point whose label is a word that says neither yes nor no
    click = [(f"POINT({left + 8} {top - 8})", [])]
    w["lab_two_layers"] = _layer(folder / "two_layers.gpkg", "clicks", "Point", [], click, crs)
    _layer(folder / "two_layers.gpkg", "more_clicks", "Point", [], click, crs, more=True)
    w["lab_word_label"] = _layer(folder / "word_label.gpkg", "clicks", "Point", [("label", "OFTString")],
                                 [(click[0][0], ["maybe"])], crs)
    w["lab_prompts"] = _layer(folder / "prompts.gpkg", "clicks", "Point", [], click, crs)
    nodata = folder / "nodata.tif"
    profile.update(nodata=0)
    with rasterio.open(nodata, "w", **profile) as dst:
        dst.write(np.zeros((count, profile["height"], profile["width"]), profile["dtype"]))
    w["lab_nodata_image"] = str(nodata)
