"""The issue's bad input for seasons not covered where the dates are read (test_season_inputs.py: other places,
the same day, out of order, no date, all cloud, other bands, an output naming a date for segment): a weights file of
another layout for a season model's encoder, refused by tensor name; train's output naming a date, refused before
anything is read; an unlabelled place with a raster without a date, named with the ways to give one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from engine.cli.main import main
from engine.errors import ModelError
from tests.engine.eo_fixtures import write_galileo_release, write_presto_release


def _date(path: Path, day: str | None, value: float = 0.3, size: int = 48) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=1, dtype="float32",
                       crs="EPSG:32633", transform=from_origin(500000.0, 5000000.0, 10.0, 10.0)) as out:
        out.write(np.full((1, size, size), value, np.float32) + np.random.default_rng(1).random((1, size, size)) / 10)
        if day:
            out.update_tags(ACQUISITIONDATETIME=day)
    return str(path)


def test_a_season_encoders_weights_of_another_layout_are_refused_by_tensor_name(tmp_path):
    from engine.models import build_model

    write_presto_release(tmp_path / "presto")
    write_galileo_release(tmp_path / "galileo")
    presto = str(tmp_path / "presto" / "data" / "default_model.pt")
    with pytest.raises(ModelError, match=r"not of the Galileo layout: 106 missing \(e\.g\. pos_embed.*unexpected "
                                         r"\(e\.g\. encoder\.pos_embed"):
        build_model("season", encoder="galileo_nano", pretrained=presto, vision_channels=10, num_classes=3, dates=3)
    galileo = str(tmp_path / "galileo" / "models" / "nano" / "encoder.pt")  # its own layout: built
    model = build_model("season", encoder="galileo_nano", pretrained=galileo, vision_channels=10, num_classes=3,
                        dates=3)
    assert model.config.dates == 3


def test_train_refuses_an_output_that_names_a_date_before_reading_anything(tmp_path, capsys):
    dates = [_date(tmp_path / "s" / f"d_{day}.tif", day) for day in ("2024-03-01", "2024-05-01")]
    label = tmp_path / "label.tif"
    with rasterio.open(label, "w", driver="GTiff", width=48, height=48, count=1, dtype="uint8", crs="EPSG:32633",
                       transform=from_origin(500000.0, 5000000.0, 10.0, 10.0)) as out:
        out.write(np.zeros((1, 48, 48), np.uint8))
    before = Path(dates[1]).read_bytes()
    code = main(["train", "--dates", str(tmp_path / "s"), "--label", str(label), "--out", dates[1]])
    err = capsys.readouterr().err
    assert code != 0 and f"would overwrite the dates of a scene (--dates) '{dates[1]}'" in err, err
    assert Path(dates[1]).read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["d_2024-03-01.tif", "d_2024-05-01.tif"]
    assert not (tmp_path / "s" / "d_2024-05-01_season").exists()


def test_an_unlabelled_place_with_a_raster_without_a_date_names_it(tmp_path):
    from engine.errors import DataError
    from engine.imagery.places import resolve_places

    _date(tmp_path / "other" / "p" / "a.tif", "2024-03-01")
    undated = _date(tmp_path / "other" / "p" / "b.tif", None)
    with pytest.raises(DataError, match=rf"'{undated}' has no acquisition date .*ACQUISITIONDATETIME"):
        resolve_places([str(tmp_path / "other")], "data.unlabelled", tmp_path / "m_season")
