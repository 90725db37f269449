"""Offline self-training on LEVIR-CD's sample pairs (issue 81): a first model labels the unlabelled pairs once, its
confident pixels become labels, and a second training learns from the labels and these pseudo-labels.

A measurement, not an engine feature; every step is the real command line:

1. Stage 1, the documented command at a fixed step count (``dualstream train --data LEVIR-CD``: 3 training pairs, 1
   validation pair; ``--epochs 9 --patience 0 --tiles-per-epoch 800``, 450 steps), scored on the 7 test pairs by
   ``bench/unlabelled.py``'s ``levir`` (the control at 450 steps). A bundle already in ``OUT/levir_supervised_sN``
   (``python bench/unlabelled.py levir --arms supervised --epochs 9 --tiles-per-epoch 800 --seeds N --out OUT``) is
   scored again, not trained again.
2. Pseudo-labels: ``dualstream segment --model STAGE1 --image A --after B --probabilities P.tif`` (the bundle's
   recorded flips) for the 7 test pairs' images (transductive: a user's imagery to be mapped is unlabelled imagery;
   their labels only score, here also the pseudo-labels) and the 10 DSIFN-CD sample pairs (other cities, whose labels
   are never read). A pixel is change (255, LEVIR-CD's coding) where p >= ``--high`` (0.9), no change (0) where
   p <= ``--low`` (0.1), and :data:`IGNORED` (128) otherwise and where p is no number; the training reads them with
   ``--label-map 255=1,128=255`` (a value mapped to the ignore index 255 is unlabelled), the real masks alike.
   Written as PNGs beside symbolic links to A and B in ``OUT/self_training_sN/LEVIR-CD`` (``train/``: the 3 real
   pairs and the 17 pseudo-labelled; ``val/``: the real validation pair).
3. Stage 2: 450 more steps ``--init-from`` the stage-1 bundle on that folder (the same seed and schedule), scored on
   the test pairs the same way. Stage 1's recorded tile, batch and rates are given (:func:`stage1_settings`): the
   automatic choices of a fine-tuning differ (a 64-px tile fitted to the pseudo-labels' small parts, 3e-4 with the
   encoders at a tenth, two frozen epochs added on top of ``--epochs``), which would change more than the labels.

Usage: ``python bench/self_training.py [--seeds 0 1] [--high 0.9] [--low 0.1] [--epochs 9] [--tiles-per-epoch 800]
[--out DIR]``; writes ``DIR/self_training.json`` and prints one JSON line per stage (load at its start: ``uptime``).
Data: ``$DUALSTREAM_REALDATA/change_pairs/samples_LEVIR`` and ``samples_DSIFN`` (bench/unlabelled.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.unlabelled import REALDATA, _train, levir, levir_layout, levir_scores  # noqa: E402

CHANGE, NO_CHANGE, IGNORED = 255, 0, 128  # raw values of a pseudo-label PNG
LABEL_MAP = f"{CHANGE}=1,{IGNORED}=255"  # what training reads them as: class 1, class 0, the ignore index


def pseudo_labels(probability: Any, high: float = 0.9, low: float = 0.1) -> Any:
    """A change probability raster's values (float array) as pseudo-label values: CHANGE where p >= ``high``,
    NO_CHANGE where p <= ``low``, IGNORED between them and where p is no number."""
    import numpy as np

    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"the pseudo-label thresholds need 0 <= low < high <= 1, got low {low}, high {high}")
    p = np.asarray(probability, dtype=np.float32)  # segment's precision: a written 0.9 is float32's 0.9
    out = np.full(p.shape, IGNORED, np.uint8)
    finite = np.isfinite(p)
    out[finite & (p >= np.float32(high))] = CHANGE
    out[finite & (p <= np.float32(low))] = NO_CHANGE
    return out


def write_pseudo_label(probabilities: Path, png: Path, high: float, low: float) -> dict[str, float]:
    """The PNG of band 1 of a probability GeoTIFF (its nodata read as no number), and the shares of its pixels."""
    import numpy as np
    import rasterio
    from PIL import Image

    with rasterio.open(probabilities) as source:
        if source.count != 1:
            raise ValueError(f"'{probabilities}' has {source.count} bands; a change mask's probabilities have one")
        p = source.read(1, masked=True).astype(np.float32).filled(np.nan)
    labels = pseudo_labels(p, high, low)
    png.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(labels).save(png)
    return {"change": float((labels == CHANGE).mean()), "no_change": float((labels == NO_CHANGE).mean()),
            "ignored": float((labels == IGNORED).mean())}


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.symlink_to(source)


def pseudo_layout(bundle: Path, dataset: Path, out: Path, high: float, low: float) -> tuple[Path, dict[str, Any]]:
    """The stage-2 folder: the real train and val pairs linked, the test pairs' and DSIFN-CD pairs' images linked
    beside their pseudo-labels; each pseudo-labelled pair's shares (and, for the test pairs, how the pseudo-labels
    agree with the real masks on the pixels they label)."""
    import numpy as np
    from PIL import Image

    from bench.change_real import _main

    folder = out / "LEVIR-CD"
    for split in ("train", "val"):
        for label in sorted((dataset / split / "label").glob("*.png")):
            for kind in ("A", "B", "label"):
                _link((dataset / split / kind / label.name).resolve(), folder / split / kind / label.name)
    dsifn = REALDATA / "change_pairs" / "samples_DSIFN"
    pairs = [(p.name, dataset / "test" / "A" / p.name, dataset / "test" / "B" / p.name, dataset / "test" / "label" /
              p.name) for p in sorted((dataset / "test" / "label").glob("*.png"))]
    pairs += [(f"dsifn_{p.name}", p, dsifn / "B" / p.name, None) for p in sorted((dsifn / "A").glob("*.png"))]
    shares: dict[str, Any] = {}
    for name, before, after, truth in pairs:
        stem = Path(name).stem
        probabilities = out / "probabilities" / f"{stem}.tif"
        probabilities.parent.mkdir(parents=True, exist_ok=True)
        _main(["segment", "--model", str(bundle), "--image", str(before), "--after", str(after), "--out",
               str(out / "probabilities" / f"{stem}_class.tif"), "--probabilities", str(probabilities), "--quiet",
               "--overwrite"], f"segmenting {stem}")
        for kind, image in (("A", before), ("B", after)):
            _link(Path(image).resolve(), folder / "train" / kind / name)
        shares[stem] = write_pseudo_label(probabilities, folder / "train" / "label" / name, high, low)
        if truth is not None:  # the test pairs only: the real mask scores the pseudo-labels, never trains
            found, real = np.array(Image.open(folder / "train" / "label" / name)), np.array(Image.open(truth)) > 0
            labelled = found != IGNORED
            shares[stem]["agree"] = round(float(((found == CHANGE) == real)[labelled].mean()), 4)
            shares[stem]["real_change_labelled_change"] = round(float((found == CHANGE)[real].mean()), 4)
    return folder, shares


def stage1_settings(bundle: Path) -> list[str]:
    """The training flags of stage 1's tile, batch and rates, as its bundle records them, and no frozen epochs."""
    from engine.bundle.store import read_metadata

    meta = read_metadata(bundle)
    train = meta.train
    return ["--tile-size", str(meta.data.tile_size), "--batch-size", str(train["batch_size"]), "--lr",
            str(train["learning_rate"]), "--vision-lr-factor", str(train["vision_lr_factor"]), "--aux-lr-factor",
            str(train["aux_lr_factor"]), "--warmup-epochs", "0"]


