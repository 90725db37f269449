"""Change-detection settings, presets and card (torch-free).

A change model takes ``dates`` images of one place stacked on the vision channels in time order (2: before, then
after; ``vision_channels`` is the bands of one date). One encoder, shared by the dates, reads each date; the dates'
maps are fused at every scale (``fusion``) and one decoder (``decoder``: any of the engine's) makes the change map.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ...declarations import check, config_only, redeclared, setting
from ..configuration_single_stream import SingleStreamConfig
from ..configuration_utils import (
    CHANGE_CLASSES,
    DATES,
    DECODER,
    DECODERS,
    FROM_DATA,
    TTA_MODES,
    AutoPick,
    FamilyCard,
    ModelConfig,
    preset_form,
)

FUSIONS = ("diff", "concat", "attention")
#: How each date's tile is scaled before the shared encoder reads it, beyond the training data's band statistics:
#: ``none``, or ``tile``: standardised by its own mean and spread per band, so a global brightness or contrast shift
#: between the dates (another sun, season, sensor or processing) is gone before the dates are compared.
DATE_SCALINGS = ("none", "tile")
#: Dates a change model takes today (a time series is the next step: the settings already count them).
BUILT_DATES = (2,)


@dataclass(frozen=True)
class ChangePreset:
    encoder: str
    unet_channels: tuple[int, ...]  # the UNet decoder's five widths (strides 16, 8, 4, 2, 1)
    width: int  # the other decoders' width (FPN pyramid, DeepLabV3+ ASPP, PSPNet, MLP)


@dataclass
class ChangeConfig(SingleStreamConfig):
    """Siamese change detection: any encoder, a fusion of the dates' features per scale, a decoder; aux rasters
    (``aux_fusion: early``) go with every date."""

    name: str = redeclared(ModelConfig, "name", "change")  # the family it configures
    preset: str = redeclared(SingleStreamConfig, "preset", "base")
    dates: int = setting(2, help="Dates of one place the model takes, stacked in time order (2: before, after).",
                         no_cli=FROM_DATA, no_qgis=FROM_DATA)
    fusion: str = setting(
        "diff", choices=FUSIONS, label="Fusion of the dates (change models)", group="model", advanced=True,
        help="How the change family fuses the two dates' features at each scale: diff, their absolute difference "
             "(FC-Siam-diff: the same change either way); concat, both side by side through a 1x1 convolution "
             "(FC-Siam-conc: learns which way a change went); attention, each date's features attending to the "
             "other's (as BIT), then their difference.")
    date_scaling: str = setting(
        "none", choices=DATE_SCALINGS, label="Scaling of each date (change models)", group="model", advanced=True,
        help="How each date's tile is scaled before the encoder both dates share reads it: none, the training data's "
             "band statistics alone; tile, each date's tile also standardised by its own mean and spread per band, "
             "so that a brightness or contrast shift between the dates is not taken for change.",
        auto="tile for change models trained on pairs of dates")
    tta: str = setting(
        "none", choices=TTA_MODES, group="model",
        no_cli="chosen for change masks (flips); segment's --tta overrides it",
        no_qgis="chosen for change masks (flips); Segment's test-time augmentation overrides it",
        auto="flips for a change mask",
        help="The test-time augmentation segment runs the model with unless told (segment.tta): none, flips or d4.")
    threshold: float | None = setting(
        None, group="model", no_cli="picked on the validation tiles; segment's --threshold overrides it",
        no_qgis="picked on the validation tiles; Segment's threshold overrides it",
        auto="a change mask's: the change F1-best on the validation tiles at the bundle's epoch",
        help="The change probability from which segment calls a pixel change (a change mask), unless told "
             "(segment.threshold); none: 0.5.")
    decoder: str = setting("unet", **DECODER)
    decoder_width: int | None = config_only(
        None, help="Width of the decoder (unet: its last stage); None = the preset's.")
    # ReLU as before: the change runs of docs/change-detection.md were measured with it (GELU: not measured here)
    decoder_activation: str = redeclared(SingleStreamConfig, "decoder_activation", "relu")

    PRESETS: ClassVar[dict[str, ChangePreset]] = {
        "tiny": ChangePreset("tiny_resnet", (32, 16, 16, 8, 8), 32),  # tests and CPU demos
        "light": ChangePreset("resnet18", (128, 64, 32, 16, 16), 128),
        "base": ChangePreset("resnet50", (256, 128, 64, 32, 16), 256),
    }
    description: ClassVar[str] = (
        "Change between two dates of one place (before, after): one encoder shared by both dates, their "
        "features fused at every scale (difference, concatenation or attention), one decoder; a change mask or "
        "from-to classes.")
    CARD: ClassVar[FamilyCard] = FamilyCard(
        "Siamese change detection", "Daudt et al. 2018, Fully Convolutional Siamese Networks for Change Detection, "
        "arXiv 1810.08462; attention between dates: Chen et al. 2021, BIT, arXiv 2103.00208",
        "two dates of one place (change detection)", kinds=(DATES,), cpu_preset="light",
        auto=(AutoPick("cpu", (DATES,), "light"), AutoPick("gpu", (DATES,), "base")), bench_input=(3, 0, 1))

    FORM: ClassVar[dict[str, dict[str, Any]]] = {
        "data.class_names": {
            "qgis_default": lambda: list(CHANGE_CLASSES),
            "help": "One name per class, 'no change' (class 0, drawn transparent) first: 'no change, change' for a "
                    "change mask, or a name per from-to class of the labels (no change, built, torn down)."},
        "data.class_colors": {
            "help": "One colour per class (#RRGGBB), 'no change' first (it is drawn transparent whatever its colour); "
                    "colours not given come from the palette."},
        "model.preset": preset_form("change", lambda: ChangeConfig),
        "model.encoder": {
            "label": "Encoder (shared by both dates)",
            "help": "The backbone that reads both dates with the same weights (ResNet, ConvNeXt, Swin, MiT; the "
                    "foundation encoders Prithvi-EO-2.0 and DINOv3 with pretrained release, or transformers with a "
                    "backbone's folder or hub id as pretrained); default: the preset's."},
        "train.epochs": {"qgis_default": None},
        "train.warmup_epochs": {
            "qgis_default": None,
            "label": "Warm-up epochs (the shared encoder frozen)",
            "help": "First epochs with the encoder both dates share frozen, training the fusion of the dates and the "
                    "decoder only."},
        "train.learning_rate": {
            "qgis_default": None,
            "help": "Learning rate of the fusion of the dates and the decoder (the encoder both dates share: x0.1)."},
        "data.tile_size": {"qgis_default": None},
        "data.tiles_per_epoch": {"qgis_default": None},
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.dates in BUILT_DATES, f"the change family takes {BUILT_DATES[0]} dates (before, after) today; got "
                                         f"{self.dates}: give two images of the place.")
        check(self.fusion in FUSIONS, f"fusion '{self.fusion}' is unknown; use one of {FUSIONS}.")
        check(self.date_scaling in DATE_SCALINGS,
              f"date_scaling '{self.date_scaling}' is unknown; use one of {DATE_SCALINGS}.")
        check(self.decoder in DECODERS, f"decoder '{self.decoder}' is unknown; use one of {DECODERS}.")
        check(self.tta in TTA_MODES, f"tta '{self.tta}' is unknown; use one of {TTA_MODES}.")
        check(self.threshold is None or 0.0 < self.threshold < 1.0,
              f"threshold must be in (0, 1), or unset for 0.5 (got {self.threshold}).")
        check(self.decoder_width is None or self.decoder_width >= 1,
              f"decoder_width must be >= 1, or unset for the preset's (got {self.decoder_width}).")

    @property
    def input_dates(self) -> int:
        return self.dates

    def local_receptive_field(self) -> bool:
        return super().local_receptive_field() and self.decoder in ("unet", "fpn") and self.fusion != "attention"

    LOCAL_DECODER: ClassVar[bool] = True  # with the unet or fpn decoder and no attention (local_receptive_field)


CONFIG = ChangeConfig
