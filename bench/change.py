"""Change detection: seconds per pair against a one-date segment of the same family, and change F1 on real pairs.

- speed: a synthetic pair (``engine.data.synthetic_pairs``, 1024 px; 384 with ``--quick``) segmented by a change model
  (preset light: ResNet-18 encoder shared by the dates, UNet decoder) and its first date by the one-date UNet of the
  same encoder and decoder (preset light), both with random weights, on the CPU with the default backend (onnxruntime,
  the export made once before timing; a lone pair runs the one graph), 5 rounds of a pair then one date (medians,
  and each round's ratio); the target is at most 1.5 times the one-date time (the encoder runs twice, the decoder
  once). Beside the whole run's ratio, the model's own (its ONNX graph alone
  on the same 16 tiles of 256 px, process CPU seconds on one thread, so that a loaded machine disturbs it less): what
  the second encoder pass costs, against which the reading and writing around it are measured; the default backend's
  two graphs of the change model (encoder, head) on those tiles, for a lone pair (against the one graph: the split
  must cost nothing) and for a later pair of a series (against one date's graph); and the encoder graph alone on one
  date's tiles: the encoder's share e of one date's graph (a pair's graph costs about 1 + e). And a monitoring series
  (``series``): the seconds of each pair of a bulk run pairing 3 later dates with one first date, on the default
  backend (onnxruntime: the change model as its encoder and head graphs) and on torch, both of which encode the shared
  first date once, against one date alone on the same backend; and a bulk run of independent pairs (each first
  date in one pair, matched by name) on the default backend, against the same dates alone.
- realdata (``--realdata``, or ``make bench`` when ``realdata/change_pairs`` exists and not ``--quick``): the change
  model trained from random weights against the post-classification baseline on LEVIR-CD's held-out sample pairs,
  and the floor of every pixel called change (:mod:`bench.change_real`: the split, the recipe, the baseline).

Usage: ``python bench/change.py [--quick] [--realdata] [--budget MINUTES] [--preset light] [--out DIR]``; writes
``change.json`` and ``change.md`` there. Quiet figures: ``python bench/change.py --realdata --budget 15`` (about 45
min on 2 quiet cores: two trainings of 15 min, 14 segmentations, the speed runs); the speed alone: ``python
bench/change.py``; ``--preset tiny|base``: the speed of the other sizes (the real pairs always train light).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TITLE = "Change detection: seconds per pair against one date, change F1 on real pairs"
REALDATA = Path(os.environ.get("DUALSTREAM_REALDATA") or REPO.parent / "shared" / "realdata")


def _bundle(path: Path, family: str, dates: int, preset: str = "light") -> str:
    """A ``preset`` model of ``family`` with random weights saved as a bundle of 3 bands per date."""
    import torch

    from engine.bundle.store import save_bundle
    from engine.models import build_model

    torch.manual_seed(0)
    model = build_model(family, preset=preset, vision_channels=3, num_classes=1)
    stats = {"method": "percentile", "low": [0.0] * 3 * dates, "high": [10000.0] * 3 * dates}
    data = {"vision_bands": 3, "vision_stats": stats, "aux_channels": 0, "class_names": ["no change", "change"],
            "class_colors": ["#000000", "#ff0000"], "tile_size": 256, "gsd": [1.0, 1.0], "dates": dates}
    return str(save_bundle(path, model, {"model": model.config.to_dict(), "data": data}))


def _segment(args: list[str]) -> float:
    from engine.cli.main import main

    start = time.perf_counter()
    if main(["segment", *args, "--quiet"]) != 0:
        raise RuntimeError(f"segment {' '.join(args)} failed")
    return time.perf_counter() - start


def _one_thread(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _median_cpu(run: Any, repeats: int) -> float:
    """The median process CPU seconds of ``run()`` over ``repeats`` calls, after one untimed call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return sorted(times)[len(times) // 2]


def model_seconds(bundle: str, repeats: int = 3, tiles: int = 16, tile: int = 256) -> float:
    """CPU seconds of the bundle's ONNX graph alone on ``tiles`` random tiles (one thread, the median of
    ``repeats``): the model's cost without reading, blending or writing."""
    import numpy as np

    from engine.export.onnx_cache import cached_export

    session = _one_thread(cached_export(bundle, None).path)
    rng = np.random.default_rng(0)
    feeds = {i.name: rng.random((tiles, 3, tile, tile), dtype=np.float32) for i in session.get_inputs()}
    return _median_cpu(lambda: session.run(None, feeds), repeats)


def date_graph_seconds(bundle: str, repeats: int = 3, tiles: int = 16, tile: int = 256) -> dict[str, float]:
    """CPU seconds of a change bundle's encoder and head graphs (the default backend's export of it) on the tiles of
    :func:`model_seconds`, run as the backend runs them: a lone pair (both dates encoded, into a fresh store of first
    dates) and a later pair of a series (its first dates' maps already held: the encoder reads the later date); and
    the encoder graph alone on one date's tiles, the encoder's part of a one-date model of the same encoder."""
    import numpy as np

    from engine.bundle.date_graphs import ENCODER_INPUT, DateGraphs
    from engine.export.onnx_cache import cached_date_graphs
    from engine.models.change.first_dates import FirstDateFeatures

    made = cached_date_graphs(bundle, None)
    encoder, head = _one_thread(made.encoder), _one_thread(made.head)
    rng = np.random.default_rng(0)
    first, later = (rng.random((tiles, 3, tile, tile), dtype=np.float32) for _ in range(2))
    pair = np.concatenate([first, later], axis=1)
    lone = _median_cpu(lambda: DateGraphs(encoder, head, 2, FirstDateFeatures()).run(pair), repeats)
    series = DateGraphs(encoder, head, 2, FirstDateFeatures())
    series.run(np.concatenate([first, rng.random(first.shape, dtype=np.float32)], axis=1))  # the first pair
    return {"lone_pair": lone, "later_pair": _median_cpu(lambda: series.run(pair), repeats),
            "one_date_encoder": _median_cpu(lambda: encoder.run(None, {ENCODER_INPUT: first}), repeats)}


def speed(out: Path, quick: bool, repeats: int = 5, preset: str = "light") -> dict[str, Any]:
    """Seconds per pair (change model) and per image (one-date model of the same ``preset``), the medians of
    ``repeats`` interleaved rounds."""
    from engine.data.synthetic_pairs import make_pair

    size = 384 if quick else 1024
    pair = make_pair(out / "pair", seed=0, size=size, buildings=size // 10, changes=size // 40)
    change, one = _bundle(out / "change.dsmodel", "change", 2, preset), _bundle(out / "unet.dsmodel", "unet", 1, preset)
    runs = {"change": ["--model", change, "--image", pair.before, "--after", pair.after],
            "one_date": ["--model", one, "--image", pair.before]}
    figures: dict[str, Any] = {"size": size, "preset": preset}
    for name, args in runs.items():
        _segment([*args, "--out", str(out / f"{name}_warm.tif")])  # the ONNX export, made once and cached
    # interleaved rounds (a pair, then one date), so that a change of load falls on both sides alike
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(repeats):
        for name, args in runs.items():
            times[name].append(_segment([*args, "--out", str(out / f"{name}_{i}.tif")]))
    for name, seconds in times.items():
        figures[f"{name}_seconds"] = round(statistics.median(seconds), 3)
    figures["ratio"] = round(figures["change_seconds"] / figures["one_date_seconds"], 3)
    figures["round_ratios"] = [round(a / b, 3) for a, b in zip(times["change"], times["one_date"])]
    figures["target_ratio"] = 1.5
    graphs = {name: model_seconds(bundle) for name, bundle in (("change", change), ("one_date", one))}
    figures |= {f"{name}_model_cpu_seconds": round(v, 3) for name, v in graphs.items()}
    figures["model_ratio"] = round(graphs["change"] / graphs["one_date"], 3)
    split = date_graph_seconds(change)  # what the default backend runs: the encoder and head graphs
    figures |= {f"{name}_graphs_cpu_seconds": round(v, 3) for name, v in split.items()}
    figures["lone_pair_graphs_ratio"] = round(split["lone_pair"] / graphs["change"], 3)  # against the one graph
    figures["later_pair_graphs_ratio"] = round(split["later_pair"] / graphs["one_date"], 3)  # against one date
    # the encoder's share e of one date's graph: a pair encodes twice and decodes once, so its graph costs 1 + e
    figures["encoder_share"] = round(split["one_date_encoder"] / graphs["one_date"], 3)
    figures["graph_floor_ratio"] = round(1 + figures["encoder_share"], 3)
    figures["series"] = series(out, pair, change, one)
    return figures


BACKENDS = ("onnxruntime", "torch")  # the CPU's default first


def series(out: Path, pair: Any, change: str, one: str, later: int = 3) -> dict[str, Any]:
    """A monitoring series on each backend (both encode a shared first date once): the seconds of each pair of a
    bulk run pairing ``later`` dates with one first date (``--pair-by-date first``), against the seconds of each of
    those dates segmented alone by the one-date model in a bulk run on the same backend (the scenes' own seconds
    from each summary: the same accounting, the model loaded once apart). The exports are made before timing."""
    import shutil

    import rasterio

    from engine.cli.main import main
    from engine.export.onnx_cache import cached_date_graphs, cached_export

    folder = out / "series"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copyfile(pair.before, folder / "S2A_20190601T103031_site.tif")
    for year in range(2020, 2020 + later):  # each later date in its own light
        path = folder / f"S2A_{year}0601T103031_site.tif"
        shutil.copyfile(pair.after, path)
        with rasterio.open(path, "r+") as dst:
            dst.write((dst.read() * (0.9 + 0.1 * (year - 2020))).astype(dst.dtypes[0]))
    cached_date_graphs(change, None)  # a CPU run's exports: any tile size (found, else made now)
    cached_export(one, None)

    def bulk(name: str, args: list[str], backend: str) -> list[float]:
        target = out / f"{name}_{backend}"
        shutil.rmtree(target, ignore_errors=True)
        if main(["segment", *args, "--backend", backend, "--out-dir", str(target), "--quiet"]) != 0:
            raise RuntimeError(f"the bulk run {name} ({backend}) failed")
        scenes = json.loads((target / "summary.json").read_text(encoding="utf-8"))["scenes"]
        return [round(s["seconds"], 3) for s in sorted(scenes, key=lambda s: s["order"])]  # in the order run

    dates = [str(p) for p in sorted(folder.glob("S2A_202*.tif"))]
    firsts = folder.parent / "independent"  # pairs of their own: each later date with a first date of its own light
    shutil.rmtree(firsts, ignore_errors=True)
    firsts.mkdir()
    for i, date in enumerate(dates):
        shutil.copyfile(pair.before, firsts / Path(date).name)
        with rasterio.open(firsts / Path(date).name, "r+") as dst:
            dst.write((dst.read() * (1.1 - 0.1 * i)).astype(dst.dtypes[0]))
    figures: dict[str, Any] = {"later_dates": later}
    for backend in BACKENDS:
        bulk("warm", ["--model", one, "--images", dates[0]], backend)
        alone = bulk("one_date", ["--model", one, "--images", *dates], backend)
        pairs = bulk("pairs", ["--model", change, "--images", str(folder), "--pair-by-date", "first"], backend)
        mean = sum(alone) / len(alone)
        figures[backend] = {"one_date_seconds": alone, "pair_in_series_seconds": pairs,
                            "first_pair_ratio": round(pairs[0] / mean, 3),
                            "series_ratio": round(sum(pairs[1:]) / len(pairs[1:]) / mean, 3)}
        if backend == BACKENDS[0]:  # beside its one-date runs, before torch's threads have run in this process
            own = bulk("independent", ["--model", change, "--images", str(firsts / "*.tif"), "--after-pattern",
                                       str(folder / "{name}")], backend)
            figures["independent"] = {"pair_seconds": own, "ratio": round(sum(own) / sum(alone), 3)}
    return figures


def markdown(result: dict[str, Any]) -> str:
    s = result["speed"]
    lines = [f"Seconds per pair ({s['size']} px, CPU, default backend, preset {s.get('preset', 'light')}): change "
             f"model {s['change_seconds']} s, one "
             f"date of the same family {s['one_date_seconds']} s, ratio {s['ratio']} (target <= {s['target_ratio']}; "
             f"each round's {s.get('round_ratios')}). "
             f"The models alone (ONNX, 16 tiles of 256 px, CPU seconds on one thread): {s['change_model_cpu_seconds']}"
             f" s and {s['one_date_model_cpu_seconds']} s, ratio {s['model_ratio']}. The default backend's encoder and "
             f"head graphs on the same tiles: a lone pair {s['lone_pair_graphs_cpu_seconds']} s "
             f"({s['lone_pair_graphs_ratio']} times the one graph), a later pair of a series (its first date's maps "
             f"held) {s['later_pair_graphs_cpu_seconds']} s ({s['later_pair_graphs_ratio']} times one date's graph). "
             f"The encoder graph on one date's tiles: {s.get('one_date_encoder_graphs_cpu_seconds')} s, a share "
             f"{s.get('encoder_share')} of one date's graph: a pair's graph, which encodes twice and decodes once, "
             f"costs about {s.get('graph_floor_ratio')} times one date's."]
    m = s.get("series")
    for backend in BACKENDS if m else ():
        b = m[backend]
        lines.append(f"A monitoring series of {m['later_dates']} later dates against one first date (bulk, "
                     f"{backend} backend, which encodes the shared first date once): seconds per pair "
                     f"{b['pair_in_series_seconds']}, each date alone with the one-date model {b['one_date_seconds']}; "
                     f"the first pair (both dates encoded) {b['first_pair_ratio']} times one date, the later pairs "
                     f"{b['series_ratio']} times.")
    if m and m.get("independent"):
        lines.append(f"A bulk run of {m['later_dates']} pairs of their own (each first date in one pair, paired by "
                     f"name; {BACKENDS[0]}): seconds per pair {m['independent']['pair_seconds']}, "
                     f"{m['independent']['ratio']} times one date.")
    if result.get("realdata"):
        from bench.change_real import markdown as real_lines

        lines += real_lines(result["realdata"])
    return "\n".join(lines)


def run(ctx: Any) -> dict[str, Any]:
    """``make bench``'s section: the speed always, the real pairs when they are there and the run is not quick."""
    out = Path(ctx.output_dir) / "change"
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"speed": speed(out, ctx.quick)}
    from bench.change_real import LEVIR, realdata

    root = Path(ctx.realdata) if ctx.realdata else REALDATA
    if not ctx.quick and (root / LEVIR).is_dir():
        result["realdata"] = realdata(out, root, float(ctx.extra.get("change_budget", 15)))
    result["markdown"] = markdown(result)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--realdata", action="store_true", help="also train and score on the LEVIR-CD sample pairs")
    parser.add_argument("--budget", type=float, default=15.0, help="minutes of training per model (realdata)")
    parser.add_argument("--preset", default="light", choices=("tiny", "light", "base"),
                        help="the change model's and the one-date UNet's preset (default: light, the CPU's choice)")
    parser.add_argument("--out", default="bench_output/change")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"speed": speed(out, args.quick, preset=args.preset)}
    if args.realdata:
        from bench.change_real import realdata

        result["realdata"] = realdata(out, REALDATA, args.budget)
    (out / "change.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    (out / "change.md").write_text(markdown(result) + "\n", encoding="utf-8")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
