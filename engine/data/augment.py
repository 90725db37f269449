"""Joint geometric and vision-only photometric augmentation of one training tile.

A tile is three aligned arrays: vision ``(Cv, S, S)``, aux ``(Ca, S/r, S/r)`` (optional) and label
``(S, S)``. Geometric transforms are applied identically to all three in *normalised* image coordinates
(``align_corners=False``), so the coarse aux grid stays on the same map footprint as the vision grid:

1. random resized crop + small rotation in one resampling step: the read window of ``S = T * scale`` pixels
   is resampled to the output tile ``T`` with the rotation about the tile centre (bilinear for vision and aux,
   nearest for labels). Rotated-in corners become 0 in the inputs and ``ignore_index`` in the labels;
2. exact flips and 90-degree rotations (pure index permutations, no resampling).

Photometric jitter (brightness/contrast) and to-gray touch the vision stream only. They are applied AFTER
normalisation (values are then ~[0, 1] for percentile statistics or ~N(0, 1) for mean/std, so the strength
means the same for uint8 and uint16 imagery) and BEFORE the geometric step, on valid pixels only, so
nodata pixels stay exactly 0.

All random draws happen in :func:`sample_params` from a numpy ``Generator``; the transforms are pure functions
of those parameters, which makes a tile reproducible from (seed, epoch, index).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..config import AugmentConfig


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

    @property
    def resamples(self) -> bool:
        """Whether step 1 (resampling) is needed at all."""
        return self.scale != 1.0 or self.angle != 0.0


def sample_params(rng: np.random.Generator, cfg: AugmentConfig) -> AugmentParams:
    """Draw the augmentation parameters of one tile (always the same number of draws, for stability)."""
    u = rng.random(8)
    low, high = cfg.scale_range
    # Log-uniform scale so zooming in and out are equally likely.
    scale = float(math.exp(math.log(low) + u[0] * (math.log(high) - math.log(low)))) if high > low else float(low)
    angle = float((2.0 * u[1] - 1.0) * cfg.rotation_degrees) if cfg.rotation_degrees > 0 else 0.0
    jitter = float(cfg.color_jitter)
    return AugmentParams(
        scale=scale,
        hflip=bool(cfg.flips and u[2] < 0.5),
        vflip=bool(cfg.flips and u[3] < 0.5),
        k90=int(u[4] * 4) % 4 if cfg.rot90 else 0,
        angle=angle,
        brightness=float((2.0 * u[5] - 1.0) * jitter) if jitter > 0 else 0.0,
        contrast=float(1.0 + (2.0 * u[6] - 1.0) * jitter) if jitter > 0 else 1.0,
        gray=bool(u[7] < cfg.gray_probability),
    )


def window_size(tile_size: int, scale: float, aux_ratio: int) -> int:
    """Side in pixels of the read window for ``scale``: a multiple of ``aux_ratio`` (so aux stays whole), >= r."""
    return max(aux_ratio, round(tile_size * scale / aux_ratio) * aux_ratio)


def photometric(vision: torch.Tensor, valid: torch.Tensor | None, params: AugmentParams) -> torch.Tensor:
    """Brightness/contrast and to-gray on normalised vision ``(C, H, W)``; invalid pixels stay 0.

    Args:
        vision: normalised vision values (modified copy is returned; the input is not changed).
        valid: ``(H, W)`` bool, True where the pixel holds data; None = all valid.
        params: the tile's draws.
    """
    if params.contrast == 1.0 and params.brightness == 0.0 and not params.gray:
        return vision
    mask = torch.ones(vision.shape[-2:], dtype=torch.bool) if valid is None else valid
    maskf = mask.to(vision.dtype)
    count = maskf.sum().clamp_min(1.0)
    out = vision
    if params.gray:
        out = out.mean(dim=0, keepdim=True).expand_as(vision)
    if params.contrast != 1.0 or params.brightness != 0.0:
        mean = (out * maskf).sum(dim=(-2, -1), keepdim=True) / count
        out = (out - mean) * params.contrast + mean + params.brightness
    return out * maskf


def _rotation_theta(angle_deg: float) -> torch.Tensor:
    """Affine (1, 2, 3) mapping output normalised coordinates to input normalised coordinates.

    Input window and output tile cover the same footprint before rotation, so only the rotation remains;
    the scale is realised by the different pixel counts of input (S) and output (T).
    """
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    return torch.tensor([[[c, -s, 0.0], [s, c, 0.0]]], dtype=torch.float32)


def _resample(x: torch.Tensor, theta: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """grid_sample ``x (C, h, w)`` to ``(C, size, size)`` with zeros outside."""
    grid = F.affine_grid(theta, [1, x.shape[0], size, size], align_corners=False)
    return F.grid_sample(x.unsqueeze(0), grid, mode=mode, padding_mode="zeros", align_corners=False)[0]


def geometric(
    vision: torch.Tensor,
    aux: torch.Tensor | None,
    label: torch.Tensor | None,
    params: AugmentParams,
    tile_size: int,
    aux_ratio: int,
    ignore_index: int = 255,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Apply the same geometric transform to vision, aux and label.

    Args:
        vision: ``(Cv, S, S)`` float32 (normalised; nodata already 0).
        aux: ``(Ca, S/r, S/r)`` float32 or None.
        label: ``(S, S)`` integer classes (``ignore_index`` where unknown) or None.
        params: the tile's draws.
        tile_size: output side ``T``.
        aux_ratio: vision pixels per aux pixel ``r``.
        ignore_index: label value for pixels rotated in from outside the window.

    Returns:
        vision ``(Cv, T, T)``, aux ``(Ca, T/r, T/r)``, label ``(T, T)`` int64.
    """
    if label is not None:
        label = label.to(torch.int64)
    if params.resamples or vision.shape[-1] != tile_size:
        theta = _rotation_theta(params.angle)
        vision = _resample(vision.float(), theta, tile_size, "bilinear")
        if aux is not None:
            aux = _resample(aux.float(), theta, tile_size // aux_ratio, "bilinear")
        if label is not None:
            # Second channel of ones marks pixels that came from inside the window (nearest, like the label).
            stacked = torch.stack([label.float(), torch.ones_like(label, dtype=torch.float32)])
            sampled = _resample(stacked, theta, tile_size, "nearest")
            label = torch.where(sampled[1] > 0.5, sampled[0].round().to(torch.int64),
                                torch.full_like(sampled[0], ignore_index, dtype=torch.int64))
    dims = (-2, -1)
    if params.k90:
        vision = torch.rot90(vision, params.k90, dims)
        aux = torch.rot90(aux, params.k90, dims) if aux is not None else None
        label = torch.rot90(label, params.k90, dims) if label is not None else None
    flip_dims = [d for d, on in ((-1, params.hflip), (-2, params.vflip)) if on]
    if flip_dims:
        vision = torch.flip(vision, flip_dims)
        aux = torch.flip(aux, flip_dims) if aux is not None else None
        label = torch.flip(label, flip_dims) if label is not None else None
    vision = vision.contiguous()
    aux = aux.contiguous() if aux is not None else None
    label = label.contiguous() if label is not None else None
    return vision, aux, label


def augment_tile(
    vision: torch.Tensor,
    valid: torch.Tensor | None,
    aux: torch.Tensor | None,
    label: torch.Tensor | None,
    params: AugmentParams,
    tile_size: int,
    aux_ratio: int,
    ignore_index: int = 255,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Photometric (vision only, valid pixels) then joint geometric augmentation; see the module doc."""
    vision = photometric(vision, valid, params)
    return geometric(vision, aux, label, params, tile_size, aux_ratio, ignore_index)
