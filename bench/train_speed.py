"""Training speed on the CPU: ``train`` against a bare PyTorch loop of the same network, batch and tile, the compute
ceiling, and where an epoch's time goes.

For each default CPU family (UNet light, UNet tiny, DualStream b0 with its 48-channel aux), side by side in one run,
each measurement in a fresh process, in interleaved rounds (medians):

- **bare fp32**: forward, loss (the family's own), backward, AdamW step, nothing else, on tensors made once, in
  float32 and the default memory format: the floor our pipeline adds to;
- **bare, train's step**: the same loop with the step as ``train`` sets it up on this CPU
  (:func:`engine.training.step_setup.step_for`: memory format, bfloat16 autocast where the CPU has it, fused
  optimiser), so the step's speed-up and the pipeline's overhead are told apart;
- **train**: ``engine.api.train`` (the path the command line and QGIS take) on real-shaped scenes (4-band 16-bit
  GeoTIFFs, the DualStream scenes with four 12-band aux rasters on a coarser grid in another CRS), fixed epochs
  without a time budget; seconds per training tile over epochs 2+ (the first pays one-off start-up), with the
  validation, checkpoints and logging of those epochs (``epoch``) and of the steps alone (``steps``); the log
  lines it wrote about the chosen precision and the tiles per second;
- **ceiling**: the FLOPs of one training step (``torch.utils.flop_counter``, forward and backward) over the
  machine's measured matrix-multiply rate at the same threads (fp32, and bf16 where the CPU has it): no
  implementation of this network runs faster;
- **profile**: the seconds of the timed epochs split into the steps' compute, waiting for tiles, validation and
  saving (the history's own timings), the tiles per second the data pipeline reaches alone, and from the progress
  marks the median step (train's steady pace) and the first step of an epoch (what an epoch's start adds);
- **a tile's preparation**: the dataset's ``__getitem__`` alone on one thread, its time by part (plan, reads, aux
  warp, normalising, jitter, resampling: ``bench/tile_prep.py``), and a digest of the tiles: with ``--before``,
  whether both checkouts prepare the same tiles for the same seed.

``--before DIR``: also times ``train`` of another checkout (e.g. ``git worktree add /tmp/before <commit>``), in
the same rounds, so before and after share the load. Targets (issue 64, quiet 2-core machine): train's seconds per
tile <= 0.77x the bare fp32 loop's, the step >= 1.5x faster than the bare fp32 loop, train within 1.15x of its own
step.

Usage: ``python bench/train_speed.py [--quick] [--threads 2] [--rounds 3] [--families unet:light ...]
[--before DIR] [--tiles-per-epoch N] [--out DIR]`` writes ``<out>/train_speed.json`` and ``.md`` (default
``bench_output/``); in ``make bench`` as section ``train_speed``. An epoch is the engine's default 200 tiles,
epochs 2 and 3 timed: about 20 minutes with 3 rounds on a quiet 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

TITLE = "Training speed on the CPU: train against a bare PyTorch loop; the compute ceiling; the profile"
FAMILIES = ("unet:light", "unet:tiny", "dualstream:b0")
AUX_CHANNELS = 48  # DualStream's four aux rasters of 12 bands
TILE, BATCH = 256, 4
TARGET_TRAIN_VS_BARE = 0.77
TARGET_STEP_SPEEDUP = 1.5
TARGET_PIPELINE = 1.15


# ------------------------------------------------------------------------------------------ workers (one process)
def _model(family: str, preset: str, seed: int) -> Any:
    import torch

    from engine.models import build_model

    torch.manual_seed(seed)
    aux = AUX_CHANNELS if family == "dualstream" else 0
    return build_model(family, preset=preset, vision_channels=4, aux_channels=aux, num_classes=1, aux_ratio=8)


def _inputs(family: str, seed: int) -> tuple[Any, Any, Any]:
    import torch

    gen = torch.Generator().manual_seed(seed)
    pixels = torch.randn(BATCH, 4, TILE, TILE, generator=gen)
    aux = torch.randn(BATCH, AUX_CHANNELS, TILE // 8, TILE // 8, generator=gen) if family == "dualstream" else None
    labels = (torch.rand(BATCH, TILE, TILE, generator=gen) > 0.7).long()
    return pixels, aux, labels


def _loss(family: str, model: Any) -> Any:
    from engine.config.loss import LossConfig
    from engine.training.losses import build_loss

    return build_loss(LossConfig(), family, int(getattr(model, "num_side_outputs", 0)), 255)


def bare_worker(family: str, preset: str, fast: bool, steps: int, seed: int) -> dict[str, Any]:
    """Seconds per tile of the bare loop: fp32 as PyTorch gives it, or with train's step setup (``fast``)."""
    import torch

    model = _model(family, preset, seed).train()
    loss_fn = _loss(family, model)
    pixels, aux, labels = _inputs(family, seed)
    amp, optimizer, how = None, None, "fp32, default memory format, AdamW"
    if fast:
        from engine.training.step_setup import step_for

        step = step_for("cpu", "auto")
        model, pixels = step.model(model), step.batch(pixels)
        amp = step.amp_dtype
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=1e-5, **step.optimizer_options)
        how = step.describe()
    optimizer = optimizer or torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=1e-5)
    times = []
    for _ in range(steps + 2):  # two warm-up steps: allocator, oneDNN kernels chosen
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=amp or torch.float32, enabled=amp is not None):
            out = dict(model(pixels, aux))
        out["logits"] = out["logits"].float()
        out["side_logits"] = [t.float() for t in out.get("side_logits") or []]
        loss = loss_fn(out, labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    step_s = statistics.median(times[2:])
    return {"seconds_per_tile": step_s / BATCH, "how": how, "threads": torch.get_num_threads()}


def ceiling_worker(family: str, preset: str, seed: int) -> dict[str, Any]:
    """FLOPs of one training step and the machine's matrix-multiply rate (fp32, bf16) at these threads."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = _model(family, preset, seed).train()
    loss_fn = _loss(family, model)
    pixels, aux, labels = _inputs(family, seed)
    with FlopCounterMode(display=False) as counter:
        out = dict(model(pixels, aux))
        loss_fn(out, labels).backward()
    flops = counter.get_total_flops()
    rates = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
        for _ in range(2):
            a @ b
        times = []
        for _ in range(5):
            start = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - start)
        rates[name] = 2 * 2048 ** 3 / min(times)
    return {"flops_per_tile": flops / BATCH, "matmul_flops_per_second": rates, "threads": torch.get_num_threads()}


def train_worker(data: dict[str, Any], family: str, preset: str, tiles: int, epochs: int, seed: int,
                 out: str) -> dict[str, Any]:
    """``engine.api.train`` on the scenes: seconds per tile of epochs 2+, the log's lines, the data alone."""
    from engine.api import train, train_request
    from engine.callbacks import Callback, Stage

    lines: list[str] = []
    marks: list[list[float]] = []  # per epoch: when it started, then when each of its steps ended

    class Record(Callback):
        def info(self, message: str) -> None:
            lines.append(message)

        def warning(self, message: str) -> None:
            lines.append(message)

        def epoch_started(self, epoch: int, epochs: int) -> None:
            marks.append([time.perf_counter()])

        def progress(self, done: float, total: float, stage: str = "") -> None:
            if stage == Stage.TRAIN and marks:
                marks[-1].append(time.perf_counter())

    scenes = data["scenes_aux"] if family == "dualstream" else data["scenes"]
    sections = {"model": {"name": family, "preset": preset},
                "data": {"train_scenes": scenes["train"], "val_scenes": scenes["val"], "tile_size": TILE,
                         "tiles_per_epoch": tiles, "label_mapping": {"90": 1}},
                "train": {"epochs": epochs, "warmup_epochs": 0, "batch_size": BATCH, "device": "cpu",
                          "early_stop_patience": None, "seed": seed, "output": out, "preview_tiles": 0}}
    given = {f"{s}.{k}" for s, values in sections.items() for k in values}
    start = time.perf_counter()
    run = train(train_request(sections, given), Record())
    wall = time.perf_counter() - start
    history = run.result.history
    timed = history[1:] or history
    n = sum(e["steps"] for e in timed) * BATCH
    split = {key: sum(float(e.get(key) or 0.0) for e in timed)
             for key in ("train_seconds", "seconds", "val_seconds", "save_seconds", "data_wait_seconds")}
    if not any(e.get("save_seconds") is not None for e in timed):
        split["save_seconds"] = None  # a checkout whose history does not time it
    said = [line for line in lines if line.startswith("Training ") or "tiles per second" in line
            or "bfloat16" in line]
    threads = re.search(r" with (\d+) thread\(s\)", " ".join(said))
    return {"steps_seconds_per_tile": split["train_seconds"] / n,
            "epoch_seconds_per_tile": (split["seconds"] + (split["save_seconds"] or 0.0)) / n,
            "split": split, "tiles": n, "wall_seconds": wall, "said": said,
            "threads": int(threads.group(1)) if threads else None,
            **_data_alone(scenes, tiles, seed), **_step_spans(marks[1:] or marks)}


def _step_spans(marks: list[list[float]]) -> dict[str, float | None]:
    """Seconds per tile of the timed epochs' steps from the progress marks: the median step (with its wait for
    tiles: the steady pace, comparable to the bare loop plus the data) and the first step of each epoch (after
    the validation, beside the previous epoch's checkpoint write), each as the mean over the epochs."""
    steady = [b - a for epoch in marks for a, b in zip(epoch[1:], epoch[2:])]
    first = [epoch[1] - epoch[0] for epoch in marks if len(epoch) > 1]
    return {"median_step_seconds_per_tile": statistics.median(steady) / BATCH if steady else None,
            "first_step_seconds_per_tile": statistics.mean(first) / BATCH if first else None}


def _data_alone(scenes: dict[str, Any], tiles: int, seed: int) -> dict[str, Any]:
    """Training tiles per second the dataset gives in this thread alone (read, warp, augment, normalise), a tile's
    time by part, and the digest of the tiles (``tile_prep.py``)."""
    from tile_prep import profile_tiles, tile_digest

    prep = profile_tiles(scenes, tiles, seed, TILE)
    return {"data_tiles_per_second": prep["tiles_per_second"], "prep_ms_per_tile": prep["parts_ms_per_tile"],
            "tile_digest": tile_digest(scenes, tiles, seed, TILE)}


def worker(job: dict[str, Any]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(job["threads"])
    family, preset = job["family"].split(":")
    if job["kind"] == "bare":
        return bare_worker(family, preset, job["fast"], job["steps"], job["seed"])
    if job["kind"] == "ceiling":
        return ceiling_worker(family, preset, job["seed"])
    return train_worker(job["data"], family, preset, job["tiles"], job["epochs"], job["seed"], job["out"])


# ------------------------------------------------------------------------------------------ the run
def make_data(folder: Path, size: int, seed: int) -> dict[str, Any]:
    """Two training scenes and one validation scene of ``size``² px: 4-band uint16 imagery with labels 0/90, and
    four 12-band aux rasters each (EPSG:4326, coarse) for DualStream."""
    from engine.data.synthetic import make_reference_dataset

    root = Path(make_reference_dataset(folder, n_train=2, n_val=1, size=(size, size), seed=seed, aux_bands=12))

    def scenes(with_aux: bool) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for split, (img, lbl, ap, gems) in (("train", ("ts_sn", "tl_sn", "t_ap", "t_gems")),
                                            ("val", ("vs_sn", "vl_sn", "v_ap", "v_gems"))):
            out[split] = []
            for image in sorted((root / img).glob("*.tif")):
                scene: dict[str, Any] = {"image": str(image), "label": str(root / lbl / image.name)}
                if with_aux:
                    scene["aux"] = [str(root / gems / f"GEMS_{image.name}")] + [
                        str(root / ap / f"AIR_Pollution_{g}_{image.name}") for g in ("CO", "NO2", "SO2")]
                out[split].append(scene)
        return out

    return {"scenes": scenes(False), "scenes_aux": scenes(True)}


def _run_job(job: dict[str, Any], repo: Path = REPO) -> dict[str, Any]:
    """One measurement in a fresh process whose ``engine`` is ``repo``'s."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")])),
               OMP_NUM_THREADS=str(job["threads"]))
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[2]); "
            "from train_speed import worker; print('RESULT ' + json.dumps(worker(json.loads(sys.argv[3]))))")
    done = subprocess.run([sys.executable, "-c", code, str(repo), str(Path(__file__).parent), json.dumps(job)],
                          capture_output=True, text=True, env=env, cwd=str(repo))
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{job['kind']} {job['family']} failed:\n{done.stderr[-3000:]}")


def default_tiles_per_epoch() -> int:
    """The engine's own default: validation and an epoch's start weigh on a tile as in a user's run."""
    from engine.config.training import DataConfig

    return DataConfig().tiles_per_epoch


def measure(families: list[str], threads: int, rounds: int, quick: bool, seed: int,
            before: Path | None, tiles: int | None = None) -> dict[str, Any]:
    tiles = 16 if quick else tiles or default_tiles_per_epoch()
    epochs, steps = (2, 4) if quick else (3, 12)  # epochs 2+ timed
    with tempfile.TemporaryDirectory(prefix="bench_train_speed_") as tmp:
        data = make_data(Path(tmp) / "data", 384 if quick else 768, seed)
        results: dict[str, Any] = {}
        for family in families:
            base = {"family": family, "threads": threads, "seed": seed}
            arms = {"bare_fp32": dict(base, kind="bare", fast=False, steps=steps),
                    "bare_step": dict(base, kind="bare", fast=True, steps=steps),
                    "train": dict(base, kind="train", data=data, tiles=tiles, epochs=epochs,
                                  out=str(Path(tmp) / f"{family.replace(':', '_')}.dsmodel"))}
            if before is not None:
                arms["train_before"] = dict(arms["train"], out=str(Path(tmp) / f"before_{family.replace(':', '_')}"
                                                                                   f".dsmodel"))
            seen: dict[str, list[dict[str, Any]]] = {name: [] for name in arms}
            loads = []
            names = list(arms)
            for r in range(rounds):
                order = names[r % len(names):] + names[:r % len(names)]  # the order rotates: load drift shared
                for name in order:
                    loads.append(os.getloadavg()[0])
                    repo = before if name == "train_before" and before is not None else REPO
                    seen[name].append(_run_job(arms[name], repo))
                    print(f"[train_speed] {family} {name} round {r + 1}: {_brief(seen[name][-1])}", flush=True)
            results[family] = summarise(seen, _run_job(dict(base, kind="ceiling")), loads)
    return {"threads": threads, "rounds": rounds, "tile": TILE, "batch": BATCH, "tiles_per_epoch": tiles,
            "epochs": epochs, "families": results}


def _brief(result: dict[str, Any]) -> str:
    if "seconds_per_tile" in result:
        return f"{1000 * result['seconds_per_tile']:.1f} ms/tile ({result['how']})"
    return f"{1000 * result['epoch_seconds_per_tile']:.1f} ms/tile, steps {1000 * result['steps_seconds_per_tile']:.1f}"


def summarise(seen: dict[str, list[dict[str, Any]]], ceiling: dict[str, Any], loads: list[float]) -> dict[str, Any]:
    def med(name: str, key: str) -> float | None:
        values = [r[key] for r in seen.get(name, []) if r.get(key) is not None]
        return statistics.median(values) if values else None

    bare, step = med("bare_fp32", "seconds_per_tile"), med("bare_step", "seconds_per_tile")
    train_epoch, train_steps = med("train", "epoch_seconds_per_tile"), med("train", "steps_seconds_per_tile")
    last = seen["train"][-1]
    split = {k: (v / last["tiles"] if v is not None else None) for k, v in last["split"].items()}
    rate = ceiling["matmul_flops_per_second"]
    out = {
        "bare_fp32_s_per_tile": bare, "bare_step_s_per_tile": step, "step_how": seen["bare_step"][-1]["how"],
        "train_s_per_tile": train_epoch, "train_steps_s_per_tile": train_steps,
        "train_vs_bare": train_epoch / bare, "step_speedup": bare / step, "pipeline_vs_step": train_epoch / step,
        "profile_s_per_tile": split, "data_tiles_per_second": med("train", "data_tiles_per_second"),
        "train_median_step_s_per_tile": med("train", "median_step_seconds_per_tile"),
        "train_first_step_s_per_tile": med("train", "first_step_seconds_per_tile"),
        "said": last["said"], "train_threads": [r.get("threads") for r in seen["train"]],
        "flops_per_tile": ceiling["flops_per_tile"], "matmul_flops_per_second": rate,
        "ceiling_fp32_s_per_tile": ceiling["flops_per_tile"] / rate["fp32"],
        "ceiling_bf16_s_per_tile": ceiling["flops_per_tile"] / rate["bf16"],
        "load": {"min": min(loads), "max": max(loads), "median": statistics.median(loads)},
        "runs": seen,
    }
    out["prep_ms_per_tile"] = last.get("prep_ms_per_tile")
    if seen.get("train_before"):
        out["train_before_s_per_tile"] = med("train_before", "epoch_seconds_per_tile")
        out["train_before_vs_bare"] = out["train_before_s_per_tile"] / bare
        out["data_before_tiles_per_second"] = med("train_before", "data_tiles_per_second")
        out["prep_before_ms_per_tile"] = seen["train_before"][-1].get("prep_ms_per_tile")
        digests = {r.get("tile_digest") for r in seen["train"] + seen["train_before"]}
        out["tiles_identical_to_before"] = len(digests) == 1 and None not in digests
    return out


def _tiles_per_second(r: dict[str, Any]) -> str:
    before = r.get("data_before_tiles_per_second")
    return f"{r['data_tiles_per_second']:.1f}" + (f" (before {before:.1f})" if before else "")


def markdown(doc: dict[str, Any]) -> str:
    ms = lambda v: "-" if v is None else f"{1000 * v:.1f}"  # noqa: E731 - a formatter
    lines = [f"{doc['threads']} torch thread(s), tile {doc['tile']}, batch {doc['batch']}, {doc['tiles_per_epoch']} "
             f"tiles per epoch, {doc['epochs']} epochs (epochs 2+ timed), {doc['rounds']} interleaved round(s), "
             f"medians; ms per training tile. train chooses its threads from the free cores (its column 'threads'): "
             f"on a busy machine fewer than the bare loop's, so compare only quiet runs.", "",
             "| family | bare fp32 | bare, train's step | train (epoch) | train (steps) | train / bare | step speed-up "
             "| train / step | ceiling fp32 | ceiling bf16 | before | threads | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for family, r in doc["families"].items():
        before = r.get("train_before_s_per_tile")
        lines.append(
            f"| {family} | {ms(r['bare_fp32_s_per_tile'])} | {ms(r['bare_step_s_per_tile'])} | "
            f"{ms(r['train_s_per_tile'])} | {ms(r['train_steps_s_per_tile'])} | {r['train_vs_bare']:.2f} "
            f"(<= {TARGET_TRAIN_VS_BARE}) | {r['step_speedup']:.2f} (>= {TARGET_STEP_SPEEDUP}) | "
            f"{r['pipeline_vs_step']:.2f} (<= {TARGET_PIPELINE}) | {ms(r['ceiling_fp32_s_per_tile'])} | "
            f"{ms(r['ceiling_bf16_s_per_tile'])} | {ms(before)} | {','.join(map(str, r['train_threads']))} | "
            f"{r['load']['min']:.1f}-{r['load']['max']:.1f} |")
    lines += ["", "Where an epoch's time goes (ms per training tile, the last round's train run; save and data "
              "wait where the checkout times them):", "",
              "| family | steps | of which waiting for tiles | validation | saving | epoch | data alone (tiles/s) "
              "| median step | first step of an epoch |",
              "|---|---|---|---|---|---|---|---|---|"]
    for family, r in doc["families"].items():
        p = r["profile_s_per_tile"]
        lines.append(f"| {family} | {ms(p['train_seconds'])} | {ms(p['data_wait_seconds'])} | "
                     f"{ms(p['val_seconds'])} | {ms(p['save_seconds'])} | {ms(p['seconds'])} | "
                     f"{_tiles_per_second(r)} | {ms(r.get('train_median_step_s_per_tile'))} | "
                     f"{ms(r.get('train_first_step_s_per_tile'))} |")
    lines += _prep_lines(doc)
    lines += ["", "Median step: train's steady pace (a step and its wait for tiles, medians over rounds); first step "
              "of an epoch: what an epoch's start adds (after the validation, beside the previous epoch's "
              "checkpoint write)."]
    lines += ["", "The step as train set it up: " + "; ".join(f"{f}: {r['step_how']}" for f, r in
                                                             doc["families"].items()), ""]
    for family, r in doc["families"].items():
        lines += [f"{family}, what the log said: " + " / ".join(r["said"])]
    return "\n".join(lines)


def _prep_lines(doc: dict[str, Any]) -> list[str]:
    """A training tile's preparation by part (ms, one thread, the last round; ``tile_prep.py``), before beside."""
    columns = [(f, key) for f, r in doc["families"].items() for key in ("prep_ms_per_tile", "prep_before_ms_per_tile")
               if r.get(key)]
    if not columns:
        return []
    names = list(doc["families"][columns[0][0]][columns[0][1]])
    lines = ["", "A training tile's preparation, ms by part (one thread, the dataset alone, the last round):", "",
             "| part | " + " | ".join(f + (" before" if "before" in key else "") for f, key in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(f"{doc['families'][f][key].get(name, 0.0):.3f}" for f, key in columns)
                     + " |")
    same = {f: r["tiles_identical_to_before"] for f, r in doc["families"].items() if "tiles_identical_to_before" in r}
    if same:
        lines += ["", "The same tiles as before (seed, epochs 1-2 and the validation tiles, SHA-256): "
                  + ", ".join(f"{f} {'yes' if v else '**no**'}" for f, v in same.items())]
    return lines


def run(ctx: Any) -> dict[str, Any]:
    """Section ``train_speed`` of ``bench/run.py``."""
    doc = measure(list(FAMILIES), 2, 1 if ctx.quick else 3, ctx.quick, ctx.seed, None)
    doc["markdown"] = markdown(doc)
    return doc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small scenes, few steps, one round")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3; quick 1)")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--before", type=Path, default=None, help="another checkout whose train is timed beside")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tiles-per-epoch", type=int, default=None,
                        help="training tiles an epoch (default: the engine's default, 200)")
    parser.add_argument("--out", type=Path, default=REPO / "bench_output")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    start = time.perf_counter()
    doc = measure(args.families, args.threads, rounds, args.quick, args.seed, args.before, args.tiles_per_epoch)
    doc["seconds"] = round(time.perf_counter() - start)
    doc["markdown"] = markdown(doc)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train_speed.json").write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    (args.out / "train_speed.md").write_text(doc["markdown"] + "\n", encoding="utf-8")
    print(doc["markdown"])
    print(f"[train_speed] {doc['seconds']} s; wrote {args.out / 'train_speed.json'}")


if __name__ == "__main__":
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    main()
