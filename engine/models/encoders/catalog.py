"""Encoder names and their sizes (torch-free): what ``encoder=`` accepts and what each name builds.

``mit_*`` are SegFormer/MiT encoders (transformers ``SegformerModel``); ``resnet*``, ``convnext*``, ``swin*`` and
the DINOv3 ones are transformers backbones (``ResNetBackbone`` ... ``DINOv3ConvNextBackbone``,
``DINOv3ViTBackbone``); ``prithvi_*`` are the Prithvi-EO-2.0 releases (our own ViT, ``encoders.prithvi``);
``transformers`` is any transformers backbone given as ``pretrained`` (a folder or a hub id). Every encoder gives
four feature maps at strides 4/8/16/32 and takes any band count. ``tiny_*`` are small random-init sizes for tests
and CPU demos. ``checkpoint`` names the encoder's own pretrained checkpoint on the hub (``pretrained="imagenet"``,
or ``release``: the same word for the foundation encoders, whose weights are not from ImageNet).
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
    weights_file: str = ""  # a release's own weights file in the checkpoint repo (Prithvi's .pt)
    licence: str = ""  # of the pretrained weights, as their model card says

    @property
    def local(self) -> bool:
        """Convolutions only (no attention, no position embedding): its output at a pixel depends on a
        neighbourhood of it."""
        return self.kind in ("resnet", "convnext")

    @property
    def foundation(self) -> bool:
        """An Earth-observation or self-supervised foundation encoder (Prithvi, DINOv3, any transformers one)."""
        return self.kind in FOUNDATION_KINDS


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


FOUNDATION_KINDS = ("prithvi", "dinov3_convnext", "dinov3_vit", "transformers")
PRITHVI_REPO = "ibm-nasa-geospatial/Prithvi-EO-2.0-"
# The 6 HLS bands of Prithvi-EO-2.0 by common name, and the released mean/std (HLS reflectance x 10000)
PRITHVI_BANDS = ("blue", "green", "red", "nir08", "swir16", "swir22")
PRITHVI_MEAN = (1087.0, 1342.0, 1433.0, 2734.0, 1958.0, 1363.0)
PRITHVI_STD = (2248.0, 2179.0, 2178.0, 1850.0, 1242.0, 1049.0)
DINOV3_LICENCE = "DINOv3 License (gated: accept it on the model page)"


def _prithvi(size: str, embed: int, depth: int, heads: int, patch: int = 16, tl: bool = False) -> EncoderSpec:
    """A Prithvi-EO-2.0 release: its ViT sizes (time = 1 frame) and its weights file in the release repo."""
    suffix = "-TL" if tl else ""
    return EncoderSpec("prithvi", {"embed_dim": embed, "depth": depth, "num_heads": heads, "patch_size": patch,
                                   "coords": tl},
                       f"{PRITHVI_REPO}{size}{suffix}", f"Prithvi_EO_V2_{size}{suffix.replace('-', '_')}.pt",
                       "Apache-2.0")


def _dinov3_convnext(size: str, hidden: list[int], depths: list[int]) -> EncoderSpec:
    return EncoderSpec("dinov3_convnext", {"hidden_sizes": hidden, "depths": depths},
                       f"facebook/dinov3-convnext-{size}-pretrain-lvd1689m", licence=DINOV3_LICENCE)


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
    # Earth-observation and self-supervised foundation encoders (pretrained=release loads the checkpoint).
    "prithvi_eo2_tiny_tl": _prithvi("tiny", 192, 12, 3, tl=True),
    "prithvi_eo2_100m_tl": _prithvi("100M", 768, 12, 12, tl=True),
    "prithvi_eo2_300m": _prithvi("300M", 1024, 24, 16),
    "prithvi_eo2_300m_tl": _prithvi("300M", 1024, 24, 16, tl=True),
    "prithvi_eo2_600m": _prithvi("600M", 1280, 32, 16, patch=14),
    "prithvi_eo2_600m_tl": _prithvi("600M", 1280, 32, 16, patch=14, tl=True),
    "dinov3_convnext_tiny": _dinov3_convnext("tiny", [96, 192, 384, 768], [3, 3, 9, 3]),
    "dinov3_convnext_small": _dinov3_convnext("small", [96, 192, 384, 768], [3, 3, 27, 3]),
    "dinov3_convnext_base": _dinov3_convnext("base", [128, 256, 512, 1024], [3, 3, 27, 3]),
    "dinov3_vitl16_sat": EncoderSpec("dinov3_vit", {
        "hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096,
        "patch_size": 16, "num_register_tokens": 4, "layerscale_value": 1e-5},
        "facebook/dinov3-vitl16-pretrain-sat493m", licence=DINOV3_LICENCE),
    # any transformers backbone: its folder or hub id as pretrained fixes everything
    "transformers": EncoderSpec("transformers"),
    # Small random-init encoders for tests and CPU demos.
    "tiny_resnet": EncoderSpec("resnet", {"embedding_size": 16, "hidden_sizes": [16, 32, 64, 128],
                                          "depths": [1, 1, 1, 1], "layer_type": "basic"}),
    "tiny_convnext": EncoderSpec("convnext", {"hidden_sizes": [16, 32, 64, 128], "depths": [1, 1, 1, 1]}),
    "tiny_swin": EncoderSpec("swin", {"embed_dim": 16, "depths": [1, 1, 1, 1], "num_heads": [1, 2, 4, 8],
                                      "window_size": 4}),
    "tiny_mit": _mit([16, 32, 64, 128], [1, 1, 1, 1], [1, 1, 2, 4]),
    "tiny_prithvi": EncoderSpec("prithvi", {"embed_dim": 32, "depth": 4, "num_heads": 2, "patch_size": 16,
                                            "coords": True}, licence="Apache-2.0"),
    "tiny_dinov3_convnext": EncoderSpec("dinov3_convnext", {"hidden_sizes": [16, 32, 64, 128],
                                                            "depths": [1, 1, 1, 1]}),
    "tiny_dinov3_vit": EncoderSpec("dinov3_vit", {"hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 2,
                                                  "intermediate_size": 64, "patch_size": 16,
                                                  "num_register_tokens": 4}),
}
ENCODER_NAMES = tuple(ENCODERS)


def imagenet_checkpoint(name: str) -> str:
    """The hub id of the ImageNet checkpoint for encoder ``name`` or MiT preset ``name`` (b0..b2); "" when none."""
    spec = ENCODERS.get(name) or ENCODERS.get(f"mit_{name}")
    return spec.checkpoint if spec else ""


def takes_coords(model_cfg: Any) -> bool:
    """Whether a model config's encoder takes each tile's date and place (a Prithvi-EO-2.0 TL release's time and
    location encoders): the architecture a checkpoint fixed, else the catalog's sizes."""
    spec = ENCODERS.get(getattr(model_cfg, "encoder_name", None) or "")
    if spec is None or spec.kind != "prithvi":
        return False
    return bool((getattr(model_cfg, "encoder_config", None) or spec.sizes).get("coords", False))


def encoder_bands(name: str | None, pretrained: str | None) -> tuple[str, ...]:
    """The bands (common names) a pretrained encoder was trained on and must be fed by name; () for others."""
    spec = ENCODERS.get(name or "")
    return PRITHVI_BANDS if spec is not None and spec.kind == "prithvi" and pretrained else ()


def encoder_source(name: str | None, pretrained: str | None) -> str | None:
    """Where an encoder's pretrained weights came from, in words: the checkpoint's hub id (and release file and
    licence) for ``imagenet`` / ``release``, else ``pretrained`` itself; None for random initialisation."""
    if not pretrained:
        return None
    spec = ENCODERS.get(name or "") or ENCODERS.get(f"mit_{name}")
    if spec is not None and pretrained.strip().lower() in ("imagenet", "release") and spec.checkpoint:
        pretrained = spec.checkpoint
    if spec is None or pretrained != spec.checkpoint:
        return pretrained
    details = [d for d in (spec.weights_file, spec.licence) if d]
    return f"{pretrained} ({', '.join(details)})" if details else pretrained


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
