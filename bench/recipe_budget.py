"""The training recipe at the default CPU budget, before and after: test IoU per real dataset and seed.

Each case is a real dataset of the shared real data (``DUALSTREAM_REALDATA`` or ``/work/shared/realdata``) cut into a
training part and a test part that training never sees (VRTs of the same files); a run trains as a user does, giving
only the data, the classes and, where the case says so, the time budget (every other setting the automatic choice,
the dialog's and the command line's), then segments the test part with the bundle and scores it against its labels:
the foreground IoU of a binary case, the mean IoU over the classes in the test labels of a multi-class one.

- ``massachusetts``: 1 m aerial RGB, buildings (every one labelled): rows 0-599 train, 600-864 test;
- ``atlanta``: SpaceNet 4, 0.5 m RGB (its constant band 4 left out), buildings: rows 0-371 train, 372-495 test;
- ``cloud38``: Landsat 8 R, G, B, NIR digital numbers, no georeferencing, clouds: columns 0-255 train, 256-383 test;
- ``new_brunswick``: 0.5 m RGB, land cover (forest, water, road, building, railway; 0 unlabelled): crop 1 train,
  crop 2 test;
- ``terramesh``: Sentinel-2 L2A 12 bands, land cover (8 model-derived classes) over five tiles on four continents
  (re-placed side by side in one CRS, as ``bench/label_efficiency_s2.py`` does): columns 0-159 of each train, 160-223
  test;
- ``first_round``: the labelling loop's first round (issue 61 item 6): ``massachusetts`` with four labelled 96 px
  squares (6.8 % of the scene; ``bench/partial_labels.py``'s squares) as the labelled area, 2-minute budget.

Arms: ``new`` (this checkout), ``old`` (the checkout given by ``--old DIR``, e.g. ``git worktree add /tmp/old
<commit>``: its own code and defaults), and any ``--arm NAME=JSON`` (this checkout with the settings of JSON given as
a user gives them, e.g. ``fp32='{"train": {"amp": "off"}}'``). Every run is a fresh process of its arm's checkout.

Results: one JSON line per (case, arm, seed) in ``<out>/recipe_runs.jsonl``, written as each run ends; a run that
is there already is skipped, so an interrupted study goes on where it stopped (``--fresh`` starts over). The table
(mean, standard deviation, min-max over the seeds) goes to ``<out>/recipe_budget.md``.

Usage: ``python bench/recipe_budget.py --old /tmp/old [--cases ...] [--arms old new] [--seeds 0 1 2] [--out DIR]``.
Each run takes its budget (5 minutes by default on a CPU, 2 for ``first_round``) and about half a minute more:
all six cases, two arms, three seeds about 3.5 hours on a quiet 2-core machine. ``--check``: one short case (a
30-second budget on ``cloud38``, seed 0, arm ``new``) to see that everything runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TITLE = "The training recipe at the default CPU budget: test IoU before and after (real data, seeds)"
GDL = "gdl_buildings_landcover"


@dataclass
class Case:
    """A dataset cut into training and test parts (pixel windows ``[col, row, width, height]`` of its files)."""

    name: str
    image: str  # relative to the real data folder
    label: str
    classes: list[str]
    mapping: dict[str, int]
    train_window: list[int] | None  # None: the whole file
    test_window: list[int] | None
    test_image: str | None = None  # another file for the test part (default: the image)
    test_label: str | None = None
    bands: list[int] | None = None
    budget: float | None = None  # minutes; None: the automatic choice
    squares: int = 0  # > 0: a labelled area of this many 96 px squares (the labelling loop's first round)
    extra: dict[str, Any] = field(default_factory=dict)


MASS = f"{GDL}/massachusetts_buildings_rgb"
ATL = f"{GDL}/spacenet4_atlanta_rgb"
NB = f"{GDL}/new_brunswick_aerial_rgb"
CLOUD = "cloud38_sample"
CASES = {
    "massachusetts": Case("massachusetts", f"{MASS}/22978945_15_uint8_clipped2.tif",
                          f"{MASS}/22978945_15_buildings_mask.tif", ["background", "building"], {"1": 1},
                          [0, 0, 626, 600], [0, 600, 626, 265]),
    "atlanta": Case("atlanta", f"{ATL}/SN4_buildings_train_AOI_6_Atlanta_nadir10_catid_1030010003993E00_PS-RGBNIR_"
                               f"732701_3729639_clipped.tif", f"{ATL}/atlanta_buildings_mask.tif",
                    ["background", "building"], {"1": 1}, [0, 0, 508, 372], [0, 372, 508, 124], bands=[1, 2, 3]),
    "cloud38": Case("cloud38", f"{CLOUD}/patch_192_10_by_12_LC08_L1TP_002053_20160520_20170324_01_T1_RGBN.tif",
                    f"{CLOUD}/original/gt_patch_192_10_by_12_LC08_L1TP_002053_20160520_20170324_01_T1.TIF",
                    ["clear", "cloud"], {"255": 1}, [0, 0, 256, 384], [256, 0, 128, 384]),
    "new_brunswick": Case("new_brunswick", f"{NB}/23322E759967N_clipped_1m_1of2.tif",
                          f"{NB}/23322E759967N_1of2_landcover_mask.tif",
                          ["forest", "water", "road", "building", "railway"],
                          {"0": 255, "1": 0, "2": 1, "3": 2, "4": 3, "5": 4}, None, None,
                          test_image=f"{NB}/23322E759967N_clipped_1m_2of2.tif",
                          test_label=f"{NB}/23322E759967N_2of2_landcover_mask.tif"),
    "terramesh": Case("terramesh", "terramesh_s2_s1_dem", "terramesh_s2_s1_dem", [], {}, None, None),
    "first_round": Case("first_round", f"{MASS}/22978945_15_uint8_clipped2.tif",
                        f"{MASS}/22978945_15_buildings_mask.tif", ["background", "building"], {"1": 1},
                        [0, 0, 626, 600], [0, 600, 626, 265], budget=2.0, squares=4),
}


# ------------------------------------------------------------------------------------------ the parts of a case
def _vrt(src: Path, dst: Path, window: list[int] | None) -> str:
    from osgeo import gdal

    gdal.UseExceptions()
    options = {"format": "VRT"}
    if window is not None:
        options["srcWin"] = window
    gdal.Translate(str(dst), str(src), **options)
    return str(dst)


def prepare(case: Case, realdata: Path, folder: Path) -> dict[str, Any]:
    """The case's training scenes and test parts as files in ``folder`` (made once, kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    if case.name == "terramesh":
        return _prepare_terramesh(realdata, folder)
    image, label = realdata / case.image, realdata / case.label
    scene: dict[str, Any] = {"image": _vrt(image, folder / "train_image.vrt", case.train_window),
                             "label": _vrt(label, folder / "train_label.vrt", case.train_window)}
    test = {"image": _vrt(realdata / (case.test_image or case.image), folder / "test_image.vrt", case.test_window),
            "label": _vrt(realdata / (case.test_label or case.label), folder / "test_label.vrt", case.test_window)}
    if case.squares:
        import rasterio

        sys.path.insert(0, str(REPO))
        from bench.partial_labels import squares, write_layers

        with rasterio.open(label) as ds:
            mask = ds.read(1)
        area, polygons = write_layers(folder, label.parent, squares(mask, case.squares, 96), 96)
        scene.update(label=polygons, aoi=area)
    return {"train": [scene], "test": [test]}


