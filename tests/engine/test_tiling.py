"""Tile grid planning, blending window and the streaming row-band accumulator."""

from __future__ import annotations

import numpy as np
import pytest

from engine.segment.tiling import RowBandAccumulator, TileGrid, blend_window, overlap_pixels, plan_axis


def test_plan_axis_shifts_last_tile_inward():
    offsets = plan_axis(0, 100, 32, 24, 100)
    assert offsets[0] == 0 and offsets[-1] == 100 - 32
    assert all(b - a <= 24 for a, b in zip(offsets, offsets[1:]))
    assert all(o + 32 <= 100 for o in offsets)  # never past the image: no padding needed


def test_plan_axis_exact_multiple_and_small_region():
    assert plan_axis(0, 96, 32, 32, 96) == [0, 32, 64]
    # region shorter than a tile inside a big image: one tile inside the image, covering the region
    (off,) = plan_axis(90, 100, 32, 24, 100)
    assert off <= 90 and off + 32 >= 100 and off + 32 <= 100
    (off,) = plan_axis(5, 20, 32, 24, 100)
    assert off == 5
    # image shorter than a tile: the only case with padding
    assert plan_axis(0, 20, 32, 24, 20) == [0]


def test_grid_covers_every_pixel():
    grid = TileGrid.plan((10, 7, 150, 90), (200, 120), 64, 16)
    cover = np.zeros((120, 200), int)
    for tile in grid:
        cover[tile.row:tile.row + 64, tile.col:tile.col + 64] += 1
    assert (cover[7:97, 10:160] >= 1).all()
    assert len(grid) == len(grid.rows) * len(grid.cols)


def test_blend_window_smooth_and_floored():
    w = blend_window(64, 16)
    assert w.shape == (64, 64) and w.dtype == np.float32
    assert w.min() > 0 and np.isclose(w.max(), 1.0)
    assert np.allclose(w, w.T) and np.allclose(w, w[::-1, ::-1])
    assert np.abs(np.diff(w[32])).max() < 0.15  # no jumps
    assert overlap_pixels(64, 0.25) == 16 and overlap_pixels(64, 10) == 10
    assert blend_window(64, 16) is w and not w.flags.writeable  # made once, shared: nobody can change it
    assert blend_window(64, 8) is not w and not np.array_equal(blend_window(64, 8), w)


def _run_accumulator(height, width, tile, overlap, field, band_rows=None, drop=()):
    grid = TileGrid.plan((0, 0, width, height), (width, height), tile, overlap)
    out = np.full((1, height, width), np.nan, np.float32)
    valid_out = np.zeros((height, width), bool)
    calls = []

    def sink(row, probs, valid):
        calls.append((row, probs.shape[1]))
        out[:, row:row + probs.shape[1]] = probs
        valid_out[row:row + probs.shape[1]] = valid

    acc = RowBandAccumulator(width, height, 1, band_rows or grid.tile, sink)
    weights = blend_window(tile, overlap)
    for t in grid:
        if t.index in drop:
            continue
        h, w = min(tile, height - t.row), min(tile, width - t.col)
        probs = np.zeros((1, tile, tile), np.float32)
        probs[:, :h, :w] = field[t.row:t.row + h, t.col:t.col + w]
        acc.add(probs, weights, np.ones((tile, tile), bool), t.row, t.col)
    acc.finish()
    return out, valid_out, calls, acc


def test_accumulator_reproduces_field_and_streams():
    rng = np.random.default_rng(0)
    field = rng.random((150, 97)).astype(np.float32)
    out, valid, calls, acc = _run_accumulator(150, 97, 32, 8, field)
    assert valid.all()
    np.testing.assert_allclose(out[0], field, atol=1e-5)
    rows = [r for r, _ in calls]
    assert rows == sorted(rows) and sum(n for _, n in calls) == 150  # every row once, in order
    assert acc.nbytes < 32 * 97 * 4 * 3  # bounded by tile x width, not scene height


def test_accumulator_skipped_tiles_are_invalid():
    field = np.ones((64, 64), np.float32)
    out, valid, _, _ = _run_accumulator(64, 64, 32, 0, field, drop={0})
    assert not valid[:32, :32].any() and valid[32:, :].all() and valid[:32, 32:].all()


def test_accumulator_rejects_out_of_order():
    acc = RowBandAccumulator(10, 100, 1, 10, lambda *a: None)
    acc.add(np.zeros((1, 10, 10), np.float32), np.ones((10, 10), np.float32), np.ones((10, 10), bool), 20, 0)
    with pytest.raises(ValueError):
        acc.add(np.zeros((1, 10, 10), np.float32), np.ones((10, 10), np.float32), np.ones((10, 10), bool), 0, 0)


@pytest.mark.parametrize("size, tile, offset", [((96, 80), 96, (0, 0)), ((70, 50), 96, (-13, -23))])
def test_one_tile_over_the_region_gives_what_the_blend_gives(size, tile, offset):
    """A grid of one tile: its probabilities are handed on as they are, not weighted and divided again; the rows,
    their values (to float rounding) and their validity are the blend's, invalid pixels and a tile larger than
    the region (a mirrored border) included."""
    width, height = size
    rng = np.random.default_rng(4)
    probs = rng.random((3, tile, tile)).astype(np.float32)
    valid = rng.random((tile, tile)) > 0.1
    weights = blend_window(tile, 16)
    got = {}
    for alone in (False, True):
        rows: list = []
        acc = RowBandAccumulator(width, height, 3, tile, lambda r, p, v: rows.append((r, p, v)), alone=alone)
        acc.add(probs, weights, valid, *offset)
        assert (acc.base == height) == alone  # handed on at once, not held in the band until the end
        acc.finish()
        got[alone] = (np.concatenate([p for _, p, _ in rows], axis=1), np.concatenate([v for _, _, v in rows]),
                      [r for r, _, _ in rows])
    blended, direct = got[False], got[True]
    assert direct[2] == [0] and direct[0].shape == (3, height, width) and direct[0].dtype == np.float32
    np.testing.assert_array_equal(direct[1], blended[1])
    np.testing.assert_allclose(direct[0], blended[0], rtol=1e-6, atol=1e-7)
    assert not np.shares_memory(direct[0], probs)  # the sink keeps its rows; the model's batch is not held
