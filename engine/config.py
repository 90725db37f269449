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

from .errors import ConfigError

T = TypeVar("T", bound="Settings")

DEVICES = ("auto", "cpu", "cuda")
TTA_MODES = ("none", "flips", "d4")
BACKENDS = ("torch", "onnxruntime")  # onnxruntime runs models exported by `dualstream export`
OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("cosine", "step", "plateau")
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

    flips: bool = True
    rot90: bool = True
    rotation_degrees: float = 10.0  # small random rotation, 0 = off
    scale_range: list[float] = field(default_factory=lambda: [0.75, 1.25])  # random resized crop
    color_jitter: float = 0.2  # brightness/contrast strength, 0 = off
    gray_probability: float = 0.05
    hsv: float = 0.0  # 3-band imagery: hue (x pi radians), saturation and value jitter strength, 0 = off
    clahe_probability: float = 0.0  # share of tiles given CLAHE (per band), 0 = off
    clahe_clip: float = 2.0  # CLAHE clip limit, x the mean histogram bin count
    clahe_grid: int = 8  # CLAHE tiles per side
    copy_paste: float = 0.0  # share of tiles that get foreground objects pasted from another tile of the batch

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

    data_dir: str | None = None  # reference layout: ts_sn/ tl_sn/ t_ap/ t_gems/ vs_sn/ vl_sn/ v_ap/ v_gems/
    train_scenes: list[SceneSpec] = field(default_factory=list)
    val_scenes: list[SceneSpec] = field(default_factory=list)
    val_fraction: float = 0.2  # share of train tiles held out when no validation scenes are given
    aux_prefixes: list[str] = field(default_factory=lambda: list(REFERENCE_AUX_PREFIXES))
    # first N bands of each aux file; None = the reference layout's 12, or all bands of explicit scenes' files
    aux_bands_per_file: int | None = None
    label_mapping: dict[str, int] = field(default_factory=lambda: {"90": 1})  # raw value -> class
    label_default_class: int = 0  # class of raw 0 (and of every unmapped value when strict_labels is off)
    strict_labels: bool = True  # raw values neither mapped nor 0/nodata are an error (reported with counts)
    class_names: list[str] = field(default_factory=lambda: ["background", "foreground"])
    class_colors: list[str] = field(default_factory=lambda: ["#000000", "#ff0000"])
    tile_size: int = 512
    aux_ratio: int = 8
    bands: list[int] | None = None  # vision bands of the image, from 1 (GDAL order); None = all (but x_bands)
    x_bands: list[int] | None = None  # bands of the same image as the aux input (CMX's X modality; aux ratio 1)
    tiles_per_epoch: int = 200
    foreground_share: float = 0.5  # share of random tiles forced to contain foreground
    skip_incomplete: bool = False  # skip scenes with a missing partner file instead of failing
    ignore_index: int = 255
    statistics: str = "percentile"  # "percentile" (2/98) or "meanstd"
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 0
    statistics_tiles: int = 64  # tiles read (over all training scenes) to compute the band statistics

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
               f"tile_size must be a positive multiple of 32 (got {self.tile_size}); try 256 or 512.")
        _check(self.tile_size % self.aux_ratio == 0,
               f"tile_size {self.tile_size} must be divisible by aux_ratio {self.aux_ratio}.")
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
                f"(class_names, --class-names, 'Class names' in QGIS)" if bad and max(bad) >= len(self.class_names)
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


