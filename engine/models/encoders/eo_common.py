"""What the Presto and Galileo encoders share: their fixed month table, the pre-norm transformer block's MLP, a
masked mean, reading a release file and loading it strictly by tensor name.

Both releases (nasaharvest, MIT) are timm-style ViT blocks over tokens of band groups; our modules are written here
from their descriptions (their code read for layer names and behaviour, none taken).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from ...errors import ModelError


def month_table(width: int) -> torch.Tensor:
    """(12, width): the releases' fixed month code, sin of the month's angle (2 pi m / 12) in the first half of the
    width, its cos in the second (the same angle repeated across each half)."""
    angles = torch.arange(12, dtype=torch.float32) * (2 * math.pi / 12)
    half = width // 2
    return torch.cat([angles.sin()[:, None].expand(12, half), angles.cos()[:, None].expand(12, half)], dim=1)


def mlp(width: int, ratio: float) -> nn.Sequential:
    """``fc1`` -> GELU -> ``fc2`` (the releases' names)."""
    hidden = int(width * ratio)
    return nn.Sequential(OrderedDict(fc1=nn.Linear(width, hidden), act=nn.GELU(), fc2=nn.Linear(hidden, width)))


def unit_sphere(latlon: torch.Tensor) -> torch.Tensor:
    """(N, 2) latitude, longitude in degrees -> (N, 3) x, y, z on the unit sphere (Presto's and Galileo's location
    input)."""
    lat, lon = (latlon.float() * (math.pi / 180)).unbind(-1)
    return torch.stack([lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()], dim=-1)


def masked_mean(tokens: torch.Tensor, keep: torch.Tensor, dim: int) -> torch.Tensor:
    """Mean of ``tokens`` over ``dim`` where ``keep`` (tokens' shape without the last) is True; zeros where none."""
    weight = keep.to(tokens.dtype).unsqueeze(-1)
    count = weight.sum(dim=dim)
    return (tokens * weight).sum(dim=dim) / count.clamp(min=1.0)


#: Added to a left-out key's score: its weight is exp(-1e4) = 0, in float32 and bfloat16 alike.
LEFT_OUT = -1e4


def key_mask(keep: torch.Tensor, heads: int, dtype: torch.dtype) -> torch.Tensor:
    """(B, N) keys kept -> the (B, heads, 1, N) additive ``attn_mask`` of scaled_dot_product_attention (``dtype``:
    the queries'). Additive, not boolean: ONNX exports a boolean mask with a NaN guard over every attention weight,
    which made onnxruntime run Galileo 4x slower than torch; a finite mask needs none."""
    mask = torch.zeros(keep.shape, dtype=dtype, device=keep.device).masked_fill(~keep, LEFT_OUT)
    return mask[:, None, None, :].expand(-1, heads, 1, -1)


def read_state(path: Path, title: str, fix: str) -> dict[str, torch.Tensor]:
    """The state dict of a release ``.pt`` file (``weights_only``: never unpickles code); ModelError naming the file
    and ``fix`` when it cannot be read or holds something else."""
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - pickle, zip and I/O errors alike
        raise ModelError(f"{title} weights file '{path}' cannot be read ({str(exc).splitlines()[0][:200]}); {fix}") \
            from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{title} weights file '{path}' holds no state dict of tensors; {fix}")
    return {str(key): value for key, value in state.items()}


def load_strict(model: nn.Module, state: dict[str, torch.Tensor], title: str, path: Path, fix: str) -> None:
    """``state`` into ``model``, every tensor by name and shape: ModelError naming the missing, unexpected and
    misshapen tensors (a file of another layout is refused by name, never loaded in part)."""
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    shapes = [f"{key} {tuple(state[key].shape)} (ours {tuple(expected[key].shape)})"
              for key in expected if key in state and state[key].shape != expected[key].shape]
    if missing or unexpected or shapes:
        said = [f"{len(found)} {what} (e.g. {', '.join(found[:3])})" for what, found in
                (("missing", missing), ("unexpected", unexpected), ("of another shape", shapes)) if found]
        raise ModelError(f"{title} weights file '{path}' is not of the {title} layout: {'; '.join(said)} tensor(s). "
                         f"{fix}")
    model.load_state_dict(state, strict=True)
