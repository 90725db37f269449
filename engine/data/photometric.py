"""Photometric options for 3-band (RGB-like) imagery, on normalised vision values (numpy only).

- :func:`hsv_like`: hue rotation of each pixel's colour about the gray axis, saturation (distance from gray) and
  value (overall scale). Linear in the band values, so it means the same for percentile (~0..1) and mean/std
  (~N(0, 1)) statistics; it needs exactly 3 bands (their order does not matter for the jitter).
- :func:`clahe`: contrast-limited adaptive histogram equalisation (Zuiderveld 1994) of each band on a grid of
  tiles, mappings interpolated bilinearly between tile centres; the result stays in each band's value range.

Invalid (nodata) pixels are left out of every statistic and stay 0.
"""

from __future__ import annotations

import math

import numpy as np

CLAHE_BINS = 256


def hsv_like(vision: np.ndarray, hue: float, saturation: float, value: float) -> np.ndarray:
    """(3, H, W) -> (3, H, W): rotate chroma by ``hue`` radians about the gray axis, scale it by ``saturation``,
    then scale everything by ``value``."""
    if vision.shape[0] != 3:
        raise ValueError(f"hsv_like needs 3 bands, got {vision.shape[0]}")
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
    """Per-band CLAHE of ``(C, H, W)`` on a ``grid`` x ``grid`` tiling; ``clip_limit`` x the mean bin count caps
    each tile's histogram (the excess is spread over all bins)."""
    mask = np.ones(vision.shape[-2:], bool) if valid is None else valid.astype(bool)
    return np.stack([_clahe_band(band.astype(np.float32, copy=False), mask, clip_limit, grid) for band in vision])


def _clahe_band(band: np.ndarray, mask: np.ndarray, clip_limit: float, grid: int) -> np.ndarray:
    if not mask.any():
        return band * mask
    low, high = float(band[mask].min()), float(band[mask].max())
    if high <= low:
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
