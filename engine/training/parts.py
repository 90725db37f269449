"""The trainer's parts: the small typed groups its named steps (``_Trainer._configure_*``) build and its two workers
(:class:`~engine.training.steps.EpochSteps`, :class:`~engine.training.outputs.TrainFiles`) share, and the time
budget they count in (the epochs' seconds, resumed runs' included; the cosine schedule follows the share spent)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..callbacks import Callback
from ..data.metadata import DataMetadata
from ..runtime.environment import DistContext
from .forward import Forward
from .step_setup import LRSchedule


@dataclass(frozen=True)
class Place:
    """Where the training runs: its process in the (distributed) run, its device, and whom it tells."""

    ctx: DistContext
    device: str  # "cpu", "cuda", "cuda:1", ...
    device_type: str  # the device without its index: "cpu", "cuda"
    callback: Callback

    def summed(self, tensor: Any) -> Any:
        """``tensor`` summed over every process, where collectives take it (NCCL: CUDA tensors only, gloo: CPU)."""
        import torch.distributed as dist

        tensor = tensor.to(self.device if self.device_type == "cuda" else "cpu")
        dist.all_reduce(tensor)
        return tensor

    def agree(self, *flags: bool) -> list[bool]:
        """Each flag true on any process -> true on every process: they must decide alike (stop, cache as many
        tiles), or the others would wait forever in the next all-reduce."""
        if not self.ctx.distributed:
            return list(flags)
        import torch

        return [v > 0 for v in self.summed(torch.tensor([float(f) for f in flags])).tolist()]


@dataclass(frozen=True)
class Optimisation:
    """What turns a batch into a step (the forward pass holds the step's setup: precision, memory format, clipping)."""

    loss_fn: Any  # a loss module of .losses
    forward: Forward
    optimizer: Any  # torch.optim.Optimizer
    schedule: LRSchedule
    scaler: Any  # torch.amp.GradScaler, disabled without float16


@dataclass(frozen=True)
class Batches:
    """The training tiles as the steps take them."""

    dataset: Any
    loader: Any
    sampler: Any
    micro_steps: int  # loader batches an epoch (several make an optimiser step with gradient accumulation)


@dataclass(frozen=True)
class RunPaths:
    """The files of a training for ``output`` (see the trainer's module docstring)."""

    output: Path  # the bundle, at its finished name
    partial: Path  # the best bundle so far
    checkpoint: Path  # the last checkpoint, for resume
    reports: dict[str, str]  # report.report_paths: metrics, curves, previews, report, model card


@dataclass(frozen=True)
class TrainRecord:
    """What a training records of itself (the model's configuration and the data section fitted to the data)."""

    model_cfg: Any  # the family's ModelConfig
    data_meta: DataMetadata
    parent: Any  # the bundle a fine-tuning started from (.finetune.Parent), or None
    configs: dict[str, Any]  # the settings a checkpoint keeps (a resume refuses others)
    extra: dict[str, Any] = field(default_factory=dict)  # the bundle's extra section (e.g. "coordinates")


class TimeBudget:
    """``minutes`` of epochs (None: no limit), counted by ``clock`` from :meth:`start`, plus ``spent_before``
    seconds of earlier runs."""

    def __init__(self, minutes: float | None, clock: Callable[[], float] = time.monotonic):
        self.minutes, self.clock, self.spent_before = minutes, clock, 0.0
        self.seconds = None if minutes is None else 60.0 * minutes
        self.started: float | None = None

    @property
    def limited(self) -> bool:
        return self.seconds is not None

    def start(self, spent_before: float = 0.0) -> None:
        self.spent_before = spent_before
        self.started = self.clock()

    def spent(self) -> float:
        return self.spent_before + (0.0 if self.started is None else self.clock() - self.started)

    def fraction(self) -> float:
        """Share of the budget spent, in [0, 1] (0 without a budget)."""
        return 0.0 if self.seconds is None else min(1.0, self.spent() / self.seconds)

    def used_up(self, reserve: float = 0.0) -> bool:
        """Whether the budget is spent, keeping ``reserve`` seconds back (for the validation still to come)."""
        return self.seconds is not None and self.spent() + reserve >= self.seconds

    def describe(self) -> str:
        return "no time budget" if self.minutes is None else f"time budget of {self.minutes:.3g} min"
