"""``dualstream segment --image LAYER.xml --extent ... --pixel-size M``: a web service given to the command line as
GDAL's description of it (here an XYZ layer of a local tile server) is read over the extent at the pixel size, the
model's training pixel size when none is given, as the QGIS algorithms read a web layer; ``dualstream train`` reads
a scene's web layer (a WMS of tests/ogc_server.py) the same way."""

from __future__ import annotations

import json
import subprocess

import pytest
import rasterio

from bench.http_files import FileServer
from engine.api import xyz_description
from engine.cli.main import main
from tests.helpers import make_bundle


@pytest.fixture(scope="module")
def tiles(synthetic_scene, tmp_path_factory):
    """XYZ tiles of the scene's first three bands at zoom levels 15-17 (GDAL reads the level nearest to the pixel
    size: 17 is ~1 m on the ground here, 16 ~2 m, 15 ~4 m)."""
    root = tmp_path_factory.mktemp("xyz")
    rgb = root / "rgb.tif"
    subprocess.run(["gdal_translate", "-q", "-b", "1", "-b", "2", "-b", "3", "-ot", "Byte", "-scale",
                    synthetic_scene["image"], str(rgb)], check=True)
    subprocess.run(["gdal2tiles.py", "--xyz", "-q", "-z", "15-17", "-w", "none", "--processes", "1", str(rgb),
                    str(root / "tiles")], check=True, capture_output=True)
    return root / "tiles"


def test_a_web_description_is_read_over_the_extent_at_the_pixel_size(tiles, synthetic_scene, tmp_path, capsys):
    model = make_bundle(tmp_path / "m.dsmodel", vision_bands=3, seed=2, vision_high=255.0, gsd=2.0,
                        crs="EPSG:32633")
    with rasterio.open(synthetic_scene["image"]) as src:
        b, crs = src.bounds, src.crs.to_string()
    extent = ["--extent", str(b.left), str(b.bottom), str(b.right), str(b.top), "--extent-crs", crs]
    with FileServer(tiles) as server:
        layer = tmp_path / "tiles.xml"
        layer.write_text(xyz_description(f"{server.url}/{{z}}/{{x}}/{{y}}.png", zmax=17))
        base = ["segment", "--image", str(layer), "--model", model, "--device", "cpu"]
        # the whole world at zoom 17 is no image: the extent is asked for, by its flag
        assert main([*base, "--out", str(tmp_path / "none.tif")]) != 0
        assert "--extent" in capsys.readouterr().err
        assert not (tmp_path / "none.tif").exists()
        assert main([*base, *extent, "--out", str(tmp_path / "trained.tif")]) == 0
        said = capsys.readouterr()
        assert main([*base, *extent, "--pixel-size", "4", "--out", str(tmp_path / "coarse.tif")]) == 0
        assert server.requests > 0
        # a model trained on values of 0-1: the layer's bytes are called out by the layer's name, not by the path
        # of its window (a temporary file, gone after the run)
        capsys.readouterr()
        unit = make_bundle(tmp_path / "unit.dsmodel", vision_bands=3, seed=2, vision_high=1.0, gsd=2.0,
                           crs="EPSG:32633")
        main(["segment", "--image", str(layer), "--model", unit, "--device", "cpu", *extent, "--accept-one-class",
              "--out", str(tmp_path / "unit.tif")])
        said = capsys.readouterr()
        unlike = [line for line in (said.out + said.err).splitlines() if "looks unlike the data" in line]
    assert unlike and f"The web service '{layer}' (uint8)" in unlike[0] and ".web.vrt" not in unlike[0], said
    assert "read at 2 m per pixel, the model's training pixel size" in " ".join((said.out + said.err).split())
    segmenting = next(line for line in said.err.splitlines() if line.startswith("Segmenting "))
    assert segmenting.startswith(f"Segmenting the web service '{layer}' region"), segmenting  # not its window
    with rasterio.open(tmp_path / "trained.tif") as fine, rasterio.open(tmp_path / "coarse.tif") as coarse:
        assert fine.crs.to_epsg() == coarse.crs.to_epsg() == 3857
        # 128 m of ground (at ~37 degrees north, a web mercator metre is 1.25 map units): 64 and 32 pixels across
        assert abs(fine.width - 2 * coarse.width) <= 2 and 55 <= fine.width <= 90
        for out in (fine, coarse):  # the tiles were read: the scene's pixels are classes, not nodata
            assert out.read(1, masked=True).count() > 0.8 * out.width * out.height


