"""The labelling tools over a web layer in the real QGIS desktop under Xvfb (issue 55): an XYZ layer served from
127.0.0.1 (tiles of a scene cut by gdal2tiles) in an EPSG:4326 project, the map tool's click, Ctrl+click and box
accepted into a scratch layer and a GeoPackage layer in the scene's UTM CRS, undone; then *Suggest where to label*
run from its dialog over the web layer (a scratch layer as the labelled area) and *Propose labels with Segment
Anything* from its dialog over the windows.

The Segment Anything model is a tiny one of the real layout with random weights, fetched from a local hub through
``HF_ENDPOINT`` as a user's download is: its masks say nothing of quality, so the tests assert where prompts and
polygons land in each CRS, what was read, and what the dialogs wrote. Screenshots are kept with
``DUALSTREAM_GUI_SCREENS``.
"""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

import pytest

from tests.gui.desktop import finished_session
from tests.helpers import label_geopackage, xy_transform

pytestmark = [pytest.mark.qgis, pytest.mark.gui]

CLASS_VALUE, GPKG_CLASS = 3, 7
ZMAX = 18  # the tiles' finest zoom level


@pytest.fixture(scope="module")
def session(tmp_path_factory, deploy_plugin, venv_site_packages):
    import rasterio

    from bench.http_files import FileServer
    from engine.data.synthetic import make_scene
    from tests.engine.local_hub import LocalHub
    from tests.engine.prompted_models import save_tiny
    from tests.helpers import make_bundle

    root = tmp_path_factory.mktemp("label-web")
    scene = make_scene(root / "data", "scene", size=(160, 200), seed=4, aux_channels=0, dtype="uint8")
    rgb = root / "rgb.tif"
    subprocess.run(["gdal_translate", "-q", "-b", "1", "-b", "2", "-b", "3", scene["image"], str(rgb)], check=True)
    subprocess.run(["gdal2tiles.py", "--xyz", "-q", "-z", f"16-{ZMAX}", "-w", "none", "--processes", "1", str(rgb),
                    str(root / "tiles")], check=True, capture_output=True)
    with rasterio.open(rgb) as image:
        crs, (left, bottom, right, top) = image.crs.to_string(), image.bounds
    w, h = right - left, top - bottom

    def at(u: float, v: float) -> list[float]:  # a place in the scene, as shares of its width and height
        return [left + u * w, bottom + v * h]

    bundle = make_bundle(root / "m.dsmodel", vision_bands=3, num_classes=2, class_names=["other", "field"],
                         seed=2, vision_high=255.0, gsd=1.0, crs=crs)
    config = {"scene_crs": crs, "project_crs": "EPSG:4326", "model": "someone/tiny-sam",
              "class_value": CLASS_VALUE, "gpkg_class": GPKG_CLASS,
              "gpkg": label_geopackage(root / "labels.gpkg", crs, {"class": "Integer"}),
              # the west half, then the east half (a box there is off the first window)
              "view": [left, bottom, left + w / 2, top], "view2": [left + w / 2, bottom, right, top],
              "click": at(0.3, 0.5), "negative": at(0.15, 0.75), "box": [at(0.2, 0.3), at(0.45, 0.7)],
              "box2": [at(0.78, 0.2), at(0.95, 0.45)],
              "labelled": [left, bottom, left + w / 2, top],  # the west half is labelled already
              "suggest": {"MODEL": bundle, "EXTENT": f"{left},{right},{bottom},{top} [{crs}]", "COUNT": 3,
                          "WINDOW": 48, "TTA": 0, "DEVICE": 1, "BACKEND": 1, "OUTPUT": str(root / "windows.gpkg")},
              "propose": {"MODEL": bundle, "SAM_MODEL": "someone/tiny-sam2", "MIN_PIXELS": 4, "DEVICE": 1,
                          "BACKEND": 1, "OUTPUT": str(root / "proposals.gpkg")}}
    deploy_plugin(root, venv_site_packages)
    models = {"someone/tiny-sam": save_tiny("sam", root / "sam"), "someone/tiny-sam2": save_tiny("sam2", root / "sam2")}
    with FileServer(root / "tiles") as tiles, LocalHub(models) as hub:
        config["xyz"] = f"type=xyz&url={tiles.url}/%7Bz%7D/%7Bx%7D/%7By%7D.png&zmax={ZMAX}&zmin=16"
        report = finished_session(Path(__file__).with_name("label_web_session.py"), root, config, timeout=600,
                                  env={"OMP_NUM_THREADS": "1", "TMPDIR": str(root), "HF_ENDPOINT": hub.url,
                                       "HF_HOME": str(root / "hf")})
        fetched = tiles.requests
    return report, config, fetched


