"""Change-detection datasets as published (A/, B/, label/ of PNG tiles, 0/255 masks) given as ``--data``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.config import DataConfig
from engine.data.sources import resolve_scenes
from engine.errors import DataError
from tests.helpers import RecordingCallback, published

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


def test_train_and_val_folders_of_pairs_are_scenes_of_two_dates(tmp_path):
    root = tmp_path / "levir"
    published(root / "train", ["a", "b"])
    published(root / "val", ["c"], dates=("Image1", "Image2"), label="OUT")
    (root / "test").mkdir()
    log = RecordingCallback()
    train, val = resolve_scenes(DataConfig(data_dir=str(root)), log)
    assert [Path(s.image).name for s in train] == ["a.png", "b.png"]
    assert [Path(s.after[0]).parent.name for s in train] == ["B", "B"] and Path(train[0].label).parent.name == "label"
    assert [Path(s.after[0]).parent.name for s in val] == ["Image2"] and Path(val[0].label).parent.name == "OUT"
    assert any("test' is left out of training" in m for m in log.messages("info"))


def test_a_list_folder_splits_one_folder_and_an_incomplete_pair_is_named(tmp_path):
    root = published(tmp_path / "flat", ["a", "b", "c"])
    (root / "list").mkdir()
    (root / "list" / "train.txt").write_text("a.png\nb.png\n")
    (root / "list" / "val.txt").write_text("c.png\n")
    train, val = resolve_scenes(DataConfig(data_dir=str(root)), RecordingCallback())
    assert [Path(s.image).stem for s in train] == ["a", "b"] and [Path(s.image).stem for s in val] == ["c"]
    (root / "B" / "b.png").unlink()
    with pytest.raises(DataError, match=r"pair 'b': later date not found in '.*B'"):
        resolve_scenes(DataConfig(data_dir=str(root)))
    train, _ = resolve_scenes(DataConfig(data_dir=str(root), skip_incomplete=True), RecordingCallback())
    assert [Path(s.image).stem for s in train] == ["a"]


def test_train_on_a_published_dataset_folder_makes_a_change_model(tmp_path, capsys):
    """The whole way a LEVIR-CD user goes: --data on the folder, the change family chosen for two dates, the 0/255
    masks read as change, the per-scene lines of the PNGs without georeferencing condensed."""
    root = published(tmp_path / "ds", [f"t{i}" for i in range(5)])
    out = tmp_path / "cd.dsmodel"
    code = main(["train", "--data", str(root), "--preset", "tiny", "--epochs", "1", "--tile-size", "64",
                 "--tiles-per-epoch", "8", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "--model change" in err and "Change-detection dataset" in err and "5 training pair(s)" in err
    assert "255 is class 1 ('change')" in err
    assert err.count("has no georeferencing") == 3 and "2 more line(s) like the last 3 above" in err
    # what pixel space means for a pair: its dates are matched pixel for pixel, as its label is
    assert f"B{os.sep}t0.png' is paired with it pixel for pixel, so it must show the same place" in err
    from engine.bundle.model_files import read_model_metadata

    meta = read_model_metadata(str(out))
    assert meta.data.dates == 2 and meta.data.label_mapping == {"255": 1}


def test_a_dataset_folder_missing_its_labels_says_what_is_missing(tmp_path):
    root = published(tmp_path / "nolabels", ["a"])
    for path in (root / "label").iterdir():
        path.unlink()
    (root / "label").rmdir()
    with pytest.raises(DataError, match=r"holds A/, B/ of a change-detection dataset but not label/"):
        resolve_scenes(DataConfig(data_dir=str(root)))
