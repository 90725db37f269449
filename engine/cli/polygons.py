"""``dualstream polygons CLASSES.tif --out X.gpkg``: any class raster's polygons, attributed and drawn per class
(buildings squared, natural classes smoothed) exactly as ``segment --polygons`` draws a prediction's."""

from __future__ import annotations

import argparse

from ..api import PolygonsConfig, polygons
from .main import Command, say
from .options import OptionGroups, add_result_flags, add_settings, given_settings
from .progress import TqdmCallback


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("raster", metavar="CLASSES.tif", nargs="?", help="class raster (one band of class numbers); "
                   "also as --raster CLASSES.tif")
    p.add_argument("--raster", dest="raster_option", metavar="CLASSES.tif", help=argparse.SUPPRESS)
    add_settings(OptionGroups(p, "settings", "polygons"), "polygons")
    add_result_flags(p)


def run(args: argparse.Namespace) -> int:
    cfg = PolygonsConfig(raster=args.raster or args.raster_option or "", **given_settings(args, "polygons"))
    with TqdmCallback(quiet=args.quiet) as callback:
        result = polygons(cfg, callback)
    treatments = ", ".join(f"{name} {how}" for name, how in result.treatments.items())
    say(f"Polygons: {result.output} ({result.polygons} polygon(s); {treatments})")
    return 0


COMMANDS = [Command("polygons", "any class raster into attributed polygons (buildings squared, natural classes "
                    "smoothed)", add_arguments, run, description=__doc__)]
