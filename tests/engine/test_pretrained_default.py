"""Train's automatic choice of pretrained weights: the encoder's ImageNet checkpoint when the hub answers (a local
server standing in for it, ``HF_ENDPOINT``, serving a small checkpoint made here) or the cache holds it; offline,
random weights and one line saying what to download."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
import transformers

from tests.engine.local_hub import LocalHub

PROBE = r"""
import json, sys
from engine.config import DataConfig, TrainConfig
from engine.models import AutoModelConfig
from engine.training.auto import choose_settings
from engine.data.synthetic import make_scene

scene = make_scene(sys.argv[1], "s", size=(96, 96), seed=1, aux_channels=0)
data = DataConfig(train_scenes=[{"image": scene["image"], "label": scene["label"]}], label_mapping={"90": 1})
chosen = choose_settings(AutoModelConfig.config_class("unet")(preset="light"), data,
                         TrainConfig(output=sys.argv[1] + "/m.dsmodel"), {"model.name", "model.preset"},
                         device="cpu")
print(json.dumps({"pretrained": chosen.model.pretrained, "lines": chosen.lines()}))
"""


def _choose(tmp: Path, home: Path, endpoint: str | None, offline: bool = False) -> dict:
    env = dict(os.environ, HF_HOME=str(home), PYTHONPATH=str(Path(__file__).resolve().parents[2]),
               OMP_NUM_THREADS="1")
    for name in ("HF_HUB_OFFLINE", "DUALSTREAM_OFFLINE", "HF_ENDPOINT"):
        env.pop(name, None)
    if endpoint:
        env["HF_ENDPOINT"] = endpoint
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_imagenet_weights_by_default_when_the_hub_answers_random_with_what_to_download_offline(tmp_path):
    torch.manual_seed(3)
    resnet = transformers.ResNetModel(transformers.ResNetConfig(
        embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], layer_type="basic"))
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
    assert "random weights" in line and "huggingface-cli download microsoft/resnet-18" in line
    gone = _choose(tmp_path, home, "http://127.0.0.1:9")  # an endpoint that does not answer: the same fallback
    assert gone["pretrained"] is None
