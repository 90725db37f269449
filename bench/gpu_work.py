"""Change detection and training on a GPU: a pair against one date, train against a bare loop.

What the CPU sections measure (``bench/change.py``, ``bench/train_speed.py``), on a CUDA device, in one process:

- **change**: the light change model (ResNet-18 shared by the dates, UNet decoder) against the one-date UNet light,
  random weights: the model alone on a batch of tiles already in GPU memory (bfloat16 autocast, CUDA-synchronised
  medians), and ``segment --backend torch --device cuda`` of a synthetic pair against its first date end to end
  (start-up of the run, reading and writing included; the model loaded in each run).
- **train**: for UNet light and DualStream b0 (48-channel aux), seconds per tile of a bare loop (forward, the
  family's loss, backward, AdamW step) in fp32 and under bfloat16 autocast, against ``engine.api.train`` with
  ``--device cuda`` (its own AMP choice; one thread preparing the tiles) on real-shaped scenes, and the same with
  ``--num-workers 8`` (loader processes): the step time and the epoch time per tile, from the history, epochs 2+.
  On the H200 (2026-11-27) the run with 8 loader processes did not end in 150 s (docs/benchmarks.md, "On a GPU"):
  give this part a timeout.

Usage: ``python bench/gpu_work.py [--size 2048] [--out DIR]``; writes ``gpu_work.json`` there and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEVICE = "cuda"  # --device cpu: a quick check of this script on a machine without one
for entry in (str(REPO), str(REPO / "bench")):
    if entry not in sys.path:
        sys.path.insert(0, entry)


def _timed(run: Any, repeats: int) -> float:
    """Median seconds of ``run`` on the GPU (synchronised), after two warm-ups."""
    import torch

    def sync() -> None:
        if DEVICE == "cuda":
            torch.cuda.synchronize()

    times = []
    for i in range(repeats + 2):
        sync()
        start = time.perf_counter()
        run()
        sync()
        if i >= 2:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def change_figures(folder: Path, size: int, repeats: int = 3) -> dict[str, Any]:
    import torch

    from bench.change import _bundle, _segment
    from engine.data.synthetic_pairs import make_pair
    from engine.models import build_model

    figures: dict[str, Any] = {"size": size}
    for batch in (16,):
        for name in ("change", "unet"):  # the change family takes two dates of 3 bands, stacked
            model = build_model(name, preset="light", vision_channels=3, num_classes=1).to(DEVICE).eval()
            pixels = torch.randn(batch, 6 if name == "change" else 3, 512, 512, device=DEVICE)
            with torch.inference_mode(), torch.autocast(DEVICE, dtype=torch.bfloat16):
                figures[f"{name}_model_ms_per_tile"] = round(1000 * _timed(lambda: model(pixels, None), 10) / batch,
                                                             3)
    figures["model_ratio"] = round(figures["change_model_ms_per_tile"] / figures["unet_model_ms_per_tile"], 3)
    pair = make_pair(folder / "pair", seed=0, size=size, buildings=size // 10, changes=size // 40)
    change, one = _bundle(folder / "change.dsmodel", "change", 2), _bundle(folder / "unet.dsmodel", "unet", 1)
    runs = {"change": ["--model", change, "--image", pair.before, "--after", pair.after],
            "one_date": ["--model", one, "--image", pair.before]}
    common = ["--backend", "torch", "--device", DEVICE]
    for name, args in runs.items():
        _segment([*args, *common, "--out", str(folder / f"{name}_warm.tif")])
        times = sorted(_segment([*args, *common, "--out", str(folder / f"{name}_{i}.tif")]) for i in range(repeats))
        figures[f"{name}_seconds"] = round(times[len(times) // 2], 3)
    figures["ratio"] = round(figures["change_seconds"] / figures["one_date_seconds"], 3)
    return figures


def bare(family: str, preset: str, amp: bool, batch: int, steps: int = 20) -> float:
    """Seconds per tile of the bare loop on the GPU."""
    import torch
    from train_speed import TILE, _inputs, _loss, _model

    model = _model(family, preset, 0).to(DEVICE).train()
    loss_fn = _loss(family, model)
    parts = [_inputs(family, seed) for seed in range(batch // 4)]  # train_speed's batches of 4, stacked
    pixels = torch.cat([p[0] for p in parts]).to(DEVICE)
    aux = torch.cat([p[1] for p in parts]).to(DEVICE) if parts[0][1] is not None else None
    labels = torch.cat([p[2] for p in parts]).to(DEVICE)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=1e-5)
    assert pixels.shape[-1] == TILE

    def step() -> None:
        with torch.autocast(DEVICE, dtype=torch.bfloat16, enabled=amp):
            out = dict(model(pixels, aux))
        out["logits"] = out["logits"].float()
        out["side_logits"] = [t.float() for t in out.get("side_logits") or []]
        loss_fn(out, labels).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return _timed(step, steps) / batch


def train_figures(folder: Path, batch: int = 16, tiles: int = 512, epochs: int = 3,
                  size: int = 1024) -> dict[str, Any]:
    from train_speed import TILE, make_data

    from engine.api import train, train_request
    from engine.callbacks import QuietCallback

    data = make_data(folder / "data", size, 0)
    figures: dict[str, Any] = {"batch": batch, "tile": TILE, "tiles_per_epoch": tiles, "epochs": epochs}
    for family, preset in (("unet", "light"), ("dualstream", "b0")):
        row = {"bare_fp32_ms_per_tile": round(1000 * bare(family, preset, False, batch), 3),
               "bare_bf16_ms_per_tile": round(1000 * bare(family, preset, True, batch), 3)}
        scenes = data["scenes_aux"] if family == "dualstream" else data["scenes"]
        for arm, workers in (("train", None), ("train_8_loaders", 8)):  # the default (one thread); loader processes
            sections = {"model": {"name": family, "preset": preset},
                        "data": {"train_scenes": scenes["train"], "val_scenes": scenes["val"], "tile_size": TILE,
                                 "tiles_per_epoch": tiles, "label_mapping": {"90": 1}},
                        "train": {"epochs": epochs, "warmup_epochs": 0, "batch_size": batch, "device": DEVICE,
                                  "early_stop_patience": None, "seed": 0, "preview_tiles": 0,
                                  "output": str(folder / f"{family}_{arm}.dsmodel")}}
            if workers is not None:
                sections["train"]["num_workers"] = workers
            given = {f"{s}.{k}" for s, values in sections.items() for k in values}
            history = train(train_request(sections, given), QuietCallback()).result.history
            timed = history[1:] or history
            n = sum(e["steps"] for e in timed) * batch
            row[f"{arm}_steps_ms_per_tile"] = round(1000 * sum(e["train_seconds"] for e in timed) / n, 3)
            row[f"{arm}_epoch_ms_per_tile"] = round(1000 * sum(e["seconds"] + float(e.get("save_seconds") or 0)
                                                              for e in timed) / n, 3)
            row[f"{arm}_vs_bare_fp32"] = round(row[f"{arm}_epoch_ms_per_tile"] / row["bare_fp32_ms_per_tile"], 3)
            row[f"{arm}_vs_bare_bf16"] = round(row[f"{arm}_epoch_ms_per_tile"] / row["bare_bf16_ms_per_tile"], 3)
        figures[f"{family}:{preset}"] = row
    return figures


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048, help="side of the synthetic pair (px)")
    parser.add_argument("--only", nargs="+", choices=("change", "train"), default=["change", "train"])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"), help="cpu: a quick check of the script")
    parser.add_argument("--out", type=Path, default=REPO / "bench_output")
    args = parser.parse_args(argv)
    global DEVICE
    DEVICE = args.device
    if DEVICE == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_work needs a CUDA device; the CPU figures are bench/change.py and train_speed.py")
    small = DEVICE == "cpu"
    args.out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"gpu": torch.cuda.get_device_name() if DEVICE == "cuda" else None,
                              "torch": torch.__version__}
    with tempfile.TemporaryDirectory(prefix="bench_gpu_work_") as tmp:
        quick = (4, 8, 2, 384) if small else ()  # batch, tiles, epochs, scene size
        for part, measure in (("change", lambda: change_figures(Path(tmp) / "change", args.size)),
                              ("train", lambda: train_figures(Path(tmp) / "train", *quick))):
            if part in args.only:
                result[part] = measure()
                print(json.dumps({part: result[part]}, indent=1), flush=True)
                (args.out / "gpu_work.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
