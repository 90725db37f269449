"""The CPU default: ``segment`` with the torch backend, with the default (auto: onnxruntime through the cached
export), and Deepness with the same ONNX file, as a user runs them (a fresh process each).

1. Side by side on the 320 x 256 sample scene and a 4096² synthetic scene (quick: 1024²) with UNet light, UNet
   tiny and DualStream b0 with its 48-band aux (freshly initialised: speed does not depend on the weights), in
   interleaved rounds (each round runs every command once, the order rotating); medians, ratios, the share of
   pixels whose class equals the torch run's, and the load average seen. Deepness runs through
   ``../shared/peers/run_deepness.py`` (skipped with a line saying why when it or its packages are absent;
   vision-only models only: Deepness feeds one tensor).
2. Start-up to first tile: process start until the first tiles' probabilities are back (the wall time of the
   command less what the run reports after its first tile: ``seconds - timings.first_tile``).
3. Bulk efficiency: 15 scenes of 512² with UNet light: one process per scene, then three bulk runs between
   four runs of the model alone on the same tiles in memory (each a fresh process; ``bench/model_alone.py`` times
   the model from its first call, as in the bulk run, and a second pass); medians; the bulk run's per-scene
   overhead against the model's time.
4. Busy cores: the default on the large scene alone and beside two busy loops (one per core of this VM), in
   alternating pairs; the ratio of medians (target <= 2.5).

Run alone: ``python bench/cpu_default.py [--quick]``, only the bulk comparison (3.) with ``--bulk-only`` (writes
``bench_output/cpu_default/bulk.json``); in ``make bench`` as section ``cpu_default``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.bench_segment import AUX_CHANNELS, write_scene  # noqa: E402 - repository root first
from bench.common import child_env  # noqa: E402

TITLE = "CPU default: torch vs the auto backend (onnxruntime) vs Deepness; start-up; bulk; busy cores"
TILE = 256
MODELS = (("unet", "light", 0), ("unet", "tiny", 0), ("dualstream", "b0", AUX_CHANNELS))
VISION_STATS = {"method": "percentile", "low": [800.0, 900.0, 600.0, 1500.0], "high": [1900.0, 2000.0, 1700.0, 4300.0]}
PEERS = REPO.parent.parent / "shared" / "peers"  # ../shared/peers beside the checkout (a worktree: /work/wt/NAME)
BULK_SCENES = 15
BULK_ROUNDS = 3  # bulk runs, each between two runs of the model alone
BUSY_LOOPS = 2


def peers_folder() -> Path | None:
    for candidate in (REPO.parent / "shared" / "peers", PEERS, Path("/work/shared/peers")):
        if (candidate / "run_deepness.py").is_file():
            return candidate
    return None


def make_bundle(folder: Path, family: str, preset: str, aux: int) -> str:
    """A freshly initialised bundle (4 bands, one class; ``aux`` channels of a coarse aux raster)."""
    import torch

    from engine.bundle.store import save_bundle
    from engine.models import build_model

    path = folder / f"{family}_{preset}.dsmodel"
    if path.exists():
        return str(path)
    torch.manual_seed(0)
    model = build_model(family, preset=preset, vision_channels=4, aux_channels=aux, num_classes=1).eval()
    data = {"vision_bands": 4, "vision_stats": VISION_STATS, "aux_channels": aux,
            "aux_stats": {"method": "meanstd", "low": [0.0] * aux, "high": [1.0] * aux} if aux else None,
            "aux_ratio": 8, "class_names": ["background", "hotspot"], "class_colors": ["#d9d9d9", "#e6550d"],
            "tile_size": TILE, "gsd": [1.0, 1.0], "crs": "EPSG:32652", "num_classes": 1}
    return save_bundle(path, model, {"model": model.config.to_dict(), "data": data,
                                     "train": {"note": "untrained: speed benchmark only"}})


class Runner:
    """Runs commands in fresh processes with the bench's own ONNX cache; records wall time and load."""

    def __init__(self, folder: Path):
        os.environ["DUALSTREAM_CACHE_DIR"] = str(folder / "cache")  # this process's look-ups too
        self.env = child_env()
        self.loads: list[float] = []

    def run(self, command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
        self.loads.append(os.getloadavg()[0])
        begin = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=str(REPO), env=env or self.env)
        wall = time.perf_counter() - begin
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[:6])} ... failed:\n{done.stderr[-2000:]}")
        return wall, done.stdout

    def segment(self, bundle: str, scene: dict[str, Any], out: Path, backend: str | None,
                aux: bool = False) -> tuple[float, dict]:
        command = [sys.executable, "-m", "engine", "segment", "--image", scene["image"], "--model", bundle,
                   "--out", str(out), "--device", "cpu", "--quiet", "--json"]
        if aux:
            command += ["--aux", scene["aux"][0]]
        if backend:
            command += ["--backend", backend]
        wall, stdout = self.run(command)
        return wall, json.loads(stdout)


