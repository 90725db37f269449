"""The statistics files of ukis-csmask's models (``model_4b_l1c.json`` beside ``model_4b_l1c.onnx``): the band
order its graphs take, the per-band mean and standard deviation of reflectance its input is standardised with,
its tile size and class count. A catalogue entry of ukis-csmask is checked against them before it is wrapped, so
a bundle never carries statistics the graph was not trained with.

Read from ukis-csmask 1.0.0's ``CSmask``: it reorders the bands to ``band_names``, computes
``(reflectance - mean) / std``, runs the graph (NCHW float32) on ``target_size`` tiles overlapping by 20 %, applies
a softmax to its three outputs and takes the argmax: 0 background, 1 cloud, 2 cloud shadow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from .catalogue import Entry

#: How close the catalogue's statistics must be to the file's (both are float32 values written as text).
TOLERANCE = 1e-6


@dataclass(frozen=True)
class CsmaskStatistics:
    band_names: list[str]
    mean: list[float]
    std: list[float]
    tile_size: int
    classes: int


def read_statistics(path: Path) -> CsmaskStatistics:
    """The statistics file of one ukis-csmask model."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
        stats = data["dataset_statistics"]
        return CsmaskStatistics(band_names=[str(b).lower() for b in stats["band_names"]],
                                mean=[float(v) for v in stats["img"][0]], std=[float(v) for v in stats["img"][1]],
                                tile_size=int(data["target_size"][0]), classes=int(data["classes"]))
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise DataError(f"'{path}' is not a ukis-csmask statistics file ({type(exc).__name__}: {exc}).") from exc


def check_entry(entry: Entry, stats: CsmaskStatistics, path: Path) -> None:
    """DataError naming what differs between the catalogue entry and the model's own statistics file."""
    problems = []
    if [b.lower() for b in entry.bands] != stats.band_names:
        problems.append(f"bands {entry.bands} vs {stats.band_names}")
    if len(entry.mean) != len(stats.mean) or any(abs(a - b) > TOLERANCE for a, b in zip(entry.mean, stats.mean)):
        problems.append("mean")
    if len(entry.std) != len(stats.std) or any(abs(a - b) > TOLERANCE for a, b in zip(entry.std, stats.std)):
        problems.append("std")
    if entry.tile_size != stats.tile_size:
        problems.append(f"tile size {entry.tile_size} vs {stats.tile_size}")
    if len(entry.classes) != stats.classes:
        problems.append(f"{len(entry.classes)} classes vs {stats.classes}")
    if problems:
        raise DataError(f"The catalogue entry '{entry.name}' ({entry.origin}) does not match the model's statistics "
                        f"file {path}: {'; '.join(problems)}. Correct the entry.")
