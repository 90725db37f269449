"""The validation band held out of a training scene keeps every class in training (engine.data.holdout_choice
.choose_ends): the end that holds all of a class is trained on, whatever the seed; the seed decides otherwise; where
each end holds all of a class, squares across the scene validate instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engine.config import DataConfig, SceneSpec
from engine.data.dataset import build_datasets
from engine.data.holdout_choice import keep_every_class, pick_squares
from engine.data.sampling import Region, holdout_ends, holdout_split
from tests.helpers import RecordingCallback, squares_layer, write_geotiff

NAMES = ["field", "forest", "town"]
COLORS = ["#e0d080", "#207020", "#c03030"]
SEEDS = range(8)


def _write(path: Path, data: np.ndarray) -> str:
    return write_geotiff(path, data, "EPSG:32633", (460000.0, 5080000.0), 10.0)


def _scene(root: Path, label: np.ndarray) -> SceneSpec:
    """A scene of ``label``'s size (raw values: the classes) over random imagery."""
    image = np.random.default_rng(3).integers(1, 255, (3, *label.shape), dtype=np.uint8)
    root.mkdir(parents=True, exist_ok=True)
    return SceneSpec(image=_write(root / "scene.tif", image), label=_write(root / "label.tif", label))


def _build(scene: SceneSpec, seed: int) -> tuple[Region, Region, RecordingCallback]:
    """(training region, validation region) of the one scene, and what was said; the bundle's record of the
    validation window and the Data line's name of it checked against the region validated."""
    cfg = DataConfig(train_scenes=[scene], tile_size=32, tiles_per_epoch=8, statistics_tiles=2, val_fraction=0.25,
                     class_names=list(NAMES), class_colors=COLORS, label_mapping={}, seed=seed)
    callback = RecordingCallback()
    train, val, summary = build_datasets(cfg, callback)
    (train_region,) = [region for _, region, _ in train.sampler.parts]
    (val_region,) = {window[3] for window in val.windows}
    window = [val_region.col, val_region.row, val_region.width, val_region.height]
    assert summary.metadata.held_out == [{"scene": "scene.tif", "window": window}]
    end = "west" if val_region.col == 0 else "east"
    said = f"held out of training: the {end} strip of 'scene.tif', columns {val_region.col}-{val_region.col + 63}"
    assert said in _data_line(callback)
    return train_region, val_region, callback


def _data_line(callback: RecordingCallback) -> str:
    return next(m for m in callback.messages("info") if m.startswith("Data: ") and "validation tiles" in m)


def _label(height: int = 64, width: int = 256) -> np.ndarray:
    """Field everywhere, forest across the whole width (both ends and the middle)."""
    label = np.zeros((height, width), np.uint8)
    label[20:40, :] = 1
    return label


def test_the_end_holding_all_of_a_class_is_trained_on_for_every_seed(tmp_path):
    label = _label()
    label[10:20, 230:250] = 2  # the town lies in the east end's band (64 columns) alone
    scene = _scene(tmp_path, label)
    seeded = {seed: holdout_split(256, 64, 0.25, 32, np.random.default_rng([seed, 7919, 0]))[1].col
              for seed in SEEDS}
    assert set(seeded.values()) == {0, 192}  # without the rule some seeds would hold the east end out
    for seed in SEEDS:
        train, val, callback = _build(scene, seed)
        assert val == Region(0, 0, 64, 64) and train == Region(64, 0, 192, 64), seed
        data_line = _data_line(callback)
        overridden = "the west strip: the east one holds all of 'town'" in data_line
        assert overridden == (seeded[seed] == 192), (seed, data_line)
        assert not [w for w in callback.messages("warning") if "training never sees" in w]


def test_the_seed_decides_between_ends_that_both_keep_every_class(tmp_path):
    label = _label()
    label[10:20, 100:140] = 2  # the town in the middle: in training whichever end is held out
    scene = _scene(tmp_path, label)
    held = set()
    for seed in SEEDS:
        _, val, callback = _build(scene, seed)
        expected = holdout_split(256, 64, 0.25, 32, np.random.default_rng([seed, 7919, 0]))[1]
        assert val == expected, seed
        assert "holds all of" not in _data_line(callback)
        held.add(val.col)
    assert held == {0, 192}


def _squares_build(scene: SceneSpec, seed: int) -> tuple[Region, set[Region], RecordingCallback, Any]:
    cfg = DataConfig(train_scenes=[scene], tile_size=32, tiles_per_epoch=8, statistics_tiles=2, val_fraction=0.25,
                     class_names=list(NAMES), class_colors=COLORS, label_mapping={}, seed=seed)
    callback = RecordingCallback()
    train, val, summary = build_datasets(cfg, callback)
    (train_region,) = [region for _, region, _ in train.sampler.parts]
    return train_region, {window[3] for window in val.windows}, callback, summary


