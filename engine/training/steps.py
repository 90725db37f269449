"""The optimisation half of the trainer: one epoch of optimiser steps (gradient accumulation, clipping, the AMP
grad scaler, DDP's ``no_sync`` between synchronised steps), the checks every step makes (cancellation, the time
budget) agreed on by every process, and the progress they report."""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..callbacks import Stage
from ..config import TrainConfig
from ..errors import CanceledError, ModelError
from ..runtime.environment import process_cores, require
from ..runtime.prefetch import Prefetcher
from .parts import Batches, Optimisation, Place, TimeBudget


def prefetch_tiles(num_workers: int, device_type: str, torch_threads: int) -> bool:
    """Whether a thread prepares the next tiles while the step runs (no DataLoader workers): only where a core is
    left over for it. On a CPU whose every core runs torch's threads, the thread's Python (the interpreter lock)
    and its work slow each step by more than preparing the tiles in turn costs (docs/benchmarks.md, "Training
    speed on the CPU")."""
    return not num_workers and (device_type != "cpu" or process_cores() > torch_threads)


@dataclass
class EpochSteps:
    """Epochs of optimiser steps over the training loader."""

    cfg: TrainConfig
    model: Any
    optim: Optimisation
    batches: Batches
    budget: TimeBudget
    place: Place
    stopped: Callable[[str], str]  # what a stop leaves behind, in words (trainer's)
    val_batches: int = 0  # validation batches per epoch (the first epoch estimates their time from its steps)
    consistency: Any = None  # the unlabelled half of each step (:mod:`.consistency`), or None
    average: Any = None  # the weights' moving average (:mod:`.averaging`), or None

    def progress(self, done: int, total: int) -> None:
        """Progress over all epochs' steps, or with a time budget its seconds (whichever is further along)."""
        if not self.budget.limited:
            self.place.callback.progress(done, total, Stage.TRAIN)
            return
        seconds = self.budget.seconds
        spent = min(seconds, max(self.budget.spent(), seconds * done / total))
        self.place.callback.progress(round(spent), round(seconds), Stage.TRAIN)

    def wrap_ddp(self) -> Any:
        from torch.nn.parallel import DistributedDataParallel

        ids = [require("torch").device(self.place.device).index] if self.place.device_type == "cuda" else None
        # find_unused_parameters: some models skip branches (e.g. side heads, or the aux stream) in some configurations.
        return DistributedDataParallel(self.model, device_ids=ids, find_unused_parameters=True)

    def train_epoch(self, epoch: int, ddp: Any, reserve: float | None) -> tuple[float, float, int, float]:
        """(mean loss, seconds, steps run: fewer when the time budget ran out, keeping ``reserve`` seconds for the
        validation (None: estimated as the steps go), seconds the steps waited for their tiles)."""
        cfg = self.cfg
        self.model.train()
        if hasattr(self.batches.dataset, "set_epoch"):
            self.batches.dataset.set_epoch(epoch)
        if hasattr(self.batches.sampler, "set_epoch"):
            self.batches.sampler.set_epoch(epoch)
        elif getattr(self.batches.sampler, "generator", None) is not None:
            self.batches.sampler.generator.manual_seed(cfg.seed + epoch)
        self.optim.optimizer.zero_grad(set_to_none=True)
        started = self.budget.clock()
        ahead = prefetch_tiles(self.batches.loader.num_workers, self.place.device_type,
                               require("torch").get_num_threads())
        loader = self.batches.loader
        with contextlib.closing(Prefetcher(loader)) if ahead else contextlib.nullcontext(loader) as batches:
            mean, steps, waited = self._train_steps(batches, epoch, ddp, reserve)
        seconds = self.budget.clock() - started
        if self.place.ctx.distributed:
            mean = self.place.summed(mean) / self.place.ctx.world_size
        value = float(mean.item())
        if not math.isfinite(value):
            raise ModelError(f"Training diverged in epoch {epoch} (loss {value}); lower the learning rate "
                             f"(now {cfg.learning_rate}) or set amp off.")
        return value, seconds, steps, waited

    def _train_steps(self, batches: Any, epoch: int, ddp: Any, reserve: float | None) -> tuple[Any, int, float]:
        """The epoch's steps, up to the time budget (at least one): (mean loss as a tensor on the device: no sync per
        step, steps run, seconds spent waiting for tiles)."""
        torch, cfg, scaler = require("torch"), self.cfg, self.optim.scaler
        net = ddp if ddp is not None else self.model
        params = [p for p in self.model.parameters() if p.requires_grad]
        steps = self.batches.micro_steps
        total, done = cfg.total_epochs * steps, (epoch - 1) * steps
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.place.device)
        waited, started, tiles = 0.0, self.budget.clock(), iter(batches)
        for i in itertools.count():
            asked = time.perf_counter()
            batch = next(tiles, None)
            if batch is None:
                break
            waited += time.perf_counter() - asked
            keep = reserve
            if keep is None:  # the first epoch: a validation batch costs about a third of a training step (measured
                # from the second step on: the first one carries the loaders' start)
                keep = (self.budget.clock() - started) / i * self.val_batches / 3 if i >= 2 else 0.0
            # every process stops alike: canceled, or the budget used up (``keep`` seconds kept for the validation)
            canceled, late = self.place.agree(self.place.callback.is_canceled(), self.budget.used_up(keep))
            if canceled:
                raise CanceledError(self.stopped("Training canceled"))
            if late and i:
                break
            pixels, aux, labels, inputs = self.optim.forward.batch(batch)
            sync = (i + 1) % cfg.grad_accumulation == 0 or i + 1 == steps
            semi = self.consistency is not None and self.consistency.active
            # with the unlabelled half, its backward (the step's last) synchronises the gradients of both
            no_sync = ddp.no_sync() if ddp is not None and (semi or not sync) else contextlib.nullcontext()
            with no_sync:
                loss = self.optim.loss_fn(self.optim.forward(net, pixels, aux, inputs), labels)
                scaler.scale(loss / cfg.grad_accumulation).backward()  # a disabled scaler (no float16) passes it
            if semi:
                with ddp.no_sync() if ddp is not None and not sync else contextlib.nullcontext():
                    unlabelled = self.consistency.loss(net, self.optim.forward, self.optim.loss_fn, i)
                    scaler.scale(unlabelled / cfg.grad_accumulation).backward()
            if sync:
                scaler.unscale_(self.optim.optimizer)
                if cfg.grad_clip is not None and params:
                    self.optim.forward.step.clip(params, cfg.grad_clip)
                scaler.step(self.optim.optimizer)
                scaler.update()
                self.optim.optimizer.zero_grad(set_to_none=True)
                self.optim.schedule.step()
                if self.average is not None:
                    self.average.update()
            loss_sum += loss.detach().double()
            self.progress(done + i + 1, total)
        return loss_sum / max(i, 1), i, waited  # the loop ends before step i: i steps ran
