"""Evaluation: hand-built confusion matrix, label on another grid / as polygons, Dice and the RLE CSV."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import rasterio
from affine import Affine
from osgeo import ogr, osr

from engine.config import EvaluateConfig
from engine.errors import AlignmentError, DataError
from engine.evaluate import RunLengthEncoder, evaluate
from engine.io.prediction_tags import prediction_tags
from engine.io.writers import GeoTiffStreamWriter, set_palette
from tests.helpers import RecordingCallback


def rle_encode(mask: np.ndarray) -> str:
    """Run-length encoding of a whole (h, w) binary mask: row-major, 1-indexed, "-1" when empty."""
    encoder = RunLengthEncoder()
    encoder.update(mask)
    return encoder.finish()


def rle_decode(text: str, shape: tuple[int, int]) -> np.ndarray:
    """The mask a run-length text stands for (the inverse of ``rle_encode``)."""
    out = np.zeros(shape[0] * shape[1], dtype=bool)
    values = [int(v) for v in text.split()]
    if values != [-1]:
        for start, length in zip(values[::2], values[1::2]):
            out[start - 1:start - 1 + length] = True
    return out.reshape(shape)


T = Affine(2, 0, 300000, 0, -2, 4100000)


def _pred(path, array, names=("background", "building"), label_mapping=None, crs="EPSG:32652", transform=T):
    writer = GeoTiffStreamWriter(path, width=array.shape[1], height=array.shape[0], count=1, dtype="uint8",
                                 crs=crs, transform=transform, nodata=255)
    writer.write_rows(0, array[None])
    colors = ["#000000", "#ff0000", "#00ff00"][:len(names)]
    writer.finalize(category_names=list(names), describe=lambda band: set_palette(band, list(names), colors),
                    metadata=prediction_tags(names, colors, label_mapping) if label_mapping is not None else None)
    writer.commit()
    return str(path)


def _label(path, array, transform=T, crs="EPSG:32652", nodata=None):
    with rasterio.open(path, "w", driver="GTiff", width=array.shape[1], height=array.shape[0], count=1,
                       dtype=array.dtype, crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(array[None])
    return str(path)


def test_rle_row_major_one_indexed_and_streaming():
    mask = np.array([[0, 1, 1, 0], [0, 0, 0, 1], [1, 1, 0, 0]], bool)
    assert rle_encode(mask) == "2 2 8 3"  # row-major: pixel 8 (row 1, col 3) runs into row 2
    assert rle_encode(np.zeros((3, 3), bool)) == "-1"
    rng = np.random.default_rng(0)
    for _ in range(20):
        m = rng.random((rng.integers(1, 12), rng.integers(1, 9))) > 0.5
        encoder = RunLengthEncoder()
        cuts = sorted(set(rng.integers(0, m.shape[0] + 1, 3).tolist() + [0, m.shape[0]]))
        for a, b in zip(cuts, cuts[1:]):
            encoder.update(m[a:b])
        text = encoder.finish()
        assert text == rle_encode(m)
        np.testing.assert_array_equal(rle_decode(text, m.shape), m)


def test_hand_built_confusion_matrix(tmp_path):
    pred = np.array([[0, 0, 1, 1], [0, 1, 1, 1], [0, 0, 0, 255], [1, 1, 0, 0]], np.uint8)
    truth = np.array([[0, 1, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 9, 0]], np.uint8)  # 9 = label nodata
    p = _pred(tmp_path / "pred.tif", pred)
    lab = _label(tmp_path / "label.tif", truth, nodata=9)
    out = tmp_path / "m.json"
    metrics = evaluate(EvaluateConfig(prediction=p, label=lab, output=str(out), per_image_dice=True,
                                      rle_csv=str(tmp_path / "rle.csv")))
    # compared pixels: 16 - pred nodata (2,3) - label nodata (3,2) = 14; by hand (truth, pred):
    # TN (0,0) x5, FP (0,1) at (1,1), FN (1,0) at (0,1) and (2,2), TP x6
    assert metrics["confusion_matrix"] == [[5, 1], [2, 6]]
    assert metrics["iou"][1] == pytest.approx(6 / 9) and metrics["iou"][0] == pytest.approx(5 / 8)
    assert metrics["miou"] == pytest.approx((6 / 9 + 5 / 8) / 2)
    assert metrics["pixel_accuracy"] == pytest.approx(11 / 14)
    assert metrics["precision"][1] == pytest.approx(6 / 7) and metrics["recall"][1] == pytest.approx(6 / 8)
    assert metrics["f1"][1] == pytest.approx(12 / 15) and metrics["dice"] == pytest.approx(12 / 15)
    assert metrics["class_names"] == ["background", "building"]
    assert json.loads(out.read_text())["miou"] == pytest.approx(metrics["miou"])
    rows = list(csv.DictReader(open(tmp_path / "m.csv")))
    assert rows[1]["class_name"] == "building" and float(rows[1]["iou"]) == pytest.approx(6 / 9)
    assert (tmp_path / "m_confusion.csv").read_text().splitlines()[1] == "truth background,5,1"
    rle = list(csv.reader(open(tmp_path / "rle.csv")))
    assert rle == [["ImageId", "EncodedPixels"], ["pred", "3 2 6 3 13 2"]]


def test_label_on_another_grid_and_as_polygons(tmp_path):
    pred = np.zeros((40, 40), np.uint8)
    pred[10:30, 5:25] = 1
    p = _pred(tmp_path / "pred.tif", pred)
    # label at 1 m (twice as fine), shifted origin, raw value 90 = class 1
    fine = np.zeros((100, 100), np.uint8)
    fine[20 + 20:20 + 60, 10 + 10:10 + 50] = 90
    lab = _label(tmp_path / "fine.tif", fine, transform=Affine(1, 0, 300000 - 10, 0, -1, 4100000 + 20))
    m = evaluate(EvaluateConfig(prediction=p, label=lab, output=str(tmp_path / "a.json"), label_mapping={"90": 1}))
    assert m["iou"][1] == pytest.approx(1.0) and m["pixels"] == 40 * 40
    # the same square as a polygon in EPSG:4326
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    utm = osr.SpatialReference()
    utm.ImportFromEPSG(32652)
    utm.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp_path / "lab.gpkg"))
    layer = ds.CreateLayer("lab", srs=srs, geom_type=ogr.wkbPolygon)
    x0, y0 = 300000 + 5 * 2, 4100000 - 10 * 2
    ring = f"POLYGON(({x0} {y0},{x0 + 40} {y0},{x0 + 40} {y0 - 40},{x0} {y0 - 40},{x0} {y0}))"
    geom = ogr.CreateGeometryFromWkt(ring)
    geom.Transform(osr.CoordinateTransformation(utm, srs))
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(geom)
    layer.CreateFeature(feature)
    ds = None
    m = evaluate(EvaluateConfig(prediction=p, label=str(tmp_path / "lab.gpkg"), output=str(tmp_path / "b.json")))
    assert m["iou"][1] > 0.95


def test_folders_pair_by_name_and_dice_excludes_empty(tmp_path):
    (tmp_path / "pred").mkdir()
    (tmp_path / "lab").mkdir()
    a = np.zeros((8, 8), np.uint8)
    a[:4] = 1
    _pred(tmp_path / "pred" / "x1.tif", a)
    _label(tmp_path / "lab" / "x1.tif", a)
    _pred(tmp_path / "pred" / "x2.tif", np.zeros((8, 8), np.uint8))
    _label(tmp_path / "lab" / "x2.tif", np.zeros((8, 8), np.uint8))
    m = evaluate(EvaluateConfig(prediction=str(tmp_path / "pred"), label=str(tmp_path / "lab"),
                                output=str(tmp_path / "m.json"), per_image_dice=True))
    assert m["images"] == 2 and m["dice"] == 1.0 and m["dice_images_empty_excluded"] == 1
    _pred(tmp_path / "pred" / "x3.tif", a)
    with pytest.raises(DataError, match="x3"):
        evaluate(EvaluateConfig(prediction=str(tmp_path / "pred"), label=str(tmp_path / "lab"),
                                output=str(tmp_path / "m.json")))


def test_per_image_dice_excludes_images_empty_in_both(tmp_path):
    """Per image 2|P&T| / (|P| + |T|) over the labelled pixels; an image empty in both is left out of the mean,
    which is None when every image is."""
    for folder in ("pred", "lab", "empty_pred", "empty_lab"):
        (tmp_path / folder).mkdir()
    truth, pred = np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8)
    truth[:4], truth[6:] = 1, 9  # 9: the label's nodata, not counted
    pred[:2], pred[6:] = 1, 1  # 2 * 16 / (16 + 32), the unlabelled rows aside
    _pred(tmp_path / "pred" / "x1.tif", pred)
    _label(tmp_path / "lab" / "x1.tif", truth, nodata=9)
    _pred(tmp_path / "pred" / "x2.tif", pred)  # truth empty, prediction not: Dice 0
    _label(tmp_path / "lab" / "x2.tif", np.zeros((8, 8), np.uint8))
    for folder in ("", "empty_"):  # both empty: left out
        _pred(tmp_path / f"{folder}pred" / "x3.tif", np.zeros((8, 8), np.uint8))
        _label(tmp_path / f"{folder}lab" / "x3.tif", np.zeros((8, 8), np.uint8))
    m = evaluate(EvaluateConfig(prediction=str(tmp_path / "pred"), label=str(tmp_path / "lab"),
                                output=str(tmp_path / "m.json"), per_image_dice=True))
    assert [r["dice"] for r in m["per_image"]] == [pytest.approx(2 / 3), 0.0, None]
    assert m["dice"] == pytest.approx((2 / 3 + 0.0) / 2)
    assert (m["dice_images"], m["dice_images_empty_excluded"]) == (2, 1)
    m = evaluate(EvaluateConfig(prediction=str(tmp_path / "empty_pred"), label=str(tmp_path / "empty_lab"),
                                output=str(tmp_path / "e.json"), per_image_dice=True))
    assert m["dice"] is None and m["dice_images"] == 0


def test_labels_outside_classes_and_no_overlap_are_errors(tmp_path):
    p = _pred(tmp_path / "pred.tif", np.zeros((8, 8), np.uint8))
    lab = _label(tmp_path / "l.tif", np.full((8, 8), 90, np.uint8))
    with pytest.raises(DataError, match="90"):
        evaluate(EvaluateConfig(prediction=p, label=lab, output=str(tmp_path / "m.json")))
    far = _label(tmp_path / "far.tif", np.zeros((8, 8), np.uint8), transform=Affine(2, 0, 0, 0, -2, 0))
    with pytest.raises(DataError, match="far.tif"):
        evaluate(EvaluateConfig(prediction=p, label=far, output=str(tmp_path / "m.json")))


def test_mapping_that_maps_nothing_present_is_an_error_not_a_silent_score(tmp_path):
    """The issue's case: a 0/1 class raster scored against itself with the reference mapping 90=1 scored
    mIoU 0.30 without a word; now it is an error that says which mapping to give."""
    classes = np.zeros((16, 16), np.uint8)
    classes[4:12, 4:12] = 1
    p = _pred(tmp_path / "pred.tif", classes)
    with pytest.raises(DataError, match="None of the values.*90.*label_mapping"):
        evaluate(EvaluateConfig(prediction=p, label=p, output=str(tmp_path / "m.json"), label_mapping={"90": 1}))
    assert evaluate(EvaluateConfig(prediction=p, label=p, output=str(tmp_path / "m.json")))["miou"] == 1.0


def test_mapping_and_classes_come_from_the_prediction(tmp_path):
    classes = np.zeros((16, 16), np.uint8)
    classes[4:12, 4:12] = 1
    p = _pred(tmp_path / "pred.tif", classes, names=("ground", "roof"), label_mapping={"90": 1})
    lab = _label(tmp_path / "raw.tif", (classes * 90).astype(np.uint8))
    log = RecordingCallback()
    m = evaluate(EvaluateConfig(prediction=p, label=lab, output=str(tmp_path / "m.json")), log)
    assert m["miou"] == 1.0 and m["class_names"] == ["ground", "roof"]
    assert any("90 -> 1 taken from the prediction" in line for line in log.messages("info")), log.events


def test_empty_mapping_scores_class_numbers_even_when_the_prediction_carries_one(tmp_path):
    """0/1 labels against a prediction carrying 90 -> 1: the carried mapping stops with advice to score the values
    as class numbers, and an empty mapping (QGIS: Label values 'class numbers') does exactly that."""
    classes = np.zeros((16, 16), np.uint8)
    classes[4:12, 4:12] = 1
    p = _pred(tmp_path / "pred.tif", classes, label_mapping={"90": 1})
    with pytest.raises(DataError, match="None of the values.*as class numbers.*Label values 'class numbers'"):
        evaluate(EvaluateConfig(prediction=p, label=p, output=str(tmp_path / "m.json")))
    log = RecordingCallback()
    m = evaluate(EvaluateConfig(prediction=p, label=p, output=str(tmp_path / "m.json"), label_mapping={}), log)
    assert m["miou"] == 1.0
    assert not any("taken from the prediction" in line for line in log.messages("info"))


def test_label_values_that_are_not_classes_point_at_the_mapping(tmp_path):
    p = _pred(tmp_path / "pred.tif", np.zeros((8, 8), np.uint8))
    raw = np.zeros((8, 8), np.uint8)
    raw[:4] = 17
    lab = _label(tmp_path / "raw.tif", raw)
    with pytest.raises(DataError, match=r"values \[17\].*label_mapping.*17=1"):
        evaluate(EvaluateConfig(prediction=p, label=lab, output=str(tmp_path / "m.json")))


def test_a_mask_of_0_and_255_scores_255_as_class_1_as_training_reads_it(tmp_path):
    """A 0/255 mask (LEVIR-CD, WHU, Inria) against a prediction carrying no mapping: 255 is also the ignore index,
    so read as class numbers every labelled change would drop out of the score (class 1 IoU 0, silently). The
    training label scan's codings apply: 255 is class 1, said; 0, 1 and 255 keep 255 unlabelled."""
    classes = np.zeros((16, 16), np.uint8)
    classes[4:12, 4:12] = 1
    p = _pred(tmp_path / "pred.tif", classes, names=("no change", "change"))
    lab = _label(tmp_path / "mask.tif", (classes * 255).astype(np.uint8))
    log = RecordingCallback()
    m = evaluate(EvaluateConfig(prediction=p, label=lab, output=str(tmp_path / "m.json")), log)
    assert m["miou"] == 1.0 and m["pixels"] == 256 and m["change"]["f1"] == 1.0
    assert any("are 0 and 255" in line and "255 is class 1 ('change')" in line for line in log.messages("info"))
    void = (classes * 255).astype(np.uint8)
    void[0, :4] = 1  # class 1 present: the values are classes, 255 unlabelled
    lab = _label(tmp_path / "void.tif", void)
    m = evaluate(EvaluateConfig(prediction=p, label=lab, output=str(tmp_path / "m2.json")))
    assert m["pixels"] == 256 - 64


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_prediction_without_georeferencing_warns_about_its_label_only(tmp_path):
    """38-Cloud: a prediction of an image without georeferencing has none either; the one warning says what that
    means for the evaluation (the label taken pixel for pixel), nothing about aux rasters that evaluation never
    reads, and names the file as the prediction."""
    pred = np.zeros((6, 8), np.uint8)
    pred[:, :4] = 1
    truth = np.zeros((6, 8), np.uint8)
    truth[:3] = 1
    p = _pred(tmp_path / "pred.tif", pred, crs=None, transform=Affine.identity())
    lab = _label(tmp_path / "gt.tif", truth, transform=Affine.identity(), crs=None)
    log = RecordingCallback()
    metrics = evaluate(EvaluateConfig(prediction=p, label=lab, output=str(tmp_path / "m.json")), log)
    assert metrics["confusion_matrix"] == [[12, 12], [12, 12]]  # compared pixel for pixel
    warnings = [w for w in log.messages("warning") if "georeferencing" in w]
    assert warnings == [f"The prediction '{p}' has no georeferencing (no CRS, no geotransform): working in pixel "
                        f"space; the label '{lab}' is taken pixel for pixel, so it must cover the same area at the "
                        f"same size (8x6 px)."], log.events
    assert not any("aux" in w for w in log.messages("warning")), log.events

    other = _label(tmp_path / "small.tif", truth[:4], transform=Affine.identity(), crs=None)
    with pytest.raises(AlignmentError, match=r"small\.tif' \(8x4\) and the prediction '.*pred\.tif' \(8x6\)"):
        evaluate(EvaluateConfig(prediction=p, label=other, output=str(tmp_path / "m2.json")), RecordingCallback())


