"""Training throughput: the real data pipeline versus the same model fed pre-made tensors from memory.

Both runs go through ``engine.training.trainer.train`` with the same model (same seed), batch, tile size and steps; only
the training dataset differs: the real one (GeoTIFF reads, aux warping, label rasterisation, augmentation,
normalisation) or a list of tensors made from it beforehand. The ratio pipeline / in-memory of training steps
per second says how much the data pipeline costs (target >= 0.90). Steps per second are taken from epochs 2+
(the first epoch pays one-off warm-up costs in both runs), and include DataLoader start-up per epoch.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from engine.callbacks import QuietCallback

TITLE = "Training: data pipeline vs in-memory tensors"
TARGET_RATIO = 0.90


class _InMemory:
    """Pre-made samples; ``set_epoch`` is accepted and ignored."""

    def __init__(self, samples: list[dict[str, Any]]):
        self.samples = samples

    def set_epoch(self, epoch: int) -> None:
        pass

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.samples[index]


def _steps_per_second(history: list[dict[str, Any]]) -> float:
    timed = history[1:] or history
    return statistics.median(e["train_steps_per_second"] for e in timed)


def run(ctx: Any) -> dict[str, Any]:
    import torch

    from engine.config import DataConfig, TrainConfig
    from engine.data.dataset import build_datasets
    from engine.data.synthetic import make_reference_dataset
    from engine.models import AutoModelConfig, build_model_from_config
    from engine.runtime.environment import resolve_device
    from engine.training.trainer import train

    device = resolve_device(ctx.device)
    on_gpu = device.startswith("cuda")
    tile = 256 if (on_gpu or not ctx.quick) else 128
    preset = "b1" if on_gpu else "tiny"
    batch = 8 if on_gpu else 4
    tiles_per_epoch = (64 if ctx.quick else 256) if on_gpu else (32 if ctx.quick else 64)
    epochs = 2 if ctx.quick else 3
    workers_options = [0, 4] if on_gpu else [0, 2]

    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        root = Path(tmp)
        data_dir = make_reference_dataset(root / "data", n_train=3, n_val=1, size=(512, 512), seed=ctx.seed,
                                          aux_bands=12)
        data_cfg = DataConfig(data_dir=data_dir, tile_size=tile, tiles_per_epoch=tiles_per_epoch, seed=ctx.seed)
        train_ds, _, summary = build_datasets(data_cfg, QuietCallback())
        train_ds.set_epoch(1)
        cached = _InMemory([train_ds[i] for i in range(len(train_ds))])
        meta = summary.metadata
        model_cfg = AutoModelConfig.for_family(preset=preset, vision_channels=meta.vision_bands,
                                aux_channels=meta.aux_channels, num_classes=meta.num_classes,
                                aux_ratio=meta.aux_ratio)

        def fit(label: str, dataset: Any, workers: int) -> float:
            torch.manual_seed(ctx.seed)
            model = build_model_from_config(model_cfg)
            cfg = TrainConfig(output=str(root / f"{label}.dsmodel"), epochs=epochs, warmup_epochs=0,
                              batch_size=batch, device=device, num_workers=workers, preview_tiles=0,
                              early_stop_patience=None, seed=ctx.seed)
            result = train(model_cfg, data_cfg, cfg, QuietCallback(), model=model, datasets=(dataset, None, summary))
            return _steps_per_second(result.history)

        # Interleaved rounds, best of each: other load on the machine only ever slows a run down.
        configs = [("in_memory", cached, 0)] + [(f"pipeline_workers{w}", train_ds, w) for w in workers_options]
        rounds = 1 if ctx.quick else 2
        all_runs: dict[str, list[float]] = {name: [] for name, _, _ in configs}
        for r in range(rounds):
            for name, dataset, workers in (configs if r % 2 == 0 else configs[::-1]):  # balance load drift
                all_runs[name].append(fit(f"{name}_{r}", dataset, workers))
        runs = {name: max(values) for name, values in all_runs.items()}

        # the data pipeline alone (no model): tiles per second through a DataLoader
        from torch.utils.data import DataLoader

        loader_rates = {}
        for workers in workers_options:
            import time

            loader = DataLoader(train_ds, batch_size=batch, num_workers=workers)
            start = time.perf_counter()
            n = sum(len(b["labels"]) for b in loader)
            loader_rates[f"workers{workers}"] = round(n / (time.perf_counter() - start), 2)

    reference = runs["in_memory"]
    ratios = {k: round(v / reference, 3) for k, v in runs.items() if k.startswith("pipeline")}
    best_key = max(ratios, key=ratios.get)
    best = ratios[best_key]
    lines = [
        f"Device {device} ({torch.get_num_threads()} torch threads), model dualstream/{preset}, tile {tile}, "
        f"batch {batch}, {tiles_per_epoch} tiles per epoch, {epochs} epochs (steps/s: median of epochs 2+, best of "
        f"{rounds} interleaved round(s)). workers0 = no worker process, reads in a background thread.",
        "",
        "| run | training steps/s | ratio to in-memory |",
        "|---|---|---|",
        f"| in-memory tensors | {reference:.3f} | 1.000 |",
    ]
    for key, value in runs.items():
        if key.startswith("pipeline"):
            lines.append(f"| real pipeline, {key.removeprefix('pipeline_')} | {value:.3f} | {ratios[key]:.3f} |")
    lines += ["", "Data pipeline alone (tiles/s): " + ", ".join(f"{k}: {v}" for k, v in loader_rates.items()),
              "", f"Best ratio {best:.3f} ({best_key}); target >= {TARGET_RATIO}: "
              f"{'met' if best >= TARGET_RATIO else 'NOT met'}."]
    return {"device": device, "preset": preset, "rounds": rounds, "all_runs": all_runs, "tile_size": tile,
            "batch_size": batch,
            "tiles_per_epoch": tiles_per_epoch, "epochs": epochs, "steps_per_second": runs,
            "in_memory_steps_per_second": reference, "ratios": ratios, "best_ratio": best,
            "target_ratio": TARGET_RATIO, "target_met": best >= TARGET_RATIO,
            "loader_tiles_per_second": loader_rates, "markdown": "\n".join(lines)}
