"""DeepLabV3+ settings and presets (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...declarations import check, config_only, redeclared
from ..configuration_single_stream import SingleStreamConfig, single_stream_card
from ..configuration_utils import FamilyCard, ModelConfig


@dataclass(frozen=True)
class DeepLabV3PlusPreset:
    encoder: str
    decoder_channels: int  # ASPP and decoder width
    low_level_channels: int = 48  # the reduced stride-4 skip


@dataclass
class DeepLabV3PlusConfig(SingleStreamConfig):
    """DeepLabV3+: ASPP on the deepest map, decoder with the stride-4 low-level skip.

    ``atrous_rates`` are smp's (12, 24, 36), which smp applies at output stride 16 with a dilated encoder; the
    transformers backbones here are not dilated, so they apply at stride 32: (6, 12, 18) covers the same image
    distances.
    """

    name: str = redeclared(ModelConfig, "name", "deeplabv3plus")  # the family it configures
    atrous_rates: list[int] = config_only(default_factory=lambda: [12, 24, 36],
                                          help="Dilation rates of the ASPP branches.")

    PRESETS: ClassVar[dict[str, DeepLabV3PlusPreset]] = {
        "tiny": DeepLabV3PlusPreset("tiny_resnet", 32, 16),  # tests and CPU demos
        "light": DeepLabV3PlusPreset("resnet18", 128),
        "base": DeepLabV3PlusPreset("resnet50", 256),  # smp's widths
    }
    description: ClassVar[str] = (
        "Imagery only (or + aux fused early): multi-scale context (ASPP) with a fine skip; a good default for "
        "buildings and roads, between UNet's detail and PSPNet's context.")

    CARD: ClassVar[FamilyCard] = single_stream_card(
        "DeepLabV3+", "Chen et al. 2018, Encoder-Decoder with Atrous Separable Convolution for Semantic Image "
        "Segmentation, arXiv 1802.02611")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.atrous_rates = [int(r) for r in self.atrous_rates]
        check(len(self.atrous_rates) >= 1 and min(self.atrous_rates) >= 1,
               f"atrous_rates must be positive integers (got {self.atrous_rates}).")


CONFIG = DeepLabV3PlusConfig
