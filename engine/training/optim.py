"""How the weights are updated: the optimizer with a learning rate per model part, and the learning-rate
schedule (the step's precision and the optimiser's implementation are :mod:`.step_setup`'s)."""

from __future__ import annotations

import math
from typing import Any, Callable

from ..config import TrainConfig
from ..errors import ModelError
from ..runtime.environment import require


def build_optimizer(model: Any, cfg: TrainConfig, **implementation: Any) -> Any:
    """``cfg.optimizer`` over ``model.param_groups()``: vision encoder LR*vision_lr_factor, aux encoder
    LR*aux_lr_factor, fusion + decoder (the "head") LR, each group with its ``name`` and ``base_lr`` (before any
    schedule factor); ``implementation``: the constructor's ``fused`` / ``foreach`` (:mod:`.step_setup`)."""
    torch = require("torch")
    factors = {"vision": cfg.vision_lr_factor, "aux": cfg.aux_lr_factor, "head": 1.0}
    group_of_role = {"vision_encoder": "vision", "aux_encoder": "aux", "fusion": "head", "decoder": "head"}
    roles = model.param_groups()
    unknown = sorted(set(roles) - set(group_of_role))
    if unknown:
        raise ModelError(f"model.param_groups() returned unknown role(s) {unknown}; expected {list(group_of_role)}.")
    groups = []
    for name, factor in factors.items():
        params = [p for role, role_params in roles.items() if group_of_role[role] == name for p in role_params]
        if params:
            lr = cfg.learning_rate * factor
            groups.append({"params": params, "lr": lr, "base_lr": lr, "name": name})
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
    """Per-optimiser-step learning-rate factor applied to every group's ``base_lr``.

    Frozen warm-up epochs run at the base LR. The main stage starts with ``warmup_steps`` of linear warm-up,
    then follows ``cosine`` (to ``min_learning_rate``), ``step`` or ``plateau``. With a time budget, ``progress``
    gives the share of it spent, and the cosine follows whichever of the steps and the budget is further along:
    it reaches its floor when the budget ends training.
    """

    def __init__(self, optimizer: Any, cfg: TrainConfig, steps_per_epoch: int,
                 progress: Callable[[], float] | None = None):
        self.optimizer = optimizer
        self.cfg = cfg
        self.progress = progress
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
