"""The torch-free part of the model contract: ``ModelConfig``, the base of every family's configuration, and
``FamilyCard``, what a family declares about itself for the rest of the engine.

The factory :class:`AutoModelConfig` (as transformers' ``AutoConfig``) builds a family's config from its name or a
settings mapping, so code that only knows a family name (CLI, plugin, bundle) never imports it. The texts that speak
of every family (the help of ``--model``, ``--preset``, ``--drop-path``, the automatic choice) are written here from
the families' cards, when asked, never listed by hand.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from ..declarations import Settings, check, setting
from ..errors import ConfigError, mention
from .encoders.catalog import check_encoder_name
from .registry import family_module, has_configuration, list_models, list_presets

T = TypeVar("T", bound="ModelConfig")
DEFAULT_FAMILY = "dualstream"
AUTO, DEFAULT = "auto", "default"  # the front ends' choices that leave the family / preset to the engine
FROM_DATA = "set from the training data (its bands, aux rasters and classes)"
MODEL_DETAIL = "a fine-tuning setting of the model: command line or config file"
# What the training data feeds a model (engine.training.auto tells them apart; a family's card names those it takes)
IMAGERY, AUX_GRID = "imagery only", "aux rasters on a coarser grid"
X_BANDS, AUX_SAME_GRID = "X bands on the image grid", "aux rasters on the image grid (aux ratio 1)"
DATES = "two dates of one place"  # a change detection's before and after images
NO_CHANGE = "no change"  # class 0 of a change raster (a change model's or a comparison's)
#: The test-time augmentations segment runs a model with (segment.tta; a change model records its own).
TTA_MODES = ("none", "flips", "d4")
CHANGE_CLASSES = (NO_CHANGE, "change")  # a change mask's classes: "no change" is drawn transparent
SEASON = "a season of dates of one place"  # a time series: T dates, each with its day, padded dates masked
DATA_KINDS = (IMAGERY, AUX_GRID, X_BANDS, AUX_SAME_GRID, DATES, SEASON)
#: The shared decoders (``decoders.py``) a family may build by name.
DECODERS = ("unet", "fpn", "deeplabv3plus", "pspnet", "mlp")
BASELINE_LOSS: dict[str, float] = {"focal": 1.0, "dice": 1.0}  # the building design's FocalDice


@dataclass(frozen=True)
class AutoPick:
    """When the automatic choice (``--model auto``) takes the family: on a ``device`` ("cpu" or "gpu"), for data
    of ``kinds``, at ``preset`` (None: the family's default); of several families that fit, the lowest ``rank``."""

    device: str
    kinds: tuple[str, ...]
    preset: str | None = None
    rank: int = 0


@dataclass(frozen=True)
class FamilyCard:
    """What a family says about itself; every place that speaks of all families reads these."""

    architecture: str  # its name on the model card (STAC ``mlm:architecture``), e.g. ``U-Net``
    citation: str  # the paper it follows, e.g. ``Ronneberger et al. 2015, arXiv 1505.04597``
    streams: str  # what it reads, in the ``--model`` help's words (families with the same words share a line)
    # the data it is built for (of DATA_KINDS); a kind other than imagery only: it reads the aux rasters or X bands
    # as a stream of its own (the benchmark gives them to it)
    kinds: tuple[str, ...] = (IMAGERY,)
    cpu_preset: str | None = None  # its small preset, on a CPU with no preset given (None: its first)
    auto: tuple[AutoPick, ...] = ()  # when ``--model auto`` chooses it
    loss: dict[str, float] | None = None  # its reference design's loss (the default of ``--loss``); None: BASELINE_LOSS
    side_weights: tuple[float, ...] = ()  # the default weights of its deep-supervision side outputs
    framework: str = "pytorch"  # of its weights (STAC ``mlm:framework``)
    bench_input: tuple[int, int, int] = (3, 0, 1)  # (vision bands, aux channels, aux ratio) for bench/model_cost.py

    @property
    def second_stream(self) -> bool:
        """Whether the family reads aux rasters or X bands as a stream of its own."""
        return any(kind not in (IMAGERY, DATES, SEASON) for kind in self.kinds)

    @property
    def takes_dates(self) -> bool:
        """Whether the family takes several dates of one place (change detection, a season)."""
        return DATES in self.kinds or SEASON in self.kinds


def families_by(words: Any) -> list[tuple[Any, list[str]]]:
    """(key, families) with the registered families grouped by ``words(family)`` (a text or a value), in order."""
    groups: dict[str, list[str]] = {}
    for family in list_models():
        groups.setdefault(words(family), []).append(family)
    return list(groups.items())


def joined(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def encoder_families() -> list[str]:
    """The families whose encoder can be chosen (``ENCODERS``); the others' is fixed."""
    return [f for f in list_models() if getattr(AutoModelConfig.config_class(f), "ENCODERS", ())]


def _card(family: str) -> FamilyCard:
    return AutoModelConfig.config_class(family).CARD


def _default(family: str, name: str) -> Any:
    return next(f.default for f in dataclasses.fields(AutoModelConfig.config_class(family)) if f.name == name)


def family_help() -> str:
    """The ``--model`` help: each family's streams, from its card."""
    lines = "; ".join(f"{', '.join(names)}: {text}" for text, names in families_by(lambda f: _card(f).streams))
    return f"{lines}. auto: chosen from the data and the device."


def auto_picks(gpu: bool) -> dict[str, tuple[str, str | None]]:
    """Data kind -> (family, preset or None for its default) that ``--model auto`` takes on a GPU or a CPU."""
    device, best = "gpu" if gpu else "cpu", {}
    for family in list_models():
        for pick in _card(family).auto:
            for kind in pick.kinds if pick.device == device else ():
                if kind not in best or pick.rank < best[kind][0]:
                    best[kind] = (pick.rank, family, pick.preset)
    return {kind: best[kind][1:] for kind in DATA_KINDS if kind in best}


def _picks_text(gpu: bool) -> str:
    groups: dict[tuple[str, str | None], list[str]] = {}
    for kind, pick in auto_picks(gpu).items():
        groups.setdefault(pick, []).append(kind)
    return ", ".join(f"{family} {preset or _default(family, 'preset')} for {' or '.join(kinds)}"
                     for (family, preset), kinds in groups.items())


def preset_form(family: str, config: Any) -> dict[str, Any]:
    """A family's own preset field in its Train form (``FORM["model.preset"]``): its presets and what each device
    picks. ``config`` returns the family's configuration class (called late: the class is still being defined)."""
    return {"choices": lambda: (*config().PRESETS, DEFAULT),
            "help": lambda: f"Model size of the {family} family ({', '.join(config().PRESETS)}; tiny for tests and "
                            f"CPU demos). default: chosen for the device.",
            "auto": lambda: "; ".join(f"{pick.preset} on a {pick.device.upper()}" for pick in config().CARD.auto)}


def cpu_preset(family: str) -> str:
    """The small preset family ``family`` trains with on a CPU when none is given."""
    return _card(family).cpu_preset or list(AutoModelConfig.config_class(family).PRESETS)[0]


def auto_preset_note() -> str:
    """How the preset is chosen when left at default, from the families' cards."""
    small = "; ".join(f"{preset} for {joined(names)}" for preset, names in families_by(cpu_preset))
    own = "; ".join(f"{preset} for {joined(names)}" for preset, names in families_by(lambda f: _default(f, "preset")))
    return f"a small preset on a CPU ({small}), the family's own on a GPU ({own})"


def family_card(name: str) -> FamilyCard | None:
    """The card of family ``name``; None for a name the registry does not know (e.g. a newer version's bundle)."""
    return AutoModelConfig.config_class(name).CARD if has_configuration(name) else None


def season_families() -> list[str]:
    """The families that take a season (the season family, the automatic pick, first)."""
    return [f for f in list_models() if takes_a_season(f)]


def season_family(encoder: str | None, name: str | None = None) -> str:
    """The family a season trains with ``encoder``: ``name`` where given (a family that takes a season), else the
    season family (``SEASON``'s automatic pick), or, for an encoder it does not take (Presto: a pixel-series
    encoder), the season-taking family that does. Galileo, which both take, stays with the season family (each
    date read as an image) unless the eoseries family is named (each pixel's series)."""
    families = season_families()
    if name is not None and name != AUTO:
        check(name in families, f"{mention('model.name')} '{name}' does not take a season; the families that do "
                                f"are {families}.")
        return name
    for family in families:
        if encoder is None or encoder in getattr(AutoModelConfig.config_class(family), "ENCODERS", ()):
            return family
    return families[0]


def season_encoder_note(encoder: str | None, family: str) -> str | None:
    """What ``encoder`` does in the season family ``family`` that picked it when another season family takes it too
    (Galileo: each date an image here, each pixel's series in eoseries), or None."""
    others = [f for f in season_families() if f != family and encoder in getattr(
        AutoModelConfig.config_class(f), "ENCODERS", ())]
    if not encoder or not others:
        return None
    card = AutoModelConfig.config_class(family).CARD
    return (f"with {encoder} the {family} family ({card.architecture}: {card.streams}) is trained; "
            + "; ".join(f"{mention('model.name')} {other} trains the {other} family "
                        f"({AutoModelConfig.config_class(other).CARD.architecture}: "
                        f"{AutoModelConfig.config_class(other).CARD.streams}) with it instead" for other in others))


def season_model_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """A season form's model settings for the family :func:`season_family` picks for its encoder (or the family it
    names): ``name`` set, the form's settings that family has no field for left out (the season family's decoder,
    for Presto)."""
    family = season_family(settings.get("encoder"), settings.get("name"))
    fields = set(AutoModelConfig.config_class(family).__dataclass_fields__)
    return {**{key: value for key, value in settings.items() if key in fields}, "name": family}


def season_family_note(family: str, offered: Iterable[str]) -> str:
    """What ``family`` (one a season form's encoder may pick) takes, from its declarations: the encoders that pick
    it, its description, and which of the form's settings (``offered``: ``model.decoder`` ...) it has no field for,
    so a front end says them rather than dropping them unsaid."""
    target = AutoModelConfig.config_class(family)
    encoders = [name for name in getattr(target, "ENCODERS", ()) if season_family(name) == family]
    named = [name for name in getattr(target, "ENCODERS", ()) if name not in encoders]  # Galileo: the family named
    lacking = [key for key in offered if key.startswith("model.") and key[6:] not in target.__dataclass_fields__]
    note = (f"Encoder {joined(encoders)}" + (f" (or {joined(named)} with {mention('model.name')} {family})"
                                             if named else "")
            + f": the {family} family ({target.CARD.architecture}). {target.description}")
    return note + (f" It takes no {joined([mention(key) for key in lacking])}." if lacking else "")


def season_family_notes(offered: Iterable[str]) -> list[str]:
    """:func:`season_family_note` of every family a season form's encoder picks instead of the season family."""
    offered = list(offered)
    default = season_family(None)
    return [season_family_note(f, offered) for f in list_models() if takes_a_season(f) and f != default]


def season_form_problem(encoder: str | None, changed: Iterable[str], offered: Iterable[str],
                        name: str | None = None) -> str | None:
    """Why a season form cannot train as asked, or None: a setting the user ``changed`` from its default that the
    family ``encoder`` picks (or ``name``) has no field for (a decoder with Presto: it would be dropped unsaid)."""
    family = season_family(encoder, name)
    fields = AutoModelConfig.config_class(family).__dataclass_fields__
    ignored = [key for key in changed if key.startswith("model.") and key[6:] not in fields]
    if not ignored:
        return None
    return (f"{season_family_note(family, offered)} Leave {joined([mention(key) for key in ignored])} at its "
            f"default, or choose an encoder of the {season_family(None)} family to use it.")


def takes_a_season(family: str) -> bool:
    """Whether ``family`` takes a season: any number of dates of one place, each with its day and validity."""
    card = family_card(family)
    return card is not None and SEASON in card.kinds


# drop_path: every family has it, with its own default
DROP_PATH = {"group": "model", "metavar": "RATE", "no_qgis": MODEL_DETAIL,
             "help": "Stochastic depth rate of the encoder blocks (ConvNeXt, Swin, MiT), in [0, 1).",
             "default_note": lambda: "the family's: " + "; ".join(  # the families' own defaults
                 f"{value:g} for {joined(names)}" for value, names in families_by(lambda f: _default(f, "drop_path")))}


def _decoder_families() -> list[str]:
    """The families whose decoder can be chosen (a ``decoder`` setting of :data:`DECODER`)."""
    return [f for f in list_models()
            if "decoder" in {field.name for field in dataclasses.fields(AutoModelConfig.config_class(f))}]


# decoder: the families of several dates (change, season) choose one of the shared decoders; declared once here
DECODER = {"choices": DECODERS, "group": "model", "advanced": True,
           "label": lambda: f"Decoder ({joined(_decoder_families())} models)",
           "help": lambda: f"The decoder of the {joined(_decoder_families())} families over their dates' features: "
                           f"unet, fpn, deeplabv3plus, pspnet (as those families') or mlp (SegFormer's all-MLP "
                           f"head, as cmx's)."}

# vision_encoder: the SegFormer families' (dualstream, cmx), a config_only setting
VISION_ENCODER = {"help": "Explicit SegFormer encoder sizes overriding the preset's (hidden_sizes, depths, "
                          "num_attention_heads, sr_ratios, mlp_ratios: 4 ints each); filled in from a pretrained "
                          "checkpoint so a bundle rebuilds exactly."}


@dataclass
class ModelConfig(Settings):
    """Settings every family shares. ``aux_channels=0`` builds a vision-only model.

    Families add their own fields and override ``preset``'s default. ``aux_ratio`` is the number of vision
    pixels per aux pixel of the aux tensor the data gives the model (8: a 64x64 aux grid under a 512 tile;
    1: aux at the vision resolution, e.g. extra bands of the same image).
    """

    name: str = setting(
        DEFAULT_FAMILY, flag="--model", param="MODEL_FAMILY", label="Model family", group="model",
        choices=lambda: (*list_models(), AUTO), off=AUTO, qgis_default=AUTO, help=family_help,
        auto=lambda: f"on a GPU: {_picks_text(True)}; on a CPU: {_picks_text(False)}")  # from the families' cards
    preset: str = setting(
        "b1", label="Architecture preset", group="model", choices=lambda: (*list_presets(), DEFAULT), off=DEFAULT,
        qgis_default=DEFAULT, auto=auto_preset_note,
        help="Model size; each family has its own presets (the list of model families gives them), tiny for tests "
             "and CPU demos. default: chosen for the device.")
    vision_channels: int = setting(4, help="Bands of the vision stream.", no_cli=FROM_DATA, no_qgis=FROM_DATA)
    aux_channels: int = setting(48, help="Channels of the aux (or X) stream; 0 = imagery only.", no_cli=FROM_DATA,
                                no_qgis=FROM_DATA)
    num_classes: int = setting(1, help="Classes; 1 = binary (sigmoid).", no_cli=FROM_DATA, no_qgis=FROM_DATA)
    aux_ratio: int = setting(8, help="Vision pixels per aux pixel of the aux tensor.",
                             no_cli="the data's aux ratio (data.aux_ratio)", no_qgis="the data's Aux ratio")
    dropout: float = setting(0.1, group="model", metavar="RATE", no_qgis=MODEL_DETAIL,
                             help="Dropout before the classifier, in [0, 1).")
    pretrained: str | None = setting(
        None, label="Pretrained encoder weights (imagenet, release, a hub id, a folder, or none)", custom_qgis=True,
        group="model", metavar="SOURCE",
        help="imagenet for the encoder's ImageNet checkpoint, release for a foundation encoder's own release "
             "(Prithvi-EO-2.0, DINOv3; either word names the encoder's own weights), a Hugging Face hub id such as "
             "nvidia/mit-b1 (downloaded once into the Hugging Face cache, then used offline too), a local checkpoint "
             "folder (save_pretrained output) or release file, or none for random weights.",
        auto="the encoder's own weights (imagenet or release) when the Hugging Face cache holds them or the hub "
             "(HF_ENDPOINT) serves them; else random initialisation, with what to download said in the log")

    PRESETS: ClassVar[dict[str, Any]] = {}
    description: ClassVar[str] = ""
    CARD: ClassVar[FamilyCard]
    #: The family's own training form (a front end's form for it, QGIS's Train change detection): setting key ->
    #: the Declaration fields it gives otherwise (help, label, choices, ``qgis_default``: None shows the engine's
    #: choice as automatic); a function is called when the form is made. Empty: the declarations as they are.
    FORM: ClassVar[dict[str, dict[str, Any]]] = {}
    LOCAL_DECODER: ClassVar[bool] = False  # convolutions only: no pooling over the tile, no attention
    # the model also takes each date's day number and validity (``days=``, ``valid=``): a season model
    TAKES_DAYS: ClassVar[bool] = False
    #: Settings added after bundles were written: the value a bundle that lacks one was trained with (read by
    #: :meth:`AutoModelConfig.from_dict` with ``stored``), where it differs from the new default.
    BEFORE: ClassVar[dict[str, Any]] = {}

    def local_receptive_field(self) -> bool:
        """Whether the output at a pixel depends on a neighbourhood of it only (no global pooling, attention or
        position embedding): then the tile size changes only what lies near its edges (``segment.tile_choice``)."""
        return False

    def __post_init__(self) -> None:
        check(self.preset in self.PRESETS,
               f"{mention('model.preset')}: '{self.preset}' is not a preset of the {self.name} family; use one of "
               f"{list(self.PRESETS)}.")
        check(self.vision_channels >= 1, f"vision_channels must be >= 1 (got {self.vision_channels}).")
        check(self.aux_channels >= 0, f"aux_channels must be >= 0, 0 = vision only (got {self.aux_channels}).")
        check(self.num_classes >= 1, f"num_classes must be >= 1, 1 = binary (got {self.num_classes}).")
        check(self.aux_ratio >= 1, f"aux_ratio must be >= 1 (got {self.aux_ratio}).")
        check(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1) (got {self.dropout}).")
        drop = getattr(self, "drop_path", 0.0)  # every family trained here has one (DROP_PATH)
        check(0.0 <= drop < 1.0, f"drop_path must be in [0, 1) (got {drop}).")
        if getattr(self, "encoder", None) is not None:  # the families whose encoder can be chosen (ENCODERS)
            check_encoder_name(self.encoder, self.ENCODERS)

    @property
    def input_dates(self) -> int:
        """Dates of one place the model takes, stacked on the vision channels in time order (1: one image)."""
        return 1

    @property
    def input_channels(self) -> int:
        """Channels of the vision tensor: ``vision_channels`` bands of each of ``input_dates`` dates."""
        return self.vision_channels * self.input_dates

    @property
    def uses_aux(self) -> bool:
        """Whether the model takes an aux tensor (callers pass ``aux=None`` otherwise)."""
        return self.aux_channels > 0

    def fit_data(self: T, vision_channels: int, aux_channels: int, num_classes: int, aux_ratio: int) -> T:
        """This config with the band counts, classes and aux ratio of the training data."""
        return self.replace(vision_channels=vision_channels, aux_channels=aux_channels, num_classes=num_classes,
                            aux_ratio=aux_ratio)

    def aux_input_note(self, tile_size: int) -> str | None:
        """What the model does with its aux input, when that is worth saying (the training log shows it)."""
        return None

    def preset_settings(self) -> Any:
        return self.PRESETS[self.preset]


def family_with_preset(preset: str | None, encoder: str | None = None, settings: Iterable[str] = ()) -> str:
    """The family of a model section that names none: the default family, or, for a preset, an encoder or settings
    it lacks (the change family's ``date_scaling`` given alone), the first family that has them (training's
    automatic choice may then change the family, keeping them)."""
    settings = set(settings) - {"name"}
    for family in (DEFAULT_FAMILY, *list_models()):
        config = AutoModelConfig.config_class(family)
        takes = (encoder is None or encoder in getattr(config, "ENCODERS", ())) and settings <= set(
            config.__dataclass_fields__)
        if (preset is None or preset in list_presets(family)) and takes:
            return family
    return DEFAULT_FAMILY  # no family has it: the default family's check names the valid presets


class AutoModelConfig:
    """The factory of the families' configurations (as transformers' ``AutoConfig``), never instantiated."""

    def __init__(self) -> None:
        raise TypeError("AutoModelConfig is a factory: use AutoModelConfig.for_family(name, **settings) or "
                        "AutoModelConfig.from_dict(settings).")

    @staticmethod
    def config_class(name: Any) -> type[ModelConfig]:
        """The config class of family ``name``; ConfigError listing the families for an unknown one."""
        if not has_configuration(name):
            raise ConfigError(f"Unknown model family '{name}'; valid families are {list_models()}.")
        return family_module(str(name), "configuration").CONFIG

    @staticmethod
    def for_family(name: str | None = None, **settings: Any) -> ModelConfig:
        """Family ``name``'s config from keyword settings (no name: :func:`family_with_preset`); ConfigError naming
        unknown settings and the valid ones."""
        family = name or family_with_preset(settings.get("preset"), settings.get("encoder"), settings)
        cls = AutoModelConfig.config_class(family)
        valid = {f.name for f in dataclasses.fields(cls)} - {"name"}
        unknown = sorted(set(settings) - valid)
        if unknown:
            raise ConfigError(f"Unknown setting(s) {unknown} for model '{family}'; valid settings are "
                              f"{sorted(valid)}.")
        return cls(name=family, **settings)

    @staticmethod
    def from_dict(data: dict[str, Any], stored: bool = False) -> ModelConfig:
        """The config of the family ``data["name"]`` names (none: :func:`family_with_preset`), from its settings;
        ConfigError for an encoder given to a family whose encoder is fixed. ``stored``: a bundle's settings, whose
        missing ones take the family's ``BEFORE`` values (the model was built so)."""
        if not isinstance(data, dict):
            raise ConfigError(f"The model settings: expected a mapping of settings, got {type(data).__name__}.")
        family = data.get("name") or family_with_preset(data.get("preset"), data.get("encoder"), data)
        target = AutoModelConfig.config_class(family)
        if data.get("encoder") is not None and not getattr(target, "ENCODERS", ()):
            raise ConfigError(f"{mention('model.encoder')}: the {family} family has a fixed encoder; an encoder can be "
                              f"chosen for {encoder_families()} only (leave it at default).")
        return target.from_dict({**(target.BEFORE if stored else {}), **data, "name": family})
