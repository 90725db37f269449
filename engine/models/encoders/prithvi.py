"""Prithvi-EO-2.0 (NASA/IBM, Apache-2.0) as a vision encoder: a ViT with a 3D patch embedding over one time step.

Written here from the release's description (TerraTorch's ``prithvi_mae.py`` read for the layer names, no code
taken): the parameter names are the release's encoder names without ``encoder.``, so an official weights file
(``Prithvi_EO_V2_300M.pt`` ...) loads strictly. The release is a masked autoencoder: its ``decoder.*`` weights (and
``mask_token``) rebuild pixels and are not used, said in the log; ``pos_embed`` is the fixed 3D sin-cos table,
recomputed as the release does (for its 224 px grid, bicubic to other grids). The TL releases' time and location
encoders add a sin-cos code of each tile's date and place where known (NaN: nothing added, as without them).

Features: the tokens after four evenly spaced blocks (the final norm applied), as maps at stride ``patch``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ModelError
from ..blocks import drop_path_or_identity
from .catalog import EncoderSpec

RELEASE_IMAGE = 224  # the grid the released sin-cos position table is made for


def _sincos(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """(N,) positions -> (N, dim) sin-cos code, in torch so an ONNX trace keeps it a function of its input."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=positions.dtype, device=positions.device) / (dim / 2.0))
    angles = positions.reshape(-1, 1) * omega.reshape(1, -1)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def sincos_3d(dim: int, frames: int, rows: int, cols: int) -> torch.Tensor:
    """(frames*rows*cols, dim) table: 6/16 of ``dim`` for the column, 6/16 for the row, 4/16 for time."""
    w_dim = h_dim = dim // 16 * 6
    w = _sincos(w_dim, torch.arange(cols, dtype=torch.float64)).repeat(frames * rows, 1)
    h = _sincos(h_dim, torch.arange(rows, dtype=torch.float64)).repeat_interleave(cols, dim=0).repeat(frames, 1)
    t = _sincos(dim // 16 * 4, torch.arange(frames, dtype=torch.float64)).repeat_interleave(rows * cols, dim=0)
    return torch.cat([w, h, t], dim=1).float()


class PatchEmbed(nn.Module):
    """``proj``: Conv3d over (time, row, col) patches of (1, p, p): (B, C, 1, H, W) -> (B, N, E)."""

    def __init__(self, channels: int, embed_dim: int, patch: int):
        super().__init__()
        self.proj = nn.Conv3d(channels, embed_dim, kernel_size=(1, patch, patch), stride=(1, patch, patch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        q, k, v = self.qkv(x).reshape(batch, tokens, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class Block(nn.Module):
    """Pre-norm transformer block (the release's names: norm1, attn, norm2, mlp.fc1/fc2 4x wide; LayerNorm eps 1e-5)."""

    def __init__(self, dim: int, heads: int, drop_path: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(OrderedDict(fc1=nn.Linear(dim, 4 * dim), act=nn.GELU(), fc2=nn.Linear(4 * dim, dim)))
        self.drop_path = drop_path_or_identity(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class CoordsEncoder(nn.Module):
    """The TL releases' time / location encoder (``temporal_embed_enc`` / ``location_embed_enc``): a learnt
    ``scale`` times a sin-cos code of two coordinates, half the width each: (year, day of year) or (latitude,
    longitude) in degrees. Added to every patch token (not the class token) of a sample whose coordinates are
    known; a sample with NaN coordinates gets nothing, as the release does when none are given."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((1,), 0.1))

    def forward(self, pair: torch.Tensor, dim: int) -> torch.Tensor:
        """(B, 2) coordinates -> (B, 1, dim); zeros for a sample with a NaN among them."""
        known = ~torch.isnan(pair).any(dim=1, keepdim=True)
        pair = torch.where(known, pair, torch.zeros_like(pair)).float()
        half = dim // 2
        code = torch.cat([_sincos(half, pair[:, 0]), _sincos(dim - half, pair[:, 1])], dim=1)
        return (self.scale * code * known.to(code.dtype)).unsqueeze(1)


COORDS = ("year", "day_of_year", "latitude", "longitude")  # a (B, 4) coords tensor's columns; NaN = unknown


class PrithviViT(nn.Module):
    """``model(x (B, C, H, W)) -> 4 maps (B, E, H/p, W/p)``; ``channels`` = [E] * 4."""

    def __init__(self, channels: int, embed_dim: int, depth: int, num_heads: int, patch_size: int = 16,
                 coords: bool = False, drop_path: float = 0.0):
        super().__init__()
        self.patch, self.embed_dim = patch_size, embed_dim
        self.sizes = {"embed_dim": embed_dim, "depth": depth, "num_heads": num_heads, "patch_size": patch_size,
                      "coords": coords}
        self.patch_embed = PatchEmbed(channels, embed_dim, patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.takes_coords = coords
        self.coords: torch.Tensor | None = None  # (B, 4) ``COORDS`` of the batch being run (set by the model)
        if coords:
            self.temporal_embed_enc = CoordsEncoder()
            self.location_embed_enc = CoordsEncoder()
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, drop_path * i / max(depth - 1, 1))
                                    for i in range(depth))
        self.norm = nn.LayerNorm(embed_dim)
        self.out_blocks = sorted({max(0, depth * k // 4 - 1) for k in range(1, 5)})
        self.channels = [embed_dim] * len(self.out_blocks)
        grid = RELEASE_IMAGE // patch_size
        self.register_buffer("base_pos", sincos_3d(embed_dim, 1, grid, grid), persistent=False)
        nn.init.normal_(self.cls_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        weight = self.patch_embed.proj.weight.data
        nn.init.xavier_uniform_(weight.view(weight.shape[0], -1))

    def position_table(self, rows: int, cols: int) -> torch.Tensor:
        """(1, rows*cols, E): the release's 224 px table, bicubic to this grid when it differs (as released)."""
        grid = RELEASE_IMAGE // self.patch
        if (rows, cols) == (grid, grid):
            return self.base_pos.unsqueeze(0)
        table = self.base_pos.reshape(1, grid, grid, -1).permute(0, 3, 1, 2)
        table = F.interpolate(table, size=(rows, cols), mode="bicubic", align_corners=True)
        return table.permute(0, 2, 3, 1).reshape(1, rows * cols, -1)

    def forward(self, x: torch.Tensor, coords: torch.Tensor | None = None) -> list[torch.Tensor]:
        """``coords``: (B, 4) ``COORDS``, NaN where unknown; default: the model's for this batch (TL releases only)."""
        height, width = x.shape[-2:]
        if height % self.patch or width % self.patch:  # 14 px patches: resample to whole patches
            height, width = (math.ceil(s / self.patch) * self.patch for s in (height, width))
            x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
        rows, cols = height // self.patch, width // self.patch
        tokens = self.patch_embed(x.unsqueeze(2)) + self.position_table(rows, cols)
        coords = self.coords if coords is None else coords
        if coords is not None and self.takes_coords:
            coords = coords.to(tokens.device)
            tokens = tokens + self.temporal_embed_enc(coords[:, :2], self.embed_dim)
            tokens = tokens + self.location_embed_enc(coords[:, 2:], self.embed_dim)
        tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        maps = []
        for index, block in enumerate(self.blocks):
            tokens = block(tokens)
            if index in self.out_blocks:
                out = self.norm(tokens[:, 1:])
                maps.append(out.transpose(1, 2).reshape(x.shape[0], self.embed_dim, rows, cols))
        return maps


IGNORED = ("decoder.", "mask_token", "encoder.pos_embed", "pos_embed")


def read_release(path: Path) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(encoder state dict with the module's names, the release keys not used) of a release weights file: an
    MAE-format one (``encoder.*`` + ``decoder.*``) or an encoder-only one (no prefix)."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - pickle, zip and safetensors errors alike
        raise ModelError(f"Prithvi weights file '{path}' cannot be read ({str(exc).splitlines()[0][:200]}); download "
                         f"the release's .pt file again.") from exc
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ModelError(f"Prithvi weights file '{path}' holds no state dict; pass the release's .pt file.")
    encoder, ignored = {}, []
    for key, value in state.items():
        key = str(key).replace("_timm_module.", "")
        if key.startswith(IGNORED):
            ignored.append(key)
            continue
        encoder[key[len("encoder."):] if key.startswith("encoder.") else key] = value
    wrong = [key for key, value in encoder.items() if not isinstance(value, torch.Tensor)]
    if wrong:
        raise ModelError(f"Prithvi weights file '{path}' holds {len(wrong)} entr{'y' if len(wrong) == 1 else 'ies'} "
                         f"that {'is' if len(wrong) == 1 else 'are'} no tensor ({', '.join(wrong[:3])}: "
                         f"{type(encoder[wrong[0]]).__name__}): it is no Prithvi-EO-2.0 release. Download the "
                         f"release's .pt file again (Prithvi_EO_V2_*.pt from an ibm-nasa-geospatial repository).")
    return encoder, ignored


def sizes_of(state: dict[str, torch.Tensor], spec: EncoderSpec) -> dict[str, Any]:
    """The ViT sizes a release state dict holds (width, depth, patch, TL); heads from the spec when the width is
    the spec's, else 64 per head."""
    weight = state.get("patch_embed.proj.weight")
    if weight is None or weight.ndim != 5:
        raise ModelError("The weights file has no 'encoder.patch_embed.proj.weight' (a 3D patch embedding): it is "
                         "not a Prithvi-EO release; pass Prithvi_EO_V2_*.pt from an ibm-nasa-geospatial repo.")
    embed = int(weight.shape[0])
    depth = len({k.split(".")[1] for k in state if k.startswith("blocks.")})
    heads = spec.sizes.get("num_heads") if spec.sizes.get("embed_dim") == embed else max(1, embed // 64)
    return {"embed_dim": embed, "depth": depth, "num_heads": int(heads), "patch_size": int(weight.shape[-1]),
            "coords": "temporal_embed_enc.scale" in state, "channels": int(weight.shape[1])}


def release_file(source: str, file: str, log: Callable[[str], None]) -> Path:
    """The weights file ``source`` names: a local file, a folder holding the release file ``file`` (or one .pt), or
    a hub id whose release file (``file``, the record's, else the repo name's) is fetched into the HF cache."""
    from ..hub import fetch_file
    from .weights import is_hub_id

    path = Path(source).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        named = path / file if file else None
        found = [named] if named and named.is_file() else sorted(path.glob("*.pt")) + sorted(path.glob("*.pth"))
        if len(found) != 1:
            raise ModelError(f"Prithvi folder '{source}' holds {len(found)} weights files ({[p.name for p in found]}); "
                             f"pass the release's .pt file itself.")
        return found[0]
    if not is_hub_id(source):
        raise ModelError(f"Prithvi weights '{source}' are neither a file, a folder nor a hub id; pass a release such "
                         f"as {PRITHVI_EXAMPLE}, its .pt file, or release for the encoder's own.")
    name = file or f"Prithvi_EO_V2_{source.split('Prithvi-EO-2.0-')[-1].replace('-', '_')}.pt"
    return fetch_file(source, name, log)


PRITHVI_EXAMPLE = "ibm-nasa-geospatial/Prithvi-EO-2.0-300M"


def load_release(path: Path, spec: EncoderSpec, drop_path: float,
                 log: Callable[[str], None]) -> tuple[PrithviViT, dict[str, Any]]:
    """A PrithviViT with a release file's weights, loaded strictly (ModelError naming missing/unexpected keys)."""
    state, ignored = read_release(path)
    sizes = sizes_of(state, spec)
    channels = sizes.pop("channels")
    model = PrithviViT(channels, drop_path=drop_path, **sizes)
    expected = model.state_dict()
    shapes = [f"{key} {tuple(value.shape)} (the encoder's is {tuple(expected[key].shape)})"
              for key, value in state.items() if key in expected and value.shape != expected[key].shape]
    if shapes:
        raise ModelError(f"Prithvi weights file '{path}' does not fit the Prithvi-EO-2.0 encoder its patch embedding "
                         f"describes (width {sizes['embed_dim']}, {sizes['depth']} blocks): {len(shapes)} tensor(s) "
                         f"of another shape, e.g. {'; '.join(shapes[:2])}. The file is damaged or of another model: "
                         f"download the release's Prithvi_EO_V2_*.pt again.")
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ModelError(f"Prithvi weights file '{path}' does not fit the Prithvi-EO-2.0 encoder: missing "
                         f"{result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}; pass an official "
                         f"Prithvi_EO_V2_*.pt release file.")
    decoder = sum(k.startswith("decoder.") or k == "mask_token" for k in ignored)
    log(f"Prithvi release '{path.name}': {len(state)} encoder tensors loaded strictly (width {sizes['embed_dim']}, "
        f"{sizes['depth']} blocks, patch {sizes['patch_size']}); {decoder} MAE decoder tensor(s) not used (they "
        f"rebuild pixels), the position table recomputed as the release does"
        + ("; time/location encoders loaded (applied where a tile's date and place are known)"
           if sizes["coords"] else "")
        + ".")
    return model, sizes
