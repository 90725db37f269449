"""Settings as dataclasses, checked in ``__post_init__``, serialisable with ``to_dict``/``from_dict``.

Every model bundle stores the model, data and train settings it was made with, so a bundle can be
rebuilt and its training reproduced. Owners: ModelConfig (models/configuration_utils.py, one subclass per
family), DataConfig (data/), TrainConfig (train.py), SegmentConfig and BulkConfig (segment/), EvaluateConfig
(evaluate.py).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .declarations import setting
from .errors import ConfigError
from .errors import setting as named

T = TypeVar("T", bound="Settings")

DEVICES = ("auto", "cpu", "cuda")
TTA_MODES = ("none", "flips", "d4")
# auto: onnxruntime on the CPU (bundles through a cached ONNX export) when it is installed, else torch; torch on CUDA
BACKENDS = ("auto", "torch", "onnxruntime")
OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("cosine", "step", "plateau")
AMP_MODES = ("auto", "off", "bf16", "fp16")
EARLY_STOP_METRICS = ("iou", "loss")  # validation IoU (higher is better) or validation loss (lower is better)
LOSS_TERMS = ("focal", "lovasz", "dice", "ohem", "ce")  # ce: cross-entropy (binary cross-entropy for 1 class)
LOSS_ALIASES = {"bce": "ce"}
# Loss terms per model family, as each family's reference design trained it; other families: BASELINE_LOSS.
FAMILY_LOSSES: dict[str, dict[str, float]] = {
    "dualstream": {"focal": 0.5, "lovasz": 0.5},  # DualStream-DFormer
    "cmx": {"ohem": 1.0, "dice": 1.0},  # the CMX cloud-segmentation design
}
BASELINE_LOSS: dict[str, float] = {"focal": 1.0, "dice": 1.0}  # the building design's FocalDice
# Deep-supervision weights of the side outputs (the final output weighs 1) per family; others: DEFAULT_SIDE_WEIGHT.
FAMILY_SIDE_WEIGHTS: dict[str, list[float]] = {"dualstream": [0.3, 0.15]}
DEFAULT_SIDE_WEIGHT = 0.3
REFERENCE_AUX_PREFIXES = ("GEMS_", "AIR_Pollution_CO_", "AIR_Pollution_NO2_", "AIR_Pollution_SO2_")
REFERENCE_AUX_BANDS_PER_FILE = 12  # the reference layout's convention: the first 12 bands of each aux file
# Class colours not given: black background, red first class (the binary default), then ColorBrewer "Paired".
CLASS_PALETTE = ("#000000", "#ff0000", "#1f78b4", "#33a02c", "#ff7f00", "#6a3d9a", "#b15928", "#a6cee3", "#b2df8a",
                 "#fb9a99", "#fdbf6f", "#cab2d6", "#ffff99")


class Settings:
    """Mixin: dict round-trip with unknown-key checking, for nested dataclasses too."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__}: expected a mapping of settings, got {type(data).__name__}.")
        names = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ConfigError(
                f"{cls.__name__}: unknown setting(s) {unknown}; valid settings are {sorted(names)}."
            )
        kwargs = {}
        for key, value in data.items():
            kwargs[key] = _coerce_nested(names[key], value)
        return cls(**kwargs)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def replace(self: T, **changes: Any) -> T:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def _coerce_nested(f: dataclasses.Field, value: Any) -> Any:
    """Turn dicts back into nested Settings dataclasses (by the field's declared type name)."""
    nested = _NESTED.get(f.name)
    if nested is None or value is None:
        return value
    if isinstance(value, list):
        return [nested.from_dict(v) if isinstance(v, dict) else v for v in value]
    if isinstance(value, dict):
        return nested.from_dict(value)
    return value


def fill_class_colors(colors: list[str], count: int) -> list[str]:
    """``count`` class colours: the given ones first, then palette colours not used yet (the palette repeats
    once it runs out); extra given colours are dropped."""
    given = {c.lower() for c in colors}
    spare = [c for c in CLASS_PALETTE if c.lower() not in given] or list(CLASS_PALETTE)
    filled = list(colors[:count])
    while len(filled) < count:
        filled.append(spare[(len(filled) - len(colors)) % len(spare)])
    return filled


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


# Why a declared setting is not offered by a front end (the exposure test reads these).
CONFIG_ONLY = "a fine-tuning setting: a config file can change it"
SECTION = "a section: its own settings are declared"
LOSS_DETAIL = "a fine-tuning setting of a loss term: command line or config file"
OPTIM_DETAIL = "a fine-tuning setting of the optimiser: command line or config file"
BULK = "many scenes (instead of --image/--out)"  # the command line's help group of the bulk settings


