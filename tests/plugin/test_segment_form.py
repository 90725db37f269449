"""Segment's inputs and the names and looks of results (issue 53 items 14 and 17): Bands taken as typed text with
a picker of the image layer's or the STAC item's bands, the STAC item as a JSON file, result layers named after
the file chosen or the input layer's own name, Evaluate's tables told apart, the polygons loaded by their layer
name, no "HTML output" after a failed run.

Real QgsApplication, processing.run and Processing's own result loading (handleAlgorithmResults) on real
GeoTIFFs; the model bundle has random weights (the names and inputs are tested, not the classes).
"""

from __future__ import annotations

import json
import re

import pytest
import rasterio

from tests.helpers import make_bundle
from tests.plugin.keeping_feedback import Log

pytestmark = [pytest.mark.qgis]

COMMON = ["blue", "green", "red", "nir"]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    return make_bundle(tmp_path_factory.mktemp("model") / "rgb.dsmodel", vision_bands=3, seed=3,
                       band_names=["red", "green", "blue"])


@pytest.fixture(scope="module")
def item(scenes, tmp_path_factory) -> str:
    """A STAC item of the training scene's four bands, one single-band GeoTIFF each, named by common names."""
    folder = tmp_path_factory.mktemp("item")
    assets = {}
    with rasterio.open(scenes["s1"]["image"]) as src:
        profile = dict(src.profile, count=1)
        for index, common in enumerate(COMMON, start=1):
            with rasterio.open(folder / f"B{index}.tif", "w", **profile) as dst:
                dst.write(src.read(index), 1)
            assets[common] = {"href": f"B{index}.tif", "type": "image/tiff", "roles": ["data"],
                              "eo:bands": [{"name": f"B{index}", "common_name": common}]}
    path = folder / "item.json"
    path.write_text(json.dumps({"type": "Feature", "stac_version": "1.0.0", "id": "S1_ITEM", "properties": {},
                                "geometry": None, "assets": assets, "links": []}))
    return str(path)


@pytest.fixture
def project():
    from qgis.core import QgsProject

    project = QgsProject()
    yield project
    project.removeAllMapLayers()


def _run(algorithm: str, params: dict, project, log=None) -> dict:
    """One run as the dialog makes it: a context of its own on ``project``, results loaded by Processing."""
    import processing
    from processing.gui.Postprocessing import handleAlgorithmResults
    from qgis.core import QgsProcessingContext

    context = QgsProcessingContext()
    context.setProject(project)
    return processing.run(algorithm, params, onFinish=handleAlgorithmResults, context=context, feedback=log)


def _loaded(project, destination: str):
    from qgis.core import QgsProcessingOutputLayerDefinition

    return QgsProcessingOutputLayerDefinition(destination, project)


def test_bands_is_text_with_a_picker_and_the_stac_item_a_json_file(plugin):
    """QGIS's band parameter listed only an image layer's bands and turned typed names into band 0; Bands is now
    text (names and numbers as typed) whose dialog widget adds the picker; the STAC item gets a file browser."""
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().createAlgorithmById("dualstream:segment")
    bands, stac = alg.parameterDefinition("BANDS"), alg.parameterDefinition("STAC_ITEM")
    assert bands.type() == "string"
    assert bands.metadata()["widget_wrapper"]["class"] == "dualstream_qgis.band_picker.BandsWrapper"
    assert stac.type() == "file" and "*.json" in stac.fileFilter()
    image = alg.parameterDefinition("INPUT")
    assert "STAC item" in image.description() and "This or a STAC item is required" in image.help()


def test_the_picker_offers_a_stac_items_band_names_and_toggles_them():
    from dualstream_qgis.band_picker import toggled
    from dualstream_qgis.model_summary import stac_bands

    assert toggled("red,green", "blue") == "red,green,blue"
    assert toggled("red, green,blue", "GREEN") == "red,blue"  # a second click removes it
    assert toggled("", "3") == "3"
    assert stac_bands("https://example.com/item.json") is None  # a URL is not read from the dialog


def test_the_picker_reads_a_local_items_band_names(plugin, item, tmp_path):
    from dualstream_qgis.model_summary import stac_bands

    assert stac_bands(item) == COMMON
    assert stac_bands(str(tmp_path / "missing.json")) is None


