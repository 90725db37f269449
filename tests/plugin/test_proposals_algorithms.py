"""The loop closed in QGIS: "Propose labels with Segment Anything" (dualstream:propose) over suggest's windows and
"Accept proposed labels" (dualstream:accept) honouring Selected features only, appending to a scratch label layer
and a GeoPackage labelled area, through processing.run. A tiny random-weight SAM 2 of the real layout: the checks
are on ids, geometry and what is appended, not on mask quality."""

from __future__ import annotations

import pytest

from engine.cli.main import main
from engine.data import synthetic
from tests.engine.prompted_models import save_tiny
from tests.helpers import RecordingFeedback, make_bundle

pytestmark = pytest.mark.qgis


@pytest.fixture(scope="module")
def round_one(tmp_path_factory):
    root = tmp_path_factory.mktemp("qgis-loop")
    scene = synthetic.make_scene(root, "scene", size=(96, 96), seed=2, aux_channels=0)
    model = make_bundle(root / "m.dsmodel", vision_bands=4, num_classes=2, class_names=["other", "field"], seed=5)
    windows = root / "windows.gpkg"
    assert main(["suggest", "--model", model, "--image", scene["image"], "--count", "2", "--window", "40", "--tta",
                 "none", "--device", "cpu", "--backend", "torch", "--out", str(windows), "--quiet"]) == 0
    return {"root": root, "scene": scene, "model": model, "windows": windows, "sam": save_tiny("sam2", root / "sam")}


def test_propose_then_accept_the_selected_proposals_into_a_scratch_layer(plugin, round_one, tmp_path):
    import processing
    from qgis.core import (
        QgsCoordinateTransform,
        QgsGeometry,
        QgsProcessingFeatureSourceDefinition,
        QgsProject,
        QgsVectorLayer,
    )

    out = tmp_path / "proposals.gpkg"
    windows_layer = QgsVectorLayer(str(round_one["windows"]), "windows", "ogr")
    QgsProject.instance().addMapLayer(windows_layer)
    windows_layer.selectByExpression('"rank" = 2')
    proposing = RecordingFeedback.make()
    results = processing.runAndLoadResults("dualstream:propose", {
        "WINDOWS": QgsProcessingFeatureSourceDefinition(windows_layer.id(), selectedFeaturesOnly=True),
        "MODEL": round_one["model"], "SAM_MODEL": str(round_one["sam"]), "MIN_PIXELS": 4,
        "OUTPUT": str(out)}, feedback=proposing)
    # the bar moves on through the one window's model run, embedding and prompts; before it went 20 -> 100 %
    # after the model run and sat there while Segment Anything worked
    bar = proposing.progress_values
    assert bar == sorted(bar) and bar[-1] == 100.0, bar
    assert len({v for v in bar if 0 < v < 100}) >= 2, bar  # the model run's end, the embedding's, then the prompt
    loaded = [layer for layer in QgsProject.instance().mapLayers().values()
              if layer.name() == "proposals (proposed labels)"]
    assert len(loaded) == 1  # loaded named, drawn as outlines over the image
    assert loaded[0].renderer().symbol().symbolLayer(0).properties()["style"] == "no"
    QgsProject.instance().removeMapLayer(loaded[0].id())
    proposals = QgsVectorLayer(str(out), "proposals", "ogr")
    assert proposals.featureCount() == results["PROPOSALS"] > 0
    assert {f["window"] for f in proposals.getFeatures()} == {2}  # only the selected window
    QgsProject.instance().addMapLayer(proposals)
    first = next(proposals.getFeatures())
    proposals.selectByIds([first.id()])  # the user keeps one polygon of the window
    labels = QgsVectorLayer("MultiPolygon?crs=EPSG:3857&field=class:integer", "my labels", "memory")
    QgsProject.instance().addMapLayer(labels)
    area = tmp_path / "area.gpkg"
    main(["accept", "--proposals", str(out), "--windows", str(round_one["windows"]), "--window", "1", "--labels",
          str(tmp_path / "seed_labels.gpkg"), "--labelled-area", str(area), "--quiet"])  # a labelled area file
    area_layer = QgsVectorLayer(str(area), "area", "ogr")
    QgsProject.instance().addMapLayer(area_layer)
    try:
        accepting = RecordingFeedback.make()
        done = processing.run("dualstream:accept", {
            "PROPOSALS": QgsProcessingFeatureSourceDefinition(proposals.id(), selectedFeaturesOnly=True),
            "WINDOWS": str(round_one["windows"]), "LABELS": labels, "LABELLED_AREA": area_layer}, feedback=accepting)
        assert done == {"POLYGONS": 1, "WINDOWS": 1}
        # the next step names the user's scratch layer to train with, not the temporary file it was copied from
        next_step, = [line for line in accepting.infos if line.startswith("Next:")]
        assert "the scratch layer 'my labels'" in next_step and "dualstream-accept-" not in next_step, next_step
        assert f"'{area}'" in next_step  # the GeoPackage labelled area by its own file
        assert labels.featureCount() == 1
        got = next(labels.getFeatures())
        assert got["class"] == first["class_id"] == 1
        assert labels.crs().authid() == "EPSG:3857"
        back = QgsGeometry(got.geometry())  # the same polygon, brought to the scratch layer's CRS
        back.transform(QgsCoordinateTransform(labels.crs(), proposals.crs(), QgsProject.instance()))
        assert abs(back.area() - first.geometry().area()) < 1e-3 * first.geometry().area()
        assert back.centroid().asPoint().distance(first.geometry().centroid().asPoint()) < 0.05
        reread = QgsVectorLayer(str(area), "area again", "ogr")
        assert sorted(f["window"] for f in reread.getFeatures()) == [1, 2]
    finally:
        for layer in (windows_layer, proposals, labels, area_layer):
            QgsProject.instance().removeMapLayer(layer.id())


