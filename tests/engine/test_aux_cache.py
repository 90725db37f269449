"""Aux strip cache (inference): tiles cut from per-row strips equal their own per-tile warps; memory is bounded."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from engine.data import synthetic
from engine.data.scene import SceneReader
from engine.errors import DataError
from engine.tiling import TileGrid

RATIO = 8
TILE = 64
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

# Tolerance: a cached chunk is warped exactly like a tile of the same size (same GDAL call, same destination
# size, so the same resampling scale); what remains is GDAL's approximate transformer, which linearises the
# UTM -> EPSG:4326 transform per destination window (error <= 0.125 source pixel, evaluated at different
# points for different windows). On these smooth fields that is ~1e-6 of the value range; 1e-4 leaves margin
# while a one-aux-pixel misalignment (checked below) is ~1e-1.
RELATIVE_TOLERANCE = 1e-4


def _scene(tmp_path, size):
    # two aux files (the reference layout has several), in EPSG:4326, not aligned with the image grid
    return synthetic.make_scene(tmp_path, "cache", size=size, seed=3, aux_channels=[5, 3], aux_crs="EPSG:4326")


@pytest.mark.parametrize("size", [(203, 203), (200, 264)])
def test_cached_aux_equals_per_tile_warp_on_every_tile(tmp_path, size):
    paths = _scene(tmp_path, size)
    with SceneReader(paths["image"], paths["aux"], aux_ratio=RATIO) as plain, \
            SceneReader(paths["image"], paths["aux"], aux_ratio=RATIO) as cached:
        cached.enable_aux_strip_cache(max_strips=2)
        grid = TileGrid.plan((0, 0, plain.grid.width, plain.grid.height), (plain.grid.width, plain.grid.height),
                             TILE, 16)
        tiles = list(grid)
        # the grid reaches the right and bottom edges, with several strips (tile rows)
        assert len(grid.rows) >= 3 and grid.cols[-1] + TILE == plain.grid.width
        scale = 0.0
        for tile in tiles:
            expected = plain.read(tile.col, tile.row, TILE, TILE)
            got = cached.read(tile.col, tile.row, TILE, TILE)
            scale = max(scale, float(np.abs(expected.aux).max()))
            assert got.aux.shape == expected.aux.shape == (8, TILE // RATIO, TILE // RATIO)
            np.testing.assert_array_equal(got.aux_valid, expected.aux_valid)
            np.testing.assert_array_equal(got.vision, expected.vision)
            diff = float(np.abs(got.aux - expected.aux).max())
            assert diff <= RELATIVE_TOLERANCE * float(np.abs(expected.aux).max()), (tile, diff)
        stats = cached.aux_cache_stats
        aligned = sum(1 for t in tiles if t.col % RATIO == 0)
        assert stats["hits"] == aligned and stats["fallbacks"] == len(tiles) - aligned
        assert stats["hits"] > 0
        # each chunk is warped once per tile row: never more warps than aligned tiles
        chunks_per_row = -(-plain.grid.width // TILE)
        assert stats["chunks_warped"] <= len(grid.rows) * chunks_per_row
        assert stats["chunks_warped"] <= aligned
        # the check can tell a misalignment apart: a tile one aux pixel to the right differs clearly
        shifted = plain.read(tiles[0].col + RATIO, tiles[0].row, TILE, TILE)
        first = cached.read(tiles[0].col, tiles[0].row, TILE, TILE)
        assert np.abs(shifted.aux - first.aux).max() > 100 * RELATIVE_TOLERANCE * scale


def test_misaligned_last_column_falls_back_to_its_own_warp(tmp_path):
    paths = _scene(tmp_path, (203, 203))
    with SceneReader(paths["image"], paths["aux"], aux_ratio=RATIO) as reader:
        reader.enable_aux_strip_cache()
        col = 203 - TILE  # the planner's inward-shifted last column: 139, not a multiple of 8
        assert col % RATIO
        got = reader.read(col, 0, TILE, TILE)
        assert reader.aux_cache_stats["fallbacks"] == 1 and reader.aux_cache_stats["chunks_warped"] == 0
        assert reader.cached_strips == 0
        reader.disable_aux_strip_cache()
        expected = reader.read(col, 0, TILE, TILE)
        np.testing.assert_array_equal(got.aux, expected.aux)


@pytest.mark.parametrize("max_strips", [1, 2])
def test_cache_holds_at_most_max_strips_of_one_tile_height(tmp_path, max_strips):
    paths = _scene(tmp_path, (200, 264))
    with SceneReader(paths["image"], paths["aux"], aux_ratio=RATIO) as reader:
        reader.enable_aux_strip_cache(max_strips=max_strips)
        width = reader.grid.width
        held = []
        for row in (0, 48, 96, 136, 0):  # back to a dropped strip: warped again, still bounded
            for col in (0, 48, 96, 136):
                reader.read(col, row, TILE, TILE)
            held.append(reader.cached_strips)
        assert max(held) == max_strips
        for strip in reader._strips.values():
            assert len(strip) <= -(-width // TILE)  # chunks cover the scene width once, never more
            for aux, valid in strip.values():
                assert aux.shape == (8, TILE // RATIO, TILE // RATIO) and valid.shape == aux.shape[1:]
        # 4 chunks per row (tiles up to column 199); the first strip was dropped (LRU) and is warped again
        assert reader.aux_cache_stats["chunks_warped"] == 5 * 4
    with pytest.raises(DataError, match="max_strips"):
        SceneReader(paths["image"], paths["aux"], aux_ratio=RATIO).enable_aux_strip_cache(0)


def test_training_reader_does_not_cache_by_default(tmp_path):
    paths = _scene(tmp_path, (128, 128))
    with SceneReader(paths["image"], paths["aux"], aux_ratio=RATIO) as reader:
        reader.read(0, 0, TILE, TILE)
        assert reader.cached_strips == 0 and reader.aux_cache_stats["hits"] == 0
    with rasterio.open(paths["aux"][0]) as src:
        assert src.crs.to_epsg() == 4326
