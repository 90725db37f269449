"""``dualstream export MODEL.dsmodel --onnx OUT.onnx --stac ITEM.json``: a bundle as an ONNX model for
onnxruntime and Deepness, and as a STAC MLM model card for catalogues.

The graph takes the normalised vision tensor (and the aux tensor when the model has aux) and returns class
probabilities; the file carries the metadata Deepness reads (model type, class names, resolution, tile size,
overlap, standardisation) and DualStream's own (for ``segment --backend onnxruntime``). The command checks the
export itself: onnxruntime against torch on random inputs, printing ``max abs diff ...`` (must be < 1e-4).
The STAC item (Machine Learning Model extension) lists the model's inputs, scaling, classes and files; with
``--onnx`` too, the ONNX file is one of its assets.
"""

from __future__ import annotations

import argparse

from ..api import PARITY_TOLERANCE, ConfigError, ExportConfig, export
from .main import Command, add_model_argument, model_argument, say, say_json
from .options import OptionGroups, add_result_flags, add_settings, given_settings
from .progress import TqdmCallback


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_argument(p, "model bundle (.dsmodel) to export")
    p.add_argument("--onnx", dest="output", metavar="OUT.onnx", help="ONNX file to write")
    p.add_argument("--stac", metavar="ITEM.json",
                   help="STAC item (Machine Learning Model extension) describing the bundle (and the ONNX file)")
    add_settings(OptionGroups(p), "export")
    add_result_flags(p, json="print the result as JSON on stdout")


def run(args: argparse.Namespace) -> int:
    args.model = model_argument(args)
    if not args.output and not args.stac:
        raise ConfigError("Nothing to export: give --onnx OUT.onnx, --stac ITEM.json, or both.")
    cfg = ExportConfig(**given_settings(args, "export"))
    with TqdmCallback(quiet=args.quiet) as callback:
        run_ = export(args.model, onnx=args.output, stac=args.stac, settings=cfg, callback=callback)
    result, quantized = run_.onnx, run_.int8
    if args.json:
        extra = ({"stac": run_.card} if run_.card else {}) | ({"int8": vars(quantized)} if quantized else {})
        say_json((result.to_dict() if result else {}) | extra)
        return 0
    if result:
        batch = "dynamic" if result.batch is None else result.batch
        say(f"ONNX model: {result.output} (opset {result.opset}, inputs {', '.join(result.inputs)}, tile "
              f"{result.tile_size} px, batch {batch})")
        say(f"Parity with torch: max abs diff {result.max_abs_diff:.2e} (allowed {PARITY_TOLERANCE:g})")
    if quantized:
        say(f"int8 against fp32 on random tiles: max abs diff {quantized.max_abs_diff:.3f}, same class on "
              f"{100 * quantized.same_class:.2f} % of pixels (check the IoU on your own labelled scenes)")
    if result and result.deepness_compatible:
        say("Deepness: loads it as a Segmentor with its class names, resolution, tile size and standardisation.")
    elif result:
        say(f"Deepness runs single-input models only; this one takes {_inputs_said(result.inputs)}. Run it with "
            f"`dualstream segment --backend onnxruntime --model {result.output} ...`.")
    if run_.card and not args.quiet:
        assets = "the bundle and the ONNX file" if args.output else "the bundle"
        say(f"STAC model card: {run_.card} (MLM extension; assets: {assets})")
    return 0


def _inputs_said(inputs: list[str]) -> str:
    """The graph's inputs in words: its dates (or image), the aux rasters, each tile's date and place."""
    dates = [name for name in inputs if name not in ("aux", "coords", "days", "valid")]
    said = [f"{len(dates)} dates, one input each ({', '.join(dates)})" if len(dates) > 1 else f"the image ({dates[0]})"
            if dates else "the image and aux channels stacked (one input)"]
    if "aux" in inputs:
        said.append("the aux rasters (aux)")
    if "days" in inputs:
        said.append("each date's day number and validity (days, valid)")
    if "coords" in inputs:
        said.append("each tile's date and place (coords: year, day of year, latitude, longitude)")
    return ", ".join(said[:-1]) + " and " + said[-1] if len(said) > 1 else said[0]


COMMANDS = [Command("export", "export a model bundle to ONNX (onnxruntime, Deepness) and a STAC MLM card",
                    add_arguments, run, description=__doc__)]
