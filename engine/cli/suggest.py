"""``dualstream suggest --model M --image S [--image ...] [--labelled-area L] --count N --window PX --out W.gpkg``.

Writes a GeoPackage of N square windows, ranked by how much labelling them is expected to help the model: where it
is unsure (entropy of its prediction), where its ensemble members or flipped views disagree, spread over the scenes
and the predicted classes, away from what is labelled already. Each window carries its rank, its score and why.
Label inside the windows, add them to the labelled area, and train again from the model (``train --init-from``).
"""

from __future__ import annotations

import argparse

from ..api import READING_GROUP, UNITS_GROUP, ConfigError, SuggestConfig, render, suggest
from .main import Command, say, say_json
from .options import OptionGroups, add_result_flags, add_settings, flag_name, given_settings
from .progress import TqdmCallback


def add_arguments(p: argparse.ArgumentParser) -> None:
    groups = OptionGroups(p, "input and output", READING_GROUP, UNITS_GROUP, "suggest")
    add_settings(groups, "suggest")
    groups["input and output"].add_argument("--aoi", dest="old_aoi", metavar="LAYER", default=None,
                                            help="the old name of --labelled-area")
    add_result_flags(p, json="print the windows as JSON on stdout")


def run(args: argparse.Namespace) -> int:
    settings = given_settings(args, "suggest")
    if args.old_aoi is not None:  # the old name: one of the two, never one silently over the other
        if "labelled_area" in settings:
            raise ConfigError(f"--aoi is the old name of --labelled-area, and both were given ('{args.old_aoi}' and "
                              f"'{settings['labelled_area']}'); give the labelled area once, as --labelled-area.")
        settings["labelled_area"] = args.old_aoi
    cfg = SuggestConfig(**settings)
    with TqdmCallback(quiet=args.quiet) as callback:
        result = suggest(cfg, callback)
        for note in result.notes:
            callback.warning(note)
    if args.json:
        say_json({"output": result.output, "views": result.views, "windows": [w.values() for w in result.windows],
                  "next_step": render(result.next_step, flag_name)})
        return 0
    say(f"Windows to label: {result.output} ({len(result.windows)} of {cfg.window} px, from {result.views} "
          f"view(s) of each of {len(result.scenes)} scene(s))")
    for w in result.windows:
        say(f"  {w.rank:>3}  score {w.score:.3f}  {w.why}")
    say(render(result.next_step, flag_name))
    return 0


COMMANDS = [Command("suggest", "suggest where to label next: windows ranked by expected help", add_arguments, run,
                    description=__doc__)]
