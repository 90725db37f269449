"""The confidence output: each pixel's probability of the class it was given, its style, its share below the
review threshold, in a single run, in bulk and from the command line."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from engine.cli.main import main
from engine.config import BulkConfig, SegmentConfig
from engine.errors import ConfigError
from engine.segment import segment
from engine.segment.bulk.runner import segment_bulk
from tests.helpers import make_bundle


def _image(path: Path, seed: int = 0, size: tuple[int, int] = (70, 90)) -> str:
    rng = np.random.default_rng(seed)
    with rasterio.open(path, "w", driver="GTiff", width=size[1], height=size[0], count=4, dtype="uint16",
                       crs="EPSG:32652", transform=Affine(10, 0, 300000, 0, -10, 4100000), nodata=0) as dst:
        data = rng.integers(1, 4000, (4, *size)).astype(np.uint16)
        data[:, :5, :7] = 0  # a nodata corner
        dst.write(data)
    return str(path)


def _read(path: str | Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read()


@pytest.mark.parametrize("classes", [1, 3])
def test_confidence_is_the_probability_of_the_class_given(tmp_path, classes):
    image = _image(tmp_path / "img.tif")
    model = make_bundle(tmp_path / "m.dsmodel", num_classes=classes, gsd=10.0, seed=classes)
    result = segment(SegmentConfig(image=image, models=[model], output=str(tmp_path / "c.tif"),
                                   probabilities=str(tmp_path / "p.tif"), confidence=str(tmp_path / "conf.tif"),
                                   low_confidence=0.8, device="cpu"))
    probs, conf, labels = _read(tmp_path / "p.tif"), _read(tmp_path / "conf.tif")[0], _read(tmp_path / "c.tif")[0]
    valid = np.isfinite(conf)
    assert not valid[:5, :7].any() and valid.sum() == conf.size - 35  # nodata stays nodata
    given = np.maximum(probs[0], 1 - probs[0]) if classes == 1 else probs.max(axis=0)
    assert np.allclose(conf[valid], given[valid], atol=1e-6)
    if classes > 1:  # the class raster's class is the one whose probability the confidence is
        chosen = np.take_along_axis(probs, np.where(valid, labels, 0)[None].astype(int), 0)[0]
        assert np.allclose(conf[valid], chosen[valid], atol=1e-6)
    assert conf[valid].min() >= (0.5 if classes == 1 else 1 / classes) - 1e-6 and conf[valid].max() <= 1
    share = float((conf[valid] < 0.8).mean())
    assert result.path("confidence") == str(tmp_path / "conf.tif")
    assert result.report["low_confidence"] == pytest.approx(share)
    # its style: red where unsure, transparent where sure; the threshold is a stop of the ramp
    items = ET.parse(tmp_path / "conf.qml").getroot().findall(".//colorrampshader/item")
    assert [(i.get("value"), i.get("alpha")) for i in items] == [("0", "255"), ("0.8", "200"), ("1", "0")]


def test_uint8_confidence_is_scaled_like_the_probabilities(tmp_path):
    image = _image(tmp_path / "img.tif")
    model = make_bundle(tmp_path / "m.dsmodel", num_classes=3, gsd=10.0)
    segment(SegmentConfig(image=image, models=[model], output=str(tmp_path / "c.tif"),
                          probabilities=str(tmp_path / "p.tif"), confidence=str(tmp_path / "conf.tif"),
                          probability_dtype="uint8", device="cpu"))
    probs, conf = _read(tmp_path / "p.tif"), _read(tmp_path / "conf.tif")[0]
    assert conf.dtype == np.uint8 and (conf[:5, :7] == 255).all()
    valid = conf != 255
    assert np.abs(conf[valid].astype(int) - probs.max(axis=0)[valid].astype(int)).max() <= 1
    with rasterio.open(tmp_path / "conf.tif") as ds:
        assert ds.scales[0] == pytest.approx(1 / 254)
    items = ET.parse(tmp_path / "conf.qml").getroot().findall(".//colorrampshader/item")
    assert items[-1].get("value") == "254"  # the style speaks the stored values


def test_bulk_writes_a_confidence_per_scene_and_says_its_share(tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for seed in (1, 2):
        _image(scenes / f"s{seed}.tif", seed)
    model = make_bundle(tmp_path / "m.dsmodel", num_classes=1, gsd=10.0)
    result = segment_bulk(BulkConfig(images=[str(scenes)], out_dir=str(tmp_path / "out"), confidence=True),
                          SegmentConfig(models=[model], device="cpu"))
    assert result.ok
    for name in ("s1", "s2"):
        assert (tmp_path / "out" / f"{name}_confidence.tif").is_file()
        assert (tmp_path / "out" / f"{name}_confidence.qml").is_file()
    shares = [s.report["low_confidence"] for s in result.scenes]
    assert all(0.0 <= s <= 1.0 for s in shares)
    assert "low_confidence" in (tmp_path / "out" / "summary.csv").read_text().splitlines()[0]


def test_cli_confidence_flag_and_its_refusals(tmp_path, capsys):
    image = _image(tmp_path / "img.tif")
    model = make_bundle(tmp_path / "m.dsmodel", num_classes=1, gsd=10.0)
    code = main(["segment", "--image", image, "--model", model, "--out", str(tmp_path / "c.tif"),
                 "--confidence", str(tmp_path / "conf.tif"), "--low-confidence", "0.9", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and f"Confidence: {tmp_path / 'conf.tif'} (" in out and "below 0.9)" in out
    before = Path(image).read_bytes()
    assert main(["segment", "--image", image, "--model", model, "--out", str(tmp_path / "c2.tif"),
                 "--confidence", image, "--quiet"]) == 2  # never onto an input
    assert Path(image).read_bytes() == before
    with pytest.raises(ConfigError, match="low_confidence"):
        SegmentConfig(image=image, models=[model], output="x.tif", low_confidence=1.5)
