"""Encoder names and their sizes (torch-free): what ``encoder=`` accepts and what each name builds.

``mit_*`` are SegFormer/MiT encoders; ``resnet*``, ``convnext*``, ``swin*`` and the DINOv3 ones transformers
backbones; ``prithvi_*`` the Prithvi-EO-2.0 releases (our own ViT); ``galileo_*`` the Galileo releases (our own;
Sentinel-2's ten bands by name, no other count); ``transformers`` any transformers backbone given as ``pretrained``;
``tiny_*`` small random-init sizes for tests and CPU demos. Every encoder gives four maps at strides 4/8/16/32 and
takes any band count but Galileo. Architectures only: the weights are records of ``encoders.weights``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...declarations import check

MIT_SIZE_KEYS = ("hidden_sizes", "depths", "num_attention_heads", "sr_ratios", "mlp_ratios")
# Sentinel-2's ten 10/20 m bands as common names (B02..B08, B8A, B11, B12): Galileo's, by name
SENTINEL2 = ("blue", "green", "red", "rededge1", "rededge2", "rededge3", "nir", "nir08", "swir16", "swir22")


@dataclass(frozen=True)
class EncoderSpec:
    """One named encoder: its kind (mit / resnet / convnext / swin / prithvi / galileo / dinov3_* / transformers)
    and its sizes (a transformers config's, or our Prithvi's and Galileo's)."""

    kind: str
    sizes: dict[str, Any] = field(default_factory=dict)
    torch_on_cpu: str | None = None  # why torch runs it faster than onnxruntime on the CPU (measured; None: not)

    @property
    def local(self) -> bool:
        """Convolutions only (no attention or position embedding): a pixel's output depends on its neighbourhood."""
        return self.kind in ("resnet", "convnext")

    @property
    def named_bands(self) -> bool:
        """Its architecture places each band by name (its sizes list them: Galileo's band groups): it reads its
        record's bands, whatever the weights."""
        return bool(self.sizes.get("bands"))

    @property
    def foundation(self) -> bool:
        """An Earth-observation or self-supervised foundation encoder (Prithvi, DINOv3, any transformers one)."""
        return self.kind in FOUNDATION_KINDS

    def takes_coords(self, architecture: dict[str, Any] | None = None) -> bool:
        """Whether the encoder takes each tile's date and place (time and location encoders, as Prithvi-EO-2.0's
        TL releases): the architecture a checkpoint fixed says so, else its sizes."""
        return bool((architecture or self.sizes).get("coords", False))


@dataclass(frozen=True)
class MiTPreset:
    """SegFormer/MiT sizes of a family preset (families add their decoder widths in a subclass)."""

    hidden_sizes: tuple[int, ...]
    depths: tuple[int, ...]
    num_attention_heads: tuple[int, ...]
    sr_ratios: tuple[int, ...] = (8, 4, 2, 1)
    mlp_ratios: tuple[int, ...] = (4, 4, 4, 4)

    def encoder_sizes(self) -> dict[str, list[int]]:
        return {key: list(getattr(self, key)) for key in MIT_SIZE_KEYS}


FOUNDATION_KINDS = ("prithvi", "galileo", "dinov3_convnext", "dinov3_vit", "transformers")


def _prithvi(embed: int, depth: int, heads: int, patch: int = 16, tl: bool = False) -> EncoderSpec:
    """A Prithvi-EO-2.0 ViT's sizes (time = 1 frame; ``coords``: its TL time and location encoders)."""
    return EncoderSpec("prithvi", {"embed_dim": embed, "depth": depth, "num_heads": heads, "patch_size": patch,
                                   "coords": tl})


# A tile's tokens are every band group's patches (6 x 256 of a 64 px tile); torch's attention is fused where
# onnxruntime computes every weight: a Galileo nano change model ran in 0.46 of onnxruntime's time and 0.56 of its
# memory (docs/backends.md)
GALILEO_ON_CPU = "Galileo's attention over every band group's tokens runs about twice as fast in torch on the CPU"


def _galileo(width: int, depth: int, heads: int) -> EncoderSpec:
    """A Galileo release's sizes (config/models/<size>.json), its patch size here 4 px, the tile's day of year as
    its month (``coords``)."""
    return EncoderSpec("galileo", {"embedding_size": width, "depth": depth, "num_heads": heads, "mlp_ratio": 4.0,
                                   "max_sequence_length": 24, "max_patch_size": 8, "patch_size": 4, "coords": True,
                                   "bands": list(SENTINEL2)}, torch_on_cpu=GALILEO_ON_CPU)


def _dinov3_convnext(hidden: list[int], depths: list[int]) -> EncoderSpec:
    return EncoderSpec("dinov3_convnext", {"hidden_sizes": hidden, "depths": depths})


def _mit(hidden: list[int], depths: list[int], heads: list[int]) -> EncoderSpec:
    return EncoderSpec("mit", MiTPreset(tuple(hidden), tuple(depths), tuple(heads)).encoder_sizes())


ENCODERS: dict[str, EncoderSpec] = {
    "resnet18": EncoderSpec("resnet", {"embedding_size": 64, "hidden_sizes": [64, 128, 256, 512],
                                       "depths": [2, 2, 2, 2], "layer_type": "basic"}),
    "resnet50": EncoderSpec("resnet", {"embedding_size": 64, "hidden_sizes": [256, 512, 1024, 2048],
                                       "depths": [3, 4, 6, 3], "layer_type": "bottleneck"}),
    "convnext_tiny": EncoderSpec("convnext", {"hidden_sizes": [96, 192, 384, 768], "depths": [3, 3, 9, 3]}),
    "swin_tiny": EncoderSpec("swin", {"embed_dim": 96, "depths": [2, 2, 6, 2], "num_heads": [3, 6, 12, 24],
                                      "window_size": 7}),
    "mit_b0": _mit([32, 64, 160, 256], [2, 2, 2, 2], [1, 2, 5, 8]),
    "mit_b1": _mit([64, 128, 320, 512], [2, 2, 2, 2], [1, 2, 5, 8]),
    "mit_b2": _mit([64, 128, 320, 512], [3, 4, 6, 3], [1, 2, 5, 8]),
    # Earth-observation and self-supervised foundation encoders (their releases: encoders.weights).
    "prithvi_eo2_tiny_tl": _prithvi(192, 12, 3, tl=True),
    "prithvi_eo2_100m_tl": _prithvi(768, 12, 12, tl=True),
    "prithvi_eo2_300m": _prithvi(1024, 24, 16),
    "prithvi_eo2_300m_tl": _prithvi(1024, 24, 16, tl=True),
    "prithvi_eo2_600m": _prithvi(1280, 32, 16, patch=14),
    "prithvi_eo2_600m_tl": _prithvi(1280, 32, 16, patch=14, tl=True),
    "galileo_nano": _galileo(128, 4, 8),
    "galileo_tiny": _galileo(192, 12, 3),
    "galileo_base": _galileo(768, 12, 12),
    "dinov3_convnext_tiny": _dinov3_convnext([96, 192, 384, 768], [3, 3, 9, 3]),
    "dinov3_convnext_small": _dinov3_convnext([96, 192, 384, 768], [3, 3, 27, 3]),
    "dinov3_convnext_base": _dinov3_convnext([128, 256, 512, 1024], [3, 3, 27, 3]),
    "dinov3_vitl16_sat": EncoderSpec("dinov3_vit", {
        "hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096,
        "patch_size": 16, "num_register_tokens": 4, "layerscale_value": 1e-5}),
    # any transformers backbone: its folder or hub id as pretrained fixes everything
    "transformers": EncoderSpec("transformers"),
    # Small random-init encoders for tests and CPU demos.
    "tiny_resnet": EncoderSpec("resnet", {"embedding_size": 16, "hidden_sizes": [16, 32, 64, 128],
                                          "depths": [1, 1, 1, 1], "layer_type": "basic"}),
    "tiny_convnext": EncoderSpec("convnext", {"hidden_sizes": [16, 32, 64, 128], "depths": [1, 1, 1, 1]}),
    "tiny_swin": EncoderSpec("swin", {"embed_dim": 16, "depths": [1, 1, 1, 1], "num_heads": [1, 2, 4, 8],
                                      "window_size": 4}),
    "tiny_mit": _mit([16, 32, 64, 128], [1, 1, 1, 1], [1, 1, 2, 4]),
    "tiny_prithvi": _prithvi(32, 4, 2, tl=True),
    "tiny_dinov3_convnext": _dinov3_convnext([16, 32, 64, 128], [1, 1, 1, 1]),
    "tiny_dinov3_vit": EncoderSpec("dinov3_vit", {"hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 2,
                                                  "intermediate_size": 64, "patch_size": 16,
                                                  "num_register_tokens": 4}),
}
ENCODER_NAMES = tuple(ENCODERS)
#: Encoders of pixel time series only (the eoseries family's; its Galileo sizes are the names above, read per pixel)
SERIES_ONLY = ("presto",)
#: The encoders that read each pixel's series of dates (``encoders.eo_series``): the eoseries family's choices
SERIES_ENCODERS = ("presto", "galileo_nano", "galileo_tiny", "galileo_base")


def takes_coords(model_cfg: Any) -> bool:
    """Whether a model config's encoder takes each tile's date and place (:meth:`EncoderSpec.takes_coords` of the
    architecture a checkpoint fixed, else of the catalog's sizes)."""
    if getattr(model_cfg, "SENSOR_UNITS", False):  # a pixel-series family: the tile's place and first date's year
        return bool(getattr(model_cfg, "date_and_place", False))
    spec = ENCODERS.get(getattr(model_cfg, "encoder_name", None) or "")
    return spec is not None and spec.takes_coords(getattr(model_cfg, "encoder_config", None))


def torch_faster_on_cpu(model_cfg: Any) -> str | None:
    """Why torch runs a model config's encoder faster than onnxruntime on the CPU (:attr:`EncoderSpec.torch_on_cpu`;
    None: it does not, or it was not measured). A pixel-series family's encoder was not measured."""
    spec = ENCODERS.get(getattr(model_cfg, "encoder_name", None) or "")
    if spec is None or getattr(model_cfg, "SENSOR_UNITS", False):
        return None
    return spec.torch_on_cpu


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
    check(name in valid or name not in SERIES_ONLY,
          f"encoder '{name}' reads each pixel's series of dates, not images: train it with --model eoseries on a "
          f"season (--dates); encoders of this family are {valid}.")
    check(name in valid, f"encoder '{name}' is unknown; valid encoders are {valid}.")
