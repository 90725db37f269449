"""How much a change bundle's decision threshold is worth, offline: the rules a training could pick the threshold by,
each scored by the change F1 it gives on the test pairs, without training again (a threshold changes no weights).

Each bundle runs (``segment --probabilities``, with flips as the bundle records and without) on the pairs of a
folder laid out as LEVIR-CD is published (``val/`` and ``test/``, each with ``A/``, ``B/``, ``label/``: the
``LEVIR-CD`` folder ``bench/unlabelled.py levir`` writes). The validation pair's F1 at each threshold of
:data:`engine.training.metrics.THRESHOLDS` gives each rule's threshold; the test pairs' counts, pooled, score it:

- ``training``: the F1-best on the validation pair without flips (what training records, its tiles aside);
- ``flips``: the same with flips, as segment runs the bundle;
- ``smoothed``: the F1-best after averaging each threshold's F1 with its two neighbours on either side;
- ``near 0.5``: the threshold nearest 0.5 whose F1 is within 0.01 of the best;
- ``0.5``: no pick;
- ``oracle``: the test pairs' own best (what no rule can beat).

``--last`` scores each bundle's last epoch instead (the weights of its checkpoint ``BUNDLE.ckpt``, the moving
average where one ran; a bundle of them is written to ``--out``). Usage: ``python bench/change_threshold.py
LEVIR-CD BUNDLE ... [--last] --out DIR``; prints one row per bundle and writes ``thresholds.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from engine.training.metrics import THRESHOLDS, ThresholdSweep, best_threshold  # noqa: E402

RULES = ("training", "flips", "smoothed", "near 0.5", "0.5", "oracle")


def last_epoch_bundle(bundle: Path, out: Path) -> Path:
    """A bundle of ``bundle``'s run's last epoch (its checkpoint's weights, averaged where an average ran), its
    threshold the one that epoch's validation picked."""
    from engine.bundle.store import read_metadata, save_bundle
    from engine.training.checkpoint import load_checkpoint

    payload = load_checkpoint(Path(f"{bundle}.ckpt"))
    state = dict(payload["model"])
    if payload.get("average"):
        state.update(payload["average"]["shadow"])
    meta = read_metadata(bundle)
    meta.model = meta.model.replace(threshold=payload["history"][-1].get("val_threshold"))
    target = out / f"{bundle.parent.parent.name}_{bundle.parent.name}_last.dsmodel"
    save_bundle(target, SimpleNamespace(state_dict=lambda: state), meta)
    return target


def probabilities(bundle: Path, folder: Path, work: Path) -> dict[str, list[tuple[Any, Any]]]:
    """Per ``val``/``test`` and test-time augmentation (``flips``, ``none``): each pair's (probability, truth)."""
    import numpy as np
    import rasterio

    from engine.api.inference import segment
    from engine.config import SegmentConfig

    found: dict[str, list[tuple[Any, Any]]] = {}
    for split in ("val", "test"):
        for label in sorted((folder / split / "label").glob("*.png")):
            with rasterio.open(label) as src:
                truth = (src.read(1) > 0).astype(np.int64)
            for tta in ("flips", "none"):
                chance = work / f"{bundle.parent.name}_{bundle.stem}_{label.stem}_{tta}.tif"
                segment(SegmentConfig(image=str(folder / split / "A" / label.name),
                                      after=[str(folder / split / "B" / label.name)], models=[str(bundle)],
                                      output=str(chance.with_name(chance.stem + "_cd.tif")),
                                      probabilities=str(chance), tta=tta))
                with rasterio.open(chance) as src:
                    found.setdefault(f"{split} {tta}", []).append((src.read(1), truth))
    return found


def f1_curve(pairs: list[tuple[Any, Any]]) -> list[float]:
    """The F1 at each threshold over the pairs' pooled pixels."""
    sweep = ThresholdSweep(ignore_index=None)
    for chance, truth in pairs:
        sweep.update(chance, truth)
    return [v or 0.0 for v in sweep.f1()]


def picks(val: list[float], val_flips: list[float], test: list[float]) -> dict[str, float]:
    """Each rule's threshold."""
    smoothed = [sum(val[max(0, i - 2):i + 3]) / len(val[max(0, i - 2):i + 3]) for i in range(len(val))]
    near = min((t for v, t in zip(val, THRESHOLDS) if v >= max(val) - 0.01), key=lambda t: (abs(t - 0.5), t))
    return {"training": best_threshold(val), "flips": best_threshold(val_flips), "smoothed": best_threshold(smoothed),
            "near 0.5": near, "0.5": 0.5, "oracle": best_threshold(test)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="LEVIR-CD as bench/unlabelled.py lays it out (val/, test/)")
    parser.add_argument("bundles", type=Path, nargs="+")
    parser.add_argument("--last", action="store_true", help="score each run's last epoch (from BUNDLE.ckpt)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    for folder in (args.folder / "val" / "label", args.folder / "test" / "label"):
        if not any(folder.glob("*.png")):
            parser.error(f"no labelled pairs in '{folder}': give the LEVIR-CD folder bench/unlabelled.py writes")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = {}
    print("bundle | " + " | ".join(RULES) + "  (threshold: test F1 with flips)")
    for bundle in args.bundles:
        name = f"{bundle.parent.parent.name}/{bundle.parent.name}"  # bench/unlabelled.py's OUT/arm_seed
        if args.last:
            bundle = last_epoch_bundle(bundle, args.out)
        found = probabilities(bundle, args.folder, args.out)
        test = f1_curve(found["test flips"])
        chosen = picks(f1_curve(found["val none"]), f1_curve(found["val flips"]), test)
        rows[name] = {rule: {"threshold": t, "test_f1": round(test[THRESHOLDS.index(t)], 4)}
                      for rule, t in chosen.items()}
        rows[name]["test_f1_curve"] = [round(v, 4) for v in test]
        print(name + " | " + " | ".join(f"{t:g}: {test[THRESHOLDS.index(t)]:.3f}" for t in chosen.values()),
              flush=True)
    (args.out / "thresholds.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
