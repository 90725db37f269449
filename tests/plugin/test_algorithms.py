"""Train, segment and evaluate through ``processing.run`` under a real offscreen QgsApplication.

One tiny model (raster labels) is trained once for the module and reused; the vector-label, folder and cancel
runs train their own, even smaller, models. Scenes come from ``engine.data.synthetic``: the class is a function
of map position seen by both the imagery and the 48-channel EPSG:4326 aux stack, so a working model segments an
unseen scene of the same "world" (same ``field_seed``) with a high IoU.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.helpers import RecordingFeedback
from tests.plugin.train_settings import TINY, metadata

pytestmark = pytest.mark.qgis

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def plugin(qgis_app):
    import torch

    import dualstream_qgis

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # shared, busy CPUs: one thread is much faster than two fighting
    plugin = dualstream_qgis.classFactory(None)
    plugin.initProcessing()
    yield plugin
    plugin.unload()
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(plugin, scenes, tmp_path_factory):
    """Train once from layers with raster labels; returns (results, feedback)."""
    import processing

    out = tmp_path_factory.mktemp("trained")
    feedback = RecordingFeedback.make()
    params = dict(TINY, INPUT=scenes["train"]["image"], LABELS=scenes["train"]["label"], AUX=scenes["train"]["aux"],
                  CLASS_NAMES="background,field", CLASS_COLORS="#000000,#22aa22", EPOCHS="2",
                  OUTPUT=str(out / "tiny.dsmodel"), OUTPUT_REPORT=str(out / "report" / "training.html"))
    results = processing.run("dualstream:train", params, feedback=feedback)
    return results, feedback


def _miou(prediction: str, label: str) -> float:
    from engine.config import EvaluateConfig
    from engine.evaluate import evaluate

    return evaluate(EvaluateConfig(prediction=prediction, label=label, output=str(Path(prediction).with_suffix(
        ".eval.json")), label_mapping={"90": 1}))["miou"]


# ------------------------------------------------------------------------------------------------ train
def test_train_from_raster_labels_writes_bundle_report_metrics_and_progress(trained):
    results, feedback = trained
    bundle = Path(results["OUTPUT"])
    assert bundle.is_file() and bundle.suffix == ".dsmodel"
    meta = metadata(str(bundle))
    assert meta.data.class_names == ["background", "field"]
    assert meta.data.class_colors == ["#000000", "#22aa22"]
    assert meta.data.vision_bands == 4 and meta.data.aux_channels == 48  # all bands of the aux layer
    assert meta.data.tile_size == 64
    report = Path(results["OUTPUT_REPORT"])
    assert report.name == "training.html" and report.is_file() and "<img" in report.read_text()
    assert results["BEST_EPOCH"] in (1, 2, 3) and results["BEST_IOU"] > 0.6
    assert Path(results["CHECKPOINT"]).is_file()
    epochs = [line for line in feedback.infos if line.startswith("Epoch ")]
    assert len(epochs) == 3 and epochs[-1].startswith("Epoch 3/3: training loss ")  # 1 warm-up + 2 main epochs
    assert "validation IoU" in epochs[-1]
    # one bar for the whole run: forward only, its end reached with the last epoch's validation
    values = feedback.progress_values
    assert len(values) >= 12 and values == sorted(values) and max(values) >= 99.0


def test_train_starts_from_a_model_bundle(plugin, trained, scenes, tmp_path):
    """Start from model (INIT_FROM): a .dsmodel file parameter, passed to the engine: the new bundle records it."""
    import processing
    from qgis.core import QgsApplication

    from dualstream_qgis.compat import PARAMETER_OPTIONAL
    from engine.io.digest import file_sha256

    definition = QgsApplication.processingRegistry().algorithmById("dualstream:train").parameterDefinition("INIT_FROM")
    assert definition.type() == "file" and definition.extension() == "dsmodel" and definition.flags() & \
        PARAMETER_OPTIONAL
    parent = trained[0]["OUTPUT"]
    feedback = RecordingFeedback.make()
    params = dict(TINY, INPUT=scenes["train"]["image"], LABELS=scenes["train"]["label"], AUX=scenes["train"]["aux"],
                  WARMUP_EPOCHS="0", TILES_PER_EPOCH="8", INIT_FROM=parent, OUTPUT=str(tmp_path / "child.dsmodel"))
    results = processing.run("dualstream:train", params, feedback=feedback)
    assert metadata(results["OUTPUT"]).parent["sha256"] == file_sha256(parent)
    assert any("copied from it" in line for line in feedback.infos)
    assert any("kept parent statistics" in line for line in feedback.infos)


# ------------------------------------------------------------------------------------------------ segment
def test_segment_output_loads_with_paletted_renderer_and_class_names(plugin, trained, scenes, tmp_path):
    import processing
    from processing.gui.Postprocessing import handleAlgorithmResults
    from qgis.core import (
        QgsPalettedRasterRenderer,
        QgsProcessingContext,
        QgsProcessingOutputLayerDefinition,
        QgsProject,
        QgsVectorLayer,
    )

    project = QgsProject()
    context = QgsProcessingContext()
    context.setProject(project)
    out = tmp_path / "s1_classes.tif"
    params = {"INPUT": scenes["s1"]["image"], "AUX": scenes["s1"]["aux"], "MODEL": trained[0]["OUTPUT"],
              "OUTPUT": QgsProcessingOutputLayerDefinition(str(out), project),  # "open output file after running"
              "OUTPUT_POLYGONS": str(tmp_path / "s1_polygons.gpkg"), "OVERLAP": "0.25", "BATCH_SIZE": "4"}
    results = processing.run("dualstream:segment", params, onFinish=handleAlgorithmResults, context=context)
    assert results["OUTPUT"] == str(out) and out.is_file()
    assert Path(results["QML"]).is_file() and results["CLASS_NAMES"] == "background,field"
    layers = list(project.mapLayers().values())
    assert len(layers) == 1, "the class raster was not loaded on completion"
    renderer = layers[0].renderer()
    assert isinstance(renderer, QgsPalettedRasterRenderer)
    classes = {int(c.value): (c.label, c.color.name()) for c in renderer.classes()}
    assert classes == {0: ("background", "#000000"), 1: ("field", "#22aa22")}
    assert layers[0].name() == "s1_classes"  # named after the file chosen (issue 53 item 17)
    polygons = QgsVectorLayer(results["OUTPUT_POLYGONS"], "polygons", "ogr")
    assert polygons.isValid() and polygons.featureCount() > 0
    assert {f["class_name"] for f in polygons.getFeatures()} == {"field"}
    assert _miou(str(out), scenes["s1"]["label"]) > 0.75, "the segmentation of an unseen scene is poor"


def test_polygons_named_like_the_class_raster_leave_its_style_alone(plugin, trained, scenes, tmp_path):
    """Issue 40, item 10: clouds.tif and clouds.gpkg (the dialog's natural choice). The polygons' style went over the
    class raster's clouds.qml, so the raster then opened with GDAL's 256-entry colour table ("background, cloud,
    3, 4, ... 255"); the polygons' style now lives in their GeoPackage."""
    import processing
    from processing.gui.Postprocessing import handleAlgorithmResults
    from qgis.core import (
        QgsCategorizedSymbolRenderer,
        QgsPalettedRasterRenderer,
        QgsProcessingContext,
        QgsProcessingOutputLayerDefinition,
        QgsProject,
        QgsRasterLayer,
        QgsVectorLayer,
    )

    project = QgsProject()
    context = QgsProcessingContext()
    context.setProject(project)
    raster, polygons = tmp_path / "clouds.tif", tmp_path / "clouds.gpkg"
    params = {"INPUT": scenes["s1"]["image"], "AUX": scenes["s1"]["aux"], "MODEL": trained[0]["OUTPUT"],
              "OUTPUT": QgsProcessingOutputLayerDefinition(str(raster), project),
              "OUTPUT_POLYGONS": QgsProcessingOutputLayerDefinition(str(polygons), project), "BATCH_SIZE": "4"}
    processing.run("dualstream:segment", params, onFinish=handleAlgorithmResults, context=context)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clouds.gpkg", "clouds.qml", "clouds.tif",
                                                          "clouds.tif.aux.xml"]
    style = (tmp_path / "clouds.qml").read_text()
    assert "paletteEntry" in style and "categorizedSymbol" not in style  # the class raster's, not the polygons'

    def legend(layer):  # the entries the Layers panel shows for a paletted raster
        renderer = layer.renderer()
        assert isinstance(renderer, QgsPalettedRasterRenderer), type(renderer).__name__
        return [c.label for c in renderer.classes()]

    loaded = {layer.type(): layer for layer in project.mapLayers().values()}
    assert len(loaded) == 2
    raster_layer = next(layer for layer in loaded.values() if isinstance(layer, QgsRasterLayer))
    vector_layer = next(layer for layer in loaded.values() if isinstance(layer, QgsVectorLayer))
    assert legend(raster_layer) == ["background", "field"]
    assert isinstance(vector_layer.renderer(), QgsCategorizedSymbolRenderer)
    # opened again later (a new project, the Browser): both come back styled
    assert legend(QgsRasterLayer(str(raster), "again")) == ["background", "field"]
    again = QgsVectorLayer(str(polygons), "again", "ogr")
    assert isinstance(again.renderer(), QgsCategorizedSymbolRenderer)
    assert [c.label() for c in again.renderer().categories()] == ["background", "field"]


def test_segment_confidence_loads_styled_so_low_confidence_stands_out(plugin, trained, scenes, tmp_path):
    import processing
    from processing.gui.Postprocessing import handleAlgorithmResults
    from qgis.core import (
        QgsProcessingContext,
        QgsProcessingOutputLayerDefinition,
        QgsProject,
        QgsSingleBandPseudoColorRenderer,
    )

    project = QgsProject()
    context = QgsProcessingContext()
    context.setProject(project)
    confidence = tmp_path / "s1_confidence.tif"
    params = {"INPUT": scenes["s1"]["image"], "AUX": scenes["s1"]["aux"], "MODEL": trained[0]["OUTPUT"],
              "OUTPUT": str(tmp_path / "s1_classes.tif"), "LOW_CONFIDENCE": 0.9,
              "OUTPUT_CONFIDENCE": QgsProcessingOutputLayerDefinition(str(confidence), project)}
    results = processing.run("dualstream:segment", params, onFinish=handleAlgorithmResults, context=context)
    assert results["OUTPUT_CONFIDENCE"] == str(confidence) and confidence.is_file()
    assert 0.0 <= results["LOW_CONFIDENCE"] <= 1.0
    layer = next(layer for layer in project.mapLayers().values() if layer.source() == str(confidence))
    assert layer.name() == "s1_confidence"  # the file chosen
    renderer = layer.renderer()
    assert isinstance(renderer, QgsSingleBandPseudoColorRenderer)
    ramp = renderer.shader().rasterShaderFunction().colorRampItemList()
    assert [(round(i.value, 3), i.color.alpha()) for i in ramp] == [(0.0, 255), (0.9, 200), (1.0, 0)]
    assert ramp[0].color.red() > 200 and ramp[0].color.green() < 50  # unsure: opaque red


def test_post_processor_styles_a_plain_layer(qgis_app, tmp_path):
    from qgis.core import QgsPalettedRasterRenderer, QgsProcessingContext, QgsProcessingFeedback, QgsRasterLayer

    from dualstream_qgis.styling import _PENDING, class_raster_post_processor
    from engine.data.synthetic import make_scene

    label = make_scene(tmp_path, "p", size=(64, 64), aux_channels=0, seed=5)["label"]
    layer = QgsRasterLayer(label, "plain")
    processor = class_raster_post_processor(["a", "b", "c"], ["#ff0000", "#00ff00", "#0000ff"], qml=None,
                                            layer_name="styled")
    assert id(processor) in _PENDING  # kept alive until QGIS calls it
    processor.postProcessLayer(layer, QgsProcessingContext(), QgsProcessingFeedback())
    assert processor.applied and id(processor) not in _PENDING
    assert isinstance(layer.renderer(), QgsPalettedRasterRenderer) and layer.name() == "styled"
    assert [c.label for c in layer.renderer().classes()] == ["a", "b", "c"]


def test_segment_ensemble_extent_in_other_crs_probabilities_and_tta(plugin, trained, scenes, tmp_path):
    import processing
    import rasterio
    from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsProject, QgsRasterLayer

    image = QgsRasterLayer(scenes["s2"]["image"], "s2")
    extent = image.extent()
    extent.setXMaximum(extent.xMinimum() + extent.width() / 2)  # the western half
    to_wgs84 = QgsCoordinateTransform(image.crs(), QgsCoordinateReferenceSystem("EPSG:4326"), QgsProject.instance())
    wgs84 = to_wgs84.transformBoundingBox(extent)
    extent_text = f"{wgs84.xMinimum()},{wgs84.xMaximum()},{wgs84.yMinimum()},{wgs84.yMaximum()} [EPSG:4326]"
    bundle = trained[0]["OUTPUT"]
    params = {"INPUT": scenes["s2"]["image"], "AUX": scenes["s2"]["aux"], "MODEL": f"{bundle};{bundle}",
              "WEIGHTS": "2,1", "EXTENT": extent_text, "TTA": "flips", "OUTPUT": str(tmp_path / "half.tif"),
              "OUTPUT_PROBABILITIES": str(tmp_path / "half_prob.tif")}
    results = processing.run("dualstream:segment", params)
    with rasterio.open(results["OUTPUT"]) as ds:
        assert 64 <= ds.width <= 72 and ds.height >= 128  # about half the width (snapped outward), full height
        assert ds.colormap(1)[1][:3] == (0x22, 0xAA, 0x22)  # palette in the GeoTIFF for headless use
    with rasterio.open(results["OUTPUT_PROBABILITIES"]) as ds:
        assert ds.count == 1 and ds.dtypes[0] == "float32"
        assert 0.0 <= float(ds.read(1).min()) and float(ds.read(1).max()) <= 1.0


def test_cancel_segmentation_leaves_no_output(plugin, trained, scenes, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    feedback = RecordingFeedback.make(cancel_when=lambda fb: 0 < fb.progress_values[-1] < 100)
    out = tmp_path / "canceled.tif"
    params = {"INPUT": scenes["s3"]["image"], "AUX": scenes["s3"]["aux"], "MODEL": trained[0]["OUTPUT"],
              "OUTPUT": str(out), "OUTPUT_POLYGONS": str(tmp_path / "canceled.gpkg"), "BATCH_SIZE": "1"}
    with pytest.raises(QgsProcessingException, match="(?i)cancel"):
        processing.run("dualstream:segment", params, feedback=feedback)
    assert feedback.isCanceled()
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "a cancelled run left files behind"


# ------------------------------------------------------------------------------------------------ bad input
@pytest.fixture
def segment_params(trained, scenes, tmp_path):
    return {"INPUT": scenes["s1"]["image"], "AUX": scenes["s1"]["aux"], "MODEL": trained[0]["OUTPUT"],
            "OUTPUT": str(tmp_path / "out.tif")}


def test_missing_image_layer_is_refused_by_name(plugin, segment_params, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="INPUT"):
        processing.run("dualstream:segment", dict(segment_params, INPUT=str(tmp_path / "missing.tif")))
    with pytest.raises(QgsProcessingException, match="MODEL.*does not exist"):
        processing.run("dualstream:segment", dict(segment_params, MODEL=str(tmp_path / "missing.dsmodel")))


def test_model_file_that_is_not_a_bundle(plugin, segment_params, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    fake = tmp_path / "fake.dsmodel"
    fake.write_text("this is not a model")
    with pytest.raises(QgsProcessingException, match="fake.dsmodel") as info:
        processing.run("dualstream:segment", dict(segment_params, MODEL=str(fake)))
    assert "bundle" in str(info.value).lower() or "dsmodel" in str(info.value)
    assert not (tmp_path / "out.tif").exists()


def test_image_with_other_band_count(plugin, segment_params, tmp_path):
    import processing
    import rasterio
    from qgis.core import QgsProcessingException

    with rasterio.open(segment_params["INPUT"]) as src:
        profile = dict(src.profile, count=3)
        data = src.read([1, 2, 3])
    three = tmp_path / "three_bands.tif"
    with rasterio.open(three, "w", **profile) as dst:
        dst.write(data)
    with pytest.raises(QgsProcessingException, match=r"3 band\(s\).*takes 4.*Bands.*same bands"):
        processing.run("dualstream:segment", dict(segment_params, INPUT=str(three)))


def test_extent_in_other_crs_that_does_not_overlap(plugin, segment_params):
    import processing
    from qgis.core import QgsProcessingException

    far_away = "10.0,10.1,50.0,50.1 [EPSG:4326]"  # Germany; the scenes are in Korea (EPSG:32652)
    with pytest.raises(QgsProcessingException, match="(?i)does not overlap the image.*extent over the image"):
        processing.run("dualstream:segment", dict(segment_params, EXTENT=far_away))


def test_wrong_output_format_and_weights(plugin, segment_params, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="OUTPUT_POLYGONS.*\\.gpkg"):
        processing.run("dualstream:segment", dict(segment_params, OUTPUT_POLYGONS=str(tmp_path / "p.shp")))
    with pytest.raises(QgsProcessingException, match=r"\(WEIGHTS\): 2 weight"):
        processing.run("dualstream:segment", dict(segment_params, WEIGHTS="1,2"))


def test_non_gdal_raster_layer_is_refused(plugin, segment_params):
    import processing
    from qgis.core import QgsProcessingException, QgsRasterLayer

    layer = QgsRasterLayer(segment_params["INPUT"], "same file, other provider", "virtualraster")
    if not layer.isValid():  # the virtual raster provider needs a formula URI
        uri = ("?crs=EPSG:32652&extent=0,0,10,10&width=10&height=10&formula=%22a@1%22%20*%202"
               f"&a:uri={segment_params['INPUT']}&a:provider=gdal")
        layer = QgsRasterLayer(uri, "virtual", "virtualraster")
    assert layer.isValid() and layer.providerType() != "gdal"
    with pytest.raises(QgsProcessingException, match="cannot read; save it as a GeoTIFF"):
        processing.run("dualstream:segment", dict(segment_params, INPUT=layer))


def test_torch_missing_gives_install_command(plugin, segment_params, tmp_path):
    """In QGIS's own Python without the venv, segment stops with a QgsProcessingException naming the fix."""
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(REPO)!r})
        sys.path.append("/usr/share/qgis/python/plugins")
        import importlib.abc
        class NoTorch(importlib.abc.MetaPathFinder):  # in case this machine has a system-wide torch
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        sys.meta_path.insert(0, NoTorch())
        from qgis.core import QgsApplication, QgsProcessingException
        app = QgsApplication([], False)
        app.initQgis()
        from processing.core.Processing import Processing
        Processing.initialize()
        import processing, dualstream_qgis
        plugin = dualstream_qgis.classFactory(None)
        plugin.initProcessing()
        try:
            processing.run("dualstream:segment", {segment_params!r})
        except QgsProcessingException as exc:
            print("MESSAGE:", exc)
        else:
            print("NO ERROR")
    """)
    env = {"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "QGIS_CUSTOM_CONFIG_PATH": str(tmp_path)}
    done = subprocess.run(["/usr/bin/python3", "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert "MESSAGE:" in done.stdout, done.stdout + done.stderr
    message = done.stdout.split("MESSAGE:", 1)[1]
    assert "'torch'" in message and "torch==2.13.0" in message and "make deploy" in message


# ------------------------------------------------------------------------------------------------ evaluate
def test_evaluate_writes_json_html_and_table(plugin, trained, scenes, tmp_path):
    import processing
    from qgis.core import QgsVectorLayer

    seg = processing.run("dualstream:segment", {"INPUT": scenes["s3"]["image"], "AUX": scenes["s3"]["aux"],
                                                "MODEL": trained[0]["OUTPUT"], "OUTPUT": str(tmp_path / "s3.tif")})
    for labels, field in ((scenes["s3"]["label"], None), (scenes["s3"]["label_vector"], "class")):
        params = {"INPUT": seg["OUTPUT"], "LABELS": labels, "OUTPUT": str(tmp_path / "metrics.json"),
                  "OUTPUT_HTML": str(tmp_path / "metrics.html"), "OUTPUT_TABLE": "TEMPORARY_OUTPUT"}
        if field:
            params["LABEL_FIELD"] = field
        results = processing.run("dualstream:evaluate", params)
        metrics = json.loads(Path(results["OUTPUT"]).read_text())
        assert results["MIOU"] == pytest.approx(metrics["miou"], abs=5e-5) and results["MIOU"] > 0.75
        assert (tmp_path / "metrics.csv").is_file()
        assert "field" in Path(results["OUTPUT_HTML"]).read_text()
        table = results["OUTPUT_TABLE"]
        assert isinstance(table, QgsVectorLayer) and table.featureCount() == 2
        # typed columns (QMetaType on QGIS >= 3.38 / Qt6, QVariant before): ids integer, names text, metrics real
        fields = table.fields()
        assert fields.field("class_id").typeName().lower() in ("integer", "int")
        assert fields.field("class_name").typeName().lower() == "string"
        assert fields.field("iou").isNumeric() and fields.field("iou").typeName().lower() in ("double", "real")
        rows = {f["class_name"]: f["iou"] for f in table.getFeatures()}
        assert rows["field"] == pytest.approx(metrics["iou"][1])
    # the raster and vector labels describe the same classes
    assert results["MIOU"] > 0.75


def test_inputs_given_as_paths_stay_untouched(plugin, trained, scenes, tmp_path):
    """A raster given as a file path is not loaded as a QGIS layer, so QGIS computes no statistics for it: no
    ``.aux.xml`` appears beside the GeoTIFFs and a VRT input is not rewritten (before, both happened)."""
    import hashlib
    import shutil

    import processing
    from osgeo import gdal

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for key in ("image", "label"):
        shutil.copy(scenes["s1"][key], inputs / Path(scenes["s1"][key]).name)
    aux = [shutil.copy(path, inputs / Path(path).name) for path in scenes["s1"]["aux"]]
    image_vrt, aux_vrt = str(inputs / "image.vrt"), str(inputs / "aux.vrt")
    gdal.BuildVRT(image_vrt, [str(inputs / Path(scenes["s1"]["image"]).name)]).FlushCache()
    gdal.BuildVRT(aux_vrt, [str(aux[0])]).FlushCache()

    def snapshot() -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(inputs.iterdir())}

    before = snapshot()
    out = tmp_path / "out"
    segmented = processing.run("dualstream:segment", {"INPUT": image_vrt, "AUX": [aux_vrt, *map(str, aux[1:])],
                                                      "MODEL": trained[0]["OUTPUT"], "OUTPUT": str(out / "c.tif")})
    processing.run("dualstream:evaluate", {"INPUT": segmented["OUTPUT"],
                                           "LABELS": str(inputs / Path(scenes["s1"]["label"]).name),
                                           "LABEL_MAPPING": "90=1", "OUTPUT": str(out / "m.json")})
    assert Path(segmented["OUTPUT"]).exists() and (out / "m.json").exists()
    assert snapshot() == before


def test_image_unlike_the_training_data_warns_in_the_log_and_strict_refuses(plugin, segment_params, tmp_path):
    """Issue 33, item 5: an 8-bit export of a 16-bit scene is said in the QGIS log; STRICT_INPUTS stops the run."""
    import processing
    import rasterio
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    with rasterio.open(segment_params["INPUT"]) as src:
        profile, data = src.profile, src.read()
    eight_bit = tmp_path / "eight_bit.tif"
    with rasterio.open(eight_bit, "w", **dict(profile, dtype="uint8")) as dst:
        dst.write((data / data.max() * 255).astype("uint8"))

    class Feedback(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.warnings: list[str] = []

        def pushWarning(self, warning):  # noqa: N802 - QGIS API
            self.warnings.append(warning)

    feedback = Feedback()
    # values in other units may well give one class everywhere, which is refused unless kept: keep it, the
    # warning is what this run is about
    processing.run("dualstream:segment", dict(segment_params, INPUT=str(eight_bit), ACCEPT_ONE_CLASS=True),
                   feedback=feedback)
    said = [w for w in feedback.warnings if "looks unlike the data" in w]
    assert said and "eight_bit.tif" in said[0] and "STRICT_INPUTS" in said[0], feedback.warnings
    feedback = Feedback()
    processing.run("dualstream:segment", dict(segment_params, OUTPUT=str(tmp_path / "like.tif"), STRICT_INPUTS=True),
                   feedback=feedback)  # the scene as in training: no such warning, and no error
    assert not [w for w in feedback.warnings if "looks unlike" in w]
    with pytest.raises(QgsProcessingException, match="(?s)eight_bit.tif.*uint8.*STRICT_INPUTS"):
        processing.run("dualstream:segment", dict(segment_params, INPUT=str(eight_bit), STRICT_INPUTS=True,
                                                  OUTPUT=str(tmp_path / "strict.tif")))
    assert not (tmp_path / "strict.tif").exists()
