"""Partial labels: a labelled area beside the labels; outside it pixels are ignored, not background."""

from __future__ import annotations

import numpy as np
import pytest

from engine.config import DataConfig
from engine.data import synthetic
from engine.data.dataset import build_datasets
from tests.helpers import RecordingCallback, squares_layer

SQUARE = (96, 128, 96, 128)  # col0, col1, row0, row1: a 32 px square, 1.6 % of the 256 px scene


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("partial")
    found = synthetic.make_scene(root, "scene", size=(256, 256), seed=2, aux_channels=0)
    found["area"] = squares_layer(root / "labelled.gpkg", found["image"], [(SQUARE[0], SQUARE[2])], 32)
    return found


def _cfg(scene: dict, area: str | None, **kw: object) -> DataConfig:
    spec = {"image": scene["image"], "label": scene["label_vector"], "label_field": "class", "aoi": area}
    base = {"train_scenes": [spec], "tile_size": 64, "tiles_per_epoch": 24, "statistics_tiles": 4, "aux_ratio": 8,
            "label_mapping": {"90": 1}, "val_scenes": [{"image": scene["image"], "label": scene["label"],
                                                       "aoi": area}]}
    base.update(kw)
    return DataConfig(**base)


def test_a_small_labelled_area_fills_every_tile_and_ignores_the_rest(scene):
    cb = RecordingCallback()
    train, val, _ = build_datasets(_cfg(scene, scene["area"]), cb)
    lines = [m for m in cb.messages("info") if "Labelled area of" in m]
    assert len(lines) == 1 and "1.6 % of the scene is labelled" in lines[0] and "ignored" in lines[0]
    train.set_epoch(0)
    labelled = [int((train[i]["labels"] != 255).sum()) for i in range(len(train))]
    assert min(labelled) > 0  # 1.6 % labelled, yet every training tile holds labelled pixels
    total = 0
    for i in range(len(val)):  # validation scores the labelled square only: everything else is ignore
        window = val.windows[i]
        labels = val[i]["labels"].numpy()
        rows, cols = np.nonzero(labels != 255)
        total += len(rows)
        assert all(SQUARE[0] <= window[1] + c < SQUARE[1] and SQUARE[2] <= window[2] + r < SQUARE[3]
                   for r, c in zip(rows, cols))
    assert total == 32 * 32


def test_without_a_labelled_area_polygons_mean_what_they_meant_and_the_log_says_so(scene):
    cb = RecordingCallback()
    train, _, _ = build_datasets(_cfg(scene, None, val_scenes=[]), cb)
    lines = [m for m in cb.messages("info") if "No labelled area" in m]
    assert len(lines) == 1 and "is class 0" in lines[0] and "100.0 % of the" in lines[0]
    train.set_epoch(0)
    assert all(int((train[i]["labels"] == 255).sum()) < 64 * 64 for i in range(4))
