"""What the training data looked like (torch-free): bands, statistics, aux layout, classes, labels, tiles.

``build_datasets`` (``dataset``) makes it; the bundle's "data" section is made from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .metadata import DataMetadata
from .normalize import BandStatistics


@dataclass
class DataSummary:
    """What the training data looked like; ``to_bundle_metadata`` is the bundle's "data" section."""

    vision_bands: int
    vision_stats: BandStatistics
    aux_channels: int
    aux_stats: BandStatistics | None
    aux_prefixes: list[str]
    aux_bands_per_file: int | None  # None: all bands of each aux file
    aux_ratio: int
    class_names: list[str]
    class_colors: list[str]
    tile_size: int
    gsd: list[float]
    crs: str | None
    label_mapping: dict[str, int]
    label_default_class: int
    ignore_index: int
    num_classes: int
    train_scenes: list[str] = field(default_factory=list)
    val_scenes: list[str] = field(default_factory=list)
    holdout: bool = False  # validation bands were held out of the training scenes
    train_tiles: int = 0  # per epoch
    val_tiles: int = 0
    label_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # label file -> raw value -> pixels
    foreground_fraction: float = 0.0  # of labelled training pixels
    val_has_foreground: bool | None = None  # any validation label pixel of a class other than 0; None: unknown
    aux_files_per_scene: int = 0
    aux_file_bands: list[int] = field(default_factory=list)  # bands used of each aux file, in order
    image_bands: int = 0  # bands of the training images (before band selection)
    bands: list[int] | None = None  # vision band selection (1-based), None = all
    x_bands: list[int] | None = None  # image bands read as the aux input (CMX's X modality)

    def to_bundle_metadata(self) -> DataMetadata:
        """The bundle's "data" section."""
        return DataMetadata(
            vision_bands=self.vision_bands, vision_stats=self.vision_stats, aux_channels=self.aux_channels,
            aux_stats=self.aux_stats, aux_prefixes=list(self.aux_prefixes),
            aux_bands_per_file=self.aux_bands_per_file, aux_files_per_scene=self.aux_files_per_scene,
            aux_file_bands=list(self.aux_file_bands), aux_ratio=self.aux_ratio, image_bands=self.image_bands,
            bands=None if self.bands is None else list(self.bands),
            x_bands=None if self.x_bands is None else list(self.x_bands),
            class_names=list(self.class_names), class_colors=list(self.class_colors), tile_size=self.tile_size,
            gsd=[float(v) for v in self.gsd], crs=self.crs, label_mapping=dict(self.label_mapping),
            label_default_class=self.label_default_class, ignore_index=self.ignore_index,
            num_classes=self.num_classes, train_scenes=len(self.train_scenes), val_scenes=len(self.val_scenes),
            validation="held-out bands of the training scenes" if self.holdout else "separate scenes",
            foreground_fraction=round(float(self.foreground_fraction), 6),
        )