def deepness_command(onnx: Path, image: str, out: Path) -> tuple[list[str] | None, str]:
    """The Deepness runner's command, or None and why it cannot run here."""
    peers = peers_folder()
    if peers is None:
        return None, "Deepness skipped: ../shared/peers/run_deepness.py is absent"
    extra = os.environ.get("DEEPNESS_EXTRA_PATH", "")
    probe = subprocess.run([sys.executable, "-c", "import sys; sys.path[:0] = [p for p in sys.argv[1:] if p]; "
                            "import cv2, onnxruntime, qgis.core; from osgeo import gdal_array", extra],
                           capture_output=True, text=True)
    if probe.returncode != 0:  # gdal_array: a numpy 2 in the folder breaks GDAL's (built for numpy 1) at the end
        return None, (f"Deepness skipped: its Python lacks a package ({probe.stderr.strip().splitlines()[-1]}); "
                      f"set DEEPNESS_EXTRA_PATH to a `pip install --no-deps --target` folder with "
                      f"opencv-python-headless (without --no-deps it brings a numpy that GDAL cannot use)")
    return [sys.executable, str(peers / "run_deepness.py"), str(onnx), image, str(out)], ""


def agreement(a: Path, b: Path) -> float:
    """Share of pixels with the same class (pixels one of them left as nodata 255 are not counted)."""
    import rasterio

    with rasterio.open(a) as da, rasterio.open(b) as db:
        x, y = da.read(1), db.read(1)
    valid = (x != 255) & (y != 255)
    return float((x[valid] == y[valid]).mean()) if valid.any() else float("nan")


def side_by_side(runner: Runner, folder: Path, bundle: str, aux: bool, scene: dict[str, Any], name: str,
                 rounds: int) -> dict[str, Any]:
    """Interleaved rounds of torch, the default and Deepness on one scene with one model."""
    from engine.export.onnx_cache import cached_export

    stem = f"{Path(bundle).stem}_{name}"
    first_wall, first = runner.segment(bundle, scene, folder / f"{stem}_first.tif", None, aux)  # makes the export
    onnx = cached_export(bundle, TILE).path if first["backend"] == "onnxruntime" else None
    commands: dict[str, Any] = {"torch": "torch", "default": None}
    deepness, skipped = (None, "Deepness skipped: the model takes aux (Deepness feeds one tensor)")
    if onnx is not None and not aux:
        deepness, skipped = deepness_command(onnx, scene["image"], folder / f"{stem}_deepness.tif")
    if deepness:
        commands["deepness"] = deepness
    times: dict[str, list[float]] = {k: [] for k in commands}
    startup: dict[str, list[float]] = {"torch": [], "default": []}
    names = list(commands)
    for index in range(rounds):
        for key in names[index % len(names):] + names[:index % len(names)]:
            if key == "deepness":
                env = dict(runner.env, QT_QPA_PLATFORM="offscreen")
                wall, _ = runner.run(commands[key], env)
            else:
                wall, result = runner.segment(bundle, scene, folder / f"{stem}_{key}.tif", commands[key], aux)
                if "first_tile" in result["timings"]:
                    startup[key].append(wall - (result["seconds"] - result["timings"]["first_tile"]))
            times[key].append(wall)
    med = {k: statistics.median(v) for k, v in times.items()}
    out: dict[str, Any] = {"model": Path(bundle).stem, "scene": name, "rounds": rounds, "times_s": times,
                           "median_s": med, "first_run_with_export_s": first_wall, "backend": first["backend"],
                           "torch_over_default": med["torch"] / med["default"],
                           "same_class_as_torch": agreement(folder / f"{stem}_default.tif",
                                                            folder / f"{stem}_torch.tif"),
                           "startup_to_first_tile_s": {k: statistics.median(v) for k, v in startup.items() if v},
                           "deepness": skipped or "ran"}
    if "deepness" in med:
        out["deepness_over_default"] = med["deepness"] / med["default"]
        out["deepness_same_class"] = agreement(folder / f"{stem}_default.tif", folder / f"{stem}_deepness.tif")
    return out


