"""The tile pipeline: reader thread -> predictor -> blending -> sink, with bounded queues between them::

    reader threads  SceneReader.read(tile) -> BandStatistics.apply -> batches   (prefetch queues; on a GPU the
                                                                                  batch is copied and normalised
                                                                                  there, by the batching thread)
    main thread     predictor(batch) -> probabilities -> RowBandAccumulator.add  (on a GPU in device memory)
    writer thread   finished rows -> the sink's rasters (row blocks)             (write queue; on a GPU after the
                                                                                  rows' copy)

On a GPU the main thread never waits for the device (``engine.runtime.prefetch``): it queues copies and kernels,
and runs ahead of the GPU by at most the write queue's rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..callbacks import Callback, Stage
from ..io import locations
from ..runtime.environment import require
from ..runtime.prefetch import to_device
from .plan import SegmentPlan
from .predictor import Season
from .reader import TileReader, default_readers
from .sinks import RowSink
from .tiling import DeviceRowBandAccumulator, RowBandAccumulator, blend_window

# GDAL's block cache defaults to 5 % of RAM and would grow with the scene. 32 MB holds the input blocks of a
# tile-high band of an 8192-px-wide 4-band 16-bit scene plus the output blocks being written; wider scenes
# decompress a few blocks twice instead of growing (a larger cache grows the peak memory: docs/benchmarks.md).
GDAL_CACHE_BYTES = 32 * 2**20

Predict = Callable[[dict[str, np.ndarray], dict[str, np.ndarray | None]], np.ndarray]


@dataclass
class PipelineStats:
    """What one pass over a plan's tiles did and where the time went."""

    tiles: int
    skipped_tiles: int
    model_seconds: float  # predictor calls (on a GPU: queuing the work; the writer thread waits for the device)
    input_wait: float  # model idle, waiting for the reader thread
    read_seconds: float  # busy time of the reader thread
    first_batch_at: float | None = None  # time.perf_counter() when the first batch's probabilities were back


def tile_coords(plan: SegmentPlan, callback: Callback) -> Callable[[list[Any]], np.ndarray]:
    """Each tile's (year, day of year, latitude, longitude) from the scene's date and CRS (NaN where unknown)."""
    from ..data.acquisition import of_source

    acquisition = of_source(getattr(plan.inputs, "source", None) or plan.cfg.image, plan.reader.acquisition)
    callback.info(f"The encoder's time/location inputs: {acquisition.said()}"
                  + ("." if acquisition.known else ": they add nothing, as the release run without them."))
    half = plan.tile / 2
    return lambda tiles: acquisition.coords([(t.col + half, t.row + half) for t in tiles])


@contextmanager
def streaming_gdal_cache() -> Iterator[None]:
    """GDAL's block cache capped for a streaming run (a small one is all it needs), restored after."""
    gdal = require("osgeo.gdal")
    previous = gdal.GetCacheMax()
    gdal.SetCacheMax(min(previous, GDAL_CACHE_BYTES))
    try:
        yield
    finally:
        gdal.SetCacheMax(previous)


def tile_options(cfg: Any, device: Any) -> dict[str, Any]:
    """``run_tiles``' batching and reading keywords from a SegmentConfig (readers by default from the device)."""
    return {"batch_size": cfg.batch_size, "prefetch": cfg.prefetch,
            "readers": cfg.readers or default_readers(str(device), remote=any(
                locations.is_remote(source) for source in [cfg.image, *cfg.aux] if source)),
            "reader_processes": cfg.reader_processes}


def _device_side(predict: Predict, on_device: bool | None, plan: SegmentPlan) -> bool:
    """Normalise and blend where the model runs (a torch predictor's device), not on the host; None = on a GPU.
    A season's tiles are normalised date by date on the host (over each date's own pixels)."""
    if plan.days is not None:
        return False
    if on_device is None:
        on_device = getattr(getattr(predict, "device", None), "type", None) == "cuda"
    return bool(on_device and hasattr(predict, "on_device"))


