"""``dualstream segment --images ... --out-dir DIR``: the segment command over many scenes.

Bulk mode is the same ``segment`` command: ``--images`` (or ``--manifest``) and ``--out-dir`` take the place of
``--image`` and ``--out``; every other segment setting applies to every scene. Exit code 0 when every scene is
done or skipped, 1 when any scene failed (see ``DIR/summary.json``), 2 when the run could not start.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..config import BulkConfig
from ..errors import ConfigError

EXIT_SCENES_FAILED = 1
BULK_FLAGS = ("images", "aux_patterns", "manifest", "out_dir", "overwrite", "mosaic")
SINGLE_ONLY = {"image": "--image", "aux": "--aux", "output": "--out", "probabilities": "--probabilities",
               "polygons": "--polygons", "extent": "--extent", "aoi": "--aoi"}


def add_bulk_arguments(p: argparse.ArgumentParser) -> None:
    """The bulk flags of ``segment``."""
    S = argparse.SUPPRESS
    bulk = p.add_argument_group("many scenes (instead of --image/--out)")
    bulk.add_argument("--images", nargs="+", default=S, metavar="PATH_OR_GLOB",
                      help="images, globs ('tiles/*.tif', '**' recursive) or folders; each scene's outputs go to "
                           "--out-dir named after it")
    bulk.add_argument("--aux-pattern", dest="aux_patterns", action="append", default=S, metavar="PATTERN",
                      help="each scene's aux file by name, relative to its image: '{stem}_aux.tif' ({stem}: image "
                           "name without extension, {name}: with it; globs ok); repeat in the training order")
    bulk.add_argument("--manifest", default=S, metavar="FILE",
                      help="CSV (header image,aux[,aux2...][,output]) or JSON list of {image, aux, output}")
    bulk.add_argument("--out-dir", dest="out_dir", default=S, metavar="DIR",
                      help="output folder: <name>.tif + .qml per scene, summary.json/.csv/.html")
    bulk.add_argument("--overwrite", action="store_true", default=S,
                      help="redo scenes already finished (by default a rerun skips them)")
    bulk.add_argument("--with-probabilities", dest="bulk_probabilities", action="store_true", default=S,
                      help="also write <name>_probabilities.tif per scene")
    bulk.add_argument("--with-polygons", dest="bulk_polygons", action="store_true", default=S,
                      help="also write <name>.gpkg per scene")
    bulk.add_argument("--mosaic", action="store_true", default=S,
                      help="also write a VRT mosaic of the class rasters (one per CRS)")


def is_bulk(args: argparse.Namespace) -> bool:
    """Whether ``args`` ask for bulk mode."""
    given = vars(args)
    return any(k in given for k in ("images", "manifest", "out_dir"))


def bulk_config_from_args(args: argparse.Namespace, settings: dict[str, Any]) -> BulkConfig:
    """The BulkConfig from the flags (and the config file's ``bulk`` section); refuses single-scene flags."""
    given = vars(args)
    clashing = [flag for key, flag in SINGLE_ONLY.items() if key in given]
    if clashing:
        raise ConfigError(f"{', '.join(clashing)} name(s) one scene; with --images/--manifest every scene's outputs "
                          f"go to --out-dir (use --with-probabilities / --with-polygons for the extra outputs).")
    values = dict(settings)
    renamed = {"bulk_probabilities": "probabilities", "bulk_polygons": "polygons"}
    values.update({renamed.get(k, k): v for k, v in given.items() if k in BULK_FLAGS or k in renamed})
    return BulkConfig.from_dict(values)


def run_bulk(args: argparse.Namespace, template: Any, bulk_settings: dict[str, Any]) -> int:
    """Run bulk mode; print the outcome; return the exit code."""
    from ..segment.bulk.runner import segment_bulk
    from .main import EXIT_CANCELED
    from .progress import TqdmCallback

    bulk = bulk_config_from_args(args, bulk_settings)
    with TqdmCallback(quiet=args.quiet) as callback:
        result = segment_bulk(bulk, template, callback)
    if not result.files:  # a torchrun rank other than 0: rank 0 reports for all
        return 0
    summary = result.summary
    if args.json:
        json.dump(summary, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        for scene in summary["scenes"]:
            if scene["status"] == "failed":
                print(f"failed: {scene['image']}: {scene['error']}")
        n = summary["counts"]
        print(f"{len(summary['scenes'])} scene(s): {n['done']} done, {n['skipped']} skipped, {n['failed']} failed; "
              f"{summary['pixels']:,} pixels in {summary['seconds']:.1f} s "
              f"({summary['px_per_s']:,.0f} px/s)")
        print(f"Summary: {result.files['json']}")
        for mosaic in summary["mosaics"]:
            print(f"Mosaic: {mosaic}")
    if result.canceled:
        return EXIT_CANCELED
    return 0 if result.ok else EXIT_SCENES_FAILED
