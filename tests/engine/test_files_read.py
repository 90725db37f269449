"""Every file a run reads is an input (issue 53): a VRT's sources (recursively), a STAC item's local assets, an
ItemCollection's, GDAL's sidecars. An output that is one of them is refused before any work, for every command,
because they all call the one check (engine.io.safety.check_outputs)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from osgeo import gdal
from rasterio.transform import from_origin

from engine.cli.main import main
from engine.config import BulkConfig, SegmentConfig
from engine.errors import ConfigError
from engine.io.safety import check_outputs, files_read, raster_sidecars
from engine.segment.bulk.scenes import discover_scenes
from engine.segment.scene_outputs import segment_files

gdal.UseExceptions()


def _tif(path, value=1):
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=1, dtype="uint8", crs="EPSG:32633",
                       transform=from_origin(0, 80, 10, 10)) as ds:
        ds.write(np.full((1, 8, 8), value, np.uint8))
    return path


@pytest.fixture
def sources(tmp_path):
    """src.tif, a VRT reading it by a relative path in another folder, a VRT of that VRT, and a STAC item (and an
    ItemCollection) whose red asset is red.tif beside it and whose nir asset lies one folder up."""
    data = tmp_path / "data"
    data.mkdir()
    src = _tif(data / "src.tif")
    vrts = tmp_path / "vrts"
    vrts.mkdir()
    inner = vrts / "wrap.vrt"
    gdal.BuildVRT(str(inner), [str(src)]).FlushCache()
    text = inner.read_text()
    assert str(src) in text
    inner.write_text(text.replace(f'relativeToVRT="0">{src}', 'relativeToVRT="1">../data/src.tif'))
    outer = tmp_path / "outer.vrt"
    gdal.BuildVRT(str(outer), [str(inner)]).FlushCache()
    items = tmp_path / "items"
    items.mkdir()
    red, nir = _tif(items / "red.tif"), _tif(tmp_path / "nir.tif")
    item = {"type": "Feature", "id": "I1", "properties": {}, "geometry": None, "links": [],
            "assets": {"red": {"href": "./red.tif", "type": "image/tiff", "roles": ["data"]},
                       "nir": {"href": "../nir.tif", "type": "image/tiff", "roles": ["data"]},
                       "remote": {"href": "https://example.invalid/x.tif", "roles": ["data"]}}}
    (items / "item.json").write_text(json.dumps(item))
    (items / "collection.json").write_text(json.dumps({"type": "FeatureCollection", "features": [item]}))
    return {"src": src, "inner": inner, "outer": outer, "item": items / "item.json", "red": red, "nir": nir,
            "collection": items / "collection.json", "root": tmp_path}


def test_the_files_an_input_reads_are_listed(sources):
    read = dict(files_read(str(sources["outer"])))
    assert [str(sources["outer"]), str(sources["inner"])] == list(read)[:2]
    assert any(p.endswith("src.tif") for p in read)  # relative to the inner VRT's folder
    assets = dict(files_read(str(sources["item"])))
    assert assets[str(sources["red"])] == f"asset 'red' of the STAC item '{sources['item']}'"
    assert any(p.endswith("nir.tif") for p in assets) and not any("example.invalid" in p for p in assets)
    (sources["src"].parent / "src.tif.aux.xml").write_text("<PAMDataset/>")
    assert str(sources["src"]) + ".aux.xml" in dict(files_read(str(sources["src"])))
    assert files_read("https://example.invalid/item.json") == []


@pytest.mark.parametrize("given, written", [("outer", "src"), ("inner", "src"), ("item", "red"), ("item", "nir")])
def test_an_output_onto_a_file_an_input_reads_is_refused(sources, given, written):
    with pytest.raises(ConfigError, match=r"would overwrite a file read through the image .* same file") as error:
        check_outputs({"image": str(sources[given])}, {"class raster": raster_sidecars(str(sources[written]))})
    assert str(sources[written].name) in str(error.value)


def test_the_item_of_a_collection_and_the_stac_item_flag(sources, tmp_path):
    with pytest.raises(ConfigError, match="asset 'red'"):
        check_outputs({"image": f"{sources['collection']}#I1"}, {"out": str(sources["red"])})
    cfg = SegmentConfig(stac_item=str(sources["item"]), output=str(sources["red"]), models=["m.dsmodel"])
    with pytest.raises(ConfigError, match=r"STAC item \(.*stac_item.*asset 'red'"):
        check_outputs(*segment_files(cfg))


def test_bulk_refuses_an_output_folder_holding_an_asset(sources):
    """A bulk run writes <out-dir>/<scene name>.tif: with the item's asset named so there, it is refused."""
    _tif(sources["root"] / "items" / "item.tif")
    (sources["root"] / "items" / "item.json").write_text(json.dumps({**json.loads(
        sources["item"].read_text()), "assets": {"red": {"href": "./item.tif", "roles": ["data"]}}}))
    bulk = BulkConfig(images=[str(sources["item"])], out_dir=str(sources["root"] / "items"))
    with pytest.raises(ConfigError, match="asset 'red'"):
        discover_scenes(bulk)


def test_segment_from_the_command_line_leaves_the_asset_and_the_vrt_source_alone(sources, capsys):
    before = {k: sources[k].read_bytes() for k in ("red", "src")}
    assert main(["segment", "--model", str(sources["root"] / "none.dsmodel"), "--stac-item", str(sources["item"]),
                 "--out", str(sources["red"])]) == 2
    assert "asset 'red' of the STAC item" in capsys.readouterr().err
    assert main(["segment", "--model", str(sources["root"] / "none.dsmodel"), "--image", str(sources["outer"]),
                 "--out", str(sources["src"])]) == 2
    assert "a source of the VRT" in capsys.readouterr().err
    assert {k: sources[k].read_bytes() for k in ("red", "src")} == before
