"""The *Label with Segment Anything* map tool in the real QGIS desktop under Xvfb: a click, a negative click and a
box on a raster through the canvas's own mouse handling, the mask drawn, accepted into a scratch layer with the
class value, undone.

The model is a tiny Segment Anything of the real layout with random weights (saved with ``save_pretrained`` into a
folder, as a user's own checkpoint would be): its masks say nothing of quality, so the tests assert where prompts
land on the map, that the window is embedded once, that what the engine answers is what the canvas draws, and that
accept and undo move exactly those polygons. The session's screenshots are kept with ``DUALSTREAM_GUI_SCREENS``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.gui.desktop import finished_session
from tests.helpers import label_geopackage

pytestmark = [pytest.mark.qgis, pytest.mark.gui]

CLASS_VALUE = 3


@pytest.fixture(scope="module")
def session(tmp_path_factory, deploy_plugin, venv_site_packages):
    import rasterio

    from engine.data.synthetic import make_scene
    from tests.engine.prompted_models import save_tiny

    root = tmp_path_factory.mktemp("label-tool")
    scene = make_scene(root / "data", "scene", size=(128, 160), seed=3, aux_channels=0, dtype="uint8")
    with rasterio.open(scene["image"]) as image:
        (left, bottom, right, top), crs = image.bounds, image.crs.to_wkt()
    model = save_tiny("sam", root / "tiny-sam")
    width, height = right - left, top - bottom
    config = {"image": scene["image"], "model": str(model), "class_value": CLASS_VALUE,
              "click": [left + 0.5 * width, bottom + 0.5 * height],
              "negative": [left + 0.2 * width, bottom + 0.8 * height],
              "box": [[left + 0.25 * width, bottom + 0.3 * height], [left + 0.7 * width, bottom + 0.75 * height]]}
    both = {"class": "String", "class_id": "Integer"}
    config["gpkg"] = {"names": label_geopackage(root / "names.gpkg", crs, {"class": "String"}, "building"),
                      "both": label_geopackage(root / "both.gpkg", crs, both)}
    deploy_plugin(root, venv_site_packages)
    report = finished_session(Path(__file__).with_name("label_session.py"), root, config, timeout=600,
                              env={"OMP_NUM_THREADS": "1"})
    return report, config


def test_the_toolbar_button_makes_the_tool_current(session):
    report, _config = session
    assert "Label with Segment Anything" in report["toolbar"]
    assert report["tool_active"]


def test_a_click_lands_where_it_was_made_and_embeds_the_window(session):
    report, config = session
    click = report["click"]
    assert click["embedded"], click["status"]
    (x, y, positive), = click["points"]
    pixel = 1.0  # the scene's pixel size: a click is read to the nearest screen pixel, finer than that
    assert positive and abs(x - config["click"][0]) < pixel and abs(y - config["click"][1]) < pixel
    assert "answered in" in click["status"] or "found no object" in click["status"], click["status"]
    # the time said is the whole wait (the model, tracing the polygons, drawing them), the model's part beside it
    answered = re.search(r"answered in ([0-9.]+) s \(the model ([0-9.]+) s of it\)", click["status"])
    assert answered and float(answered[1]) >= float(answered[2]), click["status"]
    # what the engine said while embedding follows the answer: the model that answered and where it runs
    assert "Segment Anything model: SamModel" in click["status"], click["status"]
    # what the engine answered is what the canvas draws, simplified to the screen's pixels: never more vertices
    assert (click["masks"] > 0) == (click["band_vertices"] > 0)
    assert click["band_vertices"] <= click["mask_vertices"], click


def test_a_shift_click_is_a_negative_point_added_to_the_first(session):
    report, config = session
    points = report["negative"]["points"]
    assert [p[2] for p in points] == [True, False]
    # asked in a task as the first prompt was: before, later prompts were traced and drawn in the GUI thread,
    # which a large mask froze for seconds
    assert report["negative"]["asked_in_task"]
    assert abs(points[1][0] - config["negative"][0]) < 1.0 and abs(points[1][1] - config["negative"][1]) < 1.0


def test_clear_prompts_takes_the_mask_the_markers_and_its_figures_away(session):
    report, _config = session
    assert report["negative"]["markers"] == 2 and report["negative"]["band_vertices"] > 0, report["negative"]
    cleared = report["cleared"]
    assert (cleared["points"], cleared["masks"], cleared["markers"], cleared["band_vertices"]) == ([], 0, 0, 0)
    assert cleared["status"].startswith("No prompts") and "score" not in cleared["status"], cleared["status"]


def test_a_drag_is_one_box_with_the_corners_dragged(session):
    report, config = session
    box = report["box"]
    (x0, y0), (x1, y1) = config["box"]
    assert box["points"] == []
    assert box["box"] == pytest.approx([x0, y0, x1, y1], abs=1.0)
    assert box["masks"] > 0, f"the box gave no mask: {box['status']}"
    assert box["box_vertices"] >= 4, "the box prompt is not drawn on the canvas"
    assert report["click"]["box_vertices"] == 0  # no box before the drag


def test_accept_adds_the_mask_with_the_class_and_undo_takes_it_back(session):
    report, _config = session
    accept = report["accept"]
    assert accept["features"] == accept["masks"] > 0, accept
    assert accept["classes"] == [CLASS_VALUE]
    assert "Accepted" in accept["status"]
    assert report["undo"]["features"] == 0, report["undo"]
    # the Accept into box shows the scratch layer's whole name beside its icon and arrow (before, a text button
    # beside it left "DualStr")
    assert accept["shown"] == accept["layer"] == "DualStream labels"
    assert accept["name_px"] + 40 <= accept["box_px"], accept


def test_a_text_class_field_of_names_is_refused_and_an_integer_one_taken(session):
    """The panel says which field takes the class before Accept; a text 'class' holding names is refused with the
    field and the layer named, nothing written (before, '3' was written beside 'building')."""
    report, _config = session
    names, both = report["gpkg_names"], report["gpkg_both"]
    assert names["masks"] > 0, names
    refused = "'labels (names)' keeps its classes as text in the field 'class' ('building')"
    assert refused in names["hint"] and refused in names["status"], names
    assert names["rows"] == [["building"]]
    assert both["hint"] == "the class goes into the integer field 'class_id' of 'labels (both)'", both
    assert both["rows"] == [[None, CLASS_VALUE]] * both["masks"], both
    assert "Accepted" in both["status"]


def test_unchecking_the_button_gives_back_the_tool_it_took_over(session):
    """As QGIS's own tools: unchecking the button (or closing the panel) leaves a tool on the canvas, the one
    current before (before, the canvas was left with none), or Pan where there was none."""
    report, _config = session
    assert report["unchecked"] == {"tool": "QgsMapToolZoom", "action": "mActionZoomIn", "label_checked": False,
                                   "panel_visible": False, "same": True}, report["unchecked"]
    assert report["none_before"]["action"] == "mActionPan", report["none_before"]
    assert report["closed"]["action"] == "mActionIdentify" and not report["closed"]["label_checked"], report["closed"]


def test_unchecking_the_button_takes_the_mask_and_the_markers_off_the_canvas(session):
    """The button's path is the close button's: before, the mask and the click markers stayed drawn on the canvas
    with nothing visible to clear them."""
    report, _config = session
    before, after = report["unchecked_drawn"]["before"], report["unchecked_drawn"]["after"]
    assert before["markers"] == 1 and before["band_vertices"] > 0, before
    assert (after["markers"], after["band_vertices"], after["box_vertices"], after["points"]) == (0, 0, 0, []), after
