"""Self-supervised pretraining of the change network on unlabelled imagery, then LEVIR-CD (issue 81): a measurement,
not an engine feature; every training is the real command line.

1. A synthetic-change pretext (:func:`synthetic_pair`): from unlabelled images (every date of the 10 DSIFN-CD sample
   pairs and of LEVIR-CD's train/val pairs, never their labels, never the test pairs), pairs (x, x') where x' is x
   shifted a few pixels and seen under another look (brightness, contrast, each band's gain, gamma, blur, noise),
   with patches cut from OTHER images pasted in (rectangles, turned rectangles and irregular polygons, 8-60 px a
   side: buildings at 0.5 m); the label is the pasted pixels. Some patches are pasted into both dates at the same
   place and are no change, so that "a texture from elsewhere" alone is not change. Written as a ``--data`` folder
   (``train/`` and ``val/``, each ``A/``, ``B/``, ``label/`` as LEVIR-CD's, 255 change); the validation pairs are
   made from source images no training pair uses (:data:`VAL_SOURCES`), so its IoU says whether the pretext was
   learnt rather than remembered.
2. Pretraining: ``dualstream train --data SYNTH --label-map 255=1`` at the tile, batch and rates the default LEVIR-CD
   bundle recorded (``--like``; bench/self_training.py's :func:`stage1_settings`), for ``--pretrain-epochs`` x
   ``--tiles-per-epoch`` / batch steps.
3. Fine-tuning: the documented LEVIR-CD command at its fixed step count (``--epochs 9 --patience 0 --tiles-per-epoch
   200``: 450 steps) ``--init-from`` the pretrained bundle, the default's tile, batch and rates given again (a
   fine-tuning's automatic choices differ: smaller rates, frozen epochs) and its band statistics recomputed from
   LEVIR-CD (a fine-tuning keeps its parent's by default); scored on the 7 test pairs by bench/unlabelled.py's
   :func:`levir_scores`, as every LEVIR-CD arm.

The second pretext (``--arm inpaint``, :func:`inpaint`): masked-image inpainting through the whole change network,
in this script's own loop (the command line trains masks only): each date of an image under its own look, 16-px
blocks grey on one date and the others on the other (:func:`masked_pair`), the one-channel head regressing the
image's standardised luminance, the same steps; written as a bundle of the default's description for step 3.

Usage: ``python bench/ssl_pretrain.py --like DEFAULT.dsmodel [--arm paste|inpaint] [--seeds 0] [--pairs 300]
[--val-pairs 30] [--pretrain-epochs 9] [--epochs 9] [--tiles-per-epoch T] [--out DIR]``; writes
``DIR/ssl_pretrain.json`` (the pretext runs in ``DIR/ARM_sN``, the fine-tuned in ``DIR/levir_ARM_sN``), prints one
JSON line per stage with the load at its start. Data: ``$DUALSTREAM_REALDATA/change_pairs`` (bench/unlabelled.py).
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

from bench.self_training import stage1_settings  # noqa: E402
from bench.unlabelled import REALDATA, _curve, _train, levir_layout, levir_scores  # noqa: E402

CHANGE = 255  # a synthetic label's changed pixels, LEVIR-CD's coding
PATCH_SIDE = (8, 60)  # pixels: buildings of 4-30 m at LEVIR-CD's 0.5 m
VAL_SOURCES = ("samples_DSIFN/A/9_3.png", "samples_DSIFN/B/9_3.png")  # held out of the training pairs


def unlabelled_sources(root: Path) -> list[Path]:
    """Every date of the DSIFN-CD sample pairs and of LEVIR-CD's train/val pairs (never a label, never a test
    pair): the pretext's images."""
    pairs = root / "change_pairs"
    found = [p for d in "AB" for p in sorted((pairs / "samples_DSIFN" / d).glob("*.png"))]
    found += [p for d in "AB" for p in sorted((pairs / "samples_LEVIR" / d).glob("*.png"))
              if p.name.startswith(("train_", "val_"))]
    if not found:
        raise FileNotFoundError(f"no unlabelled image in '{pairs}': it needs samples_DSIFN/ and samples_LEVIR/")
    return found


