"""``dualstream info MODEL`` (a bundle's metadata), ``dualstream models`` (the model families, their
presets and encoders) and ``dualstream env`` (what is installed)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .main import Command


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def format_metadata(path: str, meta: dict[str, Any]) -> str:
    """A bundle's metadata as readable lines."""
    model, data = meta.get("model", {}), meta.get("data", {})
    train, metrics, versions = meta.get("train") or {}, meta.get("metrics") or {}, meta.get("versions") or {}
    classes = data.get("num_classes", model.get("num_classes"))
    lines = [
        f"Model bundle: {path}",
        f"  format {meta.get('format')} v{meta.get('format_version')}, created {meta.get('created', '?')}",
        "  made with " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        f"Architecture: {model.get('name')} family (preset {model.get('preset')}"
        + (f", encoder {model['encoder']}" if model.get("encoder") else "") + ")",
        f"  vision channels {model.get('vision_channels')}, aux channels {model.get('aux_channels')}, "
        f"aux ratio {model.get('aux_ratio')}, outputs {classes} ({'binary, sigmoid' if classes == 1 else 'softmax'})",
        "Data:",
        f"  tile size {data.get('tile_size')} px, training GSD {_fmt(data.get('gsd', '?'))}",
        "  classes: " + ", ".join(f"{n} ({c})" for n, c in zip(data.get("class_names", []),
                                                           data.get("class_colors", []))),
    ]
    if data.get("label_mapping") is not None:
        mapping = ", ".join(f"{k} -> {v}" for k, v in data["label_mapping"].items())
        lines.append(f"  label mapping: {mapping or 'values are classes'}; other values -> "
                     f"{data.get('label_default_class', 0)}; ignore index {data.get('ignore_index', 255)}")
    if data.get("bands") or data.get("x_bands"):
        from ..data.bands import BandSelection

        selection = BandSelection.from_metadata(data)
        lines.append(f"  band selection of the {data.get('image_bands')}-band training images: "
                     f"{selection.describe(int(data.get('image_bands') or 0))}"
                     + (" (X = the aux input)" if selection.x else ""))
    if data.get("aux_channels"):
        prefixes = data.get("aux_prefixes") or []
        lines.append(f"  aux: {data['aux_channels']} channels"
                     + (f" from {', '.join(prefixes)} x {data.get('aux_bands_per_file')} bands" if prefixes else ""))
    for label, key in (("vision", "vision_stats"), ("aux", "aux_stats")):
        stats = data.get(key)
        if stats:
            n = len(stats.get("low", []))
            low, high = stats.get("low", [])[:4], stats.get("high", [])[:4]
            more = " ..." if n > 4 else ""
            lines.append(f"  {label} band statistics ({stats.get('method')}, {n} bands): low {_fmt(low)}{more}; "
                         f"high {_fmt(high)}{more}")
    if train:
        lines.append(f"Training: {train.get('warmup_epochs')} frozen + {train.get('epochs')} epochs, batch "
                     f"{train.get('batch_size')}, lr {_fmt(train.get('learning_rate'))}, schedule "
                     f"{train.get('schedule')}, seed {train.get('seed')}")
        from ..config import TrainConfig

        loss = TrainConfig.from_dict({k: v for k, v in train.items() if k in ("loss", "focal_weight",
                                                                              "lovasz_weight")}).loss
        lines.append(f"  loss {loss.describe(str(model.get('name')))}, optimizer {train.get('optimizer', 'adamw')}")
    if metrics:
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in metrics.items() if k != "epoch")
        lines.append(f"Metrics (best epoch {metrics.get('epoch')}): {shown}")
    return "\n".join(lines)


def add_info_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="model bundle (.dsmodel)")
    p.add_argument("--json", action="store_true", help="print the raw metadata as JSON")


def run_info(args: argparse.Namespace) -> int:
    from ..export.bundle import read_metadata

    meta = read_metadata(args.model)
    if args.json:
        json.dump(meta, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        print(format_metadata(args.model, meta))
    return 0


def add_models_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the list as JSON")


def run_models(args: argparse.Namespace) -> int:
    from ..models import describe_models

    families = describe_models()
    if args.json:
        json.dump(families, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    for family in families:
        encoders, default = family["preset_encoders"], family["default_preset"]
        presets = ", ".join(f"{p} ({encoders[p]}{', default' if p == default else ''})" for p in family["presets"])
        print(f"{family['name']}: {family['description']}\n  presets (encoder): {presets}")
        if family["encoders"]:
            print("  encoder option: " + ", ".join(family["encoders"]))
    return 0


def add_env_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run_env(args: argparse.Namespace) -> int:
    from ..runtime.environment import environment_report, format_report

    report = environment_report()
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 1 if report["missing"] else 0


COMMANDS = [
    Command("info", "print a model bundle's metadata", add_info_arguments, run_info),
    Command("models", "list the model families, their presets and encoders", add_models_arguments, run_models),
    Command("env", "report the Python packages and GPU DualStream can use", add_env_arguments, run_env),
]
