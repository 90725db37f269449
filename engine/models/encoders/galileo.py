"""Galileo (Tseng et al. 2025; nasaharvest/galileo, MIT) as an image, image-series and pixel-series encoder: our own
module, written from the release's description (its ``single_file_galileo.py`` read for layer names and
behaviour, no code taken).

Each Sentinel-1/2 band group of each date is cut into p x p patches, projected by the group's convolution (the
release's 8 x 8 kernels resampled to p by the pseudo-inverse of bicubic resizing, FlexiViT's rule, as the release
does), and coded with [band group (learnt) | position in the series | month | place in the grid scaled by the
ground size of a patch / 10 m], a quarter of the width each. Masked tokens take no part in attention; a patch's
feature is the mean of its kept tokens over dates and groups after the final norm (the release's per-patch
pooling). A place given (``latlon``, degrees in WGS 84) is the release's static ``location`` token: its x, y, z on
the unit sphere through the group's projection, coded [its group | zeros]; it attends with the patches' tokens and
joins every patch's mean, as the release's per-patch pooling does (an unknown place, NaN, is masked). The other
groups (SRTM, Dynamic World, World Cereal, ERA5, TerraClimate, VIIRS, LandScan) have their projections held so
``encoder.pt`` loads strictly; our rasters carry none of them, so their tokens are always masked, as the release
does for a missing group.

The parameter names are the release's: ``models/<size>/encoder.pt`` loads strictly, its sizes from the
``config.json`` beside it (``model.encoder``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ModelError
from ..blocks import drop_path_or_identity
from .eo_bands import S1_S2_GROUPS
from .eo_common import key_mask, load_strict, masked_mean, mlp, month_table, read_state, unit_sphere

SPACE_TIME = tuple((name, len(inputs)) for name, inputs in S1_S2_GROUPS)  # 7 groups, the release's order
SPACE = (("SRTM", 2), ("DW", 9), ("WC", 5))
TIME = (("ERA5", 2), ("TC", 3), ("VIIRS", 1))
STATIC = (("LS", 1), ("location", 3), ("DW_static", 9), ("WC_static", 5))
BASE_GSD = 10.0  # metres: the grid code is scaled by a patch's ground size over this
RELEASE_PATCH = 8
QUERY_BLOCK = 512  # queries per attention call: (heads, 512, keys) floats at a time
SIZE_KEYS = ("embedding_size", "depth", "num_heads", "mlp_ratio", "max_sequence_length", "max_patch_size")
GALILEO_FIX = ("download the release again (models/<size>/encoder.pt and config.json of the Hugging Face repository "
               "nasaharvest/galileo) or pass pretrained none for random weights.")


def sincos(width: int, positions: torch.Tensor) -> torch.Tensor:
    """(M,) positions -> (M, width): [sin | cos] of ``position * 10000 ** (-i / (2 * width))`` (the release's 1-D
    code, frequencies as it spaces them)."""
    omega = 1.0 / 10000 ** (torch.arange(width // 2, device=positions.device) / width / 2.0)
    angles = positions.reshape(-1).float()[:, None] * omega[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def grid_code(width: int, rows: int, cols: int, ratio: float, device: torch.device) -> torch.Tensor:
    """(rows, cols, width): half the width codes the column, half the row, each times ``ratio`` (a patch's ground
    size / 10 m)."""
    row, col = torch.meshgrid(torch.arange(rows, device=device), torch.arange(cols, device=device), indexing="ij")
    half = width // 2
    code = torch.cat([sincos(half, col.float() * ratio), sincos(half, row.float() * ratio)], dim=1)
    return code.reshape(rows, cols, width)


def resize_matrix(base: int, patch: int) -> torch.Tensor:
    """(patch**2, base**2): the pseudo-inverse of bicubic (antialiased) resizing of a base x base kernel to
    patch x patch; a kernel's flattened values times its transpose give the resized kernel."""
    basis = torch.eye(base * base).reshape(base * base, 1, base, base)
    resized = F.interpolate(basis, size=(patch, patch), mode="bicubic", antialias=True)
    return torch.linalg.pinv(resized.reshape(base * base, patch * patch))


class GroupEmbed(nn.Module):
    """``proj``: a group's base-size patch convolution, applied at any patch size."""

    def __init__(self, channels: int, width: int, base: int):
        super().__init__()
        self.base = base
        self.proj = nn.Conv2d(channels, width, kernel_size=base, stride=base)
        self._resized: dict[int, torch.Tensor] = {}

    def forward(self, x: torch.Tensor, patch: int) -> torch.Tensor:
        """(N, C, H, W) -> (N, D, H / patch, W / patch)."""
        weight = self.proj.weight
        if patch != self.base:
            if patch not in self._resized:
                self._resized[patch] = resize_matrix(self.base, patch)
            pinv = self._resized[patch].to(weight.device, weight.dtype)
            out_ch, in_ch = weight.shape[:2]
            weight = (weight.reshape(out_ch * in_ch, -1) @ pinv.T).reshape(out_ch, in_ch, patch, patch)
        return F.conv2d(x, weight, self.proj.bias, stride=patch)


