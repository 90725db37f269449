"""The training's files on the way in and out: what it reads and writes, the word on an earlier run's checkpoint,
and what a stopped run says it kept (see trainer's module docstring for the files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import mention
from ..io.safety import Files, Paths, as_paths, every_file
from .checkpoint import RESUME, checkpoint_path
from .report import report_paths


def earlier_checkpoint(output: Path, checkpoint: Path, partial: Path) -> str | None:
    """The warning for a new training onto an output whose earlier run left a checkpoint; None if none did."""
    if not checkpoint.exists():
        return None
    best = f" and its best bundle so far '{partial}'" if partial.exists() else ""
    return (f"A checkpoint of an earlier training of '{output}' exists ('{checkpoint}'{best}): this new training "
            f"starts from scratch and replaces it. To go on from it instead, stop now and run the same command "
            f"with {RESUME}.")


def stopped(what: str, output: Path, checkpoint: Path, has_checkpoint: bool) -> str:
    """``what`` (canceled, interrupted), then where the checkpoint is and how to resume, or that there is none."""
    if has_checkpoint:
        return (f"{what}. The last checkpoint '{checkpoint}' is kept: run the same command with {RESUME} to go on "
                f"from it; nothing was written at '{output}'.")
    return (f"{what} before the first checkpoint: nothing was kept (no '{checkpoint}', nothing at '{output}'); "
            f"run it again to start over.")


def train_files(model_cfg: Any, data_cfg: Any, train_cfg: Any) -> tuple[dict[str, Paths | Files],
                                                                      dict[str, Paths | Files]]:
    """What ``train`` reads (scenes, data folder, pretrained folder) and writes (bundle, checkpoint, reports)."""
    inputs: dict[str, Paths | Files] = {
        f"data folder ({mention('data.data_dir')})": Files(data_cfg.data_dir, folder=True),
        f"pretrained weights ({mention('model.pretrained')})": every_file(model_cfg.pretrained),
        f"model to start from ({mention('train.init_from')})": every_file(getattr(train_cfg, "init_from", None))}
    for kind, scenes in (("", data_cfg.train_scenes), ("validation ", data_cfg.val_scenes)):
        # each file is named by the control that gives it: the scenes setting's part (--label, --val-aux; LABELS)
        scenes_key = f"data.{'val' if kind else 'train'}_scenes"
        for spec in scenes:
            for key in ("image", "after", "label", "aux", "aoi"):
                label = f"{kind}{key} of a scene ({mention(f'{scenes_key}#{key}')})"
                files = inputs.setdefault(label, Files([], give="a file, not a folder"))
                files.paths.extend(as_paths(getattr(spec, key)))  # type: ignore[union-attr]
    output = Path(train_cfg.output)
    outputs: dict[str, Paths | Files] = {
        f"model bundle ({mention('train.output')})": Files([str(output), f"{output}.partial"], "bundle"),
        # the checkpoint is rewritten by a resumed run on purpose; it is an output, never an input here
        f"training checkpoint ({mention('train.output')} + .ckpt)": str(checkpoint_path(output)),
        f"training report (beside {mention('train.output')})": list(report_paths(output).values()),
    }
    return inputs, outputs
