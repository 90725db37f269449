"""A CPU run of a convolutional model computes with the tile, fitted to the region, that computes the fewest pixels
(issue 53, item 12): on a large region twice the trained one or more, on a small one often one tile over it all,
the overlap kept in pixels and a batch's pixels bounded; said in the log, the same classes as torch, one ONNX
export for every size. Every other model, a GPU run, a tile the user chose and a region where no other tile
computes fewer keep the trained tile."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from engine.bundle.store import save_bundle
from engine.config import SegmentConfig
from engine.models import AutoModelConfig, build_model
from engine.runtime.resources import cover_tile
from engine.segment.plan import plan_segmentation
from engine.segment.tile_choice import MAX_TILE_BATCHES, CpuTile, cpu_tile, tiles_needed
from tests.helpers import RecordingCallback


def member(family: str, preset: str = "tiny", tile: int = 32, **model: object) -> SimpleNamespace:
    config = AutoModelConfig.for_family(name=family, preset=preset, **model)
    return SimpleNamespace(metadata=SimpleNamespace(model=config, onnx=None), data=SimpleNamespace(tile_size=tile))


def test_only_convolutional_models_on_the_cpu_get_the_fitted_tile():
    large = (0, 0, 4096, 4096)
    assert cpu_tile([member("unet", "light", 256)], 256, large, "cpu", 64, 4) == CpuTile(1408, 1)
    assert cpu_tile([member("fpn", "light", 256)], 256, large, "cpu", 64, 4) == CpuTile(1408, 1)
    assert cpu_tile([member("unet", "light", 256)], 256, large, "cuda") is None
    for family, extra in (("unet", {"encoder": "tiny_mit"}), ("unet", {"encoder": "tiny_swin"}),
                          ("deeplabv3plus", {}), ("pspnet", {}), ("dualstream", {}), ("cmx", {})):
        assert cpu_tile([member(family, tile=256, **extra)], 256, large, "cpu") is None, (family, extra)
    exported = member("unet", "light", 256)
    exported.metadata.onnx = object()  # an exported graph takes its own tile size only
    assert cpu_tile([exported], 256, large, "cpu") is None


def test_the_counts_behind_it():
    # the bench's 4096² scene: 441 tiles of 256 px with 64 px of overlap, 81 of 512 px: 27 % fewer pixels computed;
    # fitted, 9 of 1408 px (3 x 1408 - 2 x 64 = 4096): 38 % fewer
    large = (0, 0, 4096, 4096)
    assert tiles_needed(large, 256, 64) == 441 and tiles_needed(large, 512, 64) == 81
    assert 1 - 81 * 512 ** 2 / (441 * 256 ** 2) == pytest.approx(0.265, abs=0.001)
    assert tiles_needed(large, 1408, 64) == 9
    assert 1 - 9 * 1408 ** 2 / (441 * 256 ** 2) == pytest.approx(0.383, abs=0.001)


def test_a_small_region_gets_one_tile_over_it_where_that_computes_fewer_pixels():
    light = [member("unet", "light", 256)]
    # the bulk bench's 512² scenes: 9 tiles of 256 px (0.59 M pixels for 0.26 M), now one of 512 px
    scene = (0, 0, 512, 512)
    assert cpu_tile(light, 256, scene, "cpu", 64, 4) == CpuTile(512, 4)
    assert (tiles_needed(scene, 256, 64), tiles_needed(scene, 512, 64)) == (9, 1)
    # one tile between the trained and the doubled one: 4 of 256 px for 300², or 1 of 320 px
    assert cpu_tile(light, 256, (0, 0, 300, 300), "cpu", 64, 4) == CpuTile(320, 4)
    assert cpu_tile(light, 256, (0, 0, 500, 500), "cpu", 64, 1) == CpuTile(512, 1)  # a 500² image: mirrored past it
    # the trained tile stays where nothing computes fewer: a region it covers, or a strip two trained tiles cover
    # with fewer pixels (2 x 256² against 416² for 200 x 400)
    for region in ((0, 0, 256, 256), (0, 0, 100, 60), (0, 0, 200, 400)):
        assert cpu_tile(light, 256, region, "cpu", 64, 4) is None, region
    # never a tile that check_segment_tile would cut to the region
    assert cpu_tile(light, 256, (0, 0, 600, 600), "cpu", 64, 4) == CpuTile(608, 2)


@pytest.mark.parametrize("size", [300, 512, 700, 1024, 2048, 3000, 4096, 5000, 10980])
@pytest.mark.parametrize("batch", [1, 4, 8])
def test_the_fitted_tile_computes_the_fewest_pixels_within_the_batch_memory(size, batch):
    light, region = member("unet", "light", 256), (0, 0, size, size)
    chosen = cpu_tile([light], 256, region, "cpu", 64, batch)
    assert chosen.tile % 32 == 0 and 256 < chosen.tile <= cover_tile(size, size, 256, 32)
    budget = batch * 512 ** 2  # a batch of doubled tiles, what a large region ran before
    assert chosen.batch <= batch
    assert chosen.batch * chosen.tile ** 2 <= max(budget, chosen.tile ** 2) <= MAX_TILE_BATCHES * budget
    computed = tiles_needed(region, chosen.tile, 64) * chosen.tile ** 2
    assert computed < tiles_needed(region, 256, 64) * 256 ** 2  # fewer than with the trained tile
    for other in range(256, chosen.tile, 32):  # no smaller tile computes as few
        assert tiles_needed(region, other, 64) * other ** 2 > computed


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


@pytest.fixture(scope="module")
def squares(unet: dict) -> dict:
    """Images whose fitted tiles differ from the doubled one and from each other (trained tile 32)."""
    made = {}
    for size in (304, 256, 64):
        image = unet["folder"] / f"square{size}.tif"
        values = np.random.default_rng(size).integers(0, 255, (3, size, size)).astype(np.uint8)
        with rasterio.open(image, "w", driver="GTiff", width=size, height=size, count=3, dtype="uint8",
                           crs="EPSG:32633", transform=from_origin(500000, 6000000, 1, 1)) as out:
            out.write(values)
        made[size] = str(image)
    return made


def test_the_plan_fits_the_tile_and_keeps_a_batch_s_pixels(unet, squares):
    fitted, said = plan(dict(unet, image=squares[304]))  # 4 tiles of 160 px (2 x 160 - 8 = 312 >= 304)
    assert (fitted.tile, fitted.overlap, len(fitted.grid), fitted.cfg.batch_size) == (160, 8, 4, 1)
    line = next(m for m in said if m.startswith("Tiles of 160 px on the CPU"))
    assert "4 tiles instead of 169" in line and "1 tile(s) a batch (batch_size 4 of 64 px)" in line


def test_a_small_scene_is_one_tile_and_the_log_says_so(unet, squares):
    one, said = plan(dict(unet, image=squares[64]))  # 9 tiles of 32 px (stride 24) before
    assert (one.tile, one.overlap, len(one.grid), one.cfg.batch_size) == (64, 8, 1, 4)
    line = next(m for m in said if m.startswith("Tiles of 64 px on the CPU"))
    assert "1 tile instead of 9, 56 % fewer pixels computed; tile_size 32 keeps" in line, line


def test_a_resampled_run_fits_the_tile_to_the_grid_the_model_sees(unet, tmp_path):
    from engine.segment import segment

    # trained at 1 m on 32-px tiles: 128² at 0.5 m is seen as 64² (one tile of 64 px, not the 128 px fitted to the
    # image's own grid), 48² at 2 m as 96² (one tile of 96 px, where the image's grid keeps 32)
    for gsd, size, tile in ((0.5, 128, 64), (2.0, 48, 96)):
        image = tmp_path / f"at{gsd}.tif"
        values = np.random.default_rng(size).integers(0, 255, (3, size, size)).astype(np.uint8)
        with rasterio.open(image, "w", driver="GTiff", width=size, height=size, count=3, dtype="uint8",
                           crs="EPSG:32633", transform=from_origin(500000, 6000000, gsd, gsd)) as out:
            out.write(values)
        callback = RecordingCallback()
        segment(SegmentConfig(image=str(image), models=[unet["bundle"]], output=str(tmp_path / f"{gsd}.tif"),
                              device="cpu", backend="torch", resample_to_training_gsd=True), callback)  # no export:
        # the export test below counts the exports it makes
        said = callback.messages("info")
        warped = next(m for m in said if m.startswith("Segmenting the warped image"))
        assert f"({round(size * gsd)}x{round(size * gsd)} px)" in warped, warped
        assert f": 1 tile of {tile} px" in warped, warped
        fitted = [m for m in said if m.startswith("Tiles of")]  # said once, for the grid the model sees
        assert len(fitted) == 1 and fitted[0].startswith(f"Tiles of {tile} px"), fitted


def onnx_cache() -> set:
    from engine.export.onnx_cache import user_cache_dir

    return set((user_cache_dir() / "onnx").glob("*.onnx"))


def test_fitted_tiles_run_one_any_size_export_with_torch_s_classes(unet, squares, capsys):
    from engine.cli.main import main

    def segment(image: str, backend: str, *more: str) -> tuple[np.ndarray, str]:
        out = unet["folder"] / f"{Path(image).stem}_{backend}{len(more)}.tif"
        code = main(["segment", "--image", image, "--model", unet["bundle"], "--out", str(out), "--device", "cpu",
                     "--backend", backend, "--probabilities", str(out.with_suffix(".p.tif")), *more])
        err = capsys.readouterr().err
        assert code == 0, err
        with rasterio.open(out) as classes, rasterio.open(out.with_suffix(".p.tif")) as probs:
            return np.concatenate([classes.read(), probs.read()]), err

    before = onnx_cache()
    auto, err = segment(squares[304], "auto")
    assert "160 px" in err and "any tile size" in err, err
    made = onnx_cache() - before
    assert len(made) == 1 and "-tany-" in next(iter(made)).name
    same_classes(auto, segment(squares[304], "torch")[0])
    other, err = segment(squares[256], "auto")  # another fitted tile (96 px): the same export, none made
    assert "96 px" in err and "Exporting" not in err and onnx_cache() - before == made
    same_classes(other, segment(squares[256], "torch")[0])
    one, err = segment(squares[64], "auto")  # one tile over the whole scene
    assert "1 tile of 64 px" in err and "Exporting" not in err and onnx_cache() - before == made
    same_classes(one, segment(squares[64], "torch")[0])
    # the trained tile on the CPU: the same export (a bulk run loads one for scenes of any fitted tile)
    trained, err = segment(squares[64], "auto", "--tile-size", "32")
    assert "9 tiles of 32 px" in err and "Exporting" not in err and onnx_cache() - before == made
    same_classes(trained, segment(squares[64], "torch", "--tile-size", "32")[0])


def same_classes(a: np.ndarray, b: np.ndarray) -> None:
    """(class, probability) bands of two runs: probabilities within the export's tolerance, classes equal
    wherever the probability is not a near-tie with the threshold."""
    assert np.abs(a[1] - b[1]).max() < 1e-4
    assert ((a[0] == b[0]) | (np.abs(a[1] - 0.5) < 1e-4)).all()
