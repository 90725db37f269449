"""Shared tile parts (inference): image cells and aux blocks read once for all the tiles and reader threads that
need them; tiles equal their own reads; parts are dropped after their last use."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import rasterio
from affine import Affine

from engine.data import synthetic
from engine.data.raster import read_window
from engine.data.scene import SceneReader
from engine.data.tile_parts import AuxLattice, CellLayout, SharedParts
from engine.segment.tiling import TileGrid

RATIO = 8
TILE = 64
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

# Tolerance: an aux block is warped like a tile of the same size (the same warper, same destination size, so the
# same resampling scale; where a tile coincides with a block the values are identical, checked below); what remains
# is GDAL's approximate transformer, which linearises the UTM -> EPSG:4326 transform per destination window (error
# <= 0.125 source pixel, evaluated at different points for different windows). On these smooth fields that is
# ~1e-6 of the value range; 1e-4 leaves margin while a one-aux-pixel misalignment (checked below) is ~1e-1.
RELATIVE_TOLERANCE = 1e-4


def _scene(tmp_path, size):
    # two aux files (the reference layout has several), in EPSG:4326, not aligned with the image grid
    return synthetic.make_scene(tmp_path, "cache", size=size, seed=3, aux_channels=[5, 3], aux_crs="EPSG:4326")


def _grid(reader):
    return TileGrid.plan((0, 0, reader.grid.width, reader.grid.height), (reader.grid.width, reader.grid.height),
                         TILE, 16)


@pytest.mark.parametrize("size", [(203, 203), (200, 264), (300, 280)])
def test_tiles_from_shared_parts_equal_their_own_reads(tmp_path, size):
    paths = _scene(tmp_path, size)
    with SceneReader(paths["image"], paths["aux"], aux_ratio=RATIO) as plain, \
            SceneReader(paths["image"], paths["aux"], aux_ratio=RATIO) as shared:
        grid = _grid(plain)
        tiles = list(grid)
        parts = shared.share_parts(t.window for t in tiles)
        # the grid reaches the right and bottom edges, with several tile rows
        assert len(grid.rows) >= 3 and grid.cols[-1] + TILE == plain.grid.width
        scale = 0.0
        for tile in tiles:
            expected = plain.read(*tile.window)
            got = shared.read(*tile.window)
            scale = max(scale, float(np.abs(expected.aux).max()))
            np.testing.assert_array_equal(got.vision, expected.vision)  # cells: the same values, bit for bit
            np.testing.assert_array_equal(got.valid, expected.valid)
            assert got.aux.shape == expected.aux.shape == (8, TILE // RATIO, TILE // RATIO)
            np.testing.assert_array_equal(got.aux_valid, expected.aux_valid)
            diff = float(np.abs(got.aux - expected.aux).max())
            assert diff <= RELATIVE_TOLERANCE * float(np.abs(expected.aux).max()), (tile, diff)
        cells, lattice = shared.parts.cells, shared.parts.aux
        distinct_cells = {c for t in tiles for c in cells.cells(*t.window)}
        on_lattice = [lattice.blocks(*t.window) for t in tiles]
        aligned = [keys for keys in on_lattice if keys is not None]
        assert len(aligned) < len(tiles) if size[0] % RATIO or size[1] % RATIO else len(aligned) == len(tiles)
        # each part made once, however many tiles overlap it; misaligned tiles warp their own aux
        assert parts.made["cell"] == len(distinct_cells) < sum(len(list(cells.cells(*t.window))) for t in tiles)
        distinct_blocks = {b for keys in aligned for b in keys}
        assert parts.made["aux"] == len(distinct_blocks) < sum(len(keys) for keys in aligned)
        assert parts.made["aux_own_warp"] == len(tiles) - len(aligned)
        assert parts.held == 0  # all dropped after their last use
        # the check can tell a misalignment apart: a tile one aux pixel to the right differs clearly
        shifted = plain.read(tiles[0].col + RATIO, tiles[0].row, TILE, TILE)
        first = shared.read(*tiles[0].window)  # read again past the plan: made for this use, not kept
        assert np.abs(shifted.aux - first.aux).max() > 100 * RELATIVE_TOLERANCE * scale
        assert parts.held == 0


def test_a_tile_on_an_aux_block_has_its_own_warps_values_bit_for_bit(tmp_path):
    paths = _scene(tmp_path, (256, 256))
    with SceneReader(paths["image"], paths["aux"], aux_ratio=RATIO) as reader:
        windows = [(0, 0, TILE, TILE), (TILE, 2 * TILE, TILE, TILE)]  # exactly blocks (0, 0) and (2, 1)
        parts = reader.share_parts(windows)
        got = [reader.read(*w) for w in windows]
        assert parts.made["aux"] == 2 and reader._warped(reader._aux[0]).block_shapes[0] == (TILE // RATIO,) * 2
        reader.stop_sharing()
        for window, tile in zip(windows, got):
            expected = reader.read(*window)  # warp_to_grid onto the tile's own aux grid
            np.testing.assert_array_equal(tile.aux, expected.aux)
            np.testing.assert_array_equal(tile.aux_valid, expected.aux_valid)


def test_aux_blocks_keep_nodata_nan_and_coverage_as_the_tiles_own_warps(tmp_path):
    """Per-band nodata, a NaN strip and an aux that covers only part of the image: the blocks' validity is the
    tiles' own, pixel for pixel, and their values agree within the tolerance."""
    paths = synthetic.make_scene(tmp_path, "holes", size=(200, 264), seed=6, aux_channels=[3, 2],
                                 aux_crs="EPSG:4326")
    with rasterio.open(paths["aux"][0]) as src:
        profile, data = src.profile, src.read()
    data[0, :, : data.shape[2] // 3] = -9999.0  # one band's western third nodata: invalid there
    data[1, data.shape[1] // 2:data.shape[1] // 2 + 3, :] = np.nan  # a NaN strip across the image
    data[:, :, -data.shape[2] // 4:] = -9999.0  # every band's eastern quarter: no aux under the image's east
    profile["nodata"] = -9999.0
    with rasterio.open(tmp_path / "holes.tif", "w", **profile) as dst:
        dst.write(data)
    aux = [str(tmp_path / "holes.tif"), paths["aux"][1]]
    with SceneReader(paths["image"], aux, aux_ratio=RATIO) as plain, \
            SceneReader(paths["image"], aux, aux_ratio=RATIO) as shared:
        tiles = list(_grid(plain))
        parts = shared.share_parts(t.window for t in tiles)
        invalid = 0
        for tile in tiles:
            expected, got = plain.read(*tile.window), shared.read(*tile.window)
            np.testing.assert_array_equal(got.aux_valid, expected.aux_valid)
            assert np.all(got.aux[:, ~got.aux_valid] == 0)
            scale = float(np.abs(expected.aux).max())
            assert float(np.abs(got.aux - expected.aux).max()) <= RELATIVE_TOLERANCE * scale, tile
            invalid += int((~got.aux_valid).sum())
        assert parts.made["aux"] > 0 and invalid > 0  # the holes reached the tiles


def test_aux_blocks_are_whole_and_inside_the_image():
    lattice = AuxLattice(296, 200, 64, 64, 8)
    # columns: 0, 64, 128, 192 and the last one shifted inward to end at 296 (232, on the aux grid): it gives
    # only 256..296; rows: 0, 64, 128 and 136..200 giving 192..200
    assert lattice.columns == [(0, 0, 64), (64, 64, 128), (128, 128, 192), (192, 192, 256), (232, 256, 296)]
    assert lattice.rows[-1] == (136, 192, 200) and lattice.extent == (256, 192)
    assert lattice.block(3, 4) == (232, 136, 64, 64)
    # block (2, 3) on the lattice's own grid, the edge blocks shifted inward
    assert lattice.owned(2, 3)[1] == (0, 0) and (0, 0) not in (lattice.owned(3, 4)[1], lattice.owned(0, 4)[1])
    assert lattice.owned(3, 4) == ((256, 192, 40, 8), (24, 56))
    assert lattice.blocks(232, 136, 64, 64) == [(2, 3), (2, 4), (3, 3), (3, 4)]
    assert lattice.blocks(0, 0, 64, 64) == [(0, 0)]
    assert lattice.blocks(4, 0, 64, 64) is None  # off the aux grid
    # an edge not on the aux grid: no shifted block, tiles reaching past the regular ones warp their own
    odd = AuxLattice(300, 203, 64, 64, 8)  # 300 - 64 = 236 and 203 - 64 = 139: not multiples of 8
    assert odd.columns[-1] == (192, 192, 256) and odd.rows[-1] == (128, 128, 192)
    assert odd.blocks(192, 0, 64, 64) == [(0, 3)] and odd.blocks(232, 0, 64, 64) is None
    assert AuxLattice(40, 50, 64, 64, 8).columns == [(0, 0, 64)]  # smaller than a tile: one block, as its tile


@pytest.mark.parametrize("vrt", [True, False])
def test_an_aux_ending_at_the_image_edge_gives_the_tiles_own_values(tmp_path, monkeypatch, vrt):
    """Aux rasters on the image's own grid and extent (the real S2/S1/DEM tiles): no block reaches past them, so
    every tile has its own warp's values, bit for bit, edge tiles included; also where GDAL would not make a
    warped VRT with the blocks' size and each block is warped on its own."""
    if not vrt:
        import engine.data.scene_aux as scene_module

        monkeypatch.setattr(scene_module, "open_warped_blocks", lambda *args, **kwargs: None)
    image = tmp_path / "image.tif"
    rng = np.random.default_rng(1)
    _write(image, rng.integers(1, 4000, (3, 200, 232)).astype("uint16"))
    ramp = np.add.outer(np.arange(200.0), np.arange(232.0))
    fields = np.stack([ramp, np.sin(ramp / 9)])
    _write(tmp_path / "aux.tif", fields.astype("float32"))
    with SceneReader(str(image), [str(tmp_path / "aux.tif")], aux_ratio=RATIO) as plain, \
            SceneReader(str(image), [str(tmp_path / "aux.tif")], aux_ratio=RATIO) as shared:
        tiles = list(_grid(plain))
        parts = shared.share_parts(t.window for t in tiles)
        for tile in tiles:
            expected, got = plain.read(*tile.window), shared.read(*tile.window)
            np.testing.assert_array_equal(got.aux, expected.aux)
            np.testing.assert_array_equal(got.aux_valid, expected.aux_valid)
        assert parts.made["aux"] > 0 and parts.made["aux_own_warp"] == 0


def test_an_ungeoreferenced_image_and_aux_share_blocks_too(tmp_path):
    """Pixel space (no georeferencing): the aux is stretched over the image from memory, block by block."""
    image = tmp_path / "plain.tif"
    with rasterio.open(image, "w", driver="GTiff", width=232, height=200, count=3, dtype="uint16") as dst:
        dst.write(np.random.default_rng(2).integers(1, 4000, (3, 200, 232)).astype("uint16"))
    aux = tmp_path / "plain_aux.tif"
    with rasterio.open(aux, "w", driver="GTiff", width=29, height=25, count=2, dtype="float32") as dst:
        ramp = np.add.outer(np.arange(25.0), np.arange(29.0))
        dst.write(np.stack([ramp, np.cos(ramp / 5)]).astype("float32"))
    with SceneReader(str(image), [str(aux)], aux_ratio=RATIO) as plain, \
            SceneReader(str(image), [str(aux)], aux_ratio=RATIO) as shared:
        tiles = list(_grid(plain))
        parts = shared.share_parts(t.window for t in tiles)
        for tile in tiles:
            expected, got = plain.read(*tile.window), shared.read(*tile.window)
            np.testing.assert_array_equal(got.aux_valid, expected.aux_valid)
            assert float(np.abs(got.aux - expected.aux).max()) <= RELATIVE_TOLERANCE * float(np.abs(expected.aux).max())
        assert parts.made["aux"] > 0 and parts.made["aux_own_warp"] == 0


def test_misaligned_last_column_warps_its_own_aux(tmp_path):
    paths = _scene(tmp_path, (203, 203))
    with SceneReader(paths["image"], paths["aux"], aux_ratio=RATIO) as reader:
        col = 203 - TILE  # the planner's inward-shifted last column: 139, not a multiple of 8
        assert col % RATIO
        parts = reader.share_parts([(col, 0, TILE, TILE)])
        got = reader.read(col, 0, TILE, TILE)
        assert parts.made["aux_own_warp"] == 1 and parts.made["aux"] == 0
        reader.stop_sharing()
        expected = reader.read(col, 0, TILE, TILE)
        np.testing.assert_array_equal(got.aux, expected.aux)
        np.testing.assert_array_equal(got.vision, expected.vision)


def test_parts_held_stay_within_two_tile_rows(tmp_path):
    paths = _scene(tmp_path, (520, 520))  # 256 px blocks: cells of one block
    with SceneReader(paths["image"], paths["aux"], aux_ratio=RATIO) as reader:
        grid = _grid(reader)
        parts = reader.share_parts(t.window for t in grid)
        held = []
        for tile in grid:
            reader.read(*tile.window)
            held.append(parts.held)
        cells = reader.parts.cells
        assert (cells.cell_w, cells.cell_h) == (256, 256)
        per_row = -(-520 // 256) * 2 + -(-520 // TILE)  # two cell rows and one row of aux chunks
        assert 0 < parts.most_held <= 2 * per_row
        assert held[-1] == 0


def test_reader_threads_make_each_part_once(tmp_path):
    paths = _scene(tmp_path, (300, 280))
    with SceneReader(paths["image"], paths["aux"], aux_ratio=RATIO) as alone:
        tiles = list(_grid(alone))
        alone_parts = alone.share_parts(t.window for t in tiles)
        expected = [alone.read(*t.window) for t in tiles]
    with SceneReader(paths["image"], paths["aux"], aux_ratio=RATIO) as reader:
        parts = reader.share_parts(t.window for t in tiles)
        copies = [reader] + [reader.worker_copy() for _ in range(3)]
        got: dict[int, object] = {}
        start = threading.Barrier(len(copies))
        errors = []

        def work(w):
            try:
                start.wait()
                for i, t in enumerate(tiles):
                    if i % len(copies) == w:  # interleaved: neighbouring tiles in different threads
                        got[i] = copies[w].read(*t.window)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(len(copies))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for copy in copies[1:]:
            copy.close()
        assert not errors
        assert all(copy.parts is parts for copy in copies)
        assert dict(parts.made) == dict(alone_parts.made)  # no part made twice across the threads
        # one warped VRT's XML per aux file for all the threads: a copy opens the VRTs, not the aux files
        assert len(reader._warped_xml) == len(paths["aux"])
        assert all(copy._warped_xml is reader._warped_xml for copy in copies)
        assert parts.held == 0
        for i, e in enumerate(expected):
            np.testing.assert_array_equal(got[i].vision, e.vision)
            np.testing.assert_array_equal(got[i].aux, e.aux)


def _write(path, data, **profile):
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                       dtype=data.dtype, crs="EPSG:32632", transform=Affine(1, 0, 500000, 0, -1, 5e6),
                       **profile) as dst:
        dst.write(data)
        return dst


@pytest.mark.parametrize("kind", ["tiled16", "striped", "nodata", "float_nan", "mask"])
def test_cells_give_read_window_values_on_any_layout(tmp_path, kind):
    """Cells of whole blocks, for tiled and striped files, with nodata, NaN and a mask band; windows inside,
    across the edges and past them (small images) read as ``read_window`` does."""
    rng = np.random.default_rng(0)
    data = rng.integers(1, 4000, (3, 150, 170)).astype("uint16")
    profile = {}
    if kind == "tiled16":
        profile = dict(tiled=True, blockxsize=16, blockysize=16)
    elif kind == "nodata":
        data[:, 40:60, 50:90] = 0
        data[0, 10:20, 10:20] = 0  # one band only: still valid
        profile = dict(nodata=0, tiled=True, blockxsize=32, blockysize=32)
    elif kind == "float_nan":
        data = data.astype("float64")
        data[1, 70:80, 30:40] = np.nan
        data[2, 5, 5] = np.inf
    path = tmp_path / f"{kind}.tif"
    _write(path, data, **profile)
    if kind == "mask":
        with rasterio.open(path, "r+") as dst:
            mask = np.full((150, 170), 255, np.uint8)
            mask[100:, :60] = 0
            dst.write_mask(mask)
    windows = [(0, 0, 64, 64), (48, 48, 64, 64), (106, 86, 64, 64), (150, 130, 64, 64), (-10, -20, 64, 64),
               (0, 0, 200, 180)]
    with SceneReader(str(path), aux_ratio=1) as reader:
        parts = reader.share_parts(windows)
        if kind == "striped":
            assert reader.parts.cells.cell_w == 170  # whole-width strips grown to >= 256 rows (here the image)
        for window in windows:
            got = reader.read(*window)
            with rasterio.open(path) as ds:
                vision, valid = read_window(ds, *window)
            np.testing.assert_array_equal(got.vision, vision)
            np.testing.assert_array_equal(got.valid, valid)
            assert got.vision.dtype == np.float32
        assert parts.made["cell"] > 0 and parts.held == 0
        if kind in ("nodata", "mask", "float_nan"):
            assert not got.valid.all()


def test_cell_layout():
    assert CellLayout.for_blocks(4096, 4096, 256, 256) == CellLayout(4096, 4096, 256, 256)
    assert CellLayout.for_blocks(4096, 4096, 128, 128) == CellLayout(4096, 4096, 256, 256)
    assert CellLayout.for_blocks(1000, 800, 1000, 1) == CellLayout(1000, 800, 1000, 256)  # strips of one row
    # at least a tile a side (a tile then takes at most 2 x 2 cells) ...
    assert CellLayout.for_blocks(4096, 4096, 256, 256, tile=512) == CellLayout(4096, 4096, 512, 512)
    assert CellLayout.for_blocks(4096, 4096, 256, 256, tile=64) == CellLayout(4096, 4096, 256, 256)
    # ... unless that makes cells too large: a 10980 px strip of 512 rows is 5.6 Mpx, so 256 rows
    assert CellLayout.for_blocks(10980, 10980, 10980, 1, tile=512) == CellLayout(10980, 10980, 10980, 256)
    assert CellLayout.for_blocks(100, 90, 512, 512) == CellLayout(100, 90, 512, 512)  # one block, larger than the image
    assert CellLayout.for_blocks(50000, 50000, 50000, 1) is None  # 256 rows of a 50000 px strip: read per tile
    assert CellLayout.for_blocks(8000, 8000, 8000, 8000) is None  # one huge block
    layout = CellLayout(300, 200, 128, 128)
    assert list(layout.cells(100, 100, 64, 64)) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert list(layout.cells(-64, 0, 64, 64)) == []
    assert layout.window(1, 2) == (256, 128, 44, 72)


def test_a_part_whose_making_fails_is_made_again_by_the_next_taker():
    parts = SharedParts({("cell", 0, 0): 2})
    calls = []

    def bad():
        calls.append(1)
        raise OSError("disk")

    with pytest.raises(OSError):
        parts.take(("cell", 0, 0), bad)
    assert parts.take(("cell", 0, 0), lambda: "ok") == "ok"
    assert parts.held == 1 and parts.made["cell"] == 1  # one planned use left
    assert parts.take(("cell", 0, 0), bad) == "ok" and parts.held == 0 and len(calls) == 1


def test_a_part_taken_more_often_than_planned_by_two_threads_at_once():
    parts = SharedParts({("aux", 0): 1})
    inside = threading.Event()
    release = threading.Event()
    got = []

    def slow():
        inside.set()
        release.wait(5)
        return "chunk"

    first = threading.Thread(target=lambda: got.append(parts.take(("aux", 0), slow)))
    first.start()
    inside.wait(5)
    second = threading.Thread(target=lambda: got.append(parts.take(("aux", 0), lambda: "other")))
    second.start()  # finds the entry being made and waits for it
    release.set()
    first.join(5)
    second.join(5)
    assert got == ["chunk", "chunk"] and parts.held == 0 and parts.made["aux"] == 1
    assert parts.take(("aux", 0), lambda: "again") == "again"  # past the plan: made for this use only


def test_training_reader_reads_every_tile_on_its_own(tmp_path):
    paths = _scene(tmp_path, (128, 128))
    with SceneReader(paths["image"], paths["aux"], aux_ratio=RATIO) as reader:
        reader.read(0, 0, TILE, TILE)
        assert reader.parts is None
        assert reader.__getstate__()["parts"] is None
    with rasterio.open(paths["aux"][0]) as src:
        assert src.crs.to_epsg() == 4326


def test_a_reader_process_opens_the_warped_vrts_described_before_it_started(tmp_path):
    """Reader processes get the warped VRTs' XML with their reader (``describe_warps``, one a scene): they read the
    same aux and never open the aux files themselves."""
    import pickle

    paths = _scene(tmp_path, (256, 320))  # every tile on the aux lattice: none warps its own aux from the files
    with SceneReader(paths["image"], paths["aux"], aux_ratio=RATIO) as alone:
        tiles = list(_grid(alone))
        alone.share_parts(t.window for t in tiles)
        expected = [alone.read(*t.window) for t in tiles]
    with SceneReader(paths["image"], paths["aux"], aux_ratio=RATIO) as reader:
        reader.share_parts(t.window for t in tiles)
        reader.describe_warps()
        assert len(reader._warped_xml) == len(paths["aux"])
        worker = pickle.loads(pickle.dumps(reader.portable()))  # what a reader process gets
    with worker:
        worker.share_parts(t.window for t in tiles)
        for tile, e in zip(tiles, expected):
            np.testing.assert_array_equal(worker.read(*tile.window).aux, e.aux)
        assert worker.parts.made["aux"] > 0 and worker.parts.made["aux_own_warp"] == 0
        assert not any(path in worker._handles for path in paths["aux"])

@pytest.mark.parametrize("method", ["percentile", "meanstd"])
def test_a_normalised_tile_has_the_values_of_its_float32_read(tmp_path, method):
    """Normalised in the reader (a CPU run), a tile's integer values go into the statistics as they are, not as a
    float32 copy first: the same values, bit for bit, as normalising the float32 read, nodata pixels included."""
    from engine.data.normalize import BandStatistics
    from engine.segment.prepare import prepare_tile

    paths = _scene(tmp_path, (200, 264))
    with rasterio.open(paths["image"], "r+") as image:  # some nodata pixels, as a scene's edge has
        data = image.read()
        data[:, 10:30, 40:90] = 0
        image.write(data)
        image.nodata = 0
    stats = BandStatistics(method, [900.0, 1100.0, 800.0, 1500.0], [4000.0, 300.0, 3000.0, 2500.0])
    with SceneReader(paths["image"], aux_ratio=RATIO) as reader:
        tiles = list(_grid(reader))
        reader.share_parts(t.window for t in tiles)
        invalid = 0
        for tile in tiles:
            valid, vision, _ = prepare_tile(tile, reader, {"m": (stats, None, reader.selection)}, False)
            expected, ok = read_window(reader.image_dataset(), *tile.window)
            np.testing.assert_array_equal(valid, ok)
            np.testing.assert_array_equal(vision["m"], stats.apply(expected, ok))
            assert vision["m"].dtype == np.float32
            invalid += int((~valid).sum())
        assert invalid > 0
