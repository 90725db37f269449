"""Every model family trained and compared side by side, plus cross-family ensembles (results in docs/benchmarks.md).

For each data set, each family is trained from the engine CLI (``python -m engine train --model F ...``) with
the same epochs, tiles and seed, the held-out test part is segmented and evaluated (foreground IoU of the class
raster), and the ensembles are segmented with ``segment --model A --model B --weights ... --threshold ...``.
With ``--qgis-process`` every family is also trained and segmented once through ``qgis_process`` on the demo
data (``dualstream:train`` with MODEL_FAMILY, then ``dualstream:segment``).

Data sets:
- ``demo``: the ``make demo`` sample (synthetic 4-band uint16 imagery + 48-band aux grid in EPSG:4326; scene A
  trains, scene B tests). The families that read a second stream (``FamilyCard.kinds``: DualStream, CMX)
  use the aux grid; the others the imagery only.
- ``cloud``: the 38-Cloud Landsat-8 RGBN patch (``realdata/cloud38_sample``); rows 0-255 train, 256-383 test.
  The second-stream families read R,G,B as vision and NIR as X (``--bands 1,2,3 --x-bands 4``); the others all 4
  bands.
- ``buildings``: Massachusetts buildings, 1 m aerial RGB (``realdata/gdl_buildings_landcover``); the top 2/3
  train, the bottom 1/3 tests; the families built for imagery (``IMAGERY`` in their card's kinds).

Usage: ``python bench/families.py [--device cpu|cuda] [--epochs 4] [--preset tiny|default] [--datasets demo cloud
buildings] [--qgis-process] [--out bench_output/families]`` writes ``families.json`` and ``families.md`` there.
On a GPU: ``python bench/families.py --device cuda --preset default --epochs 30 --tile-size 256
--tiles-per-epoch 400``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import child_env  # noqa: E402
from engine.models import AutoModelConfig, list_models  # noqa: E402 - after the repository is on sys.path
from engine.models.configuration_utils import IMAGERY  # noqa: E402

REALDATA = Path(os.environ.get("DUALSTREAM_REALDATA") or REPO.parent / "shared" / "realdata")  # as tests/realdata
CLOUD = "cloud38_sample"
CLOUD_STEM = "patch_192_10_by_12_LC08_L1TP_002053_20160520_20170324_01_T1"
MASS = "gdl_buildings_landcover/massachusetts_buildings_rgb"
# the families of one date (a change family's pairs are benchmarked in bench/change.py)
FAMILIES = tuple(f for f in list_models() if not AutoModelConfig.config_class(f).CARD.takes_dates)


def second_stream(family: str) -> bool:
    """Whether the family reads aux rasters or X bands as a stream of its own (its card says)."""
    return AutoModelConfig.config_class(family).CARD.second_stream


@dataclass
class DataSet:
    """A train scene, a test scene and how each family reads them."""

    name: str
    train: dict[str, Any]
    test: dict[str, Any]
    label_map: str
    families: tuple[str, ...]
    flags: dict[str, list[str]] = field(default_factory=dict)  # family -> extra train flags
    ensembles: list[dict[str, Any]] = field(default_factory=list)  # {"members", "weights", "threshold"}
    note: str = ""


def _crop(src_path: Path, out: Path, rows: slice) -> str:
    """Rows ``rows`` of a raster as a new GeoTIFF (same georeferencing, shifted; none stays none)."""
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(src_path) as src:
        start, stop = rows.start or 0, rows.stop or src.height
        window = Window(0, start, src.width, stop - start)
        data = src.read(window=window)
        profile = dict(src.profile, height=data.shape[1], width=data.shape[2])
        if src.transform is not None and not src.transform.is_identity:
            profile["transform"] = src.window_transform(window)
        profile.pop("blockxsize", None), profile.pop("blockysize", None)
        profile["tiled"] = False
    out.parent.mkdir(parents=True, exist_ok=True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no georeferencing in the 38-Cloud patch: said by the engine already
        with rasterio.open(out, "w", **profile) as dst:
            dst.write(data)
    return str(out)


def demo_set(folder: Path) -> DataSet:
    from engine.data.synthetic import make_sample

    scenes = make_sample(folder / "demo")
    return DataSet("demo", scenes["train"], scenes["test"], "90=1", FAMILIES,
                   ensembles=[{"members": ["dualstream", "cmx"], "weights": [0.5, 0.5], "threshold": 0.5},
                              {"members": ["pspnet", "deeplabv3plus", "unet"], "weights": [0.7, 0.15, 0.15],
                               "threshold": 0.3}],
                   note="synthetic; DualStream and CMX with the 48-band aux grid, baselines imagery only")


def cloud_set(folder: Path) -> DataSet:
    image = REALDATA / CLOUD / f"{CLOUD_STEM}_RGBN.tif"
    label = REALDATA / CLOUD / "original" / f"gt_{CLOUD_STEM}.TIF"
    out = folder / "cloud"
    train = {"image": _crop(image, out / "train_rgbn.tif", slice(0, 256)),
             "label": _crop(label, out / "train_gt.tif", slice(0, 256)), "aux": []}
    test = {"image": _crop(image, out / "test_rgbn.tif", slice(256, 384)),
            "label": _crop(label, out / "test_gt.tif", slice(256, 384)), "aux": []}
    rgb_x = ["--bands", "1,2,3", "--x-bands", "4"]
    return DataSet("cloud", train, test, "255=1", FAMILIES, flags={f: rgb_x for f in FAMILIES if second_stream(f)},
                   ensembles=[{"members": ["cmx", "unet"], "weights": [0.5, 0.5], "threshold": 0.5},
                              {"members": ["cmx", "dualstream", "unet", "deeplabv3plus"],
                               "weights": [0.25, 0.25, 0.25, 0.25], "threshold": 0.5}],
                   note="38-Cloud Landsat-8 RGBN patch; CMX and DualStream: R,G,B | NIR (X bands); baselines RGBN")


def buildings_set(folder: Path) -> DataSet:
    image = REALDATA / MASS / "22978945_15_uint8_clipped2.tif"
    label = REALDATA / MASS / "22978945_15_buildings_mask.tif"
    out = folder / "buildings"
    train = {"image": _crop(image, out / "train_rgb.tif", slice(0, 576)),
             "label": _crop(label, out / "train_mask.tif", slice(0, 576)), "aux": []}
    test = {"image": _crop(image, out / "test_rgb.tif", slice(576, 865)),
            "label": _crop(label, out / "test_mask.tif", slice(576, 865)), "aux": []}
    imagery = tuple(f for f in FAMILIES if IMAGERY in AutoModelConfig.config_class(f).CARD.kinds)
    return DataSet("buildings", train, test, "1=1", imagery,
                   ensembles=[{"members": ["pspnet", "deeplabv3plus", "unet"], "weights": [0.7, 0.15, 0.15],
                               "threshold": 0.3},
                              {"members": ["pspnet", "deeplabv3plus", "unet"], "weights": [1 / 3, 1 / 3, 1 / 3],
                               "threshold": 0.5}],
                   note="Massachusetts buildings, 1 m aerial RGB (4.7 % building); vision-only")


def engine(*args: str, timeout: int = 7200) -> subprocess.CompletedProcess:
    env = child_env()
    done = subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"`engine {' '.join(args[:3])} ...` failed:\n{done.stderr[-3000:]}")
    return done


def evaluate_iou(prediction: str, label: str, label_map: str, out: Path) -> float:
    metrics = out.with_suffix(".metrics.json")
    engine("evaluate", "--pred", prediction, "--label", label, "--label-map", label_map, "--out", str(metrics),
           "--quiet")
    return float(json.loads(metrics.read_text(encoding="utf-8"))["foreground_iou"])


def train_args(data: DataSet, family: str, args: argparse.Namespace, bundle: Path) -> list[str]:
    train = data.train
    scene = ["--image", train["image"], "--label", train["label"]]
    if second_stream(family) and not data.flags.get(family):
        scene += [a for path in train.get("aux", []) for a in ("--aux", path)]
    preset = [] if args.preset == "default" else ["--preset", args.preset]
    return ["train", *scene, "--label-map", data.label_map, "--model", family, *preset, *data.flags.get(family, []),
            "--epochs", str(args.epochs), "--warmup-epochs", str(args.warmup_epochs), "--tile-size",
            str(args.tile_size), "--tiles-per-epoch", str(args.tiles_per_epoch), "--batch-size", str(args.batch_size),
            "--lr", str(args.lr), "--device", args.device, "--seed", str(args.seed), "--val-fraction", "0.2",
            "--preview-tiles", "0", "--quiet", "--json", "--out", str(bundle)]


def segment_args(data: DataSet, bundles: list[str], args: argparse.Namespace, out: Path,
                 weights: list[float] | None = None, threshold: float | None = None) -> list[str]:
    test = data.test
    aux = [a for path in test.get("aux", []) for a in ("--aux", path)]
    models = [a for b in bundles for a in ("--model", b)]
    extra = (["--weights", ",".join(f"{w:g}" for w in weights)] if weights else []) + \
        (["--threshold", str(threshold)] if threshold else [])
    return ["segment", "--image", test["image"], *aux, *models, *extra, "--device", args.device, "--quiet",
            "--out", str(out)]


def run_dataset(data: DataSet, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    bundles: dict[str, str] = {}
    for family in data.families:
        if args.families and family not in args.families:
            continue
        bundle = out / data.name / f"{family}.dsmodel"
        start = time.perf_counter()
        try:
            result = json.loads(engine(*train_args(data, family, args, bundle)).stdout)
        except SystemExit as exc:  # e.g. diverged: recorded in the table, the other families still run
            rows[family] = {"error": str(exc).strip().splitlines()[-1]}
            print(f"[{data.name}] {family}: failed: {rows[family]['error']}", flush=True)
            continue
        train_s = time.perf_counter() - start
        classes = out / data.name / f"{family}_test.tif"
        engine(*segment_args(data, [str(bundle)], args, classes))
        iou = evaluate_iou(str(classes), data.test["label"], data.label_map, classes)
        bundles[family] = str(bundle)
        rows[family] = {"test_iou": iou, "val_iou": result["best_metrics"].get("val_iou"),
                        "best_epoch": result["best_epoch"], "train_seconds": round(train_s, 1)}
        print(f"[{data.name}] {family}: test IoU {iou:.4f} (train {train_s:.0f} s)", flush=True)
    ensembles = []
    for spec in data.ensembles:
        members = [m for m in spec["members"] if m in bundles]
        if len(members) < 2:
            continue
        weights = [w for m, w in zip(spec["members"], spec["weights"]) if m in bundles]
        classes = out / data.name / f"ensemble_{'_'.join(members)}.tif"
        engine(*segment_args(data, [bundles[m] for m in members], args, classes, weights, spec["threshold"]))
        iou = evaluate_iou(str(classes), data.test["label"], data.label_map, classes)
        best = max(members, key=lambda m: rows[m]["test_iou"])
        ensembles.append({"members": members, "weights": weights, "threshold": spec["threshold"], "test_iou": iou,
                          "best_member": best, "best_member_iou": rows[best]["test_iou"]})
        print(f"[{data.name}] ensemble {members} {weights} t={spec['threshold']}: test IoU {iou:.4f} "
              f"(best member {best} {rows[best]['test_iou']:.4f})", flush=True)
    return {"note": data.note, "families": rows, "ensembles": ensembles}


def run_qgis_process(data: DataSet, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Each family trained and segmented once through qgis_process (the plugin deployed to a throwaway profile)."""
    from scripts.demo import run_qgis_process as qgis_run
    from scripts.deploy_plugin import deploy, enable_plugin, qgis_process_command, venv_site_packages

    root = out / "qgis"
    deploy(root / "profiles", "default", venv_site_packages(), enable=False)
    enable_plugin(root / "profiles" / "default")
    command = qgis_process_command()
    log = out / "qgis_process.log"
    log.write_text("", encoding="utf-8")
    rows = {}
    for family in data.families:
        if args.families and family not in args.families:
            continue
        bundle = out / "qgis" / f"{family}.dsmodel"
        uses_aux = second_stream(family)
        params = {"INPUT": data.train["image"], "LABELS": data.train["label"], "LABEL_MAPPING": data.label_map,
                  "MODEL_FAMILY": family, "PRESET": "default" if args.preset == "default" else args.preset,
                  "EPOCHS": str(args.epochs), "WARMUP_EPOCHS": str(args.warmup_epochs),
                  "BATCH_SIZE": str(args.batch_size), "LEARNING_RATE": str(args.lr), "TILE_SIZE": str(args.tile_size),
                  "TILES_PER_EPOCH": str(args.tiles_per_epoch), "DEVICE": args.device, "SEED": str(args.seed),
                  "OUTPUT": str(bundle)}
        if uses_aux:
            params["AUX"] = data.train["aux"]
        start = time.perf_counter()
        qgis_run(command, root, "dualstream:train", params, log)
        train_s = time.perf_counter() - start
        classes = out / "qgis" / f"{family}_test.tif"
        seg = {"INPUT": data.test["image"], "MODEL": [str(bundle)], "DEVICE": args.device, "OUTPUT": str(classes)}
        if uses_aux:
            seg["AUX"] = data.test["aux"]
        qgis_run(command, root, "dualstream:segment", seg, log)
        iou = evaluate_iou(str(classes), data.test["label"], data.label_map, classes)
        rows[family] = {"test_iou": iou, "train_seconds": round(train_s, 1)}
        print(f"[qgis_process demo] {family}: test IoU {iou:.4f}", flush=True)
    return rows


