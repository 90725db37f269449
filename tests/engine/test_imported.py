"""Models made elsewhere: ONNX models in Deepness's format (built here, not by our export) and undescribed ones
given their description, run directly and imported into bundles, with every output, in bulk and evaluated.

The models are per-pixel linear classifiers (tests/engine/foreign_onnx.py), so the right classes of every pixel
are known exactly: a wrong scaling, band order, layout, activation or tiling changes them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from engine.api import BundleError, ConfigError, ImportedDescription, describe_model, import_model
from engine.cli.main import main
from tests.engine.foreign_onnx import deepness_metadata, expected_classes, linear_model, write_scene
from tests.engine.foreign_onnx import read_band as read

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

MEAN, STD = [0.4, 0.5, 0.45], [0.2, 0.25, 0.3]
CLASSES = ["background", "field", "forest"]


@pytest.fixture(scope="module")
def linear() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(3, 3)), rng.normal(size=3)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    raw = np.random.default_rng(1).integers(0, 256, size=(3, 150, 130)).astype(np.uint8)
    return write_scene(tmp_path_factory.mktemp("scene") / "scene.tif", raw), raw


@pytest.fixture(scope="module")
def deepness_model(tmp_path_factory: pytest.TempPathFactory, linear) -> Path:
    """A Deepness-format model: dynamic size, softmax output, Deepness's standardisation of raw / 255."""
    return linear_model(tmp_path_factory.mktemp("zoo") / "landcover.onnx", *linear,
                        metadata=deepness_metadata(CLASSES, MEAN, STD, tile=64))


def test_a_deepness_model_runs_as_it_is_with_every_output(deepness_model, scene, linear, tmp_path):
    image, raw = scene
    out = tmp_path / "classes.tif"
    code = main(["segment", "--model", str(deepness_model), "--image", str(image), "--out", str(out),
                 "--probabilities", str(tmp_path / "p.tif"), "--confidence", str(tmp_path / "c.tif"),
                 "--polygons", str(tmp_path / "p.gpkg")])
    assert code == 0
    expected = expected_classes(raw, *linear, MEAN, STD, 1 / 255)
    assert len(np.unique(expected)) == 3  # the scene exercises every class
    assert np.array_equal(read(out), expected)  # Deepness's scaling, per pixel, across 64-px tiles
    with rasterio.open(out) as ds:
        assert [ds.descriptions[0]] and ds.colormap(1)[1][:3] != ds.colormap(1)[0][:3]  # styled with a palette
    assert (tmp_path / "classes.qml").read_text().count("background") == 1
    with rasterio.open(tmp_path / "p.tif") as ds:
        probs = ds.read()
    assert probs.shape[0] == 3 and np.allclose(probs.sum(axis=0), 1, atol=1e-4)
    assert np.array_equal(probs.argmax(axis=0), expected)
    assert np.allclose(read(tmp_path / "c.tif"), probs.max(axis=0), atol=1e-4)
    assert (tmp_path / "p.gpkg").is_file()


def test_import_wraps_it_in_a_bundle_that_segments_and_evaluates_alike(deepness_model, scene, linear, tmp_path,
                                                                       capsys):
    image, raw = scene
    bundle = tmp_path / "landcover.dsmodel"
    assert main(["import", str(deepness_model), "-o", str(bundle), "--band-names", "R,G,B", "--licence",
                 "CC-BY-4.0"]) == 0
    said = capsys.readouterr().out
    assert "3 bands in this order: R, G, B" in said and "licence CC-BY-4.0" in said
    out = tmp_path / "classes.tif"
    assert main(["segment", "--model", str(bundle), "--image", str(image), "--out", str(out)]) == 0
    expected = expected_classes(raw, *linear, MEAN, STD, 1 / 255)
    assert np.array_equal(read(out), expected)
    label = write_scene(tmp_path / "label.tif", expected[None].astype(np.uint8))
    assert main(["evaluate", "--pred", str(out), "--label", str(label), "--out", str(tmp_path / "m.json")]) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["pixel_accuracy"] == pytest.approx(1.0)


