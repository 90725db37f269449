"""Slow or hostile servers never hold a run for minutes (issue 53): one rule for every network read
(engine.io.network.Stall: under 1 KB/s for DUALSTREAM_NETWORK_STALL_S seconds gives up, naming the source), bounded
retries, no sidecar probing of remote files. The servers are real HTTP servers on 127.0.0.1 (tests/hostile_server.py)
that accept and never answer, send a byte at a time, or claim 10 TB for every file they do not have; the rule is
set to one second here, so each case ends in seconds."""

from __future__ import annotations

import json

import pytest
import rasterio

from engine.config import SegmentConfig
from engine.data.raster import open_raster
from engine.data.stac import read_item
from engine.errors import DataError
from engine.io import network
from engine.segment import segment
from tests.hostile_server import HostileServer


@pytest.fixture(autouse=True)
def one_second(monkeypatch):
    monkeypatch.setenv("DUALSTREAM_NETWORK_STALL_S", "1")
    network.apply_defaults()
    yield
    monkeypatch.delenv("DUALSTREAM_NETWORK_STALL_S")
    network.apply_defaults()  # the settings made under the test's rule follow the default rule again


def _segment(server, tmp_path, bulk_model):
    return segment(SegmentConfig(image=f"{server.url}/a.tif", aux=[f"{server.url}/a_aux.tif"],
                                 output=str(tmp_path / "out.tif"), models=[bulk_model], device="cpu"))


def test_the_rule_reaches_gdal_and_every_download():
    assert network.Stall.rule().no_byte_s == 1.0 and network.Stall.rule().window_s == 1.0
    import os

    assert os.environ["GDAL_HTTP_LOW_SPEED_LIMIT"] == "1024" and os.environ["GDAL_HTTP_LOW_SPEED_TIME"] == "1"
    assert os.environ["GDAL_HTTP_MAX_RETRY"] == "2"


def test_a_server_that_never_answers_is_given_up_naming_it(tmp_path, bulk_scenes, bulk_model):
    with HostileServer(bulk_scenes, behave={"*": "silent"}) as server:
        with pytest.raises(DataError) as error:
            _segment(server, tmp_path, bulk_model)
        asked = [r for r in server.requests if r[1] == "/a.tif"]
    words = str(error.value)
    assert f"{server.url}/a.tif" in words and "answered nothing" in words and "DUALSTREAM_NETWORK_STALL_S" in words
    assert len(asked) <= 3  # a HEAD, a GET and the status asked for the message: a stall is never retried
    assert not (tmp_path / "out.tif").exists()


def test_a_byte_at_a_time_is_given_up_as_too_slow(tmp_path, bulk_scenes, bulk_model):
    with HostileServer(bulk_scenes, behave={"*": "trickle"}, interval=0.3) as server:
        with pytest.raises(DataError) as error:
            _segment(server, tmp_path, bulk_model)
        paths = {r[1] for r in server.requests}
    assert "too slow" in str(error.value) and f"{server.url}/a.tif" in str(error.value)
    assert paths == {"/a.tif"}  # no sidecar (.aux.xml, .aux, .msk, .hdr, ...) was asked for


def test_ten_terabyte_sidecars_are_never_asked_for(tmp_path, bulk_scenes, bulk_model):
    with HostileServer(bulk_scenes, behave={"*": "huge"}) as server:
        result = _segment(server, tmp_path, bulk_model)
        paths, sent = {r[1] for r in server.requests}, server.bytes
    with rasterio.open(bulk_scenes / "a.tif") as ds:
        assert result.pixels == ds.width * ds.height
    assert paths == {"/a.tif", "/a_aux.tif"}
    assert sent <= sum((bulk_scenes / n).stat().st_size for n in ("a.tif", "a_aux.tif"))


def test_a_stac_item_sent_a_byte_at_a_time_says_so_and_ends(tmp_path):
    (tmp_path / "item.json").write_text(json.dumps({"type": "Feature", "id": "x", "assets": {}}) + " " * 200)
    heard: list[str] = []
    with HostileServer(tmp_path, behave={"/item.json": "trickle"}, interval=0.2) as server:
        with pytest.raises(DataError, match=r"The STAC item http://127\.0\.0\.1:\d+/item\.json comes too slowly"):
            read_item(f"{server.url}/item.json", heard.append)
    assert heard and heard[0].startswith(f"Waiting for the STAC item {server.url}/item.json")


def test_a_stac_item_that_never_comes_is_given_up(tmp_path):
    with HostileServer(tmp_path, behave={"*": "silent"}) as server:
        with pytest.raises(DataError, match=r"did not answer within 1 s .*DUALSTREAM_NETWORK_STALL_S"):
            read_item(f"{server.url}/item.json")


def test_local_rasters_keep_their_sidecars(tmp_path, bulk_scenes, monkeypatch):
    """Sidecar probing is off for the network file systems only: a local file's .aux.xml is still read (and would
    not be with GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR for every path)."""
    path = tmp_path / "c.tif"
    path.write_bytes((bulk_scenes / "a.tif").read_bytes())
    (tmp_path / "c.tif.aux.xml").write_text('<PAMDataset><Metadata><MDI key="CLASS_NAMES">water</MDI></Metadata>'
                                            '</PAMDataset>')
    network.apply_defaults()
    dataset = open_raster(str(path))
    try:
        assert dataset.tags().get("CLASS_NAMES") == "water"
    finally:
        dataset.close()
    monkeypatch.setenv("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")  # the check is real: globally, it is lost
    with rasterio.open(path) as dataset:
        assert "CLASS_NAMES" not in dataset.tags()


def test_a_first_read_that_waits_is_said_while_it_waits(tmp_path):
    heard: list[str] = []
    with HostileServer(tmp_path, behave={"*": "silent"}) as server:
        with pytest.raises(DataError, match="its server sent nothing, or too little .*answered nothing"):
            network.watched(lambda: open_raster(f"{server.url}/x.tif"), f"'{server.url}/x.tif'", heard.append)
    assert heard and heard[0].startswith(f"Still waiting for '{server.url}/x.tif' after")
    assert "DUALSTREAM_NETWORK_STALL_S" in heard[0]
