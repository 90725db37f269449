"""The season algorithms under a real QgsApplication and processing.run: Train season from dated layers given out of
order and a folder, in their own Toolbox group; the log says the order the dates were sorted into and each date
dropped (entirely cloudy); the bundle is of the season family. Dates are made here: three small dated GeoTIFFs whose
class is told by how a pixel's values change over the season (no one date tells it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from tests.plugin.keeping_feedback import Log

pytestmark = pytest.mark.qgis

TRAIN = {"PRESET": "tiny", "EPOCHS": 1, "WARMUP_EPOCHS": 0, "TILE_SIZE": 32, "TILES_PER_EPOCH": 8, "DEVICE": "cpu",
         "SEED": 0}
DAYS = ("2024-07-01", "2024-03-01", "2024-05-01")  # given out of order


def _write(path: Path, values: np.ndarray, date: str | None = None, dtype: str = "float32") -> str:
    profile = {"driver": "GTiff", "width": values.shape[-1], "height": values.shape[-2], "count": 1,
               "dtype": dtype, "crs": "EPSG:32633", "transform": from_origin(500000.0, 5000000.0, 10.0, 10.0)}
    with rasterio.open(path, "w", **profile) as out:
        out.write(values[None].astype(dtype))
        if date:
            out.update_tags(ACQUISITIONDATETIME=f"{date}T10:00:00")
    return str(path)


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    """(three dated layers in the wrong order, the label, a cloudy date's file) on a 64 px place."""
    root = tmp_path_factory.mktemp("season")
    rng = np.random.default_rng(0)
    crops = np.zeros((64, 64), np.uint8)
    crops[:, 32:] = 1  # the east half greens up in May only
    dates = []
    for day in DAYS:
        value = 0.3 + 0.05 * rng.standard_normal((64, 64))
        if day == "2024-05-01":
            value[crops == 1] += 0.4
        dates.append(_write(root / f"ndvi_{day}.tif", value, day))
    cloudy = _write(root / "ndvi_2024-06-01.tif", np.full((64, 64), 0.5), "2024-06-01")
    _write(root / "ndvi_2024-06-01_cloud.tif", np.ones((64, 64)), dtype="uint8")  # all cloud: dropped
    return dates, _write(root / "crops.tif", crops, dtype="uint8"), cloudy


def test_train_season_sorts_the_dates_says_so_and_writes_a_season_model(plugin, season, tmp_path):
    import processing
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().algorithmById("dualstream:trainseason")
    assert alg.group() == "Seasons" and alg.groupId() == "season"
    assert QgsApplication.processingRegistry().algorithmById("dualstream:segmentseason").groupId() == "season"
    dates, label, cloudy = season
    log = Log()
    out = tmp_path / "crops.dsmodel"
    results = processing.run("dualstream:trainseason", {**TRAIN, "DATES": [*dates, cloudy], "LABELS": label,
                                                        "CLASS_NAMES": "other,crop", "OUTPUT": str(out)},
                             feedback=log)
    assert Path(results["OUTPUT"]) == out and out.exists()
    order = log.line("The season: 3 date(s)")
    assert order.index("2024-03-01") < order.index("2024-05-01") < order.index("2024-07-01")
    assert any("2024-06-01" in line and "left out of the season" in line for line in log.lines)
    from engine.bundle.store import read_metadata

    meta = read_metadata(out)
    assert meta.model.name == "season" and meta.model.dates == 3


def test_train_season_without_dates_says_what_to_give(plugin, season, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="DATES"):
        processing.run("dualstream:trainseason", {**TRAIN, "LABELS": season[1], "OUTPUT": str(tmp_path / "m.dsmodel")})


def test_segment_season_runs_in_a_modeler_model_its_dates_a_model_input(plugin, season, tmp_path):
    """A Graphical Modeler model whose one input is the season's dates (a multiple-layer input) and the model file,
    wired to Segment season: run as the Modeler runs it."""
    import processing
    from qgis.core import (
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource,
        QgsProcessingModelOutput,
        QgsProcessingModelParameter,
        QgsProcessingParameterFile,
        QgsProcessingParameterMultipleLayers,
        QgsProcessingParameterRasterDestination,
    )

    dates, label, _ = season
    bundle = tmp_path / "m.dsmodel"
    processing.run("dualstream:trainseason", {**TRAIN, "DATES": dates, "LABELS": label, "CLASS_NAMES": "other,crop",
                                              "OUTPUT": str(bundle)})
    model = QgsProcessingModelAlgorithm("season map", "test")
    for name, parameter in (("dates", QgsProcessingParameterMultipleLayers("dates", "Dates", 3)),
                            ("model", QgsProcessingParameterFile("model", "Model"))):
        model.addModelParameter(parameter, QgsProcessingModelParameter(name))
    child = QgsProcessingModelChildAlgorithm("dualstream:segmentseason")
    child.setChildId("segment")
    child.addParameterSources("DATES", [QgsProcessingModelChildParameterSource.fromModelParameter("dates")])
    child.addParameterSources("MODEL", [QgsProcessingModelChildParameterSource.fromModelParameter("model")])
    output = QgsProcessingModelOutput("classes")
    output.setChildOutputName("OUTPUT")
    child.setModelOutputs({"classes": output})
    model.addChildAlgorithm(child)
    model.addModelParameter(QgsProcessingParameterRasterDestination("segment:classes", "classes"),
                            QgsProcessingModelParameter("segment:classes"))
    out = tmp_path / "classes.tif"
    results = processing.run(model, {"dates": dates, "model": str(bundle), "segment:classes": str(out)})
    assert Path(results["segment:classes"]) == out and out.is_file()
    with rasterio.open(out) as classes:
        assert classes.shape == (64, 64) and set(np.unique(classes.read(1))) <= {0, 1}


def test_segment_scenes_in_bulk_takes_a_season_model_one_output_per_place(plugin, season, tmp_path):
    """Segment scenes in bulk with a season model: the folder's places (a subfolder of dates each, given as the
    folder and the pattern '**/*.tif'), one class raster per place named after it, the places said in the log."""
    import shutil

    import processing

    dates, label, _ = season
    bundle = tmp_path / "m.dsmodel"
    processing.run("dualstream:trainseason", {**TRAIN, "DATES": dates, "LABELS": label, "CLASS_NAMES": "other,crop",
                                              "OUTPUT": str(bundle)})
    places = tmp_path / "places"
    for place, shift in (("upper", 0.0), ("lower", -5000.0)):
        (places / place).mkdir(parents=True)
        for date in dates:
            with rasterio.open(date) as src:
                profile = dict(src.profile, transform=from_origin(500000.0, 5000000.0 + shift, 10.0, 10.0))
                with rasterio.open(places / place / Path(date).name, "w", **profile) as out:
                    out.write(src.read())
                    out.update_tags(**src.tags())
    shutil.copy(dates[0], places / "upper" / "notes.txt")  # no raster by its name: not a date
    log = Log()
    results = processing.run("dualstream:segmentbulk", {
        "FOLDER": str(places), "PATTERN": "**/*.tif", "MODEL": str(bundle), "DEVICE": 0,
        "OUTPUT": str(tmp_path / "bulk")}, feedback=log)
    assert (results["DONE"], results["FAILED"]) == (2, 0), log.lines
    assert sorted(p.name for p in (tmp_path / "bulk").glob("*.tif")) == ["lower.tif", "upper.tif"]
    assert "'upper' (3 date(s))" in log.line("A season model: 2 place(s)")
    # the same places as a manifest of one row per date, in any order (a place column; an output name for one)
    manifest = tmp_path / "places.csv"
    rows = [f"{path},{path.parent.name},{'north.tif' if path.parent.name == 'upper' else ''}"
            for path in sorted(places.glob("*/*.tif"), reverse=True)]
    manifest.write_text("image,place,output\n" + "\n".join(rows) + "\n", encoding="utf-8")
    log = Log()
    results = processing.run("dualstream:segmentbulk", {"MANIFEST": str(manifest), "MODEL": str(bundle), "DEVICE": 0,
                                                        "OUTPUT": str(tmp_path / "listed")}, feedback=log)
    assert (results["DONE"], results["FAILED"]) == (2, 0), log.lines
    assert sorted(p.name for p in (tmp_path / "listed").glob("*.tif")) == ["lower.tif", "north.tif"]


def test_train_season_learns_from_unlabelled_layers_of_another_place(plugin, season, tmp_path):
    """UNLABELLED: the layer list, here another place's three dates one layer each: grouped into its place by
    footprint and read as a season; the log says the places, their dates and the tiles."""
    import processing

    dates, label, _ = season
    other = tmp_path / "other"
    other.mkdir()
    layers = []
    for date in dates:
        with rasterio.open(date) as src:
            profile = dict(src.profile, transform=from_origin(600000.0, 5000000.0, 10.0, 10.0))
            with rasterio.open(other / Path(date).name, "w", **profile) as out:
                out.write(src.read()[:, ::-1])
                out.update_tags(**src.tags())
        layers.append(str(other / Path(date).name))
    log = Log()
    processing.run("dualstream:trainseason", {**TRAIN, "EPOCHS": 2, "DATES": dates, "LABELS": label,
                                              "CLASS_NAMES": "other,crop", "UNLABELLED": layers, "CONSISTENCY": 1,
                                              "OUTPUT": str(tmp_path / "semi.dsmodel")}, feedback=log)
    said = log.line("Learning from unlabelled pixels")
    assert "from 1 unlabelled place(s) of 3 date(s) and the unlabelled pixels of 1 labelled one(s)" in said, said
    assert (tmp_path / "semi.dsmodel").is_file() and sorted(p.name for p in other.iterdir()) == sorted(
        Path(d).name for d in dates)  # nothing written beside the layers


def test_train_season_asks_for_its_label(plugin, season, tmp_path):
    """The label was optional (as in Train, whose dataset folder stands in for it), so the form said "[optional]"
    and a run without one went on to the dates."""
    import processing
    from qgis.core import QgsApplication, QgsProcessingException, QgsProcessingParameterDefinition

    alg = QgsApplication.processingRegistry().algorithmById("dualstream:trainseason")
    assert not alg.parameterDefinition("LABELS").flags() & QgsProcessingParameterDefinition.FlagOptional
    with pytest.raises(QgsProcessingException, match="LABELS"):
        processing.run("dualstream:trainseason", {**TRAIN, "DATES": season[0], "OUTPUT": str(tmp_path / "m.dsmodel")})
    assert not (tmp_path / "m.dsmodel").exists()


def test_train_season_with_presto_writes_a_pixel_series_model_segment_season_runs(plugin, tmp_path):
    """Encoder presto on Train season's form (the engine's choices): a model of the family that reads each pixel's
    series (eoseries), its release given as a folder; Segment season runs it."""
    import processing
    from qgis.core import QgsApplication

    from engine.bundle.store import read_metadata
    from tests.engine.eo_fixtures import write_presto_release

    write_presto_release(tmp_path / "presto")
    rng = np.random.default_rng(1)
    dates = []
    for t, day in enumerate(DAYS):
        path = _write(tmp_path / f"s2_{day}.tif", 0.3 + 0.1 * t + 0.02 * rng.standard_normal((64, 64)), day)
        with rasterio.open(path, "r+") as ds:
            ds.set_band_description(1, "ndvi")  # Presto places the bands by name
        dates.append(path)
    label = _write(tmp_path / "label.tif", np.repeat([[0, 1]], 32, axis=1).repeat(64, axis=0), dtype="uint8")
    alg = QgsApplication.processingRegistry().algorithmById("dualstream:trainseason")
    encoders = alg.parameterDefinition("ENCODER").options()
    log = Log()
    out = tmp_path / "presto.dsmodel"
    processing.run("dualstream:trainseason", {**TRAIN, "PRESET": None, "DATES": dates, "LABELS": label,
                                              "ENCODER": encoders.index("presto"),
                                              "PRETRAINED": str(tmp_path / "presto"), "OUTPUT": str(out)},
                   feedback=log)
    assert any("50 encoder tensors loaded strictly" in line for line in log.lines), log.lines[-20:]
    meta = read_metadata(out)
    assert meta.model.name == "eoseries" and meta.model.encoder_name == "presto" and meta.model.band_names == ["ndvi"]
    classes = tmp_path / "classes.tif"
    processing.run("dualstream:segmentseason", {"DATES": dates, "MODEL": str(out), "OUTPUT": str(classes),
                                                "ACCEPT_ONE_CLASS": True}, feedback=Log())
    with rasterio.open(classes) as ds:
        assert ds.read(1).shape == (64, 64)


def test_detect_change_given_a_season_model_gives_the_area_of_each_class(plugin, season, tmp_path):
    """Two dates and a season model in Detect change: the model maps classes of a season of two dates, so the log
    and the table give every class's area (class 0 too), never an empty change table."""
    import processing
    from qgis.core import QgsVectorLayer

    dates, label, _ = season
    bundle = tmp_path / "m.dsmodel"
    processing.run("dualstream:trainseason", {**TRAIN, "DATES": dates, "LABELS": label, "CLASS_NAMES": "other,crop",
                                              "OUTPUT": str(bundle)})
    log = Log()
    results = processing.run("dualstream:detectchange", {
        "INPUT": dates[1], "AFTER": dates[0], "MODEL": str(bundle), "OUTPUT": str(tmp_path / "c.tif"),
        "OUTPUT_TABLE": str(tmp_path / "c.csv"), "ACCEPT_ONE_CLASS": True}, feedback=log)  # a 1-epoch model
    assert log.line("Area of each class", "other") and not any(line.startswith("Change table") for line in log.lines)
    table = QgsVectorLayer(results["OUTPUT_TABLE"], "table", "ogr")
    assert [f["name"] for f in table.getFeatures()] == ["other", "crop"]


def test_the_season_dialogs_name_the_dated_products_as_the_engine_reads_them(plugin):
    from qgis.core import QgsApplication

    from engine.api import DATED_NAMES

    registry = QgsApplication.processingRegistry()
    for name in ("dualstream:trainseason", "dualstream:segmentseason"):
        algorithm = registry.algorithmById(name)
        assert f"{DATED_NAMES} file name" in algorithm.shortHelpString(), name
        assert f"{DATED_NAMES} file name" in algorithm.parameterDefinition("DATES_FOLDER").help(), name
    assert "MODIS" in DATED_NAMES
