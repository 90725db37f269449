"""``dualstream segment`` and ``dualstream evaluate``.

segment: classify a whole scene with one model bundle or a weighted ensemble; writes a styled class GeoTIFF
(+ ``.qml``), optionally probabilities and polygons. With ``--images``/``--manifest`` and ``--out-dir`` it
segments many scenes in one process. Settings come from the defaults, ``--config FILE`` (YAML or
JSON, section ``segment``) and the flags given, later ones winning.

evaluate: compare a class raster (or a folder of them) with a label raster/polygon layer (or a folder);
writes metrics JSON + CSV, optionally the run-length CSV.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..api import (
    BULK,
    EXTRA_KINDS,
    OUTPUT_KINDS,
    READING_GROUP,
    UNITS_GROUP,
    BulkConfig,
    ConfigError,
    EvaluateConfig,
    SegmentConfig,
    evaluate,
    load_config_file,
    render,
    segment,
    segment_many,
)
from .main import EXIT_CANCELED, Command, say, say_json
from .options import OptionGroups, add_result_flags, add_settings, flag_name, given_settings, settings_arguments
from .progress import TqdmCallback

EXIT_SCENES_FAILED = 1  # bulk mode: a scene failed (DIR/summary.json); 0: every scene done or skipped
SINGLE_ONLY = ("image", "dates", "aux", *(kind.config_key for kind in OUTPUT_KINDS), "aoi")
#: segment's flags that name the bulk run's area in bulk mode: the one web layers are read over (bulk.extent)
BULK_AREA = ("extent", "extent_crs")


def run_bulk(args: argparse.Namespace, template: Any, settings: dict[str, Any]) -> int:
    """Run bulk mode (the config file's ``bulk`` section, then the flags; single-scene flags refused); print the
    outcome; return the exit code."""
    given = vars(args)
    if clashing := [flag_name(f"segment.{key}") for key in SINGLE_ONLY if f"segment.{key}" in given]:
        switches = " / ".join(flag_name(f"bulk.{kind.bulk_key}") for kind in OUTPUT_KINDS if kind.bulk_key)
        raise ConfigError(f"{', '.join(clashing)} name(s) one scene; with --images/--manifest every scene's outputs "
                          f"go to --out-dir (use {switches} for the extra outputs).")
    area = {key: given[f"segment.{key}"] for key in BULK_AREA if f"segment.{key}" in given}
    bulk = BulkConfig.from_dict({**settings, **area, **given_settings(args, "bulk")})
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
            f"{summary['pixels']:,} pixels in {summary['seconds']:.1f} s ({summary['px_per_s']:,.0f} px/s)")
        say(f"Summary: {result.files['json']}")
        for mosaic in summary["mosaics"]:
            say(f"Mosaic: {mosaic}")
        if summary.get("polygons"):
            say(f"Polygons of every scene (one layer): {summary['polygons']}")
    return EXIT_CANCELED if result.canceled else 0 if result.ok else EXIT_SCENES_FAILED


class _Weights(argparse.Action):
    """``--weights 0.7,0.3`` or ``--weights 0.7 0.3`` -> [0.7, 0.3]."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        try:
            weights = [float(v) for text in values for v in str(text).split(",") if v.strip()]
        except ValueError:
            parser.error(f"{option_string}: ensemble weights are numbers, e.g. 0.7,0.3 (got {' '.join(values)})")
        setattr(namespace, self.dest, weights)


def add_segment_arguments(p: argparse.ArgumentParser) -> None:
    groups = OptionGroups(p, "input and output", READING_GROUP, UNITS_GROUP, "area", "inference", BULK)
    io = groups["input and output"]
    io.add_argument("--config", metavar="FILE", help="YAML or JSON file with a 'segment' section")
    io.add_argument("--weights", dest="segment.model_weights", nargs="+", action=_Weights, default=argparse.SUPPRESS,
                    metavar="W", help="ensemble weights, one per --model, e.g. 0.7,0.3 or 0.7 0.3 (default equal)")
    add_result_flags(io, "no progress bars or messages, only the result", "print the result as JSON on stdout")
    add_settings(groups, "segment")
    add_settings(groups, "bulk")


def _config_sections(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The config file's ``segment`` and ``bulk`` sections (empty without --config)."""
    loaded = load_config_file(args.config) if getattr(args, "config", None) else {}
    sections = []
    for name, default in (("segment", loaded if "bulk" not in loaded else {}), ("bulk", {})):
        section = loaded.get(name, default)
        if not isinstance(section, dict):
            raise ConfigError(f"Config file '{args.config}': section '{name}' must be a mapping of settings.")
        sections.append(dict(section))
    return sections[0], sections[1]


def segment_config_from_args(args: argparse.Namespace, bulk: bool = False) -> SegmentConfig:
    """The SegmentConfig from the config file and the flags; in bulk mode a template without image/output."""
    settings, _ = _config_sections(args)
    given = given_settings(args, "segment")
    # in bulk mode --extent names the area web layers are read over: the bulk run's (BULK_AREA)
    settings.update({key: value for key, value in given.items() if not (bulk and key in BULK_AREA)})
    required = (("models", "--model"),) if bulk else (("image", "--image"), ("models", "--model"), ("output", "--out"))
    if settings.get("stac_item") and not settings.get("image"):
        settings["image"] = settings["stac_item"]  # the item is the image
    for key, flag in required:
        if key == "image" and settings.get("dates"):
            continue  # a season's dates name its images
        if not settings.get(key):
            raise ConfigError(f"segment needs {flag}{' or --stac-item' if key == 'image' else ''} (or segment.{key} in "
                              f"the config file).")
    return SegmentConfig.from_dict(settings)


def run_segment(args: argparse.Namespace) -> int:
    if any(f"bulk.{k}" in vars(args) for k in ("images", "manifest", "out_dir")):  # bulk mode
        return run_bulk(args, segment_config_from_args(args, bulk=True), _config_sections(args)[1])
    cfg = segment_config_from_args(args)
    with TqdmCallback(quiet=args.quiet) as callback:
        result = segment(cfg, callback, other_inputs={"config file (--config)": getattr(args, "config", None)})
    if args.json:
        say_json(result.to_dict())
        return 0
    say(f"Classes: {result.output} ({result.width}x{result.height} px, style {result.qml})")
    for kind in EXTRA_KINDS:
        if result.path(kind.name):
            share = result.report.get(kind.report or "")
            said = "" if share is None else f" ({100 * share:.1f} % of the pixels below {getattr(cfg, kind.report):g})"
            say(f"{kind.name.capitalize()}: {result.path(kind.name)}{said}")
    if result.nonfinite_pixels:
        say(f"Nodata where the model gave NaN or infinite scores: {result.nonfinite_pixels:,} pixel(s)")
    if result.change:
        say(f"Change: {change_said(result.change)}")
    if result.areas:
        say(f"Area of each class: {change_said(result.areas)}")
    if result.change_table:
        say(f"Change table: {result.change_table}")
    say(f"{result.pixels:,} pixels in {result.seconds:.1f} s ({result.pixels_per_second:,.0f} px/s) on "
          f"{result.device} ({result.backend})")
    return 0


def change_said(rows: list[dict[str, Any]]) -> str:
    """``change 0.05 ha (476 px)``, each kind of change (the rows of a change table)."""
    return "; ".join(f"{r['name']} {'' if r['hectares'] is None else format(r['hectares'], ',.2f') + ' ha '}"
                     f"({r['pixels']:,} px)" for r in rows) or "no kind of change"


add_evaluate_arguments = settings_arguments("evaluate", "settings", quiet="no progress bars or messages",
                                            json="print the metrics as JSON on stdout")


def run_evaluate(args: argparse.Namespace) -> int:
    cfg = EvaluateConfig(**given_settings(args, "evaluate"))
    with TqdmCallback(quiet=args.quiet) as callback:
        evaluation = evaluate(cfg, callback)
    metrics = evaluation.metrics
    if args.json:
        say_json(metrics)
        return 0
    names = metrics["class_names"]
    for name, iou, f1 in zip(names, metrics["iou"], metrics["f1"]):
        shown = "n/a" if iou is None else f"{iou:.4f}"
        say(f"{name}: IoU {shown}" + ("" if f1 is None else f", F1 {f1:.4f}"))
    if change := metrics.get("change"):  # a change raster: change found against change labelled
        say("Change: " + ", ".join(f"{key} {'n/a' if change[key] is None else format(change[key], '.4f')}"
                                   for key in ("precision", "recall", "f1", "iou")))
    say(f"mIoU {metrics['miou']:.4f}, pixel accuracy {metrics['pixel_accuracy']:.4f}"
          + (f", Dice {metrics['dice']:.4f}" if metrics.get("dice") is not None else ""))
    if evaluation.written:
        say(f"Metrics written: {', '.join(evaluation.written)}")
    else:
        say(f"No metrics file written; give {flag_name('evaluate.output')} metrics.json to keep them (with its "
            f".csv and _confusion.csv beside it).")
    return 0


# each command's own paragraph of the docstring as its help (none under python -OO, which drops docstrings)
_SEGMENT_DOC, _EVALUATE_DOC = ([p.partition(": ")[2] for p in (__doc__ or "").split("\n\n")[1:3]] + [None, None])[:2]
COMMANDS = [
    Command("segment", "segment a scene with a model bundle (or an ensemble)", add_segment_arguments, run_segment,
            description=_SEGMENT_DOC),
    Command("evaluate", "compare a class raster with a label raster or polygon layer", add_evaluate_arguments,
            run_evaluate, description=_EVALUATE_DOC),
]
