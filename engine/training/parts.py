"""The trainer's parts: the small typed groups its named steps (``_Trainer._configure_*``) build and its two workers
(:class:`~engine.training.steps.EpochSteps`, :class:`~engine.training.outputs.TrainFiles`) share, and the time
budget they count in (the epochs' seconds, resumed runs' included; the cosine schedule follows the share spent).
Among them the model's forward pass as training runs it (:class:`Forward`), and what training measures with it:
the validation metrics of an epoch (summed over every process under torchrun) and the preview predictions of the
report."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..callbacks import Callback, Stage
from ..data.metadata import DataMetadata
from ..errors import CanceledError
from ..runtime.environment import DistContext, require
from .metrics import ConfusionMatrix, ThresholdSweep, logits_to_prediction
from .step_setup import LRSchedule, StepSetup


@dataclass(frozen=True)
class Forward:
    """Batches onto the device and through a model at ``step``'s precision and memory format; outputs in float32."""

    device: str
    step: StepSetup
    uses_aux: bool = True  # a vision-only model ignores the data's aux
    takes_coords: bool = False  # the model takes each tile's date and place (a Prithvi-EO-2.0 TL encoder)
    takes_days: bool = False  # a season model: each date's day number and validity (batch keys days, valid)

    def batch(self, batch: dict[str, Any]) -> tuple[Any, Any, Any, dict[str, Any]]:
        """(pixels, aux or None, labels as int64, the model's other inputs by name) on the device: ``coords`` for
        a model taking each tile's date and place, ``days`` (float) and ``valid`` for a season model."""
        def on_device(key: str, wanted: bool = True) -> Any:
            value = batch.get(key) if wanted else None
            return None if value is None else value.to(self.device, non_blocking=self.step.device_type == "cuda")

        inputs = {"coords": on_device("coords", self.takes_coords)}
        if self.takes_days:
            days = on_device("days")
            inputs.update(days=None if days is None else days.float(), valid=on_device("valid"))
        return (self.step.batch(on_device("vision")), on_device("aux", self.uses_aux), on_device("labels").long(),
                {name: value for name, value in inputs.items() if value is not None})

    def __call__(self, net: Any, pixels: Any, aux: Any, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
        """The model's outputs with logits and side logits in float32 (loss and metrics), whatever autocast made;
        ``inputs``: the model's other inputs by name (:meth:`batch`)."""
        amp = self.step.amp_dtype
        with contextlib.nullcontext() if amp is None else require("torch").autocast(self.step.device_type, amp):
            outputs = net(pixels, aux, **(inputs or {}))
        return {**outputs, "logits": outputs["logits"].float(),
                "side_logits": [t.float() for t in outputs.get("side_logits") or []]}


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


def validate(model: Any, loader: Any, forward: Forward, loss_fn: Any, num_classes: int, ignore_index: int,
             class_names: list[str], place: Place, stopped: Callable[[str], str]) -> dict[str, Any]:
    """The metrics summary with its ``loss`` over every process's share; leaves the model in train mode. Processes
    may hold different numbers of batches, so a cancellation is agreed on after the loop, with the metrics: then
    CanceledError, saying what the stop leaves behind (``stopped``). A binary model's summary also holds its
    foreground F1 at each decision threshold (``threshold_f1``) and the F1-best (``decision_threshold``)."""
    torch = require("torch")
    model.eval()
    matrix = ConfusionMatrix(num_classes, ignore_index=ignore_index)
    sweep = ThresholdSweep(ignore_index) if num_classes == 1 else None
    loss_sum = torch.zeros((), dtype=torch.float64, device=forward.device)
    count, canceled = 0, False
    with torch.no_grad():
        for i, batch in enumerate(loader):
            if place.callback.is_canceled():
                canceled = True
                break
            pixels, aux, labels, inputs = forward.batch(batch)
            outputs = forward(model, pixels, aux, inputs)
            loss_sum += loss_fn(outputs, labels).double() * len(labels)
            count += len(labels)
            matrix.update(logits_to_prediction(outputs["logits"]).cpu(), labels.cpu())
            if sweep is not None:
                sweep.update(torch.sigmoid(outputs["logits"][:, 0].float()).cpu(), labels.cpu())
            place.callback.progress(i + 1, len(loader), Stage.VALIDATE)
    if place.ctx.distributed:
        matrix.matrix[...] = place.summed(torch.as_tensor(matrix.matrix, dtype=torch.float64)).cpu().numpy()
        if sweep is not None:
            sweep.counts[...] = place.summed(torch.as_tensor(sweep.counts, dtype=torch.float64)).cpu().numpy()
        totals = place.summed(torch.tensor([loss_sum.item(), count, float(canceled)], dtype=torch.float64))
        loss_sum, count, canceled = totals[0], int(totals[1].item()), bool(totals[2].item() > 0)
    model.train()
    if canceled:
        raise CanceledError(stopped("Training canceled"))
    summary = dict(matrix.summary(class_names if len(class_names) == matrix.num_classes else None))
    summary["loss"] = float(loss_sum.item()) / max(count, 1)
    if sweep is not None:
        summary.update(threshold_f1=sweep.f1(), decision_threshold=sweep.best())
    return summary


def preview_predictions(model: Any, dataset: Any, tiles: int, forward: Forward) -> list[dict[str, Any]]:
    """Image, truth and prediction (numpy) of the first ``tiles`` tiles, the prediction -1 (no class: grey) on a
    tile's padding past its scene or validation region; leaves the model in eval mode."""
    model.eval()
    out = []
    with require("torch").no_grad():
        for index in range(min(tiles, len(dataset))):
            sample = dataset[index]
            batch = {k: v.unsqueeze(0) if hasattr(v, "unsqueeze") else v for k, v in sample.items()}
            pixels, aux, labels, inputs = forward.batch(batch)
            logits = forward(model, pixels, aux, inputs)["logits"]
            image = pixels[0] if pixels.dim() == 4 else pixels[0, -1]  # a season's tile (T, C, h, w): its last date
            prediction = logits_to_prediction(logits)[0].cpu().numpy()
            if (inside := getattr(dataset, "inside", None)) is not None:  # a grid's tiles know their padding
                prediction[~inside(index)] = -1  # the model's classes on zeros are no prediction of the scene
            out.append({"image": image.float().cpu().numpy(), "truth": labels[0].cpu().numpy(),
                        "prediction": prediction})
    return out
