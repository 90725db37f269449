"""Change detection over many pairs and the reading of pairs: a later date read in the first date's shared cells,
pairs matched by their acquisition dates, a monitoring series whose first date is shared, and the change table of
each pair in the bulk summary."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from engine.data.scene import SceneReader
from engine.data.synthetic_pairs import make_pair
from engine.segment.tiling import TileGrid


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return make_pair(tmp_path_factory.mktemp("pair"), seed=3, size=320, name="site")


def test_a_later_date_is_read_once_per_cell_with_the_values_of_a_tile_by_tile_read(pair, tmp_path):
    shifted = tmp_path / "shifted_after.tif"  # the later date on the first date's grid, 9 and 5 pixels in
    with rasterio.open(pair.after) as src:
        window = Window(9, 5, 300, 300)
        profile = {**src.profile, "width": 300, "height": 300, "transform": src.window_transform(window)}
        with rasterio.open(shifted, "w", **profile) as dst:
            dst.write(src.read(window=window))
    windows = [t.window for t in TileGrid.plan((0, 0, 320, 320), (320, 320), 128, 32)]
    for after in (pair.after, str(shifted)):
        alone = SceneReader(pair.before, after=[after])
        shared = SceneReader(pair.before, after=[after])
        parts = shared.share_parts(windows)
        for window in windows:
            a, b = alone.read(*window), shared.read(*window)
            assert np.array_equal(a.vision, b.vision) and np.array_equal(a.valid, b.valid)
        cells = len(list(parts.cells.cells(0, 0, 320, 320)))
        assert parts.made["date"] == parts.made["cell"] == cells > 1  # each cell of each date read once
        assert parts.held == 0  # every part dropped after its last tile
    assert not alone.read(310, 306, 10, 10).valid.any()  # past the shifted date's end (309, 305): no data
