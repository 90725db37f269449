"""Training settings the user left unset, chosen from the data and the device, each with its reason.

The front ends say which settings were given (a command-line flag, a config-file key, a QGIS parameter changed
from its default); :func:`choose_settings` fills the others (``AUTO_SETTINGS``) and returns one line per choice,
naming the settings as the front end does. Each ``_choose_*`` says its rule; the model is the family whose card
(``FamilyCard.auto``) claims the data on this device (the ``--model`` help prints the current picks); the change
family's own choices for scenes of two dates are in :mod:`.change_choices`.

A pretrained checkpoint given as a folder or a hub id fixes the model size, so the model is not chosen then;
``imagenet`` / ``release`` name the chosen encoder's own weights and leave the choice to be made. A model to start
from (``train.init_from``, fine-tuning) gives the family and preset the user did not set.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from ..callbacks import QuietCallback
from ..config import SETTINGS_SECTIONS, DataConfig, ModelConfig, TrainConfig
from ..data.shown import scene_names
from ..declarations import declared
from ..errors import ConfigError, mention
from ..models.configuration_utils import (
    AUX_GRID,
    AUX_SAME_GRID,
    DATES,
    IMAGERY,
    SEASON,
    X_BANDS,
    auto_picks,
    cpu_preset,
    season_encoder_note,
)
from ..models.encoders.weights import RANDOM, model_encoder, model_pretrained, own_weights
from .change_choices import (
    choose_change_classes,
    choose_change_inference,
    choose_change_paste,
    choose_change_step,
    choose_date_scaling,
    choose_foreground_weight,
    choose_transitions,
    choose_zoom,
)
from .choice import Choice, Chosen
from .label_choices import choose_text_classes

AUTO_SETTINGS = tuple(
    f"{section}.{s.name}" for section in ("model", "data", "train") for s in declared(SETTINGS_SECTIONS[section])
    if s.decl.auto)
#: Settings the choices read as given without choosing them: colours are fitted to chosen classes only when unset,
#: and class names or a label mapping given keep the classes a label layer's names or transitions would make.
CHOICE_INPUTS = ("data.class_colors", "data.class_names", "data.label_mapping")
CPU_BUDGET_MINUTES = 5.0  # the sample data reaches a validation IoU above 0.95 in it on 2 CPU cores
CPU_MAX_EPOCHS = 100  # with a time budget the epochs are only an upper bound
SCRATCH_LEARNING_RATE = 1e-3  # encoders from random weights, on a CPU (the defaults are for pretrained ones)
GPU_EPOCHS, GPU_WARMUP_EPOCHS = 40, 2  # the reference designs' schedule
TILE_CAP = {"cpu": 256, "gpu": 512}
# A labelled area of separate parts under this share of its scenes (the squares of a labelling loop's first round)
# gets, on a CPU, a tile of about PART_TILE_SHARE of a part's side (at least MIN_PART_TILE) and epochs of about
# PASSES_PER_EPOCH draws of its pixels (at least MIN_TILES_PER_EPOCH tiles): with 256 px tiles over 96 px squares
# most of every tile is unlabelled, and one epoch of 200 tiles took the whole 2-minute budget (issue 61).
SMALL_AREA_SHARE, PART_TILE_SHARE, MIN_PART_TILE = 0.25, 0.75, 64
PASSES_PER_EPOCH, MIN_TILES_PER_EPOCH = 8, 32
# Pairs whose change is separate parts under SMALL_AREA_SHARE of the pairs (painted squares, new buildings) get the
# part's tile too: with 256 px tiles a 20 px change is 0.6 % of a tile drawn around it, and the first epochs on a
# CPU learnt no change at all (issue 79). Their raster labels are read for it up to this many pixels in all.
CHANGE_SCAN_PIXELS = 16_000_000


def data_kind(data_cfg: DataConfig, train_specs: list[Any]) -> str:
    """What the model is fed (``configuration_utils``: IMAGERY, AUX_GRID, AUX_SAME_GRID, X_BANDS, DATES, SEASON):
    a scene of three dates or more is a season, of two a change detection's pair."""
    later = max((len(getattr(spec, "after", None) or ()) for spec in train_specs), default=0)
    if later:
        return SEASON if later >= 2 else DATES
    if data_cfg.x_bands:
        return X_BANDS
    if any(spec.aux for spec in train_specs):
        return AUX_SAME_GRID if data_cfg.aux_ratio == 1 else AUX_GRID
    return IMAGERY


