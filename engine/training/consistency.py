"""Learning from unlabelled pixels: weak-to-strong consistency (FixMatch, Sohn et al. 2020; UniMatch, Yang et al.
2023). Each training step also draws a batch of unlabelled tiles (engine/data/unlabelled.py); the model's own
predictions on their weak view (flips and quarter turns, the same for every date) are pseudo-labels where their
confidence reaches ``train.confidence``; a perturbed view learns them. The perturbation alternates by step, as
UniMatch's two streams do at half the cost: the image (each date its own colour jitter, greyscale and blur; CutMix
between the batch's tiles, one box for every date) or the features (channel dropout of the encoder's maps before the
decoder). The unlabelled loss is the training's own loss on the confident pixels, scaled by their share (UniMatch's
mean over every valid pixel), times ``train.unlabelled_weight``. Why and how much it helps: docs/unlabelled.md.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from ..time_axis import to_channels, to_dates

FEATURE_DROPOUT = 0.5  # UniMatch's channel dropout of the encoder's maps
CUTMIX_SHARE = 0.5  # tiles whose box comes from another tile of the batch
JITTER = 0.25  # brightness shift (in the tile's standard deviations) and contrast change at most


def wanted(setting: str) -> bool:
    """Whether the consistency runs: ``on`` only; ``auto`` is off, as at the CPU's default budget of 5 minutes it did
    not improve the measured data, with or without unlabelled imagery (docs/unlabelled.md)."""
    return setting == "on"


def build_consistency(model: Any, datasets: tuple[Any, Any, Any], data_cfg: Any, cfg: Any, place: Any,
                      cached: bool) -> Consistency | None:
    """The consistency of a training (None where it does not run), its unlabelled tiles drawn from
    ``data_cfg.unlabelled`` and the labelled scenes' unlabelled pixels; the log says what it does."""
    from torch.utils.data import DataLoader

    from ..callbacks import QuietCallback
    from ..data.sampling import Region
    from ..data.scene import SceneReader
    from ..data.unlabelled import UnlabelledTileDataset, unlabelled_scenes
    from ..errors import ConfigError, mention

    say = place.callback
    if not wanted(cfg.consistency):
        if data_cfg.unlabelled:
            why = ("off" if cfg.consistency == "off" else "auto, which is off: at the CPU's default budget of 5 "
                   "minutes it did not improve the measured data (docs/unlabelled.md)")
            say.warning(f"{mention('data.unlabelled')} is given but {mention('train.consistency')} is {why}: the "
                        f"unlabelled imagery is not used; set {mention('train.consistency')} on to learn from it.")
        return None
    train_ds, val_ds, summary = datasets
    if getattr(model, "takes_coords", False):  # the unlabelled tiles carry no date and place
        raise ConfigError(f"{mention('train.consistency')} does not work yet with an encoder that takes each tile's "
                          f"date and place (Prithvi-EO-2.0 TL, an eoseries model's Presto or Galileo); set it off, or "
                          f"choose another encoder.")
    if cached or not hasattr(train_ds, "scenes"):
        raise ConfigError(f"{mention('train.consistency')} needs the images' tiles, not cached encoder features "
                          f"({mention('train.frozen_encoder')} cached): set one of them off.")
    held: dict[int, list[Any]] = {}
    if getattr(summary, "holdout", False):
        for scene, col, row, _ in val_ds.windows:
            held.setdefault(scene, []).append(Region(col, row, train_ds.tile_size, train_ds.tile_size))
    from ..imagery.places import resolve_places
    from ..imagery.season import season_folder

    with SceneReader(**train_ds.scenes[0], callback=QuietCallback()) as first:
        season = first.each_date  # a season's unlabelled places: read as its dates are, VRTs beside the bundle
        places = (resolve_places(list(data_cfg.unlabelled), "data.unlabelled", season_folder(cfg.output))
                  if season else None)
        scenes = unlabelled_scenes(list(data_cfg.unlabelled), train_ds.scenes,
                                   [] if summary.holdout else val_ds.scenes, first, held, train_ds.vision_stats, say,
                                   places)
    per_step = cfg.batch_size
    length = len(train_ds) // place.ctx.world_size
    dataset = UnlabelledTileDataset(scenes, train_ds.vision_stats, train_ds.aux_stats, train_ds.tile_size, length,
                                    cfg.seed, place.ctx.rank)
    from ..data.season_batch import season_collate

    loader = DataLoader(dataset, batch_size=per_step, shuffle=False, num_workers=cfg.num_workers, drop_last=True,
                        pin_memory=place.device_type == "cuda", persistent_workers=cfg.num_workers > 0,
                        collate_fn=season_collate if season else None)
    others = [s for s in scenes if not s.labelled]
    kind = "place(s)" if season else "scene(s)"
    counts = sorted({1 + len(s.kwargs["after"]) for s in others})
    dated = (f" of {counts[0]}{'' if len(counts) == 1 else f'-{counts[-1]}'} date(s)" if season and others else "")
    say.info(f"Learning from unlabelled pixels (weak-to-strong consistency, confidence {cfg.confidence}): "
             f"{length} unlabelled tiles per epoch, a batch of {per_step} beside each labelled one, from "
             f"{len(others)} unlabelled {kind}{dated} and the unlabelled pixels of {len(scenes) - len(others)} "
             f"labelled one(s); the perturbed view alternates by step: colour, greyscale, blur and CutMix"
             f"{' (between tiles of the same days)' if season else ''}, then feature dropout; from the epoch after "
             f"the model first finds the classes in validation.")
    return Consistency(model, loader, None if season else len(train_ds.scenes[0]["after"]) + 1, cfg.confidence,
                       cfg.unlabelled_weight, train_ds.ignore_index, cfg.seed + place.ctx.rank)


