"""Dated rasters of one place for the season tests: a tiny GeoTIFF with its date in its tag, a season whose second
band tells the class by its calendar, and a callback keeping the lines said."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from engine.callbacks import Callback

UTM = "EPSG:32631"


class Heard(Callback):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)

    def warning(self, message: str) -> None:
        self.lines.append("WARNING " + message)


def raster(path: Path, value: float, *, date: str | None = None, bands: int = 2, size: int = 8, crs: str = UTM,
           x0: float = 500000.0, pixel: float = 10.0, names: list[str] | None = None, nodata: float | None = None,
           data: np.ndarray | None = None) -> str:
    """A tiny GeoTIFF, every band ``value`` (or ``data``), its date in the ACQUISITIONDATETIME tag."""
    data = np.full((bands, size, size), value, np.float32) if data is None else data.astype(np.float32)
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                       dtype="float32", crs=crs, transform=from_origin(x0, 4000000.0, pixel, pixel),
                       nodata=nodata) as ds:
        ds.write(data)
        if date:
            ds.update_tags(ACQUISITIONDATETIME=date)
        for i, name in enumerate(names or []):
            ds.set_band_description(i + 1, name)
    return str(path)


def season_scene(tmp_path: Path, dates: list[str], size: int = 32, cloudy: int | None = None) -> tuple[list[str], str]:
    """Dated rasters of one place whose second band tells the class by season (class 1: rising over the dates)."""
    rng = np.random.default_rng(0)
    label = np.zeros((1, size, size), np.float32)
    label[0, :, size // 2:] = 1
    paths = []
    for t, date in enumerate(dates):
        data = rng.normal(0.2, 0.02, (2, size, size)).astype(np.float32)
        data[1] += label[0] * 0.1 * t
        path = raster(tmp_path / f"d{t}.tif", 0, date=date, data=data)
        if cloudy == t:
            mask = np.zeros((1, size, size), np.float32)
            mask[0, : size // 2] = 1
            raster(tmp_path / f"d{t}_cloud.tif", 0, data=mask)
        paths.append(path)
    return paths, raster(tmp_path / "label.tif", 0, data=label)
