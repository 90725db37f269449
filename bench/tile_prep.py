"""Where one training tile's preparation goes, and a digest of the tiles (issue 64).

A training tile is prepared by the training dataset's ``__getitem__`` (``engine.data.dataset``, the path
``engine.api.train`` takes): the tile's plan (its seeded draws), the image and label windows read, the aux warped
onto the tile's aux grid (DualStream), the bands normalised, the vision jitter (photometric), the sampling grid, the
bilinear resampling of vision and aux (rotation and scale in one step) and the nearest one of the labels.

- :func:`profile_tiles`: the tiles per second of this thread alone (timed as they are), and the same tiles again
  with each part's engine function wrapped in a clock (:data:`PARTS`; a microsecond a call): ms per tile of each
  part; ``other`` is what no part names (the tensors, masks and the call's own Python).
- :func:`tile_digest`: a SHA-256 over the training tiles of two epochs and the validation tiles (values, shapes
  and dtypes): two checkouts that prepare the same tiles for the same seed give the same digest.

Both take the scenes of ``bench/train_speed.py`` (``make_data``). ``train_speed.py`` runs them in each train
measurement (``--before``: in the before checkout too, and says whether the tiles are identical). Alone, on the
bench's scenes: ``python bench/tile_prep.py [--size 768] [--tiles 64] [--digest] [--engine CHECKOUT] [--threads 1]``
prints both families' splits (half a minute).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# part -> (module, attribute): the engine function whose calls are timed (a part's time includes what it calls)
PARTS = {
    "plan": ("engine.data.sampling", "TileSampler.plan"),
    "read image and label": ("engine.data.scene", "SceneReader.read"),
    "cut from the kept scene": ("engine.data.dataset", "_cut"),
    "aux warp": ("engine.data.scene_aux", "SceneAux._read_aux"),
    "normalise": ("engine.data.normalize", "BandStatistics.apply"),
    "photometric": ("engine.data.augment", "photometric"),
    "sampling grid": ("engine.data.augment", "_sampling_grid"),
    "resample vision and aux": ("engine.data.augment", "_resample"),
    "resample labels": ("engine.data.augment", "_resample_nearest"),
}


@contextlib.contextmanager
def timed_parts() -> Iterator[dict[str, float]]:
    """Each part's engine function wrapped with a clock while inside (seconds summed per part, each part's own: a
    part called inside another, as the aux warp inside the scene's read, is taken out of the outer one). A part
    whose function this checkout lacks stays at 0."""
    spent = dict.fromkeys(PARTS, 0.0)
    inside: list[str] = []
    undo = []
    for part, (module, attribute) in PARTS.items():
        try:
            owner: Any = importlib.import_module(module)
        except ModuleNotFoundError:  # an older checkout (--before) without this part's module
            continue
        *path, name = attribute.split(".")
        for step in path:
            owner = getattr(owner, step)
        original = owner.__dict__.get(name)
        if original is None:
            continue

        def clocked(*args: Any, _f: Any = original, _part: str = part, **kwargs: Any) -> Any:
            start = time.perf_counter()
            inside.append(_part)
            try:
                return _f(*args, **kwargs)
            finally:
                inside.pop()
                took = time.perf_counter() - start
                spent[_part] += took
                if inside:
                    spent[inside[-1]] -= took

        setattr(owner, name, clocked)
        undo.append((owner, name, original))
    try:
        yield spent
    finally:
        for owner, name, original in undo:
            setattr(owner, name, original)


def datasets(scenes: dict[str, Any], tiles: int, seed: int, tile: int) -> tuple[Any, Any]:
    """The training and validation datasets ``train`` builds of these scenes (label 90 -> class 1)."""
    from engine.callbacks import QuietCallback
    from engine.config import DataConfig
    from engine.data.dataset import build_datasets

    cfg = DataConfig(train_scenes=scenes["train"], val_scenes=scenes["val"], tile_size=tile, tiles_per_epoch=tiles,
                     label_mapping={"90": 1}, seed=seed)
    train_ds, val_ds, _ = build_datasets(cfg, QuietCallback())
    return train_ds, val_ds


def profile_tiles(scenes: dict[str, Any], tiles: int, seed: int, tile: int) -> dict[str, Any]:
    """Tiles per second of the training dataset in this thread alone, and ms per tile of each part."""
    train_ds, _ = datasets(scenes, tiles, seed, tile)
    train_ds.set_epoch(1)
    for i in range(len(train_ds)):  # one epoch first: the files opened, the aux stacks and kept scenes read
        train_ds[i]
    train_ds.set_epoch(2)
    start = time.perf_counter()
    for i in range(len(train_ds)):
        train_ds[i]
    seconds = time.perf_counter() - start
    with timed_parts() as spent:
        start = time.perf_counter()
        for i in range(len(train_ds)):
            train_ds[i]
        clocked = time.perf_counter() - start
    parts = dict(spent)
    parts["other"] = clocked - sum(parts.values())
    n = len(train_ds)
    return {"tiles_per_second": n / seconds, "ms_per_tile": 1000 * seconds / n,
            "parts_ms_per_tile": {k: 1000 * v / n for k, v in parts.items()}, "clocked_ms_per_tile": 1000 * clocked / n}


def tile_digest(scenes: dict[str, Any], tiles: int, seed: int, tile: int) -> str:
    """SHA-256 of the training tiles of epochs 1 and 2 and of the validation tiles (values, shapes, dtypes)."""
    train_ds, val_ds = datasets(scenes, tiles, seed, tile)
    digest = hashlib.sha256()

    def add(sample: dict[str, Any]) -> None:
        for key in sorted(sample):
            array = sample[key].numpy()
            digest.update(f"{key}{array.shape}{array.dtype}".encode())
            digest.update(array.tobytes())

    for epoch in (1, 2):
        train_ds.set_epoch(epoch)
        for i in range(len(train_ds)):
            add(train_ds[i])
    for i in range(len(val_ds)):
        add(val_ds[i])
    return digest.hexdigest()


def markdown(results: dict[str, dict[str, Any]]) -> str:
    """A table of the parts (ms per tile), one column per family."""
    names = list(next(iter(results.values()))["parts_ms_per_tile"])
    lines = ["| part (ms a tile) | " + " | ".join(results) + " |", "|---|" + "---|" * len(results)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(f"{r['parts_ms_per_tile'][name]:.3f}" for r in results.values())
                     + " |")
    lines.append("| **tile** | " + " | ".join(f"**{r['ms_per_tile']:.3f}**" for r in results.values()) + " |")
    lines.append("| tiles a second | " + " | ".join(f"{r['tiles_per_second']:.0f}" for r in results.values())
                 + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=768, help="side of the bench's scenes (px)")
    parser.add_argument("--tiles", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--digest", action="store_true", help="also print the tiles' digest")
    parser.add_argument("--engine", type=Path, default=None, help="the checkout whose engine prepares the tiles")
    parser.add_argument("--threads", type=int, default=1, help="torch's threads (train's: 2 on a 2-core machine)")
    args = parser.parse_args(argv)
    if args.engine is not None:
        sys.path.insert(0, str(args.engine.resolve()))
    import torch
    from train_speed import TILE, make_data

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench_tile_prep_") as tmp:
        data = make_data(Path(tmp), args.size, args.seed)
        results = {}
        for family, key in (("UNet (4 bands)", "scenes"), ("DualStream (+ four 12-band aux)", "scenes_aux")):
            results[family] = profile_tiles(data[key], args.tiles, args.seed, TILE)
            if args.digest:
                print(f"{family}: tiles digest {tile_digest(data[key], args.tiles, args.seed, TILE)}")
    print(markdown(results))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
