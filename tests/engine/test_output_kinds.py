"""An output kind is one declaration (engine/config/output_kinds.py): every place that names outputs reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli.main import build_parser
from engine.cli.segment import SINGLE_ONLY
from engine.config import BulkConfig, SegmentConfig
from engine.config.output_kinds import EXTRA_KINDS, OUTPUT_KINDS
from engine.declarations import find
from engine.segment.bulk.resume import EXECUTION_SETTINGS
from engine.segment.bulk.scenes import scene_outputs
from engine.segment.sinks import RASTER_OUTPUTS


def test_every_kind_has_its_settings_flags_and_destination():
    from engine.config import SETTINGS_SECTIONS

    for kind in OUTPUT_KINDS:
        s = find(SETTINGS_SECTIONS, f"segment.{kind.config_key}")
        assert s is not None and s.flag and s.param, kind.name  # a CLI flag and a Processing destination
        assert kind.config_key in SINGLE_ONLY and kind.config_key in EXECUTION_SETTINGS
        assert kind.card, kind.name
        if kind.bulk_key:
            b = find(SETTINGS_SECTIONS, f"bulk.{kind.bulk_key}")
            assert b is not None and b.kind is bool and b.flag.startswith("--with-"), kind.name
        if kind.raster and kind.name != "classes":
            assert kind.name in RASTER_OUTPUTS, f"{kind.name}: no computation in engine.segment.sinks"


def test_the_bulk_switches_name_each_scenes_files(tmp_path):
    every = BulkConfig(images=["a.tif"], out_dir=str(tmp_path),
                       **{kind.bulk_key: True for kind in EXTRA_KINDS if kind.bulk_key})
    outputs = scene_outputs(tmp_path, "scene", every)
    assert sorted(outputs.extras) == sorted(kind.name for kind in EXTRA_KINDS if kind.bulk_key)
    for kind in EXTRA_KINDS:
        if kind.bulk_key:
            assert outputs.path(kind.name) == tmp_path / kind.bulk_name.format(name="scene")
    assert scene_outputs(tmp_path, "scene", BulkConfig(images=["a.tif"], out_dir=str(tmp_path))).extras == {}


@pytest.mark.parametrize("kind", EXTRA_KINDS, ids=lambda kind: kind.name)
def test_the_cli_flag_of_each_kind_reaches_the_segment_config(kind, tmp_path):
    from engine.cli.segment import segment_config_from_args

    flag = find(__import__("engine.config", fromlist=["x"]).SETTINGS_SECTIONS, f"segment.{kind.config_key}").flag
    path = str(tmp_path / ("x.tif" if kind.raster else "x.gpkg"))
    args = build_parser().parse_args(["segment", "--image", "i.tif", "--model", "m.dsmodel", "--out", "o.tif",
                                      flag, path])
    cfg = segment_config_from_args(args)
    assert isinstance(cfg, SegmentConfig) and getattr(cfg, kind.config_key) == path
    from engine.segment.scene_outputs import SceneOutputs

    assert SceneOutputs.of(cfg).path(kind.name) == Path(path)
