"""How a change mask is run (``model.tta``, ``model.threshold``): the automatic choices give a change mask flips and
a decision threshold picked on the validation tiles, the bundle records both, and segment (torch and onnxruntime)
runs it so unless told; bundles trained before keep no flips and 0.5."""

from __future__ import annotations

import json
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import pytest
import rasterio

from engine.bundle.store import read_metadata
from engine.cli.main import main
from engine.config import DataConfig, SceneSpec, TrainConfig
from engine.models import AutoModelConfig
from engine.training.auto import choose_settings
from engine.training.metrics import THRESHOLDS, ThresholdSweep
from tests.helpers import make_change_bundle


def test_the_sweep_scores_every_threshold_as_segment_decides():
    """F1 at each threshold, a pixel foreground from the threshold on (``>=``), ignored pixels left out; the best of
    equal F1s is the one nearest to 0.5."""
    rng = np.random.default_rng(0)
    probabilities = rng.random(500).astype(np.float32)
    truth = (rng.random(500) < probabilities * 0.8).astype(np.int64)
    truth[:20] = 255
    sweep = ThresholdSweep()
    sweep.update(probabilities[:200], truth[:200])  # streaming: two batches
    sweep.update(probabilities[200:], truth[200:])
    keep = truth != 255
    for threshold, f1 in zip(THRESHOLDS, sweep.f1()):
        found, real = probabilities[keep] >= threshold, truth[keep] == 1
        tp = (found & real).sum()
        assert f1 == pytest.approx(2 * tp / (2 * tp + (found & ~real).sum() + (~found & real).sum()))
    assert sweep.best() == THRESHOLDS[int(np.argmax(sweep.f1()))]
    tied = ThresholdSweep()
    tied.update(np.array([0.1, 0.9]), np.array([0, 1]))  # every threshold in (0.1, 0.9] scores 1.0
    assert tied.best() == 0.5


def test_pairs_with_a_change_mask_are_run_with_flips_and_a_picked_threshold_unless_said(tmp_path):
    from engine.data.synthetic_pairs import make_pair

    pair = make_pair(tmp_path, seed=1, size=64)
    data = DataConfig(train_scenes=[SceneSpec(image=pair.before, after=[pair.after], label=pair.change)])
    chosen = choose_settings(AutoModelConfig.config_class("dualstream")(), data, TrainConfig(), (), device="cpu")
    assert chosen.model.name == "change" and chosen.model.tta == "flips"
    line = next(line for line in chosen.lines() if line.startswith("tta flips"))
    assert "threshold validation" in line and "best change F1 on the validation tiles" in line
    given = choose_settings(AutoModelConfig.config_class("change")(), data, TrainConfig(), ("model.name", "model.tta"),
                            device="cpu")
    assert given.model.tta == "none"  # given: kept


def test_a_trained_change_mask_records_the_threshold_its_validation_picked(change_model):
    """The fixture's training (automatic choices): the bundle's model records flips and the F1-best threshold of
    its epoch's validation, which the metrics record too."""
    meta = read_metadata(change_model)
    model = meta.model
    assert model.tta == "flips"
    epoch = meta.metrics["epoch"]
    assert model.threshold == meta.metrics["val_threshold"] and model.threshold in THRESHOLDS
    scores = meta.metrics["val_threshold_f1"]
    assert len(scores) == len(THRESHOLDS) and scores[THRESHOLDS.index(model.threshold)] == max(scores)
    rows = json.loads(Path(change_model).with_name("change_metrics.json").read_text())
    rows = rows.get("history", rows) if isinstance(rows, dict) else rows
    assert next(r for r in rows if r["epoch"] == epoch)["val_threshold"] == model.threshold


