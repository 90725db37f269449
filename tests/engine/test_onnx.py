"""ONNX export and the onnxruntime backend (issue 14).

- every registered family exports with onnxruntime matching torch (the command's own parity check);
- the exported file's metadata read back against Deepness's keys, and loaded with Deepness's own model code
  (the peer's source in ../shared/peers/deepness, or ``DUALSTREAM_PEERS``; skipped when absent: its Segmentor
  reads the metadata and predicts raw 8-bit tiles as it does in QGIS); a CMX model exported as one input;
- ``segment --backend onnxruntime`` equals the torch backend on a demo scene, and runs without torch;
- bad input: a non-bundle, an opset too old, a tile size off the model's multiple, an ONNX file without our
  metadata: each a one-line error and nothing written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import rasterio
import torch

from engine.bundle.onnx_metadata import date_inputs, deepness_metadata, resolution_cm_per_px
from engine.bundle.schema import BundleMetadata
from engine.bundle.store import load_bundle, save_bundle
from engine.cli.main import main
from engine.data import synthetic
from engine.data.normalize import BandStatistics
from engine.errors import ConfigError
from engine.export.onnx_export import PARITY_TOLERANCE, export_onnx
from engine.models import list_models
from tests.helpers import cli

REPO = Path(__file__).resolve().parents[2]
PEERS = Path(os.environ.get("DUALSTREAM_PEERS") or REPO.parent / "shared" / "peers")
TILE = 64
# 8-bit imagery statistics, chosen so that some values clip at both ends
STATS = {"method": "percentile", "low": [20.0, 30.0, 40.0], "high": [200.0, 180.0, 230.0]}
# keys Deepness reads for a segmentation model (ModelBase.get_metadata_* and get_outputs_channel_names)
DEEPNESS_KEYS = ("model_type", "class_names", "resolution", "tile_size", "tiles_size", "tiles_overlap",
                 "standardization_mean", "standardization_std", "seg_thresh", "seg_small_segment")


def tiny_bundle(model: Any, path: Path) -> Path:
    """A freshly initialised tiny model saved as a bundle (3 bands, 64-px tiles, UTM 10 m)."""
    aux_channels, num_classes = model.config.aux_channels, model.config.num_classes
    names = ["background", "building"] if num_classes == 1 else [f"class{i}" for i in range(num_classes)]
    data = {"vision_bands": 3, "vision_stats": STATS, "aux_channels": aux_channels,
            "aux_stats": {"method": "meanstd", "low": [0.0] * aux_channels, "high": [1.0] * aux_channels}
            if aux_channels else None, "aux_ratio": model.config.aux_ratio, "class_names": names,
            "class_colors": ["#000000"] * len(names), "tile_size": TILE, "gsd": [10.0, 10.0], "crs": "EPSG:32633",
            "num_classes": num_classes}
    save_bundle(path, model, {"model": model.config.to_dict(), "data": data})
    return path


def deepness_segmentor() -> type:
    """Deepness's own Segmentor class, from the peer's unmodified source (skips the test when it is absent)."""
    if not (PEERS / "deepness" / "processing" / "models" / "segmentor.py").is_file():
        pytest.skip(f"Deepness's source is not at {PEERS}/deepness (set DUALSTREAM_PEERS to the folder holding it)")
    sys.path.insert(0, str(PEERS))
    try:
        from deepness.processing.models.segmentor import Segmentor
    finally:
        sys.path.remove(str(PEERS))
    return Segmentor




# ------------------------------------------------------------------------------------------------ export
@pytest.mark.parametrize("family", list_models())
def test_every_family_exports_with_parity(family, tmp_path, tiny_model):
    bundle = tiny_bundle(tiny_model(family, aux=2), tmp_path / f"{family}.dsmodel")
    result = export_onnx(bundle, tmp_path / f"{family}.onnx")
    dates = date_inputs(load_bundle(bundle).metadata.model.input_dates)  # "vision", or one input per date
    season = ([("days", [1, len(dates)]), ("valid", [1, len(dates), TILE, TILE])] if family in ("season", "eoseries")
              else [])
    if family == "eoseries":  # each tile's first date and place: Presto's location, the exact months
        season.insert(0, ("coords", [1, 4]))
    assert result.max_abs_diff < PARITY_TOLERANCE and result.inputs == [*dates, "aux", *(n for n, _ in season)]
    assert dates == {"change": ["before", "after"], "season": [f"date{i}" for i in range(1, 7)],
                     "eoseries": ["before", "after"]}.get(family, ["vision"])  # two dates: a pair's names
    session = ort.InferenceSession(result.output, providers=["CPUExecutionProvider"])
    aux = TILE // load_bundle(bundle).metadata.data.aux_ratio  # coarse (tile / 8) or full resolution (CMX)
    assert [(i.name, i.shape) for i in session.get_inputs()] == [*((d, [1, 3, TILE, TILE]) for d in dates),
                                                                  ("aux", [1, 2, aux, aux]), *season]
    assert session.get_outputs()[0].shape == [1, 1, TILE, TILE]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{family}.dsmodel", f"{family}.onnx"])


@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider'")  # Deepness asks for CUDA first
def test_cli_export_vision_only_runs_in_deepness(tmp_path, capsys, tiny_model):
    bundle = tiny_bundle(tiny_model("dualstream"), tmp_path / "roofs.dsmodel")
    out = tmp_path / "roofs.onnx"
    code, stdout, err = cli(capsys, "export", str(bundle), "--onnx", str(out), "--dynamic-batch", "--quiet")
    assert code == 0, err
    diff = float(stdout.split("max abs diff ")[1].split()[0])
    assert diff < PARITY_TOLERANCE and "Deepness: loads it" in stdout

    # the metadata as Deepness reads it: every key present, each value JSON of the documented type
    props = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    assert set(DEEPNESS_KEYS) <= set(props)
    values = {key: json.loads(props[key]) for key in DEEPNESS_KEYS}
    assert values["model_type"] == "Segmentor" and values["class_names"] == {"0": "background", "1": "building"}
    assert values["resolution"] == pytest.approx(1000.0)  # 10 m pixels in cm
    assert values["tile_size"] == values["tiles_size"] == TILE and values["tiles_overlap"] == 25
    assert values["seg_thresh"] == 0.5
    assert values["standardization_mean"] == pytest.approx([v / 255 for v in STATS["low"]])
    assert json.loads(props["dualstream"])["onnx"]["batch"] is None

    assert values["seg_small_segment"] == 0  # no 9-px median filter in Deepness

    # Deepness's own code loads it and predicts raw 8-bit tiles exactly as our pipeline does
    model = deepness_segmentor()(str(out))
    assert model.get_metadata_model_type() == "Segmentor"
    assert model.get_outputs_channel_names() == [["background", "building"]]
    assert model.get_metadata_resolution() == pytest.approx(1000.0)
    assert (model.get_metadata_tile_size(), model.get_metadata_tiles_overlap()) == (TILE, 25)
    assert model.get_metadata_segmentation_threshold() == 0.5
    assert model.get_model_batch_size() is None and model.get_number_of_channels() == 3
    assert model.get_number_of_output_channels() == [2] and model.outputs_are_sigmoid == [True]
    raw = np.random.default_rng(1).integers(0, 256, size=(2, TILE, TILE, 3)).astype(np.uint8)  # NHWC, as QGIS gives
    deepness_probs = model.process(raw)[0]
    stats = BandStatistics.from_dict(STATS)
    ours = np.stack([stats.apply(tile.transpose(2, 0, 1)) for tile in raw])
    with torch.no_grad():
        want = torch.sigmoid(load_bundle(bundle).model(torch.from_numpy(ours))["logits"]).numpy()
    assert deepness_probs.shape == (2, 1, TILE, TILE)
    assert float(np.abs(deepness_probs - want).max()) < PARITY_TOLERANCE


@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider'")
def test_cmx_with_x_bands_exports_as_one_input_that_deepness_runs(tmp_path, capsys, tiny_model):
    """CMX with its X stream on the image grid, stacked into one tensor: Deepness feeds the layer's 4 bands."""
    model = tiny_model("cmx", 3, 1, 1)
    assert model.config.aux_ratio == 1
    bundle = tiny_bundle(model, tmp_path / "rgbx.dsmodel")
    meta_path = tmp_path / "rgbx.onnx"
    code, stdout, err = cli(capsys, "export", str(bundle), "--onnx", str(meta_path), "--single-input",
                            "--dynamic-batch", "--quiet")
    assert code == 0, err
    assert "Deepness: loads it" in stdout
    props = ort.InferenceSession(str(meta_path), providers=["CPUExecutionProvider"]).get_modelmeta()
    values = {key: json.loads(value) for key, value in props.custom_metadata_map.items() if key != "dualstream"}
    assert len(values["standardization_mean"]) == 4  # the 3 vision bands, then the X band's statistics
    assert [i.name for i in ort.InferenceSession(str(meta_path)).get_inputs()] == ["input"]

    segmentor = deepness_segmentor()(str(meta_path))
    assert segmentor.get_number_of_channels() == 4
    raw = np.random.default_rng(2).integers(0, 256, size=(2, TILE, TILE, 4)).astype(np.uint8)
    got = segmentor.process(raw)[0]
    vision_stats = BandStatistics.from_dict(STATS)
    x_stats = BandStatistics(method="meanstd", low=[0.0], high=[1.0])
    vision = np.stack([vision_stats.apply(t[..., :3].transpose(2, 0, 1)) for t in raw])
    x = np.stack([x_stats.apply(t[..., 3:].transpose(2, 0, 1)) for t in raw])
    with torch.no_grad():
        want = torch.sigmoid(load_bundle(bundle).model(torch.from_numpy(vision), torch.from_numpy(x))["logits"])
    assert float(np.abs(got - want.numpy()).max()) < PARITY_TOLERANCE


