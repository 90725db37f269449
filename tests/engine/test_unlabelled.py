"""Learning from unlabelled pixels: unlabelled imagery as an input (engine/data/unlabelled.py), its checks against
the labelled data, and the weak-to-strong consistency of the training steps (engine/training/consistency.py)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from engine.cli.main import main
from engine.config import DataConfig, SceneSpec
from engine.data.dataset import build_datasets
from engine.data.sampling import Region
from engine.data.scene import SceneReader
from engine.data.synthetic import make_scene
from engine.data.synthetic_pairs import make_pair
from engine.data.unlabelled import UnlabelledTileDataset, unlabelled_places, unlabelled_scenes
from engine.errors import ConfigError, DataError
from engine.training.consistency import Consistency
from tests.helpers import LogLines

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    root = tmp_path_factory.mktemp("unlabelled")
    labelled = make_scene(root, "labelled", aux_channels=0, size=(96, 96), seed=1)
    other = make_scene(root, "other", aux_channels=0, size=(96, 96), seed=2)
    data = DataConfig(train_scenes=[SceneSpec(image=labelled["image"], label=labelled["label"])], tile_size=64,
                      label_mapping={"90": 1}, tiles_per_epoch=8, statistics_tiles=4)
    train_ds, _, _ = build_datasets(data)
    return {"root": root, "labelled": labelled, "other": other, "train_ds": train_ds}


def _scenes(scenes, paths, said=None):
    train_ds = scenes["train_ds"]
    with SceneReader(**train_ds.scenes[0]) as first:
        return unlabelled_scenes(paths, train_ds.scenes, [], first, {}, train_ds.vision_stats, said or LogLines())


def _rewrite(source: str, path: Path, change) -> str:
    """A copy of the raster ``source`` at ``path`` with ``change(data, profile)`` applied."""
    with rasterio.open(source) as src:
        data, profile = src.read(), src.profile
    data, profile = change(data, dict(profile))
    with rasterio.open(path, "w", **{**profile, "count": data.shape[0], "dtype": data.dtype}) as dst:
        dst.write(data)
    return str(path)


# ------------------------------------------------------------------------------------------------ the input
def test_a_change_model_takes_each_place_s_dates_in_turn_and_folders_of_pairs(tmp_path):
    for name in ("A", "B"):
        (tmp_path / "pairs" / name).mkdir(parents=True)
        for stem in ("x", "y"):
            (tmp_path / "pairs" / name / f"{stem}.png").write_bytes(b"")
    places = unlabelled_places(["b1.tif", "a1.tif", str(tmp_path / "pairs")], dates=2)
    assert [p[0][-7:] for p in places] == ["A/x.png", "A/y.png", "b1.tif"]
    assert [Path(p[1]).parent.name for p in places[:2]] == ["B", "B"] and places[2] == ["b1.tif", "a1.tif"]
    with pytest.raises(ConfigError, match="3 raster.*2 dates.*'c.tif' lacks its partner"):
        unlabelled_places(["a.tif", "b.tif", "c.tif"], dates=2)
    (tmp_path / "pairs" / "B" / "y.png").unlink()
    with pytest.raises(DataError, match=r"incomplete: \['y'\]"):
        unlabelled_places([str(tmp_path / "pairs")], dates=2)


def test_another_crs_is_fine_and_the_labelled_scene_is_said_once_and_used_once(scenes, tmp_path):
    moved = _rewrite(scenes["other"]["image"], tmp_path / "utm33.tif",
                     lambda d, p: (d, {**p, "crs": rasterio.crs.CRS.from_epsg(32633)}))
    said = LogLines()
    found = _scenes(scenes, [moved, scenes["labelled"]["image"], scenes["labelled"]["image"]], said)
    assert [s.labelled for s in found] == [True, False]  # the labelled scene once (its unlabelled pixels), then one
    assert found[1].kwargs["image"] == moved and found[1].kwargs["label"] is None
    twice = [line for line in said.lines if "also a labelled scene's image: used once" in line]
    assert len(twice) == 1 and scenes["labelled"]["image"] in twice[0]


def test_other_bands_another_pixel_size_other_units_and_all_nodata_are_refused_by_name(scenes, tmp_path):
    image = scenes["other"]["image"]
    cases = {
        "bands": (lambda d, p: (d[:2], p), "gives 2 band"),
        "pixels": (lambda d, p: (d, {**p, "transform": p["transform"] * rasterio.Affine.scale(3)}), "resample it"),
        "units": (lambda d, p: ((d / 10000.0).astype(np.float32), p), "units"),
        "nodata": (lambda d, p: (np.zeros_like(d), {**p, "nodata": 0}), "all nodata"),
    }
    for name, (change, words) in cases.items():
        bad = _rewrite(image, tmp_path / f"{name}.tif", change)
        with pytest.raises(DataError) as caught:
            _scenes(scenes, [bad])
        assert bad in str(caught.value) and words in str(caught.value) and "(unlabelled)" in str(caught.value), name


def test_a_scene_larger_than_the_memory_is_read_window_by_window(scenes, tmp_path, monkeypatch):
    big = make_scene(tmp_path, "big", aux_channels=0, size=(640, 640), seed=3)
    found = _scenes(scenes, [big["image"]])
    train_ds = scenes["train_ds"]
    ds = UnlabelledTileDataset(found, train_ds.vision_stats, None, 64, 16, seed=0)
    reads = []
    original = SceneReader.read

    def spy(self, col, row, width, height, keep_dtype=False):
        reads.append((self.image, width, height))
        return original(self, col, row, width, height, keep_dtype)

    monkeypatch.setattr(SceneReader, "read", spy)
    samples = [ds[i] for i in range(16)]
    assert {(w, h) for _, w, h in reads} == {(64, 64)}  # windows only, never a whole scene
    assert any(image == big["image"] for image, _, _ in reads)  # drawn by area: the big scene most
    assert all(s["vision"].shape == (4, 64, 64) and s["valid"].dtype == torch.bool for s in samples)
    ds.set_epoch(2)
    assert ds.window(0) != UnlabelledTileDataset(found, train_ds.vision_stats, None, 64, 16, seed=0).window(0)


def test_the_labelled_scene_s_held_out_validation_is_no_unlabelled_pixel(scenes):
    train_ds = scenes["train_ds"]
    hole = Region(0, 0, 64, 96)
    with SceneReader(**train_ds.scenes[0]) as first:
        found = unlabelled_scenes([], train_ds.scenes, [], first, {0: [hole]}, train_ds.vision_stats, LogLines())
    ds = UnlabelledTileDataset(found, train_ds.vision_stats, None, 64, 32, seed=0)
    for i in range(32):
        _, col, row = ds.window(i)
        valid = ds[i]["valid"].numpy()
        cols = np.arange(col, col + 64)[None, :].repeat(64, 0)
        assert not valid[cols < 64].any()


# ------------------------------------------------------------------------------------------------ the views
class _Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.decoder = torch.nn.Conv2d(6, 1, 1)

    def forward(self, x, aux=None):
        return {"logits": self.decoder(x)}


class _Forward:
    device = "cpu"
    uses_aux = False

    class step:  # noqa: N801 - the StepSetup's one method the consistency calls
        @staticmethod
        def batch(x):
            return x

    def __call__(self, net, pixels, aux, coords=None):
        return net(pixels, aux)


def test_cutmix_cuts_one_box_through_both_dates_and_the_pseudo_labels_follow_it():
    consistency = Consistency(_Tiny(), None, dates=2, threshold=0.95, weight=1.0, ignore_index=255, seed=3)
    pixels = torch.stack([torch.zeros(6, 32, 32), torch.ones(6, 32, 32)])  # tile 0 all 0, tile 1 all 1
    pseudo = torch.stack([torch.zeros(32, 32, dtype=torch.long), torch.ones(32, 32, dtype=torch.long)])
    mixed = 0
    for _ in range(20):
        confident = torch.ones(2, 32, 32, dtype=torch.bool)
        view, _, labels, _, _ = consistency._strong(pixels, None, pseudo.clone(), confident, {})
        box = view.round()  # the jitter of a constant tile moves it by far less than 0.5
        assert torch.equal(box[:, :3], box[:, 3:])  # the same box in the first and the later date
        assert torch.equal(box[:, 0].long(), labels)  # the labels moved with the pixels
        mixed += int((box[0] != 0).any())
    assert mixed > 0


def test_the_unlabelled_loss_learns_from_confident_pixels_only(tmp_path):
    model = _Tiny()
    with torch.no_grad():
        model.decoder.weight.zero_()
        model.decoder.bias.fill_(5.0)  # sigmoid 0.993: confident "change" everywhere
    tiles = [{"vision": torch.rand(6, 16, 16), "valid": torch.ones(16, 16, dtype=torch.bool)} for _ in range(4)]

    class Loader(list):
        class dataset:  # noqa: N801
            @staticmethod
            def set_epoch(epoch):
                pass

    batch = {"vision": torch.stack([t["vision"] for t in tiles]), "valid": torch.stack([t["valid"] for t in tiles])}
    seen = []

    def loss_fn(outputs, labels):
        seen.append(labels)
        return outputs["logits"].mean()

    for threshold, confident in ((0.95, True), (0.999, False)):
        consistency = Consistency(model, Loader([batch]), 2, threshold, 1.0, 255, seed=0)
        loss = consistency.loss(model, _Forward(), loss_fn, step=1)
        loss.backward()
        assert consistency.summary()["unlabelled_confident"] == (1.0 if confident else 0.0)
        assert (float(loss.detach()) != 0.0) == confident
    assert len(seen) == 1 and bool((seen[0] == 1).all())  # unconfident: the loss function never ran


# ------------------------------------------------------------------------------------------------ training
@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("unlabelled_pairs")
    return [make_pair(root, seed=i, size=96, name=f"p{i}") for i in range(3)]


def test_a_change_model_learns_from_unlabelled_pairs_and_the_log_says_how_many_tiles(pairs, tmp_path, capsys):
    out = tmp_path / "c.dsmodel"
    code = main(["train", "--image", pairs[0].before, "--after", pairs[0].after, "--label", pairs[0].change,
                 "--unlabelled", pairs[1].before, pairs[1].after, pairs[2].before, pairs[2].after, "--model",
                 "change", "--preset", "tiny", "--epochs", "2", "--tile-size", "64", "--tiles-per-epoch", "16",
                 "--confidence", "0.5", "--val-fraction", "0", "--consistency", "on", "--out", str(out)])
    assert code == 0
    err = capsys.readouterr().err
    assert ("16 unlabelled tiles per epoch, a batch of 4 beside each labelled one, from 2 unlabelled scene(s) and "
            "the unlabelled pixels of 1 labelled one(s)") in err
    assert "From epoch 2 on the unlabelled tiles teach too" in err  # without validation: after the first epoch
    first, second = csv.DictReader(open(tmp_path / "c_metrics.csv"))
    assert float(first["unlabelled_confident"]) == 0.0  # the first epoch learns from the labels alone
    assert float(second["unlabelled_confident"]) > 0 and float(second["unlabelled_loss"]) > 0


def test_the_unlabelled_tiles_wait_until_the_model_finds_a_class_in_validation():
    consistency = Consistency(_Tiny(), None, dates=2, threshold=0.95, weight=1.0, ignore_index=255, seed=0)
    said: list[str] = []
    consistency.start(1, 0.0, said.append)
    assert not consistency.active and said == []
    consistency.start(2, 0.31, said.append)
    consistency.start(3, 0.40, said.append)
    assert consistency.active and said == ["From epoch 3 on the unlabelled tiles teach too: the labelled ones taught "
                                           "the model to find the classes (validation IoU 0.310)."]


def test_one_date_learns_from_its_own_unlabelled_pixels_when_asked(scenes, tmp_path, capsys):
    labelled = scenes["labelled"]
    code = main(["train", "--image", labelled["image"], "--label", labelled["label"], "--label-map", "90=1",
                 "--model", "unet", "--preset", "tiny", "--epochs", "1", "--tile-size", "64", "--tiles-per-epoch",
                 "8", "--consistency", "on", "--out", str(tmp_path / "one.dsmodel")])
    assert code == 0
    err = capsys.readouterr().err
    assert "from 0 unlabelled scene(s) and the unlabelled pixels of 1 labelled one(s)" in err


def test_unlabelled_imagery_with_the_consistency_auto_or_off_is_said_unused(scenes, tmp_path, capsys):
    labelled = scenes["labelled"]
    for setting, said in (("auto", "is auto, which is off: at the CPU's default budget"), ("off", "is off:")):
        code = main(["train", "--image", labelled["image"], "--label", labelled["label"], "--label-map", "90=1",
                     "--model", "unet", "--preset", "tiny", "--epochs", "1", "--tile-size", "64", "--tiles-per-epoch",
                     "8", "--unlabelled", scenes["other"]["image"], "--consistency", setting,
                     "--out", str(tmp_path / f"{setting}.dsmodel")])
        assert code == 0
        err = capsys.readouterr().err
        assert f"--unlabelled is given but --consistency {said}" in err and "set --consistency on" in err
        assert "Learning from unlabelled pixels" not in err


def test_torchrun_learns_from_unlabelled_pairs_in_two_processes(pairs, tmp_path):
    out = tmp_path / "ddp.dsmodel"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", "2",
         "-m", "engine", "train", "--image", pairs[0].before, "--after", pairs[0].after, "--label", pairs[0].change,
         "--unlabelled", pairs[1].before, pairs[1].after, "--model", "change", "--preset", "tiny", "--tile-size",
         "64", "--tiles-per-epoch", "16", "--batch-size", "4", "--epochs", "2", "--val-fraction", "0",
         "--confidence", "0.5", "--consistency", "on", "--device", "cpu", "--out", str(out), "--json"],
        capture_output=True, text=True, cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO)),
        timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "cpu x2 processes" in done.stderr and "8 unlabelled tiles per epoch" in done.stderr
    assert "From epoch 2 on the unlabelled tiles teach too" in done.stderr  # the second epoch's steps take them
    rows = list(csv.DictReader(open(tmp_path / "ddp_metrics.csv")))
    assert float(rows[0]["unlabelled_confident"]) == 0 and float(rows[1]["unlabelled_confident"]) > 0
    assert json.loads(done.stdout[done.stdout.index("{"):])["bundle"] == str(out)


def test_an_encoder_that_takes_each_tile_s_date_and_place_is_refused_by_name():
    from types import SimpleNamespace

    from engine.training.consistency import build_consistency

    model = _Tiny()
    model.takes_coords = True
    place = SimpleNamespace(callback=LogLines())
    with pytest.raises(ConfigError, match="date and place"):
        build_consistency(model, (None, None, None), SimpleNamespace(unlabelled=[]),
                          SimpleNamespace(consistency="on"), place, False)
