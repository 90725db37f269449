"""Gated repositories through the command line, against a local hub that refuses a gated repository's files as the
Hugging Face hub does (401 without a token, 403 with a token not granted, ``X-Error-Code: GatedRepo``; the record
and its licence stay public): SAM 3 (``label --model sam3``) and DINOv3's SAT-493M ViT-L (``train --encoder
dinov3_vitl16_sat --pretrained release``) say which page to accept the licence on and how to give a token. With the
token, SAM 3 comes as the hub's repository holds it (a CLIP BPE tokenizer beside the weights) and a text prompt
runs end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.engine.local_hub import LocalHub

torch = pytest.importorskip("torch")
rasterio = pytest.importorskip("rasterio")

REPO = Path(__file__).resolve().parents[2]
SAM3 = "facebook/sam3"
SAT = "facebook/dinov3-vitl16-pretrain-sat493m"
TOKEN = "hf_granted"


def _env(home: Path, url: str, token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "DUALSTREAM_OFFLINE", "HF_TOKEN")}
    env.update(HF_HOME=str(home), HF_ENDPOINT=url, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1",
               HF_HUB_DISABLE_TELEMETRY="1")
    if token:
        env["HF_TOKEN"] = token
    return env


def _engine(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "engine", *args], env=env, capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    print("$ dualstream", " ".join(args[:1]), "...", f"(HF_TOKEN={env.get('HF_TOKEN', 'unset')})")
    print(done.stderr.strip()[-2000:])  # what the user reads
    return done


def _no_token(hub_id: str, url: str) -> str:
    return (f"error: '{hub_id}' is a gated repository and no token was given: accept its licence at {url}/{hub_id} "
            f"(signed in), then give a token of that account: set HF_TOKEN to a read token (made at "
            f"{url}/settings/tokens) or run `hf auth login`, and run it again.")


def _not_granted(hub_id: str, url: str) -> str:
    return (f"error: '{hub_id}' is a gated repository and the token given (HF_TOKEN or `hf auth login`) has no "
            f"access to it (yet): accept its licence at {url}/{hub_id} signed in to the account the token belongs "
            f"to (the authors may review the request first; the page says when access is granted), then run it "
            f"again.")


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    """A 96 x 96 pixel, 4-band image in UTM 33N named as Sentinel-2 bands, a bright square on a dark field."""
    from rasterio.transform import from_origin

    path = tmp_path_factory.mktemp("gated") / "s2.tif"
    data = np.random.default_rng(0).integers(900, 1300, (4, 96, 96)).astype(np.uint16)
    data[:, 24:72, 24:72] += 2500
    with rasterio.open(path, "w", driver="GTiff", width=96, height=96, count=4, dtype="uint16", crs="EPSG:32633",
                       transform=from_origin(500000, 6000000, 10, 10)) as dst:
        dst.write(data)
        dst.descriptions = ("B04", "B03", "B02", "B08")
    label = path.with_name("label.tif")
    with rasterio.open(label, "w", driver="GTiff", width=96, height=96, count=1, dtype="uint8", crs="EPSG:32633",
                       transform=from_origin(500000, 6000000, 10, 10)) as dst:
        dst.write((data[:1] > 3000).astype(np.uint8))
    return path


def test_sam3_gated_then_read_with_its_clip_tokenizer(tmp_path, image):
    from tests.engine.prompted_models import save_tiny_sam3_clip

    sam3 = save_tiny_sam3_clip(tmp_path / "sam3")
    home, out = tmp_path / "hf", tmp_path / "buildings.gpkg"
    label = ["label", "--image", str(image), "--text", "building", "--model", "sam3", "--class-value", "1",
             "--class-name", "building", "--out", str(out), "--json"]
    with LocalHub({SAM3: sam3}, gated={SAM3}, token=TOKEN, lfs=True) as hub:
        refused = _engine(label, _env(home, hub.url, None))
        wrong = _engine(label, _env(home, hub.url, "hf_not_granted"))
        allowed = _engine(label, _env(home, hub.url, TOKEN))
        asked = [r for r in hub.requests if r.startswith("GET")]
    for done, said in ((refused, _no_token(SAM3, hub.url)), (wrong, _not_granted(SAM3, hub.url))):
        assert done.returncode == 2 and done.stderr.strip().splitlines()[-1] == said
        assert f"'{SAM3}' is released under the licence other (sam-license)" in done.stderr
        assert "(a gated repository: downloading needs its licence accepted on the hub)" in done.stderr
    assert allowed.returncode == 0, allowed.stderr[-3000:]
    result = json.loads(allowed.stdout)
    print(json.dumps(result)[:600])
    # random weights: which objects pass the score threshold is arbitrary; that the text ran through is not
    assert result["output"] == str(out) and len(result["answers"]) == result["polygons"]
    assert "Embedded the window with Sam3Model" in allowed.stderr
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "model.safetensors"):
        assert any(r.endswith("/" + name) for r in asked), name  # the real layout's files came from the hub
    # the tokenizer the engine loaded from the cache (offline now) is CLIP's BPE, and splits as CLIP does
    probe = ("import json, numpy as np\n"
             "import engine.prompted.model as pm\n"
             "m = pm.PromptModel.load('sam3', lambda line: None, device='cpu')\n"
             "ids = m.tokenizer(['Buildings', 'building'], padding='max_length', max_length=6)['input_ids']\n"
             "pm.TEXT_THRESHOLD = 0.0  # every query back, to see the text reach the model\n"
             "seen = m.embed(np.full((64, 80, 3), 120, np.uint8))\n"
             "answers = {w: m.decode_text(seen, w) for w in ('buildings', 'tree')}\n"
             "print(json.dumps([type(m.tokenizer).__name__, [m.tokenizer.convert_ids_to_tokens(i) for i in ids],\n"
             "                  {w: [list(a[0][0].shape), sorted(s for _, s in a)] for w, a in answers.items()}]))")
    env = dict(_env(home, "http://127.0.0.1:9", None), HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    kind, tokens, answers = json.loads(done.stdout.strip().splitlines()[-1])
    print(kind, tokens, answers)
    end = "<|endoftext|>"
    assert kind == "CLIPTokenizer"
    assert tokens == [["<|startoftext|>", "building", "s</w>", end, end, end],
                      ["<|startoftext|>", "building</w>", end, end, end, end]]
    (shape, building), (_, tree) = answers["buildings"], answers["tree"]
    assert shape == [64, 80] and len(building) == 10  # a mask over the window for each of the model's queries
    assert building != tree  # the words, through the BPE tokens, change the answer


def test_dinov3_sat_gated_says_where_to_accept_and_how_to_give_a_token(tmp_path, image):
    from tests.engine.foundation_fixtures import write_dinov3

    write_dinov3(tmp_path / "sat", "vit")
    (tmp_path / "sat" / "README.md").write_text("---\nlicense: other\nlicense_name: dinov3-license\n---\n")
    home = tmp_path / "hf"
    train = ["train", "--image", str(image), "--label", str(image.with_name("label.tif")), "--out",
             str(tmp_path / "sat.dsmodel"), "--model", "fpn", "--encoder", "dinov3_vitl16_sat", "--pretrained",
             "release", "--bands", "B04,B03,B02,B08", "--tile-size", "64", "--epochs", "1", "--device", "cpu",
             "--num-workers", "0"]
    with LocalHub({SAT: tmp_path / "sat"}, gated={SAT}, token=TOKEN, lfs=True) as hub:
        refused = _engine(train, _env(home, hub.url, None))
        wrong = _engine(train, _env(home, hub.url, "hf_not_granted"))
    for done, said in ((refused, _no_token(SAT, hub.url)), (wrong, _not_granted(SAT, hub.url))):
        assert done.returncode == 2 and done.stderr.strip().splitlines()[-1] == said
        assert f"'{SAT}' is released under the licence other (dinov3-license)" in done.stderr
    assert not (tmp_path / "sat.dsmodel").exists()
