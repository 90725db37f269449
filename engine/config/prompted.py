"""Settings of ``label`` (PromptedConfig): polygons from Segment Anything prompts over one window of an image.

Each field declares how the command line and the Processing algorithm *Label with Segment Anything* offer it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..declarations import check_choices, setting
from ..errors import mention
from ..settings import Settings, check
from .bands import parse_band_list
from .crs import checked_area
from .reading import checked_pixel_size, extent_crs_setting, extent_setting, web_pixel_size
from .values import device_setting

#: the largest class number a label takes: a class raster holds classes as UInt16, 65535 its nodata
MAX_CLASS = 65534

TREATMENT_CHOICES = ("auto", "regularise", "smooth", "as_is")


@dataclass
class PromptedConfig(Settings):
    """Polygons where Segment Anything answers points, boxes or a text over a window of an image."""

    image: str = setting("", metavar="RASTER", group="input and output", param="INPUT", custom_qgis=True,
                         label="Image", help="The image (a raster file, a URL, a STAC item or a web layer).")
    extent: list[float] | None = extent_setting(
        "input and output", "The window the model looks at (empty: the whole image), read at the image's pixel size "
                            "and fitted to the model's 1024-pixel input: a window of about 1024 pixels keeps every "
                            "detail.", label="Window")
    extent_crs: str | None = extent_crs_setting("input and output", label="Window", of="window")
    pixel_size: float | None = web_pixel_size("input and output", "over the window, never finer than the "
                                              "service's finest level.")
    bands: list[str] | None = setting(
        None, cli={"type": str}, metavar="B,...", group="input and output", param="BANDS",
        label="Bands shown as red, green, blue (empty: by name)",
        help="Three bands shown to the model as red, green and blue (or one, as grey): numbers counted from 1 "
             "(4,3,2) or names (B04,B03,B02, red,green,blue, a STAC item's asset keys). Empty: natural colour "
             "picked by the bands' names, else the first three bands.")
    prompts: str | None = setting(
        None, flag="--prompts", metavar="LAYER", group="input and output", param="PROMPTS", custom_qgis=True,
        label="Prompts (points or polygons)",
        help="A vector layer: each point is a click (a field 'label' of 0 marks a point that is not the object; "
             "points sharing a value of a field 'prompt' are one prompt), each polygon or line's bounding box is a "
             "box prompt. Any CRS.")
    text: str = setting("", metavar="WORDS", group="input and output", param="TEXT", label="Text (SAM 3)",
                        help="Every object this text names, e.g. building (SAM 3 only).")
    model: str = setting("sam2.1-tiny", metavar="NAME", group="label", param="MODEL",
                         label="Segment Anything model (a name, a Hugging Face id or a folder)",
                         help="sam2.1-tiny, sam2.1-small, sam-vit-base, slimsam, sam3 (text prompts; gated) or edgetam "
                              "(needs timm), any Hugging Face id of a transformers SAM / SAM 2 / SAM 3 checkpoint, or "
                              "a local save_pretrained folder. Downloaded once into the Hugging Face cache.")
    output: str = setting("", flag="--out", metavar="LABELS.gpkg", group="input and output", param="OUTPUT",
                          custom_qgis=True, label="Labels",
                          help="GeoPackage of the polygons to write (class, score, prompt).")
    class_value: int = setting(1, metavar="N", group="label", label="Class value", minimum=0, maximum=MAX_CLASS,
                               help="The class number every polygon gets (the labels' class_id), 0 to 65534.")
    class_name: str = setting("", metavar="NAME", group="label", label="Class name",
                              help="The class's name (default: the text, else 'object'); buildings get squared "
                                   "outlines unless the outline is chosen.")
    treatment: str = setting("auto", choices=TREATMENT_CHOICES, group="label", label="Outline",
                             help="regularise (squared: buildings), smooth, as_is (pixel edges); auto: by the "
                                  "class name.")
    min_pixels: float = setting(16.0, metavar="PX", group="label", label="Drop specks under (pixels)", minimum=0.0,
                                advanced=True, help="Polygons and holes smaller than this many pixels are dropped "
                                                    "or filled.")
    device: str = device_setting("label", advanced=True)

    def __post_init__(self) -> None:
        self.bands = parse_band_list(self.bands, "label.bands")
        self.pixel_size = checked_pixel_size(self.pixel_size, "label.pixel_size")
        check_choices(self, "label")
        check(math.isfinite(self.min_pixels) and self.min_pixels >= 0,
              f"{mention('label.min_pixels')} must be a number >= 0 (got {self.min_pixels}).")
        check(0 <= self.class_value <= MAX_CLASS, f"{mention('label.class_value')} must be a class number 0 to "
                                                  f"{MAX_CLASS} (got {self.class_value}).")
        self.extent = checked_area(self.extent, self.extent_crs, "label")
