"""Settings of applying models: one scene (SegmentConfig), many scenes (BulkConfig), scoring a prediction
(EvaluateConfig), the post-classification comparison of two dates (CompareConfig), and exporting a bundle to ONNX
(ExportConfig: a command-line job only, no Processing algorithm, so each field says why QGIS does not offer it)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..declarations import Settings, check, check_choices, setting
from ..errors import mention
from ..file_dates import DATED_NAMES
from ..models.configuration_utils import TTA_MODES
from .polygons import PolygonOptions, check_polygon_settings
from .reading import (
    TRAINING_PIXEL_SIZE,
    ImageReading,
    checked_area,
    checked_pixel_size,
    extent_crs_setting,
    extent_setting,
    ground_pixel_size,
    web_pixel_size,
)
from .values import BULK, backend_setting, device_setting, models_setting, parse_label_pairs

# Tiling and threshold when neither the user nor the model (an imported model's maker) says: segment.plan's
# model_defaults fills them. Export records DEFAULT_OVERLAP as Deepness's tiles_overlap.
DEFAULT_OVERLAP, DEFAULT_THRESHOLD = 0.25, 0.5
DEFAULT_OPSET = 17  # export: onnxruntime >= 1.13 (and so Deepness's usual installs) run it

CLI_ONLY = "export is a command-line job (dualstream export); QGIS has no export algorithm"

#: Why the change table's file is no QGIS parameter: QGIS writes the table itself, as a table layer.
CHANGE_TABLE_IN_QGIS = "QGIS writes the change table as a table layer (OUTPUT_TABLE), in any format QGIS writes"
CLASSES_IN_QGIS = ("QGIS takes the two class rasters as the first and later date layers (INPUT, AFTER) when no "
                   "model is given")


@dataclass
class SegmentConfig(PolygonOptions, ImageReading):
    """Whole-scene inference settings."""

    image: str = setting("", param="INPUT", custom_qgis=True, label="Image layer (or a STAC item below)",
                         metavar="RASTER", group="input and output",
                         help="The image to segment: a raster with the bands the model was trained on (see bands). "
                              "This or a STAC item is required.")
    after: list[str] = setting(
        default_factory=list, cli={"action": "append"}, metavar="RASTER", group="input and output", param="AFTER",
        custom_qgis=True, label="Later date (after)",
        help="A change model's later date: the image of the same place after the image above (repeat for more "
             "dates, in time order); any CRS and pixel size (resampled onto the image's grid), the same bands by "
             "name or in the same order. Both dates go through the same band picking and value checks.")
    dates: list[str] = setting(
        default_factory=list, cli={"nargs": "+"}, metavar="RASTER", group="input and output",
        label="Dates of one place (a season)", param="DATES", custom_qgis=True,
        help="A season model's dates of one place, first included: rasters, folders of them, glob patterns or STAC "
             f"items, in any order (sorted by their acquisition dates: a tag, a {DATED_NAMES} file name, "
             "the STAC item's datetime), any CRS and pixel size (read onto the first date's grid); a band named "
             "'cloud' or a raster '<name>_cloud.tif' beside a date masks its clouds. Instead of the image (the image "
             "and its later dates are a pair's short form).")
    stack_dates: list[str] = setting(
        default_factory=list, cli={"nargs": "+"}, metavar="YYYY-MM-DD", group="input and output",
        help="One multi-band stack as the season (given alone as --dates): each band group's acquisition date, in "
             "band order, each group the same number of bands.",
        no_qgis="QGIS takes a season's dates as layers or a folder")
    stac_item: str | None = setting(
        None, metavar="FILE_OR_URL", group="input and output", param="STAC_ITEM", custom_qgis=True,
        label="STAC item (file or URL) instead of an image layer",
        help="A STAC item (JSON file or URL) whose single-band assets are the image: bands picked by name "
             "(eo:bands), scaled by raster:bands, remote COGs read window by window. Replaces the image.")
    models: list[str] = models_setting(
        label="Model (.dsmodel or .onnx; several separated by ; for an ensemble)",
        help="The .dsmodel file written by train, an imported model (import), or an ONNX segmentation model: one "
             "exported here (run by onnxruntime) or one made elsewhere that carries Deepness's metadata (or a "
             "MODEL.json beside it). Several make an ensemble: their probabilities are averaged.")
    output: str = setting("", flag="--out", metavar="OUT.tif", group="input and output", param="OUTPUT",
                          custom_qgis=True, label="Class raster",
                          help="GeoTIFF of class numbers (0 = first class) with the model's colours and class names; "
                               "a .qml style is written beside it. Its folder (and the other outputs') is made when "
                               "missing, as qgis_process does.")
    aux: list[str] = setting(default_factory=list, cli={"action": "append"}, metavar="RASTER",
                             group="input and output", custom_qgis=True, label="Aux layers (in the model's order)",
                             help="The aux rasters the model was trained with, in the training order (files named "
                                  "like the reference layout are put in order automatically); any CRS and "
                                  "resolution, covering the image.")
    model_weights: list[float] | None = setting(
        None, flag="--weights", custom_cli=True, param="WEIGHTS", custom_qgis=True,
        label="Ensemble weights (comma-separated)", help="One weight per model bundle, e.g. 2,1. Empty: equal weights.")
    probabilities: str | None = setting(
        None, metavar="P.tif", group="input and output", param="OUTPUT_PROBABILITIES", custom_qgis=True,
        label="Probability raster",
        help="Also write class probabilities (GeoTIFF; float32 unless --probability-dtype is uint8): one band "
             "(foreground) for binary models, one band per class otherwise.")
    change_table: str | None = setting(
        None, metavar="TABLE.csv", group="input and output",
        help="A change model's change table (CSV): the hectares of each kind of change (a change mask's change, or "
             "each from-to transition), the table a report quotes.",
        no_qgis=CHANGE_TABLE_IN_QGIS)
    ground_pixel_size: float | None = ground_pixel_size("input and output")
    probability_dtype: str = setting(
        "float32", choices=("float32", "uint8"), group="input and output",
        help="uint8 stores round(p * 254), nodata 255.",
        no_qgis="the dialog writes float32 probabilities; uint8 (4x smaller) from the command line")
    confidence: str | None = setting(
        None, metavar="C.tif", group="input and output", param="OUTPUT_CONFIDENCE", custom_qgis=True,
        label="Confidence raster",
        help="Also write the confidence: each pixel's probability of the class it was given (0-1; GeoTIFF, float32 "
             "or uint8 as the probabilities). Styled so low confidence stands out.")
    low_confidence: float = setting(
        0.7, group="input and output", label="Low confidence below", minimum=0.0, maximum=1.0, advanced=True,
        help="The result says which share of the pixels has a confidence below this (the pixels to review).")
    polygons: str | None = setting(None, metavar="P.gpkg", group="input and output", param="OUTPUT_POLYGONS",
                                   custom_qgis=True, label="Polygons", help="Also write polygons (GeoPackage).")
    transparent_classes: str | None = setting(
        None, metavar="CLASS,...", group="input and output", advanced=True,
        label="Classes drawn transparent (names or numbers, comma-separated; empty: automatic, 'none': none)",
        help="Classes the class raster's palette (colour table and style) draws transparent. Not given: the "
             "no-data-like classes (background, clear, no data, unlabelled), so a mask overlays its image.")
    extent: list[float] | None = extent_setting(
        "area", "Segment only this area (snapped outward to the image's pixels). Empty: the whole image.")
    extent_crs: str | None = extent_crs_setting("area")
    pixel_size: float | None = web_pixel_size("area", "over the extent (given as the image).",
                                              default_note=TRAINING_PIXEL_SIZE)
    aoi: str | None = setting(None, metavar="LAYER", group="area",
                              help="Polygon layer: pixels outside become nodata.",
                              no_qgis="the dialog limits the area with Extent; clip the class raster by a mask layer")
    device: str = device_setting("inference")
    overlap: float | None = setting(
        None, label="Tile overlap (share of the tile)", minimum=0.0, maximum=0.89, group="inference",
        default_note=f"the overlap an imported model's maker recorded, else {DEFAULT_OVERLAP}",
        help="Overlap between neighbouring tiles; overlapping predictions are blended, which removes seams.")
    tta: str | None = setting(
        None, choices=(*TTA_MODES, "auto"), off="auto", qgis_default="auto", label="Test-time augmentation",
        group="inference", default_note="auto: the TTA the model's bundle records (flips for change masks), else none",
        help="none; flips (3 passes: as is, flipped left-right, flipped up-down); d4 (8 passes: all rotations and "
             "flips). More passes: smoother results, proportionally slower. auto: what the model was trained to be "
             "run with.")
    threshold: float | None = setting(
        None, label="Probability threshold (binary models)", minimum=0.01, maximum=0.99, advanced=True,
        group="inference",
        default_note=f"the threshold the model records (an imported model's maker's, or a change model's picked "
                     f"on its validation tiles), else {DEFAULT_THRESHOLD}",
        help="A pixel is foreground when its probability is at least this (binary models; for a model made "
             "elsewhere whose output is read as scores, the score a class must reach, as in Deepness).")
    zoom: float | None = setting(
        None, label="Zoom (enlarge the image for the model)", minimum=1.0, maximum=4.0, advanced=True,
        group="inference", default_note="1: the image as it is",
        help="Enlarge the image this many times (bilinear) before the model reads it, and write the outputs back "
             "on the image's grid: a model from few labels may find small objects better enlarged. Time grows "
             "with its square; 1: as it is. With resample_to_training_gsd, the training pixel size over it.")
    prefetch: int = setting(2, group="inference", help="Batches read ahead by the reader thread.",
                            no_qgis="the default keeps the model busy; tune it from the command line")
    backend: str = backend_setting("inference")

    def __post_init__(self) -> None:
        check(not (self.dates and (self.image or self.after or self.stac_item)),
              f"Give the dates either as {mention('segment.dates')} or as the image and its later dates "
              f"({mention('segment.image')}, {mention('segment.after')}), not both.")
        check(not self.stack_dates or len(self.dates) == 1,
              f"{mention('segment.stack_dates')} name the band groups of one stack: give it alone as "
              f"{mention('segment.dates')} (got {len(self.dates)}).")
        if self.stac_item:
            check(not self.image or self.image == self.stac_item,
                  f"Give the image either as {mention('segment.image')} or as {mention('segment.stac_item')}, "
                  f"not both.")
            self.image = str(self.stac_item)
        self.pixel_size = checked_pixel_size(self.pixel_size, "segment.pixel_size")
        self.ground_pixel_size = checked_pixel_size(self.ground_pixel_size, "segment.ground_pixel_size")
        self.check_reading("segment")
        check_choices(self, "segment")
        self.tta = None if self.tta == "auto" else self.tta  # the model's (segment.members.model_defaults)
        check(self.overlap is None or 0.0 <= self.overlap < 0.9,
               f"{mention('segment.overlap')} must be in [0, 0.9) of the tile (got {self.overlap}).")
        check(self.threshold is None or 0.0 < self.threshold < 1.0,
              f"{mention('segment.threshold')} must be in (0, 1) (got {self.threshold}).")
        check(0.0 <= self.low_confidence <= 1.0,
              f"{mention('segment.low_confidence')} must be in [0, 1] (got {self.low_confidence}).")
        check(self.zoom is None or 1.0 <= self.zoom <= 4.0,
              f"{mention('segment.zoom')} must be in [1, 4] (got {self.zoom}).")
        check(self.prefetch >= 1, f"prefetch must be >= 1 batch (got {self.prefetch}).")
        check_polygon_settings(self, "segment")
        self.extent = checked_area(self.extent, self.extent_crs, "segment")
        if self.model_weights is not None:
            check(len(self.model_weights) == len(self.models),
                   f"{mention('segment.model_weights')}: {len(self.model_weights)} weight(s) for {len(self.models)} "
                   f"model bundle(s); give one weight per bundle or leave it empty.")
            check(all(w >= 0 for w in self.model_weights) and sum(self.model_weights) > 0,
                   "model weights must be >= 0 and not all zero.")


@dataclass
class BulkConfig(Settings):
    """Many scenes segmented with the same bundle(s) and SegmentConfig settings, one set of outputs each."""

    images: list[str] = setting(
        default_factory=list, cli={"nargs": "+"}, metavar="PATH_OR_GLOB", group=BULK, param="INPUT",
        custom_qgis=True, label="Image layers",
        help="The scenes to segment: images (files, remote GDAL sources such as /vsicurl/, web layers (XYZ, WMS, "
             "WMTS, WCS) read over the extent at the pixel size) with the bands the model was trained on (picked "
             "by name where they are named); on the command line also globs ('tiles/*.tif', '**' recursive) and "
             "folders. Each scene's outputs go to the output folder, named after it.")
    aux_patterns: list[str] = setting(
        default_factory=list, flag="--aux-pattern", cli={"action": "append"}, metavar="PATTERN", group=BULK,
        custom_qgis=True, label="Aux file pattern(s), in the model's order",
        help="Each scene's aux raster(s) by name, relative to its image: '{stem}_aux.tif' or '../aux/{stem}.tif' "
             "({stem}: the image name without extension, {name}: with it; globs ok); several in the training "
             "order. Empty when the model uses no aux data.")
    after_pattern: str | None = setting(
        None, metavar="PATTERN", group=BULK, label="Later date pattern (a change model's pairs)",
        help="A change model's pairs: each scene's later date by name, relative to its image, as the aux patterns: "
             "'../2023/{name}' or '{stem:_2019=_2023}.tif'. The image is the first date (before); a later date "
             "shared by no other scene is no scene of its own.")
    pair_by_date: str = setting(
        "off", choices=("off", "first", "previous"), group=BULK,
        help=f"A change model's pairs by the image files' acquisition dates (an acquisition tag, {DATED_NAMES} "
             "file names, the datetime of the STAC item a raster was read from) instead of by name: the images of "
             "one place (footprints overlapping by half) in time order, each later date paired with the first "
             "(first: a monitoring series, its first date shared by every pair) or with the date before it "
             "(previous). Outputs are named <first date>_to_<later date>.",
        no_qgis="QGIS pairs a bulk run's scenes by name today (Later date pattern); by date on the command line")
    stac_items: list[str] = setting(
        default_factory=list, cli={"nargs": "+"}, metavar="FILE_OR_URL", group=BULK, custom_qgis=True,
        label="STAC items (files or URLs, separated by ;)",
        help="STAC items as scenes: item files or URLs, ItemCollection files (every item a scene), or text files "
             "listing items one a line; outputs named after each item. With or instead of the images.")
    extent: list[float] | None = extent_setting(
        BULK, "The area web layers among the scenes (XYZ, WMS, WMTS, WCS, ArcGIS REST) are read over, at the pixel "
              "size for web layers; they need it. The other scenes are segmented whole.",
        flag="--extent", custom_cli=True)
    extent_crs: str | None = extent_crs_setting(BULK, flag="--extent-crs", custom_cli=True)
    manifest: str | None = setting(
        None, metavar="FILE", group=BULK, custom_qgis=True, label="Manifest (CSV or JSON) instead of layers/folder",
        help="A CSV whose first line names the columns image, aux (aux2, ... for more), output; or a JSON list of "
             "{\"image\", \"aux\", \"output\"}. Relative paths are relative to the manifest.")
    out_dir: str = setting("", metavar="DIR", group=BULK, param="OUTPUT", custom_qgis=True, label="Output folder",
                           help="One set of outputs per scene, named after the image (<name>.tif + .qml, ...), and "
                                "the run's summary (summary.json/.csv/.html).")
    overwrite: bool = setting(
        False, group=BULK, label="Redo scenes already finished",
        help="Redo the scenes a rerun finds finished with the same model(s) and settings (by default they are "
             "skipped).")
    probabilities: bool = setting(False, flag="--with-probabilities", group=BULK,
                                  label="Also write probability rasters",
                                  help="<name>_probabilities.tif per scene (float32).")
    confidence: bool = setting(False, flag="--with-confidence", group=BULK, label="Also write confidence rasters",
                               help="<name>_confidence.tif per scene: each pixel's probability of its class.")
    polygons: bool = setting(False, flag="--with-polygons", group=BULK, label="Also write polygons",
                             help="<name>.gpkg per scene (class, area, perimeter, confidence, model, scene), and "
                                  "every scene's polygons in one layer, polygons_all_scenes.gpkg.")
    mosaic: bool = setting(False, group=BULK, label="Write a VRT mosaic of the class rasters",
                           help="mosaic.vrt in the output folder (one per CRS when the scenes differ).")

    def __post_init__(self) -> None:
        check_choices(self, "bulk")
        check(bool(self.out_dir), f"No output folder given; give {mention('bulk.out_dir')} (one set of outputs per "
                                   f"scene).")
        listed = bool(self.images or self.stac_items)
        check(listed != bool(self.manifest),
               f"Give the scenes either as {mention('bulk.images')} (files, globs or folders) or as "
               f"{mention('bulk.manifest')}, not both and not neither." if listed else
               f"No scenes given; give {mention('bulk.images')} (files, globs or folders), "
               f"{mention('bulk.stac_items')} or {mention('bulk.manifest')}.")
        check(not (self.after_pattern and self.pair_by_date != "off"),
               f"Give a change model's pairs either by name ({mention('bulk.after_pattern')}) or by date "
               f"({mention('bulk.pair_by_date')}), not both.")
        check(not (self.manifest and self.pair_by_date != "off"),
               f"{mention('bulk.pair_by_date')} pairs {mention('bulk.images')}; a {mention('bulk.manifest')} lists "
               f"its scenes as they are.")
        self.extent = checked_area(self.extent, self.extent_crs, "bulk")
        check(not (self.manifest and self.aux_patterns),
               f"{mention('bulk.aux_patterns')} applies to {mention('bulk.images')}; with {mention('bulk.manifest')} "
               f"give the aux files in its aux columns.")


@dataclass
class EvaluateConfig(Settings):
    """Compare a predicted class raster with a label raster or vector layer."""

    prediction: str = setting(
        "", flag="--pred", cli={"required": True}, metavar="RASTER|DIR", param="INPUT", custom_qgis=True,
        label="Predicted class raster",
        help="A raster of class numbers, e.g. written by segment, or a folder of them.")
    label: str = setting(
        "", cli={"required": True}, metavar="LAYER|DIR", param="LABELS", custom_qgis=True,
        label="Label layer (raster or polygons)",
        help="Reference classes: a raster of class values (any grid and CRS; see the label mapping) or a polygon "
             "layer in any CRS (pixels outside polygons are class 0), or a folder of them matched by file name.")
    output: str = setting("", flag="--out", metavar="metrics.json", custom_qgis=True,
                          label="Metrics (JSON)",
                          help="All metrics as JSON; a CSV of the per-class metrics (<stem>.csv) and the confusion "
                               "matrix (<stem>_confusion.csv) are written beside it (on the command line without it: "
                               "the figures are printed, no file written).")
    label_field: str | None = setting(
        None, metavar="FIELD", custom_qgis=True, label="Class field (polygon labels)",
        help="Field of the polygon labels holding the raw class value. Empty: every polygon is class 1. Ignored "
             "for raster labels.")
    label_mapping: dict[str, int] | None = setting(
        None, flag="--label-map", cli={"action": "append", "type": parse_label_pairs}, metavar="VALUE=CLASS",
        text="label_map", label="Label mapping (VALUE=CLASS, for 'this mapping')",
        help="Raw label values and their classes, e.g. 90=1. Not given (the default): the mapping the model was "
             "trained with, which Segment writes into the class raster (the log says when it is used), or, for a "
             "raster from elsewhere, the label values as class numbers (masks of exactly 0 and 90, or 0 and 255, "
             "of a two-class prediction read as training reads them: 90=1, 255=1); an empty mapping (QGIS: Label "
             "values 'class numbers'): the label values are the class numbers. A mapping none of whose values "
             "occurs in the labels, or label values that are not classes, stop with a message instead of scoring "
             "every pixel as background.")
    num_classes: int | None = setting(None, help="Default: from the prediction's category names.",
                                      no_qgis="the classes come from the prediction, which Segment writes them into")
    ignore_index: int = setting(255, help="Label value left out of the metrics.",
                                no_qgis="map raw values to 255 with Label mapping to leave them out")
    per_image_dice: bool = setting(False, flag="--dice", help="Per-image Dice (foreground = 1).",
                                   no_qgis="a competition metric over folders of images; command line only")
    rle_csv: str | None = setting(
        None, metavar="CSV", help="Write the run-length CSV (ImageId,EncodedPixels; row-major, 1-indexed, -1 = empty).",
        no_qgis="a competition format; command line only")
    html: str | None = setting(
        None, metavar="REPORT.html", param="OUTPUT_HTML", custom_qgis=True, label="Metrics report (HTML)",
        help="A one-page HTML summary (per-class table and confusion matrix).")

    #: The most classes a confusion matrix is kept for (4096² counts: 128 MiB per matrix, one per image besides).
    MAX_CLASSES = 4096

    def __post_init__(self) -> None:
        if self.num_classes is not None:
            check(1 <= self.num_classes <= self.MAX_CLASSES,
                  f"{mention('evaluate.num_classes')} must be a class count from 1 to {self.MAX_CLASSES} (got "
                  f"{self.num_classes}); leave it unset to read the classes from the prediction.")


@dataclass
class CompareConfig(Settings):
    """Two dates compared class by class (segmented with ``models``, or class rasters) into a change raster."""

    image: str = setting("", metavar="RASTER", group="input and output", param="INPUT", custom_qgis=True,
                         label="First date (before)", help="The first date (before), segmented with the model.")
    after: str = setting("", metavar="RASTER", group="input and output", param="AFTER", custom_qgis=True,
                         label="Later date (after)",
                         help="The later date (after), segmented with the same model; any CRS and pixel size: its "
                              "classes are brought onto the first date's grid (nearest).")
    models: list[str] = models_setting(
        label="Segmentation model (of one date; several separated by ;)",
        help="A segmentation model of one date (a .dsmodel, an imported or ready model, an ONNX model) that "
             "segments both dates; several make an ensemble.")
    before_classes: str | None = setting(
        None, metavar="CLASSES.tif", group="input and output", no_qgis=CLASSES_IN_QGIS,
        help="Instead of a model: the first date's class raster (two cloud masks, two land-cover maps).")
    after_classes: str | None = setting(
        None, metavar="CLASSES.tif", group="input and output", no_qgis=CLASSES_IN_QGIS,
        help="Instead of a model: the later date's class raster, with the same classes.")
    output: str = setting("", flag="--out", metavar="CHANGE.tif", group="input and output", param="OUTPUT",
                          custom_qgis=True, label="Change raster",
                          help="The change raster: 0 no change (transparent), then one class per transition "
                               "(from -> to), each its colour; a .qml style beside it.")
    change_table: str | None = setting(
        None, metavar="TABLE.csv", group="input and output", no_qgis=CHANGE_TABLE_IN_QGIS,
        help="The change table (CSV): the hectares of each transition.")
    ground_pixel_size: float | None = ground_pixel_size("input and output")
    polygons: str | None = setting(None, metavar="P.gpkg", group="input and output", param="OUTPUT_POLYGONS",
                                   custom_qgis=True, label="Polygons of change",
                                   help="Also write polygons of change (GeoPackage): transition, from, to, area.")
    extent: list[float] | None = extent_setting(
        "settings", "With a model: compare only this area of the two dates (both segmented over it; web layers need "
                    "it). Empty: the whole first date.")
    extent_crs: str | None = extent_crs_setting("settings")
    pixel_size: float | None = web_pixel_size("settings", "as a date over the extent, with a model.",
                                              default_note=TRAINING_PIXEL_SIZE)
    mask: bool = setting(False, group="settings", label="A change mask (change or not) instead of transitions",
                         help="Write a change mask (no change, change) instead of one class per transition.")
    device: str = device_setting("settings")
    backend: str = backend_setting("settings")

    def __post_init__(self) -> None:
        self.pixel_size = checked_pixel_size(self.pixel_size, "compare.pixel_size")
        self.ground_pixel_size = checked_pixel_size(self.ground_pixel_size, "compare.ground_pixel_size")
        check_choices(self, "compare")
        self.extent = checked_area(self.extent, self.extent_crs, "compare")
        classes = bool(self.before_classes or self.after_classes)
        check(bool(self.output), f"No output given; give {mention('compare.output')} (a .tif) for the change raster.")
        if classes:
            check(bool(self.before_classes and self.after_classes),
                  f"Give both class rasters, {mention('compare.before_classes')} and "
                  f"{mention('compare.after_classes')}.")
            check(not self.models, f"Give either a model ({mention('compare.models')}) or two class rasters, not "
                                   f"both.")
            check(self.extent is None, f"{mention('compare.extent')} applies when a model segments the dates; crop "
                                       f"the class rasters to the area first (gdal_translate -projwin).")
        else:
            check(bool(self.models), f"Give a segmentation model ({mention('compare.models')}) to segment both "
                                     f"dates, or the two dates' class rasters ({mention('compare.before_classes')}, "
                                     f"{mention('compare.after_classes')}).")
            check(bool(self.image and self.after), f"Give both dates: {mention('compare.image')} (before) and "
                                                   f"{mention('compare.after')}.")


@dataclass
class ExportConfig(Settings):
    """How a bundle becomes an ONNX model (the files it writes are the command's ``--onnx`` and ``--stac``)."""

    tile_size: int | None = setting(
        None, metavar="N", no_qgis=CLI_ONLY, default_note="the bundle's",
        help="Tile edge in pixels, a multiple of the model's size multiple.")
    opset: int = setting(DEFAULT_OPSET, no_qgis=CLI_ONLY, help="ONNX opset version.")
    dynamic_batch: bool = setting(False, no_qgis=CLI_ONLY,
                                  help="Any batch size (default: a fixed batch of --batch-size).")
    batch_size: int = setting(1, no_qgis=CLI_ONLY, help="The fixed batch size.")
    single_input: bool = setting(
        False, no_qgis=CLI_ONLY,
        help="One input tensor: the vision bands, then the X / aux channels (Deepness feeds one tensor); for models "
             "whose second stream is on the image grid (CMX with --x-bands, early fusion).")
    overlap: float = setting(DEFAULT_OVERLAP, no_qgis=CLI_ONLY,
                             help="Tile overlap (share of the tile) recorded for Deepness.")
    quantize: str = setting(
        "none", choices=("none", "int8"), no_qgis=CLI_ONLY,
        help="int8: onnxruntime static quantization (QDQ, per-channel int8 weights). Optional: on a 2-core VM "
             "2.4-2.7x faster than fp32 for UNet light (IoU 0.003 lower on the sample), not faster for UNet tiny or "
             "DualStream b0 (docs/benchmarks.md, int8); measure speed and IoU on your own machine and scenes.")

    #: The largest fixed batch exported: the export traces the graph with a batch this size (and checks it).
    MAX_BATCH = 1024

    def __post_init__(self) -> None:
        check_choices(self, "export")
        check(1 <= self.batch_size <= self.MAX_BATCH,
              f"{mention('export.batch_size')} must be from 1 to {self.MAX_BATCH} tiles (got {self.batch_size}); "
              f"the export runs the model on a batch that size. For any batch, give {mention('export.dynamic_batch')}.")
        check(math.isfinite(self.overlap) and 0.0 <= self.overlap < 0.9,
              f"{mention('export.overlap')} must be a share of the tile in [0, 0.9) (got {self.overlap}).")
