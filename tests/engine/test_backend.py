"""The auto backend (issue 25): onnxruntime on the CPU through a cached ONNX export, torch where it cannot.

- auto picks onnxruntime on the CPU, and torch in a process where onnxruntime cannot be imported (or where the
  export needs ``onnx`` and that cannot be imported): the same classes and probabilities, and one log line why;
- the cached export is reused, made again when the bundle changes, and refused (made again) when its digest
  does not match its record;
- TTA, an ensemble mixing families, aux rasters, X bands from the image, band selection and probabilities
  through the auto path equal the torch backend's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from engine.bundle.onnx_metadata import PARITY_TOLERANCE
from engine.bundle.store import save_bundle
from engine.cli.main import main
from engine.data import synthetic
from engine.export.onnx_cache import user_cache_dir

REPO = Path(__file__).resolve().parents[2]
TILE = 64
STATS4 = {"method": "percentile", "low": [800.0, 900.0, 600.0, 1500.0], "high": [1900.0, 2000.0, 1700.0, 4300.0]}
BINARY = ["background", "hotspot"]


def _stats(bands: list[int]) -> dict[str, Any]:
    return {"method": "percentile", "low": [STATS4["low"][b - 1] for b in bands],
            "high": [STATS4["high"][b - 1] for b in bands]}


def bundle(model: Any, path: Path, bands: list[int], x_bands: list[int] | None = None,
           names: list[str] = BINARY) -> str:
    """``model`` saved as a bundle reading ``bands`` (1-based) of a 4-band image (and ``x_bands`` as its aux)."""
    config = model.config
    aux = config.aux_channels
    aux_stats = None
    if aux:
        aux_stats = _stats(x_bands) if x_bands else {"method": "meanstd", "low": [0.0] * aux, "high": [1.0] * aux}
    data = {"vision_bands": len(bands), "vision_stats": _stats(bands), "aux_channels": aux, "aux_stats": aux_stats,
            "aux_ratio": config.aux_ratio, "class_names": names, "class_colors": ["#000000"] * len(names),
            "tile_size": TILE, "gsd": [1.0, 1.0], "crs": "EPSG:32652", "num_classes": config.num_classes,
            "bands": bands, "x_bands": x_bands, "image_bands": 4}
    save_bundle(path, model, {"model": config.to_dict(), "data": data})
    return str(path)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    root = tmp_path_factory.mktemp("backend")
    return synthetic.make_scene(root, "scene", size=(96, 136), seed=5, aux_channels=8, aux_ratio=8.0), root


def cli(capsys, *argv: str) -> tuple[dict[str, Any], str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out), err


def read(path: str) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read()


def cache_entries() -> list[Path]:
    return sorted((user_cache_dir() / "onnx").glob("*.onnx"))


def same_result(classes_a: np.ndarray, probs_a: np.ndarray, classes_b: np.ndarray, probs_b: np.ndarray) -> None:
    """Probabilities within the export's parity tolerance; classes equal wherever they are not a near-tie."""
    assert float(np.abs(probs_a - probs_b).max()) < PARITY_TOLERANCE
    top = np.sort(probs_a, axis=0)
    margin = (top[-1] - top[-2]) if probs_a.shape[0] > 1 else np.abs(probs_a[0] - 0.5)
    assert ((classes_a == classes_b) | (margin < PARITY_TOLERANCE)).all()


