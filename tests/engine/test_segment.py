"""Whole-scene segmentation: grids, edges, band layouts, blending/seams, styling, cancel/failure, bad inputs.

Bundles are built directly (build_model + save_bundle, random weights, ``tiny`` preset): enough for grid,
seam and I/O checks. The alignment test with a trained model is in test_segment_alignment.py.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from osgeo import gdal

from engine.config import SegmentConfig
from engine.data import synthetic
from engine.data.raster import apply, compose
from engine.errors import AlignmentError, BundleError, CanceledError, ConfigError, DataError
from engine.io.prediction_tags import read_prediction_tags
from engine.io.writers import overview_levels
from engine.segment import plan_segmentation, segment
from tests.helpers import COLORS, NAMES, RecordingCallback, make_bundle

gdal.UseExceptions()
@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> dict:
    """A 4-band 100x150 scene (not a multiple of 64) with one 48-band aux file in EPSG:4326."""
    return synthetic.make_scene(tmp_path_factory.mktemp("seg_scene"), "scene", size=(100, 150), seed=1,
                                aux_channels=48)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> str:
    return make_bundle(tmp_path_factory.mktemp("bundles") / "vision.dsmodel")


@pytest.fixture(scope="module")
def aux_bundle(tmp_path_factory) -> str:
    return make_bundle(tmp_path_factory.mktemp("bundles") / "aux.dsmodel", aux_channels=48)


def _read(path: str) -> tuple[np.ndarray, dict]:
    with rasterio.open(path) as ds:
        return ds.read(), dict(crs=ds.crs, transform=ds.transform, width=ds.width, height=ds.height)


def test_full_scene_with_aux_not_a_multiple_of_the_tile(scene, aux_bundle, tmp_path):
    out = tmp_path / "classes.tif"
    result = segment(SegmentConfig(image=scene["image"], aux=scene["aux"], models=[aux_bundle], output=str(out),
                                   probabilities=str(tmp_path / "p.tif"), device="cpu"))
    classes, grid = _read(str(out))
    with rasterio.open(scene["image"]) as src:
        assert (grid["crs"], grid["transform"], grid["width"], grid["height"]) == (
            src.crs, src.transform, src.width, src.height)
    assert classes.shape == (1, 100, 150) and set(np.unique(classes)) <= {0, 1}  # every pixel predicted
    probs, _ = _read(str(tmp_path / "p.tif"))
    assert probs.shape == (1, 100, 150) and probs.dtype == np.float32 and np.isfinite(probs).all()
    np.testing.assert_array_equal(classes[0], (probs[0] >= 0.5).astype(np.uint8))
    assert result.pixels == 100 * 150 and result.tiles == 6 and Path(result.qml).is_file()
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p]


def test_extent_restricted_output_is_on_the_input_grid(scene, bundle, tmp_path):
    with rasterio.open(scene["image"]) as src:
        t = src.transform
    # an extent that cuts pixels: it is snapped outward to whole pixels of the image grid
    extent = [t.c + 20.3, t.f - 70.6, t.c + 110.2, t.f - 10.5]
    out = tmp_path / "cut.tif"
    segment(SegmentConfig(image=scene["image"], models=[bundle], output=str(out), extent=extent, device="cpu"))
    classes, grid = _read(str(out))
    assert grid["crs"] == src.crs
    assert grid["transform"] == compose(t, Affine.translation(20, 10))
    assert (grid["width"], grid["height"]) == (111 - 20, 71 - 10)
    assert (classes != 255).all()

    # the same extent in EPSG:4326 gives a window of the same grid (covering the reprojected box)
    from rasterio.warp import transform_bounds

    geo = transform_bounds(src.crs, "EPSG:4326", *extent)
    out2 = tmp_path / "cut4326.tif"
    segment(SegmentConfig(image=scene["image"], models=[bundle], output=str(out2), extent=list(geo),
                          extent_crs="EPSG:4326", device="cpu"))
    _, grid2 = _read(str(out2))
    offset = apply(~t, grid2["transform"].c, grid2["transform"].f)
    assert np.allclose(offset, np.round(offset)) and grid2["transform"].a == t.a  # snapped to the image grid
    assert grid2["width"] >= 90 and grid2["height"] >= 60


def test_scene_smaller_than_one_tile(tmp_path, bundle):
    small = synthetic.make_scene(tmp_path / "small", "small", size=(40, 50), seed=2, aux_channels=0)
    out = tmp_path / "small.tif"
    result = segment(SegmentConfig(image=small["image"], models=[bundle], output=str(out), device="cpu"))
    classes, grid = _read(str(out))
    assert classes.shape == (1, 40, 50) and (classes != 255).all() and result.tiles == 1


@pytest.mark.parametrize("bands", [1, 13])
def test_one_and_thirteen_band_inputs(tmp_path, bands):
    rng = np.random.default_rng(bands)
    image = tmp_path / f"img{bands}.tif"
    with rasterio.open(image, "w", driver="GTiff", width=80, height=70, count=bands, dtype="uint16",
                       crs="EPSG:32652", transform=Affine(10, 0, 300000, 0, -10, 4100000)) as dst:
        dst.write(rng.integers(0, 4000, (bands, 70, 80)).astype(np.uint16))
    model = make_bundle(tmp_path / f"b{bands}.dsmodel", vision_bands=bands, num_classes=3, gsd=10.0)
    out = tmp_path / "o.tif"
    segment(SegmentConfig(image=str(image), models=[model], output=str(out), probabilities=str(tmp_path / "p.tif"),
                          probability_dtype="uint8", device="cpu"))
    classes, _ = _read(str(out))
    probs, _ = _read(str(tmp_path / "p.tif"))
    assert classes.shape == (1, 70, 80) and classes.max() <= 2
    assert probs.shape == (3, 70, 80) and probs.dtype == np.uint8
    assert np.abs(probs.astype(int).sum(axis=0) - 254).max() <= 3  # scaled class probabilities sum to 1
    ds = gdal.Open(str(tmp_path / "p.tif"))  # keep the dataset referenced while its band is used
    assert ds.GetRasterBand(1).GetScale() == pytest.approx(1 / 254)
    # a bundle for the other band count is refused before any tile is read
    wrong = make_bundle(tmp_path / "wrong.dsmodel", vision_bands=4 if bands != 4 else 3)
    with pytest.raises(DataError, match=f"has {bands} band"):
        plan_segmentation(SegmentConfig(image=str(image), models=[wrong], output=str(tmp_path / "x.tif")))


def test_nodata_in_input_is_nodata_in_output_and_empty_tiles_are_skipped(tmp_path, bundle):
    rng = np.random.default_rng(3)
    data = rng.integers(100, 4000, (4, 128, 192)).astype(np.uint16)
    data[:, :, 128:] = 0  # the right third is nodata: whole tiles there are skipped
    data[:, 10:20, 10:20] = 0
    image = tmp_path / "nd.tif"
    with rasterio.open(image, "w", driver="GTiff", width=192, height=128, count=4, dtype="uint16", nodata=0,
                       crs="EPSG:32652", transform=Affine(1, 0, 300000, 0, -1, 4100000)) as dst:
        dst.write(data)
    out = tmp_path / "o.tif"
    result = segment(SegmentConfig(image=str(image), models=[bundle], output=str(out), overlap=0.0, device="cpu"))
    classes, _ = _read(str(out))
    assert (classes[0, :, 128:] == 255).all() and (classes[0, 10:20, 10:20] == 255).all()
    assert (classes[0, 30:, :128] != 255).all()
    assert result.skipped_tiles == 2


def _seam_ratio(prob: np.ndarray, borders: list[int]) -> float:
    """Mean |row-to-row change| across tile borders divided by the mean change elsewhere (1 = no seam)."""
    diff = np.abs(np.diff(prob, axis=0))  # diff[i] = change between rows i and i+1
    at = [b - 1 for b in borders if 0 < b < prob.shape[0]]
    others = [i for i in range(diff.shape[0]) if i not in at]
    return float(diff[at].mean() / diff[others].mean())


def test_tiled_matches_single_tile_and_shows_no_seams(tmp_path, monkeypatch):
    img = synthetic.make_scene(tmp_path / "s", "s", size=(128, 128), seed=4, aux_channels=0, label_from="vision")
    model = make_bundle(tmp_path / "m128.dsmodel", tile=128, seed=5)
    single, tiled = tmp_path / "single_p.tif", tmp_path / "tiled_p.tif"
    segment(SegmentConfig(image=img["image"], models=[model], output=str(tmp_path / "single.tif"),
                          probabilities=str(single), device="cpu"))
    segment(SegmentConfig(image=img["image"], models=[model], output=str(tmp_path / "tiled.tif"),
                          probabilities=str(tiled), tile_size=64, overlap=0.5, device="cpu"))
    p1, p2 = _read(str(single))[0][0], _read(str(tiled))[0][0]
    assert np.abs(p1 - p2).max() < 0.25 and np.abs(p1 - p2).mean() < 0.05
    # tiles start every 32 px; a seam would show as a jump where a tile ends/begins
    borders = [32, 64, 96]
    blended = max(_seam_ratio(p2, borders), _seam_ratio(p2.T, borders))
    assert blended < 1.5

    # the measure does catch seams: hard stitching (flat weights, no overlap) shows them
    import engine.segment.pipeline as seg

    monkeypatch.setattr(seg, "blend_window", lambda tile, ramp: np.ones((tile, tile), np.float32))
    hard = tmp_path / "hard_p.tif"
    segment(SegmentConfig(image=img["image"], models=[model], output=str(tmp_path / "hard.tif"),
                          probabilities=str(hard), tile_size=32, overlap=0.0, device="cpu"))
    p3 = _read(str(hard))[0][0]
    stitched = max(_seam_ratio(p3, borders), _seam_ratio(p3.T, borders))
    assert stitched > 1.5 * blended, (stitched, blended)


def test_styling_embedded_and_qml(scene, bundle, tmp_path):
    out = tmp_path / "styled.tif"
    result = segment(SegmentConfig(image=scene["image"], models=[bundle], output=str(out), device="cpu",
                                   polygons=str(tmp_path / "poly.gpkg"), min_polygon_area=5.0))
    ds = gdal.Open(str(out))  # keep the dataset referenced while its band is used
    # the names live in GDAL's .aux.xml sidecar; GTiff loads it lazily (GetFileList, like gdalinfo, triggers it)
    assert str(out) + ".aux.xml" in ds.GetFileList()
    band = ds.GetRasterBand(1)
    assert band.GetCategoryNames() == NAMES
    assert band.GetColorTable().GetColorEntry(1)[:3] == (255, 0, 0)
    assert band.GetNoDataValue() == 255
    assert band.GetOverviewCount() == len(overview_levels(ds.RasterXSize, ds.RasterYSize))  # none at <= 512 px
    # what evaluate reads back: the model's classes and its training label mapping (none in this bundle)
    assert read_prediction_tags(out) == {"class_names": NAMES, "class_colors": COLORS, "label_mapping": None}
    root = ET.parse(result.qml).getroot()
    labels = [e.get("label") for e in root.iter("paletteEntry")]
    assert labels == NAMES
    from osgeo import ogr

    vector = ogr.Open(str(tmp_path / "poly.gpkg"))  # keep the data source referenced while its layer is used
    layer = vector.GetLayer(0)
    fields = [layer.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(layer.GetLayerDefn().GetFieldCount())]
    assert fields == ["class_id", "class_name", "treatment", "area_m2", "perimeter_m", "conf_mean", "conf_min",
                      "model", "model_sha256", "scene"]
    features = list(layer)
    assert features and all(f.GetField("class_id") == 1 and f.GetField("area_m2") >= 5.0 for f in features)
    # every polygon scored on the confidence of its pixels (binary: max(p, 1 - p) >= 0.5) and tagged
    assert all(0.5 <= f.GetField("conf_min") <= f.GetField("conf_mean") <= 1.0 for f in features)
    assert {f.GetField("scene") for f in features} == {Path(scene["image"]).stem}
    assert {f.GetField("model") for f in features} == {Path(bundle).stem}
    assert {len(f.GetField("model_sha256")) for f in features} == {64}
    # the palette holds exactly the model's classes, with or without the .qml
    assert band.GetColorTable().GetCount() == len(NAMES)


def test_ensemble_weights_and_tta(bundle, tmp_path):
    scene = synthetic.make_scene(tmp_path / "e", "e", size=(64, 96), seed=6, aux_channels=0)
    other = make_bundle(tmp_path / "other.dsmodel", seed=9)
    p = {}
    for name, models, weights, tta in (("a", [bundle], None, "none"), ("b", [other], None, "none"),
                                       ("ab", [bundle, other], [0.7, 0.3], "none"),
                                       ("d4", [bundle], None, "d4")):
        path = tmp_path / f"{name}_p.tif"
        segment(SegmentConfig(image=scene["image"], models=models, model_weights=weights, tta=tta,
                              output=str(tmp_path / f"{name}.tif"), probabilities=str(path), device="cpu"))
        p[name] = _read(str(path))[0][0]
    np.testing.assert_allclose(p["ab"], 0.7 * p["a"] + 0.3 * p["b"], atol=1e-4)
    assert np.abs(p["d4"] - p["a"]).max() > 1e-4  # TTA changes the (random, non-equivariant) model's output


def test_cancel_leaves_nothing_and_failure_keeps_previous(scene, aux_bundle, tmp_path):
    out = tmp_path / "c.tif"
    callback = RecordingCallback(cancel_after=2)
    with pytest.raises(CanceledError):
        segment(SegmentConfig(image=scene["image"], aux=scene["aux"], models=[aux_bundle], output=str(out),
                              probabilities=str(tmp_path / "cp.tif"), batch_size=1, device="cpu"), callback)
    assert os.listdir(tmp_path) == []

    out.write_bytes(b"previous result")
    with pytest.raises(CanceledError):
        segment(SegmentConfig(image=scene["image"], aux=scene["aux"], models=[aux_bundle], output=str(out),
                              batch_size=1, device="cpu"), RecordingCallback(cancel_after=3))
    assert out.read_bytes() == b"previous result" and os.listdir(tmp_path) == ["c.tif"]


def test_partial_files_of_a_killed_run_are_removed_by_the_next_run_of_those_outputs(scene, bundle, tmp_path):
    """A killed run leaves hidden temporaries (a bulk run killed and resumed: one set per kill). The next run of
    the same outputs holds their locks, so it removes them, and says so; nothing of a live or another output's."""
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)  # a process that has exited
    litter = [f".c.tmp-{dead}-0123abcd.tif", f".c.tmp-{dead}-0123abcd.tif.aux.xml", f".c.tmp-{dead}-89abcdef.qml",
              f".cp.tmp-{dead}-00000000.tif", f".cp.tmp-{dead}-00000000.tif.ovr", f".cv.tmp-{dead}-11112222.gpkg"]
    kept = [f".c.tmp-{os.getpid()}-0123abcd.tif",  # a live writer: only a namesake output ("c.tiff") can be it
            f".c.tmp-{dead}-0123abcd.gpkg",  # polygons of a "c.gpkg" this run does not write
            f".cx.tmp-{dead}-0123abcd.tif", "c.tmp-1-0123abcd.tif", "notes.txt"]
    for name in litter + kept:
        (tmp_path / name).write_bytes(b"partial")
    work = tmp_path / f".c.resample-{dead}-x1y2"  # the resample mode's work folder
    work.mkdir()
    (work / "probabilities.tif").write_bytes(b"partial")
    callback = RecordingCallback()
    # the outputs as typed (with a "./" inside), not as the lock files name them
    segment(SegmentConfig(image=scene["image"], models=[bundle], output=f"{tmp_path}/./c.tif",
                          probabilities=f"{tmp_path}/./cp.tif", polygons=f"{tmp_path}/./cv.gpkg", device="cpu"),
            callback)
    left = sorted(n for n in os.listdir(tmp_path) if not n.startswith(("c.tif", "c.qml", "cp.tif", "cv.gpkg")))
    assert left == sorted(kept) and (tmp_path / "c.tif").is_file() and (tmp_path / "cp.tif").is_file(), (left, kept)
    said = [m for kind, m in callback.events if kind == "warning" and "partial file" in m]
    assert len(said) == 1 and "7 partial file(s)" in said[0] and all(n in said[0] for n in litter + [work.name])


