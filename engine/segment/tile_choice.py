"""The tile a CPU run computes with: larger than the trained one where that computes fewer pixels for the same
result.

Overlapping tiles compute the overlap twice: 256-px tiles with 64 px of overlap compute 1.78 pixels for every
pixel of a large scene (441 tiles of 256² for 4096²), 512-px tiles with the same 64 px 1.31 (81 tiles): 27 % less
work, which on a CPU is 27 % less time (UNet light, 4096²: 38.5 s of CPU time against 27.6 s). Deepness runs the
model's own tile (256) and computes the 441. A model whose output at a pixel depends on a neighbourhood of it only
(a convolutional encoder and decoder: :meth:`~engine.models.ModelConfig.local_receptive_field`) computes the same
function on any tile; only where that neighbourhood reaches a tile's edge does it see padding instead of the
scene. The larger tile has fewer edges and keeps the trained tile's overlap in pixels, so every pixel sees at least
the scene it saw before, most see more: the result moves towards that of one tile over the whole scene (UNet light,
random weights, 4096²: 99.03 % of pixels in the same class as with 256-px tiles; a trained model's confident
pixels move less).

The tile is then fitted to the region: of the tiles from twice the trained one up to one holding the pixels of
``MAX_TILE_BATCHES`` batches of those (multiples of 32), the one that computes the fewest pixels, so the last tile
of a row is not mostly a repeat of its neighbour; the batch shrinks so that a batch holds no more pixels than a
batch of doubled tiles did (memory as before; onnxruntime's time per pixel is the same at batch 1 and 4, and at
512 to 1408 px: 1.12-1.18 s of CPU per million pixels for UNet light). The bench's 4096² scene: 9 tiles of 1408
px (17.8 M pixels computed, 1.06 per scene pixel) instead of 81 of 512 (21.2 M), 441 of 256 (28.9 M) at the
trained tile. Every size runs through one cached ONNX export that takes any size. ``--tile-size`` keeps the
trained tile. A model with attention or pooling over
the tile (SegFormer/MiT, DeepLabv3+'s image pooling, PSPNet, ViTs) sees another input with another tile, so it
keeps the trained tile; so does a graph of a fixed tile size, an imported model, a GPU run (memory, not pixels,
bounds it there), a tile the user chose, and a region too small for the larger tile to repeat.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..bundle.imported import is_imported

CPU_TILE_FACTOR = 2  # the smallest larger tile, in trained tiles
MIN_TILES_EACH_WAY = 4  # the region spans at least this many such tiles each way (else the trained tile)
MAX_TILE_BATCHES = 2  # one larger tile holds at most the pixels of this many batches of the smallest


@dataclass(frozen=True)
class CpuTile:
    """The tile a CPU run computes with, and the batch that keeps a batch's pixels (its memory) as they were."""

    tile: int
    batch: int


def cpu_tile(members: Sequence[Any], trained: int, region: tuple[int, int, int, int], device: str,
             overlap: int = 0, batch: int = 1, step: int = 32, border: int = 0) -> CpuTile | None:
    """The larger tile for a CPU run of ``members`` over ``region`` (col, row, width, height), fitted to it, with
    its batch; None where the trained tile stays (see the module)."""
    if device != "cpu":
        return None
    for member in members:
        meta = member.metadata
        if is_imported(meta) or meta.onnx is not None or not meta.model.local_receptive_field():
            return None
        if member.data.tile_size != trained:
            return None
    smallest = trained * CPU_TILE_FACTOR
    if min(region[2], region[3]) < MIN_TILES_EACH_WAY * smallest:
        return None
    budget = max(1, batch) * smallest ** 2  # a batch's pixels at the smallest larger tile
    largest = max(smallest, math.isqrt(MAX_TILE_BATCHES * budget) // step * step)
    # fewest pixels computed; of equals the smaller tile (less memory)
    tile = min(range(smallest, largest + 1, step),
               key=lambda t: (tiles_needed(region, t, overlap, border) * t * t, t))
    return CpuTile(tile, max(1, budget // (tile * tile)))


def tiles_needed(region: tuple[int, int, int, int], tile: int, overlap: int, border: int = 0) -> int:
    """How many tiles of ``tile`` px every ``tile - overlap`` cover ``region`` (the last of a row shifted in)."""
    from .tiling import tile_count

    stride = tile - overlap
    return tile_count(region[2], tile, stride, border) * tile_count(region[3], tile, stride, border)
