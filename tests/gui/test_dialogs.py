"""The real QGIS desktop under Xvfb: every DualStream dialog opened, its layer parameters set to each layer kind
they accept, Train and Segment run from their dialogs, the loaded layers checked.

One QGIS session (``xvfb-run qgis --code tests/gui/desktop_session.py``) does the driving and records what it
saw in ``report.json``; the tests below assert on that record. QGIS runs in its own process so that a crash of
QGIS (the 3.22 field-widget segfault) fails these tests instead of killing pytest. Screenshots of every
dialog are left in the session folder (printed on failure; copy them with ``DUALSTREAM_GUI_SCREENS=DIR``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.gui.desktop import run_session, session_report

pytestmark = [pytest.mark.qgis, pytest.mark.gui]

HERE = Path(__file__).resolve().parent
TRAIN = {"PRESET": 0, "EPOCHS": 1, "WARMUP_EPOCHS": 1, "BATCH_SIZE": 8, "TILE_SIZE": 64, "DEVICE": 1,
         "TILES_PER_EPOCH": 16, "LEARNING_RATE": 0.003, "CLASS_NAMES": "background,field",
         "CLASS_COLORS": "#000000,#22aa22", "LABEL_MAPPING": "90=1"}
SEGMENT = {"DEVICE": 1, "BATCH_SIZE": 8}


def _crash_summary(text: str) -> str:
    """QGIS's own backtrace frames (gdb prints hundreds of lines) and the last lines of its output."""
    frames = [line for line in text.splitlines() if line.startswith("#") and "Qgs" in line]
    return "\n".join(frames[:8] + text.splitlines()[-15:])


@pytest.fixture(scope="module")
def session(tmp_path_factory, deploy_plugin, venv_site_packages):
    """Run the desktop session once; returns (report dict, QGIS's output text, session folder)."""
    from engine.data.synthetic import make_scene
    from engine.data.synthetic_pairs import make_pair

    root = tmp_path_factory.mktemp("gui")
    data = make_scene(root / "data", "scene", size=(128, 128), seed=1, field_seed=1, label_from="both")
    data2 = make_scene(root / "data", "second", size=(96, 128), seed=2, field_seed=1, label_from="both")
    pairs = [make_pair(root / "pairs", seed=index, size=64, name=f"pair{index}").__dict__ for index in (1, 2)]
    deploy_plugin(root, venv_site_packages)
    out = root / "session"
    done = run_session(HERE / "desktop_session.py", root, {"out": str(out), "data": data, "data2": data2,
                                                           "train": TRAIN, "segment": SEGMENT, "pairs": pairs},
                       timeout=600, env={"OMP_NUM_THREADS": "1"})
    output = f"QGIS exit code {done.returncode}\n" + _crash_summary(done.stdout + done.stderr)
    return session_report(out, {"steps": []}), output, out


def _unexpected_messages(report: dict) -> list[str]:
    """Message boxes other than the refusals the Train form test asks for."""
    form = report.get("train_form", {})
    expected = [m for run in ("no_labels", "no_bundle_file") for m in form.get(run, {}).get("refused", [])]
    return [m for m in report["messages"] if m not in expected]


def test_qgis_survives_every_dialog(session):
    report, output, _ = session
    last = report["steps"][-1] if report["steps"] else "(before the first step)"
    assert report.get("finished"), f"QGIS stopped during step '{last}':\n{report.get('error', '')}\n{output}"
    assert report["algorithms"] and {"dualstream:train", "dualstream:segment", "dualstream:evaluate"} <= set(
        report["algorithms"])
    assert set(report["dialogs"]) == set(report["algorithms"])