def test_auto_is_onnxruntime_on_the_cpu_and_torch_without_it(scene, tmp_path, capsys, tiny_model):
    paths, _ = scene
    model = bundle(tiny_model("deeplabv3plus", vision=4, classes=3), tmp_path / "three.dsmodel", [1, 2, 3, 4],
                   names=["a", "b", "c"])
    args = ["segment", "--image", paths["image"], "--model", model, "--device", "cpu", "--json"]
    auto, err = cli(capsys, *args, "--out", str(tmp_path / "auto.tif"), "--probabilities", str(tmp_path / "ap.tif"))
    assert auto["backend"] == "onnxruntime" and "Backend: onnxruntime on cpu" in err
    assert len(cache_entries()) >= 1

    blocked = ("import sys\n"
               "sys.modules['onnxruntime'] = None  # importing it now fails, as where it is not installed\n"
               "from engine.cli.main import main\n"
               "sys.exit(main(sys.argv[1:]))\n")
    done = subprocess.run([sys.executable, "-c", blocked, *args, "--out", str(tmp_path / "torch.tif"),
                           "--probabilities", str(tmp_path / "tp.tif")], capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1"), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["backend"] == "torch"
    lines = [line for line in done.stderr.splitlines() if line.startswith("Backend:")]
    assert len(lines) == 1 and "Backend: torch on cpu" in lines[0] and "onnxruntime is not installed" in lines[0]
    assert "pip install" in lines[0] and "[onnx]" in lines[0]  # the package's extra, not a copied version
    classes = read(str(tmp_path / "auto.tif"))[0]
    assert len(np.unique(classes)) > 1  # not a one-class result, so equal classes mean something
    same_result(classes, read(str(tmp_path / "ap.tif")), read(str(tmp_path / "torch.tif"))[0],
                read(str(tmp_path / "tp.tif")))


def test_auto_falls_back_to_torch_when_the_export_cannot_be_made(scene, tmp_path, tiny_model):
    paths, _ = scene
    model = bundle(tiny_model("unet", vision=3), tmp_path / "fresh.dsmodel", [1, 2, 3])
    blocked = ("import sys\n"
               "sys.modules['onnx'] = None  # onnxruntime runs, but the export needs onnx\n"
               "from engine.cli.main import main\n"
               "sys.exit(main(sys.argv[1:]))\n")
    done = subprocess.run([sys.executable, "-c", blocked, "segment", "--image", paths["image"], "--model", model,
                           "--device", "cpu", "--json", "--out", str(tmp_path / "c.tif")], capture_output=True,
                          text=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1"),
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["backend"] == "torch"
    assert "Backend: torch on cpu" in done.stderr
    assert "onnx is not installed, which the ONNX export needs" in done.stderr


def test_cached_export_is_reused_rebuilt_and_refused(scene, tmp_path, capsys, tiny_model):
    paths, _ = scene
    path = tmp_path / "m.dsmodel"
    bundle(tiny_model("unet", vision=3), path, [1, 2, 3])
    args = ["segment", "--image", paths["image"], "--model", str(path), "--device", "cpu", "--json"]
    before = set(cache_entries())
    first, err = cli(capsys, *args, "--out", str(tmp_path / "1.tif"))
    assert "Exporting" in err and "ONNX export cached as" in err and "parity with torch: max abs diff" in err
    made = sorted(set(cache_entries()) - before)
    assert len(made) == 1 and first["backend"] == "onnxruntime"
    stamp = made[0].stat().st_mtime_ns

    second, err = cli(capsys, *args, "--out", str(tmp_path / "2.tif"))  # reused: nothing exported
    assert "Exporting" not in err and made[0].stat().st_mtime_ns == stamp
    assert f"Using the cached ONNX export of '{path}' ('{made[0]}'" in err
    assert np.array_equal(read(str(tmp_path / "1.tif")), read(str(tmp_path / "2.tif")))

    # another bundle at the same path (retrained): a new export, never the old one
    import torch

    retrained = tiny_model("unet", vision=3)
    with torch.no_grad():
        for p in retrained.parameters():
            p.add_(0.05)
    bundle(retrained, path, [1, 2, 3])
    _, err = cli(capsys, *args, "--out", str(tmp_path / "3.tif"))
    rebuilt = sorted(set(cache_entries()) - before - set(made))
    assert "Exporting" in err and len(rebuilt) == 1

    # an entry whose model no longer matches its record is refused and made again
    original = rebuilt[0].read_bytes()
    rebuilt[0].write_bytes(made[0].read_bytes())  # a valid ONNX model, but not this bundle's export
    _, err = cli(capsys, *args, "--out", str(tmp_path / "4.tif"))
    assert "was refused: its SHA-256 does not match its record" in err and "Exporting" in err
    assert rebuilt[0].read_bytes() != made[0].read_bytes() and len(rebuilt[0].read_bytes()) == len(original)
    assert np.array_equal(read(str(tmp_path / "3.tif")), read(str(tmp_path / "4.tif")))


def test_tta_ensemble_aux_bands_and_probabilities_through_auto_equal_torch(scene, tmp_path, capsys, tiny_model):
    paths, _ = scene
    members = [
        bundle(tiny_model("unet", vision=3), tmp_path / "unet.dsmodel", [3, 2, 1]),  # band selection
        bundle(tiny_model("cmx", vision=3, aux=1), tmp_path / "cmx.dsmodel", [1, 2, 3], x_bands=[4]),  # X band
        bundle(tiny_model("dualstream", vision=4, aux=8), tmp_path / "ds.dsmodel", [1, 2, 3, 4]),  # aux raster
    ]
    args = ["segment", "--image", paths["image"], "--aux", paths["aux"][0], "--device", "cpu", "--json", "--tta",
            "flips", "--weights", "0.5,0.3,0.2", "--batch-size", "3"]
    for m in members:
        args += ["--model", m]
    results = {}
    for backend in ("auto", "torch"):
        out, prob = tmp_path / f"{backend}.tif", tmp_path / f"{backend}_p.tif"
        result, err = cli(capsys, *args, "--backend", backend, "--out", str(out), "--probabilities", str(prob))
        results[backend] = (result["backend"], read(str(out))[0], read(str(prob)))
    assert results["auto"][0] == "onnxruntime" and results["torch"][0] == "torch"
    assert "Backend: torch on cpu" in err and "(--backend torch)." in err  # the flag that chose it
    same_result(results["auto"][1], results["auto"][2], results["torch"][1], results["torch"][2])


def test_export_int8_is_quantized_keeps_its_metadata_and_segments(scene, tmp_path, capsys, tiny_model):
    import onnx

    from engine.bundle.model_files import read_model_metadata

    paths, _ = scene
    model = bundle(tiny_model("unet", vision=3), tmp_path / "m.dsmodel", [1, 2, 3])
    int8 = tmp_path / "m_int8.onnx"
    result, _ = cli(capsys, "export", model, "--onnx", str(int8), "--dynamic-batch", "--quantize", "int8", "--json")
    assert result["output"] == str(int8) and 0 < result["int8"]["same_class"] <= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.dsmodel", "m_int8.onnx"]  # no fp32 temp left
    ops = {node.op_type for node in onnx.load(str(int8)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert read_model_metadata(int8).onnx.quantized == "int8"
    segmented, _ = cli(capsys, "segment", "--image", paths["image"], "--model", str(int8), "--device", "cpu",
                       "--json", "--out", str(tmp_path / "c.tif"))
    assert segmented["backend"] == "onnxruntime" and read(str(tmp_path / "c.tif")).shape == (1, 96, 136)


def test_auto_runs_torch_where_the_weights_exceed_one_onnx_file(scene, tmp_path, tiny_model):
    """The size rule (Prithvi-EO-2.0 600M: 2.5 GB of weights; one ONNX file holds 2 GiB), its limit lowered to a
    tiny model's size: no export is tried, torch runs the bundle and one line says why; `export` refuses it."""
    import os

    from engine.bundle.store import read_metadata
    from engine.config.inference import SegmentConfig
    from engine.errors import ModelError
    from engine.export.onnx_export import export_onnx
    from engine.segment.backend import make_predictor
    from engine.segment.members import Member, model_defaults
    from tests.helpers import RecordingCallback

    path = bundle(tiny_model("unet", vision=3), tmp_path / "big.dsmodel", [1, 2, 3])
    size = os.path.getsize(path)
    members = [Member(path, read_metadata(path), 1.0)]
    cfg = model_defaults(SegmentConfig(image=scene[0]["image"], models=[path], output=str(tmp_path / "o.tif"),
                                       device="cpu"), members[0])
    before = set(cache_entries())
    said = RecordingCallback()
    predictor = make_predictor(members, cfg, said, TILE, onnx_max_bytes=size - 1)
    assert predictor.backend == "torch" and set(cache_entries()) == before  # no export tried
    lines = [text for kind, text in said.events if kind == "info" and text.startswith("Backend:")]
    assert len(lines) == 1 and "Backend: torch on cpu" in lines[0]
    assert "'big.dsmodel' holds" in lines[0] and "more than one ONNX file holds" in lines[0]
    assert make_predictor(members, cfg, RecordingCallback(), TILE, onnx_max_bytes=size).backend == "onnxruntime"
    with pytest.raises(ModelError, match="cannot be exported to ONNX: 'big.dsmodel' holds"):
        export_onnx(path, tmp_path / "big.onnx", max_bytes=size - 1)
    assert not (tmp_path / "big.onnx").exists()
