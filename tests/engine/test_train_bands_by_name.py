"""``train --bands`` by name over images whose bands come in different orders (issue 42): each image is read by
its own band descriptions, the log says which bands of which image, and the bundle records the band names (not
the first image's numbers), so a later input is matched by name and an unnamed one is not read by numbers that
fit one training image only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from engine.api import DataError, SegmentConfig, read_model_metadata, segment
from engine.cli.main import main

LEVEL = {"blue": 500, "green": 1000, "red": 2000, "nir": 4000}  # each band its own level: a mix-up shows


def write(path: Path, raw: np.ndarray, names: list[str] | None) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=raw.shape[2], height=raw.shape[1], count=raw.shape[0],
                       dtype=raw.dtype.name, crs="EPSG:32633", transform=from_origin(500000, 6000000, 10, 10)) as ds:
        ds.write(raw)
        for band, name in enumerate(names or [], 1):
            ds.set_band_description(band, name)
    return path


def scene(folder: Path, name: str, order: list[str], seed: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    raw = np.stack([LEVEL[b] + rng.integers(0, 50, (64, 64)) for b in order]).astype(np.uint16)
    raw[order.index("red"), 10:40, 10:40] += 3000  # a bright red square is the class
    label = np.zeros((1, 64, 64), np.uint8)
    label[0, 10:40, 10:40] = 1
    return write(folder / f"{name}.tif", raw, order), write(folder / f"{name}_label.tif", label, None)


def test_each_training_image_is_read_by_its_own_band_names_and_the_bundle_records_names(tmp_path, capsys):
    image_a, label_a = scene(tmp_path, "a", ["blue", "green", "red", "nir"], 1)
    image_b, label_b = scene(tmp_path, "b", ["nir", "red", "green", "blue"], 2)
    bundle = tmp_path / "m.dsmodel"
    assert main(["train", "--image", str(image_a), "--label", str(label_a), "--image", str(image_b), "--label",
                 str(label_b), "--bands", "red,green,nir", "--out", str(bundle), "--preset", "tiny", "--model", "unet",
                 "--tile-size", "32", "--tiles-per-epoch", "4", "--batch-size", "4", "--epochs", "1",
                 "--warmup-epochs", "0", "--device", "cpu", "--num-workers", "0", "--preview-tiles", "0"]) == 0
    err = capsys.readouterr().err
    assert ("Bands by name (red, green, nir), each image by its own band descriptions: 'a.tif' bands 3,2,4; "
            "'b.tif' bands 2,3,1.") in err, err
    data = read_model_metadata(str(bundle)).data
    assert data.band_names == ["red", "green", "nir"] and data.bands is None and data.image_bands == 3
    # the statistics per model band stay at that band's level: b.tif read by a.tif's numbers 3,2,4 would put its
    # green (1000) under red and its blue (500) under nir
    low, high = np.asarray(data.vision_stats.low), np.asarray(data.vision_stats.high)
    assert low[0] >= LEVEL["red"] and high[1] < LEVEL["red"] and low[1] >= LEVEL["green"] and low[2] >= LEVEL["nir"]
    # a later input is matched by name, whatever its order; the same pixels in either order give the same classes
    for image in (image_a, image_b):
        assert main(["segment", "--model", str(bundle), "--image", str(image), "--out",
                     str(tmp_path / f"{image.stem}_classes.tif")]) == 0
    assert "red <- band 2 'red', green <- band 3 'green', nir <- band 1 'nir'" in capsys.readouterr().err
    with rasterio.open(image_b) as ds:
        reordered = write(tmp_path / "b_as_a.tif", ds.read([4, 3, 2, 1]), ["blue", "green", "red", "nir"])
    segment(SegmentConfig(image=str(reordered), models=[str(bundle)], output=str(tmp_path / "b_as_a_classes.tif")))
    with rasterio.open(tmp_path / "b_classes.tif") as one, rasterio.open(tmp_path / "b_as_a_classes.tif") as two:
        assert np.array_equal(one.read(1), two.read(1))
    # an unnamed 4-band input: no numbers to read it by, so the run stops and says how to give the bands
    unnamed = write(tmp_path / "unnamed.tif", np.full((4, 64, 64), 1000, np.uint16), None)
    with pytest.raises(DataError, match=r"takes 3 \(red, green, nir, in this order\); give the bands in"):
        segment(SegmentConfig(image=str(unnamed), models=[str(bundle)], output=str(tmp_path / "u.tif")))
