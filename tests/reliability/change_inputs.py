"""The reliability suite's inputs of change detection (issue 63): a synthetic pair of 64 x 64 px, later dates that
cannot be used (far away, all nodata, all masked as cloud, two bands, an earlier acquisition by its metadata), a
change label far from both dates, and a tiny change model trained once on the pair.

Built once per session beside the other inputs (read-only for the cases).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _copy(source: str, path: Path, **changes: Any) -> str:
    """``source`` rewritten at ``path`` with profile ``changes``; ``data`` (an array) replaces its pixels and
    ``mask`` (a bool array) becomes its internal mask."""
    import rasterio

    with rasterio.open(source) as src:
        profile, data = src.profile, src.read()
    data = changes.pop("data", data)
    mask = changes.pop("mask", None)
    profile.update(count=data.shape[0], dtype=str(data.dtype), **changes)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        if mask is not None:
            dst.write_mask(mask.astype(np.uint8) * 255)
    return str(path)


def build_change(w: dict[str, Any], folder: Path, run_cli: Any, train_args: tuple[str, ...]) -> None:
    """Write the change detection inputs under ``folder`` and train the tiny change model; paths go into ``w``
    (``cd_*``)."""
    from engine.data.synthetic_pairs import make_pair

    folder.mkdir(parents=True, exist_ok=True)
    pair = make_pair(folder, seed=4, size=64, buildings=5, changes=2, name="pair")
    w.update(cd_before=pair.before, cd_after=pair.after, cd_label=pair.change, cd_classes=pair.before_classes,
             cd_after_classes=pair.after_classes)
    import rasterio

    with rasterio.open(pair.after) as src:
        data, transform = src.read(), src.transform
    far = transform * transform.translation(1e5, 0)
    w["cd_far_after"] = _copy(pair.after, folder / "far_after.tif", transform=far)
    w["cd_nodata_after"] = _copy(pair.after, folder / "nodata_after.tif", data=np.zeros_like(data), nodata=0)
    w["cd_cloud_after"] = _copy(pair.after, folder / "cloud_after.tif", mask=np.zeros(data.shape[1:], bool))
    w["cd_two_bands_after"] = _copy(pair.after, folder / "two_bands_after.tif", data=data[:2])
    w["cd_far_label"] = _copy(pair.change, folder / "far_change.tif", transform=far)
    # dates in the file names (as Sentinel-2's): the "later" one was taken two years before the first
    w["cd_late_first"] = _copy(pair.before, folder / "S2A_MSIL2A_20230601T103031.tif")
    w["cd_early_after"] = _copy(pair.after, folder / "S2A_MSIL2A_20210601T103031.tif")
    _dataset_folders(w, folder)
    _masks(w, folder)
    bundle = folder / "change.dsmodel"
    done = run_cli("train", "--image", pair.before, "--after", pair.after, "--label", pair.change, "--model",
                   "change", *train_args, "--out", str(bundle))
    if done.returncode != 0:
        raise RuntimeError(f"training the suite's change model failed:\n{done.stdout}\n{done.stderr}")
    w["cd_bundle"] = str(bundle)


def _dataset_folders(w: dict[str, Any], folder: Path) -> None:
    """Change-detection datasets as published (A/, B/, label/ of PNG tiles, 0/255 masks) a careless user gives
    ``--data``: labels missing, a pair's later date missing, a later date of another size, a list naming a file
    that is not there."""
    import shutil
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    from tests.helpers import published

    good = published(folder / "dataset", ["p0", "p1", "p2"])
    for name, broken in (("no_labels", "label"), ("no_later", "B/p1.png"), ("other_size", "B/p2.png"),
                         ("listed", "list")):
        copy = folder / f"dataset_{name}"
        shutil.copytree(good, copy, ignore=shutil.ignore_patterns("_made"))
        w[f"cd_folder_{name}"] = str(copy)
        target = copy / broken
        if name == "no_labels":
            shutil.rmtree(target)
        elif name == "no_later":
            target.unlink()
        elif name == "other_size":
            with warnings.catch_warnings():  # a PNG tile has no georeferencing, as the datasets ship them
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                with rasterio.open(target) as src:
                    data = src.read()[:, :40, :40]
                with rasterio.open(target, "w", driver="PNG", width=40, height=40, count=data.shape[0],
                                   dtype="uint8") as dst:
                    dst.write(data)
        else:
            target.mkdir()
            (target / "train.txt").write_text("p0.png\np9.png\n")
    w["cd_folder"] = str(good)


def _masks(w: dict[str, Any], folder: Path) -> None:
    """A change mask as a prediction from elsewhere (0/1, no mapping carried) and the same mask coded 0/255."""
    import rasterio

    with rasterio.open(w["cd_label"]) as src:
        data = src.read()
    w["cd_mask_prediction"] = _copy(w["cd_label"], folder / "mask_prediction.tif")
    w["cd_mask_255"] = _copy(w["cd_label"], folder / "mask_255.tif", data=(data > 0).astype(np.uint8) * 255)
