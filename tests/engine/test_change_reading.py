"""How a pair's dates are read: a later date covering part of the first (said), a later date from a web layer over the
first date's footprint, each date opened once, alpha bands as each date's mask. Pairs (``change_pairs``) and the
change model trained on them (``change_model``) are the session's, from tests/engine/conftest.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

from tests.helpers import cli, read_pixels


def test_a_later_date_covering_part_of_the_first_says_so_in_segment_and_train(change_model, change_pairs, tmp_path,
                                                                               capsys):
    """Where only one date holds data no change can be seen: the change raster is nodata there, and the run says
    how much of the region the later date covers (an extent inside both says nothing)."""
    from osgeo import gdal

    pair = change_pairs["p2"]
    with rasterio.open(pair.before) as first:
        width, height, bounds = first.width, first.height, first.bounds
    east = str(tmp_path / "east_half.tif")  # the later date's east half, in place
    gdal.Translate(east, pair.after, srcWin=[width // 2, 0, width - width // 2, height])
    out = tmp_path / "change.tif"
    code, _, err = cli(capsys, "segment", "--model", change_model, "--image", pair.before, "--after", east, "--out",
                       str(out), "--backend", "torch", "--quiet")
    assert code == 0, err
    assert f"The later date '{east}' covers only 50 % of the segmented region of '{pair.before}'" in err
    with rasterio.open(out) as got:
        classes = got.read(1)
        assert (classes[:, :width // 2] == got.nodata).all() and (classes[:, width // 2:] != got.nodata).all()
    middle = (bounds.left + bounds.right) / 2
    code, _, err = cli(capsys, "segment", "--model", change_model, "--image", pair.before, "--after", east, "--out",
                       str(tmp_path / "inside.tif"), "--extent", str(middle + 10), str(bounds.bottom + 10),
                       str(bounds.right - 10), str(bounds.top - 10), "--backend", "torch", "--quiet")
    assert code == 0 and "covers only" not in err, err
    east_classes = str(tmp_path / "east_classes.tif")  # the comparison of two class rasters says the same
    gdal.Translate(east_classes, pair.after_classes, srcWin=[width // 2, 0, width - width // 2, height])
    code, _, err = cli(capsys, "compare", "--before-classes", pair.before_classes, "--after-classes", east_classes,
                       "--out", str(tmp_path / "compared.tif"), "--quiet")
    assert code == 0 and f"The later date '{east_classes}' covers only 50 % of the first date" in err, err
    train = ["train", "--image", pair.before, "--after", east, "--label", pair.change, "--model", "change",
             "--preset", "tiny", "--epochs", "1", "--tile-size", "64", "--tiles-per-epoch", "8", "--quiet"]
    code, _, err = cli(capsys, *train, "--val-image", pair.before, "--val-after", pair.after, "--val-label",
                       pair.change, "--out", str(tmp_path / "c.dsmodel"))
    assert code == 0 and f"The later date '{east}' covers only 50 % of the first date '{pair.before}'" in err, err
    assert "training draws its tiles and holds out its validation band where every date holds data" in err
    # held out of the small scene where both dates hold data: before, the band took the covered half and left
    # training only pixels without a later date (no valid pixel for the statistics)
    code, _, err = cli(capsys, *train, "--out", str(tmp_path / "held.dsmodel"))
    assert code == 0, err


def test_a_later_date_from_a_web_layer_is_read_over_the_first_date_s_footprint(change_model, change_pairs, tmp_path,
                                                                                capsys):
    """A later date from a web layer (as QGIS hands it) with no extent of its own is read over the first date's
    footprint at the first date's pixel size, exactly as with those given, not refused for covering the world."""
    import subprocess

    from engine.imagery.web import wms_description
    from tests.ogc_server import OgcServer

    pair = change_pairs["p0"]
    rgb = tmp_path / "after_rgb.tif"  # what a WMS serves: 8-bit RGB
    subprocess.run(["gdal_translate", "-q", "-ot", "Byte", "-scale", pair.after, str(rgb)], check=True)
    with rasterio.open(pair.before) as first:
        b, crs, size = first.bounds, first.crs.to_string(), first.res[0]
    base = ["segment", "--model", change_model, "--image", pair.before, "--backend", "torch", "--accept-one-class"]
    with OgcServer(rgb) as server:
        later = f"{wms_description(f'{server.url}/wms', 'scene', crs)}|layername=Later WMS"
        code, out, said = cli(capsys, *base, "--after", later, "--out", str(tmp_path / "footprint.tif"))
        assert code == 0, said
        code, _, err = cli(capsys, *base, "--after", later, "--extent", str(b.left), str(b.bottom), str(b.right),
                           str(b.top), "--extent-crs", crs, "--pixel-size", str(size), "--out",
                           str(tmp_path / "given.tif"), "--quiet")
        assert code == 0, err
        assert server.requests("GetMap") > 0
    said = " ".join(said.split())  # the 8-bit layer's values are called out by the layer's name
    assert "The WMS layer 'Later WMS' (uint8) looks unlike the data" in said and "<GDAL_WMS>" not in said, said
    assert "--pixel-size" not in said, said  # nothing given, so nothing to say about it
    assert (read_pixels(tmp_path / "footprint.tif") == read_pixels(tmp_path / "given.tif")).all()