def test_layer_parameters_take_every_layer_kind_they_accept(session):
    report, _, _ = session
    values = report["layer_values"]
    kinds = {(v["algorithm"], v["parameter"], v["layer"]) for v in values}
    for algorithm in ("dualstream:train", "dualstream:evaluate"):
        assert (algorithm, "LABELS", "label raster") in kinds
        assert (algorithm, "LABELS", "label polygons") in kinds
    wrong = [v for v in values if not v["ok"]]
    assert not wrong, f"values not read back: {wrong}"
    # the class field follows the label layer: the polygons' fields, nothing for a raster (where 3.22 crashed)
    # and chooses the field named 'class' (left empty, every polygon would be class 1)
    for row in (v for v in values if v["parameter"] == "LABELS" and v["fields"] is not None):  # a class field
        if row["layer"] == "label polygons":
            assert "class" in row["fields"] and row["field"] == "class", row
        else:
            assert row["fields"] == [] and row["field"] == "", row
    # the label layer is a feature source: "Selected features only" once a polygon is selected, its tick in the
    # value; a raster label layer clears and disables it (issue 53 item 13)
    for algorithm in ("dualstream:train", "dualstream:evaluate"):
        box = report["selection_box"][algorithm]
        assert box["box"] == "Selected features only" and box["enabled"] and box["selected_only"] is True, box
        assert box["raster"] == {"value_is_raster": True, "enabled": False, "checked": False}, box
    aux = [v for v in values if v["parameter"] == "AUX"]
    assert aux and all(v["text"] == f"1. {v['layer']}" for v in aux), aux  # numbered: the order matters


def test_model_survives_create_dialog_and_set_parameters(session):
    record = session[0]["model_read_back"]
    for key, value in record["read"].items():
        assert value == record["given"][key.split()[0]], f"MODEL via {key}: {value!r}"


def test_train_and_segment_run_from_their_dialogs(session):
    report, output, _ = session
    train, segment = report.get("train", {}), report.get("segment", {})
    assert train.get("ok") is True, f"train: {train}\n{output}"
    assert segment.get("ok") is True, f"segment: {segment}\n{output}"
    assert _unexpected_messages(report) == [], "a message box interrupted a run"
    assert "Epoch 2/2: training loss " in train["log"] and "validation IoU" in train["log"]
    # what the model expects, said before segmenting
    assert "Model model.dsmodel: dualstream (preset tiny)" in segment["log"]
    assert "aux inputs, in this order: 1. aux raster (48 bands)" in segment["log"]
    assert "classes: 0 background (#000000), 1 field (#22aa22)" in segment["log"]


def test_logs_read_like_sentences_with_rounded_figures(session):
    report, _, _ = session
    train, segment = report["train"]["log"], report["segment"]["log"]
    assert re.search(r"Model bundle written to .*\(best epoch \d+, validation IoU \d\.\d{3}\)", train), train[-800:]
    assert not re.search(r"\d\.\d{5}", train + segment), "an unrounded figure in the log"
    assert segment.count("Finishing outputs") == 1, segment  # polygons are written in between
    assert re.search(r"Wrote '.*scene_classes.tif': [\d,]+ pixels in [\d.]+ s, [\d,]+ pixels a second\. The model "
                     r"computed for", segment), segment[-800:]


def test_segment_layers_class_raster_on_top_named_and_styled(session):
    report, _, _ = session
    new = report["segment"]["new_layers"]
    # named after the files chosen (issue 53 item 17); top to bottom: classes, the outlined polygons, probabilities
    assert [row["name"] for row in new] == ["scene_classes", "scene_polygons", "scene_probabilities"], new
    renderers = {row["name"]: row["renderer"] for row in new}
    assert renderers["scene_classes"] == "paletted"
    assert renderers["scene_polygons"] == "categorizedSymbol"
    assert new[0]["expanded"] is True, "the class legend is collapsed"
    assert report["segment"]["current"] == "scene_classes"
    # the polygons' style lives in their GeoPackage (a .qml beside it could be the class raster's: issue 40, item 10)
    polygons = Path(report["segment"]["results"]["OUTPUT_POLYGONS"])
    assert not polygons.with_suffix(".qml").exists()
    from osgeo import ogr

    source = ogr.Open(str(polygons))
    styles = source.GetLayerByName("layer_styles")
    assert styles is not None and any(f.GetField("useAsDefault") for f in styles), "no default style in the GeoPackage"


def test_evaluate_takes_the_mapping_from_the_prediction_and_refuses_a_mapping_that_maps_nothing(session):
    report, _, _ = session
    evaluate = report["evaluate"]
    assert evaluate["ok"] is True, evaluate
    assert "90 -> 1 taken from the prediction" in evaluate["log"]
    assert float(evaluate["results"]["FOREGROUND_IOU"]) > 0  # 90 -> class 1 applied (else: an error)
    assert "Label values are the model's training values" in evaluate["log"]
    wrong = report["evaluate_wrong_mapping"]
    assert wrong["ok"] is False and "None of the values" in wrong["log"] and "Label mapping" in wrong["log"]


