"""The training's files on the way in and out: the destination checked before any work, the word on an
earlier run's checkpoint, and what a stopped run says it kept (see trainer's module docstring for the files)."""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError, setting
from .checkpoint import RESUME


def check_destination(output: Path) -> None:
    """The bundle's folder (or, when training will create it, its nearest existing parent) takes files: a
    read-only destination is said before the data is read, not after the first epoch."""
    from ..io.writers import check_writable

    what = f"model bundle ({setting('train.output')})"
    folder = output.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if folder == output.parent:
        check_writable(output, what)
        return
    try:
        check_writable(folder / output.name, what)
    except DataError as exc:
        raise DataError(f"The {what} '{output}' cannot be written: its folder would be made in '{folder}', "
                        f"which is not writable. Choose a writable destination.") from exc


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
