"""A CPU run of a convolutional model over a large region computes with tiles twice the trained size, the overlap
kept in pixels (issue 53, item 12): fewer pixels computed, said in the log; every other model, a GPU run, a tile
the user chose and a small region keep the trained tile."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from engine.bundle.store import save_bundle
from engine.callbacks import RecordingCallback
from engine.config import SegmentConfig
from engine.models import AutoModelConfig, build_model
from engine.segment.plan import plan_segmentation
from engine.segment.tile_choice import cpu_tile, tiles_needed


def member(family: str, preset: str = "tiny", tile: int = 32, **model: object) -> SimpleNamespace:
    config = AutoModelConfig.for_family(name=family, preset=preset, **model)
    return SimpleNamespace(metadata=SimpleNamespace(model=config, onnx=None), data=SimpleNamespace(tile_size=tile))


def test_only_convolutional_models_on_the_cpu_over_a_large_region_get_the_larger_tile():
    large, small = (0, 0, 4096, 4096), (0, 0, 1024, 4096)
    assert cpu_tile([member("unet", "light", 256)], 256, large, "cpu") == 512
    assert cpu_tile([member("fpn", "light", 256)], 256, large, "cpu") == 512
    assert cpu_tile([member("unet", "light", 256)], 256, small, "cpu") is None  # under 4 larger tiles across
    assert cpu_tile([member("unet", "light", 256)], 256, large, "cuda") is None
    for family, extra in (("unet", {"encoder": "tiny_mit"}), ("unet", {"encoder": "tiny_swin"}),
                          ("deeplabv3plus", {}), ("pspnet", {}), ("dualstream", {}), ("cmx", {})):
        assert cpu_tile([member(family, tile=256, **extra)], 256, large, "cpu") is None, (family, extra)
    exported = member("unet", "light", 256)
    exported.metadata.onnx = object()  # an exported graph takes its own tile size only
    assert cpu_tile([exported], 256, large, "cpu") is None


def test_the_counts_behind_it():
    # the bench's 4096² scene: 441 tiles of 256 px with 64 px of overlap, 81 of 512 px: 27 % fewer pixels computed
    assert tiles_needed((0, 0, 4096, 4096), 256, 64) == 441 and tiles_needed((0, 0, 4096, 4096), 512, 64) == 81
    assert 1 - 81 * 512 ** 2 / (441 * 256 ** 2) == pytest.approx(0.265, abs=0.001)


@pytest.fixture(scope="module")
def unet(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("tile_choice")
    torch.manual_seed(0)
    model = build_model("unet", preset="tiny", vision_channels=3, aux_channels=0, num_classes=1).eval()
    data = {"vision_bands": 3, "vision_stats": {"method": "percentile", "low": [0.0] * 3, "high": [255.0] * 3},
            "aux_channels": 0, "class_names": ["background", "thing"], "class_colors": ["#000000", "#ff0000"],
            "tile_size": 32, "gsd": [1.0, 1.0], "num_classes": 1}
    bundle = save_bundle(folder / "unet.dsmodel", model, {"model": model.config.to_dict(), "data": data})
    image = folder / "scene.tif"
    values = np.random.default_rng(1).integers(0, 255, (3, 256, 288)).astype(np.uint8)
    with rasterio.open(image, "w", driver="GTiff", width=288, height=256, count=3, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(500000, 6000000, 1, 1)) as out:
        out.write(values)
    return {"bundle": bundle, "image": str(image), "folder": folder}


def plan(unet: dict, **settings: object) -> tuple[object, list[str]]:
    callback = RecordingCallback()
    cfg = SegmentConfig(image=unet["image"], models=[unet["bundle"]], output=str(unet["folder"] / "out.tif"),
                        device="cpu", **settings)
    made = plan_segmentation(cfg, callback)
    made.reader.close()
    return made, callback.messages("info")


def test_the_plan_takes_the_larger_tile_and_says_so(unet):
    larger, said = plan(unet)
    assert (larger.tile, larger.overlap, len(larger.grid)) == (64, 8, 25)  # 5 x 5 tiles of 64 px, 8 px overlap
    line = next(m for m in said if m.startswith("Tiles of 64 px on the CPU"))
    assert "the overlap kept at 8 px: 25 tiles instead of 132" in line and "tile_size 32 keeps" in line
    trained, said = plan(unet, tile_size=32)
    assert (trained.tile, trained.overlap, len(trained.grid)) == (32, 8, 132)
    assert not any(m.startswith("Tiles of") for m in said)
