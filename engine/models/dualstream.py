"""DualStream-DFormer: SegFormer vision encoder + ConvNeXt aux encoder, fused at four scales.

Structure (B1 default, 512x512 vision tile, 48x64x64 aux):
- vision: SegFormer/MiT -> f1..f4 with 64/128/320/512 channels at strides 4/8/16/32;
- aux: ConvNeXt encoder -> maps with the same channels at the same strides;
- fusion: FiLM + dynamic gate at stages 1-2, cross-attention (vision queries, aux keys/values) at stages 3-4;
- decoder: ASPP on f4, attention-gated skips f3/f2/f1 each refined by 1x1 + ConvNeXt blocks, two up-convs to full
  resolution, 1x1 classifier; deep-supervision heads on the f3 and f2 decoder stages.
``aux_channels=0`` builds the vision-only variant: no aux encoder and no fusion blocks.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..callbacks import Callback
from ..config import ModelConfig
from ..errors import ModelError
from .blocks import ASPP, AuxConvNeXtEncoder, CrossAttentionFusion, GatedFiLMFusion, GatedSkipStage, UpConv
from .pretrained import adapt_input_channels, build_segformer, encoder_sizes, load_segformer

logger = logging.getLogger("dualstream")


@dataclass(frozen=True)
class Preset:
    """Encoder sizes (SegFormer MiT) and the matching decoder widths."""

    hidden_sizes: tuple[int, ...]
    depths: tuple[int, ...]
    num_attention_heads: tuple[int, ...]
    sr_ratios: tuple[int, ...] = (8, 4, 2, 1)
    mlp_ratios: tuple[int, ...] = (4, 4, 4, 4)
    aux_blocks: int = 2  # ConvNeXt blocks per aux encoder stage
    decoder_blocks: int = 2  # ConvNeXt blocks per decoder refinement stage
    aspp_channels: int = 256
    refine_channels: tuple[int, int, int] = (256, 256, 128)  # after the f3, f2, f1 stages
    skip_channels: int = 64  # width of the reduced skips f3, f2, f1
    up_channels: tuple[int, int] = (64, 32)  # the two up-convs to full resolution
    fusion_heads: int = 8

    def encoder_sizes(self) -> dict[str, list[int]]:
        return {"hidden_sizes": list(self.hidden_sizes), "depths": list(self.depths),
                "num_attention_heads": list(self.num_attention_heads), "sr_ratios": list(self.sr_ratios),
                "mlp_ratios": list(self.mlp_ratios)}


PRESETS: dict[str, Preset] = {
    # For tests and the CPU demo: trains in minutes.
    "tiny": Preset((16, 32, 64, 128), (1, 1, 1, 1), (1, 1, 2, 4), aux_blocks=1, decoder_blocks=1, aspp_channels=32,
                   refine_channels=(32, 32, 16), skip_channels=16, up_channels=(16, 8), fusion_heads=4),
    "b0": Preset((32, 64, 160, 256), (2, 2, 2, 2), (1, 2, 5, 8), aspp_channels=128, refine_channels=(128, 128, 64),
                 skip_channels=32, up_channels=(32, 16)),
    # The reference configuration.
    "b1": Preset((64, 128, 320, 512), (2, 2, 2, 2), (1, 2, 5, 8)),
    "b2": Preset((64, 128, 320, 512), (3, 4, 6, 3), (1, 2, 5, 8)),
}

STRIDES = (4, 8, 16, 32)


class DualStreamDecoder(nn.Module):
    """ASPP + attention-gated skips with ConvNeXt refinement + up-convs; deep-supervision heads on f3 and f2."""

    def __init__(self, in_channels: list[int], num_classes: int, preset: Preset, dropout: float, drop_path: float):
        super().__init__()
        c1, c2, c3, c4 = in_channels
        r3, r2, r1 = preset.refine_channels
        skip, blocks = preset.skip_channels, preset.decoder_blocks
        self.aspp = ASPP(c4, preset.aspp_channels)
        self.stage3 = GatedSkipStage(preset.aspp_channels, c3, skip, r3, blocks, drop_path)
        self.stage2 = GatedSkipStage(r3, c2, skip, r2, blocks, drop_path)
        self.stage1 = GatedSkipStage(r2, c1, skip, r1, blocks, drop_path)
        self.up1 = UpConv(r1, preset.up_channels[0])
        self.up2 = UpConv(preset.up_channels[0], preset.up_channels[1])
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Conv2d(preset.up_channels[1], num_classes, kernel_size=1)
        self.aux_head_f3 = nn.Conv2d(r3, num_classes, kernel_size=1)
        self.aux_head_f2 = nn.Conv2d(r2, num_classes, kernel_size=1)

    def forward(self, features: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        f1, f2, f3, f4 = features
        x = self.aspp(f4)  # (B, aspp, H/32, W/32)
        x3 = self.stage3(x, f3)  # (B, r3, H/16, W/16)
        x2 = self.stage2(x3, f2)  # (B, r2, H/8, W/8)
        x1 = self.stage1(x2, f1)  # (B, r1, H/4, W/4)
        x = self.up2(self.up1(x1))  # (B, up[1], H, W)
        logits = self.classifier(self.dropout(x))  # (B, classes, H, W)
        return logits, [self.aux_head_f2(x2), self.aux_head_f3(x3)]


class DualStreamModel(nn.Module):
    """The flagship model. Call with ``pixel_values`` (B, Cv, H, W) and ``air_values`` (B, Ca, H/r, W/r) or None.

    Returns ``{"logits": (B, classes, H, W)}``, plus ``"aux_logits": [f2_logits, f3_logits]`` (at strides 8 and
    16) in training mode. ``model.config`` is the ModelConfig it was built from (with ``vision_encoder`` filled
    in when a pretrained checkpoint fixed the encoder sizes).
    """

    def __init__(self, config: ModelConfig, callback: Callback | None = None):
        super().__init__()
        callback = callback or Callback()
        preset = PRESETS[config.preset]
        sizes = preset.encoder_sizes()
        if config.vision_encoder:
            sizes.update(config.vision_encoder)
        self.pretrained_source: str | None = None
        if config.pretrained:
            self.vision_encoder, where = load_segformer(config.pretrained, config.drop_path, callback.info)
            loaded = encoder_sizes(self.vision_encoder.config)
            if loaded != sizes:
                callback.info(f"The checkpoint's encoder sizes {loaded} override preset '{config.preset}' "
                              f"({sizes}); the aux encoder and fusion follow them.")
            sizes = loaded
            what = adapt_input_channels(self.vision_encoder, config.vision_channels)
            self.pretrained_source = where
            callback.info(f"Loaded pretrained vision weights from {where}; {what}.")
        else:
            self.vision_encoder = build_segformer(sizes, config.vision_channels, config.drop_path)
            callback.info(f"Vision encoder randomly initialised (preset '{config.preset}', no pretrained weights "
                          f"given): expect slower training than from a pretrained SegFormer checkpoint.")
        if sizes != preset.encoder_sizes():
            config = config.replace(vision_encoder=sizes)
        self.config = config
        channels = list(sizes["hidden_sizes"])
        self.feature_channels = channels

        if config.aux_channels > 0:
            self.aux_encoder: AuxConvNeXtEncoder | None = AuxConvNeXtEncoder(
                config.aux_channels, channels, blocks=preset.aux_blocks, drop_path=config.drop_path)
            self.fusion = nn.ModuleList([
                GatedFiLMFusion(channels[0], channels[0], drop_path=config.drop_path),
                GatedFiLMFusion(channels[1], channels[1], drop_path=config.drop_path),
                CrossAttentionFusion(channels[2], channels[2], preset.fusion_heads, drop_path=config.drop_path),
                CrossAttentionFusion(channels[3], channels[3], preset.fusion_heads, drop_path=config.drop_path),
            ])
        else:
            self.aux_encoder = None
            self.fusion = None
        self.decoder = DualStreamDecoder(channels, config.num_classes, preset, config.dropout, config.drop_path)

    # ------------------------------------------------------------------ contract helpers
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Disjoint parameter groups for differential learning rates: vision encoder, aux encoder, head."""
        vision = list(self.vision_encoder.parameters())
        aux = list(self.aux_encoder.parameters()) if self.aux_encoder is not None else []
        taken = {id(p) for p in vision + aux}
        head = [p for p in self.parameters() if id(p) not in taken]
        return {"vision": vision, "aux": aux, "head": head}

    def set_encoders_frozen(self, frozen: bool) -> None:
        """Freeze (``requires_grad=False``) or unfreeze both encoders; fusion and decoder stay trainable."""
        for module in (self.vision_encoder, self.aux_encoder):
            if module is not None:
                for param in module.parameters():
                    param.requires_grad_(not frozen)

    @property
    def size_multiple(self) -> int:
        """Vision H and W must be multiples of this (32, and of aux_ratio when there is an aux stream)."""
        if self.aux_encoder is None:
            return 32
        return 32 * self.config.aux_ratio // math.gcd(32, self.config.aux_ratio)

    def _check_inputs(self, pixel_values: Any, air_values: Any) -> None:
        cfg = self.config
        if not isinstance(pixel_values, torch.Tensor) or pixel_values.ndim != 4:
            shape = tuple(pixel_values.shape) if isinstance(pixel_values, torch.Tensor) else type(pixel_values).__name__
            raise ModelError(f"pixel_values must be a (batch, {cfg.vision_channels}, height, width) tensor, "
                             f"got {shape}.")
        _, channels, height, width = pixel_values.shape
        if channels != cfg.vision_channels:
            raise ModelError(f"pixel_values has {channels} band(s) but the model was built for {cfg.vision_channels} "
                             f"vision band(s); select the same bands the model was trained on.")
        multiple = self.size_multiple
        for name, size in (("height", height), ("width", width)):
            if size % multiple or size == 0:
                low, high = (size // multiple) * multiple, (size // multiple + 1) * multiple
                valid = f"{low} or {high}" if low else f"{high}"
                raise ModelError(f"Vision tile {name} {size} is not a multiple of {multiple}; use {valid} "
                                 f"(any multiple of {multiple} works).")
        if self.aux_encoder is None:
            if air_values is not None:
                raise ModelError("air_values given to a vision-only model (aux_channels=0); pass air_values=None or "
                                 "build the model with aux_channels set to the number of aux bands.")
            return
        if air_values is None:
            raise ModelError(f"This model fuses {cfg.aux_channels} aux channel(s) but air_values is missing; pass the "
                             f"aux rasters, or use a model built with aux_channels=0 for imagery only.")
        expected = (pixel_values.shape[0], cfg.aux_channels, height // cfg.aux_ratio, width // cfg.aux_ratio)
        if not isinstance(air_values, torch.Tensor) or tuple(air_values.shape) != expected:
            got = tuple(air_values.shape) if isinstance(air_values, torch.Tensor) else type(air_values).__name__
            raise ModelError(f"air_values must have shape {expected} (batch, aux channels, H/{cfg.aux_ratio}, "
                             f"W/{cfg.aux_ratio}) = (H/r, W/r) = ({expected[2]}, {expected[3]}) for a {height}x{width} "
                             f"vision tile, got {got}.")

    # ------------------------------------------------------------------ forward
    def forward(self, pixel_values: torch.Tensor, air_values: torch.Tensor | None = None) -> dict[str, Any]:
        self._check_inputs(pixel_values, air_values)
        # (B, Cv, H, W) -> 4 maps (B, C_i, H/s, W/s), s = 4, 8, 16, 32
        features = list(self.vision_encoder(pixel_values=pixel_values, output_hidden_states=True).hidden_states)
        if self.aux_encoder is not None and self.fusion is not None:
            # (B, Ca, H/r, W/r) -> 4 maps with the vision maps' shapes
            air = self.aux_encoder(air_values, size=tuple(features[1].shape[-2:]))
            features = [fuse(vis, aux) for fuse, vis, aux in zip(self.fusion, features, air)]
        logits, aux_logits = self.decoder(features)  # (B, classes, H, W); [(B, classes, H/8, W/8), (.., H/16, W/16)]
        out: dict[str, Any] = {"logits": logits}
        if self.training:
            out["aux_logits"] = aux_logits
        return out
