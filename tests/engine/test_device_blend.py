"""The device-side row band (used on a GPU) blends exactly as the numpy one: same rows, same values, same masks.

Run here on torch's CPU device; the GPU run in the README's bench uses the same code on cuda."""

import numpy as np
import torch

from engine.segment.device_blend import DeviceRowBandAccumulator
from engine.tiling import RowBandAccumulator, TileGrid, blend_window


def _blend(make, height, width, tile, overlap, drop=()):
    grid = TileGrid.plan((0, 0, width, height), (width, height), tile, overlap)
    rng = np.random.default_rng(3)
    calls, out = [], np.full((2, height, width), np.nan, np.float32)
    valid_out = np.zeros((height, width), bool)

    def sink(row, probs, valid):
        assert isinstance(probs, np.ndarray) and probs.dtype == np.float32 and valid.dtype == bool
        calls.append((row, probs.shape[1]))
        out[:, row:row + probs.shape[1]] = probs
        valid_out[row:row + probs.shape[1]] = valid

    acc, to = make(width, height, 2, grid.band_rows, sink)
    weights = to(blend_window(tile, overlap))
    for t in grid:
        probs = rng.random((2, tile, tile)).astype(np.float32)  # every tile different: the overlaps really blend
        valid = rng.random((tile, tile)) > 0.1  # scattered invalid pixels contribute nothing
        if t.index in drop:
            continue
        acc.add(to(probs), weights, to(valid), t.row, t.col)
    acc.finish()
    return out, valid_out, calls


def test_device_band_matches_the_numpy_band():
    numpy_band = _blend(lambda *a: (RowBandAccumulator(*a), lambda x: x), 150, 97, 32, 8, drop={4})
    device_band = _blend(lambda *a: (DeviceRowBandAccumulator(*a, device="cpu"), torch.from_numpy),
                         150, 97, 32, 8, drop={4})
    assert numpy_band[2] == device_band[2]  # the same rows handed over in the same order
    np.testing.assert_array_equal(numpy_band[1], device_band[1])
    assert not numpy_band[1].all() and numpy_band[1].any()  # the dropped tile left invalid pixels
    np.testing.assert_allclose(device_band[0], numpy_band[0], rtol=1e-6, atol=1e-6, equal_nan=True)
