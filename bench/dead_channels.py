"""Dead decoder channels of trained bundles: for each ReLU of a bundle's decoder, the channels that are 0 at every
pixel of real tiles. ReLU after the engine's GroupNorm(1) can silence a channel everywhere (the norm leaves
each channel's offset free): trained from random weights on one Massachusetts scene, the UNet decoder's last block
lost half its channels (docs/training.md#the-unet-decoders-activation); GELU has no such zero.

- ``massachusetts``: six 256 px tiles of the shared Massachusetts scene (``bench/unlabelled.py``'s);
- ``levir``: every LEVIR-CD sample pair (``change_pairs/samples_LEVIR``, A and B stacked as a change model reads them).

Each tile is scaled by the bundle's own band statistics, as segment does. Usage: ``python bench/dead_channels.py
massachusetts|levir BUNDLE [BUNDLE ...]`` (``DUALSTREAM_REALDATA``: the folder holding those sets); prints one JSON
line per bundle: the family and decoder, dead channels over all, and per activation.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.unlabelled import MASSACHUSETTS, REALDATA  # noqa: E402

TILE = 256


def tiles(dataset: str, root: Path = REALDATA) -> list[Any]:
    """The (bands, 256, 256) float arrays the bundles are probed with."""
    import numpy as np
    import rasterio

    if dataset == "massachusetts":
        with rasterio.open(root / MASSACHUSETTS[0]) as src:
            image = src.read().astype(np.float32)
        return [image[:, r:r + TILE, c:c + TILE] for r in (0, 300, 600) for c in (0, 370)]
    samples = root / "change_pairs" / "samples_LEVIR"
    pairs = []
    for before in sorted((samples / "A").glob("*.png")):
        with rasterio.open(before) as a, rasterio.open(samples / "B" / before.name) as b:
            pairs.append(np.concatenate([a.read()[:3, :TILE, :TILE], b.read()[:3, :TILE, :TILE]]).astype(np.float32))
    return pairs


def dead_channels(bundle: str, arrays: list[Any]) -> dict[str, Any]:
    """For each ReLU of the bundle's decoder: ``dead/channels`` over the tiles ``arrays`` (a GELU is never 0 on a
    stretch of inputs, and keeps a gradient below it, so it is not counted)."""
    import numpy as np
    import torch
    from torch import nn

    from engine.bundle.store import load_bundle

    loaded = load_bundle(bundle)
    model, meta = loaded.model, loaded.metadata
    batch = torch.from_numpy(np.stack([meta.data.vision_stats.apply(a) for a in arrays])).float()
    peaks: dict[str, torch.Tensor] = {}

    def keep(name: str) -> Any:
        def hook(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            peak = output.detach().amax(dim=(0, 2, 3))
            peaks[name] = torch.maximum(peaks[name], peak) if name in peaks else peak
        return hook

    for name, module in model.named_modules():
        if isinstance(module, nn.ReLU) and "decoder" in name:
            module.register_forward_hook(keep(name))
    with torch.no_grad():
        for start in range(0, len(batch), 4):
            model(batch[start:start + 4])
    dead = {name: int((peak <= 0).sum()) for name, peak in peaks.items()}
    return {"bundle": bundle, "model": f"{meta.model.name} {getattr(meta.model, 'decoder', '')}".strip(),
            "dead": f"{sum(dead.values())}/{sum(len(p) for p in peaks.values())}",
            "per_activation": {name: f"{dead[name]}/{len(peak)}" for name, peak in peaks.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=("massachusetts", "levir"))
    parser.add_argument("bundles", nargs="+")
    args = parser.parse_args(argv)
    arrays = tiles(args.dataset)
    for bundle in args.bundles:
        print(json.dumps(dead_channels(bundle, arrays)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
