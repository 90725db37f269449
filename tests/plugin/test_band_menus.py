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
