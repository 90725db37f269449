"""A download interrupted in one run is continued by the next (engine.models.hub_resume), against a local hub that
serves weights as the Hugging Face hub serves LFS files (a redirect carrying the sha256, the bytes from another
origin): the link dies at 90 % of the weights, the run fails with the usual message, the next run asks for the rest
only (an HTTP Range request), checks the sha256 the hub announced and loads the model strictly. A server that
ignores Range requests, and a partial file that was damaged, are met too. Each run is a fresh Python, as a user's
runs are (huggingface_hub reads HF_ENDPOINT and HF_HOME when it is imported).

The upgrade path (issue 62, point 3): the cache layout written here is the one huggingface_hub's public API
describes (``scan_cache_dir``: the partial as an interrupted download, the finished file's ``blob_path``), checked
against the installed version; and a huggingface_hub that lays its cache out otherwise is met by a download that
still works whole, says so and leaves no unused blob."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.local_hub import LocalHub

REPO = Path(__file__).resolve().parents[2]
WEIGHTS = "model.safetensors"

PROBE = r"""
import json, sys
from engine.errors import DualStreamError
lines = []
kind, hub_id = sys.argv[1:3]
if kind == "moved":  # as a huggingface_hub whose cache keeps its blobs elsewhere would see this version's blobs
    from pathlib import Path
    from engine.models import hub_resume
    hub_resume.storage_folder = lambda repo, cache: Path(cache) / "elsewhere" / repo.replace("/", "--")
try:
    if kind == "sam":
        from engine.prompted.model import PromptModel
        model = PromptModel.load(hub_id, lines.append, device="cpu")
        out = {"loaded": type(model.model).__name__}
    else:
        from engine.models import hub
        out = {"path": str(hub.fetch(hub_id, lines.append))}
except DualStreamError as exc:
    out = {"error": str(exc)}
