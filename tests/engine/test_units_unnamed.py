"""Values in other units for a model whose bundle records no band names (issue 53 item 15's residue): judged by
the bundle's training statistics alone, as a model with band names is. Before, such a model read the file as it
was: digital numbers given to a reflectance model, or 0-1 given to a 0-255 model, gave one class everywhere with a
warning and exit 0, and a file's own GDAL scale was never applied.

And every command that reads imagery for a model states its units the same way: ``suggest`` and ``propose`` take
``--value-scale``, ``--value-offset``, ``--accept-one-class`` and ``--strict-inputs`` (one declaration,
engine/config/reading.py), which their errors and warnings advise; before, suggest named options it did not have."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from engine.api import DataError, SegmentConfig, segment
from engine.cli.main import build_parser, main
from engine.errors import render
from tests.helpers import LogLines, make_bundle

pytest.importorskip("torch")

RNG = np.random.default_rng(7)
REFLECTANCE = ((RNG.uniform(0.0, 0.5, size=(4, 48, 56)) * 10000).round() / 10000).astype(np.float32)


def write(path: Path, values: np.ndarray, scale: float | None = None) -> str:
    """A 4-band GeoTIFF without band descriptions (``scale``: its GDAL scale on every band)."""
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[2], height=values.shape[1], count=4,
                       dtype=values.dtype.name, crs="EPSG:32633",
                       transform=from_origin(500000, 6000000, 10, 10)) as ds:
        ds.write(values)
        if scale is not None:
            ds.scales = [scale] * 4
    return str(path)


def dn() -> np.ndarray:
    return np.rint(REFLECTANCE * 10000).astype(np.uint16)


def classes(path: str | Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Models trained here on reflectance 0..1 and on 8-bit 0..255, recording no band names: a random one, and
    ones whose classifier says class 0 everywhere (what a model says of values far from its units)."""
    folder = tmp_path_factory.mktemp("unnamed")
    kw = {"num_classes": 2, "class_names": ["clear", "cloud"], "band_names": None, "gsd": 10.0}  # the scenes'
    return {"random": make_bundle(folder / "random.dsmodel", vision_high=1.0, seed=3, **kw),
            "flat": make_bundle(folder / "flat.dsmodel", vision_high=1.0, one_class=0, **kw),
            "flat255": make_bundle(folder / "flat255.dsmodel", vision_high=255.0, one_class=0, **kw)}


def test_digital_numbers_to_a_model_without_band_names_fail_as_one_class(models, tmp_path):
    image = write(tmp_path / "dn.tif", dn())
    out = tmp_path / "c.tif"
    with pytest.raises(DataError) as caught:
        segment(SegmentConfig(image=image, models=[models["flat"]], output=str(out), device="cpu"))
    message = str(caught.value)
    assert f"Every pixel of '{out}' is class 0 (clear)" in message, message
    assert "the input's values lie far outside" in message and "band 1:" in message
    assert "Nothing was written" in message and "value_scale" in message and "accept_one_class" in message
    assert not out.exists()
    # stated units bring them in: one class is then the model's answer, not a units error
    result = segment(SegmentConfig(image=image, models=[models["flat"]], output=str(out), device="cpu",
                                   value_scale=0.0001))
    assert (classes(out) == 0).all() and not any("Every pixel" in render(w) for w in result.warnings)
    kept = tmp_path / "kept.tif"
    result = segment(SegmentConfig(image=image, models=[models["flat"]], output=str(kept), device="cpu",
                                   accept_one_class=True))
    assert kept.exists() and any("Kept as accept_one_class asks" in render(w) for w in result.warnings)


def test_zero_to_one_given_to_an_eight_bit_model_without_band_names_fails(models, tmp_path):
    """0-1 values lie inside the widened 0-255 range; the training data's own rule (the domain warning's) sees a
    factor of hundreds."""
    image = write(tmp_path / "unit.tif", (dn() / 10000.0).astype(np.float32))
    out = tmp_path / "c.tif"
    with pytest.raises(DataError, match=r"Every pixel of .* is class 0 \(clear\), and the input's values lie far"):
        segment(SegmentConfig(image=image, models=[models["flat255"]], output=str(out), device="cpu"))
    assert not out.exists()
    segment(SegmentConfig(image=image, models=[models["flat255"]], output=str(out), device="cpu", value_scale=255))
    assert (classes(out) == 0).all()


