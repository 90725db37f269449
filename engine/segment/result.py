"""What segmenting one scene produced: the outputs written, the classes, and where the time went."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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
