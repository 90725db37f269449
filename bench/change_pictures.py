"""A change bundle's pictures on labelled pairs, to look at before changing its choices: one row per pair, the
before date, the after date, the label (white: change) and the bundle's change probability (white: 1), as segment
computes it (``segment --probabilities``: the bundle's test-time augmentation), side by side in one PNG.

Pairs come from a folder laid out as LEVIR-CD is published (``A/``, ``B/``, ``label/``, one file name per pair; the
``test`` or ``val`` folder of ``bench/unlabelled.py``'s layout), every pair or those named. Usage: ``python
bench/change_pictures.py BUNDLE FOLDER [--pairs NAME ...] --out GRID.png`` (the probabilities are written beside
GRID.png, in a folder of its name); prints each pair's change F1 at the bundle's threshold.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _rgb(path: Path):
    """A date's first three bands as (H, W, 3) uint8 (a single band repeated)."""
    import numpy as np
    import rasterio

    with rasterio.open(path) as src:
        bands = src.read()
    bands = np.repeat(bands, 3, axis=0) if bands.shape[0] == 1 else bands[:3]
    return np.clip(bands.transpose(1, 2, 0), 0, 255).astype(np.uint8)


def _grey(values, scale: float):
    import numpy as np

    return np.repeat(np.clip(np.nan_to_num(values) * scale, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def pictures(bundle: str, folder: Path, names: list[str], out: Path) -> dict[str, float]:
    """Write the grid of ``names`` (file names in ``folder/label``) to ``out``; each pair's change F1."""
    import numpy as np
    import rasterio
    from PIL import Image

    from bench.change_real import _main, scores

    work = out.with_suffix("")
    work.mkdir(parents=True, exist_ok=True)
    rows, f1 = [], {}
    for name in names:
        stem = Path(name).stem
        before, after, label = (folder / part / name for part in ("A", "B", "label"))
        mask, probability = work / f"{stem}_cd.tif", work / f"{stem}_probability.tif"
        _main(["segment", "--model", bundle, "--image", str(before), "--after", str(after), "--out", str(mask),
               "--probabilities", str(probability), "--quiet"], f"segmenting {stem}")
        with rasterio.open(label) as src:
            truth = src.read(1) > 0
        with rasterio.open(probability) as src:
            chance = src.read(1)
        f1[stem] = scores([(str(mask), str(label))])["f1"]
        rows.append(np.concatenate([_rgb(before), _rgb(after), _grey(truth, 255.0), _grey(chance, 255.0)], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    Image.fromarray(np.concatenate(rows, axis=0)).save(out)
    return f1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("folder", type=Path, help="a folder with A/, B/ and label/ (LEVIR-CD's layout)")
    parser.add_argument("--pairs", nargs="+", help="file names (or stems) of the pairs; default: every labelled one")
    parser.add_argument("--out", type=Path, required=True, help="the grid (PNG)")
    args = parser.parse_args(argv)
    labels = sorted(p.name for p in (args.folder / "label").glob("*") if p.suffix.lower() in (".png", ".tif"))
    if not labels:
        parser.error(f"{args.folder / 'label'} holds no labels (.png or .tif): give a folder laid out as LEVIR-CD")
    names = labels if not args.pairs else [n for n in labels if n in args.pairs or Path(n).stem in args.pairs]
    if args.pairs and len(names) != len(args.pairs):
        parser.error(f"--pairs: not every name is a label in {args.folder / 'label'} (found: {', '.join(names)})")
    for stem, f1 in pictures(args.bundle, args.folder, names, args.out).items():
        print(f"{stem}: change F1 {f1:.3f}")
    print(f"grid: {args.out} (before, after, label, change probability)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
