"""``dualstream train``: train a model bundle from the reference folder layout or explicit scenes.

Settings come from three places, later ones winning: the dataclass defaults, ``--config FILE`` (YAML or JSON
with sections ``model``, ``data``, ``train``), and the command-line flags actually given.

Explicit scenes: each ``--image`` starts a scene; the ``--label``, ``--label-field``, ``--aux`` (repeatable),
``--extent`` and ``--aoi`` that follow it belong to it. Validation scenes likewise with ``--val-image`` etc.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ..config import (
    EARLY_STOP_METRICS,
    LOSS_TERMS,
    OPTIMIZERS,
    SCHEDULES,
    DataConfig,
    TrainConfig,
    fill_class_colors,
    load_config_file,
    parse_loss_terms,
)
from ..errors import ConfigError
from ..io.safety import check_outputs, train_files
from ..models import ModelConfig, list_encoders, list_models, list_presets
from .main import Command, parse_label_map

SECTIONS = ("model", "data", "train")

# flag dest -> (section, setting)
FLAG_SETTINGS = {
    "model_name": ("model", "name"), "preset": ("model", "preset"), "pretrained": ("model", "pretrained"),
    "dropout": ("model", "dropout"), "drop_path": ("model", "drop_path"),
    "data_dir": ("data", "data_dir"), "tile_size": ("data", "tile_size"), "aux_ratio": ("data", "aux_ratio"),
    "tiles_per_epoch": ("data", "tiles_per_epoch"), "foreground_share": ("data", "foreground_share"),
    "val_fraction": ("data", "val_fraction"), "aux_prefixes": ("data", "aux_prefixes"),
    "aux_bands_per_file": ("data", "aux_bands_per_file"), "label_default_class": ("data", "label_default_class"),
    "class_names": ("data", "class_names"), "class_colors": ("data", "class_colors"),
    "skip_incomplete": ("data", "skip_incomplete"), "statistics": ("data", "statistics"),
    "output": ("train", "output"), "epochs": ("train", "epochs"), "warmup_epochs": ("train", "warmup_epochs"),
    "batch_size": ("train", "batch_size"), "learning_rate": ("train", "learning_rate"),
    "weight_decay": ("train", "weight_decay"), "vision_lr_factor": ("train", "vision_lr_factor"),
    "aux_lr_factor": ("train", "aux_lr_factor"), "schedule": ("train", "schedule"),
    "warmup_steps": ("train", "warmup_steps"), "min_learning_rate": ("train", "min_learning_rate"),
    "grad_accumulation": ("train", "grad_accumulation"), "amp": ("train", "amp"), "device": ("train", "device"),
    "num_workers": ("train", "num_workers"), "resume": ("train", "resume"),
    "preview_tiles": ("train", "preview_tiles"), "optimizer": ("train", "optimizer"),
    "momentum": ("train", "momentum"), "step_epochs": ("train", "step_epochs"), "step_gamma": ("train", "step_gamma"),
    "plateau_patience": ("train", "plateau_patience"), "plateau_factor": ("train", "plateau_factor"),
    "early_stop_metric": ("train", "early_stop_metric"), "encoder": ("model", "encoder"),
    "bands": ("data", "bands"), "x_bands": ("data", "x_bands"),
}
# flag dest -> LossConfig setting (train.loss.<setting>)
LOSS_FLAGS = {
    "loss_terms": "terms", "focal_alpha": "focal_alpha", "focal_gamma": "focal_gamma",
    "lovasz_variant": "lovasz_variant", "dice_smooth": "dice_smooth", "ohem_threshold": "ohem_threshold",
    "ohem_min_kept": "ohem_min_kept", "side_weights": "side_weights",
}

# flag dest -> AugmentConfig setting (data.augment.<setting>)
AUGMENT_FLAGS = {"copy_paste": "copy_paste", "hsv": "hsv", "clahe": "clahe_probability"}


def _loss_terms(text: str) -> dict[str, float]:
    try:
        return parse_loss_terms(text, "--loss")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _number_list(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, e.g. 0.3,0.15 (got {text!r})") from None


class _SceneOption(argparse.Action):
    """Collects explicit scenes: ``--image`` opens one, the options after it fill it."""

    def __init__(self, option_strings: list[str], dest: str, key: str = "image", repeat: bool = False,
                 **kwargs: Any):
        self.key, self.repeat = key, repeat
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        scenes = list(getattr(namespace, self.dest) or [])
        if self.key == "image":
            scenes.append({"image": values})
        elif not scenes:
            image_flag = "--val-image" if self.dest == "val_scenes" else "--image"
            parser.error(f"{option_string} must come after the {image_flag} it belongs to")
        elif self.repeat:
            scenes[-1].setdefault(self.key, []).append(values)
        elif self.key in scenes[-1]:
            parser.error(f"{option_string} given twice for the scene of {scenes[-1]['image']}; give each scene "
                         f"its own --image")
        else:
            scenes[-1][self.key] = values
        setattr(namespace, self.dest, scenes)


def _scene_arguments(group: argparse._ArgumentGroup, prefix: str, dest: str, what: str) -> None:
    group.add_argument(f"--{prefix}image", dest=dest, action=_SceneOption, key="image", metavar="RASTER",
                       help=f"{what} image raster; starts a new scene (repeat for more scenes)")
    group.add_argument(f"--{prefix}label", dest=dest, action=_SceneOption, key="label", metavar="LAYER",
                       help="label raster, or polygons (GeoPackage/GeoJSON/Shapefile) of the last image")
    group.add_argument(f"--{prefix}label-field", dest=dest, action=_SceneOption, key="label_field", metavar="FIELD",
                       help="vector label field holding the class value (default: every polygon is class 1)")
    group.add_argument(f"--{prefix}aux", dest=dest, action=_SceneOption, key="aux", repeat=True, metavar="RASTER",
                       help="aux raster of the last image (repeat, in channel order)")
    group.add_argument(f"--{prefix}extent", dest=dest, action=_SceneOption, key="extent", nargs=4, type=float,
                       metavar=("XMIN", "YMIN", "XMAX", "YMAX"), help="restrict the last image to this extent")
    group.add_argument(f"--{prefix}aoi", dest=dest, action=_SceneOption, key="aoi", metavar="LAYER",
                       help="polygon layer restricting the area used of the last image")


def add_arguments(p: argparse.ArgumentParser) -> None:
    S = argparse.SUPPRESS  # only flags actually given override the config file
    io = p.add_argument_group("input and output")
    io.add_argument("--config", metavar="FILE", help="YAML or JSON file with sections model/data/train")
    io.add_argument("--data", dest="data_dir", metavar="DIR", default=S,
                    help="folder in the reference layout (ts_sn/ tl_sn/ t_ap/ t_gems/ vs_sn/ vl_sn/ v_ap/ v_gems/)")
    io.add_argument("--out", dest="output", metavar="MODEL", default=S, help="model bundle to write (.dsmodel)")
    io.add_argument("--resume", action="store_true", default=S, help="continue from <MODEL>.ckpt")
    io.add_argument("--quiet", action="store_true", help="no progress bars or messages, only the result")
    io.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    scenes = p.add_argument_group("explicit scenes (instead of --data)")
    _scene_arguments(scenes, "", "train_scenes", "training")
    _scene_arguments(scenes, "val-", "val_scenes", "validation")
    model = p.add_argument_group("model")
    model.add_argument("--model", dest="model_name", choices=list_models(), default=S,
                       help="model family (default dualstream)")
    model.add_argument("--preset", choices=list_presets(), default=S,
                       help="model size; presets depend on the family (dualstream: tiny, b0, b1, b2; default b1)")
    model.add_argument("--encoder", choices=list_encoders(), default=S,
                       help="encoder of unet, pspnet and deeplabv3plus (default: the preset's)")
    model.add_argument("--pretrained", metavar="DIR", default=S,
                       help="local folder with pretrained encoder weights (save_pretrained / HF cache)")
    model.add_argument("--dropout", type=float, default=S)
    model.add_argument("--drop-path", dest="drop_path", type=float, default=S)
    data = p.add_argument_group("data")
    data.add_argument("--bands", metavar="B,...", default=S,
                      help="vision bands of the image, counted from 1 as in GDAL, e.g. 3,2,1 (default: all bands "
                           "not taken by --x-bands); stored in the bundle and applied again by segment")
    data.add_argument("--x-bands", dest="x_bands", metavar="B,...", default=S,
                      help="bands of the same image as the model's aux input at full resolution (CMX's X "
                           "modality, e.g. 4 for NIR of an RGBN file); instead of --aux rasters")
    data.add_argument("--tile-size", dest="tile_size", type=int, default=S, help="tile edge in pixels (x32)")
    data.add_argument("--aux-ratio", dest="aux_ratio", type=int, default=S, help="vision pixels per aux pixel")
    data.add_argument("--tiles-per-epoch", dest="tiles_per_epoch", type=int, default=S)
    data.add_argument("--foreground-share", dest="foreground_share", type=float, default=S,
                      help="share of random tiles forced to contain foreground")
    data.add_argument("--val-fraction", dest="val_fraction", type=float, default=S,
                      help="share held out for validation when no validation scenes are given")
    data.add_argument("--aux-prefix", dest="aux_prefixes", action="append", metavar="PREFIX", default=S,
                      help="aux file prefix in the reference layout (repeat; default GEMS_ and AIR_Pollution_*)")
    data.add_argument("--aux-bands-per-file", dest="aux_bands_per_file", type=int, default=S, metavar="N",
                      help="use the first N bands of each aux file (default: 12 in the reference layout, all bands "
                           "of explicit scenes' aux files, which must then agree across scenes)")
    data.add_argument("--label-map", dest="label_mapping", action="append", type=parse_label_map, metavar="VALUE=CLASS",
                      default=S, help="raw label value -> class (repeat; default 90=1)")
    data.add_argument("--label-default-class", dest="label_default_class", type=int, default=S)
    data.add_argument("--class-names", dest="class_names", nargs="+", metavar="NAME", default=S)
    data.add_argument("--class-colors", dest="class_colors", nargs="+", metavar="#RRGGBB", default=S)
    data.add_argument("--skip-incomplete", dest="skip_incomplete", action="store_true", default=S,
                      help="skip scenes with a missing partner file instead of failing")
    data.add_argument("--copy-paste", dest="copy_paste", type=float, default=S, metavar="SHARE",
                      help="share of training tiles given foreground objects of another tile of the batch (0 = off)")
    data.add_argument("--hsv", type=float, default=S, metavar="STRENGTH",
                      help="hue/saturation/value jitter of 3-band imagery, 0..1 (0 = off)")
    data.add_argument("--clahe", type=float, default=S, metavar="SHARE",
                      help="share of training tiles given CLAHE (contrast-limited adaptive equalisation; 0 = off)")
    data.add_argument("--statistics", choices=("percentile", "meanstd"), default=S)
    train = p.add_argument_group("training")
    train.add_argument("--epochs", type=int, default=S, help="epochs with all layers trained")
    train.add_argument("--warmup-epochs", dest="warmup_epochs", type=int, default=S,
                       help="epochs with both encoders frozen, before --epochs")
    train.add_argument("--batch-size", dest="batch_size", type=int, default=S)
    train.add_argument("--lr", dest="learning_rate", type=float, default=S, help="fusion + decoder learning rate")
    train.add_argument("--weight-decay", dest="weight_decay", type=float, default=S)
    train.add_argument("--vision-lr-factor", dest="vision_lr_factor", type=float, default=S)
    train.add_argument("--aux-lr-factor", dest="aux_lr_factor", type=float, default=S)
    train.add_argument("--optimizer", choices=OPTIMIZERS, default=S,
                       help="adamw (default; decoupled weight decay), adam (L2 weight decay) or sgd")
    train.add_argument("--momentum", type=float, default=S, help="sgd momentum (default 0.9)")
    train.add_argument("--schedule", choices=SCHEDULES, default=S,
                       help="cosine (default), step (x--step-gamma every --step-epochs) or plateau")
    train.add_argument("--step-epochs", dest="step_epochs", type=int, default=S)
    train.add_argument("--step-gamma", dest="step_gamma", type=float, default=S)
    train.add_argument("--plateau-patience", dest="plateau_patience", type=int, default=S)
    train.add_argument("--plateau-factor", dest="plateau_factor", type=float, default=S)
    train.add_argument("--warmup-steps", dest="warmup_steps", type=int, default=S)
    train.add_argument("--min-lr", dest="min_learning_rate", type=float, default=S)
    train.add_argument("--grad-accumulation", dest="grad_accumulation", type=int, default=S)
    train.add_argument("--grad-clip", dest="grad_clip", type=float, default=S, help="max gradient norm, 0 = off")
    train.add_argument("--amp", choices=("auto", "off", "bf16", "fp16"), default=S)
    train.add_argument("--patience", dest="early_stop_patience", type=int, default=S,
                       help="early stop after this many epochs without validation gain, 0 = off")
    train.add_argument("--patience-metric", dest="early_stop_metric", choices=EARLY_STOP_METRICS, default=S,
                       help="what early stopping and the best epoch go by: validation iou (default) or loss")
    loss = p.add_argument_group("loss")
    loss.add_argument("--loss", dest="loss_terms", type=_loss_terms, metavar="TERM=W,...", default=S,
                      help=f"loss terms and weights from {list(LOSS_TERMS)}, e.g. focal=1,dice=1 (default per "
                           f"family: dualstream 0.5 focal + 0.5 lovasz, cmx ohem + dice, others focal + dice)")
    loss.add_argument("--focal-alpha", dest="focal_alpha", type=float, default=S,
                      help="focal alpha (default 0.25 binary, none multi-class)")
    loss.add_argument("--focal-gamma", dest="focal_gamma", type=float, default=S)
    loss.add_argument("--lovasz-variant", dest="lovasz_variant", choices=("hinge", "probability"), default=S)
    loss.add_argument("--dice-smooth", dest="dice_smooth", type=float, default=S)
    loss.add_argument("--ohem-threshold", dest="ohem_threshold", type=float, default=S)
    loss.add_argument("--ohem-min-kept", dest="ohem_min_kept", type=int, default=S)
    loss.add_argument("--side-weights", dest="side_weights", type=_number_list, metavar="W,...", default=S,
                      help="deep-supervision weight of each side output of the model (dualstream: 0.3,0.15)")
    train.add_argument("--device", default=S, help="auto, cpu, cuda or cuda:N")
    train.add_argument("--num-workers", dest="num_workers", type=int, default=S, help="data loader processes")
    train.add_argument("--seed", type=int, default=S, help="seed of data sampling and training")
    train.add_argument("--preview-tiles", dest="preview_tiles", type=int, default=S)


def configs_from_args(args: argparse.Namespace) -> tuple[ModelConfig, DataConfig, TrainConfig]:
    """Merge defaults, ``--config`` and the given flags into checked config objects."""
    sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    if getattr(args, "config", None):
        loaded = load_config_file(args.config)
        unknown = sorted(set(loaded) - set(SECTIONS))
        if unknown:
            raise ConfigError(f"Config file '{args.config}' has unknown section(s) {unknown}; the train command "
                              f"reads {list(SECTIONS)}.")
        for name in SECTIONS:
            value = loaded.get(name) or {}
            if not isinstance(value, dict):
                raise ConfigError(f"Config file '{args.config}': section '{name}' must be a mapping of settings.")
            sections[name] = dict(value)
    given = vars(args)
    for dest, (section, key) in FLAG_SETTINGS.items():
        if dest in given:
            sections[section][key] = given[dest]
    if "label_mapping" in given:
        sections["data"]["label_mapping"] = dict(given["label_mapping"])
    if "grad_clip" in given:
        sections["train"]["grad_clip"] = given["grad_clip"] if given["grad_clip"] > 0 else None
    if "early_stop_patience" in given:
        patience = given["early_stop_patience"]
        sections["train"]["early_stop_patience"] = patience if patience > 0 else None
    _nested_flags(sections["data"], "augment", AUGMENT_FLAGS, given, "data")
    _nested_flags(sections["train"], "loss", LOSS_FLAGS, given, "train")
    if "seed" in given:
        sections["data"]["seed"] = sections["train"]["seed"] = given["seed"]
    for dest in ("train_scenes", "val_scenes"):
        if given.get(dest):
            sections["data"][dest] = given[dest]
    if "class_names" in sections["data"] and "class_colors" not in sections["data"]:
        sections["data"]["class_colors"] = fill_class_colors([], len(sections["data"]["class_names"]))
    if not sections["train"].get("output"):
        raise ConfigError("train needs the model bundle to write: give --out MODEL.dsmodel (or train.output in "
                          "the config file).")
    data = sections["data"]
    if not data.get("data_dir") and not data.get("train_scenes"):
        raise ConfigError("train needs data: give --data DIR (reference layout) or --image/--label/--aux scenes "
                          "(or data.data_dir / data.train_scenes in the config file).")
    if data.get("data_dir") and data.get("train_scenes"):
        raise ConfigError("give either --data DIR or explicit --image scenes, not both.")
    configs = (ModelConfig.from_dict(sections["model"]), DataConfig.from_dict(data),
               TrainConfig.from_dict(sections["train"]))
    # the engine checks its own inputs; only the command line knows the config file
    check_outputs({"config file (--config)": getattr(args, "config", None)}, train_files(*configs)[1])
    return configs


def _nested_flags(section: dict[str, Any], name: str, flags: dict[str, str], given: dict[str, Any],
                  where: str) -> None:
    """Flags given on the command line override settings of the nested ``section[name]`` mapping."""
    chosen = {key: given[dest] for dest, key in flags.items() if dest in given}
    if not chosen:
        return
    current = section.get(name) or {}
    if not isinstance(current, dict):
        raise ConfigError(f"the {where}.{name} section of the config file must be a mapping of settings.")
    section[name] = {**current, **chosen}


def run(args: argparse.Namespace) -> int:
    from ..training.trainer import train
    from .progress import TqdmCallback

    model_cfg, data_cfg, train_cfg = configs_from_args(args)
    with TqdmCallback(quiet=args.quiet) as callback:
        result = train(model_cfg, data_cfg, train_cfg, callback)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 prints the result
        return 0
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 0
    best = result.best_metrics
    iou = best.get("val_iou")
    print(f"Model bundle: {result.bundle}")
    print(f"Best epoch: {result.best_epoch}" + (f" (validation IoU {iou:.4f})" if isinstance(iou, float) else ""))
    if result.stopped_early:
        print("Stopped early: validation IoU stopped improving.")
    if result.report:
        print(f"Report: {result.report}")
    print(f"Checkpoint (for --resume): {result.checkpoint}")
    return 0


COMMANDS = [Command("train", "train a model bundle from rasters and labels", add_arguments, run,
                    description=__doc__)]
