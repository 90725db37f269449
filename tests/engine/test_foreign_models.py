"""Models made elsewhere as other tools' own test data has them (issue 61, item 5): a graph whose batch axis is
declared dynamic but whose Reshape fixed a batch of 1, a graph with no metadata at all (run with Deepness's
defaults, every assumption said), and an RGBA orthophoto whose alpha band is its mask, not a band.

The models are per-pixel linear classifiers (tests/engine/foreign_onnx.py), so the right classes of every pixel
are known exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from engine.cli.main import main
from tests.engine.foreign_onnx import deepness_metadata, expected_classes, linear_model, write_scene
from tests.engine.foreign_onnx import read_band as read

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

MEAN, STD = [0.4, 0.5, 0.45], [0.2, 0.25, 0.3]  # a model of three classes on a small 8-bit RGB scene
CLASSES = ["background", "field", "forest"]


@pytest.fixture(scope="module")
def linear() -> tuple[np.ndarray, np.ndarray]:
    return np.random.default_rng(0).normal(size=(3, 3)), np.random.default_rng(0).normal(size=(2, 3))[1]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    raw = np.random.default_rng(1).integers(0, 256, size=(3, 90, 70)).astype(np.uint8)
    return write_scene(tmp_path_factory.mktemp("scene") / "scene.tif", raw), raw

def test_a_graph_traced_at_batch_one_runs_one_tile_at_a_time(scene, linear, tmp_path, capsys):
    image, raw = scene
    model = linear_model(tmp_path / "traced.onnx", *linear, tile=32, traced_batch=True,
                         metadata=deepness_metadata(CLASSES, MEAN, STD, tile=32))
    out = tmp_path / "classes.tif"
    assert main(["segment", "--model", str(model), "--image", str(image), "--out", str(out),
                 "--batch-size", "4"]) == 0
    assert np.array_equal(read(out), expected_classes(raw, *linear, MEAN, STD, 1 / 255))
    said = capsys.readouterr().err
    assert said.count("failed on a batch of 4 tiles") == 1  # said once, then one tile at a time
    assert "requested shape:{1,3,32,32}" in said and "run one tile at a time" in said


def test_a_graph_that_fails_on_one_tile_too_is_a_clear_error(scene, linear, tmp_path, capsys):
    import onnx
    from onnx import numpy_helper

    image, _ = scene
    model = linear_model(tmp_path / "broken.onnx", *linear, tile=32, traced_batch=True,
                         metadata=deepness_metadata(CLASSES, MEAN, STD, tile=32))
    graph = onnx.load(str(model))
    shape = next(i for i in graph.graph.initializer if i.name == "traced_shape")
    shape.CopyFrom(numpy_helper.from_array(np.array([1, 3, 33, 32], np.int64), "traced_shape"))
    onnx.save(graph, str(model))
    assert main(["segment", "--model", str(model), "--image", str(image), "--out", str(tmp_path / "c.tif"),
                 "--batch-size", "4"]) != 0
    said = capsys.readouterr().err
    assert "broken.onnx' failed on a batch of " in said and " tile(s) of 32x32 px" in said
    assert "requested shape:{1,3,33,32}" in said and "Traceback" not in said
    assert not (tmp_path / "c.tif").exists()


def deepness_classes(raw: np.ndarray, weights: np.ndarray, bias: np.ndarray, head: str, threshold: float = 0.5
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The classes Deepness gives a graph without metadata: scores of the raw values / 255, those below 0.5
    dropped, the highest left, class 0 where none is; and where a score lies within float32's reach of 0.5."""
    scores = np.tensordot(weights, raw.astype(np.float64) / 255, axes=([1], [0])) + bias[:, None, None]
    if head == "softmax":
        scores = np.exp(scores - scores.max(axis=0))
        scores /= scores.sum(axis=0)
    else:
        scores = 1 / (1 + np.exp(-scores))
    kept = np.where(scores >= threshold, scores, 0)
    return kept.argmax(axis=0).astype(np.uint8), (abs(scores - threshold) < 1e-5).any(0)


