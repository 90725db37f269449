"""Helpers the test modules share (model bundles, bulk scene folders, in-memory training tiles, pretrained
checkpoints, a callback that records what it is told, cell indices of whole labels): test modules and the conftest
fixtures import them from here, never from one another.

Nothing here imports qgis: the engine tests import it with qgis blocked.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import torch
from rasterio.transform import from_origin

from engine.bundle.store import save_bundle
from engine.callbacks import Callback
from engine.cli.main import main
from engine.config import SegmentConfig
from engine.data import synthetic, synthetic_pairs
from engine.data.metadata import DataMetadata, DataSummary
from engine.data.normalize import BandStatistics
from engine.data.sampling import DEFAULT_CELL, CellIndex, CellIndexBuilder
from engine.errors import render
from engine.models import build_model
from engine.segment import segment

# ------------------------------------------------------------------------------------------------- bundles
NAMES = ["background", "building"]
COLORS = ["#000000", "#ff0000"]


def make_bundle(path: Path, *, vision_bands: int = 4, aux_channels: int = 0, num_classes: int = 1,
                tile: int = 64, seed: int = 0, class_names: list[str] | None = None,
                class_colors: list[str] | None = None, vision_high: float = 4000.0, gsd: float = 1.0,
                aux_stats: dict | None = None, band_names: list[str] | None = None, crs: str | None = None,
                one_class: int | None = None) -> str:
    """A bundle with random (seeded) weights of the tiny dualstream model (``band_names``: recorded as training
    records its images' band descriptions; ``crs``: the training CRS, which gives ``gsd`` its units;
    ``one_class``: its classifier gives that class at every pixel, whatever the input)."""
    torch.manual_seed(seed)
    model = build_model("dualstream", preset="tiny", vision_channels=vision_bands, aux_channels=aux_channels,
                        num_classes=num_classes, aux_ratio=8, dropout=0.0, drop_path=0.0)
    if one_class is not None:
        with torch.no_grad():
            model.decoder.classifier.weight.zero_()
            bias = model.decoder.classifier.bias
            bias.fill_(-5.0)
            bias[0 if num_classes == 1 else one_class] = 5.0 if num_classes > 1 or one_class == 1 else -5.0
    if class_names is None:
        class_names = NAMES if num_classes == 1 else [f"class {i}" for i in range(num_classes)]
    if class_colors is None and len(class_names) == 2:
        class_colors = COLORS
    elif class_colors is None:
        class_colors = ["#%02x%02x%02x" % (40 * i % 256, 90 * i % 256, 150 * i % 256) for i in range(len(class_names))]
    data = {
        "vision_bands": vision_bands,
        "vision_stats": {"method": "percentile", "low": [0.0] * vision_bands, "high": [vision_high] * vision_bands},
        "aux_channels": aux_channels,
        "aux_stats": aux_stats or ({"method": "meanstd", "low": [0.0] * aux_channels, "high": [1.0] * aux_channels}
                                   if aux_channels else None),
        "aux_bands_per_file": None,
        "aux_ratio": 8,
        "aux_prefixes": [],
        "class_names": class_names,
        "class_colors": class_colors,
        "tile_size": tile,
        "gsd": [gsd, gsd],
        "crs": crs,
        "num_classes": num_classes,
        "band_names": band_names,
    }
    return save_bundle(path, model, {"model": model.config.to_dict(), "data": data})


def bundle_of(model: torch.nn.Module, path: Path, bands: int = 3, tile: int = 64) -> Path:
    """``model`` (a tiny one, e.g. the season family's) saved as a bundle of ``bands`` bands a date, ``tile`` px
    tiles, identity statistics."""
    names = [f"class{i}" for i in range(model.config.num_classes)]
    data = {"vision_bands": bands, "vision_stats": {"method": "meanstd", "low": [0.0] * bands, "high": [1.0] * bands},
            "aux_channels": 0, "class_names": names, "class_colors": ["#000000"] * len(names), "tile_size": tile}
    return save_bundle(path, model, {"model": model.config.to_dict(), "data": data})


def make_change_bundle(path: Path, gsd: float = 1.0, **settings: Any) -> str:
    """A tiny change model with random (seeded) weights taking 3 bands per date, trained at ``gsd`` metres
    (``settings``: the model's, a decoder or fusion)."""
    torch.manual_seed(0)
    model = build_model("change", preset="tiny", vision_channels=3, num_classes=1, **settings)
    stats = {"method": "percentile", "low": [0.0] * 6, "high": [10000.0] * 6}
    data = {"vision_bands": 3, "vision_stats": stats, "aux_channels": 0, "class_names": ["no change", "change"],
            "class_colors": ["#000000", "#ff0000"], "tile_size": 64, "gsd": [gsd, gsd], "dates": 2,
            "crs": "EPSG:32619"}
    return str(save_bundle(path, model, {"model": model.config.to_dict(), "data": data}))


# --------------------------------------------------------------------------------------- bulk scene folders
BULK_SIZES = {"a": (96, 128), "b": (64, 64), "c": (150, 190)}  # (height, width): c is the largest, b the smallest


def write_bulk_scenes(folder: Path) -> Path:
    """``folder`` with the scenes of BULK_SIZES: ``<name>.tif`` and its 6-band ``<name>_aux.tif``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, (name, size) in enumerate(BULK_SIZES.items()):
        scene = synthetic.make_scene(folder.parent / f".gen_{folder.name}_{name}", name, size=size, seed=i,
                                     aux_channels=6)
        shutil.copy(scene["image"], folder / f"{name}.tif")
        shutil.copy(scene["aux"][0], folder / f"{name}_aux.tif")
    return folder


def write_geotiff(path: Path, data: np.ndarray, crs: str, origin: tuple[float, float], pixel: float) -> str:
    """``data`` ((bands,) rows, cols) as a GeoTIFF in ``crs``, its top-left corner at ``origin``."""
    data = data if data.ndim == 3 else data[None]
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                       dtype=data.dtype.name, crs=crs, transform=from_origin(*origin, pixel, pixel)) as dst:
        dst.write(data)
    return str(path)


def read_pixels(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read()


def assert_single_runs_equal(scenes: Path, template: SegmentConfig, out: Path, tmp_path: Path) -> None:
    """Each scene's bulk outputs in ``out`` (class raster, probabilities) equal a single run's of the scene."""
    for name in BULK_SIZES:
        single = tmp_path / f"single_{name}.tif"
        segment(template.replace(image=str(scenes / f"{name}.tif"), aux=[str(scenes / f"{name}_aux.tif")],
                                 output=str(single), probabilities=str(tmp_path / f"single_{name}_p.tif")))
        assert np.array_equal(read_pixels(out / f"{name}.tif"), read_pixels(single))
        assert np.array_equal(read_pixels(out / f"{name}_probabilities.tif"),
                              read_pixels(tmp_path / f"single_{name}_p.tif"))


# ------------------------------------------------------------------------------ in-memory training tiles
TILE = 64
AUX = 8


class AuxTiles(torch.utils.data.Dataset):
    """Random tiles whose class is 1 where the (upsampled) first aux channel is > 0."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        g = torch.Generator().manual_seed(self.seed * 100_000 + self.epoch * 1000 + i)
        aux = torch.randn(AUX, TILE // 8, TILE // 8, generator=g)
        up = torch.nn.functional.interpolate(aux[None, :1], size=(TILE, TILE), mode="bilinear", align_corners=False)
        labels = (up[0, 0] > 0).long()
        labels[:2] = 255  # some ignored pixels
        return {"vision": torch.randn(4, TILE, TILE, generator=g), "aux": aux, "labels": labels}


def aux_tiles_summary() -> DataSummary:
    """The data summary of AuxTiles (what build_datasets would have said about them)."""
    return DataSummary(DataMetadata(vision_bands=4, vision_stats=BandStatistics("meanstd", [0.0] * 4, [1.0] * 4),
                                    aux_channels=AUX, aux_ratio=8, class_names=["background", "field"],
                                    class_colors=["#000000", "#00ff00"], tile_size=TILE))


def aux_tile_datasets(n_train: int = 16, n_val: int = 8) -> tuple[AuxTiles, AuxTiles, DataSummary]:
    """(train, validation, summary) as ``train(datasets=...)`` takes them."""
    return AuxTiles(n_train, seed=1), AuxTiles(n_val, seed=2), aux_tiles_summary()


# ---------------------------------------------------------------------------------- pretrained checkpoints
TINY_SIZES = dict(hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], num_attention_heads=[1, 1, 2, 4])


def save_quietly(model: torch.nn.Module, folder: Path) -> None:
    """``model.save_pretrained(folder)`` without transformers' "Writing model shards" bar in the test log."""
    from engine.models.pretrained import quiet_transformers

    with quiet_transformers():
        model.save_pretrained(folder)


def save_segformer_checkpoint(folder: Path, cls_name: str = "SegformerModel", **sizes) -> torch.nn.Module:
    """A seeded tiny SegFormer written with save_pretrained into ``folder``; returns its encoder."""
    import transformers

    torch.manual_seed(3)
    config = transformers.SegformerConfig(num_channels=3, decoder_hidden_size=32, num_labels=2,
                                          **(sizes or TINY_SIZES))
    model = getattr(transformers, cls_name)(config)
    save_quietly(model, folder)
    return model.segformer if cls_name == "SegformerForSemanticSegmentation" else model


def state_copy(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


# ------------------------------------------------------------------------------------- Processing feedback
class RecordingFeedback:
    """Factory for a QgsProcessingFeedback that records progress values and can cancel on a condition."""

    @staticmethod
    def make(cancel_when=None):
        from qgis.core import QgsProcessingFeedback

        class _Feedback(QgsProcessingFeedback):
            def __init__(self):
                super().__init__()
                self.progress_values: list[float] = []
                self.infos: list[str] = []
                self.progressChanged.connect(self._on_progress)

            def _on_progress(self, value):
                self.progress_values.append(value)
                if cancel_when is not None and cancel_when(self):
                    self.cancel()

            def pushInfo(self, info):  # noqa: N802 - QGIS API
                self.infos.append(info)
                super().pushInfo(info)

        return _Feedback()


class RecordingCallback(Callback):
    """Keeps everything it is told; cancels after ``cancel_after`` progress calls."""

    def __init__(self, cancel_after: int | None = None):
        self.events: list[tuple[str, Any]] = []
        self.cancel_after = cancel_after
        self._progress_calls = 0

    def progress(self, done: float, total: float, stage: str = "") -> None:
        self._progress_calls += 1
        self.events.append(("progress", (done, total, stage)))

    def info(self, message: str) -> None:
        self.events.append(("info", render(message)))

    def warning(self, message: str) -> None:
        self.events.append(("warning", render(message)))

    def progress_line(self, message: str) -> None:
        self.events.append(("progress_line", render(message)))

    def metrics(self, epoch: int, values: dict[str, Any]) -> None:
        self.events.append(("metrics", (epoch, dict(values))))

    def epoch_started(self, epoch: int, epochs: int) -> None:
        self.events.append(("epoch", (epoch, epochs)))

    def is_canceled(self) -> bool:
        return self.cancel_after is not None and self._progress_calls >= self.cancel_after

    def messages(self, kind: str) -> list[Any]:
        return [payload for k, payload in self.events if k == kind]


class LogLines(Callback):
    """A callback keeping what a run said, line by line (warnings prefixed ``warning: ``)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)

    def warning(self, message: str) -> None:
        self.lines.append("warning: " + message)


def label_geopackage(path: Path, crs: str, fields: dict[str, str], value: str | None = None) -> str:
    """A user's own polygon label layer ``labels`` in ``crs`` (any form OSR reads: EPSG code, WKT) with ``fields``
    (name: OGR type name) and, given ``value``, one feature whose first field holds it."""
    from osgeo import ogr, osr

    srs = osr.SpatialReference()
    srs.SetFromUserInput(crs)
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = source.CreateLayer("labels", srs, ogr.wkbMultiPolygon)
    for name, kind in fields.items():
        layer.CreateField(ogr.FieldDefn(name, getattr(ogr, f"OFT{kind}")))
    if value is not None:
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetField(next(iter(fields)), value)
        layer.CreateFeature(feature)
    source = None
    return str(path)


def xy_transform(source: str, target: str):
    """An OSR transformation from ``source`` to ``target`` (anything OSR reads: "EPSG:32633", WKT), both taken in
    x, y order (easting, northing; longitude, latitude) as GDAL rasters and QGIS give coordinates."""
    from osgeo import osr

    refs = []
    for crs in (source, target):
        ref = osr.SpatialReference()
        ref.SetFromUserInput(crs)
        ref.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        refs.append(ref)
    return osr.CoordinateTransformation(*refs)



def squares_layer(path: Path, image: str, corners: list[tuple[int, int]], size: int) -> str:
    """A labelled area of ``size`` px squares of ``image`` (their top-left pixels ``corners``) as a GeoPackage in the
    image's CRS."""
    from osgeo import ogr, osr

    with rasterio.open(image) as ds:
        t, crs = ds.transform, ds.crs
    srs = osr.SpatialReference()
    srs.ImportFromWkt(crs.to_wkt())
    out = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = out.CreateLayer("labelled", srs=srs, geom_type=ogr.wkbPolygon)
    for c0, r0 in corners:
        ring = ogr.Geometry(ogr.wkbLinearRing)
        for c, r in ((c0, r0), (c0 + size, r0), (c0 + size, r0 + size), (c0, r0 + size), (c0, r0)):
            ring.AddPoint_2D(*(t * (c, r)))
        polygon = ogr.Geometry(ogr.wkbPolygon)
        polygon.AddGeometry(ring)
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(polygon)
        layer.CreateFeature(feature)
    out = None
    return str(path)


def _png(path: Path, array: np.ndarray) -> None:
    """An 8-bit PNG tile, without georeferencing on purpose (as the change datasets ship them)."""
    import warnings

    from rasterio.errors import NotGeoreferencedWarning

    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", driver="PNG", width=array.shape[-1], height=array.shape[-2],
                           count=array.shape[0], dtype="uint8") as out:
            out.write(array)


def published(root: Path, names: list[str], dates: tuple[str, str] = ("A", "B"), label: str = "label") -> Path:
    """Pairs written as the datasets ship them: 8-bit PNG tiles of each date and a 0/255 change mask, named alike."""
    for i, name in enumerate(names):
        pair = synthetic_pairs.make_pair(root / "_made", seed=i, size=64, buildings=4, changes=3, name=name)
        for folder, source in zip(dates, (pair.before, pair.after)):
            with rasterio.open(source) as ds:
                _png(root / folder / f"{name}.png", (ds.read() / 40).clip(0, 255).astype(np.uint8))
        with rasterio.open(pair.change) as ds:
            _png(root / label / f"{name}.png", (ds.read() * 255).astype(np.uint8))
    return root


# ------------------------------------------------------------------------------------------------ sampling
def cell_index_from_label(label: np.ndarray, foreground: np.ndarray | None = None, *, ignore_index: int = 255,
                          cell: int = DEFAULT_CELL) -> CellIndex:
    """The :class:`~engine.data.sampling.CellIndex` of a whole mapped label array."""
    builder = CellIndexBuilder(label.shape[1], label.shape[0], cell)
    labelled = label != ignore_index
    fg = (labelled & (label != 0)) if foreground is None else foreground
    builder.add(0, 0, fg, labelled)
    return builder.build()


def cli(capsys: Any, *argv: str) -> tuple[int, str, str]:
    """``python -m engine ARGV`` in this process (the same entry point, without the start-up cost): (exit code,
    stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def change_f1(prediction: str, truth: str) -> tuple[float, int]:
    """(change F1, changed pixels predicted) of a class raster against a change mask."""
    with rasterio.open(prediction) as p, rasterio.open(truth) as t:
        pred, true = p.read(1) == 1, t.read(1) == 1
    tp = int((pred & true).sum())
    return 2 * tp / max(int(pred.sum() + true.sum()), 1), int(pred.sum())


# --------------------------------------------------------------------------------------- a season's places
SEASON_SIZE = 64


def dated(path: Path, day: str, x: float = 500000.0, cloud: bool = False, seed: int = 0) -> Path:
    """A 3-band 64 px GeoTIFF of ``day`` (its ACQUISITIONDATETIME tag) with its top-left corner at ``x``; ``cloud``:
    a cloud mask beside it (``<name>_cloud.tif``), its top rows cloudy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "width": SEASON_SIZE, "height": SEASON_SIZE, "crs": "EPSG:32633",
               "transform": from_origin(x, 5100000.0, 10.0, 10.0)}
    with rasterio.open(path, "w", count=3, dtype="float32", **profile) as out:
        out.write(np.random.default_rng(seed).random((3, SEASON_SIZE, SEASON_SIZE), dtype=np.float32))
        out.update_tags(ACQUISITIONDATETIME=day)
    if cloud:
        mask = np.zeros((1, SEASON_SIZE, SEASON_SIZE), np.uint8)
        mask[0, :10] = 1
        with rasterio.open(path.with_name(f"{path.stem}_cloud.tif"), "w", count=1, dtype="uint8", **profile) as out:
            out.write(mask)
    return path
