"""What the training data looked like (torch-free): the bundle's "data" section and what training adds to it.

``build_datasets`` (``dataset``) makes it; the bundle stores its ``metadata`` as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .metadata import DataMetadata


@dataclass
class DataSummary:
    """The training data: ``metadata`` is the bundle's "data" section (bands, statistics, aux layout, classes,
    labels, tile size); the other fields say what only the training run uses (which scenes, how many tiles, the
    raw label values counted, whether validation can score a class)."""

    metadata: DataMetadata
    train_scenes: list[str] = field(default_factory=list)
    val_scenes: list[str] = field(default_factory=list)
    holdout: bool = False  # validation bands were held out of the training scenes
    train_tiles: int = 0  # per epoch
    val_tiles: int = 0
    label_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # label file -> raw value -> pixels
    val_has_foreground: bool | None = None  # any validation label pixel of a class other than 0; None: unknown
