"""Bridge from the engine's Callback to QGIS's QgsProcessingFeedback: one progress bar per run, a log a person
reads, cancellation.

The engine reports progress per stage (``engine.callbacks.Stage``: band statistics, train, validate, segment, ...),
each from 0 to its own total. Shown as is, every stage restarts the bar (Train reached 100 % at the first
validation). Here each algorithm gives the stages their share of the one bar (:class:`Stages`), the bar only
moves forward, and training counts validation batches as work beside the training steps.
"""

from __future__ import annotations

import math
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from qgis.core import QgsApplication, QgsProcessingException, QgsProcessingFeedback, QgsTask

from .engine_bridge import engine_api

T = TypeVar("T")


def parameter_name(key: str) -> str:
    """How QGIS names the engine setting ``key`` in messages: its parameter ('Tile size (pixels)' (TILE_SIZE)),
    or the setting's own name where no dialog offers it; a command (``segment``) by its algorithm's name."""
    base, _, part = key.partition("#")
    if "." not in base and not part:  # a command (engine.errors.command): its algorithm, as the toolbox names it
        named = engine_api().COMMANDS.get(base)
        algorithm = QgsApplication.processingRegistry().algorithmById(
            f"dualstream:{named.algorithm if named else base}")
        if algorithm is not None:
            return algorithm.displayName()
    found = engine_api().find_setting(base)
    if part and found is not None and found.param == "INPUT":  # a part of the Train dialog's scene: its parameter
        found = engine_api().find_setting(f"scene.{part}") or found
    if found is None or found.param is None:
        return engine_api().plain_name(key)
    return f"'{found.decl.label}' ({found.param})"


