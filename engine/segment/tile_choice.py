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
pixels move less). ``--tile-size`` keeps the trained tile. A model with attention or pooling over
the tile (SegFormer/MiT, DeepLabv3+'s image pooling, PSPNet, ViTs) sees another input with another tile, so it
keeps the trained tile; so does a graph of a fixed tile size, an imported model, a GPU run (memory, not pixels,
bounds it there), a tile the user chose, and a region too small for the larger tile to repeat.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..bundle.imported import is_imported

CPU_TILE_FACTOR = 2  # the larger tile, in trained tiles
MIN_TILES_EACH_WAY = 4  # the region spans at least this many larger tiles each way (else the trained tile)


def cpu_tile(members: Sequence[Any], trained: int, region: tuple[int, int, int, int], device: str) -> int | None:
    """The larger tile for a CPU run of ``members`` over ``region`` (col, row, width, height), or None where the
    trained tile stays (see the module)."""
    if device != "cpu":
        return None
    for member in members:
        meta = member.metadata
        if is_imported(meta) or meta.onnx is not None or not meta.model.local_receptive_field():
            return None
        if member.data.tile_size != trained:
            return None
    tile = trained * CPU_TILE_FACTOR
    if min(region[2], region[3]) < MIN_TILES_EACH_WAY * tile:
        return None
    return tile


def tiles_needed(region: tuple[int, int, int, int], tile: int, overlap: int) -> int:
    """How many tiles of ``tile`` px every ``tile - overlap`` cover ``region`` (the last of a row shifted in)."""
    from .tiling import tile_count

    return tile_count(region[2], tile, tile - overlap) * tile_count(region[3], tile, tile - overlap)
