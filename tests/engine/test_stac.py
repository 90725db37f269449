"""STAC MLM model cards (issue 27): ``export --stac`` and the card written beside every trained bundle.

Each card is validated against the published MLM JSON Schema (tests/data/stac_schemas) and read back with pystac.
"""

from __future__ import annotations

import json
from pathlib import Path

import pystac
import pytest

from engine.bundle.store import save_bundle
from engine.cli.main import main
from engine.export.stac import MLM_SCHEMA, model_card
from engine.models import AutoModelConfig, list_models

STATS = {"method": "percentile", "low": [10.0, 20.0, 30.0, 40.0], "high": [900.0, 800.0, 700.0, 600.0]}
AUX_STATS = {"method": "meanstd", "low": [0.0, 1.0, 2.0], "high": [1.0, 2.0, 3.0]}


def _bundle(model, path: Path, *, aux_file_bands=None, bands=None, x_bands=None, crs="EPSG:32633") -> Path:
    cfg = model.config
    names = ["background", "water"] if cfg.num_classes == 1 else [f"class {i}" for i in range(cfg.num_classes)]
    data = {"vision_bands": cfg.vision_channels, "vision_stats": STATS, "aux_channels": cfg.aux_channels,
            "aux_stats": AUX_STATS if cfg.aux_channels else None, "aux_ratio": cfg.aux_ratio,
            "aux_file_bands": aux_file_bands, "bands": bands, "x_bands": x_bands, "image_bands": 12,
            "class_names": names, "class_colors": ["#000000", "#1F78B4", "#33a02c"][:len(names)], "tile_size": 64,
            "gsd": [10.0, 10.0], "crs": crs, "num_classes": cfg.num_classes,
            "label_mapping": {"0": 0, "90": 1}}
    save_bundle(path, model, {"model": cfg.to_dict(), "data": data, "train": {"batch_size": 4, "epochs": 3},
                              "metrics": {"epoch": 3, "val_iou": 0.5, "val_class_iou": [float("nan"), 0.5]}})
    return path


@pytest.fixture(scope="module")
def two_stream(tiny_model, tmp_path_factory) -> tuple[Path, object]:
    model = tiny_model("dualstream", 4, 3, 3)
    return _bundle(model, tmp_path_factory.mktemp("stac") / "fused.dsmodel", aux_file_bands=[2, 1],
                   bands=[4, 3, 2, 8]), model