def test_typed_band_names_reach_the_run_for_a_stac_item_and_results_take_its_id(plugin, model, item, project,
                                                                               tmp_path):
    """BANDS=red,green,blue with a STAC item (the dialog made it [0]); the temporary class raster is named after
    the item's id, not "item classes"."""
    log = Log()
    result = _run("dualstream:segment", {"STAC_ITEM": item, "BANDS": "red,green,blue", "MODEL": model,
                                         "OUTPUT": _loaded(project, "TEMPORARY_OUTPUT")}, project, log)
    said = "\n".join(log.lines)
    assert "red <- asset 'red'" in said and "blue <- asset 'blue'" in said, said[-1500:]
    with rasterio.open(result["OUTPUT"]) as ds:
        assert ds.count == 1
    assert [layer.name() for layer in project.mapLayers().values()] == ["S1_ITEM classes"]


def test_temporary_outputs_take_the_layers_name_chosen_ones_their_files(plugin, model, scenes, project, tmp_path):
    """An image layer renamed in the Layers panel: its temporary class raster is "<layer name> classes"; the
    polygons saved to a chosen file are named after it and loaded by their layer name, so QGIS never asks
    which table of the GeoPackage (it also holds layer_styles) to add."""
    from qgis.core import QgsRasterLayer

    layer = QgsRasterLayer(scenes["s1"]["image"], "my survey")
    project.addMapLayer(layer)
    before = set(project.mapLayers())
    polygons = tmp_path / "buildings.gpkg"
    _run("dualstream:segment", {"INPUT": layer.id(), "BANDS": "3,2,1", "MODEL": model,
                                "OUTPUT": _loaded(project, "TEMPORARY_OUTPUT"),
                                "OUTPUT_POLYGONS": _loaded(project, str(polygons))}, project)
    loaded = {project.mapLayer(i).name(): project.mapLayer(i) for i in set(project.mapLayers()) - before}
    assert set(loaded) == {"my survey classes", "buildings"}, loaded
    assert loaded["buildings"].source() == f"{polygons}|layername=buildings"
    chosen = tmp_path / "mine.tif"
    _run("dualstream:segment", {"INPUT": layer.id(), "BANDS": "3,2,1", "MODEL": model,
                                "OUTPUT": _loaded(project, str(chosen))}, project)
    assert project.mapLayersByName("mine") and project.mapLayersByName("mine")[0].source() == str(chosen)


def test_evaluate_tables_are_named_after_the_prediction_and_the_labels(plugin, scenes, project, tmp_path):
    """Three evaluations of one prediction made three tables of one name."""
    from qgis.core import QgsProcessingFeatureSourceDefinition, QgsRasterLayer, QgsVectorLayer

    prediction = QgsRasterLayer(scenes["s1"]["label"], "prediction")
    raster = QgsRasterLayer(scenes["s1"]["label"], "truth raster")
    polygons = QgsVectorLayer(scenes["s1"]["label_vector"], "truth polygons", "ogr")
    project.addMapLayers([prediction, raster, polygons])
    for name, labels in (("raster", raster), ("polygons", polygons)):
        _run("dualstream:evaluate", {"INPUT": prediction.id(), "LABELS": labels.id(), "LABEL_VALUES": 1,
                                     "OUTPUT": str(tmp_path / f"{name}.json"),
                                     "OUTPUT_TABLE": _loaded(project, "TEMPORARY_OUTPUT")}, project)
    polygons.selectByIds([next(polygons.getFeatures()).id()])
    _run("dualstream:evaluate", {"INPUT": prediction.id(), "LABEL_VALUES": 1, "OUTPUT": str(tmp_path / "one.json"),
                                 "LABELS": QgsProcessingFeatureSourceDefinition(polygons.id(), True),
                                 "OUTPUT_TABLE": _loaded(project, "TEMPORARY_OUTPUT")}, project)
    names = sorted(layer.name() for layer in project.mapLayers().values() if layer.name().endswith("metrics"))
    assert names == ["prediction vs truth polygons (selected) metrics", "prediction vs truth polygons metrics",
                     "prediction vs truth raster metrics"]


