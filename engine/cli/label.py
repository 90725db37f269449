"""``dualstream label --image IMG [--extent XMIN YMIN XMAX YMAX [--extent-crs CRS]] (--prompts LAYER | --text
WORDS) --model NAME --class-value N --out LABELS.gpkg``.

Segment Anything over one window of an image: every point of the prompts layer is a click (a field ``label`` of 0:
not the object; a field ``prompt`` groups points), every polygon's bounding box a box, a text (SAM 3) names what
to find. The polygons, cleaned like a segmentation's (buildings squared, specks dropped), are written with the
class value and the model's score, ready to add to the labels and ``train --init-from`` the current model.
"""

from __future__ import annotations

import argparse

from ..api import PromptedConfig, label_with_prompts
from .main import Command, say, say_json
from .options import given_settings, settings_arguments
from .progress import TqdmCallback

add_arguments = settings_arguments("label", "input and output", "label", json="print the answers as JSON on stdout")


def run(args: argparse.Namespace) -> int:
    cfg = PromptedConfig(**given_settings(args, "label"))
    with TqdmCallback(quiet=args.quiet) as callback:
        result = label_with_prompts(cfg, callback)
    answers = [{"prompt": number, "score": round(a.score, 4), "polygons": len(a.polygons),
                "seconds": round(a.seconds, 3)} for number, a in result.answers]
    if args.json:
        say_json({"output": result.output, "polygons": result.polygons, "embed_seconds": result.embed_seconds,
                  "answers": answers})
        return 0
    say(f"Labels: {result.output} ({result.polygons} polygon(s) from {len(result.answers)} answer(s); the window "
        f"embedded in {result.embed_seconds:.1f} s)")
    for a in answers:
        say(f"  prompt {a['prompt']}: score {a['score']:.3f}, {a['polygons']} polygon(s), {a['seconds']:.2f} s")
    return 0


COMMANDS = [Command("label", "label with Segment Anything: points, boxes or a text -> polygons", add_arguments, run,
                    description=__doc__)]