def test_a_pair_opens_each_date_once(change_model, change_pairs, tmp_path, capsys, monkeypatch):
    """The image door's dataset of each date is the one the plan checks and the reader reads: one open a file,
    as for one date (three a date before: the door, the plan's band check, the reader)."""
    from collections import Counter

    opened: Counter = Counter()
    real = rasterio.open

    def counted(path, *args, **kwargs):
        opened[str(path)] += 1
        return real(path, *args, **kwargs)

    monkeypatch.setattr(rasterio, "open", counted)
    pair = change_pairs["p2"]
    code, _, err = cli(capsys, "segment", "--model", change_model, "--image", pair.before, "--after", pair.after,
                       "--out", str(tmp_path / "change.tif"), "--quiet")
    assert code == 0, err
    assert opened[str(pair.before)] == 1 and opened[str(pair.after)] == 1, opened


def _with_alpha(path: str, out: Path, hole: bool) -> str:
    """``path`` with a 4th band tagged alpha: opaque everywhere, or transparent over a corner (``hole``)."""
    from rasterio.enums import ColorInterp

    with rasterio.open(path) as src:
        data, profile = src.read(), src.profile
    alpha = np.full(data.shape[1:], np.iinfo(data.dtype).max, data.dtype)
    if hole:
        alpha[:16, :16] = 0
    profile.update(count=4, photometric="RGB", alpha="YES")
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(np.concatenate([data, alpha[None]]))
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    return str(out)


def test_a_pair_with_alpha_bands_reads_them_as_each_date_s_mask(change_model, change_pairs, tmp_path, capsys):
    """RGBA dates (as PNGs and GeoTIFFs come from many tools) are 3 bands and a mask for a model of 3 bands: an
    opaque alpha changes nothing, a transparent part of the later date is no change but nodata."""
    pair = change_pairs["p2"]
    plain = tmp_path / "plain.tif"
    code, _, err = cli(capsys, "segment", "--model", change_model, "--image", pair.before, "--after", pair.after,
                       "--out", str(plain), "--quiet")
    assert code == 0, err
    for hole in (False, True):
        before = _with_alpha(pair.before, tmp_path / f"before_{hole}.tif", False)
        after = _with_alpha(pair.after, tmp_path / f"after_{hole}.tif", hole)
        out = tmp_path / f"alpha_{hole}.tif"
        code, _, err = cli(capsys, "segment", "--model", change_model, "--image", before, "--after", after,
                           "--out", str(out), "--quiet")
        assert code == 0, err
        with rasterio.open(plain) as a, rasterio.open(out) as b:
            expected, got = a.read(1), b.read(1)
            if not hole:
                assert np.array_equal(expected, got)
            else:
                assert (got[:16, :16] == b.nodata).all() and (got[32:, 32:] != b.nodata).all()