def _prepare_terramesh(realdata: Path, folder: Path) -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    from bench.label_efficiency_s2 import CLASSES, MAPPING
    from bench.label_efficiency_s2 import prepare as place

    parts = place(realdata, folder)
    CASES["terramesh"].classes, CASES["terramesh"].mapping = list(CLASSES), dict(MAPPING)
    return {"train": [{"image": p["pool_image"], "label": p["pool_label"]} for p in parts],
            "test": [{"image": p["val_image"], "label": p["val_label"]} for p in parts]}


# ------------------------------------------------------------------------------------------ one run (a worker)
def worker(job: dict[str, Any]) -> dict[str, Any]:
    """Train as a user does on the case's training scenes, segment its test parts, score them."""
    from engine.api import train, train_request
    from engine.callbacks import Callback

    said: list[str] = []

    class Record(Callback):
        def info(self, message: str) -> None:
            said.append(message)

        def warning(self, message: str) -> None:
            said.append("WARNING " + message)

    case = job["case"]
    data: dict[str, Any] = {"train_scenes": job["parts"]["train"], "class_names": case["classes"],
                            "label_mapping": case["mapping"]}
    if case["bands"]:
        data["bands"] = case["bands"]
    sections: dict[str, dict[str, Any]] = {"data": data, "train": {"output": job["output"], "seed": job["seed"]}}
    if case["budget"]:
        sections["train"]["time_budget"] = case["budget"]
    for section, values in job["settings"].items():
        sections.setdefault(section, {}).update(values)
    given = {f"{s}.{k}" for s, values in sections.items() for k in values}
    start = time.perf_counter()
    run = train(train_request(sections, given), Record())
    seconds = time.perf_counter() - start
    scores = score(job["output"], job["parts"]["test"], case, Path(job["output"]).parent)
    best = run.result.best_metrics
    return {"test": scores, "val_iou": best.get("val_iou"), "best_epoch": run.result.best_epoch,
            "epochs_run": run.result.epochs_run, "seconds": round(seconds, 1),
            "said": [line for line in said if not line.startswith("Report preview")]}


