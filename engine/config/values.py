"""The value lists the settings choose from (devices, TTA modes, optimisers, ...), the small text parsers and
checks they share, and the declarations every command that runs a model shares (device, backend, models)."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

from ..declarations import check, setting
from ..errors import ConfigError, DataError, mention
from ..io.writers import hex_to_rgb

DEVICES = ("auto", "cpu", "cuda")
BACKENDS = ("auto", "torch", "onnxruntime")
OPTIMIZERS = ("adamw", "adam", "sgd")


def device_setting(group: str, **declaration: Any) -> Any:
    """The one declaration of the device a command runs its model on."""
    return setting("auto", choices=DEVICES, open_choices=True, label="Device", group=group,
                   help="auto: the GPU when CUDA is available, else the CPU (cuda:N picks a GPU).", **declaration)


def backend_setting(group: str) -> Any:
    """The one declaration of what runs a command's model, torch or onnxruntime."""
    return setting("auto", choices=BACKENDS, label="Backend", advanced=True, group=group,
                   help="auto: on the CPU onnxruntime when it is installed (a bundle through its ONNX export, made "
                        "once and cached), else torch, and torch for a Galileo encoder (about twice as fast); on a "
                        "GPU torch. The log says which ran and why. torch or onnxruntime force one.")


def models_setting(help: str, label: str = "Model bundle (.dsmodel; several separated by ; for an ensemble)") -> Any:
    """The one declaration of the models a command runs (``--model``, repeatable; QGIS's MODEL, separated by ``;``)."""
    return setting(default_factory=list, flag="--model", cli={"action": "append"}, metavar="MODEL",
                   group="input and output", param="MODEL", custom_qgis=True, label=label, help=help)

SCHEDULES = ("cosine", "step", "plateau")
AMP_MODES = ("auto", "off", "bf16", "fp16")
#: Data loader processes at most (each one a Python process with its own copy of the readers).
MAX_WORKERS = 64
FROZEN_ENCODER = ("off", "cached")
CONSISTENCY = ("auto", "on", "off")  # auto: on where the measurements found it helps
EARLY_STOP_METRICS = ("iou", "loss")  # validation IoU (higher is better) or validation loss (lower is better)
LOSS_TERMS = ("focal", "lovasz", "dice", "ohem", "ce")  # ce: cross-entropy (binary cross-entropy for 1 class)
LOSS_ALIASES = {"bce": "ce"}
# Deep-supervision weight of a side output whose family's card gives none (the final output weighs 1).
DEFAULT_SIDE_WEIGHT = 0.3
REFERENCE_AUX_PREFIXES = ("GEMS_", "AIR_Pollution_CO_", "AIR_Pollution_NO2_", "AIR_Pollution_SO2_")
REFERENCE_AUX_BANDS_PER_FILE = 12  # the reference layout's convention: the first 12 bands of each aux file
# Class colours not given: black background, red first class (the binary default), then ColorBrewer "Paired".
CLASS_PALETTE = ("#000000", "#ff0000", "#1f78b4", "#33a02c", "#ff7f00", "#6a3d9a", "#b15928", "#a6cee3", "#b2df8a",
                 "#fb9a99", "#fdbf6f", "#cab2d6", "#ffff99")


def check_tile_size(tile: int, key: str, aux_ratio: int | None = None, hint: str = "") -> None:
    """ConfigError unless ``tile`` is a positive multiple of 32 (the encoders' coarsest stride) and, with aux data,
    of the aux ratio (an aux cell covers whole tiles); the one tile rule of training and segmenting alike."""
    check(tile >= 32 and tile % 32 == 0, f"{mention(key)} must be a positive multiple of 32 (got {tile}){hint}.")
    if aux_ratio:
        check(tile % aux_ratio == 0, f"{mention(key)} {tile} must be divisible by the aux ratio {aux_ratio} (every "
                                     f"aux cell covers whole tiles){hint}.")


