"""Normalising on the device (a GPU; tested here with torch on the CPU): the reader leaves the vision values raw
with a keep mask, ``BandStatistics.apply_tensor`` normalises them where the model runs, and the model gets the
same values, bit for bit, as from the host normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.callbacks import QuietCallback
from engine.config import SegmentConfig
from engine.data import synthetic
from engine.data.normalize import BandStatistics
from engine.segment import TileReader, plan_segmentation
from engine.segment.reader import vision_on_device
from tests.helpers import make_bundle


@pytest.mark.parametrize("method", ["percentile", "meanstd"])
def test_apply_tensor_gives_the_values_of_apply_bit_for_bit(method):
    rng = np.random.default_rng(1)
    raw = (rng.normal(2000, 900, (3, 4, 37, 41))).astype(np.float32)
    raw[0, 1, 3:9, 5:12] = np.nan  # non-finite raw values: 0, as on the host
    raw[1, 2, 4, 4] = np.inf
    raw[2, :, 30:, :] = 0.0
    keep = rng.random((3, 37, 41)) > 0.2
    low = [800.0, 1000.0, 1500.0, 20.0]
    high = [4200.0, 1000.0, 3600.25, 0.0] if method == "percentile" else [900.5, 0.0, 33.3, 1e-30]
    stats = BandStatistics(method, low, high)  # a constant band (span 0) and, for meanstd, std 0 and a tiny std
    host = np.stack([stats.apply(raw[i], keep[i]) for i in range(3)])
    device = stats.apply_tensor(torch.from_numpy(raw), torch.from_numpy(keep)).numpy()
    assert device.dtype == np.float32
    np.testing.assert_array_equal(device, host)
    assert not np.array_equal(host, np.nan_to_num(raw))  # the normalisation did something
    if method == "percentile":
        assert host.min() == 0.0 and host.max() == 1.0


def _batches(plan_cfg, readers, processes, normalise):
    plan = plan_segmentation(plan_cfg, QuietCallback())
    reader = TileReader(plan, 3, 2, readers, processes=processes, normalise=normalise).start()
    try:
        out = []
        for batch in reader:
            if batch.tiles:
                vision = vision_on_device(batch, reader.stats, torch.device("cpu"))
                out.append(({k: torch.as_tensor(v).numpy() for k, v in vision.items()}, batch))
        return out
    finally:
        reader.close()
        plan.reader.close()


def _triangle(path, image):
    """A triangular AOI over most of the image: tiles straddle its edges."""
    import json

    from engine.data.raster import grid_of, open_raster

    with open_raster(image) as dataset:
        grid = grid_of(dataset)
    xmin, ymin, xmax, ymax = grid.bounds
    ring = [[xmin, ymin], [xmax, ymin], [xmin, ymax], [xmin, ymin]]
    path.write_text(json.dumps({"type": "FeatureCollection", "crs": {"type": "name", "properties": {
        "name": f"EPSG:{grid.crs.to_epsg()}"}}, "features": [{"type": "Feature", "properties": {},
                                                             "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
    return str(path)


@pytest.mark.parametrize(("size", "aoi", "readers", "processes"), [
    ((150, 190), False, 1, False),
    ((150, 190), True, 2, False),  # an AOI: pixels outside it are 0 after normalising
    ((40, 50), False, 1, False),  # smaller than a tile: the tile is the image mirrored, its masks with it
    ((150, 190), False, 2, True),  # reader processes hand the keep mask through shared memory
])
def test_raw_batches_normalised_on_the_device_equal_the_host_batches(tmp_path, size, aoi, readers, processes):
    scene = synthetic.make_scene(tmp_path / "s", "s", size=size, seed=4, aux_channels=6)
    model = make_bundle(tmp_path / "m.dsmodel", aux_channels=6, num_classes=3, seed=3)
    cfg = SegmentConfig(image=scene["image"], aux=scene["aux"], models=[model], device="cpu", batch_size=3,
                        overlap=0.5, output=str(tmp_path / "unused.tif"))
    if aoi:
        cfg = cfg.replace(aoi=_triangle(tmp_path / "aoi.geojson", scene["image"]))
    host = _batches(cfg, 1, False, True)
    device = _batches(cfg, readers, processes, False)
    assert len(host) == len(device) > 0
    for (h_vision, h_batch), (d_vision, d_batch) in zip(host, device):
        assert not h_batch.raw and d_batch.raw
        assert [t.index for t in h_batch.tiles] == [t.index for t in d_batch.tiles]
        np.testing.assert_array_equal(h_batch.valid, d_batch.valid)
        for key in h_vision:
            np.testing.assert_array_equal(d_vision[key], h_vision[key])
            np.testing.assert_array_equal(d_batch.aux[key], h_batch.aux[key])
            assert not np.array_equal(d_batch.vision[key], h_vision[key])  # the reader did leave them raw
        if aoi:
            assert not d_batch.valid.all()


@pytest.mark.parametrize(("readers", "processes"), [(1, False), (2, False), (2, True)])
def test_a_reader_given_the_device_hands_its_batches_over_there_normalised(tmp_path, readers, processes):
    """On a GPU the batching thread copies each batch to the device and normalises it there, not the thread that
    drives the model: the batches arrive as tensors on the device with the host batches' values, bit for bit."""
    scene = synthetic.make_scene(tmp_path / "s", "s", size=(150, 190), seed=4, aux_channels=6)
    model = make_bundle(tmp_path / "m.dsmodel", aux_channels=6, num_classes=3, seed=3)
    cfg = SegmentConfig(image=scene["image"], aux=scene["aux"], models=[model], device="cpu", batch_size=3,
                        overlap=0.5, output=str(tmp_path / "unused.tif"))
    host = _batches(cfg, 1, False, True)
    plan = plan_segmentation(cfg, QuietCallback())
    reader = TileReader(plan, 3, 2, readers, processes=processes, normalise=False, device=torch.device("cpu"))
    try:
        given = [b for b in reader.start() if b.tiles]
    finally:
        reader.close()
        plan.reader.close()
    assert len(given) == len(host) > 0
    for (h_vision, h_batch), batch in zip(host, given):
        assert not batch.raw and isinstance(batch.valid, torch.Tensor)
        assert [t.index for t in h_batch.tiles] == [t.index for t in batch.tiles]
        np.testing.assert_array_equal(batch.valid.numpy(), h_batch.valid)
        for key in h_vision:
            assert isinstance(batch.vision[key], torch.Tensor) and isinstance(batch.aux[key], torch.Tensor)
            np.testing.assert_array_equal(batch.vision[key].numpy(), h_vision[key])
            np.testing.assert_array_equal(batch.aux[key].numpy(), h_batch.aux[key])


