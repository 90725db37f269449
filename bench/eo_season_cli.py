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

Usage: ``python bench/eo_season_cli.py --data OUT --weights RELEASES --work DIR [--epochs N] [--tiles N]
[--arms presto,galileo_nano]`` (RELEASES: a folder holding ``presto_default_model.pt`` and ``galileo_nano/``);
writes ``eo_season_cli.json`` into ``--work`` after each run.
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

from bench.season_real import LULC, SEEDS, cli, date_files, folds, spread  # noqa: E402

RELEASES = {"presto": "presto_default_model.pt", "galileo_nano": "galileo_nano"}


def recipe(epochs: int, tiles: int) -> tuple[str, ...]:
    """The training settings of every arm: the same steps, no early stop."""
    return ("--model", "eoseries", "--preset", "light", "--tile-size", "32", "--tiles-per-epoch", str(tiles),
            "--batch-size", "8", "--lr", "2e-3", "--patience", "1000", "--warmup-epochs", "0", "--epochs", str(epochs))


def one_run(data: Path, work: Path, encoder: str, pretrained: str, seed: int, settings: tuple[str, ...]
            ) -> dict[str, Any]:
    """Train on the west half, segment the east half, evaluate there."""
    name, train_extent, test_extent = folds(data)[0]
    dates = [str(p) for p in date_files(data)]
    stem = work / f"{encoder}_{'random' if pretrained == 'none' else 'release'}_s{seed}"
    load = os.getloadavg()[0]
    started = time.perf_counter()
    cli("train", "--dates", *dates, "--label", str(data / "label.tif"), "--extent", *train_extent, "--encoder",
        encoder, "--pretrained", pretrained, "--class-names", *LULC.values(), *settings, "--seed", str(seed),
        "--out", f"{stem}.dsmodel", "--quiet")
    trained = time.perf_counter() - started
    cli("segment", "--model", f"{stem}.dsmodel", "--dates", *dates, "--extent", *test_extent, "--out", f"{stem}.tif",
        "--accept-one-class", "--quiet")
    metrics = cli("evaluate", "--pred", f"{stem}.tif", "--label", str(data / "label.tif"), "--json", "--quiet")
    return {"seed": seed, "miou": round(metrics["miou"], 4), "oa": round(metrics["pixel_accuracy"], 4),
            "train_seconds": round(trained, 1), "load": round(load, 1), "fold": name}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=160)
    parser.add_argument("--tiles", type=int, default=16, help="tiles per epoch (steps = epochs x tiles / 8)")
    parser.add_argument("--arms", default="presto,galileo_nano")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    settings = recipe(args.epochs, args.tiles)
    results: dict[str, Any] = {"recipe": " ".join(settings), "steps": args.epochs * args.tiles // 8}
    for encoder in args.arms.split(","):
        for arm, source in (("release", str(args.weights / RELEASES[encoder])), ("random", "none")):
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
