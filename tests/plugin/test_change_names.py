"""Names of the change outputs in QGIS (issue 79, item 5): the change table layer is named after the output it sums
up (it was "<first date> change table" whatever the output was called, several identical layers after a few runs),
and the table of dates without georeferencing takes its hectares from the pixel size the user gives."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio

from tests.plugin.loading import run_loading, table_rows

pytestmark = [pytest.mark.qgis]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    from engine.data.synthetic_pairs import make_pair

    return make_pair(tmp_path_factory.mktemp("names"), seed=2, size=64, name="p")


def test_each_change_table_layer_is_named_after_its_change_raster(plugin, pair, tmp_path):
    names = []
    for output in ("p_2019_2021_change", "p_2019_2023_change"):
        _, layers = run_loading("dualstream:comparechange", {
            "INPUT": pair.before_classes, "AFTER": pair.after_classes, "OUTPUT": tmp_path / f"{output}.tif",
            "OUTPUT_TABLE": "TEMPORARY_OUTPUT"}, ("OUTPUT", "OUTPUT_TABLE"))
        names += sorted(layers)
    assert names == ["p_2019_2021_change", "p_2019_2021_change table", "p_2019_2023_change",
                     "p_2019_2023_change table"]


def test_detect_changes_table_is_named_after_the_change_raster(plugin, pair, tmp_path):
    from tests.helpers import make_change_bundle

    model = make_change_bundle(tmp_path / "change.dsmodel")
    _, layers = run_loading("dualstream:detectchange", {
        "INPUT": pair.before, "AFTER": pair.after, "MODEL": model, "BACKEND": "torch",
        "OUTPUT": tmp_path / "p_2019_2023_change.tif", "OUTPUT_TABLE": "TEMPORARY_OUTPUT"}, ("OUTPUT", "OUTPUT_TABLE"))
    assert sorted(layers) == ["p_2019_2023_change", "p_2019_2023_change table"]


def test_unreferenced_dates_take_their_hectares_from_the_pixel_size_given(plugin, tmp_path):
    before = np.zeros((1, 20, 20), np.uint8)
    after = before.copy()
    after[0, :5, :8] = 1  # 40 pixels
    paths = []
    for name, values in (("A", before), ("B", after)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(tmp_path / f"{name}.tif", "w", driver="GTiff", width=20, height=20, count=1,
                               dtype="uint8") as ds:
                ds.write(values)
        paths.append(str(tmp_path / f"{name}.tif"))
    for size, hectares in ((None, None), (0.5, 40 * 0.25 / 10_000)):
        params = {"INPUT": paths[0], "AFTER": paths[1], "OUTPUT": tmp_path / f"c{size}.tif",
                  "OUTPUT_TABLE": "TEMPORARY_OUTPUT"}
        if size:
            params["GROUND_PIXEL_SIZE"] = size
        _, layers = run_loading("dualstream:comparechange", params, ("OUTPUT", "OUTPUT_TABLE"))
        row = table_rows(layers[f"c{size} table"])[0]
        assert row["pixels"] == 40
        assert (row["hectares"] in (None, "") or row["hectares"] != row["hectares"]) if hectares is None else \
            row["hectares"] == pytest.approx(hectares)


def test_bulk_pairs_without_georeferencing_take_their_hectares_from_the_pixel_size_given(plugin, tmp_path):
    """Segment in bulk lacked the field the other change algorithms have (the engine's --ground-pixel-size)."""
    import csv

    import processing
    from qgis.core import QgsApplication

    from tests.helpers import make_change_bundle

    alg = QgsApplication.processingRegistry().algorithmById("dualstream:segmentbulk")
    field = alg.parameterDefinition("GROUND_PIXEL_SIZE")
    assert field.description() == "Pixel size of dates without georeferencing (m, for the change table)"
    rng = np.random.default_rng(1)
    for folder in ("A", "B"):
        (tmp_path / folder).mkdir()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(tmp_path / folder / "t1.tif", "w", driver="GTiff", width=64, height=64, count=3,
                               dtype="uint16") as ds:
                ds.write(rng.integers(0, 10000, (3, 64, 64)).astype(np.uint16))
    model = make_change_bundle(tmp_path / "change.dsmodel")
    processing.run("dualstream:segmentbulk", {
        "FOLDER": str(tmp_path / "A"), "PATTERN": "*.tif", "AFTER_PATTERN": "../B/{name}", "MODEL": model,
        "BACKEND": "torch", "GROUND_PIXEL_SIZE": 0.5, "OUTPUT": str(tmp_path / "out")})
    with open(tmp_path / "out" / "change_table.csv", newline="", encoding="utf-8") as f:
        rows = [row for row in csv.DictReader(f) if row["name"] == "change"]
    assert len(rows) == 1 and int(rows[0]["pixels"]) > 0
    assert float(rows[0]["hectares"]) == pytest.approx(int(rows[0]["pixels"]) * 0.25 / 10_000, abs=1e-4)


def test_layers_of_files_sharing_one_name_are_named_by_folder_and_file(qgis_app, tmp_path):
    """A change dataset's A/x, B/x and label/x (and a second split's) as QGIS names them, "x" each: named by folder
    and file; a layer of its own name and one whose name no other shares keep theirs."""
    from qgis.core import QgsProject, QgsRasterLayer

    from dualstream_qgis.layer_names import distinguish

    def raster(relative: str) -> str:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8",
                           crs="EPSG:32633", transform=rasterio.transform.from_origin(0, 4, 1, 1)) as ds:
            ds.write(np.zeros((1, 4, 4), np.uint8))
        return str(path)

    project = QgsProject()
    files = ["LEVIR/A/t_1.tif", "LEVIR/B/t_1.tif", "LEVIR/label/t_1.tif", "train/A/t_2.tif", "val/A/t_2.tif",
             "LEVIR/A/alone.tif"]
    layers = [QgsRasterLayer(raster(f), Path(f).stem) for f in files]
    mine = QgsRasterLayer(raster("other/B/t_1.tif"), "my own name")
    project.addMapLayers([*layers, mine])
    distinguish(project)
    assert [layer.name() for layer in layers] == ["A/t_1", "B/t_1", "label/t_1", "train/A/t_2", "val/A/t_2", "alone"]
    assert mine.name() == "my own name"
