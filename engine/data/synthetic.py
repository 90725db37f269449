"""Synthetic but realistic scenes for tests, demos and benchmarks, deterministic for a seed.

A scene is a 16-bit R,G,B,NIR image in a UTM CRS at ~1 m, coarse aux rasters in EPSG:4326 (about
``aux_ratio`` times coarser, covering the image footprint plus a margin, so they are *not* pixel-aligned with
the image), and a label raster plus the same label as GeoPackage polygons.

The class is a known smooth function of map position: ``field_value(x, y) > THRESHOLD`` where (x, y) are
coordinates in the image CRS. Every aux channel is ``base + scale * (sign * field + 0.35 * drift)`` of the same
position (``expected_aux``), so an aux read that is shifted, unwarped or resized over the wrong extent gives
the wrong values and the wrong class. ``label_from`` says which stream shows the class: "aux", "vision" or
"both" (the default, which makes demos visibly right).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..config import REFERENCE_AUX_PREFIXES
from ..errors import ConfigError
from ..runtime.environment import require
from .ground import METRES_PER_DEGREE

THRESHOLD = 0.2  # class 1 where field_value > THRESHOLD (about 40 % of the area)
DEFAULT_ORIGIN = (320_000.0, 4_150_000.0)  # upper-left corner in EPSG:32652 (Korea, ~37.5 N 127 E)
# Per aux-file value ranges (base, scale), like GEMS and air-pollution grids of different units.
_GROUP_SCALES = ((300.0, 40.0), (0.03, 0.006), (2.0e-4, 5.0e-5), (1.5, 0.5))
# The vision's values in each dtype, from digital numbers 1..65535
_DIGITAL_NUMBERS = {"uint16": lambda dn: dn, "uint8": lambda dn: np.clip(dn / 16.0, 0, 255),
                    "int16": lambda dn: dn - 1000, "float32": lambda dn: dn / 10000.0}


def _waves(seed: int, n: int, low: float, high: float, salt: int) -> np.ndarray:
    """n plane waves (kx, ky, phase, amplitude) with wavelengths in [low, high] metres."""
    rng = np.random.default_rng([int(seed), salt])
    angles = rng.uniform(0, np.pi, n)
    lengths = rng.uniform(low, high, n)
    phases = rng.uniform(0, 2 * np.pi, n)
    k = 2 * np.pi / lengths
    return np.stack([k * np.cos(angles), k * np.sin(angles), phases], axis=1)


def field_value(x: Any, y: Any, seed: int = 0) -> np.ndarray:
    """The class field at map coordinates (x, y) of the image CRS, roughly in [-1, 1]; class 1 where > THRESHOLD."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    total = np.zeros(np.broadcast(x, y).shape)
    for (kx, ky, phase), amp in zip(_waves(seed, 3, 90.0, 170.0, 1), (0.5, 0.3, 0.2)):
        total += amp * np.sin(kx * x + ky * y + phase)
    return total / 0.75


def class_at(x: Any, y: Any, seed: int = 0) -> np.ndarray:
    """Expected class (0/1) at map coordinates of the image CRS."""
    return (field_value(x, y, seed) > THRESHOLD).astype(np.uint8)