@pytest.mark.parametrize("head", ["softmax", "sigmoid"])  # sigmoid: independent scores per class
def test_a_graph_without_metadata_runs_as_deepness_runs_it(head, scene, tmp_path, capsys):
    image, raw = scene
    weights = np.array([[4.0, -2.0, -1.5], [-1.8, 4.2, -2.0], [-2.1, -1.7, 3.9]])  # no two classes tie
    bias = np.array([-0.5, -0.4, -0.6])
    model = linear_model(tmp_path / "bare.onnx", weights, bias, head=head, tile=32)
    out = tmp_path / "classes.tif"
    assert main(["segment", "--model", str(model), "--image", str(image), "--out", str(out)]) == 0
    expected, edge = deepness_classes(raw, weights, bias, head)
    assert len(np.unique(expected)) == 3 and edge.sum() < 0.01 * edge.size
    assert np.array_equal(read(out)[~edge], expected[~edge])
    said = capsys.readouterr().err
    assert said.count("carries no description") == 1
    for assumption in ("the raw values / 255 (mean 0, std 1)", "classes named by output channel: channel 0, "
                       "channel 1, channel 2", "the highest at or above 0.5, 'channel 0' where none reaches it",
                       "tiles of 32 px (fixed by the graph)", "describe it in bare.onnx.json"):
        assert assumption in said
    assert "channel 2" in (tmp_path / "classes.qml").read_text()
    assert main(["info", str(model)]) == 0  # the model summary lists the same assumptions
    summary = capsys.readouterr().out
    assert "carries no description; runs as Deepness runs such a model, assuming:" in summary
    assert "- classes named by output channel: channel 0, channel 1, channel 2" in summary
    bundle = tmp_path / "bare.dsmodel"  # imported as it is, the bundle keeps the assumptions and says them
    assert main(["import", str(model), "-o", str(bundle)]) == 0
    assert main(["info", str(bundle)]) == 0
    assert "- classes named by output channel: channel 0, channel 1, channel 2" in capsys.readouterr().out
    assert main(["segment", "--model", str(bundle), "--image", str(image), "--out", str(tmp_path / "b.tif")]) == 0
    assert "import its graph again with its description" in capsys.readouterr().err
    assert np.array_equal(read(tmp_path / "b.tif")[~edge], expected[~edge])


def test_the_runs_threshold_is_the_score_a_class_must_reach(scene, tmp_path):
    image, raw = scene
    weights = np.array([[4.0, -2.0, -1.5], [-1.8, 4.2, -2.0], [-2.1, -1.7, 3.9]])
    bias = np.array([-0.5, -0.4, -0.6])
    model = linear_model(tmp_path / "bare.onnx", weights, bias, head="sigmoid", tile=32)
    out = tmp_path / "classes.tif"
    assert main(["segment", "--model", str(model), "--image", str(image), "--out", str(out), "--threshold", "0.8"]) == 0
    expected, edge = deepness_classes(raw, weights, bias, "sigmoid", 0.8)
    assert not np.array_equal(expected, deepness_classes(raw, weights, bias, "sigmoid")[0])  # 0.8 matters here
    assert np.array_equal(read(out)[~edge], expected[~edge])


def test_a_description_beside_the_graph_still_wins(scene, tmp_path, capsys):
    image, raw = scene
    weights, bias = np.array([[4.0, -2.0, -1.5], [-1.8, 4.2, -2.0], [-2.1, -1.7, 3.9]]), np.zeros(3)
    model = linear_model(tmp_path / "bare.onnx", weights, bias, tile=32)
    (tmp_path / "bare.onnx.json").write_text('{"class_names": ["water", "grass", "roof"], "scale": 0.00392156862}')
    out = tmp_path / "classes.tif"
    assert main(["segment", "--model", str(model), "--image", str(image), "--out", str(out)]) == 0
    assert "carries no description" not in capsys.readouterr().err
    assert "roof" in (tmp_path / "classes.qml").read_text()
    assert np.array_equal(read(out), expected_classes(raw, weights, bias, [0.0] * 3, [1.0] * 3, 1 / 255))


def test_a_graph_without_metadata_that_fixes_no_band_count_is_a_clear_error(scene, tmp_path, capsys):
    import onnx

    image, _ = scene
    model = linear_model(tmp_path / "open.onnx", np.eye(3), np.zeros(3))
    graph = onnx.load(str(model))
    graph.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "bands"
    onnx.save(graph, str(model))
    assert main(["segment", "--model", str(model), "--image", str(image), "--out", str(tmp_path / "c.tif")]) != 0
    said = capsys.readouterr().err
    assert "carries no description and does not fix its band count" in said and "open.onnx.json" in said


