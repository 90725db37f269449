"""Parameter count, forward cost (GFLOPs) and CPU latency of the DualStream model.

Default: the reference configuration (preset b1, 4 vision bands at 512x512, 48 aux channels at 64x64,
1 class), random init, batch 1, eval mode. FLOPs come from ``torch.utils.flop_counter.FlopCounterMode``
(a multiply-add counts as 2 FLOPs); attention runs on the math SDPA backend while counting, because the
fused CPU kernels are invisible to the counter. Latency is the median of timed ``torch.no_grad`` forwards.

Usage: ``python bench/model_cost.py [--presets b1 tiny ...] [--repeats 5] [--threads N] [--output DIR]``
writes ``<output>/model_cost.json`` (default ``bench_output/``). Also usable as a ``bench/run.py`` section
(``TITLE`` and ``run(ctx)``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TITLE = "Model size and forward cost"
DEFAULT = {"preset": "b1", "vision_channels": 4, "aux_channels": 48, "num_classes": 1, "aux_ratio": 8}


def measure(preset: str = "b1", size: int = 512, repeats: int = 5, vision_channels: int = 4, aux_channels: int = 48,
            num_classes: int = 1, aux_ratio: int = 8, device: str = "cpu") -> dict[str, Any]:
    """Build one configuration and measure parameters, forward FLOPs and forward latency."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from engine.models import build_model

    torch.manual_seed(0)
    model = build_model("dualstream", preset=preset, vision_channels=vision_channels, aux_channels=aux_channels,
                        num_classes=num_classes, aux_ratio=aux_ratio).eval().to(device)
    pixels = torch.randn(1, vision_channels, size, size, device=device)
    air = torch.randn(1, aux_channels, size // aux_ratio, size // aux_ratio, device=device) if aux_channels else None
    groups = {name: sum(p.numel() for p in params) for name, params in model.param_groups().items()}

    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(pixels, air)
    per_module = {name: int(sum(ops.values())) for name, ops in counter.get_flop_counts().items()}
    root = type(model).__name__
    top = {}
    for child, _ in model.named_children():
        name = f"{root}.{child}"
        # A ModuleList (the fusion blocks) is never called itself: add up its called children.
        top[child] = per_module.get(name, sum(v for k, v in per_module.items()
                                             if k.startswith(name + ".") and k.count(".") == name.count(".") + 1))

    def forward() -> None:
        with torch.no_grad():
            out = model(pixels, air)["logits"]
            out.sum().item()  # waits for the GPU too

    forward()  # warm-up (allocations, first-call dispatch)
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        forward()
        times.append(time.perf_counter() - start)
    flops = int(counter.get_total_flops())
    return {
        "config": {"preset": preset, "vision": [vision_channels, size, size],
                   "aux": [aux_channels, size // aux_ratio, size // aux_ratio] if aux_channels else None,
                   "num_classes": num_classes, "batch": 1},
        "parameters": int(sum(groups.values())),
        "parameters_by_group": groups,
        "gflops": round(flops / 1e9, 2),
        "gmacs": round(flops / 2e9, 2),
        "gflops_by_module": {k: round(v / 1e9, 2) for k, v in sorted(top.items(), key=lambda kv: -kv[1])},
        "latency_s": {"median": round(statistics.median(times), 4), "min": round(min(times), 4),
                      "max": round(max(times), 4), "repeats": len(times)},
        "device": device,
        "torch_threads": torch.get_num_threads(),
    }


def _markdown(results: list[dict[str, Any]]) -> str:
    lines = ["| preset | vision | aux | parameters | GFLOPs | latency (median) |", "|---|---|---|---|---|---|"]
    for r in results:
        c = r["config"]
        aux = "x".join(map(str, c["aux"])) if c["aux"] else "none"
        lines.append(f"| {c['preset']} | {'x'.join(map(str, c['vision']))} | {aux} | {r['parameters']:,} | "
                     f"{r['gflops']} | {r['latency_s']['median'] * 1e3:.0f} ms ({r['device']}, "
                     f"{r['torch_threads']} threads) |")
    return "\n".join(lines)


def run(ctx: Any) -> dict[str, Any]:
    """bench/run.py section entry point: the default b1 configuration (and tiny in quick runs)."""
    from engine.environment import resolve_device

    device = resolve_device(getattr(ctx, "device", "cpu"))
    quick = bool(getattr(ctx, "quick", False))
    results = [measure("tiny" if quick else "b1", size=512, repeats=2 if quick else 5, device=device)]
    return {"results": results, "markdown": _markdown(results)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["b1"], choices=["tiny", "b0", "b1", "b2"])
    parser.add_argument("--size", type=int, default=512, help="vision tile size (multiple of 32)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--output", type=Path, default=REPO / "bench_output")
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    for preset in args.presets:
        result = measure(preset, size=args.size, repeats=args.repeats, device=args.device)
        results.append(result)
        print(f"{preset}: {result['parameters']:,} parameters, {result['gflops']} GFLOPs, "
              f"forward {result['latency_s']['median'] * 1e3:.0f} ms median on {args.device} "
              f"({result['torch_threads']} threads)", flush=True)
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / "model_cost.json"
    path.write_text(json.dumps({"results": results, "markdown": _markdown(results)}, indent=2), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
