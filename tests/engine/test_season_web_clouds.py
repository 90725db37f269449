"""A date given as a web file (``/vsicurl/http://.../x.tif``) takes its cloud mask beside it on its server
(``x_cloud.tif``), as a local date takes the file beside it: each name tried once under the network rule, said in
the log when found and when not; a server that fails or stalls on it is an error naming the file, never a date
read with its clouds as data. Real GDAL over real HTTP servers on 127.0.0.1 (bench.http_files, tests'
hostile_server); nothing mocked."""

from __future__ import annotations

import numpy as np
import pytest

from bench.http_files import FileServer
from engine.errors import DataError
from engine.imagery.season import resolve_season
from tests.engine.season_files import Heard, raster
from tests.hostile_server import HostileServer

SIZE = 16


def _dates(folder):
    """Two dated rasters, the second with its cloud mask beside it (its top half cloud)."""
    folder.mkdir()
    march = raster(folder / "march.tif", 1.0, date="2024-03-01", size=SIZE)
    may = raster(folder / "may.tif", 2.0, date="2024-05-01", size=SIZE)
    cloud = np.zeros((1, SIZE, SIZE), np.float32)
    cloud[0, : SIZE // 2] = 1
    raster(folder / "may_cloud.tif", 0, data=cloud)
    return march, may


def _validity(season) -> np.ndarray:
    reader = season.reader()
    try:
        return reader.read(0, 0, SIZE, SIZE).date_valid.copy()
    finally:
        reader.close()


def test_a_web_date_takes_its_cloud_mask_beside_it_on_its_server(tmp_path):
    local = _dates(tmp_path / "dates")
    heard_here = Heard()
    here = resolve_season(list(local), heard_here)
    expected = _validity(here)
    here.close()
    assert not expected[1, : SIZE // 2].any() and expected[1, SIZE // 2:].all()  # the local rule, as before

    heard = Heard()
    with FileServer(tmp_path / "dates") as server:
        web = [f"/vsicurl/{server.url}/march.tif", f"/vsicurl/{server.url}/may.tif"]
        season = resolve_season(web, heard)
        try:
            assert season.dates[1].cloud == f"the raster '/vsicurl/{server.url}/may_cloud.tif' beside it"
            assert season.dates[0].cloud is None
            assert np.array_equal(_validity(season), expected)  # may's top half left out, as for the local files
        finally:
            season.close()
        asked = [path for _, path, _ in server.log]
    clouds = next(line for line in heard.lines if line.startswith("Clouds"))
    assert f"2024-05-01 from the raster '/vsicurl/{server.url}/may_cloud.tif' beside it" in clouds
    none = next(line for line in heard.lines if line.startswith("No cloud mask beside 1 date(s) on their server"))
    assert f"2024-03-01 '/vsicurl/{server.url}/march.tif'" in none and "may.tif" not in none
    # each name looked for once for march (none there), may's first name found at once
    for name in ("cloud", "clouds", "cloudmask", "cloud_mask"):
        assert asked.count(f"/march_{name}.tif") == 1, asked
    assert "/may_clouds.tif" not in asked


@pytest.mark.parametrize("behave", ["silent", "503"])
def test_a_server_failing_on_the_cloud_mask_is_an_error_naming_it(tmp_path, monkeypatch, behave):
    """A stalled or failing answer is not "no mask": the date's clouds would be read as data."""
    monkeypatch.setenv("DUALSTREAM_NETWORK_STALL_S", "1")
    _dates(tmp_path / "dates")
    if behave == "silent":
        serving = HostileServer(tmp_path / "dates", behave={"/may_cloud.tif": "silent"})
    else:
        serving = FileServer(tmp_path / "dates", fail={"/may_cloud.tif": 503})
    with serving as server, pytest.raises(DataError) as raised:
        resolve_season([f"/vsicurl/{server.url}/march.tif", f"/vsicurl/{server.url}/may.tif"], Heard())
    said = str(raised.value)
    assert f"The cloud mask '/vsicurl/{server.url}/may_cloud.tif' beside the date" in said
    assert "read as data" in said and "copy the dates and their cloud masks here" in said
