"""``dualstream segment`` and ``dualstream evaluate``.

segment: classify a whole scene with one model bundle or a weighted ensemble; writes a styled class GeoTIFF
(+ ``.qml``), optionally probabilities and polygons. With ``--images``/``--manifest`` and ``--out-dir`` it
segments many scenes in one process (see :mod:`.bulk`). Settings come from the defaults, ``--config FILE`` (YAML or
JSON, section ``segment``) and the flags given, later ones winning.

evaluate: compare a class raster (or a folder of them) with a label raster/polygon layer (or a folder);
writes metrics JSON + CSV, optionally the run-length CSV.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..config import BACKENDS, TTA_MODES, EvaluateConfig, SegmentConfig, load_config_file
from ..errors import ConfigError
from ..io.safety import check_outputs, segment_files
from .bulk import add_bulk_arguments, is_bulk, run_bulk
from .main import Command, parse_label_map

SEGMENT_FLAGS = ("image", "models", "output", "aux", "model_weights", "probabilities", "probability_dtype",
                 "polygons", "min_polygon_area", "simplify_tolerance", "polygon_classes", "extent", "extent_crs",
                 "aoi", "device", "batch_size", "tile_size", "overlap", "tta", "threshold", "prefetch", "readers",
                 "reader_processes", "resample_to_training_gsd", "backend")


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
    S = argparse.SUPPRESS  # only flags actually given override the config file
    io = p.add_argument_group("input and output")
    io.add_argument("--config", metavar="FILE", help="YAML or JSON file with a 'segment' section")
    io.add_argument("--image", default=S, metavar="RASTER", help="image to segment (same bands as in training)")
    io.add_argument("--aux", action="append", default=S, metavar="RASTER",
                    help="aux raster (repeat, in the training order; any CRS/resolution)")
    io.add_argument("--model", dest="models", action="append", default=S, metavar="MODEL",
                    help="model bundle (.dsmodel), or an exported .onnx model with --backend onnxruntime; repeat "
                         "for an ensemble")
    io.add_argument("--weights", dest="model_weights", nargs="+", action=_Weights, default=S,
                    metavar="W", help="ensemble weights, one per --model, e.g. 0.7,0.3 or 0.7 0.3 (default equal)")
    io.add_argument("--out", dest="output", default=S, metavar="OUT.tif", help="class GeoTIFF to write")
    io.add_argument("--probabilities", default=S, metavar="P.tif", help="also write class probabilities")
    io.add_argument("--probability-dtype", dest="probability_dtype", choices=("float32", "uint8"), default=S,
                    help="uint8 stores round(p * 254), nodata 255")
    io.add_argument("--polygons", default=S, metavar="P.gpkg", help="also write polygons (GeoPackage)")
    io.add_argument("--min-area", dest="min_polygon_area", type=float, default=S,
                    help="drop polygons smaller than this (map units squared)")
    io.add_argument("--simplify", dest="simplify_tolerance", type=float, default=S,
                    help="simplify polygons with this tolerance (map units)")
    io.add_argument("--polygon-classes", dest="polygon_classes", nargs="+", type=int, default=S,
                    help="classes to polygonize (default: foreground for binary models, all otherwise)")
    io.add_argument("--quiet", action="store_true", help="no progress bars or messages, only the result")
    io.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    area = p.add_argument_group("area")
    area.add_argument("--extent", nargs=4, type=float, default=S, metavar=("XMIN", "YMIN", "XMAX", "YMAX"),
                      help="segment only this extent (snapped outward to the image's pixel grid)")
    area.add_argument("--extent-crs", dest="extent_crs", default=S, metavar="CRS",
                      help="CRS of --extent, e.g. EPSG:4326 (default: the image's)")
    area.add_argument("--aoi", default=S, metavar="LAYER", help="polygon layer: pixels outside become nodata")
    run_ = p.add_argument_group("inference")
    run_.add_argument("--backend", choices=BACKENDS, default=S,
                      help="torch runs bundles; onnxruntime runs models exported with `export` (no torch needed)")
    run_.add_argument("--device", default=S, help="auto (CUDA if available), cpu, cuda or cuda:N")
    run_.add_argument("--batch-size", dest="batch_size", type=int, default=S)
    run_.add_argument("--tile-size", dest="tile_size", type=int, default=S, help="default: the bundle's")
    run_.add_argument("--overlap", type=float, default=S, help="tile overlap as a share of the tile (0..0.9)")
    run_.add_argument("--tta", choices=TTA_MODES, default=S, help="test-time augmentation")
    run_.add_argument("--threshold", type=float, default=S, help="foreground threshold of binary models")
    run_.add_argument("--prefetch", type=int, default=S, help="batches read ahead by the reader thread")
    run_.add_argument("--readers", type=int, default=S, metavar="N",
                      help="tile reader threads (default: 1 on CPU; on a GPU the free cores, up to 8)")
    run_.add_argument("--reader-processes", dest="reader_processes", action="store_true", default=S,
                      help="run the --readers workers as processes (no GIL shared with the model; copies each tile "
                           "once more); measure with bench/bench_bulk.py which is faster on your machine")
    run_.add_argument("--resample-to-training-gsd", dest="resample_to_training_gsd", action="store_true", default=S,
                      help="predict at the model's training pixel size (a virtual warp of the image); the outputs "
                           "stay on the image's grid")
    add_bulk_arguments(p)


def _config_sections(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The config file's ``segment`` and ``bulk`` sections (empty without --config)."""
    if not getattr(args, "config", None):
        return {}, {}
    loaded = load_config_file(args.config)
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
    given = vars(args)
    settings.update({k: given[k] for k in SEGMENT_FLAGS if k in given})
    required = (("models", "--model"),) if bulk else (("image", "--image"), ("models", "--model"), ("output", "--out"))
    for key, flag in required:
        if not settings.get(key):
            raise ConfigError(f"segment needs {flag} (or segment.{key} in the config file).")
    cfg = SegmentConfig.from_dict(settings)
    # the engine checks its own inputs; only the command line knows the config file
    check_outputs({"config file (--config)": getattr(args, "config", None)}, segment_files(cfg)[1])
    return cfg


