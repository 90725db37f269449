"""The engine on REAL imagery: real dtypes, band orders, CRSs and label quirks (opt-in: ``pytest -m realdata``).

Data: the shared real-data folder (``DUALSTREAM_REALDATA``, default /work/shared/realdata; see its README).
Models are the ``tiny`` vision-only preset trained for a few epochs on 128 px tiles, so the checks are about
the pipeline (metadata, grids, nodata, labels, styling); the one accuracy check (38-Cloud) is against a
trivial baseline with a wide margin.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio

from engine.bundle.store import read_metadata
from engine.config import DataConfig, EvaluateConfig, SceneSpec, SegmentConfig, TrainConfig
from engine.evaluate import evaluate
from engine.models import AutoModelConfig
from engine.segment import segment
from engine.training.trainer import train
from tests.helpers import RecordingCallback

pytestmark = pytest.mark.realdata

REPO = Path(__file__).resolve().parents[2]
GDL = "gdl_buildings_landcover"
VEGAS = f"{GDL}/spacenet2_vegas_wv3_rgbn"
SN7 = f"{GDL}/spacenet7_planet_rgb"
SN7_STEM = "SN7_global_monthly_2020_01_mosaic_L15-0331E-1257N_1327_3160_13"
NB = f"{GDL}/new_brunswick_aerial_rgb"
CLOUD = "cloud38_sample"
CLOUD_STEM = "patch_192_10_by_12_LC08_L1TP_002053_20160520_20170324_01_T1"
BUILDINGS = ["background", "building"]


def tiny_train(scenes: list[SceneSpec], out: Path, *, val_scenes: list[SceneSpec] | None = None,
               class_names: list[str] = BUILDINGS, class_colors: list[str] | None = None,
               label_mapping: dict[str, int] | None = None, epochs: int = 2, tiles: int = 16,
               lr: float = 3e-3) -> tuple[object, RecordingCallback]:
    """Train the tiny vision-only model (1 frozen + ``epochs`` epochs of ``tiles`` 128 px tiles) on CPU."""
    colors = class_colors or ["#000000", "#ff0000", "#00a000", "#0000ff", "#ffff00", "#ff00ff"][:len(class_names)]
    data = DataConfig(train_scenes=scenes, val_scenes=val_scenes or [], tile_size=128, tiles_per_epoch=tiles,
                      class_names=class_names, class_colors=colors, val_fraction=0.25,
                      label_mapping=label_mapping if label_mapping is not None else {"1": 1}, statistics_tiles=16)
    callback = RecordingCallback()
    result = train(AutoModelConfig.for_family(name="dualstream", preset="tiny", aux_channels=0), data,
                   TrainConfig(output=str(out), epochs=epochs, warmup_epochs=1, batch_size=4, learning_rate=lr,
                               device="cpu", preview_tiles=0, early_stop_patience=None), callback)
    return result, callback


def tiny_segment(image: Path, bundle: str, out: Path, aux: list[str] | None = None) -> object:
    return segment(SegmentConfig(image=str(image), models=[bundle], output=str(out), aux=aux or [], device="cpu",
                                 batch_size=4))


def read_band(path: Path | str) -> tuple[np.ndarray, dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)  # 38-Cloud has none, on purpose
        ds = rasterio.open(path)
    with ds:
        return ds.read(1), {"crs": ds.crs, "transform": ds.transform, "shape": ds.shape, "nodata": ds.nodata,
                            "count": ds.count}


def input_validity(path: Path | str) -> np.ndarray:
    """Where the engine reads the image as valid (nodata in every band, alpha/mask band = invalid)."""
    from engine.data.raster import open_raster, read_window

    ds = open_raster(path)
    try:
        return read_window(ds, 0, 0, ds.width, ds.height)[1]
    finally:
        ds.close()


def run_engine(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=timeout)


# ------------------------------------------------------------------------- 1. SpaceNet-2 Las Vegas, WV-3 RGBN
@pytest.fixture(scope="module")
def vegas(realdata, tmp_path_factory) -> dict:
    """Trained once: 4-band uint8 WV-3 (band 4 genuine NIR, although tagged Alpha) with 3 building polygons."""
    root = realdata / VEGAS
    out = tmp_path_factory.mktemp("vegas")
    image = root / "vegas_wv3_RGBN.tif"
    result, callback = tiny_train([SceneSpec(image=str(image), label=str(root / "vegas_buildings.gpkg"))],
                                  out / "vegas.dsmodel")
    return {"root": root, "image": image, "out": out, "result": result, "callback": callback}


def test_vegas_bundle_records_bands_crs_and_gsd(vegas):
    from rasterio.crs import CRS

    data = read_metadata(vegas["result"].bundle).data
    assert data.vision_bands == 4  # band 4 is NIR even though GDAL tags it Alpha: it must stay a channel
    assert len(data.vision_stats.low) == 4
    assert CRS.from_wkt(data.crs).to_epsg() == 26911
    assert data.gsd == pytest.approx([0.2723, 0.2724], abs=1e-3)
    assert 0.03 < data.foreground_fraction < 0.2  # 3 polygons rasterised: ~7.8 % of the scene


def test_vegas_segment_keeps_grid_and_evaluates_against_mask(vegas):
    out = vegas["out"]
    result = tiny_segment(vegas["image"], vegas["result"].bundle, out / "vegas_classes.tif")
    classes, grid = read_band(result.output)
    _, image_grid = read_band(vegas["image"])
    assert grid["crs"] == image_grid["crs"] and grid["crs"].to_epsg() == 26911
    assert grid["transform"] == image_grid["transform"] and grid["shape"] == image_grid["shape"] == (426, 413)
    assert set(np.unique(classes)) <= {0, 1}  # no nodata: the whole image is valid
    metrics = evaluate(EvaluateConfig(prediction=result.output, label=str(vegas["root"] / "vegas_buildings_mask.tif"),
                                      output=str(out / "vegas_metrics.json")))
    saved = json.loads((out / "vegas_metrics.json").read_text())
    matrix = np.asarray(saved["confusion_matrix"])
    assert matrix.shape == (2, 2)
    assert matrix.sum() == 413 * 426 == metrics["pixels"]
    assert matrix[1].sum() == 13693  # label pixels of class 1 in the mask
    print(f"\n[vegas] train {sum(h['seconds'] for h in vegas['result'].history):.1f}s, segment {result.seconds:.2f}s, "
          f"building IoU {saved['iou'][1]}, mIoU {saved['miou']:.3f}")


# ------------------------------------------------------------------- 2. SpaceNet-7 Planet int16 RGB + alpha
@pytest.fixture(scope="module")
def sn7(realdata, tmp_path_factory) -> dict:
    root = realdata / SN7
    return {"root": root, "image": root / f"{SN7_STEM}_clipped.tif", "label": root / f"{SN7_STEM}_Buildings.geojson",
            "out": tmp_path_factory.mktemp("sn7")}


def test_sn7_four_bands_as_given_constant_alpha_is_reported(sn7):
    """The file as a user has it: int16, nodata 0, band 4 a constant 255 alpha that GDAL does not tag as alpha.

    All 4 bands are model channels (the engine never drops bands behind the user's back), the constant band is
    reported, and validity follows GDAL/rasterio's dataset mask (a pixel is nodata only when every band is),
    so output nodata is exactly the input's invalid area.
    """
    result, callback = tiny_train([SceneSpec(image=str(sn7["image"]), label=str(sn7["label"]))],
                                  sn7["out"] / "sn7_4band.dsmodel", epochs=1)
    data = read_metadata(result.bundle).data
    assert data.vision_bands == 4
    from rasterio.crs import CRS

    assert CRS.from_wkt(data.crs).to_epsg() == 3857
    warnings = " ".join(callback.messages("warning"))
    assert "band 4" in warnings and "constant" in warnings, callback.messages("warning")
    seg = tiny_segment(sn7["image"], result.bundle, sn7["out"] / "sn7_4band_classes.tif")
    classes, grid = read_band(seg.output)
    assert grid["shape"] == (701, 538) and grid["crs"].to_epsg() == 3857
    np.testing.assert_array_equal(classes == 255, ~input_validity(sn7["image"]))


def test_sn7_rgb_without_alpha_nodata_stays_nodata(sn7):
    """The user drops the alpha band (a 3-band VRT, as QGIS "Translate"/"Build virtual raster" makes): the
    pixels where R, G and B are all 0 (nodata 0; the dark canal) are ignored in training and nodata in the
    output."""
    from osgeo import gdal

    vrt = sn7["out"] / "sn7_rgb.vrt"
    gdal.Translate(str(vrt), str(sn7["image"]), format="VRT", bandList=[1, 2, 3])
    valid = input_validity(vrt)
    with rasterio.open(sn7["image"]) as ds:
        rgb_zero = (ds.read([1, 2, 3]) == 0).all(axis=0)
    assert rgb_zero.sum() > 1000  # the real quirk this test is about
    np.testing.assert_array_equal(valid, ~rgb_zero)
    result, _ = tiny_train([SceneSpec(image=str(vrt), label=str(sn7["label"]))], sn7["out"] / "sn7_rgb.dsmodel",
                           epochs=1)
    assert read_metadata(result.bundle).data.vision_bands == 3
    seg = tiny_segment(vrt, result.bundle, sn7["out"] / "sn7_rgb_classes.tif")
    classes, grid = read_band(seg.output)
    assert grid["nodata"] == 255 and grid["shape"] == (701, 538)
    np.testing.assert_array_equal(classes == 255, rgb_zero)
    assert set(np.unique(classes[~rgb_zero])) <= {0, 1}


# ----------------------------------------------------------------------- 3. 38-Cloud, no georeferencing
CLOUD_TRAIN = ["--preset", "tiny", "--tile-size", "128", "--tiles-per-epoch", "32", "--batch-size", "4",
               "--epochs", "4", "--warmup-epochs", "1", "--lr", "3e-3", "--device", "cpu", "--num-workers", "0",
               "--patience", "0", "--preview-tiles", "0", "--class-names", "clear", "cloud"]


def test_cloud38_ungeoreferenced_cli_train_segment_and_iou(realdata, tmp_path):
    root = realdata / CLOUD
    image = root / f"{CLOUD_STEM}_RGBN.tif"
    gt = root / "original" / f"gt_{CLOUD_STEM}.TIF"
    bundle = tmp_path / "cloud.dsmodel"
    done = run_engine("train", "--image", str(image), "--label", str(gt), "--label-map", "255=1",
                      "--out", str(bundle), *CLOUD_TRAIN)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "no georeferencing" in done.stderr, done.stderr[-3000:]
    meta = read_metadata(bundle).data
    assert meta.crs is None and meta.vision_bands == 4 and meta.label_mapping == {"255": 1}

    out = tmp_path / "cloud_classes.tif"
    done = run_engine("segment", "--image", str(image), "--model", str(bundle), "--out", str(out), "--device", "cpu")
    assert done.returncode == 0, done.stderr[-3000:]
    classes, grid = read_band(out)
    assert grid["crs"] is None and grid["shape"] == (384, 384)
    assert grid["transform"].is_identity
    metrics = evaluate(EvaluateConfig(prediction=str(out), label=str(gt), output=str(tmp_path / "cloud.json"),
                                      label_mapping={"255": 1}))
    truth = read_band(gt)[0] == 255
    assert np.asarray(metrics["confusion_matrix"]).sum() == 384 * 384
    baseline = truth.mean()  # IoU of "everything is cloud", the best trivial answer (0.307)
    iou = metrics["iou"][1]
    print(f"\n[cloud38] cloud IoU {iou:.3f} (all-cloud baseline {baseline:.3f}), mIoU {metrics['miou']:.3f}")
    assert iou > baseline + 0.2


def test_cloud38_band_file_as_ungeoreferenced_aux(realdata, tmp_path):
    """A real single-band file as a fake 1-channel aux stream: the ungeoreferenced aux path (stretched over the
    image, with a warning) in training and in segmentation."""
    root = realdata / CLOUD
    image = root / f"{CLOUD_STEM}_RGBN.tif"
    aux = root / "original" / f"nir_{CLOUD_STEM}.TIF"
    gt = root / "original" / f"gt_{CLOUD_STEM}.TIF"
    data = DataConfig(train_scenes=[SceneSpec(image=str(image), label=str(gt), aux=[str(aux)])], tile_size=128,
                      tiles_per_epoch=8, class_names=["clear", "cloud"], label_mapping={"255": 1},
                      aux_bands_per_file=1, aux_prefixes=[], statistics_tiles=8)
    callback = RecordingCallback()
    result = train(AutoModelConfig.for_family(name="dualstream", preset="tiny"), data,
                   TrainConfig(output=str(tmp_path / "aux.dsmodel"), epochs=1, warmup_epochs=0, batch_size=4,
                               device="cpu", preview_tiles=0), callback)
    meta = read_metadata(result.bundle)
    assert meta.data.aux_channels == 1 and meta.model.aux_channels == 1
    assert any("has no georeferencing: it is stretched" in w for w in callback.messages("warning"))
    seg = tiny_segment(image, result.bundle, tmp_path / "aux_classes.tif", aux=[str(aux)])
    classes, grid = read_band(seg.output)
    assert grid["shape"] == (384, 384) and set(np.unique(classes)) <= {0, 1}


# ---------------------------------------------------------------- 4. New Brunswick aerial RGB, 5 classes
NB_NAMES = ["unlabelled", "vegetation", "water", "road", "building", "railway"]
NB_MAPPING = {"0": 255, "1": 1, "2": 2, "3": 3, "4": 4, "5": 5}


def test_new_brunswick_multiclass_with_unlabelled_as_ignore(realdata, tmp_path):
    from osgeo import gdal

    root = realdata / NB
    train_image, val_image = (root / f"23322E759967N_clipped_1m_{i}of2.tif" for i in (1, 2))
    train_mask, val_mask = (root / f"23322E759967N_{i}of2_landcover_mask.tif" for i in (1, 2))
    result, callback = tiny_train([SceneSpec(image=str(train_image), label=str(train_mask))],
                                  tmp_path / "nb.dsmodel", class_names=NB_NAMES, label_mapping=NB_MAPPING,
                                  val_scenes=[SceneSpec(image=str(val_image), label=str(val_mask))], epochs=2)
    meta = read_metadata(result.bundle)
    assert meta.model.num_classes == 6 and meta.data.class_names == NB_NAMES
    assert meta.data.label_mapping["0"] == 255
    seg = tiny_segment(val_image, result.bundle, tmp_path / "nb_classes.tif")
    classes, grid = read_band(seg.output)
    assert grid["shape"] == (482, 326) and grid["crs"].to_epsg() == 2953
    assert set(np.unique(classes)) <= set(range(6))
    ds = gdal.Open(seg.output)
    band = ds.GetRasterBand(1)
    assert band.GetColorTable() is not None and band.GetColorTable().GetCount() >= 6
    assert band.GetCategoryNames()[:6] == NB_NAMES
    ds = None
    metrics = evaluate(EvaluateConfig(prediction=seg.output, label=str(val_mask), output=str(tmp_path / "nb.json"),
                                      label_mapping=NB_MAPPING))
    matrix = np.asarray(metrics["confusion_matrix"])
    assert matrix.shape == (6, 6)
    assert matrix.sum() == 482 * 326 - 28008  # raw 0 (unlabelled) is ignored, every other pixel counted
    assert matrix[0].sum() == 0  # no label pixel is class 0
    print(f"\n[new brunswick] val mIoU {metrics['miou']:.3f}, class IoU {metrics['iou']}")


# --------------------------------------------------------------------- 5. Case 1 through QGIS Processing
@pytest.mark.qgis
def test_vegas_through_qgis_processing(realdata, qgis_app, tmp_path):
    import processing

    import dualstream_qgis

    plugin = dualstream_qgis.classFactory(None)
    plugin.initProcessing()
    try:
        root = realdata / VEGAS
        image = str(root / "vegas_wv3_RGBN.tif")
        params = {"INPUT": image, "LABELS": str(root / "vegas_buildings.gpkg"), "PRESET": "tiny", "EPOCHS": "1",
                  "WARMUP_EPOCHS": "1", "BATCH_SIZE": "4", "LEARNING_RATE": "0.003", "TILE_SIZE": "128",
                  "DEVICE": "cpu", "TILES_PER_EPOCH": "16", "SEED": "0", "CLASS_NAMES": "background,building",
                  "CLASS_COLORS": "#000000,#ff0000", "OUTPUT": str(tmp_path / "vegas_qgis.dsmodel")}
        trained = processing.run("dualstream:train", params)
        data = read_metadata(trained["OUTPUT"]).data
        assert data.vision_bands == 4 and data.gsd == pytest.approx([0.2723, 0.2724], abs=1e-3)
        out = str(tmp_path / "vegas_qgis_classes.tif")
        result = processing.run("dualstream:segment", {"INPUT": image, "MODEL": trained["OUTPUT"], "DEVICE": "cpu",
                                                       "OUTPUT": out})
        classes, grid = read_band(result["OUTPUT"])
        _, image_grid = read_band(image)
        assert grid["transform"] == image_grid["transform"] and grid["shape"] == image_grid["shape"]
        assert grid["crs"].to_epsg() == 26911 and set(np.unique(classes)) <= {0, 1}
    finally:
        plugin.unload()


# ------------------------------------------------------------------------- polygons: hole filling on real masks
def test_fill_holes_keeps_buildings_and_fills_land_cover_holes(realdata, tmp_path):
    from osgeo import ogr

    from engine.config import PolygonsConfig
    from engine.segment.vectorize import polygonize_raster

    def classes_and_holes(path):
        source = ogr.Open(str(path))
        rows = [(f.GetField("class_id"), sum(f.GetGeometryRef().GetGeometryRef(i).GetGeometryCount() - 1
                                             for i in range(f.GetGeometryRef().GetGeometryCount())))
                for f in source.GetLayer(0)]
        return [c for c, _ in rows], sum(h for _, h in rows)

    mask = realdata / "gdl_buildings_landcover/massachusetts_buildings_rgb/22978945_15_buildings_mask.tif"
    counts = [polygonize_raster(PolygonsConfig(raster=str(mask), output=str(tmp_path / f"b{n}.gpkg"), fill_holes=n,
                                               class_names=["background", "building"])).polygons
              for n in (0.0, 1000.0, 1500.0)]
    assert counts[0] > 50 and counts == [counts[0]] * 3  # buildings in the background are no holes of anything
    cover = realdata / "terramesh_s2_s1_dem/LULC/38D_378R_2_3.tif"
    found = {n: classes_and_holes(polygonize_raster(PolygonsConfig(
        raster=str(cover), output=str(tmp_path / f"c{n}.gpkg"), fill_holes=n)).output) for n in (0.0, 2000.0)}
    (before, holes_before), (after, holes_after) = found[0.0], found[2000.0]
    assert holes_after < holes_before and len(after) < len(before)  # small holes filled, their islands gone
    assert set(after) == set(before)  # no class vanished with them