def test_suggests_help_describes_the_loop_through_propose_and_accept(plugin):
    """Before, Suggest's help described the loop without them: label every window by hand, then train."""
    from qgis.core import QgsApplication

    registry = QgsApplication.processingRegistry()
    loop = registry.algorithmById("dualstream:suggest").shortHelpString().split("<b>The loop</b>")[1]
    steps = [registry.algorithmById(f"dualstream:{name}").displayName() for name in ("propose", "accept", "train")]
    assert all(f"<b>{name}</b>" in loop for name in steps), loop
    assert loop.index(steps[0]) < loop.index(steps[1]) < loop.index(steps[2])


def test_accept_into_scratch_layers_twice_is_refused_and_leaves_no_folder(plugin, round_one, tmp_path, monkeypatch):
    """Scratch label and labelled-area layers, as a user makes them: the second Accept of the same window, and an
    Accept with no selection (every window of the proposals), are refused with nothing appended, as with a
    GeoPackage (before: labels 9 -> 10 -> 11, the area 4 -> 5 -> 6, silently); the refusal names the scratch
    layer, not a temporary file, and no run leaves a folder in the temporary folder."""
    import tempfile

    import processing
    from qgis.core import QgsProcessingException, QgsProject, QgsVectorLayer

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    proposals = tmp_path / "proposals.gpkg"
    assert main(["propose", "--windows", str(round_one["windows"]), "--model", round_one["model"], "--sam",
                 str(round_one["sam"]), "--device", "cpu", "--backend", "torch", "--min-pixels", "4", "--out",
                 str(proposals), "--quiet"]) == 0
    labels = QgsVectorLayer("MultiPolygon?crs=EPSG:3857&field=class:integer", "my labels", "memory")
    area = QgsVectorLayer("Polygon?crs=EPSG:4326", "my labelled area", "memory")
    for layer in (labels, area):
        QgsProject.instance().addMapLayer(layer)
    params = {"PROPOSALS": str(proposals), "WINDOWS": str(round_one["windows"]), "LABELS": labels,
              "LABELLED_AREA": area}
    try:
        first = processing.run("dualstream:accept", dict(params, WINDOW_IDS="1"))
        counts = labels.featureCount(), area.featureCount()
        assert counts == (first["POLYGONS"], 1) and first["POLYGONS"] > 0
        for again in (dict(params, WINDOW_IDS="1"), params):  # the same window; every window, 1 among them
            with pytest.raises(QgsProcessingException, match="lie inside the labelled area 'my labelled area' "
                                                             "already"):
                processing.run("dualstream:accept", again)
            assert (labels.featureCount(), area.featureCount()) == counts
        second = processing.run("dualstream:accept", dict(params, WINDOW_IDS="2"))
        assert (labels.featureCount(), area.featureCount()) == (counts[0] + second["POLYGONS"], 2)
        assert list((tmp_path / "tmp").iterdir()) == []
    finally:
        for layer in (labels, area):
            QgsProject.instance().removeMapLayer(layer.id())