def bulk(runner: Runner, folder: Path, bundle: str, quick: bool) -> dict[str, Any]:
    """One process per scene vs a bulk run vs the model alone, on BULK_SCENES 512² scenes (see the module's 3.)."""
    from engine.data import synthetic

    count = 3 if quick else BULK_SCENES
    scenes_dir = folder / "bulk_scenes"
    scenes = [synthetic.make_scene(scenes_dir, f"s{i:02d}", size=(512, 512), seed=100 + i, aux_channels=0)
              for i in range(count)]
    one_by_one = 0.0
    (folder / "single").mkdir(exist_ok=True)
    for i, scene in enumerate(scenes):
        wall, _ = runner.segment(bundle, scene, folder / "single" / f"s{i:02d}.tif", None)
        one_by_one += wall

    def model_alone() -> dict[str, float]:
        # in a fresh process, timed from the model's first call, as in the bulk run: onnxruntime's first run in
        # a process is slower, and that is the model's time, not the runner's (bench/model_alone.py)
        _, stdout = runner.run([sys.executable, str(REPO / "bench" / "model_alone.py"), bundle, str(TILE),
                                *[s["image"] for s in scenes]])
        return json.loads(stdout)

    def bulk_run() -> dict[str, float]:
        out_dir = folder / "bulk_out"
        shutil.rmtree(out_dir, ignore_errors=True)
        wall, stdout = runner.run([sys.executable, "-m", "engine", "segment", "--images",
                                   str(scenes_dir / "*_image.tif"), "--model", bundle, "--out-dir", str(out_dir),
                                   "--device", "cpu", "--quiet", "--json"])
        records = json.loads(stdout)["scenes"]
        # the scenes' span: from the first scene's start to the last one's end, the work between scenes included
        # (resume checks, the records' saves) and a publishing that overlaps the next scene's planning counted once
        span = max(r["started_s"] + r["seconds"] for r in records) - min(r["started_s"] for r in records)
        return {"wall_s": wall, "scene_seconds": sum(r["seconds"] for r in records),
                "model_seconds": sum(r["model_seconds"] for r in records), "span_seconds": span}

    # bulk runs and the model alone alternate (alone, bulk, alone, ...), each in a process of its own; medians. The
    # model's speed differs from one process to the next by up to 15 % on a VM (2.61-3.04 s for the same batches
    # in five processes), and the VM's speed drifts within minutes: one run against one could not tell 10 %
    alone, runs = [model_alone()], []
    for _ in range(1 if quick else BULK_ROUNDS):
        runs.append(bulk_run())
        alone.append(model_alone())
    model_only = statistics.median(a["cold_s"] for a in alone)
    warm = statistics.median(a["warm_s"] for a in alone)
    bulk_wall = statistics.median(r["wall_s"] for r in runs)
    scene_seconds = statistics.median(r["scene_seconds"] for r in runs)
    in_run = statistics.median(r["model_seconds"] for r in runs)
    return {"scenes": count, "size": "512x512", "model": Path(bundle).stem, "rounds": len(runs),
            "one_by_one_s": one_by_one, "bulk_s": bulk_wall, "bulk_runs": runs, "model_only_s": model_only,
            "model_only_runs": alone, "bulk_scene_seconds": scene_seconds, "bulk_model_seconds": in_run,
            "bulk_over_one_by_one": one_by_one / bulk_wall, "efficiency": model_only / bulk_wall,
            "per_scene_overhead_share": (scene_seconds - model_only) / model_only,
            # against the model's second pass in those processes (its first run's extra left out): for reference
            "model_only_warm_s": warm, "per_scene_overhead_share_warm": (scene_seconds - warm) / warm,
            # the same share against the model's time within each bulk run itself (median): free of the speed
            # differences between processes, blind to the model running slower beside the reader and writer
            "per_scene_overhead_share_in_run": statistics.median(
                (r["scene_seconds"] - r["model_seconds"]) / r["model_seconds"] for r in runs),
            # the runner's work as the run's clock sees it (the scenes' span less the model): what a user waits
            "bulk_span_seconds": statistics.median(r["span_seconds"] for r in runs),
            "span_overhead_share": (statistics.median(r["span_seconds"] for r in runs) - model_only) / model_only,
            "span_overhead_share_in_run": statistics.median(
                (r["span_seconds"] - r["model_seconds"]) / r["model_seconds"] for r in runs)}