def test_single_input_is_refused_for_aux_on_a_coarser_grid(tmp_path, capsys, tiny_model):
    bundle = tiny_bundle(tiny_model("dualstream", 3, 2, 1), tmp_path / "coarse.dsmodel")
    code, _, err = cli(capsys, "export", str(bundle), "--onnx", str(tmp_path / "c.onnx"), "--single-input")
    assert code == 2 and "on the image's own grid" in err and "times coarser" in err
    assert not (tmp_path / "c.onnx").exists()


@pytest.mark.parametrize("method", ["percentile", "meanstd"])
def test_deepness_standardisation_reproduces_our_scaling(method):
    stats = {"method": method, "low": [120.0, 3000.0], "high": [900.0, 450.0]}
    data = {"vision_bands": 2, "vision_stats": stats, "aux_channels": 0, "class_names": ["a", "b", "c"],
            "class_colors": ["#000000", "#ff0000", "#00ff00"], "tile_size": 256, "gsd": [0.5, 0.5],
            "crs": "EPSG:32652"}
    meta = BundleMetadata.from_dict({"model": {"name": "unet", "preset": "tiny", "vision_channels": 2,
                                               "aux_channels": 0, "num_classes": 3}, "data": data}, written=False)
    keys = deepness_metadata(meta, 256, 0.1)
    raw = np.random.default_rng(0).uniform(0, 5000, size=(2, 8, 8)).astype(np.float32)
    mean = np.asarray(keys["standardization_mean"])[:, None, None]
    std = np.asarray(keys["standardization_std"])[:, None, None]
    deepness = (raw / 255.0 - mean) / std
    if method == "percentile":
        deepness = np.clip(deepness, 0, 1)  # the exported graph's clip
    np.testing.assert_allclose(deepness, BandStatistics.from_dict(stats).apply(raw), rtol=1e-5, atol=1e-5)
    assert keys["resolution"] == pytest.approx(50.0) and keys["tiles_overlap"] == 10 and "seg_thresh" not in keys
    assert keys["class_names"] == {"0": "a", "1": "b", "2": "c"}


