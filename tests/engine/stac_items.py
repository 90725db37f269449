"""Local STAC items for the tests: an image's bands as single-band GeoTIFF assets, listed blue, green, red, nir (as
Sentinel-2 items list them), with eo:bands names and common names and optional raster:bands scale."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

X0, Y0, PIXEL = 500000.0, 4100000.0, 0.5  # the top-left corner and pixel size, EPSG:32633
ORDER = ("blue", "green", "red", "nir")  # the item's asset order
NAMES = {"blue": "B02", "green": "B03", "red": "B04", "nir": "B08"}


def write_tif(path: Path, data: np.ndarray, names: tuple[str, ...] = (), pixel: float = PIXEL) -> Path:
    """``data`` (bands, rows, cols) as a GeoTIFF in EPSG:32633 with its top-left corner at X0, Y0."""
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                       dtype=data.dtype.name, crs="EPSG:32633", transform=from_origin(X0, Y0, pixel, pixel)) as dst:
        dst.write(data)
        if names:
            dst.descriptions = names
    return path


def make_item(folder: Path, dn: np.ndarray, base: str = "", scale: float | None = 0.0001,
              common: bool = True, pixel: float = PIXEL) -> Path:
    """An item of ``dn`` (blue, green, red, nir) as single-band assets in ``folder``; hrefs under ``base`` when
    given (a server's URL), else relative."""
    assets = {}
    for i, colour in enumerate(ORDER):
        write_tif(folder / f"{NAMES[colour]}.tif", dn[i:i + 1], pixel=pixel)
        band = {"name": NAMES[colour], **({"common_name": colour} if common else {})}
        raster = {"data_type": dn.dtype.name, **({"scale": scale, "offset": 0.0} if scale else {})}
        assets[colour] = {"href": f"{base}/{NAMES[colour]}.tif" if base else f"{NAMES[colour]}.tif",
                          "type": "image/tiff; application=geotiff", "roles": ["data"], "eo:bands": [band],
                          "raster:bands": [raster]}
    item = {"type": "Feature", "stac_version": "1.0.0", "id": "SCENE", "properties": {}, "geometry": None,
            "assets": assets, "links": []}
    path = folder / "item.json"
    path.write_text(json.dumps(item), encoding="utf-8")
    return path
