"""The small object through which the engine reports progress and learns about cancellation.

The engine never prints progress itself: the CLI attaches a tqdm-backed callback, the QGIS plugin a
QgsProcessingFeedback-backed one, tests a recording one.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Callable

from .errors import CanceledError, render

logger = logging.getLogger("dualstream")


class Stage:
    """The stage names the engine reports progress under (``Callback.progress``'s ``stage``): the plugin gives each
    its share of the one progress bar and its text, the CLI a bar (a plain line in a log file) per stage."""

    BAND_STATISTICS = "band statistics"  # training: per-band statistics of the training tiles
    ENCODER_FEATURES = "encoder features"  # training: a frozen encoder's features of each tile, computed once
    TRAIN = "train"  # training steps, all epochs
    VALIDATE = "validate"  # the validation batches of one epoch
    SEGMENT = "segment"  # the tiles of one scene
    RESAMPLE = "resampling to the input grid"  # the resample mode's classes back onto the image grid
    POLYGONIZE = "polygonize"  # class raster -> polygons
    FINISH = "finishing outputs"  # overviews, styles, publishing
    EVALUATE = "evaluate"  # predictions compared with labels
    TILES = "tiles"  # bulk: the tiles of every scene
    SCENES = "scenes"  # bulk: scenes concluded
    DOWNLOAD = "download"  # ready models: bytes of a model file downloaded
    EXPORT = "ONNX export"  # a bundle exported to ONNX on its first run with onnxruntime: traced, checked, cached
    PROPOSE = "propose"  # propose: windows done, a window's share moving on as its model run, embedding, prompts end
    LABEL = "label"  # label: the window embedded (read, model loaded, embedded), then each prompt answered
    EMBED = "embed"  # Segment Anything's steps to a window's embedding: read, model loaded, embedded (3 of 3)


def time_left(seconds: float) -> str:
    """Seconds as ``H:MM:SS`` (the time-left figures of progress messages)."""
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def epoch_line(epoch: int, values: dict[str, Any]) -> str:
    """An epoch as a person reads it, the same in every front end:
    ``Epoch 3/10: training loss 0.412, validation loss 0.300, validation IoU 0.864 (best), 12 s``. ``values``: the
    trainer's record of the epoch (:meth:`Callback.metrics`), ``epochs`` (the run's last epoch) and ``best`` (the
    metric by which this epoch is the best so far, the one the bundle now holds)."""

    def number(key: str) -> float | None:
        value = values.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    parts = [f"{label} {value:.3f}{' (best)' if values.get('best') == key else ''}"
             for key, label in (("train_loss", "training loss"), ("val_loss", "validation loss"),
                                ("val_iou", "validation IoU")) if (value := number(key)) is not None]
    if (seconds := number("seconds")) is not None:
        parts.append(f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s" if seconds < 60
                     else f"{int(seconds // 60)} min {int(seconds % 60):02d} s")
    of = f"/{values['epochs']}" if values.get("epochs") else ""
    frozen = " (encoders frozen)" if values.get("stage") == "frozen" else ""
    return f"Epoch {epoch}{of}{frozen}: " + ", ".join(parts)


def stage_line(frozen: bool, cached: bool = False) -> str:
    """What a training says when its encoders are frozen or unfrozen: the warm-up's first stage, the second, or a
    frozen encoder whose cached features train the rest every epoch (no second stage follows)."""
    if cached:
        return "Frozen encoder: its cached features train the rest every epoch (no stage unfreezes it)."
    return "Stage 1: encoders frozen." if frozen else "Stage 2: all layers trained."


def epoch_status(stage: str, epoch: int, epochs: int) -> str:
    """The status line of a training, the same in every front end: ``Training: epoch 2/10`` while the epoch's
    steps run (``Stage.TRAIN``), ``Validating epoch 2/10`` while its validation does."""
    return f"{'Validating epoch' if stage == Stage.VALIDATE else 'Training: epoch'} {epoch}/{epochs}"


class Callback:
    """Base callback: logs messages through ``logging`` and never cancels. All methods must be cheap: they are
    called every step. Messages may name settings (:func:`engine.errors.mention`): a front end's callback renders
    them as its own controls, this one as the settings' names."""

    def progress(self, done: float, total: float, stage: str = "") -> None:
        """Report that ``done`` of ``total`` units of the current ``stage`` are finished."""

    def info(self, message: str) -> None:
        logger.info(render(message))

    def warning(self, message: str) -> None:
        logger.warning(render(message))

    def progress_line(self, message: str) -> None:
        """A line saying how far a long step has come (a download's share, size and speed), as :meth:`info` here: a
        front end that shows only the last lines said keeps these out of them by this channel, not their wording."""
        self.info(message)

    def metrics(self, epoch: int, values: dict[str, Any]) -> None:
        """End-of-epoch metrics (see :func:`epoch_line`)."""
        self.info(epoch_line(epoch, values))

    def epoch_started(self, epoch: int, epochs: int) -> None:
        """A training epoch's steps start (its validation follows them, under ``Stage.VALIDATE``): a front end
        that shows a status line says :func:`epoch_status` of ``Stage.TRAIN`` now, before its first step ends."""

    def is_canceled(self) -> bool:
        return False

    def check_canceled(self) -> None:
        if self.is_canceled():
            raise CanceledError("Canceled by the user.")