def test_bad_inputs_fail_before_heavy_work(scene, bundle, aux_bundle, tmp_path):
    out = str(tmp_path / "o.tif")
    # aux that does not overlap the extent (but overlaps the image)
    with rasterio.open(scene["image"]) as src:
        t = src.transform
    far = tmp_path / "far_aux.tif"
    with rasterio.open(scene["aux"][0]) as a:
        profile, data = a.profile, a.read()
        # only its right edge overlaps
        profile.update(transform=compose(a.transform, Affine.translation(-a.width + 2, 0)))
    with rasterio.open(far, "w", **profile) as dst:
        dst.write(data)
    with pytest.raises(AlignmentError, match="far_aux"):
        plan_segmentation(SegmentConfig(image=scene["image"], aux=[str(far)], models=[aux_bundle], output=out,
                                        extent=[t.c + 100, t.f - 90, t.c + 149, t.f - 50]))
    with pytest.raises(AlignmentError, match="does not overlap the image"):
        plan_segmentation(SegmentConfig(image=scene["image"], models=[bundle], output=out,
                                        extent=[t.c + 1000, t.f - 90, t.c + 1100, t.f - 50]))
    with pytest.raises(DataError, match="aux channel"):
        plan_segmentation(SegmentConfig(image=scene["image"], models=[aux_bundle], output=out))
    junk = tmp_path / "junk.tif"
    junk.write_text("not a raster")
    with pytest.raises(DataError, match="junk.tif"):
        plan_segmentation(SegmentConfig(image=str(junk), models=[bundle], output=out))
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    target = readonly / "o.tif" if os.geteuid() != 0 else Path("/sys/dualstream_o.tif")  # root ignores modes
    with pytest.raises(DataError, match="not writable"):
        plan_segmentation(SegmentConfig(image=scene["image"], models=[bundle], output=str(target)))
    corrupt = tmp_path / "corrupt.dsmodel"
    corrupt.write_bytes(Path(bundle).read_bytes()[:5000])
    with pytest.raises(BundleError, match="corrupt.dsmodel"):
        plan_segmentation(SegmentConfig(image=scene["image"], models=[str(corrupt)], output=out))
    three = make_bundle(tmp_path / "three.dsmodel", num_classes=3)
    with pytest.raises(BundleError, match="different classes"):
        plan_segmentation(SegmentConfig(image=scene["image"], models=[bundle, three], output=out))
    with pytest.raises(ConfigError, match=r"would overwrite the image \(image"):
        plan_segmentation(SegmentConfig(image=scene["image"], models=[bundle], output=scene["image"]))
    assert not (tmp_path / "o.tif").exists()