def test_bulk_reads_a_web_description_over_its_extent_beside_a_file(tiles, synthetic_scene, tmp_path, capsys):
    """A web service's description among bulk's images was a failed scene ("segment it alone"). It is read over
    ``--extent`` at the pixel size, as ``segment --image`` reads it (the same class raster), named after the file,
    while a file scene beside it is segmented whole at its own pixels; without ``--extent`` nothing runs."""
    model = make_bundle(tmp_path / "m.dsmodel", vision_bands=3, seed=2, vision_high=255.0, gsd=2.0,
                        crs="EPSG:32633")
    rgb = str(tiles.parent / "rgb.tif")
    with rasterio.open(rgb) as src:
        b, crs, whole = src.bounds, src.crs.to_string(), (src.width, src.height)
    half = ["--extent", str(b.left), str(b.bottom), str((b.left + b.right) / 2), str(b.top), "--extent-crs", crs]
    with FileServer(tiles) as server:
        layer = tmp_path / "tiles.xml"
        layer.write_text(xyz_description(f"{server.url}/{{z}}/{{x}}/{{y}}.png", zmax=17))
        run = ["segment", "--model", model, "--device", "cpu", "--pixel-size", "4"]
        bulk = [*run, "--images", str(layer), rgb, "--out-dir", str(tmp_path / "out")]
        assert main(bulk) == 2  # the whole world is no scene: the run stops, asking for the area by its flag
        said = " ".join(capsys.readouterr().err.split())
        assert "The web service" in said and "give --extent (the area to read)" in said, said
        assert not (tmp_path / "out").exists()
        assert main([*bulk, *half]) == 0, capsys.readouterr().err
        said = " ".join(capsys.readouterr().err.split())
        summary = json.loads((tmp_path / "out" / "summary.json").read_text())
        assert main([*bulk, *half]) == 0  # a rerun skips both; over another area the web layer's outputs are stale
        assert json.loads((tmp_path / "out" / "summary.json").read_text())["counts"]["skipped"] == 2
        whole_area = ["--extent", str(b.left), str(b.bottom), str(b.right), str(b.top), "--extent-crs", crs]
        assert main([*bulk, *whole_area]) == 1
        rerun = {s["name"]: s for s in json.loads((tmp_path / "out" / "summary.json").read_text())["scenes"]}
        assert rerun["rgb"]["status"] == "skipped" and rerun["tiles"]["status"] == "failed"
        assert "made with other extent" in rerun["tiles"]["error"], rerun["tiles"]["error"]
        capsys.readouterr()
        assert main([*run, "--image", str(layer), *half, "--out", str(tmp_path / "alone.tif")]) == 0
    assert "1 web layer(s) read over --extent at 4 m per pixel (--pixel-size); the other scenes are segmented whole" \
           in said, said
    assert summary["counts"]["done"] == 2, summary["scenes"]
    said = " ".join(warning for scene in summary["scenes"] for warning in scene["warnings"])
    assert "pixel size web layers are read at" not in said, said  # --pixel-size was the web layer's
    with rasterio.open(tmp_path / "out" / "tiles.tif") as web, rasterio.open(tmp_path / "alone.tif") as alone, \
            rasterio.open(tmp_path / "out" / "rgb.tif") as file:
        assert web.crs.to_epsg() == 3857 and web.res == pytest.approx(alone.res)
        assert web.transform == alone.transform and (web.read(1) == alone.read(1)).all()
        assert web.read(1, masked=True).count() > 0.8 * web.width * web.height  # the tiles were read
        assert (file.width, file.height) == whole and file.crs.to_string() == crs  # whole, at its own pixels


def test_train_reads_a_web_description_over_its_extent_at_the_pixel_size(synthetic_scene, tmp_path, capsys):
    """``dualstream train --image LAYER.xml --extent ... --pixel-size M``: the scene's web layer (a WMS of the
    synthetic scene) is read over the scene's extent at the pixel size, as Train in QGIS reads it, its window kept
    in ``<bundle>_web/``, and the bundle records that pixel size; without a pixel size the flag is asked for. The
    log and the errors named the window ("Labels of 'scene.web.vrt'"); they name the layer as the user gave it."""
    from engine.bundle.store import read_metadata
    from engine.bundle.view import model_view
    from engine.imagery.web import wms_description
    from tests.ogc_server import OgcServer

    rgb = tmp_path / "rgb.tif"
    subprocess.run(["gdal_translate", "-q", "-b", "1", "-b", "2", "-b", "3", "-ot", "Byte", "-scale",
                    synthetic_scene["image"], str(rgb)], check=True)
    with rasterio.open(rgb) as src:
        b, crs = src.bounds, src.crs.to_string()
    out = tmp_path / "web.dsmodel"
    fast = ["--model", "unet", "--preset", "tiny", "--tile-size", "32", "--tiles-per-epoch", "8", "--batch-size", "4",
            "--epochs", "1", "--warmup-epochs", "0", "--device", "cpu", "--num-workers", "0", "--label-map", "90=1"]
    with OgcServer(rgb) as server:
        layer = tmp_path / "scene.xml"
        layer.write_text(wms_description(f"{server.url}/wms", "scene", crs))
        scene = ["train", "--image", f"{layer}", "--label", synthetic_scene["label"],
                 "--extent", str(b.left), str(b.bottom), str(b.right), str(b.top), *fast, "--out", str(out)]
        assert main(scene) != 0  # a web layer with no pixel size to read it at
        assert "--pixel-size" in " ".join(capsys.readouterr().err.split())
        assert not out.exists()
        assert main([*scene, "--pixel-size", "2"]) == 0, capsys.readouterr().err
        assert server.requests("GetMap") > 0
        said = capsys.readouterr()
        # as QGIS hands a layer (its description and its name): a band it lacks is refused naming the layer
        named = [*scene, "--pixel-size", "2", "--bands", "1,2,5", "--out", str(tmp_path / "bands.dsmodel")]
        named[named.index(str(layer))] = f"{layer.read_text()}|layername=My WMS"
        del named[named.index("--tile-size"):named.index("--tile-size") + 2]  # chosen: the choice names the scene
        assert main(named) != 0
        refused = " ".join(capsys.readouterr().err.split())
    # the training's lines name the layer as given with its service, never its window (a file beside the bundle)
    lines = (said.out + said.err).splitlines()
    assert not [line for line in lines if ".web.vrt" in line], lines
    shown = f"'{layer}' (WMS service, {server.url}/wms)"
    assert any(line.startswith(f"Labels of {shown}: ") for line in lines), lines
    assert f"the image 'My WMS' (WMS layer, {server.url}/wms) has 3 band(s)" in refused, refused
    assert f"the smallest training scene 'My WMS' (WMS layer, {server.url}/wms) (64 x 64 px)" in refused, refused
    assert ".web.vrt" not in refused and "<GDAL_WMS>" not in refused, refused
    (window,) = (tmp_path / "web_web").glob("*/scene.web.vrt")  # kept beside the bundle, which names it
    with rasterio.open(window) as read:
        assert read.res == pytest.approx((2.0, 2.0)) and (read.width, read.height) == (64, 64)
    resolution = model_view(read_metadata(out).data).resolution
    assert resolution is not None and resolution.size == pytest.approx((2.0, 2.0))


