"""The model's forward pass as training runs it, and what training measures with it: the validation metrics of an
epoch (summed over every process under torchrun) and the preview predictions of the report."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from ..callbacks import Stage
from ..runtime.environment import require
from .metrics import ConfusionMatrix, logits_to_prediction
from .step_setup import StepSetup


@dataclass(frozen=True)
class Forward:
    """Batches onto the device and through a model at ``step``'s precision and memory format; outputs in float32."""

    device: str
    step: StepSetup
    uses_aux: bool = True  # a vision-only model ignores the data's aux
    takes_coords: bool = False  # the model takes each tile's date and place (a Prithvi-EO-2.0 TL encoder)

    def batch(self, batch: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
        """(pixels, aux or None, labels as int64, coords or None) on the device."""
        def on_device(key: str, wanted: bool = True) -> Any:
            value = batch.get(key) if wanted else None
            return None if value is None else value.to(self.device, non_blocking=self.step.device_type == "cuda")

        return (self.step.batch(on_device("vision")), on_device("aux", self.uses_aux), on_device("labels").long(),
                on_device("coords", self.takes_coords))

    def __call__(self, net: Any, pixels: Any, aux: Any, coords: Any = None) -> dict[str, Any]:
        """The model's outputs with logits and side logits in float32 (loss and metrics), whatever autocast made."""
        amp = self.step.amp_dtype
        with contextlib.nullcontext() if amp is None else require("torch").autocast(self.step.device_type, amp):
            outputs = net(pixels, aux) if coords is None else net(pixels, aux, coords)
        return {**outputs, "logits": outputs["logits"].float(),
                "side_logits": [t.float() for t in outputs.get("side_logits") or []]}


def validate(model: Any, loader: Any, forward: Forward, loss_fn: Any, num_classes: int, ignore_index: int,
             class_names: list[str], place: Any) -> tuple[dict[str, Any], bool]:
    """(the metrics summary with its ``loss``, canceled) over every process's share (``place``: a .parts.Place);
    leaves the model in train mode. Processes may hold different numbers of batches, so a cancellation is agreed on
    after the loop, with the metrics."""
    torch = require("torch")
    model.eval()
    matrix = ConfusionMatrix(num_classes, ignore_index=ignore_index)
    loss_sum = torch.zeros((), dtype=torch.float64, device=forward.device)
    count, canceled = 0, False
    with torch.no_grad():
        for i, batch in enumerate(loader):
            if place.callback.is_canceled():
                canceled = True
                break
            pixels, aux, labels, coords = forward.batch(batch)
            outputs = forward(model, pixels, aux, coords)
            loss_sum += loss_fn(outputs, labels).double() * len(labels)
            count += len(labels)
            matrix.update(logits_to_prediction(outputs["logits"]).cpu(), labels.cpu())
            place.callback.progress(i + 1, len(loader), Stage.VALIDATE)
    if place.ctx.distributed:
        matrix.matrix[...] = place.summed(torch.as_tensor(matrix.matrix, dtype=torch.float64)).cpu().numpy()
        totals = place.summed(torch.tensor([loss_sum.item(), count, float(canceled)], dtype=torch.float64))
        loss_sum, count, canceled = totals[0], int(totals[1].item()), bool(totals[2].item() > 0)
    summary = dict(matrix.summary(class_names if len(class_names) == matrix.num_classes else None))
    summary["loss"] = float(loss_sum.item()) / max(count, 1)
    model.train()
    return summary, canceled


def preview_predictions(model: Any, dataset: Any, tiles: int, forward: Forward) -> list[dict[str, Any]]:
    """Image, truth and prediction (numpy) of the first ``tiles`` tiles; leaves the model in eval mode."""
    model.eval()
    out = []
    with require("torch").no_grad():
        for index in range(min(tiles, len(dataset))):
            sample = dataset[index]
            batch = {k: v.unsqueeze(0) if hasattr(v, "unsqueeze") else v for k, v in sample.items()}
            pixels, aux, labels, coords = forward.batch(batch)
            logits = forward(model, pixels, aux, coords)["logits"]
            out.append({"image": pixels[0].float().cpu().numpy(), "truth": labels[0].cpu().numpy(),
                        "prediction": logits_to_prediction(logits)[0].cpu().numpy()})
    return out
