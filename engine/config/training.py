"""Training settings: the scenes and how they become tiles (DataConfig, SceneSpec; AugmentConfig in :mod:`.augment`)
and the optimisation (TrainConfig, whose ``loss`` section is :class:`~engine.config.loss.LossConfig`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..declarations import Settings, check, check_choices, config_only, setting
from ..errors import mention
from ..file_dates import DATED_NAMES
from .augment import AugmentConfig
from .bands import BandSelection, parse_band_list, parse_bands
from .loss import LEGACY_LOSS_SETTINGS, LossConfig, legacy_loss
from .reading import check_crs, checked_extent, checked_pixel_size, web_pixel_size
from .values import (
    AMP_MODES,
    CONSISTENCY,
    EARLY_STOP_METRICS,
    FROZEN_ENCODER,
    MAX_WORKERS,
    OPTIM_DETAIL,
    OPTIMIZERS,
    REFERENCE_AUX_BANDS_PER_FILE,
    REFERENCE_AUX_PREFIXES,
    SCHEDULES,
    SECTION,
    check_class_colors,
    check_class_names,
    check_tile_size,
    device_setting,
    parse_label_pairs,
)

#: Epochs (and warm-up epochs) at most: more is no training plan but a typo (a time budget bounds a long run).
MAX_EPOCHS = 1_000_000
#: The most tiles one epoch draws (their list is planned at once: 80 MB of indices at this count).
MAX_TILES_PER_EPOCH = 10_000_000


@dataclass
class SceneSpec(Settings):
    """One explicit training/validation/inference scene as a GIS user has it: its inputs are declared once, so
    the command line's scene options (``--image`` ... ``--labelled-area``, grouped by scene) and Train's layer
    parameters (INPUT, LABELS, LABEL_FIELD, AUX, EXTENT, LABELLED_AREA) say the same."""

    image: str = setting(
        "", flag="--image", custom_cli=True, param="INPUT", custom_qgis=True, metavar="RASTER",
        label="Image layer (with labels below; or a dataset folder)",
        help="Imagery to learn from (any band count and data type): a raster file or layer, a remote GDAL source "
             "(/vsicurl/, /vsis3/, a URL) or a web layer (XYZ, WMS, WMTS, WCS, ArcGIS) read over the training "
             "extent at the pixel size for web layers. Used when no dataset folder is given.")
    label: str | None = setting(
        None, flag="--label", custom_cli=True, param="LABELS", custom_qgis=True, metavar="LAYER",
        label="Label layer (raster or polygons)",
        help="Classes for the image: a raster of class values (mapped with the label mapping), or a polygon layer "
             "in any CRS (in QGIS of any kind: a file, a scratch layer, PostGIS, WFS; only its selected features "
             "when 'Selected features only' is ticked); pixels outside polygons are class 0.")
    after: list[str] = setting(
        default_factory=list, flag="--after", custom_cli=True, param="AFTER", custom_qgis=True, metavar="RASTER",
        label="Later date (after)",
        help="Change detection: the image of the same place at a later date (repeat for more dates, in time "
             "order); the image above is the earlier date. Both dates give the model the same bands; the label "
             "says what changed between them (a change mask, or from-to classes).")
    dates: list[str] = setting(
        default_factory=list, flag="--dates", custom_cli=True, metavar="RASTER", label="Dates of one place (a season)",
        param="DATES", custom_qgis=True,
        help="Every date of one place, first included: rasters, folders of them, glob patterns ('s2/*.tif') or "
             f"STAC items, in any order (sorted by their acquisition dates: a tag, a {DATED_NAMES} file name, the "
             "STAC item's datetime), any CRS and pixel size (read onto the first date's grid). A band named 'cloud' "
             "or a raster '<name>_cloud.tif' beside a date masks its clouds. Instead of the image and its later "
             "dates (the image and --after are a pair's short form).")
    stack_dates: list[str] = setting(
        default_factory=list, flag=None,
        help="One multi-band stack as the dates: each band group's date (YYYY-MM-DD), in band order, all groups alike.",
        no_cli="a config file's scene gives a stack's dates", no_qgis="QGIS takes the dates as layers")
    aux: list[str] = setting(
        default_factory=list, flag="--aux", custom_cli=True, param="AUX", custom_qgis=True, metavar="RASTER",
        label="Aux layers (coarse rasters, in a fixed order)",
        help="Auxiliary rasters (any CRS and resolution, covering the image). Their bands are stacked in this "
             "order; segmenting later needs the same layers in the same order. Empty: vision-only model.")
    label_field: str | None = setting(
        None, flag="--label-field", custom_cli=True, param="LABEL_FIELD", custom_qgis=True, metavar="FIELD",
        label="Class field (polygon labels)",
        help="Field of the polygon labels holding the raw class value (mapped with the label mapping). Empty: "
             "every polygon is class 1. Ignored for raster labels.")
    label_after_field: str | None = setting(
        None, flag="--label-after-field", custom_cli=True, metavar="FIELD",
        help="From-to classes: the polygon labels' field of the class after the change (the class field: before). "
             "Each transition 'BEFORE → AFTER' the layers hold is a class of its own, so named (or as a config "
             "file's label mapping says); a polygon of the same class before and after is no change (class 0).",
        no_qgis="QGIS's Train change detection takes a change mask or a transition raster today")
    extent: list[float] | None = setting(
        None, flag="--extent", custom_cli=True, param="EXTENT", custom_qgis=True, label="Training extent",
        help="Only this part of the image is used (in QGIS any CRS; on the command line the image's). Empty: the "
             "whole image.")
    extent_crs: str | None = setting(
        None, flag=None, help="The CRS of the extent (None: the image's).",
        no_cli="the command line's --extent is in the image's CRS; a config file's scene can name one",
        no_qgis="the extent parameter carries its own CRS")
    aoi: str | None = setting(
        None, flag="--labelled-area", custom_cli=True, param="LABELLED_AREA", custom_qgis=True, metavar="LAYER",
        label="Labelled area (polygons of what you labelled completely)",
        help="The squares or regions in which every object is labelled (any polygon layer; in QGIS a scratch "
             "layer too, with 'Selected features only' those). Pixels outside it are ignored by training and "
             "validation, not taken as background, so a few labelled squares of a large scene teach the model "
             "without teaching it that everything unlabelled is background. Empty: the whole image counts as "
             "labelled (outside the label polygons: class 0).")
    names: dict[str, str] = setting(
        default_factory=dict, flag=None,
        help="How messages name a source of the scene that is read from another file than the one the user chose "
             "(source -> name, engine.data.shown): a web layer's window, a QGIS scratch layer handed over as a "
             "temporary GeoPackage.",
        no_cli="a file given on the command line is named by its path; a web layer's name comes from its source",
        no_qgis="Train names the layers it hands over as temporary files itself")

    def __post_init__(self) -> None:
        check(bool(self.image) or bool(self.dates), "a scene needs an image raster path, or its dates (--dates).")
        check(not (self.dates and (self.image or self.after)),
              f"the scene of {self.dates[:1]} gives its dates twice: either every date ({mention('scene.dates')}) or "
              f"the image and its later dates ({mention('scene.after')}), not both.")
        check(not self.stack_dates or len(self.dates) == 1,
              f"stack_dates name the band groups of one stack: give it alone as the scene's dates (got "
              f"{len(self.dates)}).")
        if self.extent_crs is not None and str(self.extent_crs).strip():
            check_crs(self.extent_crs, f"extent CRS of the scene '{self.first}'")
        self.extent = checked_extent(self.extent, f"extent of the scene '{self.first}'")

    @property
    def first(self) -> str:
        """How messages name the scene before its dates are sorted: its image, else its first date as given."""
        return self.image or self.dates[0]


@dataclass
class DataConfig(Settings):
    """Where training data comes from and how it is turned into tiles."""

    data_dir: str | None = setting(
        None, flag="--data", param="DATA_FOLDER", custom_qgis=True, metavar="DIR", group="input and output",
        label="Dataset folder (reference layout, or A/, B/, label/ of pairs)",
        help="Folder with ts_sn/ (images), tl_sn/ (labels), t_ap/ and t_gems/ (aux rasters named "
             "AIR_Pollution_CO_NAME.tif, GEMS_NAME.tif, ...), and optionally vs_sn/, vl_sn/, v_ap/, v_gems/ for "
             "validation; or a change-detection dataset as published (A/ and B/, or Image1/ and Image2/, with "
             "label/: a pair's files named alike; split in train/ and val/, or by list/train.txt and "
             "list/val.txt), which trains a change model. Leave empty to train from layers instead.")
    train_scenes: list[SceneSpec] = setting(
        default_factory=list, flag="--image", custom_cli=True, param="INPUT", custom_qgis=True,
        label="Image layer (with labels below; or a dataset folder)",
        help="Training scenes: an image with its label and aux rasters.")
    val_scenes: list[SceneSpec] = setting(
        default_factory=list, flag="--val-image", custom_cli=True,
        help="Validation scenes: an image with its label and aux rasters.",
        no_qgis="the dialog trains on one scene of layers and holds a share of it out (VALIDATION_SHARE), or on a "
                "dataset folder whose vs_sn/ scenes validate")
    pixel_size: float | None = web_pixel_size(
        "data", "over its scene's extent (on the command line --extent, in the service's CRS), its window kept in "
        "<bundle>_web/: the model learns at this pixel size, and Segment reads web layers at it by default. Needed "
        "for a web layer.")
    val_fraction: float = setting(
        0.2, param="VALIDATION_SHARE", label="Validation share", minimum=0.0, maximum=0.9, group="data",
        help="Share of the scene held out (as bands of tiles) to select the best epoch, when there is no "
             "validation folder (vs_sn/) or validation scene. 0: no validation, the last epoch is kept.")
    aux_prefixes: list[str] = setting(
        default_factory=lambda: list(REFERENCE_AUX_PREFIXES), flag="--aux-prefix", cli={"action": "append"},
        metavar="PREFIX", group="data",
        help="Aux file prefix in the reference layout (repeat for several).",
        no_qgis="a dataset folder uses the reference layout's prefixes, and aux layers are given in their order")
    aux_bands_per_file: int | None = setting(
        None, label="Aux bands per file (0 = all)", minimum=0, off=0, advanced=True, metavar="N", group="data",
        help="Use the first N bands of each aux raster. 0: every band of the aux layers, or 12 per file for a "
             "dataset folder (the reference layout).")
    label_mapping: dict[str, int] = setting(
        default_factory=dict, flag="--label-map", cli={"action": "append", "type": parse_label_pairs},
        metavar="VALUE=CLASS", group="data", text="label_map",
        label="Label mapping (VALUE=CLASS, comma-separated; empty: values are classes)",
        help="Raw label values and the class each one stands for, e.g. 90=1 for the reference data (raw 0 and "
             "values not listed are class 0); map a value to 255 to mark it unlabelled. Label values that are not "
             "classes stop the training with their list. The bundle keeps the mapping, and Segment writes it into "
             "its class raster, so Evaluate needs it only to override. Default: none, the label values are the "
             "class numbers 0, 1, 2, ... (label rasters of exactly the values 0 and 90, the reference data's, are "
             "read as 90=1, and masks of exactly 0 and 255, as LEVIR-CD, WHU or Inria publish them, as 255=1 for "
             "two classes; the log says so).")
    label_default_class: int = setting(
        0, group="data", metavar="CLASS",
        help="Class of raw label value 0 and, with --no-strict-labels, of every raw value not in the label "
             "mapping: '--label-map 4=1 --no-strict-labels' makes 4 class 1 and every other value class 0.",
        no_qgis="raw 0 is class 0 in the dialog; other classes from the command line or a config file")
    strict_labels: bool = setting(
        True, group="data",
        help="Stop with the list of raw label values that are neither 0 nor in the label mapping, with their "
             "pixel counts (default). --no-strict-labels: every such value becomes the default class "
             "(--label-default-class), and the log lists them.",
        no_qgis="the dialog's label mapping lists every value; a config file or the command line can relax it")
    class_names: list[str] = setting(
        default_factory=lambda: ["background", "foreground"], cli={"nargs": "+"}, metavar="NAME", group="data",
        text="list", label="Class names (comma-separated)",
        help="One name per class, class 0 first; two names train a binary model. They make the legend of every "
             "segmented raster.")
    class_colors: list[str] = setting(
        default_factory=lambda: ["#000000", "#ff0000"], cli={"nargs": "+"}, metavar="#RRGGBB", group="data",
        text="list", label="Class colours (comma-separated #RRGGBB)",
        help="One colour per class (#RRGGBB, class 0 first) to style the results; those not given come from the "
             "class names' usual map colours (forest green, water blue, building red, ...), else the palette.")
    tile_size: int = setting(
        512, label="Tile size (pixels)", minimum=32, maximum=4096, group="data",
        auto="the largest that fits the smallest training scene, at most 256 on a CPU (a change mask's: 128) and 512 "
             "on a GPU; on a CPU, for small parts (of a labelled area, or of change), 3/4 of a part's side (>= 64)",
        help="Edge of the square training tiles; a multiple of 32 (and of the aux ratio).")
    aux_ratio: int = setting(8, label="Aux ratio (vision pixels per aux pixel)", minimum=1, advanced=True,
                             group="data",
                             help="The aux stream sees each tile at 1/ratio of its size (reference: 8).")
    bands: list[int] | None = setting(
        None, cli={"type": str}, metavar="B,...", group="data", label="Image bands (e.g. 3,2,1 or B04,B03; empty: all)",
        help="Bands of the image the model sees, in this order: numbers counted from 1 as in GDAL, or names "
             "matched to each image's band descriptions (B04,B03,B02 or red,green,blue) (drop an alpha band, "
             "pick 4 of 13 Sentinel-2 bands). Empty: every band not used as X bands. Their names are recorded "
             "in the bundle, and Segment picks them again by name or number.")
    x_bands: list[int] | None = setting(
        None, cli={"type": str}, metavar="B,...", group="data", label="X bands of the same image (CMX, e.g. 4)",
        help="Bands of the same image fed to the second (aux) stream at full resolution, e.g. 4 = NIR of an "
             "R,G,B,NIR file; instead of aux layers. Must not overlap the image bands.")
    tiles_per_epoch: int = setting(200, label="Tiles per epoch", minimum=1, advanced=True, group="data",
                                   auto="200 (a change mask's on a CPU: 800); for a small labelled area of parts "
                                        "on a CPU, about 8 draws of each labelled pixel (at least 32)",
                                   help="Random training tiles drawn per epoch.")
    foreground_share: float = setting(
        0.5, group="data", help="Share of random tiles forced to contain foreground.",
        no_qgis="the dialog keeps the default: half of the random tiles contain foreground")
    unlabelled: list[str] = setting(
        default_factory=list, cli={"nargs": "+"}, metavar="RASTER_OR_FOLDER", param="UNLABELLED", custom_qgis=True,
        group="data", label="Unlabelled imagery (layers without labels)",
        help="Imagery without labels to learn from beside the labelled scenes (train.consistency): rasters of the "
             "same bands, units and pixel size, in any CRS, or folders of them; for a change model each place's "
             "dates in turn (before, after), or folders of pairs (A/ and B/ as --data reads them). The labelled "
             "scenes' own unlabelled pixels (outside the labelled area) are used too.")
    skip_incomplete: bool = setting(
        False, group="data", help="Skip scenes with a missing partner file instead of failing.",
        no_qgis="a dialog run names its scenes; a missing file is an error to fix, not to skip")
    ignore_index: int = setting(255, help="Class value of unlabelled pixels (left out of loss and metrics).",
                                no_cli="map raw values to it with --label-map VALUE=255",
                                no_qgis="map raw values to it with Label mapping VALUE=255")
    statistics: str = setting(
        "percentile", choices=("percentile", "meanstd"), group="data",
        help="Band statistics of the normalisation: percentile (2/98) or meanstd.",
        no_qgis="percentile statistics suit imagery of any bit depth; a config file can choose meanstd")
    augment: AugmentConfig = setting(default_factory=AugmentConfig, help="Augmentation settings.",
                                     no_cli=SECTION, no_qgis=SECTION)
    seed: int = setting(0, help="Seed of data sampling.", no_cli="--seed sets it with the training seed",
                        no_qgis="Random seed (SEED) sets it with the training seed")
    statistics_tiles: int = config_only(64, help="Tiles read (over all training scenes) to compute band statistics.")

    def __post_init__(self) -> None:
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig.from_dict(self.augment)
        self.train_scenes = [SceneSpec.from_dict(s) if isinstance(s, dict) else s for s in self.train_scenes]
        self.val_scenes = [SceneSpec.from_dict(s) if isinstance(s, dict) else s for s in self.val_scenes]
        self.label_mapping = {str(k): int(v) for k, v in self.label_mapping.items()}
        self.pixel_size = checked_pixel_size(self.pixel_size, "data.pixel_size")
        given = parse_band_list(self.bands, "data.bands") if isinstance(self.bands, (str, list, tuple)) else None
        self.x_bands = parse_bands(self.x_bands, "x_bands")
        if given and not all(b.isdigit() for b in given):
            # names (B04,B03 or red,green): matched to each image's band descriptions when it is read
            check(not self.x_bands, f"{mention('data.bands')} by name ({','.join(given)}) cannot be combined with "
                                    f"{mention('data.x_bands')}; give band numbers.")
            check(len(set(b.lower() for b in given)) == len(given), f"{mention('data.bands')} {given} names a band "
                                                                    f"twice.")
            self.bands = given  # type: ignore[assignment]
        else:
            self.bands = parse_bands(self.bands, "bands")
            BandSelection.of(self.bands, self.x_bands)  # overlap check
        if self.x_bands:
            # X bands come from the image itself, at its resolution; aux rasters would be a second aux input.
            self.aux_ratio = 1
            with_aux = [s.image for s in self.train_scenes + self.val_scenes if s.aux]
            check(not with_aux, f"x_bands take the aux input from the image's own bands, but scene(s) {with_aux[:3]} "
                                 f"also have aux rasters; give either x_bands or aux rasters.")
        check_tile_size(self.tile_size, "data.tile_size", self.aux_ratio, "; try 256 or 512")
        check(0.0 <= self.val_fraction < 1.0,
               f"{mention('data.val_fraction')} must be in [0, 1) (got {self.val_fraction}).")
        check(0.0 <= self.foreground_share <= 1.0, f"{mention('data.foreground_share')} must be in [0, 1].")
        check(1 <= self.tiles_per_epoch <= MAX_TILES_PER_EPOCH,
              f"{mention('data.tiles_per_epoch')} must be from 1 to {MAX_TILES_PER_EPOCH:,} (got {self.tiles_per_epoch}"
              f"); an epoch's tiles are drawn as a list of that length. For a longer training, give more epochs.")
        check(self.aux_bands_per_file is None or self.aux_bands_per_file >= 1,
               f"{mention('data.aux_bands_per_file')} must be >= 1 (or unset: all bands of each aux file).")
        check(len(self.class_names) >= 2,
               f"{mention('data.class_names')} needs at least two names (background and one class).")
        check(len(self.class_colors) == len(self.class_names),
               f"{mention('data.class_colors')} has {len(self.class_colors)} entries but class_names has "
               f"{len(self.class_names)}.")
        check_class_names(self.class_names)
        check_class_colors(self.class_colors, self.class_names)
        check_choices(self, "data")
        check(self.statistics_tiles >= 1,
               f"{mention('data.statistics_tiles')} must be >= 1 (got {self.statistics_tiles}).")
        check(0 <= self.label_default_class < len(self.class_names),
               f"label_default_class {self.label_default_class} is outside 0..{len(self.class_names) - 1}.")
        # Mapping a raw value to ignore_index marks it as unlabelled (e.g. 0 = "not surveyed").
        bad = [v for v in self.label_mapping.values()
               if not (0 <= v < len(self.class_names) or v == self.ignore_index)]
        more = (f"; there are {len(self.class_names)} class names: give one name per class, {max(bad) + 1} in all "
                f"({mention('data.class_names')})" if bad and max(bad) >= len(self.class_names)
                else "")
        check(not bad, f"{mention('data.label_mapping')} maps to class(es) {bad} outside 0..{len(self.class_names) - 1}"
                        f" (or ignore_index {self.ignore_index} for unlabelled values){more}.")

    @property
    def aux_bands_used(self) -> int | None:
        """Bands taken from each aux file: the setting, else 12 in the reference layout, else all (None)."""
        if self.aux_bands_per_file is not None:
            return int(self.aux_bands_per_file)
        return REFERENCE_AUX_BANDS_PER_FILE if self.data_dir else None

    @property
    def num_classes(self) -> int:
        """Model output classes: 1 (binary) when there are two class names, else their count."""
        return 1 if len(self.class_names) == 2 else len(self.class_names)


@dataclass
class TrainConfig(Settings):
    """Optimisation and schedule settings (reference values as defaults where they exist)."""

    output: str = setting("model.dsmodel", flag="--out", custom_qgis=True, param="OUTPUT", label="Model bundle",
                          metavar="MODEL", group="input and output",
                          help="The trained model (.dsmodel). Metrics CSV/JSON, curves and the report are written "
                               "beside it.")
    epochs: int = setting(40, label="Epochs (all layers trained)", minimum=0, group="training",
                          auto="40 on a GPU; on a CPU as many as the time budget allows (at most 100)",
                          help="Epochs of full training after the warm-up epochs.")
    warmup_epochs: int = setting(
        2, label="Warm-up epochs (encoders frozen)", minimum=0, group="training",
        auto="2 on a GPU; 0 on a CPU when the encoders start from random weights",
        help="First epochs with both encoders frozen, training fusion and decoder only.")
    frozen_encoder: str = setting(
        "off", choices=(*FROZEN_ENCODER, "auto"), off="auto", qgis_default="auto", label="Frozen encoder",
        group="training",
        auto="cached on the CPU for a pretrained foundation encoder (Prithvi, DINOv3, transformers); off on a GPU",
        help="cached: the vision encoder stays frozen, its features for each training and validation tile are "
             "computed once and kept (memory, or a temporary file beyond feature_cache_mb) and the decoder trains "
             "all epochs on them; flips and 90-degree rotations still apply (to features and labels alike), the "
             "other augmentations do not. off: warm-up epochs frozen, then every layer trained.")
    feature_cache_mb: int = setting(2048, minimum=0, group="training", no_qgis="the default, 2048 MiB",
                                    help="Memory the cached encoder features may take; beyond it (0: always) they "
                                         "go to a temporary file beside the model bundle, removed at the end.")
    time_budget: float | None = setting(
        None, label="Time budget (minutes, 0 = chosen)", minimum=0.0, off=0, metavar="MINUTES", group="training",
        auto="5 minutes on a CPU when the epochs are not set, none on a GPU",
        help="Training stops when its epochs (training and validation) have taken this many minutes, keeping the "
             "best epoch's model bundle; the epoch it ends is cut short. On the command line 0 means no limit.")
    batch_size: int = setting(4, label="Batch size", minimum=1, group="training", auto="4 (change, CPU: 16)",
                              help="Tiles per training step; lower it when the GPU runs out of memory.")
    learning_rate: float = setting(
        3e-4, flag="--lr", label="Learning rate", minimum=1e-8, maximum=1.0, group="training",
        auto="3e-4; 1e-3 on a CPU when the encoders start from random weights",
        help="Learning rate of fusion and decoder (vision encoder x0.1, aux encoder x0.5).")
    weight_decay: float = setting(1e-5, label="Weight decay", minimum=0.0, advanced=True, group="training",
                                  help="Weight decay of the optimiser.")
    vision_lr_factor: float = setting(0.1, group="training", no_qgis=OPTIM_DETAIL,
                                      auto="0.1; 1 on a CPU when the encoders start from random weights",
                                      help="Learning rate of the vision encoder, x the learning rate.")
    aux_lr_factor: float = setting(0.5, group="training", no_qgis=OPTIM_DETAIL,
                                   auto="0.5; 1 on a CPU when the encoders start from random weights",
                                   help="Learning rate of the aux encoder, x the learning rate.")
    optimizer: str = setting(
        "adamw", choices=OPTIMIZERS, label="Optimiser", advanced=True, group="training",
        help="adamw (decoupled weight decay), adam (L2 weight decay, the building design's) or sgd (momentum "
             "0.9); the encoders train at a fraction of the learning rate.")
    momentum: float = setting(0.9, group="training", no_qgis=OPTIM_DETAIL, help="SGD momentum.")
    schedule: str = setting(
        "cosine", choices=SCHEDULES, label="Learning-rate schedule", advanced=True, group="training",
        help="cosine decay, step (x0.1 every 10 epochs by default) or plateau (halved when the validation score "
             "stalls, by default).")
    warmup_steps: int = setting(0, group="training", no_qgis=OPTIM_DETAIL,
                                help="Linear learning-rate warm-up steps at the start of the main stage.")
    min_learning_rate: float = setting(1e-6, flag="--min-lr", group="training", no_qgis=OPTIM_DETAIL,
                                       help="The learning rate the cosine schedule ends at.")
    step_epochs: int = setting(10, group="training", no_qgis=OPTIM_DETAIL,
                               help="Schedule step: multiply the learning rate by step gamma every this many epochs.")
    step_gamma: float = setting(0.1, group="training", no_qgis=OPTIM_DETAIL, help="Schedule step: the factor.")
    plateau_patience: int = setting(3, group="training", no_qgis=OPTIM_DETAIL, help=(
        "Schedule plateau: epochs without validation gain before the learning rate is reduced."))
    plateau_factor: float = setting(0.5, group="training", no_qgis=OPTIM_DETAIL, help="Schedule plateau: the factor.")
    grad_accumulation: int = setting(
        1, label="Gradient accumulation (batches per step)", minimum=1, advanced=True, group="training",
        help="Sum the gradients of this many batches per optimiser step (a larger effective batch).")
    grad_clip: float | None = setting(1.0, off=0, group="training", no_qgis=OPTIM_DETAIL,
                                      help="Max gradient norm, 0 = off.")
    weight_average: float = setting(0.0, group="training", no_qgis=OPTIM_DETAIL, metavar="DECAY", auto="off (a "
                                    "change mask's on a CPU: 0.99)", help=(
        "A moving average of the weights (decay per step; 0 = off): what validation scores and the bundle keeps."))
    amp: str = setting("auto", choices=AMP_MODES, group="training",
                       help="Mixed precision: auto (a GPU: bf16 where it has it, else fp16; a CPU: bf16 where it "
                            "computes bfloat16 natively, AMX or AVX-512 BF16, else fp32), off (fp32), bf16 or fp16 "
                            "(a GPU's).",
                       no_qgis="the dialog uses auto: mixed precision on a GPU, and on a CPU with bfloat16 "
                               "instructions")
    early_stop_patience: int | None = setting(
        10, flag="--patience", param="PATIENCE", label="Early-stopping patience (epochs, 0 = off)", minimum=0, off=0,
        advanced=True, group="training",
        help="Stop after this many epochs without a better validation score (by IoU: counted from the first epoch "
             "whose IoU is above 0, so a model that has not started to find the classes is not stopped).")
    early_stop_metric: str = setting(
        "iou", flag="--patience-metric", choices=EARLY_STOP_METRICS, label="Early stopping and best epoch by",
        advanced=True, group="training",
        help="iou: validation IoU; loss: validation loss. Also decides which epoch the bundle keeps.")
    device: str = device_setting("training")
    num_workers: int = setting(
        0, group="training", minimum=0, maximum=MAX_WORKERS, metavar="N",
        help="Data loader processes preparing the tiles beside the step (0: none; a thread prepares the next tiles "
             "where a core is free). On a GPU one thread preparing tiles can keep the steps waiting: try the free "
             "cores (docs/benchmarks.md, \"On a GPU\").",
        no_qgis="worker processes inside QGIS would start QGIS's own executable")
    resume: bool = setting(
        False, label="Resume from the last checkpoint", advanced=True, group="input and output",
        help="Continue an interrupted or cancelled training from the checkpoint beside the bundle "
             "(MODEL.dsmodel.ckpt) with the same settings; with more epochs, it takes a finished training further.")
    init_from: str | None = setting(
        None, label="Start from model (fine-tune a .dsmodel)", custom_qgis=True, metavar="MODEL.dsmodel",
        group="input and output",
        help="Fine-tune: start a new training from this model bundle. All its weights are used; its family and "
             "size too unless set; other classes rebuild the head, another band or aux count adapts the first "
             "layers (the log says so). The new bundle records it as its parent.")
    recompute_stats: bool = setting(
        False, label="Recompute band statistics (fine-tuning)", advanced=True, group="input and output",
        help="With a model to start from: compute the band statistics from this data instead of keeping the "
             "parent's (kept by default when the bands match, so a small new area does not rescale the model).")
    loss: LossConfig = setting(default_factory=LossConfig, help="Loss settings.", no_cli=SECTION, no_qgis=SECTION)
    seed: int = setting(0, label="Random seed", minimum=0, advanced=True, group="training",
                        help="Seed of tile sampling, augmentation and initialisation (same seed, same model on CPU).")
    consistency: str = setting(
        "auto", choices=CONSISTENCY, label="Learn from unlabelled pixels", advanced=True, group="training",
        auto="off: at the CPU's default budget of 5 minutes it did not improve the measured data, with or without "
             "unlabelled imagery (docs/unlabelled.md); on: learn from the unlabelled imagery",
        help="Weak-to-strong consistency (FixMatch, UniMatch): the model's confident predictions on a weak view of "
             "unlabelled tiles (the unlabelled imagery, and the labelled scenes' unlabelled pixels) teach it on "
             "strongly perturbed views (colour, blur, CutMix, feature dropout). About 2.5x the time of a step.")
    confidence: float = setting(0.95, label="Pseudo-label confidence", minimum=0.5, maximum=1.0, advanced=True,
                                group="training", help="Consistency: the confidence a prediction on an unlabelled "
                                                       "pixel needs to teach the perturbed views.")
    unlabelled_weight: float = config_only(1.0, help="Consistency: the unlabelled loss's weight beside the labelled.")
    preview_tiles: int = setting(6, group="training", no_qgis="the report always shows the default 6 tiles",
                                 help="Validation tiles shown in the report's predictions grid (0 = no grid).")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """As Settings.from_dict; the loss settings of older versions (focal_weight, ...) become ``loss``."""
        if isinstance(data, dict) and any(k in data for k in LEGACY_LOSS_SETTINGS):
            data = {k: v for k, v in data.items() if k not in LEGACY_LOSS_SETTINGS} | {"loss": legacy_loss(data)}
        return super().from_dict(data)

    @property
    def total_epochs(self) -> int:
        """The epochs a run goes through: the warm-up's, then ``epochs``."""
        return self.warmup_epochs + self.epochs

    def __post_init__(self) -> None:
        if isinstance(self.loss, dict):
            self.loss = LossConfig.from_dict(self.loss)
        check(bool(self.output), "train output (the model bundle path) must not be empty.")
        check(self.epochs >= 0 and self.warmup_epochs >= 0 and self.total_epochs >= 1,
               "epochs + warmup_epochs must be at least 1.")
        check(self.time_budget is None or (self.time_budget > 0 and math.isfinite(self.time_budget)),
               f"{mention('train.time_budget')} must be > 0 minutes, or unset for no limit (got {self.time_budget}).")
        check(self.weight_decay >= 0, f"{mention('train.weight_decay')} must be >= 0 (got {self.weight_decay}).")
        check(self.feature_cache_mb >= 0, f"{mention('train.feature_cache_mb')} must be 0 or more MiB (0: the cached "
                                          f"features always go to a temporary file), not {self.feature_cache_mb}.")
        check(self.frozen_encoder in FROZEN_ENCODER, f"{mention('train.frozen_encoder')} must be one of "
                                                     f"{list(FROZEN_ENCODER)} (got {self.frozen_encoder!r}).")
        check(self.vision_lr_factor > 0 and self.aux_lr_factor > 0, "vision_lr_factor and aux_lr_factor must be > 0.")
        check(math.isfinite(self.learning_rate) and self.learning_rate > 0,
               f"{mention('train.learning_rate')} must be a number > 0 (got {self.learning_rate}).")
        check(math.isfinite(self.min_learning_rate) and 0 <= self.min_learning_rate <= self.learning_rate,
               f"{mention('train.min_learning_rate')} must be in [0, {mention('train.learning_rate')}] (got "
               f"{self.min_learning_rate}, learning rate {self.learning_rate}).")
        check(self.warmup_steps >= 0, "warmup_steps must be >= 0.")
        check(self.step_epochs >= 1 and 0 < self.step_gamma <= 1, "step_epochs must be >= 1 and step_gamma in (0, 1].")
        check(self.plateau_patience >= 0 and 0 < self.plateau_factor < 1,
               "plateau_patience must be >= 0 and plateau_factor in (0, 1).")
        check(self.grad_clip is None or self.grad_clip > 0, "grad_clip must be > 0, or None for no clipping.")
        check(self.early_stop_patience is None or self.early_stop_patience >= 1,
               f"{mention('train.early_stop_patience')} must be >= 1, or None to never stop early.")
        check(0 <= self.num_workers <= MAX_WORKERS,
              f"{mention('train.num_workers')} must be from 0 to {MAX_WORKERS} processes (got {self.num_workers}).")
        check(0 <= self.seed < 2 ** 32, f"{mention('train.seed')} must be from 0 to {2 ** 32 - 1} (got {self.seed}).")
        check(self.epochs <= MAX_EPOCHS and self.warmup_epochs <= MAX_EPOCHS,
              f"{mention('train.epochs')} and {mention('train.warmup_epochs')} must be at most {MAX_EPOCHS:,} each "
              f"(got {self.epochs} and {self.warmup_epochs}); to train for a while, give "
              f"{mention('train.time_budget')} instead.")
        check(self.preview_tiles >= 0, "preview_tiles must be >= 0.")
        check(self.batch_size >= 1, f"{mention('train.batch_size')} must be >= 1 (got {self.batch_size}).")
        check(0.0 <= self.momentum < 1.0 and 0.0 <= self.weight_average < 1.0, f"momentum ({self.momentum}) and "
              f"{mention('train.weight_average')} ({self.weight_average}; a decay, 0 = off) must be in [0, 1).")
        check(self.grad_accumulation >= 1, f"{mention('train.grad_accumulation')} must be >= 1.")
        check(0.5 <= self.confidence <= 1.0 and self.unlabelled_weight >= 0,
              f"{mention('train.confidence')} must be in [0.5, 1] (got {self.confidence}) and "
              f"{mention('train.unlabelled_weight')} >= 0 (got {self.unlabelled_weight}).")
        check_choices(self, "train")
