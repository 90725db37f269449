"""Prompted labelling (engine.prompted) with tiny Segment Anything models of the real layouts: prompts reach the
model where they lie on the map, masks come back where the model put them, in the image's CRS, the embedding is
made once per window, checkpoints load strictly, and the ``label`` command runs through the hub download path.
With random weights a mask's content is arbitrary, so these check geometry, CRS, scores and reuse, not quality."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.errors import DataError, ModelError
from engine.io.polygons import ClassRule
from engine.prompted.model import import_problem
from tests.engine.prompted_models import PIXEL, X0, Y0, damaged_folders, save_tiny, scene_point, write_scene

torch = pytest.importorskip("torch")
rasterio = pytest.importorskip("rasterio")

REPO = Path(__file__).resolve().parents[2]
TIMM_WORKS = import_problem("timm") == ""


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    return write_scene(tmp_path_factory.mktemp("prompted") / "scene.tif")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("sam-models")
    return {family: save_tiny(family, base / family) for family in ("sam", "sam2", "sam3") + (
        ("edgetam",) if TIMM_WORKS else ())}


_map = scene_point


@pytest.mark.parametrize("family", ["sam", "sam2", pytest.param("edgetam", marks=pytest.mark.skipif(
    not TIMM_WORKS, reason="EdgeTAM's image encoder needs timm (with torchvision), not installed here"))])
def test_prompts_reach_the_model_where_they_lie_on_the_map(image, models, family):
    from engine.api import predict_prompts, prompted_session

    # a 100 x 50 m window: 200 x 100 pixels from column 40, row 50; the model sees it padded square, scaled to 256
    extent = (*_map(40, 150), *_map(240, 50))
    session = prompted_session(str(image), (extent[0], extent[1], extent[2], extent[3]), str(models[family]))
    assert session.window.shape == (100, 200)
    seen: list[dict] = []
    session.model.model.prompt_encoder.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append({k: v.clone() for k, v in kwargs.items() if torch.is_tensor(v)}),
        with_kwargs=True)
    scale = 256 / 200
    click = _map(40 + 120.5, 50 + 30.25)  # window pixel (120.5, 30.25)
    answers = predict_prompts(session, [click], [1])
    points = seen[-1]["input_points"] if "input_points" in seen[-1] else next(iter(seen[-1].values()))
    assert torch.allclose(points.reshape(-1, 2)[0], torch.tensor([120.5 * scale, 30.25 * scale]), atol=1e-3)
    box = (*_map(40 + 10, 50 + 90), *_map(40 + 60, 50 + 20))  # window pixels x 10..60, y 20..90
    predict_prompts(session, box=box)
    boxes = seen[-1]["input_boxes"]
    assert torch.allclose(boxes.reshape(-1), torch.tensor([10, 20, 60, 90.0]) * scale, atol=1e-3)
    # the same click given in WGS 84 reaches the same pixel
    from engine.imagery.picture import transform_points

    lon, lat = transform_points([click[0]], [click[1]], "EPSG:32633", "EPSG:4326")
    predict_prompts(session, [(lon[0], lat[0])], [1], crs="EPSG:4326")
    assert torch.allclose(seen[-1]["input_points"].reshape(-1, 2)[0], points.reshape(-1, 2)[0], atol=1e-2)
    # what comes back is in the image's CRS, inside the window, with the model's score
    (answer,) = answers
    assert "32633" in session.crs or "UTM zone 33N" in session.crs
    assert math.isfinite(answer.score) and answer.seconds > 0
    ogr = pytest.importorskip("osgeo.ogr")
    for polygon in answer.polygons:
        xmin, xmax, ymin, ymax = ogr.CreateGeometryFromWkt(polygon.wkt).GetEnvelope()
        assert extent[0] - 1e-6 <= xmin and xmax <= extent[2] + 1e-6
        assert extent[1] - 1e-6 <= ymin and ymax <= extent[3] + 1e-6
    with pytest.raises(DataError, match="outside the window"):
        predict_prompts(session, [_map(5, 5)], [1])


def test_a_mask_comes_back_as_polygons_where_it_lies(image):
    from engine.prompted.session import mask_polygons

    probabilities = np.zeros((100, 200), np.float32)
    probabilities[20:40, 50:80] = 0.9  # a 30 x 20 pixel building
    probabilities[90:92, 5:7] = 0.9  # a 4-pixel speck
    transform = (X0, PIXEL, 0.0, Y0, 0.0, -PIXEL)
    rule = ClassRule(treatment="regularise", min_area=16 * PIXEL * PIXEL)
    (polygon,) = mask_polygons(probabilities, transform, "EPSG:32633", rule)
    ogr = pytest.importorskip("osgeo.ogr")
    geometry = ogr.CreateGeometryFromWkt(polygon.wkt)
    xmin, xmax, ymin, ymax = geometry.GetEnvelope()
    assert (xmin, xmax, ymin, ymax) == pytest.approx((X0 + 25, X0 + 40, Y0 - 20, Y0 - 10), abs=1e-6)
    assert polygon.area == pytest.approx(150.0) and polygon.confidence == pytest.approx(0.9, abs=1e-4)


def test_the_window_is_embedded_once(image, models):
    from engine.api import prompted_session

    extent = (*_map(0, 120), *_map(128, 0))
    first = prompted_session(str(image), extent, str(models["sam"]))
    calls = []
    first.model.model.vision_encoder.register_forward_hook(lambda *a: calls.append(1))
    again = prompted_session(str(image), extent, str(models["sam"]))
    assert again.from_cache and again.embed_seconds == 0 and calls == []
    assert again.model is first.model
    other = prompted_session(str(image), (*_map(10, 130), *_map(138, 10)), str(models["sam"]))
    assert not other.from_cache and calls == [1]


def test_a_text_finds_objects_with_sam3(image, models, tmp_path, monkeypatch):
    """SAM 3 answers a word with one mask per object it scores high enough; random weights score anything, so the
    threshold is lowered to see every query's answer: sorted by score, in the image's CRS, inside the window."""
    import engine.prompted.model as model_module
    from engine.api import PromptedConfig, label_with_prompts, predict_prompts, prompted_session

    monkeypatch.setattr(model_module, "TEXT_THRESHOLD", 0.0)
    extent = (*_map(20, 150), *_map(220, 30))
    session = prompted_session(str(image), extent, str(models["sam3"]))
    answers = predict_prompts(session, text="building")
    assert len(answers) == 10  # the tiny model's ten object queries
    scores = [a.score for a in answers]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    ogr = pytest.importorskip("osgeo.ogr")
    for answer in answers:
        for polygon in answer.polygons:
            xmin, xmax, ymin, ymax = ogr.CreateGeometryFromWkt(polygon.wkt).GetEnvelope()
            assert extent[0] - 1e-6 <= xmin and xmax <= extent[2] + 1e-6
            assert extent[1] - 1e-6 <= ymin and ymax <= extent[3] + 1e-6
    with pytest.raises(ModelError, match="answers a text, not points or boxes"):
        predict_prompts(session, [_map(100, 100)], [1])
    out = tmp_path / "found.gpkg"
    result = label_with_prompts(PromptedConfig(image=str(image), extent=list(extent), text="building",
                                               model=str(models["sam3"]), output=str(out)))
    assert [number for number, _ in result.answers] == [0] * 10 and out.is_file()
    found = ogr.Open(str(out))  # kept: a layer outlives its data source only in a crash
    layer = found.GetLayer(0)
    assert layer.GetFeatureCount() == result.polygons
    assert {f.GetField("class_name") for f in layer} <= {"building"}


def test_checkpoints_load_strictly_and_errors_name_the_fix(image, models, tmp_path):
    from safetensors.torch import load_file, save_file

    from engine.api import prompted_session

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((models["sam"] / "config.json").read_text())
    weights = load_file(models["sam"] / "model.safetensors")
    weights.pop(next(k for k in weights if k.startswith("mask_decoder.")))
    save_file(weights, broken / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelError, match="does not match SamModel as its config.json describes it .missing keys: 1"):
        prompted_session(str(image), None, str(broken))
    other = tmp_path / "segformer"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "segformer"}))
    (other / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelError, match="'segformer' checkpoint, not a Segment Anything one"):
        prompted_session(str(image), None, str(other))
    with pytest.raises(ModelError, match="does not read text; use SAM 3"):
        prompted_session(str(image), None, str(models["sam"])).predict(text="building")
    with pytest.raises(DataError, match="does not overlap the image"):
        prompted_session(str(image), (0, 0, 10, 10), str(models["sam"]))


def test_label_command_downloads_the_model_and_writes_labels(image, models, tmp_path):
    """``dualstream label`` as a user runs it: the model by hub id from a hub (here on 127.0.0.1), prompts as a
    layer in WGS 84 (points, one negative, and a polygon as a box), a GeoPackage in the image's CRS."""
    from osgeo import ogr, osr

    from engine.imagery.picture import transform_points
    from tests.engine.local_hub import LocalHub

    prompts = tmp_path / "prompts.gpkg"
    wgs84 = osr.SpatialReference()
    wgs84.ImportFromEPSG(4326)
    wgs84.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(prompts))
    layer = source.CreateLayer("clicks", srs=wgs84, geom_type=ogr.wkbUnknown)
    layer.CreateField(ogr.FieldDefn("label", ogr.OFTInteger))
    layer.CreateField(ogr.FieldDefn("prompt", ogr.OFTInteger))
    for (col, row), label, group in (((140, 90), 1, 1), ((60, 20), 0, 1), ((150, 100), 1, 2)):
        (lon,), (lat,) = transform_points(*([v] for v in _map(col, row)), "EPSG:32633", "EPSG:4326")
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetField("label", label)
        feature.SetField("prompt", group)
        feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({lon} {lat})"))
        layer.CreateFeature(feature)
    lons, lats = transform_points([_map(100, 60)[0], _map(180, 120)[0]], [_map(100, 60)[1], _map(180, 120)[1]],
                                  "EPSG:32633", "EPSG:4326")
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt(
        f"POLYGON (({lons[0]} {lats[0]}, {lons[1]} {lats[0]}, {lons[1]} {lats[1]}, {lons[0]} {lats[1]}, "
        f"{lons[0]} {lats[0]}))"))
    layer.CreateFeature(feature)
    (lon,), (lat,) = transform_points(*([v] for v in _map(900, 900)), "EPSG:32633", "EPSG:4326")
    feature = ogr.Feature(layer.GetLayerDefn())  # a click far off the image: left out, said
    feature.SetField("prompt", 9)
    feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({lon} {lat})"))
    layer.CreateFeature(feature)
    feature = layer = source = None
    out = tmp_path / "labels.gpkg"
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "DUALSTREAM_OFFLINE")}
    env.update(HF_HOME=str(tmp_path / "hf"), PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    with LocalHub({"someone/tiny-sam2": models["sam2"]}) as hub:
        env["HF_ENDPOINT"] = hub.url
        done = subprocess.run([sys.executable, "-m", "engine", "label", "--image", str(image), "--prompts",
                               str(prompts), "--model", "someone/tiny-sam2", "--class-value", "3", "--class-name",
                               "building", "--out", str(out), "--json"], env=env, capture_output=True, text=True,
                              timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert "released under the licence apache-2.0" in done.stderr
    assert [a["prompt"] for a in result["answers"]] == [1, 2, 3]  # two click prompts and the box
    assert "1 of 4 prompt(s) lie outside the window and were left out (numbers 4)" in done.stderr
    assert all(math.isfinite(a["score"]) for a in result["answers"])
    labels = ogr.Open(str(out))
    layer = labels.GetLayer(0)
    assert layer.GetFeatureCount() == result["polygons"]
    ref = layer.GetSpatialRef()
    assert ref.GetAuthorityCode(None) == "32633"
    names = [layer.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(layer.GetLayerDefn().GetFieldCount())]
    assert names[:4] == ["class_id", "class_name", "score", "prompt"]
    for feature in layer:
        assert feature.GetField("class_id") == 3 and feature.GetField("class_name") == "building"


def _click(path: Path) -> Path:
    """A GeoPackage of one click on the bright square of :func:`write_scene`'s image, in its CRS."""
    from osgeo import ogr, osr

    utm = osr.SpatialReference()
    utm.ImportFromEPSG(32633)
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = source.CreateLayer("clicks", srs=utm, geom_type=ogr.wkbPoint)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt("POINT (%f %f)" % _map(140, 90)))
    layer.CreateFeature(feature)
    feature = layer = source = None
    return path


def test_label_takes_the_bands_shown_as_red_green_blue(image, models, tmp_path):
    """``label --bands``: the bands given are the ones the model sees (said in the log); two bands are refused
    with the fix."""
    from engine.api import PromptedConfig, label_with_prompts
    from engine.callbacks import Callback
    from engine.errors import ConfigError

    prompts = _click(tmp_path / "clicks.gpkg")

    class Said(Callback):
        lines: list[str] = []

        def info(self, message: str) -> None:
            self.lines.append(message)

    said = Said()
    result = label_with_prompts(PromptedConfig(image=str(image), prompts=str(prompts), model=str(models["sam"]),
                                               bands="3,2,1", output=str(tmp_path / "out.gpkg")), said)
    assert result.answers and any("bands 3,2,1 as given" in line for line in said.lines), said.lines
    with pytest.raises(DataError, match="give three .red, green, blue. or one .grey."):
        label_with_prompts(PromptedConfig(image=str(image), prompts=str(prompts), model=str(models["sam"]),
                                          bands="1,2", output=str(tmp_path / "out2.gpkg")), Callback())
    with pytest.raises(ConfigError, match="empty entry"):
        PromptedConfig(image=str(image), prompts=str(prompts), bands="1,,2", output=str(tmp_path / "out3.gpkg"))


def test_label_reads_a_web_layer_at_the_pixel_size_given(image, models, tmp_path):
    """``label --pixel-size`` was offered and read by nothing: a web layer's description went to GDAL whole, at
    the service's own grid. The window is now read over the extent at the pixel size asked, through the image
    door as QGIS reads it; without one it is refused with the setting to give."""
    from engine.api import PromptedConfig, label_with_prompts
    from engine.callbacks import Callback
    from engine.errors import ConfigError
    from engine.imagery.web import wms_description
    from tests.ogc_server import OgcServer

    prompts = _click(tmp_path / "clicks.gpkg")
    window = [*_map(40, 180), *_map(240, 20)]  # 200 x 160 pixels of 0.5 m: 100 x 80 m

    class Said(Callback):
        def __init__(self) -> None:
            self.lines: list[str] = []

        def info(self, message: str) -> None:
            self.lines.append(message)

    rgb = tmp_path / "rgb.tif"
    with rasterio.open(image) as src:
        profile = dict(src.profile, dtype="uint8")
        with rasterio.open(rgb, "w", **profile) as dst:
            dst.write((src.read() // 16).astype(np.uint8))
    with OgcServer(rgb) as server:
        layer_file = tmp_path / "layer.xml"
        layer_file.write_text(wms_description(f"{server.url}/wms", "scene", "EPSG:32633"), encoding="utf-8")
        sizes = {}
        for size in (1.0, 2.5):
            said = Said()
            result = label_with_prompts(PromptedConfig(
                image=str(layer_file), extent=window, extent_crs="EPSG:32633", pixel_size=size, prompts=str(prompts),
                model=str(models["sam"]), output=str(tmp_path / f"web_{size}.gpkg")), said)
            assert result.answers
            read = next(line for line in said.lines if "read over the extent at" in line)
            sizes[size] = read
            assert f"at {size:g} m per pixel" in read and f"{round(100 / size)} x {round(80 / size)} pixels" in read
        assert server.requests("GetMap") >= 2
        with pytest.raises(ConfigError, match="no pixel size was given; give (label.)?pixel_size"):
            label_with_prompts(PromptedConfig(image=str(layer_file), extent=window, extent_crs="EPSG:32633",
                                              prompts=str(prompts), model=str(models["sam"]),
                                              output=str(tmp_path / "none.gpkg")), Callback())


def test_damaged_model_folders_are_one_error_naming_the_fix(image, models, tmp_path, capsys):
    """``label`` with a SAM folder damaged three ways ends in one error naming the folder and the fix, no
    traceback and no output (before: a JSON, safetensors or transformers traceback)."""
    from engine.cli.main import main

    prompts = _click(tmp_path / "clicks.gpkg")
    out = tmp_path / "labels.gpkg"
    for folder, words in damaged_folders(models["sam2"], tmp_path).values():
        assert main(["label", "--image", str(image), "--prompts", str(prompts), "--model", str(folder), "--out",
                     str(out), "--device", "cpu"]) == 2
        err = capsys.readouterr().err
        assert str(folder) in err and all(w in err.lower() for w in words), err
        assert "Traceback" not in err and not out.exists()


def test_a_nan_pixel_is_no_value_and_a_blank_window_is_refused(image, tmp_path):
    """A float image with a NaN pixel is stretched over its other pixels (before: every value NaN, a black
    picture); a window of nodata only is refused, naming the image (before: polygons of a blank picture)."""
    from engine.imagery.picture import read_window

    with rasterio.open(image) as src:
        data, profile = src.read().astype(np.float32), src.profile
    profile.update(dtype="float32")
    data[:, 5, 7] = np.nan
    holed = tmp_path / "nan.tif"
    with rasterio.open(holed, "w", **profile) as dst:
        dst.write(data)
    clean, seen = read_window(str(image)), read_window(str(holed))
    assert seen.rgb.max() == 255 and (seen.rgb[5, 7] == 0).all()
    assert np.abs(seen.rgb.astype(int) - clean.rgb.astype(int)).mean() < 0.5  # the same picture but that pixel
    assert any("nodata or NaN, shown black" in line for line in seen.said)
    blank = tmp_path / "blank.tif"
    with rasterio.open(blank, "w", **dict(profile, nodata=0)) as dst:
        dst.write(np.zeros_like(data))
    with pytest.raises(DataError, match="blank.tif' holds no valid pixel .all nodata or NaN."):
        read_window(str(blank))


def _label_progress(events: list) -> list[tuple[float, float, str]]:
    return [value for kind, value in events if kind == "progress"]


def test_label_progress_moves_through_the_embedding_and_each_prompt(image, models, tmp_path):
    """One count (Stage.LABEL) from 0 to 1: the window read, the model loaded and the picture embedded move it
    through its first share, each prompt through the rest. Before, only the prompts reported (under the segment
    stage), so a front end's bar sat at its start while Segment Anything embedded the window, the slow part."""
    from engine.api import PromptedConfig, Stage, label_with_prompts
    from engine.prompted.labels import EMBED_SHARE
    from tests.helpers import RecordingCallback

    prompts = _click(tmp_path / "clicks.gpkg")
    recorded = RecordingCallback()
    label_with_prompts(PromptedConfig(image=str(image), prompts=str(prompts), model=str(models["sam2"]),
                                      device="cpu", output=str(tmp_path / "out.gpkg")), recorded)
    progress = _label_progress(recorded.events)
    assert {stage for _done, _total, stage in progress} == {Stage.LABEL}, progress  # no inner stage's own bar
    values = [done / total for done, total, _stage in progress]
    assert values == sorted(values) and values[0] == 0.0 and values[-1] == 1.0, values
    # the read, the model, the embedding: three steps before the one prompt
    assert len({v for v in values if 0 < v <= EMBED_SHARE + 1e-9}) == 3, values


def test_a_download_inside_label_reports_its_bytes_between_the_label_steps(image, models, tmp_path):
    """Segment Anything's weights downloaded on first use (a hub on 127.0.0.1 sending them in pieces): the
    download's progress (Stage.DOWNLOAD, several values) comes inside the run's own count, after its start and
    before the model is loaded, so a front end can move its one bar through it."""
    from tests.engine.local_hub import LocalHub

    script = (
        "import json, sys\n"
        "from engine.api import PromptedConfig, label_with_prompts\n"
        "from tests.helpers import RecordingCallback\n"
        "recorded = RecordingCallback()\n"
        "label_with_prompts(PromptedConfig(image=sys.argv[1], prompts=sys.argv[2], model='someone/tiny-sam2',\n"
        "                                  device='cpu', output=sys.argv[3]), recorded)\n"
        "print(json.dumps([v for kind, v in recorded.events if kind == 'progress']))\n")
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "DUALSTREAM_OFFLINE")}
    env.update(HF_HOME=str(tmp_path / "hf"), PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    with LocalHub({"someone/tiny-sam2": models["sam2"]}) as hub:
        hub.faults["model.safetensors"] = "slow"
        env["HF_ENDPOINT"] = hub.url
        done = subprocess.run([sys.executable, "-c", script, str(image), str(_click(tmp_path / "clicks.gpkg")),
                               str(tmp_path / "out.gpkg")], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    progress = json.loads(done.stdout.strip().splitlines()[-1])
    stages = [stage for _done, _total, stage in progress]
    downloads = [i for i, stage in enumerate(stages) if stage == "download"]
    assert downloads and stages[0] == "label" and stages[-1] == "label", stages
    label_before = [progress[i][0] / progress[i][1] for i in range(downloads[0]) if stages[i] == "label"]
    assert label_before and max(label_before) < 0.5, progress  # the window read; the model not yet loaded
    fractions = {round(progress[i][0] / max(progress[i][1], 1), 3) for i in downloads}
    assert len(fractions) >= 3 and max(fractions) == 1.0, progress  # the bytes arriving, to the end
