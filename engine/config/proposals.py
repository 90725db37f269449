"""Settings of the labelling loop: ``suggest`` (SuggestConfig: ranked windows where labelling next helps a model
most), ``label`` (PromptedConfig: polygons from Segment Anything prompts over one window of an image) and the two
steps after ``suggest``: ``propose`` (ProposeConfig: candidate labels, the model's blobs refined by Segment
Anything) and ``accept`` (AcceptConfig: a window's candidates, as corrected, appended to the labels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ..declarations import Settings, check, check_choices, setting
from ..errors import mention
from ..models.configuration_utils import TTA_MODES
from .bands import parse_band_list
from .reading import (
    TRAINING_PIXEL_SIZE,
    ImageReading,
    checked_area,
    checked_pixel_size,
    extent_crs_setting,
    extent_setting,
    web_pixel_size,
)
from .values import backend_setting, device_setting, models_setting

MIN_WINDOW = 8  # pixels: a smaller square is too small to label or to score
#: the largest class number a label takes: a class raster holds classes as UInt16, 65535 its nodata
MAX_CLASS = 65534

TREATMENT_CHOICES = ("auto", "regularise", "smooth", "as_is")


def _ranks(ranks: list[int] | None, key: str) -> list[int] | None:
    """Window ranks as numbers from 1; an empty list (a front end's empty text) is no choice: None."""
    if not ranks:
        return None
    ranks = [int(r) for r in ranks]
    check(all(r >= 1 for r in ranks), f"{mention(key)} are ranks from 1 (got {ranks}).")
    return ranks


@dataclass
class SuggestConfig(ImageReading):
    """Windows to label next, ranked by how much labelling them is expected to help."""

    #: segment's settings that suggest takes otherwise, as its messages name them (engine/segment/relay.py): the
    #: scenes are whole (no extent), each given as an image.
    SEGMENT_NAMES: ClassVar[dict[str, str]] = {
        "image": mention("suggest.images"),
        "extent": f"a scene cut to the area as {mention('suggest.images')}",
        "extent_crs": f"the CRS of {mention('suggest.images')}",
    }

    models: list[str] = models_setting(
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
        self.check_reading("suggest")
        self.extent = checked_area(self.extent, self.extent_crs, "suggest")
        self.pixel_size = checked_pixel_size(self.pixel_size, "suggest.pixel_size")


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


@dataclass
class ProposeConfig(ImageReading):
    """Candidate labels in the windows ``suggest`` ranked: the model's blobs as box prompts, refined by SAM."""

    #: segment's settings that propose takes otherwise, as its messages name them (engine/segment/relay.py): each
    #: window of the windows layer gives the scene and the area read.
    SEGMENT_NAMES: ClassVar[dict[str, str]] = {
        "image": f"the scenes of {mention('propose.windows')}",
        "extent": f"other windows ({mention('propose.windows')})",
        "extent_crs": f"the CRS of {mention('propose.windows')}",
    }

    windows: str = setting("", flag="--windows", metavar="SUGGEST.gpkg", group="input and output", param="WINDOWS",
                           custom_qgis=True, label="Windows to label (the layer Suggest where to label wrote)",
                           help="The windows layer suggest wrote (rank, scene, size_px); each window's scene is read "
                                "from it.")
    models: list[str] = models_setting(
        help="The current model (the one suggest ran): its predicted blobs in each window become the prompts.")
    aux: list[str] = setting(
        default_factory=list, cli={"action": "append"}, metavar="RASTER", group="input and output", param="AUX",
        custom_qgis=True, label="Aux layers (in the model's order)",
        help="For a model that fuses aux rasters: the aux rasters it was trained with, in the training order.")
    ranks: list[int] | None = setting(
        None, flag="--rank", cli={"nargs": "+", "type": int}, metavar="RANK", group="input and output",
        help="The windows to propose labels for, by rank (default: every window of the layer).",
        no_qgis="the windows layer's selected features pick the windows (Selected features only)")
    output: str = setting("", flag="--out", metavar="PROPOSALS.gpkg", group="input and output", param="OUTPUT",
                          custom_qgis=True, label="Proposed labels",
                          help="GeoPackage of one layer to write: the candidate polygons of every window, each with "
                               "its window (the suggest rank), class, the model's probability and SAM's score.")
    sam_model: str = setting("sam2.1-tiny", flag="--sam", metavar="NAME", group="propose", param="SAM_MODEL",
                             label="Segment Anything model (a name, a Hugging Face id or a folder)",
                             help="sam2.1-tiny, sam2.1-small, sam-vit-base, slimsam, sam3 (text prompts; gated), any "
                                  "Hugging Face id of a transformers SAM / SAM 2 / SAM 3 checkpoint, or a local "
                                  "save_pretrained folder.")
    text: str = setting("", metavar="WORDS", group="propose", param="TEXT", label="Text (SAM 3, instead of boxes)",
                        help="With SAM 3: every object this text names in each window, e.g. building, in place of "
                             "the model's boxes; its class is the model's class of that name.")
    min_pixels: float = setting(16.0, metavar="PX", group="propose", label="Smallest blob (pixels)", minimum=0.0,
                                help="Predicted blobs smaller than this many pixels are not proposed; SAM's polygons "
                                     "and holes under it are dropped or filled.")
    treatment: str = setting("auto", choices=TREATMENT_CHOICES, group="propose", label="Outline",
                             help="regularise (squared: buildings), smooth, as_is (pixel edges); auto: by the "
                                  "class name.")
    device: str = device_setting("propose", advanced=True)
    backend: str = backend_setting("propose")

    def __post_init__(self) -> None:
        check_choices(self, "propose")
        check(math.isfinite(self.min_pixels) and self.min_pixels >= 0,
              f"{mention('propose.min_pixels')} must be a number >= 0 (got {self.min_pixels}).")
        self.check_reading("propose")
        self.ranks = _ranks(self.ranks, "propose.ranks")  # None: every window


@dataclass
class AcceptConfig(Settings):
    """The candidates of accepted windows appended to the labels, the windows to the labelled area."""

    proposals: str = setting("", flag="--proposals", metavar="PROPOSALS.gpkg", group="input and output",
                             param="PROPOSALS", custom_qgis=True, label="Proposed labels (as corrected)",
                             help="The proposals layer propose wrote, edited as you like (features deleted, moved, "
                                  "redrawn, their class_id changed): its features of the accepted windows are the "
                                  "labels added.")
    windows: str = setting("", flag="--windows", metavar="SUGGEST.gpkg", group="input and output", param="WINDOWS",
                           custom_qgis=True, label="Windows to label (the layer Suggest where to label wrote)",
                           help="The windows layer suggest wrote: the outlines of the accepted windows are added to "
                                "the labelled area.")
    window_ids: list[int] | None = setting(
        None, flag="--window", cli={"nargs": "+", "type": int}, metavar="RANK", group="input and output",
        param="WINDOW_IDS", text="list", label="Windows accepted (ranks, comma-separated)",
        help="The windows accepted, by rank (a window with no proposal left is accepted as all background). Empty: "
             "the windows of the proposals given (in QGIS the selected ones with Selected features only).")
    labels: str = setting("", flag="--labels", metavar="LABELS.gpkg", group="input and output", param="LABELS",
                          custom_qgis=True, label="Label layer to append to",
                          help="Your polygon labels (a GeoPackage layer, file.gpkg or file.gpkg|layername=NAME): "
                               "the accepted polygons are appended in one transaction; a new file is created when "
                               "it does not exist.")
    labelled_area: str = setting("", flag="--labelled-area", metavar="LAYER", group="input and output",
                                 param="LABELLED_AREA", custom_qgis=True, label="Labelled area to append to",
                                 help="The labelled area (a GeoPackage layer): the accepted windows' outlines are "
                                      "appended; a new file is created when it does not exist.")
    label_field: str = setting("class", flag="--label-field", metavar="FIELD", group="input and output",
                               param="LABEL_FIELD_NAME", label="Class field of the label layer",
                               help="The field of the label layer that holds the class (train's --label-field); "
                                    "each polygon's class_id goes there.")

    def __post_init__(self) -> None:
        check(bool(str(self.label_field).strip()), f"{mention('accept.label_field')} must name a field.")
        self.window_ids = _ranks(self.window_ids, "accept.window_ids")  # None: the proposals' windows
