"""What segmenting one scene produced: the outputs written, the classes, and where the time went.

A result of one class (or no class) everywhere from an input far outside the model's units
(``ResolvedImage.out_of_range``; NaN or infinite scores give no class) is most likely wrong, not a scene without
other classes: the run fails before anything is published (:func:`judge_uniform`, on the temporary class raster),
saying which value scale and offset to set, unless the user keeps such a result (then a warning).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..callbacks import Callback
from ..errors import DataError, command, mention


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


def _classes(path: Path) -> set[int]:
    """The classes of the class raster at ``path`` (nodata left out), read until a second one is found."""
    from ..data.raster import open_raster

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
    inputs = getattr(plan, "inputs", None)
    if inputs is None or not inputs.out_of_range:
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
    plan.warnings.append(f"{message} Kept as {accept} asks.{advice}.")
    callback.warning(plan.warnings[-1])
