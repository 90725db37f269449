"""Presto and Galileo nano as the encoders of a season model users train (``train --dates ... --encoder presto``, the
eoseries family), release weights against the same networks from random weights, on the real Ljubljana NDVI season
that ``bench/season_real.py prepare`` writes (eo-learn's TestEOPatch, MIT; data kept out of the repository).

Every arm runs through the command line as a user would: ``train --dates`` (all 36 dated GeoTIFFs with their cloud
masks beside them; the engine drops the 9 entirely cloudy) over the west half (``--extent``), ``segment --dates`` of
the east half (segment's default backend), ``evaluate`` there. The same optimisation steps for every arm (``RECIPE``:
``--epochs`` x ``--tiles-per-epoch`` / ``--batch-size`` steps, no early stop); the encoder frozen and its features
cached (the family's automatic choice); 3 seeds per arm (the head's initialisation and the tiles; a random encoder's
weights too). Reported: mIoU and overall accuracy on the east half, mean (min-max), and each run's training seconds
with the machine's load average when it started.

``--inputs`` measures the same family on other inputs of the same data (``bench/season_real.py``'s helpers): the
season (every date), ``best_date`` (clear dates, ``--search`` of them spread over the year, each trained once with the
first seed; the best by the training half's validation, then the other seeds; the oracle, by the east half, beside
it) and ``composite`` (the per-pixel median of the clear observations, one raster); ``--no-random`` skips the
random-weight arm.

Usage: ``python bench/eo_season_cli.py --data OUT --weights RELEASES --work DIR [--epochs N] [--tiles N]
[--arms presto,galileo_nano] [--inputs season best_date composite] [--search N] [--no-random | --random-only]
[--seeds S ...] [--blocks PX]``
(RELEASES: a folder holding ``presto_default_model.pt`` and ``galileo_nano/``); writes ``eo_season_cli.json`` into
``--work`` after each run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.season_real import (  # noqa: E402
    BLOCKS,
    SEEDS,
    class_names,
    clear_dates,
    cli,
    composite,
    date_files,
    split,
    spread,
)

RELEASES = {"presto": "presto_default_model.pt", "galileo_nano": "galileo_nano"}


def recipe(epochs: int, tiles: int) -> tuple[str, ...]:
    """The training settings of every arm: the same steps, no early stop."""
    return ("--model", "eoseries", "--preset", "light", "--tile-size", "32", "--tiles-per-epoch", str(tiles),
            "--batch-size", "8", "--lr", "2e-3", "--patience", "1000", "--warmup-epochs", "0", "--epochs", str(epochs))


def one_run(data: Path, work: Path, encoder: str, pretrained: str, seed: int, settings: tuple[str, ...],
            given: list[Path] | None = None, tag: str = "") -> dict[str, Any]:
    """Train on ``given`` (every date by default) over the west half, segment the east half, evaluate there (with
    ``--blocks``: the checkerboard's first fold, ``season_real.split``)."""
    name, train, val, test, truth = split(data, work, 0)
    dates = [str(p) for p in (given or date_files(data))]
    if val is not None:
        train = [*train, "--val-dates", *dates, "--val-label", str(val)]
    stem = work / f"{encoder}_{'random' if pretrained == 'none' else 'release'}{tag}_s{seed}"
    load = os.getloadavg()[0]
    started = time.perf_counter()
    result = cli("train", "--dates", *dates, *train,
                 "--encoder", encoder, "--pretrained", pretrained, "--class-names", *class_names(data), *settings,
                 "--seed", str(seed), "--out", f"{stem}.dsmodel", "--quiet", "--json")
    trained = time.perf_counter() - started
    best = result.get("best_metrics", {})
    cli("segment", "--model", f"{stem}.dsmodel", "--dates", *dates, *test, "--out", f"{stem}.tif",
        "--accept-one-class", "--quiet")
    metrics = cli("evaluate", "--pred", f"{stem}.tif", "--label", str(truth), "--json", "--quiet")
    return {"seed": seed, "miou": round(metrics["miou"], 4), "oa": round(metrics["pixel_accuracy"], 4),
            "val_miou": round(float(best.get("val_miou", 0.0)), 4), "train_seconds": round(trained, 1),
            "load": round(load, 1), "fold": name}


def other_inputs(data: Path, work: Path, encoder: str, pretrained: str, settings: tuple[str, ...], wanted: list[str],
                 search: int, keep: Any) -> None:
    """The best single date (picked by the training half's validation with the first seed; the oracle beside it)
    and the median composite, with the same family and recipe; each result handed to ``keep(key, value)``."""
    dates = date_files(data)
    if "composite" in wanted:
        median = composite(data, work, dates)
        runs = []
        for seed in SEEDS:
            runs.append(one_run(data, work, encoder, pretrained, seed, settings, [median], "_composite"))
            keep("composite", runs)
    if "best_date" not in wanted:
        return
    clear = clear_dates(dates)
    if len(clear) > search:  # evenly spread over the year, as bench/season_real.py picks them
        clear = [clear[round(i * (len(clear) - 1) / (search - 1))] for i in range(search)]
    tried = {p: one_run(data, work, encoder, pretrained, SEEDS[0], settings, [p], f"_{p.stem}") for p in clear}
    keep("single_date_search", {p.stem: {"val_miou": r["val_miou"], "miou": r["miou"]} for p, r in tried.items()})
    done: dict[Path, list[dict[str, Any]]] = {}
    for key, by in (("best_date", "val_miou"), ("oracle_date", "miou")):  # the training half's pick; the east half's
        pick = max(tried, key=lambda p, by=by: tried[p][by])
        if pick not in done:
            done[pick] = [tried[pick]]
            for seed in SEEDS[1:]:
                done[pick].append(one_run(data, work, encoder, pretrained, seed, settings, [pick], f"_{pick.stem}"))
                keep(key, done[pick])
        keep(f"{key}_file", pick.name)
        keep(key, done[pick])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=160)
    parser.add_argument("--tiles", type=int, default=16, help="tiles per epoch (steps = epochs x tiles / 8)")
    parser.add_argument("--arms", default="presto,galileo_nano")
    parser.add_argument("--inputs", nargs="+", default=["season"], choices=["season", "best_date", "composite"])
    parser.add_argument("--search", type=int, default=5, help="clear dates tried for the best single date")
    parser.add_argument("--no-random", action="store_true", help="the release weights only")
    parser.add_argument("--random-only", action="store_true", help="the random-weight arm only")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="the first picks the best date")
    parser.add_argument("--blocks", type=int, default=None, metavar="PX",
                        help="a checkerboard of PX px squares instead of the west and east halves (season_real.py)")
    args = parser.parse_args(argv)
    SEEDS[:] = args.seeds
    BLOCKS[:] = [args.blocks] if args.blocks else []
    args.work.mkdir(parents=True, exist_ok=True)
    settings = recipe(args.epochs, args.tiles)
    results: dict[str, Any] = {"recipe": " ".join(settings), "steps": args.epochs * args.tiles // 8}

    def keep(key: str, value: Any) -> None:
        results[key] = value
        print(f"{key}: {value}", flush=True)
        (args.work / "eo_season_cli.json").write_text(json.dumps(results, indent=1))

    for encoder in args.arms.split(","):
        arms = (("release", str(args.weights / RELEASES[encoder])), ("random", "none"))
        for arm, source in arms[:1] if args.no_random else arms[1:] if args.random_only else arms:
            other_inputs(args.data, args.work, encoder, source, settings, args.inputs, args.search,
                         lambda key, value, arm=arm, encoder=encoder: keep(f"{encoder} {arm} {key}", value))
            for key in ("best_date", "oracle_date", "composite"):
                if f"{encoder} {arm} {key}" in results:
                    runs = results[f"{encoder} {arm} {key}"]
                    print(f"{encoder} {arm} {key} {results.get(f'{encoder} {arm} {key}_file', '')}: mIoU "
                          f"{spread(runs, 'miou')}, OA {spread(runs, 'oa')}", flush=True)
            if "season" not in args.inputs:
                continue
            runs = []
            for seed in SEEDS:
                runs.append(one_run(args.data, args.work, encoder, source, seed, settings))
                results[f"{encoder} {arm}"] = runs
                (args.work / "eo_season_cli.json").write_text(json.dumps(results, indent=1))
                print(f"{encoder} {arm} seed {seed}: {runs[-1]}", flush=True)
            print(f"{encoder} {arm}: mIoU {spread(runs, 'miou')}, OA {spread(runs, 'oa')}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