def test_where_no_end_keeps_every_class_squares_across_the_scene_validate(tmp_path):
    label = np.zeros((64, 256), np.uint8)
    label[10:20, 0:20] = 2  # the town in the west band alone ...
    label[20:40, 200:236] = 1  # ... the forest in the east band alone (four squares of 32 px)
    scene = _scene(tmp_path, label)
    chosen = set()
    for seed in SEEDS:
        train, squares, callback, summary = _squares_build(scene, seed)
        assert train == Region(0, 0, 256, 64, holes=train.holes) and set(train.holes) == squares, seed
        assert all(s.width == s.height == 32 and s.col % 32 == s.row % 32 == 0 for s in squares), squares
        trained = np.ones(label.shape, bool)
        for s in squares:
            trained[s.row:s.row + s.height, s.col:s.col + s.width] = False
        assert set(np.unique(label[trained])) == {0, 1, 2}, seed  # every class keeps training pixels
        assert 1 in np.unique(label[~trained]) and (~trained).sum() >= 0.25 * label.size, seed  # the forest validates
        assert not [w for w in callback.messages("warning") if "training never sees" in w]
        assert (f"held out of training: {len(squares)} square(s) of 32 px across 'scene.tif' (no strip of it keeps "
                "every class in training: the west one holds all of 'town', the east one holds all of 'forest')"
                in _data_line(callback)), _data_line(callback)
        assert sorted(tuple(w["window"]) for w in summary.metadata.held_out) == sorted(
            (s.col, s.row, s.width, s.height) for s in squares)
        chosen.add(frozenset(squares))
    assert len(chosen) > 1  # the seed picks the squares


def test_where_no_square_can_go_either_the_seeds_strip_stays_and_the_class_is_named(tmp_path):
    label = np.full((64, 256), 255, np.uint8)  # labelled in two squares only, each holding all of a class
    label[0:32, 0:32] = 0
    label[10:20, 0:20] = 2
    label[32:64, 224:256] = 0
    label[40:50, 230:250] = 1
    scene = _scene(tmp_path, label)
    for seed in SEEDS:
        _, val, callback = _build(scene, seed)
        expected = holdout_split(256, 64, 0.25, 32, np.random.default_rng([seed, 7919, 0]))[1]
        assert val == expected, seed  # each end holds all of a class: the seed's end stays
        said = [w for w in callback.messages("warning") if "training never sees" in w]
        lost, kept = ("'town'", "'forest'") if val.col == 0 else ("'forest'", "'town'")
        assert len(said) == 1 and lost in said[0] and kept not in said[0] and "scene.tif" in said[0], said


def test_pick_squares_keeps_every_class_in_training_and_validates_the_classes_it_can():
    whole = np.array([100, 10, 4])
    squares = [np.array([50, 0, 4]), np.array([20, 5, 0]), np.array([10, 5, 0]), np.array([20, 0, 0])]
    for seed in range(6):
        chosen = pick_squares(whole, squares, 0.25, 0.5, np.random.default_rng(seed))
        held = sum(squares[i] for i in chosen)
        assert 0 not in chosen and (whole - held > 0).all(), chosen  # square 0 holds all of class 2
        assert held[1] > 0 and held.sum() >= 0.25 * whole.sum(), chosen  # class 1 validates, the share reached
    assert pick_squares(whole, [np.array([60, 10, 0]), np.array([40, 0, 4])], 0.25, 0.5, np.random.default_rng(0)) == []
    # validation within its most: a square of more than half the labelled pixels is not held out
    assert pick_squares(np.array([100, 10]), [np.array([60, 5]), np.array([40, 5])], 0.25, 0.5,
                        np.random.default_rng(0)) == [1]


def test_a_band_without_a_labelled_pixel_is_warned_about(tmp_path):
    label = _label()
    label[10:20, 100:140] = 2
    label[:, :70] = label[:, 186:] = 255  # unlabelled at both ends: neither band can score the epochs
    scene = _scene(tmp_path, label)
    scene.aoi = squares_layer(tmp_path / "area.gpkg", scene.image, [(0, 0)], 256)  # a labelled area in one piece
    for seed in (0, 1):
        _, val, callback = _build(scene, seed)
        said = [w for w in callback.messages("warning") if "holds no labelled pixel" in w]
        assert len(said) == 1 and "scene.tif" in said[0], callback.messages("warning")
    label[:, 186:] = 0
    scene = _scene(tmp_path / "east", label)
    scene.aoi = squares_layer(tmp_path / "east_area.gpkg", scene.image, [(0, 0)], 256)
    for seed in SEEDS:  # the east band holds labelled pixels (of classes the rest holds): the seed decides
        _, val, callback = _build(scene, seed)
        said = [w for w in callback.messages("warning") if "holds no labelled pixel" in w]
        assert len(said) == (val.col == 0), (seed, said)


def test_keep_every_class_counts_classes_and_leaves_ties_to_the_seed():
    whole = np.array([100, 10, 5])
    end, lost = keep_every_class(whole, [np.array([30, 2, 5]), np.array([30, 2, 0])], 0)
    assert end == 1 and not len(lost)  # the seed's end 0 holds all of class 2
    end, lost = keep_every_class(whole, [np.array([30, 2, 0]), np.array([30, 2, 1])], 1)
    assert end == 1 and not len(lost)  # both keep every class: the seed's end
    end, lost = keep_every_class(whole, [np.array([30, 10, 0]), np.array([30, 0, 5])], 1)
    assert end == 1 and lost.tolist() == [2]  # each end holds all of a class: the seed's, its class named
    end, lost = keep_every_class(np.array([100, 0, 5]), [np.array([30, 0, 0]), np.array([30, 0, 5])], 1)
    assert end == 0 and not len(lost)  # a class the scene does not hold is not kept


def test_holdout_ends_are_the_two_ends_of_the_longer_axis():
    (train_a, val_a), (train_b, val_b) = holdout_ends(80, 200, 0.25, 32)
    assert val_a == Region(0, 0, 80, 50) and train_a == Region(0, 50, 80, 150)
    assert val_b == Region(0, 150, 80, 50) and train_b == Region(0, 0, 80, 150)
    assert holdout_ends(80, 200, 0.0, 32) == []
