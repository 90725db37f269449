"""What unlabelled imagery adds: the documented training with and without learning from unlabelled pixels
(``--unlabelled``, ``--consistency on``: engine/training/consistency.py), on real data, several seeds, on the CPU.

- ``levir``: LEVIR-CD's sample pairs (``realdata/change_pairs/samples_LEVIR`` and ``samples_DSIFN``, the folders that
  github.com/wgcban/ChangeFormer publishes, MIT licence), laid out as the dataset is published (``train/``: 3 pairs,
  ``val/``: 1, ``test/``: 7, symbolic links in the output folder), trained with the documented command ``dualstream
  train --data LEVIR-CD`` and scored on the 7 test pairs (change precision, recall, F1, IoU over every pixel, as
  :func:`bench.change_real.scores`; beside it the same bundle run with no flips at 0.5, what training alone gave).
  The unlabelled arm adds ``--unlabelled`` (and ``--consistency on``): the 10 DSIFN-CD sample pairs (other
  cities, 256 px), whose labels it never reads; the transductive arm adds the 7 test pairs' images too (a user's
  imagery to be mapped is unlabelled imagery; their labels only score).
- ``massachusetts``: one Massachusetts buildings scene (1 m RGB, 626 x 865 px) trained with ``dualstream train
  --image --label`` and the automatic choices; its held-out validation strip's IoU (the bundle's best epoch) and
  the map's (``dualstream segment`` of the scene with the bundle, scored on that strip: what a user sees). The
  unlabelled arm is ``--consistency on``: the scene's own pixels as unlabelled tiles (no other 1 m imagery exists
  here).
- ``cloud``: the 38-Cloud Landsat-8 RGBN patch (``realdata/cloud38_sample``, 384 x 384 px at 30 m, 30.7 % cloud;
  ``--label-map 255=1``) with the automatic choices; its validation strip's cloud IoU. The unlabelled arm is
  ``--consistency on``: the patch's own pixels.
- ``terramesh``: the shared Sentinel-2 L2A land-cover tiles (``realdata/terramesh_s2_s1_dem``: S2L2A, 12 bands, and
  LULC, model-derived codes 1-9; 224 x 224 px at 10 m, each in its own UTM zone): four tiles train (a validation
  strip held out of each), scored by the mIoU of those strips; the unlabelled arm adds ``--consistency on`` and the
  fifth tile (``38D_378R_2_3``) as ``--unlabelled``, whose labels it never reads.

Each arm runs the same seeds under the same conditions, one process at a time; a time budget is shared with the
other processes of the machine, so the load (``uptime``) is printed with every run, and ``--epochs N`` (with
``--tiles-per-epoch``) compares at a fixed count of steps instead. ``--before DIR`` runs every arm a second time with
the engine of the checkout DIR (``git worktree add --detach DIR <commit>``: today's main), alternating with this
one, its arms named ``before <arm>``; every bundle is scored by this checkout's engine. Usage: ``python
bench/unlabelled.py levir massachusetts cloud terramesh [--seeds 0 1 2] [--budget 5] [--epochs N --tiles-per-epoch
T] [--arms supervised unlabelled] [--before DIR] [--config FILE] [--out DIR]``; ``--config`` gives every run a
training settings file (a candidate's choices screened against the defaults, e.g. ``data: {augment: {scale_range:
[0.25, 1.5]}}``); writes ``unlabelled.json`` and prints the tables (mean,
standard deviation over the seeds, the validation IoU per epoch, the seconds of an epoch's steps; LEVIR-CD: each test
pair's F1).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

REALDATA = Path(os.environ.get("DUALSTREAM_REALDATA") or REPO.parent / "shared" / "realdata")
MASSACHUSETTS = ("gdl_buildings_landcover/massachusetts_buildings_rgb/22978945_15_uint8_clipped2.tif",
                 "gdl_buildings_landcover/massachusetts_buildings_rgb/22978945_15_buildings_mask.tif")
CLOUD = ("cloud38_sample/patch_192_10_by_12_LC08_L1TP_002053_20160520_20170324_01_T1_RGBN.tif",
         "cloud38_sample/original/gt_patch_192_10_by_12_LC08_L1TP_002053_20160520_20170324_01_T1.TIF")
TERRAMESH = "terramesh_s2_s1_dem"
TERRAMESH_TRAIN = ("282D_485L_3_3", "433D_629L_3_1", "637U_59R_1_3", "609U_541L_3_0")
TERRAMESH_UNLABELLED = "38D_378R_2_3"
TERRAMESH_CLASSES = ("none", *(f"code{c}" for c in range(1, 10)))  # the LULC codes 0-9 as classes


def levir_layout(root: Path, out: Path, transductive: bool = False) -> tuple[Path, list[str]]:
    """LEVIR-CD's sample pairs as the dataset is published (train/, val/, test/; links), and the unlabelled inputs:
    the DSIFN-CD pairs' folder (and with ``transductive`` the test pairs' folder, whose labels it never reads).
    LEVIR's one sample without a label (test_113) is left out: its dates differ in size by a row, which training
    refuses by name for images without georeferencing."""
    samples = root / "change_pairs" / "samples_LEVIR"
    dataset = out / "LEVIR-CD"
    for label in sorted((samples / "label").glob("*.png")):
        split = label.name.split("_")[0]
        for folder in ("A", "B", "label"):
            target = dataset / split / folder / label.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.symlink_to(samples / folder / label.name)
    return dataset, [str(root / "change_pairs" / "samples_DSIFN")] + ([str(dataset / "test")] if transductive else [])


def _train(args: list[str], engine: Path = REPO) -> float:
    """Seconds of ``dualstream train ARGS`` with the engine of the checkout ``engine`` (a process of its own)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "engine", "train", *args, "--quiet"], cwd=engine,
                          env={**os.environ, "PYTHONPATH": str(engine)}, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"dualstream train {' '.join(args)} failed (engine {engine})")
    return time.perf_counter() - started


