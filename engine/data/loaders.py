"""Torch DataLoaders for training and validation, one share per process under torchrun; the training loader's
collation pastes objects between a batch's tiles where the augmentation settings ask for it (copy-paste:
engine/data/copy_paste.py; change pastes: engine/data/change_paste.py)."""

from __future__ import annotations

import random
from functools import partial
from typing import Any

import numpy as np
import torch

from ..config import DataConfig, TrainConfig
from ..errors import ConfigError, mention
from ..runtime.environment import DistContext
from .change_paste import change_paste_collate
from .copy_paste import copy_paste_collate
from .season_batch import season_collate


def train_loader(dataset: Any, data_cfg: DataConfig, train_cfg: TrainConfig, ctx: DistContext, *, ignore_index: int,
                 aux_ratio: int, pin_memory: bool) -> tuple[Any, Any]:
    """(loader, sampler): shuffled tiles seeded by ``train_cfg.seed``, this process's share of them when
    distributed, and the pastes the augmentation settings ask for (:func:`_train_collate`)."""
    from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

    if ctx.distributed:
        sampler = DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True,
                                     seed=train_cfg.seed, drop_last=True)
    else:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(train_cfg.seed))
    per_process = len(dataset) // ctx.world_size
    loader = DataLoader(dataset, batch_size=train_cfg.batch_size, sampler=sampler,
                        collate_fn=_train_collate(dataset, data_cfg, ignore_index, aux_ratio),
                        num_workers=train_cfg.num_workers, drop_last=per_process >= train_cfg.batch_size,
                        pin_memory=pin_memory, worker_init_fn=_worker_init,
                        # the dataset's epoch lives in shared memory, so set_epoch reaches kept workers
                        persistent_workers=train_cfg.num_workers > 0)
    return loader, sampler


def _train_collate(dataset: Any, data_cfg: DataConfig, ignore_index: int, aux_ratio: int) -> Any:
    """The training batches' collation: a season's places padded, else the pastes the augmentation settings ask
    for (change pastes only for tiles of several dates whose label is a change mask: else a clear error)."""
    augment = data_cfg.augment
    if getattr(dataset, "season", False):  # places of any number of dates, padded
        return season_collate
    if augment.change_paste > 0:
        dates = 1 + len(dataset.scenes[0]["after"]) if getattr(dataset, "scenes", None) else 1
        if dates < 2 or not getattr(dataset, "swap_dates", False):
            raise ConfigError(f"{mention('data.augment.change_paste')} pastes changed objects into tiles of two "
                              f"dates whose label is a change mask (no change, change); these training scenes hold "
                              f"{dates} date(s){'' if dates < 2 else ' and other classes'}: set it to 0 (or train "
                              f"on pairs with a change mask).")
        return partial(change_paste_collate, probability=augment.change_paste, zoom=list(augment.change_paste_zoom),
                       unchanged=augment.change_paste_unchanged, dates=dates, ignore_index=ignore_index,
                       copy_probability=augment.copy_paste, aux_ratio=aux_ratio, bright=augment.change_paste_bright)
    if augment.copy_paste > 0:
        return partial(copy_paste_collate, probability=augment.copy_paste, ignore_index=ignore_index,
                       aux_ratio=aux_ratio)
    return None


def val_loader(dataset: Any, train_cfg: TrainConfig, ctx: DistContext, *, pin_memory: bool) -> Any:
    """Validation tiles in order; under torchrun every process takes every world_size-th tile."""
    from torch.utils.data import DataLoader, Subset

    if ctx.distributed:
        dataset = Subset(dataset, list(range(ctx.rank, len(dataset), ctx.world_size)))
    season = getattr(getattr(dataset, "dataset", dataset), "season", False)  # a Subset's dataset under torchrun
    return DataLoader(dataset, batch_size=train_cfg.batch_size, shuffle=False, num_workers=train_cfg.num_workers,
                      pin_memory=pin_memory, collate_fn=season_collate if season else None)


def _worker_init(worker_id: int) -> None:
    # Forked workers inherit one numpy state; give each its own, derived from torch's per-worker seed.
    np.random.seed(torch.initial_seed() % 2**32)
    random.seed(torch.initial_seed() % 2**32)