def test_evaluate_advice_names_the_dialogs_choice_and_following_it_works(session):
    """0/1 labels against a prediction that carries 90 -> 1: the default (the model's values) stops and says to
    choose 'class numbers'; with that choice the class raster scored against itself is perfect."""
    report, _, _ = session
    refused, followed = report["evaluate_self_model_values"], report["evaluate_self_class_numbers"]
    assert refused["ok"] is False and "Label values 'class numbers'" in refused["log"], refused["log"][-1500:]
    assert "an empty one" not in refused["log"]  # the old advice: empty meant the model's own mapping
    assert followed["ok"] is True, followed["log"][-1500:]
    assert float(followed["results"]["MIOU"]) == 1.0
    # its table is named after the prediction and the labels (here the same layer), not "Metrics table"
    assert [row["name"] for row in followed["new_layers"]] == ["scene_classes vs scene_classes metrics"], \
        followed["new_layers"]


def test_progress_bar_moves_forward_only_across_stages(session):
    report, _, _ = session
    for run in ("train", "segment"):
        values = report[run]["progress"]
        # after the run QGIS shows its own progress of loading the result layers (0, 33, 66 % for three)
        ours = values[:values.index(max(values)) + 1]
        assert len(ours) > 5 and ours == sorted(ours), f"{run}: {values}"
    train = report["train"]["progress"]
    assert train.index(max(v for v in train if v < 100.0)) > len(train) // 2  # not "full" halfway through


def test_bad_input_is_a_message_in_the_dialog_log(session):
    report, _, _ = session
    bad = report["bad"]
    segment = bad["segment_not_a_bundle"]
    assert segment["ok"] is False and "fake.dsmodel" in segment["log"] and "bundle" in segment["log"]
    assert "Traceback" not in segment["log"]
    train = bad["train_output_unwritable"]
    assert train["ok"] is False and "Parameter OUTPUT" in train["log"] and "Traceback" not in train["log"]


def test_plugin_menu_offers_the_installer_and_check_environment(session):
    menu = session[0]["menu"]
    assert any(entry.startswith("Install dependencies") for entry in menu), menu
    assert any(entry.startswith("Check environment") for entry in menu), menu


def test_class_colours_are_colour_buttons_that_follow_the_class_names(session):
    colors = session[0]["colors"]
    assert colors["after_names"]["buttons"] == 3
    assert colors["after_names"]["value"] == "#0064c8,#f096ff,#fa0000"  # the default colours follow the names
    assert colors["after_pick"] == "#0064c8,#f096ff,#123456"


def test_segment_runs_from_the_batch_dialog(session):
    """Toolbox > Execute as Batch Process: two rows given as files (image, aux list, model bundle), both run, both
    class rasters loaded styled; the model file survives the batch table."""
    report, output, _ = session
    batch = report.get("batch_segment")
    assert batch, f"the batch step did not finish: {report['steps'][-3:]}\n{output}"
    assert [row["MODEL"] for row in batch["read_back"]] == [str(Path(report["train"]["results"]["OUTPUT"]))] * 2
    assert [row["AUX"] for row in batch["read_back"]][0].endswith("scene_aux.tif"), batch["read_back"]
    assert batch["outputs"] == [True, True], batch["log"]
    assert _unexpected_messages(report) == [], "a message box interrupted the batch run"
    assert sorted(row["name"] for row in batch["new_layers"]) == ["batch_0_classes", "batch_1_classes"]  # the files
    assert {row["renderer"] for row in batch["new_layers"]} == {"paletted"}
    assert "Batch execution completed" in batch["log"]
    assert "not correctly generated" not in batch["log"], batch["log"][-600:]  # the empty optional outputs


def test_compare_classifications_runs_pairs_from_the_batch_dialog(session):
    """The change folder in batch mode: one pair of dates per row (the later date a column of its own), both change
    rasters written and loaded styled, named after their files."""
    report, output, _ = session
    batch = report.get("batch_compare")
    assert batch, f"the batch step did not finish: {report['steps'][-3:]}\n{output}"
    assert [Path(row["AFTER"]).name for row in batch["read_back"]] == ["pair1_after_classes.tif",
                                                                       "pair2_after_classes.tif"]
    assert batch["outputs"] == [True, True], batch["log"]
    assert sorted(row["name"] for row in batch["new_layers"]) == ["pair1_change", "pair2_change"]
    assert {row["renderer"] for row in batch["new_layers"]} == {"paletted"}
    assert "not correctly generated" not in batch["log"], batch["log"][-600:]


