"""CMX settings and presets (torch-free): the MiT sizes of the reference table and the decoder width."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...declarations import check, config_only, redeclared, setting
from ...errors import mention
from ..configuration_utils import AUX_SAME_GRID, DROP_PATH, VISION_ENCODER, X_BANDS, AutoPick, FamilyCard, ModelConfig
from ..encoders.catalog import MiTPreset, check_mit_sizes


@dataclass(frozen=True)
class CMXPreset(MiTPreset):
    """MiT sizes of both streams and the all-MLP decoder's embedding width E."""

    decoder_dim: int = 512


@dataclass
class CMXConfig(ModelConfig):
    """CMX: the X stream takes ``aux`` (more bands of the image, or aux rasters upsampled bilinearly to the image
    grid); ``aux_channels=0`` leaves one MiT stream and the MLP decoder (a SegFormer)."""

    name: str = redeclared(ModelConfig, "name", "cmx")  # the family it configures
    preset: str = redeclared(ModelConfig, "preset", "b2")
    aux_channels: int = redeclared(ModelConfig, "aux_channels", 1)
    aux_ratio: int = redeclared(ModelConfig, "aux_ratio", 1)
    drop_path: float = setting(0.1, **DROP_PATH)
    rectify_lambda: float = config_only(0.5, help="Feature rectification weight (lambda_c = lambda_s).")
    decoder_dim: int | None = config_only(None, help="Width E of the MLP decoder; None = the preset's.")
    vision_encoder: dict[str, list[int]] | None = config_only(None, **VISION_ENCODER)

    PRESETS: ClassVar[dict[str, CMXPreset]] = {
        "tiny": CMXPreset((16, 32, 64, 128), (1, 1, 1, 1), (1, 1, 2, 4), decoder_dim=32),  # tests and CPU demos
        "b0": CMXPreset((32, 64, 160, 256), (2, 2, 2, 2), (1, 2, 5, 8)),
        "b1": CMXPreset((64, 128, 320, 512), (2, 2, 2, 2), (1, 2, 5, 8)),
        "b2": CMXPreset((64, 128, 320, 512), (3, 4, 6, 3), (1, 2, 5, 8)),  # the paper's main results
    }
    description: ClassVar[str] = (
        "RGB-X fusion of two images of the same grid (RGB + NIR, RGB + depth/DSM, optical + SAR, or extra bands "
        "of one file): two SegFormer streams rectified and fused at every stage, all-MLP decoder.")
    CARD: ClassVar[FamilyCard] = FamilyCard(
        "CMX", "Zhang et al. 2023, CMX: Cross-Modal Fusion for RGB-X Semantic Segmentation, arXiv 2203.04838",
        "two images of one grid (RGB + NIR/DSM/SAR, or X bands of one file)", kinds=(X_BANDS, AUX_SAME_GRID),
        cpu_preset="tiny",
        auto=(AutoPick("gpu", (X_BANDS, AUX_SAME_GRID)), AutoPick("cpu", (X_BANDS, AUX_SAME_GRID), "tiny")),
        loss={"ohem": 1.0, "dice": 1.0}, bench_input=(3, 1, 1))

    def aux_input_note(self, tile_size: int) -> str | None:
        """Coarse aux rasters: the X stream sees them at 1/aux_ratio, upsampled; say so with the ratio."""
        if not self.aux_channels or self.aux_ratio == 1:
            return None
        side = tile_size // self.aux_ratio
        return (f"cmx: the aux rasters are read at aux ratio {self.aux_ratio} ({side} x {side} aux pixels per "
                f"{tile_size}-px tile) and upsampled bilinearly onto the image grid for the X stream, so it sees no "
                f"detail finer than {self.aux_ratio} image pixels. For aux as fine as the image (a DSM, SAR on the "
                f"same grid), train with {mention('data.aux_ratio')} 1.")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.vision_encoder = check_mit_sizes(self.vision_encoder, "vision_encoder")
        check(0.0 <= self.rectify_lambda <= 1.0, f"rectify_lambda must be in [0, 1] (got {self.rectify_lambda}).")
        check(self.decoder_dim is None or self.decoder_dim >= 1,
               f"decoder_dim must be >= 1, or unset for the preset's (got {self.decoder_dim}).")


CONFIG = CMXConfig
