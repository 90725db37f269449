"""The labelling panel's notes after an answer leave out the model download's progress lines, told apart by the
engine's progress channel (``Callback.progress_line``), not by their wording: before, a regular expression copied the
engine's "Downloading '...': N%" and would have let every such line through once the wording changed.

The download is the engine's own (``engine.models.hub.fetch``, as the panel's model loading calls it, with the
panel's callback) from a hub on 127.0.0.1, in a fresh Python: huggingface_hub reads HF_ENDPOINT when imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.local_hub import LocalHub

pytestmark = [pytest.mark.qgis]

REPO = Path(__file__).resolve().parents[2]
BIG = 24 * 2**20  # over huggingface_hub's 10 MiB write chunk: the download says its progress in a few lines

PANEL = r"""
import json, sys
from dualstream_qgis.labeling import prompts
from engine.models import hub

said = []
callback = prompts.engine_messages(said)
hub.fetch(sys.argv[1], callback.info, callback=callback)
progress = [line for line in said if isinstance(line, prompts.ProgressLine)]
callback.info(str(progress[0]))  # the same words said as information: a note, as anything the engine says is
print(json.dumps({"said": said, "progress": progress, "notes": prompts.notes(said, most=100)}))
"""


def test_the_notes_leave_out_what_the_engine_said_as_progress(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "sam"}))
    (folder / "model.safetensors").write_bytes(os.urandom(BIG))
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# A model\n")
    environ = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "DUALSTREAM_OFFLINE", "HF_TOKEN")}
    with LocalHub({"someone/sam": folder}) as hub:
        hub.faults["model.safetensors"] = "slow"
        environ.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf"), PYTHONPATH=str(REPO),
                       HF_HUB_DISABLE_TELEMETRY="1")
        done = subprocess.run([sys.executable, "-c", PANEL, "someone/sam"], env=environ, capture_output=True,
                              text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    said, progress, notes = result["said"], result["progress"], result["notes"].split("\n")
    assert len(progress) >= 2 and all(line.startswith("Downloading 'someone/sam': ") for line in progress), said
    assert said[0].startswith("'someone/sam' is released under the licence apache-2.0")  # a note, kept
    assert any(line.startswith("Downloaded 'someone/sam'") for line in notes), notes
    # every progress line is in what the panel logs, none in the notes but the one said as information
    assert [line for line in said[:-1] if line in progress] == progress
    assert [line for line in notes if line in progress] == [progress[0]] and notes[-1] == progress[0]
