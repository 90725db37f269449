"""A bulk run's polygons as one layer (``polygons_all_scenes.gpkg``): every finished scene's features once, with
the scene as an attribute, also after a killed run is resumed."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from osgeo import ogr

from engine.cli.main import main
from engine.segment.bulk.scenes import MARKER_FOLDER, RUN_LAYER
from engine.segment.bulk.summary import SYNCED


def _per_scene(path: Path) -> Counter:
    source = ogr.Open(str(path))
    return Counter(f.GetField("scene") for f in source.GetLayer(0))


def _scene_count(path: Path) -> int:
    source = ogr.Open(str(path))
    return source.GetLayer(0).GetFeatureCount()


def test_one_layer_for_the_run_stays_whole_across_a_resume(bulk_scenes, bulk_model, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["segment", "--device", "cpu", "--quiet", "--images", str(bulk_scenes), "--aux-pattern",
            "{stem}_aux.tif", "--model", bulk_model, "--out-dir", str(out), "--with-polygons"]
    assert main(args) == 0
    assert f"Polygons of every scene (one layer): {out / RUN_LAYER}" in capsys.readouterr().out
    expected = {name: _scene_count(out / f"{name}.gpkg") for name in ("a", "b", "c")}
    assert sum(expected.values()) > 0
    assert _per_scene(out / RUN_LAYER) == Counter({k: v for k, v in expected.items() if v})
    assert json.loads((out / "summary.json").read_text())["polygons"] == str(out / RUN_LAYER)

    # killed mid-run: scene a half written (marker "running"), and the run's layer brought up to date for some
    # scenes only (its record of them lost): the resume redoes a and brings each scene in once
    marker = out / MARKER_FOLDER / "a.json"
    marker.write_text(json.dumps({"version": 1, "status": "running", "image": str(bulk_scenes / "a.tif")}))
    (out / MARKER_FOLDER / SYNCED).unlink()
    assert main(args) == 0
    statuses = {Path(s["image"]).stem: s["status"] for s in json.loads((out / "summary.json").read_text())["scenes"]}
    assert statuses == {"a": "done", "b": "skipped", "c": "skipped"}
    assert _per_scene(out / RUN_LAYER) == Counter({k: v for k, v in expected.items() if v})  # no duplicates
    source = ogr.Open(str(out / RUN_LAYER))
    layer = source.GetLayer(0)
    names = [layer.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(layer.GetLayerDefn().GetFieldCount())]
    assert {"class_name", "conf_mean", "conf_min", "model", "model_sha256", "scene"} <= set(names)
