"""Acquisition dates in products' file names (engine/file_dates.py): each product's naming rule, dates that are no
dates said why, digits outside a rule never taken; a season of MODIS files sorted by their names; the one text that
names the products in the help, the dialogs and the errors."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.data.acquisition import scene_date
from engine.file_dates import DATED_NAMES, name_date
from engine.imagery.season import resolve_season
from tests.engine.season_files import raster


@pytest.mark.parametrize("name, date", [
    ("T31UFQ_20240615T103031_B04.tif", "2024-06-15"),  # Sentinel-2
    ("HLS.S30.T31UFQ.2024100T103031.v2.0.B04.tif", "2024-04-09"),  # HLS: day of year
    ("LC08_L2SP_198024_20240801_20240810_02_T1_SR_B4.TIF", "2024-08-01"),  # Landsat: acquired, not processed
    ("MOD13Q1.A2011257.h12v10.061.2021183195524.hdf", "2011-09-14"),  # MODIS: a composite's first day
    ("MYD09GA.A2020060.h18v04.061.2020336031500_sur_refl_b01.tif", "2020-02-29"),  # a leap year's day 60
    ("VNP13A1.A2020001.h12v10.001.2020018144513.h5", "2020-01-01"),  # VIIRS
    ('HDF4_EOS:EOS_GRID:"/data/MOD13Q1.A2012145.h12v10.061.hdf":MODIS_Grid_16DAY_250m_500m_VI:NDVI', "2012-05-24"),
])
def test_each_products_name_gives_its_date(name, date):
    assert name_date(name) == (dt.date.fromisoformat(date), "")
    assert scene_date(name, {}) == (dt.date.fromisoformat(date), "its file name")


def test_a_day_past_the_years_end_is_no_date_and_said_why():
    date, why = name_date("MOD13Q1.A2011366.h12v10.061.hdf")
    assert date is None and "day 366 of 2011, a year of 365 days" in why and "ACQUISITIONDATETIME" in why
    assert scene_date("MOD13Q1.A2011366.h12v10.061.hdf", {})[0] is None


def test_digits_outside_a_products_rule_are_not_taken_for_a_date():
    for name in ("field_20230615.tif", "survey_2023166.tif", "AMOD13Q1.A2011257.tif", "MOD13Q1_20110914_subset.tif",
                 "X.A2011257.h12v10.hdf"):
        assert name_date(name) == (None, ""), name


def test_a_season_of_modis_files_is_sorted_by_their_names(tmp_path):
    folder = tmp_path / "season"
    folder.mkdir()
    raster(folder / "MOD13Q1.A2012145.h12v10.061.ndvi.tif", 2.0)
    raster(folder / "MOD13Q1.A2011257.h12v10.061.ndvi.tif", 1.0)
    season = resolve_season([str(folder)])
    assert [d.date.isoformat() for d in season.dates] == ["2011-09-14", "2012-05-24"]
    assert [d.found for d in season.dates] == ["its file name"] * 2
    season.close()


def test_the_products_are_named_alike_in_the_help_and_the_errors(tmp_path):
    from engine.api import DATED_NAMES as shown
    from engine.api import find_setting
    from engine.errors import DataError

    assert shown == DATED_NAMES and "MODIS" in DATED_NAMES
    for key in ("segment.dates", "scene.dates", "bulk.pair_by_date"):
        assert DATED_NAMES in find_setting(key).decl.help, key
    first = raster(tmp_path / "a.tif", 1.0, date="2024-03-01")
    undated = raster(tmp_path / "undated.tif", 1.0)
    with pytest.raises(DataError, match=f"keep its {DATED_NAMES} file name .*MOD13Q1.A2024122"):
        resolve_season([first, undated])