def test_a_bundle_from_before_the_setting_reads_as_trained_no_flips_and_half():
    from safetensors import safe_open

    from engine.bundle.schema import METADATA_KEY, BundleMetadata
    from engine.bundle.view import model_view

    with TemporaryDirectory() as folder:
        recorded = make_change_bundle(Path(folder) / "recorded.dsmodel", tta="flips", threshold=0.3)
        with safe_open(recorded, framework="numpy") as handle:
            raw = json.loads(handle.metadata()[METADATA_KEY])
    assert raw["model"]["tta"] == "flips" and raw["model"]["threshold"] == 0.3  # written down
    del raw["model"]["tta"], raw["model"]["threshold"]
    before = BundleMetadata.from_dict(raw)
    view = model_view(before.data, before.model)
    assert before.model.tta == "none" and view.tta == "none" and view.threshold is None  # segment: none, 0.5


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_segment_runs_a_change_model_as_its_bundle_records_unless_told(tmp_path, capsys, backend):
    from engine.data.synthetic_pairs import make_pair

    pytest.importorskip("onnxruntime") if backend == "onnxruntime" else None
    pair = make_pair(tmp_path / "pair", seed=3, size=64)
    recorded = make_change_bundle(tmp_path / "recorded.dsmodel", tta="flips", threshold=0.3)
    old = make_change_bundle(tmp_path / "old.dsmodel")  # the same weights, as a bundle from before reads

    def probabilities(model: str, name: str, *extra: str) -> tuple[np.ndarray, np.ndarray, str]:
        capsys.readouterr()
        out = tmp_path / f"{name}.tif"
        assert main(["segment", "--model", model, "--image", pair.before, "--after", pair.after, "--out", str(out),
                     "--probabilities", str(tmp_path / f"{name}_p.tif"), "--backend", backend, *extra]) == 0
        with rasterio.open(out) as classes, rasterio.open(tmp_path / f"{name}_p.tif") as probs:
            said = capsys.readouterr()
            return classes.read(1), probs.read(1), said.out + said.err

    classes, probs, log = probabilities(recorded, "recorded")
    assert "TTA flips, threshold 0.3." in log
    assert "with its training's threshold 0.3 (picked on its validation tiles) and TTA flips" in log  # whence
    want_classes, want_probs, _ = probabilities(old, "told", "--tta", "flips", "--threshold", "0.3")
    assert np.array_equal(classes, want_classes) and np.allclose(probs, want_probs, atol=1e-6)
    assert np.array_equal(classes, (probs >= 0.3).astype(classes.dtype))
    plain_classes, plain_probs, plain_log = probabilities(old, "old")
    assert "TTA none, threshold 0.5." in plain_log and "its training's" not in plain_log
    assert not np.allclose(probs, plain_probs, atol=1e-4)  # flips change the average
    assert np.array_equal(plain_classes, (plain_probs >= 0.5).astype(classes.dtype))
    overridden, _, log = probabilities(recorded, "overridden", "--tta", "none", "--threshold", "0.5")
    assert "TTA none" in log and np.array_equal(overridden, plain_classes) and "its training's" not in log


def test_a_change_mask_s_tiles_are_zoomed_in_and_out_more_unless_the_augmentation_is_given(tmp_path):
    from engine.data.synthetic_pairs import make_pair

    pair = make_pair(tmp_path, seed=1, size=64)
    data = DataConfig(train_scenes=[SceneSpec(image=pair.before, after=[pair.after], label=pair.change)])
    chosen = choose_settings(AutoModelConfig.config_class("dualstream")(), data, TrainConfig(), (), device="cpu")
    assert chosen.data.augment.scale_range == [0.5, 1.5]
    line = next(line for line in chosen.lines() if line.startswith("scale_range 0.5-1.5"))
    assert "half to 1.5 times its side" in line
    given = choose_settings(AutoModelConfig.config_class("dualstream")(), data, TrainConfig(), ("data.augment",),
                            device="cpu")
    assert given.data.augment.scale_range == [0.75, 1.25]
    one_date = DataConfig(train_scenes=[SceneSpec(image=pair.before, label=pair.change)])
    single = choose_settings(AutoModelConfig.config_class("dualstream")(), one_date, TrainConfig(), (), device="cpu")
    assert single.data.augment.scale_range == [0.5, 1.5]  # one date's own choice, said in its own words
    assert next(line for line in single.lines() if line.startswith("scale_range 0.5-1.5")).count("one date's")


def test_the_training_log_says_the_threshold_it_picked(change_pairs, tmp_path, capsys):
    args = []
    for key, prefix in (("p0", ""), ("p2", "val-")):
        pair = change_pairs[key]
        args += [f"--{prefix}image", pair.before, f"--{prefix}after", pair.after, f"--{prefix}label", pair.change]
    out = tmp_path / "said.dsmodel"
    assert main(["train", *args, "--preset", "tiny", "--epochs", "2", "--tile-size", "64", "--tiles-per-epoch", "16",
                 "--lr", "0.003", "--out", str(out)]) == 0
    said = capsys.readouterr()
    picked = read_metadata(str(out)).model.threshold
    assert picked in THRESHOLDS
    assert f"Decision threshold {picked:g}, picked on the validation tiles at epoch" in said.out + said.err
    assert "tta flips threshold validation, chosen: a change mask" in said.out + said.err


def test_the_model_description_says_what_its_training_picked(tmp_path):
    """The QGIS Segment dialogs and `dualstream info` show a change mask's recorded threshold and flips; a bundle
    from before records neither and says nothing of them."""
    from engine.bundle.describe import describe_bundle

    recorded = make_change_bundle(tmp_path / "recorded.dsmodel", tta="flips", threshold=0.3)
    old = make_change_bundle(tmp_path / "old.dsmodel")
    line = "as its training picked (segment's defaults for it): threshold 0.3, test-time flips"
    assert line in "\n".join(describe_bundle(recorded, read_metadata(recorded)))
    assert "as its training picked" not in "\n".join(describe_bundle(old, read_metadata(old)))
