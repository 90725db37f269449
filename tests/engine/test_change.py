"""Change detection between two dates: the Siamese family, the scene of two dates, a change model trained from the
command line and segmenting pairs with it, and the errors of bad pairs. Pairs (``change_pairs``) and the change model
trained on them (``change_model``) are the session's, from tests/engine/conftest.py."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch

from engine.config import AugmentConfig
from engine.data.augment import AugmentParams, augment_dates
from engine.data.scene import SceneReader
from engine.errors import AlignmentError, DataError
from engine.models import build_model
from tests.helpers import LogLines, change_f1, cli, make_bundle


# ------------------------------------------------------------------------------------------------ the family
def test_one_encoder_reads_both_dates_and_the_difference_is_the_same_either_way():
    torch.manual_seed(0)
    model = build_model("change", preset="tiny", vision_channels=3, num_classes=1, dropout=0.0).eval()
    backbones = [m for m in model.modules() if type(m).__name__ == "ResNetBackbone"]
    assert len(backbones) == 1  # shared, not one per date
    before, after = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        one = model(torch.cat([before, after], 1))["logits"]
        other = model(torch.cat([after, before], 1))["logits"]
        same = model(torch.cat([before, before], 1))["logits"]
    assert torch.allclose(one, other, atol=1e-5) and not torch.allclose(one, same, atol=1e-3)
    concat = build_model("change", preset="tiny", vision_channels=3, fusion="concat").eval()
    with torch.no_grad():  # concatenation learns which way a change went: the order matters
        assert not torch.allclose(concat(torch.cat([before, after], 1))["logits"],
                                  concat(torch.cat([after, before], 1))["logits"], atol=1e-4)


def test_dates_share_the_geometry_and_have_their_own_light():
    rng = np.random.default_rng(0)
    before = rng.random((3, 32, 32), dtype=np.float32)
    vision = np.concatenate([before, before])  # the same picture on both dates
    label = (rng.random((32, 32)) > 0.5).astype(np.uint8)
    params = AugmentParams(hflip=True, k90=1, brightness=0.1)
    augment = AugmentConfig(color_jitter=0.3, swap_dates=0.0)
    v, _, lab = augment_dates(vision, np.ones((32, 32), bool), None, label, params, 2, augment, True, [0, 1, 2], 32, 1,
                              255)
    moved = np.flip(np.rot90(label, 1), -1)
    assert np.array_equal(lab.numpy(), moved)  # the label moved with the pixels
    first, second = v[:3].numpy(), v[3:].numpy()
    assert np.allclose(first - first.mean(), np.flip(np.rot90(before, 1, (1, 2)), -1) - before.mean(), atol=0.35)
    assert not np.allclose(first, second)  # each date its own brightness and contrast
    assert np.corrcoef(first.ravel(), second.ravel())[0, 1] > 0.9  # but the same place, in the same geometry
    swapped, _, _ = augment_dates(np.concatenate([before, before + 1]), np.ones((32, 32), bool), None, label,
                                  AugmentParams(), 2, AugmentConfig(color_jitter=0.0, gray_probability=0.0,
                                                                    swap_dates=1.0), True, [0, 1, 2], 32, 1, 255)
    assert np.allclose(swapped[:3].numpy(), before + 1)  # a change mask: the dates may swap


# ------------------------------------------------------------------------------------------------ the scene
def test_a_scene_of_two_dates_stacks_them_and_brings_another_grid_onto_the_first(change_pairs):
    log = LogLines()
    p2 = change_pairs["p2"]
    same = SceneReader(p2.before, after=[p2.after], label=p2.change, callback=log)
    moved = SceneReader(change_pairs["coarser"].before, after=[change_pairs["coarser"].after], callback=log)
    tile, other = same.read(0, 0, 128, 128), moved.read(0, 0, 128, 128)
    assert same.dates == 2 and tile.vision.shape == (6, 128, 128) and tile.label.sum() == p2.changed_pixels
    assert any("resampled (bilinear)" in line and "coarser_after" in line for line in log.lines)
    assert not any("p2_after" in line and "resampled" in line for line in log.lines)
    # the same ground on both grids: the resampled later date agrees with the first date's picture
    inner = (slice(None), slice(8, 120), slice(8, 120))
    assert np.corrcoef(other.vision[3:][inner].ravel(), other.vision[:3][inner].ravel())[0, 1] > 0.7


def test_bad_pairs_are_named_with_what_to_do(change_pairs, tmp_path):
    from rasterio.enums import ColorInterp

    pair = change_pairs["p0"]
    with rasterio.open(pair.after) as src:
        profile, data = src.profile, src.read()
    far = tmp_path / "far.tif"
    with rasterio.open(far, "w", **{**profile, "transform": src.transform * src.transform.translation(5000, 0)}) as dst:
        dst.write(data)
    with pytest.raises(AlignmentError, match=r"later date '.*far.tif' does not overlap the first date .*footprints"):
        SceneReader(pair.before, after=[str(far)])
    two = tmp_path / "two_bands.tif"
    with rasterio.open(two, "w", **{**profile, "count": 2}) as dst:
        dst.write(data[:2])
    with pytest.raises(DataError, match="two_bands.tif' has 2 band.*same bands"):
        SceneReader(pair.before, after=[str(two)])
    masked = tmp_path / "two_bands_and_alpha.tif"  # three in the file, the third its mask: not a third band
    with rasterio.open(masked, "w", **profile) as dst:
        dst.write(np.concatenate([data[:2], np.full_like(data[:1], np.iinfo(data.dtype).max)]))
        dst.colorinterp = [ColorInterp.gray, ColorInterp.undefined, ColorInterp.alpha]
    with pytest.raises(DataError, match="two_bands_and_alpha.tif' has 2 band.*same bands"):
        SceneReader(pair.before, after=[str(masked)])
    empty = tmp_path / "cloud.tif"
    with rasterio.open(empty, "w", **{**profile, "nodata": 0}) as dst:
        dst.write(np.zeros_like(data))
    with pytest.raises(DataError, match="cloud.tif' has no valid pixel"):
        SceneReader(pair.before, after=[str(empty)])
    early = tmp_path / "S2_20190501T103031.tif"  # dates in the file names, as Sentinel-2's
    late = tmp_path / "S2_20210501T103031.tif"
    for path, source in ((early, pair.after), (late, pair.before)):
        path.write_bytes(open(source, "rb").read())
    log = LogLines()
    SceneReader(str(late), after=[str(early)], callback=log)
    assert any(line.startswith("warning: ") and "taken on 2019-05-01, before the first date" in line
               and "Swap them" in line for line in log.lines)


def test_train_refuses_pairs_for_a_family_of_one_date_and_singles_for_a_change_family(change_pairs, tmp_path, capsys):
    pair = change_pairs["p0"]
    code, _, err = cli(capsys, "train", "--image", pair.before, "--after", pair.after, "--label", pair.change,
                       "--model", "unet", "--preset", "tiny", "--out", str(tmp_path / "u.dsmodel"), "--quiet")
    assert code != 0 and "but the unet family takes one date: train a season model" in err
    assert "a change model on one later date to map what changed (--model change)" in err
    code, _, err = cli(capsys, "train", "--image", pair.before, "--label", pair.change, "--model", "change",
                       "--preset", "tiny", "--out", str(tmp_path / "c.dsmodel"), "--quiet")
    assert code != 0 and "give each scene one later date (--after)" in err
    code, _, err = cli(capsys, "train", "--image", pair.before, "--after", pair.after, "--label", pair.change,
                       "--model", "change", "--preset", "tiny", "--out", pair.after, "--quiet")
    assert code != 0 and "--after" in err  # the bundle would overwrite the later date
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written


# ------------------------------------------------------------------------------------------------ trained
def test_a_trained_change_model_finds_the_buildings_that_changed_and_not_the_light(change_model, change_pairs, tmp_path,
                                                                                     capsys):
    from engine.bundle.model_files import read_model_metadata

    meta = read_model_metadata(change_model)
    assert meta.data.dates == 2 and meta.data.vision_bands == 3 and meta.data.vision_stats.bands == 6
    scores = {}
    for key in ("p2", "sensor", "coarser"):
        for backend in ("torch", "onnxruntime"):
            out = tmp_path / f"{key}_{backend}.tif"
            code, _, err = cli(capsys, "segment", "--model", change_model, "--image", change_pairs[key].before,
                               "--after", change_pairs[key].after, "--out", str(out), "--backend", backend, "--quiet")
            assert code == 0, err
            scores[key, backend] = change_f1(str(out), change_pairs[key].change)
    print(f"change F1 and changed pixels: {scores}")
    for backend in ("torch", "onnxruntime"):  # onnxruntime: the export's two inputs, before and after
        assert scores["p2", backend][0] > 0.6 and scores["coarser", backend][0] > 0.5
        assert scores["sensor", backend][1] < 0.01 * 128 * 128  # other light is no change


def test_a_change_model_wants_both_dates_and_a_model_of_one_date_refuses_a_pair(change_model, change_pairs, tmp_path,
                                                                                 capsys):
    pair = change_pairs["p2"]
    code, _, err = cli(capsys, "segment", "--model", change_model, "--image", pair.before, "--out",
                       str(tmp_path / "x.tif"), "--quiet")
    assert code != 0 and "change model of 2 dates (before, after)" in err and "--after" in err
    one = make_bundle(tmp_path / "one.dsmodel", vision_bands=3)
    code, _, err = cli(capsys, "segment", "--model", one, "--image", pair.before, "--after", pair.after, "--out",
                       str(tmp_path / "y.tif"), "--quiet")
    assert code != 0 and "trained on one date" in err and "post-classification comparison" in err
    code, _, err = cli(capsys, "segment", "--model", change_model, "--image", pair.before, "--after", pair.after,
                       "--out", pair.after, "--quiet")
    assert code != 0 and "later date" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.dsmodel"]
