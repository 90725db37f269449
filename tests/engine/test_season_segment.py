"""A season model through both segment backends: the torch predictor and onnxruntime (the default) agree with
clouds per pixel, TTA turning the validity with the images and fewer dates than trained padded; more dates than
the model was trained on run through a graph made for that count (an exported .onnx file of fixed count refuses
them with what to do), as torch takes any count."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.bundle.model_files import read_model_metadata
from engine.bundle.store import read_metadata
from engine.errors import ModelError
from engine.export.onnx_export import export_onnx
from engine.segment.members import Member
from engine.segment.onnx_predictor import OnnxPredictor
from engine.segment.predictor import Predictor, Season
from tests.helpers import bundle_of

TILE = 64


def _season(dates: int, batch: int = 2) -> tuple[np.ndarray, Season]:
    rng = np.random.default_rng(dates)
    vision = rng.random((batch, dates * 3, TILE, TILE), dtype=np.float32)
    valid = np.ones((batch, dates, TILE, TILE), bool)
    valid[0, min(1, dates - 1), :20, :40] = False  # a cloud on the second date of the first tile (one: the first)
    days = np.tile(np.linspace(20.0, 300.0, dates, dtype=np.float32), (batch, 1))
    return vision, Season(days, valid)


def test_torch_and_onnxruntime_agree_on_a_cloudy_season_of_fewer_dates(tmp_path, tiny_model, monkeypatch):
    monkeypatch.setenv("DUALSTREAM_CACHE_DIR", str(tmp_path / "cache"))
    bundle = bundle_of(tiny_model("season", classes=3, dates=4), tmp_path / "season.dsmodel")
    members = [Member(str(bundle), read_metadata(bundle), 1.0)]
    key = members[0].stats_key
    vision, season = _season(3)  # three dates for a model trained on four: padded and masked
    with_torch = Predictor.from_bundles(members, "flips", "cpu")({key: vision}, {key: None}, season=season)
    onnx = OnnxPredictor.from_files(members, "flips", "cpu")
    assert np.abs(onnx({key: vision}, {key: None}, season=season) - with_torch).max() < 1e-4
    model = Predictor.from_bundles(members, "none", "cpu").members[0].model
    with torch.no_grad():  # no TTA: the model's own softmax, the validity as given
        alone = torch.softmax(model(torch.from_numpy(vision), days=torch.from_numpy(season.days),
                                    valid=torch.from_numpy(season.valid))["logits"], dim=1).numpy()
    plain = Predictor.from_bundles(members, "none", "cpu")({key: vision}, {key: None}, season=season)
    assert np.abs(plain - alone).max() < 1e-6
    cloudless = Season(season.days, np.ones_like(season.valid))
    assert np.abs(plain - Predictor.from_bundles(members, "none", "cpu")({key: vision}, {key: None},
                                                                          season=cloudless)).max() > 1e-4

    more, long = _season(5)  # more dates than trained: the bundle's graph made for five; an .onnx file refuses them
    five = Predictor.from_bundles(members, "flips", "cpu")({key: more}, {key: None}, season=long)
    assert five.shape == (2, 3, TILE, TILE)
    assert np.abs(onnx({key: more}, {key: None}, season=long) - five).max() < 1e-4
    graph = export_onnx(bundle, tmp_path / "season.onnx", dynamic_batch=True).output
    fixed = OnnxPredictor.from_files([Member(graph, read_model_metadata(graph, "onnxruntime"), 1.0)], "none", "cpu")
    with pytest.raises(ModelError, match="at most 4 dates.*--backend torch"):
        fixed({key: more}, {key: None}, season=long)


@pytest.mark.parametrize("given", [1, 3])
def test_onnxruntime_runs_a_one_date_season_model_on_any_date_count(tmp_path, tiny_model, monkeypatch, given):
    """A season model trained on one date ran on onnxruntime refused even one date ("at most 0 dates": its graph's
    one image input is named ``vision``); the default backend takes every count torch takes: a bundle's graph is
    exported for the scene's count where it holds more dates than the model was trained on."""
    monkeypatch.setenv("DUALSTREAM_CACHE_DIR", str(tmp_path / "cache"))
    bundle = bundle_of(tiny_model("season", classes=3, dates=1), tmp_path / "one.dsmodel")
    members = [Member(str(bundle), read_metadata(bundle), 1.0)]
    key = members[0].stats_key
    vision, season = _season(given)
    with_torch = Predictor.from_bundles(members, "none", "cpu")({key: vision}, {key: None}, season=season)
    onnx = OnnxPredictor.from_files(members, "none", "cpu")({key: vision}, {key: None}, season=season)
    assert onnx.shape == (2, 3, TILE, TILE)
    assert np.abs(onnx - with_torch).max() < 1e-4