def _curve(metrics: Path) -> dict[str, Any]:
    rows = list(csv.DictReader(metrics.open()))
    return {"val_iou": [round(float(r["val_iou"]), 4) for r in rows],
            "step_seconds": [round(float(r["train_seconds"]), 1) for r in rows],
            "steps": [int(r["steps"]) for r in rows],
            "confident": [r.get("unlabelled_confident") or None for r in rows],
            "threshold": [r.get("val_threshold") or None for r in rows]}


def levir(root: Path, out: Path, seed: int, arm: str, schedule: list[str], engine: Path = REPO) -> dict[str, Any]:
    """One seed of one arm on LEVIR-CD: trained with ``--data``, scored on the test pairs (and each pair's F1)."""
    dataset, unlabelled = levir_layout(root, out, arm == "transductive")
    run = out / f"levir_{arm}_s{seed}".replace(" ", "_")
    # consistency given: its automatic choice is off, which would leave the unlabelled pairs unused
    extra = ["--unlabelled", *unlabelled, "--consistency", "on"] if not arm.endswith("supervised") else []
    seconds = _train(["--data", str(dataset), "--seed", str(seed), *schedule, *extra, "--out",
                      str(run / "levir.dsmodel")], engine)
    return levir_scores(run, dataset, seconds)


def levir_scores(run: Path, dataset: Path, seconds: float | None) -> dict[str, Any]:
    """The bundle ``run/levir.dsmodel`` on ``dataset``'s test pairs: change scores (its threshold and flips), each
    pair's F1, the F1 with no flips at 0.5, the training's seconds (None: not trained here) and curve."""
    from bench.change_real import predict, scores

    test = [tuple(str(dataset / "test" / d / p.name) for d in ("A", "B", "label"))
            for p in sorted((dataset / "test" / "label").glob("*.png"))]
    found = predict(run, str(run / "levir.dsmodel"), None, test)["change_model"]
    pairs = {Path(label).stem: scores([(prediction, label)])["f1"] for prediction, label in found}
    # the same bundle run as a bundle without a recorded TTA and threshold is (no flips, 0.5): what training gave
    plain = predict(run, str(run / "levir.dsmodel"), None, test, ("--tta", "none", "--threshold", "0.5"), "_plain")
    return {**scores(found), "pair_f1": pairs, "plain_f1": scores(plain["change_model"])["f1"],
            "train_seconds": None if seconds is None else round(seconds, 1), **_curve(run / "levir_metrics.csv")}