# A class not given a colour whose name holds one of these words takes the land-cover maps' usual colour (ESA
# WorldCover's where it has one): forest green, water blue, built-up red, as a map reader expects.
NAMED_CLASS_COLORS = (
    (("background", "nodata", "no data", "unlabelled", "no change", "nothing"), "#000000"),
    (("mangrove",), "#00cf75"), (("wetland", "marsh", "swamp", "bog"), "#0096a0"),
    (("forest", "tree", "wood"), "#006400"), (("shrub", "bush", "scrub"), "#ffbb22"),
    (("grass", "meadow", "pasture", "herbaceous"), "#ffff4c"),
    (("crop", "agri", "arable", "cultivat", "field", "farm", "maize", "wheat", "rice", "soy", "barley", "cotton",
      "millet", "cereal", "orchard", "vineyard"), "#f096ff"),
    (("building", "built", "urban", "artificial", "settlement", "roof", "house", "town", "city", "village",
      "industr"), "#fa0000"),
    (("road", "street", "rail", "pavement", "parking"), "#808080"),
    (("bare", "soil", "sand", "desert", "rock"), "#b4b4b4"),
    (("snow", "ice", "glacier"), "#f0f0f0"), (("water", "river", "lake", "sea", "ocean", "flood"), "#0064c8"),
    (("moss", "lichen"), "#fae6a0"), (("cloud",), "#e0e0e0"), (("shadow",), "#404040"), (("change",), "#ff0000"),
)


def named_class_color(name: str) -> str | None:
    """The usual map colour of a class called ``name`` (:data:`NAMED_CLASS_COLORS`; the first word that fits),
    or None."""
    text = name.lower().replace("_", " ").replace("-", " ")  # words begin a word: "street" is not a tree
    return next((color for words, color in NAMED_CLASS_COLORS
                 if any(re.search(rf"\b{re.escape(word)}", text) for word in words)), None)


def fill_class_colors(colors: list[str], count: int, names: list[str] = ()) -> list[str]:
    """``count`` class colours: the given ones first, then, for a class whose name has a usual map colour not used
    yet (:func:`named_class_color`), that colour, else palette colours not used yet (the palette repeats once it
    runs out); extra given colours are dropped."""
    out = list(colors[:count])
    named = [named_class_color(str(n)) if i >= len(out) else None for i, n in enumerate(list(names)[:count])]
    used = [*out, *filter(None, named)]
    # a palette colour a map reader cannot tell from one in use (the palette's red beside built-up's) is skipped
    spare = itertools.cycle([c for c in CLASS_PALETTE if not any(_alike(c, u) for u in used)] or CLASS_PALETTE)
    for i in range(len(out), count):
        color = named[i] if i < len(named) else None
        out.append(next(spare) if color is None or color.lower() in {c.lower() for c in out} else color)
    return out


ALIKE = 48  # colours whose channels all lie this close look the same on a map (#ff0000 and #fa0000)


def _alike(a: str, b: str) -> bool:
    """Whether colours ``a`` and ``b`` look the same on a map (see ALIKE); a colour that is no hex colour is alike
    only to itself (check_class_colors names it)."""
    try:
        return max(abs(x - y) for x, y in zip(hex_to_rgb(a), hex_to_rgb(b))) < ALIKE
    except DataError:
        return a.strip().lower() == b.strip().lower()


