"""Only some of a label layer's features through headless ``qgis_process`` (issue 41).

A selection lives only in a running QGIS: a project file does not store it (a layer's filter it does) and
``qgis_process`` starts with none, so "selected features only" has no headless form. What a headless run has in its
place, tested here on ``dualstream:evaluate``: a source given as ``file.gpkg|layername=NAME|subset=EXPRESSION``
keeps only the features the expression selects (``"fid" IN (3, 7)`` for the features one would have selected), and
the labels are those features only: the truth pixels of the class are those of the kept polygons, fewer than all
polygons'. (A project layer with such a filter, given with ``--PROJECT_PATH``, is read the same way, but QGIS
3.22's ``qgis_process`` aborts on exit after any algorithm read a project layer, native ones too, so it is not run
here.)
"""

from __future__ import annotations

import json

import pytest
import rasterio
from osgeo import ogr
from rasterio.features import rasterize

pytestmark = [pytest.mark.qgis]


def _truth_pixels(prediction: str, vector: str, fids: list[int] | None) -> int:
    """The pixels of the polygons ``fids`` (None: all) on the prediction's grid, rasterised as the engine does
    (pixel centres inside)."""
    ds = ogr.Open(vector)
    layer = ds.GetLayer(0)
    shapes = [json.loads(f.GetGeometryRef().ExportToJson()) for f in layer if fids is None or f.GetFID() in fids]
    with rasterio.open(prediction) as src:
        burnt = rasterize([(s, 1) for s in shapes], out_shape=(src.height, src.width), transform=src.transform,
                          fill=0, all_touched=False, dtype="uint8")
    return int(burnt.sum())


def test_a_subset_of_the_label_features_is_the_labels_through_qgis_process(
        qgis_process, deploy_plugin, venv_site_packages, scenes, tmp_path):
    deploy_plugin(tmp_path, venv_site_packages)
    scene = scenes["s1"]
    prediction = str(tmp_path / "prediction.tif")
    with rasterio.open(scene["label"]) as src:
        profile = src.profile
        classes = (src.read(1) == 90).astype("uint8")
    profile.update(dtype="uint8", nodata=255, count=1)
    with rasterio.open(prediction, "w", **profile) as dst:
        dst.write(classes, 1)
    source = ogr.Open(scene["label_vector"])  # kept: its layer dies with it
    fids = [f.GetFID() for f in source.GetLayer(0)]
    source = None
    assert len(fids) >= 2
    kept = fids[0]
    everything, one = (_truth_pixels(prediction, scene["label_vector"], f) for f in (None, [kept]))
    assert 0 < one < everything

    def truth(name: str, *args: str) -> int:
        out = tmp_path / f"{name}.json"
        ran = qgis_process.run(tmp_path, "--json", "run", "dualstream:evaluate", *args, f"--INPUT={prediction}",
                               "--LABEL_VALUES=1", f"--OUTPUT={out}", env=qgis_process.ISOLATED)
        assert ran.returncode == 0, f"{ran.stdout[-3000:]}\n{ran.stderr[-3000:]}"
        return int(sum(json.loads(out.read_text())["confusion_matrix"][1]))

    assert truth("all", f"--LABELS={scene['label_vector']}") == everything
    assert truth("subset", f"--LABELS={scene['label_vector']}|layername=labels|subset=\"fid\" IN ({kept})") == one
