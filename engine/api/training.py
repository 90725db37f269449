"""``train``: a model bundle from rasters and labels, the same run whichever front end asked.

A front end gathers the settings the user gave into sections (``model``, ``data``, ``train``: a config file, flags
or Processing parameters), makes a :class:`TrainRequest` with :func:`train_request`, has the unset settings chosen
with :func:`plan_training` (each choice a line it shows), then runs :func:`train` with its callback.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from ..callbacks import RenamedCallback
from ..config import DataConfig, TrainConfig, fill_class_colors
from ..data.shown import named_errors, renamer, scene_names
from ..errors import ConfigError, mention, plain_name
from ..imagery.door import shown_web, web_windows
from ..io.locations import is_web_description
from ..models import AutoModelConfig, ModelConfig
from .protocol import Callback

__all__ = ["TrainPlan", "TrainRequest", "TrainRun", "is_main_process", "plan_training", "train", "train_request"]


@dataclass
class TrainRequest:
    """A training run as the user asked for it: the checked settings; those not in ``given`` (``section.field``)
    of ``AUTO_SETTINGS`` are still chosen (:func:`plan_training`)."""

    model: ModelConfig
    data: DataConfig
    train: TrainConfig
    given: frozenset[str] = frozenset()
    report_copy: str | None = None  # a copy of the HTML report besides the one beside the bundle
    # files the front end read that training never sees ({"config file (--config)": path}), protected all the same
    other_inputs: dict[str, str | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what making the request adjusted, said when the run starts


def train_request(sections: Mapping[str, Mapping[str, Any]], given: Collection[str] = (), *,
                  report_copy: str | None = None, other_inputs: Mapping[str, str | None] | None = None
                  ) -> TrainRequest:
    """The checked request from the settings sections a front end gathered. One seed drives data sampling and
    training (the train section's); class colours are fitted to the class names (a note says so when the user's
    did not match). Refuses a request without an output bundle or training data, or with both a dataset folder and
    explicit scenes."""
    model, data, train = (dict(sections.get(name) or {}) for name in ("model", "data", "train"))
    notes = []
    if "seed" in train:
        data["seed"] = train["seed"]
    names, colors = data.get("class_names"), list(data.get("class_colors") or [])
    if names and "data.class_colors" not in given:  # the default colours: from the names where they have usual ones
        colors = []
    if names and len(colors) != len(names):
        data["class_colors"] = fill_class_colors(colors, len(names), names)
        if "data.class_colors" in given:
            notes.append(f"{mention('data.class_colors')}: {len(colors)} colour(s) for {len(names)} classes; using "
                         f"{','.join(data['class_colors'])}.")
    if not train.get("output"):
        raise ConfigError(f"train needs the model bundle to write: give {mention('train.output')} (a .dsmodel "
                          f"file).")
    if not data.get("data_dir") and not data.get("train_scenes"):
        raise ConfigError(f"train needs data: give {mention('data.data_dir')} (a folder in the reference layout) or "
                          f"explicit scenes ({mention('data.train_scenes')}: an image with its labels and aux "
                          f"rasters).")
    if data.get("data_dir") and data.get("train_scenes"):
        raise ConfigError(f"give either {mention('data.data_dir')} or explicit scenes "
                          f"({mention('data.train_scenes')}), not both.")
    return TrainRequest(AutoModelConfig.from_dict(model), DataConfig.from_dict(data), TrainConfig.from_dict(train),
                        frozenset(given), report_copy, dict(other_inputs or {}), notes)


@dataclass
class TrainPlan:
    """A request with its unset settings chosen from the data and the device (:func:`plan_training`)."""

    request: TrainRequest
    chosen: Any  # engine.training.auto.Chosen

    @property
    def epochs(self) -> int | None:
        """Epochs the progress bar spans; None under a time budget, where the epochs are only an upper bound."""
        cfg = self.chosen.train
        return None if cfg.time_budget else cfg.total_epochs

    def lines(self, name: Callable[[str], str] = plain_name, assign: str = " ", sep: str = " ") -> list[str]:
        """One line per choice, naming the settings as the front end does (``--tile-size 192``)."""
        return self.chosen.lines(name, assign, sep)


def plan_training(request: TrainRequest) -> TrainPlan:
    """Check every input and output of the run, then choose the unset settings (before any data is read: a tile
    that cannot fit fails here, and so does a frozen encoder left with random weights unasked)."""
    from ..imagery.stac_assets import stac_scenes
    from ..io.safety import check_outputs, file_identity
    from ..training.auto import choose_settings
    from ..training.checkpoint import resumed_choices
    from ..training.outputs import train_files
    from ..training.preflight import check_frozen_weights
    from ..training.report import report_paths

    inputs, outputs = train_files(request.model, request.data, request.train)
    copy = request.report_copy
    if copy and file_identity(copy) != file_identity(report_paths(request.train.output)["report_html"]):
        outputs = {**outputs, "training report copy": copy}
    check_outputs({**inputs, **request.other_inputs}, outputs)
    data = stac_scenes(_web_scenes(_season_scenes(request)), keep_items=True)
    with named_errors(scene_names(data)):  # the layers as the user gave them, not the files read
        chosen = choose_settings(request.model, data, request.train, request.given)
    resumed_choices(chosen, (request.model, data, request.train), request.given)  # an upgrade's choices wait
    check_frozen_weights(chosen.model, chosen.train)  # frozen random weights only when asked for
    return TrainPlan(request, chosen)


def _season_scenes(request: TrainRequest) -> TrainRequest:
    """The request with each scene given by its dates (``--dates``) as its image and later dates in time order
    (``imagery.season``); the VRTs of clouds and stacks kept in ``<bundle>_season/`` beside the bundle; what was
    found is said when the run starts (``request.notes``)."""
    from ..imagery.season import season_folder, season_scene

    data = request.data
    if not any(scene.dates for scene in [*data.train_scenes, *data.val_scenes]):
        return request
    folder = season_folder(request.train.output)

    class Notes(Callback):
        def info(self, message: str) -> None:
            request.notes.append(message)

        def warning(self, message: str) -> None:
            request.notes.append(message)

    def read(scene: Any) -> Any:
        return season_scene(scene, folder, Notes()) if scene.dates else scene

    return dataclasses.replace(request, data=dataclasses.replace(
        data, train_scenes=[read(s) for s in data.train_scenes], val_scenes=[read(s) for s in data.val_scenes]))


def _web_scenes(request: TrainRequest) -> DataConfig:
    """The data with each scene's web layers read through the image door over the scene's extent at the pixel size
    for web layers, their windows kept in ``<bundle>_web/`` beside the bundle, which names its scenes; what was
    read is said when the run starts (``request.notes``)."""
    data = request.data
    scenes = {"train_scenes": data.train_scenes, "val_scenes": data.val_scenes}
    if not any(is_web_description(source) for group in scenes.values() for scene in group
               for source in [scene.image, *scene.after, *scene.aux]):
        return data
    output = Path(request.train.output)

    class Notes(Callback):
        def info(self, message: str) -> None:
            request.notes.append(message)

    def read(scene: Any) -> Any:
        dates = [scene.image, *scene.after]  # a change scene's later dates: over the same window
        given = [*dates, *scene.aux]
        windows = web_windows(given, scene.extent, scene.extent_crs, data.pixel_size,
                              output.with_name(f"{output.stem}_web"), Notes(), extent_key="scene.extent",
                              size_key="data.pixel_size")
        # the run's messages name each window's layer as the user gave it, never the window (engine.data.shown)
        names = {**scene.names, **{window: shown_web(source) for source, window in zip(given, windows)
                                   if window != source}}
        return dataclasses.replace(scene, image=windows[0], after=windows[1:len(dates)], aux=windows[len(dates):],
                                   names=names)

    return dataclasses.replace(data, **{name: [read(scene) for scene in group] for name, group in scenes.items()})


@dataclass
class TrainRun:
    """What a training run produced: the trainer's result, the report a front end shows, the choices made."""

    result: Any  # engine.training.outputs.TrainResult
    report: str | None
    plan: TrainPlan

    def budget_line(self, name: Callable[[str], str] = plain_name) -> str | None:
        """Why training stopped before its epochs, when the time budget ended it."""
        if not self.result.stopped_at_budget:
            return None
        budget = self.plan.chosen.train.time_budget
        return (f"Stopped at the time budget ({budget:.3g} min); a larger {name('train.time_budget')} (also with "
                f"{name('train.resume')}) trains longer.")


def is_main_process() -> bool:
    """False in the torchrun processes other than rank 0: they train alike and say nothing."""
    return int(os.environ.get("RANK", "0")) == 0


def train(job: Union[TrainRequest, TrainPlan], callback: Callback | None = None) -> TrainRun:
    """Train and write the model bundle, its report and its model card; copy the report where asked. A request is
    planned first and its choices said with the settings' plain names; a front end that names settings its own way
    plans first (:func:`plan_training`) and says the lines itself."""
    from ..io.atomic import write_bytes_atomic
    from ..training.trainer import train as run_trainer

    callback = callback or Callback()
    plan = job if isinstance(job, TrainPlan) else plan_training(job)
    if is_main_process():
        for line in [*plan.request.notes, *(plan.lines() if plan is not job else [])]:
            callback.info(line)
    configs = plan.chosen.configs
    names = scene_names(configs[1])  # every line and error names the layers as the user gave them
    with named_errors(names):
        result = run_trainer(*configs, RenamedCallback(callback, renamer(names)) if names else callback)
    report, copy = result.report, plan.request.report_copy
    if report and copy and Path(copy).resolve() != Path(report).resolve():
        Path(copy).parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(copy, Path(report).read_bytes())
        report = copy
    return TrainRun(result, report, plan)
