"""How a training step runs on its device: the autocast precision (and whether fp16 needs a gradient scaler), the
memory format of the model and its batches, and the optimiser's implementation, each with what the log says of it
(as the epochs start, and the speed reached as they end); and how it updates the weights: the optimizer with a
learning rate per model part, and the learning-rate schedule.

On a GPU nothing changed from the reference: ``amp`` auto is bfloat16 where the GPU has it, else float16 with a
gradient scaler; the default memory format and optimiser. On a CPU, where most QGIS users train, the step is what
limits a time budget, so it is made as fast as the CPU allows:

- ``amp`` auto is bfloat16 autocast where the CPU computes bfloat16 natively (AMX or AVX-512 BF16: oneDNN's
  convolutions run at about twice the float32 rate), float32 elsewhere (emulated bfloat16 is slower). The loss and
  the metrics stay in float32, and the weights and the optimiser's state too (autocast casts per operation).
  ``bf16`` asks for it anyway; ``fp16`` is a GPU mode;
- the model and its image batches channels-last (NHWC), the layout oneDNN's convolutions run in: without it each
  convolution reorders its input and output;
- the optimiser's fused implementation (one kernel over all parameters instead of a loop of small operations);
- gradient clipping without its pass over every gradient where it scales nothing (:meth:`StepSetup.clip`).

The speed-ups and their accuracy were measured (``bench/train_speed.py``, ``bench/recipe_budget.py``,
docs/benchmarks.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from ..config import TrainConfig
from ..errors import ConfigError, ModelError
from ..runtime.cores import bf16_instructions
from ..runtime.environment import require


@dataclass(frozen=True)
class StepSetup:
    """The step's precision, memory format and optimiser implementation on one device."""

    device_type: str
    amp_dtype: Any = None  # torch dtype of autocast; None: float32
    scaler: bool = False  # float16 needs a gradient scaler
    channels_last: bool = False
    fused: bool = False  # the optimiser's fused implementation
    reason: str = ""  # why this precision, for the log
    warning: str = ""  # what the user asked that could not be done as asked

    @property
    def precision(self) -> str:
        return "fp32" if self.amp_dtype is None else str(self.amp_dtype).replace("torch.", "")

    @property
    def optimizer_options(self) -> dict[str, Any]:
        """Keyword arguments of the optimiser's constructor (its implementation)."""
        return {"fused": True} if self.fused else {}

    def model(self, model: Any) -> Any:
        """The model's 4-D weights (convolutions) in the step's memory format, in place; others as they are (a 3-D
        convolution's 5-D weights, which ``Module.to(memory_format=...)`` refuses)."""
        if not self.channels_last:
            return model
        layout = require("torch").channels_last
        for module in model.modules():
            for tensor in (*module.parameters(recurse=False), *module.buffers(recurse=False)):
                if tensor.dim() == 4:
                    tensor.data = tensor.data.contiguous(memory_format=layout)
        return model

    def batch(self, pixels: Any) -> Any:
        """A batch of images (N, C, H, W) in the step's memory format."""
        if self.channels_last and pixels is not None and pixels.dim() == 4:
            return pixels.contiguous(memory_format=require("torch").channels_last)
        return pixels

    def clip(self, params: list[Any], max_norm: float) -> None:
        """``clip_grad_norm_``: the gradients scaled to a total norm of at most ``max_norm``. On a CPU the scaling
        is left out where its factor is 1 (a total norm within the bound: most steps after the first few), which
        changes no value; on a GPU the comparison would wait for the GPU, so the multiplication by 1 stays."""
        utils = require("torch").nn.utils
        if self.device_type != "cpu" or not hasattr(utils, "get_total_norm"):
            utils.clip_grad_norm_(params, max_norm)
            return
        total = utils.get_total_norm([p.grad for p in params if p.grad is not None], 2.0)
        if not float(max_norm / (total + 1e-6)) >= 1.0:  # NaN scales too, as clip_grad_norm_ does
            utils.clip_grads_with_norm_(params, max_norm, total)

    def describe(self) -> str:
        """``precision bf16 (the CPU computes bfloat16 natively: AVX-512 BF16), channels-last, fused optimiser``."""
        parts = (f"precision {self.precision}" + (f" ({self.reason})" if self.reason else ""),
                 "channels-last" if self.channels_last else "", "fused optimiser" if self.fused else "")
        return ", ".join(part for part in parts if part)