def stage2(dataset: Path, folder: Path, bundle: Path, run: Path, seed: int, schedule: list[str]) -> dict[str, Any]:
    """Stage 2 trained from the stage-1 bundle on the real and pseudo labels, scored as bench/unlabelled.py's levir
    scores (the test pairs with the bundle's threshold and flips, and with none and 0.5)."""
    seconds = _train(["--data", str(folder), "--label-map", LABEL_MAP, "--init-from", str(bundle), "--seed",
                      str(seed), *schedule, *stage1_settings(bundle), "--out", str(run / "levir.dsmodel")])
    return levir_scores(run, dataset, seconds)


def stage1(out: Path, seed: int, schedule: list[str]) -> dict[str, Any]:
    """Stage 1 as bench/unlabelled.py trains and scores it; a bundle already there is scored, not trained again."""
    run = out / f"levir_supervised_s{seed}"
    if not (run / "levir.dsmodel").exists():
        return levir(REALDATA, out, seed, "supervised", schedule)
    dataset, _ = levir_layout(REALDATA, out)
    return {**levir_scores(run, dataset, None), "reused": True}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--high", type=float, default=0.9, help="change where the stage-1 probability is at least")
    parser.add_argument("--low", type=float, default=0.1, help="no change where it is at most")
    parser.add_argument("--epochs", type=int, default=9)
    # 50 steps an epoch at the change family's CPU step (16 tiles of 128 px; 200 at the 256-px step before it)
    parser.add_argument("--tiles-per-epoch", type=int, default=800)
    parser.add_argument("--out", type=Path, default=Path("bench_self_training"))
    args = parser.parse_args(argv)
    pseudo_labels([0.5], args.high, args.low)  # the thresholds checked before any training
    schedule = ["--epochs", str(args.epochs), "--patience", "0", "--tiles-per-epoch", str(args.tiles_per_epoch)]
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    for seed in args.seeds:
        load = os.getloadavg()[0]
        first = stage1(args.out, seed, schedule) | {"seed": seed, "load": round(load, 2)}
        print(json.dumps({"stage": 1, **first}), flush=True)
        dataset, _ = levir_layout(REALDATA, args.out)
        bundle = args.out / f"levir_supervised_s{seed}" / "levir.dsmodel"
        out = args.out / f"self_training_s{seed}"
        folder, shares = pseudo_layout(bundle, dataset, out, args.high, args.low)
        print(json.dumps({"pseudo_labels": shares}), flush=True)
        load = os.getloadavg()[0]
        second = stage2(dataset, folder, bundle, out / "stage2", seed, schedule) | {"seed": seed,
                                                                                     "load": round(load, 2)}
        print(json.dumps({"stage": 2, **second}), flush=True)
        results[str(seed)] = {"stage1": first, "pseudo_labels": shares, "stage2": second}
        (args.out / "self_training.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
