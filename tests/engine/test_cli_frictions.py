"""Issue 14: the frictions a new user hit with ``python -m engine`` on real data, each as a CLI regression test.

1. a reference-layout folder without aux folders trains a vision-only model (said once in the log);
2. ``--label-map -1=255`` (negative raw values, e.g. Sen1Floods11's "no data" -1) is accepted;
3. explicit scenes take the aux band count from the files (a 2-band SAR aux), checked equal across scenes;
5. loading a bundle builds the model without a random initialisation that the weights then overwrite.
(6, the help links, is tested with the plugin in tests/plugin/test_provider.py.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from engine.bundle.store import load_bundle, read_metadata, save_bundle
from engine.cli.main import build_parser, join_dash_values
from engine.cli.train import request_from_args
from engine.data import synthetic
from engine.models import list_models

REPO = Path(__file__).resolve().parents[2]
# Only needs to run through: one short epoch.
QUICK = ["--preset", "tiny", "--tile-size", "64", "--tiles-per-epoch", "8", "--batch-size", "4", "--epochs", "1",
         "--warmup-epochs", "0", "--device", "cpu", "--num-workers", "0", "--statistics", "meanstd"]


def engine(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=timeout)


def test_reference_layout_without_aux_folders_trains_vision_only(tmp_path):
    root = Path(synthetic.make_reference_dataset(tmp_path / "ref", n_train=2, n_val=1, size=(96, 96)))
    for folder in ("t_ap", "t_gems", "v_ap", "v_gems"):
        shutil.rmtree(root / folder)
    out = tmp_path / "vision.dsmodel"
    done = engine("train", "--data", str(root), "--out", str(out), *QUICK)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("vision-only model") == 1, done.stderr[-3000:]
    meta = read_metadata(out)
    assert meta.data.aux_channels == 0 and meta.model.aux_channels == 0
    assert meta.data.aux_prefixes == []
    # DualStream's own default takes aux: the log says in words how the model was sized to the data
    fused = engine("train", "--data", str(root), "--out", str(tmp_path / "ds.dsmodel"), "--model", "dualstream",
                   *QUICK)
    assert fused.returncode == 0, fused.stderr[-3000:]
    assert "The model is sized to the data: aux channels 0." in fused.stderr, fused.stderr[-3000:]

    # prefixes chosen on purpose still need their files: a clear error, not a silent vision-only model
    chosen = engine("train", "--data", str(root), "--out", str(tmp_path / "x.dsmodel"), "--aux-prefix", "SAR_",
                    *QUICK)
    assert chosen.returncode == 2 and "No aux folder" in chosen.stderr and "SAR_<name>.tif" in chosen.stderr
    assert not (tmp_path / "x.dsmodel").exists()


@pytest.mark.parametrize("argv", [["--label-map", "-1=255", "--label-map", "1=1"],
                                  ["--label-map=-1=255", "--label-map=1=1"]])
def test_negative_label_values_parse_in_both_spellings(argv):
    args = build_parser().parse_args(join_dash_values(["train", "--data", "d", "--out", "m.dsmodel", *argv]))
    assert request_from_args(args).data.label_mapping == {"-1": 255, "1": 1}
    # a real option after --label-map is never swallowed
    assert join_dash_values(["--label-map", "--epochs", "3"]) == ["--label-map", "--epochs", "3"]


def _flood_scene(folder: Path, name: str, seed: int, aux_channels: list[int]) -> dict:
    """A scene with a SAR-like aux of few bands and Sen1Floods11-style labels: -1 no data, 0 dry, 1 water."""
    scene = synthetic.make_scene(folder, name, size=(96, 96), seed=seed, field_seed=3, aux_channels=aux_channels,
                                 gsd=10.0, aux_ratio=8.0)
    with rasterio.open(scene["label"]) as src:
        raw, profile = src.read(1), src.profile
    labels = np.where(raw == 90, 1, 0).astype(np.int16)
    labels[:, :12] = -1  # a "no data" strip
    profile.update(dtype="int16", nodata=None)
    with rasterio.open(scene["label"], "w", **profile) as dst:
        dst.write(labels, 1)
    return scene


def _scene_flags(scene: dict, prefix: str = "") -> list[str]:
    flags = [f"--{prefix}image", scene["image"], f"--{prefix}label", scene["label"]]
    for aux in scene["aux"]:
        flags += [f"--{prefix}aux", aux]
    return flags


def test_flood_labels_and_two_band_sar_aux_train_and_segment(tmp_path):
    a = _flood_scene(tmp_path / "data", "chip_a", 1, [2])
    b = _flood_scene(tmp_path / "data", "chip_b", 2, [2])
    out = tmp_path / "flood.dsmodel"
    done = engine("train", *_scene_flags(a), *_scene_flags(b, "val-"), "--label-map", "-1=255", "--label-map",
                  "1=1", "--class-names", "dry", "water", "--out", str(out), *QUICK)
    assert done.returncode == 0, done.stderr[-3000:]
    data = read_metadata(out).data
    assert data.label_mapping == {"-1": 255, "1": 1}
    assert data.aux_channels == 2 and data.aux_file_bands == [2] and data.aux_bands_per_file is None

    classes = tmp_path / "b_classes.tif"
    seg = engine("segment", "--image", b["image"], "--aux", b["aux"][0], "--model", str(out), "--out", str(classes),
                 "--quiet")
    assert seg.returncode == 0, seg.stderr[-3000:]
    with rasterio.open(classes) as ds:
        assert set(np.unique(ds.read(1))) <= {0, 1}


def test_explicit_scenes_with_different_aux_files_are_refused(tmp_path):
    a = _flood_scene(tmp_path / "data", "chip_a", 1, [2, 1])
    b = _flood_scene(tmp_path / "data", "chip_b", 2, [1, 2])  # same 3 channels, other layout
    out = tmp_path / "mixed.dsmodel"
    done = engine("train", *_scene_flags(a), *_scene_flags(b), "--label-map", "-1=255", "--label-map", "1=1",
                  "--out", str(out), *QUICK)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "aux files of [1, 2] band(s)" in done.stderr and "[2, 1]" in done.stderr
    assert "--aux-bands-per-file" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()
    # the first N bands of each file make them agree
    first = engine("train", *_scene_flags(a), *_scene_flags(b), "--label-map", "-1=255", "--label-map", "1=1",
                   "--aux-bands-per-file", "1", "--out", str(out), *QUICK)
    assert first.returncode == 0, first.stderr[-3000:]
    assert read_metadata(out).data.aux_file_bands == [1, 1]


class _RandomFills(TorchDispatchMode):
    """Records random in-place fills (what weight initialisation does) on tensors with real storage."""

    RANDOM = {"uniform_", "normal_", "bernoulli_", "random_", "exponential_", "log_normal_", "cauchy_", "geometric_"}

    def __init__(self) -> None:
        super().__init__()
        self.real: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001 - torch's signature
        name = func.overloadpacket.__name__
        if name in self.RANDOM and isinstance(args[0], torch.Tensor) and not args[0].is_meta:
            self.real.append(name)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("family", list_models())
def test_loading_a_bundle_skips_the_random_init(family, tmp_path, tiny_model):
    with _RandomFills() as spy:  # the check can fail: a normal build draws random weights
        model = tiny_model(family, aux=2)
    assert spy.real
    data = {"vision_bands": 3, "vision_stats": {"method": "meanstd", "low": [0.0] * 3, "high": [1.0] * 3},
            "aux_channels": 2, "class_names": ["a", "b"], "class_colors": ["#000000", "#ffffff"], "tile_size": 64}
    bundle = save_bundle(tmp_path / "m.dsmodel", model, {"model": model.config.to_dict(), "data": data})
    with _RandomFills() as spy:
        loaded = load_bundle(bundle).model
    assert spy.real == []
    assert not any(t.is_meta for t in (*loaded.parameters(), *loaded.buffers()))
    side = 64 // model.config.aux_ratio  # coarse aux, or full resolution (CMX)
    vision, aux = torch.rand(2, model.config.input_channels, 64, 64), torch.rand(2, 2, side, side)
    days = {"days": torch.rand(2, model.config.input_dates) * 365} if model.takes_days else {}  # a season's
    with torch.no_grad():
        assert torch.equal(loaded(vision, aux, **days)["logits"], model(vision, aux, **days)["logits"])
