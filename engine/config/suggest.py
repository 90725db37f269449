"""Settings of ``suggest`` (SuggestConfig): where labelling next is expected to help a model most.

The scenes, the model(s) and the labelled area so far go in; a polygon layer of ranked square windows comes out.
Each field declares how the command line and the Processing algorithm *Suggest where to label* offer it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..declarations import check_choices, setting
from ..errors import mention
from ..settings import check
from .reading import (
    TRAINING_PIXEL_SIZE,
    ImageReading,
    ValueUnits,
    checked_area,
    checked_pixel_size,
    extent_crs_setting,
    extent_setting,
    web_pixel_size,
)
from .values import TTA_MODES, backend_setting, device_setting

MIN_WINDOW = 8  # pixels: a smaller square is too small to label or to score


@dataclass
class SuggestConfig(ValueUnits, ImageReading):
    """Windows to label next, ranked by how much labelling them is expected to help."""

    #: segment's settings that suggest takes otherwise, as its messages name them (engine/segment/relay.py): the
    #: scenes are whole (no extent), each given as an image.
    SEGMENT_NAMES: ClassVar[dict[str, str]] = {
        "image": mention("suggest.images"),
        "extent": f"a scene cut to the area as {mention('suggest.images')}",
        "extent_crs": f"the CRS of {mention('suggest.images')}",
    }

    models: list[str] = setting(
        default_factory=list, flag="--model", cli={"action": "append"}, metavar="MODEL", group="input and output",
        param="MODEL", custom_qgis=True, label="Model bundle (.dsmodel; several separated by ; for an ensemble)",
        help="Model bundle (.dsmodel); several: an ensemble, whose members' disagreement counts too.")
    images: list[str] = setting(
        default_factory=list, flag="--image", cli={"action": "append"}, metavar="RASTER", group="input and output",
        param="INPUT", custom_qgis=True, label="Scenes",
        help="The scenes to look at, with the bands the model was trained on; the windows are spread over them.")
    aux: list[str] = setting(
        default_factory=list, cli={"action": "append"}, metavar="RASTER", group="input and output", param="AUX",
        custom_qgis=True, label="Aux layers (in the model's order)",
        help="For a model that fuses aux rasters (SAR, elevation, ...): the aux rasters it was trained with, in the "
             "training order, read for every scene where they cover it (any CRS and resolution: a mosaic or a "
             "regional DEM serves every scene).")
    labelled_area: str | None = setting(
        None, flag="--labelled-area", metavar="LAYER", group="input and output", param="LABELLED_AREA",
        custom_qgis=True, label="Labelled area so far",
        help="Polygons of what is labelled already (the windows of earlier rounds; any polygon layer or file): no "
             "window is suggested where half of it is labelled.")
    extent: list[float] | None = extent_setting(
        "input and output", "The area web layers are read over, which they need (other scenes are read whole).")
    extent_crs: str | None = extent_crs_setting("input and output", default="the layer's")
    pixel_size: float | None = web_pixel_size("input and output", "over the extent (given as a scene), its "
                                              "window kept beside the windows layer for propose.",
                                              default_note=TRAINING_PIXEL_SIZE)
    output: str = setting("", flag="--out", metavar="SUGGEST.gpkg", group="input and output", param="OUTPUT",
                          custom_qgis=True, label="Windows to label",
                          help="GeoPackage of the ranked windows to write (rank, score, why).")
    count: int = setting(10, label="Number of windows", minimum=1, maximum=10000, group="suggest",
                         help="How many windows to suggest.")
    window: int = setting(128, metavar="PX", label="Window size (pixels)", minimum=8, maximum=100000,
                          group="suggest", help="Side of each square window, in pixels of the scene.")
    tta: str = setting(
        "flips", choices=TTA_MODES, label="Test-time augmentation", group="suggest",
        help="flips or d4: the model also looks at flipped views, and where they disagree with the plain view "
             "counts as uncertain; none: one view (faster).")
    device: str = device_setting("suggest")
    backend: str = backend_setting("suggest")

    def __post_init__(self) -> None:
        check_choices(self, "suggest")
        check(self.count >= 1, f"{mention('suggest.count')} must be at least 1 (got {self.count}).")
        check(self.window >= MIN_WINDOW,
              f"{mention('suggest.window')} must be at least {MIN_WINDOW} pixels (got {self.window}).")
        self.check_units("suggest")
        self.check_reading("suggest")
        self.extent = checked_area(self.extent, self.extent_crs, "suggest")
        self.pixel_size = checked_pixel_size(self.pixel_size, "suggest.pixel_size")
