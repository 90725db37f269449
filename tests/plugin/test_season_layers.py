"""The season algorithms with the layers users have (issue 80): a selection of scratch (memory) polygons as the
label, a date read over HTTP (/vsicurl/) from a server on 127.0.0.1 beside local dates, a date that is another
algorithm's temporary output, a folder beside layers holding the same files, and ``qgis_process`` with the dates as a
repeated multiple-layer input. Real QgsApplication, processing.run and qgis_process, real GDAL over a real HTTP
server; nothing mocked."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from bench.http_files import FileServer
from tests.plugin.keeping_feedback import Log
from tests.plugin.scratch_layers import scratch_squares

pytestmark = pytest.mark.qgis

TRAIN = {"PRESET": "tiny", "EPOCHS": 1, "WARMUP_EPOCHS": 0, "TILE_SIZE": 32, "TILES_PER_EPOCH": 4, "DEVICE": "cpu",
         "SEED": 0}
DAYS = ("2024-07-01", "2024-03-01", "2024-05-01")  # given out of order


@pytest.fixture(autouse=True)
def clean_project():
    """Layers a test adds to the project leave with it."""
    yield
    from qgis.core import QgsProject

    QgsProject.instance().removeAllMapLayers()


def _date(path: Path, values: np.ndarray, day: str) -> str:
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1], height=values.shape[0], count=1,
                       dtype="float32", crs="EPSG:32633", transform=from_origin(500000.0, 5000000.0, 10.0, 10.0)
                       ) as out:
        out.write(values[None].astype("float32"))
        out.update_tags(ACQUISITIONDATETIME=f"{day}T10:00:00")
    return str(path)


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    """Three dated 64 px rasters of one place, in a folder of their own."""
    root = tmp_path_factory.mktemp("season-layers") / "dates"
    root.mkdir()
    rng = np.random.default_rng(0)
    return [_date(root / f"ndvi_{day}.tif", 0.3 + 0.05 * rng.standard_normal((64, 64)), day) for day in DAYS]


@pytest.fixture(scope="module")
def model(plugin, season, tmp_path_factory):
    """A season model trained from the selected one of two scratch squares (the east half) as its label."""
    import processing
    from qgis.core import QgsProcessingFeatureSourceDefinition, QgsProject

    squares = scratch_squares(season[0], [(0, 32, 0, 64), (32, 64, 0, 64)], select=1)
    QgsProject.instance().addMapLayer(squares)
    log = Log()
    out = tmp_path_factory.mktemp("season-model") / "season.dsmodel"
    processing.run("dualstream:trainseason", {
        **TRAIN, "DATES": season, "LABELS": QgsProcessingFeatureSourceDefinition(squares.id(), True),
        "OUTPUT": str(out)}, feedback=log)
    QgsProject.instance().removeMapLayer(squares.id())
    return out, log.lines


def _classes(path: str) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


def test_train_season_takes_the_selected_scratch_polygons_as_its_label(model):
    out, lines = model
    assert out.is_file()
    assert any(line.startswith("LABELS: 1 selected feature(s) of 'labelled squares' (memory provider)")
               for line in lines), lines
    order = next(line for line in lines if line.startswith("The season: 3 date(s)"))
    assert order.index("2024-03-01") < order.index("2024-05-01") < order.index("2024-07-01")


def test_a_date_read_over_http_takes_its_place_in_the_season(plugin, season, model, tmp_path):
    """A date as a GDAL layer on /vsicurl/ was "The date '/vsicurl/http://...' does not exist; check the path"."""
    import processing
    from qgis.core import QgsProject, QgsRasterLayer

    local = processing.run("dualstream:segmentseason", {"DATES": season, "MODEL": str(model[0]),
                                                        "OUTPUT": str(tmp_path / "local.tif")})
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(season[1], served / "march.tif")  # no date in its name: its tag says it
    log = Log()
    with FileServer(served) as server:
        web = QgsRasterLayer(f"/vsicurl/{server.url}/march.tif", "march over http", "gdal")
        assert web.isValid()
        QgsProject.instance().addMapLayer(web)
        remote = processing.run("dualstream:segmentseason", {"DATES": [season[0], web.id(), season[2]],
                                                             "MODEL": str(model[0]),
                                                             "OUTPUT": str(tmp_path / "remote.tif")}, feedback=log)
        assert server.requests > 0
    order = log.line("The dates were given out of time order")
    assert order.index(f"2024-03-01 '/vsicurl/{server.url}/march.tif'") < order.index("2024-05-01")
    assert np.array_equal(_classes(local["OUTPUT"]), _classes(remote["OUTPUT"]))


def test_fewer_dates_than_the_model_was_trained_on_are_said_in_the_log(plugin, season, model, tmp_path):
    """Seen in QGIS: a model of 27 dates given 4 painted nearly everything forest, and its log said nothing of the
    count."""
    import processing

    log = Log()
    processing.run("dualstream:segmentseason", {"DATES": season[:2], "MODEL": str(model[0]),
                                                 "OUTPUT": str(tmp_path / "two.tif")}, feedback=log)
    said = log.line("The season model", "is given 2")
    assert "trained on 3 date(s) of each place (months Mar, May, Jul) and is given 2 (Mar, Jul)" in said, said


def test_a_date_made_by_another_algorithm_as_a_temporary_output(plugin, season, model, tmp_path):
    import processing

    scratch = processing.run("gdal:translate", {"INPUT": season[2], "OUTPUT": "TEMPORARY_OUTPUT"})["OUTPUT"]
    log = Log()
    processing.run("dualstream:segmentseason", {"DATES": [season[0], season[1], scratch], "MODEL": str(model[0]),
                                                 "OUTPUT": str(tmp_path / "classes.tif")}, feedback=log)
    assert f"2024-05-01 '{scratch}'" in log.line("The dates were given out of time order")
    assert (tmp_path / "classes.tif").is_file()


def test_a_folder_holding_the_layers_given_beside_it_reads_each_date_once(plugin, season, model, tmp_path):
    """The folder of the dates and one of them as a layer: the same file was "of the same day" as itself, "kept
    (given first)" and "left out", in one warning."""
    import processing

    log = Log()
    processing.run("dualstream:segmentseason", {"DATES": [season[0]], "DATES_FOLDER": str(Path(season[0]).parent),
                                                 "MODEL": str(model[0]), "OUTPUT": str(tmp_path / "classes.tif")},
                   feedback=log)
    assert log.line("1 date(s) were given twice").endswith(f"read once: '{season[0]}'.")
    assert not [line for line in log.lines if "are of the same day" in line], log.lines
    assert "2024-03-01, 2024-05-01, 2024-07-01" in log.line("The season: 3 date(s)")