def _shape_mask(rng: Any, height: int, width: int) -> Any:
    """A patch's footprint in its height x width box: a rectangle, a turned rectangle or an irregular polygon."""
    import numpy as np
    from PIL import Image, ImageDraw

    kind = rng.integers(3)
    if kind == 0:
        return np.ones((height, width), bool)
    canvas = Image.new("L", (width, height), 0)
    cy, cx = (height - 1) / 2, (width - 1) / 2
    if kind == 1:  # a rectangle turned by an angle, filling most of the box
        angle = rng.uniform(0, np.pi)
        h, w = height * rng.uniform(0.5, 0.7), width * rng.uniform(0.5, 0.7)
        corners = [(-w, -h), (w, -h), (w, h), (-w, h)]
        points = [(cx + x * np.cos(angle) - y * np.sin(angle), cy + x * np.sin(angle) + y * np.cos(angle))
                  for x, y in corners]
    else:  # a star-shaped polygon of 5-10 corners
        count = int(rng.integers(5, 11))
        angles = np.sort(rng.uniform(0, 2 * np.pi, count))
        radii = rng.uniform(0.45, 1.0, count)
        points = [(cx + r * cx * np.cos(a), cy + r * cy * np.sin(a)) for a, r in zip(angles, radii)]
    ImageDraw.Draw(canvas).polygon(points, fill=1)
    mask = np.asarray(canvas, bool)
    return mask if mask.any() else np.ones((height, width), bool)


def _paste(rng: Any, targets: list[Any], donors: list[Any], label: Any | None) -> None:
    """One patch of a random donor, cut in a random shape, pasted at one random place of every target (in place);
    where ``label`` is given its pixels are set to CHANGE there."""
    size = targets[0].shape[0]
    height, width = (int(rng.integers(PATCH_SIDE[0], PATCH_SIDE[1] + 1)) for _ in range(2))
    donor = donors[int(rng.integers(len(donors)))]
    dy, dx = int(rng.integers(donor.shape[0] - height + 1)), int(rng.integers(donor.shape[1] - width + 1))
    ty, tx = int(rng.integers(size - height + 1)), int(rng.integers(size - width + 1))
    mask = _shape_mask(rng, height, width)
    for target in targets:
        target[ty:ty + height, tx:tx + width][mask] = donor[dy:dy + height, dx:dx + width][mask]
    if label is not None:
        label[ty:ty + height, tx:tx + width][mask] = CHANGE


def _look(rng: Any, image: Any, strength: float) -> Any:
    """``image`` (H, W, 3 uint8) under another look: contrast, brightness, each band's gain, gamma, blur, noise."""
    import numpy as np
    from PIL import Image, ImageFilter

    if strength <= 0:
        return image
    x = image.astype(np.float32) / 255.0
    mean = x.mean(axis=(0, 1), keepdims=True)
    x = (x - mean) * rng.uniform(1 - 0.3 * strength, 1 + 0.3 * strength) + mean
    x = x * rng.uniform(1 - 0.15 * strength, 1 + 0.15 * strength, 3) + rng.uniform(-0.1, 0.1) * strength
    x = np.clip(x, 0, 1) ** rng.uniform(1 - 0.25 * strength, 1 + 0.25 * strength)
    out = Image.fromarray(np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8))
    if rng.random() < 0.5:
        out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.5 * strength)))
    noisy = np.asarray(out, np.float32) + rng.normal(0, 3 * strength, image.shape)
    return np.clip(noisy + 0.5, 0, 255).astype(np.uint8)


def _shifted(image: Any, dy: int, dx: int) -> Any:
    """``image`` moved by (dy, dx) pixels, the uncovered edge filled by reflection."""
    import numpy as np

    pad = max(abs(dy), abs(dx))
    if pad == 0:
        return image.copy()
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    h, w = image.shape[:2]
    return padded[pad - dy:pad - dy + h, pad - dx:pad - dx + w].copy()


