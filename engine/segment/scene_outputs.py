"""A scene's outputs: the files a segmentation reads and writes, and what it produced.

One list of a scene's outputs (:class:`SceneOutputs`, of the kinds :data:`~engine.config.output_kinds.OUTPUT_KINDS`)
that the safety check (:func:`segment_files`), the locks, the clean-up after an interrupted run, the publishing and a
bulk run's completion markers all go through; what came of it (:class:`SegmentResult`: the outputs written, the
classes, where the time went).

A result of one class (or no class) everywhere from an input far outside the model's units is most likely wrong,
not a scene without other classes: :func:`judge_uniform` fails the run before anything is published.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..bundle.describe import nearly_one_class
from ..callbacks import Callback, warn
from ..config.output_kinds import EXTRA_KINDS, OUTPUT_KINDS, OutputKind
from ..data.raster import open_raster
from ..errors import DataError, command, mention
from ..imagery.season import expand_sources
from ..io.safety import BUNDLE_GIVE, RASTER_GIVE, Files, Paths, raster_sidecars
from ..io.writers import qml_path_for


@dataclass(frozen=True)
class SceneOutputs:
    """Where one scene's outputs go. ``marker``: a bulk run's completion marker of the scene (not an output)."""

    classes: Path
    extras: dict[str, Path] = field(default_factory=dict)  # kind name -> path, of the other kinds asked for
    marker: Path | None = None

    @classmethod
    def of(cls, cfg: Any) -> SceneOutputs:
        """The outputs a SegmentConfig asks for."""
        return cls(Path(cfg.output), {kind.name: Path(getattr(cfg, kind.config_key)) for kind in EXTRA_KINDS
                                      if getattr(cfg, kind.config_key)})

    def path(self, name: str) -> Path | None:
        """Where the output of kind ``name`` goes; None when it is not asked for."""
        return self.classes if name == "classes" else self.extras.get(name)

    def settings(self) -> dict[str, str | None]:
        """The SegmentConfig settings that name these outputs (the inverse of :meth:`of`)."""
        return {kind.config_key: None if self.path(kind.name) is None else str(self.path(kind.name))
                for kind in OUTPUT_KINDS}

    @property
    def qml(self) -> Path:
        """The class raster's style, beside it (QGIS loads it with the raster)."""
        return qml_path_for(self.classes)

    def destinations(self) -> list[tuple[OutputKind, Path]]:
        """(kind, path) of every output asked for, the class raster first."""
        return [(kind, self.path(kind.name)) for kind in OUTPUT_KINDS if self.path(kind.name) is not None]

    @property
    def files(self) -> list[Path]:
        """Every file a finished scene leaves: the class raster, its style, the other outputs and their styles."""
        return [self.classes, self.qml, *(p for kind, path in self.destinations() if kind.name != "classes"
                                          for p in ([path, qml_path_for(path)] if kind.styled else [path]))]

    def written(self) -> dict[str, Files]:
        """What the scene writes, sidecars and style included, per output as the user knows it, each with its
        format (for :func:`~engine.io.safety.check_outputs`)."""
        return {kind.what: Files(raster_sidecars(path, qml=kind.styled) if kind.raster else [str(path)],
                                 kind.format)
                for kind, path in self.destinations()}

    def locked(self) -> dict[str, Path]:
        """The outputs a run locks while it writes them (the style is written with the class raster)."""
        return {kind.what: path for kind, path in self.destinations()}

    def temporary_suffixes(self, destination: Path) -> tuple[str, ...]:
        """The suffixes of the hidden temporaries a run writes beside ``destination``, one of the outputs."""
        return next(kind.temporary_suffixes for kind, path in self.destinations() if path == destination)


def segment_files(cfg: Any) -> tuple[dict[str, Paths | Files], dict[str, Paths | Files]]:
    """What ``segment`` reads (image, aux, bundles, AOI) and writes (:class:`SceneOutputs`, sidecars included)."""
    inputs: dict[str, Paths | Files] = {
        (f"STAC item ({mention('segment.stac_item')})" if cfg.stac_item
         else f"image ({mention('segment.image')})"): Files(cfg.image, give=RASTER_GIVE),
        f"later date ({mention('segment.after')})": Files(list(cfg.after), give=RASTER_GIVE),
        f"dates ({mention('segment.dates')})": Files(expand_sources(getattr(cfg, "dates", None) or []),
                                                     give=RASTER_GIVE),
        f"aux raster ({mention('segment.aux')})": Files(cfg.aux, give=RASTER_GIVE),
        f"model bundle ({mention('segment.models')})": Files(cfg.models, "bundle", give=BUNDLE_GIVE),
        f"AOI ({mention('segment.aoi')})": Files(cfg.aoi, give="a polygon layer file")}
    outputs = dict(SceneOutputs.of(cfg).written())
    if cfg.change_table:
        outputs[f"change table ({mention('segment.change_table')})"] = Files(cfg.change_table)
    return inputs, outputs