def test_the_files_own_scale_brings_digital_numbers_to_a_model_without_band_names(models, tmp_path):
    reference = tmp_path / "ref.tif"
    segment(SegmentConfig(image=write(tmp_path / "refl.tif", REFLECTANCE), models=[models["random"]],
                          output=str(reference), device="cpu"))
    expected = classes(reference)
    assert len(np.unique(expected)) > 1  # the premise: the model tells the pixels apart
    out, log = tmp_path / "c.tif", LogLines()
    segment(SegmentConfig(image=write(tmp_path / "scaled.tif", dn(), scale=0.0001), models=[models["random"]],
                          output=str(out), device="cpu"), log)
    said = render("\n".join(log.lines))
    assert "Values rescaled to the model's units by the bands' GDAL scale/offset (x 0.0001 + 0)" in said, said
    assert (classes(out) == expected).mean() >= 0.999


def _options(command: str) -> set[str]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices[command]._option_string_actions)


@pytest.mark.parametrize("command", ["segment", "suggest", "propose"])
def test_every_command_that_reads_imagery_for_a_model_states_its_units(command):
    assert {"--value-scale", "--value-offset", "--accept-one-class", "--strict-inputs"} <= _options(command)


def test_suggest_advises_only_its_own_options_and_takes_the_units(models, tmp_path, capsys):
    """Before: 'State the units ... with --value-scale', an option suggest did not have."""
    image = write(tmp_path / "dn.tif", dn())
    out = tmp_path / "windows.gpkg"
    base = ["suggest", "--model", models["flat"], "--image", image, "--count", "2", "--window", "16", "--tta",
            "none", "--device", "cpu", "--out", str(out)]
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "is class 0 (clear)" in err and "--value-scale" in err and "--accept-one-class keeps" in err, err
    # the user's scene and command, not suggest's temporary class raster and "segment again"
    assert f"Every pixel of the prediction of '{image}'" in err and "then run suggest again" in err, err
    assert ".suggest-" not in err and "segment again" not in err, err
    advised = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", err))  # the warnings' advice too (--strict-inputs)
    assert {"--value-scale", "--strict-inputs"} <= advised <= _options("suggest"), advised - _options("suggest")
    assert not out.exists()
    assert main(base + ["--value-scale", "0.0001", "--quiet"]) == 0 and out.exists()
    capsys.readouterr()
    # propose segments each window with the model the same way, and takes the same options
    from tests.engine.prompted_models import save_tiny

    proposals = tmp_path / "proposals.gpkg"
    loop = ["propose", "--windows", str(out), "--model", models["flat"], "--sam", str(save_tiny("sam2", tmp_path /
            "sam")), "--device", "cpu", "--out", str(proposals)]
    assert main(loop) == 2
    err = capsys.readouterr().err
    advised = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", err))
    assert "--value-scale" in advised and advised <= _options("propose"), err
    assert "then run propose again" in err and ".propose-" not in err, err
    assert main(loop + ["--value-scale", "0.0001", "--quiet"]) == 0 and proposals.exists()
    capsys.readouterr()
    out.unlink()
    assert main(base + ["--accept-one-class"]) == 0 and out.exists()
    err = capsys.readouterr().err
    assert "Kept as --accept-one-class asks" in err and "sees one class everywhere" in err, err


@pytest.mark.parametrize(("flag", "value"), [("--value-scale", "0"), ("--value-offset", "nan")])
def test_suggest_and_propose_refuse_units_that_are_no_number(tmp_path, capsys, flag, value):
    for command, rest in (("suggest", ["--image", "x.tif"]), ("propose", ["--windows", "w.gpkg"])):
        assert main([command, "--model", "m.dsmodel", *rest, "--out", str(tmp_path / "o.gpkg"), flag, value]) == 2
        assert f"{flag} must be a finite number" in capsys.readouterr().err
