"""Joint geometric and vision-only photometric augmentation of one training tile.

A tile is three aligned arrays: vision ``(Cv, S, S)``, aux ``(Ca, S/r, S/r)`` (optional) and label
``(S, S)``. Geometric transforms are applied identically to all three in *normalised* image coordinates
(``align_corners=False``), so the coarse aux grid stays on the same map footprint as the vision grid:

1. random resized crop + small rotation in one resampling step: the read window of ``S = T * scale`` pixels
   is resampled to the output tile ``T`` with the rotation about the tile centre (bilinear for vision and aux,
   nearest for labels). Rotated-in corners become 0 in the inputs and ``ignore_index`` in the labels;
2. exact flips and 90-degree rotations (pure index permutations, no resampling).

Photometric options (CLAHE, HSV-like jitter for 3-band imagery, brightness/contrast, to-gray) touch the vision
stream only. They are applied AFTER normalisation (values are then ~[0, 1] for percentile statistics or ~N(0, 1)
for mean/std, so the strength means the same for uint8 and uint16 imagery) and BEFORE the geometric step, on valid
pixels only, so nodata pixels stay exactly 0 and out of every statistic. The HSV-like jitter is linear in the band
values, so it means the same for either statistics (and the 3 bands' order does not matter to it).

All random draws happen in :func:`sample_params` from a numpy ``Generator``; the transforms are pure functions
of those parameters, which makes a tile reproducible from (seed, epoch, index).

A tile of two dates (:func:`augment_dates`): the geometry identical on every date (one transform of the stacked
bands), the radiometry independent (each date its own photometric draws: another sun, season or sensor), and the
dates swapped where the label is a change mask, which says that something changed but not which way. The draws
beyond a one-date tile's come from their own generator keyed by (seed, epoch, index), so a tile stays reproducible
and a one-date tile draws exactly as before. A season's tile (:func:`augment_season`) takes one photometric draw for
every date: its classes are told by how the dates' values rise and fall.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..config import AugmentConfig
from ..time_axis import join_dates, per_date
from .labels import transition_of

CLAHE_BINS = 256
DATES_KEY = 7331  # the per-date draws' stream, apart from the sampler's


@dataclass(frozen=True)
class AugmentParams:
    """Random draws for one tile. The identity is ``AugmentParams()``."""

    scale: float = 1.0  # read window side / output tile side
    hflip: bool = False  # mirror columns
    vflip: bool = False  # mirror rows
    k90: int = 0  # counter-clockwise quarter turns (torch.rot90 on the last two axes)
    angle: float = 0.0  # small rotation in degrees, counter-clockwise
    brightness: float = 0.0  # added to valid vision pixels
    contrast: float = 1.0  # factor around each band's valid mean
    gray: bool = False  # replace every vision band by the band mean
    hue: float = 0.0  # radians, 3-band imagery (hsv_like)
    saturation: float = 1.0
    value: float = 1.0
    clahe: bool = False
    clahe_clip: float = 2.0
    clahe_grid: int = 8


def sample_params(rng: np.random.Generator, cfg: AugmentConfig) -> AugmentParams:
    """Draw the augmentation parameters of one tile (always the same number of draws, for stability)."""
    u = rng.random(8)
    low, high = cfg.scale_range
    # Log-uniform scale so zooming in and out are equally likely.
    scale = float(math.exp(math.log(low) + u[0] * (math.log(high) - math.log(low)))) if high > low else float(low)
    angle = float((2.0 * u[1] - 1.0) * cfg.rotation_degrees) if cfg.rotation_degrees > 0 else 0.0
    jitter = float(cfg.color_jitter)
    extra: dict[str, Any] = {}
    if cfg.extra_photometric:  # drawn only when asked, so runs without these options draw exactly as before
        e = rng.random(4)
        extra = {"hue": float((2.0 * e[0] - 1.0) * cfg.hsv * math.pi), "saturation": float(1.0 + (2.0 * e[1] - 1.0)
                 * cfg.hsv), "value": float(1.0 + (2.0 * e[2] - 1.0) * cfg.hsv),
                 "clahe": bool(e[3] < cfg.clahe_probability), "clahe_clip": float(cfg.clahe_clip),
                 "clahe_grid": int(cfg.clahe_grid)}
    return AugmentParams(scale=scale, hflip=bool(cfg.flips and u[2] < 0.5), vflip=bool(cfg.flips and u[3] < 0.5),
                         k90=int(u[4] * 4) % 4 if cfg.rot90 else 0, angle=angle,
                         brightness=float((2.0 * u[5] - 1.0) * jitter) if jitter > 0 else 0.0,
                         contrast=float(1.0 + (2.0 * u[6] - 1.0) * jitter) if jitter > 0 else 1.0,
                         gray=bool(u[7] < cfg.gray_probability), **extra)


def window_size(tile_size: int, scale: float, aux_ratio: int) -> int:
    """Side in pixels of the read window for ``scale``: a multiple of ``aux_ratio`` (so aux stays whole), >= r."""
    return max(aux_ratio, round(tile_size * scale / aux_ratio) * aux_ratio)


def photometric(vision: np.ndarray, valid: np.ndarray | None, params: AugmentParams) -> np.ndarray:
    """CLAHE, HSV-like jitter (3 bands only), brightness/contrast and to-gray on normalised vision ``(C, H, W)``
    (not modified: a new array is returned unless nothing is to be done); pixels not ``valid`` (None: all valid)
    stay 0."""
    hsv = (params.hue, params.saturation, params.value) != (0.0, 1.0, 1.0) and vision.shape[0] == 3
    if params.contrast == 1.0 and params.brightness == 0.0 and not params.gray and not hsv and not params.clahe:
        return vision
    # a tile of valid pixels only (most of them) skips the mask's passes: the same values, multiplied by 1 nowhere
    maskf = None if valid is None or valid.all() else valid.astype(np.float32)
    count = float(vision.shape[-2] * vision.shape[-1]) if maskf is None else max(float(maskf.sum()), 1.0)
    out = vision.astype(np.float32, copy=False)
    if params.clahe:
        out = clahe(out, valid, params.clahe_clip, params.clahe_grid)
    if hsv:
        out = hsv_like(out, params.hue, params.saturation, params.value)
    if params.gray:
        out = np.broadcast_to(out.mean(axis=0, keepdims=True), vision.shape)
    if params.contrast != 1.0 or params.brightness != 0.0:
        mean = (out if maskf is None else out * maskf).sum(axis=(-2, -1), keepdims=True) / count
        shifted = out - mean  # then in place, in the order of (out - mean) * contrast + mean + brightness
        shifted *= np.float32(params.contrast)
        shifted += mean
        shifted += np.float32(params.brightness)
        out = shifted
    if maskf is not None:
        return (out * maskf).astype(np.float32, copy=False)
    return out.copy() if out is vision else np.ascontiguousarray(out, dtype=np.float32)


def hsv_like(vision: np.ndarray, hue: float, saturation: float, value: float) -> np.ndarray:
    """(3, H, W) -> (3, H, W): rotate chroma by ``hue`` radians about the gray axis, scale it by ``saturation``,
    then scale everything by ``value``."""
    gray = vision.mean(axis=0, keepdims=True)
    chroma = vision - gray
    if hue:
        k = np.full(3, 1 / math.sqrt(3), np.float32)  # the gray axis
        cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]], np.float32)
        rotation = (math.cos(hue) * np.eye(3, dtype=np.float32) + math.sin(hue) * cross
                    + (1 - math.cos(hue)) * np.outer(k, k)).astype(np.float32)
        chroma = np.einsum("ij,jhw->ihw", rotation, chroma)
    return ((gray + chroma * np.float32(saturation)) * np.float32(value)).astype(np.float32, copy=False)


def clahe(vision: np.ndarray, valid: np.ndarray | None, clip_limit: float = 2.0, grid: int = 8) -> np.ndarray:
    """Per-band CLAHE (Zuiderveld 1994) of ``(C, H, W)`` on a ``grid`` x ``grid`` tiling, mappings interpolated
    bilinearly between tile centres, each band kept in its value range; ``clip_limit`` x the mean bin count caps
    each tile's histogram (the excess is spread over all bins)."""
    mask = np.ones(vision.shape[-2:], bool) if valid is None else valid.astype(bool)
    return np.stack([_clahe_band(band.astype(np.float32, copy=False), mask, clip_limit, grid) for band in vision])


