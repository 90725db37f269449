"""Real Sentinel-2 L2A tiles (terramesh_s2_s1_dem, 12 bands int16 reflectance x 10000): the training preview shows
natural colour by band names, and segment says nothing for other tiles of the same product but warns for an 8-bit
export (issue 33, items 5 and 7)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from engine.config import DataConfig, SceneSpec, SegmentConfig, TrainConfig
from engine.models import AutoModelConfig
from engine.segment import segment
from engine.training.trainer import train
from tests.helpers import RecordingCallback

pytestmark = pytest.mark.realdata

TERRAMESH = "terramesh_s2_s1_dem"
TRAIN_TILE, OTHER_TILES = "282D_485L_3_3", ("38D_378R_2_3", "433D_629L_3_1", "637U_59R_1_3")
S2_NAMES = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"]


@pytest.fixture(scope="module")
def s2(realdata, tmp_path_factory) -> dict:
    root = realdata / TERRAMESH
    if not (root / "S2L2A").is_dir():
        pytest.skip(f"'{root}' is absent")
    work = tmp_path_factory.mktemp("s2")
    named = work / "named.tif"  # the tile as a product with band names delivers it
    shutil.copyfile(root / "S2L2A" / f"{TRAIN_TILE}.tif", named)
    with rasterio.open(named, "r+") as dst:
        for band, name in enumerate(S2_NAMES, start=1):
            dst.set_band_description(band, name)
    data = DataConfig(train_scenes=[SceneSpec(image=str(named), label=str(root / "LULC" / f"{TRAIN_TILE}.tif"))],
                      tile_size=64, tiles_per_epoch=4, label_mapping={"1": 1}, strict_labels=False, val_fraction=0.25)
    callback = RecordingCallback()
    result = train(AutoModelConfig.for_family(name="unet", preset="tiny", aux_channels=0), data,
                   TrainConfig(output=str(work / "s2.dsmodel"), epochs=1, warmup_epochs=0, batch_size=2, device="cpu",
                               preview_tiles=1), callback)
    return {"root": root, "work": work, "bundle": result.bundle, "result": result, "callback": callback}


def test_preview_shows_bands_4_3_2_and_says_so(s2):
    said = [m for m in s2["callback"].messages("info") if m.startswith("Report preview:")]
    assert said == ["Report preview: bands 4,3,2 as red, green, blue (Sentinel-2 band names: B04, "
                    "B03, B02)."]
    assert "bands 4,3,2 as red, green, blue" in Path(s2["result"].report).read_text()


def test_other_tiles_of_the_product_pass_and_an_8bit_export_warns(s2):
    for tile in OTHER_TILES:
        callback = RecordingCallback()
        segment(SegmentConfig(image=str(s2["root"] / "S2L2A" / f"{tile}.tif"), models=[s2["bundle"]],
                              output=str(s2["work"] / f"{tile}.tif"), device="cpu"), callback)
        warned = callback.messages("warning")
        assert not [w for w in warned if "looks unlike" in w], (tile, warned)
    with rasterio.open(s2["root"] / "S2L2A" / f"{OTHER_TILES[0]}.tif") as src:
        profile, data = src.profile, src.read()
    byte = s2["work"] / "byte.tif"
    with rasterio.open(byte, "w", **dict(profile, dtype="uint8", nodata=None)) as dst:
        dst.write(np.clip(data / 10000 * 255, 0, 255).astype(np.uint8))
    callback = RecordingCallback()
    segment(SegmentConfig(image=str(byte), models=[s2["bundle"]], output=str(s2["work"] / "b.tif"), device="cpu"),
            callback)
    said = [w for w in callback.messages("warning") if "looks unlike" in w]
    assert said and "12 of its 12 band(s)" in said[0] and "8-bit export" in said[0]
