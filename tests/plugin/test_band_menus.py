"""The band fields' text outside the algorithms' runs (Segment's band picker, the labelling panel's STAC item row)
is read by the engine's one rule for band lists (engine/config/bands.py), as the Bands parameter is: before, both
split the text themselves and dropped blank entries, so "red,,blue" became red,blue and a STAC layer of
"red,,green,blue" showed red, green, blue. Real widgets (QMenu, QLineEdit, the panel's row) on an offscreen
QgsApplication."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.qgis]

REFUSED = "bands 'red,,blue' has an empty entry; give band numbers or names separated by single commas"


def test_a_click_in_the_picker_toggles_a_band_of_text_the_engine_takes(plugin):
    from dualstream_qgis.band_picker import toggled
    from engine.errors import ConfigError

    assert toggled("red;green", "blue") == "red,green,blue"  # semicolons, as the engine takes them
    assert toggled(" red, green ,blue", "GREEN") == "red,blue"
    with pytest.raises(ConfigError) as refused:
        toggled("red,,blue", "green")
    assert str(refused.value).startswith(REFUSED)


def test_the_picker_menu_says_the_engines_refusal_and_offers_no_band_until_it_is_mended(plugin):
    from qgis.PyQt.QtWidgets import QLineEdit, QMenu

    from dualstream_qgis.band_menu import fill_band_menu

    menu, edit = QMenu(), QLineEdit("red,,blue")
    choices = [("red", "red"), ("green", "green"), ("blue", "blue")]
    fill_band_menu(menu, edit, choices, "label.bands")
    said, *bands = menu.actions()
    assert said.text().startswith(REFUSED) and not said.isEnabled()
    assert [a.text() for a in bands] == ["red", "green", "blue"]
    assert not any(a.isEnabled() or a.isChecked() for a in bands)
    edit.setText("red;green")
    fill_band_menu(menu, edit, choices, "label.bands")
    actions = menu.actions()
    assert [(a.text(), a.isEnabled(), a.isChecked()) for a in actions] == [
        ("red", True, True), ("green", True, True), ("blue", True, False)]
    actions[2].trigger()
    assert edit.text() == "red,green,blue"


def test_the_stac_row_refuses_a_blank_band_before_reading_the_item(plugin, tmp_path):
    from qgis.core import Qgis, QgsProject

    from dualstream_qgis.labeling.stac_row import StacRow

    row = StacRow()
    said: list[tuple[str, object]] = []
    row.said.connect(lambda text, level: said.append((text, level)))
    item = tmp_path / "item.json"
    item.write_text("{}")
    row.item_edit.setFilePath(str(item))
    row.bands_edit.setText("red,,blue")
    layers = len(QgsProject.instance().mapLayers())
    row.add_layer()
    assert row.task is None  # no reading started
    assert len(said) == 1 and said[0][0].startswith(REFUSED) and said[0][1] == Qgis.MessageLevel.Critical, said
    assert len(QgsProject.instance().mapLayers()) == layers


def _sentinel2_item(folder):
    """A Sentinel-2 item as hubs publish them: asset keys B02..B8A, the three red-edge bands all of the common name
    'rededge' (the old STAC eo extension), B8A's 'nir08'."""
    import json

    import numpy as np

    from tests.engine.stac_items import write_tif

    assets = {}
    for key, common in (("B02", "blue"), ("B03", "green"), ("B04", "red"), ("B05", "rededge"), ("B06", "rededge"),
                        ("B07", "rededge"), ("B08", "nir"), ("B8A", "nir08")):
        write_tif(folder / f"{key}.tif", np.full((1, 16, 16), 1000 + len(assets), np.uint16))
        assets[key] = {"href": f"{key}.tif", "type": "image/tiff; application=geotiff", "roles": ["data"],
                       "eo:bands": [{"name": key, "common_name": common}]}
    item = folder / "item.json"
    item.write_text(json.dumps({"type": "Feature", "stac_version": "1.0.0", "id": "S2", "properties": {},
                                "geometry": None, "assets": assets, "links": []}))
    return item


def test_a_stac_items_bands_are_offered_by_asset_key_once_each_and_work(plugin, tmp_path):
    """Before, the menus listed common names: three identical 'rededge' entries that always failed (a name two
    assets share picks none), and never B05 or B8A, which work when typed. Both menus (the labelling panel's STAC
    row, Segment's band picker) offer the asset keys, the names beside them."""
    from dualstream_qgis.band_menu import stac_choices
    from dualstream_qgis.labeling.stac_row import StacRow
    from engine.api import DataError, stac_layer

    item = _sentinel2_item(tmp_path)
    choices = stac_choices(str(item))
    keys = [key for key, _shown in choices]
    assert keys == ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A"]  # each once, B05 and B8A among them
    shown = dict(choices)
    assert shown["B05"] == "B05 (rededge)" and shown["B8A"] == "B8A (nir08)"
    row = StacRow()
    row.item_edit.setFilePath(str(item))
    row.fill_menu()
    actions = {action.text(): action for action in row.menu.actions()}
    assert list(actions) == [text for _key, text in choices]
    for text in ("B8A (nir08)", "B05 (rededge)", "B04 (red)"):
        actions[text].trigger()
    assert row.bands_edit.text() == "B8A,B05,B04"
    (tmp_path / "layer").mkdir()
    made = stac_layer(str(item), row.bands_edit.text(), str(tmp_path / "layer"))  # what the menu wrote works
    assert made.bands == ["B8A", "B05", "B04"]
    with pytest.raises(DataError, match="rededge"):  # what the old menu offered does not
        stac_layer(str(item), "nir08,rededge,red", str(tmp_path / "layer"))
