"""The one download path (engine.models.hub) against a hub on 127.0.0.1: the real huggingface_hub code, run in a
fresh Python per call as a user's run would be (huggingface_hub reads HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE
when it is imported). Licence shown, progress, a broken connection resumed (HTTP Range), gated repositories,
offline from the cache or a folder, no network, a stalled transfer."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.local_hub import LocalHub

REPO = Path(__file__).resolve().parents[2]
BIG = 24 * 2**20  # over huggingface_hub's 10 MiB write chunk, so progress and a kept partial file show

PROBE = r"""
import json, sys
from engine.callbacks import Callback
from engine.errors import DualStreamError
from engine.models import hub

class Recording(Callback):
    def __init__(self):
        self.steps = []
    def progress(self, done, total, stage=""):
        self.steps.append((done, total, stage))
    def progress_line(self, message):
        lines.append(message)
        marked.append(message)

lines, marked, cb = [], [], Recording()
kind, hub_id, name = sys.argv[1:4]
try:
    if kind == "file":
        path = hub.fetch_file(hub_id, name, lines.append, callback=cb)
    else:
        path = hub.fetch(hub_id, lines.append, callback=cb)
    out = {"path": str(path)}
except DualStreamError as exc:
    out = {"error": str(exc)}
out.update(lines=lines, marked=marked, steps=cb.steps[-3:])
print(json.dumps(out))
"""


def _probe(home: Path, endpoint: str | None, kind: str, hub_id: str, name: str = "", **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items()
               if k not in ("HF_HUB_OFFLINE", "DUALSTREAM_OFFLINE", "HF_TOKEN", "HF_ENDPOINT")}
    environ.update(HF_HOME=str(home), PYTHONPATH=str(REPO), HF_HUB_DISABLE_TELEMETRY="1", **env)
    if endpoint:
        environ["HF_ENDPOINT"] = endpoint
    done = subprocess.run([sys.executable, "-c", PROBE, kind, hub_id, name], env=environ, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(result, indent=1))  # what a user would read, kept in the test's output
    return result


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    """A transformers-shaped folder (config, a weights file over 10 MiB) with a model card stating a licence."""
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "sam"}))
    (folder / "model.safetensors").write_bytes(os.urandom(BIG))
    (folder / "README.md").write_text("---\nlicense: apache-2.0\nlibrary_name: transformers\n---\n# A model\n")
    return folder


def _sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_download_shows_licence_and_progress_then_reads_the_cache_offline(tmp_path, checkpoint):
    home = tmp_path / "hf"
    with LocalHub({"facebook/sam-vit-base": checkpoint}) as hub:
        hub.faults["model.safetensors"] = "slow"
        first = _probe(home, hub.url, "snapshot", "facebook/sam-vit-base")
        again = _probe(home, hub.url, "snapshot", "facebook/sam-vit-base")
        asked_again = [r for r in hub.requests if "/resolve/" in r and r.startswith("GET")]
    assert "error" not in first, first
    text = "\n".join(first["lines"])
    assert "released under the licence apache-2.0" in text and f"{hub.url}/facebook/sam-vit-base" in text
    assert first["lines"][0].startswith("'facebook/sam-vit-base' is released")  # the licence comes first
    progress = [line for line in first["lines"] if line.startswith("Downloading 'facebook/sam-vit-base': ")]
    assert len(progress) >= 2, first["lines"]  # a few lines, not one per chunk and not none
    assert len(progress) <= 12
    assert first["marked"] == progress  # said on the progress channel, so a front end tells them apart by it
    assert first["steps"][-1][0] == first["steps"][-1][1] >= BIG and first["steps"][-1][2] == "download"
    assert _sha(Path(first["path"]) / "model.safetensors") == _sha(checkpoint / "model.safetensors")
    # the second run reads the cache: nothing said, nothing fetched again
    assert again["path"] == first["path"] and again["lines"] == []
    assert len(asked_again) == 2  # config.json and the weights, once
    # offline, the endpoint gone: the cache still serves it; what is not cached is named with the fix
    cached = _probe(home, None, "snapshot", "facebook/sam-vit-base", HF_HUB_OFFLINE="1")
    assert cached["path"] == first["path"]
    missing = _probe(home, None, "file", "facebook/sam2.1-hiera-tiny", "model.safetensors", DUALSTREAM_OFFLINE="1")
    assert "'facebook/sam2.1-hiera-tiny' (model.safetensors) is not in the Hugging Face cache" in missing["error"]
    assert "hf download facebook/sam2.1-hiera-tiny" in missing["error"] and str(home) in missing["error"]


def test_a_broken_connection_is_resumed_from_where_it_broke(tmp_path, checkpoint):
    """The connection drops half-way: the rest is asked for with a Range request, not the whole file again."""
    home = tmp_path / "hf"
    with LocalHub({"owner/weights": checkpoint}) as hub:
        hub.faults["model.safetensors"] = "cut"  # half sent, then the connection dropped
        resumed = _probe(home, hub.url, "file", "owner/weights", "model.safetensors")
        served = list(hub.served)
        hub.faults["model.safetensors"] = "down"
        failed = _probe(tmp_path / "other", hub.url, "file", "owner/weights", "model.safetensors")
    assert "error" not in resumed, resumed
    (_, first, cut), (_, wanted, rest) = served
    assert first == "" and cut == BIG // 2
    kept = int(wanted.removeprefix("bytes=").rstrip("-"))
    assert 0 < kept <= cut and rest == BIG - kept  # only what was missing crossed the network again
    assert _sha(resumed["path"]) == _sha(checkpoint / "model.safetensors")
    assert failed["error"].startswith(f"Downloading 'owner/weights' from {hub.url} failed: the hub answered HTTP 500")
    assert not list((tmp_path / "other").rglob("model.safetensors"))  # nothing that looks downloaded


def test_a_gated_repository_is_explained_and_opens_with_a_token(tmp_path, checkpoint):
    home = tmp_path / "hf"
    (checkpoint / "README.md").write_text("---\nlicense: other\nlicense_name: sam-license\n---\n")
    with LocalHub({"facebook/sam3": checkpoint}, gated={"facebook/sam3"}, token="hf_good") as hub:
        refused = _probe(home, hub.url, "snapshot", "facebook/sam3")
        wrong = _probe(home, hub.url, "snapshot", "facebook/sam3", HF_TOKEN="hf_wrong")
        refused_left = list(home.rglob("*.incomplete")) + list(home.rglob("config.json"))
        allowed = _probe(home, hub.url, "file", "facebook/sam3", "config.json", HF_TOKEN="hf_good")
    page = f"{hub.url}/facebook/sam3"
    assert refused["error"] == (f"'facebook/sam3' is a gated repository and no token was given: accept its licence at "
                                f"{page} (signed in), then give a token of that account: set HF_TOKEN to a read token "
                                f"(made at {hub.url}/settings/tokens) or run `hf auth login`, and run it again.")
    assert wrong["error"].startswith(f"'facebook/sam3' is a gated repository and the token given (HF_TOKEN or `hf auth "
                                     f"login`) has no access to it (yet): accept its licence at {page} signed in")
    for answer in (refused, wrong):  # the licence is shown (the record is public) before the files are refused
        assert "licence other (sam-license)" in answer["lines"][0] and "gated repository" in answer["lines"][0]
    assert refused_left == []  # nothing written for a refused repository
    assert "error" not in allowed, allowed
    assert "licence other (sam-license)" in allowed["lines"][0] and "gated repository" in allowed["lines"][0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_network_and_a_stalled_transfer_end_with_the_id_and_the_endpoint(tmp_path, checkpoint):
    home = tmp_path / "hf"
    nowhere = f"http://127.0.0.1:{_free_port()}"  # nothing listens there: refused, as without network
    unreachable = _probe(home, nowhere, "snapshot", "facebook/sam-vit-base")
    assert unreachable["error"].startswith(f"Could not download 'facebook/sam-vit-base' from {nowhere}")
    assert "Check the network" in unreachable["error"] and "hf download facebook/sam-vit-base" in unreachable["error"]
    with LocalHub({"owner/weights": checkpoint}) as hub:
        hub.faults["model.safetensors"] = "stall"  # half sent, then silence
        stalled = _probe(home, hub.url, "file", "owner/weights", "model.safetensors",
                         DUALSTREAM_DOWNLOAD_STALL_S="1.5")
    assert stalled["error"].startswith(f"Downloading 'owner/weights' from {hub.url} stalled: no byte for 1.5 s")
    assert "run it again" in stalled["error"]


def test_a_trickle_under_the_rate_of_every_network_read_is_ended_too(tmp_path, checkpoint):
    """Issue 62, point 3: the hub path ended a transfer only after a silence, so a server sending a little every
    second held a run for hours; it follows the one rule of engine.io.network now (under 1 KiB/s for the stall
    seconds), as the ready models' downloads do."""
    home = tmp_path / "hf"
    with LocalHub({"owner/weights": checkpoint}) as hub:
        hub.faults["model.safetensors"] = "trickle"  # 800 B/s: bytes every quarter second, never a silence
        slow = _probe(home, hub.url, "file", "owner/weights", "model.safetensors", DUALSTREAM_NETWORK_STALL_S="2")
    error = slow["error"]
    assert error.startswith(f"Downloading 'owner/weights' from {hub.url} stalled: "), error
    assert " in the last 2 s (under 1.0 KiB/s)" in error and "DUALSTREAM_NETWORK_STALL_S sets those seconds" in error
    assert "the bytes already fetched are kept in the Hugging Face cache" in error


def test_a_local_folder_is_taken_wherever_an_id_is(tmp_path, checkpoint):
    home = tmp_path / "hf"
    folder = _probe(home, None, "snapshot", str(checkpoint), DUALSTREAM_OFFLINE="1")
    one = _probe(home, None, "file", str(checkpoint), "model.safetensors", DUALSTREAM_OFFLINE="1")
    lacking = _probe(home, None, "file", str(checkpoint), "Prithvi_EO_V2_300M.pt")
    assert folder["path"] == str(checkpoint) and one["path"] == str(checkpoint / "model.safetensors")
    assert lacking["error"] == f"Folder '{checkpoint}' lacks Prithvi_EO_V2_300M.pt; copy the complete checkpoint " \
                               "folder there."
