"""The change table's hectares of dates without georeferencing (issue 79, item 5): the PNG tiles of a change dataset
carry no CRS, so their hectares stay empty unless the user says the ground size of a pixel."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
import rasterio

from engine.cli.main import main
from tests.helpers import make_change_bundle


def unreferenced(path, values: np.ndarray, count: int = 1) -> str:
    """A GeoTIFF with no CRS and no geotransform (as a PNG tile of LEVIR-CD reads)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", driver="GTiff", width=values.shape[-1], height=values.shape[-2], count=count,
                           dtype=values.dtype) as ds:
            ds.write(values if values.ndim == 3 else values[None])
    return str(path)


def table(path) -> dict[str, dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return {row["name"]: row for row in csv.DictReader(f)}


@pytest.fixture
def classes(tmp_path):
    before = np.zeros((32, 32), np.uint8)
    after = before.copy()
    after[:10, :10] = 1  # 100 pixels built
    return unreferenced(tmp_path / "A.tif", before), unreferenced(tmp_path / "B.tif", after)


def test_compare_gives_hectares_of_unreferenced_dates_at_the_pixel_size_given(classes, tmp_path, capsys):
    before, after = classes
    assert main(["compare", "--before-classes", before, "--after-classes", after, "--out", str(tmp_path / "c.tif"),
                 "--change-table", str(tmp_path / "none.csv"), "--quiet"]) == 0
    assert table(tmp_path / "none.csv")["0 → 1"]["hectares"] == ""  # no CRS, nothing said: no area
    assert main(["compare", "--before-classes", before, "--after-classes", after, "--out", str(tmp_path / "d.tif"),
                 "--change-table", str(tmp_path / "half.csv"), "--ground-pixel-size", "0.5", "--quiet"]) == 0
    row = table(tmp_path / "half.csv")["0 → 1"]
    assert int(row["pixels"]) == 100 and float(row["hectares"]) == pytest.approx(100 * 0.25 / 10_000)


def test_a_change_models_table_of_an_unreferenced_pair_at_the_pixel_size_given(tmp_path, capsys):
    rng = np.random.default_rng(0)
    first = unreferenced(tmp_path / "A.tif", rng.integers(0, 10000, (3, 64, 64)).astype(np.uint16), 3)
    later = unreferenced(tmp_path / "B.tif", rng.integers(0, 10000, (3, 64, 64)).astype(np.uint16), 3)
    model = make_change_bundle(tmp_path / "change.dsmodel")
    code = main(["segment", "--model", model, "--image", first, "--after", later, "--out", str(tmp_path / "c.tif"),
                 "--change-table", str(tmp_path / "t.csv"), "--ground-pixel-size", "2", "--backend", "torch",
                 "--quiet"])
    assert code == 0, capsys.readouterr().err
    row = table(tmp_path / "t.csv")["change"]
    assert float(row["hectares"]) == pytest.approx(int(row["pixels"]) * 4 / 10_000)


def test_a_negative_pixel_size_is_refused_naming_the_option(classes, tmp_path, capsys):
    before, after = classes
    code = main(["compare", "--before-classes", before, "--after-classes", after, "--out", str(tmp_path / "c.tif"),
                 "--ground-pixel-size", "-1", "--quiet"])
    assert code != 0 and "--ground-pixel-size must be a positive number of metres" in capsys.readouterr().err


def test_bulk_pairs_without_georeferencing_take_their_hectares_at_the_pixel_size_given(tmp_path, capsys):
    rng = np.random.default_rng(1)
    for name in ("t1", "t2"):
        for folder in ("A", "B"):
            (tmp_path / folder).mkdir(exist_ok=True)
            unreferenced(tmp_path / folder / f"{name}.tif", rng.integers(0, 10000, (3, 64, 64)).astype(np.uint16), 3)
    model = make_change_bundle(tmp_path / "change.dsmodel")
    out = tmp_path / "out"
    code = main(["segment", "--model", model, "--images", str(tmp_path / "A" / "*.tif"), "--after-pattern",
                 "../B/{name}", "--out-dir", str(out), "--ground-pixel-size", "0.5", "--backend", "torch", "--quiet"])
    assert code == 0, capsys.readouterr().err
    with open(out / "change_table.csv", newline="", encoding="utf-8") as f:
        rows = [row for row in csv.DictReader(f) if row["name"] == "change"]
    assert len(rows) == 2
    for row in rows:
        assert float(row["hectares"]) == pytest.approx(int(row["pixels"]) * 0.25 / 10_000, abs=1e-4)  # as written
