"""The image-domain warning on REAL scenes (issue 53, item 11; opt-in: ``pytest -m realdata``): silent on every
scene of a product the training statistics came from (Sentinel-2 L2A tiles one against the others, 8-bit aerial
crops of one set against another), a warning on each real shift (digital numbers given to a reflectance model
and back, 0-1 given to a 0-255 model and back, an 8-bit export, another sensor or product level).

The training statistics are those training computes (``compute_statistics``: the 2-98 % percentiles of the
training scenes' valid pixels); each scene is judged by ``check_image_domain`` as segment does, through GDAL.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.io import MemoryFile

from engine.callbacks import Callback
from engine.data.checks import check_image_domain
from engine.data.normalize import compute_statistics

pytestmark = pytest.mark.realdata

Scene = tuple[np.ndarray, np.ndarray]  # (C, H, W) values as float64, (H, W) validity
AERIAL = {"mass1": "massachusetts_buildings_rgb/22978945_15_uint8_clipped2.tif",
          "mass2": "massachusetts_buildings_rgb/23429155_15_uint8_clipped.tif",
          "nb1": "new_brunswick_aerial_rgb/23322E759967N_clipped_1m_1of2.tif",
          "nb2": "new_brunswick_aerial_rgb/23322E759967N_clipped_1m_2of2.tif",
          "qc1": "quebec_tiles_rgb/tiled_image_1.tif", "qc2": "quebec_tiles_rgb/tiled_image_2.tif"}
PLANET = "spacenet7_planet_rgb/SN7_global_monthly_2020_01_mosaic_L15-0331E-1257N_1327_3160_13_clipped.tif"
WV3 = "spacenet2_vegas_wv3_rgbn/vegas_wv3_RGBN.tif"
RGB, RGBN = [3, 2, 1], [3, 2, 1, 7]  # Sentinel-2 B4, B3, B2 (and B8) among B1..B12 without B10


def read(path: Path, bands: list[int] | None = None) -> Scene:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 38-Cloud's patch has no georeferencing
        with rasterio.open(path) as dataset:
            values = dataset.read(bands, masked=True)
    return values.data.astype(np.float64), ~np.ma.getmaskarray(values).any(axis=0)


def pick(scene: Scene, bands: list[int]) -> Scene:
    return scene[0][bands], scene[1]


def scaled(scene: Scene, factor: float) -> Scene:
    return scene[0] * factor, scene[1]


def warned(scene: Scene, training: list[Scene], dtype: str) -> list[str]:
    """The domain warnings for ``scene`` stored as ``dtype``, judged against ``training``'s statistics."""
    statistics = compute_statistics(list(training), "percentile")
    values, valid = scene
    data = np.where(valid, values, 0)
    if np.dtype(dtype).kind in "iu":
        data = np.clip(np.round(data), np.iinfo(dtype).min, np.iinfo(dtype).max)
    said: list[str] = []
    profile = {"driver": "GTiff", "width": values.shape[2], "height": values.shape[1], "count": values.shape[0],
               "dtype": dtype, "nodata": None if valid.all() else 0}
    with MemoryFile() as memory:
        with memory.open(**profile) as out:
            out.write(data.astype(dtype))
        with memory.open() as dataset:
            check_image_domain(dataset, "scene", list(range(1, values.shape[0] + 1)), statistics, "m", Callback(),
                               said)
    return said


@pytest.fixture(scope="module")
def scenes(realdata: Path) -> dict[str, Scene]:
    s2 = sorted((realdata / "terramesh_s2_s1_dem" / "S2L2A").glob("*.tif"))
    if len(s2) < 5:
        pytest.skip(f"'{realdata}' lacks the five terramesh Sentinel-2 tiles")
    out = {path.stem[:4]: read(path) for path in s2}
    gdl = realdata / "gdl_buildings_landcover"
    out.update({key: read(gdl / name) for key, name in AERIAL.items()})
    out["planet"], out["wv3"] = read(gdl / PLANET, [1, 2, 3]), read(gdl / WV3)
    out["l8_l1"] = read(next((realdata / "cloud38_sample").glob("*_RGBN.tif")))
    return out