def _one_scene(dataset: str, name: str, paths: tuple[str, str], label_args: list[str], root: Path, out: Path,
               seed: int, arm: str, schedule: list[str], engine: Path) -> dict[str, Any]:
    """One seed of one arm on one labelled scene (``paths``: image and label under ``root``; the bundle ``name``):
    the bundle's best validation IoU."""
    run = out / f"{dataset}_{arm}_s{seed}".replace(" ", "_")
    extra = ["--consistency", "on"] if not arm.endswith("supervised") else []
    seconds = _train(["--image", str(root / paths[0]), "--label", str(root / paths[1]), *label_args, "--seed",
                      str(seed), *schedule, *extra, "--out", str(run / f"{name}.dsmodel")], engine)
    curve = _curve(run / f"{name}_metrics.csv")
    held = map_iou(run / f"{name}.dsmodel", root / paths[0], root / paths[1])
    return {"iou": max(curve["val_iou"]), "map_iou": held, "train_seconds": round(seconds, 1), **curve}


def map_iou(bundle: Path, image: Path, label: Path) -> float | None:
    """The map's foreground IoU where the bundle validated: ``dualstream segment`` of the whole scene (this
    checkout's engine, the bundle's recorded threshold and TTA) scored on the windows its training held out (the
    bundle's ``held_out``; None for a bundle without them). A label value other than 0 is foreground."""
    import rasterio

    from engine.bundle.store import read_metadata

    held = read_metadata(bundle).data.held_out
    if not held:
        return None
    out = bundle.with_name(bundle.stem + "_map.tif")
    subprocess.run([sys.executable, "-m", "engine", "segment", "--image", str(image), "--model", str(bundle), "--out",
                    str(out), "--quiet", "--overwrite"], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                   check=True, stdout=subprocess.DEVNULL)
    with rasterio.open(out) as found, rasterio.open(label) as truth:
        predicted, labelled = found.read(1) == 1, truth.read(1) != 0
    both = either = 0
    for window in held:
        col, row, width, height = window["window"]
        p, t = predicted[row:row + height, col:col + width], labelled[row:row + height, col:col + width]
        both, either = both + int((p & t).sum()), either + int((p | t).sum())
    return round(both / either, 4) if either else None


def massachusetts(root: Path, out: Path, seed: int, arm: str, schedule: list[str],
                  engine: Path = REPO) -> dict[str, Any]:
    """One seed of one arm on the Massachusetts scene: the bundle's best validation IoU."""
    return _one_scene("massachusetts", "mass", MASSACHUSETTS, ["--class-names", "background", "building"], root,
                      out, seed, arm, schedule, engine)


def cloud(root: Path, out: Path, seed: int, arm: str, schedule: list[str], engine: Path = REPO) -> dict[str, Any]:
    """One seed of one arm on the 38-Cloud patch: the bundle's best validation cloud IoU."""
    return _one_scene("cloud", "cloud", CLOUD, ["--label-map", "255=1", "--class-names", "clear", "cloud"], root,
                      out, seed, arm, schedule, engine)


def terramesh(root: Path, out: Path, seed: int, arm: str, schedule: list[str], engine: Path = REPO) -> dict[str, Any]:
    """One seed of one arm on the TerraMesh Sentinel-2 tiles: the bundle's best validation mIoU."""
    run = out / f"terramesh_{arm}_s{seed}".replace(" ", "_")
    folder = root / TERRAMESH
    scenes = [a for tile in TERRAMESH_TRAIN for a in ("--image", str(folder / "S2L2A" / f"{tile}.tif"),
                                                       "--label", str(folder / "LULC" / f"{tile}.tif"))]
    extra = (["--consistency", "on", "--unlabelled", str(folder / "S2L2A" / f"{TERRAMESH_UNLABELLED}.tif")]
             if not arm.endswith("supervised") else [])
    seconds = _train([*scenes, "--class-names", *TERRAMESH_CLASSES, "--seed", str(seed), *schedule, *extra,
                      "--out", str(run / "terramesh.dsmodel")], engine)
    curve = _curve(run / "terramesh_metrics.csv")
    return {"iou": max(curve["val_iou"]), "train_seconds": round(seconds, 1), **curve}


