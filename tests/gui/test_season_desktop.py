"""The season algorithms in the real QGIS desktop under Xvfb (issue 80): their forms in the Seasons group with the
dates chosen as layers, and Segment season run from the desktop, its class raster loaded styled and the dates' order
said in the log. A season of three small dated GeoTIFFs and a tiny season model with random weights. Screenshots
are kept with ``DUALSTREAM_GUI_SCREENS=DIR``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.gui.desktop import finished_session

pytestmark = [pytest.mark.qgis, pytest.mark.gui]
DAYS = ("2024-07-01", "2024-03-01", "2024-05-01")  # given out of order


def _raster(path: Path, date: str | None, dtype: str = "float32") -> str:
    import rasterio
    from rasterio.transform import from_origin

    values = np.random.default_rng(len(str(path))).random((1, 64, 64)) * (1 if dtype == "float32" else 3)
    with rasterio.open(path, "w", driver="GTiff", width=64, height=64, count=1, dtype=dtype, crs="EPSG:32633",
                       transform=from_origin(500000.0, 5000000.0, 10.0, 10.0)) as out:
        out.write(values.astype(dtype))
        if date:
            out.update_tags(ACQUISITIONDATETIME=f"{date}T10:00:00")
    return str(path)


def _season_model(path: Path) -> str:
    import torch

    from engine.bundle.store import save_bundle
    from engine.models import build_model

    torch.manual_seed(0)
    model = build_model("season", preset="tiny", vision_channels=1, num_classes=3, dates=3)
    data = {"vision_bands": 1, "vision_stats": {"method": "meanstd", "low": [0.5], "high": [0.3]},
            "aux_channels": 0, "class_names": ["forest", "grassland", "water"],
            "class_colors": ["#1b7837", "#a6dba0", "#2166ac"], "tile_size": 64, "gsd": [10.0, 10.0],
            "crs": "EPSG:32633", "dates": 3}
    return str(save_bundle(path, model, {"model": model.config.to_dict(), "data": data}))


@pytest.fixture(scope="module")
def session(tmp_path_factory, deploy_plugin, venv_site_packages):
    root = tmp_path_factory.mktemp("season-desktop")
    (root / "dates").mkdir()
    config = {"dates": [_raster(root / "dates" / f"ndvi_{day}.tif", day) for day in DAYS],
              "label": _raster(root / "label.tif", None, "uint8"), "model": _season_model(root / "season.dsmodel")}
    deploy_plugin(root, venv_site_packages)
    return finished_session(Path(__file__).with_name("season_session.py"), root, config, timeout=300,
                            env={"OMP_NUM_THREADS": "1"})


def test_both_forms_stand_in_the_seasons_group_and_take_the_dates_as_layers(session):
    for key in ("train_form", "segment_form"):
        assert session[key]["group"] == "Seasons"
        assert session[key]["labels"][0] == "Dates of one place (a season)"
        assert Path(session[key]["screenshot"]).stat().st_size > 10_000
        # the layers as chosen, unnumbered: "1. ndvi_2024-07-01.tif; 2. ..." said an order the engine does not use
        assert session[key]["dates_text"] == ("3 chosen, read in time order: ndvi_2024-07-01.tif; ndvi_2024-03-01.tif; "
                                              "ndvi_2024-05-01.tif")


def test_train_seasons_automatic_fields_say_automatic_where_qgis_said_optional(session):
    """The training settings the engine chooses when left unset showed "automatic" in their box and "[optional]" in
    their label."""
    shown = session["train_form"]["shown_labels"]
    for name in ("EPOCHS", "WARMUP_EPOCHS", "LEARNING_RATE", "TILE_SIZE", "TILES_PER_EPOCH"):
        assert shown[name].endswith(" [automatic]"), shown
    assert shown["DATES_FOLDER"].endswith(" [optional]")  # the dates as layers, or their folder
    assert shown["LABELS"] == "Label layer (raster or polygons)"  # was "[optional]": Train's dataset folder mode


def test_segment_season_from_the_desktop_says_the_order_and_loads_the_classes_styled(session):
    run = session["segment_run"]
    order = next(line for line in run["log"] if line.startswith("The season: 3 date(s)"))
    assert order.index("2024-03-01") < order.index("2024-05-01") < order.index("2024-07-01")
    assert Path(run["results"]["OUTPUT"]).is_file() and Path(run["results"]["OUTPUT_POLYGONS"]).is_file()
    assert run["renderer"] == "paletted"
    areas = next(line for line in run["log"] if line.startswith("Area of each class: forest: "))
    assert "grassland: " in areas and " ha, " in areas
    assert Path(run["results"]["OUTPUT_TABLE"]).read_text().splitlines()[0].startswith("value,name")


def test_segment_season_runs_rows_of_layers_and_of_a_folder_from_the_batch_dialog(session):
    batch = session["batch"]
    assert [Path(p).name for p in batch["read_back"][0]["DATES"].split(";")] == [f"ndvi_{day}.tif" for day in DAYS]
    assert batch["read_back"][1]["DATES_FOLDER"].endswith("dates")
    assert batch["outputs"] == [True, True], batch["log"][-3000:]
    assert batch["log"].count("The season: 3 date(s) of one place, 2024-03-01, 2024-05-01, 2024-07-01") == 2
    assert {row["renderer"] for row in batch["new_layers"] if row["source"].endswith(".tif")} == {"paletted"}


def test_segment_seasons_modeler_dialog_takes_the_dates_from_a_model_input(session):
    """The Graphical Modeler's dialog of Segment season: the dates from the model's multiple-layer input, wired into
    the child it makes."""
    modeler = session["modeler"]
    assert modeler["child_dates"] == ["dates"], modeler
    assert Path(modeler["screenshot"]).stat().st_size > 10_000
