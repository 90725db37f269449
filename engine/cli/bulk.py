"""``dualstream segment --images ... --out-dir DIR``: the segment command over many scenes.

Bulk mode is the same ``segment`` command: ``--images`` (or ``--manifest``) and ``--out-dir`` take the place of
``--image`` and ``--out``; every other segment setting applies to every scene. Exit code 0 when every scene is
done or skipped, 1 when any scene failed (see ``DIR/summary.json``), 2 when the run could not start.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..api import OUTPUT_KINDS, BulkConfig, ConfigError, render, segment_many
from .main import EXIT_CANCELED, say, say_json
from .options import flag_name, given_settings
from .progress import TqdmCallback

EXIT_SCENES_FAILED = 1
SINGLE_ONLY = ("image", "aux", *(kind.config_key for kind in OUTPUT_KINDS), "aoi")
#: segment's flags that name the bulk run's area in bulk mode: the one web layers are read over (bulk.extent)
BULK_AREA = ("extent", "extent_crs")


def is_bulk(args: argparse.Namespace) -> bool:
    """Whether ``args`` ask for bulk mode."""
    given = vars(args)
    return any(f"bulk.{k}" in given for k in ("images", "manifest", "out_dir"))


def bulk_config_from_args(args: argparse.Namespace, settings: dict[str, Any]) -> BulkConfig:
    """The BulkConfig from the flags (and the config file's ``bulk`` section); refuses single-scene flags."""
    given = vars(args)
    clashing = [flag_name(f"segment.{key}") for key in SINGLE_ONLY if f"segment.{key}" in given]
    if clashing:
        switches = " / ".join(flag_name(f"bulk.{kind.bulk_key}") for kind in OUTPUT_KINDS if kind.bulk_key)
        raise ConfigError(f"{', '.join(clashing)} name(s) one scene; with --images/--manifest every scene's outputs "
                          f"go to --out-dir (use {switches} for the extra outputs).")
    area = {key: given[f"segment.{key}"] for key in BULK_AREA if f"segment.{key}" in given}
    return BulkConfig.from_dict({**settings, **area, **given_settings(args, "bulk")})


def run_bulk(args: argparse.Namespace, template: Any, bulk_settings: dict[str, Any]) -> int:
    """Run bulk mode; print the outcome; return the exit code."""
    bulk = bulk_config_from_args(args, bulk_settings)
    with TqdmCallback(quiet=args.quiet) as callback:
        result = segment_many(bulk, template, callback)
    if not result.files:  # a torchrun rank other than 0: rank 0 reports for all
        return 0
    summary = result.summary
    if args.json:
        say_json(summary)
    else:
        for scene in result.scenes:
            if scene.status == "failed":
                say(f"failed: {scene.shown}: {render(scene.error, flag_name)}")
        n = result.counts
        say(f"{len(result.scenes)} scene(s): {n['done']} done, {n['skipped']} skipped, {n['failed']} failed; "
              f"{summary['pixels']:,} pixels in {summary['seconds']:.1f} s "
              f"({summary['px_per_s']:,.0f} px/s)")
        say(f"Summary: {result.files['json']}")
        for mosaic in summary["mosaics"]:
            say(f"Mosaic: {mosaic}")
        if summary.get("polygons"):
            say(f"Polygons of every scene (one layer): {summary['polygons']}")
    if result.canceled:
        return EXIT_CANCELED
    return 0 if result.ok else EXIT_SCENES_FAILED
