"""``dualstream import MODEL.onnx``: wrap an ONNX segmentation model made elsewhere in a .dsmodel bundle."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..api import describe_model, description_values, import_model
from .main import Command, say
from .progress import TqdmCallback

DESCRIPTION = """Wrap an ONNX segmentation model made by another tool (Deepness's model zoo, a PyTorch or
TensorFlow export) in a .dsmodel bundle: segment (every output, bulk), evaluate, describe, the model card and
QGIS then take it like a model trained here. Its description (bands and their scaling, classes, tile size) is
read from Deepness's metadata in the file when it has them, then from a sidecar MODEL.json (or
--description FILE), then from the options below, each over the one before. The graph's input is
(raw * scale - mean) / std per band."""


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got '{text}'") from exc


def _names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


# option -> (ImportedDescription field, type, metavar, help)
OPTIONS: dict[str, tuple[str, Any, str, str]] = {
    "--band-count": ("bands", int, "N", "how many input bands the graph takes (was --bands, which now names bands "
                                        "in segment and train)"),
    "--band-names": ("band_names", _names, "B1,B2,...", "the bands in the order the graph takes them"),
    "--mean": ("mean", _floats, "M1,M2,...", "per band, subtracted after scaling"),
    "--std": ("std", _floats, "S1,S2,...", "per band, divided by after the mean"),
    "--value-range": ("value_range", _floats, "LOW,HIGH", "the raw values the graph expects, e.g. 0,1 for "
                                                         "reflectance or 0,10000 for digital numbers: segment rescales "
                                                         "or warns about inputs far outside it"),
    "--scale": ("scale", float, "FACTOR", "raw values are multiplied by this first (e.g. 0.0001 for "
                                          "reflectance stored as 0-10000; Deepness models: 1/255)"),
    "--classes": ("class_names", _names, "NAME,NAME,...", "one per output channel (one channel: background, "
                                                          "foreground)"),
    "--colors": ("class_colors", _names, "#RRGGBB,...", "one per class"),
    "--tile": ("tile_size", int, "PX", "tile size (a graph with a fixed size takes only that)"),
    "--overlap": ("overlap", float, "FRACTION", "overlap of neighbouring tiles, as a fraction of the tile"),
    "--border": ("border", int, "PX", "pixels its maker mirrored the scene by before tiling (segment's default "
                                      "--border for it)"),
    "--output-kind": ("output", str, "KIND", "what the output holds: probabilities, logits (softmax, or "
                                             "sigmoid for one channel, then applied) or scores (per class, 0..1: "
                                             "the highest at or above --threshold, class 0 where none is, as "
                                             "Deepness reads them)"),
    "--threshold": ("threshold", float, "P", "threshold its maker suggests for a one-channel output"),
    "--layout": ("layout", str, "NCHW|NHWC", "axis order of the graph's input and output"),
    "--input-name": ("input_name", str, "NAME", "the graph input to feed (default: its first)"),
    "--output-name": ("output_name", str, "NAME", "the graph output holding the class scores (default: its "
                                                  "first)"),
    "--resolution": ("resolution", float, "M", "metres per pixel the model was made for"),
    "--name": ("name", str, "TEXT", "what the model is"),
    "--task": ("task", str, "TEXT", "e.g. cloud masking"),
    "--sensor": ("sensor", str, "TEXT", "e.g. Sentinel-2 L1C"),
    "--source": ("source", str, "TEXT", "where it comes from (a link)"),
    "--licence": ("licence", str, "TEXT", "its licence"),
}

ALIASES = {"--output-kind": ("--scores",)}  # the older spelling still works


def add_import_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("onnx", metavar="MODEL.onnx", help="the ONNX model to import")
    p.add_argument("--output", "-o", metavar="OUT.dsmodel", help="the bundle to write (default: MODEL.dsmodel "
                                                                 "beside the ONNX file)")
    p.add_argument("--description", metavar="FILE.json", help="its description as a JSON object of the keys "
                                                             "below (bands, class_names, mean, std, scale, ...)")
    group = p.add_argument_group("description (each overrides what the file or the sidecar says)")
    for flag, (field, kind, metavar, text) in OPTIONS.items():
        group.add_argument(flag, *ALIASES.get(flag, ()), dest=f"describe_{field}", type=kind, metavar=metavar,
                           default=None, help=text)
    # the old spelling of --band-count, kept working: --bands names bands everywhere else
    p.add_argument("--bands", dest="deprecated_bands", type=int, default=None, help=argparse.SUPPRESS)


def run_import(args: argparse.Namespace) -> int:
    changes = description_values(args.description, "--description") if args.description else {}
    names = {key: f"{args.description}: `{key}`" for key in changes}  # errors name the file and its key
    for flag, (field, *_) in OPTIONS.items():
        if (value := getattr(args, f"describe_{field}")) is not None:  # a flag over the file: errors name the flag
            changes[field], names[field] = value, flag
    if args.deprecated_bands is not None:
        print(f"note: `import --bands {args.deprecated_bands}` is deprecated; write `--band-count "
              f"{args.deprecated_bands}` (--bands names bands in segment and train).", file=sys.stderr)
        if names.get("bands") != "--band-count":
            changes["bands"], names["bands"] = args.deprecated_bands, "--bands"
    output = args.output or str(Path(args.onnx).with_suffix(".dsmodel"))
    with TqdmCallback() as callback:
        result = import_model(args.onnx, output, None, changes, callback, output_name="--output", names=names)
    say("\n".join(describe_model(result.path)))
    say(f"Written: {result.path}")
    return 0


COMMANDS = [Command("import", "wrap an ONNX model made elsewhere (Deepness's format or described here) in a "
                              ".dsmodel bundle", add_import_arguments, run_import, DESCRIPTION)]
