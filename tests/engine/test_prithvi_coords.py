"""Prithvi-EO-2.0 TL: each tile's date and place reach the release's time and location encoders (issue 56).

- the encoders compute the release's code (a learnt scale times sin-cos of year and day of year, of latitude and
  longitude, half the width each), nothing where a coordinate is NaN, under the release's layer names;
- the date comes from a STAC item, an acquisition tag or the file name (never TIFFTAG_DATETIME), the place from
  the tile centre in WGS 84;
- training feeds them and the bundle records what was used; segment feeds them too (the same scene with and
  without a date gives other probabilities), through the ONNX export's ``coords`` input as through torch, and
  says once what it used, or that none was known.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from engine.data.acquisition import STAC_TAG, of_dataset, scene_date
from engine.models import build_model
from engine.models.encoders.prithvi import PrithviViT
from tests.engine.foundation_fixtures import PRITHVI_TINY_FILE, write_prithvi_release


def _code(dim: int, value: float) -> np.ndarray:
    """The release's 1-D sin-cos code of one value (omega_i = 1 / 10000^(i / (dim/2)); sines, then cosines)."""
    omega = 1.0 / 10000 ** (np.arange(dim // 2) / (dim / 2.0))
    return np.concatenate([np.sin(value * omega), np.cos(value * omega)])


def test_time_and_location_codes_follow_the_release_and_nan_adds_nothing():
    vit = PrithviViT(6, embed_dim=32, depth=4, num_heads=2, coords=True)
    assert {"temporal_embed_enc.scale", "location_embed_enc.scale"} <= set(vit.state_dict())  # the release's names
    with torch.no_grad():
        vit.temporal_embed_enc.scale.fill_(0.3)
        coords = torch.tensor([[2023.0, 166.0, 47.5, -122.25], [float("nan"), 1.0, float("nan"), 8.0]])
        time = vit.temporal_embed_enc(coords[:, :2], 32)
        place = vit.location_embed_enc(coords[:, 2:], 32)
    want = 0.3 * np.concatenate([_code(16, 2023.0), _code(16, 166.0)])
    assert np.allclose(time[0, 0].numpy(), want, atol=1e-4)
    assert np.allclose(place[0, 0].numpy(), 0.1 * np.concatenate([_code(16, 47.5), _code(16, -122.25)]), atol=1e-4)
    assert torch.equal(time[1], torch.zeros(1, 32)) and torch.equal(place[1], torch.zeros(1, 32))  # NaN: nothing


def test_the_model_takes_coords_only_where_its_encoder_does():
    torch.manual_seed(0)
    model = build_model("unet", preset="tiny", vision_channels=6, aux_channels=0, encoder="tiny_prithvi").eval()
    plain = build_model("unet", preset="tiny", vision_channels=6, aux_channels=0, encoder="tiny_resnet").eval()
    assert model.takes_coords and not plain.takes_coords
    x = torch.randn(2, 6, 64, 64)
    known = torch.tensor([[2023.0, 166.0, 47.5, -122.25]] * 2)
    unknown = torch.full((2, 4), float("nan"))
    with torch.no_grad():
        bare = model(x)["logits"]
        assert not torch.allclose(model(x, coords=known)["logits"], bare)
        assert torch.equal(model(x, coords=unknown)["logits"], bare)
        assert torch.equal(plain(x, coords=known)["logits"], plain(x)["logits"])


def _raster(path, tags=None, crs="EPSG:4326", transform=None):
    profile = {"driver": "GTiff", "width": 100, "height": 100, "count": 1, "dtype": "uint16",
               "crs": crs, "transform": transform or from_origin(10.0, 50.0, 0.01, 0.01)}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.ones((1, 100, 100), np.uint16))
        dst.update_tags(**(tags or {}))
    return str(path)


def of_raster(path: str):
    with rasterio.open(path) as dataset:
        return of_dataset(path, dataset)


def test_the_date_from_tags_stac_or_the_file_name_and_the_place_from_the_crs(tmp_path):
    tagged = of_raster(_raster(tmp_path / "a.tif", {"DATE_ACQUIRED": "2021-03-04"}))
    assert tagged.date == dt.date(2021, 3, 4) and tagged.date_source == "its tag DATE_ACQUIRED"
    coords = tagged.coords([(50.0, 50.0)])[0]
    assert coords[:2].tolist() == [2021.0, 63.0] and np.allclose(coords[2:], [49.5, 10.5])  # lat, lon of (50, 50)
    stac = of_raster(_raster(tmp_path / "b.tif", {STAC_TAG: "2020-12-31T10:00:00Z"}))
    assert stac.date == dt.date(2020, 12, 31) and "STAC" in stac.date_source
    assert scene_date("S2A_MSIL2A_20230615T103031_N0509_R108_T32TMT.tif", {})[0] == dt.date(2023, 6, 15)
    assert scene_date("HLS.S30.T10SEH.2023166T184919.v2.0.tif", {})[0] == dt.date(2023, 6, 15)
    assert scene_date("HLS.S30.T10SEH.2024366T184919.v2.0.tif", {})[0] == dt.date(2024, 12, 31)  # a leap year
    created = of_raster(_raster(tmp_path / "c.tif", {"TIFFTAG_DATETIME": "2024:01:02 03:04:05"}))
    assert created.date is None  # the file's creation time, not the scene's
    bare = of_raster(_raster(tmp_path / "d.tif", crs=None, transform=from_origin(0, 100, 1, 1)))
    assert not bare.known and np.isnan(bare.coords([(1.0, 1.0)])).all()


@pytest.mark.parametrize("name, tags, said", [
    ("HLS.S30.T10SEH.2023366T184919.v2.0.tif", {}, "its file name's 2023366 is day 366 of 2023, a year of 365 days"),
    ("S2A_MSIL2A_00010101T103031_x.tif", {}, "its file name gives 0001-01-01, a date no satellite scene has"),
    ("S2A_MSIL2A_20231301T103031_x.tif", {}, "its file name's 20231301 is no calendar date"),
    ("scene.tif", {"DATE_ACQUIRED": "1901-05-01"}, "its tag DATE_ACQUIRED gives 1901-05-01, a date no satellite"),
])
def test_a_date_no_satellite_scene_has_is_unknown_and_said(name, tags, said):
    """Issue 61, item 10: day 366 of 2023 became 2024-01-01 and the year 0001 was fed to the time encoder."""
    date, why = scene_date(name, tags)
    assert date is None and why.startswith(said) and "taken as unknown" in why, why
    dated, where = scene_date(name, {**tags, "ACQUISITIONDATETIME": "2023-06-15T10:00:00Z"})
    assert dated == dt.date(2023, 6, 15) and where == "its tag ACQUISITIONDATETIME"  # the fix the message names


def test_training_and_segment_feed_the_date_and_place_and_say_so(synthetic_scene, tmp_path, capsys):
    from engine.bundle.store import read_metadata
    from engine.cli.main import main

    write_prithvi_release(tmp_path / "rel", bands=4)
    image = tmp_path / "scene.tif"
    shutil.copy(synthetic_scene["image"], image)
    with rasterio.open(image, "r+") as dst:
        dst.update_tags(DATE_ACQUIRED="2023-06-15")
        assert dst.crs is not None
    out = tmp_path / "tl.dsmodel"
    assert main(["train", "--image", str(image), "--label", synthetic_scene["label"], "--out", str(out), "--model",
                 "unet", "--encoder", "prithvi_eo2_tiny_tl", "--pretrained", str(tmp_path / "rel" / PRITHVI_TINY_FILE),
                 "--bands", "1,2,3,4", "--tile-size", "64", "--tiles-per-epoch", "4", "--batch-size", "2", "--epochs",
                 "1", "--warmup-epochs", "0", "--device", "cpu", "--num-workers", "0", "--preview-tiles", "0"]) == 0
    err = capsys.readouterr().err
    assert "fed each tile's date and place where known (1 of 1 scene(s) with a date, 1 with a place)" in err
    kept = read_metadata(out).extra["coordinates"]
    assert kept["scenes"][0]["date"] == "2023-06-15" and kept["scenes"][0]["place"] is True

    undated = tmp_path / "undated.tif"
    shutil.copy(synthetic_scene["image"], undated)
    runs = {}
    for name, path, backend in (("dated", image, "auto"), ("undated", undated, "auto"), ("torch", image, "torch")):
        args = ["segment", "--image", str(path), "--model", str(out), "--device", "cpu", "--json", "--out",
                str(tmp_path / f"{name}_c.tif"), "--probabilities", str(tmp_path / f"{name}_p.tif"), "--backend",
                backend]
        assert main(args) == 0
        captured = capsys.readouterr()
        runs[name] = captured.err
        assert json.loads(captured.out)["backend"] == ("torch" if backend == "torch" else "onnxruntime")
    assert "inputs vision (4, 64, 64), coords (4,)" in runs["dated"]  # the export takes them
    assert "time/location inputs: date 2023-06-15 (its tag DATE_ACQUIRED), place: each tile's centre" in \
        runs["dated"]
    assert "time/location inputs: no date (no acquisition date in its tags or file name), place" in \
        runs["undated"]
    with rasterio.open(tmp_path / "dated_p.tif") as a, rasterio.open(tmp_path / "undated_p.tif") as b, \
            rasterio.open(tmp_path / "torch_p.tif") as c:
        dated = a.read()
        assert not np.allclose(dated, b.read(), atol=1e-5)  # the date reached the encoder
        assert np.allclose(dated, c.read(), atol=1e-4)  # onnxruntime fed it as torch does

    # issue 61, items 4 and 10: its summary names its encoder and its second input; export says what that input is
    assert main(["info", str(out)]) == 0
    said = capsys.readouterr().out
    assert ": unet (preset base, encoder prithvi_eo2_tiny_tl), trained at" in said, said
    assert "date and place: each tile's (year, day of year, latitude, longitude)" in said
    assert main(["export", str(out), "--onnx", str(tmp_path / "tl.onnx"), "--quiet"]) == 0
    said = capsys.readouterr()
    assert "takes the image (vision) and each tile's date and place (coords" in said.out + said.err
    assert "aux on a coarser grid" not in said.out + said.err
    assert main(["export", str(out), "--onnx", str(tmp_path / "one.onnx"), "--single-input"]) == 2
    error = capsys.readouterr().err
    assert "--single-input stacks the image and the aux channels into one tensor" in error
    assert "takes each tile's date and place" in error and "without --single-input" in error
    assert not (tmp_path / "one.onnx").exists()


@pytest.mark.parametrize("name", ["Prithvi_EO_V2_tiny_TL.pt"])
def test_a_tl_release_still_loads_strictly(tmp_path, name):
    from engine.models.encoders.catalog import ENCODERS
    from engine.models.encoders.prithvi import load_release

    state = write_prithvi_release(tmp_path)
    model, sizes = load_release(tmp_path / name, ENCODERS["prithvi_eo2_tiny_tl"], 0.0, lambda m: None)
    assert sizes["coords"] and model.takes_coords
    assert torch.equal(model.temporal_embed_enc.scale, state["encoder.temporal_embed_enc.scale"])


def test_a_stac_items_datetime_dates_the_scene_read_from_it(tmp_path):
    from engine.data.acquisition import of_source
    from engine.data.input_vrt import InputFiles
    from engine.imagery.stac_assets import stac_raster

    _raster(tmp_path / "B02.tif")
    item = {"type": "Feature", "stac_version": "1.0.0", "id": "S2_x", "geometry": None, "bbox": [10, 49, 11, 50],
            "properties": {"datetime": "2022-08-01T10:20:30Z"},
            "assets": {"blue": {"href": "B02.tif", "type": "image/tiff; application=geotiff", "roles": ["data"],
                                "eo:bands": [{"name": "B02", "common_name": "blue"}]}}}
    path = tmp_path / "item.json"
    path.write_text(json.dumps(item), encoding="utf-8")
    opened = of_raster(str(tmp_path / "B02.tif"))
    assert opened.date is None
    dated = of_source(str(path), opened)  # segment: the item the user gave
    assert dated.date == dt.date(2022, 8, 1) and dated.date_source == "its STAC item's datetime"
    assert dated.crs is not None  # the place still from the raster read
    files = InputFiles()
    try:
        vrt = stac_raster(str(path), files)  # training reads an item as a VRT carrying its datetime
        assert of_raster(vrt).date == dt.date(2022, 8, 1)
    finally:
        files.close()