RUNS = {"levir": levir, "massachusetts": massachusetts, "cloud": cloud, "terramesh": terramesh}


def summary(runs: list[dict[str, Any]], key: str) -> str:
    values = [r[key] for r in runs]
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {spread:.3f}"


def table(results: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    lines = []
    for dataset, arms in results.items():
        key = "f1" if dataset == "levir" else "iou"
        what = "change F1 on the 7 test pairs" if key == "f1" else \
            "validation IoU (the map: segment's output scored on the windows held out to validate)"
        lines += ["", f"{dataset}: {what}", "",
                  f"| arm | {key} (mean ± sd) | per seed | epochs | s per epoch's steps | val IoU per epoch (seed 0) |",
                  "|---|---|---|---|---|---|"]
        for arm, runs in arms.items():
            per_epoch = statistics.mean(s for r in runs for s in r["step_seconds"])
            plain = f" (no flips, 0.5: {summary(runs, 'plain_f1')})" if all("plain_f1" in r for r in runs) else ""
            if all(r.get("map_iou") is not None for r in runs):  # the map beside the validation's best epoch
                maps = ", ".join(f"{r['map_iou']:.3f}" for r in runs)
                plain = f" (map: {summary(runs, 'map_iou')}; {maps})"
            lines.append(f"| {arm} | {summary(runs, key)}{plain} | {', '.join(f'{r[key]:.3f}' for r in runs)} | "
                         f"{', '.join(str(len(r['val_iou'])) for r in runs)} | {per_epoch:.1f} | "
                         f"{' '.join(f'{v:.2f}' for v in runs[0]['val_iou'])} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", choices=tuple(RUNS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--arms", nargs="+", default=["supervised", "unlabelled"],
                        choices=("supervised", "unlabelled", "transductive"))
    parser.add_argument("--budget", type=float, help="minutes (default: the automatic 5 on the CPU)")
    parser.add_argument("--epochs", type=int, help="a fixed epoch count instead of the time budget")
    parser.add_argument("--tiles-per-epoch", type=int, help="with --epochs: the tiles of an epoch (default: automatic)")
    parser.add_argument("--before", type=Path, help="a checkout whose engine runs each arm too (today's main)")
    parser.add_argument("--config", type=Path, help="a training settings file (YAML/JSON) every run takes")
    parser.add_argument("--out", type=Path, default=Path("bench_unlabelled"))
    args = parser.parse_args(argv)
    schedule = (["--epochs", str(args.epochs), "--patience", "0"] if args.epochs else
                ["--time-budget", str(args.budget)] if args.budget else [])
    if args.epochs and args.tiles_per_epoch:
        schedule += ["--tiles-per-epoch", str(args.tiles_per_epoch)]
    if args.config:
        schedule += ["--config", str(args.config.resolve())]
    engines = [("", REPO)] + ([("before ", args.before.resolve())] if args.before else [])
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for dataset in args.datasets:
        run = RUNS[dataset]
        for seed in args.seeds:
            for arm, (which, engine) in [(a, e) for a in args.arms for e in engines]:  # alternating: a change
                load = os.getloadavg()[0]  # of the machine's load falls on every arm
                result = run(REALDATA, args.out, seed, which + arm, schedule, engine) | {"seed": seed,
                                                                                        "load": round(load, 2)}
                results.setdefault(dataset, {}).setdefault(which + arm, []).append(result)
                print(json.dumps({"dataset": dataset, "arm": which + arm, **result}), flush=True)
    (args.out / "unlabelled.json").write_text(json.dumps(results, indent=1))
    print("\n".join(table(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
