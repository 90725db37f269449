"""Distributed training: ``torchrun --nproc_per_node 2 -m engine train`` on CPU (gloo) gives one bundle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from engine.bundle import load_bundle, read_metadata
from engine.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[2]


def test_torchrun_two_gloo_processes_write_one_bundle(reference_dataset, tmp_path):
    out = tmp_path / "ddp.dsmodel"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", "2",
         "-m", "engine", "train", "--data", reference_dataset, "--out", str(out), "--preset", "tiny",
         "--tile-size", "64", "--tiles-per-epoch", "16", "--batch-size", "4", "--warmup-epochs", "1",
         "--epochs", "1", "--device", "cpu", "--json"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    # 16 tiles split over 2 processes, batches of 4: 2 steps per process and epoch
    assert "cpu x2 processes" in done.stderr and "2 steps of 4 tiles per epoch" in done.stderr
    result = json.loads(done.stdout[done.stdout.index("{"):])  # only rank 0 prints the result
    assert done.stdout.count('"bundle"') == 1 and result["bundle"] == str(out)
    assert [e["stage"] for e in result["history"]] == ["frozen", "full"]  # DDP re-wrapped after unfreezing
    meta = read_metadata(out)
    assert meta["train"]["epochs"] == 1 and meta["data"]["aux_channels"] == 48
    load_bundle(out)  # weights match their checksum and the architecture
    assert load_checkpoint(str(out) + ".ckpt")["epoch"] == 2
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert not leftovers and not (tmp_path / "ddp.dsmodel.partial").exists()