def busy(runner: Runner, folder: Path, bundle: str, scene: dict[str, Any], rounds: int) -> dict[str, Any]:
    """The default alone and beside BUSY_LOOPS busy loops, in alternating pairs."""
    quiet, loaded = [], []
    for index in range(rounds):
        for with_loops in ((False, True) if index % 2 == 0 else (True, False)):
            loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(BUSY_LOOPS)
                     ] if with_loops else []
            try:
                time.sleep(0.5 if loops else 0)
                wall, result = runner.segment(bundle, scene, folder / "busy.tif", None)
            finally:
                for loop in loops:
                    loop.kill()
                    loop.wait()
            (loaded if with_loops else quiet).append(wall)
    return {"model": Path(bundle).stem, "rounds": rounds, "quiet_s": quiet, "busy_s": loaded,
            "ratio": statistics.median(loaded) / statistics.median(quiet)}


def run(ctx: Any) -> dict[str, Any]:
    from engine.data import synthetic

    folder = Path(ctx.output_dir) / "cpu_default"
    folder.mkdir(parents=True, exist_ok=True)
    runner = Runner(folder)
    bundles = {f"{f}_{p}": (make_bundle(folder, f, p, a), a > 0) for f, p, a in MODELS}
    sample = synthetic.make_scene(folder / "sample", "scene_b", size=(256, 320), seed=12, aux_channels=AUX_CHANNELS)
    large = write_scene(folder / "large", 1024 if ctx.quick else 4096, seed=3)
    rounds = 1 if ctx.quick else int(os.environ.get("CPU_DEFAULT_ROUNDS", "3"))
    result: dict[str, Any] = {"cores": os.cpu_count(), "rounds": rounds, "cases": []}
    for name, scene in (("320x256", sample), ("4096x4096" if not ctx.quick else "1024x1024", large)):
        for bundle, aux in bundles.values():
            result["cases"].append(side_by_side(runner, folder, bundle, aux, scene, name, rounds))
            (folder / "partial.json").write_text(json.dumps(result, indent=2, default=str))  # long runs
    result["bulk"] = bulk(runner, folder, bundles["unet_light"][0], ctx.quick)
    result["busy"] = busy(runner, folder, bundles["unet_tiny"][0], large, 1 if ctx.quick else 2)
    result["load_average"] = {"median": statistics.median(runner.loads), "min": min(runner.loads),
                              "max": max(runner.loads)}
    result["markdown"] = markdown(result)
    return result


