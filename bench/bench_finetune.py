"""Fine-tuning on real data: a model trained on one area, fine-tuned on a small part of another, against training
on that small part from scratch with the same budget (validation IoU on the rest of the new area).

Data (``../shared/realdata/gdl_buildings_landcover``, see its README), ``--set``:
- buildings: parent on Massachusetts Buildings, 1 m aerial RGB (crop 22978945_15, 626 x 865 px, 4.7 % building);
  new area SpaceNet 4 Atlanta, 0.5 m RGB (508 x 496 px, 4.8 % building; band 4 is alpha, left out);
- landcover: New Brunswick 0.5 m RGB land cover (forest, water, road, building, railway; 0 = unlabelled): parent
  on crop 2 of 2, new area crop 1 of 2.
Half of the new area's scene trains (the small part) and the other half validates (``--val-fraction 0.5``, the
same split in every run).

Runs, each a fresh ``python -m engine train`` on the CPU with UNet light, 128-px tiles, 64 tiles per epoch:
1. parent (PARENT_EPOCHS epochs at most);
2. from scratch on the new area's half (CHILD_EPOCHS epochs);
3. fine-tuned from the parent on the same half, same epochs and settings (``--init-from``);
4. as 3 with ``--recompute-stats`` (the new half's band statistics, not the parent's);
5. as 3 at a third of the learning rate (3e-4), the usual lower rate of fine-tuning.

Writes ``results.json`` (best validation IoU, best epoch, seconds, and the fine-tuning log lines) into the output
folder (OUT/SET/) and prints a table. ``python bench/bench_finetune.py [--set SET] [--out DIR] [--quick]``; not
part of ``make test``. Figures: docs/training.md, "Fine-tuning".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = Path("/work/shared/realdata/gdl_buildings_landcover")
for candidate in (REPO.parent / "shared" / "realdata" / "gdl_buildings_landcover",
                  REPO.parent.parent / "shared" / "realdata" / "gdl_buildings_landcover"):
    if candidate.is_dir():
        DATA = candidate
        break
NB = "new_brunswick_aerial_rgb/23322E759967N_"
SETS = {  # name: (parent scene, new scene, data flags): (image, label) paths under DATA
    "buildings": (("massachusetts_buildings_rgb/22978945_15_uint8_clipped2.tif",
                   "massachusetts_buildings_rgb/22978945_15_buildings_mask.tif"),
                  ("spacenet4_atlanta_rgb/SN4_buildings_train_AOI_6_Atlanta_nadir10_catid_1030010003993E00_"
                   "PS-RGBNIR_732701_3729639_clipped.tif", "spacenet4_atlanta_rgb/atlanta_buildings_mask.tif"),
                  ["--label-map", "1=1", "--class-names", "background", "building", "--class-colors", "#000000",
                   "#ff0000"], ["--bands", "1,2,3"]),
    # 0 = unlabelled; no pixel is class 0, the five labelled classes keep their numbers
    "landcover": ((f"{NB}clipped_1m_2of2.tif", f"{NB}2of2_landcover_mask.tif"),
                  (f"{NB}clipped_1m_1of2.tif", f"{NB}1of2_landcover_mask.tif"),
                  ["--label-map", "0=255", "--label-map", "1=1", "--label-map", "2=2", "--label-map", "3=3",
                   "--label-map", "4=4", "--label-map", "5=5", "--class-names", "other", "forest",
                   "water", "road", "building", "railway"], []),
}
PARENT_EPOCHS, CHILD_EPOCHS = 40, 15
COMMON = ["--tile-size", "128", "--tiles-per-epoch", "64", "--batch-size", "8", "--warmup-epochs", "0",
          "--time-budget", "0", "--device", "cpu", "--preview-tiles", "0", "--seed", "0", "--lr", "1e-3"]
SAID = ("Fine-tuning", "--model", "--preset")  # the log lines kept in the results


def train(name: str, scene: tuple[str, str], epochs: int, out: Path, *extra: str) -> dict[str, Any]:
    """One training in a fresh process; its best validation IoU, epoch, seconds and fine-tuning lines."""
    bundle = out / f"{name}.dsmodel"
    command = [sys.executable, "-m", "engine", "train", "--image", str(DATA / scene[0]), "--label",
               str(DATA / scene[1]), "--epochs", str(epochs), "--out", str(bundle), *COMMON, *extra]
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    seconds = time.monotonic() - started
    log = done.stdout + done.stderr
    if done.returncode:
        raise SystemExit(f"{name} failed ({done.returncode}):\n{log[-3000:]}")
    metrics = json.loads((out / f"{name}_metrics.json").read_text())
    history = metrics if isinstance(metrics, list) else metrics.get("history", metrics.get("epochs", []))
    best = max(history, key=lambda e: e.get("val_iou") or 0.0)
    return {"run": name, "epochs": epochs, "best_val_iou": round(float(best["val_iou"]), 4),
            "best_epoch": best["epoch"], "last_val_iou": round(float(history[-1]["val_iou"]), 4),
            "seconds": round(seconds, 1), "bundle": str(bundle),
            "log": [line for line in log.splitlines() if any(word in line for word in SAID)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/bench_finetune", help="folder for the bundles and results.json")
    parser.add_argument("--set", choices=sorted(SETS), default="buildings", help="the pair of areas")
    parser.add_argument("--quick", action="store_true", help="4 + 2 epochs: checks the script, not the figures")
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"No real data at {DATA}; see ../shared/realdata/README.md.")
    out = Path(args.out) / args.set
    parent_scene, new_scene, labels, bands = SETS[args.set]
    out.mkdir(parents=True, exist_ok=True)
    parent_epochs, child_epochs = (4, 2) if args.quick else (PARENT_EPOCHS, CHILD_EPOCHS)
    model = ["--model", "unet", "--preset", "light"]
    new = [*labels, *bands, "--val-fraction", "0.5"]
    runs = [train("parent", parent_scene, parent_epochs, out, *model, *labels)]
    parent = runs[0]["bundle"]
    runs.append(train("scratch", new_scene, child_epochs, out, *model, *new))
    runs.append(train("finetuned", new_scene, child_epochs, out, *new, "--init-from", parent))
    runs.append(train("finetuned_recomputed_stats", new_scene, child_epochs, out, *new, "--init-from", parent,
                      "--recompute-stats"))
    runs.append(train("finetuned_lr3e-4", new_scene, child_epochs, out, *new, "--init-from", parent, "--lr", "3e-4"))
    results = {"set": args.set, "parent": parent_scene, "new": new_scene, "data": str(DATA), "device": "cpu",
               "model": "unet light", "runs": runs, "settings": " ".join(COMMON + labels)}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"{'run':32} {'epochs':>6} {'best val IoU':>12} {'epoch':>5} {'last':>6} {'seconds':>8}")
    for r in runs:
        print(f"{r['run']:32} {r['epochs']:>6} {r['best_val_iou']:>12.4f} {r['best_epoch']:>5} "
              f"{r['last_val_iou']:>6.4f} {r['seconds']:>8.1f}")
    for r in runs[2:]:
        print(f"\n{r['run']} log:\n  " + "\n  ".join(r["log"]))
    print(f"\nResults: {out / 'results.json'}")


if __name__ == "__main__":
    main()
