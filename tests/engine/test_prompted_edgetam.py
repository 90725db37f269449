"""EdgeTAM, whose RepViT image encoder transformers builds through timm (which imports torchvision).

Without timm, asking for EdgeTAM says what to install (and that timm without torchvision does not load) before
anything is downloaded: by its catalogue name, by another hub id (the hub's record names the checkpoint's
``model_type``) and from a folder. Where timm works, ``label --model edgetam`` runs as a user runs it: a tiny
EdgeTAM of the hub's layout (a video checkpoint, ``edgetam_video``, RepViT through ``timm_wrapper``) fetched from a
hub on 127.0.0.1 under the real id, loaded strictly into the image model, nothing else asked of the hub (the timm
backbone is built from the checkpoint's config, its weights come from the checkpoint), then again offline."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import ModelError
from engine.prompted.model import CPU_INDEX, PROMPT_MODEL_TYPES, import_problem, needs_message, torchvision_pin
from tests.engine.local_hub import LocalHub
from tests.engine.prompted_models import save_tiny, scene_point, tiny_config, write_scene

torch = pytest.importorskip("torch")
pytest.importorskip("rasterio")

REPO = Path(__file__).resolve().parents[2]
HUB_ID = "yonigozlan/EdgeTAM-hf"  # the catalogue's id for "edgetam"
TIMM_WORKS = import_problem("timm") == ""
# the engine's command line in a Python where timm cannot be imported (as where it is not installed)
WITHOUT_TIMM = "import runpy, sys; sys.modules['timm'] = None; runpy.run_module('engine', run_name='__main__')"


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    return write_scene(tmp_path_factory.mktemp("edgetam") / "scene.tif")


def _prompts(path: Path) -> Path:
    """A GeoPackage in the image's CRS: two clicks on the bright square (one prompt), one off it (not the object),
    and a box around the square."""
    from osgeo import ogr, osr

    utm = osr.SpatialReference()
    utm.ImportFromEPSG(32633)
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = source.CreateLayer("clicks", srs=utm, geom_type=ogr.wkbUnknown)
    layer.CreateField(ogr.FieldDefn("label", ogr.OFTInteger))
    layer.CreateField(ogr.FieldDefn("prompt", ogr.OFTInteger))
    (x0, y1), (x1, y0) = scene_point(100, 60), scene_point(180, 120)
    for wkt, label, group in ((f"POINT ({' '.join(map(str, scene_point(140, 90)))})", 1, 1),
                              (f"POINT ({' '.join(map(str, scene_point(40, 20)))})", 0, 1),
                              (f"POLYGON (({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))", 1, 2)):
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetField("label", label)
        feature.SetField("prompt", group)
        feature.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
        layer.CreateFeature(feature)
    feature = layer = source = None
    return path


def _label(image: Path, prompts: Path, out: Path, model: str, home: Path, endpoint: str | None,
           without_timm: bool = False, offline: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "DUALSTREAM_OFFLINE", "HF_ENDPOINT")}
    env.update(HF_HOME=str(home), PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1", HF_HUB_DISABLE_TELEMETRY="1")
    if endpoint:
        env["HF_ENDPOINT"] = endpoint
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    start = [sys.executable, "-c", WITHOUT_TIMM] if without_timm else [sys.executable, "-m", "engine"]
    return subprocess.run([*start, "label", "--image", str(image), "--prompts", str(prompts), "--model", model,
                           "--class-value", "2", "--class-name", "building", "--out", str(out), "--json"],
                          env=env, capture_output=True, text=True, timeout=300)


def test_without_timm_the_user_is_told_what_to_install_before_any_download(image, tmp_path, monkeypatch):
    folder = tmp_path / "edgetam"
    tiny_config("edgetam").save_pretrained(folder)  # the hub's layout; the config needs no timm
    (folder / "model.safetensors").write_bytes(b"never downloaded")
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# EdgeTAM\n")
    prompts = _prompts(tmp_path / "prompts.gpkg")
    pin = torchvision_pin(torch.__version__)
    cpu_only = torch.version.cuda is None and torch.version.hip is None
    with LocalHub({HUB_ID: folder, "someone/edgetam-copy": folder}) as hub:
        done = _label(image, prompts, tmp_path / "a.gpkg", "edgetam", tmp_path / "hf", hub.url, without_timm=True)
        assert done.returncode != 0 and hub.requests == []  # refused by its catalogue name: the hub not even asked
        said = done.stderr
        assert "error: EdgeTamModel's image encoder is built by timm, which is not installed" in said
        assert "-m pip install timm" in said and "timm alone (--no-deps) does not work" in said
        assert "sam2.1-tiny" in said
        if cpu_only:  # the CPU torchvision first, from PyTorch's CPU index
            assert f'"{pin}" --index-url {CPU_INDEX}' in said and "CPU-only build" in said
        done = _label(image, prompts, tmp_path / "b.gpkg", "someone/edgetam-copy", tmp_path / "hf", hub.url,
                      without_timm=True)
        assert done.returncode != 0 and "built by timm, which is not installed" in done.stderr
        assert hub.served == []  # another id: the hub's record was read (model_type edgetam_video), no file
        assert hub.requests and all("/api/models/someone/edgetam-copy" in r for r in hub.requests)
    assert not (tmp_path / "a.gpkg").exists() and not (tmp_path / "b.gpkg").exists()
    from engine.api import prompted_session

    monkeypatch.setitem(sys.modules, "timm", None)  # a folder: read, then refused the same way
    with pytest.raises(ModelError, match="built by timm, which is not installed"):
        prompted_session(str(image), None, str(folder))


def test_the_advice_fits_the_torch_and_the_trouble():
    edgetam = PROMPT_MODEL_TYPES["edgetam"]
    assert torchvision_pin("2.13.0+cpu") == "torchvision==0.28.*" and torchvision_pin("2.5.1") == "torchvision==0.20.*"
    cuda = needs_message(edgetam, "missing", "2.13.0+cu126", cpu_only=False)
    assert "pip install timm" in cuda and "brings the torchvision for your torch" in cuda and CPU_INDEX not in cuda
    broken = needs_message(edgetam, "installed but failing to load (operator torchvision::nms does not exist)",
                           "2.13.0+cpu", cpu_only=True)
    assert "which is installed but failing to load (operator torchvision::nms does not exist)" in broken
    assert f'--force-reinstall --no-deps "torchvision==0.28.*" --index-url {CPU_INDEX}' in broken
    no_deps = needs_message(edgetam, "installed but failing to load (No module named 'torchvision')", "2.13.0",
                            cpu_only=False)
    assert "No module named 'torchvision'" in no_deps and "timm alone (--no-deps) does not work" in no_deps


@pytest.mark.skipif(not TIMM_WORKS, reason="EdgeTAM's image encoder needs timm (with torchvision), not installed here")
def test_label_with_edgetam_from_the_hub_then_offline(image, tmp_path):
    folder = save_tiny("edgetam", tmp_path / "edgetam")
    assert json.loads((folder / "config.json").read_text())["model_type"] == "edgetam_video"
    prompts = _prompts(tmp_path / "prompts.gpkg")
    home = tmp_path / "hf"
    with LocalHub({HUB_ID: folder}, lfs=True) as hub:
        done = _label(image, prompts, tmp_path / "labels.gpkg", "edgetam", home, hub.url)
        assert done.returncode == 0, done.stderr[-3000:]
        assert all(HUB_ID in r for r in hub.requests)  # the backbone's config and weights come from the checkpoint
        assert hub.sent("model.safetensors") == (folder / "model.safetensors").stat().st_size
    result = json.loads(done.stdout)
    assert "released under the licence apache-2.0" in done.stderr
    assert "EdgeTamModel from" in done.stderr  # loaded strictly: a missing or unknown weight would have stopped it
    assert [a["prompt"] for a in result["answers"]] == [1, 2]
    assert all(math.isfinite(a["score"]) for a in result["answers"])
    from osgeo import ogr

    labels = ogr.Open(str(tmp_path / "labels.gpkg"))
    layer = labels.GetLayer(0)
    assert layer.GetFeatureCount() == result["polygons"] and layer.GetSpatialRef().GetAuthorityCode(None) == "32633"
    layer = labels = None
    again = _label(image, prompts, tmp_path / "again.gpkg", "edgetam", home, None, offline=True)
    assert again.returncode == 0, again.stderr[-3000:]  # from the cache, nothing asked of any hub
    assert json.loads(again.stdout)["polygons"] == result["polygons"]
