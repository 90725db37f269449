"""Segmentation losses, binary (one logit channel, sigmoid) and multi-class (N channels, softmax).

Every loss takes ``logits`` (B, C, H, W) (C = 1 binary; (B, H, W) also accepted for binary) and an integer
``target`` (B, H, W) and honours ``ignore_index`` (nodata pixels, 255 by default). A batch whose pixels are
all ignored gives a loss of exactly 0 that is still connected to the graph (zero gradient, no NaN).

The terms: focal (Lin et al. 2017), Lovasz hinge / Lovasz-Softmax (Berman et al. 2018; binary also the reference's
variant on probabilities), soft Dice, OHEM and plain cross-entropy; :func:`build_loss` sums them
(:class:`CombinedLoss`) over the final and side outputs (:class:`DeepSupervisionLoss`).
"""

from __future__ import annotations

import math
from inspect import signature
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..config import LOSS_ALIASES, LOSS_TERMS, LossConfig
from ..errors import ConfigError
from .metrics import IGNORE_INDEX  # nodata pixels


# ---------------------------------------------------------------------------------------------- helpers
def _binary_logits(logits: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) or (B, H, W) -> (B, H, W)."""
    if logits.ndim == 4:
        if logits.shape[1] != 1:
            raise ValueError(f"binary loss expects 1 logit channel, got {logits.shape[1]}")
        return logits[:, 0]
    return logits


def _zero(logits: torch.Tensor) -> torch.Tensor:
    """A zero loss still attached to the graph, so backward() works and gives zero gradients."""
    return logits.sum() * 0.0


def _valid(target: torch.Tensor, ignore_index: int | None) -> torch.Tensor:
    return torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index


def _masked_mean(values: torch.Tensor, valid: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    count = valid.sum()
    return _zero(logits) if count == 0 else (values * valid).sum() / count


# ---------------------------------------------------------------------------------------------- focal
def binary_focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float | None = 0.25, gamma: float = 2.0,
                      ignore_index: int | None = IGNORE_INDEX) -> torch.Tensor:
    """Mean over valid pixels of -alpha_t (1 - p_t)^gamma log p_t, p = sigmoid(logit)."""
    logits = _binary_logits(logits)
    valid = _valid(target, ignore_index)
    y = (target == 1).to(logits.dtype)
    bce = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * y + (1 - p) * (1 - y)
    loss = (1 - p_t).pow(gamma) * bce
    if alpha is not None:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return _masked_mean(loss, valid, logits)


def multiclass_focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float | Sequence[float] | None = None,
                          gamma: float = 2.0, ignore_index: int | None = IGNORE_INDEX) -> torch.Tensor:
    """Softmax focal loss: mean over valid pixels of -alpha_c (1 - p_t)^gamma log p_t; ``alpha``: None, one weight
    for every class, or one per class."""
    valid = _valid(target, ignore_index)
    safe = torch.where(valid, target, torch.zeros_like(target)).long()
    log_p = F.log_softmax(logits, dim=1).gather(1, safe.unsqueeze(1)).squeeze(1)  # (B, H, W)
    loss = -(1 - log_p.exp()).pow(gamma) * log_p
    if alpha is not None:
        weights = torch.as_tensor(alpha, dtype=logits.dtype, device=logits.device)
        loss = loss * (weights[safe] if weights.ndim else weights)
    return _masked_mean(loss, valid, logits)


# ---------------------------------------------------------------------------------------------- Lovasz
def sorted_descending(errors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.sort(errors, descending=True)``: (sorted errors, permutation). A float32 tensor on the CPU is sorted
    by integer keys that order as its values do (the bits, negatives' flipped), which PyTorch sorts in about two
    thirds of the time (4 x 65536 errors, one thread: 12.6 against 19.7 ms; a DualStream step sorts 12 such: its
    loss's largest cost). Equal errors may come in another order, which changes no Lovasz loss (a run of ties
    contributes its error times the sum of its gradient's entries, the same in any order)."""
    if errors.dtype != torch.float32 or errors.device.type != "cpu":
        return torch.sort(errors, descending=True)
    bits = errors.view(torch.int32)
    perm = torch.sort(torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits), descending=True).indices
    return errors[perm], perm