@pytest.fixture(scope="module")
def rgba(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    """An RGBA orthophoto as an image editor writes it: three colour bands and an alpha band, transparent (0) over
    a corner and its left columns, opaque (255) elsewhere."""
    raw = np.random.default_rng(2).integers(0, 256, size=(3, 90, 70)).astype(np.uint8)
    alpha = np.full((90, 70), 255, np.uint8)
    alpha[:30, :25] = 0
    alpha[:, :3] = 0
    path = write_scene(tmp_path_factory.mktemp("rgba") / "ortho.tif", raw, alpha)
    with rasterio.open(path) as ds:
        assert ds.count == 4 and ds.colorinterp[3].name == "alpha"
    return path, raw, alpha


def test_an_rgba_photo_is_three_bands_and_its_alpha_the_mask(rgba, linear, tmp_path, capsys):
    image, raw, alpha = rgba
    model = linear_model(tmp_path / "rgb.onnx", *linear, metadata=deepness_metadata(CLASSES, MEAN, STD, tile=32))
    out = tmp_path / "classes.tif"
    assert main(["segment", "--model", str(model), "--image", str(image), "--out", str(out)]) == 0
    said = capsys.readouterr().err
    assert "band 4 is its alpha band, read as its mask (where it is valid), not as a band: 3 band(s)" in said
    classes = read(out)
    expected = expected_classes(raw, *linear, MEAN, STD, 1 / 255)
    assert np.array_equal(classes[alpha > 0], expected[alpha > 0])
    assert (classes[alpha == 0] == 255).all()  # transparent: nodata, as Deepness leaves it
    # bands picked by number keep the mask (a VRT of bands 3,2,1 carries the alpha band as its mask)
    assert main(["segment", "--model", str(model), "--image", str(image), "--out", str(tmp_path / "bgr.tif"),
                 "--bands", "3,2,1"]) == 0
    swapped = expected_classes(raw[::-1], *linear, MEAN, STD, 1 / 255)
    assert np.array_equal(read(tmp_path / "bgr.tif")[alpha > 0], swapped[alpha > 0])
    assert (read(tmp_path / "bgr.tif")[alpha == 0] == 255).all()
    assert main(["segment", "--model", str(model), "--image", str(image), "--out", str(tmp_path / "x.tif"),
                 "--bands", "1,2,4"]) != 0
    assert "band 4 of 'ortho.tif' is its alpha band, which is its mask" in capsys.readouterr().err.replace(
        str(image.parent) + "/", "")


def test_suggest_reads_an_rgba_photo_as_three_bands(rgba, linear, tmp_path, capsys):
    image, _, _ = rgba
    model = linear_model(tmp_path / "rgb.onnx", *linear, metadata=deepness_metadata(CLASSES, MEAN, STD, tile=32))
    out = tmp_path / "windows.gpkg"
    assert main(["suggest", "--model", str(model), "--image", str(image), "--count", "2", "--window", "32",
                 "--out", str(out)]) == 0
    assert out.is_file() and "alpha band" in capsys.readouterr().err


def test_training_on_an_rgba_photo_learns_three_bands(rgba, tmp_path):
    from engine.api import read_model_metadata

    image, raw, alpha = rgba
    label = write_scene(tmp_path / "label.tif", (raw[0:1] > 128).astype(np.uint8))
    bundle = tmp_path / "m.dsmodel"
    assert main(["train", "--image", str(image), "--label", str(label), "--out", str(bundle), "--preset", "tiny",
                 "--tile-size", "32", "--tiles-per-epoch", "4", "--batch-size", "2", "--epochs", "1",
                 "--warmup-epochs", "0", "--device", "cpu", "--num-workers", "0", "--quiet"]) == 0
    data = read_model_metadata(str(bundle)).data
    assert data.vision_bands == 3 and data.image_bands in (None, 3)
    assert max(data.vision_stats.to_dict().get("max", [255])) <= 255  # the alpha band's 255s are no band
    out = tmp_path / "classes.tif"
    assert main(["segment", "--model", str(bundle), "--image", str(image), "--out", str(out)]) == 0
    assert (read(out)[alpha == 0] == 255).all()


def test_label_never_takes_the_alpha_band_as_a_colour(rgba, tmp_path, capsys):
    from engine.errors import DataError
    from engine.imagery.picture import read_window

    image, raw, alpha = rgba
    window = read_window(str(image))
    assert window.rgb.shape == (90, 70, 3)
    with pytest.raises(DataError, match="band 4 of .* is its alpha band, which is its mask"):
        read_window(str(image), bands=["1", "2", "4"])
    # as a user gives it: refused before any model is fetched
    assert main(["label", "--image", str(image), "--bands", "1,2,4", "--text", "tree", "--model", "facebook/sam3",
                 "--class-value", "1", "--out", str(tmp_path / "labels.gpkg")]) == 2
    assert "band 4 of" in capsys.readouterr().err and not (tmp_path / "labels.gpkg").exists()


def test_a_fourth_band_gdal_tagged_alpha_that_holds_data_stays_a_band(tmp_path, capsys):
    """GDAL tags the 4th band of any 4-band 8-bit GeoTIFF written without options as alpha: a near-infrared band
    so tagged holds data, not a mask's 0 and 255, and stays a band (a 4-band model reads it)."""
    from engine.data.raster import band_count, open_raster

    raw = np.random.default_rng(3).integers(1, 255, size=(4, 40, 40)).astype(np.uint8)
    path = write_scene(tmp_path / "rgbn.tif", raw)
    with open_raster(path) as ds:
        assert ds.colorinterp[3].name == "alpha" and band_count(ds) == 4
    weights, bias = np.random.default_rng(4).normal(size=(3, 4)), np.zeros(3)
    model = linear_model(tmp_path / "rgbn.onnx", weights, bias,
                         metadata=deepness_metadata(CLASSES, [0.5] * 4, [0.2] * 4, tile=32))
    out = tmp_path / "classes.tif"
    assert main(["segment", "--model", str(model), "--image", str(path), "--out", str(out)]) == 0
    assert "band 4 is tagged alpha" in capsys.readouterr().err
    assert np.array_equal(read(out), expected_classes(raw, weights, bias, [0.5] * 4, [0.2] * 4, 1 / 255))
