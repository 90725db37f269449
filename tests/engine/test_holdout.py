"""Validation held out of a labelled area of separate parts (engine.data.sampling): whole parts, never all, foreground
first; training tiles never see them."""

from __future__ import annotations

import numpy as np
import pytest

from engine.config import DataConfig
from engine.data import synthetic
from engine.data.dataset import build_datasets
from engine.data.sampling import Region, hold_out_parts, merge_boxes, region_mask
from tests.helpers import RecordingCallback, cell_index_from_label, squares_layer

SQUARES = [(16, 16), (160, 16), (16, 160), (160, 160)]  # top-left corners of four 64 px squares of a 256 px scene


def test_overlapping_boxes_merge_and_touching_ones_stay_apart():
    boxes = [Region(0, 0, 10, 10), Region(5, 5, 10, 10), Region(15, 0, 5, 5), Region(40, 40, 4, 4)]
    assert merge_boxes(boxes) == [Region(0, 0, 15, 15), Region(15, 0, 5, 5), Region(40, 40, 4, 4)]


def test_parts_held_out_whole_foreground_first_and_never_all():
    label = np.zeros((64, 64), np.uint8)
    label[40:44, 40:44] = 1  # foreground in the part at (32, 32) and the part at (0, 32)
    label[40:44, 4:8] = 1
    index = cell_index_from_label(label)
    parts = [Region(0, 0, 16, 16), Region(32, 0, 16, 16), Region(0, 32, 16, 16), Region(32, 32, 16, 16)]
    for seed in range(8):
        train, val = hold_out_parts(parts, index, 0.2, np.random.default_rng(seed))
        assert len(val) == 1 and len(train) == 3 and set(train) | set(val) == set(parts)
        assert val[0] in (parts[2], parts[3])  # a part with foreground validates ...
        assert {parts[2], parts[3]} & set(train)  # ... and one stays in training
    _, most = hold_out_parts(parts, index, 0.99, np.random.default_rng(0))
    assert len(most) == 3  # at most all but one


def test_holes_are_masked_in_training_windows():
    region = Region(0, 0, 100, 100, holes=(Region(10, 10, 20, 20),))
    mask = region_mask(region, 0, 0, 32)
    assert mask is not None and not mask[10:30, 10:30].any() and mask[:10].all() and mask[30:, :].all()
    assert region_mask(region, 50, 50, 32) is None  # no hole in reach: the window is whole
    assert region.contains(np.array([5, 15]), np.array([5, 15])).tolist() == [True, False]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("holdout")
    found = synthetic.make_scene(root, "scene", size=(256, 256), seed=2, aux_channels=0)
    found["area"] = squares_layer(root / "squares.gpkg", found["image"], SQUARES, 64)
    return found


def test_a_labelled_area_of_squares_validates_on_a_whole_square_training_never_sees(scene):
    cfg = DataConfig(train_scenes=[{"image": scene["image"], "label": scene["label_vector"], "label_field": "class",
                                    "aoi": scene["area"]}], tile_size=32, tiles_per_epoch=48, statistics_tiles=4,
                     label_mapping={"90": 1}, val_fraction=0.2)
    cb = RecordingCallback()
    train, val, summary = build_datasets(cfg, cb)
    said = [m for m in cb.messages("info") if m.startswith("Validation: ")]
    assert len(said) == 1 and "1 of the 4 parts of the labelled area" in said[0], cb.messages("info")
    assert summary.metadata.validation == "parts of the labelled area held out of training"
    # the validation grid covers one whole square, and nothing else is scored
    regions = {w[3] for w in val.windows}
    assert len(regions) == 1
    (held,) = regions
    assert (held.width, held.height) == (64, 64) and (held.col, held.row) in SQUARES
    scored = sum(int((val[i]["labels"] != 255).sum()) for i in range(len(val)))
    assert scored == 64 * 64
    # no training tile holds a labelled pixel of the held-out square
    train.set_epoch(3)
    for i in range(len(train)):
        plan = train.sampler.plan(3, i)
        assert plan.region.holes == (held,)
        inside = region_mask(plan.region, plan.col, plan.row, plan.size)
        if inside is not None:
            cols = np.arange(plan.col, plan.col + plan.size)
            rows = np.arange(plan.row, plan.row + plan.size)
            in_held = ((rows[:, None] >= held.row) & (rows[:, None] < held.row + 64)
                       & (cols[None, :] >= held.col) & (cols[None, :] < held.col + 64))
            assert not (inside & in_held).any()
        assert int((train[i]["labels"] != 255).sum()) > 0
