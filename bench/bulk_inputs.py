"""Inputs and helpers every part of the bulk benchmark uses (``bench_bulk.py``, ``bulk_readers.py``,
``bulk_scenes.py``, ``bulk_gpu.py``): the product-configuration bundle with random weights, scenes and their
manifest, the environment of a child process, a raster's values, a predictor loaded once."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_segment import AUX_CHANNELS, write_scene
from bench.common import child_env

REPO = Path(__file__).resolve().parents[1]
PRESET, TILE = "b1", 512


def bench_bundle(folder: Path, preset: str = PRESET, tile: int = TILE) -> str:
    """A bundle of the product configuration with random (seeded) weights and the scenes' statistics."""
    import torch

    from engine.bundle.store import save_bundle
    from engine.models import build_model

    path = folder / f"bulk_{preset}_{tile}.dsmodel"
    if path.exists():
        return str(path)
    torch.manual_seed(0)
    model = build_model("dualstream", preset=preset, vision_channels=4, aux_channels=AUX_CHANNELS, num_classes=1)
    data = {"vision_bands": 4, "vision_stats": {"method": "percentile", "low": [800.0] * 4, "high": [4200.0] * 4},
            "aux_channels": AUX_CHANNELS,
            "aux_stats": {"method": "meanstd", "low": [0.0] * AUX_CHANNELS, "high": [30.0] * AUX_CHANNELS},
            "aux_bands_per_file": AUX_CHANNELS, "aux_ratio": 8, "aux_prefixes": [],
            "class_names": ["background", "foreground"], "class_colors": ["#000000", "#e6550d"],
            "tile_size": tile, "gsd": [1.0, 1.0], "num_classes": 1}
    return save_bundle(path, model, {"model": model.config.to_dict(), "data": data,
                                     "train": {"note": "untrained: throughput benchmark only"}})


def bench_scenes(folder: Path, count: int, size: int) -> Path:
    """``count`` scenes of size^2 and a manifest (image, aux, output) listing them; returns the manifest."""
    manifest = folder / f"scenes_{count}x{size}.csv"
    rows = []
    for index in range(count):
        scene = write_scene(folder / f"s{size}_{index}", size, seed=index)
        rows.append({"image": scene["image"], "aux": scene["aux"][0], "output": f"s{size}_{index}.tif"})
    with open(manifest, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image", "aux", "output"])
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def manifest_rows(manifest: Path) -> list[dict[str, str]]:
    with open(manifest, newline="") as handle:
        return list(csv.DictReader(handle))


def manifest_size(manifest: Path) -> int:
    return int(manifest.stem.split("x")[-1])


def bench_env(threads: int | None = None) -> dict[str, str]:
    env = child_env()
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def class_values(path: str | Path) -> np.ndarray:
    import rasterio

    with rasterio.open(path) as ds:
        return ds.read()


def bench_predictor(template: Any, amp: str) -> Any:
    """``template``'s bundle(s) loaded once on its device, no TTA, autocast in ``amp`` ("bf16", "fp16", "none")."""
    import torch

    from engine.segment import Predictor
    from engine.segment.members import check_members

    predictor = Predictor.from_bundles(check_members(template), "none", template.device)
    predictor.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "none": None}[amp]
    return predictor