def score(bundle: str, tests: list[dict[str, str]], case: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Per-class IoU over every test part, its foreground (binary) or mean over the classes present (multi-class)."""
    import rasterio

    from engine.api import segment
    from engine.callbacks import QuietCallback
    from engine.config import SegmentConfig

    classes = len(case["classes"])
    inter, union, present = np.zeros(classes), np.zeros(classes), np.zeros(classes, bool)
    for i, part in enumerate(tests):
        out = folder / f"test_{i}.tif"
        segment(SegmentConfig(image=part["image"], models=[bundle], output=str(out), device="cpu"), QuietCallback())
        with rasterio.open(out) as ds:
            predicted = ds.read(1)
        with rasterio.open(part["label"]) as ds:
            raw = ds.read(1)
        truth = np.full(raw.shape, 255, np.uint8) if case["mapping"] else raw.astype(np.uint8)
        for value, klass in case["mapping"].items():
            truth[raw == int(value)] = klass
        if case["mapping"] and "0" not in case["mapping"]:
            truth[raw == 0] = 0
        known = truth != 255
        for k in range(classes):
            t, p = (truth == k) & known, (predicted == k) & known
            inter[k] += (t & p).sum()
            union[k] += (t | p).sum()
            present[k] |= bool(t.any())
    iou = [float(inter[k] / union[k]) if union[k] else None for k in range(classes)]
    mean = float(np.mean([iou[k] for k in range(classes) if present[k]]))
    return {"class_iou": iou, "iou": iou[1] if classes == 2 else mean, "miou_present": mean}


# ------------------------------------------------------------------------------------------ the study
def run_one(case: Case, arm: str, seed: int, checkout: Path, settings: dict[str, Any], parts: dict[str, Any],
            out: Path) -> dict[str, Any]:
    folder = out / "runs" / f"{case.name}_{arm}_{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    output = folder / "model.dsmodel"
    for old in folder.glob("model*"):
        old.unlink()
    job = {"case": asdict(case), "seed": seed, "settings": settings, "parts": parts, "output": str(output)}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(checkout), os.environ.get("PYTHONPATH")])))
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[2]); "
            "from recipe_budget import worker; print('RESULT ' + json.dumps(worker(json.loads(sys.argv[3]))))")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, str(checkout), str(Path(__file__).parent), json.dumps(job)],
                          capture_output=True, text=True, env=env, cwd=str(checkout))
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
            break
    else:
        raise RuntimeError(f"{case.name} {arm} seed {seed} failed:\n{done.stderr[-3000:]}")
    commit = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    return {"case": case.name, "arm": arm, "seed": seed, "checkout": str(checkout), "commit": commit,
            "settings": settings, "wall_seconds": round(time.perf_counter() - started, 1),
            "load": os.getloadavg()[0], **result}


def read_runs(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def table(runs: list[dict[str, Any]]) -> str:
    lines = ["| case | arm | test IoU mean | std | min-max | seeds | val IoU mean | epochs (mean) | s per run |",
             "|---|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["case"], r["arm"]) for r in runs}, key=lambda k: (list(CASES).index(k[0])
                                                                         if k[0] in CASES else 99, k[1]))
    for case, arm in keys:
        mine = [r for r in runs if r["case"] == case and r["arm"] == arm]
        ious = [r["test"]["iou"] for r in mine]
        vals = [r["val_iou"] for r in mine if r.get("val_iou") is not None]
        std = statistics.stdev(ious) if len(ious) > 1 else 0.0
        lines.append(f"| {case} | {arm} | {statistics.mean(ious):.3f} | {std:.3f} | {min(ious):.3f}-{max(ious):.3f} "
                     f"| {len(ious)} | {statistics.mean(vals) if vals else float('nan'):.3f} | "
                     f"{statistics.mean(r['epochs_run'] for r in mine):.1f} | "
                     f"{statistics.mean(r['wall_seconds'] for r in mine):.0f} |")
    return "\n".join(lines)


def parse_arms(names: list[str], extra: list[str], old: Path | None) -> dict[str, tuple[Path, dict[str, Any]]]:
    arms: dict[str, tuple[Path, dict[str, Any]]] = {}
    for item in extra:
        name, _, settings = item.partition("=")
        arms[name] = (REPO, json.loads(settings))
    for name in names:
        if name == "old":
            if old is None:
                raise SystemExit("the arm 'old' needs --old DIR (a checkout of the old commit: git worktree add DIR "
                                 "<commit>)")
            arms["old"] = (old.resolve(), {})
        elif name == "new":
            arms["new"] = (REPO, {})
        elif name not in arms:
            raise SystemExit(f"unknown arm {name!r}: old, new, or one given with --arm NAME=JSON")
    return {name: arms[name] for name in names}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=Path(os.environ.get("DUALSTREAM_REALDATA",
                                                                             "/work/shared/realdata")))
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--arms", nargs="+", default=["old", "new"])
    parser.add_argument("--arm", action="append", default=[], metavar="NAME=JSON",
                        help="an arm of this checkout with these settings given, e.g. fp32='{\"train\": {\"amp\": "
                             "\"off\"}}'")
    parser.add_argument("--old", type=Path, default=None, help="checkout of the old commit (arm 'old')")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", type=float, default=None, help="minutes for every case (default: each case's)")
    parser.add_argument("--out", type=Path, default=REPO / "bench_output" / "recipe")
    parser.add_argument("--fresh", action="store_true", help="forget the runs recorded in --out")
    parser.add_argument("--check", action="store_true", help="one short run: cloud38, 0.5 min, seed 0, arm new")
    args = parser.parse_args(argv)
    if args.check:
        args.cases, args.arms, args.seeds, args.budget = ["cloud38"], ["new"], [0], 0.5
        args.out = args.out / "check"
    args.out = args.out.resolve()  # each arm runs in its own checkout's folder: a relative path would move
    arms = parse_arms(args.arms, args.arm, args.old)
    args.out.mkdir(parents=True, exist_ok=True)
    record = args.out / "recipe_runs.jsonl"
    if args.fresh and record.exists():
        record.unlink()
    done = {(r["case"], r["arm"], r["seed"]) for r in read_runs(record)}
    began = time.perf_counter()
    for name in args.cases:
        case = CASES[name]
        if args.budget is not None:
            case.budget = args.budget
        parts = prepare(case, args.realdata, args.out / "data" / name)
        for seed in args.seeds:
            for arm, (checkout, settings) in arms.items():  # arms side by side per seed: load drift shared
                if (name, arm, seed) in done:
                    continue
                result = run_one(case, arm, seed, checkout, settings, parts, args.out)
                with record.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(result) + "\n")
                print(f"[recipe] {name} {arm} seed {seed}: test IoU {result['test']['iou']:.3f}, val IoU "
                      f"{result['val_iou']}, {result['epochs_run']} epochs, {result['wall_seconds']} s", flush=True)
    runs = [r for r in read_runs(record) if r["case"] in args.cases and r["arm"] in arms]
    text = table(runs)
    (args.out / "recipe_budget.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"[recipe] {round(time.perf_counter() - began)} s; runs in {record}")


if __name__ == "__main__":
    main()