def markdown(report: dict[str, Any]) -> str:
    s = report["settings"]
    lines = [f"Settings: preset {s['preset']}, {s['warmup_epochs']} + {s['epochs']} epochs of {s['tiles_per_epoch']} "
             f"tiles of {s['tile_size']} px, batch {s['batch_size']}, lr {s['lr']}, seed {s['seed']}, device "
             f"{s['device']}; each family's default loss; test IoU = foreground IoU of the held-out part.", ""]
    families = [f for f in FAMILIES if any(f in d["families"] for d in report["datasets"].values())]
    lines.append("| data set | " + " | ".join(families) + " |")
    lines.append("|---|" + "---|" * len(families))
    for name, data in report["datasets"].items():
        cells = [("failed" if "error" in data["families"][f] else f"{data['families'][f]['test_iou']:.3f}")
                 if f in data["families"] else "-" for f in families]
        lines.append(f"| {name} (CLI) | " + " | ".join(cells) + " |")
    if report.get("qgis_process"):
        cells = [f"{report['qgis_process'][f]['test_iou']:.3f}" if f in report["qgis_process"] else "-"
                 for f in families]
        lines.append("| demo (qgis_process) | " + " | ".join(cells) + " |")
    lines += ["", "| data set | ensemble (weights, threshold) | ensemble IoU | best member | best member IoU |",
              "|---|---|---|---|---|"]
    for name, data in report["datasets"].items():
        for e in data["ensembles"]:
            spec = " + ".join(f"{m} {w:.2g}" for m, w in zip(e["members"], e["weights"]))
            lines.append(f"| {name} | {spec}, t={e['threshold']} | {e['test_iou']:.3f} | {e['best_member']} | "
                         f"{e['best_member_iou']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--preset", default="tiny", help="tiny (CPU) or default (each family's default preset)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--warmup-epochs", type=int, default=1)
    parser.add_argument("--tile-size", type=int, default=128)
    parser.add_argument("--tiles-per-epoch", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", nargs="+", default=["demo", "cloud", "buildings"],
                        choices=("demo", "cloud", "buildings"))
    parser.add_argument("--families", nargs="+", choices=FAMILIES, help="default: every family")
    parser.add_argument("--qgis-process", action="store_true", help="also train each family through qgis_process "
                                                                     "on the demo data")
    parser.add_argument("--out", type=Path, default=REPO / "bench_output" / "families")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    makers = {"demo": demo_set, "cloud": cloud_set, "buildings": buildings_set}
    report: dict[str, Any] = {"settings": {k: v for k, v in vars(args).items() if k not in ("out",)},
                              "datasets": {}}
    report["settings"]["datasets"] = list(args.datasets)
    for name in args.datasets:
        if name != "demo" and not REALDATA.is_dir():
            print(f"skipping {name}: no real data at {REALDATA} (set DUALSTREAM_REALDATA)", flush=True)
            continue
        data = makers[name](out / "data")
        report["datasets"][name] = run_dataset(data, args, out)
        (out / "families.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    if args.qgis_process:
        report["qgis_process"] = run_qgis_process(demo_set(out / "data"), args, out)
    (out / "families.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    (out / "families.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
