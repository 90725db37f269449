"""Section "environment": what the benchmarks ran on, plus a reference CPU/GPU timing to compare machines."""

from __future__ import annotations

import os
import time
from typing import Any

from bench.common import BenchContext, time_call

TITLE = "Environment and reference timing"


def run(ctx: BenchContext) -> dict[str, Any]:
    from engine.runtime.environment import environment_report, resolve_device

    start = time.perf_counter()
    import torch

    import_s = time.perf_counter() - start
    device = resolve_device(ctx.device)
    torch.manual_seed(ctx.seed)
    size = 256 if ctx.quick else 1024
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)

    def matmul() -> None:
        (a @ b).sum().item()  # .item() waits for the GPU, so the timing is real

    timing = time_call(matmul, repeats=3 if ctx.quick else 10)
    gflops = 2 * size**3 / timing["median_s"] / 1e9
    report = environment_report()
    report["cpu_count"] = os.cpu_count()
    report["torch_threads"] = torch.get_num_threads()
    metrics = {"torch_import_s": round(import_s, 3), "matmul_size": size, "matmul_median_s": timing["median_s"],
               "matmul_gflops": round(gflops, 2), "device": device}
    markdown = "\n".join([
        f"- Python {report['python']}, torch {report['torch']}, transformers {report['transformers']}, "
        f"GDAL {report['gdal']}, rasterio {report['rasterio']}, numpy {report['numpy']}",
        f"- Device: {device}; GPUs: {', '.join(g['name'] for g in report['gpus']) or 'none'}; "
        f"CPU cores: {report['cpu_count']} (torch threads {report['torch_threads']})",
        f"- torch import: {import_s:.2f} s; {size}x{size} float32 matmul: {timing['median_s'] * 1e3:.1f} ms "
        f"median of {timing['repeats']} ({gflops:.1f} GFLOP/s)",
    ])
    return {"environment": report, "metrics": metrics, "markdown": markdown}
