"""Acquisition dates in products' file names: the one list of the names a date is read from (Sentinel-2, HLS,
Landsat, MODIS / VIIRS), and the words that name them in help texts, the dialogs and errors (standard library only:
the settings' declarations and the plugin read it too).

A name's date is taken only where a product's naming rule puts it, never from any eight digits: a file called
``field_20230615.tif`` may be named after a survey, a label or a processing day.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from pathlib import Path

#: The products whose file names carry their acquisition date, as help texts and errors name them
DATED_NAMES = "Sentinel-2 / HLS / Landsat / MODIS"
#: One name of each, as an error shows them
NAME_EXAMPLES = "…_20240501T103031_…, …2024122T184919…, LC08_L2SP_044034_20240501_…, MOD13Q1.A2024122.…"
#: Why a date a name holds is no date is said with what to do instead
GIVE = ": taken as unknown (the tag ACQUISITIONDATETIME gives the date)"

_SENTINEL2 = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})T\d{6}(?!\d)")  # 20230615T103031
_HLS = re.compile(r"(?<!\d)(\d{4})(\d{3})T\d{6}(?!\d)")  # 2023166T184919
# Landsat Collection 1/2: LC08_L2SP_044034_20200813_20200919_02_T1 (acquired, then processed)
_LANDSAT = re.compile(r"(?<![A-Za-z0-9])L[COTEM]0\d_[A-Z0-9]{4}_\d{6}_(\d{4})(\d{2})(\d{2})_\d{8}_\d{2}_")
# MODIS and VIIRS: MOD13Q1.A2011257.h12v10.061.2021...hdf (a composite's first day), VNP13A1.A2020001...
_MODIS = re.compile(r"(?<![A-Za-z0-9])(?:MOD|MYD|MCD|VNP|VJ1|VJ2)[0-9A-Z_]*\.A(\d{4})(\d{3})(?!\d)")


def match_date(match: re.Match) -> dt.date | None:
    """The date of a (year, month, day) match; None where it is no calendar date."""
    try:
        return dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        return None


def _day_of_year(match: re.Match, what: str) -> tuple[dt.date | None, str]:
    year, day = int(match.group(1)), int(match.group(2))
    if year < 1:
        return None, f"its {what}'s {year:04d}{day:03d} is no date, year 0 being none{GIVE}"
    if not 1 <= day <= (days := 365 + calendar.isleap(year)):
        return None, f"its {what}'s {year:04d}{day:03d} is day {day} of {year}, a year of {days} days{GIVE}"
    return dt.date(year, 1, 1) + dt.timedelta(days=day - 1), ""


def name_date(path: str) -> tuple[dt.date | None, str]:
    """(the date a Sentinel-2, HLS, Landsat, MODIS or VIIRS file name carries, or None; why none when the name has
    one that is no date)."""
    name = Path(str(path)).name
    if match := _LANDSAT.search(name):
        date = match_date(match)
        return date, "" if date else f"its Landsat file name's {''.join(match.groups())} is no calendar date{GIVE}"
    if match := _MODIS.search(name):
        return _day_of_year(match, "MODIS / VIIRS file name")
    if match := _SENTINEL2.search(name):
        date = match_date(match)
        return date, "" if date else f"its file name's {match.group(0)[:8]} is no calendar date{GIVE}"
    if match := _HLS.search(name):
        return _day_of_year(match, "file name")
    return None, ""
