"""Tile sampling: hold-out split, validation grid, foreground index and reproducible random tiles."""

from __future__ import annotations

import numpy as np
import pytest

from engine.config import AugmentConfig
from engine.data.sampling import (
    Region,
    TileSampler,
    grid_windows,
    holdout_split,
)
from tests.helpers import cell_index_from_label


def test_region_geometry() -> None:
    a, b = Region(0, 0, 10, 10), Region(5, 5, 10, 10)
    assert a.intersects(b) and a.intersection(b) == Region(5, 5, 5, 5)
    assert not a.intersects(Region(10, 0, 5, 5)) and a.intersection(Region(10, 0, 5, 5)) is None


@pytest.mark.parametrize("w,h,frac,tile", [(256, 128, 0.2, 64), (128, 300, 0.25, 64), (100, 100, 0.5, 64),
                                           (64, 64, 0.2, 64)])
def test_holdout_split_is_disjoint_and_covers(w: int, h: int, frac: float, tile: int) -> None:
    for seed in range(4):
        train, val = holdout_split(w, h, frac, tile, np.random.default_rng(seed))
        assert val is not None
        assert not train.intersects(val)
        assert train.area + val.area == w * h
        longer = max(w, h)
        val_len = val.width if w >= h else val.height
        assert val_len >= min(round(frac * longer), longer // 2) or val_len >= min(tile, longer // 2)
        assert train.area > 0


def test_holdout_zero_fraction_keeps_everything() -> None:
    train, val = holdout_split(100, 80, 0.0, 32, np.random.default_rng(0))
    assert val is None and train == Region(0, 0, 100, 80)


def test_holdout_position_depends_on_seed() -> None:
    starts = {holdout_split(256, 64, 0.25, 32, np.random.default_rng(s))[1].col for s in range(16)}
    assert starts == {0, 192}


def test_grid_windows_fixed_non_overlapping_and_covering() -> None:
    region = Region(10, 20, 100, 70)
    wins = grid_windows(region, 32)
    assert wins == grid_windows(region, 32)
    assert len(wins) == 4 * 3
    cover = np.zeros((200, 200), int)
    for c, r in wins:
        cover[r:r + 32, c:c + 32] += 1
    assert cover.max() == 1  # non-overlapping
    assert cover[20:90, 10:110].min() == 1  # the region is covered


def make_label(h: int = 128, w: int = 192) -> np.ndarray:
    label = np.zeros((h, w), np.uint8)
    label[100:104, 150:155] = 1  # one small foreground blob
    label[:, :8] = 255  # unlabelled strip
    return label


def test_cell_index_marks_foreground_pixels() -> None:
    label = make_label()
    idx = cell_index_from_label(label, cell=16)
    assert idx.fg_pixels == 20 and idx.labelled_pixels == 128 * 184
    oc, orow = idx.cell_origin(idx.fg_cells)
    px = oc + idx.fg_offsets % 16
    py = orow + idx.fg_offsets // 16
    assert np.all(label[py, px] == 1)  # the stored pixel of every fg cell is foreground
    assert len(idx.valid_cells) == (128 // 16) * (192 // 16)  # the 8-px unlabelled strip is half a cell


def test_sampler_is_deterministic_and_honours_foreground_share() -> None:
    label = make_label()
    idx = cell_index_from_label(label, cell=16)
    region = Region(0, 0, 192, 128)
    sampler = TileSampler([idx], [(0, region)], 64, 8, 0.5, AugmentConfig(), seed=3)
    plans = [sampler.plan(0, i) for i in range(400)]
    assert plans == [sampler.plan(0, i) for i in range(400)]
    assert plans != [sampler.plan(1, i) for i in range(400)]
    forced = [p for p in plans if p.forced_foreground]
    assert 0.4 < len(forced) / len(plans) < 0.6
    for p in plans:
        assert p.size % 8 == 0
        if p.size <= 128:
            assert 0 <= p.row and p.row + p.size <= 128 and 0 <= p.col and p.col + p.size <= 192
    for p in forced:  # the blob lies within the central part of the window
        assert p.col + p.size * 0.2 <= 152 <= p.col + p.size * 0.8 or p.col == 192 - p.size
        assert p.row <= 100 and 103 < p.row + p.size
    # Without forcing, the blob is rarely hit (it is 20 px of ~24k).
    plain = TileSampler([idx], [(0, region)], 64, 8, 0.0, None, seed=3)
    hits = sum(p.row <= 100 < p.row + p.size and p.col <= 152 < p.col + p.size
               for p in (plain.plan(0, i) for i in range(400)))
    assert hits / 400 < 0.45 and all(not plain.plan(0, i).forced_foreground for i in range(50))


def test_sampler_stays_in_training_region() -> None:
    label = np.zeros((128, 256), np.uint8)
    label[::7, ::5] = 1
    idx = cell_index_from_label(label, cell=16)
    train, val = holdout_split(256, 128, 0.25, 64, np.random.default_rng(0))
    sampler = TileSampler([idx], [(0, train)], 64, 8, 0.5, AugmentConfig(scale_range=[0.75, 1.0]), seed=0)
    for i in range(300):
        p = sampler.plan(0, i)
        window = Region(p.col, p.row, p.size, p.size)
        assert p.region == train
        assert window.intersection(train) == window  # fits: never reaches into the validation band
        assert not window.intersects(val)


def test_sampler_without_foreground_falls_back_to_random() -> None:
    idx = cell_index_from_label(np.zeros((64, 64), np.uint8), cell=16)
    sampler = TileSampler([idx], [(0, Region(0, 0, 64, 64))], 32, 8, 1.0, None, seed=0)
    assert not sampler.has_foreground
    assert not any(sampler.plan(0, i).forced_foreground for i in range(20))
