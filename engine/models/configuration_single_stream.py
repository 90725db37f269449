"""Settings shared by the single-stream families (one encoder from ``encoders.catalog`` and a decoder), torch-free.
Vision-only by default; ``aux_fusion="early"`` stacks the aux tensor, upsampled to the image grid, on the bands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from ..declarations import check, config_only, redeclared, setting
from .configuration_utils import (
    DEFAULT,
    DROP_PATH,
    IMAGERY,
    AutoPick,
    FamilyCard,
    ModelConfig,
    encoder_families,
    joined,
)
from .encoders.catalog import ENCODER_NAMES, ENCODERS, SERIES_ONLY
from .registry import list_models

T = TypeVar("T", bound="SingleStreamConfig")
AUX_FUSION = ("none", "early")
DECODER_ACTIVATIONS = ("gelu", "relu")
STREAMS = "imagery only (aux optional, fused early)"


def single_stream_card(architecture: str, citation: str, auto: tuple[AutoPick, ...] = ()) -> FamilyCard:
    """The card of a single-stream family: imagery only, the light preset on a CPU, the baseline loss."""
    return FamilyCard(architecture, citation, STREAMS, kinds=(IMAGERY,), cpu_preset="light", auto=auto)


def _encoder_help() -> str:
    fixed = [f for f in list_models() if f not in encoder_families()]
    return (f"Backbone of the single-stream families (ResNet, ConvNeXt, Swin, MiT; the foundation encoders "
            f"Prithvi-EO-2.0 and DINOv3 with pretrained release, or transformers with a backbone's folder or hub "
            f"id as pretrained); presto (and Galileo read per pixel) for a season with --model eoseries; default: the "
            f"preset's. "
            f"{joined(fixed)} have fixed encoders.")


@dataclass
class SingleStreamConfig(ModelConfig):
    """Common fields: the encoder (None = the preset's) and whether aux is fused early."""

    preset: str = redeclared(ModelConfig, "preset", "base")
    aux_channels: int = redeclared(ModelConfig, "aux_channels", 0)
    encoder: str | None = setting(
        None, label=lambda: f"Encoder ({', '.join(encoder_families())})", group="model",
        choices=(DEFAULT, *ENCODER_NAMES, *SERIES_ONLY), off=DEFAULT, help=_encoder_help)
    aux_fusion: str = config_only(
        "none", choices=AUX_FUSION, help="none: imagery only (the data's aux rasters are not used); early: the "
                                         "aux bands, upsampled to the image grid, are stacked on the image's.")
    drop_path: float = setting(0.0, **DROP_PATH)
    encoder_config: dict[str, Any] | None = config_only(
        None, help="The encoder's architecture as its pretrained checkpoint fixed it (a transformers config or the "
                   "Prithvi sizes); filled in by training so a bundle rebuilds it without the checkpoint.")
    decoder_activation: str = config_only(
        "gelu", choices=DECODER_ACTIVATIONS,
        help="The decoder's activation after each norm: gelu, or relu (as smp's decoders; with the engine's "
             "GroupNorm(1) it can silence a channel everywhere when trained from random weights: docs/training.md).")

    ENCODERS: ClassVar[tuple[str, ...]] = ENCODER_NAMES
    BEFORE: ClassVar[dict[str, Any]] = {"decoder_activation": "relu"}  # bundles written before the setting
    CACHEABLE: ClassVar[bool] = True  # train.frozen_encoder cached: the encoder alone makes the decoder's input

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.aux_fusion in AUX_FUSION, f"aux_fusion '{self.aux_fusion}' is unknown; use one of {AUX_FUSION}.")
        check(self.decoder_activation in DECODER_ACTIVATIONS,
              f"decoder_activation '{self.decoder_activation}' is unknown; use one of {DECODER_ACTIVATIONS}.")
        check(self.aux_fusion == "early" or self.aux_channels == 0,
               f"{self.name} is vision-only unless aux_fusion is 'early' (got aux_channels={self.aux_channels}); set "
               f"aux_fusion: early to concatenate the aux bands to the image, or aux_channels: 0.")

    def local_receptive_field(self) -> bool:
        spec = ENCODERS.get(self.encoder_name)
        return self.LOCAL_DECODER and spec is not None and spec.local

    @property
    def decoder_relu(self) -> bool:
        """Whether the decoder takes ReLU after each norm (else GELU)."""
        return self.decoder_activation == "relu"

    @property
    def encoder_name(self) -> str:
        """The encoder actually built: ``encoder`` or the preset's default."""
        return self.encoder or self.preset_settings().encoder

    def fit_data(self: T, vision_channels: int, aux_channels: int, num_classes: int, aux_ratio: int) -> T:
        """As ModelConfig's, aux channels with early fusion only."""
        return self.replace(vision_channels=vision_channels, num_classes=num_classes, aux_ratio=aux_ratio,
                            aux_channels=aux_channels if self.aux_fusion == "early" else 0)
