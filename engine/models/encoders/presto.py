"""Presto (Tseng et al. 2023; nasaharvest/presto, MIT) as a pixel-time-series encoder: our own module, written from
the release's description (its ``single_file_presto.py`` read for layer names and behaviour, no code taken).

A pixel's series becomes one token per band group and date: the group's linear projection of its values plus a
code of [month (fixed sin/cos table) | band group (learnt) | position in the series (fixed sin-cos)], a quarter,
a quarter and a half of the width. A location token (lat/lon on the unit sphere, projected) comes first. Masked
tokens (a date left out, a group not given) take no part in attention, as the release removes them; the output is
the final norm of the mean of the kept tokens (the release's ``eval_task`` output).

The parameter names are the release's encoder names without ``encoder.``: ``data/default_model.pt`` (encoder and
MAE decoder) loads strictly; its ``decoder.*`` tensors rebuild inputs in pre-training and are not used (said). The
ERA5, SRTM and Dynamic World projections are held so the file loads strictly; our rasters carry none of those
inputs, so their tokens are always masked, as the release does for a missing group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .eo_bands import S1_S2_GROUPS
from .eo_common import key_mask, load_strict, masked_mean, mlp, month_table, read_state, unit_sphere

#: The release's band groups in its order (their index is the group's channel code), and their value counts.
GROUPS = (("S1", 2), ("S2_RGB", 3), ("S2_Red_Edge", 3), ("S2_NIR_10m", 1), ("S2_NIR_20m", 1), ("S2_SWIR", 2),
          ("ERA5", 2), ("SRTM", 2), ("NDVI", 1))
DYNAMIC_WORLD_CLASSES = 9  # + 1: "missing"
RELEASE_SIZES = {"embed_dim": 128, "depth": 2, "num_heads": 8, "mlp_ratio": 4.0, "max_dates": 24}
PRESTO_FIX = ("download the release again (data/default_model.pt of github.com/nasaharvest/presto) or pass "
              "pretrained none for random weights.")


def series_table(length: int, width: int, period: float = 1000.0) -> torch.Tensor:
    """(length, width): the release's fixed position code, sin at even and cos at odd columns of
    ``position / period ** (2 * (column // 2) / width)``."""
    position = torch.arange(length, dtype=torch.float64)[:, None]
    column = torch.arange(width, dtype=torch.float64)[None, :]
    angle = position / period ** (2 * torch.div(column, 2, rounding_mode="floor") / width)
    table = torch.where(column.long() % 2 == 0, angle.sin(), angle.cos())
    return table.float()


class FusedAttention(nn.Module):
    """Self-attention with one ``qkv`` projection (with bias) and ``proj``; ``keep`` masks keys."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        q, k, v = self.qkv(x).reshape(batch, tokens, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask(keep, self.heads, q.dtype))
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class PrestoBlock(nn.Module):
    """Pre-norm transformer block: norm1, attn, norm2, mlp (LayerNorm eps 1e-5, GELU)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = FusedAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = mlp(dim, mlp_ratio)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), keep)
        return x + self.mlp(self.norm2(x))