def synthetic_pair(base: Any, donors: list[Any], rng: Any, changes: tuple[int, int] = (2, 10),
                   unchanged: tuple[int, int] = (0, 2), shift: int = 3, look: float = 1.0) -> tuple[Any, Any, Any]:
    """(before, after, label) from one image ``base`` (H, W, 3 uint8) and ``donors`` (other images): the after date
    is ``base`` moved by up to ``shift`` pixels with ``changes`` (a range) patches of the donors pasted (label
    CHANGE), each date then under its own look (``look``: its strength, 0 none); ``unchanged`` patches are pasted
    into both dates at the same place first (no change). Either date may be the one with the pasted patches."""
    import numpy as np

    before = base.copy()
    after = _shifted(base, *(int(v) for v in rng.integers(-shift, shift + 1, 2))) if shift else base.copy()
    label = np.zeros(base.shape[:2], np.uint8)
    for _ in range(int(rng.integers(unchanged[0], unchanged[1] + 1))):
        _paste(rng, [before, after], donors, None)
    for _ in range(int(rng.integers(changes[0], changes[1] + 1))):
        _paste(rng, [after], donors, label)
    before, after = _look(rng, before, look), _look(rng, after, look)
    return (after, before, label) if rng.random() < 0.5 else (before, after, label)


