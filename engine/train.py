"""The fit loop: from configs to a model bundle.

Two stages (warm-up epochs with both encoders frozen, then full fine-tuning), AdamW with differential learning
rates (vision encoder, aux encoder, fusion + decoder), cosine / step / plateau schedules with linear warm-up
steps, gradient accumulation and clipping, mixed precision on CUDA, early stopping on validation IoU or loss, atomic
best bundle and per-epoch checkpoint, resume, cancellation every step, and torch.distributed (``torchrun``:
DistributedSampler + DDP, rank 0 writes).

Files for ``output = dir/name.dsmodel``:
  ``dir/name.dsmodel``           the best bundle, moved into place only when training finishes;
  ``dir/name.dsmodel.partial``   the best bundle so far (a complete bundle, but not at the finished name);
  ``dir/name.dsmodel.ckpt``      the last checkpoint (every epoch), for ``resume``;
  ``dir/name_metrics.csv/.json``, ``dir/name_curves.png``, ``dir/name_predictions.png``, ``dir/name_report.html``.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .callbacks import Callback
from .checkpoint import capture_rng_state, checkpoint_path, load_checkpoint, restore_rng_state, save_checkpoint
from .config import DataConfig, ModelConfig, TrainConfig
from .distributed import DistContext, setup_distributed
from .environment import require, resolve_device
from .errors import CanceledError, ConfigError, ModelError, OutputError
from .locks import output_locks
from .prefetch import Prefetcher
from .safety import check_outputs, train_files

# Settings that may change between an interrupted run and its resumption.
RESUMABLE_CHANGES = {
    "train": {"resume", "device", "num_workers", "epochs", "early_stop_patience", "preview_tiles", "output"},
    "model": {"pretrained"},
    "data": set(),
}


@dataclass
class TrainResult:
    """What :func:`train` produced."""

    bundle: str
    checkpoint: str
    best_epoch: int
    best_metrics: dict[str, Any]
    history: list[dict[str, Any]]
    report: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)  # metrics_csv, metrics_json, curves_png, ...
    epochs_run: int = 0  # epochs run by this call (not counting resumed ones)
    stopped_early: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# --------------------------------------------------------------------------------------------- small pieces


def decide_precision(device_type: str, amp: str, bf16_supported: bool) -> tuple[Any, bool]:
    """Autocast dtype (None = full precision) and whether a GradScaler is needed.

    CUDA: ``auto`` -> bf16 where supported, else fp16 with a scaler; ``bf16``/``fp16`` as asked; ``off`` -> fp32.
    Any other device trains in full precision whatever ``amp`` says.
    """
    torch = require("torch")
    if amp not in ("auto", "off", "bf16", "fp16"):
        raise ConfigError(f"amp '{amp}' is unknown; use auto, off, bf16 or fp16.")
    if device_type != "cuda" or amp == "off":
        return None, False
    if amp == "bf16" and not bf16_supported:
        raise ConfigError("amp 'bf16' was requested but this GPU does not support bfloat16; use amp 'fp16' or "
                          "'auto'.")
    if amp == "bf16" or (amp == "auto" and bf16_supported):
        return torch.bfloat16, False
    return torch.float16, True


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    import numpy as np

    torch = require("torch")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_optimizer(model: Any, cfg: TrainConfig) -> Any:
    """``cfg.optimizer`` (adamw, adam or sgd) over ``model.param_groups()``: vision encoder LR*vision_lr_factor,
    aux encoder LR*aux_lr_factor, fusion + decoder (the "head") LR; weight decay ``cfg.weight_decay``.

    Each param group carries ``name`` (vision / aux / head) and ``base_lr`` (the LR before any schedule factor).
    """
    torch = require("torch")
    factors = {"vision": cfg.vision_lr_factor, "aux": cfg.aux_lr_factor, "head": 1.0}
    group_of_role = {"vision_encoder": "vision", "aux_encoder": "aux", "fusion": "head", "decoder": "head"}
    roles = model.param_groups()
    unknown = sorted(set(roles) - set(group_of_role))
    if unknown:
        raise ModelError(f"model.param_groups() returned unknown role(s) {unknown}; expected {list(group_of_role)}.")
    named: dict[str, list[Any]] = {name: [] for name in factors}
    for role, params in roles.items():
        named[group_of_role[role]].extend(params)
    groups = []
    for name in ("vision", "aux", "head"):
        params = named[name]
        if params:
            lr = cfg.learning_rate * factors[name]
            groups.append({"params": params, "lr": lr, "base_lr": lr, "name": name})
    grouped = sum(len(g["params"]) for g in groups)
    total = len(list(model.parameters()))
    if grouped != total or len({id(p) for g in groups for p in g["params"]}) != grouped:
        raise ModelError(f"model.param_groups() covers {grouped} parameters but the model has {total}; "
                         f"the groups must be disjoint and cover every parameter.")
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.learning_rate, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    # Adam's weight decay is L2 in the gradient (the building design's Adam); AdamW's is decoupled.
    optimizer = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return optimizer(groups, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)


class LRSchedule:
    """Per-optimiser-step learning-rate factor applied to every group's ``base_lr``.

    Frozen warm-up epochs run at the base LR. The main stage starts with ``warmup_steps`` of linear warm-up,
    then follows ``cosine`` (to ``min_learning_rate``), ``step`` (x``step_gamma`` every ``step_epochs``) or
    ``plateau`` (x``plateau_factor`` after ``plateau_patience`` epochs without gain). State is plain numbers.
    """

    def __init__(self, optimizer: Any, cfg: TrainConfig, steps_per_epoch: int):
        self.optimizer = optimizer
        self.cfg = cfg
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.frozen_steps = cfg.warmup_epochs * self.steps_per_epoch
        self.main_steps = max(1, cfg.epochs * self.steps_per_epoch)
        self.floor = cfg.min_learning_rate / cfg.learning_rate
        self.step_count = 0
        self.plateau_scale = 1.0
        self.plateau_best = -math.inf
        self.plateau_bad = 0
        self.apply()

    def factor(self, step: int | None = None) -> float:
        step = self.step_count if step is None else step
        if step < self.frozen_steps:
            return 1.0
        s = step - self.frozen_steps
        warm = self.cfg.warmup_steps
        ramp = (s + 1) / (warm + 1) if s < warm else 1.0
        if self.cfg.schedule == "cosine":
            t = min(1.0, max(0, s - warm) / max(1, self.main_steps - warm))
            shape = self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * t))
        elif self.cfg.schedule == "step":
            shape = max(self.floor, self.cfg.step_gamma ** ((s // self.steps_per_epoch) // self.cfg.step_epochs))
        else:
            shape = max(self.floor, self.plateau_scale)
        return ramp * shape

    def apply(self) -> None:
        f = self.factor()
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * f

    def step(self) -> None:
        """Call after every optimiser step."""
        self.step_count += 1
        self.apply()

    def epoch_end(self, score: float | None, main_stage: bool) -> None:
        """Feed the validation score (plateau schedule, main stage only)."""
        if self.cfg.schedule != "plateau" or not main_stage or score is None:
            return
        if score > self.plateau_best + 1e-6:
            self.plateau_best, self.plateau_bad = score, 0
        else:
            self.plateau_bad += 1
            if self.plateau_bad > self.cfg.plateau_patience:
                self.plateau_scale *= self.cfg.plateau_factor
                self.plateau_bad = 0
        self.apply()

    def state_dict(self) -> dict[str, Any]:
        best = self.plateau_best if math.isfinite(self.plateau_best) else None
        return {"step_count": self.step_count, "plateau_scale": self.plateau_scale, "plateau_best": best,
                "plateau_bad": self.plateau_bad}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step_count = int(state["step_count"])
        self.plateau_scale = float(state["plateau_scale"])
        self.plateau_best = -math.inf if state["plateau_best"] is None else float(state["plateau_best"])
        self.plateau_bad = int(state["plateau_bad"])
        self.apply()


def _worker_init(worker_id: int) -> None:
    # Forked workers inherit one numpy state; give each its own, derived from torch's per-worker seed.
    import numpy as np
    import torch

    np.random.seed(torch.initial_seed() % 2**32)
    random.seed(torch.initial_seed() % 2**32)


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Human-readable list of settings that differ between a checkpoint and this run (ignoring resumable ones)."""
    out = []
    for section in ("model", "data", "train"):
        old, new = _with_defaults(section, saved.get(section, {})), _with_defaults(section, current.get(section, {}))
        for key in sorted(set(old) | set(new)):
            if key in RESUMABLE_CHANGES[section]:
                continue
            if old.get(key) != new.get(key):
                out.append(f"{section}.{key}: checkpoint {old.get(key)!r}, now {new.get(key)!r}")
    return out


