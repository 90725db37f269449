"""Fine-tuning on real imagery (opt-in: ``pytest -m realdata``): a building model of Massachusetts aerial RGB
(1 m) fine-tuned on SpaceNet 4 Atlanta (0.5 m) with its fourth band and a third class, so the first layer is
adapted and the head rebuilt; the accuracy figures are bench/bench_finetune.py's (docs/training.md)."""

from __future__ import annotations

import pytest

from engine import api
from engine.bundle.store import read_metadata
from tests.helpers import RecordingCallback

pytestmark = pytest.mark.realdata

MASSACHUSETTS = ("massachusetts_buildings_rgb/22978945_15_uint8_clipped2.tif",
                 "massachusetts_buildings_rgb/22978945_15_buildings_mask.tif")
ATLANTA = ("spacenet4_atlanta_rgb/SN4_buildings_train_AOI_6_Atlanta_nadir10_catid_1030010003993E00_PS-RGBNIR_"
           "732701_3729639_clipped.tif", "spacenet4_atlanta_rgb/atlanta_buildings_mask.tif")
GIVEN = {"data.tile_size", "train.epochs", "train.warmup_epochs", "train.time_budget"}


def _train(root, scene, out, classes, **settings) -> tuple:
    data = {"train_scenes": [{"image": str(root / scene[0]), "label": str(root / scene[1])}], "tile_size": 128,
            "tiles_per_epoch": 16, "label_mapping": {"1": 1}, "class_names": classes, "seed": 0,
            "class_colors": ["#000000", "#ff0000", "#0000ff"][:len(classes)], **settings.pop("data", {})}
    train = {"output": str(out), "epochs": 1, "warmup_epochs": 0, "batch_size": 4, "device": "cpu",
             "preview_tiles": 0, "time_budget": None, **settings}
    model = {"name": "unet", "preset": "tiny"} if "init_from" not in train else {}
    given = GIVEN | ({"model.name", "model.preset"} if model else set())
    callback = RecordingCallback()
    run = api.train(api.train_request({"model": model, "data": data, "train": train}, given), callback)
    return run, "\n".join(callback.messages("info") + callback.messages("warning"))


def test_fine_tuning_to_another_city_adapts_bands_and_rebuilds_the_head(realdata, tmp_path):
    root = realdata / "gdl_buildings_landcover"
    parent, _ = _train(root, MASSACHUSETTS, tmp_path / "massachusetts.dsmodel", ["background", "building"])
    child, log = _train(root, ATLANTA, tmp_path / "atlanta.dsmodel", ["background", "building", "other"],
                        data={"bands": [1, 2, 3, 4]}, init_from=parent.result.bundle)
    assert "from 3 to 4 input channels (channels 1-3 copied, 1 extra = mean of them)" in log
    assert "head rebuilt for 3 output(s) (the parent has 1" in log
    assert "the parent has 3 image band(s), this data 4" in log
    meta = read_metadata(child.result.bundle)
    assert (meta.model.name, meta.model.preset, meta.model.vision_channels) == ("unet", "tiny", 4)
    assert meta.parent["name"] == "massachusetts.dsmodel"