def test_train_form_shows_its_two_modes_and_requires_a_bundle_file(session):
    form = session[0]["train_form"]
    layers, folder = form["layers"], form["folder"]
    assert form["mode_label"] == "Training data"
    # layers mode: image and labels required (no "[optional]"), the folder greyed out and marked unused
    assert layers["INPUT"] == {"label": "Image layer (with labels below; or a dataset folder)", "enabled": True}, layers
    assert layers["LABELS"]["label"] == "Label layer (raster or polygons)" and layers["LABELS"]["enabled"]
    assert layers["DATA_FOLDER"]["label"].endswith("(not used)") and not layers["DATA_FOLDER"]["enabled"]
    assert folder["DATA_FOLDER"] == {"label": "Dataset folder (reference layout, or A/, B/, label/ of pairs)",
                                     "enabled": True}, folder
    assert not folder["INPUT"]["enabled"] and folder["INPUT"]["label"].endswith("(not used)")
    assert "temporary" not in form["output_placeholder"].lower() and "model bundle" in form["output_placeholder"]
    # refused before anything runs, with what to choose
    assert form["no_labels"]["ok"] is False and any("the label layer (LABELS)" in m
                                                    for m in form["no_labels"]["refused"]), form["no_labels"]
    assert form["no_bundle_file"]["ok"] is False and any(
        "choose where to save the model bundle" in m for m in form["no_bundle_file"]["refused"]), form["no_bundle_file"]


def test_segment_shows_what_the_bundle_expects_and_what_does_not_fit(session):
    summary = session[0]["model_summary"]
    assert summary["before"].startswith("Choose a model bundle")
    fits = summary["fits"]
    for part in ("Model model.dsmodel: dualstream (preset tiny)", "image: 4 bands",
                 "aux inputs, in this order: 1. aux raster (48 bands)", "-px tiles", "m/px",
                 "background", "field", "#22aa22", "validation IoU 0."):
        assert part in fits, (part, fits)
    assert re.search(r"trained 20\d\d-\d\d-\d\d \d\d:\d\d, validation IoU \d\.\d{3}", fits), fits
    assert "Does not fit" not in fits
    # no aux layer and a 1-band raster as the image: said before Run
    mismatch = summary["mismatch"]
    assert "Does not fit the chosen layers" in mismatch, mismatch
    assert "the image has 1 band(s); the model was trained on 4" in mismatch
    assert "0 aux layer(s) chosen; the model was trained with 1, in a fixed order" in mismatch
    # Bands "2,,3": the run's refusal, said in the summary (not read as 2,3)
    assert "(BANDS) &#x27;2,,3&#x27; has an empty entry; give band numbers" in summary["empty_band"], \
        summary["empty_band"]
    # bulk: the aux file patterns are counted against the model's aux files
    assert "dualstream (preset tiny)" in summary["bulk"]
    assert "0 aux file pattern(s) given; the model was trained with 1 aux file(s)" in summary["bulk"]
    assert "Does not fit" not in summary["bulk_with_pattern"], summary["bulk_with_pattern"]


def test_segment_in_bulk_names_each_class_raster_after_its_image(session):
    bulk = session[0]["segment_bulk"]
    assert bulk["ok"] is True, bulk["log"][-1500:]
    names = [row["name"] for row in bulk["new_layers"]]
    assert sorted(names) == ["scene_image classes", "second_image classes"], bulk["new_layers"]
    assert {row["renderer"] for row in bulk["new_layers"]} == {"paletted"}
    assert all(row["expanded"] for row in bulk["new_layers"]) and bulk["current"] in names


def test_create_sample_data_from_its_dialog_loads_the_scenes_grouped(session):
    sample = session[0]["sample_data"]
    assert sample["ok"] is True, sample["log"][-1500:]
    assert sample["groups"] == {
        "Sample scene A (train on it)": ["scene_a_label (polygons)", "scene_a_label", "scene_a_image", "scene_a_aux"],
        "Sample scene B (segment and evaluate it)": ["scene_b_label (polygons)", "scene_b_label", "scene_b_image",
                                                     "scene_b_aux"]}
    renderers = {row["name"]: row["renderer"] for row in sample["new_layers"]}
    assert renderers["scene_a_image"] == "multibandcolor" and renderers["scene_b_label"] == "paletted"
