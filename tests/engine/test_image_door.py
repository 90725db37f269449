"""The one door from a source to pixels (engine/imagery/door.py): a GeoTIFF, the same file as a /vsicurl/ URL from
a local server, a STAC item of its bands and a web service's description, each opened by ``open_image`` with one
kind of request. With a model the bands come out picked by name in the model's order and the values in its units;
a web service is windowed over the extent at the model's training pixel size, or at the one asked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from bench.http_files import FileServer
from engine.bundle.model_files import read_model_metadata
from engine.imagery.door import open_image
from engine.imagery.request import ImageRequest
from engine.imagery.web import wms_description
from engine.segment.members import Member
from tests.engine.stac_items import NAMES, ORDER, make_item, write_tif
from tests.helpers import make_bundle
from tests.ogc_server import OgcServer

SCALE = 0.0001  # reflectance stored x 10000, as Sentinel-2 L2A


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """Digital numbers of blue, green, red, nir; the GeoTIFF (band names, GDAL scale), a STAC item of the same
    bands, and a model trained on reflectance 0..1 that takes red, green, blue by name."""
    folder = tmp_path_factory.mktemp("door")
    rng = np.random.default_rng(0)
    dn = rng.integers(300, 3000, (4, 40, 60)).astype(np.uint16)
    tif = write_tif(folder / "scene.tif", dn, names=ORDER)
    with rasterio.open(tif, "r+") as dst:
        dst.scales, dst.offsets = (SCALE,) * 4, (0.0,) * 4
    (folder / "item").mkdir()
    item = make_item(folder / "item", dn, scale=SCALE)
    bundle = make_bundle(folder / "model.dsmodel", vision_bands=3, vision_high=1.0, gsd=0.5, crs="EPSG:32633",
                         band_names=["red", "green", "blue"])
    member = Member(bundle, read_model_metadata(bundle), 1.0)
    expected = dn[[ORDER.index("red"), ORDER.index("green"), ORDER.index("blue")]] * np.float32(SCALE)
    return {"folder": folder, "dn": dn, "tif": tif, "item": item, "member": member, "expected": expected}


def _opened(request: ImageRequest, member: Member) -> tuple[np.ndarray, list[str]]:
    opened = open_image(request, members=[member])
    try:
        with rasterio.open(opened.path) as src:
            return src.read().astype(np.float32), list(opened.said)
    finally:
        opened.close()


def test_a_file_a_url_and_a_stac_item_come_out_as_the_model_takes_them(scene):
    local, said = _opened(ImageRequest(str(scene["tif"])), scene["member"])
    np.testing.assert_allclose(local, scene["expected"], rtol=1e-5)  # red, green, blue, in reflectance
    assert any("red <- " in line for line in said) and any("rescaled to the model's units" in line for line in said)
    with FileServer(scene["folder"]) as server:
        remote, _ = _opened(ImageRequest(f"/vsicurl/{server.url}/scene.tif"), scene["member"])
        assert server.requests > 0
    np.testing.assert_allclose(remote, scene["expected"], rtol=1e-5)
    item, said = _opened(ImageRequest(str(scene["item"])), scene["member"])
    np.testing.assert_allclose(item, scene["expected"], rtol=1e-5)
    assert any(f"red <- {NAMES['red']}" in line or "red <- asset 'red'" in line for line in said), said
    # the bands asked by asset key, in the model's order, are the same bands
    keyed, _ = _opened(ImageRequest(str(scene["item"]), bands=("red", "green", "blue")), scene["member"])
    np.testing.assert_array_equal(keyed, item)


def test_a_web_description_is_windowed_at_the_models_pixel_size_or_the_one_asked(scene, tmp_path):
    rgb = write_tif(tmp_path / "rgb.tif", (scene["dn"][:3] // 12).astype(np.uint8))
    with OgcServer(rgb) as server:
        description = wms_description(f"{server.url}/wms", "scene", "EPSG:32633")
        with rasterio.open(rgb) as src:
            extent = list(src.bounds)
        request = ImageRequest(description, extent, "EPSG:32633", bands=("1", "2", "3"))
        opened = open_image(request, members=[scene["member"]])
        try:
            assert opened.window is not None and opened.window.pixel_size == pytest.approx(0.5)  # the model's
            with rasterio.open(opened.path) as window:
                assert window.res == pytest.approx((0.5, 0.5)) and window.count == 3
                assert window.read().mean() > 0 and server.requests("GetMap") > 0
        finally:
            opened.close()
        # a file with a web layer as its aux raster: the aux is read over the same extent at the same pixel size
        opened = open_image(ImageRequest(str(rgb), extent, "EPSG:32633", pixel_size=2.0),
                            aux=[f"{description}|layername=roofs", str(rgb)])
        try:
            assert opened.path == str(rgb) and opened.aux[1] == str(rgb) and opened.aux[0].endswith("roofs.web.vrt")
            with rasterio.open(opened.aux[0]) as window:
                assert window.res == pytest.approx((2.0, 2.0)) and (window.width, window.height) == (15, 10)
        finally:
            opened.close()
        assert not opened.files.folder  # closed: the window's temporary files are gone


def test_a_pixel_size_given_for_a_file_is_said_to_be_unused(scene):
    """``label --pixel-size`` with a file was accepted and used by nothing, without a word: the door says so."""
    from engine.callbacks import Callback

    class Warned(Callback):
        def __init__(self) -> None:
            self.lines: list[str] = []

        def warning(self, message: str) -> None:
            self.lines.append(message)

    warned = Warned()
    opened = open_image(ImageRequest(str(scene["tif"]), pixel_size=2.0, size_key="label.pixel_size"), warned)
    opened.close()
    assert opened.path == str(scene["tif"])
    assert len(warned.lines) == 1 and "(2 m) is the pixel size web layers are read at" in warned.lines[0]


def test_the_plans_domain_check_judges_what_the_door_sampled_or_samples_what_the_reader_reads(tmp_path):
    """The door hands the values it judged (``seen``) to the plan's domain check only where the reader reads the
    file as sampled: values in other units are still called out; a file the door rescales through a VRT is judged
    as the reader reads it (in the model's units: no warning), not by the digital numbers the door sampled."""
    from engine.config import SegmentConfig
    from engine.segment import plan_segmentation
    from tests.helpers import LogLines

    rng = np.random.default_rng(3)
    dn = rng.integers(300, 3000, (4, 40, 60)).astype(np.uint16)
    bundle = make_bundle(tmp_path / "model.dsmodel", vision_bands=4, vision_high=3000.0)
    cases = {"as_trained": (dn, None), "unit": ((dn / 3000.0).astype(np.float32), None),
             "scaled": ((dn * 10).astype(np.uint16), 0.1)}
    unlike = {}
    for name, (values, scale) in cases.items():
        path = write_tif(tmp_path / f"{name}.tif", values, names=ORDER)
        if scale is not None:
            with rasterio.open(path, "r+") as dst:
                dst.scales, dst.offsets = (scale,) * 4, (0.0,) * 4
        log = LogLines()
        cfg = SegmentConfig(image=str(path), models=[bundle], output=str(tmp_path / f"{name}_c.tif"))
        plan = plan_segmentation(cfg, log)
        plan.reader.close()
        unlike[name] = [w for w in plan.warnings if "looks unlike the data" in w]
        assert ("rescaled to the model's units" in "\n".join(log.lines)) == (scale is not None), name
    assert unlike["as_trained"] == [] and unlike["scaled"] == []
    assert len(unlike["unit"]) == 1 and "4 of its 4 band(s)" in unlike["unit"][0]


def test_a_training_names_a_stac_item_as_given_and_resumes(tmp_path, capsys):
    """A STAC item trained on is read through a VRT of its assets; every line names the item ('SCENE' (STAC item,
    ...item.json)), never the VRT, and a resumed run sees the same settings (the VRT's name is no setting)."""
    from engine.cli.main import main

    rng = np.random.default_rng(1)
    dn = (rng.random((4, 128, 128)) * 2000 + 500).astype(np.uint16)
    label = np.zeros((1, 128, 128), np.uint8)
    label[0, 30:90, 40:110] = 1
    dn[:, 30:90, 40:110] += 3000
    item = make_item(tmp_path, dn)
    write_tif(tmp_path / "label.tif", label)
    args = ["train", "--image", str(item), "--label", str(tmp_path / "label.tif"), "--out",
            str(tmp_path / "m.dsmodel"), "--warmup-epochs", "0", "--tile-size", "64", "--tiles-per-epoch", "8",
            "--batch-size", "4", "--device", "cpu", "--preview-tiles", "0", "--model", "unet", "--preset", "tiny",
            "--label-map", "1=1"]
    assert main([*args, "--epochs", "1"]) == 0
    said = "".join(capsys.readouterr())  # the log on stderr, the results on stdout
    assert f"Labels of 'SCENE' (STAC item, {item}): 100.0 % of the scene labelled" in said, said
    assert "SCENE.vrt" not in said
    assert main([*args, "--epochs", "2", "--resume"]) == 0, capsys.readouterr().err


def test_a_training_reads_each_stac_item_once_and_two_items_of_one_id_apart(tmp_path):
    """Planning names an item and the data reads it through the same VRT, made once (the item and its assets read
    once, here counted at a local server); two items that share an id (two catalogues) keep VRTs of their own, each
    with its own values."""
    from engine.callbacks import QuietCallback
    from engine.config import DataConfig, SceneSpec
    from engine.imagery.stac_assets import stac_raster, stac_scenes

    rng = np.random.default_rng(2)
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    dn_a = rng.integers(300, 3000, (4, 16, 16)).astype(np.uint16)
    make_item(second, dn_a + 1000)
    with FileServer(first) as server:
        item = make_item(first, dn_a, base=server.url)
        scene = SceneSpec(image=str(item), label=str(item))
        named = stac_scenes(DataConfig(train_scenes=[scene]), keep_items=True)
        before = server.requests
        read = stac_scenes(DataConfig(train_scenes=[scene]), QuietCallback()).train_scenes[0]
        assert server.requests == before  # the VRT planning made is the one read
    assert read.names == named.train_scenes[0].names and read.image in read.names
    other = stac_raster(str(second / "item.json"))
    assert other != read.image and Path(other).name.startswith("SCENE-")  # not the first one's SCENE.vrt
    with rasterio.open(read.image) as a, rasterio.open(other) as b:
        assert not np.array_equal(a.read(), b.read())


def test_an_item_whose_id_ends_in_stack_does_not_take_another_items_stack(tmp_path):
    """A scaled item's VRT reads its stack beside it (``NAME.stack.vrt``): an item whose id is ``NAME.stack``,
    read after it or before it, gets files of its own, and each VRT keeps its own item's values."""
    import json

    from engine.data.input_vrt import InputFiles
    from engine.imagery.stac_assets import stac_raster

    rng = np.random.default_rng(3)
    dn_a = rng.integers(300, 3000, (4, 16, 16)).astype(np.uint16)
    folders = {"a": tmp_path / "a", "b": tmp_path / "b"}
    for folder in folders.values():
        folder.mkdir()
    scaled = make_item(folders["a"], dn_a)  # id SCENE, values times 0.0001
    other = make_item(folders["b"], dn_a + 1000, scale=None)
    data = json.loads(other.read_text(encoding="utf-8"))
    other.write_text(json.dumps({**data, "id": "SCENE.stack"}), encoding="utf-8")
    for order in ((scaled, other), (other, scaled)):
        files = InputFiles()
        try:
            paths = {item: stac_raster(str(item), files) for item in order}
            assert len({Path(p).name for p in paths.values()}) == 2
            with rasterio.open(paths[scaled]) as a, rasterio.open(paths[other]) as b:
                # the same bands in the same order: the scaled item's values, and the other's raw numbers
                assert np.allclose(a.read().astype(np.float64) * 1e4, b.read().astype(np.float64) - 1000, atol=0.05)
        finally:
            files.close()