def test_label_class_never_predicted_is_a_warning(tmp_path):
    p = _pred(tmp_path / "pred.tif", np.zeros((8, 8), np.uint8))
    truth = np.zeros((8, 8), np.uint8)
    truth[:2] = 1
    log = RecordingCallback()
    evaluate(EvaluateConfig(prediction=p, label=_label(tmp_path / "t.tif", truth), output=str(tmp_path / "m.json")),
             log)
    assert any("Class 1 (building) occurs in the label (16 px) but never in the prediction" in line
               for line in log.messages("warning")), log.events


def test_evaluate_without_out_prints_the_figures_and_writes_no_file(tmp_path, monkeypatch, capsys):
    """Issue 79, item 9: ``evaluate`` without ``--out`` wrote metrics.json, metrics.csv and metrics_confusion.csv
    into the working folder, unasked. Now it prints the figures, writes nothing and says how to keep them; with
    ``--out`` it writes the three files there and names them."""
    from engine.cli.main import main

    pred = np.array([[0, 0, 1, 1], [0, 1, 1, 1]], np.uint8)
    truth = np.array([[0, 1, 1, 1], [0, 0, 1, 1]], np.uint8)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    p, lab = _pred(inputs / "pred.tif", pred), _label(inputs / "label.tif", truth)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    before = sorted(inputs.iterdir())
    assert main(["evaluate", "--pred", p, "--label", lab, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "building: IoU 0.6667, F1 0.8000" in out and "mIoU " in out, out
    assert "No metrics file written; give --out metrics.json to keep them" in out
    assert list(work.iterdir()) == [] and sorted(inputs.iterdir()) == before  # nothing here, nothing beside

    assert main(["evaluate", "--pred", p, "--label", lab, "--quiet", "--out", str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out
    written = [str(tmp_path / n) for n in ("m.json", "m.csv", "m_confusion.csv")]
    assert f"Metrics written: {', '.join(written)}" in out, out
    assert json.loads((tmp_path / "m.json").read_text())["iou"][1] == pytest.approx(4 / 6)
    assert list(work.iterdir()) == []
