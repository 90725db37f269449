"""``dualstream info MODEL`` (a bundle's metadata), ``dualstream models`` (the model families, their
presets and encoders) and ``dualstream env`` (what is installed)."""

from __future__ import annotations

import argparse
import json
import sys

from ..api import check_environment, describe_models, format_metadata, read_metadata
from .main import Command, add_model_argument, model_argument


def add_info_arguments(p: argparse.ArgumentParser) -> None:
    add_model_argument(p, "model bundle (.dsmodel)")
    p.add_argument("--json", action="store_true", help="print the raw metadata as JSON")


def run_info(args: argparse.Namespace) -> int:
    args.model = model_argument(args)
    meta = read_metadata(args.model)
    if args.json:
        json.dump(meta.to_dict(), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        print(format_metadata(args.model, meta))
    return 0


def add_models_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the list as JSON")


def run_models(args: argparse.Namespace) -> int:
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
    report, text = check_environment()
    print(json.dumps(report, indent=2) if args.json else text)
    return 1 if report["missing"] else 0


COMMANDS = [
    Command("info", "print a model bundle's metadata", add_info_arguments, run_info),
    Command("models", "list the model families, their presets and encoders", add_models_arguments, run_models),
    Command("env", "report the Python packages and GPU DualStream can use", add_env_arguments, run_env),
]
