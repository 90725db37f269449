"""dtwSat's Mato Grosso season as users have it, for ``bench/season_real.py prepare --source dtwsat``.

The data (github.com/r-spatial/dtwSat ``inst/mato_grosso_brazil``, GPL >= 3: kept out of this repository): 23 real
MOD13Q1 16-day composites of one crop season (2011-09-14 .. 2012-08-28), 37 x 27 px at 232 m (MODIS sinusoidal)
near 55.95 W 12.0 S in Mato Grosso, seven float bands each (dtwSat reads the first six as EVI, NDVI, RED, BLUE, NIR,
MIR; the seventh is each pixel's day of year in the composite), and ``samples.gpkg``: 291 field points of the
2011-09-01 .. 2012-08-31 season, five classes (forest and four crop successions: cotton-fallow, soybean-cotton,
soybean-maize, soybean-millet). Each date is dated by its file name (the composite period's first day, as dtwSat
reads it) in its ACQUISITIONDATETIME tag. No cloud masks: a composite's dates all count as clear.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np

DTWSAT_BANDS = ("evi", "ndvi", "red", "blue", "nir", "mir")  # dtwSat's names of the first six bands of each date
DTWSAT_SPLIT = 2  # each MODIS pixel as 2 x 2: the place (37 x 27 px) is under the engine's 32 px training scene


def _split(values: np.ndarray) -> np.ndarray:
    """Each pixel of ``values`` (..., h, w) as ``DTWSAT_SPLIT`` x ``DTWSAT_SPLIT`` pixels of the same value."""
    return np.repeat(np.repeat(values, DTWSAT_SPLIT, axis=-2), DTWSAT_SPLIT, axis=-1)


REFLECTANCE = ("red", "blue", "nir", "mir")  # the bands in reflectance 0-1 (EVI and NDVI are indices)


def prepare_dtwsat(folder: Path, out: Path, unlabelled: int, scale: float = 1.0) -> dict[str, Any]:
    """Write dtwSat's Mato Grosso season (``folder``: its ``inst/mato_grosso_brazil``) as users have it under
    ``out``: dates/ (one dated GeoTIFF each), label.tif (each field point's pixel; ``unlabelled`` elsewhere),
    samples.gpkg; every pixel split into ``DTWSAT_SPLIT`` x ``DTWSAT_SPLIT`` (nearest: no value changes). ``scale``
    multiplies the reflectance bands (10000: the units Presto and Galileo read Sentinel-2 bands in)."""
    import re
    import shutil

    import rasterio
    from osgeo import ogr
    from rasterio.transform import Affine

    written = []
    (out / "dates").mkdir(parents=True, exist_ok=True)
    for path in sorted(folder.glob("MOD13Q1_*.tif")):
        day = dt.datetime.strptime(re.search(r"_(\d{8})_", path.name).group(1), "%Y%m%d")
        with rasterio.open(path) as src:
            bands, grid = src.read(list(range(1, len(DTWSAT_BANDS) + 1))), src.profile
        for index, name in enumerate(DTWSAT_BANDS):
            if name in REFLECTANCE:  # its nodata kept (2011-11-17 has 9 px of it in blue)
                with np.errstate(over="ignore"):
                    bands[index] = np.where(bands[index] == grid["nodata"], bands[index], bands[index] * scale)
        profile = dict(grid, count=len(DTWSAT_BANDS), width=grid["width"] * DTWSAT_SPLIT,
                       height=grid["height"] * DTWSAT_SPLIT,
                       transform=grid["transform"] * Affine.scale(1 / DTWSAT_SPLIT))
        with rasterio.open(out / "dates" / path.name, "w", **profile) as dst:
            dst.write(_split(bands))
            for index, name in enumerate(DTWSAT_BANDS, start=1):
                dst.set_band_description(index, name)
            dst.update_tags(ACQUISITIONDATETIME=day.isoformat())
        written.append({"date": day.date().isoformat(), "file": path.name})
    source = ogr.Open(str(folder / "samples.gpkg"))
    points = [(f.GetGeometryRef().GetX(), f.GetGeometryRef().GetY(), f.GetField("label"))
              for f in source.GetLayer()]
    classes = sorted({name for _, _, name in points})
    labels = np.full((grid["height"], grid["width"]), unlabelled, np.uint8)
    inverse = ~grid["transform"]
    for x, y, name in points:
        column, row = (int(v) for v in inverse * (x, y))
        labels[row, column] = classes.index(name)
    labels = _split(labels)
    profile.update(count=1, dtype="uint8", nodata=None)
    with rasterio.open(out / "label.tif", "w", **profile) as dst:
        dst.write(labels, 1)
    shutil.copyfile(folder / "samples.gpkg", out / "samples.gpkg")
    summary = {"source": "dtwSat mato_grosso_brazil (MOD13Q1)", "reflectance_scale": scale, "dates": written,
               "size": [profile["width"], profile["height"]], "classes": classes,
               "labelled_px": {n: int((labels == i).sum()) for i, n in enumerate(classes)}}
    (out / "dates.json").write_text(json.dumps(summary, indent=1))
    return summary