def test_qgis_process_takes_the_dates_as_a_repeated_input(plugin, qgis_process, deploy_plugin, venv_site_packages,
                                                           season, model, tmp_path):
    """``qgis_process run dualstream:segmentseason -- DATES=a DATES=b DATES=c MODEL=m OUTPUT=o`` as docs/seasons.md
    writes it: every date taken, sorted and said."""
    deploy_plugin(tmp_path, venv_site_packages)
    out = tmp_path / "classes.tif"
    done = qgis_process.run_alg(tmp_path, "dualstream:segmentseason", {"DATES": season, "MODEL": str(model[0]),
                                                                       "OUTPUT": str(out)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "The season: 3 date(s) of one place, 2024-03-01, 2024-05-01, 2024-07-01" in done.stdout
    local = tmp_path / "local.tif"
    import processing

    processing.run("dualstream:segmentseason", {"DATES": season, "MODEL": str(model[0]), "OUTPUT": str(local)})
    assert np.array_equal(_classes(str(out)), _classes(str(local)))


def test_a_web_map_given_as_a_date_is_refused_by_its_layer_name(plugin, season, model, tmp_path):
    """An XYZ layer among the dates was refused with its whole GDAL XML and advice to tag it with gdal_edit.py."""
    import processing
    from qgis.core import QgsProcessingException, QgsProject, QgsRasterLayer

    tiles = QgsRasterLayer("type=xyz&url=http://127.0.0.1:9/%7Bz%7D/%7Bx%7D/%7By%7D.png&zmax=16&zmin=16",
                           "satellite tiles", "wms")
    QgsProject.instance().addMapLayer(tiles)
    with pytest.raises(QgsProcessingException) as refused:
        processing.run("dualstream:segmentseason", {"DATES": [season[0], tiles.id()], "MODEL": str(model[0]),
                                                     "EXTENT": "500000,500640,4999360,5000000 [EPSG:32633]",
                                                     "OUTPUT": str(tmp_path / "classes.tif")})
    assert "The XYZ layer 'satellite tiles' cannot be a date of a season" in str(refused.value)
    assert "<GDAL_WMS>" not in str(refused.value)
    assert not (tmp_path / "classes.tif").exists()


def test_polygons_with_crop_names_train_a_season_by_their_names(plugin, season, tmp_path):
    """A class field of names (maize, wheat): refused with "give a label_mapping" (no such field in the form), and
    the form's Label mapping refused "maize=0" ("is not VALUE=CLASS"): such polygons could not train at all. Then
    they needed the mapping; now each name takes its place in the Class names (or follows the background), and a
    Label mapping given is still the user's."""
    import processing
    from qgis.core import (
        QgsFeature,
        QgsField,
        QgsGeometry,
        QgsProject,
        QgsRectangle,
        QgsVectorLayer,
    )
    from qgis.PyQt.QtCore import QVariant

    fields = QgsVectorLayer("Polygon?crs=EPSG:32633", "crops", "memory")
    fields.dataProvider().addAttributes([QgsField("crop", QVariant.String)])
    fields.updateFields()
    features = []
    for crop, x0 in (("maize", 500000.0), ("wheat", 500320.0)):
        feature = QgsFeature(fields.fields())
        feature.setGeometry(QgsGeometry.fromRect(QgsRectangle(x0, 4999360.0, x0 + 320.0, 5000000.0)))
        feature.setAttribute("crop", crop)
        features.append(feature)
    assert fields.dataProvider().addFeatures(features)[0]
    QgsProject.instance().addMapLayer(fields)
    settings = {**TRAIN, "DATES": season, "LABELS": fields.id(), "LABEL_FIELD": "crop", "CLASS_NAMES": "maize,wheat",
                "OUTPUT": str(tmp_path / "crops.dsmodel")}
    from engine.bundle.store import read_metadata

    processing.run("dualstream:trainseason", settings)
    data = read_metadata(tmp_path / "crops.dsmodel").data
    assert data.class_names == ["maize", "wheat"] and data.label_mapping == {"maize": 0, "wheat": 1}
    mapped = str(tmp_path / "mapped.dsmodel")
    processing.run("dualstream:trainseason", {**settings, "LABEL_MAPPING": "maize=1, wheat=0", "OUTPUT": mapped})
    assert read_metadata(mapped).data.label_mapping == {"maize": 1, "wheat": 0}


def test_the_modeler_model_trains_a_season_and_maps_another_with_it(qgis_process, deploy_plugin, venv_site_packages,
                                                                     season, tmp_path):
    """``docs/models/train_segment_season.model3`` (Train season -> Segment season, the bundle wired to Segment
    season's model) run headless as scripts do, each season's dates a repeated multiple-layer input."""
    import csv

    models = Path(__file__).resolve().parents[2] / "docs" / "models"
    deploy_plugin(tmp_path, venv_site_packages)
    labels = tmp_path / "labels.tif"
    with rasterio.open(season[0]) as first:
        profile = {**first.profile, "dtype": "uint8"}
    with rasterio.open(labels, "w", **profile) as out:
        out.write((np.arange(64)[None, None, :] >= 32).repeat(64, axis=1).astype(np.uint8))
    out = tmp_path / "run"
    result = qgis_process.run_json(tmp_path, "run", str(models / "train_segment_season.model3"), "--",
                                   *[f"dates={d}" for d in season], f"labels={labels}", "class_names=west,east",
                                   "minutes=0.05", *[f"new_dates={d}" for d in reversed(season)],
                                   f"train:bundle={out / 'season.dsmodel'}", f"segment:classes={out / 'classes.tif'}",
                                   f"segment:areas={out / 'areas.csv'}", env=qgis_process.ISOLATED)["results"]
    assert Path(result["train:bundle"]).is_file()
    with rasterio.open(result["segment:classes"]) as classes:
        assert classes.shape == (64, 64) and set(np.unique(classes.read(1))) <= {0, 1}
    with open(result["segment:areas"], newline="", encoding="utf-8") as f:
        assert [row["name"] for row in csv.DictReader(f)] == ["west", "east"]