S2_TILES = ["282D", "38D_", "433D", "609U", "637U"]  # 609U: snow; 637U: the darkest


def test_no_warning_on_scenes_of_the_same_product(scenes):
    said = {}
    for tile in S2_TILES:  # four tiles' statistics, the fifth judged; and the first tile's, each other judged
        said[f"S2 others -> {tile}"] = warned(scenes[tile], [scenes[t] for t in S2_TILES if t != tile], "int16")
        said[f"S2 282D -> {tile}"] = warned(scenes[tile], [scenes["282D"]], "int16")
        reflectance = [scaled(scenes[t], 1e-4) for t in S2_TILES if t != tile]
        said[f"S2 reflectance -> {tile}"] = warned(scaled(scenes[tile], 1e-4), reflectance, "float32")
    for a, b in (("mass1", "mass2"), ("nb1", "nb2"), ("qc1", "qc2")):
        said[f"{a} -> {b}"] = warned(scenes[b], [scenes[a]], "uint8")
        said[f"{b} -> {a}"] = warned(scenes[a], [scenes[b]], "uint8")
    for key in AERIAL:
        said[f"other aerial -> {key}"] = warned(scenes[key], [scenes[k] for k in AERIAL if k != key], "uint8")
    assert {case: w for case, w in said.items() if w} == {}


def test_a_warning_on_each_real_shift(scenes):
    s2 = [scenes[t] for t in S2_TILES if t != "637U"]
    aerial = [scenes[k] for k in AERIAL if k != "qc2"]
    s2_rgb = [pick(scenes[t], RGB) for t in ("282D", "38D_", "433D")]
    s2_rgbn = [pick(scenes[t], RGBN) for t in ("282D", "38D_", "433D", "637U")]
    cases = {
        "S2 DN -> reflectance model": (scenes["637U"], [scaled(s, 1e-4) for s in s2], "int16", "times those"),
        "S2 reflectance -> DN model": (scaled(scenes["637U"], 1e-4), s2, "float32", "scaled to 0-1"),
        "S2 8-bit export -> DN model": (scaled(scenes["282D"], 255e-4), s2, "uint8", "8-bit export"),
        "aerial 0-1 -> 0-255 model": (scaled(scenes["qc2"], 1 / 255), aerial, "float32", "scaled to 0-1"),
        "aerial 0-255 -> 0-1 model": (scenes["qc2"], [scaled(s, 1 / 255) for s in aerial], "uint8", "times those"),
        "S2 DN RGB -> aerial model": (pick(scenes["282D"], RGB), aerial, "int16", "beyond 8 bits"),
        "dark S2 DN RGB -> aerial model": (pick(scenes["637U"], RGB), aerial, "int16", "beyond 8 bits"),
        "aerial -> S2 DN RGB model": (scenes["qc2"], s2_rgb, "uint8", "8-bit export"),
        "Planet visual int16 -> S2 DN RGB model": (scenes["planet"], s2_rgb, "int16", "of those in training"),
        "WorldView-3 8-bit -> S2 DN RGBN model": (scenes["wv3"], s2_rgbn, "uint8", "8-bit export"),
        "Landsat-8 L1 DN -> S2 L2A DN model": (scenes["l8_l1"], s2_rgbn, "uint16", "times those"),
        "S2 L2A DN -> Landsat-8 L1 DN model": (pick(scenes["282D"], RGBN), [scenes["l8_l1"]], "int16",
                                               "another product level"),
    }
    missed, wrong = [], []
    for case, (scene, training, dtype, cause) in cases.items():
        said = warned(scene, training, dtype)
        if not said:
            missed.append(case)
        elif cause not in said[0]:
            wrong.append((case, said[0]))
    assert missed == [] and wrong == []