def markdown(r: dict[str, Any]) -> str:
    lines = [f"{r['cores']}-core CPU VM; {r['rounds']} interleaved round(s), medians; 1-minute load average seen "
             f"{r['load_average']['min']:.1f}-{r['load_average']['max']:.1f} (median "
             f"{r['load_average']['median']:.1f}).", "",
             "| scene | model | torch (s) | default (s) | torch / default | Deepness (s) | Deepness / default | "
             "same class as torch | start-up to first tile: torch / default (s) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in r["cases"]:
        m, s = c["median_s"], c["startup_to_first_tile_s"]
        deep = (f"{m['deepness']:.1f} | {c['deepness_over_default']:.2f}x (same class "
                f"{100 * c['deepness_same_class']:.2f} %)" if "deepness" in m else f"- | {c['deepness']}")
        lines.append(f"| {c['scene']} | {c['model']} | {m['torch']:.1f} | {m['default']:.1f} | "
                     f"**{c['torch_over_default']:.2f}x** | {deep} | {100 * c['same_class_as_torch']:.4f} % | "
                     f"{s.get('torch', float('nan')):.2f} / {s.get('default', float('nan')):.2f} |")
    lines += ["", bulk_markdown(r["bulk"])]
    u = r["busy"]
    lines += ["", f"Beside {BUSY_LOOPS} busy loops ({u['model']}, large scene): {statistics.median(u['busy_s']):.1f} s "
              f"against {statistics.median(u['quiet_s']):.1f} s alone, **{u['ratio']:.2f}x** (target <= 2.5x)."]
    return "\n".join(lines)


def bulk_markdown(b: dict[str, Any]) -> str:
    """The bulk comparison (:func:`bulk`) in words."""
    return (f"Bulk, {b['scenes']} scenes of {b['size']} ({b['model']}): one process per scene "
              f"{b['one_by_one_s']:.1f} s, one bulk run {b['bulk_s']:.1f} s ({b['bulk_over_one_by_one']:.2f}x), the "
              f"model alone {b['model_only_s']:.1f} s: efficiency {b['efficiency']:.2f}; the bulk run's scenes took "
              f"{b['bulk_scene_seconds']:.1f} s, {100 * b['per_scene_overhead_share']:.0f} % over the model alone "
              f"(medians of {b['rounds']} bulk runs between {b['rounds'] + 1} of the model alone; "
              f"{100 * b['per_scene_overhead_share_warm']:.0f} % over its second "
              f"pass, {b['model_only_warm_s']:.1f} s), {100 * b['per_scene_overhead_share_in_run']:.0f} % over the "
              f"model's own {b['bulk_model_seconds']:.1f} s within the run; the scenes' span (the run's clock, the "
              f"work between scenes included) {b['bulk_span_seconds']:.1f} s, "
              f"{100 * b['span_overhead_share']:.0f} % over the model alone and "
              f"{100 * b['span_overhead_share_in_run']:.0f} % over its time in the run.")


if __name__ == "__main__":
    import argparse

    from bench.common import BenchContext

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", default=str(REPO / "bench_output"))
    parser.add_argument("--bulk-only", action="store_true",
                        help="only the bulk comparison (3.): the per-scene overhead, about 3 minutes quietly")
    args = parser.parse_args()
    if args.bulk_only:
        folder = Path(args.output) / "cpu_default"
        folder.mkdir(parents=True, exist_ok=True)
        runner = Runner(folder)
        figures = bulk(runner, folder, make_bundle(folder, "unet", "light", 0), args.quick)
        (folder / "bulk.json").write_text(json.dumps(figures, indent=2, default=str))
        print(bulk_markdown(figures))
        print(f"load average seen: {min(runner.loads):.1f}-{max(runner.loads):.1f}")
    else:
        out = run(BenchContext(output_dir=Path(args.output), quick=args.quick, device="cpu"))
        print(out["markdown"])
        (Path(args.output) / "cpu_default.json").write_text(json.dumps(
            {k: v for k, v in out.items() if k != "markdown"}, indent=2, default=str))
