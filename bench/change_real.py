"""Change detection on real pairs: a change model trained from random weights on a CPU, against the
post-classification baseline, on held-out LEVIR-CD sample pairs (``realdata/change_pairs``, kept out of the
repository: the ``samples_LEVIR`` and ``samples_DSIFN`` folders of github.com/wgcban/ChangeFormer, MIT licence,
copied there as they are). Used by ``bench/change.py --realdata`` and the opt-in
``tests/realdata/test_change_realdata.py``.

The split: LEVIR-CD's own. The change model trains on its 4 ``train_*`` and ``val_*`` sample pairs (256 px, 0.5 m,
Texas) and the 10 DSIFN-CD sample pairs (256 px, Chinese cities: more pairs of the same kind of imagery), and is
scored on the 7 held-out ``test_*`` pairs, which no training sees. The recipe for so few pairs on a CPU (``RECIPE``):
the light preset (ResNet-18 shared by the dates, UNet decoder) from random weights at a learning rate of 1e-3 for
every part, 400 random 128 px crops of the pairs per epoch with flips, quarter turns, small rotations and scale
jitter (the same geometry for both dates, each date its own brightness and contrast, the dates swapped in half the
tiles), and the focal loss's alpha at 0.75, so that the rarer change pixels weigh more than the background (its
default 0.25 weighs them less: the model then found a sixth of the change).

The baseline: a one-date building model (UNet light, the same recipe) trained on the real building labels we have
at LEVIR's pixel size, SpaceNet 4 Atlanta (0.5 m RGB) and the Massachusetts buildings (1 m RGB, resampled to 0.5 m
here), segmenting both dates of each test pair; a pixel is change where the two disagree (``compare --mask``).
LEVIR-CD's changes are buildings built or torn down, so this is the comparison every change-detection paper
reports. The floor: every pixel called change (F1 of the change share).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

LEVIR = "change_pairs/samples_LEVIR"
DSIFN = "change_pairs/samples_DSIFN"
ATLANTA = ("gdl_buildings_landcover/spacenet4_atlanta_rgb/SN4_buildings_train_AOI_6_Atlanta_nadir10_catid_"
           "1030010003993E00_PS-RGBNIR_732701_3729639_clipped.tif",
           "gdl_buildings_landcover/spacenet4_atlanta_rgb/atlanta_buildings_mask.tif")
MASSACHUSETTS = ("gdl_buildings_landcover/massachusetts_buildings_rgb/22978945_15_uint8_clipped2.tif",
                 "gdl_buildings_landcover/massachusetts_buildings_rgb/22978945_15_buildings_mask.tif")
#: The training recipe of both models (besides the data, the family and the time budget).
RECIPE = ("--preset", "light", "--tile-size", "128", "--tiles-per-epoch", "400", "--batch-size", "8", "--lr", "1e-3",
          "--vision-lr-factor", "1", "--focal-alpha", "0.75", "--val-fraction", "0.1", "--seed", "0", "--quiet")


def split(root: Path) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """(training pairs, held-out test pairs) as (before, after, label) paths."""
    def pairs(folder: Path, names: list[str]) -> list[tuple[str, str, str]]:
        return [tuple(str(folder / d / n) for d in ("A", "B", "label")) for n in names]

    levir = root / LEVIR
    names = sorted(p.name for p in (levir / "label").glob("*.png"))
    dsifn = root / DSIFN
    train = pairs(levir, [n for n in names if not n.startswith("test_")])
    train += pairs(dsifn, sorted(p.name for p in (dsifn / "label").glob("*.png")))
    return train, pairs(levir, [n for n in names if n.startswith("test_")])


def _main(args: list[str], what: str) -> None:
    from engine.cli.main import main

    if main(args) != 0:
        raise RuntimeError(f"{what} failed: dualstream {' '.join(args)}")


def train_change(out: Path, train: list[tuple[str, str, str]], budget: float) -> float:
    """Train the change model on ``train`` pairs for ``budget`` minutes; the seconds it took."""
    scenes = [a for before, after, label in train for a in ("--image", before, "--after", after, "--label", label)]
    started = time.perf_counter()
    _main(["train", *scenes, "--model", "change", "--label-map", "255=1", *RECIPE, "--time-budget", str(budget),
           "--out", str(out)], "training the change model")
    return time.perf_counter() - started


def train_buildings(out: Path, root: Path, budget: float) -> float:
    """Train the one-date building model of the baseline (Massachusetts resampled to 0.5 m beside ``out``)."""
    from osgeo import gdal

    half = []
    for path, how in zip(MASSACHUSETTS, ("bilinear", "near")):
        half.append(str(out.with_name(f"massachusetts_05m_{Path(path).name}")))
        gdal.Warp(half[-1], str(root / path), xRes=0.5, yRes=0.5, resampleAlg=how)
    scenes = ["--image", str(root / ATLANTA[0]), "--label", str(root / ATLANTA[1]), "--image", half[0], "--label",
              half[1]]
    started = time.perf_counter()
    _main(["train", *scenes, "--model", "unet", "--class-names", "background", "building", "--bands", "1,2,3",
           *RECIPE, "--time-budget", str(budget), "--out", str(out)], "training the building model")
    return time.perf_counter() - started


def predict(out: Path, change: str, buildings: str | None, test: list[tuple[str, str, str]],
            segment: tuple[str, ...] = (), suffix: str = "") -> dict[str, list]:
    """Each test pair's change by the change model (and by the baseline with ``buildings``): (prediction, label);
    ``segment``: more segment flags (``--tta none``), ``suffix``: of the predictions' names."""
    found: dict[str, list] = {"change_model": [], "post_classification_baseline": []}
    for before, after, label in test:
        stem = Path(before).stem
        _main(["segment", "--model", change, "--image", before, "--after", after, "--out",
               str(out / f"{stem}_cd{suffix}.tif"), *segment, "--quiet"], f"segmenting {stem}")
        found["change_model"].append((str(out / f"{stem}_cd{suffix}.tif"), label))
        if buildings:
            _main(["compare", "--model", buildings, "--image", before, "--after", after, "--mask", "--out",
                   str(out / f"{stem}_pcc.tif"), "--quiet"], f"comparing {stem}")
            found["post_classification_baseline"].append((str(out / f"{stem}_pcc.tif"), label))
    return found


