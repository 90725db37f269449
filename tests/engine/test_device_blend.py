"""The device-side row band (used on a GPU) blends exactly as the numpy one: same rows, same values, same masks.

Run here on torch's CPU device; the GPU run in docs/benchmarks.md used the same code on cuda."""

import numpy as np
import torch

from engine.segment.tiling import DeviceRowBandAccumulator, RowBandAccumulator, TileGrid, blend_window


def _blend(make, height, width, tile, overlap, drop=()):
    grid = TileGrid.plan((0, 0, width, height), (width, height), tile, overlap)
    rng = np.random.default_rng(3)
    calls, out = [], np.full((2, height, width), np.nan, np.float32)
    valid_out = np.zeros((height, width), bool)

    def sink(row, probs, valid, ready=None):
        if ready is not None:  # the device band's rows: read them only once ready (on CUDA still being copied)
            ready()
        assert isinstance(probs, np.ndarray) and probs.dtype == np.float32 and valid.dtype == bool
        calls.append((row, probs.shape[1]))
        out[:, row:row + probs.shape[1]] = probs
        valid_out[row:row + probs.shape[1]] = valid

    acc, to = make(width, height, 2, grid.tile, sink)
    weights = to(blend_window(tile, overlap).copy())
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


def test_device_rows_reach_the_writer_only_once_ready():
    """The writer thread calls the rows' ``ready`` before writing them, and the thread adding tiles does not
    wait for it (on CUDA ``ready`` waits for the rows' copy from the GPU; here a gate stands in for that copy)."""
    import threading

    from engine.segment.sinks import RowSink

    events, gate = [], threading.Event()

    def ready():
        events.append("ready")
        gate.wait()

    class Rows(RowSink):
        def _write(self, row, probs, valid):
            events.append(("write", row, probs.copy()))

        def _abort_files(self):
            pass

    sink = Rows()
    band = DeviceRowBandAccumulator(8, 4, 1, 4, lambda row, p, v, _ready: sink.sink(row, p, v, ready), "cpu")
    band.add(torch.ones((1, 4, 8)), torch.ones((4, 8)), torch.ones((4, 8), dtype=torch.bool), 0, 0)
    band.finish()  # returns with the rows handed over, while the writer still waits
    assert not any(isinstance(e, tuple) for e in events)
    gate.set()
    sink.finish()
    assert events[0] == "ready" and events[1][:2] == ("write", 0) and (events[1][2] == 1).all()