def run_engine(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call an engine function, turning engine errors into QgsProcessingException with the same message, the
    settings it names written as this dialog's parameters."""
    api = engine_api()
    try:
        return in_engine_thread(func, *args, **kwargs)
    except api.CanceledError as exc:
        raise QgsProcessingException(f"Canceled: {exc.render(parameter_name)}") from exc
    except api.DualStreamError as exc:
        raise QgsProcessingException(exc.render(parameter_name)) from exc


def torch_needs_python_thread() -> bool:
    """Whether engine work must leave this thread: under Python >= 3.13, torch (2.6, Debian trixie's QGIS 3.40)
    kills QGIS with "_PyThreadState_Attach: non-NULL old thread state" or a segfault when it takes the GIL in a
    thread Python did not start, such as the one a Processing dialog runs its algorithm in."""
    return sys.version_info >= (3, 13) and isinstance(threading.current_thread(), threading._DummyThread)


def in_engine_thread(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``func(*args, **kwargs)`` run here, or, where :func:`torch_needs_python_thread`, in a thread Python starts:
    what every call into the engine from a thread QGIS started goes through (a Processing dialog's, a task's)."""
    return in_python_thread(func, *args, **kwargs) if torch_needs_python_thread() else func(*args, **kwargs)


def engine_task(description: str, func: Callable[[], T], on_finished: Callable[..., None]) -> QgsTask:
    """A background task of ``func`` (the panel's embedding and answers, a STAC item's layer): a QgsTask runs in a
    thread of QGIS's pool, which Python did not start, so its engine work goes through :func:`in_engine_thread`, as
    a Processing algorithm's does; ``on_finished(exception, result)`` runs in the GUI thread."""
    return QgsTask.fromFunction(description, lambda _task: in_engine_thread(func), on_finished=on_finished)


def in_python_thread(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``func(*args, **kwargs)`` in a thread Python starts, waited for here; its result or its exception."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = func(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread as it was
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="dualstream-engine", daemon=True)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome.pop("error")
    return outcome["value"]


def render_message(message: str) -> str:
    """An engine message with the settings it names written as the dialogs' parameters, and the names from files
    it quotes made inert (no control characters reach the log or the terminal of a qgis_process run)."""
    api = engine_api()
    return api.printable(api.render(message, parameter_name), lines=True)

Callback = engine_api().Callback
Stage = engine_api().Stage

#: What the engine's stages read like in the dialog's progress text.
STAGE_TEXT = {
    Stage.BAND_STATISTICS: "Computing band statistics",
    Stage.ENCODER_FEATURES: "Computing the frozen encoder's features",
    Stage.TRAIN: "Training",
    Stage.VALIDATE: "Validating",
    Stage.SEGMENT: "Segmenting tiles",
    Stage.RESAMPLE: "Resampling to the input grid",
    Stage.POLYGONIZE: "Writing polygons",
    Stage.FINISH: "Finishing outputs",
    Stage.EVALUATE: "Comparing with the labels",
    Stage.DOWNLOAD: "Downloading the model",
    Stage.EXPORT: "Exporting the model to ONNX for onnxruntime (once: then cached) and checking it against torch",
    Stage.PROPOSE: "Proposing labels, window by window",
    Stage.LABEL: "Labelling with Segment Anything",
}


@dataclass
class Stages:
    """Share of the run's progress bar per engine stage: ``{stage: (start %, end %)}``.

    A stage not listed only changes the progress text. ``epochs`` (training): validation batches count as work
    beside the training steps, so the bar reaches 100 % only after the last epoch's validation. ``interludes``: a
    stage that comes in the middle of the others (Segment Anything's weights downloaded inside Propose or Label)
    moves the bar through its share of what is left, instead of only changing the text.
    """

    windows: dict[str, tuple[float, float]] = field(default_factory=dict)
    epochs: int | None = None
    #: stages that may come in the middle of another, each taking a share of the bar left when it starts (a model's
    #: download on its first use); what is left after it goes to the stages of ``windows``, squeezed.
    interludes: dict[str, float] = field(default_factory=dict)


#: A model's download on its first use, inside a run: half of the bar left when it starts (a download of Segment
#: Anything's weights takes minutes on a slow line; no front end knows beforehand whether one comes).
DOWNLOAD_INTERLUDE = {Stage.DOWNLOAD: 0.5}
#: A bundle's ONNX export on its first run with onnxruntime (seconds, before its first tile): a quarter of the bar
#: left when it starts, so the bar moves while it is made and checked.
EXPORT_INTERLUDE = {Stage.EXPORT: 0.25}

#: Windows of the algorithms (their stages in the order the engine runs them).
PROPOSE_STAGES = {Stage.PROPOSE: (0.0, 100.0)}
LABEL_STAGES = {Stage.LABEL: (0.0, 100.0)}
TRAIN_STAGES = {Stage.BAND_STATISTICS: (0.0, 5.0), Stage.TRAIN: (5.0, 99.0)}
SEGMENT_STAGES = {Stage.SEGMENT: (0.0, 88.0), Stage.RESAMPLE: (88.0, 92.0), Stage.FINISH: (92.0, 100.0),
                  Stage.POLYGONIZE: (93.0, 99.0)}
EVALUATE_STAGES = {Stage.EVALUATE: (0.0, 100.0)}


class FeedbackCallback(Callback):
    """Engine callback that reports to a Processing feedback object (see the module docstring)."""

    def __init__(self, feedback: QgsProcessingFeedback | None = None, stages: Stages | None = None):
        self.feedback = feedback if feedback is not None else QgsProcessingFeedback()
        self.stages = stages or Stages()
        self._text: str | None = None
        self._shown: set[str] = set()
        self._percent = 0.0
        # interludes: (its stage, the bar where it starts, where it ends) while one runs; the stages of the windows
        # map their own percentage `raw` onto the bar as bar_at + (raw - raw_at) * (100 - bar_at) / (100 - raw_at)
        self._interlude: tuple[str, float, float] | None = None
        self._raw, self._raw_at, self._bar_at = 0.0, 0.0, 0.0
        # training: steps of all epochs (from "train"), batches of one validation (from "validate")
        self._train_done = 0.0
        self._train_total = 0.0
        self._val_batches = 0.0
        self._epoch = self._epochs = 0  # the epoch the engine said started, of how many (0: none yet)

    # -------------------------------------------------------------------------------------------- progress
    def progress(self, done: float, total: float, stage: str = "") -> None:
        if total <= 0:
            return
        fraction = max(0.0, min(1.0, float(done) / float(total)))
        if self.stages.epochs and stage in (Stage.TRAIN, Stage.VALIDATE):
            self._training_progress(stage, float(done), float(total))
            return
        text = self._stage_text(stage)
        if stage in self.stages.interludes:
            self._interlude_progress(stage, text, fraction)
            return
        resumed = self._interlude is not None and stage in self.stages.windows
        if resumed:  # the interlude is over: the rest of the bar goes to the stages of the windows
            self._interlude = None
            self._raw_at, self._bar_at = self._raw, self._percent
            self._set_text(text)  # announced again: the text still said the interlude
        if text not in self._shown:  # each stage once: a stage resumed after another one is not announced again
            self._shown.add(text)
            self._set_text(text)
        if stage in self.stages.windows:
            start, end = self.stages.windows[stage]
            self._advance_raw(start + (end - start) * fraction)
        elif not self.stages.windows:
            self._advance(100.0 * fraction)

    def _interlude_progress(self, stage: str, text: str, fraction: float) -> None:
        """An interlude's ``fraction`` (0-1) on its share of the bar, taken from what was left when it started."""
        if self._interlude is None or self._interlude[0] != stage:
            start = self._percent
            self._interlude = (stage, start, start + self.stages.interludes[stage] * (100.0 - start))
            self._set_text(text)
        _stage, start, end = self._interlude
        self._advance(start + (end - start) * fraction)

    def _advance_raw(self, raw: float) -> None:
        """The stages of the windows at ``raw`` percent of their own: on the bar, squeezed past the interludes."""
        self._raw = max(self._raw, raw)
        if self._raw_at >= 100.0:
            self._advance(100.0)
            return
        self._advance(self._bar_at + (raw - self._raw_at) * (100.0 - self._bar_at) / (100.0 - self._raw_at))

    def _training_progress(self, stage: str, done: float, total: float) -> None:
        epochs = self.stages.epochs or 1
        if stage == Stage.TRAIN:
            self._train_done, self._train_total = done, total
        else:
            self._val_batches = total
        # The epoch trained or validated now, from the step count (the last step of epoch 2 is epoch 2's, and a
        # resumed run's steps start past the earlier epochs); every epoch before it has been validated.
        epoch = 1
        if self._epoch:  # the engine says which epoch runs (a time budget's seconds tell no epoch)
            epoch, epochs = self._epoch, self._epochs
        elif self._train_total:
            epoch = min(epochs, max(1, math.ceil(self._train_done * epochs / self._train_total)))
        self._set_text(engine_api().epoch_status(stage, epoch, epochs))
        units = self._train_total + epochs * self._val_batches
        if units > 0:
            start, end = self.stages.windows.get(Stage.TRAIN, (0.0, 100.0))
            validating = done if stage == Stage.VALIDATE else 0.0
            done_units = self._train_done + (epoch - 1) * self._val_batches + validating
            self._advance(start + (end - start) * done_units / units)

    def epoch_started(self, epoch: int, epochs: int) -> None:
        """An epoch's steps start: the status line leaves the last validation at once."""
        self._epoch, self._epochs = int(epoch), int(epochs)
        self._set_text(engine_api().epoch_status(Stage.TRAIN, self._epoch, int(epochs)))

    def _advance(self, percent: float) -> None:
        """Move the bar forward only: a later stage never sends it back."""
        if percent > self._percent:
            self._percent = min(100.0, percent)
            self.feedback.setProgress(self._percent)

    @staticmethod
    def _stage_text(stage: str) -> str:
        # no counts: the dialog copies every new progress text into its log
        return STAGE_TEXT.get(stage, stage[:1].upper() + stage[1:])

    def _set_text(self, text: str) -> None:
        if text and text != self._text:
            self._text = text
            self.feedback.setProgressText(text)

    # ------------------------------------------------------------------------------------------------- log
    def info(self, message: str) -> None:
        self.feedback.pushInfo(render_message(message))

    def warning(self, message: str) -> None:
        self.feedback.pushWarning(render_message(message))

    def metrics(self, epoch: int, values: dict[str, Any]) -> None:
        """One line per epoch, as the command line writes it: "Epoch 3/10: training loss 0.412, ..."."""
        self.feedback.pushInfo(engine_api().epoch_line(epoch, values))

    def is_canceled(self) -> bool:
        return bool(self.feedback.isCanceled())