def write_synthetic(out: Path, sources: list[Path], pairs: int, val_pairs: int, seed: int) -> Path:
    """The pretext's ``--data`` folder under ``out``: ``pairs`` training pairs from the sources outside
    :data:`VAL_SOURCES`, ``val_pairs`` from those (each pair's donors: the other images of its split)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    held = [s for s in sources if any(str(s).endswith(v) for v in VAL_SOURCES)]
    split = {"train": ([s for s in sources if s not in held], pairs), "val": (held, val_pairs)}
    for name, (paths, count) in split.items():
        if len(paths) < 2 and count:
            raise ValueError(f"the {name} pairs need two source images at least (one base, one donor): {paths}")
        images = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
        for k in range(count):
            which = int(rng.integers(len(images)))
            base = np.rot90(images[which], int(rng.integers(4)))  # a turn: more bases from few images
            base = np.ascontiguousarray(base[:, ::-1] if rng.random() < 0.5 else base)
            donors = [im for i, im in enumerate(images) if i != which]
            for folder, array in zip(("A", "B", "label"), synthetic_pair(base, donors, rng)):
                target = out / name / folder / f"{name}_{k:04d}.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(array).save(target)
    return out


def pretrain(synth: Path, run: Path, like: Path, seed: int, schedule: list[str]) -> dict[str, Any]:
    """The change network trained on the pretext pairs at the default bundle's tile, batch and rates: its
    validation IoU per epoch (of the held-out sources' pairs) and the seconds."""
    seconds = _train(["--data", str(synth), "--label-map", f"{CHANGE}=1", "--seed", str(seed), *schedule,
                      *stage1_settings(like), "--out", str(run / "synth.dsmodel")])
    curve = _curve(run / "synth_metrics.csv")
    return {"val_iou_best": max(curve["val_iou"]), "train_seconds": round(seconds, 1), **curve}


def finetune(dataset: Path, parent: Path, run: Path, like: Path, seed: int, schedule: list[str]) -> dict[str, Any]:
    """The documented LEVIR-CD command from ``parent``: the default's tile, batch and rates, LEVIR-CD's band
    statistics; scored on the test pairs as every LEVIR-CD arm."""
    seconds = _train(["--data", str(dataset), "--init-from", str(parent), "--recompute-stats", "--seed", str(seed),
                      *schedule, *stage1_settings(like), "--out", str(run / "levir.dsmodel")])
    return levir_scores(run, dataset, seconds)


GREY = 128  # a masked pixel's value, the middle of 8-bit imagery


def masked_pair(base: Any, rng: Any, block: int = 16, share: float = 0.5) -> tuple[Any, Any, Any, Any]:
    """The inpainting pretext's input and target from one image ``base`` (H, W, 3 uint8): two dates, each under its
    own look, the blocks (``block`` px) of a random ``share`` grey on the first and the others grey on the second, so
    every pixel is seen on exactly one date; the target is ``base``'s luminance standardised over the image. Returns
    (before, after, target (H, W) float32, masked (H, W) bool: grey on the first date)."""
    import numpy as np

    height, width = base.shape[:2]
    grid = rng.random((-(-height // block), -(-width // block))) < share
    masked = np.kron(grid, np.ones((block, block), bool))[:height, :width]
    before, after = _look(rng, base, 0.5), _look(rng, base, 0.5)
    before[masked], after[~masked] = GREY, GREY
    luminance = base.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    target = (luminance - luminance.mean()) / max(float(luminance.std()), 1.0)
    return before, after, target.astype(np.float32), masked


def _inpaint_batch(images: list[Any], rng: Any, batch: int) -> tuple[Any, Any]:
    """``batch`` masked pairs of randomly turned images: (vision (B, 6, H, W) in 0..1, target (B, 1, H, W))."""
    import numpy as np
    import torch

    pairs = []
    for _ in range(batch):
        base = np.rot90(images[int(rng.integers(len(images)))], int(rng.integers(4)))
        pairs.append(masked_pair(np.ascontiguousarray(base[:, ::-1] if rng.random() < 0.5 else base), rng))
    vision = np.stack([np.concatenate([a, b], axis=2) for a, b, _, _ in pairs]).transpose(0, 3, 1, 2)
    target = np.stack([t for _, _, t, _ in pairs])[:, None]
    return torch.from_numpy(vision.astype(np.float32) / 255.0), torch.from_numpy(target)


def inpaint(run: Path, like: Path, sources: list[Path], seed: int, steps: int, batch: int = 4,
            lr: float = 1e-3) -> dict[str, Any]:
    """The change network of the default bundle's config (``like``), from random weights, trained ``steps`` steps to
    reconstruct the masked luminance (:func:`masked_pair`, the squared error of the one-channel head) on the sources
    outside :data:`VAL_SOURCES`; AdamW and a cosine schedule at the default's rate. Written as a bundle of ``like``'s
    description (its metrics emptied) for ``--init-from``; the held-out sources' error every 50 steps (1.0: the
    mean's, nothing learnt)."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image

    from engine.bundle.store import read_metadata, save_bundle
    from engine.models import build_model_from_config
    from engine.training.step_setup import step_for

    def predict(vision: Any) -> Any:
        with torch.autocast("cpu", setup.amp_dtype, enabled=setup.amp_dtype is not None):
            return model(setup.batch(vision))["logits"].float()

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    held = [s for s in sources if any(str(s).endswith(v) for v in VAL_SOURCES)]
    train = [np.asarray(Image.open(p).convert("RGB")) for p in sources if p not in held]
    val_rng = np.random.default_rng(1000 + seed)
    val = [_inpaint_batch([np.asarray(Image.open(p).convert("RGB")) for p in held], val_rng, 4) for _ in range(2)]
    meta = read_metadata(like)
    setup = step_for("cpu", "auto")  # the training's own precision, memory format and optimiser on this CPU
    model = setup.model(build_model_from_config(meta.model.replace(pretrained=None)))
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-5, **setup.optimizer_options)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps, eta_min=1e-6)
    curve, started = [], time.perf_counter()
    for step in range(1, steps + 1):
        model.train()
        vision, target = _inpaint_batch(train, rng, batch)
        loss = F.mse_loss(predict(vision), target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 50 == 0 or step == steps:
            model.eval()
            with torch.no_grad():
                error = float(np.mean([F.mse_loss(predict(v), t).item() for v, t in val]))
            curve.append({"step": step, "train_mse": round(loss.item(), 4), "val_mse": round(error, 4),
                          "seconds": round(time.perf_counter() - started, 1)})
            print(json.dumps({"inpaint": curve[-1]}), flush=True)
    run.mkdir(parents=True, exist_ok=True)
    save_bundle(run / "inpaint.dsmodel", model, meta.replace(metrics={}, parent=None))
    return {"val_mse": [c["val_mse"] for c in curve], "curve": curve}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--like", type=Path, required=True,
                        help="the default LEVIR-CD bundle whose tile, batch and rates both trainings take")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--arm", choices=("paste", "inpaint"), default="paste",
                        help="the pretext: synthetic pasted changes, or masked-image inpainting")
    parser.add_argument("--pretrained", type=Path, help="a pretext bundle every seed's fine-tuning starts from "
                        "(pretrained once, by another seed), instead of a pretraining per seed")
    parser.add_argument("--pairs", type=int, default=300, help="synthetic training pairs")
    parser.add_argument("--val-pairs", type=int, default=30, help="synthetic validation pairs")
    parser.add_argument("--pretrain-epochs", type=int, default=9)
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--tiles-per-epoch", type=int, help="default: 50 steps at the --like bundle's batch")
    parser.add_argument("--out", type=Path, default=Path("bench_ssl_pretrain"))
    args = parser.parse_args(argv)
    if not args.like.is_file():
        raise SystemExit(f"--like '{args.like}' is no bundle: give a LEVIR-CD bundle of the default "
                         f"(bench/unlabelled.py levir --arms supervised --epochs 9 writes one; its tile, batch and "
                         f"rates are read)")
    # 50 steps an epoch at the --like bundle's batch unless given (200 tiles at the 256-px step's 4, 800 at 16)
    from engine.bundle.store import read_metadata

    args.tiles_per_epoch = args.tiles_per_epoch or 50 * int(read_metadata(args.like).train["batch_size"])
    tiles = ["--patience", "0", "--tiles-per-epoch", str(args.tiles_per_epoch)]
    args.out.mkdir(parents=True, exist_ok=True)
    written = args.out / "ssl_pretrain.json"  # other seeds' results kept
    results: dict[str, Any] = json.loads(written.read_text()) if written.exists() else {}
    for seed in args.seeds:
        load = os.getloadavg()[0]
        run = args.out / f"{args.arm}_s{seed}"
        parent = args.pretrained or run / ("synth.dsmodel" if args.arm == "paste" else "inpaint.dsmodel")
        if args.pretrained:
            first: dict[str, Any] = {"pretrained": str(args.pretrained)}
        elif parent.exists():
            first = {"reused": True}
            if (metrics := run / "synth_metrics.csv").exists():
                first["val_iou"] = _curve(metrics)["val_iou"]
        elif args.arm == "paste":
            synth = args.out / f"synth_s{seed}"
            if not (synth / "val" / "label").is_dir():
                write_synthetic(synth, unlabelled_sources(REALDATA), args.pairs, args.val_pairs, seed)
            first = pretrain(synth, run, args.like, seed, ["--epochs", str(args.pretrain_epochs), *tiles])
        else:  # the default's batch of 4: the same steps as the paste arm's
            first = inpaint(run, args.like, unlabelled_sources(REALDATA), seed,
                            args.pretrain_epochs * args.tiles_per_epoch // 4)
        print(json.dumps({"stage": f"pretrain {args.arm}", "seed": seed, "load": round(load, 2), **first}),
              flush=True)
        dataset, _ = levir_layout(REALDATA, args.out)
        load = os.getloadavg()[0]
        second = finetune(dataset, parent, args.out / f"levir_{args.arm}_s{seed}", args.like, seed,
                          ["--epochs", str(args.epochs), *tiles]) | {"seed": seed, "load": round(load, 2)}
        print(json.dumps({"stage": "finetune", **second}), flush=True)
        results[str(seed)] = {"pretrain": first, "finetune": second}
        written.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