def test_gsd_far_from_training_warns_with_factor(scene, tmp_path):
    coarse = make_bundle(tmp_path / "coarse.dsmodel", gsd=4.0)
    callback = RecordingCallback()
    plan = plan_segmentation(SegmentConfig(image=scene["image"], models=[coarse], output=str(tmp_path / "o.tif")),
                             callback)
    plan.reader.close()
    assert any("0.25 times" in w for w in callback.messages("warning"))


class _ReaderClock:
    """A controlled ``time.perf_counter``: time passes only in the slow reader (``read`` seconds a tile), and
    only while the model waits for it. The reader blocks until the model has taken the start time of its wait
    (the first clock call inside ``Prefetcher.__next__``); the end time of that wait closes the window. So the
    timings are exact on any machine: the reader's seconds are all the model's waiting."""

    def __init__(self, read: float):
        import threading

        self.now, self.read = 0.0, read
        self.change = threading.Condition()
        self.waiting = False  # the model is inside a timed wait for a batch
        self.phase = threading.local()

    def __call__(self) -> float:
        with self.change:
            phase = getattr(self.phase, "next", None)
            if phase == "start":
                self.waiting, self.phase.next = True, "end"
                self.change.notify_all()
            elif phase == "end":
                self.waiting, self.phase.next = False, None
            return self.now

    def wrap_next(self, real):
        def next_(prefetcher):
            self.phase.next = "start"
            try:
                return real(prefetcher)
            finally:
                self.phase.next = None
        return next_

    def read_tile(self) -> None:
        with self.change:
            self.change.wait_for(lambda: self.waiting, timeout=60)  # never a hang, whatever goes wrong
            self.now += self.read


