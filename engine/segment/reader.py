"""The tile reader: reads, normalises and batches the plan's tiles ahead of the model (bounded queues).

Tiles are read exactly as in training (same reader, same per-tile aux alignment, same normalisation). With
several reader workers, tile rows go round-robin to worker threads (GDAL releases the GIL while it reads and
warps), each with its own copy of the scene reader (own GDAL handles, own aux strip cache, so each aux strip is
still warped once per tile row). The batches are assembled in tile order from the workers' bounded queues, so
they are the same as with one reader, and memory stays bounded by the queue depths.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..environment import require
from ..prefetch import Prefetcher
from ..tiling import Tile
from .plan import SegmentPlan

MAX_DEFAULT_READERS = 8


def default_readers(device: str) -> int:
    """Reader workers when none are asked for: 1 on the CPU (the model wants every core); on a GPU the cores
    this process may use (shared by the GPU processes of a torchrun node), less one for the main thread, <= 8."""
    if not str(device).startswith("cuda"):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    per_process = cores // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, min(MAX_DEFAULT_READERS, per_process - 1))


@dataclass
class Batch:
    """A batch of normalised tiles as the model gets it."""

    tiles: list[Tile]
    valid: np.ndarray  # (B, T, T) bool
    vision: dict[str, np.ndarray]  # stats key -> (B, Cv, T, T) float32 normalised
    aux: dict[str, np.ndarray | None]
    skipped: int = 0  # all-nodata tiles skipped since the previous batch


def _mirror_pad(array: np.ndarray, size: int, inside_h: int, inside_w: int) -> np.ndarray:
    """(C, size, size) float32 with the part past the image's right/bottom edge mirrored from inside it."""
    if inside_h < size or inside_w < size:
        array = np.pad(array[:, :inside_h, :inside_w], ((0, 0), (0, size - inside_h), (0, size - inside_w)),
                       mode="symmetric")
    return np.ascontiguousarray(array, dtype=np.float32)