def test_class_areas_give_every_class_its_pixels_and_hectares(tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    from engine.api import class_areas

    values = np.zeros((1, 10, 20), np.uint8)
    values[0, :, 15:] = 2  # 50 px of class 2; class 1 absent
    path = tmp_path / "classes.tif"
    with rasterio.open(path, "w", driver="GTiff", width=20, height=10, count=1, dtype="uint8", crs="EPSG:32633",
                       transform=from_origin(500000.0, 5000000.0, 10.0, 10.0)) as out:
        out.write(values)
    rows = [r.to_dict() for r in class_areas(str(path))]
    assert [(r["value"], r["pixels"]) for r in rows] == [(0, 150), (1, 0), (2, 50)]
    assert rows[2]["hectares"] == pytest.approx(0.5) and rows[0]["hectares"] == pytest.approx(1.5)


def test_a_dates_cloud_vrt_never_shows_without_its_clouds(tmp_path, monkeypatch):
    """Processes of one torchrun make the same VRT of a date and its clouds side by side: the file wrote the date
    alone first, then again with the clouds, and another process read the half-written or cloudless one (a
    torchrun season training failed "not recognized as a supported file format"). Every state of the file a reader
    can meet holds the cloud mask."""
    import os
    from pathlib import Path

    import rasterio
    from rasterio.transform import from_origin

    from engine.data.input_vrt import cloud_masked_vrt

    profile = {"driver": "GTiff", "width": 8, "height": 8, "count": 1, "crs": "EPSG:32633",
               "transform": from_origin(500000.0, 5000000.0, 10.0, 10.0)}
    with rasterio.open(tmp_path / "d.tif", "w", dtype="float32", **profile) as out:
        out.write(np.ones((1, 8, 8), np.float32))
    with rasterio.open(tmp_path / "d_cloud.tif", "w", dtype="uint8", **profile) as out:
        out.write(np.eye(8, dtype=np.uint8)[None])
    destination = tmp_path / "season" / "d.vrt"
    destination.parent.mkdir()
    seen = []
    write_text, replace = Path.write_text, os.replace

    def recording_write(path, text, *args, **kwargs):
        if Path(path) == destination:
            seen.append(text)
        return write_text(path, text, *args, **kwargs)

    def recording_replace(source, target, *args, **kwargs):
        if Path(target) == destination:
            seen.append(Path(source).read_text(encoding="utf-8"))
        return replace(source, target, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", recording_write)
    monkeypatch.setattr(os, "replace", recording_replace)
    cloud_masked_vrt(str(tmp_path / "d.tif"), [1], str(tmp_path / "d_cloud.tif"), 1, destination)
    assert seen and all("<LUT>0:255,0.5:0</LUT>" in text for text in seen)
    with rasterio.open(destination) as vrt:
        assert (vrt.read_masks(1) == 0).sum() == 8  # the diagonal's clouds masked


def test_export_says_a_season_graph_s_dates_apart_from_their_days_and_validity():
    """The export's Deepness line counts a season graph's image inputs as its dates; ``days`` and ``valid`` are
    said as what they are, not as two more dates."""
    from engine.cli.export import _inputs_said

    said = _inputs_said(["date1", "date2", "date3", "days", "valid"])
    assert said.startswith("3 dates, one input each (date1, date2, date3)")
    assert "day number and validity (days, valid)" in said
    assert _inputs_said(["before", "after"]) == "2 dates, one input each (before, after)"
