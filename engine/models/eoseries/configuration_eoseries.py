"""Eoseries settings, presets and card (torch-free).

A season of T dates of one place read pixel by pixel: a pretrained Earth-observation encoder of pixel time series
(Presto, or Galileo reading each pixel's series) takes every pixel's dates with their bands placed in its groups by
name, the months of the dates and a mask per value (clouds, nodata, padding); it stays frozen, so training computes
its features once and caches them (``train.frozen_encoder`` cached); a small head (per pixel, or a 3x3 spatial one)
makes the class map. The values reach it in the sensors' units (no band statistics): it scales them as its release
was pre-trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ...declarations import check, config_only, redeclared, setting
from ..configuration_single_stream import SingleStreamConfig
from ..configuration_utils import DROP_PATH, FROM_DATA, SEASON, FamilyCard, ModelConfig, preset_form
from ..encoders.catalog import SERIES_ENCODERS

HEADS = ("pixel", "spatial")


@dataclass(frozen=True)
class EOSeriesPreset:
    encoder: str
    width: int  # the head's width


@dataclass
class EOSeriesConfig(ModelConfig):
    """A frozen pixel-series encoder (``encoder``: presto, galileo_nano / _tiny / _base) and a light head."""

    name: str = redeclared(ModelConfig, "name", "eoseries")  # the family it configures
    preset: str = redeclared(ModelConfig, "preset", "light")
    aux_channels: int = redeclared(ModelConfig, "aux_channels", 0)
    encoder: str | None = redeclared(SingleStreamConfig, "encoder", None)
    drop_path: float = setting(0.0, **DROP_PATH)
    dates: int = setting(6, help="Dates per place the model was trained with (it takes any count: fewer or more "
                                 "dates are padded and masked).", no_cli=FROM_DATA, no_qgis=FROM_DATA)
    head: str = config_only("spatial", choices=HEADS,
                            help="pixel: each pixel's features alone make its class (1x1 convolutions); spatial: a "
                                 "3x3 convolution over the feature map as well.")
    date_and_place: bool = config_only(
        True, help="Each tile's first date and centre reach the encoder (coords): Presto's location token is the "
                   "tile's latitude and longitude in WGS 84, and the months are the dates' calendar months (from the "
                   "first date's year); false: 0 N 0 E and months of 365.25-day years (bundles written before).")
    # off: on the real Ljubljana season the token lowered Galileo's season below random weights (docs/seasons.md)
    galileo_place: bool = config_only(
        False, help="Galileo reads each tile's place as its release's static location token (latitude and "
                    "longitude on the unit sphere); false (the default): no location token.")
    band_names: list[str] | None = config_only(
        None, help="The image bands' common names (blue, red, nir, ndvi, vv, ...) the encoder places in its groups; "
                   "filled in by training from the data.")

    ENCODERS: ClassVar[tuple[str, ...]] = SERIES_ENCODERS
    PRESETS: ClassVar[dict[str, EOSeriesPreset]] = {
        "tiny": EOSeriesPreset("presto", 16),  # tests
        "light": EOSeriesPreset("presto", 64),
        "base": EOSeriesPreset("galileo_nano", 128),
    }
    TAKES_DAYS: ClassVar[bool] = True
    # bundles written before the settings: 0 N 0 E and 365.25-day months; Galileo without its location token
    BEFORE: ClassVar[dict[str, Any]] = {"date_and_place": False, "galileo_place": False}
    CACHEABLE: ClassVar[bool] = True  # the encoder alone (with the dates' days and masks) makes the head's input
    SENSOR_UNITS: ClassVar[bool] = True  # reads the bands by name in the sensors' units: no statistics, no selection
    description: ClassVar[str] = (
        "A season read pixel by pixel by a pretrained Earth-observation encoder of time series (Presto, or Galileo "
        "per pixel), frozen and its features cached; a light head learns the classes. Bands by name, months from "
        "the dates, clouds masked.")
    CARD: ClassVar[FamilyCard] = FamilyCard(
        "Presto / Galileo pixel series", "Tseng et al. 2023, Lightweight, Pre-trained Transformers for Remote Sensing "
        "Timeseries, arXiv 2304.14065; Tseng et al. 2025, Galileo: Learning Global & Local Features of Many Remote "
        "Sensing Modalities, arXiv 2502.09356", "a season of dates of one place, read per pixel (time series)",
        kinds=(SEASON,), cpu_preset="light", bench_input=(1, 0, 1))
    FORM: ClassVar[dict[str, dict[str, Any]]] = {"model.preset": preset_form("eoseries", lambda: EOSeriesConfig)}

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.dates >= 1, f"dates must be >= 1 (got {self.dates}).")
        check(self.head in HEADS, f"head '{self.head}' is unknown; use one of {HEADS}.")

    @property
    def input_dates(self) -> int:
        return self.dates

    @property
    def encoder_name(self) -> str:
        """The encoder actually built: ``encoder`` or the preset's."""
        return self.encoder or self.preset_settings().encoder

    def fit_data(self, vision_channels: int, aux_channels: int, num_classes: int, aux_ratio: int) -> EOSeriesConfig:
        """As ModelConfig's; training reads no aux rasters for it (a model built with ``aux_channels`` stacks them on
        the encoder's features)."""
        return self.replace(vision_channels=vision_channels, num_classes=num_classes, aux_ratio=aux_ratio,
                            aux_channels=0)


CONFIG = EOSeriesConfig
