"""The tile reader: reads, normalises and batches the plan's tiles ahead of the model (bounded queues).

Tiles are read exactly as in training (same reader, aux alignment and normalisation). The image cells and aux
blocks under the plan's tiles are read once each and shared by every tile and thread (``SceneReader.share_parts``).
Several workers (threads, or processes from ``reader_pool``) each read a band of every tile row
(``reader_shares``) with their own copy of the scene reader (own GDAL handles); the batches are assembled in tile
order from their bounded queues, so they are the same as with one reader.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..runtime.environment import process_cores, require
from ..runtime.prefetch import Prefetcher, to_device
from .plan import SegmentPlan
from .prepare import prepare_season_tile, prepare_tile, source_window
from .reader_pool import processes_available, shared_pool
from .tiling import Tile

#: Reader threads on a GPU when none are asked for, at most: on the H200 (16 cores) 4 fed the model as well as 8
#: or 14 (docs/benchmarks.md, "H200").
MAX_DEFAULT_READERS = 4


def reader_shares(rows: int, cols: int, workers: int) -> list[int]:
    """The reader worker of each tile (row-major order): each row cut into one band of adjacent tiles per worker,
    a worker keeping its columns from row to row, so reader processes (each making its own image cells and aux
    blocks) make fewest twice (bench scene: 82 blocks decoded against 104 round-robin, 64 with one reader). The band
    that gets a row's spare tile moves along from row to row, so shares stay even; more workers than columns:
    round-robin."""
    if workers <= 1:
        return [0] * (rows * cols)
    if workers > cols:
        return [index % workers for index in range(rows * cols)]
    base, spare = divmod(cols, workers)
    owners: list[int] = []
    for row in range(rows):
        for band in range(workers):
            owners += [band] * (base + (1 if (band - row) % workers < spare else 0))
    return owners


#: Reader threads on a remote source: they mostly wait for the network, so more of them than cores pay.
REMOTE_READERS = 4


def default_readers(device: str, remote: bool = False) -> int:
    """Reader workers when none are asked for: 1 on the CPU (the model wants every core); on a GPU the cores
    this process may use (a torchrun node's GPU processes share them) less one, at most
    :data:`MAX_DEFAULT_READERS`; a remote source at least :data:`REMOTE_READERS` (threads waiting on HTTP)."""
    if not str(device).startswith("cuda"):
        return REMOTE_READERS if remote else 1
    local = max(1, min(MAX_DEFAULT_READERS, process_cores() - 1))
    return max(local, REMOTE_READERS) if remote else local


@dataclass
class Batch:
    """A batch of tiles as the model gets it: normalised, or ``raw`` to normalise on the device; from a reader
    given a ``device``, torch tensors already there (``batch_on_device``)."""

    tiles: list[Tile]
    valid: np.ndarray  # (B, T, T) bool; mirrored pixels past the image are valid as the pixels they mirror
    vision: dict[str, np.ndarray]  # stats key -> (B, Cv, T, T) float32; raw: the file's 8/16-bit dtype too
    aux: dict[str, np.ndarray | None]  # normalised (B, Ca, t, t) at the aux's own resolution
    skipped: int = 0  # all-nodata tiles skipped since the previous batch
    raw: bool = False  # vision not normalised yet: the device normalises it, 0 where the tile is not valid
    date_valid: np.ndarray | None = None  # a season's: (B, T, h, w) bool, each date's own validity


def vision_on_device(batch: Batch, stats: dict[str, tuple[Any, Any, Any]], device: Any,
                     keep: Any = None) -> dict[str, Any]:
    """The batch's vision per stats key, normalised on ``device`` when the reader left it raw
    (``BandStatistics.apply_tensor``: the host's values bit for bit); ``keep``: the valid mask already there."""
    if not batch.raw:
        return batch.vision  # normalised already: the predictor moves it to its device
    torch = require("torch")
    keep = to_device(batch.valid, device) if keep is None else keep
    return {key: stats[key][0].apply_tensor(_float32_on(torch, v, device), keep) for key, v in batch.vision.items()}


def batch_on_device(batch: Batch, stats: dict[str, tuple[Any, Any, Any]], device: Any) -> Batch:
    """``batch`` copied to ``device`` as torch tensors, raw vision values normalised there. On the batching thread,
    so the thread driving the model only queues the model's work (on a GPU the pinned copies, 3 MB a 512² tile with
    48 aux bands, and the normalising launches were its work per tile, between the model's batches)."""
    if not batch.tiles:
        return batch
    torch = require("torch")
    device = torch.device(device)
    # on the batch's GPU: a thread without a current device would open a context on GPU 0 (a torchrun rank)
    with torch.cuda.device(device) if device.type == "cuda" else nullcontext():
        valid = to_device(batch.valid, device)
        vision = (vision_on_device(batch, stats, device, valid) if batch.raw
                  else {key: to_device(v, device) for key, v in batch.vision.items()})
        aux = {key: None if a is None else to_device(a, device) for key, a in batch.aux.items()}
    return replace(batch, valid=valid, vision=vision, aux=aux, raw=False)


def _float32_on(torch: Any, array: np.ndarray, device: Any) -> Any:
    """``array`` copied to ``device`` as it is and made float32 there; uint16 goes over as int16 and is widened
    there (torch's uint16 is a storage type with few operations)."""
    if array.dtype == np.uint16:
        wide = to_device(array.view(np.int16), device).to(torch.int32)
        return (wide & 0xFFFF).to(torch.float32)
    return to_device(array, device).to(torch.float32)


class TileReader:
    """Reads, normalises and batches the ``plan``'s tiles, ``prefetch`` batches ahead of the model. ``readers``:
    workers (1: the batching thread reads itself); ``processes``: processes (``reader_pool``) rather than threads
    where they can start (not inside QGIS, whose ``sys.executable`` is not Python); ``normalise``: False leaves the
    values raw; ``threads``: a bulk run's long-lived threads, else its own; ``device``: batches handed over as
    tensors there (:func:`batch_on_device`), else numpy arrays."""

    def __init__(self, plan: SegmentPlan, batch_size: int, prefetch: int, readers: int = 1,
                 processes: bool = False, normalise: bool = True, threads: Executor | None = None,
                 device: Any = None):
        from ..data.align import quiet_in_memory_dataset_warnings

        self.plan = plan
        # each image cell and aux block under the plan's tiles read once, for every tile and worker thread
        grid = plan.reader.grid
        self.parts = plan.reader.share_parts(source_window(tile, grid.width, grid.height) for tile in plan.grid)
        self.batch_size, self.prefetch = batch_size, prefetch
        self.normalise, self.threads, self.device = normalise, threads, device
        rows, cols = len(plan.grid.rows), len(plan.grid.cols)
        self.owners = reader_shares(rows, cols, max(1, min(int(readers), rows * cols)))  # worker of each tile
        self.readers = max(self.owners) + 1
        # tiles each worker reads ahead: its band of a row, so it goes on while the others' bands are consumed
        self.depth = max(2, math.ceil(cols / self.readers))
        # a season's tiles (each date's validity beside) are read by threads: the processes' slots hold one stream
        self.processes = (self.readers > 1 and bool(processes) and processes_available()
                          and not plan.reader.each_date)
        if self.readers > 1:
            quiet_in_memory_dataset_warnings()  # before the threads start: a filter set inside them would race
        self.stop = threading.Event()  # checked per tile, so a cancel does not finish the batch being read
        self.read_all = threading.Event()  # every tile read (the last batches may still wait in the queue)
        # per stats key: vision statistics, aux statistics (None: no aux), the member's band selection
        self.stats: dict[str, tuple[Any, Any, Any]] = {
            m.stats_key: (m.data.vision_stats, m.data.aux_stats if plan.use_aux or m.selection.x else None, m.selection)
            for m in plan.members}
        self._busy = [0.0] * self.readers  # seconds each worker spent reading
        self._prefetcher: Prefetcher | None = None
        self._workers: list[Prefetcher] = []
        self._copies: list[Any] = []  # scene readers of workers 1.. (worker 0 uses the plan's)

    def start(self) -> TileReader:
        self._prefetcher = Prefetcher(self._batches(), depth=self.prefetch, name="dualstream-reader",
                                      threads=self.threads)
        return self

    @property
    def wait_seconds(self) -> float:
        """Time the consumer (the model) spent waiting for a batch."""
        return 0.0 if self._prefetcher is None else self._prefetcher.wait_seconds

    @property
    def read_seconds(self) -> float:
        """Busy time of the reading, summed over the workers."""
        return float(sum(self._busy))

    def prepare(self, tile: Tile, reader: Any = None) -> tuple[np.ndarray, dict, dict] | None:
        """One tile read and normalised (by default with the plan's scene reader); None: no valid pixel."""
        reader = reader or self.plan.reader
        if reader.each_date:  # a season: each date normalised over its own pixels, its validity beside
            return prepare_season_tile(tile, reader, self.stats, self.plan.use_region_mask)
        return prepare_tile(tile, reader, self.stats, self.plan.use_region_mask, self.normalise)

    def _tiles(self) -> Iterator[tuple[Tile, Any]]:
        """(tile, prepared or None) in tile order: read here (one reader) or gathered from the workers."""
        if self.readers == 1:
            yield from self._worker_tiles(0, self.plan.reader)
            return
        if self.processes:  # this process's pool of reader processes
            plan = self.plan
            plan.reader.describe_warps()  # one warped VRT's XML for every process, not one made by each
            yield from shared_pool(self.readers).read(list(plan.grid), self.owners, plan.reader.portable(),
                                                      self.stats, plan.use_region_mask, plan.tile, plan.aux_ratio,
                                                      depth=self.depth, busy=self._busy, halt=self.stop,
                                                      normalise=self.normalise)
            return
        self._copies = [self.plan.reader.worker_copy() for _ in range(1, self.readers)]
        readers = [self.plan.reader, *self._copies]
        self._workers = [Prefetcher(self._worker_tiles(w, readers[w]), depth=self.depth,
                                    name=f"dualstream-reader-{w}", threads=self.threads)
                         for w in range(self.readers)]
        for index in range(len(self.plan.grid)):
            try:
                yield next(self._workers[self.owners[index]])
            except StopIteration:  # the worker stopped early (cancel)
                return

    def _worker_tiles(self, worker: int, reader: Any) -> Iterator[tuple[Tile, Any]]:
        with reader_thread_gdal(self.plan):
            for index, tile in enumerate(self.plan.grid):
                if self.owners[index] != worker:
                    continue
                if self.stop.is_set():
                    return
                start = time.perf_counter()
                prepared = self.prepare(tile, reader)
                self._busy[worker] += time.perf_counter() - start
                yield tile, prepared

    def _batches(self) -> Iterator[Batch]:
        """Batch the plan's tiles in order (all-nodata tiles skipped and counted)."""
        pending: list[tuple[Tile, np.ndarray, dict, dict]] = []
        skipped = 0
        # the short batch first: the model starts once fewer tiles are read (on a CPU, 9 tiles of a 512² scene in
        # batches of 4: 1 tile read instead of 4 before it can start) and the batches keep their sizes and count
        size = len(self.plan.grid) % self.batch_size or self.batch_size
        tiles = self._tiles()
        try:
            for tile, prepared in tiles:
                if self.stop.is_set():
                    return
                if prepared is None:
                    skipped += 1
                    continue
                pending.append((tile, *prepared))
                if len(pending) == size:
                    yield self._stack(pending, skipped)
                    pending, skipped, size = [], 0, self.batch_size
            if self.stop.is_set():
                return
            self.read_all.set()  # the workers (or the pool's processes) are idle from here
            if pending or skipped:
                yield self._stack(pending, skipped)
        finally:
            tiles.close()  # a pool job stopped early winds its workers down here

    def _stack(self, pending: list, skipped: int) -> Batch:
        raw = not self.normalise
        if not pending:
            return Batch([], np.zeros((0, 0, 0), bool), {}, {}, skipped, raw)
        keys = pending[0][2].keys()
        vision = {k: np.stack([p[2][k] for p in pending]) for k in keys}
        aux = {k: (None if pending[0][3][k] is None else np.stack([p[3][k] for p in pending])) for k in keys}
        batch = Batch([p[0] for p in pending], np.stack([p[1] for p in pending]), vision, aux, skipped, raw,
                      np.stack([p[4] for p in pending]) if len(pending[0]) > 4 else None)
        return batch if self.device is None else batch_on_device(batch, self.stats, self.device)

    def __iter__(self) -> Iterator[Batch]:
        return self._prefetcher  # once started

    def close(self) -> None:
        """Stop every thread, close the workers' scene readers and free the parts still held (a cancel)."""
        self.stop.set()
        if self._prefetcher is not None:
            self._prefetcher.close()
        for worker in self._workers:
            worker.close()
        for reader in self._copies:
            reader.close()
        self.plan.reader.stop_sharing()


def reader_thread_gdal(plan: SegmentPlan) -> AbstractContextManager[Any]:
    """What a reader thread runs in: rasterio's GDAL environment where its tiles warp aux rasters or rasterize the
    AOI (one per thread, not per call); else only GDAL's messages kept quiet, since reading an open dataset needs
    none and starting one registers the drivers and reads PROJ's files again (1.2 ms of every 512² bulk scene)."""
    return require("rasterio").Env() if plan.reader.aux_paths or plan.use_region_mask else _quiet_gdal_messages()


@contextmanager
def _quiet_gdal_messages() -> Iterator[None]:
    gdal = require("osgeo.gdal")
    gdal.PushErrorHandler("CPLQuietErrorHandler")  # failures still raise: rasterio reads GDAL's last error
    try:
        yield
    finally:
        gdal.PopErrorHandler()


def prepared_batches(plan: SegmentPlan, batch_size: int, max_tiles: int | None = None) -> list[Batch]:
    """The plan's tiles read, normalised and batched in memory as the reader hands them to the model: for
    model-only measurements (benchmarks), without any I/O in the loop."""
    reader = TileReader(plan, batch_size, 1)
    prepared = []
    with require("rasterio").Env():
        for tile in plan.grid:
            if (item := reader.prepare(tile)) is not None:
                prepared.append((tile, *item))
            if max_tiles is not None and len(prepared) >= max_tiles:
                break
    return [reader._stack(prepared[i:i + batch_size], 0) for i in range(0, len(prepared), batch_size)]
