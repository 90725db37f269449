"""The *Label with Segment Anything* panel over a STAC item in the real QGIS desktop under Xvfb (issue 55): the item
typed into the panel's STAC item row is added as a layer (a VRT written as a new file, marked with the item), and a
box and a click on it, in a project CRS (Web Mercator) other than the item's (UTM 33N), give the masks the same
prompts give on the GeoTIFF the item's assets were cut from, accepted into the scratch layer in the same place.

The item lists its assets blue, green, red, nir: a window read from the first three bands, or from the VRT's order
instead of the item's names, would differ from the GeoTIFF's. The model is a tiny Segment Anything with random
weights saved in a folder (as tests/gui/test_label_tool.py): its masks say nothing of quality, only where prompts
land and what is read. Screenshots are kept with ``DUALSTREAM_GUI_SCREENS``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.gui.desktop import finished_session

pytestmark = [pytest.mark.qgis, pytest.mark.gui]

CLASS_VALUE = 2
PIXEL = 2.0  # metres


@pytest.fixture(scope="module")
def session(tmp_path_factory, deploy_plugin, venv_site_packages):
    from tests.engine.prompted_models import save_tiny
    from tests.engine.stac_items import X0, Y0, make_item, write_tif

    root = tmp_path_factory.mktemp("label-stac")
    rng = np.random.default_rng(11)
    dn = rng.integers(20, 70, (4, 128, 160)).astype(np.uint8)  # blue, green, red, nir
    dn[:, 30:70, 40:100] = [[[60]], [[90]], [[200]], [[120]]]  # a red roof
    dn[:, 85:115, 110:150] = [[[180]], [[120]], [[40]], [[30]]]  # a blue pool
    items = root / "item"
    items.mkdir()
    item = make_item(items, dn, scale=None, pixel=PIXEL)
    geotiff = write_tif(root / "rgb.tif", dn[[2, 1, 0]], ("red", "green", "blue"), pixel=PIXEL)
    assets = {p.name: p.read_bytes() for p in items.iterdir()}
    model = save_tiny("sam", root / "tiny-sam")

    def at(col: float, row: float) -> list[float]:
        return [X0 + col * PIXEL, Y0 - row * PIXEL]

    config = {"item": str(item), "geotiff": str(geotiff), "model": str(model), "class_value": CLASS_VALUE,
              "project_crs": "EPSG:3857", "item_crs": "EPSG:32633",
              "box": [at(35, 75), at(105, 25)], "click": at(70, 50)}
    deploy_plugin(root, venv_site_packages)
    report = finished_session(Path(__file__).with_name("label_stac_session.py"), root, config, timeout=600,
                              env={"OMP_NUM_THREADS": "1", "TMPDIR": str(root)})
    return report, config, items, assets


def test_the_item_is_added_as_a_layer_written_as_a_new_file_and_marked_with_the_item(session):
    report, config, items, assets = session
    added = report["added"]
    assert added["project_crs"] == "EPSG:3857" and added["crs"] == "EPSG:32633"
    assert added["name"] == "SCENE (red,green,blue)" and added["bands"] == 3
    assert added["item_property"] == config["item"] and added["bands_property"] == "red,green,blue"
    source = Path(added["source"])
    assert source.suffix == ".vrt" and source.name == "SCENE-red-green-blue.vrt"
    assert source.parent != items  # an unsaved project: a temporary folder, not beside the assets
    assert {p.name: p.read_bytes() for p in items.iterdir()} == assets  # nothing of the item written over
    assert "windows are read from the item" in added["status"]
    # the bands picker lists the item's bands by asset key, the names beside them
    assert report["menu"] == ["blue (B02)", "green (B03)", "red (B04)", "nir (B08)"]


def test_prompts_on_the_item_are_read_from_the_item_not_the_vrt(session):
    report, config, _items, _assets = session
    for prompt in ("box", "click"):
        answer = report["stac"][prompt]
        assert answer["embedded"], answer["status"]
        assert answer["stac"] == [config["item"], ["red", "green", "blue"]]
        said = "\n".join(answer["said"])
        assert "STAC item 'SCENE', as given (red,green,blue): red <- asset 'red' (B04)" in said, said  # the keys kept
        assert f"'{config['item']}': assets red,green,blue; window of 160 x 128 pixels" in said, said
    assert report["geotiff"]["click"]["stac"] is None


def test_a_box_and_a_click_on_the_item_give_the_geotiffs_masks_in_the_project_crs(session):
    report, _config, _items, _assets = session
    ogr = pytest.importorskip("osgeo.ogr")
    stac, geotiff = report["stac"], report["geotiff"]
    assert stac["box"]["masks"] > 0, stac["box"]["status"]
    for prompt in ("box", "click"):
        mine, theirs = stac[prompt], geotiff[prompt]
        assert mine["prompts"] == theirs["prompts"]  # the same map points asked: else the masks may differ
        assert mine["masks"] == theirs["masks"]
        assert (mine["masks"] > 0) == (mine["band_vertices"] > 0)  # what the engine answered is what is drawn
        for a, b in zip(mine["mask_wkt"], theirs["mask_wkt"]):  # in the item's CRS, as the engine answers
            ga, gb = ogr.CreateGeometryFromWkt(a), ogr.CreateGeometryFromWkt(b)
            assert ga.SymDifference(gb).GetArea() <= 1e-6 * max(gb.GetArea(), 1.0)
    mine, theirs = stac["accept"], geotiff["accept"]
    assert mine["target_crs"] == theirs["target_crs"] == "EPSG:3857"
    assert mine["classes"] == [CLASS_VALUE] * stac["box"]["masks"] and "Accepted" in mine["status"]
    assert len(mine["wkt"]) == len(theirs["wkt"]) == stac["box"]["masks"]
    for a, b in zip(mine["wkt"], theirs["wkt"]):
        ga, gb = ogr.CreateGeometryFromWkt(a), ogr.CreateGeometryFromWkt(b)
        assert ga.SymDifference(gb).GetArea() <= 1e-6 * max(gb.GetArea(), 1.0)


def test_accepted_polygons_lie_where_the_item_lies_in_the_project_crs(session):
    report, _config, _items, _assets = session
    ogr = pytest.importorskip("osgeo.ogr")
    from tests.engine.stac_items import X0, Y0
    from tests.helpers import xy_transform

    to_mercator = xy_transform("EPSG:32633", "EPSG:3857")
    # the engine's mask, in the item's CRS, moved to Web Mercator is the polygon accepted there
    (mask,) = report["stac"]["box"]["mask_wkt"][:1]
    moved = ogr.CreateGeometryFromWkt(mask)
    xmin, xmax, ymin, ymax = moved.GetEnvelope()
    assert X0 <= xmin and xmax <= X0 + 160 * PIXEL and Y0 - 128 * PIXEL <= ymin and ymax <= Y0
    moved.Transform(to_mercator)
    accepted = ogr.CreateGeometryFromWkt(report["stac"]["accept"]["wkt"][0])
    assert accepted.SymDifference(moved).GetArea() <= 1e-3 * moved.GetArea()
    mx, my = to_mercator.TransformPoint(X0, Y0)[:2]
    assert abs(accepted.Centroid().GetX() - mx) < 400 and abs(accepted.Centroid().GetY() - my) < 400  # metres


def test_a_blank_band_entry_is_refused_with_the_engines_message(session):
    """"red,,green,blue" in the row's bands: before, the row dropped the blank and showed red, green, blue; now the
    menu and *Add layer* say the engine's rule for band lists, and nothing is read."""
    report, _config, _items, _assets = session
    blank = report["blank"]
    refused = "bands 'red,,green,blue' has an empty entry; give band numbers or names separated by single commas"
    said, *bands = blank["menu"]
    assert said[0].startswith(refused) and not said[1], blank["menu"]
    assert bands == [["blue (B02)", False], ["green (B03)", False], ["red (B04)", False], ["nir (B08)", False]]
    assert blank["status"].startswith(refused), blank["status"]
    assert not blank["reading"] and blank["layers_added"] == 0
