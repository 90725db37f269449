"""The change detection algorithms under a real QgsApplication and processing.run: Train change detection on one
pair, Detect change over held-out pairs as a batch does (one model, one run per pair), Compare classifications
from class rasters and from a model of one date; the outputs loaded styled (no change transparent), the change table
as a table layer that agrees with the change raster, and the errors of a wrong model or an output naming a date.

Pairs are made here (``engine.data.synthetic_pairs``: buildings built and torn down, each date in its own light);
the change model is trained once for the module (about 25 s on 2 cores).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from tests.plugin.keeping_feedback import Log
from tests.plugin.loading import palette, run_loading, table_rows

pytestmark = pytest.mark.qgis

TRAIN = {"PRESET": "tiny", "EPOCHS": 8, "WARMUP_EPOCHS": 0, "TILE_SIZE": 64, "TILES_PER_EPOCH": 64, "DEVICE": "cpu",
         "LEARNING_RATE": 0.003, "SEED": 0}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    from engine.data.synthetic_pairs import make_pair

    root = tmp_path_factory.mktemp("change-pairs")
    made = {"train": make_pair(root, seed=0, size=256, buildings=40, changes=20, name="train")}
    made.update({f"p{i}": make_pair(root, seed=i, name=f"p{i}") for i in (1, 2, 3)})
    return made


@pytest.fixture(scope="module")
def trained(plugin, pairs, tmp_path_factory):
    """A tiny change model trained once through Train change detection; (results, log lines)."""
    import processing

    log = Log()
    pair = pairs["train"]
    out = tmp_path_factory.mktemp("change-model") / "change.dsmodel"
    results = processing.run("dualstream:trainchange", {**TRAIN, "INPUT": pair.before, "AFTER": pair.after,
                                                        "LABELS": pair.change, "OUTPUT": str(out)}, feedback=log)
    return results, log.lines


@pytest.fixture(autouse=True)
def clean_project():
    yield
    from qgis.core import QgsProject

    QgsProject.instance().removeAllMapLayers()


def change_f1(prediction: str, truth: str) -> float:
    with rasterio.open(prediction) as p, rasterio.open(truth) as t:
        pred, true = p.read(1) == 1, t.read(1) == 1
    return 2 * int((pred & true).sum()) / max(int(pred.sum() + true.sum()), 1)


# ------------------------------------------------------------------------------------------------ train
def test_train_change_detection_writes_a_model_of_two_dates(trained):
    from engine.bundle.store import read_metadata

    results, lines = trained
    metadata = read_metadata(results["OUTPUT"])
    assert metadata.model.name == "change" and metadata.data.dates == 2
    assert metadata.data.class_names == ["no change", "change"]  # a change mask's classes, said in the log
    assert any(line.startswith("Class names: no change,change, chosen") for line in lines)
    assert results["BEST_IOU"] > 0.6, results
    from dualstream_qgis.engine_bridge import engine_api

    said = engine_api().describe_model(results["OUTPUT"])  # what the dialog's model summary and the log show
    assert any(line.startswith("  two dates (before, after), each: 3 bands") for line in said), said


# ------------------------------------------------------------------------------------------------ detect
def test_detect_change_over_held_out_pairs_as_a_batch(plugin, trained, pairs, tmp_path):
    """One model over several pairs, one run each (what a batch row does): each change raster finds the change,
    is styled with no change transparent, and its change table agrees with it pixel for pixel."""
    import processing
    from qgis.core import QgsVectorLayer

    model = trained[0]["OUTPUT"]
    for name in ("p1", "p2"):
        pair = pairs[name]
        results = processing.run("dualstream:detectchange", {
            "INPUT": pair.before, "AFTER": pair.after, "MODEL": model, "OUTPUT": str(tmp_path / f"{name}.tif"),
            "OUTPUT_POLYGONS": str(tmp_path / f"{name}.gpkg"), "OUTPUT_TABLE": str(tmp_path / f"{name}_table.csv")})
        assert results["CLASS_NAMES"] == "no change,change"
        assert change_f1(results["OUTPUT"], pair.change) > 0.7, name
        with rasterio.open(results["OUTPUT"]) as ds:
            changed = int((ds.read(1) == 1).sum())
            assert ds.colormap(1)[0][3] == 0  # no change: transparent in the GeoTIFF's own palette
        table = QgsVectorLayer(results["OUTPUT_TABLE"], "table", "ogr")
        rows = table_rows(table)
        assert [(r["name"], int(r["pixels"])) for r in rows] == [("change", changed)]
        assert float(rows[0]["hectares"]) == pytest.approx(changed * 1e-4, abs=1e-4)  # 1 m pixels
        polygons = QgsVectorLayer(results["OUTPUT_POLYGONS"], "polygons", "ogr")
        assert polygons.featureCount() > 0  # a change mask's change says no way: from and to empty
        assert {(f["class_name"], f["from_class"], f["to_class"]) for f in polygons.getFeatures()} == {
            ("change", "", "")}


def test_detect_change_loads_the_change_raster_styled_and_the_table_as_a_table_layer(plugin, trained, pairs,
                                                                                    tmp_path):
    from qgis.core import QgsRasterLayer, QgsVectorLayer

    pair = pairs["p3"]
    results, by_name = run_loading("dualstream:detectchange", {
        "INPUT": pair.before, "AFTER": pair.after, "MODEL": trained[0]["OUTPUT"],
        "OUTPUT": tmp_path / "p3_change.tif", "OUTPUT_CONFIDENCE": tmp_path / "p3_confidence.tif",
        "OUTPUT_TABLE": "TEMPORARY_OUTPUT"}, ("OUTPUT", "OUTPUT_CONFIDENCE", "OUTPUT_TABLE"))
    assert set(by_name) == {"p3_change", "p3_confidence", "p3_change table"}, sorted(by_name)  # the raster's
    change = by_name["p3_change"]
    assert isinstance(change, QgsRasterLayer)
    assert palette(change) == {0: ("no change", 0), 1: ("change", 255)}
    table = by_name["p3_change table"]
    assert isinstance(table, QgsVectorLayer) and not table.isSpatial()
    assert [f.name() for f in table.fields()] == ["value", "name", "from_class", "to_class", "pixels", "hectares"]
    assert [(r["value"], r["name"]) for r in table_rows(table)] == [(1, "change")]


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_train_change_detection_from_a_published_dataset_folder(plugin, tmp_path):
    """Training data: a dataset folder of a change-detection dataset as published (A/, B/, label/ of PNG tiles,
    0/255 masks): a change model of two dates; the layers mode still needs both dates."""
    import processing
    from qgis.core import QgsProcessingException

    from engine.bundle.model_files import read_model_metadata
    from tests.helpers import published

    root = published(tmp_path / "levir", ["t0", "t1", "t2"])
    log = Log()
    out = tmp_path / "folder.dsmodel"
    processing.run("dualstream:trainchange", {**TRAIN, "EPOCHS": 1, "TILES_PER_EPOCH": 8, "MODE": 1,
                                              "DATA_FOLDER": str(root), "OUTPUT": str(out)}, feedback=log)
    meta = read_model_metadata(str(out))
    assert meta.data.dates == 2 and meta.data.label_mapping == {"255": 1}
    assert any("Change-detection dataset" in line and "3 training pair(s)" in line for line in log.lines)
    pair = root / "A" / "t0.png"
    with pytest.raises(QgsProcessingException, match=r"the later date \(AFTER\)"):
        processing.run("dualstream:trainchange", {**TRAIN, "INPUT": str(pair), "LABELS": str(root / "label" / "t0.png"),
                                                  "OUTPUT": str(tmp_path / "x.dsmodel")})


def test_a_model_of_one_date_is_refused_with_what_to_use_instead(plugin, pairs, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    from tests.helpers import make_bundle

    one_date = make_bundle(tmp_path / "one.dsmodel", vision_bands=3, vision_high=10000.0)
    pair = pairs["p1"]
    with pytest.raises(QgsProcessingException) as raised:
        processing.run("dualstream:detectchange", {"INPUT": pair.before, "AFTER": pair.after, "MODEL": one_date,
                                                   "OUTPUT": str(tmp_path / "x.tif")})
    assert "was trained on one date" in str(raised.value) and "Later date (after)" in str(raised.value)
    assert not (tmp_path / "x.tif").exists()


def test_no_output_may_name_either_date(plugin, trained, pairs, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    pair = pairs["p1"]
    before = Path(pair.after).read_bytes()
    for alg_id, model in (("dualstream:detectchange", trained[0]["OUTPUT"]), ("dualstream:comparechange", None)):
        params = {"INPUT": pair.before, "AFTER": pair.after, "OUTPUT": pair.after}
        if model:
            params["MODEL"] = model
        with pytest.raises(QgsProcessingException, match="There were errors"):
            processing.run(alg_id, params)
    assert Path(pair.after).read_bytes() == before  # no input is ever written


# ------------------------------------------------------------------------------------------------ compare
def test_compare_class_rasters_gives_each_transition_its_hectares(plugin, pairs, tmp_path):
    from qgis.core import QgsCategorizedSymbolRenderer, QgsVectorLayer

    from engine.data.synthetic_pairs import BUILT, TORN_DOWN

    pair = pairs["p2"]
    results, by_name = run_loading("dualstream:comparechange", {
        "INPUT": pair.before_classes, "AFTER": pair.after_classes, "OUTPUT": tmp_path / "p2_change.tif",
        "OUTPUT_POLYGONS": tmp_path / "p2_polygons.gpkg", "OUTPUT_TABLE": "TEMPORARY_OUTPUT"},
        ("OUTPUT", "OUTPUT_POLYGONS", "OUTPUT_TABLE"))
    with rasterio.open(pair.transitions) as ds:
        truth = ds.read(1)
    counts = {"0 → 1": int((truth == BUILT).sum()), "1 → 0": int((truth == TORN_DOWN).sum())}
    assert results["CHANGED_PIXELS"] == sum(counts.values()) == pair.changed_pixels
    table = next(layer for name, layer in by_name.items() if name.endswith("change table"))
    rows = {r["name"]: r for r in table_rows(table)}
    assert {name: int(r["pixels"]) for name, r in rows.items()} == counts
    assert (rows["0 → 1"]["from_class"], rows["0 → 1"]["to_class"]) == ("0", "1")
    assert float(rows["1 → 0"]["hectares"]) == pytest.approx(counts["1 → 0"] * 1e-4, abs=1e-4)
    assert palette(by_name["p2_change"]) == {0: ("no change", 0), 1: ("0 → 1", 255), 2: ("1 → 0", 255)}
    polygons = QgsVectorLayer(results["OUTPUT_POLYGONS"], "polygons", "ogr")
    assert {(f["class_name"], f["from_class"], f["to_class"]) for f in polygons.getFeatures()} == {
        ("0 → 1", "0", "1"), ("1 → 0", "1", "0")}
    loaded = by_name["p2_polygons"]
    assert isinstance(loaded.renderer(), QgsCategorizedSymbolRenderer)  # outlined in the change raster's colours
    assert [c.symbol().symbolLayer(0).strokeColor().name() for c in loaded.renderer().categories()][1:] == \
        ["#e31a1c", "#1f78b4"]


def test_compare_with_a_model_of_one_date_and_not_with_a_change_model(plugin, trained, pairs, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    from tests.helpers import make_bundle

    pair = pairs["p1"]
    one_date = make_bundle(tmp_path / "one.dsmodel", vision_bands=3, vision_high=10000.0, seed=3)
    results = processing.run("dualstream:comparechange", {
        "INPUT": pair.before, "AFTER": pair.after, "MODEL": one_date, "MASK": True,
        "OUTPUT": str(tmp_path / "mask.tif")})
    with rasterio.open(results["OUTPUT"]) as ds:
        values = np.unique(ds.read(1))
        assert set(values.tolist()) <= {0, 1} and results["PIXELS"] == 128 * 128
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # its dates' rasters: gone
    with pytest.raises(QgsProcessingException, match="is a change model: it compares the dates itself"):
        processing.run("dualstream:comparechange", {"INPUT": pair.before, "AFTER": pair.after,
                                                    "MODEL": trained[0]["OUTPUT"], "OUTPUT": str(tmp_path / "y.tif")})


# ------------------------------------------------------------------------------------------------ web layers
def _xyz(image: str, root: Path) -> Path:
    """XYZ tiles (zoom 16, about 1.9 m here) of an image's three bands, as a basemap service has them."""
    import subprocess

    rgb = root / f"{Path(image).stem}_rgb.tif"
    subprocess.run(["gdal_translate", "-q", "-ot", "Byte", "-scale", "0", "10000", "0", "255", image, str(rgb)],
                   check=True)
    subprocess.run(["gdal2tiles.py", "--xyz", "-q", "-z", "16", "-w", "none", "--processes", "1", str(rgb),
                    str(root / Path(image).stem)], check=True, capture_output=True)
    return root / Path(image).stem