def start_reader(plan: SegmentPlan, predict: Predict, *, batch_size: int, prefetch: int, readers: int = 1,
                 reader_processes: bool = False, on_device: bool | None = None,
                 threads: Executor | None = None) -> TileReader:
    """The plan's tile reader for ``predict``, started: it reads ahead until its queues are full (a bulk run
    starts the next scene's while the model finishes this one, on its long-lived ``threads``)."""
    # on a GPU the device normalises the raw values (part of a tile's reading CPU off the reader threads,
    # docs/benchmarks.md), and the batching thread copies each batch there (off the thread driving the model)
    device_side = _device_side(predict, on_device, plan)
    return TileReader(plan, batch_size, prefetch, readers, processes=reader_processes, normalise=not device_side,
                      threads=threads, device=getattr(predict, "device", None) if device_side else None).start()


def run_tiles(plan: SegmentPlan, predict: Predict, sink: RowSink, callback: Callback, *, on_device: bool | None = None,
              reader: TileReader | None = None, on_read_done: Callable[[], None] | None = None, drain: bool = True,
              **reading: Any) -> PipelineStats:
    """Predict every tile of ``plan``, blend overlapping tiles and hand finished rows to ``sink``. ``on_device``:
    see :func:`_device_side`; ``reader``: one from :func:`start_reader` with the same ``predict`` and ``on_device``,
    else one started with the ``reading`` keywords (:func:`start_reader`'s). ``on_read_done`` is called once on this
    thread as soon as every tile is read (a bulk run starts the next scene's reader there). The sink is drained
    (``sink.finish()``) unless ``drain`` is False (a bulk run's publishing thread drains it); on an error or cancel
    the caller aborts it."""
    model = predict
    device = getattr(model, "device", None)
    device_side = _device_side(model, on_device, plan)
    if reader is None:
        reader = start_reader(plan, model, on_device=device_side, **reading)
    try:
        weights = blend_window(plan.tile, max(plan.overlap, 1))
        band = (plan.width, plan.height, plan.probability_channels, plan.grid.tile, sink.sink)
        if device_side:  # blend where the probabilities are
            accumulator: RowBandAccumulator = DeviceRowBandAccumulator(*band, device)
            predict = model.on_device
            weights = to_device(weights.copy(), device)  # a tensor of its own, not the shared read-only array
        else:
            accumulator = RowBandAccumulator(*band, alone=len(plan.grid) == 1)
        total, done, skipped, model_seconds, first_batch_at = len(plan.grid), 0, 0, 0.0, None
        col0, row0 = plan.region[0], plan.region[1]
        coords_of = tile_coords(plan, callback) if getattr(model, "takes_coords", False) else None
        callback.progress(0, total, Stage.SEGMENT)
        for batch in reader:
            callback.check_canceled()
            if batch.tiles:
                tick = time.perf_counter()
                # on the device already where it blends (the reader was given it: normalised there)
                season = None if plan.days is None else Season(  # each date's day and validity (a season model)
                    np.tile(plan.days, (len(batch.tiles), 1)), batch.date_valid)
                given = [batch.vision, batch.aux]
                if coords_of is not None or season is not None:
                    given.append(None if coords_of is None else coords_of(batch.tiles))
                probs = predict(*given, *(() if season is None else (season,)))
                model_seconds += time.perf_counter() - tick
                first_batch_at = first_batch_at or time.perf_counter()
                for i, tile in enumerate(batch.tiles):
                    accumulator.add(probs[i], weights, batch.valid[i], tile.row - row0, tile.col - col0)
            done += len(batch.tiles) + batch.skipped
            skipped += batch.skipped
            callback.progress(done, total, Stage.SEGMENT)
            if on_read_done is not None and reader.read_all.is_set():
                on_read_done, call = None, on_read_done
                call()
        callback.check_canceled()
        if on_read_done is not None:
            on_read_done()
        accumulator.finish()
        if drain:
            sink.finish()
        return PipelineStats(tiles=total, skipped_tiles=skipped, model_seconds=model_seconds,
                             input_wait=reader.wait_seconds, read_seconds=reader.read_seconds,
                             first_batch_at=first_batch_at)
    finally:
        reader.close()
