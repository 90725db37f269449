"""Foundation encoders by name (issue 56): tiny models in the real release layouts, served by a local hub through
``HF_ENDPOINT``, loaded strictly, and trained for an epoch as the vision stream of each single-stream family.

The epoch is a frozen one (``--warmup-epochs 1 --epochs 0``), so the bundle's encoder must equal the checkpoint.
One subprocess (``HF_ENDPOINT`` / ``HF_HOME`` are read when huggingface_hub is imported) runs the four trainings
through the command line and reports the logs and the bundles' encoder weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from engine.data import synthetic
from engine.errors import ModelError
from engine.models.encoders.backbone import Encoder
from tests.engine.foundation_fixtures import (
    PRITHVI_TINY_FILE,
    PRITHVI_TINY_REPO,
    prithvi_release_state,
    write_dinov3,
    write_prithvi_release,
)
from tests.engine.local_hub import LocalHub

ROOT = Path(__file__).resolve().parents[2]
S2 = ["B02", "B03", "B04", "B08", "B8A", "B11", "B12"]  # B08 (broad NIR) is not Prithvi's narrow NIR (B8A)

RUN = r"""
import contextlib, io, json, sys
import torch
from engine.cli.main import main
from engine.bundle.store import load_bundle
from engine.api import read_model_metadata

out = {}
for case in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["train", "--image", case["image"], "--label", case["label"], "--out", case["out"],
                     "--tile-size", "64", "--tiles-per-epoch", "4", "--batch-size", "2", "--epochs", "0",
                     "--warmup-epochs", "1", "--device", "cpu", "--num-workers", "0", "--preview-tiles", "0",
                     "--val-fraction", "0", *case["args"]])
    result = {"code": code, "log": err.getvalue()}
    if code == 0:
        meta = read_model_metadata(case["out"])
        model = load_bundle(case["out"]).model
        result["model"] = meta.model.to_dict()
        result["vision_stats"] = meta.data.vision_stats.to_dict()
        encoder = getattr(model, "encoder", None) or model.vision_encoder
        torch.save(encoder.backbone.state_dict(), case["out"] + ".encoder.pt")
    out[case["name"]] = result
