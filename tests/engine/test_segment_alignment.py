"""A model trained (engine.training.trainer.train) on a scene whose class is only visible in the aux field segments a
second scene correctly only when the aux is aligned per tile exactly as in training.

The aux rasters are in EPSG:4326 at ~8 m, the images in UTM at 1 m: any alignment error in segment (wrong tile
footprint, wrong CRS handling, wrong aux/vision ratio) moves the predicted boundaries. A deliberately shifted
aux (half a field wavelength) shows how much IoU drops when alignment is wrong.
"""

from __future__ import annotations

import math

import pytest
import rasterio
from affine import Affine

from engine.config import AugmentConfig, DataConfig, EvaluateConfig, SceneSpec, SegmentConfig, TrainConfig
from engine.data import synthetic
from engine.data.raster import compose
from engine.evaluate import evaluate
from engine.models import AutoModelConfig
from engine.segment import segment
from engine.training.trainer import train


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("align")
    kwargs = dict(field_seed=7, aux_channels=8, label_from="aux")
    a = synthetic.make_scene(root, "a", size=(192, 192), seed=1, origin=(320000.0, 4150000.0), **kwargs)
    b = synthetic.make_scene(root, "b", size=(128, 160), seed=2, origin=(320500.0, 4149600.0), **kwargs)
    result = train(
        AutoModelConfig.for_family(preset="tiny", dropout=0.0, drop_path=0.0),
        DataConfig(train_scenes=[SceneSpec(image=a["image"], label=a["label"], aux=a["aux"])], aux_prefixes=[],
                   aux_bands_per_file=8, tile_size=64, aux_ratio=8, tiles_per_epoch=48, val_fraction=0.2,
                   statistics="meanstd", seed=0,
                   augment=AugmentConfig(rotation_degrees=0, scale_range=[1, 1], color_jitter=0, gray_probability=0)),
        TrainConfig(output=str(root / "aux.dsmodel"), epochs=4, warmup_epochs=0, batch_size=8, learning_rate=3e-3,
                    vision_lr_factor=1.0, aux_lr_factor=1.0, device="cpu", preview_tiles=0,
                    early_stop_patience=None, seed=0),
    )
    # the same aux, shifted east by half the field's shortest wavelength (~45 m)
    shifted = root / "b_aux_shifted.tif"
    with rasterio.open(b["aux"][0]) as src:
        profile, data = src.profile, src.read()
        lat = math.radians(src.bounds.top)
        dx = 45.0 / (111_320.0 * math.cos(lat))
        profile.update(transform=compose(Affine.translation(dx, 0), src.transform))
    with rasterio.open(shifted, "w", **profile) as dst:
        dst.write(data)
    return {"bundle": result.bundle, "b": b, "shifted": str(shifted), "root": root}


def _iou(trained: dict, aux: str, name: str) -> float:
    root, b = trained["root"], trained["b"]
    out = root / f"{name}.tif"
    segment(SegmentConfig(image=b["image"], aux=[aux], models=[trained["bundle"]], output=str(out), device="cpu",
                          overlap=0.25))
    metrics = evaluate(EvaluateConfig(prediction=str(out), label=b["label"], label_mapping={"90": 1},
                                      output=str(root / f"{name}.json")))
    return float(metrics["iou"][1])


def test_aligned_aux_segments_the_second_scene(trained):
    aligned = _iou(trained, trained["b"]["aux"][0], "aligned")
    misaligned = _iou(trained, trained["shifted"], "shifted")
    print(f"foreground IoU: aligned aux {aligned:.3f}, shifted aux {misaligned:.3f}")
    assert aligned > 0.6, f"aligned IoU {aligned:.3f}"
    assert misaligned < aligned - 0.2, f"aligned {aligned:.3f} vs misaligned {misaligned:.3f}"
