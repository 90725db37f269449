"""Resource checks before any work, from sizes alone: the tile against the scene (a larger tile only adds padding
and memory), the memory a run needs against what is free (else an out-of-memory crash minutes later), with the
largest tile and batch that fit suggested.

The estimate is ``batch x tile^2 x (bytes per pixel + channels x 12)``: the activations per input pixel of a
training step (forward + backward) or of inference, measured once per preset on CPU in float32 (peak RSS growth
of one step at tiles 256 and 512, 4 vision + 12 aux channels), plus a few float32 copies of the input. It is
deliberately simple; only a run that clearly cannot fit is refused.
"""

from __future__ import annotations

import math
import os
from contextlib import suppress

from ..callbacks import Callback, warn
from ..errors import ConfigError, mention

# peak activation bytes per input pixel (batch x tile^2), measured on CPU float32 for the dualstream presets
BYTES_PER_PIXEL = {
    "train": {"tiny": 900, "b0": 3000, "b1": 5500, "b2": 6500},
    "segment": {"tiny": 300, "b0": 800, "b1": 1400, "b2": 1400},
}
DEFAULT_PRESET = "b1"  # other families and presets are estimated with the b1 figures (not measured one by one)


class ResourceError(ConfigError):
    """The run cannot fit in the memory available (or its tile is absurd for the scene)."""


def round_up(value: int, step: int) -> int:
    return int(math.ceil(value / step) * step)


def tile_step(aux_ratio: int | None) -> int:
    """Tiles are multiples of 32 (and of the aux ratio when aux data is used)."""
    return math.lcm(32, aux_ratio or 1)


def scene_tile(width: int, height: int, step: int) -> int:
    """The smallest allowed tile that covers a ``width`` x ``height`` scene."""
    return max(step, round_up(max(width, height), step))


def _per_pixel(mode: str, preset: str | None) -> int:
    return BYTES_PER_PIXEL[mode].get(preset or DEFAULT_PRESET, BYTES_PER_PIXEL[mode][DEFAULT_PRESET])


def heaviest_preset(mode: str, presets: list[str | None]) -> str | None:
    """The preset of an ensemble that needs the most memory per pixel (members run one after another)."""
    return max(presets, key=lambda p: _per_pixel(mode, p))


def estimate_bytes(mode: str, preset: str | None, batch: int, tile: int, channels: int) -> int:
    """Memory of one step: activations plus the input batch (float32, a few copies)."""
    return int(batch * tile * tile * (_per_pixel(mode, preset) + 4 * 3 * max(1, channels)))