@pytest.mark.parametrize(("dtype", "shipped"), [
    ("uint16", "uint16"),  # values past 32767: uint16 goes to the device as int16 and is widened there
    ("int16", "int16"),  # negative values
    ("uint8", "uint8"),
    ("float32", "float32"),
    ("int32", "float32"),  # not all exact in float32: made float32 on the host, as before
])
def test_raw_tiles_go_to_the_device_in_the_files_integer_dtype(tmp_path, dtype, shipped):
    import rasterio

    scene = synthetic.make_scene(tmp_path / "s", "s", size=(150, 190), seed=4, aux_channels=6)
    with rasterio.open(scene["image"]) as src:
        profile, data = src.profile, src.read().astype(np.float64)
    data = {"uint16": data * 15, "int16": data * 8 - 16000, "uint8": data / 20}.get(dtype, data)
    image = tmp_path / f"image_{dtype}.tif"
    profile.update(dtype=dtype, nodata=None)
    with rasterio.open(image, "w", **profile) as dst:
        dst.write(np.clip(data, np.iinfo(dtype).min, np.iinfo(dtype).max).astype(dtype)
                  if np.dtype(dtype).kind in "iu" else data.astype(dtype))
    vision_high = {"uint16": 60000.0, "int16": 16000.0, "uint8": 200.0}.get(dtype, 4000.0)
    model = make_bundle(tmp_path / "m.dsmodel", aux_channels=6, num_classes=3, seed=3, vision_high=vision_high)
    cfg = SegmentConfig(image=str(image), aux=scene["aux"], models=[model], device="cpu", batch_size=3,
                        overlap=0.5, output=str(tmp_path / "unused.tif"))
    host, device = _batches(cfg, 1, False, True), _batches(cfg, 2, False, False)
    assert len(host) == len(device) > 0
    for (h_vision, _), (d_vision, d_batch) in zip(host, device):
        for key in h_vision:
            assert d_batch.vision[key].dtype == np.dtype(shipped)
            np.testing.assert_array_equal(d_vision[key], h_vision[key])
    if dtype == "uint16":
        assert max(int(b.vision[k].max()) for _, b in device for k in b.vision) > 32767


def test_the_gpu_pipeline_run_on_the_cpu_gives_the_host_pipeline_probabilities(tmp_path):
    """``run_tiles(on_device=True)``: raw tiles normalised by the predictor's device, blended in its memory
    (what a GPU run does), here with torch on the CPU; the rows equal those of the host pipeline."""
    from engine.segment import Predictor, run_tiles
    from engine.segment.sinks import RowSink

    class Rows(RowSink):
        def __init__(self):
            super().__init__()
            self.rows = {}

        def _write(self, row, probs, valid):
            self.rows[row] = (np.asarray(probs).copy(), np.asarray(valid).copy())

        def _abort_files(self):
            pass

    scene = synthetic.make_scene(tmp_path / "s", "s", size=(150, 190), seed=4, aux_channels=6)
    model = make_bundle(tmp_path / "m.dsmodel", aux_channels=6, num_classes=3, seed=3)
    cfg = SegmentConfig(image=scene["image"], aux=scene["aux"], models=[model], device="cpu", batch_size=3,
                        overlap=0.5, output=str(tmp_path / "unused.tif"))
    got = {}
    for on_device in (False, True):
        plan = plan_segmentation(cfg, QuietCallback())
        predictor = Predictor.from_bundles(plan.members, "none", "cpu")
        calls = []
        original = predictor.on_device

        def spy(vision, aux, coords=None, season=None, *, original=original, calls=calls):
            calls.append({type(v) for v in vision.values()})
            return original(vision, aux, coords, season)

        predictor.on_device = spy
        sink = Rows()
        try:
            stats = run_tiles(plan, predictor, sink, QuietCallback(), batch_size=3, prefetch=2, readers=2,
                              on_device=on_device)
        finally:
            plan.reader.close()
        assert stats.tiles == 20
        # the device path hands the predictor tensors normalised on its device, the host path normalised arrays
        assert calls == [{torch.Tensor if on_device else np.ndarray}] * 7
        got[on_device] = sink.rows
    assert sorted(got[True]) == sorted(got[False]) and len(got[True]) > 0
    for row, (probs, valid) in got[False].items():
        np.testing.assert_array_equal(got[True][row][1], valid)
        np.testing.assert_array_equal(got[True][row][0], probs)  # same inputs, same blending: bit for bit