def _channel_params(channels: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng([int(seed), 3])
    base, scale = np.array([_GROUP_SCALES[(k // 12) % 4] for k in range(channels)]).reshape(-1, 2).T
    base = base * rng.uniform(0.8, 1.2, channels)
    return base, scale, rng.choice([-1.0, 1.0], channels), _waves(seed, channels, 400.0, 900.0, 4)


def expected_aux(x: Any, y: Any, seed: int = 0, channels: int = 48, informative: bool = True) -> np.ndarray:
    """Aux values (channels, *shape) at map coordinates (x, y) of the image CRS: channel k of the concatenated aux
    stack (files, then bands, in order). ``informative=False``: ``label_from="vision"``'s (drift only)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    base, scale, sign, drift = _channel_params(channels, seed)
    f = field_value(x, y, seed) if informative else np.zeros(np.broadcast(x, y).shape)
    base, scale, sign, kx, ky, phase = (v.reshape(-1, *[1] * f.ndim) for v in (base, scale, sign, *drift.T))
    return base + scale * (sign * f + 0.35 * np.sin(kx * x + ky * y + phase))


def write_tif(path: Path, data: np.ndarray, crs: Any, transform: Any, nodata: float | None = None) -> str:
    """Write ``data`` (bands, H, W), or one band (H, W), as a GeoTIFF in its own dtype; returns the path."""
    rasterio = require("rasterio")
    data = data if data.ndim == 3 else data[None]
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                   dtype=str(data.dtype), crs=crs, transform=transform, nodata=nodata)
    if data.shape[1] >= 256 and data.shape[2] >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return str(path)


def _vision(classes: np.ndarray, seed: int, show_class: bool, dtype: str) -> np.ndarray:
    """R, G, B, NIR digital numbers in the thousands with texture; foreground looks like vegetation."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng([int(seed), 5])
    h, w = classes.shape
    base = np.array([1200.0, 1400.0, 1000.0, 2200.0])
    out = np.empty((4, h, w))
    shared = gaussian_filter(rng.normal(size=(h, w)), 6) * 40
    for b in range(4):
        texture = gaussian_filter(rng.normal(size=(h, w)), 2.5) * 250 + rng.normal(size=(h, w)) * 40
        out[b] = base[b] + shared * 5 + texture
    if show_class:
        soft = gaussian_filter(classes.astype(np.float64), 0.7)
        out += soft[None] * np.array([-500.0, 250.0, -350.0, 1800.0])[:, None, None]
    out = np.clip(out, 1, 65535)
    return _DIGITAL_NUMBERS[dtype](out).astype(dtype)


def _aux_grid(bounds: tuple[float, float, float, float], crs: str, aux_crs: str, aux_size_m: float,
              margin: float) -> tuple[Any, int, int]:
    """Transform and size of an aux raster in ``aux_crs`` covering ``bounds`` (in ``crs``) plus a margin."""
    from affine import Affine
    from rasterio.warp import transform_bounds

    xmin, ymin, xmax, ymax = transform_bounds(crs, aux_crs, *bounds, densify_pts=21)
    rasterio = require("rasterio")
    if rasterio.crs.CRS.from_user_input(aux_crs).is_geographic:
        lat = math.radians((ymin + ymax) / 2)
        dy = aux_size_m / METRES_PER_DEGREE
        dx = aux_size_m / (METRES_PER_DEGREE * math.cos(lat))
    else:
        dx = dy = aux_size_m
    mx, my = (xmax - xmin) * margin + 2 * dx, (ymax - ymin) * margin + 2 * dy
    xmin, xmax, ymin, ymax = xmin - mx, xmax + mx, ymin - my, ymax + my
    width, height = int(math.ceil((xmax - xmin) / dx)), int(math.ceil((ymax - ymin) / dy))
    return Affine(dx, 0, xmin, 0, -dy, ymax), width, height


def _aux_values(transform: Any, width: int, height: int, aux_crs: str, crs: str, seed: int, channels: int,
                informative: bool) -> np.ndarray:
    """Sample ``expected_aux`` at the aux pixel centres (converted to the image CRS)."""
    from rasterio.warp import transform as transform_coords

    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    xs = transform.c + cols * transform.a + rows * transform.b
    ys = transform.f + cols * transform.d + rows * transform.e
    if str(aux_crs) != str(crs):
        px, py = transform_coords(aux_crs, crs, xs.ravel().tolist(), ys.ravel().tolist())
        xs, ys = np.array(px).reshape(xs.shape), np.array(py).reshape(ys.shape)
    return expected_aux(xs, ys, seed, channels, informative).astype(np.float32)


def _polygonize(label_path: Path, out_path: Path, vector_crs: str | None = None) -> None:
    """Polygons of the non-zero label pixels, with their raw value in the field ``class``; optionally reprojected."""
    require("osgeo")
    from osgeo import gdal, ogr, osr

    gdal.UseExceptions()
    ogr.UseExceptions()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.unlink(missing_ok=True)
    src = gdal.Open(str(label_path))
    band = src.GetRasterBand(1)
    srs = osr.SpatialReference(wkt=src.GetProjection())
    target = out_path if vector_crs is None else out_path.with_name(out_path.stem + "_tmp.gpkg")
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(target))
    layer = ds.CreateLayer("labels", srs=srs, geom_type=ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("class", ogr.OFTInteger))
    layer.CreateField(ogr.FieldDefn("kind", ogr.OFTString))
    gdal.Polygonize(band, band, layer, 0, [], callback=None)
    layer.StartTransaction()
    for feature in layer:
        feature.SetField("kind", "foreground")
        layer.SetFeature(feature)
    layer.CommitTransaction()
    ds = src = None  # closed: the layer written
    if vector_crs is not None:
        gdal.VectorTranslate(str(out_path), str(target), format="GPKG", dstSRS=vector_crs, reproject=True)
        target.unlink()


def write_scene_files(image_path: str | Path, label_path: str | Path, aux_paths: list[str | Path], *,
                      size: tuple[int, int] = (256, 256), crs: str = "EPSG:32652", gsd: float = 1.0,
                      origin: tuple[float, float] | None = None, aux_crs: str = "EPSG:4326",
                      aux_bands: list[int], aux_extra_bands: int = 0, aux_ratio: float = 8.0,
                      aux_margin: float = 0.15, seed: int = 0, field_seed: int | None = None, label_from: str = "both",
                      dtype: str = "uint16", label_value: int = 90, vector_path: str | Path | None = None,
                      vector_crs: str | None = None) -> None:
    """Write one synthetic scene to the given paths (``aux_bands``: the bands of each aux file; options:
    :func:`make_scene`)."""
    from affine import Affine

    if label_from not in ("aux", "vision", "both"):
        raise ConfigError(f"label_from must be 'aux', 'vision' or 'both' (got {label_from!r}).")
    if dtype not in _DIGITAL_NUMBERS:
        raise ConfigError(f"dtype must be one of {tuple(_DIGITAL_NUMBERS)} (got {dtype!r}).")
    field_seed = seed if field_seed is None else field_seed
    h, w = int(size[0]), int(size[1])
    if origin is None:
        rng = np.random.default_rng([int(seed), 11])
        origin = (DEFAULT_ORIGIN[0] + float(rng.integers(0, 2000)) * gsd,
                  DEFAULT_ORIGIN[1] - float(rng.integers(0, 2000)) * gsd)
    transform = Affine(gsd, 0, origin[0], 0, -gsd, origin[1])
    cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    xs, ys = origin[0] + cols * gsd, origin[1] - rows * gsd
    classes = class_at(xs, ys, field_seed)
    vision = _vision(classes, seed, label_from in ("vision", "both"), dtype)
    write_tif(Path(image_path), vision, crs, transform)
    write_tif(Path(label_path), (classes * np.uint8(label_value)).astype(np.uint8)[None], crs, transform)
    if vector_path is not None:
        _polygonize(Path(label_path), Path(vector_path), vector_crs=vector_crs)
    if aux_paths:
        bounds = (origin[0], origin[1] - h * gsd, origin[0] + w * gsd, origin[1])
        a_transform, aw, ah = _aux_grid(bounds, crs, aux_crs, gsd * aux_ratio, aux_margin)
        informative = label_from in ("aux", "both")
        values = _aux_values(a_transform, aw, ah, aux_crs, crs, field_seed, sum(aux_bands), informative)
        end = 0
        for path, n in zip(aux_paths, aux_bands):
            block, end = values[end:end + n], end + n
            if aux_extra_bands:
                rng = np.random.default_rng([int(seed), 13, end])
                extra = rng.normal(size=(aux_extra_bands, ah, aw)).astype(np.float32)
                block = np.concatenate([block, extra], axis=0)
            write_tif(Path(path), block, aux_crs, a_transform)


def make_scene(path_dir: str | Path, name: str = "scene", *, aux_channels: int | list[int] = 48,
               aux_prefixes: list[str] | None = None, **options: Any) -> dict[str, Any]:
    """Write a synthetic scene into ``path_dir``; returns {"image", "label", "label_vector" (GeoPackage, field
    "class" = raw value): path, "aux": [paths]}.

    ``aux_channels``: an int = one aux file with that many bands; a list = one file per entry (e.g. [12]*4 for the
    reference layout, named ``<prefix><name>.tif`` with ``aux_prefixes``). 0 or [] = no aux. ``options``: those of
    :func:`write_scene_files`: ``size`` (height, width) px; ``gsd`` metres; ``aux_crs`` (EPSG:4326: a grid not
    aligned with the image's); ``aux_extra_bands``: noise bands appended to every aux file (to test "first N
    bands"); ``aux_ratio``: aux / image pixel size (roughly: the aux is in degrees); ``seed``: texture and placement,
    ``field_seed`` (default ``seed``) the class field and aux coefficients; ``origin``: upper-left (x, y) in ``crs``
    (default a seed-dependent spot in Korea); ``dtype``: uint16 (default, values in the thousands), uint8, int16 or
    float32; ``label_value``: raw label of class 1 (0 elsewhere; 90 like the reference data); ``vector_crs``: of the
    label polygons (default the image CRS).
    """
    root = Path(path_dir)
    root.mkdir(parents=True, exist_ok=True)
    if isinstance(aux_channels, int):
        bands = [aux_channels] if aux_channels > 0 else []
        aux_paths = [root / f"{name}_aux.tif"] if bands else []
    else:
        bands = [int(b) for b in aux_channels]
        prefixes = list(aux_prefixes or REFERENCE_AUX_PREFIXES)
        prefixes += [f"AUX{i}_" for i in range(len(prefixes), len(bands))]
        aux_paths = [root / f"{prefixes[i]}{name}.tif" for i in range(len(bands))]
    paths = {key: root / f"{name}_{part}" for key, part in
             (("image", "image.tif"), ("label", "label.tif"), ("label_vector", "label.gpkg"))}
    write_scene_files(paths["image"], paths["label"], aux_paths, aux_bands=bands, vector_path=paths["label_vector"],
                      **options)
    return {**{k: str(v) for k, v in paths.items()}, "aux": [str(p) for p in aux_paths]}


REFERENCE_FOLDERS = {
    "train": ("ts_sn", "tl_sn", "t_ap", "t_gems"),
    "val": ("vs_sn", "vl_sn", "v_ap", "v_gems"),
}


def make_reference_dataset(root: str | Path, n_train: int = 4, n_val: int = 2, size: tuple[int, int] = (256, 256),
                           seed: int = 0, aux_bands: int = 12, *, gsd: float = 1.0, vectors: bool = False,
                           **options: Any) -> str:
    """Write the reference folder layout under ``root`` and return ``root``.

    ``ts_sn/<name>.tif`` (4-band uint16 image), ``tl_sn/<name>.tif`` (label, 90 = class 1),
    ``t_gems/GEMS_<name>.tif`` and ``t_ap/AIR_Pollution_{CO,NO2,SO2}_<name>.tif`` (``aux_bands`` bands each);
    the same under vs_sn/vl_sn/v_gems/v_ap for validation. Scenes lie side by side and share one class field
    (``seed``), so the aux -> class rule is the same everywhere. ``vectors=True`` also writes the labels as polygons
    to ``tl_sn_gpkg/<name>.gpkg`` / ``vl_sn_gpkg/<name>.gpkg``. ``options``: see :func:`make_scene`.
    """
    root = Path(root)
    scenes = [(split, i) for split, count in (("train", n_train), ("val", n_val)) for i in range(count)]
    for index, (split, i) in enumerate(scenes):
        img_dir, lbl_dir, ap_dir, gems_dir = (root / d for d in REFERENCE_FOLDERS[split])
        name = f"{split}_{i:03d}"
        # 600 m apart (more than a scene) so train and validation cover different ground
        origin = (DEFAULT_ORIGIN[0] + index * (size[1] * gsd + 600.0), DEFAULT_ORIGIN[1] - (index % 3) * 300.0)
        aux_paths = [(ap_dir if k else gems_dir) / f"{p}{name}.tif" for k, p in enumerate(REFERENCE_AUX_PREFIXES)]
        write_scene_files(
            img_dir / f"{name}.tif", lbl_dir / f"{name}.tif", aux_paths, size=size, gsd=gsd, origin=origin,
            aux_bands=[aux_bands] * 4, seed=seed * 1000 + index, field_seed=seed,
            vector_path=(root / f"{lbl_dir.name}_gpkg" / f"{name}.gpkg") if vectors else None, **options)
    return str(root)


#: The sample a new user starts from (``make demo`` and QGIS's "Create sample data"): scene A to train on,
#: scene B (other ground of the same world) to segment and evaluate.
SAMPLE_SCENES = {"train": ("scene_a", (384, 384), 11), "test": ("scene_b", (256, 320), 12)}


def sample_files(folder: str | Path) -> list[Path]:
    """Every file :func:`make_sample` writes into ``folder`` (to refuse overwriting them)."""
    root = Path(folder)
    return [root / f"{name}_{part}" for name, _, _ in SAMPLE_SCENES.values()
            for part in ("image.tif", "label.tif", "label.gpkg", "aux.tif")]


def make_sample(folder: str | Path, label_value: int = 90) -> dict[str, dict[str, Any]]:
    """Two scenes of one synthetic world (same class field, different places), deterministic; ``label_value``: the
    raw label of class 1 (1: the labels are class numbers). Returns ``{"train": paths, "test": paths}``
    (:func:`make_scene`)."""
    common = {"crs": "EPSG:32652", "gsd": 1.0, "aux_crs": "EPSG:4326", "aux_channels": 48, "field_seed": 7,
              "label_from": "both", "dtype": "uint16", "label_value": label_value}
    return {role: make_scene(folder, name, size=size, seed=seed, **common)
            for role, (name, size, seed) in SAMPLE_SCENES.items()}
