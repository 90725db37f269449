"""PSPNet settings and presets (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...declarations import check, config_only, redeclared
from ..configuration_single_stream import SingleStreamConfig, single_stream_card
from ..configuration_utils import FamilyCard, ModelConfig


@dataclass(frozen=True)
class PSPNetPreset:
    encoder: str
    psp_channels: int  # width after the pyramid pooling module


@dataclass
class PSPNetConfig(SingleStreamConfig):
    """PSPNet: pyramid pooling over bins of 1, 2, 3 and 6 on the deepest encoder map."""

    name: str = redeclared(ModelConfig, "name", "pspnet")  # the family it configures
    psp_channels: int | None = config_only(None, help="Width of the pyramid pooling module; None = the preset's.")
    psp_dropout: float = config_only(0.2, help="Dropout after the pyramid pooling module.")

    PRESETS: ClassVar[dict[str, PSPNetPreset]] = {
        "tiny": PSPNetPreset("tiny_resnet", 32),  # tests and CPU demos
        "light": PSPNetPreset("resnet18", 256),
        "base": PSPNetPreset("resnet50", 512),  # smp's psp_out_channels
    }
    description: ClassVar[str] = (
        "Imagery only (or + aux fused early): global context from pyramid pooling; large homogeneous regions "
        "(land cover, water, clouds), coarse boundaries.")

    CARD: ClassVar[FamilyCard] = single_stream_card(
        "PSPNet", "Zhao et al. 2017, Pyramid Scene Parsing Network, arXiv 1612.01105")

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.psp_channels is None or self.psp_channels >= 1, "psp_channels must be >= 1 (or unset).")
        check(0.0 <= self.psp_dropout < 1.0, f"psp_dropout must be in [0, 1) (got {self.psp_dropout}).")


CONFIG = PSPNetConfig