def run_segment(args: argparse.Namespace) -> int:
    from ..segment import segment
    from .progress import TqdmCallback

    if is_bulk(args):
        return run_bulk(args, segment_config_from_args(args, bulk=True), _config_sections(args)[1])
    cfg = segment_config_from_args(args)
    with TqdmCallback(quiet=args.quiet) as callback:
        result = segment(cfg, callback)
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 0
    print(f"Classes: {result.output} ({result.width}x{result.height} px, style {result.qml})")
    if result.probabilities:
        print(f"Probabilities: {result.probabilities}")
    if result.polygons:
        print(f"Polygons: {result.polygons}")
    print(f"{result.pixels:,} pixels in {result.seconds:.1f} s ({result.pixels_per_second:,.0f} px/s) on "
          f"{result.device}")
    return 0


def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pred", dest="prediction", required=True, metavar="RASTER|DIR",
                   help="class raster written by segment, or a folder of them")
    p.add_argument("--label", required=True, metavar="LAYER|DIR",
                   help="label raster (any grid/CRS) or polygon layer, or a folder matched by file name")
    p.add_argument("--out", dest="output", default="metrics.json", metavar="metrics.json",
                   help="metrics JSON; <stem>.csv and <stem>_confusion.csv are written beside it")
    p.add_argument("--label-field", dest="label_field", metavar="FIELD",
                   help="vector label field with the class (default: every polygon is class 1)")
    p.add_argument("--label-map", dest="label_mapping", action="append", type=parse_label_map, metavar="VALUE=CLASS",
                   help="raw label value -> class (repeat, e.g. 90=1; default: values are classes)")
    p.add_argument("--num-classes", dest="num_classes", type=int,
                   help="default: from the prediction's category names")
    p.add_argument("--ignore-index", dest="ignore_index", type=int, default=255)
    p.add_argument("--dice", dest="per_image_dice", action="store_true", help="per-image Dice (foreground = 1)")
    p.add_argument("--rle-csv", dest="rle_csv", metavar="CSV",
                   help="write the run-length CSV (ImageId,EncodedPixels; row-major, 1-indexed, -1 = empty)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or messages")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON on stdout")


def run_evaluate(args: argparse.Namespace) -> int:
    from ..evaluate import evaluate
    from .progress import TqdmCallback

    cfg = EvaluateConfig(prediction=args.prediction, label=args.label, output=args.output,
                         label_field=args.label_field,
                         label_mapping=dict(args.label_mapping) if args.label_mapping else None,
                         num_classes=args.num_classes, ignore_index=args.ignore_index,
                         per_image_dice=args.per_image_dice, rle_csv=args.rle_csv)
    with TqdmCallback(quiet=args.quiet) as callback:
        metrics = evaluate(cfg, callback)
    if args.json:
        json.dump(metrics, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    names = metrics["class_names"]
    for name, iou, f1 in zip(names, metrics["iou"], metrics["f1"]):
        shown = "n/a" if iou is None else f"{iou:.4f}"
        print(f"{name}: IoU {shown}" + ("" if f1 is None else f", F1 {f1:.4f}"))
    print(f"mIoU {metrics['miou']:.4f}, pixel accuracy {metrics['pixel_accuracy']:.4f}"
          + (f", Dice {metrics['dice']:.4f}" if metrics.get("dice") is not None else ""))
    print(f"Metrics: {cfg.output}")
    return 0


COMMANDS = [
    Command("segment", "segment a scene with a model bundle (or an ensemble)", add_segment_arguments, run_segment,
            description=__doc__),
    Command("evaluate", "compare a class raster with a label raster or polygon layer", add_evaluate_arguments,
            run_evaluate, description=__doc__),
]