def warn(callback: Callback, warnings: list[str] | None, message: str) -> None:
    """``message`` said as a warning and kept in ``warnings`` (the result's and a bulk run's summary's)."""
    if warnings is not None:
        warnings.append(message)
    callback.warning(message)


class ForwardingCallback(Callback):
    """Passes everything on to ``inner``: a wrapper overrides only what it changes."""

    def __init__(self, inner: Callback):
        self.inner = inner


def _forwarded(name: str) -> Callable[..., Any]:
    return lambda self, *args, **kwargs: getattr(self.inner, name)(*args, **kwargs)


for _name in [name for name, value in vars(Callback).items() if callable(value) and not name.startswith("_")]:
    setattr(ForwardingCallback, _name, _forwarded(_name))


class RenamedCallback(ForwardingCallback):
    """``inner`` told everything, each message through ``rename`` first (a relayed run, a training's named layers)."""

    def __init__(self, inner: Callback, rename: Callable[[str], str]):
        super().__init__(inner)
        self.rename = rename

    def info(self, message: str) -> None:
        self.inner.info(self.rename(message))

    def warning(self, message: str) -> None:
        self.inner.warning(self.rename(message))

    def progress_line(self, message: str) -> None:
        self.inner.progress_line(self.rename(message))


class HeldCallback(ForwardingCallback):
    """Holds the info and warning lines back until :meth:`release` passes them on (or :meth:`drop` forgets them):
    for a pass that may be done again, whose lines are said once, by the pass that counts."""

    def __init__(self, inner: Callback):
        super().__init__(inner)
        self.held: list[tuple[str, str]] = []

    def info(self, message: str) -> None:
        self.held.append(("info", message))

    def warning(self, message: str) -> None:
        self.held.append(("warning", message))

    def release(self) -> None:
        for kind, message in self.held:
            getattr(self.inner, kind)(message)
        self.held = []

    def drop(self) -> None:
        self.held = []


class CondensedCallback(ForwardingCallback):
    """Passes on the first ``keep`` info or warning lines of each shape (the line with its quoted names and numbers
    left out: one per scene of a dataset of hundreds), counts the rest, and :meth:`finish` says how many there were;
    after it, every line passes."""

    def __init__(self, inner: Callback, keep: int = 3, each: str = "scene"):
        super().__init__(inner)
        self.keep, self.finished, self.each = keep, False, each
        self.seen: dict[tuple[str, str], int] = {}

    def _passes(self, kind: str, message: str) -> bool:
        if self.finished:  # the readers keep it: what they say later passes whole
            return True
        shape = (kind, re.sub(r"'[^']*'|\d+(\.\d+)?", "", message))
        self.seen[shape] = self.seen.get(shape, 0) + 1
        return self.seen[shape] <= self.keep

    def info(self, message: str) -> None:
        if self._passes("info", message):
            self.inner.info(message)

    def warning(self, message: str) -> None:
        if self._passes("warning", message):
            self.inner.warning(message)

    def finish(self) -> None:
        """One line for each shape of which lines were left out."""
        for (kind, shape), count in self.seen.items():
            if count > self.keep:
                getattr(self.inner, kind)(f"... and {count - self.keep} more line(s) like the last {self.keep} "
                                          f"above (one a {self.each}).")
        self.seen, self.finished = {}, True


class QuietCallback(Callback):
    """Says nothing and never cancels (benchmarks and scripts that print their own summary)."""

    def info(self, message: str) -> None:
        pass

    warning = info


class PartProgress(ForwardingCallback):
    """``inner`` told one count (``stage``) of ``count`` parts while part ``index`` runs: the progress of an inner
    stage named in ``shares`` (``{stage: (start, end)}``, fractions of the part) moves the part on, so a front end
    shows one bar that moves through the inner work instead of a bar per inner stage, each restarting; a download
    (``Stage.DOWNLOAD``, a model's weights fetched on first use) is passed on as it is, any other stage held back."""

    def __init__(self, inner: Callback, stage: str, index: int, count: int,
                 shares: dict[str, tuple[float, float]]):
        super().__init__(inner)
        self.stage, self.index, self.count, self.shares = stage, index, count, shares

    def at(self, fraction: float) -> None:
        """This part ``fraction`` (0-1) done."""
        stage = self.stage  # the count the caller named (the stage check reads the name ``stage``)
        self.inner.progress(self.index + min(1.0, max(0.0, fraction)), self.count, stage)

    def progress(self, done: float, total: float, stage: str = "") -> None:
        if stage == Stage.DOWNLOAD:
            self.inner.progress(done, total, stage)
        elif stage in self.shares and total > 0:
            start, end = self.shares[stage]
            self.at(start + (end - start) * min(1.0, done / total))