print("RESULT " + json.dumps(out))
"""


def _write(path: Path, raw: np.ndarray, names: list[str] | None = None) -> str:
    with rasterio.open(path, "w", driver="GTiff", width=raw.shape[2], height=raw.shape[1], count=raw.shape[0],
                       dtype=raw.dtype.name, crs="EPSG:32633", transform=from_origin(500000, 6000000, 10, 10)) as ds:
        ds.write(raw)
        for band, name in enumerate(names or [], 1):
            ds.set_band_description(band, name)
    return str(path)


def _scene(folder: Path, bands: list[str]) -> tuple[str, str]:
    rng = np.random.default_rng(0)
    raw = (1000 + rng.integers(0, 400, (len(bands), 64, 64))).astype(np.uint16)
    raw[:, 16:48, 16:48] += 2500
    label = np.zeros((1, 64, 64), np.uint8)
    label[0, 16:48, 16:48] = 1
    return _write(folder / "s2.tif", raw, bands), _write(folder / "s2_label.tif", label)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("foundation")
    files = {"prithvi": write_prithvi_release(tmp / "prithvi"),
             "convnext": write_dinov3(tmp / "convnext", "convnext", seed=1),
             "vit": write_dinov3(tmp / "vit", "vit", seed=2)}
    image, label = _scene(tmp, S2)
    release = ["--pretrained", "release"]
    cases = [
        {"name": "prithvi", "args": ["--model", "unet", "--encoder", "prithvi_eo2_tiny_tl", *release]},
        {"name": "convnext", "args": ["--model", "deeplabv3plus", "--encoder", "dinov3_convnext_tiny", *release,
                                      "--bands", "B04,B03,B02"]},
        {"name": "vit", "args": ["--model", "fpn", "--encoder", "dinov3_vitl16_sat", *release,
                                 "--bands", "B04,B03,B02,B08"]},
        {"name": "any", "args": ["--model", "pspnet", "--encoder", "transformers", "--pretrained",
                                 "someone/tiny-dinov3-vit", "--bands", "B04,B03,B02"]},
        {"name": "dualstream", "args": ["--model", "dualstream", "--preset", "tiny", "--encoder",
                                        "dinov3_convnext_tiny", *release]},
    ]
    fused = synthetic.make_scene(tmp, "fused", size=(64, 64), seed=3, aux_channels=12)
    for case in cases:
        case.update(image=image, label=label, out=str(tmp / f"{case['name']}.dsmodel"))
    cases[-1].update(image=fused["image"], label=fused["label"])
    cases[-1]["args"] += ["--aux", fused["aux"][0]]
    env = dict(os.environ, HF_HOME=str(tmp / "hf_home"), PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    for name in ("HF_HUB_OFFLINE", "DUALSTREAM_OFFLINE"):
        env.pop(name, None)
    repos = {PRITHVI_TINY_REPO: tmp / "prithvi", "facebook/dinov3-convnext-tiny-pretrain-lvd1689m": tmp / "convnext",
             "facebook/dinov3-vitl16-pretrain-sat493m": tmp / "vit", "someone/tiny-dinov3-vit": tmp / "vit"}
    with LocalHub(repos) as hub:
        env["HF_ENDPOINT"] = hub.url
        done = subprocess.run([sys.executable, "-c", RUN, json.dumps(cases)], env=env, capture_output=True,
                              text=True, timeout=600, cwd=ROOT)
        requests = list(hub.requests)
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads(done.stdout.split("RESULT ", 1)[1])
    for case in cases:
        result = results[case["name"]]
        assert result["code"] == 0, result["log"][-3000:]
        result["encoder"] = torch.load(case["out"] + ".encoder.pt", weights_only=True)
    return {"results": results, "files": files, "requests": requests, "image": image,
            "bundles": {case["name"]: case["out"] for case in cases}, "tmp": tmp}


def test_prithvi_release_file_comes_through_the_hub_loads_strictly_and_trains(trained):
    result, release = trained["results"]["prithvi"], trained["files"]["prithvi"]
    assert f"GET /{PRITHVI_TINY_REPO}/resolve/main/{PRITHVI_TINY_FILE}" in trained["requests"]
    log = result["log"]
    assert f"'{PRITHVI_TINY_REPO}' is released under the licence apache-2.0" in log  # said before downloading
    # bands by name: Sentinel-2 B8A is the narrow NIR Prithvi was trained on, B08 is not used
    assert "Bands by name (blue, green, red, nir08, swir16, swir22)" in log and "bands 1,2,3,5,6,7" in log, log
    decoder = sum(k.startswith("decoder.") for k in release)
    assert f"{decoder} MAE decoder tensor(s) not used" in log, log
    encoder = result["encoder"]
    kept = {k[len("encoder."):]: v for k, v in release.items() if k.startswith("encoder.") and "pos_embed" not in k}
    assert set(encoder) == set(kept)  # strict: every release encoder tensor, nothing else
    assert torch.equal(encoder["patch_embed.proj.weight"], kept["patch_embed.proj.weight"])  # 6 bands: kept
    changed = [k for k in kept if not torch.equal(encoder[k], kept[k])]
    assert not changed, changed
    assert result["model"]["encoder"] == "prithvi_eo2_tiny_tl"
    # reflectance x 10000 data: normalised by the release's HLS mean and std, as the encoder was pretrained
    assert "normalised by the Prithvi-EO-2.0 release's statistics (mean and standard deviation of Harmonized " \
           "Landsat Sentinel-2 (HLS) scenes, HLS reflectance x 10000)" in log
    assert result["vision_stats"] == {"method": "meanstd", "low": [1087.0, 1342.0, 1433.0, 2734.0, 1958.0, 1363.0],
                                      "high": [2248.0, 2179.0, 2178.0, 1850.0, 1242.0, 1049.0]}
    assert result["model"]["encoder_config"]["embed_dim"] == 32  # the file's width, recorded for the bundle


def test_dinov3_convnext_and_vit_load_strictly_and_train(trained):
    for name in ("convnext", "vit"):
        result, saved = trained["results"][name], trained["files"][name]
        encoder = result["encoder"]
        first = next(k for k in encoder if k.endswith("weight") and encoder[k].ndim == 4)
        assert encoder[first].shape[1] == 3 + (name == "vit")  # adapted to the bands given
        same = [k for k in encoder if k in saved and k != first]
        assert len(same) >= len(encoder) - 1 - (name == "vit")  # every backbone tensor is the checkpoint's
    assert "outside the backbone not used (layer_norm.bias, layer_norm.weight)" in trained["results"]["convnext"]["log"]
    assert trained["results"]["vit"]["model"]["encoder_config"]["model_type"] == "dinov3_vit"


def test_any_transformers_backbone_by_hub_id(trained):
    result = trained["results"]["any"]
    assert "someone/tiny-dinov3-vit" in result["log"]
    assert result["model"]["encoder"] == "transformers"
    assert result["model"]["encoder_config"]["hidden_size"] == 32


def test_a_release_file_missing_a_weight_is_refused_by_name(tmp_path):
    state = prithvi_release_state()
    del state["encoder.blocks.2.mlp.fc1.weight"]
    torch.save(state, tmp_path / PRITHVI_TINY_FILE)
    with pytest.raises(ModelError, match=r"missing \['blocks.2.mlp.fc1.weight'\]"):
        Encoder("prithvi_eo2_tiny_tl", 6, pretrained=str(tmp_path / PRITHVI_TINY_FILE))


def test_bands_prithvi_cannot_have_are_refused(tmp_path, synthetic_scene, capsys):
    from engine.cli.main import main

    write_prithvi_release(tmp_path / "rel")
    code = main(["train", "--image", synthetic_scene["image"], "--label", synthetic_scene["label"],
                 "--out", str(tmp_path / "m.dsmodel"), "--model", "unet", "--encoder", "prithvi_eo2_tiny_tl",
                 "--pretrained", str(tmp_path / "rel" / PRITHVI_TINY_FILE), "--tile-size", "64", "--epochs", "1",
                 "--device", "cpu", "--num-workers", "0"])
    assert code != 0
    err = capsys.readouterr().err
    assert "--bands blue,green,red,nir08,swir16,swir22, chosen: the encoder prithvi_eo2_tiny_tl" in err
    assert "has no band named 'blue'" in err  # unnamed bands are never taken for Prithvi's by their order
    assert not (tmp_path / "m.dsmodel").exists()


def test_dualstream_fuses_its_aux_with_a_named_vision_encoder(trained):
    result, saved = trained["results"]["dualstream"], trained["files"]["convnext"]
    assert result["model"]["encoder"] == "dinov3_convnext_tiny" and result["model"]["aux_channels"] == 12
    encoder = result["encoder"]
    first = next(k for k in encoder if encoder[k].ndim == 4)
    assert all(torch.equal(encoder[k], saved[k]) for k in encoder if k in saved and k != first)


def test_foundation_bundles_segment_with_onnxruntime_and_name_their_source(trained, tmp_path, capsys):
    from engine.api import describe_bundle, read_model_metadata
    from engine.cli.main import main
    from engine.export.stac import model_card

    for name in ("prithvi", "vit"):
        bundle = trained["bundles"][name]
        code = main(["segment", "--image", trained["image"], "--model", bundle, "--device", "cpu", "--json",
                     "--out", str(tmp_path / f"{name}.tif")])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert json.loads(out)["backend"] == "onnxruntime", err  # the default backend, an ONNX export made here
        with rasterio.open(tmp_path / f"{name}.tif") as ds:
            assert ds.read(1).shape == (64, 64)
    prithvi = trained["bundles"]["prithvi"]
    source = f"{PRITHVI_TINY_REPO} ({PRITHVI_TINY_FILE}, Apache-2.0)"
    lines = describe_bundle(prithvi, read_model_metadata(prithvi))
    assert f"  prithvi_eo2_tiny_tl encoder pretrained from {source}" in lines
    assert model_card(prithvi)["properties"]["mlm:pretrained_source"] == source
    vit = model_card(trained["bundles"]["vit"])["properties"]["mlm:pretrained_source"]
    assert vit.startswith("facebook/dinov3-vitl16-pretrain-sat493m (DINOv3 License")


def test_fine_tuning_a_foundation_bundle_rebuilds_its_encoder_offline(trained, tmp_path, monkeypatch, capsys):
    from engine.cli.main import main

    monkeypatch.setenv("DUALSTREAM_OFFLINE", "1")  # the bundle alone: no checkpoint is fetched again
    parent = trained["bundles"]["vit"]
    image = trained["image"]
    out = tmp_path / "child.dsmodel"
    code = main(["train", "--image", image, "--label", image.replace("s2.tif", "s2_label.tif"), "--out", str(out),
                 "--init-from", parent, "--bands", "B04,B03,B02,B08", "--tile-size", "64", "--tiles-per-epoch", "2",
                 "--batch-size", "2", "--epochs", "1", "--warmup-epochs", "0", "--device", "cpu", "--num-workers",
                 "0", "--preview-tiles", "0", "--val-fraction", "0"])
    err = capsys.readouterr().err
    assert code == 0, err
    from engine.api import read_model_metadata

    child = read_model_metadata(str(out)).model
    assert child.encoder == "dinov3_vitl16_sat" and child.encoder_config["hidden_size"] == 32


def test_bulk_and_suggest_run_a_foundation_bundle(trained, tmp_path, capsys):
    from engine.cli.main import main

    bundle = trained["bundles"]["prithvi"]
    code = main(["segment", "--images", trained["image"], "--out-dir", str(tmp_path / "bulk"), "--model", bundle,
                 "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert len(list((tmp_path / "bulk").glob("*.tif"))) == 1
    code = main(["suggest", "--model", bundle, "--image", trained["image"], "--count", "2", "--window", "16",
                 "--out", str(tmp_path / "windows.gpkg"), "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    from osgeo import ogr

    source = ogr.Open(str(tmp_path / "windows.gpkg"))  # kept: its layer dies with it
    assert source.GetLayer(0).GetFeatureCount() == 2  # two windows ranked by the Prithvi model's uncertainty
