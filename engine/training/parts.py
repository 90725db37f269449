"""The trainer's parts, each a small typed group its named steps build (``_Trainer._configure_*``) and its two
workers share: :class:`~engine.training.steps.EpochSteps` (an epoch's optimiser steps) and
:class:`~engine.training.outputs.TrainFiles` (what a training writes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..callbacks import Callback
from ..data.metadata import DataMetadata
from ..runtime.environment import DistContext
from .forward import Forward
from .optim import LRSchedule


@dataclass(frozen=True)
class Place:
    """Where the training runs: its process in the (distributed) run, its device, and whom it tells."""

    ctx: DistContext
    device: str  # "cpu", "cuda", "cuda:1", ...
    device_type: str  # the device without its index: "cpu", "cuda"
    callback: Callback

    def agree(self, *flags: bool) -> list[bool]:
        """Each flag true on any process -> true on every process: they must decide alike (stop, cache as many
        tiles), or the others would wait forever in the next all-reduce."""
        if not self.ctx.distributed:
            return list(flags)
        import torch
        import torch.distributed as dist

        # NCCL takes CUDA tensors only, gloo CPU ones
        values = torch.tensor([float(f) for f in flags], device=self.device if self.device_type == "cuda" else "cpu")
        dist.all_reduce(values)
        return [v > 0 for v in values.tolist()]


@dataclass(frozen=True)
class Optimisation:
    """What turns a batch into a step: the loss, the forward pass (with the step's setup on its device: precision,
    memory format, gradient clipping), the optimiser, its schedule and the AMP grad scaler (None without one)."""

    loss_fn: Any  # a loss module of .losses
    forward: Forward
    optimizer: Any  # torch.optim.Optimizer
    schedule: LRSchedule
    scaler: Any | None  # torch.amp.GradScaler


@dataclass(frozen=True)
class Batches:
    """The training tiles as the steps take them: the dataset, its loader and sampler, and the loader batches of
    one epoch (``micro_steps``; several make an optimiser step with gradient accumulation)."""

    dataset: Any
    loader: Any
    sampler: Any
    micro_steps: int


@dataclass(frozen=True)
class RunPaths:
    """The files of a training for ``output`` (see the trainer's module docstring)."""

    output: Path  # the bundle, at its finished name
    partial: Path  # the best bundle so far
    checkpoint: Path  # the last checkpoint, for resume
    reports: dict[str, str]  # report.report_paths: metrics, curves, previews, report, model card


@dataclass(frozen=True)
class TrainRecord:
    """What a training records of itself: the model's configuration and the bundle's data section (both fitted
    to the data), the bundle a fine-tuning started from (.finetune.Parent, or None) and the settings a checkpoint
    keeps (a resume refuses others)."""

    model_cfg: Any  # the family's ModelConfig
    data_meta: DataMetadata
    parent: Any
    configs: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)  # the bundle's extra section (e.g. "coordinates")