@dataclass
class LossConfig(Settings):
    """The training loss: named terms with weights, their options, and the deep-supervision side weights.

    ``terms`` None = the model family's default (DualStream 0.5 focal + 0.5 Lovasz, CMX OHEM + Dice, the
    baselines Focal + Dice). Every output (final and side) gets the same weighted sum of terms; the final
    output weighs 1, side output i weighs ``side_weights[i]``.
    """

    terms: dict[str, float] | None = None  # name -> weight, names from LOSS_TERMS
    focal_alpha: float | None = None  # None: 0.25 for binary models, no class weighting for multi-class ones
    focal_gamma: float = 2.0
    lovasz_variant: str = "hinge"  # hinge (Berman, on logits) | probability (the reference's, binary only)
    dice_smooth: float = 1.0
    ohem_threshold: float = 0.7  # pixels whose true-class probability is below this are "hard"
    ohem_min_kept: int = 100_000  # at least this many hardest pixels per batch
    side_weights: list[float] | None = None  # one per side output of the model; None = the family's default

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

    output: str = "model.dsmodel"
    epochs: int = 40  # main (unfrozen) epochs
    warmup_epochs: int = 2  # both encoders frozen
    batch_size: int = 4
    learning_rate: float = 3e-4
    weight_decay: float = 1e-5
    vision_lr_factor: float = 0.1
    aux_lr_factor: float = 0.5
    optimizer: str = "adamw"  # adamw | adam | sgd
    momentum: float = 0.9  # sgd only
    schedule: str = "cosine"  # cosine | step | plateau
    warmup_steps: int = 0  # linear LR warm-up steps at the start of the main stage
    min_learning_rate: float = 1e-6
    step_epochs: int = 10  # schedule "step": multiply the LR by step_gamma every step_epochs main epochs
    step_gamma: float = 0.1
    plateau_patience: int = 3  # schedule "plateau": epochs without validation IoU gain before reducing the LR
    plateau_factor: float = 0.5
    grad_accumulation: int = 1
    grad_clip: float | None = 1.0
    amp: str = "auto"  # auto (on with CUDA) | off | bf16 | fp16
    early_stop_patience: int | None = 10
    early_stop_metric: str = "iou"  # iou | loss (validation); also picks the best epoch (the bundle's weights)
    device: str = "auto"
    num_workers: int = 0
    resume: bool = False
    loss: LossConfig = field(default_factory=LossConfig)
    seed: int = 0
    preview_tiles: int = 6  # validation tiles shown in the <stem>_predictions.png grid (0 = no grid)

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
        _check(self.amp in ("auto", "off", "bf16", "fp16"), "amp must be auto, off, bf16 or fp16.")
        _check(self.device in DEVICES or self.device.startswith("cuda:"),
               f"device '{self.device}' is unknown; use one of {DEVICES} or cuda:N.")


@dataclass
class SegmentConfig(Settings):
    """Whole-scene inference settings."""

    image: str = ""
    models: list[str] = field(default_factory=list)  # one or more bundles; several = ensemble
    output: str = ""
    aux: list[str] = field(default_factory=list)
    model_weights: list[float] | None = None  # ensemble weights, default equal
    probabilities: str | None = None  # optional probability raster
    probability_dtype: str = "float32"  # float32 | uint8
    polygons: str | None = None  # optional GeoPackage
    min_polygon_area: float = 0.0  # map units squared
    simplify_tolerance: float = 0.0  # map units
    polygon_classes: list[int] | None = None  # classes to polygonize; None = foreground (binary) or all classes
    extent: list[float] | None = None
    extent_crs: str | None = None
    aoi: str | None = None
    device: str = "auto"
    batch_size: int = 4
    tile_size: int | None = None  # default: the bundle's
    overlap: float = 0.25  # share of the tile
    tta: str = "none"
    threshold: float = 0.5  # binary models
    resample_to_training_gsd: bool = False
    prefetch: int = 2  # tiles read ahead by the background reader
    readers: int | None = None  # tile reader workers; None = from the CPU count and the device
    reader_processes: bool = False  # the workers are processes, not threads (not inside QGIS; see reader_pool)
    backend: str = "torch"  # torch (bundles) | onnxruntime (exported .onnx models, no torch needed)

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

    images: list[str] = field(default_factory=list)  # files, globs (``**`` recursive) or folders
    aux_patterns: list[str] = field(default_factory=list)  # per scene, in channel order: {stem}, {name}; globs ok
    manifest: str | None = None  # CSV or JSON: image, aux..., output (instead of images + aux_patterns)
    out_dir: str = ""
    overwrite: bool = False  # redo scenes already finished (and replace outputs of other runs)
    probabilities: bool = False  # also write <name>_probabilities.tif per scene
    polygons: bool = False  # also write <name>.gpkg per scene
    mosaic: bool = False  # a VRT of the class rasters per CRS

    def __post_init__(self) -> None:
        _check(bool(self.out_dir), "No output folder given; pass --out-dir DIR (one set of outputs per scene).")
        _check(bool(self.images) != bool(self.manifest),
               "Give the scenes either as --images (files, globs or folders) or as --manifest FILE, not both "
               "and not neither." if self.images else "No scenes given; pass --images PATH_OR_GLOB... or "
               "--manifest FILE.")
        _check(not (self.manifest and self.aux_patterns),
               "--aux-pattern applies to --images; with --manifest give the aux files in its aux columns.")


@dataclass
class EvaluateConfig(Settings):
    """Compare a predicted class raster with a label raster or vector layer."""

    prediction: str = ""
    label: str = ""
    output: str = "metrics.json"  # JSON; a CSV with the same stem is written beside it
    label_field: str | None = None
    label_mapping: dict[str, int] | None = None  # raw label value -> class; None = values are classes
    num_classes: int | None = None  # default: from the prediction's colour table / values
    ignore_index: int = 255
    per_image_dice: bool = False
    rle_csv: str | None = None


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
