"""Copy-paste of foreground instances between a batch's tiles (Ghiasi et al. 2021, "simple copy-paste" without
rescaling), the training loader's collation when ``augment.copy_paste`` asks for it.

For a share of the tiles of a batch, the foreground objects (8-connected components of non-background, labelled
pixels) of another tile of the batch are pasted at the same place: a random non-empty subset of the source's
components, with their vision pixels, their labels and the aux cells they cover (aux cells whose area is mostly
inside the pasted objects). Image and label stay consistent because every pasted pixel takes both from the
same source pixel. Sources are read from the batch as it was before any paste.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


def connected_components(mask: torch.Tensor) -> tuple[torch.Tensor, int]:
    """8-connected components of a (H, W) bool mask: int64 labels 1..n (0 outside) and n. Label propagation (each
    pixel takes the largest id of its 3x3 neighbourhood inside the mask until nothing changes), no SciPy."""
    h, w = mask.shape
    dtype = torch.float32 if h * w < 2**24 else torch.float64  # ids must be exact
    ids = torch.arange(1, h * w + 1, dtype=dtype).reshape(1, 1, h, w) * mask
    inside = mask.reshape(1, 1, h, w).to(ids.dtype)
    while True:
        grown = F.max_pool2d(ids, 3, stride=1, padding=1) * inside
        if torch.equal(grown, ids):
            break
        ids = grown
    values, labels = torch.unique(ids.reshape(h, w).long(), return_inverse=True)
    background = int(values[0] == 0)  # 0: every pixel is foreground
    return (labels + 1 - background).reshape(h, w), len(values) - background


def copy_paste(batch: dict[str, Any], rng: np.random.Generator, probability: float, ignore_index: int = 255,
               aux_ratio: int = 1) -> dict[str, Any]:
    """Paste foreground objects between the tiles of ``batch`` ({"vision" (B, C, H, W), "labels" (B, H, W),
    optional "aux" (B, Ca, H/r, W/r)}) in place; each tile is a target with ``probability``. Returns the batch."""
    labels, vision, aux = batch["labels"], batch["vision"], batch.get("aux")
    size = labels.shape[0]
    if size < 2 or probability <= 0:
        return batch
    targets = [i for i in range(size) if rng.random() < probability]
    if not targets:
        return batch
    source_labels, source_vision = labels.clone(), vision.clone()
    source_aux = aux.clone() if aux is not None else None
    for i in targets:
        j = (i + 1 + int(rng.integers(size - 1))) % size  # another tile of the batch
        foreground = (source_labels[j] != 0) & (source_labels[j] != ignore_index)
        if not foreground.any():
            continue
        components, n = connected_components(foreground)
        chosen = rng.random(n) < 0.5  # a random non-empty subset of its components
        chosen[int(rng.integers(n))] = True
        mask = torch.from_numpy(np.concatenate([[False], chosen]))[components]
        labels[i][mask] = source_labels[j][mask]
        vision[i][:, mask] = source_vision[j][:, mask]
        if aux is not None:
            cells = mask if aux_ratio == 1 else F.avg_pool2d(mask[None, None].float(), aux_ratio)[0, 0] > 0.5
            aux[i][:, cells] = source_aux[j][:, cells]
    return batch


def copy_paste_collate(samples: list[dict[str, Any]], probability: float, ignore_index: int,
                       aux_ratio: int) -> dict[str, Any]:
    """DataLoader ``collate_fn`` (its settings bound with ``functools.partial``): the default collation, then
    :func:`copy_paste`. Its random numbers come from torch's generator (seeded per epoch by the trainer and per
    worker by the DataLoader), so a run is reproducible like the other augmentations."""
    from torch.utils.data import default_collate

    rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))
    return copy_paste(default_collate(samples), rng, float(probability), int(ignore_index), int(aux_ratio))
