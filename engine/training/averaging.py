"""Weight averaging (``train.weight_average``): an exponential moving average of the model's weights, updated after
every optimiser step, is what each validation scores and what the bundle keeps; the optimiser goes on from the raw
weights. With few labels the raw weights swing from epoch to epoch (LEVIR-CD's validation IoU 0.35-0.72 between
neighbouring epochs), and the pick of the best epoch on a small validation set catches a swing; the average follows
the trend (Polyak averaging; timm's ``ModelEmaV2``, the mean teacher). Measured: docs/change-detection.md.

The average covers every floating-point weight and buffer (batch-norm statistics too, so the averaged weights run
with statistics of their own time); integer buffers (batch counts) are the raw model's."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from ..runtime.environment import require

WARMUP = 10  # the early steps' decay is (1 + n) / (WARMUP + n): the random start is not averaged in for long


class WeightAverage:
    """The moving average of ``model``'s floating-point state, ``decay`` per optimiser step (0 < decay < 1)."""

    def __init__(self, model: Any, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"a weight average's decay must be in (0, 1), not {decay}")
        self.model, self.decay, self.updates = model, float(decay), 0
        self.names = [name for name, tensor in model.state_dict().items() if tensor.is_floating_point()]
        self.shadow = [tensor.detach().clone() for tensor in self._live()]

    def _live(self) -> list[Any]:
        state = self.model.state_dict()  # shares storage with the parameters and buffers
        return [state[name] for name in self.names]

    def update(self) -> None:
        """One step: average = d * average + (1 - d) * weights, d = min(decay, (1 + n) / (WARMUP + n))."""
        torch = require("torch")
        self.updates += 1
        weight = 1.0 - min(self.decay, (1.0 + self.updates) / (WARMUP + self.updates))
        with torch.no_grad():
            torch._foreach_lerp_(self.shadow, [t.detach() for t in self._live()], weight)

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """The model holds the averaged weights inside the block, its own (the optimiser's) again after it."""
        torch = require("torch")
        live = self._live()
        with torch.no_grad():
            raw = [t.detach().clone() for t in live]
            torch._foreach_copy_(live, self.shadow)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_(live, raw)

    def averaged_state(self) -> dict[str, Any]:
        """The model's state dict with the averaged weights (copies on the CPU), as a bundle keeps it."""
        state = {name: tensor.detach().cpu().clone() for name, tensor in self.model.state_dict().items()}
        state.update({name: tensor.detach().cpu().clone() for name, tensor in zip(self.names, self.shadow)})
        return state

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps, for a resume to go on with the same average."""
        return {"updates": self.updates, "decay": self.decay,
                "shadow": {name: tensor.detach().cpu().clone() for name, tensor in zip(self.names, self.shadow)}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        shadow = state["shadow"]
        missing = [name for name in self.names if name not in shadow]
        if missing:
            raise KeyError(f"the checkpoint's weight average lacks {missing[:3]}")
        with require("torch").no_grad():
            for tensor, name in zip(self.shadow, self.names):
                tensor.copy_(shadow[name])
        self.updates = int(state["updates"])


def build_average(model: Any, decay: float) -> WeightAverage | None:
    """The run's weight average, or None where ``train.weight_average`` is 0 (off)."""
    return WeightAverage(model, decay) if decay else None
