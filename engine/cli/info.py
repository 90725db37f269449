"""``dualstream info MODEL`` (a bundle's metadata) and ``dualstream env`` (what is installed)."""

from __future__ import annotations

import argparse
import json

from ..api import check_environment, format_metadata, read_model_metadata
from .main import Command, add_model_argument, model_argument, say, say_json


def add_info_arguments(p: argparse.ArgumentParser) -> None:
    add_model_argument(p, "model bundle (.dsmodel) or ONNX model (.onnx)")
    p.add_argument("--json", action="store_true", help="print the raw metadata as JSON")


def run_info(args: argparse.Namespace) -> int:
    args.model = model_argument(args)
    meta = read_model_metadata(args.model)  # a bundle, or an ONNX model segment runs as it is
    if args.json:
        say_json(meta.to_dict(), sort_keys=True)
    else:
        say(format_metadata(args.model, meta))
    return 0


def add_env_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run_env(args: argparse.Namespace) -> int:
    report, text = check_environment()
    say(json.dumps(report, indent=2) if args.json else text)
    return 1 if report["missing"] else 0


COMMANDS = [
    Command("info", "print a model's metadata (a bundle or an ONNX model)", add_info_arguments, run_info),
    Command("env", "report the Python packages and GPU DualStream can use", add_env_arguments, run_env),
]
