"""DualStream settings and presets (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ...declarations import config_only, redeclared, setting
from ..configuration_single_stream import SingleStreamConfig
from ..configuration_utils import AUX_GRID, DROP_PATH, IMAGERY, VISION_ENCODER, AutoPick, FamilyCard, ModelConfig
from ..encoders.catalog import ENCODER_NAMES, MiTPreset, check_mit_sizes


@dataclass(frozen=True)
class DualStreamPreset(MiTPreset):
    """Encoder sizes (SegFormer MiT) and the matching decoder widths."""

    aux_blocks: int = 2  # ConvNeXt blocks per aux encoder stage
    decoder_blocks: int = 2  # ConvNeXt blocks per decoder refinement stage
    aspp_channels: int = 256
    refine_channels: tuple[int, int, int] = (256, 256, 128)  # after the f3, f2, f1 stages
    skip_channels: int = 64  # width of the reduced skips f3, f2, f1
    up_channels: tuple[int, int] = (64, 32)  # the two up-convs to full resolution
    fusion_heads: int = 8


@dataclass
class DualStreamConfig(ModelConfig):
    """DualStream-DFormer (``aux_channels=0``: vision-only, no aux encoder, no fusion). The same fields as the
    engine's single ModelConfig before families existed, so older bundles load as is."""

    name: str = redeclared(ModelConfig, "name", "dualstream")  # the family it configures
    preset: str = redeclared(ModelConfig, "preset", "b1")
    drop_path: float = setting(0.1, **DROP_PATH)
    vision_encoder: dict[str, list[int]] | None = config_only(None, **VISION_ENCODER)
    # a named encoder (a foundation model) as the vision stream instead of the preset's MiT; aux stream unchanged
    encoder: str | None = redeclared(SingleStreamConfig, "encoder", None)
    encoder_config: dict[str, Any] | None = redeclared(SingleStreamConfig, "encoder_config", None)

    ENCODERS: ClassVar[tuple[str, ...]] = ENCODER_NAMES
    PRESETS: ClassVar[dict[str, DualStreamPreset]] = {
        # For tests and the CPU demo: trains in minutes.
        "tiny": DualStreamPreset((16, 32, 64, 128), (1, 1, 1, 1), (1, 1, 2, 4), aux_blocks=1, decoder_blocks=1,
                                 aspp_channels=32, refine_channels=(32, 32, 16), skip_channels=16, up_channels=(16, 8),
                                 fusion_heads=4),
        "b0": DualStreamPreset((32, 64, 160, 256), (2, 2, 2, 2), (1, 2, 5, 8), aspp_channels=128,
                               refine_channels=(128, 128, 64), skip_channels=32, up_channels=(32, 16)),
        # The reference configuration.
        "b1": DualStreamPreset((64, 128, 320, 512), (2, 2, 2, 2), (1, 2, 5, 8)),
        "b2": DualStreamPreset((64, 128, 320, 512), (3, 4, 6, 3), (1, 2, 5, 8)),
    }
    description: ClassVar[str] = (
        "Imagery fused with coarse aux grids in any CRS (air quality, weather, elevation): SegFormer + ConvNeXt "
        "aux encoder, FiLM/gate and cross-attention fusion, deep supervision.")

    CARD: ClassVar[FamilyCard] = FamilyCard(
        "DualStream-DFormer", "SegFormer (Xie et al. 2021, arXiv 2105.15203) fused with a ConvNeXt aux encoder "
        "(Liu et al. 2022, arXiv 2201.03545), the DualStream-DFormer reference design", "imagery + coarse aux grids",
        kinds=(IMAGERY, AUX_GRID), cpu_preset="tiny",
        auto=(AutoPick("gpu", (IMAGERY, AUX_GRID), "b1"), AutoPick("cpu", (AUX_GRID,), "tiny")),
        loss={"focal": 0.5, "lovasz": 0.5}, side_weights=(0.3, 0.15), bench_input=(4, 48, 8))

    def __post_init__(self) -> None:
        super().__post_init__()
        self.vision_encoder = check_mit_sizes(self.vision_encoder, "vision_encoder")

    @property
    def encoder_name(self) -> str | None:
        """The named vision encoder, or None for the preset's MiT."""
        return self.encoder


CONFIG = DualStreamConfig