def training_scenes(data_cfg: DataConfig) -> tuple[list[Any], list[Any], list[tuple[str, int, int]]]:
    """(training specs, validation specs, (image, width, height) of each training scene) from the headers."""
    from ..data.sources import resolve_scenes, scene_sizes
    from ..imagery.stac_assets import stac_scenes

    quiet = QuietCallback()  # its warnings come again when the data is read
    train, val = resolve_scenes(stac_scenes(data_cfg, quiet), quiet)
    return train, val, scene_sizes(train)


def choose_settings(model_cfg: ModelConfig, data_cfg: DataConfig, train_cfg: TrainConfig, given: Collection[str],
                    device: str | None = None) -> Chosen:
    """Fill the settings of ``AUTO_SETTINGS`` not in ``given`` (``section.name``) from the data and ``device``
    (default: ``train_cfg.device``'s). A given tile larger than every training scene is refused here
    (ResourceError), from the raster headers alone, before any data is read or any model library is imported."""
    from ..runtime.environment import resolve_device
    from ..runtime.resources import check_training_tile, tile_step

    chosen = Chosen(model_cfg, data_cfg, train_cfg)
    unset = set(AUTO_SETTINGS) - set(given)
    train_specs, val_specs, sizes = (training_scenes(data_cfg) if data_cfg.data_dir or data_cfg.train_scenes
                                     else ([], [], []))
    if train_specs:  # more dates than any model takes: said before the choices that would not apply
        check_date_count(1 + max(len(getattr(spec, "after", None) or ()) for spec in train_specs),
                         None if "model.name" in unset else model_cfg.name)
    step = tile_step(data_cfg.aux_ratio)
    if "data.tile_size" not in unset:
        check_training_tile(data_cfg.tile_size, sizes, step)
    chosen.device = device = resolve_device(train_cfg.device) if device is None else device
    gpu = device.startswith("cuda")
    where = "on a GPU" if gpu else "on the CPU"
    if "data.tile_size" in unset and sizes:
        holdout = not val_specs and data_cfg.val_fraction > 0
        cap = TILE_CAP["gpu" if gpu else "cpu"]
        # a scene's largest tile: its shorter side, and half its longer side when a validation band of at least
        # one tile is held out of it (see data.sampling.holdout_split)
        limits = [(name, w, h, min(w, h, max(w, h) // 2) if holdout else min(w, h)) for name, w, h in sizes]
        name, width, height, limit = min(limits, key=lambda s: s[3])
        tile = max(step, min(cap // step * step, limit // step * step))  # a multiple of the step, at most the cap
        shown = scene_names(data_cfg).get(name) or Path(name).name  # a web layer by its name, not its window
        scene = f"the smallest training scene {shown} ({width} x {height} px)"
        held = " with the validation band held out of it" if holdout else ""
        if limit < step:
            why = f"{scene} is smaller than one tile{held}"
        elif tile < cap:
            why = f"the largest multiple of {step} that fits {scene}{held}"
        else:
            why = (f"the reference designs' tile {where}" if gpu else f"at most {cap} px {where}") + \
                f"; {scene} takes it{held}"
        chosen.data = data_cfg.replace(tile_size=tile)
        chosen.choices.append(Choice({"data.tile_size": tile}, why))
    if not gpu and sizes:
        _fit_labelled_area(chosen, unset, train_specs, step)
        if data_kind(data_cfg, train_specs) == DATES and sum(w * h for _, w, h in sizes) <= CHANGE_SCAN_PIXELS:
            _fit_changed_parts(chosen, unset, train_specs, step)
    if train_cfg.init_from:
        _model_from_parent(chosen, unset, given)
    elif ({"model.name", "model.preset"} & unset) and not model_pretrained(model_cfg).fixes_model:
        _choose_model(chosen, unset, data_kind(data_cfg, train_specs), gpu)
    if "data.augment" not in given:
        _choose_season_radiometry(chosen)
    if any(spec.label_after_field for spec in [*train_specs, *val_specs]):
        choose_transitions(chosen, [*train_specs, *val_specs], given)
    elif (not choose_text_classes(chosen, [*train_specs, *val_specs], given) and "data.class_names" not in given
          and data_kind(data_cfg, train_specs) == DATES):
        choose_change_classes(chosen)
    if data_kind(data_cfg, train_specs) == DATES and len(chosen.data.class_names) == 2:
        choose_foreground_weight(chosen, "change")
        if "model.tta" in unset and not train_cfg.init_from:
            choose_change_inference(chosen)
        if "data.augment" not in given:
            choose_zoom(chosen, "change")
            choose_change_paste(chosen)
        if not gpu:
            choose_change_step(chosen, unset)
    if data_kind(data_cfg, train_specs) == IMAGERY and "data.augment" not in given:
        choose_zoom(chosen, "one date")
    if data_kind(data_cfg, train_specs) == IMAGERY and len(chosen.data.class_names) == 2:
        choose_foreground_weight(chosen, "one date")
    if data_kind(data_cfg, train_specs) == DATES and "model.date_scaling" in unset and not train_cfg.init_from:
        choose_date_scaling(chosen)
    if "model.pretrained" in unset and not train_cfg.init_from:
        _choose_pretrained(chosen)
    if "data.bands" not in given and not data_cfg.bands:
        _choose_encoder_bands(chosen)
    _choose_schedule(chosen, unset, gpu)
    if "train.frozen_encoder" in unset:
        _choose_frozen(chosen, gpu)
    if "train.warmup_epochs" in unset and chosen.train.frozen_encoder == "cached" and chosen.train.warmup_epochs:
        # every epoch on the cache trains the head alone: a warm-up would only add epochs (--epochs 2 ran 4)
        chosen.train = chosen.train.replace(warmup_epochs=0)
        for choice in chosen.choices:  # the schedule's warm-up (a GPU's) is replaced, not said twice
            choice.values.pop("train.warmup_epochs", None)
        chosen.choices = [choice for choice in chosen.choices if choice.values]
        chosen.choices.append(Choice({"train.warmup_epochs": 0}, (
            "the encoder stays frozen in every epoch (its features cached), so there is no warm-up: every epoch "
            "trains the head")))
    return chosen


def _choose_season_radiometry(chosen: Chosen) -> None:
    """A model of a season's dates (one that reads each date's day) trains on its tiles' values as they are: no
    brightness/contrast jitter and no grey tiles (the ``augment`` settings of a config file keep theirs)."""
    augment = chosen.data.augment
    if not getattr(type(chosen.model), "TAKES_DAYS", False) or not (augment.color_jitter or augment.gray_probability):
        return
    chosen.data = chosen.data.replace(augment=augment.replace(color_jitter=0.0, gray_probability=0.0))
    chosen.choices.append(Choice({"augment.color_jitter": 0, "augment.gray_probability": 0}, (
        "a season model tells its classes by how the values rise and fall over the dates, on one set of band "
        "statistics for every date: jittered values blur that (a config file's augment section sets them)")))


def _fit_labelled_area(chosen: Chosen, unset: set[str], specs: list[Any], step: int) -> None:
    """A small labelled area of separate parts on a CPU (SMALL_AREA_SHARE): each fitted setting said."""
    import math
    import statistics

    from ..data.sampling import labelled_area

    areas = [labelled_area(spec) for spec in specs]
    if not areas or any(a is None for a in areas):
        return  # a scene labelled everywhere: the scene's tile and epochs
    parts = [p for _, _, found in areas for p in found]
    labelled, whole = sum(p.area for p in parts), sum(w * h for w, h, _ in areas)
    if not parts or labelled >= SMALL_AREA_SHARE * whole:
        return
    side = int(statistics.median(min(p.width, p.height) for p in parts))
    area = (f"the labelled area is {len(parts)} part(s) of about {side} px ({100 * labelled / whole:.1f} % of the "
            f"scene{'s' if len(areas) > 1 else ''}, {labelled:,} px)")
    tile = chosen.data.tile_size
    if "data.tile_size" in unset:
        fitted = _part_tile(side, step)
        if fitted < tile:
            tile = fitted
            chosen.data = chosen.data.replace(tile_size=tile)
            chosen.choices = [c for c in chosen.choices if "data.tile_size" not in c.values]
            chosen.choices.append(Choice({"data.tile_size": tile}, (
                f"{area}: a tile of about {int(100 * PART_TILE_SHARE)} % of a part's side keeps most of each tile "
                f"labelled")))
    if "data.tiles_per_epoch" in unset:
        batch = chosen.train.batch_size
        cover = math.ceil(labelled / tile ** 2)
        tiles = min(chosen.data.tiles_per_epoch,
                    max(MIN_TILES_PER_EPOCH, math.ceil(PASSES_PER_EPOCH * cover / batch) * batch))
        if tiles != chosen.data.tiles_per_epoch:
            chosen.data = chosen.data.replace(tiles_per_epoch=tiles)
            chosen.choices.append(Choice({"data.tiles_per_epoch": tiles}, (
                f"{area}: about {PASSES_PER_EPOCH} draws of each labelled pixel an epoch ({cover} tile(s) of {tile} px "
                f"cover it), so the epochs are short and the best is chosen among many within the time budget")))


def _part_tile(side: int, step: int) -> int:
    """The tile of parts of about ``side`` px: PART_TILE_SHARE of it, at least MIN_PART_TILE, a multiple of
    ``step``."""
    return max(-(-MIN_PART_TILE // step) * step, int(PART_TILE_SHARE * side) // step * step)


def _fit_changed_parts(chosen: Chosen, unset: set[str], specs: list[Any], step: int) -> None:
    """Change of separate small parts on a CPU (CHANGE_SCAN_PIXELS): the tile of :func:`_part_tile`, said; scenes
    with a labelled area were fitted to it already (:func:`_fit_labelled_area`)."""
    import statistics

    from ..data.label_scan import foreground_boxes

    if "data.tile_size" not in unset or any(spec.aoi for spec in specs):
        return
    found = [foreground_boxes(spec, chosen.data) for spec in specs]
    if not found or any(f is None for f in found):
        return  # a polygon label, an extent: the scene's tile
    parts = [p for _, _, boxes in found for p in boxes]
    changed, whole = sum(p.area for p in parts), sum(w * h for w, h, _ in found)
    if not parts or changed >= SMALL_AREA_SHARE * whole:
        return
    side = int(statistics.median(min(p.width, p.height) for p in parts))
    tile = _part_tile(side, step)
    if tile >= chosen.data.tile_size:
        return
    chosen.data = chosen.data.replace(tile_size=tile)
    chosen.choices = [c for c in chosen.choices if "data.tile_size" not in c.values]
    chosen.choices.append(Choice({"data.tile_size": tile}, (
        f"the change is {len(parts)} part(s) of about {side} px ({100 * changed / whole:.1f} % of the "
        f"pair{'s' if len(found) > 1 else ''}): a tile of about {int(100 * PART_TILE_SHARE)} % of a part's side (at "
        f"least {MIN_PART_TILE} px) holds a good share of change where it is drawn around one, and its steps are "
        f"quick, so the first epochs learn it")))


def _choose_pretrained(chosen: Chosen) -> None:
    """The encoder's own weights (``imagenet`` or ``release``) where they can be had (the Hugging Face cache, or the
    hub at ``HF_ENDPOINT``; a gated release only from the cache); else random, saying what to download."""
    from ..models.hub import offline, where_available

    weights = own_weights(model_encoder(chosen.model))
    if weights is None:
        return
    what = f"the encoder's {weights.title} '{weights.hub_id}'"
    where = where_available(weights.hub_id, weights.file, ask_hub=not weights.gated)
    if where is not None:
        chosen.model = chosen.model.replace(pretrained=weights.word)
        chosen.choices.append(Choice({"model.pretrained": weights.word}, f"{what} can be had {where}"))
        return
    get = f"hf download {weights.hub_id}{f' {weights.file}' if weights.file else ''}"
    hub = ("downloads are switched off (HF_HUB_OFFLINE / DUALSTREAM_OFFLINE)" if offline() else
           "the hub did not answer")
    why = ("is gated and not in the Hugging Face cache: accept its licence on the model page, give a token (HF_TOKEN "
           "or `hf auth login`)" if weights.gated else
           f"is not in the Hugging Face cache and {hub}; for better results download it once with network access")
    chosen.choices.append(Choice({"model.pretrained": "none (random weights)"}, (
        f"{what} {why} ({get}, or a training with {mention('model.pretrained')} {weights.word} online) and train "
        f"again")))


def _choose_frozen(chosen: Chosen, gpu: bool) -> None:
    """A pretrained foundation encoder on the CPU, a pixel-series family's anywhere (random weights if asked): frozen,
    features cached (a ViT-L every step would take the time budget); a GPU fine-tunes the former. Said either way."""
    from ..models.encoders.catalog import ENCODERS

    model, source = chosen.model, model_pretrained(chosen.model)
    spec, series = ENCODERS.get(getattr(model, "encoder_name", None) or ""), getattr(model, "SENSOR_UNITS", False)
    foundation = spec is not None and spec.foundation and not model.uses_aux and getattr(model, "CACHEABLE", False)
    if not (source.loads or series and source.kind == RANDOM) or not (series or foundation):
        return
    if gpu and not series:
        chosen.choices.append(Choice({"train.frozen_encoder": "off"}, (
            f"a GPU fine-tunes the pretrained {model.encoder_name} with the rest after the warm-up epochs")))
        return
    chosen.train = chosen.train.replace(frozen_encoder="cached")
    chosen.choices.append(Choice({"train.frozen_encoder": "cached"}, (
        f"the {model.name} family reads each pixel's series with {model.encoder_name} frozen: its features of each "
        f"tile are computed once and the head trains every epoch on them" if series else
        f"training on the CPU: the pretrained {model.encoder_name} stays frozen and its features of each "
        f"tile are computed once, so the decoder gets many epochs in the time budget instead of a few")))


def _choose_encoder_bands(chosen: Chosen) -> None:
    """Weights that know their bands only (Prithvi: the 6 HLS bands) read them by name from each image; so does an
    encoder whose architecture places its bands by name (Galileo), random weights included."""
    from ..models.encoders.catalog import ENCODERS

    if getattr(chosen.model, "SENSOR_UNITS", False):  # a pixel-series family places the bands it is given by name
        return
    source = model_pretrained(chosen.model)
    weights = source.weights if source.loads else None
    spec = ENCODERS.get(source.encoder)
    if weights is None and spec is not None and spec.named_bands:
        weights = own_weights(source.encoder)
    if weights is not None and weights.by_name:
        chosen.data = chosen.data.replace(bands=list(weights.bands))
        from ..data.band_names import SENSORS

        number = {common: f"B{n.zfill(2)}" for n, common in SENSORS["Sentinel-2"].items()}
        landsat = " or Landsat SR_B2..SR_B7" if "rededge1" not in weights.bands else ""
        why = (f"was pretrained on these bands ({weights.title})" if source.loads else
               f"places these bands in its groups by name (those of its {weights.title}), random weights too")
        chosen.choices.append(Choice({"data.bands": ",".join(weights.bands)}, (
            f"the encoder {source.encoder} {why}; each image's are found by their names (Sentinel-2 "
            f"{', '.join(number.get(b, b) for b in weights.bands)}{landsat})")))


def _model_from_parent(chosen: Chosen, unset: set[str], given: Collection[str]) -> None:
    """Fine-tuning: the family and size of the bundle to start from, the user's model settings on top."""
    from .finetune import parent_model_config, read_parent

    parent = read_parent(str(chosen.train.init_from))
    chosen.model = parent_model_config(chosen.model, parent, given)
    values = {key: getattr(chosen.model, key.split(".")[1]) for key in ("model.name", "model.preset")
              if key in unset}
    if values:
        chosen.choices.append(Choice(values, f"the model to start from, {parent.name}"))


def _choose_model(chosen: Chosen, unset: set[str], kind: str, gpu: bool) -> None:
    from ..models import AutoModelConfig, list_encoders, list_presets

    model_cfg = chosen.model
    where = "on a GPU" if gpu else "on the CPU"
    picks = auto_picks(gpu)  # where no family's card claims this data on this device: the given family
    family, preset = picks[kind] if kind in picks else (model_cfg.name, None if gpu else cpu_preset(model_cfg.name))
    if getattr(model_cfg, "encoder", None) not in (None, *list_encoders(family)):  # the encoder names the family
        family, preset = model_cfg.name, None if gpu else cpu_preset(model_cfg.name)
    if "model.name" in unset:
        if "model.preset" not in unset:  # a preset given alone keeps the family that has it
            preset = model_cfg.preset
            if preset not in list_presets(family):
                family = model_cfg.name
        reason = (f"training {where} with {kind}: "
                  + ("the reference design" if gpu else "a small model of the family that takes it"))
        if kind == SEASON and (note := season_encoder_note(getattr(model_cfg, "encoder", None), family)):
            reason += f"; {note}"  # Galileo: each date an image here, each pixel's series in eoseries
    else:
        family = model_cfg.name
        preset = None if gpu else cpu_preset(family)
        reason = f"training {where}: the {'default' if gpu else 'small'} preset of {family}"
    preset = preset or AutoModelConfig.config_class(family)().preset
    if (family, preset) == (model_cfg.name, model_cfg.preset) and "model.name" not in unset and gpu:
        return  # the family's own default: nothing was chosen
    chosen.model = _model_config(model_cfg, family, preset)
    # the family when it was unset (with its preset when that was too), else the preset
    values = {key: value for key, value in (("model.name", family), ("model.preset", preset)) if key in unset}
    chosen.choices.append(Choice(values, reason))


def _model_config(model_cfg: ModelConfig, family: str, preset: str) -> ModelConfig:
    """``model_cfg`` as family ``family``, preset ``preset``: the settings changed from the old family's defaults
    that the new family has are kept."""
    from ..models import AutoModelConfig

    target = AutoModelConfig.config_class(family)
    defaults = type(model_cfg)().to_dict()
    names = set(target.__dataclass_fields__)
    kept = {k: v for k, v in model_cfg.to_dict().items() if k in names and v != defaults.get(k)}
    return target.from_dict({**kept, "name": family, "preset": preset})


def _choose_schedule(chosen: Chosen, unset: set[str], gpu: bool) -> None:
    """A GPU: the reference's frozen and full epochs; a CPU: a time budget (the epochs an upper bound), and for
    random encoders no frozen warm-up."""
    cfg = chosen.train
    changes: dict[str, Any] = {}
    if gpu:
        if "train.epochs" in unset or "train.warmup_epochs" in unset:
            epochs = GPU_EPOCHS if "train.epochs" in unset else cfg.epochs
            warmup = GPU_WARMUP_EPOCHS if "train.warmup_epochs" in unset else cfg.warmup_epochs
            changes.update(epochs=epochs, warmup_epochs=warmup)
            chosen.choices.append(Choice({"train.warmup_epochs": warmup, "train.epochs": epochs},
                                         "training on a GPU: the reference designs' schedule"))
    else:
        budget = cfg.time_budget
        if "train.time_budget" in unset and "train.epochs" in unset:
            budget = CPU_BUDGET_MINUTES
            changes["time_budget"] = budget
            chosen.choices.append(Choice(
                {"train.time_budget": f"{budget:g}"},
                f"training on the CPU, where the GPU's {GPU_EPOCHS} epochs would take hours: training stops after "
                f"{budget:g} minutes with the best epoch's model"))
        if "train.epochs" in unset and budget is not None:
            changes["epochs"] = max(cfg.epochs, CPU_MAX_EPOCHS)
            chosen.choices.append(Choice({"train.epochs": changes["epochs"]},
                                         f"an upper bound: the time budget of {budget:g} min ends the training"))
        random_start = not model_pretrained(chosen.model).loads and not cfg.init_from
        if "train.warmup_epochs" in unset and random_start and cfg.warmup_epochs and cfg.frozen_encoder != "cached":
            changes["warmup_epochs"] = 0
            chosen.choices.append(Choice({"train.warmup_epochs": 0}, "the encoders start from random weights, so "
                                         "freezing them would train the decoder on random features"))
        # the rates of training from scratch: the defaults (3e-4, vision encoder x0.1, aux x0.5) are for a
        # pretrained encoder whose features a high rate would destroy (docs/benchmarks.md)
        rates = {"learning_rate": SCRATCH_LEARNING_RATE, "vision_lr_factor": 1.0, "aux_lr_factor": 1.0}
        rates = {key: rate for key, rate in rates.items() if random_start and f"train.{key}" in unset}
        changes.update(rates)
        if rates:
            chosen.choices.append(Choice({f"train.{k}": f"{v:g}" for k, v in rates.items()}, (
                "the encoders start from random weights, so they learn at the rate of a network trained from "
                "scratch, as the fusion and decoder do (the lower rates are for pretrained encoders)")))
    warmup = changes.get("warmup_epochs", cfg.warmup_epochs)
    if cfg.init_from and "train.warmup_epochs" in unset and warmup:
        budget = changes.get("time_budget", cfg.time_budget)
        chosen.choices.append(Choice(
            {"train.warmup_epochs": warmup},
            f"fine-tuning {Path(str(cfg.init_from)).name}: the first {warmup} epoch(s) train fusion and decoder with "
            f"the encoders frozen, then all layers"
            + ("; under the time budget the frozen epochs end at half of it at the latest" if budget else "")))
    if changes:
        chosen.train = cfg.replace(**changes)


def check_date_count(dates: int, family: str | None = None) -> None:
    """ConfigError when the training scenes hold more dates of a place than the family ``family`` takes (None: the
    family is chosen from the data, and the season family takes any count), by the one rule
    (:func:`~engine.bundle.expects.dates_problem`); said before any choice is made."""
    from ..models.change.configuration_change import BUILT_DATES

    if family is not None and dates > max(BUILT_DATES):  # fewer dates: the choices say it with the model's own count
        from ..bundle.expects import scenes_dates_problem
        from ..models import AutoModelConfig

        problem = scenes_dates_problem(AutoModelConfig.config_class(family)().input_dates, dates, family)
        if problem:
            raise ConfigError(problem)
