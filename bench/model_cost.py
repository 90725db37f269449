"""Parameter count, forward cost (GFLOPs) and CPU latency of every model family and preset.

Each family gets its typical input at 512x512, 1 class, random init, batch 1, eval mode (its card's
``bench_input``: e.g. DualStream 4 vision bands + 48 aux channels at 64x64; CMX 3 (RGB) + 1 (NIR) band at full
resolution; the single-stream families 3 bands, no aux). FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` (a
multiply-add counts as 2 FLOPs); attention runs on the math SDPA backend while counting, because the fused CPU
kernels are invisible to the counter. Latency is the median of timed ``torch.no_grad`` forwards.

Usage: ``python bench/model_cost.py [--models dualstream cmx ...] [--presets b1 tiny ...] [--repeats 3]
[--threads N] [--device cpu|cuda] [--output DIR]`` (default: every family and preset) writes
``<output>/model_cost.json`` and ``model_cost.md`` (default ``bench_output/``). Also a ``bench/run.py`` section
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


def measure(family: str = "dualstream", preset: str = "b1", size: int = 512, repeats: int = 3,
            num_classes: int = 1, device: str = "cpu") -> dict[str, Any]:
    """Build one family/preset with its typical input layout and measure parameters, FLOPs and latency."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from engine.models import AutoModelConfig, build_model

    vision_channels, aux_channels, aux_ratio = AutoModelConfig.config_class(family).CARD.bench_input
    torch.manual_seed(0)
    # a single-stream family fed aux takes it by early fusion
    fields = AutoModelConfig.config_class(family).__dataclass_fields__
    options = {"aux_fusion": "early"} if aux_channels and "aux_fusion" in fields else {}
    model = build_model(family, preset=preset, vision_channels=vision_channels, aux_channels=aux_channels,
                        num_classes=num_classes, aux_ratio=aux_ratio, **options).eval().to(device)
    pixels = torch.randn(1, vision_channels, size, size, device=device)
    aux = torch.randn(1, aux_channels, size // aux_ratio, size // aux_ratio, device=device) if aux_channels else None
    groups = {name: sum(p.numel() for p in params) for name, params in model.param_groups().items()}

    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(pixels, aux)
    per_module = {name: int(sum(ops.values())) for name, ops in counter.get_flop_counts().items()}
    root = type(model).__name__
    top = {}
    for child, _ in model.named_children():
        name = f"{root}.{child}"
        # A ModuleList (fusion blocks) is never called itself: add up its called children.
        top[child] = per_module.get(name, sum(v for k, v in per_module.items()
                                             if k.startswith(name + ".") and k.count(".") == name.count(".") + 1))

    def forward() -> None:
        with torch.no_grad():
            out = model(pixels, aux)["logits"]
            out.sum().item()  # waits for the GPU too

    forward()  # warm-up (allocations, first-call dispatch)
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        forward()
        times.append(time.perf_counter() - start)
    flops = int(counter.get_total_flops())
    encoder = getattr(model.config, "encoder_name", None)
    return {
        "config": {"family": family, "preset": preset, "encoder": encoder, "vision": [vision_channels, size, size],
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


def all_configurations(families: list[str] | None = None, presets: list[str] | None = None) -> list[tuple[str, str]]:
    """(family, preset) pairs from the registry, optionally filtered."""
    from engine.models import list_models, list_presets

    return [(f, p) for f in (families or list_models()) for p in list_presets(f) if not presets or p in presets]


def _markdown(results: list[dict[str, Any]]) -> str:
    lines = ["| family | preset | encoder | input (vision / aux) | parameters | GFLOPs | latency (median) |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        c = r["config"]
        aux = "x".join(map(str, c["aux"])) if c["aux"] else "none"
        lines.append(f"| {c['family']} | {c['preset']} | {c['encoder'] or 'MiT'} | "
                     f"{'x'.join(map(str, c['vision']))} / {aux} | {r['parameters']:,} | {r['gflops']} | "
                     f"{r['latency_s']['median'] * 1e3:.0f} ms ({r['device']}, {r['torch_threads']} threads) |")
    return "\n".join(lines)


def run(ctx: Any) -> dict[str, Any]:
    """bench/run.py section entry point: every family and preset (only the tiny presets in quick runs)."""
    from engine.runtime.environment import resolve_device

    device = resolve_device(getattr(ctx, "device", "cpu"))
    quick = bool(getattr(ctx, "quick", False))
    pairs = all_configurations(presets=["tiny"] if quick else None)
    results = [measure(f, p, size=512, repeats=1 if quick else 2, device=device) for f, p in pairs]
    return {"results": results, "markdown": _markdown(results)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None, help="families (default: all)")
    parser.add_argument("--presets", nargs="+", default=None, help="presets to keep (default: all of each family)")
    parser.add_argument("--size", type=int, default=512, help="vision tile size (multiple of 32)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--output", type=Path, default=REPO / "bench_output")
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    for family, preset in all_configurations(args.models, args.presets):
        result = measure(family, preset, size=args.size, repeats=args.repeats, device=args.device)
        results.append(result)
        print(f"{family} {preset}: {result['parameters']:,} parameters, {result['gflops']} GFLOPs, forward "
              f"{result['latency_s']['median'] * 1e3:.0f} ms median on {args.device} "
              f"({result['torch_threads']} threads)", flush=True)
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / "model_cost.json"
    markdown = _markdown(results)
    path.write_text(json.dumps({"results": results, "markdown": markdown}, indent=2), encoding="utf-8")
    (args.output / "model_cost.md").write_text(markdown + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