# '#rrggbb' (also '#rgb' and '#rrggbbaa', with or without '#'): what the colour table and QML writers take
COLOR_PATTERN = re.compile(r"#?(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
CLASS_NAME_MAX = 100  # characters; names go into colour tables, QML, CSV headers and layer legends


def invalid_colors(colors: list[Any]) -> list[Any]:
    """The entries of ``colors`` that are not hex colours the writers take (see :data:`COLOR_PATTERN`)."""
    return [c for c in colors if not isinstance(c, str) or not COLOR_PATTERN.fullmatch(c.strip())]


def check_class_colors(colors: list[Any], names: list[Any], where: str = mention("data.class_colors")) -> None:
    """ConfigError naming every colour that is not '#rrggbb' and the class it belongs to."""
    if bad := [(i, c) for i, c in enumerate(colors) if invalid_colors([c])]:
        shown = ", ".join(f"{c!r} (class {i}{f' {names[i]!r}' if i < len(names) else ''})" for i, c in bad[:5])
        raise ConfigError(f"{where}: {shown} {'is not a colour' if len(bad) == 1 else 'are not colours'}; give "
                          f"one '#rrggbb' hex colour per class, e.g. #ff0000 for red.")


def check_class_names(names: list[Any], where: str = mention("data.class_names")) -> None:
    """ConfigError for a class name that is empty, too long, has control characters, or is given twice."""
    for i, name in enumerate(names):
        text = name if isinstance(name, str) else None
        problem = ("is not text" if text is None else "is empty" if not text.strip()
                   else f"is longer than {CLASS_NAME_MAX} characters" if len(text) > CLASS_NAME_MAX
                   else "contains a control character (tab, newline, ...)"
                   if any(ord(ch) < 32 or ord(ch) == 127 for ch in text) else None)
        check(problem is None, f"{where}: the name of class {i} ({name!r}) {problem}; give every class a short "
                                f"printable name.")
    seen = [n for i, n in enumerate(names) if n in names[:i]]
    check(not seen, f"{where}: the class name(s) {seen} are given twice; every class needs its own name.")


def repaired_class_colors(colors: list[Any], names: list[Any], where: str) -> tuple[list[str], str | None]:
    """A bundle's class colours with those that are not colours (or missing) replaced by palette colours, and the
    warning that says so (None when all are fine): a model trained before colours were checked still runs."""
    bad = invalid_colors(list(colors))
    if not bad and len(colors) == len(names):
        return list(colors), None
    kept = [c for c in colors[:len(names)] if c not in bad]  # only the classes' own colours, not spare ones
    spare = iter(fill_class_colors(kept, len(names))[len(kept):])
    fixed = [colors[i] if i < len(colors) and colors[i] not in bad else next(spare) for i in range(len(names))]
    changed = ", ".join(f"class {i} {names[i]!r}: {colors[i] if i < len(colors) else 'none'!r} -> {fixed[i]}"
                        for i in range(len(names)) if i >= len(colors) or colors[i] != fixed[i])
    return fixed, (f"The model bundle '{where}' carries class colour(s) that are not '#rrggbb' colours; using "
                   f"{changed} for the class raster's colour table and style.")


# Why a declared setting is not offered by a front end (the exposure test reads these).
SECTION = "a section: its own settings are declared"
LOSS_DETAIL = "a fine-tuning setting of a loss term: command line or config file"
OPTIM_DETAIL = "a fine-tuning setting of the optimiser: command line or config file"
BULK = "many scenes (instead of --image/--out)"  # the command line's help group of the bulk settings


def parse_label_pairs(text: str, what: str = "data.label_mapping") -> dict[str, int]:
    """``"90=1, 255=255"`` (or ``90:1``; commas or semicolons) -> ``{"90": 1, "255": 255}``: raw label value ->
    class number. A numeric raw value is written as a number (``90.0`` is ``90``); any other is the text of a class
    field (``forest=1``), kept as written. The one parser of VALUE=CLASS pairs."""
    mapping: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in str(text or "").replace(";", ",").split(","))):
        key, sep, value = part.partition("=" if "=" in part else ":")
        key = key.strip()
        try:
            number = float(value)
            if not sep or not key or not number.is_integer():
                raise ValueError(part)
        except ValueError:
            raise ConfigError(f"{mention(what)}: '{part}' is not VALUE=CLASS; write pairs like 90=1 (raw label value "
                              f"= class number) or forest=1 (a class field's text), separated by commas.") from None
        try:
            raw = float(key)
        except ValueError:  # the text of a class field's value
            mapping[key] = int(number)
            continue
        mapping[str(int(raw)) if raw.is_integer() else str(raw)] = int(number)
    return mapping


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