class SplitAttention(nn.Module):
    """Self-attention with ``q``, ``k``, ``v`` projections (with bias) and ``proj``; ``keep`` masks keys."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        batch, tokens, dim = x.shape
        q, k, v = (p(x).reshape(batch, tokens, self.heads, dim // self.heads).transpose(1, 2)
                   for p in (self.q, self.k, self.v))
        mask = None if keep is None else key_mask(keep, self.heads, q.dtype)
        # queries in blocks: a masked attention's weights are (heads, queries, keys) floats, too many for a season
        # tile's tokens at once on a CPU; each query's row is its own, so the blocks give the same result
        out = torch.cat([F.scaled_dot_product_attention(q[:, :, i:i + QUERY_BLOCK], k, v, attn_mask=mask)
                         for i in range(0, tokens, QUERY_BLOCK)], dim=2)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class GalileoBlock(nn.Module):
    """Pre-norm transformer block: norm1, attn, norm2, mlp (stochastic depth where trained)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, drop_path: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SplitAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = mlp(dim, mlp_ratio)
        self.drop_path = drop_path_or_identity(drop_path)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), keep))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class GalileoEncoder(nn.Module):
    """``model.encode_image(values (B, T, H, W, 13), keep (B, T, H, W, 7), months (B, T), patch, gsd)`` -> per-patch
    features (B, D, H / patch, W / patch) after the blocks ``out_blocks`` names (the last: the release's output)."""

    def __init__(self, embedding_size: int = 128, depth: int = 4, num_heads: int = 8, mlp_ratio: float = 4.0,
                 max_sequence_length: int = 24, max_patch_size: int = RELEASE_PATCH, drop_path: float = 0.0):
        super().__init__()
        self.sizes = {"embedding_size": embedding_size, "depth": depth, "num_heads": num_heads,
                      "mlp_ratio": mlp_ratio, "max_sequence_length": max_sequence_length,
                      "max_patch_size": max_patch_size}
        self.width, self.max_dates = embedding_size, max_sequence_length
        quarter = embedding_size // 4
        self.blocks = nn.ModuleList(GalileoBlock(embedding_size, num_heads, mlp_ratio, drop_path)
                                    for _ in range(depth))
        self.pos_embed = nn.Parameter(sincos(quarter, torch.arange(max_sequence_length)), requires_grad=False)
        self.month_embed = nn.Embedding.from_pretrained(month_table(quarter), freeze=True)
        for name, groups in (("s_t", SPACE_TIME), ("sp", SPACE), ("t", TIME), ("st", STATIC)):
            setattr(self, f"{name}_channel_embed", nn.Parameter(torch.zeros(len(groups), quarter)))
        self.space_time_embed = nn.ModuleDict({n: GroupEmbed(c, embedding_size, max_patch_size) for n, c in SPACE_TIME})
        self.space_embed = nn.ModuleDict({n: GroupEmbed(c, embedding_size, max_patch_size) for n, c in SPACE})
        self.time_embed = nn.ModuleDict({n: nn.Linear(c, embedding_size) for n, c in TIME})
        self.static_embed = nn.ModuleDict({n: nn.Linear(c, embedding_size) for n, c in STATIC})
        self.norm = nn.LayerNorm(embedding_size)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        self.out_blocks = sorted({max(0, depth * k // 4 - 1) for k in range(1, 5)})

    def tokens(self, values: torch.Tensor, months: torch.Tensor, patch: int, gsd: float) -> torch.Tensor:
        """(B, T, H, W, 13) -> (B, h, w, T, 7, D): each group's patches of each date, coded."""
        batch, dates, height, width, _ = values.shape
        if dates > self.max_dates:
            raise ValueError(f"Galileo takes at most {self.max_dates} dates, not {dates}.")
        flat = values.reshape(batch * dates, height, width, -1).permute(0, 3, 1, 2)
        groups, start = [], 0
        for name, count in SPACE_TIME:
            groups.append(self.space_time_embed[name](flat[:, start:start + count], patch))
            start += count
        x = torch.stack(groups, dim=1)  # (B*T, 7, D, h, w)
        rows, cols = x.shape[-2:]
        x = x.reshape(batch, dates, len(SPACE_TIME), self.width, rows, cols).permute(0, 4, 5, 1, 2, 3)
        quarter = self.width // 4
        shape = (batch, rows, cols, dates, len(SPACE_TIME), quarter)
        channel = self.s_t_channel_embed[None, None, None, None].expand(shape)
        position = self.pos_embed[:dates][None, None, None, :, None].expand(shape)
        month = self.month_embed(months.long())[:, None, None, :, None].expand(shape)
        place = grid_code(quarter, rows, cols, gsd * patch / BASE_GSD, values.device)
        place = place[None, :, :, None, None].expand(shape)
        return x + torch.cat([channel, position, month, place], dim=-1)

    @staticmethod
    def patch_keep(keep: torch.Tensor, patch: int) -> torch.Tensor:
        """(B, T, H, W, 7) -> (B, h, w, T, 7): a patch's group token is kept where every pixel of it is."""
        batch, dates, height, width, groups = keep.shape
        rows, cols = height // patch, width // patch
        cut = keep[:, :, :rows * patch, :cols * patch]
        cut = cut.reshape(batch, dates, rows, patch, cols, patch, groups).all(dim=5).all(dim=3)
        return cut.permute(0, 2, 3, 1, 4)

    def location_token(self, latlon: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 2) latitude, longitude -> the static location token (B, 1, D) and whether it is kept (B, 1): not
        where the place is unknown (NaN)."""
        known = torch.isfinite(latlon.float()).all(dim=-1, keepdim=True)
        token = self.static_embed["location"](unit_sphere(torch.where(known, latlon.float(), 0.0)))
        index = [name for name, _ in STATIC].index("location")
        code = torch.cat([self.st_channel_embed[index], self.st_channel_embed.new_zeros(3 * (self.width // 4))])
        return (token + code)[:, None], known

    def encode_image(self, values: torch.Tensor, keep: torch.Tensor, months: torch.Tensor, patch: int,
                     gsd: float = BASE_GSD, all_levels: bool = False,
                     latlon: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Per-patch features (B, D, h, w): after the last block, or (``all_levels``) after each of ``out_blocks``;
        ``latlon`` (B, 2): each sample's place, the release's location token (None: none, as before)."""
        values = torch.nan_to_num(values)
        x = self.tokens(values, months, patch, gsd)
        batch, rows, cols = x.shape[:3]
        kept = self.patch_keep(keep, patch)
        used = kept.reshape(-1, kept.shape[-1]).any(dim=0)
        if bool(used.any()) and not bool(used.all()):  # a group no patch keeps takes no part: its tokens left out
            x, kept = x[..., used, :], kept[..., used]
        flat = x.reshape(batch, -1, self.width)
        flat_keep = kept.reshape(batch, -1)
        patches = flat_keep.reshape(batch, rows * cols, -1)
        if latlon is not None:  # the static token last: it attends with all and joins every patch's mean
            token, known = self.location_token(latlon.to(flat.device))
            flat, flat_keep = torch.cat([flat, token.to(flat.dtype)], dim=1), torch.cat([flat_keep, known], dim=1)
        # a sample with no token kept attends to all (its outputs are dropped): no row of -inf only. A traced graph
        # (ONNX) always masks: a trace whose tokens were all kept baked "no mask" in for every input after it
        unmasked = not torch.jit.is_tracing() and bool(flat_keep.all())
        attend = None if unmasked else flat_keep | ~flat_keep.any(dim=1, keepdim=True)
        maps = []
        for index, block in enumerate(self.blocks):
            flat = block(flat, attend)
            if index == len(self.blocks) - 1 or (all_levels and index in self.out_blocks):
                out = self.norm(flat)
                tokens = out[:, :patches[0].numel()].reshape(batch, rows * cols, -1, self.width)
                mask = patches
                if latlon is not None:  # each patch's tokens and the place's
                    place = out[:, -1:, None].expand(batch, rows * cols, 1, self.width)
                    tokens = torch.cat([tokens, place], dim=2)
                    mask = torch.cat([patches, flat_keep[:, -1:, None].expand(batch, rows * cols, 1)], dim=2)
                pooled = masked_mean(tokens, mask, dim=2)
                if latlon is not None:  # a patch with no value kept: zeros, not the place's code alone
                    pooled = pooled * patches.any(dim=2, keepdim=True)
                maps.append(pooled.transpose(1, 2).reshape(batch, self.width, rows, cols))
        return maps


def read_config(path: Path) -> dict[str, Any]:
    """The encoder sizes of a release's ``config.json`` (``model.encoder``); ModelError naming the file."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        encoder = config["model"]["encoder"]
        return {key: encoder[key] for key in SIZE_KEYS}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"Galileo config '{path}' has no model.encoder sizes ({', '.join(SIZE_KEYS)}): "
                         f"{type(exc).__name__} {exc}; {GALILEO_FIX}") from exc


def load_galileo(path: Path, config: Path | None, sizes: dict[str, Any], log: Callable[[str], None],
                 drop_path: float = 0.0) -> GalileoEncoder:
    """A GalileoEncoder with a release's ``encoder.pt``, loaded strictly; its sizes from ``config`` (the release's
    config.json) where given, else ``sizes`` (the catalog's)."""
    state = read_state(path, "Galileo", GALILEO_FIX)
    state = {key.replace(".backbone", ""): value for key, value in state.items()}  # some copies add ".backbone"
    chosen = read_config(config) if config is not None else {k: v for k, v in sizes.items() if k in SIZE_KEYS}
    model = GalileoEncoder(**chosen, drop_path=drop_path)
    load_strict(model, state, "Galileo", path, GALILEO_FIX)
    log(f"Galileo release '{path.parent.name}/{path.name}': {len(state)} tensors loaded strictly (width "
        f"{chosen['embedding_size']}, {chosen['depth']} blocks, {chosen['num_heads']} heads"
        f"{'' if config is not None else '; sizes of the catalog, no config.json beside it'}).")
    return model