def _inside(box: list[float], outer: list[float], slack: float) -> bool:
    return (box[0] >= outer[0] - slack and box[1] >= outer[1] - slack and box[2] <= outer[2] + slack
            and box[3] <= outer[3] + slack)


def test_the_button_makes_the_tool_current_and_another_tool_leaves_the_panel(session):
    report, _config, fetched = session
    assert report["layer"] == {"valid": True, "crs": "EPSG:3857", "canvas_crs": "EPSG:4326"}
    assert report["tool_active"]
    assert report["after_pan"] == {"panel_visible": True, "checked": False, "tool_back": True}
    assert fetched > 0


def _latitude(config: dict) -> float:
    """The latitude of the middle of the first view (degrees)."""
    view = config["view"]
    _lon, lat, _ = xy_transform(config["scene_crs"], "EPSG:4326").TransformPoint((view[0] + view[2]) / 2,
                                                                                 (view[1] + view[3]) / 2)
    return lat


def _finest_m(config: dict, zoom: int = ZMAX) -> float:
    """The tiles' pixel at ``zoom`` in metres on the ground, at the middle of the first view."""
    from engine.imagery.web import MERCATOR

    return 2 * MERCATOR / (256 * 2 ** zoom) * math.cos(math.radians(_latitude(config)))


def test_the_web_window_is_what_the_canvas_shows_no_finer_than_the_tiles(session):
    """The canvas is zoomed in past the tiles' finest level (zoom 18, about 0.47 m here): the window is read at
    that level, not at the canvas's pixel (about 0.2 m), which would only enlarge the tiles; said in the log."""
    report, config, _fetched = session
    click = report["click"]
    assert click["window_crs"] == "EPSG:3857"
    said = " ".join(click["said"])
    finer = re.search(r"XYZ layer 'tiles' has nothing finer than ([\d.]+) m per pixel here \(its finest level\): "
                      r"read at that, not at the ([\d.]+) m asked", said)
    assert finer, said
    assert float(finer.group(2)) == pytest.approx(click["canvas_pixel_m"], rel=0.02), said
    assert click["canvas_pixel_m"] < _finest_m(config)
    read = re.search(r"XYZ layer 'tiles' is read over the extent at ([\d.]+) m per pixel \(.*?\): (\d+) x (\d+) "
                     r"pixels", said)
    size, width, height = float(read.group(1)), int(read.group(2)), int(read.group(3))
    assert size == pytest.approx(_finest_m(config), rel=1e-3), said
    # the window is the canvas's view, brought to the tiles' CRS (within a pixel)
    assert click["window"] == pytest.approx(click["canvas_extent"], abs=2 * size)
    # square pixels on the ground (web mercator keeps shapes): as many columns as the canvas shows across at that
    # size, and 1/cos(latitude) times more rows per screen row, as the EPSG:4326 canvas's pixels are that much
    # taller than wide on the ground (the 462 x 816 window of a 463 x 649 canvas at 37.5°N, unclamped)
    canvas_width, canvas_height = click["canvas_size"]
    assert width == pytest.approx(canvas_width * click["canvas_pixel_m"] / size, abs=2), (width, height)
    stretch = (height / canvas_height) / (width / canvas_width)
    assert stretch == pytest.approx(1 / math.cos(math.radians(_latitude(config))), rel=0.02), (width, height)
    assert "Segment Anything model: SamModel" in said and "Downloaded 'someone/tiny-sam'" in said


def test_a_click_and_a_ctrl_click_land_where_they_were_made(session):
    report, config, _fetched = session
    click, negative = report["click"], report["negative"]
    assert [p[2] for p in negative["points"]] == [True, False]  # Ctrl+click: "not this"
    # back in the scene's CRS, each where it was made, to the nearest screen pixel
    for (x, y), expected in zip(negative["in_scene"], (config["click"], config["negative"])):
        assert abs(x - expected[0]) < click["canvas_pixel_m"] and abs(y - expected[1]) < click["canvas_pixel_m"]
    assert click["masks"] > 0 and click["band_vertices"] > 0  # what the engine answered is drawn
    assert negative["masks"] > 0