out["lines"] = lines
print(json.dumps(out))
"""


def _run(home: Path, url: str, kind: str, hub_id: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "DUALSTREAM_OFFLINE", "HF_TOKEN")}
    environ.update(HF_HOME=str(home), HF_ENDPOINT=url, PYTHONPATH=str(REPO), HF_HUB_DISABLE_TELEMETRY="1",
                   OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", PROBE, kind, hub_id], env=environ, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(result, indent=1))  # what a user reads, kept in the test's output
    return result


def _partial(home: Path, sha256: str) -> Path:
    (found,) = home.rglob(f"{sha256}.incomplete")
    return found


def _partial_path(home: Path, sha256: str) -> Path:
    return home / "hub" / "models--someone--tiny-sam" / "blobs" / f"{sha256}.incomplete"


@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    from tests.engine.prompted_models import save_tiny

    return save_tiny("sam", tmp_path_factory.mktemp("hub-resume") / "sam")


def test_an_interrupted_download_is_continued_by_the_next_run_and_loads_strictly(tmp_path, tiny_sam):
    home, data = tmp_path / "hf", (tiny_sam / WEIGHTS).read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    with LocalHub({"someone/tiny-sam": tiny_sam}, lfs=True) as hub:
        hub.faults[WEIGHTS] = "drop"  # every answer of the weights ends at 90 %: the link dies there
        first = _run(home, hub.url, "sam", "someone/tiny-sam")
        kept = _partial(home, sha256).stat().st_size
        sent_first = hub.sent(WEIGHTS)
        del hub.faults[WEIGHTS]
        hub.served.clear()
        second = _run(home, hub.url, "sam", "someone/tiny-sam")
        served = [entry for entry in hub.served if entry[0].endswith(WEIGHTS)]
    assert first["error"].startswith(f"Could not download 'someone/tiny-sam' from {hub.url} (")
    assert "Check the network" in first["error"], first
    assert first["error"].endswith("fetched so far are kept in the Hugging Face cache: running it again continues from "
                                   "there.")
    assert kept == int(len(data) * 0.9) and sent_first == kept  # the retries within the run got nothing more
    assert "error" not in second, second
    assert second["loaded"] == "SamModel"  # PromptModel.load refuses missing or unexpected keys: strict
    assert f"Continuing {WEIGHTS} of 'someone/tiny-sam' from " in "\n".join(second["lines"])
    # the second run asked the CDN address for the rest only, and got only the rest
    assert served == [(f"/cdn/someone/tiny-sam/{sha256}/{WEIGHTS}", f"bytes={kept}-", len(data) - kept)]
    (blob,) = home.rglob(f"blobs/{sha256}")
    assert blob.read_bytes() == data and not list(home.rglob("*.incomplete"))


def test_a_server_that_ignores_ranges_gets_the_whole_file_said(tmp_path, tiny_sam):
    home, data = tmp_path / "hf", (tiny_sam / WEIGHTS).read_bytes()
    with LocalHub({"someone/tiny-sam": tiny_sam}, lfs=True) as hub:
        hub.faults[WEIGHTS] = "drop"
        _run(home, hub.url, "snapshot", "someone/tiny-sam")
        hub.faults[WEIGHTS] = "norange"
        hub.served.clear()
        second = _run(home, hub.url, "snapshot", "someone/tiny-sam")
        sent = hub.sent(WEIGHTS)
    assert "error" not in second, second
    said = [line for line in second["lines"] if line.startswith("The server ignored the Range request")]
    assert said and f"for {WEIGHTS} of 'someone/tiny-sam' (it answered the whole file)" in said[0], second["lines"]
    assert sent == len(data)
    assert (Path(second["path"]) / WEIGHTS).read_bytes() == data


def test_an_answer_of_other_bytes_than_the_rest_deletes_the_partial_and_starts_over(tmp_path, tiny_sam):
    """Issue 79, item 10: a 206 whose Content-Range does not start at the kept byte ended the run with the partial
    kept (and the ready downloads deleted it): one loop, one policy -- deleted, said, asked again from byte 0."""
    home, data = tmp_path / "hf", (tiny_sam / WEIGHTS).read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    with LocalHub({"someone/tiny-sam": tiny_sam}, lfs=True) as hub:
        hub.faults[WEIGHTS] = "drop"
        _run(home, hub.url, "snapshot", "someone/tiny-sam")
        kept = _partial(home, sha256).stat().st_size
        hub.faults[WEIGHTS] = "misrange"
        hub.served.clear()
        second = _run(home, hub.url, "snapshot", "someone/tiny-sam")
        served = [entry[1:] for entry in hub.served if entry[0].endswith(WEIGHTS)]
    assert "error" not in second, second
    said = [line for line in second["lines"] if line.startswith("The server answered the Range request")]
    assert said and said[0].startswith(f"The server answered the Range request for {WEIGHTS} of 'someone/tiny-sam' "
                                       f"from byte {kept} with 'bytes 0-{len(data) - 1}/{len(data)}', not the rest "
                                       f"of the file: the partial file ("), second["lines"]
    assert "was deleted and the file is downloaded from its start" in said[0]
    assert served == [(f"bytes={kept}-", len(data)), ("", len(data))]  # asked again from byte 0, whole
    assert (Path(second["path"]) / WEIGHTS).read_bytes() == data and not list(home.rglob("*.incomplete"))


def test_a_damaged_partial_fails_the_hash_check_and_is_removed(tmp_path, tiny_sam):
    home, data = tmp_path / "hf", (tiny_sam / WEIGHTS).read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    with LocalHub({"someone/tiny-sam": tiny_sam}, lfs=True) as hub:
        hub.faults[WEIGHTS] = "drop"
        _run(home, hub.url, "snapshot", "someone/tiny-sam")
        del hub.faults[WEIGHTS]
        partial = _partial(home, sha256)
        damaged = bytearray(partial.read_bytes())
        damaged[100] ^= 0xFF
        partial.write_bytes(bytes(damaged))
        second = _run(home, hub.url, "snapshot", "someone/tiny-sam")
        left = list(home.rglob("*.incomplete")) + list(home.rglob(f"blobs/{sha256}"))
        third = _run(home, hub.url, "snapshot", "someone/tiny-sam")
    assert second["error"].startswith(f"{WEIGHTS} of 'someone/tiny-sam' does not match the sha256 {hub.url} "
                                      f"announces for it ({sha256[:16]}...")
    assert "the file was removed, nothing was loaded" in second["error"]
    assert left == []  # neither the damaged bytes nor a blob made of them stay
    assert "error" not in third and (Path(third["path"]) / WEIGHTS).read_bytes() == data


def test_the_cache_layout_is_the_one_huggingface_hubs_public_api_describes(tmp_path, tiny_sam):
    """The installed huggingface_hub's own scan sees the kept partial as an interrupted download and the finished
    file's blob as the one fetched here: an upgrade that moves its cache layout fails here first."""
    from huggingface_hub import scan_cache_dir

    home, data = tmp_path / "hf", (tiny_sam / WEIGHTS).read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    with LocalHub({"someone/tiny-sam": tiny_sam}, lfs=True) as hub:
        hub.faults[WEIGHTS] = "drop"
        _run(home, hub.url, "snapshot", "someone/tiny-sam")
        scanned = scan_cache_dir(home / "hub")
        del hub.faults[WEIGHTS]
        done = _run(home, hub.url, "snapshot", "someone/tiny-sam")
    incomplete = {Path(f.file_path) for f in scanned.incomplete_files}
    assert incomplete == {_partial_path(home, sha256)}, incomplete
    (repo,) = scan_cache_dir(home / "hub").repos
    blobs = {f.file_name: Path(f.blob_path) for revision in repo.revisions for f in revision.files}
    assert blobs[WEIGHTS].name == sha256 and blobs[WEIGHTS].read_bytes() == data
    assert (Path(done["path"]) / WEIGHTS).resolve() == blobs[WEIGHTS].resolve()  # taken, not fetched again
    assert not any("did not take" in line for line in done["lines"])


def test_a_huggingface_hub_with_another_cache_layout_still_downloads_and_says_so(tmp_path, tiny_sam):
    home, data = tmp_path / "hf", (tiny_sam / WEIGHTS).read_bytes()
    with LocalHub({"someone/tiny-sam": tiny_sam}, lfs=True) as hub:
        moved = _run(home, hub.url, "moved", "someone/tiny-sam")
        sent = hub.sent(WEIGHTS)
    assert "error" not in moved, moved
    assert (Path(moved["path"]) / WEIGHTS).read_bytes() == data
    (said,) = [line for line in moved["lines"] if "did not take" in line]
    assert f"did not take config.json, {WEIGHTS} from its cache's blob store" in said and "layout changed" in said
    assert sent == 2 * len(data)  # fetched here, then again whole by huggingface_hub
    assert not list((home / "hub" / "elsewhere").rglob("blobs/*"))  # the blob no one uses is removed