def decide_precision(device_type: str, amp: str, bf16_supported: bool) -> tuple[Any, bool]:
    """Autocast dtype (None = full precision) and whether a GradScaler is needed. ``auto``: bf16 where supported
    (on a CPU: computed natively), else fp16 with a scaler on CUDA; ``fp16`` on a CPU, ``off``, other devices: fp32."""
    torch = require("torch")
    if amp not in ("auto", "off", "bf16", "fp16"):
        raise ConfigError(f"amp '{amp}' is unknown; use auto, off, bf16 or fp16.")
    if amp == "off" or device_type not in ("cuda", "cpu"):
        return None, False
    if amp == "bf16" and device_type == "cuda" and not bf16_supported:
        raise ConfigError("amp 'bf16' was requested but this GPU does not support bfloat16; use amp 'fp16' or "
                          "'auto'.")
    if amp == "bf16" or (amp == "auto" and bf16_supported):
        return torch.bfloat16, False
    return (None, False) if device_type == "cpu" else (torch.float16, True)


def decide_step(device_type: str, amp: str, *, gpu_bf16: bool = False, cpu_bf16: str | None = None) -> StepSetup:
    """The step's setup on ``device_type`` for the ``amp`` setting; ``gpu_bf16``: the GPU supports bfloat16;
    ``cpu_bf16``: the instruction set with which the CPU computes bfloat16 natively (None: it does not)."""
    if device_type != "cpu":
        return StepSetup(device_type, *decide_precision(device_type, amp, gpu_bf16))
    dtype, _ = decide_precision("cpu", amp, cpu_bf16 is not None)
    if dtype is not None:
        reason = (f"the CPU computes bfloat16 natively: {cpu_bf16}" if cpu_bf16 else
                  "as asked; this CPU emulates bfloat16, which is slower than fp32")
    elif amp == "auto":
        reason = "this CPU has no bfloat16 instructions (AMX or AVX-512 BF16), on which bf16 would be faster"
    else:
        reason = f"amp {amp}"
    warning = (f"amp '{amp}' applies to CUDA only; training on the CPU in "
               f"{'bf16' if dtype is not None else 'full precision'}." if amp == "fp16" else "")
    return StepSetup("cpu", dtype, False, channels_last=True, fused=True, reason=reason, warning=warning)


def step_for(device_type: str, amp: str) -> StepSetup:
    """:func:`decide_step` with what this machine's GPU or CPU offers."""
    torch = require("torch")
    if device_type == "cuda":
        return decide_step("cuda", amp, gpu_bf16=torch.cuda.is_bf16_supported())
    return decide_step(device_type, amp, cpu_bf16=bf16_instructions(torch) if device_type == "cpu" else None)


def start_line(model_cfg: Any, place: Any, threads: int | None, step: Any, steps: int, cfg: Any, first: int,
               last: int, budget: Any, loaders: int = 0) -> str:
    """``Training unet (light) on cpu with 2 thread(s), precision bf16 (...), channels-last, fused optimiser,
    [tiles prepared by 4 loader process(es),] 50 steps of 4 tiles per epoch, epochs 1..100 (0 with frozen
    encoders); loss ..., optimizer adamw, ...``."""
    ctx = place.ctx
    where = f" x{ctx.world_size} processes" if ctx.distributed else ""
    each = " each" if (threads or loaders) and ctx.distributed else ""
    with_threads = f" with {threads} thread(s){each}" if threads else ""
    prepared = f", tiles prepared by {loaders} loader process(es){each}" if loaders else ""
    return (f"Training {model_cfg.name} ({model_cfg.preset}) on {place.device}{where}{with_threads}, "
            f"{step.describe()}{prepared}, {steps} steps of {cfg.batch_size} tiles per epoch, epochs {first}..{last} "
            f"({cfg.warmup_epochs} with frozen encoders); loss {cfg.loss.describe(model_cfg.name)}, optimizer "
            f"{cfg.optimizer}{f', {budget.describe()}' if budget.limited else ''}.")