def test_a_drag_is_the_box_dragged_and_its_masks_lie_in_the_window(session):
    report, config, _fetched = session
    box = report["box"]
    (x0, y0), (x1, y1) = config["box"]
    assert box["points"] == []
    assert box["box_in_scene"] == pytest.approx([x0, y0, x1, y1], abs=1.5)
    assert box["masks"] > 0
    assert all(_inside(mask, box["window"], 2.0) for mask in box["mask_boxes"])


def test_accepted_polygons_are_the_masks_in_each_layers_crs_with_the_class(session):
    report, config, _fetched = session
    scratch, gpkg = report["scratch"], report["gpkg"]
    assert scratch["crs"] == "EPSG:4326" and scratch["classes"] == [CLASS_VALUE]
    assert scratch["added"] == scratch["masks"] == len(report["box"]["mask_boxes"]) > 0
    assert scratch["apart"] < 1e-6, scratch["apart"]  # the same polygons, moved from EPSG:3857 to 4326
    for accepted, mask in zip(scratch["boxes"], report["box"]["mask_boxes"]):
        assert accepted == pytest.approx(mask, abs=0.01)  # in the scene's CRS: where the mask was drawn
    assert gpkg["crs"] == config["scene_crs"]
    assert gpkg["classes"] == [GPKG_CLASS] and gpkg["added"] == gpkg["masks"] == gpkg["in_file"] > 0
    assert gpkg["apart"] < 1e-6, gpkg["apart"]


def test_a_box_off_the_window_after_panning_embeds_the_window_shown_now(session):
    report, config, _fetched = session
    first, second = report["click"]["window"], report["box2"]["window"]
    (x0, y0), (x1, y1) = config["box2"]
    assert not _inside([x0, y0, x1, y1], first, 0.0) and _inside([x0, y0, x1, y1], second, 0.0)
    assert report["box2"]["points"] == [] and report["box2"]["masks"] > 0  # the earlier prompts were cleared
    assert all(_inside(mask, second, 2.0) for mask in report["box2"]["mask_boxes"])
    assert sum("Embedded the window" in line for line in report["box2"]["said"]) == 1


def test_undo_takes_back_the_geopackage_accept_then_the_scratch_one(session):
    report, _config, _fetched = session
    undo = report["undo"]
    assert undo["first"] == {"gpkg": 0, "scratch": report["scratch"]["added"]}
    assert undo["second"] == {"scratch": 0}


def test_suggest_runs_from_its_dialog_over_the_web_layer_away_from_the_labelled_area(session):
    report, config, _fetched = session
    suggest = report["suggest"]
    assert suggest["ok"], suggest["log"][-3000:]
    windows = suggest["windows"]
    assert len(windows) == int(suggest["results"]["WINDOWS"]) == 3
    share = float(re.search(r"Scene 'tiles.web.vrt': ([\d.]+) % labelled so far", suggest["log"]).group(1))
    assert 40 < share < 60  # the west half of the scene, read through the web layer's window
    middle = config["labelled"][2]
    for window in windows:
        scene = Path(window["scene"])  # the web layer's window, kept beside the windows for Propose
        assert scene.name == "tiles.web.vrt" and scene.parent.parent.name == "windows_web" and scene.is_file()
        assert window["labelled"] < 0.5
        assert window["box"][2] > middle  # not in the labelled west half


def test_propose_runs_from_its_dialog_over_the_windows(session):
    report, _config, _fetched = session
    propose = report["propose"]
    assert propose["ok"], propose["log"][-3000:]
    proposals = propose["proposals"]
    assert len(proposals) == int(propose["results"]["PROPOSALS"]) > 0
    ranks = {w["rank"] for w in report["suggest"]["windows"]}
    assert {p["window"] for p in proposals} <= ranks
    assert all(p["inside"] for p in proposals)
    assert {Path(p["scene"]).name for p in proposals} == {"tiles.web.vrt"}
