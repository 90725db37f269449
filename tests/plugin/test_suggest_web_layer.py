"""The labelling loop over a web layer through processing.run: *Suggest where to label* reads an XYZ layer (tiles
served from 127.0.0.1) over the Extent with a scratch layer as the labelled area, keeps the layer's window beside its
windows, and *Propose labels with Segment Anything* reads the windows' scene from there. A web layer given as
Propose's aux (no area to read it over) is refused with what to give instead. Before, both failed with a TypeError
("expected str ... not WebLayer"). A tiny random-weight SAM 2 of the real layout: the checks are on where the
windows and proposals lie and what was read, not on mask quality."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import rasterio

from bench.http_files import FileServer
from tests.engine.prompted_models import save_tiny
from tests.helpers import RecordingFeedback, make_bundle

pytestmark = pytest.mark.qgis


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """XYZ tiles (zoom 16-18) of a synthetic scene's first three bands, the scene's CRS and bounds."""
    from engine.data.synthetic import make_scene

    root = tmp_path_factory.mktemp("suggest-web")
    scene = make_scene(root / "data", "scene", size=(128, 160), seed=6, aux_channels=0, dtype="uint8")
    rgb = root / "rgb.tif"
    subprocess.run(["gdal_translate", "-q", "-b", "1", "-b", "2", "-b", "3", scene["image"], str(rgb)], check=True)
    subprocess.run(["gdal2tiles.py", "--xyz", "-q", "-z", "16-18", "-w", "none", "--processes", "1", str(rgb),
                    str(root / "tiles")], check=True, capture_output=True)
    with rasterio.open(rgb) as image:
        return root / "tiles", image.crs.to_string(), tuple(image.bounds)


def test_suggest_reads_a_web_layer_and_propose_its_kept_window(plugin, served, tmp_path):
    import processing
    from qgis.core import (
        QgsCoordinateReferenceSystem,
        QgsCoordinateTransform,
        QgsFeature,
        QgsGeometry,
        QgsProcessingException,
        QgsProject,
        QgsRasterLayer,
        QgsRectangle,
        QgsVectorLayer,
    )

    tiles, crs, (left, bottom, right, top) = served
    model = make_bundle(tmp_path / "m.dsmodel", vision_bands=3, num_classes=2, class_names=["other", "field"],
                        seed=2, vision_high=255.0, gsd=1.0, crs=crs)
    middle = (left + right) / 2
    area = QgsVectorLayer("MultiPolygon?crs=EPSG:4326", "labelled so far", "memory")  # the west half, in degrees
    west = QgsGeometry.fromRect(QgsRectangle(left, bottom, middle, top))
    west.transform(QgsCoordinateTransform(QgsCoordinateReferenceSystem(crs), area.crs(), QgsProject.instance()))
    feature = QgsFeature(area.fields())
    feature.setGeometry(west)
    area.dataProvider().addFeatures([feature])
    windows = tmp_path / "windows.gpkg"
    with FileServer(tiles) as server:
        layer = QgsRasterLayer(f"type=xyz&url={server.url}/%7Bz%7D/%7Bx%7D/%7By%7D.png&zmax=18&zmin=16", "tiles",
                               "wms")
        assert layer.isValid()
        QgsProject.instance().addMapLayers([layer, area])
        try:
            params = {"INPUT": [layer.id()], "MODEL": model, "LABELLED_AREA": area, "COUNT": 2, "WINDOW": 40,
                      "TTA": 0, "BACKEND": 1, "OUTPUT": str(windows)}
            with pytest.raises(QgsProcessingException, match=r"XYZ layer 'tiles' covers far more.*\(EXTENT\)"):
                processing.run("dualstream:suggest", params)
            log = RecordingFeedback.make()
            done = processing.run("dualstream:suggest", dict(params, EXTENT=f"{left},{right},{bottom},{top} [{crs}]"),
                                  feedback=log)
            assert done["WINDOWS"] == 2 and server.requests > 0
            share = float(re.search(r"Scene 'tiles.web.vrt': ([\d.]+) % labelled", " ".join(log.infos)).group(1))
            assert 40 < share < 60, share
            found = list(QgsVectorLayer(str(windows), "windows", "ogr").getFeatures())
            scenes = {Path(f["scene"]) for f in found}
            scene, = scenes  # the web layer's window, kept beside the windows
            assert scene.name == "tiles.web.vrt" and scene.parent.parent == tmp_path / "windows_web"
            assert all(f["labelled"] < 0.5 for f in found)

            proposals = tmp_path / "proposals.gpkg"
            proposed = processing.run("dualstream:propose", {
                "WINDOWS": str(windows), "MODEL": model, "SAM_MODEL": str(save_tiny("sam2", tmp_path / "sam2")),
                "MIN_PIXELS": 4, "BACKEND": 1, "OUTPUT": str(proposals)})
            got = list(QgsVectorLayer(str(proposals), "proposals", "ogr").getFeatures())
            assert len(got) == proposed["PROPOSALS"] > 0
            assert {Path(f["scene"]) for f in got} == scenes
            boxes = {f["rank"]: f.geometry().buffer(1e-6, 1) for f in found}
            assert all(boxes[f["window"]].contains(f.geometry()) for f in got)

            with pytest.raises(QgsProcessingException, match=r"Parameter AUX: 'tiles' is a web layer \(XYZ\).*"
                                                             r"\.web\.vrt file"):
                processing.run("dualstream:propose", {"WINDOWS": str(windows), "MODEL": model, "AUX": [layer.id()],
                                                      "OUTPUT": str(tmp_path / "p2.gpkg")})
        finally:
            QgsProject.instance().removeMapLayers([layer.id(), area.id()])
