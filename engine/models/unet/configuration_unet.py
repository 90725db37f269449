"""UNet settings and presets (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...declarations import check, config_only, redeclared
from ..configuration_single_stream import SingleStreamConfig, single_stream_card
from ..configuration_utils import IMAGERY, AutoPick, FamilyCard, ModelConfig


@dataclass(frozen=True)
class UNetPreset:
    encoder: str
    decoder_channels: tuple[int, ...]  # five blocks: strides 16, 8, 4, 2, 1


@dataclass
class UNetConfig(SingleStreamConfig):
    """UNet: skips from every encoder stage; ``decoder_channels`` None = the preset's."""

    name: str = redeclared(ModelConfig, "name", "unet")  # the family it configures
    decoder_channels: list[int] | None = config_only(
        None, help="Widths of the five decoder stages; None = the preset's.")

    PRESETS: ClassVar[dict[str, UNetPreset]] = {
        "tiny": UNetPreset("tiny_resnet", (32, 16, 16, 8, 8)),  # tests and CPU demos
        "light": UNetPreset("resnet18", (128, 64, 32, 16, 16)),
        "base": UNetPreset("resnet50", (256, 128, 64, 32, 16)),  # smp's decoder widths
    }
    LOCAL_DECODER: ClassVar[bool] = True  # convolutions, nearest upsampling, pointwise attention gates
    description: ClassVar[str] = (
        "Imagery only (or imagery + aux bands fused early): sharp boundaries from skip connections at every "
        "scale; buildings, fields, small objects.")

    CARD: ClassVar[FamilyCard] = single_stream_card(
        "U-Net", "Ronneberger et al. 2015, U-Net: Convolutional Networks for Biomedical Image Segmentation, "
        "arXiv 1505.04597", auto=(AutoPick("cpu", (IMAGERY,), "light"),))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.decoder_channels is not None:
            self.decoder_channels = [int(c) for c in self.decoder_channels]
            check(len(self.decoder_channels) == 5 and min(self.decoder_channels) >= 1,
                   f"decoder_channels needs 5 positive widths (got {self.decoder_channels}).")


CONFIG = UNetConfig