class Consistency:
    """The unlabelled half of each step: :meth:`loss` (see the module doc). ``dates``: the dates of a tile (its
    channels are the dates' bands in turn); None: a season's tiles (B, T, C, h, w) with each date's validity and day
    numbers, which the model takes; ``ignore_index``: the label of unconfident and invalid pixels."""

    def __init__(self, model: Any, loader: Any, dates: int | None, threshold: float, weight: float, ignore_index: int,
                 seed: int):
        self.model, self.loader, self.dates = model, loader, dates
        self.threshold, self.weight, self.ignore_index = threshold, weight, ignore_index
        self.generator = torch.Generator().manual_seed(seed + 7349)
        self.epoch, self.tiles = 1, None
        self._drop = False
        self.active = False  # from the epoch after the labelled tiles taught the model to find a class (:meth:`start`)
        decoder = getattr(model, "decoder", None)
        self.feature_dropout = isinstance(decoder, torch.nn.Module)
        if self.feature_dropout:
            decoder.register_forward_pre_hook(self._dropout)
        self.reset()

    def start(self, epoch: int, val_iou: float | None, say: Any) -> None:
        """Learn from the unlabelled tiles from the epoch after ``epoch`` once the model finds a class in validation
        (IoU above 0; without validation, after the first epoch): a model that finds nothing would teach its
        unlabelled tiles to be background everywhere (one Massachusetts scene: IoU 0.0 after 5 minutes)."""
        if not self.active and (val_iou is None or val_iou > 0):
            self.active = True
            found = "" if val_iou is None else f" (validation IoU {val_iou:.3f})"
            say(f"From epoch {epoch + 1} on the unlabelled tiles teach too: the labelled ones taught the model to "
                f"find the classes{found}.")

    def reset(self) -> None:
        """The epoch's sums (:meth:`summary`)."""
        self.confident, self.valid, self.loss_sum, self.steps = 0.0, 0.0, 0.0, 0

    def _dropout(self, module: Any, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        if not self._drop:
            return None
        features = args[0]
        dropped = [F.dropout2d(f, FEATURE_DROPOUT, training=True) if torch.is_tensor(f) and f.dim() == 4 else f
                   for f in features] if isinstance(features, (list, tuple)) else F.dropout2d(features, FEATURE_DROPOUT)
        return (type(features)(dropped) if isinstance(features, (list, tuple)) else dropped, *args[1:])

    def _batch(self) -> dict[str, Any]:
        if self.tiles is None:
            self.loader.dataset.set_epoch(self.epoch)
            self.tiles = iter(self.loader)
        batch = next(self.tiles, None)
        if batch is None:  # the unlabelled tiles of an epoch ran out: the next epoch's
            self.epoch += 1
            self.tiles = None
            return self._batch()
        return batch

    def _rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=self.generator)

    def loss(self, net: Any, forward: Any, loss_fn: Any, step: int) -> torch.Tensor:
        """The unlabelled loss of one batch (weighted; differentiable through ``net``)."""
        batch = self._batch()
        device = forward.device
        pixels = forward.step.batch(batch["vision"].to(device))
        valid = batch["valid"].to(device)
        aux = batch["aux"].to(device) if forward.uses_aux and "aux" in batch else None
        turns, flip = int(self._rand(1).item() * 4), bool(self._rand(1).item() < 0.5)  # the weak view
        pixels, valid = (_turn(t, turns, flip) for t in (pixels, valid))
        aux = _turn(aux, turns, flip) if aux is not None else None
        days = batch["days"].to(device).float() if self.dates is None else None
        season = {} if days is None else {"days": days, "valid": valid}  # a season: each date's validity (B, T, h, w)
        if season:
            valid = valid.any(dim=1)  # a pixel to learn where any date holds it
        with torch.no_grad():  # the unwrapped model: no gradient, no DDP bookkeeping
            logits = forward(self.model, pixels, aux, season)["logits"]
            pseudo, confident = _pseudo_labels(logits, self.threshold)
        confident &= valid
        pseudo = torch.where(confident, pseudo, torch.full_like(pseudo, self.ignore_index))
        if step % 2 == 0:
            view, aux_view, pseudo, confident, season = self._strong(pixels, aux, pseudo, confident, season)
        else:
            view, aux_view = pixels, aux
        self._drop = step % 2 == 1 and self.feature_dropout
        try:
            outputs = forward(net, view, aux_view, season)
        finally:
            self._drop = False
        share = confident.float().sum() / valid.float().sum().clamp(min=1)
        if bool(confident.any()):
            loss = loss_fn(outputs, pseudo) * share * self.weight
        else:  # nothing confident: a zero that keeps the graph (DDP waits for every parameter's gradient)
            loss = outputs["logits"].sum() * 0.0
        self.confident += float(confident.sum())
        self.valid += float(valid.sum())
        self.loss_sum += float(loss.detach())
        self.steps += 1
        return loss

    def _strong(self, pixels: torch.Tensor, aux: Any, pseudo: torch.Tensor, confident: torch.Tensor,
                season: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Any, torch.Tensor, torch.Tensor, dict]:
        """Colour jitter, greyscale and blur per date, then CutMix (one box for every date, the labels with it; a
        season's tiles only with a tile of the same days, each date's validity moved with the box)."""
        b = pixels.shape[0]
        dates = self.dates or pixels.shape[1]
        dated = pixels if self.dates is None else to_dates(pixels, dates)  # (B, T, C, h, w)
        per = dated.shape[2]
        view = dated.float()
        mean = view.mean(dim=(-2, -1), keepdim=True)
        std = view.std(dim=(-2, -1), keepdim=True).clamp(min=1e-3)
        shape = (b, dates, 1, 1, 1)
        contrast = 1 + (self._rand(*shape) * 2 - 1).to(view) * JITTER * 2
        shift = (self._rand(*shape) * 2 - 1).to(view) * JITTER
        view = mean + (view - mean) * contrast + shift * std
        if per >= 3:
            grey = (self._rand(*shape) < 0.2).to(view)
            view = view * (1 - grey) + view.mean(dim=2, keepdim=True) * grey
        view = to_channels(view)
        blur = self._rand(b) < 0.5
        if bool(blur.any()):
            sigma = 0.1 + float(self._rand(1)) * 1.9
            view = torch.where(blur.to(view.device)[:, None, None, None], _blur(view, sigma), view)
        view = view.to(pixels.dtype)
        view = view.contiguous(memory_format=_format(pixels)) if self.dates else to_dates(view, dates).contiguous()
        mixed = self._rand(b) < CUTMIX_SHARE
        other = torch.roll(torch.arange(b, device=pixels.device), 1)
        if season:  # another place's dates are other days: a box only from a tile of the same days
            mixed &= (season["days"] == season["days"][other]).all(dim=1).cpu()
        if b > 1 and bool(mixed.any()):
            h, w = pixels.shape[-2:]
            area = 0.02 + float(self._rand(1)) * 0.38
            bh, bw = max(1, int(h * math.sqrt(area))), max(1, int(w * math.sqrt(area)))
            r0, c0 = int(self._rand(1) * (h - bh + 1)), int(self._rand(1) * (w - bw + 1))
            box = torch.zeros(h, w, dtype=torch.bool, device=pixels.device)
            box[r0:r0 + bh, c0:c0 + bw] = True
            box = box[None] & mixed.to(pixels.device)[:, None, None]
            inside = box[:, None] if self.dates else box[:, None, None]
            view = torch.where(inside, view[other], view)
            pseudo = torch.where(box, pseudo[other], pseudo)
            confident = torch.where(box, confident[other], confident)
            if season:
                valid = season["valid"]
                season = {**season, "valid": torch.where(box[:, None], valid[other], valid)}
            if aux is not None:  # the box at the aux rasters' scale
                small = F.interpolate(box[:, None].float(), size=aux.shape[-2:], mode="nearest") > 0.5
                aux = torch.where(small, aux[other], aux)
        return view, aux, pseudo, confident, season

    def summary(self) -> dict[str, float]:
        """The epoch's unlabelled figures: its mean loss, and the share of valid pixels confident enough."""
        return {"unlabelled_loss": round(self.loss_sum / max(self.steps, 1), 5),
                "unlabelled_confident": round(self.confident / max(self.valid, 1.0), 4)}


def _pseudo_labels(logits: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(classes, confident) of (B, K, H, W) logits; K = 1: one sigmoid (binary), else a softmax."""
    if logits.shape[1] == 1:
        p = torch.sigmoid(logits[:, 0])
        return (p > 0.5).long(), torch.maximum(p, 1 - p) >= threshold
    probs, classes = torch.softmax(logits, dim=1).max(dim=1)
    return classes, probs >= threshold


def _turn(t: torch.Tensor, turns: int, flip: bool) -> torch.Tensor:
    t = torch.rot90(t, turns, dims=(-2, -1)) if turns else t
    return torch.flip(t, dims=(-1,)) if flip else t


def _format(t: torch.Tensor) -> Any:
    return torch.channels_last if t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) \
        and not t.is_contiguous() else torch.contiguous_format


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """A Gaussian blur of every channel (its kernel 2*ceil(2 sigma)+1 wide), reflecting at the edges."""
    radius = max(1, math.ceil(2 * sigma))
    k = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(k ** 2) / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
