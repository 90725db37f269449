"""Season settings, presets and card (torch-free).

A season model takes T dates of one place (T >= 1, any count: padded dates are masked), each date's day number and
a validity mask. One encoder, shared by the dates, reads each date; a lightweight temporal attention (L-TAE) over
the dates at the coarsest scale, with a positional encoding computed from the day numbers, collapses time; its
attention masks, upsampled, weigh the dates' skip maps; one decoder (``decoder``: any of the engine's) makes the
class map (Sainte Fare Garnot & Landrieu 2021, U-TAE).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ...declarations import check, config_only, redeclared, setting
from ..configuration_single_stream import SingleStreamConfig
from ..configuration_utils import (
    AUTO,
    DECODER,
    DECODERS,
    FROM_DATA,
    SEASON,
    AutoModelConfig,
    AutoPick,
    FamilyCard,
    ModelConfig,
    preset_form,
    season_families,
)

#: The positional encoding's period in days (U-TAE's): distinct encodings over any multi-year span of dates.
PERIOD = 1000.0


@dataclass(frozen=True)
class SeasonPreset:
    encoder: str
    unet_channels: tuple[int, ...]  # the UNet decoder's five widths (strides 16, 8, 4, 2, 1)
    width: int  # the other decoders' width (FPN pyramid, DeepLabV3+ ASPP, PSPNet, MLP)
    heads: int  # temporal attention heads (each with its own master query)
    key_dim: int  # the keys' width per head
    series_width: int  # the pixel series' attention width (each pixel's own dates at full resolution)
    series_heads: int  # and its heads


@dataclass
class SeasonConfig(SingleStreamConfig):
    """U-TAE pattern: any encoder per date, L-TAE over the dates at the coarsest scale, its attention carried up to
    the skips, any decoder; aux rasters (``aux_fusion: early``) go with every date."""

    name: str = redeclared(ModelConfig, "name", "season")  # the family it configures
    preset: str = redeclared(SingleStreamConfig, "preset", "base")
    dates: int = setting(6, help="Dates per place the model was trained with (it takes any count: fewer or more "
                                 "dates are padded and masked).", no_cli=FROM_DATA, no_qgis=FROM_DATA)
    decoder: str = setting("unet", **DECODER)
    decoder_width: int | None = config_only(
        None, help="Width of the decoder (unet: its last stage); None = the preset's.")
    # ReLU as before: the season runs of docs/seasons.md were measured with it (GELU: not measured here)
    decoder_activation: str = redeclared(SingleStreamConfig, "decoder_activation", "relu")
    temporal_heads: int | None = config_only(
        None, help="Heads of the temporal attention (each a master query over the dates); None = the preset's.")
    pixel_series: bool = config_only(
        True, help="Each pixel's own series of dates read at full resolution (an attention over its dates with their "
                   "days, a classifier added to the decoder's): the dates' calendar reaches every pixel, not only "
                   "through the coarse attention.")
    series_days: int = config_only(
        16, help="Width of the pixel series' day encoding (sinusoids of periods from 6 days to 7 years, mapped onto "
                 "its width); 0: each head's own 4 channels (periods of 6 and 199 days: January read as July).")
    series_lr_factor: float = config_only(
        5.0, help="The pixel series' learning rate as a multiple of the head's: its few hundred weights start as the "
                  "mean of the dates; at the head's rate a real season's model predicted one class for 64-96 of its "
                  "320 steps.")
    date_dropout: float = config_only(
        0.3, help="Share of a training sample's dates left out at random (each sample keeps one at least): a model "
                  "that does not lean on a few dates of a small training area, and takes other counts.")

    PRESETS: ClassVar[dict[str, SeasonPreset]] = {
        "tiny": SeasonPreset("tiny_resnet", (32, 16, 16, 8, 8), 32, 4, 4, 16, 4),  # tests and CPU demos
        "light": SeasonPreset("resnet18", (128, 64, 32, 16, 16), 128, 16, 4, 32, 8),
        "base": SeasonPreset("resnet50", (256, 128, 64, 32, 16), 256, 16, 4, 64, 16),  # U-TAE's 16 heads, keys 4
    }
    TAKES_DAYS: ClassVar[bool] = True
    # bundles written before the pixel series and the date dropout: built (and trained) without them
    BEFORE: ClassVar[dict[str, Any]] = {**SingleStreamConfig.BEFORE, "pixel_series": False, "date_dropout": 0.0,
                                         "series_days": 0, "series_lr_factor": 1.0}
    CACHEABLE: ClassVar[bool] = False  # the decoder's input needs the dates' days and masks, not the encoder alone
    description: ClassVar[str] = (
        "A season of dates of one place (crop types, land cover told by its phenology): one encoder shared by the "
        "dates, temporal attention over them with a day-of-year encoding, cloudy or missing dates masked, one "
        "decoder; any number of dates.")
    CARD: ClassVar[FamilyCard] = FamilyCard(
        "U-TAE", "Sainte Fare Garnot & Landrieu 2021, Panoptic Segmentation of Satellite Image Time Series with "
        "Convolutional Temporal Attention Networks, arXiv 2107.07933",
        "a season of dates of one place (time series)", kinds=(SEASON,), cpu_preset="light",
        auto=(AutoPick("cpu", (SEASON,), "light"), AutoPick("gpu", (SEASON,), "base")), bench_input=(3, 0, 1))

    # The Train season form: the season family's own choices and texts (read through engine.api.family_setting)
    FORM: ClassVar[dict[str, dict[str, Any]]] = {
        "model.preset": preset_form("season", lambda: SeasonConfig),
        "model.name": {  # the families that take a season; automatic: the season family, eoseries for Presto
            "choices": lambda: (*season_families(), AUTO), "label": "Model family (season)",
            "help": lambda: "The family that reads the dates: " + "; ".join(
                f"{f}, {AutoModelConfig.config_class(f).CARD.streams}" for f in season_families())
            + ". automatic: the season family, or the family an encoder needs (presto: eoseries); an encoder both "
              "take (Galileo) stays with the season family unless eoseries is chosen here."},
        "model.encoder": {
            "label": "Encoder (shared by every date)",
            "help": "The backbone that reads every date with the same weights (ResNet, ConvNeXt, Swin, MiT; the "
                    "foundation encoders with pretrained release, or transformers with a backbone's folder or hub id "
                    "as pretrained; presto reads each pixel's series instead: a model of the eoseries family; Galileo "
                    "reads each pixel's series with the model family eoseries); default: the preset's."},
        # what the engine chooses for a season is shown unset ("automatic"), not Train DualStream's 40 epochs
        "train.epochs": {"qgis_default": None},
        "train.warmup_epochs": {"qgis_default": None},
        "train.learning_rate": {"qgis_default": None},
        "data.tile_size": {"qgis_default": None},
        "data.tiles_per_epoch": {"qgis_default": None},
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.dates >= 1, f"dates must be >= 1 (got {self.dates}).")
        check(self.decoder in DECODERS, f"decoder '{self.decoder}' is unknown; use one of {DECODERS}.")
        check(self.decoder_width is None or self.decoder_width >= 1,
              f"decoder_width must be >= 1, or unset for the preset's (got {self.decoder_width}).")
        check(self.temporal_heads is None or self.temporal_heads >= 1,
              f"temporal_heads must be >= 1, or unset for the preset's (got {self.temporal_heads}).")
        check(self.series_lr_factor > 0, f"series_lr_factor must be > 0 (got {self.series_lr_factor}).")
        check(self.series_days >= 0, f"series_days must be >= 0 (got {self.series_days}).")
        check(0.0 <= self.date_dropout < 1.0, f"date_dropout must be in [0, 1) (got {self.date_dropout}).")

    @property
    def input_dates(self) -> int:
        return self.dates

    @property
    def heads(self) -> int:
        """The temporal attention's heads: ``temporal_heads`` or the preset's."""
        return self.temporal_heads or self.preset_settings().heads


CONFIG = SeasonConfig