def _clahe_band(band: np.ndarray, mask: np.ndarray, clip_limit: float, grid: int) -> np.ndarray:
    low, high = (float(band[mask].min()), float(band[mask].max())) if mask.any() else (0.0, 0.0)
    if high <= low:  # no valid pixel, or one value
        return band * mask
    h, w = band.shape
    grid_y, grid_x = min(grid, h), min(grid, w)
    levels = np.clip(((band - low) / (high - low) * (CLAHE_BINS - 1)).round(), 0, CLAHE_BINS - 1).astype(np.int64)
    ty = np.minimum(np.arange(h) * grid_y // h, grid_y - 1)  # tile row of each pixel row
    tx = np.minimum(np.arange(w) * grid_x // w, grid_x - 1)
    tile = ty[:, None] * grid_x + tx[None, :]
    hist = np.bincount((tile * CLAHE_BINS + levels)[mask], minlength=grid_y * grid_x * CLAHE_BINS)
    hist = hist.reshape(grid_y * grid_x, CLAHE_BINS).astype(np.float64)
    counts = hist.sum(axis=1, keepdims=True)
    limit = np.maximum(1.0, clip_limit * counts / CLAHE_BINS)
    excess = np.maximum(hist - limit, 0).sum(axis=1, keepdims=True)
    hist = np.minimum(hist, limit) + excess / CLAHE_BINS
    cdf = np.cumsum(hist, axis=1)
    mapping = (cdf / np.maximum(cdf[:, -1:], 1e-9)).reshape(grid_y, grid_x, CLAHE_BINS)
    # bilinear weights between the centres of the four nearest tiles
    fy = (np.arange(h) + 0.5) * grid_y / h - 0.5
    fx = (np.arange(w) + 0.5) * grid_x / w - 0.5
    y0 = np.clip(np.floor(fy), 0, grid_y - 1).astype(np.int64)
    x0 = np.clip(np.floor(fx), 0, grid_x - 1).astype(np.int64)
    y1, x1 = np.minimum(y0 + 1, grid_y - 1), np.minimum(x0 + 1, grid_x - 1)
    wy = np.clip(fy - y0, 0, 1)[:, None]
    wx = np.clip(fx - x0, 0, 1)[None, :]
    top = (1 - wx) * mapping[y0[:, None], x0[None, :], levels] + wx * mapping[y0[:, None], x1[None, :], levels]
    bottom = (1 - wx) * mapping[y1[:, None], x0[None, :], levels] + wx * mapping[y1[:, None], x1[None, :], levels]
    equalised = (1 - wy) * top + wy * bottom
    return ((low + equalised * (high - low)) * mask).astype(np.float32)


def _sampling_grid(angle_deg: float, size: int, k90: int = 0, hflip: bool = False,
                   vflip: bool = False) -> np.ndarray:
    """(size, size, 2) normalised input coordinates (x, y) of the output pixel centres, rotated about the centre
    (the scale is realised by the pixel counts of input S and output T).

    Numpy, not ``affine_grid``: small torch ops pay for thread hand-offs on busy CPUs, and this runs per sample.
    The quarter turns and flips of step 2 are laid onto the grid's points: the values of resampling, then turning
    and flipping, bit for bit, without copying every resampled array again (a turned or flipped view is strided).
    """
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    t = (np.arange(size, dtype=np.float32) * 2 + 1) / size - 1  # align_corners=False pixel centres
    # which output axis gives the unturned grid's column (x) and row (y) index, and whether reversed
    x_at, y_at = (1, False), (0, False)
    for _ in range(k90 % 4):  # np.rot90(g, axes=(0, 1))[i, j] = g[j, size - 1 - i]
        x_at, y_at = ((1, rev) if axis == 0 else (0, not rev) for axis, rev in (x_at, y_at))
    for flipped, on in ((1, hflip), (0, vflip)):  # np.flip after the turns, as for the arrays
        if on:
            x_at, y_at = ((axis, rev != (axis == flipped)) for axis, rev in (x_at, y_at))
    grid = np.empty((size, size, 2), dtype=np.float32)
    np.subtract(_laid(c * t, x_at), _laid(s * t, y_at), out=grid[..., 0])
    np.add(_laid(s * t, x_at), _laid(c * t, y_at), out=grid[..., 1])
    return grid


def _laid(values: np.ndarray, at: tuple[int, bool]) -> np.ndarray:
    """A 1-D array along output axis ``at[0]`` of the grid, reversed where ``at[1]``."""
    values = values[::-1] if at[1] else values
    return values[:, None] if at[0] == 0 else values[None, :]


def _sample(x: torch.Tensor, grid: np.ndarray, mode: str) -> torch.Tensor:
    """``grid_sample`` of ``x (C, h, w)`` on ``grid (H, W, 2)`` -> ``(C, H, W)``, zeros outside. PyTorch's CPU
    kernel shares out a batch's images among its threads, not one image's rows: the output's rows are cut into a
    band a thread, each a batch item over the same input (a view), so every thread works; the same values."""
    rows = grid.shape[0]
    parts = torch.get_num_threads()
    parts = parts if 1 < parts <= rows and rows % parts == 0 else 1
    bands = torch.from_numpy(grid).reshape(parts, rows // parts, *grid.shape[1:])
    out = F.grid_sample(x[None].expand(parts, -1, -1, -1), bands, mode=mode, padding_mode="zeros",
                        align_corners=False)  # (parts, C, H / parts, W)
    return out.transpose(0, 1).reshape(x.shape[0], rows, grid.shape[1])


def _resample(x: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Bilinear grid_sample of ``x (C, h, w)`` on ``grid``, zeros outside."""
    return _sample(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), grid, "bilinear").numpy()


def _resample_nearest(label: np.ndarray, grid: np.ndarray, fill: int) -> np.ndarray:
    """Nearest-neighbour lookup of ``label (h, w)`` (integer classes, exact in float32 below 2**24) on ``grid``;
    ``fill`` outside; int64. One ``grid_sample`` in C++ (a tenth of the time of the same lookup in numpy, and
    without Python's lock, so the tile reader beside the training step holds it less); classes shifted by one so
    that its zero padding marks the outside."""
    shifted = torch.from_numpy(np.add(label, 1, dtype=np.float32))[None]
    values = _sample(shifted, grid, "nearest")[0].numpy().astype(np.int64)
    values -= 1
    values[values < 0] = fill
    return values


def tensor(x: np.ndarray | None, dtype: Any) -> torch.Tensor | None:
    """``x`` as a contiguous torch tensor of ``dtype`` (no copy where it is one already), or None."""
    return None if x is None else torch.from_numpy(np.ascontiguousarray(x, dtype=dtype))


def geometric(vision: np.ndarray | torch.Tensor, aux: np.ndarray | torch.Tensor | None,
              label: np.ndarray | torch.Tensor | None, params: AugmentParams, tile_size: int, aux_ratio: int,
              ignore_index: int = 255) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """The same geometric transform of vision ``(Cv, S, S)`` (normalised, nodata 0), aux ``(Ca, S/r, S/r)`` and
    label ``(S, S)`` (``ignore_index`` where unknown, and for pixels rotated in from outside the window), to torch
    tensors: vision ``(Cv, T, T)`` float32, aux ``(Ca, T/r, T/r)`` float32, label ``(T, T)`` int64 (``T``:
    ``tile_size``, ``r``: ``aux_ratio``; aux and label may be None)."""
    v, a, lab = (x.numpy() if isinstance(x, torch.Tensor) else None if x is None else np.asarray(x)
                 for x in (vision, aux, label))
    # step 1 of the module doc where it resamples; the turns and flips then ride on the grid (_sampling_grid)
    if params.scale != 1.0 or params.angle != 0.0 or v.shape[-1] != tile_size:
        turns = (params.k90, params.hflip, params.vflip)
        grid = _sampling_grid(params.angle, tile_size, *turns)
        v = _resample(v, grid)
        if a is not None:
            a = _resample(a, _sampling_grid(params.angle, tile_size // aux_ratio, *turns))
        if lab is not None:
            lab = _resample_nearest(lab, grid, ignore_index)
        return tensor(v, np.float32), tensor(a, np.float32), tensor(lab, np.int64)
    flip_axes = tuple(ax for ax, on in ((-1, params.hflip), (-2, params.vflip)) if on)

    def turned(x: np.ndarray | None) -> np.ndarray | None:
        if x is not None and params.k90:
            x = np.rot90(x, params.k90, axes=(-2, -1))
        return np.flip(x, flip_axes) if x is not None and flip_axes else x

    return tensor(turned(v), np.float32), tensor(turned(a), np.float32), tensor(turned(lab), np.int64)


def augment_dates(vision: np.ndarray, valid: np.ndarray, aux: np.ndarray | None, label: np.ndarray | None,
                  params: AugmentParams, dates: int, augment: AugmentConfig | None, swap: bool, key: list[int],
                  tile_size: int, aux_ratio: int, ignore_index: int) -> tuple[
                      torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """(vision, aux, label) tensors of a tile whose ``vision`` holds ``dates`` dates' bands in time order.
    ``params``: the sampler's draws (the geometry, the first date's photometry); ``augment`` None: no augmentation
    (validation tiles); ``swap``: the label allows swapping the dates (a change mask); ``key``: (seed, epoch, index)."""
    if dates == 1:  # nothing to draw per date or to swap: no generator made for every tile of a one-date model
        return geometric(photometric(vision, valid, params), aux, label, params, tile_size, aux_ratio, ignore_index)
    rng = np.random.default_rng([*key, DATES_KEY])
    draws = [params] + [sample_params(rng, augment) if augment is not None else AugmentParams()
                        for _ in range(dates - 1)]
    each = [photometric(part, valid, p) for part, p in zip(per_date(vision, dates, axis=0), draws)]
    if swap and augment is not None and rng.random() < augment.swap_dates:
        each = each[::-1]
    vision = join_dates(each, axis=0)
    return geometric(vision, aux, label, params, tile_size, aux_ratio, ignore_index)


def augment_season(vision: np.ndarray, date_valid: np.ndarray, aux: np.ndarray | None, label: np.ndarray | None,
                   params: AugmentParams, tile_size: int, aux_ratio: int,
                   ignore_index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """(vision (T*C, S, S), each date's validity (T, S, S) bool, aux, label) tensors of a season's tile: one
    photometry (the sampler's draw) for every date, each over its own valid pixels, one geometry for every date, its
    validity and the label (the masks ride the geometry as channels: resampled, a pixel is valid where it mostly
    was). One draw, not one per date as a change pair's: a season's classes are told by how its dates' values rise
    and fall, which draws of their own would blur (docs/seasons.md). The engine chooses no jitter for a season
    model (training.auto); this is what a config file's jitter gets."""
    dates = len(date_valid)
    each = [photometric(part, ok, params) for part, ok in zip(per_date(vision, dates, axis=0), date_valid)]
    stacked = join_dates([*each, date_valid.astype(np.float32)], axis=0)
    moved, aux_t, label_t = geometric(stacked, aux, label, params, tile_size, aux_ratio, ignore_index)
    return moved[:-dates], moved[-dates:] > 0.5, aux_t, label_t


def swappable(class_names: list[str]) -> bool:
    """Whether labels of these classes are a change mask (no change, change), which says nothing of the way (one
    from-to class, ``forest → bare``, says which way)."""
    return len(class_names) == 2 and not transition_of(str(class_names[1]))[0]