def test_a_file_name_two_named_sources_share_names_neither():
    """Two scenes' windows of the same file name ('scene.web.vrt' in two folders): their full paths are named, the
    shared file name is left as it is rather than named after one of them."""
    from engine.data.shown import renamer

    rename = renamer({"/a/web_1/scene.web.vrt": "'A' (XYZ layer)", "/b/web_2/scene.web.vrt": "'B' (WMS layer)"})
    assert rename("the image '/b/web_2/scene.web.vrt' and '/a/web_1/scene.web.vrt'") == \
        "the image 'B' (WMS layer) and 'A' (XYZ layer)"
    assert rename("Labels of 'scene.web.vrt'") == "Labels of 'scene.web.vrt'"
    # a name holding a quoted form of its own source (a layer named as its file) is put in once, not again
    assert renamer({"/t/roofs.gpkg": "'roofs.gpkg' (scratch layer)"})("of '/t/roofs.gpkg'") == \
        "of 'roofs.gpkg' (scratch layer)"
    scratch = renamer({"/t/LABELS.gpkg|layername=LABELS": "'roofs' (scratch layer)"})
    assert scratch("of 'LABELS.gpkg' in '/t/LABELS.gpkg'") == "of 'roofs' (scratch layer) in 'roofs' (scratch layer)"


def test_a_vector_layer_handed_over_is_named_by_what_it_is_in_qgis():
    """The words the plugin puts beside a handed-over layer's name come from the engine: a scratch layer, a layer of
    its file, another provider's, and only its selection."""
    from engine.api import shown_layer, vector_layer_kind

    assert shown_layer("roofs", vector_layer_kind("memory", "")) == "'roofs' (scratch layer)"
    assert vector_layer_kind("ogr", "/d/b.gpkg", selected=True) == "selected features of the layer of /d/b.gpkg"
    assert vector_layer_kind("postgres", "dbname=x") == "postgres layer"


def test_a_later_date_from_a_web_layer_is_named_as_given_when_refused(synthetic_scene, tmp_path, capsys):
    """A change scene's later date from a web layer (as QGIS hands it: description and name) whose bands differ
    from the first date's is refused before any training, naming the layer and its service, not its window."""
    from engine.imagery.web import wms_description
    from tests.ogc_server import OgcServer

    rgb = tmp_path / "rgb.tif"
    subprocess.run(["gdal_translate", "-q", "-b", "1", "-b", "2", "-b", "3", "-ot", "Byte", "-scale",
                    synthetic_scene["image"], str(rgb)], check=True)
    with rasterio.open(rgb) as src:
        b, crs = src.bounds, src.crs.to_string()
    with OgcServer(rgb) as server:
        later = f"{wms_description(f'{server.url}/wms', 'scene', crs)}|layername=Later WMS"
        assert main(["train", "--image", synthetic_scene["image"], "--after", later, "--label",
                     synthetic_scene["label"], "--extent", str(b.left), str(b.bottom), str(b.right), str(b.top),
                     "--pixel-size", "2", "--model", "change", "--preset", "tiny", "--device", "cpu",
                     "--label-map", "90=1", "--out", str(tmp_path / "change.dsmodel")]) != 0
    said = " ".join(capsys.readouterr().err.split())
    assert f"The later date 'Later WMS' (WMS layer, {server.url}/wms) has 3 band(s) but the first date" in said, said
    assert ".web.vrt" not in said and "<GDAL_WMS>" not in said, said
    assert not (tmp_path / "change.dsmodel").exists()
