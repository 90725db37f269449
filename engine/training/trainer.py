"""The fit loop: from configs to a model bundle, in two stages (warm-up epochs with both encoders frozen, then
full fine-tuning), early stopping on validation IoU or loss, resume, cancellation every step, and torch.distributed
(``torchrun``: DistributedSampler + DDP, rank 0 writes).

Files for ``output = dir/name.dsmodel``:
  ``dir/name.dsmodel``           the best bundle, moved into place only when training finishes;
  ``dir/name.dsmodel.partial``   the best bundle so far (a complete bundle, but not at the finished name); a
                                 canceled run folds it into the checkpoint, and a resume writes it back;
  ``dir/name.dsmodel.ckpt``      the last checkpoint (every epoch), for ``resume``;
  ``dir/name_metrics.csv/.json``, ``dir/name_curves.png``, ``dir/name_predictions.png``, ``dir/name_report.html``.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Any, Callable

from ..callbacks import Callback, QuietCallback, stage_line
from ..config import DataConfig, ModelConfig, TrainConfig
from ..errors import CanceledError, ConfigError, mention
from ..io.atomic import output_locks
from ..io.safety import check_creatable, check_outputs
from ..runtime.cores import torch_cpu_threads
from ..runtime.environment import DistContext, require, resolve_device, setup_distributed
from .averaging import build_average
from .checkpoint import checkpoint_path, early_stop_due, resume, seconds_spent, seed_everything
from .metrics import foreground_shares, number, selection_score
from .outputs import RESUME, TrainFiles, TrainResult, coordinates_record, earlier_checkpoint, stopped, train_files
from .parts import Batches, Forward, Optimisation, Place, RunPaths, TimeBudget, TrainRecord, validate
from .preflight import check_dates, check_resources, fit_to_data, no_validation_foreground, scene_dates, side_outputs
from .step_setup import LRSchedule, build_optimizer, speed_line, start_line, step_for
from .steps import EpochSteps


def train(model_cfg: ModelConfig, data_cfg: DataConfig, train_cfg: TrainConfig, callback: Callback | None = None,
          *, model: Any = None, datasets: tuple[Any, Any, Any] | None = None,
          clock: Callable[[], float] = time.monotonic) -> TrainResult:
    """Train a model and write its bundle to ``train_cfg.output`` (see the module docstring for all files).

    ``model_cfg``'s channel counts, classes and aux ratio are taken from the data. ``callback``: progress (per
    step, stage "train"; per validation tile batch, stage "validate"), metrics per epoch, cancellation (checked
    every step). ``model``: an already built model (default: built from ``model_cfg``); it then holds the best
    (the bundle's) weights, in eval mode. ``datasets``: ``(train_ds, val_ds, summary)`` instead of
    ``build_datasets``. ``clock``: what the time budget is counted in. Raises CanceledError when the callback
    asks to stop (the last checkpoint stays, no bundle appears at ``output``), ConfigError for bad settings or a
    ``resume`` from a checkpoint of other settings.
    """
    callback = callback or Callback()
    check_outputs(*train_files(model_cfg, data_cfg, train_cfg))  # before any work: never write onto an input
    ctx, device = setup_distributed(resolve_device(train_cfg.device))
    try:
        # rank 0 writes, so rank 0 holds the lock: a second training onto the same bundle refuses at once
        if ctx.is_main:  # a read-only or missing destination is said now, not after the first epoch
            check_creatable(train_cfg.output, f"model bundle ({mention('train.output')})")
        with output_locks({f"model bundle ({mention('train.output')})": train_cfg.output} if ctx.is_main else {}):
            try:
                trainer = _Trainer(model_cfg, data_cfg, train_cfg, callback, ctx, device, model, datasets, clock)
            except KeyboardInterrupt as exc:  # while the data was prepared: no checkpoint of this run yet
                ckpt = checkpoint_path(Path(train_cfg.output))
                raise CanceledError(stopped("Training interrupted", Path(train_cfg.output), ckpt,
                                            ckpt.exists() and train_cfg.resume)) from exc
            return trainer.run()
    finally:
        ctx.close()


FROZEN_BUDGET_SHARE = 0.5  # the share of a time budget after which the frozen warm-up epochs end


class _Trainer:
    """One training, built by named steps (as TorchGeo's ``configure_*`` hooks), the checks that need no data
    first; :meth:`run` then resumes, fits and finishes. Its workers: ``steps`` and ``files`` (:mod:`.parts`)."""

    def __init__(self, model_cfg: ModelConfig, data_cfg: DataConfig, train_cfg: TrainConfig, callback: Callback,
                 ctx: DistContext, device: str, model: Any, datasets: tuple[Any, Any, Any] | None,
                 clock: Callable[[], float]):
        self.cfg, self.data_cfg = train_cfg, data_cfg
        self.place = Place(ctx, device, require("torch").device(device).type, callback)
        self.paths = self._configure_paths()
        self.parent = self._configure_parent(model_cfg)
        self.num_side_outputs = side_outputs(model_cfg.name, model)
        train_cfg.loss.side_weights_for(model_cfg.name, self.num_side_outputs)  # against the model's side outputs
        seed_everything(train_cfg.seed)
        self.datasets = self._configure_data(model_cfg, datasets)
        self.model = self._configure_model(model_cfg, model)
        from .losses import build_loss

        loss_fn = build_loss(train_cfg.loss, self.model_cfg.name, self.num_side_outputs, self.ignore_index).to(device)
        forward, scaler = self._configure_precision()
        optimizer = build_optimizer(self.model, train_cfg, **self.step_setup.optimizer_options)
        self.batches, self.val_loader, self.keep_last = self._configure_loaders()
        extra = coordinates_record(self.model, self.datasets[:2], self.place.callback)  # before any tile is read
        self.net, self.cached, self.temporary = self.model, train_cfg.frozen_encoder == "cached", []
        self.cache_seconds = 0.0  # counted in the time budget
        if self.cached:  # the frozen encoder's features once; the steps train the rest on them
            from .cached import cached_training

            self.net, self.batches, self.val_loader, self.temporary, self.cache_seconds = cached_training(
                self.model, self.model_cfg, self.batches, self.val_loader, data_cfg, train_cfg, self.place,
                self.paths.output)
        self.budget = TimeBudget(train_cfg.time_budget, clock)
        self.optim = Optimisation(loss_fn, forward, optimizer, self._configure_schedule(optimizer), scaler)
        self.total_epochs = train_cfg.total_epochs
        configs = {"model": self.model_cfg.to_dict(), "data": data_cfg.to_dict(), "train": train_cfg.to_dict()}
        self.record = TrainRecord(self.model_cfg, self.data_meta, self.parent, configs, extra)
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"epoch": 0, "score": None, "metrics": {}, "since": 0}
        from .consistency import build_consistency

        self.consistency = build_consistency(self.model, self.datasets, data_cfg, train_cfg, self.place, self.cached)
        self.average = build_average(self.model, train_cfg.weight_average)
        self.steps = EpochSteps(train_cfg, self.net, self.optim, self.batches, self.budget, self.place, self._stopped,
                                len(self.val_loader) if self.val_loader is not None else 0, self.consistency,
                                self.average)
        self.files = TrainFiles(train_cfg, self.record, self.model, self.optim, self.budget, self.datasets, self.paths,
                                self.keep_last, self.place, self.average)

    def _configure_paths(self) -> RunPaths:
        """The run's files; a resume without a checkpoint refused, an earlier run's checkpoint said."""
        from .report import report_paths

        output = Path(self.cfg.output)
        paths = RunPaths(output, output.with_name(output.name + ".partial"), checkpoint_path(output),
                         report_paths(output))
        if self.cfg.resume and not paths.checkpoint.is_file():
            raise ConfigError(f"resume was requested but there is no checkpoint '{paths.checkpoint}'; run without "
                              f"{RESUME} to start a new training.")
        earlier = (None if self.cfg.resume or not self.place.ctx.is_main
                   else earlier_checkpoint(output, paths.checkpoint, paths.partial))
        if earlier:
            self.place.callback.warning(earlier)
        return paths

    def _configure_parent(self, model_cfg: ModelConfig) -> Any:
        """The bundle a fine-tuning starts from (None without ``init_from``), its family checked."""
        if not self.cfg.init_from:
            return None
        from .finetune import check_family, read_parent

        parent = read_parent(self.cfg.init_from)
        check_family(model_cfg, parent)
        return parent

    def _configure_data(self, model_cfg: ModelConfig, datasets: tuple[Any, Any, Any] | None) -> tuple[Any, Any, Any]:
        """(train, validation, summary) datasets, the resources checked from raster headers first."""
        if datasets is None:
            from ..data.dataset import build_datasets
            from ..imagery.stac_assets import stac_scenes
            from ..models.configuration_utils import takes_a_season

            check_dates(model_cfg, scene_dates(self.data_cfg))  # before any file is read
            read = stac_scenes(self.data_cfg, self.place.callback)  # the settings keep the items, for the checkpoint
            check_resources(model_cfg, read, self.cfg, self.place.device)
            datasets = build_datasets(read, self.place.callback, takes_a_season(model_cfg.name))
        from .finetune import keep_parent_statistics, released_statistics

        say = self.place.callback.info  # without a parent, a pretrained encoder's own (Prithvi's released HLS ones)
        datasets = (keep_parent_statistics(datasets, self.parent, self.cfg.recompute_stats, say)
                    if self.parent is not None else released_statistics(datasets, model_cfg, say))
        if len(datasets[0]) == 0:
            raise ConfigError("the training dataset is empty; raise tiles_per_epoch or check the training scenes.")
        return datasets

    def _configure_model(self, model_cfg: ModelConfig, model: Any) -> Any:
        """The model sized to the data (built here unless given), on the device, with a parent's weights."""
        data_meta = self.datasets[2].metadata
        check_dates(getattr(model, "config", model_cfg), data_meta.dates)
        self.num_classes, self.ignore_index = data_meta.num_classes, data_meta.ignore_index
        self.model_cfg, self.data_meta = fit_to_data(model_cfg, data_meta, model, self.num_classes,
                                                     int(self.data_cfg.tile_size), self.place.callback)
        if model is None:
            from ..models import build_model_from_config

            # fine-tuning: the weights come from the parent, so the builder's word on random encoders would mislead
            say = self.place.callback if self.parent is None else QuietCallback()
            try:
                model = build_model_from_config(self.model_cfg, callback=say)
            except KeyError as exc:  # unknown model name; the message lists the valid ones
                raise ConfigError(str(exc.args[0]) if exc.args else str(exc)) from exc
        model = model.to(self.place.device)
        self.model_cfg = getattr(model, "config", self.model_cfg)  # with what a pretrained checkpoint fixed
        if self.parent is not None and not self.cfg.resume:  # a resumed run takes its checkpoint's weights
            from .finetune import load_parent_weights

            load_parent_weights(model, self.model_cfg, self.parent, self.place.callback.info,
                                self.place.callback.warning)
        return model

    def _configure_precision(self) -> tuple[Forward, Any]:
        """The forward pass in the precision and memory format the device and ``amp`` allow, and its grad scaler."""
        self.step_setup = step_for(self.place.device_type, self.cfg.amp)
        if self.step_setup.warning:
            self.place.callback.warning(self.step_setup.warning)
        self.step_setup.model(self.model)
        forward = Forward(self.place.device, self.step_setup, self.model_cfg.uses_aux, self.model.takes_coords,
                          self.model.takes_days)
        return forward, require("torch").amp.GradScaler("cuda", enabled=self.step_setup.scaler)

    def _configure_loaders(self) -> tuple[Batches, Any, bool]:
        """(training batches, validation loader or None, whether the bundle keeps the last epoch)."""
        from ..data.loaders import train_loader, val_loader

        cfg, ctx, say = self.cfg, self.place.ctx, self.place.callback
        train_ds, val_ds, summary = self.datasets
        pin = self.place.device_type == "cuda"
        loader, sampler = train_loader(train_ds, self.data_cfg, cfg, ctx, ignore_index=self.ignore_index,
                                       aux_ratio=self.data_meta.aux_ratio or 1, pin_memory=pin)
        val = val_loader(val_ds, cfg, ctx, pin_memory=pin) if val_ds is not None and len(val_ds) else None
        if val is None:
            say.warning(f"No validation tiles: the bundle will hold the last epoch's weights, and early stopping "
                        f"is off. Give validation scenes ({mention('data.val_scenes')}) or a "
                        f"{mention('data.val_fraction')} above 0 to select the best epoch.")
        # no foreground to validate on: the IoU is 0 every epoch, and picking by it would keep the first epoch
        keep_last = val is not None and getattr(summary, "val_has_foreground", None) is False
        if keep_last:
            say.warning(no_validation_foreground(self.data_cfg, cfg, bool(getattr(summary, "holdout", False))))
            keep_last = cfg.early_stop_metric == "iou"
        if len(loader) == 0:
            raise ConfigError(f"tiles_per_epoch ({len(train_ds)}) gives no full batch of {cfg.batch_size} per "
                              f"process; raise tiles_per_epoch or lower batch_size.")
        return Batches(train_ds, loader, sampler, len(loader)), val, keep_last

    def _configure_schedule(self, optimizer: Any) -> LRSchedule:
        # the LR follows the budget's clock on one process only: processes with different LRs would drift apart
        follow = self.budget.fraction if self.budget.limited and not self.place.ctx.distributed else None
        steps = math.ceil(self.batches.micro_steps / self.cfg.grad_accumulation)
        return LRSchedule(optimizer, self.cfg, steps, follow)

    def run(self) -> TrainResult:
        """Resume or start, fit, finish. However it ends, nothing is left that nothing refers to: a .partial
        bundle this run wrote is removed when no checkpoint of this run exists to resume it from."""
        try:
            return self._run()
        except BaseException as exc:
            # a cancel (Ctrl+C or SIGTERM: KeyboardInterrupt, as the CLI turns it) keeps the checkpoint alone: it
            # holds the best weights for a resume
            self.files.fold_partial(canceled=isinstance(exc, (KeyboardInterrupt, CanceledError)))
            if isinstance(exc, KeyboardInterrupt):
                raise CanceledError(self._stopped("Training interrupted")) from exc
            raise
        finally:
            for file in self.temporary:  # cached encoder features are never left behind
                file.unlink(missing_ok=True)

    def _stopped(self, what: str) -> str:
        self.files.settle(quiet=True)  # whether a checkpoint is there to resume from: the write in flight decides
        return stopped(what, self.paths.output, self.paths.checkpoint, self.files.good_checkpoint)

    def _run(self) -> TrainResult:
        cfg, cb = self.cfg, self.place.callback
        start_epoch, finished = 1, False
        if cfg.resume:
            start_epoch, finished, self.history, self.best = resume(self.files)
            self.files.good_checkpoint = True
        if self.place.ctx.is_main:
            self.paths.output.parent.mkdir(parents=True, exist_ok=True)
            if not cfg.resume:
                self.paths.partial.unlink(missing_ok=True)
        stop, epochs_run = None, 0
        if not finished:
            # torch's threads spin: on a CPU the free cores, chosen as the epochs start
            threads = torch_cpu_threads(require("torch")) if self.place.device_type == "cpu" else None
            cb.info(start_line(self.model_cfg, self.place, threads, self.step_setup, self.batches.micro_steps, cfg,
                               start_epoch, self.total_epochs, self.budget, self.batches.loader.num_workers))
            self.budget.start(seconds_spent(self.history) + self.cache_seconds)
            stop, epochs_run = self._fit(start_epoch)
            said = speed_line(self.history[len(self.history) - epochs_run:], cfg.batch_size,
                              self.place.ctx.world_size)
            if said:
                cb.info(said)
        return self.files.finish(stop, epochs_run, self.history, self.best)

    def _fit(self, start_epoch: int) -> tuple[str | None, int]:
        """Epochs from ``start_epoch``; returns (why training stopped before the last epoch: "early", "budget" or
        None, epochs run)."""
        cfg, cb = self.cfg, self.place.callback
        ddp, frozen_state = None, None
        epochs_run = 0
        if self.consistency is not None and self.best.get("score"):  # resumed after the model found the classes
            self.consistency.active = True
        for epoch in range(start_epoch, self.total_epochs + 1):
            # Reseed per epoch so that a resumed run repeats exactly what the uninterrupted run would do.
            seed_everything(cfg.seed + 1000 * epoch + self.place.ctx.rank)
            frozen = epoch <= cfg.warmup_epochs or self.cached
            if frozen and not self.cached and self.budget.limited and self.budget.fraction() >= FROZEN_BUDGET_SHARE:
                frozen = False  # under a time budget the frozen warm-up never takes the training whole
                if frozen_state:
                    cb.info(f"Half the {self.budget.describe()} is spent in the epochs with frozen encoders: all "
                            f"layers are trained from epoch {epoch} on, not after epoch {cfg.warmup_epochs}.")
            if frozen != frozen_state:
                self.model.freeze_encoders(frozen)
                # DDP registers the parameters that require grad when wrapped: wrap again after (un)freezing.
                ddp = self.steps.wrap_ddp() if self.place.ctx.distributed else None
                frozen_state = frozen
                cb.info(stage_line(frozen, self.cached))
            started = self.budget.clock()
            last = self.history[-1] if self.history else {}  # its validation's seconds are kept for this one's
            reserve = (max(0.0, float(last.get("seconds") or 0.0) - float(last.get("train_seconds") or 0.0))
                       if last else None)  # None: the first epoch estimates its validation as its steps go
            cb.epoch_started(epoch, self.total_epochs)  # the status line says so before the first step ends
            train_loss, train_seconds, steps, waited = self.steps.train_epoch(epoch, ddp, reserve)
            began_val = time.perf_counter()
            with self.average.applied() if self.average is not None else contextlib.nullcontext():
                val = (validate(self.net, self.val_loader, self.optim.forward, self.optim.loss_fn, self.num_classes,
                                self.ignore_index, self.data_cfg.class_names, self.place, self._stopped)
                       if self.val_loader is not None else None)
            val_seconds = time.perf_counter() - began_val
            # the head's rate (fusion + decoder): its group is the last (step_setup.build_optimizer)
            entry: dict[str, Any] = {
                "epoch": epoch, "stage": "frozen" if frozen else "full", "train_loss": train_loss,
                "lr": float(self.optim.optimizer.param_groups[-1]["lr"]), "train_seconds": round(train_seconds, 3),
                "steps": steps, "train_steps_per_second": round(steps / max(train_seconds, 1e-9), 4),
                "train_tiles_per_second": round(steps * cfg.batch_size * self.place.ctx.world_size
                                                / max(train_seconds, 1e-9), 3),
                "data_wait_seconds": round(waited, 3), "val_seconds": round(val_seconds, 3),
            }
            if self.consistency is not None:  # what the unlabelled tiles taught this epoch
                entry.update(self.consistency.summary())
                self.consistency.reset()
            score = None
            if val is not None:
                if not self.keep_last:  # keep_last: every epoch improves, none stops early
                    score = selection_score(val, self.num_classes, cfg.early_stop_metric)
                entry.update(val_loss=val["loss"], val_iou=selection_score(val, self.num_classes),
                             val_miou=number(val.get("miou")), val_foreground_iou=number(val.get("foreground_iou")),
                             val_pixel_accuracy=number(val.get("pixel_accuracy")),
                             val_class_iou=[number(v) for v in val["iou"]], **foreground_shares(val))
                if val.get("threshold_f1"):  # a binary model: its F1 at each threshold, and the best
                    entry.update(val_threshold=val["decision_threshold"],
                                 val_threshold_f1=[round(v or 0.0, 4) for v in val["threshold_f1"]])
            if self.consistency is not None:  # from the next epoch on, once the model finds the classes
                self.consistency.start(epoch, entry.get("val_iou"), cb.info)
            entry["seconds"] = round(self.budget.clock() - started, 3)
            self.history.append(entry)
            self.optim.schedule.epoch_end(score, main_stage=not frozen)
            improved = score is None or self.best["score"] is None or score > self.best["score"]
            if improved:
                metrics = {k: v for k, v in entry.items() if k.startswith("val_") or k in ("epoch", "train_loss")}
                self.best = {"epoch": epoch, "score": score, "metrics": metrics, "since": 0}
            elif not (cfg.early_stop_metric == "iou" and not self.best["score"]):
                self.best["since"] += 1  # patience counts from the first IoU above 0: nothing learnt is no plateau
            early = score is not None and not frozen and early_stop_due(self.best, cfg.early_stop_patience)
            cut_short = steps < self.batches.micro_steps
            late = epoch < self.total_epochs and self.place.agree(cut_short or self.budget.used_up())[0]
            stop = early or late
            if self.place.ctx.is_main:
                began_save = time.perf_counter()
                self.files.save_epoch(epoch, improved, stop or epoch == self.total_epochs, self.history, self.best)
                entry["save_seconds"] = round(time.perf_counter() - began_save, 3)  # in the files from the next on
            self.place.ctx.barrier()
            shown = {k: v for k, v in entry.items() if k != "val_class_iou"}
            if improved and score is not None:  # the metric the bundle's best epoch is chosen by
                shown["best"] = "val_loss" if cfg.early_stop_metric == "loss" else "val_iou"
            cb.metrics(epoch, {**shown, "epochs": self.total_epochs})
            epochs_run += 1
            if not early and (late or (epoch == self.total_epochs and self.place.agree(cut_short)[0])):
                self.steps.progress(1, 1)  # the budget's end is the bar's end
                cut = f"cut after {steps} of {self.batches.micro_steps} steps"
                when = (f"after epoch {epoch}{f' ({cut})' if cut_short else ''}" if late else
                        f"in the last epoch ({epoch}), {cut}")
                cb.info(f"Stopped at the {self.budget.describe()} {when}; the bundle holds the best epoch "
                        f"({self.best['epoch']}).")
                return "budget", epochs_run
            if stop:
                what = "loss" if cfg.early_stop_metric == "loss" else "IoU"
                best = abs(self.best["score"])  # the loss is stored negated (higher is better)
                cb.info(f"Early stop after epoch {epoch}: validation {what} did not improve for "
                        f"{cfg.early_stop_patience} epochs (best {best:.4f} at epoch "
                        f"{self.best['epoch']}).")
                return "early", epochs_run
        return None, epochs_run