@dataclass
class SegmentResult:
    """What :func:`segment` produced."""

    output: str
    qml: str
    extras: dict[str, str]  # kind name (engine.config.output_kinds) -> path, of the other outputs written
    class_names: list[str]
    class_colors: list[str]
    pixels: int
    seconds: float
    tiles: int = 0
    skipped_tiles: int = 0
    device: str = "cpu"
    backend: str = "torch"  # the backend that ran it: torch or onnxruntime (see engine.segment.backend)
    width: int = 0
    height: int = 0
    warnings: list[str] = field(default_factory=list)
    working_gsd: list[float] | None = None  # pixel size the model saw (the training one when resampled)
    # where the time went: model (predictor calls), input_wait (model idle, waiting for the reader thread),
    # output_wait (waiting for the writer thread), read/write (busy time of those background threads), first_tile
    # (from the start until the first tiles' probabilities were back)
    timings: dict[str, float] = field(default_factory=dict)
    # per output kind's ``report`` setting (e.g. low_confidence): the share of the valid pixels below it
    report: dict[str, float] = field(default_factory=dict)
    nonfinite_pixels: int = 0  # where the model gave NaN or infinite scores (nodata in every output)
    # the pixels of each class in the class raster, as its writer counted them (None: not counted, as where the
    # result was resampled after the model's grid)
    class_pixels: list[int] | None = None
    # a change model's change table: one row per kind of change (class, name, from, to, pixels, hectares)
    change: list[dict[str, Any]] = field(default_factory=list)
    # the area of each class where the dates' model maps classes, not change (a season model given a pair)
    areas: list[dict[str, Any]] = field(default_factory=list)
    change_table: str | None = None  # the table's CSV, when asked for

    @property
    def pixels_per_second(self) -> float:
        return self.pixels / self.seconds if self.seconds > 0 else float("nan")

    def path(self, name: str) -> str | None:
        """The file of output kind ``name`` this run wrote (None: not asked for)."""
        return self.output if name == "classes" else self.extras.get(name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def scene_result(plan: Any, outputs: Any, qml: Any, writer: Any, stats: Any, predictor: Any, seconds: float,
                 **fields: Any) -> SegmentResult:
    """The result of a scene whose ``writer`` wrote the ``outputs`` of ``plan`` from the tiles ``stats`` counts."""
    return SegmentResult(output=str(plan.cfg.output), qml=str(qml), report=writer.report(),
                         extras={k: str(v) for k, v in outputs.extras.items()},
                         nonfinite_pixels=writer.nonfinite, class_names=plan.class_names,
                         class_colors=plan.class_colors, pixels=plan.width * plan.height, seconds=seconds,
                         tiles=stats.tiles, skipped_tiles=stats.skipped_tiles, device=str(predictor.device),
                         backend=getattr(predictor, "backend", "torch"), width=plan.width, height=plan.height,
                         **fields)


def judge_few_dates(plan: Any, counts: Any, callback: Callback) -> None:
    """A warning when a season model given fewer dates than it was trained on (``plan.days``: the dates given) mapped
    one class nearly everywhere (``counts``: the result's pixels per class): a result that is most likely wrong."""
    trained = plan.members[0].data.dates
    if plan.days is None or len(plan.days) >= trained or (found := nearly_one_class(counts)) is None:
        return
    top, share = found
    name = plan.class_names[top] if top < len(plan.class_names) else str(top)
    warn(callback, plan.warnings,
         f"'{name}' is {100 * share:.1f} % of the pixels of '{plan.cfg.output}' ({int(counts[top]):,} of "
         f"{int(np.sum(counts)):,}), from {len(plan.days)} date(s) given to a season model trained on {trained}: "
         f"most likely the model's answer for the dates it lacks, not the place's classes. Give the place's dates "
         f"over the months the model was trained on (said at the start of the run), or train a season model on the "
         f"dates you have ({command('train_season')}).")


def _classes(path: Path) -> set[int]:
    """The classes of the class raster at ``path`` (nodata left out), read until a second one is found."""
    seen: set[int] = set()
    with open_raster(path, "class raster") as dataset:
        nodata = dataset.nodata
        for _, window in dataset.block_windows(1):
            values = dataset.read(1, window=window)
            seen.update(int(v) for v in np.unique(values) if nodata is None or v != nodata)
            if len(seen) > 1:
                break
    return seen


def judge_uniform(plan: Any, classes_path: Path, nonfinite: int, callback: Callback) -> None:
    """DataError (saying which settings to give) when the class raster at ``classes_path`` is one class everywhere,
    or no class anywhere though the model ran on ``nonfinite`` pixels with data, and the plan's input was far outside
    the model's units; a warning instead with ``segment.accept_one_class``."""
    inputs = plan.inputs
    if not inputs.out_of_range:
        return
    cfg = plan.cfg
    seen = _classes(classes_path)
    if len(seen) > 1 or (not seen and not nonfinite):
        return  # several classes, or an input with no data at all (said by the run)
    if seen:
        value = seen.pop()
        name = plan.class_names[value] if value < len(plan.class_names) else str(value)
        what = f"Every pixel of '{cfg.output}' is class {value} ({name})"
    else:
        what = (f"No pixel of '{cfg.output}' has a class: the model gave NaN or infinite scores at every pixel "
                f"with data ({nonfinite:,})")
    accept = mention("segment.accept_one_class")
    message = (f"{what}, and {inputs.out_of_range}: the result is most likely wrong, not a scene without other "
               f"classes.")
    advice = (f" State the units of the image's values with {mention('segment.value_scale')} (e.g. 0.0001 for "
              f"digital numbers of reflectance x 10000) and {mention('segment.value_offset')} (e.g. -0.1 for "
              f"Sentinel-2 L2A from processing baseline 04.00), then run {command('segment')} again")
    if not cfg.accept_one_class:
        raise DataError(f"{message} Nothing was written.{advice}; {accept} keeps such a result.")
    warn(callback, plan.warnings, f"{message} Kept as {accept} asks.{advice}.")