def test_accept_refuses_a_filter_that_would_hide_what_it_appends_in_qgis(plugin, round_one, tmp_path):
    """A label layer or labelled area filtered in QGIS (Query Builder: a QGIS expression on a scratch layer, SQL
    on a GeoPackage): Accept appends only where the filter shows all it appends; else nothing is appended and the
    message names the layer, the filter and what to do. A label the filter hides is still a label: accepted again,
    it is refused. Before, the appended features vanished under the filter without a word, and a scratch layer's
    hidden labels were not looked at (accepted twice)."""
    import processing
    from osgeo import ogr
    from qgis.core import QgsFeature, QgsGeometry, QgsProcessingException, QgsProject, QgsVectorLayer

    proposals = tmp_path / "proposals.gpkg"
    assert main(["propose", "--windows", str(round_one["windows"]), "--model", round_one["model"], "--sam",
                 str(round_one["sam"]), "--device", "cpu", "--backend", "torch", "--min-pixels", "4", "--out",
                 str(proposals), "--quiet"]) == 0
    data = ogr.Open(str(proposals))
    wanted = sum(1 for f in data.GetLayer(0) if f.GetField("window") == 1)
    data = None
    labels = QgsVectorLayer("MultiPolygon?crs=EPSG:3857&field=class:integer", "my labels", "memory")
    older = QgsFeature(labels.fields())
    older.setAttribute("class", 5)
    older.setGeometry(QgsGeometry.fromWkt("MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)))"))
    labels.dataProvider().addFeatures([older])
    areas = [QgsVectorLayer("Polygon?crs=EPSG:4326&field=window:integer", f"area {n}", "memory") for n in (1, 2)]
    for layer in (labels, *areas):
        QgsProject.instance().addMapLayer(layer)

    def total(layer) -> int:
        whole = layer.clone()  # every feature, whatever the filter shows
        whole.setSubsetString("")
        return whole.featureCount()

    params = {"PROPOSALS": str(proposals), "WINDOWS": str(round_one["windows"]), "LABELS": labels,
              "LABELLED_AREA": areas[0], "WINDOW_IDS": "1"}
    try:
        labels.setSubsetString('"class" = 5')  # the user looks at their class 5 only
        with pytest.raises(QgsProcessingException) as refused:
            processing.run("dualstream:accept", params)
        said = str(refused.value)
        assert (f"The label layer 'my labels' has the filter '\"class\" = 5' (QGIS's layer filter), which would "
                f"hide {wanted} of the {wanted} polygons accepted") in said, said
        assert "Query Builder" in said and "Nothing was appended" in said
        assert (total(labels), total(areas[0])) == (1, 0)
        labels.setSubsetString('"class" >= 1')
        assert processing.run("dualstream:accept", params)["POLYGONS"] == wanted
        assert (total(labels), total(areas[0]), labels.featureCount()) == (1 + wanted, 1, 1 + wanted)
        # the labels just accepted hidden by the filter, a new labelled area: still found, still refused
        labels.setSubsetString('"class" = 5')
        with pytest.raises(QgsProcessingException, match="in the label layer 'my labels' already"):
            processing.run("dualstream:accept", dict(params, LABELLED_AREA=areas[1]))
        assert (total(labels), total(areas[1])) == (1 + wanted, 0)
        # a GeoPackage labelled area filtered in QGIS: its SQL filter reaches the engine with the layer's source
        area_file = tmp_path / "area.gpkg"
        assert main(["accept", "--proposals", str(proposals), "--windows", str(round_one["windows"]), "--window",
                     "1", "--labels", str(tmp_path / "seed.gpkg"), "--labelled-area", str(area_file), "--quiet"]) == 0
        area_layer = QgsVectorLayer(f"{area_file}|layername=area", "my area", "ogr")
        assert area_layer.setSubsetString('"window" = 1')
        QgsProject.instance().addMapLayer(area_layer)
        labels.setSubsetString("")
        with pytest.raises(QgsProcessingException, match="The labelled area .*area.gpkg.* has the filter "
                                                         "'\"window\" = 1'.*hide 1 of the 1 windows"):
            processing.run("dualstream:accept", dict(params, WINDOW_IDS="2", LABELLED_AREA=area_layer))
        area_layer.reload()
        assert total(labels) == 1 + wanted and total(area_layer) == 1
    finally:
        for layer in QgsProject.instance().mapLayers().values():
            if layer.name() in ("my labels", "area 1", "area 2", "my area"):
                QgsProject.instance().removeMapLayer(layer.id())
