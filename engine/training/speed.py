"""What a training says of how it runs and how fast: the line as its epochs start (family, device, threads, the
step's precision and memory format, steps, epochs, loss, optimiser, budget) and the line as they end (training
tiles per second reached, and where the rest of the time went)."""

from __future__ import annotations

from typing import Any


def start_line(model_cfg: Any, place: Any, threads: int | None, step: Any, steps: int, cfg: Any, first: int,
               last: int, budget: Any, loaders: int = 0) -> str:
    """``Training unet (light) on cpu with 2 thread(s), precision bf16 (...), channels-last, fused optimiser,
    50 steps of 4 tiles per epoch, epochs 1..100 (0 with frozen encoders); loss ..., optimizer adamw, ...``;
    with loader processes (``--num-workers``) ``..., tiles prepared by 4 loader process(es), ...`` (``loaders``)."""
    ctx = place.ctx
    where = f" x{ctx.world_size} processes" if ctx.distributed else ""
    each = " each" if (threads or loaders) and ctx.distributed else ""
    with_threads = f" with {threads} thread(s){each}" if threads else ""
    prepared = f", tiles prepared by {loaders} loader process(es){each}" if loaders else ""
    return (f"Training {model_cfg.name} ({model_cfg.preset}) on {place.device}{where}{with_threads}, "
            f"{step.describe()}{prepared}, {steps} steps of {cfg.batch_size} tiles per epoch, epochs {first}..{last} "
            f"({cfg.warmup_epochs} with frozen encoders); loss {cfg.loss.describe(model_cfg.name)}, optimizer "
            f"{cfg.optimizer}{f', {budget.describe()}' if budget.limited else ''}.")


def speed_line(epochs: list[dict[str, Any]], batch_size: int, world_size: int = 1) -> str | None:
    """``Speed: 400 training tiles in 52.3 s of steps, 7.6 tiles per second (waiting 0.4 s for tiles); validation
    4.1 s, saving 0.6 s.`` over ``epochs`` (the history entries of this run); None without a step."""
    steps = sum(int(e.get("steps") or 0) for e in epochs)
    seconds = sum(float(e.get("train_seconds") or 0.0) for e in epochs)
    if not steps or seconds <= 0:
        return None
    tiles = steps * batch_size * world_size
    waited = sum(float(e.get("data_wait_seconds") or 0.0) for e in epochs)
    rest = [f"{what} {sum(float(e.get(key) or 0.0) for e in epochs):.1f} s"
            for what, key in (("validation", "val_seconds"), ("saving", "save_seconds"))
            if any(e.get(key) is not None for e in epochs)]
    return (f"Speed: {tiles} training tiles in {seconds:.1f} s of steps, {tiles / seconds:.1f} tiles per second "
            f"(waiting {waited:.1f} s for tiles){'; ' + ', '.join(rest) if rest else ''}.")