def parse_label_pairs(text: str, what: str = "data.label_mapping") -> dict[str, int]:
    """``"90=1, 255=255"`` (or ``90:1``; commas or semicolons) -> ``{"90": 1, "255": 255}``: raw label value ->
    class number. Raw values are numbers; ``90.0`` is written ``90``. The one parser of VALUE=CLASS pairs."""
    mapping: dict[str, int] = {}
    for part in str(text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            key, sep, value = part.partition(":")
        try:
            raw = float(key)
            number = float(value)
            if not sep or not number.is_integer():
                raise ValueError(part)
        except ValueError:
            raise ConfigError(f"{named(what)}: '{part}' is not VALUE=CLASS; write pairs like 90=1 (raw label value "
                              f"= class number), separated by commas.") from None
        mapping[str(int(raw)) if raw.is_integer() else str(raw)] = int(number)
    return mapping


@dataclass
class SceneSpec(Settings):
    """One explicit training/validation/inference scene as a GIS user has it."""

    image: str
    label: str | None = None  # raster, or vector (GeoPackage/GeoJSON/Shapefile) polygons
    aux: list[str] = field(default_factory=list)
    label_field: str | None = None  # vector class field; None = every polygon is class 1
    extent: list[float] | None = None  # [xmin, ymin, xmax, ymax]
    extent_crs: str | None = None  # CRS of ``extent``; None = the image's CRS
    aoi: str | None = None  # polygon layer restricting the area used

    def __post_init__(self) -> None:
        _check(bool(self.image), "a scene needs an image raster path.")
        if self.extent is not None:
            _check(len(self.extent) == 4, f"extent must be [xmin, ymin, xmax, ymax] (got {self.extent}).")
            self.extent = [float(v) for v in self.extent]
            _check(self.extent[0] < self.extent[2] and self.extent[1] < self.extent[3],
                   f"extent must have xmin < xmax and ymin < ymax (got {self.extent}).")


@dataclass
class AugmentConfig(Settings):
    """Joint (vision, aux, label) geometric augmentation and vision-only photometric augmentation."""

    flips: bool = setting(True, help="Random flips of the training tiles.", no_cli=CONFIG_ONLY, no_qgis=CONFIG_ONLY)
    rot90: bool = setting(True, help="Random quarter turns of the training tiles.", no_cli=CONFIG_ONLY,
                          no_qgis=CONFIG_ONLY)
    rotation_degrees: float = setting(10.0, help="Small random rotation up to this angle, 0 = off.",
                                      no_cli=CONFIG_ONLY, no_qgis=CONFIG_ONLY)
    scale_range: list[float] = setting(default_factory=lambda: [0.75, 1.25], help="Random resized crop scales.",
                                       no_cli=CONFIG_ONLY, no_qgis=CONFIG_ONLY)
    color_jitter: float = setting(0.2, help="Brightness/contrast jitter strength, 0 = off.", no_cli=CONFIG_ONLY,
                                  no_qgis=CONFIG_ONLY)
    gray_probability: float = setting(0.05, help="Share of tiles turned grey.", no_cli=CONFIG_ONLY,
                                      no_qgis=CONFIG_ONLY)
    hsv: float = setting(
        0.0, label="Hue/saturation/value jitter (3-band imagery)", minimum=0.0, maximum=1.0, advanced=True,
        metavar="STRENGTH", group="data",
        help="Strength of random hue, saturation and brightness changes of 3-band imagery. 0: off.")
    clahe_probability: float = setting(
        0.0, flag="--clahe", param="CLAHE", label="CLAHE share", minimum=0.0, maximum=1.0, advanced=True,
        metavar="SHARE", group="data",
        help="Share of training tiles given contrast-limited adaptive histogram equalisation. 0: off.")
    clahe_clip: float = setting(2.0, help="CLAHE clip limit, x the mean histogram bin count.", no_cli=CONFIG_ONLY,
                                no_qgis=CONFIG_ONLY)
    clahe_grid: int = setting(8, help="CLAHE tiles per side.", no_cli=CONFIG_ONLY, no_qgis=CONFIG_ONLY)
    copy_paste: float = setting(
        0.0, label="Copy-paste share", minimum=0.0, maximum=1.0, advanced=True, metavar="SHARE", group="data",
        help="Share of training tiles that get foreground objects (whole connected regions, with their labels) "
             "pasted from another tile of the batch. 0: off.")

    def __post_init__(self) -> None:
        _check(len(self.scale_range) == 2 and 0 < self.scale_range[0] <= self.scale_range[1],
               f"scale_range must be [low, high] with 0 < low <= high (got {self.scale_range}).")
        _check(0.0 <= self.gray_probability <= 1.0, "gray_probability must be in [0, 1].")
        _check(0.0 <= self.hsv <= 1.0, f"augment.hsv must be in [0, 1] (got {self.hsv}).")
        _check(0.0 <= self.clahe_probability <= 1.0, f"augment.clahe_probability must be in [0, 1] "
                                                     f"(got {self.clahe_probability}).")
        _check(self.clahe_clip >= 1.0 and self.clahe_grid >= 1, "augment.clahe_clip must be >= 1 and clahe_grid >= 1.")
        _check(0.0 <= self.copy_paste <= 1.0, f"augment.copy_paste must be in [0, 1] (got {self.copy_paste}).")

    @property
    def extra_photometric(self) -> bool:
        """Whether the HSV-like or CLAHE options are on (they take extra random draws per tile)."""
        return self.hsv > 0 or self.clahe_probability > 0


@dataclass
class DataConfig(Settings):
    """Where training data comes from and how it is turned into tiles."""

    data_dir: str | None = setting(
        None, flag="--data", param="DATA_FOLDER", custom_qgis=True, metavar="DIR", group="input and output",
        label="OR: dataset folder (reference layout) instead of the layers above",
        help="Folder with ts_sn/ (images), tl_sn/ (labels), t_ap/ and t_gems/ (aux rasters named "
             "AIR_Pollution_CO_NAME.tif, GEMS_NAME.tif, ...), and optionally vs_sn/, vl_sn/, v_ap/, v_gems/ for "
             "validation. Leave empty to train from layers instead.")
    train_scenes: list[SceneSpec] = setting(
        default_factory=list, flag="--image", custom_cli=True, param="INPUT", custom_qgis=True,
        label="Image layer (with labels below; or a dataset folder)",
        help="Training scenes: an image with its label and aux rasters.")
    val_scenes: list[SceneSpec] = setting(
        default_factory=list, flag="--val-image", custom_cli=True,
        help="Validation scenes: an image with its label and aux rasters.",
        no_qgis="the dialog trains on one scene of layers and holds a share of it out (VALIDATION_SHARE), or on a "
                "dataset folder whose vs_sn/ scenes validate")
    val_fraction: float = setting(
        0.2, param="VALIDATION_SHARE", label="Validation share", minimum=0.0, maximum=0.9, group="data",
        help="Share of the scene held out (as bands of tiles) to select the best epoch, when there is no "
             "validation folder (vs_sn/) or validation scene. 0: no validation, the last epoch is kept.")
    aux_prefixes: list[str] = setting(
        default_factory=lambda: list(REFERENCE_AUX_PREFIXES), flag="--aux-prefix", cli={"action": "append"},
        metavar="PREFIX", group="data",
        help="Aux file prefix in the reference layout (repeat; default GEMS_ and AIR_Pollution_*).",
        no_qgis="a dataset folder uses the reference layout's prefixes, and aux layers are given in their order")
    aux_bands_per_file: int | None = setting(
        None, label="Aux bands per file (0 = all)", minimum=0, off=0, advanced=True, metavar="N", group="data",
        help="Use the first N bands of each aux raster. 0: every band of the aux layers, or 12 per file for a "
             "dataset folder (the reference layout).")
    label_mapping: dict[str, int] = setting(
        default_factory=lambda: {"90": 1}, flag="--label-map", cli={"action": "append", "type": parse_label_pairs},
        metavar="VALUE=CLASS", group="data", text="label_map", qgis_default={},
        label="Label mapping (VALUE=CLASS, comma-separated; empty: values are classes)",
        help="Raw label values and the class each one stands for, e.g. 90=1 for the reference data (raw 0 and "
             "values not listed are class 0); map a value to 255 to mark it unlabelled. Label values that are not "
             "classes stop the training with their list. The bundle keeps the mapping, and Segment writes it into "
             "its class raster, so Evaluate needs it only to override. The command line's default is the "
             "reference data's 90=1; the dialog's is empty: the label values are the class numbers 0, 1, 2, ...")
    label_default_class: int = setting(
        0, group="data", help="Class of raw 0 (and of every unmapped value when strict labels are off).",
        no_qgis="raw 0 is class 0 in the dialog; other classes from the command line or a config file")
    strict_labels: bool = setting(
        True, help="Raw values neither mapped nor 0/nodata are an error (reported with counts).",
        no_cli=CONFIG_ONLY, no_qgis=CONFIG_ONLY)
    class_names: list[str] = setting(
        default_factory=lambda: ["background", "foreground"], cli={"nargs": "+"}, metavar="NAME", group="data",
        text="list", label="Class names (comma-separated)",
        help="One name per class, class 0 first; two names train a binary model. They make the legend of every "
             "segmented raster.")
    class_colors: list[str] = setting(
        default_factory=lambda: ["#000000", "#ff0000"], cli={"nargs": "+"}, metavar="#RRGGBB", group="data",
        text="list", label="Class colours (comma-separated #RRGGBB)",
        help="One colour per class (#RRGGBB, class 0 first), used to style the segmented rasters; colours not "
             "given come from the palette.")
    tile_size: int = setting(
        512, label="Tile size (pixels)", minimum=32, maximum=4096, group="data",
        auto="the largest that fits the smallest training scene, at most 256 on a CPU and 512 on a GPU",
        help="Edge of the square training tiles; a multiple of 32 (and of the aux ratio).")
    aux_ratio: int = setting(8, label="Aux ratio (vision pixels per aux pixel)", minimum=1, advanced=True,
                             group="data",
                             help="The aux stream sees each tile at 1/ratio of its size (reference: 8).")
    bands: list[int] | None = setting(
        None, cli={"type": str}, metavar="B,...", group="data", label="Image bands (e.g. 3,2,1; empty: all)",
        help="Bands of the image the model sees, counted from 1 as in GDAL, in this order (drop an alpha band, "
             "pick 4 of 13 Sentinel-2 bands). Empty: every band not used as X bands. Stored in the bundle and "
             "applied again by Segment.")
    x_bands: list[int] | None = setting(
        None, cli={"type": str}, metavar="B,...", group="data", label="X bands of the same image (CMX, e.g. 4)",
        help="Bands of the same image fed to the second (aux) stream at full resolution, e.g. 4 = NIR of an "
             "R,G,B,NIR file; instead of aux layers. Must not overlap the image bands.")
    tiles_per_epoch: int = setting(200, label="Tiles per epoch", minimum=1, advanced=True, group="data",
                                   help="Random training tiles drawn per epoch.")
    foreground_share: float = setting(
        0.5, group="data", help="Share of random tiles forced to contain foreground.",
        no_qgis="the dialog keeps the default: half of the random tiles contain foreground")
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
    statistics_tiles: int = setting(64, help="Tiles read (over all training scenes) to compute band statistics.",
                                    no_cli=CONFIG_ONLY, no_qgis=CONFIG_ONLY)

    def __post_init__(self) -> None:
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig.from_dict(self.augment)
        self.train_scenes = [SceneSpec.from_dict(s) if isinstance(s, dict) else s for s in self.train_scenes]
        self.val_scenes = [SceneSpec.from_dict(s) if isinstance(s, dict) else s for s in self.val_scenes]
        self.label_mapping = {str(k): int(v) for k, v in self.label_mapping.items()}
        from .data.bands import BandSelection, parse_bands

        self.bands = parse_bands(self.bands, "bands")
        self.x_bands = parse_bands(self.x_bands, "x_bands")
        BandSelection.of(self.bands, self.x_bands)  # overlap check
        if self.x_bands:
            # X bands come from the image itself, at its resolution; aux rasters would be a second aux input.
            self.aux_ratio = 1
            with_aux = [s.image for s in self.train_scenes + self.val_scenes if s.aux]
            _check(not with_aux, f"x_bands take the aux input from the image's own bands, but scene(s) {with_aux[:3]} "
                                 f"also have aux rasters; give either x_bands or aux rasters.")
        _check(self.tile_size % 32 == 0 and self.tile_size >= 32,
               f"{named('data.tile_size')} must be a positive multiple of 32 (got {self.tile_size}); try 256 or 512.")
        _check(self.tile_size % self.aux_ratio == 0,
               f"{named('data.tile_size')} {self.tile_size} must be divisible by {named('data.aux_ratio')} "
               f"{self.aux_ratio}.")
        _check(0.0 <= self.val_fraction < 1.0, f"val_fraction must be in [0, 1) (got {self.val_fraction}).")
        _check(0.0 <= self.foreground_share <= 1.0, "foreground_share must be in [0, 1].")
        _check(self.aux_bands_per_file is None or self.aux_bands_per_file >= 1,
               "aux_bands_per_file must be >= 1 (or unset: all bands of each aux file).")
        _check(len(self.class_names) >= 2, "class_names needs at least two names (background and one class).")
        _check(len(self.class_colors) == len(self.class_names),
               f"class_colors has {len(self.class_colors)} entries but class_names has {len(self.class_names)}.")
        _check(self.statistics in ("percentile", "meanstd"), "statistics must be 'percentile' or 'meanstd'.")
        _check(self.statistics_tiles >= 1, f"statistics_tiles must be >= 1 (got {self.statistics_tiles}).")
        _check(0 <= self.label_default_class < len(self.class_names),
               f"label_default_class {self.label_default_class} is outside 0..{len(self.class_names) - 1}.")
        # Mapping a raw value to ignore_index marks it as unlabelled (e.g. 0 = "not surveyed").
        bad = [v for v in self.label_mapping.values()
               if not (0 <= v < len(self.class_names) or v == self.ignore_index)]
        more = (f"; there are {len(self.class_names)} class names: give one name per class, {max(bad) + 1} in all "
                f"({named('data.class_names')})" if bad and max(bad) >= len(self.class_names)
                else "")
        _check(not bad, f"label_mapping maps to class(es) {bad} outside 0..{len(self.class_names) - 1} "
                        f"(or ignore_index {self.ignore_index} for unlabelled values){more}.")

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


def parse_loss_terms(text: str | dict[str, Any], what: str = "loss") -> dict[str, float]:
    """``"focal=1,dice=1"`` (or ``"focal,dice"``: weight 1 each, or a mapping) -> {name: weight}, names checked.

    ``bce`` is accepted as another name of ``ce``. Raises ConfigError naming ``what`` and the valid terms.
    """
    items: list[tuple[str, Any]]
    if isinstance(text, dict):
        items = list(text.items())
    else:
        items = []
        for part in str(text).split(","):
            part = part.strip()
            if part:
                name, _, weight = part.partition("=")
                items.append((name, weight.strip() or 1.0))
    terms: dict[str, float] = {}
    for name, weight in items:
        key = LOSS_ALIASES.get(str(name).strip().lower(), str(name).strip().lower())
        _check(key in LOSS_TERMS, f"{what}: loss term '{name}' is unknown; use one of {list(LOSS_TERMS)} "
                                  f"(bce = ce), e.g. focal=1,dice=1.")
        try:
            value = float(weight)
        except (TypeError, ValueError):
            raise ConfigError(f"{what}: the weight of '{name}' must be a number (got {weight!r}); e.g. "
                              f"focal=1,dice=1.") from None
        _check(value >= 0 and math.isfinite(value), f"{what}: the weight of '{name}' must be >= 0 (got {value}).")
        _check(key not in terms, f"{what}: loss term '{key}' is given twice.")
        terms[key] = value
    _check(any(w > 0 for w in terms.values()),
           f"{what}: no loss term with a weight > 0 (got {text!r}); e.g. focal=1,dice=1.")
    return terms


def _loss_terms_flag(text: str) -> dict[str, float]:
    return parse_loss_terms(text, named("loss.terms"))


def _number_list_flag(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"expected comma-separated numbers, e.g. 0.3,0.15 (got {text!r})") from None


@dataclass
class LossConfig(Settings):
    """The training loss: named terms with weights, their options, and the deep-supervision side weights.

    ``terms`` None = the model family's default (DualStream 0.5 focal + 0.5 Lovasz, CMX OHEM + Dice, the
    baselines Focal + Dice). Every output (final and side) gets the same weighted sum of terms; the final
    output weighs 1, side output i weighs ``side_weights[i]``.
    """

    terms: dict[str, float] | None = setting(
        None, flag="--loss", param="LOSS", cli={"type": _loss_terms_flag}, metavar="TERM=W,...", group="loss",
        advanced=True, label="Loss terms (e.g. focal=1,dice=1; empty: the family's)",
        help=f"Weighted loss terms from {', '.join(LOSS_TERMS)} (bce = ce). Empty: dualstream 0.5 focal + 0.5 "
             f"lovasz, cmx ohem + dice, baselines focal + dice.")
    focal_alpha: float | None = setting(None, group="loss", no_qgis=LOSS_DETAIL,
                                        help="Focal alpha (default: 0.25 for binary models, none multi-class).")
    focal_gamma: float = setting(2.0, group="loss", no_qgis=LOSS_DETAIL, help="Focal gamma.")
    lovasz_variant: str = setting("hinge", choices=("hinge", "probability"), group="loss", no_qgis=LOSS_DETAIL,
                                  help="hinge (Berman, on logits) or probability (the reference's, binary only).")
    dice_smooth: float = setting(1.0, group="loss", no_qgis=LOSS_DETAIL, help="Dice smoothing term.")
    ohem_threshold: float = setting(0.7, group="loss", no_qgis=LOSS_DETAIL,
                                    help="Pixels whose true-class probability is below this are hard (OHEM).")
    ohem_min_kept: int = setting(100_000, group="loss", no_qgis=LOSS_DETAIL,
                                 help="At least this many hardest pixels per batch (OHEM).")
    side_weights: list[float] | None = setting(
        None, cli={"type": _number_list_flag}, metavar="W,...", group="loss", no_qgis=LOSS_DETAIL,
        help="Deep-supervision weight of each side output of the model (dualstream: 0.3,0.15).")

    def __post_init__(self) -> None:
        if self.terms is not None:
            self.terms = parse_loss_terms(self.terms, "loss.terms")
        _check(self.focal_alpha is None or 0.0 <= self.focal_alpha <= 1.0,
               f"loss.focal_alpha must be in [0, 1], or unset (got {self.focal_alpha}).")
        _check(self.focal_gamma >= 0, f"loss.focal_gamma must be >= 0 (got {self.focal_gamma}).")
        _check(self.lovasz_variant in ("hinge", "probability"),
               f"loss.lovasz_variant '{self.lovasz_variant}' is unknown; use hinge or probability.")
        _check(self.dice_smooth >= 0, f"loss.dice_smooth must be >= 0 (got {self.dice_smooth}).")
        _check(0.0 < self.ohem_threshold <= 1.0, f"loss.ohem_threshold must be in (0, 1] (got {self.ohem_threshold}).")
        _check(self.ohem_min_kept >= 1, f"loss.ohem_min_kept must be >= 1 (got {self.ohem_min_kept}).")
        if self.side_weights is not None:
            self.side_weights = [float(w) for w in self.side_weights]
            _check(all(w >= 0 for w in self.side_weights),
                   f"loss.side_weights must be >= 0 (got {self.side_weights}).")

    def terms_for(self, family: str) -> dict[str, float]:
        """The terms and weights used for a model of ``family``."""
        if self.terms is not None:
            return dict(self.terms)
        return dict(FAMILY_LOSSES.get(family, BASELINE_LOSS))

    def side_weights_for(self, family: str, num_side_outputs: int) -> list[float]:
        """One weight per side output the model declares; ConfigError when given weights do not match."""
        if self.side_weights is None:
            default = FAMILY_SIDE_WEIGHTS.get(family)
            if default is not None and len(default) == num_side_outputs:
                return list(default)
            return [DEFAULT_SIDE_WEIGHT] * num_side_outputs
        _check(len(self.side_weights) == num_side_outputs,
               f"loss.side_weights has {len(self.side_weights)} value(s) {self.side_weights} but the {family} model "
               f"has {num_side_outputs} deep-supervision side output(s); give {num_side_outputs} weight(s)"
               f"{' or leave side_weights unset' if num_side_outputs else ' (an empty list) or leave it unset'}.")
        return list(self.side_weights)

    def describe(self, family: str) -> str:
        """E.g. ``0.5 focal + 0.5 lovasz`` (for logs)."""
        return " + ".join(f"{w:g} {name}" for name, w in self.terms_for(family).items() if w > 0)


# Settings of older versions, read from old config files and bundles: name -> how it maps onto LossConfig.
_LEGACY_LOSS_SETTINGS = ("focal_weight", "lovasz_weight", "dice_weight", "ohem_weight", "deep_supervision_weights")


def _legacy_loss(data: dict[str, Any]) -> dict[str, Any]:
    """``focal_weight``/``lovasz_weight``/``deep_supervision_weights`` (before LossConfig) as a loss section."""
    loss = dict(data.get("loss") or {})
    weights = {name: data[f"{name}_weight"] for name in ("focal", "lovasz", "dice", "ohem")
               if f"{name}_weight" in data}
    terms = {"focal": 0.5, "lovasz": 0.5, **weights}
    # the old defaults were DualStream's (then the only family): they stay "the family's default"
    if weights and "terms" not in loss and {k: v for k, v in terms.items() if v} != FAMILY_LOSSES["dualstream"]:
        loss["terms"] = terms
    ds = data.get("deep_supervision_weights")
    if ds is not None and "side_weights" not in loss and [float(w) for w in ds] != [1.0, 0.3, 0.15]:
        _check(len(ds) >= 1 and float(ds[0]) > 0, f"deep_supervision_weights must start with the final output's "
                                                   f"weight > 0 (got {ds}).")
        loss["side_weights"] = [float(w) / float(ds[0]) for w in ds[1:]]
    return loss


@dataclass
class TrainConfig(Settings):
    """Optimisation and schedule settings (reference values as defaults where they exist)."""

    output: str = setting("model.dsmodel", flag="--out", custom_qgis=True, param="OUTPUT", label="Model bundle",
                          metavar="MODEL", group="input and output", help="The model bundle to write (.dsmodel).")
    epochs: int = setting(40, label="Epochs (all layers trained)", minimum=0, group="training",
                          auto="40 on a GPU; on a CPU as many as the time budget allows (at most 100)",
                          help="Epochs of full training after the warm-up epochs.")
    warmup_epochs: int = setting(
        2, label="Warm-up epochs (encoders frozen)", minimum=0, group="training",
        auto="2 on a GPU; 0 on a CPU when the encoders start from random weights",
        help="First epochs with both encoders frozen, training fusion and decoder only.")
    time_budget: float | None = setting(
        None, label="Time budget (minutes, 0 = chosen)", minimum=0.0, off=0, metavar="MINUTES", group="training",
        auto="5 minutes on a CPU when the epochs are not set, none on a GPU",
        help="Training stops when its epochs (training and validation) have taken this many minutes, keeping the "
             "best epoch's model bundle; the epoch it ends is cut short. On the command line 0 means no limit.")
    batch_size: int = setting(4, label="Batch size", minimum=1, group="training",
                              help="Tiles per training step; lower it when the GPU runs out of memory.")
    learning_rate: float = setting(
        3e-4, flag="--lr", label="Learning rate", minimum=1e-8, maximum=1.0, group="training",
        help="Learning rate of fusion and decoder (vision encoder x0.1, aux encoder x0.5).")
    weight_decay: float = setting(1e-5, label="Weight decay", minimum=0.0, advanced=True, group="training",
                                  help="Weight decay of the optimiser.")
    vision_lr_factor: float = setting(0.1, group="training", no_qgis=OPTIM_DETAIL,
                                      help="Learning rate of the vision encoder, x the learning rate.")
    aux_lr_factor: float = setting(0.5, group="training", no_qgis=OPTIM_DETAIL,
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
    plateau_patience: int = setting(
        3, group="training", no_qgis=OPTIM_DETAIL,
        help="Schedule plateau: epochs without validation gain before the learning rate is reduced.")
    plateau_factor: float = setting(0.5, group="training", no_qgis=OPTIM_DETAIL, help="Schedule plateau: the factor.")
    grad_accumulation: int = setting(
        1, label="Gradient accumulation (batches per step)", minimum=1, advanced=True, group="training",
        help="Sum the gradients of this many batches per optimiser step (a larger effective batch).")
    grad_clip: float | None = setting(1.0, off=0, group="training", no_qgis=OPTIM_DETAIL,
                                      help="Max gradient norm, 0 = off.")
    amp: str = setting("auto", choices=AMP_MODES, group="training", help="Mixed precision: auto (on with CUDA), "
                       "off, bf16 or fp16.", no_qgis="the dialog uses auto: mixed precision on a GPU")
    early_stop_patience: int | None = setting(
        10, flag="--patience", param="PATIENCE", label="Early-stopping patience (epochs, 0 = off)", minimum=0, off=0,
        advanced=True, group="training", help="Stop after this many epochs without a better validation score.")
    early_stop_metric: str = setting(
        "iou", flag="--patience-metric", choices=EARLY_STOP_METRICS, label="Early stopping and best epoch by",
        advanced=True, group="training",
        help="iou: validation IoU; loss: validation loss. Also decides which epoch the bundle keeps.")
    device: str = setting("auto", choices=DEVICES, open_choices=True, label="Device", group="training",
                          help="auto: the GPU when CUDA is available, else the CPU (cuda:N picks a GPU).")
    num_workers: int = setting(0, group="training", help="Data loader processes.",
                               no_qgis="worker processes inside QGIS would start QGIS's own executable")
    resume: bool = setting(
        False, label="Resume from the last checkpoint", advanced=True, group="input and output",
        help="Continue an interrupted or cancelled training from the checkpoint beside the bundle "
             "(MODEL.dsmodel.ckpt) with the same settings; with more epochs, it takes a finished training further.")
    loss: LossConfig = setting(default_factory=LossConfig, help="Loss settings.", no_cli=SECTION, no_qgis=SECTION)
    seed: int = setting(0, label="Random seed", minimum=0, advanced=True, group="training",
                        help="Seed of tile sampling, augmentation and initialisation (same seed, same model on CPU).")
    preview_tiles: int = setting(6, group="training", no_qgis="the report always shows the default 6 tiles",
                                 help="Validation tiles shown in the report's predictions grid (0 = no grid).")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """As Settings.from_dict; the loss settings of older versions (focal_weight, ...) become ``loss``."""
        if isinstance(data, dict) and any(k in data for k in _LEGACY_LOSS_SETTINGS):
            data = {k: v for k, v in data.items() if k not in _LEGACY_LOSS_SETTINGS} | {"loss": _legacy_loss(data)}
        return super().from_dict(data)

    def __post_init__(self) -> None:
        if isinstance(self.loss, dict):
            self.loss = LossConfig.from_dict(self.loss)
        _check(bool(self.output), "train output (the model bundle path) must not be empty.")
        _check(self.epochs >= 0 and self.warmup_epochs >= 0 and self.epochs + self.warmup_epochs >= 1,
               "epochs + warmup_epochs must be at least 1.")
        _check(self.time_budget is None or (self.time_budget > 0 and math.isfinite(self.time_budget)),
               f"time_budget must be > 0 minutes, or unset for no limit (got {self.time_budget}).")
        _check(self.weight_decay >= 0, f"weight_decay must be >= 0 (got {self.weight_decay}).")
        _check(self.vision_lr_factor > 0 and self.aux_lr_factor > 0, "vision_lr_factor and aux_lr_factor must be > 0.")
        _check(0 <= self.min_learning_rate <= self.learning_rate,
               f"min_learning_rate must be in [0, learning_rate] (got {self.min_learning_rate}).")
        _check(self.warmup_steps >= 0, "warmup_steps must be >= 0.")
        _check(self.step_epochs >= 1 and 0 < self.step_gamma <= 1, "step_epochs must be >= 1 and step_gamma in (0, 1].")
        _check(self.plateau_patience >= 0 and 0 < self.plateau_factor < 1,
               "plateau_patience must be >= 0 and plateau_factor in (0, 1).")
        _check(self.grad_clip is None or self.grad_clip > 0, "grad_clip must be > 0, or None for no clipping.")
        _check(self.early_stop_patience is None or self.early_stop_patience >= 1,
               "early_stop_patience must be >= 1, or None to never stop early.")
        _check(self.num_workers >= 0, "num_workers must be >= 0.")
        _check(self.preview_tiles >= 0, "preview_tiles must be >= 0.")
        _check(self.batch_size >= 1, f"batch_size must be >= 1 (got {self.batch_size}).")
        _check(self.learning_rate > 0, f"learning_rate must be > 0 (got {self.learning_rate}).")
        _check(self.schedule in SCHEDULES, f"schedule '{self.schedule}' is unknown; use one of {list(SCHEDULES)}.")
        _check(self.optimizer in OPTIMIZERS, f"optimizer '{self.optimizer}' is unknown; use one of {list(OPTIMIZERS)}.")
        _check(0.0 <= self.momentum < 1.0, f"momentum must be in [0, 1) (got {self.momentum}).")
        _check(self.early_stop_metric in EARLY_STOP_METRICS,
               f"early_stop_metric '{self.early_stop_metric}' is unknown; use one of {list(EARLY_STOP_METRICS)}.")
        _check(self.grad_accumulation >= 1, "grad_accumulation must be >= 1.")
        _check(self.amp in AMP_MODES, f"amp must be one of {list(AMP_MODES)}.")
        _check(self.device in DEVICES or self.device.startswith("cuda:"),
               f"device '{self.device}' is unknown; use one of {DEVICES} or cuda:N.")


@dataclass
class SegmentConfig(Settings):
    """Whole-scene inference settings."""

    image: str = setting("", param="INPUT", custom_qgis=True, label="Image layer", metavar="RASTER",
                         group="input and output", help="Image to segment (same bands as in training).")
    models: list[str] = setting(
        default_factory=list, flag="--model", cli={"action": "append"}, metavar="MODEL", group="input and output",
        param="MODEL", custom_qgis=True, label="Model bundle (.dsmodel; several separated by ; for an ensemble)",
        help="Model bundle (.dsmodel), or an exported .onnx model (run by onnxruntime); several: an ensemble.")
    output: str = setting("", flag="--out", metavar="OUT.tif", group="input and output", param="OUTPUT",
                          custom_qgis=True, label="Class raster", help="Class GeoTIFF to write.")
    aux: list[str] = setting(default_factory=list, cli={"action": "append"}, metavar="RASTER",
                             group="input and output", custom_qgis=True, label="Aux layers (in the model's order)",
                             help="Aux raster (repeat, in the training order; any CRS/resolution).")
    model_weights: list[float] | None = setting(
        None, flag="--weights", custom_cli=True, param="WEIGHTS", custom_qgis=True,
        label="Ensemble weights (comma-separated)", help="One weight per model bundle, e.g. 2,1. Empty: equal.")
    probabilities: str | None = setting(
        None, metavar="P.tif", group="input and output", param="OUTPUT_PROBABILITIES", custom_qgis=True,
        label="Probability raster", help="Also write class probabilities (GeoTIFF).")
    probability_dtype: str = setting(
        "float32", choices=("float32", "uint8"), group="input and output",
        help="uint8 stores round(p * 254), nodata 255.",
        no_qgis="the dialog writes float32 probabilities; uint8 (4x smaller) from the command line")
    polygons: str | None = setting(None, metavar="P.gpkg", group="input and output", param="OUTPUT_POLYGONS",
                                   custom_qgis=True, label="Polygons", help="Also write polygons (GeoPackage).")
    min_polygon_area: float = setting(
        0.0, flag="--min-area", label="Minimum polygon area (map units²)", minimum=0.0, advanced=True,
        group="input and output", help="Polygons smaller than this are left out of the polygon output.")
    simplify_tolerance: float = setting(
        0.0, flag="--simplify", group="input and output",
        help="Simplify polygons with this tolerance (map units).",
        no_qgis="QGIS's own Simplify tool simplifies the polygon layer")
    polygon_classes: list[int] | None = setting(
        None, cli={"nargs": "+"}, metavar="CLASS", group="input and output",
        help="Classes to polygonize (default: foreground for binary models, all otherwise).",
        no_qgis="the polygons hold every class; filter them by class_id in QGIS")
    extent: list[float] | None = setting(
        None, cli={"nargs": 4}, metavar=("XMIN", "YMIN", "XMAX", "YMAX"), group="area", custom_qgis=True,
        label="Extent", help="Segment only this extent (snapped outward to the image's pixel grid).")
    extent_crs: str | None = setting(None, metavar="CRS", group="area", param="EXTENT", custom_qgis=True,
                                     label="Extent", help="CRS of the extent, e.g. EPSG:4326 (default: the image's).")
    aoi: str | None = setting(None, metavar="LAYER", group="area",
                              help="Polygon layer: pixels outside become nodata.",
                              no_qgis="the dialog limits the area with Extent; clip the class raster by a mask layer")
    device: str = setting("auto", choices=DEVICES, open_choices=True, label="Device", group="inference",
                          help="auto: the GPU when CUDA is available, else the CPU (cuda:N picks a GPU).")
    batch_size: int = setting(4, label="Batch size", minimum=1, group="inference",
                              help="Tiles predicted at once; lower it when memory runs out.")
    tile_size: int | None = setting(
        None, label="Tile size (0 = the model's)", minimum=0, maximum=8192, off=0, advanced=True, group="inference",
        help="Edge of the predicted tiles in pixels, a multiple of 32. 0: the training tile size.")
    overlap: float = setting(
        0.25, label="Tile overlap (share of the tile)", minimum=0.0, maximum=0.89, group="inference",
        help="Overlap between neighbouring tiles; overlapping predictions are blended, which removes seams.")
    tta: str = setting(
        "none", choices=TTA_MODES, label="Test-time augmentation", group="inference",
        help="none; flips (3 passes: as is, flipped left-right, flipped up-down); d4 (8 passes: all rotations and "
             "flips). More passes: smoother results, proportionally slower.")
    threshold: float = setting(
        0.5, label="Probability threshold (binary models)", minimum=0.01, maximum=0.99, advanced=True,
        group="inference", help="A pixel is foreground when its probability is at least this (binary models only).")
    resample_to_training_gsd: bool = setting(
        False, label="Resample to the training resolution", advanced=True, group="inference",
        help="Predict on a virtual copy of the image at the model's training pixel size (averaged when shrinking, "
             "interpolated when enlarging), then bring the results back onto the image's grid. Use it when the "
             "image resolution differs much from the training one (the log warns with the factor).")
    prefetch: int = setting(2, group="inference", help="Batches read ahead by the reader thread.",
                            no_qgis="the default keeps the model busy; tune it from the command line")
    readers: int | None = setting(
        None, label="Tile reader threads (0 = automatic)", minimum=0, maximum=64, off=0, advanced=True, metavar="N",
        group="inference",
        help="Threads reading and warping tiles ahead of the model. 0: one on the CPU, the free cores on a GPU.")
    reader_processes: bool = setting(
        False, group="inference",
        help="Run the reader workers as processes (no GIL shared with the model; copies each tile once more); "
             "measure with bench/bench_bulk.py which is faster on your machine.",
        no_qgis="processes cannot be started inside QGIS (see engine/segment/reader_pool.py)")
    backend: str = setting(
        "auto", choices=BACKENDS, label="Backend", advanced=True, group="inference",
        help="auto: on the CPU onnxruntime when it is installed (a bundle through its ONNX export, made once and "
             "cached), else torch; on a GPU torch. The log says which ran and why. torch or onnxruntime force one.")

    def __post_init__(self) -> None:
        _check(self.tta in TTA_MODES, f"tta '{self.tta}' is unknown; use one of {TTA_MODES}.")
        _check(self.backend in BACKENDS, f"backend '{self.backend}' is unknown; use one of {BACKENDS}.")
        _check(0.0 <= self.overlap < 0.9, f"overlap must be in [0, 0.9) of the tile (got {self.overlap}).")
        _check(self.batch_size >= 1, f"batch_size must be >= 1 (got {self.batch_size}).")
        _check(0.0 < self.threshold < 1.0, f"threshold must be in (0, 1) (got {self.threshold}).")
        _check(self.probability_dtype in ("float32", "uint8"), "probability_dtype must be float32 or uint8.")
        _check(self.prefetch >= 1, f"prefetch must be >= 1 batch (got {self.prefetch}).")
        _check(self.readers is None or self.readers >= 1, f"readers must be >= 1 (got {self.readers}).")
        _check(self.min_polygon_area >= 0 and self.simplify_tolerance >= 0,
               "min_polygon_area and simplify_tolerance must be >= 0.")
        if self.tile_size is not None:
            _check(self.tile_size >= 32 and self.tile_size % 32 == 0,
                   f"tile_size must be a positive multiple of 32 (got {self.tile_size}); or leave it unset to use "
                   f"the bundle's.")
        if self.extent is not None:
            _check(len(self.extent) == 4, f"extent must be [xmin, ymin, xmax, ymax] (got {self.extent}).")
            self.extent = [float(v) for v in self.extent]
            _check(self.extent[0] < self.extent[2] and self.extent[1] < self.extent[3],
                   f"extent must have xmin < xmax and ymin < ymax (got {self.extent}).")
        _check(self.device in DEVICES or self.device.startswith("cuda:"),
               f"device '{self.device}' is unknown; use one of {DEVICES} or cuda:N.")
        if self.model_weights is not None:
            _check(len(self.model_weights) == len(self.models),
                   f"{len(self.model_weights)} model weights given for {len(self.models)} models.")
            _check(all(w >= 0 for w in self.model_weights) and sum(self.model_weights) > 0,
                   "model weights must be >= 0 and not all zero.")


@dataclass
class BulkConfig(Settings):
    """Many scenes segmented with the same bundle(s) and SegmentConfig settings, one set of outputs each."""

    images: list[str] = setting(
        default_factory=list, cli={"nargs": "+"}, metavar="PATH_OR_GLOB", group=BULK, param="INPUT",
        custom_qgis=True, label="Image layers",
        help="Images, globs ('tiles/*.tif', '**' recursive) or folders; each scene's outputs go to the output "
             "folder named after it.")
    aux_patterns: list[str] = setting(
        default_factory=list, flag="--aux-pattern", cli={"action": "append"}, metavar="PATTERN", group=BULK,
        custom_qgis=True, label="Aux file pattern(s), in the model's order",
        help="Each scene's aux file by name, relative to its image: '{stem}_aux.tif' ({stem}: image name without "
             "extension, {name}: with it; globs ok); several in the training order.")
    manifest: str | None = setting(
        None, metavar="FILE", group=BULK, custom_qgis=True, label="Manifest (CSV or JSON) instead of layers/folder",
        help="CSV (header image,aux[,aux2...][,output]) or JSON list of {image, aux, output}.")
    out_dir: str = setting("", metavar="DIR", group=BULK, param="OUTPUT", custom_qgis=True, label="Output folder",
                           help="Output folder: <name>.tif + .qml per scene, summary.json/.csv/.html.")
    overwrite: bool = setting(
        False, group=BULK, label="Redo scenes already finished",
        help="By default a rerun skips the scenes finished with the same model(s) and settings.")
    probabilities: bool = setting(False, flag="--with-probabilities", group=BULK,
                                  label="Also write probability rasters",
                                  help="<name>_probabilities.tif per scene (float32).")
    polygons: bool = setting(False, flag="--with-polygons", group=BULK, label="Also write polygons",
                             help="<name>.gpkg per scene with class_id, class_name and area.")
    mosaic: bool = setting(False, group=BULK, label="Write a VRT mosaic of the class rasters",
                           help="mosaic.vrt in the output folder (one per CRS when the scenes differ).")

    def __post_init__(self) -> None:
        _check(bool(self.out_dir), f"No output folder given; give {named('bulk.out_dir')} (one set of outputs per "
                                   f"scene).")
        _check(bool(self.images) != bool(self.manifest),
               f"Give the scenes either as {named('bulk.images')} (files, globs or folders) or as "
               f"{named('bulk.manifest')}, not both and not neither." if self.images else
               f"No scenes given; give {named('bulk.images')} (files, globs or folders) or {named('bulk.manifest')}.")
        _check(not (self.manifest and self.aux_patterns),
               f"{named('bulk.aux_patterns')} applies to {named('bulk.images')}; with {named('bulk.manifest')} give "
               f"the aux files in its aux columns.")


@dataclass
class EvaluateConfig(Settings):
    """Compare a predicted class raster with a label raster or vector layer."""

    prediction: str = setting(
        "", flag="--pred", cli={"required": True}, metavar="RASTER|DIR", param="INPUT", custom_qgis=True,
        label="Predicted class raster", help="Class raster written by segment, or a folder of them.")
    label: str = setting(
        "", cli={"required": True}, metavar="LAYER|DIR", param="LABELS", custom_qgis=True,
        label="Label layer (raster or polygons)",
        help="Label raster (any grid/CRS) or polygon layer, or a folder matched by file name.")
    output: str = setting("metrics.json", flag="--out", metavar="metrics.json", custom_qgis=True,
                          label="Metrics (JSON)",
                          help="Metrics JSON; <stem>.csv and <stem>_confusion.csv are written beside it.")
    label_field: str | None = setting(
        None, metavar="FIELD", custom_qgis=True, label="Class field (polygon labels)",
        help="Vector label field with the class (default: every polygon is class 1).")
    label_mapping: dict[str, int] | None = setting(
        None, flag="--label-map", cli={"action": "append", "type": parse_label_pairs}, metavar="VALUE=CLASS",
        text="label_map", label="Label mapping (VALUE=CLASS, for 'this mapping')",
        help="Raw label values and their classes, e.g. 90=1. Not given (the default): the mapping the model was "
             "trained with, which Segment writes into the class raster (the log says when it is used), or, for a "
             "raster from elsewhere, the label values as class numbers; an empty mapping (QGIS: Label values "
             "'class numbers'): the label values are the class numbers. A mapping none of whose values occurs in "
             "the labels, or label values that are not classes, stop with a message instead of scoring every "
             "pixel as background.")
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


#: The declared settings' sections (as in config files and in ``setting("section.field")`` message markers).
SETTINGS_SECTIONS: dict[str, type[Settings]] = {
    "data": DataConfig, "augment": AugmentConfig, "loss": LossConfig, "train": TrainConfig,
    "segment": SegmentConfig, "bulk": BulkConfig, "evaluate": EvaluateConfig,
}

_NESTED: dict[str, type[Settings]] = {
    "augment": AugmentConfig,
    "loss": LossConfig,
    "train_scenes": SceneSpec,
    "val_scenes": SceneSpec,
}


def __getattr__(name: str) -> Any:
    # ModelConfig lives with the model families (engine.models); importing it here lazily avoids an import cycle.
    if name == "ModelConfig":
        from .models.configuration_utils import ModelConfig

        return ModelConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON settings file into a dict with sections model/data/train/segment."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file '{path}' does not exist; pass the path of a .json or .yaml file.")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # noqa: BLE001 - parser errors differ by format; re-raised with the file name
        raise ConfigError(f"Config file '{path}' could not be parsed: {exc}. Fix the syntax and retry.") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"Config file '{path}' must contain a mapping with sections like 'data:' and 'train:'.")
    return data