class TileReader:
    """Reads, normalises and batches tiles ahead of the model in background threads (bounded queues).

    Args:
        plan: the plan whose tiles to read.
        batch_size: tiles per batch.
        prefetch: batches kept ready ahead of the model.
        readers: reader worker threads (1: the batching thread reads itself).
    """

    def __init__(self, plan: SegmentPlan, batch_size: int, prefetch: int, readers: int = 1):
        from ..data.normalize import BandStatistics

        self.plan = plan
        if plan.use_aux:  # row-major tiles: warp each aux strip once per tile row, not once per overlapping tile;
            plan.reader.enable_aux_strip_cache(max_strips=1)  # a finished tile row's strip is never read again
        self.batch_size = batch_size
        self.prefetch = prefetch
        self.readers = max(1, min(int(readers), len(plan.grid.rows)))  # a worker per tile row at most
        self.stop = threading.Event()  # checked per tile, so a cancel does not finish the batch being read
        # per stats key: vision statistics, aux statistics (None: no aux), the member's band selection
        self.stats: dict[str, tuple[Any, Any, Any]] = {}
        for member in plan.members:
            aux_stats = member.data.get("aux_stats")
            uses_aux = plan.use_aux or bool(member.selection.x)
            self.stats[member.stats_key] = (
                BandStatistics.from_dict(member.data["vision_stats"]),
                BandStatistics.from_dict(aux_stats) if (aux_stats and uses_aux) else None,
                member.selection,
            )
        self._busy = [0.0] * self.readers  # seconds each worker spent reading
        self._prefetcher: Prefetcher | None = None
        self._workers: list[Prefetcher] = []
        self._copies: list[Any] = []  # scene readers of workers 1.. (worker 0 uses the plan's)

    def start(self) -> TileReader:
        self._prefetcher = Prefetcher(self._batches(), depth=self.prefetch, name="dualstream-reader")
        return self

    @property
    def wait_seconds(self) -> float:
        """Time the consumer (the model) spent waiting for a batch."""
        return 0.0 if self._prefetcher is None else self._prefetcher.wait_seconds

    @property
    def read_seconds(self) -> float:
        """Busy time of the reading, summed over the workers."""
        return float(sum(self._busy))

    def prepare(self, tile: Tile) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray | None]] | None:
        """Read and normalise one tile with the plan's scene reader; None when it has no valid pixel."""
        return self._prepare(tile, self.plan.reader)

    def _prepare(self, tile: Tile, reader: Any) -> tuple[np.ndarray, dict, dict] | None:
        plan = self.plan
        size = tile.size
        arrays = reader.read(tile.col, tile.row, size, size)
        valid = arrays.valid
        if plan.use_region_mask:
            from ..data.align import tile_grid

            valid = valid & reader.region.mask(tile_grid(reader.grid, tile.col, tile.row, size, size))
        if not valid.any():
            return None
        # only an image smaller than a tile reaches past its right/bottom edge: mirror the image there
        inside_h = min(size, reader.grid.height - tile.row)
        inside_w = min(size, reader.grid.width - tile.col)
        vision, aux = {}, {}
        for key, (vstats, astats, selection) in self.stats.items():
            raw, x = selection.split(arrays.vision) if selection.active else (arrays.vision, None)
            vision[key] = _mirror_pad(vstats.apply(raw, arrays.valid & valid), size, inside_h, inside_w)
            if astats is not None and x is not None:  # X bands of the image itself (CMX)
                aux[key] = _mirror_pad(astats.apply(x, arrays.valid & valid), size, inside_h, inside_w)
            elif astats is not None and arrays.aux is not None:
                aux[key] = np.ascontiguousarray(astats.apply(arrays.aux, arrays.aux_valid), dtype=np.float32)
            else:
                aux[key] = None
        return valid, vision, aux

    def _tiles(self) -> Iterator[tuple[Tile, Any]]:
        """(tile, prepared or None) in tile order: read here (one reader) or gathered from the workers."""
        if self.readers == 1:
            with require("rasterio").Env():  # one GDAL environment for the thread, not one per aux warp call
                for tile in self.plan.grid:
                    if self.stop.is_set():
                        return
                    start = time.perf_counter()
                    prepared = self.prepare(tile)
                    self._busy[0] += time.perf_counter() - start
                    yield tile, prepared
            return
        self._copies = [self.plan.reader.worker_copy() for _ in range(1, self.readers)]
        readers = [self.plan.reader, *self._copies]
        depth = max(2, len(self.plan.grid.cols))  # a tile row ahead per worker
        self._workers = [Prefetcher(self._worker_tiles(w, readers[w]), depth=depth, name=f"dualstream-reader-{w}")
                         for w in range(self.readers)]
        for index in range(len(self.plan.grid.rows)):
            worker = self._workers[index % self.readers]
            for _ in self.plan.grid.cols:
                try:
                    yield next(worker)
                except StopIteration:  # the worker stopped early (cancel)
                    return

    def _worker_tiles(self, worker: int, reader: Any) -> Iterator[tuple[Tile, Any]]:
        """Worker ``worker``'s tile rows (every ``readers``-th), in order."""
        cols = len(self.plan.grid.cols)
        with require("rasterio").Env():
            for index, tile in enumerate(self.plan.grid):
                if (index // cols) % self.readers != worker:
                    continue
                if self.stop.is_set():
                    return
                start = time.perf_counter()
                prepared = self._prepare(tile, reader)
                self._busy[worker] += time.perf_counter() - start
                yield tile, prepared

    def _batches(self) -> Iterator[Batch]:
        """Batch the plan's tiles in order (all-nodata tiles skipped and counted)."""
        pending: list[tuple[Tile, np.ndarray, dict, dict]] = []
        skipped = 0
        for tile, prepared in self._tiles():
            if self.stop.is_set():
                return
            if prepared is None:
                skipped += 1
                continue
            pending.append((tile, *prepared))
            if len(pending) == self.batch_size:
                yield self._stack(pending, skipped)
                pending, skipped = [], 0
        if pending or skipped:
            yield self._stack(pending, skipped)

    @staticmethod
    def _stack(pending: list, skipped: int) -> Batch:
        if not pending:
            return Batch([], np.zeros((0, 0, 0), bool), {}, {}, skipped)
        keys = pending[0][2].keys()
        vision = {k: np.stack([p[2][k] for p in pending]) for k in keys}
        aux = {k: (None if pending[0][3][k] is None else np.stack([p[3][k] for p in pending])) for k in keys}
        return Batch([p[0] for p in pending], np.stack([p[1] for p in pending]), vision, aux, skipped)

    def __iter__(self) -> Iterator[Batch]:
        if self._prefetcher is None:
            raise RuntimeError("TileReader.start() first")
        return self._prefetcher

    def close(self) -> None:
        """Stop every thread and close the workers' scene readers."""
        self.stop.set()
        if self._prefetcher is not None:
            self._prefetcher.close()
        for worker in self._workers:
            worker.close()
        for reader in self._copies:
            reader.close()


def prepared_batches(plan: SegmentPlan, batch_size: int, max_tiles: int | None = None) -> list[Batch]:
    """The plan's tiles read, normalised and batched in memory, as the reader thread hands them to the model.

    For model-only measurements (benchmarks): the same tiles, batches and arrays without any I/O in the loop.
    """
    reader = TileReader(plan, batch_size, 1)
    prepared = []
    with require("rasterio").Env():
        for tile in plan.grid:
            item = reader.prepare(tile)
            if item is not None:
                prepared.append((tile, *item))
            if max_tiles is not None and len(prepared) >= max_tiles:
                break
    return [TileReader._stack(prepared[i:i + batch_size], 0) for i in range(0, len(prepared), batch_size)]