def test_both_dates_as_web_layers_train_and_detect_over_the_extent(plugin, pairs, tmp_path):
    """A web layer as either date goes the way the first date's does: handed over as its service and read by the
    engine over the extent at the pixel size for web layers, in training and in detection."""
    import processing
    from qgis.core import QgsProject, QgsRasterLayer

    from bench.http_files import FileServer
    from tests.helpers import make_bundle

    pair = pairs["train"]
    with rasterio.open(pair.before) as src:
        b = src.bounds
        extent = f"{b.left},{b.right},{b.bottom},{b.top} [{src.crs.to_string()}]"
    folders = {when: _xyz(path, tmp_path) for when, path in (("before", pair.before), ("after", pair.after))}
    with FileServer(tmp_path) as server:
        layers = {when: QgsRasterLayer(f"type=xyz&url={server.url}/{folder.name}/%7Bz%7D/%7Bx%7D/%7By%7D.png"
                                       f"&zmax=16&zmin=16", f"{when} basemap", "wms")
                  for when, folder in folders.items()}
        for layer in layers.values():
            assert layer.isValid()
            QgsProject.instance().addMapLayer(layer)
        log = Log()
        model = processing.run("dualstream:trainchange", {
            **TRAIN, "EPOCHS": 1, "TILES_PER_EPOCH": 8, "INPUT": layers["before"].id(),
            "AFTER": layers["after"].id(), "LABELS": pair.change_polygons, "EXTENT": extent, "PIXEL_SIZE": 2.0,
            "OUTPUT": str(tmp_path / "web.dsmodel")}, feedback=log)["OUTPUT"]
        for when in ("before", "after"):
            assert log.line(f"The XYZ layer '{when} basemap' is read over the extent at 2 m per pixel")
        detected = processing.run("dualstream:detectchange", {
            "INPUT": layers["before"].id(), "AFTER": layers["after"].id(), "MODEL": model, "EXTENT": extent,
            "OUTPUT": str(tmp_path / "web_change.tif")}, feedback=(log := Log()))
        one_date = make_bundle(tmp_path / "rgb.dsmodel", vision_bands=3, vision_high=255.0, gsd=2.0,
                               crs="EPSG:32619")
        compared = processing.run("dualstream:comparechange", {  # the baseline over the same two web layers
            "INPUT": layers["before"].id(), "AFTER": layers["after"].id(), "MODEL": one_date, "EXTENT": extent,
            "OUTPUT": str(tmp_path / "web_compared.tif")}, feedback=(compare_log := Log()))
        assert server.requests > 0
    assert compared["PIXELS"] == 128 * 128  # both dates read over the extent at the model's 2 m
    for when in ("before", "after"):
        assert compare_log.line(f"The XYZ layer '{when} basemap' is read over the extent at 2 m per pixel")
    for when in ("before", "after"):  # the model's training pixel size, over the extent given
        assert log.line(f"The XYZ layer '{when} basemap' is read over the extent at 2 m per pixel")
    with rasterio.open(detected["OUTPUT"]) as out:
        assert out.crs.to_epsg() == 3857
        assert out.read(1, masked=True).count() > 0.8 * out.width * out.height  # the tiles of both were read