class PrestoEncoder(nn.Module):
    """``model.encode_series(values (N, T, 13), keep (N, T, 7), months (N, T), latlon (N, 2)) -> (N, D)``: one
    feature vector per pixel series (inputs: ``eo_bands.INPUTS`` on Presto's scale; groups: ``S1_S2_GROUPS``)."""

    def __init__(self, embed_dim: int = 128, depth: int = 2, num_heads: int = 8, mlp_ratio: float = 4.0,
                 max_dates: int = 24):
        super().__init__()
        self.sizes = {"embed_dim": embed_dim, "depth": depth, "num_heads": num_heads, "mlp_ratio": mlp_ratio,
                      "max_dates": max_dates}
        self.width, self.max_dates = embed_dim, max_dates
        quarter = embed_dim // 4
        self.eo_patch_embed = nn.ModuleDict({name: nn.Linear(count, embed_dim) for name, count in GROUPS})
        self.dw_embed = nn.Embedding(DYNAMIC_WORLD_CLASSES + 1, embed_dim)
        self.latlon_embed = nn.Linear(3, embed_dim)
        self.blocks = nn.ModuleList(PrestoBlock(embed_dim, num_heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim)
        position = series_table(max_dates, embed_dim - 2 * quarter)
        self.pos_embed = nn.Parameter(position[None], requires_grad=False)
        self.month_embed = nn.Embedding.from_pretrained(month_table(quarter), freeze=True)
        self.channel_embed = nn.Embedding(len(GROUPS) + 1, quarter)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        self._group_code = {name: index for index, (name, _) in enumerate(GROUPS)}

    def tokens(self, values: torch.Tensor, months: torch.Tensor) -> torch.Tensor:
        """(N, T, 13) values, (N, T) months -> (N, 7 * T, D): each S1/S2/NDVI group's tokens, date by date."""
        count, dates = values.shape[:2]
        if dates > self.max_dates:
            raise ValueError(f"Presto takes at most {self.max_dates} dates per series, not {dates}.")
        month = self.month_embed(months.long())
        position = self.pos_embed[:, :dates].expand(count, -1, -1)
        out, start = [], 0
        for name, inputs in S1_S2_GROUPS:
            part = values[..., start:start + len(inputs)]
            start += len(inputs)
            code = self.channel_embed.weight[self._group_code[name]].expand(count, dates, -1)
            out.append(self.eo_patch_embed[name](part) + torch.cat([month, code, position], dim=-1))
        return torch.cat(out, dim=1)

    def encode_series(self, values: torch.Tensor, keep: torch.Tensor, months: torch.Tensor,
                      latlon: torch.Tensor) -> torch.Tensor:
        """Features (N, D) of N pixel series; ``keep`` (N, T, 7): the group's token of that date takes part."""
        tokens = self.tokens(values, months)
        kept = keep.permute(0, 2, 1)  # (N, 7, T): group-major, as the tokens
        used = kept.any(dim=2).any(dim=0)
        if bool(used.any()) and not bool(used.all()):  # a group no series keeps takes no part: its tokens left out
            count, dates = kept.shape[0], kept.shape[2]
            tokens = tokens.reshape(count, len(used), dates, -1)[:, used].reshape(count, -1, tokens.shape[-1])
            kept = kept[:, used]
        kept = kept.reshape(keep.shape[0], -1)
        place = self.latlon_embed(unit_sphere(latlon.to(values.device)))[:, None]
        x = torch.cat([place, tokens], dim=1)
        kept = torch.cat([torch.ones_like(kept[:, :1]), kept], dim=1)
        for block in self.blocks:
            x = block(x, kept)
        return self.norm(masked_mean(x, kept, dim=1))


def load_presto(path: Path, log: Callable[[str], None]) -> PrestoEncoder:
    """A PrestoEncoder with the release file's encoder weights, loaded strictly (ModelError naming the tensors of a
    file of another layout); the MAE decoder's tensors are said and not used."""
    state = read_state(path, "Presto", PRESTO_FIX)
    encoder = {key[len("encoder."):]: value for key, value in state.items() if key.startswith("encoder.")}
    decoder = [key for key in state if key.startswith("decoder.")]
    if not encoder:  # an encoder-only copy (no prefix)
        encoder = {key: value for key, value in state.items() if not key.startswith("decoder.")}
    sizes = dict(RELEASE_SIZES)
    if "latlon_embed.weight" in encoder:
        sizes["embed_dim"] = int(encoder["latlon_embed.weight"].shape[0])
        sizes["depth"] = len({key.split(".")[1] for key in encoder if key.startswith("blocks.")})
        if "blocks.0.mlp.fc1.weight" in encoder:
            sizes["mlp_ratio"] = encoder["blocks.0.mlp.fc1.weight"].shape[0] / sizes["embed_dim"]
        if "pos_embed" in encoder:
            sizes["max_dates"] = int(encoder["pos_embed"].shape[1])
    model = PrestoEncoder(**sizes)
    load_strict(model, encoder, "Presto", path, PRESTO_FIX)
    log(f"Presto release '{path.name}': {len(encoder)} encoder tensors loaded strictly (width {sizes['embed_dim']}, "
        f"{sizes['depth']} blocks); {len(decoder)} MAE decoder tensor(s) not used (they rebuild inputs).")
    return model
