"""Training on cached features of a frozen encoder (``train.frozen_encoder: cached``).

The frozen vision encoder's features of each training tile (the first epoch's, read without augmentation) and of
each validation tile are computed once and kept: in memory as float16 up to ``train.feature_cache_mb``, beyond it
in a temporary file beside the bundle. Every epoch then trains the rest (a ViT's neck and the decoder) on the same
tiles. Flips and 90-degree rotations still apply, to the feature maps and the labels alike; the augmentations
that need the pixels do not, as said in the log. Under torchrun each process caches an equal share of the tiles,
and the processes agree after every batch whether the time budget's share is spent, so they take as many steps.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler

from ..callbacks import Stage
from ..config import DataConfig, TrainConfig
from ..errors import CanceledError, ConfigError, mention
from ..models.encoders.weights import RANDOM, model_pretrained
from .parts import Batches, Place


@dataclass
class FeatureStore:
    """Features of ``count`` tiles, each the maps of ``shapes`` flattened into one float16 row, and the labels."""

    shapes: list[tuple[int, int, int]]
    rows: Any  # (count, sum of the shapes' sizes) float16: numpy array or memmap
    labels: np.ndarray  # (count, T, T) int64
    file: Path | None = None

    def maps(self, index: int) -> list[torch.Tensor]:
        return [m[0] for m in unpack(torch.from_numpy(np.asarray(self.rows[index:index + 1])), self.shapes)]


def unpack(rows: torch.Tensor, shapes: list[tuple[int, int, int]]) -> list[torch.Tensor]:
    """(B, N) rows -> the maps (B, C, h, w) of ``shapes``."""
    parts = rows.split([math.prod(shape) for shape in shapes], dim=1)
    return [part.view(rows.shape[0], *shape) for part, shape in zip(parts, shapes)]


class CachedTiles(Dataset):
    """Samples ``{"vision": packed features, "labels": labels}``; random flips / quarter turns drawn from (seed,
    epoch, index) like the pixel tiles' augmentations."""

    def __init__(self, store: FeatureStore, flips: bool = False, rot90: bool = False, seed: int = 0):
        self.store, self.flips, self.rot90, self.seed, self.epoch = store, flips, rot90, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.store.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        maps, label = self.store.maps(index), torch.from_numpy(self.store.labels[index])
        if self.flips or self.rot90:
            u = np.random.default_rng([self.seed, self.epoch, index]).random(3)
            turns = int(u[2] * 4) % 4 if self.rot90 else 0
            for flip, axis in ((self.flips and u[0] < 0.5, -1), (self.flips and u[1] < 0.5, -2)):
                if flip:
                    maps, label = [m.flip(axis) for m in maps], label.flip(axis)
            if turns:
                maps, label = [m.rot90(turns, (-2, -1)) for m in maps], label.rot90(turns, (-2, -1))
        return {"vision": torch.cat([m.reshape(-1) for m in maps]), "labels": label}


class CachedNet(nn.Module):
    """The model without its encoder: packed features -> ``pyramid`` -> decoder -> logits of the tile size."""

    def __init__(self, model: nn.Module, shapes: list[tuple[int, int, int]], tile: int):
        super().__init__()
        self.model, self.shapes, self.tile = model, shapes, tile

    def forward(self, rows: torch.Tensor, aux: Any = None) -> dict[str, Any]:
        features = self.model.encoder.pyramid(unpack(rows.float(), self.shapes), (self.tile, self.tile))
        logits = self.model.decoder(features)
        if logits.shape[-1] != self.tile:
            logits = F.interpolate(logits, size=(self.tile, self.tile), mode="bilinear", align_corners=False)
        return {"logits": logits, "side_logits": []}


