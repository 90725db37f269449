"""``dualstream train``: train a model bundle from the reference folder layout or explicit scenes.

Settings come from three places, later ones winning: the dataclass defaults, ``--config FILE`` (YAML or JSON
with sections ``model``, ``data``, ``train``), and the command-line flags actually given.

Explicit scenes: each ``--image`` starts a scene; the ``--after`` (its later date: change detection), ``--label``,
``--label-field``, ``--aux`` (repeatable), ``--extent`` and ``--labelled-area`` (old name ``--aoi``) that follow it
belong to it. Validation scenes likewise with ``--val-image`` etc.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..api import (
    ConfigError,
    TrainRequest,
    find_setting,
    is_main_process,
    load_config_file,
    plan_training,
    train,
    train_request,
)
from .main import Command, say, say_json
from .options import OptionGroups, add_result_flags, add_settings, flag_name, given_settings
from .progress import TqdmCallback

SECTIONS = ("model", "data", "train")


class _SceneOption(argparse.Action):
    """Collects explicit scenes: ``--image`` opens one, the options after it fill it."""

    def __init__(self, option_strings: list[str], dest: str, key: str = "image", repeat: bool = False,
                 **kwargs: Any):
        self.key, self.repeat = key, repeat
        kwargs.setdefault("default", argparse.SUPPRESS)  # no scenes given: the config file's stand
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        scenes = list(getattr(namespace, self.dest, None) or [])
        if self.key in ("image", "dates"):  # each starts a scene: its image, or all its dates
            scenes.append({self.key: values})
        elif not scenes:
            image_flag = "--val-image" if self.dest == "data.val_scenes" else "--image"
            parser.error(f"{option_string} must come after the {image_flag} it belongs to")
        elif self.repeat:
            scenes[-1].setdefault(self.key, []).append(values)
        elif self.key in scenes[-1]:
            first = scenes[-1].get("image") or scenes[-1]["dates"][0]
            parser.error(f"{option_string} given twice for the scene of {first}; give each scene "
                         f"its own --image")
        else:
            scenes[-1][self.key] = values
        setattr(namespace, self.dest, scenes)


#: A scene's options: the SceneSpec key (its flag), how the help starts, the argparse keywords besides.
SCENE_OPTIONS = (
    ("image", "{what} image raster; starts a new scene (repeat for more scenes)", {"metavar": "RASTER"}),
    ("label", "the label of the last image", {"metavar": "LAYER"}),
    ("label_field", "the class field of the last image's polygon label", {"metavar": "FIELD"}),
    ("label_after_field", "the after-class field of the last image's polygon label (from-to classes)",
     {"metavar": "FIELD"}),
    ("dates", "{what} dates of one place (a season); starts a new scene", {"metavar": "RASTER", "nargs": "+"}),
    ("after", "the last image's later date (a pair's short form of --dates)", {"metavar": "RASTER", "repeat": True}),
    ("aux", "an aux raster of the last image (repeat, in channel order)", {"metavar": "RASTER", "repeat": True}),
    ("extent", "the last image's extent", {"nargs": 4, "type": float, "metavar": ("XMIN", "YMIN", "XMAX", "YMAX")}),
    ("aoi", "the last image's labelled area; --aoi is its old name", {"metavar": "LAYER"}),
)


def _scene_arguments(group: argparse._ArgumentGroup, prefix: str, dest: str, what: str) -> None:
    """The scene options, their help the scene's declarations (SceneSpec, which Train's layer parameters show)."""
    for key, how, keywords in SCENE_OPTIONS:
        found = find_setting(f"scene.{key}")
        flags = [f"--{prefix}{found.flag[2:]}", *([f"--{prefix}aoi"] if key == "aoi" else [])]
        group.add_argument(*flags, dest=dest, action=_SceneOption, key=key,
                           help=f"{how.format(what=what)}. {found.decl.help}", **keywords)


def add_arguments(p: argparse.ArgumentParser) -> None:
    groups = OptionGroups(p, "input and output", "explicit scenes (instead of --data)", "model", "data", "training",
                          "loss")
    io = groups["input and output"]
    io.add_argument("--config", metavar="FILE", help="YAML or JSON file with sections model/data/train")
    add_result_flags(io, "no progress bars or messages, only the result", "print the result as JSON on stdout")
    scenes = groups["explicit scenes (instead of --data)"]
    _scene_arguments(scenes, "", "data.train_scenes", "training")
    _scene_arguments(scenes, "val-", "data.val_scenes", "validation")
    for section in ("model", "data", "augment", "train", "loss"):
        add_settings(groups, section)


def request_from_args(args: argparse.Namespace) -> TrainRequest:
    """The training request from the defaults, ``--config`` and the flags given (later ones winning); the settings
    given in the file or as flags are kept, the others of ``AUTO_SETTINGS`` are chosen by the engine."""
    loaded = load_config_file(args.config) if getattr(args, "config", None) else {}
    if unknown := sorted(set(loaded) - set(SECTIONS)):
        raise ConfigError(f"Config file '{args.config}' has unknown section(s) {unknown}; the train command "
                          f"reads {list(SECTIONS)}.")
    sections: dict[str, dict[str, Any]] = {}
    for name in SECTIONS:
        value = loaded.get(name) or {}
        if not isinstance(value, dict):
            raise ConfigError(f"Config file '{args.config}': section '{name}' must be a mapping of settings.")
        sections[name] = {**value, **given_settings(args, name)}
    for outer, name in (("data", "augment"), ("train", "loss")):  # flags over the nested section's settings
        if chosen := given_settings(args, name):
            current = sections[outer].get(name) or {}
            if not isinstance(current, dict):
                raise ConfigError(f"the {outer}.{name} section of the config file must be a mapping of settings.")
            sections[outer][name] = {**current, **chosen}
    given = {f"{name}.{key}" for name, values in sections.items() for key in values}
    return train_request(sections, given, other_inputs={"config file (--config)": getattr(args, "config", None)})


def run(args: argparse.Namespace) -> int:
    request = request_from_args(args)
    with TqdmCallback(quiet=args.quiet) as callback:
        plan = plan_training(request)
        main = is_main_process()  # under torchrun every process chooses alike, rank 0 says so
        for line in plan.lines(flag_name) if main else []:
            callback.info(line)
        run_ = train(plan, callback)
    if not main:  # under torchrun only rank 0 prints the result
        return 0
    result = run_.result
    if args.json:
        say_json(result.to_dict())
        return 0
    iou = result.best_metrics.get("val_iou")
    say(f"Model bundle: {result.bundle}")
    score = f" (validation IoU {iou:.4f})" if isinstance(iou, float) else ""
    # kept_last: the validation labels held no class to score (see the warning above)
    say(f"Epoch kept: {result.best_epoch}, the last{score}" if result.kept_last else
        f"Best epoch: {result.best_epoch}{score}")
    if result.stopped_early:
        say("Stopped early: validation IoU stopped improving.")
    if budget := run_.budget_line(flag_name):
        say(budget)
    if run_.report:
        say(f"Report: {run_.report}")
    if result.outputs.get("metrics_csv"):  # every figure of every epoch (the epoch lines show a person's few)
        say(f"Metrics per epoch: {result.outputs['metrics_csv']}")
    say(f"Checkpoint (for --resume): {result.checkpoint}")
    return 0


COMMANDS = [Command("train", "train a model bundle from rasters and labels", add_arguments, run,
                    description=__doc__)]