def available_memory(device: str) -> tuple[int | None, str]:
    """Free bytes on ``device`` (GPU memory for CUDA, else available RAM) and its name; None when unknown."""
    if device.startswith("cuda"):
        try:
            import torch

            free, _total = torch.cuda.mem_get_info(torch.device(device))
            return int(free), f"free GPU memory on {device}"
        except Exception:  # noqa: BLE001 - no CUDA, or a driver that cannot tell: no check
            return None, device
    with suppress(OSError), open("/proc/meminfo", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024, "available RAM"
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "available RAM"
    except (ValueError, OSError, AttributeError):
        return None, "RAM"


def largest_fitting(mode: str, preset: str | None, batch: int, tile: int, channels: int, free: int,
                    step: int) -> tuple[int, int]:
    """(largest batch below ``batch`` at ``tile``, largest tile below ``tile``, a multiple of ``step``, at
    ``batch``) that fit in ``free`` bytes; 0 where none does. Solved from the estimate (linear in the batch,
    quadratic in the tile), not searched: ``--batch-size 100000000`` is answered at once."""
    per_tile = estimate_bytes(mode, preset, 1, tile, channels)
    best_batch = min(batch - 1, free // per_tile) if per_tile > 0 else batch - 1
    per_pixel = estimate_bytes(mode, preset, batch, 1, channels)
    edge = math.isqrt(free // per_pixel) if per_pixel > 0 else tile
    best_tile = min((edge // step) * step, ((tile - 1) // step) * step)
    # integer rounding of the estimate: step back until the figures really fit (at most a step or two)
    while best_batch > 0 and estimate_bytes(mode, preset, best_batch, tile, channels) > free:
        best_batch -= 1
    while best_tile > 0 and estimate_bytes(mode, preset, batch, best_tile, channels) > free:
        best_tile -= step
    return max(0, int(best_batch)), max(0, int(best_tile))


def check_memory(mode: str, preset: str | None, batch: int, tile: int, channels: int, device: str, step: int) -> None:
    """Raise ResourceError when ``batch`` tiles of ``tile`` px clearly cannot fit on ``device``, naming the largest
    batch at this tile and the largest tile (a multiple of ``step``) at this batch that fit, by the mode's settings."""
    batch_flag, tile_flag = mention(f"{mode}.batch_size"), mention(f"{'data' if mode == 'train' else mode}.tile_size")
    free, where = available_memory(device)
    need = estimate_bytes(mode, preset, batch, tile, channels)
    if free is None or need <= free:
        return
    best_batch, best_tile = largest_fitting(mode, preset, batch, tile, channels, free, step)
    options = [f"{flag} {value}" for flag, value in ((batch_flag, best_batch), (tile_flag, best_tile)) if value]
    hint = (" or ".join(options) + " fits") if options else f"even {tile_flag} {step} with {batch_flag} 1 does not fit"
    raise ResourceError(
        f"{batch} tile(s) ({batch_flag} {batch}) of {tile} x {tile} px ({tile_flag} {tile}) need about "
        f"{need / 2**30:.1f} GiB ({mode}, model preset "
        f"{preset or DEFAULT_PRESET}) but only {free / 2**30:.1f} GiB {where} is there: {hint}. Nothing was read "
        f"or written.")


def cover_tile(region_width: int, region_height: int, trained_tile: int, step: int) -> int:
    """The largest tile worth segmenting a region with: the smallest that covers it, never below the training
    tile (a larger one only pads)."""
    return max(scene_tile(region_width, region_height, step), round_up(trained_tile, step))


def check_segment_tile(tile: int, region_width: int, region_height: int, trained_tile: int, step: int,
                       callback: Callback, warnings: list[str]) -> int:
    """The tile to segment with: one larger than the region only pads, so it is cut to :func:`cover_tile` (said)."""
    cover = cover_tile(region_width, region_height, trained_tile, step)
    if tile <= cover:
        return tile
    message = (f"tile_size {tile} is larger than the region to segment ({region_width} x {region_height} px); "
               f"using {cover} px, which covers it.")
    warn(callback, warnings, message)
    return cover


MIN_TRAINING_SIDE = 32  # px: the smallest tile


def check_training_tile(tile: int, scene_sizes: list[tuple[str, int, int]], step: int) -> None:
    """A training tile larger than every scene is padding only: refuse it, naming the largest scene."""
    if not scene_sizes:
        return
    for name, width, height in scene_sizes:
        if min(width, height) < MIN_TRAINING_SIDE:
            raise ResourceError(f"The training image '{name}' is {width} x {height} px; a training scene needs at "
                                f"least {MIN_TRAINING_SIDE} x {MIN_TRAINING_SIDE} px (the smallest tile), or the "
                                f"tiles are nearly all padding. Leave it out, or give the larger image it was cut "
                                f"from.")
    name, width, height = max(scene_sizes, key=lambda s: max(s[1], s[2]))
    cover = scene_tile(width, height, step)
    if tile > cover:
        raise ResourceError(f"{mention('data.tile_size')} {tile} is larger than every training scene (the largest is "
                            f"'{name}', {width} x {height} px): the tiles would be mostly padding. Use "
                            f"{mention('data.tile_size')} {cover} or less.")


def check_graph_memory(batch: int, bands: int, classes: int, tile: int, model: str, fix: str) -> None:
    """ResourceError, before anything is allocated, when one batch of the graph ``model`` cannot fit in RAM: its
    float32 inputs and outputs, each taken twice (the layout's transpose, the softmax and the blend copy them).
    ``fix``: what to change (the flag, or the description key, that set the size)."""
    need = 2 * 4 * int(batch) * (int(bands) + int(classes)) * int(tile) ** 2
    free, where = available_memory("cpu")
    if free is None or need <= free:
        return
    raise ResourceError(f"The ONNX model '{model}' would need about {need / 2**30:,.1f} GiB for one batch of "
                        f"{batch:,} tile(s) of {tile} x {tile} px with {bands:,} band(s) and {classes:,} output "
                        f"channel(s), but only {free / 2**30:.1f} GiB {where} is there; {fix}. Nothing was read "
                        f"or written.")
