"""Named encoders (``encoders.catalog``) as modules giving four maps at strides 4/8/16/32, for any band count.

``mit_*`` build a SegFormer/MiT (``encoders.mit``); ``resnet*``, ``convnext*`` and ``swin*`` build the
transformers backbones (``ResNetBackbone``, ``ConvNextBackbone``, ``SwinBackbone``). Pretrained weights load from
a local ``save_pretrained`` folder, an HF cache folder, a hub id or ``imagenet`` (the catalog's checkpoint), the
last two fetched once into the Hugging Face cache (``engine.models.hub``); the first conv is then adapted to the
band count as for SegFormer (RGB kernels kept, extra bands = their mean). Random init is said in the log.
"""

from __future__ import annotations

import json
from typing import Callable

import torch
from torch import nn

from ...errors import ModelError
from ...runtime.environment import require
from ..hub import named_source
from ..pretrained import adapt_conv, local_checkpoint, quiet_transformers
from .catalog import ENCODERS, EncoderSpec
from .mit import make_mit, mit_features

OUT_FEATURES = ["stage1", "stage2", "stage3", "stage4"]
_CONFIG_CLASS = {"resnet": "ResNetConfig", "convnext": "ConvNextConfig", "swin": "SwinConfig"}
# The concrete classes, not AutoBackbone.from_pretrained: that one asks the hub whether a local path is a repo.
_BACKBONE_CLASS = {"resnet": "ResNetBackbone", "convnext": "ConvNextBackbone", "swin": "SwinBackbone"}


def encoder_spec(name: str) -> EncoderSpec:
    """The catalog entry of ``name``; KeyError listing the valid names."""
    if name not in ENCODERS:
        raise KeyError(f"Unknown encoder '{name}'; valid encoders are {list(ENCODERS)}.")
    return ENCODERS[name]


def _build_backbone(spec: EncoderSpec, channels: int, drop_path: float) -> nn.Module:
    transformers = require("transformers")
    extra = {"drop_path_rate": drop_path} if spec.kind in ("convnext", "swin") else {}
    config = getattr(transformers, _CONFIG_CLASS[spec.kind])(num_channels=channels, out_features=OUT_FEATURES,
                                                             **spec.sizes, **extra)
    return transformers.AutoBackbone.from_config(config)


def _load_backbone(source: str, spec: EncoderSpec, name: str, log: Callable[[str], None]) -> tuple[nn.Module, str]:
    """A pretrained backbone from a folder, the HF cache or the hub; ModelError naming the source and the fix."""
    transformers = require("transformers")
    source = named_source(source, spec.checkpoint, name)
    folder, where = local_checkpoint(source, log)
    try:
        model_type = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, json.JSONDecodeError, AttributeError) as exc:
        raise ModelError(f"Pretrained checkpoint '{source}': config.json cannot be read ({exc}); re-save the "
                         f"checkpoint with save_pretrained.") from exc
    if model_type != spec.kind:
        example = spec.checkpoint or "one written by save_pretrained"
        raise ModelError(f"Pretrained checkpoint '{source}' is a '{model_type}' model but encoder '{name}' is a "
                         f"{spec.kind} one; pass a {spec.kind} checkpoint (e.g. {example}) or pick the encoder "
                         f"that matches the checkpoint.")
    try:
        with quiet_transformers():
            model = getattr(transformers, _BACKBONE_CLASS[spec.kind]).from_pretrained(
                str(folder), out_features=OUT_FEATURES, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelError(f"Pretrained encoder '{source}' could not be loaded ({str(exc).splitlines()[0][:200]}); "
                         f"pass a complete checkpoint folder written by save_pretrained.") from exc
    return model, where


def _adapt_first_conv(model: nn.Module, channels: int) -> str:
    """Replace the backbone's first conv by one for ``channels`` bands; update every ``num_channels`` record."""
    first = next((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d))
    name, old = first
    if old.in_channels == channels:
        return f"first conv kept ({channels} input channels)"
    new, how = adapt_conv(old, channels)
    parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
    setattr(parent, name.rsplit(".", 1)[-1], new)
    for module in model.modules():  # embeddings that check the band count against their own record
        if getattr(module, "num_channels", None) == old.in_channels:
            module.num_channels = channels
    model.config.num_channels = channels
    return f"first conv adapted from {old.in_channels} to {channels} input channels ({how})"


class Encoder(nn.Module):
    """``encoder(x (B, C, H, W)) -> [f1, f2, f3, f4]`` at strides 4/8/16/32; ``channels`` = their widths."""

    def __init__(self, name: str, in_channels: int, pretrained: str | None = None, drop_path: float = 0.0,
                 log: Callable[[str], None] | None = None, role: str = "vision"):
        super().__init__()
        log = log or (lambda message: None)
        spec = encoder_spec(name)
        self.name, self.kind = name, spec.kind
        self.source: str | None = None
        if spec.kind == "mit":
            self.backbone, sizes, self.source = make_mit(dict(spec.sizes), in_channels, drop_path, pretrained, log,
                                                         what=role, preset=name)
            self.channels = list(sizes["hidden_sizes"])
            return
        if pretrained:
            self.backbone, self.source = _load_backbone(pretrained, spec, name, log)
            adapted = _adapt_first_conv(self.backbone, in_channels)
            log(f"Loaded pretrained {role} encoder weights ({name}) from {self.source}; {adapted}.")
        else:
            self.backbone = _build_backbone(spec, in_channels, drop_path)
            such = f" such as {spec.checkpoint}" if spec.checkpoint else ""
            log(f"{role.capitalize()} encoder '{name}' randomly initialised (no pretrained weights given): expect "
                f"slower training than from a pretrained checkpoint{such}.")
        self.channels = [int(c) for c in self.backbone.channels]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.kind == "mit":
            return mit_features(self.backbone, x)
        return list(self.backbone(x).feature_maps)
