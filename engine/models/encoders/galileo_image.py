"""Galileo as the vision encoder of the segmentation and change families (one date per image): ``encoders.catalog``'s
``galileo_nano`` / ``_tiny`` / ``_base``.

The image's bands are the encoder's ``bands`` (common names, Sentinel-2's ten by default), read by name from each
image (``Weights.by_name``) and standardised by the release's pre-training mean and standard deviation (or the
image's own statistics where its values are not reflectance x 10000, said by the training log); Galileo's own scale
is then ``z / 4 + 0.5`` (its ``(x - (mean - 2 std)) / (4 std)``), NDVI from the de-standardised NIR and red. The
month comes from each tile's day of year where known (``coords``), else June (the release's default month). A
patch's ground size is taken as ``patch`` x 10 m (the grid code's scale; Sentinel-2's 10 m bands).

Features: the per-patch mean of the tokens after four evenly spaced blocks (the final norm applied), as maps at
stride ``patch_size``; the neck and the resampling to strides 4..32 are ``backbone.Encoder``'s.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ...errors import ModelError
from .catalog import EncoderSpec
from .eo_bands import GALILEO_SCALING, INPUTS, place_bands
from .galileo import SPACE_TIME, GalileoEncoder, load_galileo
from .weights import S2_BANDS, PretrainedSource

DEFAULT_MONTH = 5  # June (0-based): the release's month where none is given
DAYS_PER_MONTH = 365.25 / 12


class GalileoImage(GalileoEncoder):
    """``model(x (B, C, H, W), coords (B, 4) or None) -> 4 maps (B, D, H/p, W/p)``; ``channels`` = [D] * 4."""

    def __init__(self, channels: int, embedding_size: int = 128, depth: int = 4, num_heads: int = 8,
                 mlp_ratio: float = 4.0, max_sequence_length: int = 24, max_patch_size: int = 8, patch_size: int = 4,
                 coords: bool = True, bands: list[str] | tuple[str, ...] | None = None, drop_path: float = 0.0):
        super().__init__(embedding_size, depth, num_heads, mlp_ratio, max_sequence_length, max_patch_size, drop_path)
        self.bands = tuple(bands or S2_BANDS)
        check_channels(channels, self.bands)
        self.placement = place_bands(list(self.bands))
        self.patch, self.takes_coords = int(patch_size), bool(coords)
        self.coords: torch.Tensor | None = None  # (B, 4) of the batch being run (set by the model)
        self.sizes = {**self.sizes, "patch_size": self.patch, "coords": self.takes_coords, "bands": list(self.bands)}
        self.channels = [embedding_size] * len(self.out_blocks)
        low = torch.tensor(GALILEO_SCALING.low[:-1])
        span = torch.tensor(GALILEO_SCALING.span[:-1])
        self.register_buffer("mean", low + span / 2, persistent=False)  # of INPUTS but NDVI
        self.register_buffer("std", span / 4, persistent=False)

    def months(self, coords: torch.Tensor | None, batch: int, device: torch.device) -> torch.Tensor:
        """(B, 1) months 0..11 of each tile's day of year (coords column 1), June where unknown."""
        month = torch.full((batch, 1), DEFAULT_MONTH, dtype=torch.long, device=device)
        if coords is None or not self.takes_coords:
            return month
        day = coords[:, 1].to(device)
        known = torch.isfinite(day)
        found = ((torch.nan_to_num(day, nan=1.0) - 1) / DAYS_PER_MONTH).floor().clamp(0, 11).long()
        return torch.where(known[:, None], found[:, None], month)

    def forward(self, x: torch.Tensor, coords: torch.Tensor | None = None) -> list[torch.Tensor]:
        batch, _, height, width = x.shape
        rows, cols = (math.ceil(s / self.patch) * self.patch for s in (height, width))
        if (rows, cols) != (height, width):  # whole patches: the border repeated
            x = F.pad(x, (0, cols - width, 0, rows - height), mode="replicate")
        values = []
        for source in self.placement.index[:-1]:
            values.append(x[:, source] / 4 + 0.5 if source >= 0 else x.new_zeros(batch, rows, cols))
        if self.placement.ndvi:
            nir, red = ((x[:, self.placement.index[INPUTS.index(n)]] * self.std[INPUTS.index(n)]
                         + self.mean[INPUTS.index(n)]) for n in ("nir", "red"))
            total = nir + red
            values.append(torch.where(total > 0, (nir - red) / torch.where(total > 0, total, torch.ones_like(total)),
                                      torch.zeros_like(total)))
        else:
            values.append(x.new_zeros(batch, rows, cols))
        stacked = torch.stack(values, dim=-1)[:, None]  # (B, 1, H, W, 13)
        keep = torch.tensor([name in self.placement.groups for name, _ in SPACE_TIME], device=x.device)
        keep = keep.expand(batch, 1, rows, cols, -1)
        return self.encode_image(stacked, keep, self.months(self.coords if coords is None else coords, batch,
                                                            x.device), self.patch, all_levels=True)


def check_channels(channels: int, bands: tuple[str, ...]) -> None:
    """ModelError where the image's band count is not the encoder's bands'."""
    if channels != len(bands):
        raise ModelError(f"Galileo reads its bands by name ({', '.join(bands)}: Sentinel-2 B02, B03, B04, B05, B06, "
                         f"B07, B08, B8A, B11, B12), {len(bands)} in all; the image gives {channels}. Give the image's "
                         f"band names (or --bands with these names), or choose another encoder.")


def fetch_galileo(source: PretrainedSource, log: Callable[[str], None]) -> Path:
    """The release's ``encoder.pt`` that ``source`` names (its ``config.json`` fetched beside it)."""
    from .eo_series import release_files

    name = source.encoder if source.encoder.startswith("galileo_") else "galileo_nano"
    return release_files(name, source.location(), log)[0]


def load_galileo_image(path: Path, spec: EncoderSpec, drop_path: float,
                       log: Callable[[str], None]) -> tuple[GalileoImage, dict[str, Any]]:
    """A GalileoImage with a release's weights, loaded strictly; sizes from the config.json beside it, else the
    catalog's."""
    config = path.parent / "config.json"
    core = load_galileo(path, config if config.is_file() else None, spec.sizes, log, drop_path)
    sizes = {**core.sizes, **{k: spec.sizes[k] for k in ("patch_size", "coords", "bands") if k in spec.sizes}}
    model = GalileoImage(len(sizes.get("bands") or S2_BANDS), drop_path=drop_path, **sizes)
    model.load_state_dict(core.state_dict(), strict=True)
    return model, dict(model.sizes)


def adapt(backbone: GalileoImage, channels: int) -> str:
    """No conv is adapted: the band count must be the encoder's (its groups are by name)."""
    check_channels(channels, backbone.bands)
    return f"its {backbone.placement.said()} ({len(backbone.bands)} bands by name, patch {backbone.patch} px)"