def test_two_stream_card_is_valid_mlm_and_describes_both_streams(two_stream, mlm_errors):
    path, model = two_stream
    card = model_card(path)
    assert mlm_errors(card) == []
    props = card["properties"]
    vision, aux = props["mlm:input"]
    assert vision["bands"] == ["band4", "band3", "band2", "band8"]
    assert vision["input"]["shape"] == [-1, 4, 64, 64] and vision["resize_type"] is None
    assert vision["value_scaling"][1] == {"type": "min-max", "minimum": 20.0, "maximum": 800.0}
    ratio = model.config.aux_ratio
    assert aux["bands"] == ["aux1_band1", "aux1_band2", "aux2_band1"]
    assert aux["input"]["shape"] == [-1, 3, 64 // ratio, 64 // ratio]
    assert aux["resize_type"] == "interpolation-linear"
    assert aux["value_scaling"][2] == {"type": "z-score", "mean": 2.0, "stddev": 3.0}
    (output,) = props["mlm:output"]
    assert output["result"]["shape"] == [-1, 3, 64, 64]
    from engine.config.output_kinds import OUTPUT_KINDS

    assert all(kind.card in output["description"] for kind in OUTPUT_KINDS)  # every output kind, from its card
    assert [(c["value"], c["name"], c["color_hint"]) for c in output["classification:classes"]] == [
        (0, "class 0", "000000"), (1, "class 1", "1f78b4"), (2, "class 2", "33a02c")]
    assert props["mlm:total_parameters"] == sum(t.numel() for t in model.state_dict().values())
    assert props["dualstream:validation"]["val_iou"] == 0.5
    assert card["assets"]["model"]["href"] == "fused.dsmodel" and "mlm:model" in card["assets"]["model"]["roles"]


def test_the_schema_check_is_real(two_stream, mlm_errors):
    card = model_card(two_stream[0])
    del card["properties"]["mlm:input"]
    card["properties"]["mlm:output"][0]["classification:classes"][0]["color_hint"] = "#000000"
    errors = "\n".join(mlm_errors(card))
    assert "'mlm:input' is a required property" in errors


def test_vision_only_binary_card(tiny_model, tmp_path, mlm_errors):
    path = _bundle(tiny_model("unet", 4, 0, 1), tmp_path / "binary.dsmodel")
    card = model_card(path)
    assert mlm_errors(card) == []
    props = card["properties"]
    assert [i["name"] for i in props["mlm:input"]] == ["vision"]
    assert props["mlm:input"][0]["bands"] == ["band1", "band2", "band3", "band4"]
    assert props["mlm:output"][0]["result"]["shape"] == [-1, 1, 64, 64]  # P(class 1), sigmoid
    assert [c["name"] for c in props["mlm:output"][0]["classification:classes"]] == ["background", "water"]


def test_the_card_gives_no_pixel_size_for_imagery_without_a_crs(tiny_model, tmp_path, mlm_errors):
    located = model_card(_bundle(tiny_model("unet", 4, 0, 1), tmp_path / "utm.dsmodel"))
    assert "at 10 x 10 map units per pixel" in located["properties"]["mlm:input"][0]["description"]
    card = model_card(_bundle(tiny_model("unet", 4, 0, 1), tmp_path / "pixels.dsmodel", crs=None))
    assert mlm_errors(card) == []
    words = card["properties"]["mlm:input"][0]["description"]
    assert "map units per pixel" not in words and "without georeferencing" in words


def test_export_stac_from_the_command_line_loads_in_pystac(two_stream, tmp_path, capsys, mlm_errors):
    bundle = two_stream[0]
    item = tmp_path / "cards" / "fused_stac.json"
    item.parent.mkdir()
    onnx = tmp_path / "fused.onnx"
    assert main(["export", str(bundle), "--onnx", str(onnx), "--stac", str(item), "--quiet"]) == 0
    assert f"STAC model card: {item}" not in capsys.readouterr().out  # --quiet
    card = json.loads(item.read_text())
    assert mlm_errors(card) == []
    assert card["assets"]["onnx"]["href"] == "../fused.onnx" and card["assets"]["onnx"]["mlm:artifact_type"] == "onnx"
    assert card["assets"]["model"]["href"] == f"../../{bundle.parent.name}/fused.dsmodel"
    loaded = pystac.Item.from_file(str(item))
    assert loaded.stac_extensions == [MLM_SCHEMA] and loaded.properties["mlm:architecture"] == "DualStream-DFormer"
    assert Path(loaded.assets["onnx"].get_absolute_href()) == onnx


def test_export_and_info_take_the_bundle_also_as_model_option(two_stream, tmp_path, capsys):
    bundle = two_stream[0]
    assert main(["export", "--model", str(bundle), "--stac", str(tmp_path / "card.json")]) == 0  # as segment's
    assert (tmp_path / "card.json").is_file()
    assert main(["info", "--model", str(bundle)]) == 0
    assert f"Model bundle: {bundle}" in capsys.readouterr().out
    assert main(["info"]) == 2
    assert "No model bundle given: dualstream info MODEL.dsmodel" in capsys.readouterr().err
    assert main(["export", str(bundle), "--model", str(tmp_path / "other.dsmodel"), "--stac",
                 str(tmp_path / "c2.json")]) == 2
    assert "Two model bundles given" in capsys.readouterr().err and not (tmp_path / "c2.json").exists()


def test_export_needs_an_output_and_refuses_bad_card_names(two_stream, tmp_path, capsys):
    bundle = two_stream[0]
    assert main(["export", str(bundle)]) == 2
    assert "give --onnx OUT.onnx, --stac ITEM.json, or both" in capsys.readouterr().err
    assert main(["export", str(bundle), "--stac", str(tmp_path / "card.txt")]) == 2
    assert "(--stac)" in (err := capsys.readouterr().err) and "give a name ending in .json" in err
    assert main(["export", str(bundle), "--stac", str(bundle)]) == 2
    assert not (tmp_path / "card.txt").exists()


def test_the_card_path_beside_a_bundle():
    from engine.training.report import report_paths

    assert report_paths("/models/forest.dsmodel")["stac_item"] == "/models/forest_stac.json"


@pytest.mark.parametrize("family", list_models())
def test_every_family_names_its_architecture_and_paper_from_its_card(family, tiny_model, tmp_path, mlm_errors):
    card = AutoModelConfig.config_class(family).CARD
    item = model_card(_bundle(tiny_model(family, 4, 0, 1), tmp_path / f"{family}.dsmodel"))
    assert mlm_errors(item) == []
    props = item["properties"]
    assert props["mlm:architecture"] == card.architecture and props["mlm:framework"] == card.framework
    assert card.citation in props["description"] and props["mlm:hyperparameters"]["family"] == family
