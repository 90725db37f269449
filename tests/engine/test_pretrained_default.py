"""Train's automatic choice of pretrained weights: the encoder's own weights (an ImageNet checkpoint, Prithvi's
release file) when the hub answers (a local server standing in for it, ``HF_ENDPOINT``, serving a small checkpoint
made here) or the cache holds them; offline, random weights and one line saying what to download, in the words of
the encoder's weights record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
import transformers

from engine.models.pretrained import quiet_transformers
from tests.engine.foundation_fixtures import PRITHVI_TINY_FILE, PRITHVI_TINY_REPO, write_prithvi_release
from tests.engine.local_hub import LocalHub

PROBE = r"""
import json, sys
from engine.config import DataConfig, TrainConfig
from engine.models import AutoModelConfig
from engine.training.auto import choose_settings
from engine.data.synthetic import make_scene

folder, encoder = sys.argv[1:3]
if encoder == "fetch":  # the release file into the cache, as a training with pretrained release online does
    from engine.models.hub import fetch_file
    fetch_file(sys.argv[3], sys.argv[4], lambda line: None)
    print(json.dumps({}))
    sys.exit(0)
scene = make_scene(folder, "s", size=(96, 96), seed=1, aux_channels=0)
data = DataConfig(train_scenes=[{"image": scene["image"], "label": scene["label"]}], label_mapping={"90": 1})
model = AutoModelConfig.config_class("unet")(preset="light", encoder=encoder or None)
chosen = choose_settings(model, data, TrainConfig(output=folder + "/m.dsmodel"), {"model.name", "model.preset"},
                         device="cpu")
print(json.dumps({"pretrained": chosen.model.pretrained, "lines": chosen.lines()}))
"""


def _choose(tmp: Path, home: Path, endpoint: str | None, offline: bool = False, *args: str) -> dict:
    env = dict(os.environ, HF_HOME=str(home), PYTHONPATH=str(Path(__file__).resolve().parents[2]),
               OMP_NUM_THREADS="1")
    for name in ("HF_HUB_OFFLINE", "DUALSTREAM_OFFLINE", "HF_ENDPOINT"):
        env.pop(name, None)
    if endpoint:
        env["HF_ENDPOINT"] = endpoint
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp), *(args or ("",))], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_imagenet_weights_by_default_when_the_hub_answers_random_with_what_to_download_offline(tmp_path):
    torch.manual_seed(3)
    resnet = transformers.ResNetModel(transformers.ResNetConfig(
        embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], layer_type="basic"))
    with quiet_transformers():  # no "Writing model shards" bar in the test's log
        resnet.save_pretrained(tmp_path / "resnet")
    home = tmp_path / "hf_home"
    with LocalHub({"microsoft/resnet-18": tmp_path / "resnet"}) as hub:
        online = _choose(tmp_path, home, hub.url)
        asked = list(hub.requests)
    assert online["pretrained"] == "imagenet"
    line, = [x for x in online["lines"] if x.startswith("pretrained")]
    assert "'microsoft/resnet-18'" in line and hub.url in line
    assert asked == ["GET /api/models/microsoft/resnet-18/revision/main"]  # asked, nothing downloaded yet

    offline = _choose(tmp_path, home, None, offline=True)  # nothing in the cache, downloads off
    assert offline["pretrained"] is None
    line, = [x for x in offline["lines"] if x.startswith("pretrained")]
    assert "random weights" in line and "hf download microsoft/resnet-18" in line
    gone = _choose(tmp_path, home, "http://127.0.0.1:9")  # an endpoint that does not answer: the same fallback
    assert gone["pretrained"] is None


def test_a_foundation_encoder_is_offered_its_release_by_its_own_words(tmp_path):
    """Issue 62, point 4: the choice knew ImageNet only; Prithvi's release was called "the encoder's ImageNet
    checkpoint", looked for in the cache as a transformers folder (never found) and to be had with imagenet."""
    write_prithvi_release(tmp_path / "release")
    home = tmp_path / "hf_home"
    offline = _choose(tmp_path, home, None, True, "prithvi_eo2_tiny_tl")
    assert offline["pretrained"] is None
    line, = [x for x in offline["lines"] if x.startswith("pretrained")]
    assert f"the encoder's Prithvi-EO-2.0 release '{PRITHVI_TINY_REPO}' is not in the Hugging Face cache" in line
    assert f"hf download {PRITHVI_TINY_REPO} {PRITHVI_TINY_FILE}" in line and "pretrained release online" in line
    assert "ImageNet" not in line and "imagenet" not in line
    with LocalHub({PRITHVI_TINY_REPO: tmp_path / "release"}) as hub:
        online = _choose(tmp_path, home, hub.url, False, "prithvi_eo2_tiny_tl")
        _choose(tmp_path, home, hub.url, False, "fetch", PRITHVI_TINY_REPO, PRITHVI_TINY_FILE)
    assert online["pretrained"] == "release"
    line, = [x for x in online["lines"] if x.startswith("pretrained")]
    assert f"Prithvi-EO-2.0 release '{PRITHVI_TINY_REPO}' can be had from {hub.url}" in line
    cached = _choose(tmp_path, home, None, True, "prithvi_eo2_tiny_tl")  # offline, the release file in the cache
    assert cached["pretrained"] == "release"
    line, = [x for x in cached["lines"] if x.startswith("pretrained")]
    assert "can be had in the Hugging Face cache" in line and PRITHVI_TINY_FILE in line
    bands, = [x for x in cached["lines"] if x.startswith("bands")]
    assert "blue,green,red,nir08,swir16,swir22" in bands and "Prithvi-EO-2.0 release" in bands

