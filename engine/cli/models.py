"""``dualstream models``: the model families, their presets and encoders; ``dualstream models list``: the ready
models of the catalogue (made elsewhere, wrapped on demand); ``dualstream models get NAME``: one of them fetched,
checked and wrapped as ``NAME.dsmodel``."""

from __future__ import annotations

import argparse

from ..api import (
    CATALOGUE_ENV,
    MODELS_ENV,
    describe_model,
    describe_models,
    get_ready_model,
    models_folder,
    printable,
    ready_models,
)
from .main import Command, say, say_json
from .progress import TqdmCallback

DESCRIPTION = f"""Without an action: the model families to train, their presets and encoders. `list`: the ready
models (made elsewhere: name, task, sensor, bands in the order the model takes them, classes, licence, whether
it is in the models folder). `get NAME`: fetch one (pip package or download, checksums verified) and wrap it as
NAME.dsmodel in the models folder (--folder, else ${MODELS_ENV}, else ~/.cache/dualstream/models), ready for
segment. Extra catalogue files: ${CATALOGUE_ENV}."""
COLUMNS = ("name", "task", "sensor", "bands", "classes", "licence", "installed")


def add_models_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    listed = actions.add_parser("list", help="the ready models of the catalogue",
                                description="The ready models: made elsewhere, wrapped on demand by `get`.")
    listed.add_argument("--folder", metavar="DIR", help="the models folder to look in")
    listed.add_argument("--json", action="store_true", help="print the catalogue entries as JSON")
    got = actions.add_parser("get", help="fetch a ready model and wrap it as NAME.dsmodel",
                             description="Fetch a ready model (pip package or download, checksums verified) and "
                                         "wrap it as NAME.dsmodel in the models folder.")
    got.add_argument("name", metavar="NAME", help="a name from `dualstream models list`")
    got.add_argument("--folder", metavar="DIR", help=f"where the bundle goes (default: ${MODELS_ENV}, else "
                                                     "~/.cache/dualstream/models)")
    got.add_argument("--force", action="store_true", help="wrap it again even when the bundle is there")
    got.add_argument("--no-install", action="store_true",
                     help="do not pip-install a missing package (say the command instead)")
    for parser in (listed, got):
        parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                            help="show full tracebacks for errors")


def run_models(args: argparse.Namespace) -> int:
    return {"list": _list, "get": _get}.get(args.action, _families)(args)


def _families(args: argparse.Namespace) -> int:
    families = describe_models()
    if args.json:
        say_json(families)
        return 0
    for family in families:
        encoders, default = family["preset_encoders"], family["default_preset"]
        presets = ", ".join(f"{p} ({encoders[p]}{', default' if p == default else ''})" for p in family["presets"])
        say(f"{family['name']}: {family['description']}\n  presets (encoder): {presets}")
        if family["encoders"]:
            say("  encoder option: " + ", ".join(family["encoders"]))
    say("\nReady models made elsewhere (cloud masks, ...): dualstream models list")
    return 0


def _list(args: argparse.Namespace) -> int:
    models = ready_models(args.folder)
    if args.json:
        rows = [dict(model.row(), band_hint=model.entry.band_hint, source=model.entry.source.describe(),
                     sha256=model.entry.source.sha256, url=model.entry.url, damaged=model.damaged)
                for model in models]
        say_json(rows)
        return 0
    # names from a catalogue, made inert and short on the terminal (--json keeps them whole)
    rows = [{k: printable(v, 60) for k, v in dict(model.row(), installed=model.state).items()} for model in models]
    widths = {c: max([len(c), *(len(r[c]) for r in rows)]) for c in COLUMNS}
    say(f"Ready models (models folder {models_folder(args.folder)}; `dualstream models get NAME`):")
    for row in [{c: c for c in COLUMNS}, *rows]:  # the header, then the models
        say("  ".join(row[c].ljust(widths[c]) for c in COLUMNS).rstrip())
    for model in models:
        if model.damaged:
            say(printable(f"{model.name}: damaged, {model.damaged}; `dualstream models get {model.name}` fetches "
                            f"it again."))
    return 0


def _get(args: argparse.Namespace) -> int:
    with TqdmCallback() as callback:
        result = get_ready_model(args.name, args.folder, callback, install=not args.no_install, force=args.force)
    say("\n".join(describe_model(result.path)))
    say(f"{'Already there' if result.reused else 'Written'}: {printable(result.path)}")
    say(f"Segment with: dualstream segment --model {result.path} --image IMAGE.tif --out CLASSES.tif")
    return 0


COMMANDS = [Command("models", "the model families; `models list` / `models get NAME`: ready models made elsewhere",
                    add_models_arguments, run_models, DESCRIPTION)]