def _with_defaults(section: str, values: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's settings with the defaults of settings added since (and old names mapped), so that a
    checkpoint of an earlier version compares equal to the same run today; unreadable ones stay as they are."""
    from .models import ModelConfig

    cls = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig}[section]
    try:
        return cls.from_dict(values).to_dict()
    except Exception:  # noqa: BLE001 - any unreadable old section is compared as saved
        return values


def selection_score(summary: dict[str, Any], num_classes: int, metric: str = "iou") -> float:
    """The early-stopping / best-model score (higher is better): foreground IoU for binary models, mIoU
    otherwise; with ``metric="loss"`` the negated validation loss.

    Undefined IoU (no foreground in truth nor prediction) counts as 0, so such an epoch is never preferred.
    """
    if metric == "loss":
        return -float(summary["loss"])
    value = summary.get("foreground_iou") if num_classes == 1 else summary.get("miou")
    return 0.0 if value is None else float(value)


def _number(value: Any) -> float:
    """Metric values may be None (undefined); the history stores NaN for them."""
    return float("nan") if value is None else float(value)


# --------------------------------------------------------------------------------------------- the loop


def train(model_cfg: ModelConfig, data_cfg: DataConfig, train_cfg: TrainConfig, callback: Callback | None = None,
          *, model: Any = None, datasets: tuple[Any, Any, Any] | None = None) -> TrainResult:
    """Train a model and write its bundle to ``train_cfg.output`` (see the module docstring for all files).

    Args:
        model_cfg: architecture; channel counts, classes and aux ratio are taken from the data.
        data_cfg: where the tiles come from.
        train_cfg: optimisation, schedule, output path, resume.
        callback: progress (per step, stage "train"; per validation tile batch, stage "validate"), metrics per
            epoch, cancellation (checked every step).
        model: an already built model following the model contract (default: ``build_model`` from model_cfg).
        datasets: ``(train_ds, val_ds, summary)`` to use instead of ``build_datasets(data_cfg)``.

    Returns:
        A :class:`TrainResult`. A given ``model`` then holds the best (the bundle's) weights, in eval mode.

    Raises:
        CanceledError: the callback asked to stop; the last checkpoint stays, no bundle appears at ``output``.
        ConfigError: bad settings, or ``resume`` with a checkpoint made from other settings.
    """
    callback = callback or Callback()
    check_outputs(*train_files(model_cfg, data_cfg, train_cfg))  # before any work: never write onto an input
    device = resolve_device(train_cfg.device)
    ctx, device = setup_distributed(device)
    try:
        # rank 0 writes, so rank 0 holds the lock: a second training onto the same bundle refuses at once
        with output_locks({"model bundle (--out)": train_cfg.output} if ctx.is_main else {}):
            return _Trainer(model_cfg, data_cfg, train_cfg, callback, ctx, device, model, datasets).run()
    finally:
        if ctx.initialized_here:
            import torch.distributed as dist

            dist.destroy_process_group()


class _Trainer:
    def __init__(self, model_cfg: ModelConfig, data_cfg: DataConfig, train_cfg: TrainConfig, callback: Callback,
                 ctx: DistContext, device: str, model: Any, datasets: tuple[Any, Any, Any] | None):
        self.torch = require("torch")
        self.model_cfg, self.data_cfg, self.cfg = model_cfg, data_cfg, train_cfg
        self.callback, self.ctx, self.device = callback, ctx, device
        self.model, self.datasets = model, datasets
        self.output = Path(train_cfg.output)
        self.ckpt_path = checkpoint_path(self.output)
        self.partial_path = self.output.with_name(self.output.name + ".partial")
        self.good_checkpoint = False  # a checkpoint of this run (written or resumed from) is at ckpt_path

    # ----------------------------------------------------------------------------------------- setup

    def run(self) -> TrainResult:
        torch, cfg, cb = self.torch, self.cfg, self.callback
        if cfg.resume and not self.ckpt_path.is_file():
            raise ConfigError(f"resume was requested but there is no checkpoint '{self.ckpt_path}'; run without "
                              f"--resume to start a new training.")
        if self.model is None:  # fail before the (slow) data preparation
            from .models import list_models

            if self.model_cfg.name not in list_models():
                raise ConfigError(f"Unknown model '{self.model_cfg.name}'; valid models are {list_models()}.")
            from .models import model_class

            self.num_side_outputs = int(model_class(self.model_cfg.name).num_side_outputs)
        else:
            self.num_side_outputs = int(getattr(self.model, "num_side_outputs", 0))
        # side weights against the model's side outputs, before the (slow) data preparation
        cfg.loss.side_weights_for(self.model_cfg.name, self.num_side_outputs)
        seed_everything(cfg.seed)
        from .losses import build_loss
        from .report import report_paths

        if self.datasets is None:
            from .data.dataset import build_datasets

            self._check_resources()  # from raster headers, before the statistics read a single tile
            self.datasets = build_datasets(self.data_cfg, cb)
        train_ds, val_ds, summary = self.datasets
        if len(train_ds) == 0:
            raise ConfigError("the training dataset is empty; raise tiles_per_epoch or check the training scenes.")
        self.data_meta = summary.to_bundle_metadata()
        self.num_classes = int(self.data_meta["num_classes"])
        self.ignore_index = int(self.data_meta.get("ignore_index", self.data_cfg.ignore_index))
        self.model_cfg = self._adapt_model_config(self.model_cfg)
        if self.model is None:
            from .models import build_model_from_config

            try:
                self.model = build_model_from_config(self.model_cfg, callback=cb)
            except KeyError as exc:  # unknown model name; the message lists the valid ones
                raise ConfigError(str(exc.args[0]) if exc.args else str(exc)) from exc
        model = self.model.to(self.device)
        self.loss_fn = build_loss(cfg.loss, self.model_cfg.name, self.num_side_outputs, self.ignore_index)
        if hasattr(self.loss_fn, "to"):
            self.loss_fn = self.loss_fn.to(self.device)
        device_type = torch.device(self.device).type
        bf16 = device_type == "cuda" and torch.cuda.is_bf16_supported()
        if device_type != "cuda" and cfg.amp in ("bf16", "fp16"):
            cb.warning(f"amp '{cfg.amp}' applies to CUDA only; training on {self.device} in full precision.")
        self.amp_dtype, use_scaler = decide_precision(device_type, cfg.amp, bf16)
        self.scaler = torch.amp.GradScaler("cuda") if use_scaler else None
        self.device_type = device_type
        self.optimizer = build_optimizer(model, cfg)
        self.train_loader, self.train_sampler = self._train_loader(train_ds)
        self.val_loader = self._val_loader(val_ds) if val_ds is not None and len(val_ds) > 0 else None
        if self.val_loader is None:
            cb.warning("No validation tiles: the bundle will hold the last epoch's weights, and early stopping "
                       "is off. Give validation scenes or a val_fraction > 0 to select the best epoch.")
        self.micro_steps = len(self.train_loader)
        if self.micro_steps == 0:
            raise ConfigError(f"tiles_per_epoch ({len(train_ds)}) gives no full batch of {cfg.batch_size} per "
                              f"process; raise tiles_per_epoch or lower batch_size.")
        self.opt_steps = math.ceil(self.micro_steps / cfg.grad_accumulation)
        self.schedule = LRSchedule(self.optimizer, cfg, self.opt_steps)
        self.total_epochs = cfg.warmup_epochs + cfg.epochs
        self.paths = report_paths(self.output)
        self.configs = {"model": self.model_cfg.to_dict(), "data": self.data_cfg.to_dict(), "train": cfg.to_dict()}

        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"epoch": 0, "score": None, "metrics": {}, "since": 0}
        start_epoch, finished = 1, False
        if cfg.resume:
            start_epoch, finished = self._resume()
            self.good_checkpoint = True
        elif self.ctx.is_main and self.ckpt_path.exists():
            cb.info(f"Starting a new training; the old checkpoint '{self.ckpt_path}' will be replaced "
                    f"(use resume to continue it instead).")
        if self.ctx.is_main:
            self.output.parent.mkdir(parents=True, exist_ok=True)
            if not cfg.resume and self.partial_path.exists():
                self.partial_path.unlink()
        cb.info(f"Training {self.model_cfg.name} ({self.model_cfg.preset}) on {self.device}"
                f"{f' x{self.ctx.world_size} processes' if self.ctx.distributed else ''}, precision "
                f"{'fp32' if self.amp_dtype is None else str(self.amp_dtype).replace('torch.', '')}, "
                f"{self.micro_steps} steps of {cfg.batch_size} tiles per epoch, epochs {start_epoch}.."
                f"{self.total_epochs} ({cfg.warmup_epochs} with frozen encoders); loss "
                f"{cfg.loss.describe(self.model_cfg.name)}, optimizer {cfg.optimizer}.")
        stopped_early, epochs_run = False, 0
        if not finished:
            stopped_early, epochs_run = self._fit(start_epoch)
        return self._finish(stopped_early, epochs_run)

    def _adapt_model_config(self, model_cfg: ModelConfig) -> ModelConfig:
        """Channel counts, classes and aux ratio come from the data (``fit_data``: a family may decline the aux);
        say so when the given config differed. A model that takes no aux makes a bundle that needs none."""
        meta = self.data_meta
        data_aux = int(meta["aux_channels"])
        fitted = model_cfg.fit_data(vision_channels=int(meta["vision_bands"]), aux_channels=data_aux,
                                    num_classes=self.num_classes,
                                    aux_ratio=int(meta.get("aux_ratio", model_cfg.aux_ratio)))
        keys = ("vision_channels", "aux_channels", "num_classes", "aux_ratio")
        wanted = {k: getattr(fitted, k) for k in keys}
        changed = {k: v for k, v in wanted.items() if getattr(model_cfg, k) != v}
        if changed and self.model is None:
            self.callback.info("Model settings taken from the data: "
                               + ", ".join(f"{k}={v}" for k, v in changed.items()))
        if self.model is not None:
            # An injected model is what it is: its config must already agree with the data.
            fitted = getattr(self.model, "config", model_cfg)
            bad = {k: (getattr(fitted, k), v) for k, v in wanted.items() if getattr(fitted, k) != v}
            if bad:
                raise ConfigError(f"the given model does not fit the data: {bad} (model, data).")
        if data_aux and not fitted.aux_channels:
            self.callback.warning(f"{fitted.name} uses the imagery only: the {data_aux} aux channel(s) are not used "
                                  f"(set aux_fusion: early to fuse them) and the model will not ask for aux rasters.")
            self.data_meta = {**meta, "aux_channels": 0, "aux_stats": None}
        return fitted

    def _train_loader(self, dataset: Any) -> tuple[Any, Any]:
        torch = self.torch
        from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

        if self.ctx.distributed:
            sampler = DistributedSampler(dataset, num_replicas=self.ctx.world_size, rank=self.ctx.rank,
                                         shuffle=True, seed=self.cfg.seed, drop_last=True)
        else:
            sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(self.cfg.seed))
        per_process = len(dataset) // self.ctx.world_size
        collate = None
        if self.data_cfg.augment.copy_paste > 0:
            from .data.copy_paste import CopyPasteCollate

            collate = CopyPasteCollate(self.data_cfg.augment.copy_paste, self.ignore_index,
                                       int(self.data_meta.get("aux_ratio") or 1))
        loader = DataLoader(dataset, batch_size=self.cfg.batch_size, sampler=sampler, collate_fn=collate,
                            num_workers=self.cfg.num_workers, drop_last=per_process >= self.cfg.batch_size,
                            pin_memory=self.device_type == "cuda", worker_init_fn=_worker_init,
                            # the dataset's epoch lives in shared memory, so set_epoch reaches kept workers
                            persistent_workers=self.cfg.num_workers > 0)
        return loader, sampler

    def _val_loader(self, dataset: Any) -> Any:
        from torch.utils.data import DataLoader, Subset

        if self.ctx.distributed:
            dataset = Subset(dataset, list(range(self.ctx.rank, len(dataset), self.ctx.world_size)))
        return DataLoader(dataset, batch_size=self.cfg.batch_size, shuffle=False, num_workers=self.cfg.num_workers,
                          pin_memory=self.device_type == "cuda")

    def _resume(self) -> tuple[int, bool]:
        state = load_checkpoint(self.ckpt_path)
        diffs = config_differences(state["configs"], self.configs)
        if diffs:
            raise ConfigError(f"Cannot resume from '{self.ckpt_path}': it was made with other settings ("
                              + "; ".join(diffs) + "). Use the same settings, or run without --resume.")
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise ConfigError(f"Checkpoint '{self.ckpt_path}' does not fit this model ({str(exc)[:300]}); run "
                              f"without --resume.") from exc
        # Group LRs follow from this run's settings (epochs may have been extended).
        for group in self.optimizer.param_groups:
            factor = {"vision": self.cfg.vision_lr_factor, "aux": self.cfg.aux_lr_factor}.get(group["name"], 1.0)
            group["base_lr"] = self.cfg.learning_rate * factor
        self.schedule.load_state_dict(state["schedule"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        restore_rng_state(state["rng"])
        self.history = list(state["history"])
        self.best = dict(state["best"])
        epoch = int(state["epoch"])
        finished = bool(state["finished"]) or epoch >= self.total_epochs
        self.callback.info(f"Resuming from '{self.ckpt_path}' after epoch {epoch}"
                           f"{' (training had finished)' if finished else ''}.")
        return epoch + 1, finished

    # ----------------------------------------------------------------------------------------- epochs

    def _fit(self, start_epoch: int) -> tuple[bool, int]:
        cfg, cb = self.cfg, self.callback
        ddp, frozen_state = None, None
        epochs_run = 0
        for epoch in range(start_epoch, self.total_epochs + 1):
            # Reseed per epoch so that a resumed run repeats exactly what the uninterrupted run would do.
            seed_everything(cfg.seed + 1000 * epoch + self.ctx.rank)
            frozen = epoch <= cfg.warmup_epochs
            if frozen != frozen_state:
                self.model.freeze_encoders(frozen)
                # DDP registers the parameters that require grad when wrapped: wrap again after (un)freezing.
                ddp = self._wrap_ddp() if self.ctx.distributed else None
                frozen_state = frozen
                cb.info("Stage 1: encoders frozen." if frozen else "Stage 2: all layers trained.")
            started = time.perf_counter()
            train_loss, train_seconds = self._train_epoch(epoch, ddp)
            val = self._validate(epoch) if self.val_loader is not None else None
            entry: dict[str, Any] = {
                "epoch": epoch, "stage": "frozen" if frozen else "full", "train_loss": train_loss,
                "lr": self._head_lr(), "train_seconds": round(train_seconds, 3),
                "train_steps_per_second": round(self.micro_steps / max(train_seconds, 1e-9), 4),
            }
            score = None
            if val is not None:
                score = selection_score(val, self.num_classes, cfg.early_stop_metric)
                iou = selection_score(val, self.num_classes)
                entry.update(val_loss=val["loss"], val_iou=iou, val_miou=_number(val.get("miou")),
                             val_foreground_iou=_number(val.get("foreground_iou")),
                             val_pixel_accuracy=_number(val.get("pixel_accuracy")),
                             val_class_iou=[_number(v) for v in val["iou"]])
            entry["seconds"] = round(time.perf_counter() - started, 3)
            self.history.append(entry)
            self.schedule.epoch_end(score, main_stage=not frozen)
            improved = score is None or self.best["score"] is None or score > self.best["score"]
            if improved:
                metrics = {k: v for k, v in entry.items() if k.startswith("val_") or k in ("epoch", "train_loss")}
                self.best = {"epoch": epoch, "score": score, "metrics": metrics, "since": 0}
            else:
                self.best["since"] += 1
            stop = (cfg.early_stop_patience is not None and score is not None and not frozen
                    and self.best["since"] >= cfg.early_stop_patience)
            if self.ctx.is_main:
                self._save_epoch(epoch, improved, finished=stop or epoch == self.total_epochs)
            self._barrier()
            cb.metrics(epoch, {k: v for k, v in entry.items() if k != "val_class_iou"})
            epochs_run += 1
            if stop:
                what = "loss" if cfg.early_stop_metric == "loss" else "IoU"
                best = abs(self.best["score"])  # the loss is stored negated (higher is better)
                cb.info(f"Early stop after epoch {epoch}: validation {what} did not improve for "
                        f"{cfg.early_stop_patience} epochs (best {best:.4f} at epoch "
                        f"{self.best['epoch']}).")
                return True, epochs_run
        return False, epochs_run

    def _wrap_ddp(self) -> Any:
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.torch.device(self.device).index] if self.device_type == "cuda" else None
        # find_unused_parameters: some models skip branches (e.g. side heads, or the aux stream) in some configurations.
        return DistributedDataParallel(self.model, device_ids=ids, find_unused_parameters=True)

    def _barrier(self) -> None:
        if self.ctx.distributed:
            import torch.distributed as dist

            dist.barrier()

    def _check_canceled(self) -> None:
        canceled = self.callback.is_canceled()
        if self.ctx.distributed:
            # Every process must stop together, or the others wait forever in the next all-reduce.
            import torch.distributed as dist

            flag = self.torch.tensor([1.0 if canceled else 0.0], device=self._collective_device())
            dist.all_reduce(flag)
            canceled = bool(flag.item() > 0)
        if canceled:
            self._raise_canceled()

    def _raise_canceled(self) -> None:
        raise CanceledError(f"Training canceled. The last checkpoint '{self.ckpt_path}' is kept (resume to go "
                            f"on); nothing was written at '{self.output}'.")

    def _collective_device(self) -> str:
        return self.device if self.device_type == "cuda" else "cpu"

    def _head_lr(self) -> float:
        for group in self.optimizer.param_groups:
            if group["name"] == "head":
                return float(group["lr"])
        return float(self.optimizer.param_groups[-1]["lr"])

    def _autocast(self) -> Any:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return self.torch.autocast(device_type=self.device_type, dtype=self.amp_dtype)

    def _batch(self, batch: dict[str, Any]) -> tuple[Any, Any, Any]:
        nb = self.device_type == "cuda"
        pixels = batch["vision"].to(self.device, non_blocking=nb)
        aux = batch.get("aux") if self.model_cfg.uses_aux else None  # a vision-only model ignores the data's aux
        aux = aux.to(self.device, non_blocking=nb) if aux is not None else None
        labels = batch["labels"].to(self.device, non_blocking=nb).long()
        return pixels, aux, labels

    def _train_epoch(self, epoch: int, ddp: Any) -> tuple[float, float]:
        cfg = self.cfg
        net = ddp if ddp is not None else self.model
        self.model.train()
        train_ds = self.datasets[0]
        if hasattr(train_ds, "set_epoch"):
            train_ds.set_epoch(epoch)
        if hasattr(self.train_sampler, "set_epoch"):
            self.train_sampler.set_epoch(epoch)
        elif getattr(self.train_sampler, "generator", None) is not None:
            self.train_sampler.generator.manual_seed(cfg.seed + epoch)
        params = [p for p in self.model.parameters() if p.requires_grad]
        total = self.total_epochs * self.micro_steps
        done = (epoch - 1) * self.micro_steps
        self.optimizer.zero_grad(set_to_none=True)
        started = time.perf_counter()
        batches = Prefetcher(self.train_loader) if self.cfg.num_workers == 0 else self.train_loader
        try:
            self._train_steps(batches, ddp, net, params, done, total)
        finally:
            if isinstance(batches, Prefetcher):
                batches.close()
        seconds = time.perf_counter() - started
        mean = self._loss_sum / max(self._loss_count, 1)
        if self.ctx.distributed:
            import torch.distributed as dist

            mean = mean.to(self._collective_device())
            dist.all_reduce(mean)
            mean = mean / self.ctx.world_size
        value = float(mean.item())
        if not math.isfinite(value):
            raise ModelError(f"Training diverged in epoch {epoch} (loss {value}); lower the learning rate "
                             f"(now {cfg.learning_rate}) or set amp off.")
        return value, seconds

    def _train_steps(self, batches: Any, ddp: Any, net: Any, params: list[Any], done: int, total: int) -> None:
        torch, cfg, cb = self.torch, self.cfg, self.callback
        self._loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self._loss_count = 0
        for i, batch in enumerate(batches):
            self._check_canceled()
            pixels, aux, labels = self._batch(batch)
            sync = (i + 1) % cfg.grad_accumulation == 0 or i + 1 == self.micro_steps
            no_sync = ddp.no_sync() if ddp is not None and not sync else contextlib.nullcontext()
            with no_sync:
                with self._autocast():
                    outputs = net(pixels, aux)
                loss = self.loss_fn(_to_float(outputs), labels)
                scaled = loss / cfg.grad_accumulation
                (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
            if sync:
                if self.scaler is not None:
                    self.scaler.unscale_(self.optimizer)
                if cfg.grad_clip is not None and params:
                    torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                if self.scaler is not None:
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                else:
                    self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.schedule.step()
            self._loss_sum += loss.detach().double()
            self._loss_count += 1
            cb.progress(done + i + 1, total, "train")

    def _validate(self, epoch: int) -> dict[str, Any]:
        torch = self.torch
        from .metrics import ConfusionMatrix, logits_to_prediction

        self.model.eval()
        matrix = ConfusionMatrix(max(2, self.num_classes), ignore_index=self.ignore_index)
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        count = 0
        n = len(self.val_loader)
        # Processes may hold different numbers of validation batches, so no collective inside the loop:
        # cancellation is noted locally and agreed on with the metrics afterwards.
        canceled = False
        with torch.no_grad():
            for i, batch in enumerate(self.val_loader):
                if self.callback.is_canceled():
                    canceled = True
                    break
                pixels, aux, labels = self._batch(batch)
                with self._autocast():
                    outputs = self.model(pixels, aux)
                outputs = _to_float(outputs)
                loss_sum += self.loss_fn(outputs, labels).double() * len(labels)
                count += len(labels)
                matrix.update(logits_to_prediction(outputs["logits"]).cpu(), labels.cpu())
                self.callback.progress(i + 1, n, "validate")
        if self.ctx.distributed:
            import torch.distributed as dist

            dev = self._collective_device()
            cm = torch.as_tensor(matrix.matrix, dtype=torch.float64, device=dev)
            dist.all_reduce(cm)
            totals = torch.stack([loss_sum.to(dev), torch.tensor(float(count), dtype=torch.float64, device=dev),
                                  torch.tensor(float(canceled), dtype=torch.float64, device=dev)])
            dist.all_reduce(totals)
            matrix.matrix[...] = cm.cpu().numpy().astype(matrix.matrix.dtype)
            loss_sum, count, canceled = totals[0], int(totals[1].item()), bool(totals[2].item() > 0)
        if canceled:
            self._raise_canceled()
        summary = dict(matrix.summary(self.data_cfg.class_names if len(self.data_cfg.class_names) ==
                                      max(2, self.num_classes) else None))
        summary["loss"] = float(loss_sum.item()) / max(count, 1)
        self.model.train()
        return summary

    # ----------------------------------------------------------------------------------------- outputs

    def _bundle_metadata(self) -> dict[str, Any]:
        metrics = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                   for k, v in self.best.get("metrics", {}).items()}  # strict JSON in the bundle
        metrics["epoch"] = self.best.get("epoch", 0)
        return {"model": self.model_cfg.to_dict(), "data": self.data_meta, "train": self.cfg.to_dict(),
                "metrics": metrics}

    def _save_bundle(self, path: Path) -> None:
        from .bundle import save_bundle

        save_bundle(path, self.model, self._bundle_metadata())

    def _check_resources(self) -> None:
        """The tile against the training scenes and one step's memory against the device's (ResourceError)."""
        from .resources import check_memory, check_training_tile, tile_step, training_scene_sizes

        step = tile_step(self.data_cfg.aux_ratio)
        check_training_tile(self.data_cfg.tile_size, training_scene_sizes(self.data_cfg), step)
        check_memory("train", self.model_cfg.preset, self.cfg.batch_size, self.data_cfg.tile_size,
                     self.model_cfg.vision_channels or 4, self.device, step)

    def _save_epoch(self, epoch: int, improved: bool, finished: bool) -> None:
        """Best bundle so far (when improved), checkpoint and metrics; a failed write keeps the last good ones."""
        from .report import write_metrics

        try:
            if improved:
                self._save_bundle(self.partial_path)
            self._save_checkpoint(epoch, finished=finished)
            self.good_checkpoint = True
            write_metrics(self.history, self.paths["metrics_csv"], self.paths["metrics_json"])
        except OutputError as exc:
            kept = (f"the last good checkpoint '{self.ckpt_path}' is kept: free space and run again with --resume"
                    if self.good_checkpoint else "no checkpoint of this run had been written yet")
            raise OutputError(f"{exc} Training stopped in epoch {epoch}; {kept}.") from exc

    def _save_checkpoint(self, epoch: int, finished: bool) -> None:
        save_checkpoint(self.ckpt_path, model_state=self.model.state_dict(),
                        optimizer_state=self.optimizer.state_dict(), schedule_state=self.schedule.state_dict(),
                        scaler_state=self.scaler.state_dict() if self.scaler is not None else None, epoch=epoch,
                        finished=finished, history=self.history, best=self.best, configs=self.configs,
                        rng=capture_rng_state())

    def _finish(self, stopped_early: bool, epochs_run: int) -> TrainResult:
        report = None
        best_file = self.partial_path if self.partial_path.exists() else self.output
        if self.ctx.is_main and not best_file.exists():
            raise ConfigError(f"Training had finished but neither '{self.output}' nor '{self.partial_path}' exists "
                              f"(moved or deleted?); run again without --resume.")
        self._load_best_weights(best_file)
        if self.ctx.is_main:
            if best_file == self.partial_path:
                report = self._write_reports()
                os.replace(self.partial_path, self.output)
            else:  # resumed a run that had already finished
                report = self.paths["report_html"] if Path(self.paths["report_html"]).exists() else None
            self.callback.info(f"Model bundle written to '{self.output}' (best epoch {self.best.get('epoch')}, "
                               f"validation IoU {self.best.get('metrics', {}).get('val_iou')}).")
        self._barrier()
        return TrainResult(bundle=str(self.output), checkpoint=str(self.ckpt_path),
                           best_epoch=int(self.best.get("epoch", 0)), best_metrics=dict(self.best.get("metrics", {})),
                           history=list(self.history), report=report, outputs=dict(self.paths),
                           epochs_run=epochs_run, stopped_early=stopped_early)

    def _load_best_weights(self, best_file: Path) -> None:
        """Every process ends with the bundle's (best) weights in its model: rank 0 reads them, then broadcasts
        (other nodes need not share rank 0's file system)."""
        if self.ctx.is_main:
            state = require("safetensors.torch").load_file(str(best_file), device="cpu")
            self.model.load_state_dict(state)
        if self.ctx.distributed:
            import torch.distributed as dist

            for tensor in self.model.state_dict().values():  # share storage with the parameters and buffers
                dist.broadcast(tensor, src=0)
        self.model.eval()

    def _write_reports(self) -> str | None:
        """Metrics files, curves, prediction grid of the best weights and the HTML report (rank 0)."""
        from .report import write_report

        previews = self._previews() if self.cfg.preview_tiles > 0 and self.datasets[1] is not None else []
        try:
            return write_report(self.paths, self.history, self._bundle_metadata(), previews)
        except (OSError, ValueError, RuntimeError) as exc:  # a report is a nicety; the bundle matters
            self.callback.warning(f"The training report could not be written ({exc}); the model bundle is fine.")
            return None

    def _previews(self) -> list[dict[str, Any]]:
        """Image/truth/prediction of the first validation tiles, predicted with the best weights."""
        torch = self.torch
        from .metrics import logits_to_prediction

        val_ds = self.datasets[1]  # the model holds the best weights already (_load_best_weights)
        self.model.eval()
        out = []
        with torch.no_grad():
            for index in range(min(self.cfg.preview_tiles, len(val_ds))):
                sample = val_ds[index]
                batch = {k: v.unsqueeze(0) if hasattr(v, "unsqueeze") else v for k, v in sample.items()}
                pixels, aux, labels = self._batch(batch)
                with self._autocast():
                    logits = _to_float(self.model(pixels, aux))["logits"]
                out.append({"image": pixels[0].float().cpu().numpy(), "truth": labels[0].cpu().numpy(),
                            "prediction": logits_to_prediction(logits)[0].cpu().numpy()})
        return out


def _to_float(outputs: dict[str, Any]) -> dict[str, Any]:
    """Loss and metrics in float32 whatever autocast produced."""
    out = dict(outputs)
    out["logits"] = outputs["logits"].float()
    out["side_logits"] = [t.float() for t in outputs.get("side_logits") or []]
    return out