def test_resolution_from_the_training_crs_units():
    # degrees at the equator, by QGIS's factor (QgsUnitTypes::fromUnitToUnitFactor), which Deepness divides by
    assert resolution_cm_per_px([1e-4, 1e-4], "EPSG:4326") == pytest.approx(1e-4 * 111319.49079327357 * 100)
    assert resolution_cm_per_px([1.0, 1.0], "EPSG:2263") == pytest.approx(30.48, rel=1e-4)  # US survey feet
    assert resolution_cm_per_px([1.0, 1.0], None) is None and resolution_cm_per_px(None, "EPSG:4326") is None


# ------------------------------------------------------------------------------------------------ onnxruntime backend
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's kind of data (4-band 16-bit image, 48-band aux in EPSG:4326), a quickly trained tiny model,
    and its export with a fixed batch of 3 (so the backend's batching and padding is exercised)."""
    root = tmp_path_factory.mktemp("demo")
    common = {"crs": "EPSG:32652", "gsd": 1.0, "aux_crs": "EPSG:4326", "aux_channels": 48, "field_seed": 7}
    train = synthetic.make_scene(root, "scene_a", size=(192, 192), seed=11, **common)
    test = synthetic.make_scene(root, "scene_b", size=(160, 224), seed=12, **common)
    bundle = root / "demo.dsmodel"
    with torch.random.fork_rng():
        assert main(["train", "--image", train["image"], "--label", train["label"], "--aux", train["aux"][0],
                     "--out", str(bundle), "--preset", "tiny", "--tile-size", "64", "--tiles-per-epoch", "16",
                     "--batch-size", "8", "--warmup-epochs", "0", "--epochs", "1", "--lr", "3e-3",
                     "--device", "cpu", "--quiet"]) == 0
    onnx_path = root / "demo.onnx"
    export_onnx(bundle, onnx_path, batch_size=3)
    return {"scene": test, "bundle": bundle, "onnx": onnx_path, "root": root}


def _segment(capsys, demo, model: str, out: Path, *extra: str) -> tuple[np.ndarray, np.ndarray]:
    scene = demo["scene"]
    code, _, err = cli(capsys, "segment", "--image", scene["image"], "--aux", scene["aux"][0], "--model", model,
                       "--out", str(out), "--probabilities", str(out.with_name(out.stem + "_p.tif")), "--tta",
                       "flips", "--batch-size", "4", "--device", "cpu", "--quiet", *extra)
    assert code == 0, err
    with rasterio.open(out) as classes, rasterio.open(out.with_name(out.stem + "_p.tif")) as probs:
        return classes.read(1), probs.read(1)


def test_onnxruntime_backend_equals_torch_on_demo_scene(demo, tmp_path, capsys):
    torch_classes, torch_probs = _segment(capsys, demo, str(demo["bundle"]), tmp_path / "torch.tif", "--backend",
                                          "torch")
    ort_classes, ort_probs = _segment(capsys, demo, str(demo["onnx"]), tmp_path / "ort.tif", "--backend",
                                      "onnxruntime")
    assert float(np.abs(torch_probs - ort_probs).max()) < PARITY_TOLERANCE
    differ = torch_classes != ort_classes
    assert not (differ & (np.abs(torch_probs - 0.5) > PARITY_TOLERANCE)).any()  # only ties at the threshold
    assert differ.mean() < 0.001
    assert 0.05 < (torch_classes == 1).mean() < 0.95  # a real two-class result, not all one class


def test_onnxruntime_backend_runs_without_torch(demo, tmp_path):
    scene = demo["scene"]
    script = ("import sys\n"
              "for name in ('torch', 'transformers', 'safetensors'):\n"
              "    sys.modules[name] = None  # importing them now fails\n"
              "from engine.cli.main import main\n"
              "sys.exit(main(sys.argv[1:]))\n")
    out = tmp_path / "no_torch.tif"
    done = subprocess.run([sys.executable, "-c", script, "segment", "--image", scene["image"], "--aux",
                           scene["aux"][0], "--model", str(demo["onnx"]), "--backend", "onnxruntime", "--out",
                           str(out)], capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1"), timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    with rasterio.open(out) as ds:
        assert ds.read(1).shape == (160, 224)


# ------------------------------------------------------------------------------------------------ bad input
def test_bad_inputs_are_one_line_errors_and_write_nothing(demo, tmp_path, capsys, tiny_model):
    junk = tmp_path / "junk.dsmodel"
    junk.write_text("not a model")
    code, _, err = cli(capsys, "export", str(junk), "--onnx", str(tmp_path / "junk.onnx"))
    assert code == 2 and "junk.dsmodel" in err and "not a readable DualStream model bundle" in err

    vision_only = tiny_bundle(tiny_model("dualstream"), tmp_path / "v.dsmodel")
    code, _, err = cli(capsys, "export", str(vision_only), "--onnx", str(tmp_path / "old.onnx"), "--opset", "9")
    assert code == 2 and "opset 9 cannot express this model" in err and "--opset" in err

    code, _, err = cli(capsys, "export", str(vision_only), "--onnx", str(tmp_path / "odd.onnx"), "--tile-size", "100")
    assert code == 2 and "tile size 100 is not a multiple of 32" in err and "--tile-size 128 or 96" in err

    code, _, err = cli(capsys, "export", str(vision_only), "--onnx", str(tmp_path / "model.pt"))
    assert code == 2 and "model.pt" in err and "ending in .onnx" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.dsmodel", "v.dsmodel"]  # no output, no temp file

    # an ONNX model from elsewhere (no DualStream metadata) given to segment
    foreign = onnx.load(str(demo["onnx"]))
    del foreign.metadata_props[:]
    onnx.save(foreign, str(tmp_path / "foreign.onnx"))
    scene = demo["scene"]
    base = ["segment", "--image", scene["image"], "--aux", scene["aux"][0], "--out", str(tmp_path / "c.tif")]
    code, _, err = cli(capsys, *base, "--model", str(tmp_path / "foreign.onnx"), "--backend", "onnxruntime")
    assert code == 2 and "carries no description and has 2 inputs (vision, aux)" in err and "export" in err
    code, _, err = cli(capsys, *base, "--model", str(demo["onnx"]), "--backend", "torch")
    assert code == 2 and "which torch cannot run; set --backend to auto (the default) or onnxruntime" in err
    code, _, err = cli(capsys, *base, "--model", str(demo["onnx"]), "--backend", "onnxruntime", "--tile-size", "128")
    assert code == 2 and "takes tiles of 64 px" in err
    assert not (tmp_path / "c.tif").exists()
    with pytest.raises(ConfigError, match="opset 40 is outside"):
        export_onnx(vision_only, tmp_path / "x.onnx", opset=40)
