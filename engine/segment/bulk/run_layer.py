"""A bulk run's polygons as one layer: every finished scene's polygons in ``polygons_all_scenes.gpkg``, the scene
as an attribute, reprojected into the first scene's CRS where the scenes differ.

Each scene's own GeoPackage stays the record of what it wrote; the run's layer is brought up to date from them at
the end of the run, one scene at a time and each in one transaction: the scene's old features are deleted and its
current ones inserted. A run killed at any point therefore leaves every scene's features in the layer once or not
at all, and the next run (a resume) brings in what is missing or changed, never duplicating a feature.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...callbacks import Callback
from ...io.atomic import write_text_atomic
from ...io.geopackage import create_layer, new_geopackage
from ...io.polygons import fields
from ...io.writers import gdal_errors, writing
from ...runtime.environment import require
from .scenes import MARKER_FOLDER, RUN_LAYER
from .summary import SceneRecord

LAYER_NAME = "polygons"
SYNCED = "run_polygons.json"  # in the state folder: each scene's GeoPackage (size, mtime) as last brought in


def _stamp(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def _open_or_create(path: Path, scene_layer: Any, ogr: Any) -> tuple[Any, Any]:
    """The run's layer (created like the first scene's: its CRS, the polygon fields)."""
    if path.exists():
        source = ogr.Open(str(path), 1)
        return source, source.GetLayerByName(LAYER_NAME)
    source = new_geopackage(path, "run's polygons layer")
    srs = scene_layer.GetSpatialRef()
    layer = create_layer(source, LAYER_NAME, srs, fields(srs is not None and bool(srs.IsProjected())))
    return source, layer


def _bring_in(run: Any, layer: Any, scene: str, polygons: Path, ogr: Any, osr: Any) -> int:
    """Replace the scene's features in the run's layer by those of its GeoPackage, in one transaction."""
    source = ogr.Open(str(polygons))
    scene_layer = source.GetLayer(0)
    transform = None
    srs, target = scene_layer.GetSpatialRef(), layer.GetSpatialRef()
    if srs is not None and target is not None and not srs.IsSame(target):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        target.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        transform = osr.CoordinateTransformation(srs, target)
    names = {layer.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(layer.GetLayerDefn().GetFieldCount())}
    definition = layer.GetLayerDefn()
    count = 0
    run.StartTransaction()
    try:
        quoted = scene.replace("'", "''")
        run.ExecuteSQL(f"DELETE FROM \"{LAYER_NAME}\" WHERE scene = '{quoted}'")
        for feature in scene_layer:
            new = ogr.Feature(definition)
            for key, value in feature.items().items():
                if key in names and value is not None:
                    new.SetField(key, value)
            new.SetField("scene", scene)
            geometry = feature.GetGeometryRef().Clone()
            if transform is not None:
                geometry.Transform(transform)
            new.SetGeometry(geometry)
            layer.CreateFeature(new)
            count += 1
        run.CommitTransaction()
    except BaseException:
        run.RollbackTransaction()
        raise
    finally:
        scene_layer = source = None
    return count


def update_run_layer(out_dir: str | Path, records: list[SceneRecord], polygons_of: dict[str, Path],
                     callback: Callback | None = None) -> str | None:
    """Bring every finished scene's polygons (``polygons_of``: scene name -> its GeoPackage) into the run's layer;
    returns its path (None when no scene has polygons)."""
    callback = callback or Callback()
    gdal, ogr, osr = require("osgeo.gdal"), require("osgeo.ogr"), require("osgeo.osr")
    path = Path(out_dir) / RUN_LAYER
    state = Path(out_dir) / MARKER_FOLDER / SYNCED
    try:
        synced = json.loads(state.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, ValueError):
        synced = {}
    scenes = [(r.name, polygons_of[r.name]) for r in records
              if r.finished and r.name in polygons_of and polygons_of[r.name].exists()]
    if not scenes and not path.exists():
        return None
    brought = 0
    with gdal_errors(gdal), writing(path):
        run = layer = None
        try:
            for name, polygons in scenes:
                if synced.get(name) == _stamp(polygons):
                    continue
                if run is None:
                    first = ogr.Open(str(polygons))
                    run, layer = _open_or_create(path, first.GetLayer(0), ogr)
                    first = None
                brought += _bring_in(run, layer, name, polygons, ogr, osr)
                synced[name] = _stamp(polygons)
                write_text_atomic(state, json.dumps(synced, indent=1))
        finally:
            layer = run = None
    if brought:
        callback.info(f"{brought} polygon(s) brought into the run's layer '{path}'.")
    return str(path)
