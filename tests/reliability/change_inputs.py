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
    bundle = folder / "change.dsmodel"
    done = run_cli("train", "--image", pair.before, "--after", pair.after, "--label", pair.change, "--model",
                   "change", *train_args, "--out", str(bundle))
    if done.returncode != 0:
        raise RuntimeError(f"training the suite's change model failed:\n{done.stdout}\n{done.stderr}")
    w["cd_bundle"] = str(bundle)
