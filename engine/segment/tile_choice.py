"""The tile a CPU run computes with: larger than the trained one where that computes fewer pixels for the same
result (measurements: docs/benchmarks.md).

Overlapping tiles compute the overlap twice (256-px tiles with 64 px of overlap: 1.78 pixels for every pixel of a
large scene; 512-px tiles 1.31, 27 % less CPU time). A model whose output at a pixel depends on a neighbourhood only
(:meth:`~engine.models.ModelConfig.local_receptive_field`) computes the same function on any tile but where that
neighbourhood meets a tile's edge; a larger tile has fewer edges and keeps the trained overlap in pixels, so every
pixel sees at least the scene it saw before.

The tile computing the fewest pixels is taken, up to the one covering the region (larger only pads); a resampled run
fits it to the warped grid (:func:`~engine.segment.plan.plan_on_image`). The batch shrinks (never grows) to hold no
more pixels than a batch of doubled tiles: onnxruntime's time per pixel is the same at batch 1 and 4. Every size runs
through one cached ONNX export of any size. The trained tile stays for a model with attention or pooling over the
tile (SegFormer/MiT, DeepLabv3+, PSPNet, ViTs: another tile is another input), a graph of a fixed tile size, an
imported model, a GPU run (memory, not pixels, bounds it there) and a tile the user chose.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..bundle.imported import is_imported
from ..errors import mention
from ..runtime.environment import resolve_device, resolve_device_lazily
from ..runtime.resources import cover_tile, round_up, tile_step
from .tiling import tile_count

CPU_TILE_FACTOR = 2  # a batch holds at most the pixels of a batch of tiles this many times the trained one
MAX_TILE_BATCHES = 2  # one tile holds at most the pixels of this many such batches


@dataclass(frozen=True)
class CpuTile:
    """The tile a CPU run computes with, and the batch that keeps a batch's pixels (memory) within bounds."""

    tile: int
    batch: int


def cpu_tile(members: Sequence[Any], trained: int, region: tuple[int, int, int, int], device: str,
             overlap: int = 0, batch: int = 1, step: int = 32, border: int = 0) -> CpuTile | None:
    """The tile for a CPU run of ``members`` over ``region`` (col, row, width, height), with its batch; None where
    the trained tile stays (see the module)."""
    if device != "cpu" or not all(m.data.tile_size == trained and m.metadata.onnx is None
                                  and not is_imported(m.metadata) and m.metadata.model.local_receptive_field()
                                  for m in members):
        return None
    batch = max(1, batch)
    budget = batch * (trained * CPU_TILE_FACTOR) ** 2  # a batch's pixels at doubled tiles
    # never past the tile that covers the region: check_segment_tile would cut it to that one
    largest = min(cover_tile(region[2], region[3], trained, step),
                  max(trained * CPU_TILE_FACTOR, math.isqrt(MAX_TILE_BATCHES * budget) // step * step))
    sizes = [trained, *range(round_up(trained + 1, step), largest + 1, step)]
    # fewest pixels computed; of equals the smaller tile (less memory), the trained one first
    tile = min(sizes, key=lambda t: (tiles_needed(region, t, overlap, border) * t * t, t))
    return None if tile == trained else CpuTile(tile, min(batch, max(1, budget // (tile * tile))))


def fitted_tile(cfg: Any, members: Sequence[Any], tile: int, overlap: int, region: tuple[int, int, int, int],
                aux_ratio: int | None, callback: Any, say: bool = True) -> CpuTile | None:
    """:func:`cpu_tile` for a run of ``cfg`` (a SegmentConfig) at the ``tile`` asked for, said unless not ``say``."""
    larger = cpu_tile(members, tile, region, str(run_device(cfg)), overlap, cfg.batch_size, tile_step(aux_ratio),
                      cfg.border)
    if larger and say:
        before = tiles_needed(region, tile, overlap, cfg.border)
        after = tiles_needed(region, larger.tile, overlap, cfg.border)
        # the batch said only where it changes the batches run (not for a region of one tile)
        batch = (f", {larger.batch} tile(s) a batch ({mention('segment.batch_size')} {cfg.batch_size} of "
                 f"{tile * CPU_TILE_FACTOR} px)" if larger.batch < min(cfg.batch_size, after) else "")
        callback.info(f"Tiles of {larger.tile} px on the CPU, fitted to the region from the {tile} px the model was "
                      f"trained on (its output at a pixel depends on a neighbourhood only), the overlap kept at "
                      f"{overlap} px: {after:,} tile{'' if after == 1 else 's'} instead of {before:,}, "
                      f"{100 * (1 - after * larger.tile ** 2 / (before * tile ** 2)):.0f} % fewer pixels computed"
                      f"{batch}; {mention('segment.tile_size')} {tile} keeps the trained tile.")
    return larger


def run_device(cfg: Any) -> Any:
    """The device a run of ``cfg`` (a SegmentConfig) takes; torch is imported only where it runs anyway (start-up
    of an onnxruntime run is seconds shorter without it)."""
    return {"torch": resolve_device, "auto": resolve_device_lazily}.get(cfg.backend, str)(cfg.device)


def tiles_needed(region: tuple[int, int, int, int], tile: int, overlap: int, border: int = 0) -> int:
    """How many tiles of ``tile`` px every ``tile - overlap`` cover ``region`` (the last of a row shifted in)."""
    stride = tile - overlap
    return tile_count(region[2], tile, stride, border) * tile_count(region[3], tile, stride, border)