def scores(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Change precision, recall, F1, IoU over every pixel of (prediction, label 0/255) pairs ("" prediction: every
    pixel called change, the floor), as the engine scores a change mask."""
    import numpy as np
    import rasterio

    from engine.training.metrics import ConfusionMatrix

    confusion = ConfusionMatrix(2, ignore_index=None)
    for prediction, label in pairs:
        with rasterio.open(label) as t:
            truth = t.read(1) > 0
        if prediction:
            with rasterio.open(prediction) as p:
                found = p.read(1) == 1
        else:
            found = np.ones_like(truth)
        confusion.update(found.astype(np.uint8), truth.astype(np.uint8))
    summary = confusion.summary()
    change = {key: round(summary[key][1] or 0.0, 4) for key in ("precision", "recall", "f1", "iou")}
    return {**change, "changed_pixels": int(confusion.matrix[1].sum())}


def realdata(out: Path, root: Path, budget: float) -> dict[str, Any]:
    """The F1 table: the change model and the post-classification baseline on the held-out test pairs."""
    missing = [p for p in (*ATLANTA, *MASSACHUSETTS) if not (root / p).exists()]
    if missing:  # the baseline's training data sits beside change_pairs in the same realdata folder
        raise FileNotFoundError(f"the baseline's building scenes are not under {root}: {', '.join(missing)}; point "
                                f"DUALSTREAM_REALDATA at a folder holding change_pairs and gdl_buildings_landcover")
    train, test = split(root)
    change, buildings = out / "levir_change.dsmodel", out / "buildings_05m.dsmodel"
    change_seconds = train_change(change, train, budget)
    building_seconds = train_buildings(buildings, root, budget)
    found = predict(out, str(change), str(buildings), test)
    return {"dataset": "LEVIR-CD and DSIFN-CD sample pairs (wgcban/ChangeFormer samples_LEVIR, samples_DSIFN)",
            "split": f"trained on {len(train)} pairs (LEVIR-CD's train_* and val_* samples, every DSIFN-CD sample), "
                     f"scored on LEVIR-CD's {len(test)} held-out test_* samples ({sum(1 for _ in test) * 256 ** 2:,} "
                     f"px)",
            "budget_minutes": budget, "change_train_seconds": round(change_seconds, 1),
            "baseline_train_seconds": round(building_seconds, 1),
            "change_model": scores(found["change_model"]) | {"model": "change light (ResNet-18, UNet), random init"},
            "post_classification_baseline": scores(found["post_classification_baseline"]) | {
                "model": "UNet light trained on SpaceNet 4 Atlanta + Massachusetts buildings at 0.5 m, both dates "
                         "segmented, compare --mask"},
            "every_pixel_change": scores([("", label) for _, _, label in test])}


def markdown(real: dict[str, Any]) -> list[str]:
    lines = ["", f"{real['dataset']}; {real['split']}; {real['budget_minutes']} min of training each.", "",
             "| change on the held-out pairs | precision | recall | F1 | IoU |", "|---|---|---|---|---|"]
    for key, label in (("change_model", "change model (light, random init)"),
                       ("post_classification_baseline", "post-classification baseline (building model)"),
                       ("every_pixel_change", "every pixel called change (floor)")):
        r = real[key]
        lines.append(f"| {label} | {r['precision']} | {r['recall']} | {r['f1']} | {r['iou']} |")
    return lines
