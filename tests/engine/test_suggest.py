"""``suggest``: windows ranked by uncertainty and disagreement, spread, away from the labelled area; the layer."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from engine.cli.main import main
from engine.data import synthetic
from engine.suggest.ranking import choose, merge, pixel_maps, scene_candidates
from tests.helpers import make_bundle, squares_layer


def _binary(p1: np.ndarray) -> np.ndarray:
    return np.stack([1.0 - p1, p1]).astype(np.float32)


def _ranked(views: list[np.ndarray], labelled: np.ndarray | None = None, window: int = 32, count: int = 3):
    valid = np.ones(views[0].shape[1:], bool)
    maps = pixel_maps(views, valid, np.zeros_like(valid) if labelled is None else labelled)
    candidates = merge([scene_candidates(maps, window, views[0].shape[0], 0)])
    return candidates, choose(candidates, count)


def test_the_unsure_windows_come_first_and_never_overlap():
    p1 = np.full((96, 128), 0.01)
    p1[0:32, 64:96] = 0.55  # nearly a coin toss, predicted class 1
    p1[64:96, 0:32] = 0.35  # unsure too, predicted class 0
    candidates, chosen = _ranked([_binary(p1)])
    corners = [(int(candidates.col[i]), int(candidates.row[i])) for i, _ in chosen]
    assert corners[:2] == [(64, 0), (0, 64)]
    scores = [s for _, s in chosen]
    assert scores == sorted(scores, reverse=True)
    for a in range(len(corners)):
        for b in range(a + 1, len(corners)):
            assert abs(corners[a][0] - corners[b][0]) >= 32 or abs(corners[a][1] - corners[b][1]) >= 32


def test_windows_stay_inside_the_scene():
    p1 = np.full((70, 100), 0.01)
    p1[:, 80:] = 0.5  # the unsure part touches the right edge, which is not on the 8 px cell grid
    candidates, chosen = _ranked([_binary(p1)], window=32, count=4)
    assert all(candidates.col[i] + 32 <= 100 and candidates.row[i] + 32 <= 70 for i, _ in chosen)
    assert max(int(candidates.col[i]) for i, _ in chosen) >= 64  # the edge is reached all the same


def test_labelled_windows_are_left_out():
    p1 = np.full((96, 128), 0.01)
    p1[0:32, 64:96] = 0.55
    p1[64:96, 0:32] = 0.35
    labelled = np.zeros((96, 128), bool)
    labelled[0:32, 64:96] = True  # the most unsure place is labelled already
    candidates, chosen = _ranked([_binary(p1)], labelled)
    first = chosen[0][0]
    assert (int(candidates.col[first]), int(candidates.row[first])) == (0, 64)
    assert all(candidates.labelled[i] < 0.5 for i, _ in chosen)


def test_disagreeing_views_outrank_an_agreeing_unsure_place():
    a, b = np.full((64, 128), 0.01), np.full((64, 128), 0.01)
    a[0:32, 0:32], b[0:32, 0:32] = 0.95, 0.6  # the views disagree (mean 0.775)
    a[32:64, 96:128] = b[32:64, 96:128] = 0.7  # both unsure the same way: more entropy, no disagreement
    candidates, chosen = _ranked([_binary(a), _binary(b)], count=1)
    best = chosen[0][0]
    assert (int(candidates.col[best]), int(candidates.row[best])) == (0, 0)
    assert candidates.disagreement[best] > 0.1
    one_view, chosen_one = _ranked([_binary(a)], count=1)  # with one view the agreeing place is no longer beaten
    assert (int(one_view.col[chosen_one[0][0]]), int(one_view.row[chosen_one[0][0]])) != (0, 0)


def test_windows_spread_over_classes():
    p1 = np.full((64, 256), 0.01)
    p1[:, 0:128] = 0.45  # a wide unsure region predicted class 0 ...
    p1[0:32, 192:224] = 0.58  # ... and a small one predicted class 1, a little less unsure
    candidates, chosen = _ranked([_binary(p1)], count=2)
    focus = {int(candidates.focus[i]) for i, _ in chosen}
    assert focus == {0, 1}  # not two windows of the same wide region


@pytest.fixture(scope="module")
def scene_and_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    root = tmp_path_factory.mktemp("suggest")
    scene = synthetic.make_scene(root, "scene", size=(128, 128), seed=1, aux_channels=0)
    model = make_bundle(root / "m.dsmodel", vision_bands=4, num_classes=2, class_names=["other", "field"], seed=5)
    return scene, model


def test_suggest_writes_a_ranked_styled_layer_away_from_the_labelled_area(scene_and_model, tmp_path, capsys):
    import rasterio
    from osgeo import ogr

    scene, model = scene_and_model
    area = squares_layer(tmp_path / "labelled.gpkg", scene["image"], [(0, 0)], 64)
    out = tmp_path / "windows.gpkg"
    code = main(["suggest", "--model", model, "--image", scene["image"], "--labelled-area", area, "--count", "4",
                 "--window", "32", "--tta", "flips", "--device", "cpu", "--backend", "torch", "--out", str(out),
                 "--quiet"])
    assert code == 0
    assert "score" in capsys.readouterr().out
    ds = ogr.Open(str(out))
    layer = ds.GetLayerByName("windows")
    rows = [(f.GetField("rank"), f.GetField("score"), f.GetField("why"), f.GetField("col"), f.GetField("row"),
             f.GetField("labelled")) for f in layer]
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    assert [r[1] for r in rows] == sorted((r[1] for r in rows), reverse=True)
    assert all("mean confidence" in r[2] and "of pixels predicted" in r[2] for r in rows)
    assert all("views disagree" in r[2] for r in rows)  # plain and flipped views: 2 views
    assert all(not (r[3] + 32 <= 64 and r[4] + 32 <= 64) for r in rows)  # none inside the labelled square
    with rasterio.open(scene["image"]) as image:
        for f in layer:  # the polygons are the windows on the image's grid
            xmin, xmax, ymin, ymax = f.GetGeometryRef().GetEnvelope()
            assert xmax - xmin == pytest.approx(32 * image.res[0])
    ds = None
    with sqlite3.connect(out) as db:
        styles = db.execute("select f_table_name, useAsDefault, styleQML from layer_styles").fetchall()
    assert styles[0][0] == "windows" and styles[0][1] == 1 and "<labeling" in styles[0][2]
    assert not list(tmp_path.glob(".windows*"))  # no temporary left beside it


def test_suggest_prints_its_windows_as_json_with_the_layer_s_fields(scene_and_model, tmp_path, capsys):
    import json

    from osgeo import ogr

    scene, model = scene_and_model
    out = tmp_path / "windows.gpkg"
    code = main(["suggest", "--model", model, "--image", scene["image"], "--count", "3", "--window", "32",
                 "--device", "cpu", "--backend", "torch", "--out", str(out), "--quiet", "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0 and printed["output"] == str(out) and "Next: label" in printed["next_step"]
    ds = ogr.Open(str(out))
    layer = ds.GetLayerByName("windows")
    rows = [{name: f.GetField(name) for name in printed["windows"][0]} for f in layer]
    assert [w["rank"] for w in printed["windows"]] == [1, 2, 3] == [r["rank"] for r in rows]
    assert [(w["col"], w["row"], w["size_px"], w["why"]) for w in printed["windows"]] == \
        [(r["col"], r["row"], r["size_px"], r["why"]) for r in rows]

def test_suggest_refuses_to_overwrite_an_input(scene_and_model, tmp_path, capsys):
    scene, model = scene_and_model
    area = squares_layer(tmp_path / "labelled.gpkg", scene["image"], [(0, 0)], 64)
    before = Path(area).read_bytes()
    code = main(["suggest", "--model", model, "--image", scene["image"], "--labelled-area", area, "--count", "2",
                 "--window", "32", "--out", area])
    assert code == 2
    assert "labelled area" in capsys.readouterr().err
    assert Path(area).read_bytes() == before


def test_a_scene_edge_alone_does_not_draw_the_windows():
    p1 = np.full((96, 128), 0.01)
    p1[:2, :], p1[-2:, :], p1[:, :2], p1[:, -2:] = 0.5, 0.5, 0.5, 0.5  # a model unsure on the padding at the edge
    p1[32:64, 48:80] = 0.025  # inside, a place a little less sure than the rest
    candidates, chosen = _ranked([_binary(p1)], count=1)
    best = chosen[0][0]
    assert (int(candidates.col[best]), int(candidates.row[best])) == (48, 32)


def test_a_fusion_model_looks_at_its_aux_rasters(tmp_path, capsys):
    """A model that fuses aux rasters is asked with them (the same files for every scene); without them suggest
    stops and names --aux, rather than ranking on a model fed nothing."""
    from osgeo import ogr

    scene = synthetic.make_scene(tmp_path, "fused", size=(96, 96), seed=3, aux_channels=4)
    model = make_bundle(tmp_path / "fused.dsmodel", vision_bands=4, aux_channels=4, num_classes=2,
                        class_names=["other", "field"], seed=2)
    out = tmp_path / "windows.gpkg"
    base = ["suggest", "--model", model, "--image", scene["image"], "--count", "3", "--window", "32", "--tta", "none",
            "--device", "cpu", "--backend", "torch", "--out", str(out), "--quiet"]
    assert main(base) != 0
    assert "--aux" in capsys.readouterr().err and not out.exists()
    assert main(base + ["--aux", scene["aux"][0]]) == 0
    ds = ogr.Open(str(out))
    assert [f.GetField("rank") for f in ds.GetLayerByName("windows")] == [1, 2, 3]


def test_the_first_round_takes_an_empty_labelled_area_and_a_huge_window_is_refused_first(scene_and_model, tmp_path,
                                                                                          capsys):
    from osgeo import ogr

    from engine.data.labels import RegionMask

    scene, model = scene_and_model
    area = squares_layer(tmp_path / "labelled.gpkg", scene["image"], [(0, 0)], 64)
    source = ogr.Open(area, 1)
    layer = source.GetLayer(0)
    for feature in list(layer):
        layer.DeleteFeature(feature.GetFID())
    source = layer = None  # nothing labelled yet: the loop's first round
    out = tmp_path / "windows.gpkg"
    base = ["suggest", "--model", model, "--image", scene["image"], "--labelled-area", area, "--count", "2",
            "--tta", "none", "--device", "cpu", "--backend", "torch", "--out", str(out)]
    assert main(base + ["--window", "100000"]) == 2
    err = capsys.readouterr().err
    assert "--window 100000 px is larger than every scene" in err and "at most 128 px" in err
    assert "Segmenting" not in err and not out.exists()  # refused before the model ran
    assert main(base + ["--window", "32", "--quiet"]) == 0 and out.exists()
    last = capsys.readouterr().out.strip().splitlines()[-1]  # the loop's next step ends the log
    assert last.startswith("Next: label everything inside these windows") and f"--init-from '{model}'" in last
    # training refuses it, saying what it means there
    with pytest.raises(Exception, match="labelled area .* nothing is labelled in it yet"):
        RegionMask(None, aoi=area, role="labelled area", if_empty="nothing is labelled in it yet")


def test_out_of_memory_advice_names_only_the_commands_own_options():
    from engine.cli.main import _memory_advice, build_parser

    parser = build_parser()
    assert _memory_advice(parser, "polygons") == "free memory or give a smaller input"
    assert "--tile-size" in _memory_advice(parser, "segment") and "--window" not in _memory_advice(parser, "segment")
    # suggest and propose read their scenes as segment does (engine/config/reading.py): the same knobs
    assert _memory_advice(parser, "suggest") == "lower --tile-size or --batch-size or --window (or free memory)"
    assert _memory_advice(parser, "propose") == "lower --tile-size or --batch-size (or free memory)"


def test_a_model_that_sees_one_class_everywhere_is_called_out():
    from engine.suggest.run import one_class_note

    note = one_class_note(np.array([9_990, 10]), ["background", "roof"])
    assert note is not None and "'background' at 99.9 %" in note and "says little" in note
    assert one_class_note(np.array([9_000, 1_000]), ["background", "roof"]) is None
    assert one_class_note(np.array([0, 0]), ["background", "roof"]) is None


def test_suggest_on_the_command_line_reads_a_web_layer_as_qgis_does(tmp_path, capsys):
    """``suggest`` took no extent and no pixel size: a web layer's description given as a scene could not be read
    on the command line. It is read through the image door over ``--extent`` at ``--pixel-size`` (else the model's
    training pixel size), its window kept in ``<output>_web/`` as QGIS keeps it, where the windows layer names it."""
    import rasterio
    from osgeo import ogr

    from engine.imagery.web import wms_description
    from tests.ogc_server import OgcServer

    rgb = tmp_path / "rgb.tif"
    scene = synthetic.make_scene(tmp_path, "scene", size=(96, 96), seed=2, aux_channels=0)
    with rasterio.open(scene["image"]) as src:
        profile = dict(src.profile, count=3, dtype="uint8")
        data, bounds, crs, res = src.read([1, 2, 3]), src.bounds, src.crs.to_string(), src.res[0]
    with rasterio.open(rgb, "w", **profile) as dst:
        dst.write((data / max(float(data.max()), 1.0) * 255).astype(np.uint8))
    model = make_bundle(tmp_path / "m3.dsmodel", vision_bands=3, num_classes=2, class_names=["other", "field"],
                        vision_high=255.0, gsd=res, crs=crs, seed=5)
    out = tmp_path / "windows.gpkg"
    with OgcServer(rgb) as server:
        layer_file = tmp_path / "tiles.xml"
        layer_file.write_text(wms_description(f"{server.url}/wms", "scene", crs), encoding="utf-8")
        code = main(["suggest", "--model", model, "--image", str(layer_file), "--extent", str(bounds.left),
                     str(bounds.bottom), str(bounds.right), str(bounds.top), "--extent-crs", crs, "--pixel-size",
                     str(2 * res), "--count", "2", "--window", "16", "--tta", "none", "--device", "cpu",
                     "--backend", "torch", "--out", str(out)])
        assert code == 0 and server.requests("GetMap") > 0
    said = " ".join(capsys.readouterr().err.split())
    assert f"read over the extent at {2 * res:g} m per pixel" in said and "48 x 48 pixels" in said, said[-2000:]
    source = ogr.Open(str(out))
    scenes = {Path(feature.GetField("scene")) for feature in source.GetLayerByName("windows")}
    source = None
    assert len(scenes) == 1
    kept = scenes.pop()
    assert kept.name == "tiles.web.vrt" and kept.parent.parent == tmp_path / "windows_web" and kept.is_file()