def test_timings_show_the_model_waiting_on_a_slow_reader(scene, aux_bundle, tmp_path, monkeypatch):
    """SegmentResult.timings separates model time from time spent waiting on the reader thread."""
    import time

    from engine.runtime.prefetch import Prefetcher
    from engine.segment import TileReader

    cfg = SegmentConfig(image=scene["image"], aux=scene["aux"], models=[aux_bundle], output=str(tmp_path / "a.tif"),
                        device="cpu", batch_size=2)
    first = segment(cfg)
    fast = first.timings
    assert set(fast) == {"model", "input_wait", "output_wait", "read", "write", "first_tile"}
    assert fast["model"] > 0 and fast["read"] > 0 and fast["write"] > 0
    assert 0 < fast["first_tile"] < first.seconds

    clock = _ReaderClock(read=0.5)
    prepare = TileReader.prepare

    def slow_prepare(self, tile, *reader):
        clock.read_tile()
        return prepare(self, tile, *reader)

    monkeypatch.setattr(TileReader, "prepare", slow_prepare)
    monkeypatch.setattr(Prefetcher, "__next__", clock.wrap_next(Prefetcher.__next__))
    monkeypatch.setattr(time, "perf_counter", clock)
    result = segment(cfg.replace(output=str(tmp_path / "b.tif")))
    slow = result.timings
    assert result.tiles == 6
    # six tiles at 0.5 s, all of it waited for; the model itself took no time on this clock
    assert slow["read"] == pytest.approx(3.0) and slow["input_wait"] == pytest.approx(3.0)
    assert slow["model"] == 0.0 and result.seconds == pytest.approx(3.0)


def test_a_gdal_warning_in_a_reader_thread_stays_off_the_terminal(bundle, tmp_path, monkeypatch, capfd):
    """A vision-only scene's reader thread runs without rasterio's GDAL environment (starting one in each fresh
    thread cost a bulk run 1.2 ms a scene); GDAL's messages there stay as quiet as that environment keeps them."""
    from engine.segment import reader as reader_module

    real = reader_module.prepare_tile

    def noisy(*args, **kwargs):
        gdal.Error(gdal.CE_Warning, 1, "a warning from a tile read")
        return real(*args, **kwargs)

    monkeypatch.setattr(reader_module, "prepare_tile", noisy)
    scene = synthetic.make_scene(tmp_path / "w", "w", size=(64, 96), seed=6, aux_channels=0)
    result = segment(SegmentConfig(image=scene["image"], models=[bundle], output=str(tmp_path / "w.tif"),
                                   device="cpu"))
    assert result.tiles and Path(result.output).is_file()
    assert "a warning from a tile read" not in capfd.readouterr().err