def test_bulk_runs_an_imported_model_over_many_scenes(deepness_model, linear, tmp_path):
    bundle = import_model(str(deepness_model), str(tmp_path / "m.dsmodel")).path
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    raws = {}
    for i in range(2):
        raws[f"s{i}"] = np.random.default_rng(10 + i).integers(0, 256, size=(3, 80, 90)).astype(np.uint8)
        write_scene(scenes / f"s{i}.tif", raws[f"s{i}"])
    assert main(["segment", "--model", bundle, "--images", str(scenes / "*.tif"), "--out-dir",
                 str(tmp_path / "out"), "--with-confidence"]) == 0
    for name, raw in raws.items():
        assert np.array_equal(read(tmp_path / "out" / f"{name}.tif"), expected_classes(raw, *linear, MEAN, STD,
                                                                                          1 / 255))
        assert (tmp_path / "out" / f"{name}_confidence.tif").is_file()


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_an_undescribed_model_runs_with_its_description_given(layout, scene, linear, tmp_path):
    """No metadata at all: logits, a fixed 32-px tile and batch of 1, reflectance scaling; described by flags."""
    image, raw = scene
    onnx = linear_model(tmp_path / "bare.onnx", *linear, head="none", layout=layout, tile=32, batch=1)
    with pytest.raises(BundleError, match="seems to give logits" if layout == "NCHW" else "looks like .* NHWC"):
        import_model(str(onnx), str(tmp_path / "no.dsmodel"))  # Deepness's defaults: scores 0..1, NCHW
    assert not (tmp_path / "no.dsmodel").exists()
    mean, std = [10.0, 20.0, 30.0], [40.0, 50.0, 60.0]
    bundle = tmp_path / "bare.dsmodel"
    assert main(["import", str(onnx), "-o", str(bundle), "--classes", ",".join(CLASSES), "--mean",
                 ",".join(map(str, mean)), "--std", ",".join(map(str, std)), "--scale", "0.5", "--scores", "logits",
                 "--layout", layout]) == 0
    out = tmp_path / "classes.tif"
    assert main(["segment", "--model", str(bundle), "--image", str(image), "--out", str(out), "--probabilities",
                 str(tmp_path / "p.tif")]) == 0
    assert np.array_equal(read(out), expected_classes(raw, *linear, mean, std, 0.5))
    with rasterio.open(tmp_path / "p.tif") as ds:  # logits became probabilities
        assert np.allclose(ds.read().sum(axis=0), 1, atol=1e-4)
    with pytest.raises(ConfigError, match="takes tiles of 32 px"):
        from engine.api import SegmentConfig, segment

        segment(SegmentConfig(image=str(image), models=[str(bundle)], output=str(tmp_path / "o.tif"), tile_size=64))


def test_a_sidecar_file_describes_a_model(scene, linear, tmp_path):
    image, raw = scene
    onnx = linear_model(tmp_path / "bare.onnx", *linear)
    (tmp_path / "bare.json").write_text(json.dumps({"class_names": CLASSES, "mean": MEAN, "std": STD,
                                                    "scale": 1 / 255}))
    out = tmp_path / "classes.tif"
    assert main(["segment", "--model", str(onnx), "--image", str(image), "--out", str(out)]) == 0
    assert np.array_equal(read(out), expected_classes(raw, *linear, MEAN, STD, 1 / 255))


def test_a_one_channel_sigmoid_model_gets_background_and_its_class(scene, tmp_path):
    image, raw = scene
    weights, bias = np.array([[1.0, -1.0, 0.5]]), np.array([0.1])
    onnx = linear_model(tmp_path / "buildings.onnx", weights, bias, head="sigmoid", squeeze=True,
                        metadata=deepness_metadata(["building"], seg_thresh=0.5))
    lines = describe_model(str(onnx))
    classes = next(line for line in lines if line.startswith("  classes: "))
    assert "0 background" in classes and "1 building" in classes
    out = tmp_path / "classes.tif"
    assert main(["segment", "--model", str(onnx), "--image", str(image), "--out", str(out)]) == 0
    assert np.array_equal(read(out), expected_classes(raw, weights, bias, [0, 0, 0], [1, 1, 1], 1 / 255))


def test_a_description_that_does_not_fit_the_graph_is_refused(deepness_model, linear, tmp_path):
    with pytest.raises(ConfigError, match="takes 3 band"):
        import_model(str(deepness_model), str(tmp_path / "a.dsmodel"), changes={"bands": 4, "mean": [0] * 4,
                                                                               "std": [1] * 4})
    with pytest.raises(ConfigError, match="so 3 class names are needed"):
        import_model(str(deepness_model), str(tmp_path / "b.dsmodel"), changes={"class_names": ["a", "b"]})
    with pytest.raises(ConfigError, match="unknown key"):
        import_model(str(deepness_model), str(tmp_path / "c.dsmodel"), changes={"colour": "red"})
    description = ImportedDescription(bands=3, class_names=CLASSES, mean=MEAN, std=[0.2, 0.0, 0.3])
    with pytest.raises(ConfigError, match=r"`std` must be a list of finite numbers > 0 \(item 1, 0.0"):
        import_model(str(deepness_model), str(tmp_path / "d.dsmodel"), description)
    assert not list(tmp_path.glob("*.dsmodel"))