def lovasz_grad(gt_sorted: torch.Tensor, gts: torch.Tensor | None = None) -> torch.Tensor:
    """Gradient of the Lovasz extension of the Jaccard loss w.r.t. sorted errors (Berman et al., Alg. 1).
    ``gts``: the foreground count of all the errors, where ``gt_sorted`` is only the first of them."""
    gts = gt_sorted.sum() if gts is None else gts
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1.0 - gt_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    if gt_sorted.numel() > 1:
        jaccard[1:] = jaccard[1:] - jaccard[:-1]
    return jaccard


def _lovasz_hinge_flat(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    signs = 2.0 * labels - 1.0
    errors = 1.0 - logits * signs
    # Only positive errors carry loss or gradient (the hinge), and sorted first they are the prefix whose gradient
    # needs nothing of the rest but its foreground count: sort them alone (most pixels, once the model has learnt).
    gts = labels.sum()
    positive = (errors > 0).nonzero().squeeze(1)  # once for both: a boolean index finds them again
    errors, labels = errors.index_select(0, positive), labels.index_select(0, positive)
    errors_sorted, perm = sorted_descending(errors)
    return torch.dot(F.relu(errors_sorted), lovasz_grad(labels[perm], gts))


def _lovasz_sorted(errors: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    errors_sorted, perm = sorted_descending(errors)
    return torch.dot(errors_sorted, lovasz_grad(labels[perm]))


def _lovasz_probability_flat(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return _lovasz_sorted((labels - torch.sigmoid(logits)).abs(), labels)


def lovasz_hinge(logits: torch.Tensor, target: torch.Tensor, per_image: bool = True,
                 ignore_index: int | None = IGNORE_INDEX, variant: str = "hinge") -> torch.Tensor:
    """Binary Lovasz loss. ``variant="hinge"``: hinge on logits (Berman); ``"probability"``: the reference's
    |label - sigmoid(logit)| errors. ``per_image``: mean over images (images without valid pixels skipped)."""
    flat = {"hinge": _lovasz_hinge_flat, "probability": _lovasz_probability_flat}.get(variant)
    if flat is None:
        raise ConfigError(f"Lovasz variant '{variant}' is unknown; use 'hinge' or 'probability'.")
    logits = _binary_logits(logits)
    valid = _valid(target, ignore_index)
    labels = (target == 1).to(logits.dtype)
    groups = range(logits.shape[0]) if per_image else [slice(None)]
    losses = []
    for index in groups:
        mask = valid[index]
        if mask.all():  # a fully labelled tile (most of them): its pixels in the order a boolean index gives them
            losses.append(flat(logits[index].reshape(-1), labels[index].reshape(-1)))
        elif mask.any():
            losses.append(flat(logits[index][mask], labels[index][mask]))
    return torch.stack(losses).mean() if losses else _zero(logits)


def lovasz_softmax(logits: torch.Tensor, target: torch.Tensor, classes: str = "present", per_image: bool = False,
                   ignore_index: int | None = IGNORE_INDEX) -> torch.Tensor:
    """Multi-class Lovasz-Softmax on softmax probabilities; ``classes="present"`` averages over classes in the
    labels (``"all"``: every class)."""
    probas = F.softmax(logits, dim=1)
    valid = _valid(target, ignore_index)
    groups = range(probas.shape[0]) if per_image else [slice(None)]
    losses = []
    for index in groups:
        mask = valid[index]
        if not mask.any():
            continue
        p, t = probas[index].movedim(-3, -1)[mask], target[index][mask]  # (N, C), (N,)
        foregrounds = [(t == c).to(p.dtype) for c in range(p.shape[1])]
        per_class = [_lovasz_sorted((fg - p[:, c]).abs(), fg) for c, fg in enumerate(foregrounds)
                     if classes != "present" or fg.sum() > 0]
        if per_class:
            losses.append(torch.stack(per_class).mean())
    return torch.stack(losses).mean() if losses else _zero(logits)


# ---------------------------------------------------------------------------------------------- Dice, CE, OHEM
def _pixel_cross_entropy(logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, H, W) cross-entropy per pixel (binary cross-entropy for one logit channel); ignored pixels arbitrary."""
    if logits.ndim == 3 or logits.shape[1] == 1:
        x = _binary_logits(logits)
        return F.binary_cross_entropy_with_logits(x, (target == 1).to(x.dtype), reduction="none")
    safe = torch.where(valid, target, torch.zeros_like(target)).long()
    return F.cross_entropy(logits, safe, reduction="none")


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0,
                   ignore_index: int | None = IGNORE_INDEX) -> torch.Tensor:
    """1 - soft Dice over the batch (binary: foreground; multi-class: mean over classes present or predicted)."""
    valid = _valid(target, ignore_index)
    if not valid.any():
        return _zero(logits)
    if logits.ndim == 3 or logits.shape[1] == 1:
        probs = torch.sigmoid(_binary_logits(logits)).unsqueeze(1)  # (B, 1, H, W)
        onehot = (target == 1).unsqueeze(1).to(probs.dtype)
    else:
        probs = F.softmax(logits, dim=1)
        safe = torch.where(valid, target, torch.zeros_like(target)).long()
        onehot = F.one_hot(safe, probs.shape[1]).movedim(-1, 1).to(probs.dtype)
    mask = valid.unsqueeze(1).to(probs.dtype)
    probs, onehot = probs * mask, onehot * mask
    dims = (0, 2, 3)
    intersection = (probs * onehot).sum(dims)
    total = probs.sum(dims) + onehot.sum(dims)
    dice = (2 * intersection + smooth) / (total + smooth)
    return 1.0 - dice.mean()


def ohem_cross_entropy(logits: torch.Tensor, target: torch.Tensor, threshold: float = 0.7, min_kept: int = 100_000,
                       ignore_index: int | None = IGNORE_INDEX) -> torch.Tensor:
    """Online hard example mining: mean cross-entropy over valid pixels whose true-class probability is below
    ``threshold``, keeping at least the ``min_kept`` hardest (all valid pixels if fewer)."""
    valid = _valid(target, ignore_index)
    loss = _pixel_cross_entropy(logits, target, valid)[valid]
    if loss.numel() == 0:
        return _zero(logits)
    hard = loss > -math.log(threshold)
    keep = min(loss.numel(), max(int(min_kept), int(hard.sum())))
    return torch.topk(loss, keep, sorted=False).values.mean()


def cross_entropy(logits: torch.Tensor, target: torch.Tensor, ignore_index: int | None = IGNORE_INDEX) -> torch.Tensor:
    """Mean cross-entropy over valid pixels (binary cross-entropy on the one logit of a binary model)."""
    valid = _valid(target, ignore_index)
    return _masked_mean(_pixel_cross_entropy(logits, target, valid), valid, logits)


# ---------------------------------------------------------------------------------------------- modules
# each term's function on (binary, multi-class) logits; a term's options are its keyword arguments
TERM_FUNCTIONS = {"focal": (binary_focal_loss, multiclass_focal_loss), "lovasz": (lovasz_hinge, lovasz_softmax),
                  "dice": (soft_dice_loss,) * 2, "ce": (cross_entropy,) * 2, "ohem": (ohem_cross_entropy,) * 2}


class SegmentationLoss(nn.Module):
    """One named loss (``LOSS_TERMS``) as a module, dispatching on binary vs multi-class logits."""

    def __init__(self, name: str, ignore_index: int | None = IGNORE_INDEX, **options: Any):
        super().__init__()
        name = LOSS_ALIASES.get(name, name)
        if name not in LOSS_TERMS:
            raise ConfigError(f"Loss '{name}' is unknown; use one of {list(LOSS_TERMS)}.")
        self.name = name
        self.ignore_index = ignore_index
        self.options = options
        # (binary, multi-class): each function with the options it takes, once; unset ones take the function's default
        self._calls = [(term, {k: v for k, v in options.items() if v is not None and k in signature(term).parameters})
                       for term in TERM_FUNCTIONS[name]]

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # float32 even under AMP: Lovasz cumsums over ~10^5-10^6 pixels overflow float16.
        logits = logits.float()
        term, options = self._calls[0 if logits.ndim == 3 or logits.shape[1] == 1 else 1]
        return term(logits, target, ignore_index=self.ignore_index, **options)

    def extra_repr(self) -> str:
        return f"{self.name}, ignore_index={self.ignore_index}, {self.options}"


class CombinedLoss(nn.Module):
    """Weighted sum of losses on one head: sum_i w_i * loss_i(logits, target). Zero weights are dropped."""

    def __init__(self, terms: Sequence[tuple[float, nn.Module]]):
        super().__init__()
        terms = [(float(w), m) for w, m in terms if w != 0]
        if not terms:
            raise ConfigError("The combined loss has no term with a non-zero weight; give e.g. focal=1,dice=1.")
        self.weights = [w for w, _ in terms]
        self.terms = nn.ModuleList([m for _, m in terms])

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(w * term(logits, target) for w, term in zip(self.weights, self.terms))


class DeepSupervisionLoss(nn.Module):
    """``loss(outputs, target)``: weights[0] * head(final) + sum_i weights[i + 1] * head(side_i), on the model's
    outputs dict; its ``"side_logits"`` (none in eval mode) upsampled to the label size. More side outputs than
    side weights is an error."""

    def __init__(self, head_loss: nn.Module, weights: Sequence[float] = (1.0, 0.3, 0.15)):
        super().__init__()
        self.head_loss = head_loss
        self.weights = [float(w) for w in weights]

    def forward(self, outputs: dict[str, Any], target: torch.Tensor) -> torch.Tensor:
        logits = outputs["logits"]
        sides = outputs.get("side_logits") or []
        if len(sides) > len(self.weights) - 1:
            raise ConfigError(f"The model returned {len(sides)} side output(s) but the loss has "
                              f"{len(self.weights) - 1} side weight(s); set loss.side_weights to one weight each.")
        total = self.weights[0] * self.head_loss(self._to_label_size(logits, target), target)
        for weight, side in zip(self.weights[1:], sides):
            if weight:
                total = total + weight * self.head_loss(self._to_label_size(side, target), target)
        return total

    @staticmethod
    def _to_label_size(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if logits.shape[-2:] != target.shape[-2:]:
            logits = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
        return logits


def build_loss(loss_cfg: LossConfig, family: str, num_side_outputs: int,
               ignore_index: int = IGNORE_INDEX) -> DeepSupervisionLoss:
    """The training loss for a model of ``family`` with ``num_side_outputs`` deep-supervision side outputs;
    ConfigError when ``loss_cfg.side_weights`` does not have one weight per side output."""
    options = {"focal": {"alpha": loss_cfg.focal_alpha, "gamma": loss_cfg.focal_gamma},
               "lovasz": {"variant": loss_cfg.lovasz_variant}, "dice": {"smooth": loss_cfg.dice_smooth},
               "ohem": {"threshold": loss_cfg.ohem_threshold, "min_kept": loss_cfg.ohem_min_kept}, "ce": {}}
    terms = [(weight, SegmentationLoss(name, ignore_index, **options[name]))
             for name, weight in loss_cfg.terms_for(family).items()]
    side = loss_cfg.side_weights_for(family, num_side_outputs)
    return DeepSupervisionLoss(CombinedLoss(terms), [1.0, *side])
