"""Distributed training: ``torchrun --nproc_per_node 2 -m engine train`` on CPU (gloo) gives one bundle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.bundle.store import load_bundle, read_metadata
from engine.data.metadata import DataMetadata, DataSummary
from engine.data.normalize import BandStatistics
from engine.training.checkpoint import load_checkpoint

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
    assert meta.train_config().epochs == 1 and meta.data.aux_channels == 48
    load_bundle(out)  # weights match their checksum and the architecture
    assert load_checkpoint(str(out) + ".ckpt")["epoch"] == 2
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert not leftovers and not (tmp_path / "ddp.dsmodel.partial").exists()


class _Tiles(torch.utils.data.Dataset):
    """In-memory tiles whose class is the sign of the first aux channel."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed = n, seed

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        g = torch.Generator().manual_seed(self.seed * 1000 + i)
        air = torch.randn(8, 8, 8, generator=g)
        labels = (torch.nn.functional.interpolate(air[None, :1], size=(64, 64))[0, 0] > 0).long()
        return {"vision": torch.randn(4, 64, 64, generator=g), "aux": air, "labels": labels}


def _summary() -> DataSummary:
    return DataSummary(DataMetadata(vision_bands=4, vision_stats=BandStatistics("meanstd", [0.0] * 4, [1.0] * 4),
                                    aux_channels=8, aux_ratio=8, class_names=["background", "foreground"],
                                    class_colors=["#000000", "#ff0000"], tile_size=64))


def _spawned(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from engine.config import DataConfig, TrainConfig
    from engine.models import AutoModelConfig, build_model_from_config
    from engine.training.trainer import train

    model_cfg = AutoModelConfig.for_family(preset="tiny", vision_channels=4, aux_channels=8, num_classes=1, aux_ratio=8)
    torch.manual_seed(rank)  # different initial weights per process: DDP must start from rank 0's
    model = build_model_from_config(model_cfg)
    cfg = TrainConfig(output=out, epochs=1, warmup_epochs=1, batch_size=2, device="cpu", preview_tiles=1)
    # 5 validation tiles: 3 on rank 0 (2 batches), 2 on rank 1 (1 batch)
    result = train(model_cfg, DataConfig(tile_size=64), cfg, model=model, datasets=(_Tiles(8, 1), _Tiles(5, 2),
                                                                                    _summary()))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save(state, f"{out}.rank{rank}.pt")
    with open(f"{out}.rank{rank}.json", "w") as handle:
        json.dump({"history": result.history}, handle)


def test_spawned_train_processes_agree_with_uneven_validation_shards(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = str(tmp_path / "spawn.dsmodel")
    torch.multiprocessing.spawn(_spawned, args=(2, port, out), nprocs=2, join=True)
    assert read_metadata(out).metrics["epoch"] in (1, 2)
    h0, h1 = (json.loads(Path(f"{out}.rank{r}.json").read_text())["history"] for r in (0, 1))
    assert [e["epoch"] for e in h0] == [1, 2]
    for a, b in zip(h0, h1):  # metrics are reduced over all processes: every rank sees the same numbers
        assert a["val_iou"] == b["val_iou"] and a["val_loss"] == pytest.approx(b["val_loss"])
        assert a["train_loss"] == pytest.approx(b["train_loss"])
    s0, s1 = (torch.load(f"{out}.rank{r}.pt", weights_only=True) for r in (0, 1))
    for k in s0:  # gradients were synchronised: identical weights although the processes started apart
        assert torch.allclose(s0[k], s1[k], atol=1e-6), k


def test_torchrun_caches_a_frozen_foundation_encoders_features_per_process(synthetic_scene, tmp_path):
    """The time budget's own choice on the CPU (frozen + cached) under torchrun: each process caches its share of
    the tiles (agreeing on when the budget's share is spent) and the processes train the decoder together."""
    from tests.engine.foundation_fixtures import PRITHVI_TINY_FILE, write_prithvi_release

    write_prithvi_release(tmp_path / "rel", bands=4)
    out = tmp_path / "cached.dsmodel"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), DUALSTREAM_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", "2",
         "-m", "engine", "train", "--image", synthetic_scene["image"], "--label", synthetic_scene["label"],
         "--out", str(out), "--model", "unet", "--encoder", "prithvi_eo2_tiny_tl", "--pretrained",
         str(tmp_path / "rel" / PRITHVI_TINY_FILE), "--bands", "1,2,3,4", "--tile-size", "64", "--tiles-per-epoch",
         "16", "--batch-size", "4", "--epochs", "2", "--time-budget", "0.5", "--device", "cpu", "--json"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "--frozen-encoder cached, chosen: training on the CPU" in done.stderr  # not refused under torchrun
    assert "features of 8 training tile(s) (this process's share)" in done.stderr  # 16 tiles over 2 processes
    assert "cpu x2 processes" in done.stderr
    result = json.loads(done.stdout[done.stdout.index("{"):])
    assert result["bundle"] == str(out) and all(e["stage"] == "frozen" for e in result["history"])
    assert read_metadata(out).train["frozen_encoder"] == "cached"
    load_bundle(out)