def speed_line(epochs: list[dict[str, Any]], batch_size: int, world_size: int = 1) -> str | None:
    """``Speed: 400 training tiles in 52.3 s of steps, 7.6 tiles per second (waiting 0.4 s for tiles); validation
    4.1 s, saving 0.6 s.`` over ``epochs`` (the history entries of this run); None without a step."""
    steps = sum(int(e.get("steps") or 0) for e in epochs)
    seconds = sum(float(e.get("train_seconds") or 0.0) for e in epochs)
    if not steps or seconds <= 0:
        return None
    tiles = steps * batch_size * world_size
    waited = sum(float(e.get("data_wait_seconds") or 0.0) for e in epochs)
    rest = [f"{what} {sum(float(e.get(key) or 0.0) for e in epochs):.1f} s"
            for what, key in (("validation", "val_seconds"), ("saving", "save_seconds"))
            if any(e.get(key) is not None for e in epochs)]
    return (f"Speed: {tiles} training tiles in {seconds:.1f} s of steps, {tiles / seconds:.1f} tiles per second "
            f"(waiting {waited:.1f} s for tiles){'; ' + ', '.join(rest) if rest else ''}.")


def build_optimizer(model: Any, cfg: TrainConfig, **implementation: Any) -> Any:
    """``cfg.optimizer`` over ``model.param_groups()``: vision encoder LR*vision_lr_factor, aux encoder
    LR*aux_lr_factor, fusion + decoder (the "head") LR, and the model's own-rate groups (``rate_factors``: LR times
    their factor), each group with its ``name``, ``factor`` and ``base_lr`` (before any schedule factor);
    ``implementation``: the constructor's ``fused`` / ``foreach`` (:class:`StepSetup`)."""
    torch = require("torch")
    factors = {"vision": cfg.vision_lr_factor, "aux": cfg.aux_lr_factor, "head": 1.0}
    group_of_role = {"vision_encoder": "vision", "aux_encoder": "aux", "fusion": "head", "decoder": "head"}
    roles = model.param_groups()
    unknown = sorted(set(roles) - set(group_of_role))
    if unknown:
        raise ModelError(f"model.param_groups() returned unknown role(s) {unknown}; expected {list(group_of_role)}.")
    own = model.rate_factors() if hasattr(model, "rate_factors") else {}  # a family's own-rate parameters
    apart = {id(p) for params, _ in own.values() for p in params}
    groups = []
    # the own-rate groups first: the head's group stays the last (the rate the epochs' log gives)
    for name, factor in [*((n, f) for n, (_, f) in own.items()), *factors.items()]:
        params = (list(own[name][0]) if name in own else
                  [p for role, role_params in roles.items() if group_of_role[role] == name for p in role_params
                   if id(p) not in apart])
        if params:
            lr = cfg.learning_rate * factor
            groups.append({"params": params, "lr": lr, "base_lr": lr, "name": name, "factor": factor})
    grouped = sum(len(g["params"]) for g in groups)
    total = len(list(model.parameters()))
    if grouped != total or len({id(p) for g in groups for p in g["params"]}) != grouped:
        raise ModelError(f"model.param_groups() covers {grouped} parameters but the model has {total}; "
                         f"the groups must be disjoint and cover every parameter.")
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.learning_rate, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                               **implementation)
    # Adam's weight decay is L2 in the gradient (the building design's Adam); AdamW's is decoupled.
    optimizer = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return optimizer(groups, lr=cfg.learning_rate, weight_decay=cfg.weight_decay, **implementation)


class LRSchedule:
    """Per-optimiser-step learning-rate factor applied to every group's ``base_lr``: the base LR in frozen warm-up
    epochs, then ``warmup_steps`` of linear warm-up and ``cosine`` (to ``min_learning_rate``), ``step`` or
    ``plateau``. With a time budget (``progress``: its share spent) the cosine follows whichever of the steps and
    the budget is further along: it reaches its floor when the budget ends training."""

    def __init__(self, optimizer: Any, cfg: TrainConfig, steps_per_epoch: int,
                 progress: Callable[[], float] | None = None):
        self.optimizer, self.cfg, self.progress = optimizer, cfg, progress
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.frozen_steps = cfg.warmup_epochs * self.steps_per_epoch
        self.main_steps = max(1, cfg.epochs * self.steps_per_epoch)
        self.floor = cfg.min_learning_rate / cfg.learning_rate
        self.step_count, self.plateau_scale, self.plateau_best, self.plateau_bad = 0, 1.0, -math.inf, 0
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
            if self.progress is not None and s >= warm:
                t = max(t, self.progress())
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
