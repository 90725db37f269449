"""``dualstream propose --windows SUGGEST.gpkg --model M [--sam NAME | --text WORDS] --out PROPOSALS.gpkg`` and
``dualstream accept --proposals PROPOSALS.gpkg --windows SUGGEST.gpkg --window RANK ... --labels LABELS.gpkg
--labelled-area AREA.gpkg``: the labelling loop after ``suggest``.

``propose`` segments each suggested window with the current model, turns each predicted blob into a box prompt
and lets Segment Anything draw it: one layer of candidate labels (window, class_id, model_prob, sam_score). Look at
it, delete or redraw what is wrong, then ``accept`` the windows you checked: their polygons are appended to your
labels, the windows to the labelled area, ready for ``train --init-from``.
"""

from __future__ import annotations

import argparse

from ..api import READING_GROUP, UNITS_GROUP, AcceptConfig, ProposeConfig, accept, propose, render
from .main import Command, say, say_json
from .options import flag_name, given_settings, settings_arguments
from .progress import TqdmCallback

add_propose_arguments = settings_arguments("propose", "input and output", READING_GROUP, UNITS_GROUP, "propose",
                                           json="print the proposals per window as JSON on stdout")


def run_propose(args: argparse.Namespace) -> int:
    cfg = ProposeConfig(**given_settings(args, "propose"))
    with TqdmCallback(quiet=args.quiet) as callback:
        result = propose(cfg, callback)
        for note in result.notes:
            callback.warning(note)
    windows = [{"window": rank, "blobs": blobs, "polygons": count} for rank, blobs, count in result.windows]
    if args.json:
        say_json({"output": result.output, "polygons": len(result.proposals), "windows": windows,
                  "next_step": render(result.next_step, flag_name)})
        return 0
    say(f"Proposed labels: {result.output} ({len(result.proposals)} polygon(s) in {len(windows)} window(s))")
    for w in windows:
        say(f"  window {w['window']:>3}: {w['blobs']} blob(s) of the model -> {w['polygons']} polygon(s)")
    say(render(result.next_step, flag_name))
    return 0


add_accept_arguments = settings_arguments("accept", "input and output")


def run_accept(args: argparse.Namespace) -> int:
    cfg = AcceptConfig(**given_settings(args, "accept"))
    result = accept(cfg)
    say(f"Accepted window(s) {', '.join(map(str, result.windows))}: {len(result.polygons)} polygon(s) appended to "
        f"{result.labels}, {len(result.windows)} window(s) to {result.labelled_area}")
    for note in result.notes:
        say(f"  {note}")
    if not args.quiet:
        say(render(result.next_step, flag_name))
    return 0


COMMANDS = [Command("propose", "candidate labels in suggested windows: the model's blobs refined by Segment Anything",
                    add_propose_arguments, run_propose, description=__doc__),
            Command("accept", "accept proposed labels: append windows' polygons to the labels and labelled area",
                    add_accept_arguments, run_accept, description=__doc__)]