def test_an_imported_bundle_is_checked_like_ours(deepness_model, scene, tmp_path):
    image, _ = scene
    bundle = Path(import_model(str(deepness_model), str(tmp_path / "m.dsmodel")).path)
    data = bytearray(bundle.read_bytes())
    edited = tmp_path / "edited.dsmodel"  # a class renamed in the description
    edited.write_bytes(bytes(data).replace(b'forest', b'forzzt', 1))  # the header comes first
    with pytest.raises(BundleError, match="does not match its checksum"):
        describe_model(str(edited))
    damaged = tmp_path / "damaged.dsmodel"  # one byte of the graph changed
    data[-20] ^= 0xFF
    damaged.write_bytes(bytes(data))
    code = main(["segment", "--model", str(damaged), "--image", str(image), "--out", str(tmp_path / "o.tif")])
    assert code == 2 and not (tmp_path / "o.tif").exists()
    with pytest.raises(ConfigError, match="torch cannot run"):
        from engine.api import SegmentConfig, segment

        segment(SegmentConfig(image=str(image), models=[str(bundle)], output=str(tmp_path / "t.tif"),
                              backend="torch"))


def test_our_own_export_imports_through_its_deepness_metadata(tmp_path):
    """An ONNX model exported by DualStream and imported again gives the classes its bundle gives."""
    from engine.export.onnx_export import export_onnx
    from tests.helpers import make_bundle

    bundle = make_bundle(tmp_path / "ours.dsmodel", vision_bands=3, num_classes=3, tile=64, vision_high=255.0)
    export_onnx(bundle, tmp_path / "ours.onnx")
    imported = import_model(str(tmp_path / "ours.onnx"), str(tmp_path / "again.dsmodel")).path
    raw = np.random.default_rng(3).integers(0, 256, size=(3, 100, 90)).astype(np.uint8)
    image = write_scene(tmp_path / "scene.tif", raw)
    for model, out in ((bundle, "bundle.tif"), (imported, "imported.tif")):
        assert main(["segment", "--model", model, "--image", str(image), "--out", str(tmp_path / out),
                     "--backend", "onnxruntime"]) == 0
    agree = (read(tmp_path / "bundle.tif") == read(tmp_path / "imported.tif")).mean()
    assert agree > 0.999, agree


def test_the_model_card_of_an_imported_model_says_what_it_is(deepness_model, tmp_path, mlm_errors):
    from engine.export.stac import model_card

    bundle = import_model(str(deepness_model), str(tmp_path / "m.dsmodel"),
                          changes={"band_names": ["R", "G", "B"], "name": "linear land cover"}).path
    card = model_card(bundle)
    assert mlm_errors(card) == []
    properties = card["properties"]
    assert properties["mlm:framework"] == "onnx" and properties["mlm:architecture"] == "linear land cover"
    assert properties["mlm:total_parameters"] == 12  # the 3x3 weights and 3 biases of the graph
    assert properties["mlm:input"][0]["bands"] == ["R", "G", "B"]
    assert "imported" in properties["description"]


def test_a_graph_that_fixes_its_bands_needs_only_its_classes(scene, linear, tmp_path):
    """The band count comes from the graph's input when it fixes it; mean 0 and std 1 then scale the raw values."""
    image, raw = scene
    onnx = linear_model(tmp_path / "bare.onnx", *linear, tile=32)
    bundle = import_model(str(onnx), str(tmp_path / "bare.dsmodel"), changes={"class_names": CLASSES,
                                                                              "scale": 0.01}).path
    out = tmp_path / "classes.tif"
    assert main(["segment", "--model", bundle, "--image", str(image), "--out", str(out)]) == 0
    assert np.array_equal(read(out), expected_classes(raw, *linear, [0, 0, 0], [1, 1, 1], 0.01))
    dynamic = linear_model(tmp_path / "dynamic.onnx", *linear)  # its band axis is fixed too: 3
    assert import_model(str(dynamic), str(tmp_path / "d.dsmodel"),
                        changes={"class_names": CLASSES}).metadata.data.vision_bands == 3