# ------------------------------------------------------------------------------------------------ evaluate
def test_evaluate_scores_a_change_raster_on_change(plugin, pairs, tmp_path):
    """A comparison's change raster of transitions against the change mask: every changed pixel is a change
    either way, so the change F1 is 1 where the per-class figures cannot say it."""
    import processing

    pair = pairs["p1"]
    change = processing.run("dualstream:comparechange", {"INPUT": pair.before_classes, "AFTER": pair.after_classes,
                                                         "OUTPUT": str(tmp_path / "p1_change.tif")})["OUTPUT"]
    log = Log()
    results = processing.run("dualstream:evaluate", {"INPUT": change, "LABELS": pair.change, "LABEL_VALUES": 1,
                                                     "OUTPUT": str(tmp_path / "scores.json")}, feedback=log)
    assert (results["CHANGE_F1"], results["CHANGE_IOU"], results["CHANGE_RECALL"]) == (1.0, 1.0, 1.0)
    assert log.line("Change (any change found against any change labelled): precision 1.0000, recall 1.0000")


# ------------------------------------------------------------------------------------------------ bulk
def test_segment_in_bulk_finds_each_pairs_later_date_by_name(plugin, trained, pairs, tmp_path):
    """Segment scenes in bulk with a change model: the first dates from a folder, each later date by the pattern; a
    later date is no scene of its own."""
    import processing

    folder = Path(pairs["p1"].before).parent
    results = processing.run("dualstream:segmentbulk", {
        "FOLDER": str(folder), "PATTERN": "p*_before.tif", "AFTER_PATTERN": "{stem:_before=_after}.tif",
        "MODEL": trained[0]["OUTPUT"], "DEVICE": 0, "OUTPUT": str(tmp_path / "bulk")})
    assert (results["DONE"], results["FAILED"]) == (3, 0)
    for name in ("p1", "p2", "p3"):
        assert change_f1(str(tmp_path / "bulk" / f"{name}_before_to_{name}_after.tif"), pairs[name].change) > 0.7, name


def test_train_change_detection_learns_from_a_layer_list_of_unlabelled_pairs(plugin, pairs, tmp_path):
    """UNLABELLED: the declared layer list (each place's dates in turn), its unlabelled tiles said in the log."""
    import processing

    log = Log()
    pair, spare = pairs["p1"], pairs["p2"]
    processing.run("dualstream:trainchange", {**TRAIN, "EPOCHS": 1, "TILES_PER_EPOCH": 8, "INPUT": pair.before,
                                              "AFTER": pair.after, "LABELS": pair.change,
                                              "UNLABELLED": [spare.before, spare.after], "CONSISTENCY": 1,
                                              "OUTPUT": str(tmp_path / "semi.dsmodel")}, feedback=log)
    assert any("Learning from unlabelled pixels" in line and "from 1 unlabelled scene(s)" in line
               for line in log.lines), log.lines
