"""The tile reader: reads, normalises and batches the plan's tiles ahead of the model (bounded queue).

Tiles are read exactly as in training (same reader, same per-tile aux alignment, same normalisation).
"""

from __future__ import annotations

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


@dataclass
class Batch:
    """A batch of normalised tiles as the model gets it."""

    tiles: list[Tile]
    valid: np.ndarray  # (B, T, T) bool
    vision: dict[str, np.ndarray]  # stats key -> (B, Cv, T, T) float32 normalised
    aux: dict[str, np.ndarray | None]
    skipped: int = 0  # all-nodata tiles skipped since the previous batch


class TileReader:
    """Background thread reading, normalising and batching tiles ahead of the model (bounded queue)."""

    def __init__(self, plan: SegmentPlan, batch_size: int, prefetch: int):
        from ..data.normalize import BandStatistics

        self.plan = plan
        if plan.use_aux:  # row-major tiles: warp each aux strip once per tile row, not once per overlapping tile;
            plan.reader.enable_aux_strip_cache(max_strips=1)  # a finished tile row's strip is never read again
        self.batch_size = batch_size
        self.prefetch = prefetch
        self.stop = threading.Event()  # checked per tile, so a cancel does not finish the batch being read
        self.stats: dict[str, tuple[Any, Any]] = {}
        for member in plan.members:
            aux_stats = member.data.get("aux_stats")
            self.stats[member.stats_key] = (
                BandStatistics.from_dict(member.data["vision_stats"]),
                BandStatistics.from_dict(aux_stats) if (aux_stats and plan.use_aux) else None,
            )
        self.read_seconds = 0.0
        self._prefetcher: Prefetcher | None = None

    def start(self) -> TileReader:
        self._prefetcher = Prefetcher(self._batches(), depth=self.prefetch, name="dualstream-reader")
        return self

    @property
    def wait_seconds(self) -> float:
        """Time the consumer (the model) spent waiting for a batch."""
        return 0.0 if self._prefetcher is None else self._prefetcher.wait_seconds

    def prepare(self, tile: Tile) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray | None]] | None:
        """Read and normalise one tile; None when it has no valid pixel."""
        plan = self.plan
        size = tile.size
        arrays = plan.reader.read(tile.col, tile.row, size, size)
        valid = arrays.valid
        if plan.use_region_mask:
            from ..data.align import tile_grid

            valid = valid & plan.reader.region.mask(tile_grid(plan.reader.grid, tile.col, tile.row, size, size))
        if not valid.any():
            return None
        # only an image smaller than a tile reaches past its right/bottom edge: mirror the image there
        inside_h = min(size, plan.reader.grid.height - tile.row)
        inside_w = min(size, plan.reader.grid.width - tile.col)
        vision, aux = {}, {}
        for key, (vstats, astats) in self.stats.items():
            v = vstats.apply(arrays.vision, arrays.valid & valid)
            if inside_h < size or inside_w < size:
                v = np.pad(v[:, :inside_h, :inside_w], ((0, 0), (0, size - inside_h), (0, size - inside_w)),
                           mode="symmetric")
            vision[key] = np.ascontiguousarray(v, dtype=np.float32)
            if astats is not None and arrays.aux is not None:
                aux[key] = np.ascontiguousarray(astats.apply(arrays.aux, arrays.aux_valid), dtype=np.float32)
            else:
                aux[key] = None
        return valid, vision, aux

    def _batches(self) -> Iterator[Batch]:
        """Read, normalise and batch the plan's tiles in order (all-nodata tiles skipped and counted)."""
        pending: list[tuple[Tile, np.ndarray, dict, dict]] = []
        skipped = 0
        # runs in the prefetch thread: one GDAL environment for it, not one per aux warp call
        with require("rasterio").Env():
            for tile in self.plan.grid:
                if self.stop.is_set():
                    return
                start = time.perf_counter()
                prepared = self.prepare(tile)
                self.read_seconds += time.perf_counter() - start
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
        self.stop.set()
        if self._prefetcher is not None:
            self._prefetcher.close()


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