def process_share(count: int, place: Place) -> list[int]:
    """The tile indices this process caches: every world_size-th, as many for each process."""
    world = place.ctx.world_size
    return list(range(place.ctx.rank, count // world * world, world))


def features_of(model: Any, samples: list[dict[str, Any]], device: Any) -> list[torch.Tensor]:
    """The frozen encoder's maps of ``samples``; a season's (a model taking days) with its dates' days and masks,
    places of different date counts padded as a season batch is."""
    coords = torch.stack([s["coords"] for s in samples]).to(device) if "coords" in samples[0] else None
    if getattr(model, "takes_days", False):
        from ..data.season_batch import season_collate

        season = season_collate(samples)
        return model.encoder.features(season["vision"].to(device), coords, days=season["days"].float().to(device),
                                      valid=season["valid"].to(device))
    return model.encoder.features(torch.stack([s["vision"] for s in samples]).to(device), coords)


@torch.no_grad()
def compute_store(model: Any, tiles: Any, batch: int, place: Place, cap_mb: int, spill: Path,
                  what: str, seconds: float | None = None, indices: list[int] | None = None) -> FeatureStore:
    """The encoder's features of ``tiles`` (samples; ``indices`` of them, default all), in memory or in ``spill``;
    with ``seconds``, of the tiles computed by then (at least one batch, as many on every process)."""
    encoder, was = model.encoder, model.encoder.training
    encoder.eval()
    indices = list(range(len(tiles))) if indices is None else indices
    count, rows, labels, shapes, file = len(indices), None, None, [], None
    began, done = time.monotonic(), 0
    for start in range(0, count, batch):
        if place.callback.is_canceled():
            raise CanceledError("Training canceled while the encoder's features were computed.")
        if seconds is not None and place.agree(bool(done) and time.monotonic() - began > seconds)[0]:
            place.callback.info(f"The {what} features of {done} of {count} tiles took {time.monotonic() - began:.0f} "
                                f"s, the share of the time budget they may take: training goes on with those "
                                f"{done} tiles ({mention('train.time_budget')} longer for more).")
            break
        samples = [tiles[i] for i in indices[start:start + batch]]
        maps = features_of(model, samples, place.device)
        if rows is None:
            shapes = [tuple(int(d) for d in m.shape[1:]) for m in maps]
            width = sum(math.prod(s) for s in shapes)
            size_mb = count * width * 2 / 2**20
            if size_mb > cap_mb:
                spill.parent.mkdir(parents=True, exist_ok=True)
                handle, name = tempfile.mkstemp(prefix=spill.name, suffix=".features", dir=spill.parent)
                os.close(handle)  # np.memmap opens the file by its name
                file = Path(name)
                rows = np.memmap(file, dtype=np.float16, mode="w+", shape=(count, width))
            else:
                rows = np.empty((count, width), np.float16)
            labels = np.empty((count, *samples[0]["labels"].shape), np.int64)
            where = f"a temporary file {file}" if file else "memory"
            each = " (this process's share)" if place.ctx.distributed else ""
            place.callback.info(f"Caching the frozen encoder's features of {count} {what} tile(s){each}: "
                                f"{size_mb:.0f} MiB in {where} ({mention('train.feature_cache_mb')} {cap_mb}).")
        flat = torch.cat([m.reshape(m.shape[0], -1) for m in maps], dim=1)
        rows[start:start + len(samples)] = flat.to(torch.float16).cpu().numpy()
        labels[start:start + len(samples)] = torch.stack([s["labels"] for s in samples]).numpy()
        done = start + len(samples)
        place.callback.progress(done, count, Stage.ENCODER_FEATURES)
    encoder.train(was)
    return FeatureStore(shapes, rows[:done], labels[:done], file)


def cached_training(model: Any, model_cfg: Any, batches: Batches, val_loader: Any, data_cfg: DataConfig,
                    cfg: TrainConfig, place: Place, output: Path) -> tuple[nn.Module, Batches, Any, list[Path], float]:
    """(the net the steps train, the cached training batches, the cached validation loader or None, the
    temporary files to remove, the seconds the caching took). Under a time budget the training tiles' features
    may take 40 % of it and the validation tiles' 10 %: a large encoder on a slow CPU trains on the tiles cached
    by then rather than spend the budget on caching."""
    if not hasattr(model, "encoder") or not hasattr(model.encoder, "pyramid") or model_cfg.uses_aux:
        raise ConfigError(f"{mention('train.frozen_encoder')} cached applies to the single-stream families (UNet, "
                          f"DeepLabV3+, FPN, PSPNet) on imagery alone, not to {model_cfg.name}"
                          f"{' with aux' if model_cfg.uses_aux else ''}; set it to off.")
    source = model_pretrained(model_cfg)
    if source.kind == RANDOM and not cfg.init_from:  # asked for (else refused with the automatic choices)
        place.callback.warning(f"The frozen encoder '{source.encoder}' keeps its random weights "
                               f"({mention('model.pretrained')} none, as asked): the decoder learns from random "
                               f"features, a baseline, not a model to use.")
    began = time.monotonic()
    budget = None if cfg.time_budget is None else 60.0 * cfg.time_budget
    model.freeze_encoders(True)
    train_ds = batches.dataset
    sampler = getattr(train_ds, "sampler", None)
    kept_augment = getattr(sampler, "augment", None)
    if sampler is not None:  # the tiles of epoch 0 as read, before any augmentation
        sampler.augment = None
    train_ds.set_epoch(0)
    try:
        store = compute_store(model, train_ds, cfg.batch_size, place, cfg.feature_cache_mb, output, "training",
                              None if budget is None else 0.4 * budget, process_share(len(train_ds), place))
    finally:
        if sampler is not None:
            sampler.augment = kept_augment
    place.callback.info(f"The frozen encoder's features of the {len(store.labels)} training tiles took "
                        f"{time.monotonic() - began:.1f} s, once: without the cache every epoch would compute them "
                        f"again.")
    augment = data_cfg.augment
    cached = CachedTiles(store, bool(augment.flips), bool(augment.rot90), cfg.seed)
    dropped = [name for name, on in (("random scale/crop", augment.scale_range[0] != augment.scale_range[1]),
                                     ("small rotations", augment.rotation_degrees > 0),
                                     ("colour jitter", augment.color_jitter > 0), ("grey", augment.gray_probability),
                                     ("copy-paste", augment.copy_paste > 0),
                                     ("change pastes", augment.change_paste > 0),
                                     ("hsv/CLAHE", augment.extra_photometric)) if on]
    kept = [n for n, on in (("flips", augment.flips), ("90-degree rotations", augment.rot90)) if on]
    place.callback.info(f"Frozen encoder, cached features: the decoder trains every epoch on the same "
                        f"{len(cached)} tiles; kept augmentations: {', '.join(kept) or 'none'}; dropped (they need "
                        f"the pixels): {', '.join(dropped) or 'none'}.")
    loader = DataLoader(cached, batch_size=cfg.batch_size, drop_last=len(cached) >= cfg.batch_size,
                        sampler=RandomSampler(cached, generator=torch.Generator().manual_seed(cfg.seed)))
    files = [store.file] if store.file else []
    val = None
    if val_loader is not None:
        # under torchrun the loader holds this process's Subset; the cache takes equal shares of the whole
        tiles = getattr(val_loader.dataset, "dataset", val_loader.dataset) if place.ctx.distributed \
            else val_loader.dataset
        val_store = compute_store(model, tiles, cfg.batch_size, place, cfg.feature_cache_mb, output, "validation",
                                  None if budget is None else 0.1 * budget, process_share(len(tiles), place))
        files += [val_store.file] if val_store.file else []
        val = DataLoader(CachedTiles(val_store), batch_size=cfg.batch_size, shuffle=False)
    net = CachedNet(model, store.shapes, int(data_cfg.tile_size))
    return net, Batches(cached, loader, loader.sampler, len(loader)), val, files, time.monotonic() - began
