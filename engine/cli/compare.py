"""``dualstream compare``: the post-classification comparison of two dates.

A segmentation model of one date (``--model``: trained here, imported or ready) segments the first date
(``--image``) and the later date (``--after``), or two class rasters are given (``--before-classes``,
``--after-classes``: two cloud masks, two land-cover maps); every pixel's transition from its class before to its
class after makes the change raster (``--out``), styled, with the change table (``--change-table``: hectares per
transition) and polygons of change (``--polygons``). It is the baseline a trained change model must beat.
"""

from __future__ import annotations

import argparse

from ..api import CompareConfig, compare
from .main import Command, say, say_json
from .options import given_settings, settings_arguments
from .progress import TqdmCallback
from .segment import change_said

add_arguments = settings_arguments("compare", "input and output", "settings",
                                   quiet="no progress bars or messages, only the result",
                                   json="print the result as JSON on stdout")


def run(args: argparse.Namespace) -> int:
    cfg = CompareConfig(**given_settings(args, "compare"))
    with TqdmCallback(quiet=args.quiet) as callback:
        result = compare(cfg, callback)
    if args.json:
        say_json(result.to_dict())
        return 0
    say(f"Change: {result.output} (style {result.qml}); {result.changed_pixels:,} of {result.pixels:,} pixels changed")
    say(f"Transitions: {change_said([r.to_dict() for r in result.rows if r.pixels])}")
    for what, path in (("Change table", result.change_table), ("Polygons", result.polygons)):
        if path:
            say(f"{what}: {path}")
    return 0


COMMANDS = [Command("compare", "the post-classification comparison of two dates: a model of one date segments "
                    "both (or two class rasters), the change raster, table and polygons follow", add_arguments, run,
                    description=__doc__)]
