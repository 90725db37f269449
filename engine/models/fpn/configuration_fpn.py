"""FPN settings, presets and card (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...declarations import check, config_only, redeclared
from ..configuration_single_stream import SingleStreamConfig, single_stream_card
from ..configuration_utils import FamilyCard, ModelConfig


@dataclass(frozen=True)
class FPNPreset:
    encoder: str
    pyramid_channels: int  # width of the lateral 1x1 convs and the top-down pathway
    segmentation_channels: int  # width of each level's segmentation branch


@dataclass
class FPNConfig(SingleStreamConfig):
    """FPN: a top-down pathway over the encoder's four maps; each level is brought to stride 4 and summed."""

    name: str = redeclared(ModelConfig, "name", "fpn")  # the family it configures
    pyramid_channels: int | None = config_only(None, help="Width of the feature pyramid; None = the preset's.")
    segmentation_channels: int | None = config_only(
        None, help="Width of each pyramid level's segmentation branch; None = the preset's.")

    PRESETS: ClassVar[dict[str, FPNPreset]] = {
        "tiny": FPNPreset("tiny_resnet", 32, 16),  # tests and CPU demos
        "light": FPNPreset("resnet18", 128, 64),
        "base": FPNPreset("resnet50", 256, 128),  # the panoptic FPN paper's widths
    }
    LOCAL_DECODER: ClassVar[bool] = True  # convolutions and upsampling only
    description: ClassVar[str] = (
        "Imagery only (or + aux fused early): a feature pyramid whose levels, each with context from the coarser "
        "ones, are merged at stride 4; objects of very different sizes in one scene (buildings and fields, "
        "roads and blocks).")
    CARD: ClassVar[FamilyCard] = single_stream_card(
        "FPN", "Kirillov et al. 2019, Panoptic Feature Pyramid Networks, arXiv 1901.02446; the pyramid: Lin et "
        "al. 2017, Feature Pyramid Networks for Object Detection, arXiv 1612.03144")

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("pyramid_channels", "segmentation_channels"):
            value = getattr(self, name)
            check(value is None or value >= 1, f"{name} must be >= 1, or unset for the preset's (got {value}).")


CONFIG = FPNConfig
