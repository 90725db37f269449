"""Torch DataLoaders for training and validation, one share per process under torchrun."""

from __future__ import annotations

import random
from functools import partial
from typing import Any

from ..config import DataConfig, TrainConfig
from ..runtime.environment import DistContext, require


def train_loader(dataset: Any, data_cfg: DataConfig, train_cfg: TrainConfig, ctx: DistContext, *, ignore_index: int,
                 aux_ratio: int, pin_memory: bool) -> tuple[Any, Any]:
    """(loader, sampler): shuffled tiles seeded by ``train_cfg.seed``, this process's share of them when
    distributed, and copy-paste augmentation when ``data_cfg.augment.copy_paste`` asks for it."""
    torch = require("torch")
    from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

    if ctx.distributed:
        sampler = DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True,
                                     seed=train_cfg.seed, drop_last=True)
    else:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(train_cfg.seed))
    per_process = len(dataset) // ctx.world_size
    collate = None
    if data_cfg.augment.copy_paste > 0:
        from .copy_paste import copy_paste_collate

        collate = partial(copy_paste_collate, probability=data_cfg.augment.copy_paste, ignore_index=ignore_index,
                          aux_ratio=aux_ratio)
    loader = DataLoader(dataset, batch_size=train_cfg.batch_size, sampler=sampler, collate_fn=collate,
                        num_workers=train_cfg.num_workers, drop_last=per_process >= train_cfg.batch_size,
                        pin_memory=pin_memory, worker_init_fn=_worker_init,
                        # the dataset's epoch lives in shared memory, so set_epoch reaches kept workers
                        persistent_workers=train_cfg.num_workers > 0)
    return loader, sampler


def val_loader(dataset: Any, train_cfg: TrainConfig, ctx: DistContext, *, pin_memory: bool) -> Any:
    """Validation tiles in order; under torchrun every process takes every world_size-th tile."""
    from torch.utils.data import DataLoader, Subset

    if ctx.distributed:
        dataset = Subset(dataset, list(range(ctx.rank, len(dataset), ctx.world_size)))
    return DataLoader(dataset, batch_size=train_cfg.batch_size, shuffle=False, num_workers=train_cfg.num_workers,
                      pin_memory=pin_memory)


def _worker_init(worker_id: int) -> None:
    # Forked workers inherit one numpy state; give each its own, derived from torch's per-worker seed.
    import numpy as np
    import torch

    np.random.seed(torch.initial_seed() % 2**32)
    random.seed(torch.initial_seed() % 2**32)
