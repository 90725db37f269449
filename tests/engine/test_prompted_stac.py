"""A STAC item as the map tool's image (issue 55): its windows read through the resolver's STAC steps (bands by
name, raster:bands scale/offset, remote assets read by range requests), prompts in another CRS answered in the
item's, and the layer a front end shows written as a new file, never over a file the item reads.

The item holds the bands of one 16-bit GeoTIFF as single-band assets, listed blue, green, red, nir (as Sentinel-2
items list them): the first three are not red, green, blue, so a window equal to the GeoTIFF's proves the pick by
name; digital numbers with ``raster:bands`` scale 0.0001, as products ship."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.errors import DataError
from tests.engine.stac_items import PIXEL, X0, Y0, make_item, write_tif

rasterio = pytest.importorskip("rasterio")


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> dict:
    """The item, and the same red, green, blue as one 3-band GeoTIFF with band names."""
    folder = tmp_path_factory.mktemp("stac-scene")
    rng = np.random.default_rng(4)
    dn = rng.integers(300, 1500, (4, 120, 160)).astype(np.uint16)
    dn[:, 40:80, 60:110] += 4000  # a bright roof
    dn[3] = rng.integers(2000, 6000, (120, 160))  # nir unlike the rest
    items = folder / "item"
    items.mkdir()
    item = make_item(items, dn)
    geotiff = write_tif(folder / "rgb.tif", dn[[2, 1, 0]], ("red", "green", "blue"))
    return {"item": item, "geotiff": geotiff, "dn": dn, "folder": items}


def _map(col: float, row: float) -> tuple[float, float]:
    return X0 + col * PIXEL, Y0 - row * PIXEL


EXTENT = (*_map(20, 100), *_map(140, 10))  # columns 20..140, rows 10..100


def test_a_window_of_the_item_is_the_window_of_its_geotiff_picked_by_name_and_scaled(scene):
    from engine.imagery.picture import read_window

    from_item = read_window(str(scene["item"]), EXTENT)
    from_file = read_window(str(scene["geotiff"]), EXTENT)
    assert from_item.shape == from_file.shape == (90, 120)
    assert from_item.transform == pytest.approx(from_file.transform)
    assert "32633" in from_item.crs or "UTM zone 33N" in from_item.crs
    # raster:bands' x 0.0001 changes the values, not the picture: the stretch is per band (float32 rounding aside)
    difference = np.abs(from_item.rgb.astype(int) - from_file.rgb.astype(int))
    assert difference.max() <= 1 and difference.mean() < 0.01
    said = "\n".join(from_item.said)
    assert "STAC item 'SCENE', red, green, blue by name: red <- asset 'red' (B04), green <- asset 'green' (B03), " \
           "blue <- asset 'blue' (B02)" in said
    assert "raster:bands scale/offset (x 0.0001 + 0)" in said
    assert from_item.key != from_file.key


def test_bands_by_name_asset_key_or_number_pick_the_assets_shown(scene):
    from engine.imagery.picture import _stretch, read_window

    rows, cols = slice(10, 100), slice(20, 140)
    nir = _stretch(scene["dn"][3, rows, cols].astype(np.float32) * np.float32(0.0001),
                   np.ones((90, 120), bool))
    for bands in (["nir", "red", "green"], ["B08", "B04", "B03"], ["4", "3", "2"]):
        window = read_window(str(scene["item"]), EXTENT, bands=bands)
        assert np.abs(window.rgb[..., 0].astype(int) - nir.astype(int)).max() <= 1, bands
        assert "as given" in window.said[0] and "red <- asset 'nir' (B08)" in window.said[0]
    by_name = read_window(str(scene["geotiff"]), EXTENT, bands=["blue", "green", "red"])  # a file's names too
    assert np.array_equal(by_name.rgb, read_window(str(scene["geotiff"]), EXTENT, bands=[3, 2, 1]).rgb)
    grey = read_window(str(scene["item"]), EXTENT, bands=["nir"])
    assert np.array_equal(grey.rgb[..., 0], grey.rgb[..., 2])
    with pytest.raises(DataError, match=r"give three \(red, green, blue\) or one.*1 blue = asset 'blue'"):
        read_window(str(scene["item"]), EXTENT, bands=["red", "green"])
    with pytest.raises(DataError, match="no band named 'swir16'.*The item's bands: 1 blue"):
        read_window(str(scene["item"]), EXTENT, bands=["swir16", "red", "green"])


def test_an_item_without_colour_names_asks_for_the_bands(tmp_path, scene):
    from engine.imagery.picture import read_window

    item = make_item(tmp_path, scene["dn"], common=False)
    data = json.loads(item.read_text())
    for asset in data["assets"].values():
        asset["eo:bands"][0]["name"] = f"layer{asset['href'][2]}"
    item.write_text(json.dumps(data))
    with pytest.raises(DataError, match="no bands named red, green and blue to show.*Give three bands"):
        read_window(str(item), EXTENT)
    assert read_window(str(item), EXTENT, bands=["3", "2", "1"]).shape == (90, 120)


def test_prompts_in_another_crs_land_on_the_item_as_on_its_geotiff(scene, tmp_path):
    pytest.importorskip("torch")
    from engine.api import predict_prompts, prompted_session
    from engine.imagery.picture import transform_points
    from tests.engine.prompted_models import save_tiny

    model = str(save_tiny("sam", tmp_path / "sam"))
    # the window and the click in Web Mercator, as a QGIS project would give them
    xs, ys = transform_points([EXTENT[0], EXTENT[2]], [EXTENT[1], EXTENT[3]], "EPSG:32633", "EPSG:3857")
    extent = (min(xs), min(ys), max(xs), max(ys))
    (cx,), (cy,) = transform_points([_map(85, 60)[0]], [_map(85, 60)[1]], "EPSG:32633", "EPSG:3857")
    box_x, box_y = transform_points([_map(55, 35)[0], _map(115, 85)[0]], [_map(55, 35)[1], _map(115, 85)[1]],
                                    "EPSG:32633", "EPSG:3857")
    answers = {}
    for name in ("item", "geotiff"):
        session = prompted_session(str(scene[name]), extent, model, extent_crs="EPSG:3857")
        (click,) = predict_prompts(session, [(cx, cy)], [1], crs="EPSG:3857")
        (box,) = predict_prompts(session, box=(min(box_x), min(box_y), max(box_x), max(box_y)), crs="EPSG:3857")
        answers[name] = (session, click, box)
    item_session, item_click, item_box = answers["item"]
    file_session, file_click, file_box = answers["geotiff"]
    assert item_session.window.transform == pytest.approx(file_session.window.transform)
    assert item_session.crs == file_session.crs  # polygons come back in the item's CRS
    assert item_box.mask_pixels > 0
    for mine, theirs in ((item_click, file_click), (item_box, file_box)):
        assert abs(mine.mask_pixels - theirs.mask_pixels) <= max(2, 0.02 * theirs.mask_pixels)
        assert mine.score == pytest.approx(theirs.score, abs=0.05)


def test_the_layer_is_a_new_file_beside_nothing_it_reads(scene, tmp_path):
    from engine.api import stac_layer

    folder = scene["folder"]  # the item's own folder: the assets lie beside the layer
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    taken = folder / "SCENE-red-green-blue.vrt"
    first = stac_layer(str(scene["item"]), None, str(folder))
    assert first.path == str(taken) and first.bands == ["red", "green", "blue"] and first.item_id == "SCENE"
    second = stac_layer(str(scene["item"]), ["nir", "red", "green"], str(folder))
    third = stac_layer(str(scene["item"]), None, str(folder))
    assert Path(second.path).name == "SCENE-nir-red-green.vrt" and Path(third.path).name == "SCENE-red-green-blue-2.vrt"
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name in before} == before  # nothing written over
    with rasterio.open(first.path) as layer:
        assert layer.count == 3 and layer.descriptions == ("red", "green", "blue")
        assert layer.crs.to_epsg() == 32633 and layer.dtypes[0] == "float32"
        assert np.allclose(layer.read(1), scene["dn"][2] * 0.0001, atol=1e-6)  # raster:bands applied
    assert "windows are read from the item" in first.said[-1]
    for made in (first, second, third):
        for path in made.written:
            Path(path).unlink()
    with pytest.raises(DataError, match="does not exist"):
        stac_layer(str(scene["item"]), None, str(tmp_path / "missing"))


@pytest.mark.parametrize("bands", ["red,,green,blue", ["red", "", "green", "blue"], ",,,", ["", " "]])
def test_a_blank_band_entry_is_refused_by_the_one_rule_for_band_lists(scene, tmp_path, bands):
    """Before, blank entries were dropped: red,,green,blue showed red, green, blue and ["", " "] natural colour;
    the engine's band list rule (engine/config/bands.py) refuses them, as --bands and the algorithms' Bands do."""
    from engine.api import stac_layer
    from engine.errors import ConfigError, render

    with pytest.raises(ConfigError, match="has an empty entry; give band numbers or names") as refused:
        stac_layer(str(scene["item"]), bands, str(tmp_path))
    assert render(refused.value.raw).startswith("bands '")  # named as the label command's setting
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_bands_given_as_text_are_read_as_a_list(scene, tmp_path):
    """Text as typed ("blue;green, red") is the engine's to split; before, it was taken letter by letter."""
    from engine.api import stac_layer

    made = stac_layer(str(scene["item"]), "blue;green, red", str(tmp_path))
    assert made.bands == ["blue", "green", "red"]


