"""Hostile option values (empty entries, digits that are not 0-9, numbers out of range) get a clear error that
names the setting, never a traceback and never a silent default."""

from __future__ import annotations

import pytest

from engine.config import SegmentConfig
from engine.config.bands import parse_band_list
from engine.config.polygons import class_index
from engine.errors import ConfigError, render


@pytest.mark.parametrize("text, said", [(",,,", "has an empty entry"), ("1,,3", "has an empty entry"),
                                        ("1;;3", "has an empty entry"),
                                        ("²,1,3", "'²', which is no digit 0-9"),
                                        ("\u0663,1,2", "which is no digit 0-9")])
def test_band_lists_with_empty_entries_or_odd_digits_are_refused(text, said):
    with pytest.raises(ConfigError, match=said):
        parse_band_list(text)
    with pytest.raises(ConfigError, match=said):
        SegmentConfig(image="i.tif", models=["m"], output="o.tif", bands=text)
    assert parse_band_list(" 3, 2 ,1") == ["3", "2", "1"] and parse_band_list("  ") is None
    assert parse_band_list("B04;B03; B02") == ["B04", "B03", "B02"]  # QGIS's list separator
    with pytest.raises(ConfigError) as error:
        parse_band_list(text, "data.bands")
    assert render(str(error.value.raw)).startswith("bands")  # named as the setting that was given


def test_a_class_named_by_an_odd_digit_is_no_class():
    with pytest.raises(ConfigError, match="there is no class '²'; the classes are 0 background, 1 roof"):
        class_index("²", ["background", "roof"], "polygons.polygon_treatment")


def test_an_output_holding_infinities_is_not_called_logits():
    import numpy as np

    from engine.bundle.graph_output import check_probabilities
    from engine.errors import BundleError

    out = np.random.default_rng(0).normal(0, 5, size=(1, 3, 8, 8)).astype(np.float32)  # logits
    out[:, 0, :4] = np.inf  # half the pixels: +inf, as a log of 0 inside a model gives
    finite = np.isfinite(out).all(axis=1)
    with pytest.raises(BundleError, match=r"at 32 of the 64 pixels of these tiles \(50.0 %\) it gives \+inf") as error:
        check_probabilities(out, finite, 3, "m.onnx")
    assert "seems to give logits" not in str(error.value)  # +inf is no logit: the graph broke down there
    assert "Check the model where its input is like theirs" in str(error.value)
    assert "if its finite values are logits" in str(error.value) and "--output-kind logits" in str(error.value)
    out[:, 0, :4] = 1.0
    with pytest.raises(BundleError) as error:
        check_probabilities(out, np.isfinite(out).all(axis=1), 3, "m.onnx")
    assert "inf" not in str(error.value)  # plain logits: no word of infinities
    assert "seems to give logits" in str(error.value)


@pytest.mark.parametrize("count", [-1, 0, 99_999_999_999])
def test_evaluate_refuses_a_class_count_no_matrix_can_hold(count):
    from engine.config import EvaluateConfig

    with pytest.raises(ConfigError, match=f"class count from 1 to 4096 \\(got {count}\\)"):
        EvaluateConfig(prediction="p.tif", label="l.tif", num_classes=count)


@pytest.mark.parametrize("values, said", [({"batch_size": 99_999_999_999}, "from 1 to 1024 tiles"),
                                          ({"batch_size": 0}, "from 1 to 1024 tiles"),
                                          ({"overlap": float("nan")}, "in \\[0, 0.9\\)"),
                                          ({"overlap": float("inf")}, "in \\[0, 0.9\\)"),
                                          ({"overlap": -1.0}, "in \\[0, 0.9\\)")])
def test_export_refuses_a_batch_or_overlap_it_cannot_write(values, said):
    from engine.config.inference import ExportConfig

    with pytest.raises(ConfigError, match=said):
        ExportConfig(**values)


def test_info_describes_an_onnx_model_segment_would_run(tmp_path, capsys):
    import numpy as np

    from engine.cli.main import main
    from tests.engine.foreign_onnx import deepness_metadata, linear_model

    rng = np.random.default_rng(0)
    model = linear_model(tmp_path / "m.onnx", rng.normal(size=(2, 3)), rng.normal(size=2),
                         metadata=deepness_metadata(["background", "roof"], [0.5] * 3, [0.2] * 3, tile=64))
    assert main(["info", str(model)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ONNX model: {model}") and "imported ONNX model" in out and "not a readable" not in out


@pytest.mark.parametrize("values", [{"min_polygon_area": float("inf")}, {"fill_holes": float("inf")},
                                    {"simplify_tolerance": float("inf")}, {"min_polygon_area": float("nan")},
                                    {"class_min_area": "roof=inf"}])
def test_polygon_sizes_must_be_finite(values):
    from engine.config import PolygonsConfig

    with pytest.raises(ConfigError, match=">= 0"):
        PolygonsConfig(raster="c.tif", output="p.gpkg", **values)
    with pytest.raises(ConfigError, match=">= 0"):
        SegmentConfig(image="i.tif", models=["m"], output="o.tif", **values)


def test_a_models_folder_that_is_a_file_is_refused_before_any_fetch(tmp_path):
    from engine.api import get_ready_model, ready_models

    a_file = tmp_path / "models"
    a_file.write_bytes(b"not a folder")
    name = ready_models()[0].entry.name
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        get_ready_model(name, a_file, install=False)
    assert a_file.read_bytes() == b"not a folder"


@pytest.mark.parametrize("count", [-1, 0, 99_999_999_999])
def test_tiles_per_epoch_is_refused_outside_what_an_epoch_can_plan(count):
    from engine.config import DataConfig

    with pytest.raises(ConfigError, match=f"from 1 to 10,000,000 \\(got {count}\\)"):
        DataConfig(tiles_per_epoch=count)


@pytest.mark.parametrize("values, said", [({"seed": -1}, "seed must be from 0 to 4294967295"),
                                          ({"num_workers": 99_999_999_999}, "from 0 to 64 processes"),
                                          ({"warmup_epochs": 99_999_999_999}, "at most 1,000,000 each"),
                                          ({"epochs": 99_999_999_999}, "at most 1,000,000 each")])
def test_training_refuses_seeds_workers_and_epochs_no_run_can_use(values, said):
    from engine.config import TrainConfig

    with pytest.raises(ConfigError, match=said):
        TrainConfig(output="m.dsmodel", **values)
