"""Training/validation datasets on synthetic GeoTIFFs: shapes, determinism, sampling, hold-out, label checks."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from engine.config import AugmentConfig, DataConfig, SceneSpec, fill_class_colors
from engine.data.dataset import build_datasets
from engine.data.sampling import Region
from engine.errors import DataError
from tests.helpers import RecordingCallback

CRS = "EPSG:32652"


def write_tif(path: Path, data: np.ndarray, nodata: float | None = None) -> str:
    data = data if data.ndim == 3 else data[None]
    profile = {"driver": "GTiff", "width": data.shape[2], "height": data.shape[1], "count": data.shape[0],
               "dtype": data.dtype.name, "crs": CRS, "transform": from_origin(320000.0, 4150000.0, 1.0, 1.0)}
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    return str(path)


def sparse_scene(root: Path, name: str = "sparse", size: int = 256, bands: int = 3,
                 extra_values: dict[int, int] | None = None, blob_col: int = 40) -> SceneSpec:
    """uint8 image with one small foreground blob (raw 90, from column ``blob_col``) in the label; optional extra raw
    values."""
    rng = np.random.default_rng(0)
    image = rng.integers(1, 255, (bands, size, size), dtype=np.uint8)
    label = np.zeros((size, size), np.uint8)
    label[200:206, blob_col:blob_col + 6] = 90
    for value, count in (extra_values or {}).items():
        label[0, :count] = value if value != 255 else 255
        label = np.roll(label, 1, axis=0)
    root.mkdir(parents=True, exist_ok=True)
    return SceneSpec(image=write_tif(root / f"{name}.tif", image), label=write_tif(root / f"{name}_label.tif", label))


def small_cfg(**kw: object) -> DataConfig:
    base = {"tile_size": 64, "tiles_per_epoch": 16, "statistics_tiles": 8, "aux_ratio": 8,
            "label_mapping": {"90": 1}}  # the reference data's mapping
    base.update(kw)
    return DataConfig(**base)


@pytest.fixture(scope="module")
def reference_sets(reference_dataset: str):
    cb = RecordingCallback()
    train, val, summary = build_datasets(small_cfg(data_dir=reference_dataset), cb)
    return train, val, summary, cb


def test_reference_items_shapes_and_dtypes(reference_sets) -> None:
    train, val, summary, cb = reference_sets
    assert len(train) == 16 and len(val) == 2 * 4  # 2 validation scenes of 128 px -> 2x2 grid of 64 px tiles
    for ds in (train, val):
        item = ds[0]
        assert set(item) == {"vision", "aux", "labels"}
        assert item["vision"].shape == (4, 64, 64) and item["vision"].dtype == torch.float32
        assert item["aux"].shape == (48, 8, 8) and item["aux"].dtype == torch.float32
        assert item["labels"].shape == (64, 64) and item["labels"].dtype == torch.int64
        assert set(item["labels"].unique().tolist()) <= {0, 1, 255}
    # percentile-normalised inputs lie in [0, 1] (plus jitter for training tiles)
    assert 0.0 <= val[0]["vision"].min() and val[0]["vision"].max() <= 1.0
    assert val[0]["aux"].abs().max() <= 1.0 and val[0]["aux"].std() > 0.01
    assert any("3 training scene(s)" in m for m in cb.messages("info"))


def test_summary_bundle_metadata(reference_sets) -> None:
    _, _, summary, _ = reference_sets
    meta = summary.metadata
    assert meta.vision_bands == 4 and meta.aux_channels == 48 and meta.num_classes == 1
    assert meta.aux_prefixes == ["GEMS_", "AIR_Pollution_CO_", "AIR_Pollution_NO2_", "AIR_Pollution_SO2_"]
    assert meta.aux_bands_per_file == 12 and meta.aux_ratio == 8 and meta.tile_size == 64
    assert meta.label_mapping == {"90": 1} and meta.ignore_index == 255
    assert meta.gsd == pytest.approx([1.0, 1.0]) and "32652" in meta.crs
    for stats in (meta.vision_stats, meta.aux_stats):
        assert stats.method == "percentile"
        assert all(lo < hi for lo, hi in zip(stats.low, stats.high))
    assert len(meta.vision_stats.low) == 4 and len(meta.aux_stats.low) == 48
    assert 0.1 < meta.foreground_fraction < 0.9
    import json
    json.dumps(meta.to_dict())  # JSON-ready


def test_determinism_and_set_epoch(reference_dataset: str) -> None:
    a, _, _ = build_datasets(small_cfg(data_dir=reference_dataset, seed=5))
    b, _, _ = build_datasets(small_cfg(data_dir=reference_dataset, seed=5))
    c, _, _ = build_datasets(small_cfg(data_dir=reference_dataset, seed=6))
    for i in (0, 3):
        assert all(torch.equal(a[i][k], b[i][k]) for k in a[i])
    assert not torch.equal(a[0]["vision"], c[0]["vision"])
    first = a[1]["vision"]
    a.set_epoch(1)
    assert not torch.equal(a[1]["vision"], first)
    a.set_epoch(0)
    assert torch.equal(a[1]["vision"], first)


def test_vision_only_config(reference_dataset: str) -> None:
    train, val, summary = build_datasets(small_cfg(data_dir=reference_dataset, aux_prefixes=[]))
    assert "aux" not in train[0] and "aux" not in val[0]
    assert train[0]["vision"].shape == (4, 64, 64)
    assert summary.metadata.aux_stats is None and summary.metadata.aux_channels == 0


def test_validation_grid_fixed(reference_sets) -> None:
    _, val, _, _ = reference_sets
    assert [w[:3] for w in val.windows] == [(s, c, r) for s in (0, 1) for r in (0, 64) for c in (0, 64)]
    again = val[3]
    assert all(torch.equal(again[k], val[3][k]) for k in again)


def test_foreground_share_honoured(tmp_path: Path) -> None:
    scene = sparse_scene(tmp_path)
    shares = {}
    for share in (0.0, 0.5, 1.0):
        cfg = small_cfg(train_scenes=[scene], aux_prefixes=[], foreground_share=share, tiles_per_epoch=60,
                        val_fraction=0.0)
        train, _, _ = build_datasets(cfg)
        shares[share] = np.mean([bool((train[i]["labels"] == 1).any()) for i in range(len(train))])
    assert shares[1.0] == 1.0  # every forced tile keeps its foreground through the augmentation
    assert 0.3 < shares[0.5] < 0.8
    assert shares[0.0] < 0.25  # a 6x6 blob in 256x256 is rarely hit by chance


def test_holdout_bands_never_overlap_training(tmp_path: Path) -> None:
    # the blob in the middle: either end keeps it in training, so the seed decides (holdout_choice.choose_ends)
    scene = sparse_scene(tmp_path, size=256, blob_col=120)
    for seed in range(8):  # find a seed that puts the band at the start, so padding reaches training pixels
        train, val, summary = build_datasets(small_cfg(train_scenes=[scene], aux_prefixes=[], val_fraction=0.3,
                                                       tiles_per_epoch=200, seed=seed))
        if val.windows[0][3].col == 0:
            break
    else:
        pytest.fail("no seed put the validation band at the start of the scene")
    assert summary.holdout and len(val) > 0
    val_regions = {w[3] for w in val.windows}
    assert len(val_regions) == 1
    (val_region,) = val_regions
    _, train_region, _ = train.sampler.parts[0]  # (scene, region, cells)
    assert not train_region.intersects(val_region)
    assert train_region.area + val_region.area == 256 * 256
    for i in range(len(train)):
        plan = train.sampler.plan(0, i)
        assert not Region(plan.col, plan.row, plan.size, plan.size).intersects(val_region)
    for _, col, row, region in val.windows:  # grid tiles start inside the band; padding beyond it is ignored
        assert region == val_region and Region(col, row, 1, 1).intersects(val_region)
    # A validation tile that sticks out of the band shows nothing of the training area.
    padded = 0
    for k, (_, col, row, region) in enumerate(val.windows):
        if col + 64 > region.col + region.width or row + 64 > region.row + region.height:
            padded += 1
            item = val[k]
            outside = np.ones((64, 64), bool)
            outside[max(region.row - row, 0):region.row + region.height - row,
                    max(region.col - col, 0):region.col + region.width - col] = False
            assert (item["labels"].numpy()[outside] == 255).all()
            assert (item["vision"].numpy()[:, outside] == 0).all()
            assert (item["labels"].numpy()[~outside] != 255).any()
    assert padded == 4  # 77 px band: the second grid column sticks out


def test_labels_of_exactly_0_and_90_are_read_as_90_is_class_1(tmp_path: Path) -> None:
    """Issue 40, item 9: no mapping is the default (label values are class numbers); a label raster of exactly 0
    and 90 (the reference data's) is recognised, said in the log, and recorded; any other value is not."""
    scene = sparse_scene(tmp_path)
    callback = RecordingCallback()
    cfg = small_cfg(train_scenes=[scene], aux_prefixes=[], val_fraction=0.0, label_mapping={})
    train, _, summary = build_datasets(cfg, callback)
    assert any("are 0 and 90" in m and "90 is class 1" in m for m in callback.messages("info"))
    assert cfg.label_mapping == {"90": 1} and summary.metadata.label_mapping == {"90": 1}
    classes = np.unique(np.concatenate([train[i]["labels"].numpy().ravel() for i in range(4)]))
    assert set(classes.tolist()) <= {0, 1, 255} and 1 in classes
    other = sparse_scene(tmp_path / "other", extra_values={17: 30})
    with pytest.raises(DataError, match=r"17 \(30 px\)"):
        build_datasets(small_cfg(train_scenes=[other], aux_prefixes=[], val_fraction=0.0, label_mapping={}))


def test_a_mask_of_0_and_255_is_read_as_255_is_class_1_and_sampled_so(tmp_path: Path) -> None:
    """LEVIR-CD, WHU and Inria publish masks of 0 and 255, and 255 is the ignore index: read as class numbers such
    a mask teaches class 0 alone. Exactly 0 and 255 is recognised, said once, and the labels are scanned again with
    it (the labelled share and the sampler's foreground count the 255s); 0, 1 and 255 keep 255 unlabelled."""
    scene = sparse_scene(tmp_path)
    with rasterio.open(scene.label, "r+") as ds:
        label = ds.read(1)
        ds.write(np.where(label == 90, 255, 0).astype(np.uint8), 1)
    callback = RecordingCallback()
    cfg = small_cfg(train_scenes=[scene], aux_prefixes=[], val_fraction=0.0, label_mapping={})
    train, _, summary = build_datasets(cfg, callback)
    infos = callback.messages("info")
    assert any("are 0 and 255" in m and "255 is class 1" in m for m in infos)
    assert [m for m in infos if m.startswith("Labels of 'sparse.tif'")] == [
        "Labels of 'sparse.tif': 100.0 % of the scene labelled (the rest is nodata or ignored)."]
    assert cfg.label_mapping == {"255": 1} and summary.metadata.label_mapping == {"255": 1}
    assert summary.metadata.foreground_fraction > 0
    classes = np.unique(np.concatenate([train[i]["labels"].numpy().ravel() for i in range(len(train))]))
    assert 1 in classes
    with rasterio.open(scene.label, "r+") as ds:  # a class-1 pixel: the values are classes, 255 unlabelled
        label = ds.read(1)
        label[0, 0] = 1
        ds.write(label, 1)
    callback = RecordingCallback()
    cfg = small_cfg(train_scenes=[scene], aux_prefixes=[], val_fraction=0.0, label_mapping={})
    build_datasets(cfg, callback)
    assert cfg.label_mapping == {} and not any("are 0 and 255" in m for m in callback.messages("info"))


def test_label_values_outside_set_reported_with_counts(tmp_path: Path) -> None:
    scene = sparse_scene(tmp_path, extra_values={17: 30, 200: 5})
    cfg = small_cfg(train_scenes=[scene], aux_prefixes=[], val_fraction=0.0)
    with pytest.raises(DataError) as err:
        build_datasets(cfg)
    msg = str(err.value)
    assert "sparse_label.tif" in msg and "17 (30 px)" in msg and "200 (5 px)" in msg
    assert "90" not in msg.split("sparse_label.tif")[1].split("\n")[0]  # mapped values are not reported
    assert "strict_labels" in msg
    # Non-strict: the extra values become the default class and training data builds.
    train, _, summary = build_datasets(cfg.replace(strict_labels=False))
    assert summary.label_counts[scene.label]["17"] == 30
    # Without a mapping, raw values are classes and must be < number of class names.
    with pytest.raises(DataError, match=r"90 \(36 px\)"):
        build_datasets(cfg.replace(label_mapping={}))


def test_class_number_labels_are_told_how_to_train_as_they_are(tmp_path: Path) -> None:
    """A land-cover raster whose values are its classes (1..4, no 0) under a mapping of 90=1: the
    error says to give an empty mapping and how many class names; given them, it trains without the binary-only
    warning about a missing class 0."""
    rng = np.random.default_rng(3)
    image = rng.integers(1, 255, (3, 128, 128), dtype=np.uint8)
    label = (np.arange(128)[None, :].repeat(128, 0) // 32 + 1).astype(np.uint8)  # classes 1..4 in stripes
    scene = SceneSpec(image=write_tif(tmp_path / "lc.tif", image), label=write_tif(tmp_path / "lc_label.tif", label))
    cfg = small_cfg(train_scenes=[scene], aux_prefixes=[], val_fraction=0.0)
    with pytest.raises(DataError) as err:
        build_datasets(cfg)
    assert "class numbers themselves (here up to 4)" in str(err.value)
    assert "give an empty label_mapping ('' on the command line) and 5 class_names" in str(err.value)
    cb = RecordingCallback()
    build_datasets(cfg.replace(label_mapping={}, class_names=[f"c{i}" for i in range(5)],
                               class_colors=fill_class_colors([], 5)), cb)
    assert not [w for w in cb.messages("warning") if "No pixel of class 0" in w]
    with pytest.raises(DataError, match=r"class_names.* for the extra classes \(5 names for classes 0..4\)"):
        build_datasets(cfg.replace(label_mapping={}))


def test_label_without_labelled_pixels_is_an_error(tmp_path: Path) -> None:
    image = np.ones((3, 64, 64), np.uint8)
    spec = SceneSpec(image=write_tif(tmp_path / "i.tif", image),
                     label=write_tif(tmp_path / "l.tif", np.full((64, 64), 255, np.uint8), nodata=255))
    with pytest.raises(DataError, match="no labelled pixel"):
        build_datasets(small_cfg(train_scenes=[spec], aux_prefixes=[], val_fraction=0.0))


def test_scenes_with_different_bands_rejected(tmp_path: Path) -> None:
    a = sparse_scene(tmp_path / "a", bands=3)
    b = sparse_scene(tmp_path / "b", bands=4)
    with pytest.raises(DataError, match="4 band"):
        build_datasets(small_cfg(train_scenes=[a], val_scenes=[b], aux_prefixes=[]))


def test_vector_labels_and_explicit_aux(synthetic_scene: dict) -> None:
    spec = SceneSpec(image=synthetic_scene["image"], label=synthetic_scene["label_vector"],
                     aux=synthetic_scene["aux"])
    cfg = small_cfg(train_scenes=[spec], aux_bands_per_file=48, val_fraction=0.25)
    train, val, summary = build_datasets(cfg)
    assert summary.metadata.aux_channels == 48 and summary.metadata.aux_files_per_scene == 1
    item = train[0]
    assert item["aux"].shape == (48, 8, 8) and set(item["labels"].unique().tolist()) <= {0, 1, 255}
    assert len(val) >= 1


def test_dataloader_with_workers_and_persistent_epoch(reference_dataset: str) -> None:
    train, val, _ = build_datasets(small_cfg(data_dir=reference_dataset, tiles_per_epoch=8))
    train[0]  # opens readers in this process: they must not travel to the workers
    pickle.dumps(train)
    loader = torch.utils.data.DataLoader(train, batch_size=4, num_workers=2, persistent_workers=True)
    batches = list(loader)
    assert batches[0]["vision"].shape == (4, 4, 64, 64) and batches[0]["labels"].dtype == torch.int64
    assert torch.equal(batches[0]["vision"][1], train[1]["vision"])
    train.set_epoch(3)  # reaches the persistent workers through shared memory
    batch = next(iter(loader))
    assert torch.equal(batch["vision"][2], train[2]["vision"])
    vbatch = next(iter(torch.utils.data.DataLoader(val, batch_size=8, num_workers=2)))
    assert vbatch["aux"].shape == (8, 48, 8, 8)


def test_augmentation_off_gives_plain_windows(tmp_path: Path) -> None:
    scene = sparse_scene(tmp_path)
    none = AugmentConfig(flips=False, rot90=False, rotation_degrees=0.0, scale_range=[1.0, 1.0], color_jitter=0.0,
                         gray_probability=0.0)
    train, _, summary = build_datasets(small_cfg(train_scenes=[scene], aux_prefixes=[], augment=none,
                                                 val_fraction=0.0))
    plan = train.sampler.plan(0, 0)
    item = train[0]
    with rasterio.open(scene.image) as ds:
        raw = ds.read(window=((plan.row, plan.row + 64), (plan.col, plan.col + 64))).astype(np.float32)
    expected = summary.metadata.vision_stats.apply(raw)
    assert plan.size == 64 and np.allclose(item["vision"].numpy(), expected)


def test_raw_value_mapped_to_ignore_is_unlabelled(tmp_path: Path) -> None:
    scene = sparse_scene(tmp_path, extra_values={17: 40})
    cfg = small_cfg(train_scenes=[scene], aux_prefixes=[], val_fraction=0.0, label_mapping={"90": 1, "17": 255})
    train, _, summary = build_datasets(cfg)
    assert summary.label_counts[scene.label]["17"] == 40
    index = train.sampler.indexes[0]
    assert index.labelled_pixels == 256 * 256 - 40 and index.fg_pixels == 36


def test_constant_alpha_like_band_is_reported(tmp_path: Path) -> None:
    """SpaceNet-7 quirk: int16 RGB + a 4th band constant at 255 (an alpha GDAL does not tag), nodata 0.

    The constant band keeps the RGB nodata patch valid (nodata needs every band), so the user is told which band
    it is and how to drop it; without it the patch is invalid and no warning appears.
    """
    from engine.data.raster import open_raster, read_window

    rng = np.random.default_rng(0)
    rgb = rng.integers(1, 3000, (3, 128, 128)).astype(np.int16)
    rgb[:, 10:30, 10:30] = 0
    label = np.zeros((128, 128), np.uint8)
    label[60:80, 60:80] = 1
    with_alpha = write_tif(tmp_path / "rgba.tif", np.concatenate([rgb, np.full((1, 128, 128), 255, np.int16)]), 0)
    without = write_tif(tmp_path / "rgb.tif", rgb, 0)
    label_path = write_tif(tmp_path / "label.tif", label)
    for path, patch_valid in ((with_alpha, True), (without, False)):
        ds = open_raster(path)
        valid = read_window(ds, 0, 0, 128, 128)[1]
        ds.close()
        assert bool(valid[20, 20]) is patch_valid and valid[100, 100]
    warned = {}
    for path in (with_alpha, without):
        cb = RecordingCallback()
        build_datasets(small_cfg(train_scenes=[SceneSpec(image=path, label=label_path)], aux_prefixes=[],
                                 label_mapping={"1": 1}), cb)
        warned[path] = [w for w in cb.messages("warning") if "constant" in w]
    assert len(warned[with_alpha]) == 1 and "band 4" in warned[with_alpha][0] and "255" in warned[with_alpha][0]
    assert "gdal_translate -b 1 -b 2 -b 3" in warned[with_alpha][0]
    assert warned[without] == []


def test_validation_tiles_are_read_once_and_kept_as_read(reference_dataset: str, monkeypatch) -> None:
    """Every epoch validates the same tiles: each is read once (the second pass opens no reader), handed out as a
    copy with the values of a fresh read, and read again when the statistics change (released statistics)."""
    import dataclasses

    from engine.data import dataset as dataset_module

    _, val, _ = build_datasets(small_cfg(data_dir=reference_dataset))
    _, fresh, _ = build_datasets(small_cfg(data_dir=reference_dataset))
    first, expected = [val[i] for i in range(len(val))], [fresh[i] for i in range(len(fresh))]
    assert "aux" in first[0]
    reads: list[int] = []
    real = dataset_module._TileDataset._read
    monkeypatch.setattr(dataset_module._TileDataset, "_read", lambda self, *a: reads.append(1) or real(self, *a))
    second = [val[i] for i in range(len(val))]
    assert not reads
    for a, b in zip(second, expected):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    second[0]["vision"].zero_()  # a copy: the kept tile is unchanged
    assert torch.equal(val[0]["vision"], first[0]["vision"])
    val.vision_stats = dataclasses.replace(val.vision_stats)  # new statistics (equal values): read again
    val[0]
    assert len(reads) == 1
    monkeypatch.setattr(dataset_module, "KEPT_TILE_BYTES", 0)  # over the memory cap: nothing kept
    val.aux_stats = dataclasses.replace(val.aux_stats)
    val[0], val[0]
    assert len(reads) == 3


def test_training_scenes_are_read_once_and_cut_to_the_tiles_a_read_gives(reference_dataset: str, tmp_path: Path,
                                                                         monkeypatch) -> None:
    """A training scene that fits ``KEPT_SCENE_BYTES`` is read, mapped and normalised once per process, and each
    tile is cut from it: the same tiles, bit for bit, as reading every window (with aux, nodata, windows past the
    image, hold-out strips masking a window's pixels); new statistics read the scenes again."""
    import dataclasses

    from engine.data import dataset as dataset_module
    from engine.data.scene import SceneReader

    reads: list[tuple[int, int, int, int]] = []
    real = SceneReader.read
    monkeypatch.setattr(SceneReader, "read", lambda self, *a, **k: reads.append(a) or real(self, *a, **k))
    scene = sparse_scene(tmp_path, size=256)
    holes = np.random.default_rng(1).integers(1, 255, (3, 192, 192), dtype=np.uint8)
    holes[:, 20:90, 30:120] = 0  # nodata: invalid pixels in the kept scene
    label = np.zeros((192, 192), np.uint8)
    label[100:140, 60:90] = 90
    with_holes = SceneSpec(image=write_tif(tmp_path / "holes.tif", holes, nodata=0),
                           label=write_tif(tmp_path / "holes_label.tif", label))
    configs = [small_cfg(data_dir=reference_dataset), small_cfg(data_dir=reference_dataset, tile_size=160),
               small_cfg(train_scenes=[scene], aux_prefixes=[], val_fraction=0.3, tile_size=160, seed=1),
               small_cfg(train_scenes=[with_holes], aux_prefixes=[], val_fraction=0.0, tile_size=96)]
    masked = 0
    for cfg in configs:
        kept, _, _ = build_datasets(cfg)
        alone, _, _ = build_datasets(cfg)
        alone.keeps_scenes = False  # every window read, as before scenes were kept
        for epoch in (0, 1):
            kept.set_epoch(epoch)
            alone.set_epoch(epoch)
            for i in range(len(kept)):
                reads.clear()
                a, b = kept[i], alone[i]
                assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
                assert len(reads) <= 2 and (epoch == 0 or len(reads) == 1)  # the window; a scene's first use
                plan = kept.sampler.plan(epoch, i)
                masked += dataset_module.region_mask(plan.region, plan.col, plan.row, plan.size) is not None
        assert all(k is not None for k in kept._scenes_kept.values()) and len(kept._scenes_kept) == len(kept.scenes)
    assert masked > 0  # some windows reached past their hold-out region
    assert not kept._scenes_kept[0][1].all()  # the scene with nodata kept its invalid pixels as such
    reads.clear()
    kept.vision_stats = dataclasses.replace(kept.vision_stats)  # new statistics (equal values): read again
    kept[0]
    assert [r[:2] for r in reads] == [(0, 0)]
    monkeypatch.setattr(dataset_module, "KEPT_SCENE_BYTES", 0)  # over the memory cap: read window by window
    kept.vision_stats = dataclasses.replace(kept.vision_stats)
    reads.clear()
    kept[0], kept[0]
    plan = kept.sampler.plan(kept.epoch, 0)
    assert reads == [(plan.col, plan.row, plan.size, plan.size)] * 2 and kept._scenes_kept == {0: None}


def test_the_report_preview_paints_no_class_on_a_tiles_padding(tmp_path: Path) -> None:
    """A validation tile that sticks out of its band (and of the scene) shows the model's classes only on the band;
    the padding is -1, grey in the report, as the truth panel is (defect: the classes a model makes of zeros were
    painted past the scene's edge)."""
    from torch import nn

    from engine.training.parts import Forward, preview_predictions
    from engine.training.step_setup import StepSetup

    scene = sparse_scene(tmp_path, size=100, blob_col=20)
    _, val, _ = build_datasets(small_cfg(train_scenes=[scene], aux_prefixes=[], val_fraction=0.3,
                                         tiles_per_epoch=8, seed=0))

    class Everywhere(nn.Module):  # class 1 on every pixel, zeros or not
        def forward(self, pixels, aux=None, **_):
            logits = torch.zeros(pixels.shape[0], 2, *pixels.shape[-2:])
            logits[:, 1] = 1.0
            return {"logits": logits}

    previews = preview_predictions(Everywhere(), val, len(val), Forward("cpu", StepSetup("cpu"), uses_aux=False))
    assert len(previews) == len(val) > 0
    for k, (sample, (_, col, row, region)) in enumerate(zip(previews, val.windows)):
        cols, rows = np.arange(col, col + 64)[None, :], np.arange(row, row + 64)[:, None]
        inside = ((cols >= region.col) & (cols < min(region.col + region.width, 100))
                  & (rows >= region.row) & (rows < min(region.row + region.height, 100)))
        assert (val.inside(k) == inside).all()
        assert (sample["prediction"][inside] == 1).all() and (sample["prediction"][~inside] == -1).all()
        assert (sample["truth"][~inside] == 255).all()
    assert any((~val.inside(k)).any() for k in range(len(val)))  # the 100 px scene's tiles of 64 px stick out
