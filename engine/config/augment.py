"""Augmentation settings of the training tiles (AugmentConfig, the ``augment`` section of the data settings)."""

from __future__ import annotations

from dataclasses import dataclass

from ..declarations import Settings, check, config_only, setting


@dataclass
class AugmentConfig(Settings):
    """Joint (vision, aux, label) geometric augmentation and vision-only photometric augmentation."""

    flips: bool = config_only(True, help="Random flips of the training tiles.")
    rot90: bool = config_only(True, help="Random quarter turns of the training tiles.")
    rotation_degrees: float = config_only(10.0, help="Small random rotation up to this angle, 0 = off.")
    scale_range: list[float] = config_only(default_factory=lambda: [0.75, 1.25], help="Random resized crop scales.")
    color_jitter: float = config_only(0.2, help="Brightness/contrast jitter strength, 0 = off.")
    gray_probability: float = config_only(0.05, help="Share of tiles turned grey.")
    hsv: float = setting(
        0.0, label="Hue/saturation/value jitter (3-band imagery)", minimum=0.0, maximum=1.0, advanced=True,
        metavar="STRENGTH", group="data",
        help="Strength of random hue, saturation and brightness changes of 3-band imagery. 0: off.")
    clahe_probability: float = setting(
        0.0, flag="--clahe", param="CLAHE", label="CLAHE share", minimum=0.0, maximum=1.0, advanced=True,
        metavar="SHARE", group="data",
        help="Share of training tiles given contrast-limited adaptive histogram equalisation. 0: off.")
    clahe_clip: float = config_only(2.0, help="CLAHE clip limit, x the mean histogram bin count.")
    clahe_grid: int = config_only(8, help="CLAHE tiles per side.")
    swap_dates: float = config_only(
        0.5, help="Share of training tiles of two dates whose dates are swapped, where the label is a change mask "
                  "(two classes: a change either way); from-to classes are never swapped.")
    copy_paste: float = setting(
        0.0, label="Copy-paste share", minimum=0.0, maximum=1.0, advanced=True, metavar="SHARE", group="data",
        help="Share of training tiles that get foreground objects (whole connected regions, with their labels) "
             "pasted from another tile of the batch. 0: off.")
    change_paste: float = config_only(
        0.0, help="Share of training tiles of several dates with a change mask that get one changed object of a "
                  "tile of the batch, enlarged (change_paste_zoom) and pasted at a random place, every date onto "
                  "its own date, as change (engine/data/change_paste.py). 0: off.")
    change_paste_zoom: list[float] = config_only(
        default_factory=lambda: [1.5, 4.0], help="Range of the factor a pasted changed object is enlarged by "
                                                 "(log-uniform; at most 3/4 of the tile's side).")
    change_paste_unchanged: float = config_only(
        0.3, help="Share of the change pastes made unchanged: one date's pixels of the object onto every date, "
                  "marked no change (a pasted edge alone is not change).")
    change_paste_bright: float = config_only(
        0.5, help="Share of the change pastes whose object is made light on one date (drawn toward the tile's "
                  "brightest values: a white roof).")

    def __post_init__(self) -> None:
        check(len(self.scale_range) == 2 and 0 < self.scale_range[0] <= self.scale_range[1],
               f"scale_range must be [low, high] with 0 < low <= high (got {self.scale_range}).")
        check(0.0 <= self.gray_probability <= 1.0, "gray_probability must be in [0, 1].")
        for name in ("hsv", "clahe_probability", "swap_dates", "copy_paste", "change_paste",
                     "change_paste_unchanged", "change_paste_bright"):
            value = getattr(self, name)
            check(0.0 <= value <= 1.0, f"augment.{name} must be in [0, 1] (got {value}).")
        check(len(self.change_paste_zoom) == 2 and 0 < self.change_paste_zoom[0] <= self.change_paste_zoom[1],
              f"augment.change_paste_zoom must be [low, high] with 0 < low <= high (got {self.change_paste_zoom}).")
        check(self.clahe_clip >= 1.0 and self.clahe_grid >= 1, "augment.clahe_clip must be >= 1 and clahe_grid >= 1.")

    @property
    def extra_photometric(self) -> bool:
        """Whether the HSV-like or CLAHE options are on (they take extra random draws per tile)."""
        return self.hsv > 0 or self.clahe_probability > 0