def test_an_unscaled_item_makes_one_file_of_its_own_values(scene, tmp_path):
    from engine.api import stac_layer

    item = make_item(tmp_path, scene["dn"], scale=None)
    made = stac_layer(str(item), ["red"], str(tmp_path))
    assert made.written == [made.path] and Path(made.path).name == "SCENE-red.vrt"
    with rasterio.open(made.path) as layer:
        assert layer.count == 1 and layer.dtypes[0] == "uint16"
        assert np.array_equal(layer.read(1), scene["dn"][2])


def test_a_remote_item_is_read_by_range_requests_of_the_assets_shown_only(scene, tmp_path, monkeypatch):
    from bench.http_files import FileServer
    from engine.api import stac_layer
    from engine.imagery.picture import read_window

    monkeypatch.setenv("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")
    root = tmp_path / "hub"
    root.mkdir()
    with FileServer(root) as server:
        make_item(root, scene["dn"], base=server.url)
        window = read_window(f"{server.url}/item.json", EXTENT)
        log = server.log
        made = stac_layer(f"{server.url}/item.json", None, str(tmp_path))  # the layer reads the assets remotely
        with rasterio.open(made.path) as layer:
            assert np.allclose(layer.read(1), scene["dn"][2] * 0.0001, atol=1e-6)
    assert "/vsicurl/" in Path(made.written[0]).read_text()
    local = read_window(str(scene["item"]), EXTENT)
    assert np.array_equal(window.rgb, local.rgb)
    read = {path for method, path, _range in log if method == "GET" and path.endswith(".tif")}
    assert read == {"/B02.tif", "/B03.tif", "/B04.tif"}  # never the nir asset
    assert all(rng is not None for method, path, rng in log if method == "GET" and path.endswith(".tif"))
