"""What a model reads and outputs, as its bundle's "data" section records it: bands and their statistics, the aux
layout, tile size, classes and colours, the label mapping; and what training adds to it (:class:`DataSummary`, made
by ``dataset.build_datasets``). Torch-free."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..models.configuration_utils import ModelConfig
from .normalize import BandStatistics


def known_fields(cls: type, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the entries that are fields of dataclass ``cls``, the others)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}, {k: v for k, v in data.items() if k not in names}


@dataclass
class DataMetadata:
    """The "data" section: what the model reads (bands, statistics, aux layout, tile size) and what it outputs;
    ``extra`` keeps keys this engine does not know (a newer writer's), so they survive a read and write."""

    vision_bands: int
    vision_stats: BandStatistics
    aux_channels: int
    class_names: list[str]
    class_colors: list[str]
    tile_size: int
    aux_stats: BandStatistics | None = None
    aux_prefixes: list[str] = field(default_factory=list)  # aux file name prefixes, in stacking order
    aux_bands_per_file: int | None = None  # None: all bands of each aux file
    aux_files_per_scene: int = 0  # 0: not recorded (bundles before it)
    aux_file_bands: list[int] = field(default_factory=list)  # bands used of each aux file, in order
    aux_ratio: int = 8  # vision pixels per aux pixel
    image_bands: int | None = None  # bands of the training images, before band selection
    bands: list[int] | None = None  # vision band selection (1-based), None = all
    x_bands: list[int] | None = None  # image bands read as the aux input (CMX's X modality)
    gsd: list[float] | None = None  # training pixel size (x, y)
    crs: str | None = None  # training CRS (WKT)
    # the training scenes' middle latitude where gsd's metres on the ground depend on it (Mercator, degrees; None:
    # any other CRS, or a bundle before it, whose metres are then taken at the equator or the image's latitude)
    latitude: float | None = None
    label_mapping: dict[str, int] | None = None  # raw label value -> class; None: not recorded (v1)
    label_default_class: int = 0
    ignore_index: int = 255
    num_classes: int = 1  # output channels: 1 = binary (sigmoid)
    train_scenes: int = 0
    val_scenes: int = 0
    validation: str | None = None  # how validation tiles were chosen, in words
    # the windows held out of the training scenes to validate, each {"scene": file name, "window": [col, row, width,
    # height]} in its pixels (None: separate validation scenes, or a bundle before it): where to score a map
    held_out: list[dict[str, Any]] | None = None
    foreground_fraction: float | None = None  # of labelled training pixels
    polygon_treatment: dict[str, str] | None = None  # class name -> how its polygons are drawn (config/polygons.py)
    band_names: list[str] | None = None  # the vision bands' names, in the model's order (None: not recorded)
    value_range: list[float] | None = None  # [low, high] of the values the model expects (None: its statistics)
    # dates of one place the model takes, their bands stacked in time order (2: before, after; change detection);
    # vision_bands are one date's, vision_stats every date's in that order
    dates: int = 1
    # a season model's: the calendar months (1-12) its training places' dates fell in, each once, in order (None: not
    # a season, or a bundle before it); said when a run gives it another count of dates
    date_months: list[int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def binary(self) -> bool:
        return self.num_classes == 1

    @classmethod
    def from_dict(cls, data: dict[str, Any], model: ModelConfig | None = None) -> DataMetadata:
        """The section as stored; ``model`` fills what v1 bundles kept in the model section only."""
        known, extra = known_fields(cls, data)
        known.pop("extra", None)
        if not known.get("aux_ratio"):
            known["aux_ratio"] = model.aux_ratio if model is not None else 8
        if known.get("num_classes") is None:
            known["num_classes"] = model.num_classes if model is not None else 1
        for key in ("vision_stats", "aux_stats"):
            if known.get(key) is not None:
                known[key] = BandStatistics.from_dict(known[key])
        for key in ("aux_prefixes", "aux_file_bands", "class_names", "class_colors"):
            known[key] = list(known.get(key) or [])
        return cls(**known, extra=dict(extra))

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        out["vision_stats"] = self.vision_stats.to_dict()
        out["aux_stats"] = None if self.aux_stats is None else self.aux_stats.to_dict()
        return {**out, **self.extra}


@dataclass
class DataSummary:
    """The training data: ``metadata`` is the bundle's "data" section; the other fields say what only the training
    run uses (the raw label values counted, whether validation can score a class)."""

    metadata: DataMetadata
    holdout: bool = False  # validation bands were held out of the training scenes
    label_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # label file -> raw value -> pixels
    val_has_foreground: bool | None = None  # any validation label pixel of a class other than 0; None: unknown
