"""Encoder names and their sizes (torch-free): what ``encoder=`` accepts and what each name builds.

``mit_*`` are SegFormer/MiT encoders (transformers ``SegformerModel``); the others are transformers
``AutoBackbone`` models (``ResNetBackbone``, ``ConvNextBackbone``, ``SwinBackbone``). Every encoder gives four
feature maps at strides 4/8/16/32 and takes any band count. ``tiny_*`` are small random-init sizes for tests and
CPU demos. ``checkpoint`` names the encoder's ImageNet checkpoint on the hub (``pretrained="imagenet"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...settings import check

MIT_SIZE_KEYS = ("hidden_sizes", "depths", "num_attention_heads", "sr_ratios", "mlp_ratios")


@dataclass(frozen=True)
class EncoderSpec:
    """One named encoder: its kind (mit / resnet / convnext / swin) and transformers config sizes."""

    kind: str
    sizes: dict[str, Any] = field(default_factory=dict)
    checkpoint: str = ""


@dataclass(frozen=True)
class MiTPreset:
    """SegFormer/MiT sizes of a family preset (families add their decoder widths in a subclass)."""

    hidden_sizes: tuple[int, ...]
    depths: tuple[int, ...]
    num_attention_heads: tuple[int, ...]
    sr_ratios: tuple[int, ...] = (8, 4, 2, 1)
    mlp_ratios: tuple[int, ...] = (4, 4, 4, 4)

    def encoder_sizes(self) -> dict[str, list[int]]:
        return {"hidden_sizes": list(self.hidden_sizes), "depths": list(self.depths),
                "num_attention_heads": list(self.num_attention_heads), "sr_ratios": list(self.sr_ratios),
                "mlp_ratios": list(self.mlp_ratios)}


def _mit(hidden: list[int], depths: list[int], heads: list[int], checkpoint: str = "") -> EncoderSpec:
    return EncoderSpec("mit", {"hidden_sizes": hidden, "depths": depths, "num_attention_heads": heads,
                               "sr_ratios": [8, 4, 2, 1], "mlp_ratios": [4, 4, 4, 4]}, checkpoint)


ENCODERS: dict[str, EncoderSpec] = {
    "resnet18": EncoderSpec("resnet", {"embedding_size": 64, "hidden_sizes": [64, 128, 256, 512],
                                       "depths": [2, 2, 2, 2], "layer_type": "basic"}, "microsoft/resnet-18"),
    "resnet50": EncoderSpec("resnet", {"embedding_size": 64, "hidden_sizes": [256, 512, 1024, 2048],
                                       "depths": [3, 4, 6, 3], "layer_type": "bottleneck"}, "microsoft/resnet-50"),
    "convnext_tiny": EncoderSpec("convnext", {"hidden_sizes": [96, 192, 384, 768], "depths": [3, 3, 9, 3]},
                                 "facebook/convnext-tiny-224"),
    "swin_tiny": EncoderSpec("swin", {"embed_dim": 96, "depths": [2, 2, 6, 2], "num_heads": [3, 6, 12, 24],
                                      "window_size": 7}, "microsoft/swin-tiny-patch4-window7-224"),
    "mit_b0": _mit([32, 64, 160, 256], [2, 2, 2, 2], [1, 2, 5, 8], "nvidia/mit-b0"),
    "mit_b1": _mit([64, 128, 320, 512], [2, 2, 2, 2], [1, 2, 5, 8], "nvidia/mit-b1"),
    "mit_b2": _mit([64, 128, 320, 512], [3, 4, 6, 3], [1, 2, 5, 8], "nvidia/mit-b2"),
    # Small random-init encoders for tests and CPU demos.
    "tiny_resnet": EncoderSpec("resnet", {"embedding_size": 16, "hidden_sizes": [16, 32, 64, 128],
                                          "depths": [1, 1, 1, 1], "layer_type": "basic"}),
    "tiny_convnext": EncoderSpec("convnext", {"hidden_sizes": [16, 32, 64, 128], "depths": [1, 1, 1, 1]}),
    "tiny_swin": EncoderSpec("swin", {"embed_dim": 16, "depths": [1, 1, 1, 1], "num_heads": [1, 2, 4, 8],
                                      "window_size": 4}),
    "tiny_mit": _mit([16, 32, 64, 128], [1, 1, 1, 1], [1, 1, 2, 4]),
}
ENCODER_NAMES = tuple(ENCODERS)


def imagenet_checkpoint(name: str) -> str:
    """The hub id of the ImageNet checkpoint for encoder ``name`` or MiT preset ``name`` (b0..b2); "" when none."""
    spec = ENCODERS.get(name) or ENCODERS.get(f"mit_{name}")
    return spec.checkpoint if spec else ""


def check_mit_sizes(sizes: dict[str, list[int]] | None, field: str) -> dict[str, list[int]] | None:
    """Validate explicit SegFormer/MiT sizes (4 positive ints per key); returns them as int lists."""
    if sizes is None:
        return None
    check(isinstance(sizes, dict), f"{field} must be a mapping of SegFormer sizes.")
    unknown = sorted(set(sizes) - set(MIT_SIZE_KEYS))
    check(not unknown, f"{field} has unknown key(s) {unknown}; valid keys are {list(MIT_SIZE_KEYS)}.")
    check(all(k in sizes for k in MIT_SIZE_KEYS[:3]),
           f"{field} needs at least {list(MIT_SIZE_KEYS[:3])} (got {sorted(sizes)}).")
    sizes = {k: [int(v) for v in vals] for k, vals in sizes.items()}
    check(all(len(v) == 4 and min(v) >= 1 for v in sizes.values()),
           f"{field} sizes must be 4 positive integers each (got {sizes}).")
    return sizes


def check_encoder_name(name: str, allowed: tuple[str, ...] | None = None) -> None:
    """ConfigError listing the valid encoder names when ``name`` is not one of them."""
    valid = list(allowed if allowed is not None else ENCODER_NAMES)
    check(name in valid, f"encoder '{name}' is unknown; valid encoders are {valid}.")