def test_a_failed_run_says_no_html_output(plugin, scenes, tmp_path):
    """QGIS's dialog ends every run, a failed one too, with "HTML output has been generated" when the dialog's
    algorithm has HTML outputs; after a failed run it has none to show."""
    import processing
    from qgis.core import QgsApplication, QgsProcessingException

    dialogs = QgsApplication.processingRegistry().createAlgorithmById("dualstream:evaluate")
    params = {"INPUT": scenes["s1"]["label"], "LABELS": scenes["s1"]["label"], "LABEL_VALUES": 1,
              "OUTPUT_HTML": str(tmp_path / "report.html")}
    processing.run("dualstream:evaluate", dict(params, OUTPUT=str(tmp_path / "ok.json")))
    assert dialogs.hasHtmlOutputs() is True
    with pytest.raises(QgsProcessingException):
        processing.run("dualstream:evaluate", dict(params, OUTPUT=str(tmp_path / "bad.json"), LABEL_VALUES=2))
    assert dialogs.hasHtmlOutputs() is False


def test_bulk_names_the_items_of_a_collection_after_their_ids(plugin, model, item, project, tmp_path):
    """Segment in bulk over an ItemCollection: each class raster is "<item id> classes" (they were all
    "<collection> classes")."""
    from pathlib import Path

    document = json.loads(Path(item).read_text())
    collection = Path(item).with_name("collection.json")
    collection.write_text(json.dumps({"type": "FeatureCollection",
                                      "features": [document, {**document, "id": "SECOND_ITEM"}]}))
    result = _run("dualstream:segmentbulk", {"STAC_ITEMS": str(collection), "BANDS": "red,green,blue",
                                             "MODEL": model, "OUTPUT": str(tmp_path / "bulk"),
                                             "ADD_TO_PROJECT": True}, project)
    assert result["DONE"] == 2, result
    assert sorted(layer.name() for layer in project.mapLayers().values()) == ["S1_ITEM classes",
                                                                               "SECOND_ITEM classes"]


def test_qgis_process_help_says_what_each_input_takes(qgis_process, deploy_plugin, venv_site_packages, tmp_path):
    """What `qgis_process help` prints: the label layers are feature sources (LABELS was "layer", which has no
    selection), Bands is text and the STAC item a file."""
    deploy_plugin(tmp_path, venv_site_packages)

    def kinds(algorithm: str) -> dict[str, str]:
        done = qgis_process.run(tmp_path, "help", f"dualstream:{algorithm}")
        assert done.returncode == 0, done.stderr
        return dict(re.findall(r"^(\w+): .*?\n(?:\t.*\n)*?\tArgument type:\t(\w+)", done.stdout, re.MULTILINE))

    train, evaluate, segment = kinds("train"), kinds("evaluate"), kinds("segment")
    assert train["LABELS"] == "source" and train["LABELLED_AREA"] == "source" and evaluate["LABELS"] == "source"
    assert segment["BANDS"] == "string" and segment["STAC_ITEM"] == "file"


def test_an_alpha_band_is_no_band_in_what_the_model_expects(plugin, model, tmp_path):
    """An RGBA photo shown to a 3-band model: the dialog's preview counts its colour bands only, as the run does."""
    import numpy as np
    from rasterio.transform import from_origin

    from dualstream_qgis.engine_bridge import engine_api
    from dualstream_qgis.model_summary import band_descriptions

    path = tmp_path / "ortho.tif"
    bands = np.random.default_rng(0).integers(0, 256, size=(4, 16, 16)).astype(np.uint8)
    bands[3] = 255
    with rasterio.open(path, "w", driver="GTiff", width=16, height=16, count=4, dtype="uint8", crs="EPSG:32633",
                       transform=from_origin(500000, 6000000, 1, 1), photometric="RGB", alpha="YES") as ds:
        ds.write(bands)
        ds.descriptions = ("red", "green", "blue", "alpha")
    names = band_descriptions(str(path))
    assert names == ["red", "green", "blue"]
    api = engine_api()
    assert api.input_mismatches(api.read_metadata(model).data, len(names), None, names) == []
