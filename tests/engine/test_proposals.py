"""The labelling loop closed: ``propose`` (the model's blobs in suggested windows, refined by a tiny random-weight
Segment Anything of the real layout) and ``accept`` (the checked windows into the labels and the labelled area).
With random weights a mask's content is arbitrary: these check geometry, CRS, ids and the plumbing, not quality."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli.main import main
from engine.data import synthetic
from tests.engine.prompted_models import save_tiny
from tests.helpers import make_bundle

pytest.importorskip("torch")


def _features(path: Path | str) -> list[dict]:
    from osgeo import ogr

    data = ogr.Open(str(path))
    layer = data.GetLayer(0)
    definition = layer.GetLayerDefn()
    names = [definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())]
    rows = [{**{n: f.GetField(n) for n in names}, "wkt": f.GetGeometryRef().ExportToWkt()} for f in layer]
    return rows


def _same_shape(a: str, b: str) -> bool:
    from osgeo import ogr

    one, two = ogr.CreateGeometryFromWkt(a), ogr.CreateGeometryFromWkt(b)
    return one.SymDifference(two).GetArea() < 1e-6 * max(one.GetArea(), 1.0)


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One round: a scene, a seeded tiny bundle, suggest's windows, a tiny SAM 2 and its proposals."""
    root = tmp_path_factory.mktemp("loop")
    scene = synthetic.make_scene(root, "scene", size=(128, 128), seed=1, aux_channels=0)
    model = make_bundle(root / "m.dsmodel", vision_bands=4, num_classes=2, class_names=["other", "field"], seed=5)
    sam = save_tiny("sam2", root / "sam2")
    windows = root / "windows.gpkg"
    assert main(["suggest", "--model", model, "--image", scene["image"], "--count", "3", "--window", "48", "--tta",
                 "none", "--device", "cpu", "--backend", "torch", "--out", str(windows), "--quiet"]) == 0
    proposals = root / "proposals.gpkg"
    assert main(["propose", "--windows", str(windows), "--model", model, "--sam", str(sam), "--device", "cpu",
                 "--backend", "torch", "--min-pixels", "4", "--out", str(proposals), "--quiet"]) == 0
    return {"root": root, "scene": scene, "model": model, "sam": sam, "windows": windows, "proposals": proposals}


def test_proposals_lie_inside_their_windows_in_the_image_crs_in_one_layer(loop, capsys):
    import rasterio
    from osgeo import ogr, osr

    data = ogr.Open(str(loop["proposals"]))
    assert data.GetLayerCount() == 1
    ref = data.GetLayer(0).GetSpatialRef()
    with rasterio.open(loop["scene"]["image"]) as image:
        assert ref.IsSame(osr.SpatialReference(wkt=image.crs.to_wkt()))
    windows = {row["rank"]: ogr.CreateGeometryFromWkt(row["wkt"]) for row in _features(loop["windows"])}
    proposals = _features(loop["proposals"])
    assert proposals, "the seeded model predicts blobs in the windows and SAM draws them"
    assert {p["window"] for p in proposals} <= set(windows)  # the window ids are suggest's ranks
    for p in proposals:
        geometry = ogr.CreateGeometryFromWkt(p["wkt"])
        assert geometry.GetArea() > 0
        assert windows[p["window"]].Buffer(1e-6).Contains(geometry)
        assert p["class_id"] == 1 and p["class_name"] == "field"
        assert 0.0 <= p["model_prob"] <= 1.0 and p["sam_score"] is not None
        assert p["prompt"].startswith("box ")
        assert p["scene"] == loop["scene"]["image"]
    # the window SAM sees is the window's own 48 x 48 pixels, not one more row or column
    from engine.api import prompted_session
    from engine.prompted.propose import read_windows

    for window in read_windows(str(loop["windows"])):
        session = prompted_session(window.scene, window.inner_bounds, str(loop["sam"]), device="cpu")
        assert session.window.shape == (48, 48) and window.size == 48


def test_accept_appends_exactly_those_polygons_and_windows_and_suggest_sees_them(loop, tmp_path, capsys):
    from osgeo import ogr

    proposals = _features(loop["proposals"])
    window = proposals[0]["window"]
    mine = [p for p in proposals if p["window"] == window]
    labels, area = tmp_path / "labels.gpkg", tmp_path / "area.gpkg"
    before = loop["proposals"].read_bytes(), loop["windows"].read_bytes()
    args = ["accept", "--proposals", str(loop["proposals"]), "--windows", str(loop["windows"]), "--labels",
            str(labels), "--labelled-area", str(area)]
    assert main(args + ["--window", str(window)]) == 0
    assert f"{len(mine)} polygon(s) appended" in capsys.readouterr().out
    got = _features(labels)
    assert len(got) == len(mine) and [g["class"] for g in got] == [p["class_id"] for p in mine]
    for g, p in zip(got, mine):
        assert _same_shape(g["wkt"], p["wkt"])
    accepted = _features(area)
    assert [a["window"] for a in accepted] == [window]
    rank = {r["rank"]: r for r in _features(loop["windows"])}[window]
    assert _same_shape(accepted[0]["wkt"], rank["wkt"])
    # a second window is appended to the same layers, the first kept
    other = next(r for r in (1, 2, 3) if r != window)
    assert main(args + ["--window", str(other)]) == 0
    assert [a["window"] for a in _features(area)] == [window, other]
    assert len(_features(labels)) == len(mine) + sum(p["window"] == other for p in proposals)
    assert (loop["proposals"].read_bytes(), loop["windows"].read_bytes()) == before  # inputs untouched
    # a window accepted before is refused, nothing appended twice
    counts = len(_features(labels)), len(_features(area))
    assert main(args + ["--window", str(window)]) == 2
    assert "accepted before" in capsys.readouterr().err
    assert (len(_features(labels)), len(_features(area))) == counts
    # the next round of suggest takes the grown labelled area and suggests neither window again
    again = tmp_path / "again.gpkg"
    assert main(["suggest", "--model", loop["model"], "--image", loop["scene"]["image"], "--labelled-area",
                 str(area), "--count", "3", "--window", "48", "--tta", "none", "--device", "cpu", "--backend",
                 "torch", "--out", str(again), "--quiet"]) == 0
    taken = [ogr.CreateGeometryFromWkt(a["wkt"]) for a in _features(area)]
    for row in _features(again):
        geometry = ogr.CreateGeometryFromWkt(row["wkt"])
        assert all(geometry.Intersection(t).GetArea() < 0.5 * geometry.GetArea() for t in taken)
        assert row["labelled"] < 0.5


def test_accept_refuses_its_inputs_as_destinations_and_a_label_layer_without_the_field(loop, tmp_path, capsys):
    from osgeo import ogr

    before = loop["proposals"].read_bytes()
    base = ["accept", "--proposals", str(loop["proposals"]), "--windows", str(loop["windows"]), "--window", "1"]
    assert main(base + ["--labels", str(loop["proposals"]), "--labelled-area", str(tmp_path / "a.gpkg")]) == 2
    assert "--labels" in capsys.readouterr().err and loop["proposals"].read_bytes() == before
    theirs = tmp_path / "theirs.gpkg"
    data = ogr.GetDriverByName("GPKG").CreateDataSource(str(theirs))
    layer = data.CreateLayer("theirs", geom_type=ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("kind", ogr.OFTInteger))
    data = layer = None
    assert main(base + ["--labels", str(theirs), "--labelled-area", str(tmp_path / "a.gpkg")]) == 2
    err = capsys.readouterr().err
    assert "no field 'class'" in err and "kind" in err and "--label-field" in err
    assert not (tmp_path / "a.gpkg").exists() or not _features(tmp_path / "a.gpkg")
    assert main(base + ["--labels", str(theirs), "--labelled-area", str(tmp_path / "a.gpkg"), "--label-field",
                        "kind"]) == 0
    assert len(_features(tmp_path / "a.gpkg")) == 1
    # their layer is declared Polygon: each part of a proposal becomes one polygon feature, none lost
    parts = sum(ogr.CreateGeometryFromWkt(p["wkt"]).GetGeometryCount() for p in _features(loop["proposals"])
                if p["window"] == 1)
    got = _features(theirs)
    assert len(got) == parts and {ogr.CreateGeometryFromWkt(g["wkt"]).GetGeometryType() for g in got} == {
        ogr.wkbPolygon} and {g["kind"] for g in got} == {1}


def test_a_locked_label_layer_is_a_clear_error_and_left_unchanged(loop, tmp_path, capsys):
    import sqlite3

    labels, area = tmp_path / "labels.gpkg", tmp_path / "area.gpkg"
    args = ["accept", "--proposals", str(loop["proposals"]), "--windows", str(loop["windows"]), "--labels",
            str(labels), "--labelled-area", str(area), "--window", "1"]
    assert main(args) == 0
    count = len(_features(labels))
    holder = sqlite3.connect(labels, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")  # another program writing the labels
    try:
        assert main(args[:-1] + ["2"]) == 2
    finally:
        holder.rollback()
        holder.close()
    err = capsys.readouterr().err
    assert "database is locked" in err and "stop editing" in err
    assert len(_features(labels)) == count


def test_propose_names_a_layer_that_is_not_suggests(loop, tmp_path, capsys):
    assert main(["propose", "--windows", str(loop["proposals"]), "--model", loop["model"], "--sam",
                 str(loop["sam"]), "--out", str(tmp_path / "p.gpkg")]) == 2
    err = capsys.readouterr().err
    assert "rank" in err and "suggest" in err and not (tmp_path / "p.gpkg").exists()


def test_a_locked_labelled_area_leaves_the_labels_unchanged_too(loop, tmp_path, capsys):
    import sqlite3

    labels, area = tmp_path / "labels.gpkg", tmp_path / "area.gpkg"
    args = ["accept", "--proposals", str(loop["proposals"]), "--windows", str(loop["windows"]), "--labels",
            str(labels), "--labelled-area", str(area), "--window"]
    assert main(args + ["1"]) == 0
    counts = len(_features(labels)), len(_features(area))
    holder = sqlite3.connect(area, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")  # QGIS editing the labelled area
    try:
        assert main(args + ["2"]) == 2
    finally:
        holder.rollback()
        holder.close()
    assert "labelled area" in capsys.readouterr().err
    assert (len(_features(labels)), len(_features(area))) == counts  # neither layer took window 2


def test_labels_and_labelled_area_as_two_layers_of_one_file(loop, tmp_path):
    from osgeo import ogr

    both = tmp_path / "mine.gpkg"
    assert main(["accept", "--proposals", str(loop["proposals"]), "--windows", str(loop["windows"]), "--labels",
                 f"{both}|layername=labels", "--labelled-area", f"{both}|layername=area", "--window", "1",
                 "--quiet"]) == 0
    data = ogr.Open(str(both))
    wanted = sum(p["window"] == 1 for p in _features(loop["proposals"]))
    assert data.GetLayerByName("labels").GetFeatureCount() == wanted
    assert [f.GetField("window") for f in data.GetLayerByName("area")] == [1]


def test_a_sam3_text_takes_the_model_class_it_names():
    from engine.errors import DataError
    from engine.prompted.propose import text_class

    assert text_class("building", ["background", "building"]) == 1
    assert text_class("Trees", ["background", "building", "tree", "water"]) == 2  # case and a plural
    assert text_class("roof", ["background", "building"]) == 1  # a binary model's foreground
    with pytest.raises(DataError, match="names none of the model's classes"):
        text_class("car", ["background", "building", "tree"])


def test_propose_progress_moves_window_by_window_through_segment_anythings_work(loop, tmp_path):
    """One progress count of windows that moves on as each window's model run, embedding and prompts end. Before,
    the segment run inside reported its tiles under its own stage, which was complete after the first window's
    model run: QGIS's bar reached 100 % in under a second and sat there while Segment Anything worked."""
    from engine.api import ProposeConfig, Stage, propose
    from tests.helpers import RecordingCallback

    callback = RecordingCallback()
    result = propose(ProposeConfig(windows=str(loop["windows"]), models=[loop["model"]], sam_model=str(loop["sam"]),
                                   device="cpu", backend="torch", min_pixels=4, output=str(tmp_path / "p.gpkg")),
                     callback)
    progress = callback.messages("progress")
    assert {stage for _done, _total, stage in progress} == {Stage.PROPOSE}  # no inner stage restarts a bar
    values = [done / total for done, total, _stage in progress]
    assert values == sorted(values) and values[0] == 0.0 and values[-1] == 1.0
    windows = len(result.windows)
    assert windows == 3
    # more than the windows' starts and ends: the shares inside each window, prompts included
    assert len(set(values)) > 2 * windows, values
    prompts = sum(blobs for _rank, blobs, _count in result.windows)
    inside = [v for v in values if round(v * windows, 6) % 1]  # values between two windows' starts
    assert len(inside) >= prompts + 2 * windows, (inside, prompts)


def test_propose_with_a_damaged_sam_folder_is_one_error(loop, tmp_path, capsys):
    from tests.engine.prompted_models import damaged_folders

    out = tmp_path / "p.gpkg"
    for folder, words in damaged_folders(loop["sam"], tmp_path).values():
        assert main(["propose", "--windows", str(loop["windows"]), "--model", loop["model"], "--sam", str(folder),
                     "--device", "cpu", "--backend", "torch", "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert str(folder) in err and all(w in err.lower() for w in words) and "Traceback" not in err, err
        assert not out.exists()


def _inside(rows: list[dict], crs: object, field: str) -> dict[int, tuple[str, tuple[float, float, float, float]]]:
    """{id: (scene, envelope in the scene's CRS)} of features whose outlines are in ``crs``."""
    import rasterio
    from osgeo import ogr, osr

    found = {}
    for row in rows:
        with rasterio.open(row["scene"]) as scene:
            target = osr.SpatialReference(wkt=scene.crs.to_wkt())
        target.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        geometry = ogr.CreateGeometryFromWkt(row["wkt"])
        geometry.Transform(osr.CoordinateTransformation(crs, target))
        xmin, xmax, ymin, ymax = geometry.GetEnvelope()
        box = found.get(row[field], (row["scene"], (xmin, ymin, xmax, ymax)))[1]
        found[row[field]] = (row["scene"], (min(box[0], xmin), min(box[1], ymin), max(box[2], xmax),
                                            max(box[3], ymax)))
    return found


def _crs(path: Path) -> object:
    from osgeo import ogr, osr

    data = ogr.Open(str(path))  # kept open while its layer is read (OGR crashes otherwise)
    ref = data.GetLayer(0).GetSpatialRef().Clone()
    ref.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return ref


def test_scenes_in_two_utm_zones_keep_their_windows_where_they_are(loop, tmp_path):
    """suggest over scenes in UTM zones 33 and 34 writes every window in one CRS, each over its own scene (before:
    the second zone's windows written with the first scene's CRS, hundreds of km away), and propose reads them
    back to their scene's exact pixels."""
    import rasterio

    scenes = [synthetic.make_scene(tmp_path, f"zone{z}", size=(96, 96), seed=z, aux_channels=0, crs=f"EPSG:326{z}",
                                   origin=origin)["image"] for z, origin in ((33, (500000, 4100000)),
                                                                             (34, (300000, 4200000)))]
    windows, proposals = tmp_path / "windows.gpkg", tmp_path / "proposals.gpkg"
    assert main(["suggest", "--model", loop["model"], "--image", *scenes[:1], "--image", scenes[1], "--count", "4",
                 "--window", "32", "--tta", "none", "--device", "cpu", "--backend", "torch", "--out", str(windows),
                 "--quiet"]) == 0
    placed = _inside(_features(windows), _crs(windows), "rank")
    assert {scene for scene, _ in placed.values()} == set(scenes)  # windows in both scenes
    for scene, (xmin, ymin, xmax, ymax) in placed.values():
        with rasterio.open(scene) as image:
            bounds = image.bounds
        assert bounds.left - 1e-6 <= xmin and xmax <= bounds.right + 1e-6
        assert bounds.bottom - 1e-6 <= ymin and ymax <= bounds.top + 1e-6
        assert abs(xmax - xmin - 32) < 1e-6 and abs(ymax - ymin - 32) < 1e-6  # the scene's own 32 x 32 pixels
    assert main(["propose", "--windows", str(windows), "--model", loop["model"], "--sam", str(loop["sam"]),
                 "--device", "cpu", "--backend", "torch", "--min-pixels", "4", "--out", str(proposals),
                 "--quiet"]) == 0
    found = _inside(_features(proposals), _crs(proposals), "window")
    assert {scene for scene, _ in found.values()} == set(scenes)
    for window, (scene, (xmin, ymin, xmax, ymax)) in found.items():  # inside its window, on its scene
        wx0, wy0, wx1, wy1 = placed[window][1]
        assert placed[window][0] == scene
        assert wx0 - 1e-6 <= xmin and xmax <= wx1 + 1e-6 and wy0 - 1e-6 <= ymin and ymax <= wy1 + 1e-6


def test_a_windows_layer_saved_in_another_crs_proposes_the_same(loop, tmp_path, capsys):
    """The windows layer saved in EPSG:4326 (before: PROJ's "utm: Invalid latitude", the model's boxes tagged
    with the layer's CRS) gives the same proposals, in the scene's CRS."""
    from osgeo import gdal

    lonlat, out = tmp_path / "windows4326.gpkg", tmp_path / "p.gpkg"
    gdal.VectorTranslate(str(lonlat), str(loop["windows"]), dstSRS="EPSG:4326", reproject=True)
    assert main(["propose", "--windows", str(lonlat), "--model", loop["model"], "--sam", str(loop["sam"]),
                 "--device", "cpu", "--backend", "torch", "--min-pixels", "4", "--out", str(out), "--quiet"]) == 0
    assert _crs(out).IsSame(_crs(loop["proposals"]))
    mine, theirs = _features(out), _features(loop["proposals"])
    assert len(mine) == len(theirs) > 0
    for a, b in zip(mine, theirs):
        assert (a["window"], a["class_id"]) == (b["window"], b["class_id"])
        assert _same_shape(a["wkt"], b["wkt"])


def test_accept_refuses_labels_accepted_before_into_another_area(loop, tmp_path, capsys):
    """The same window accepted into the same labels but another labelled area: refused, nothing appended (before:
    every polygon twice in the labels). A text class field of numbers takes the class as its digits."""
    from osgeo import ogr

    labels = tmp_path / "labels.gpkg"
    data = ogr.GetDriverByName("GPKG").CreateDataSource(str(labels))
    layer = data.CreateLayer("labels", srs=_crs(loop["proposals"]), geom_type=ogr.wkbMultiPolygon)
    layer.CreateField(ogr.FieldDefn("class", ogr.OFTString))
    data = layer = None
    base = ["accept", "--proposals", str(loop["proposals"]), "--windows", str(loop["windows"]), "--window", "1",
            "--labels", str(labels), "--labelled-area"]
    assert main(base + [str(tmp_path / "one.gpkg"), "--quiet"]) == 0
    count = len(_features(labels))
    assert count > 0 and {row["class"] for row in _features(labels)} == {"1"}
    assert main(base + [str(tmp_path / "two.gpkg")]) == 2
    err = capsys.readouterr().err
    assert "window(s) 1 are in the label layer" in err and "twice" in err
    assert len(_features(labels)) == count and not (tmp_path / "two.gpkg").exists()


def test_accept_refuses_a_layer_filter_that_would_hide_what_it_appends(loop, tmp_path, capsys):
    """A label layer or labelled area given with QGIS's filter (``|subset=``, as a filtered QGIS layer's source
    reads): appended to where the filter selects all that is appended; refused with nothing appended where it would
    hide any (QGIS would not show them, training given that layer would not read them). Before, accept appended
    whatever the filter, without a word."""
    labels, area = tmp_path / "labels.gpkg", tmp_path / "area.gpkg"
    base = ["accept", "--proposals", str(loop["proposals"]), "--windows", str(loop["windows"])]
    assert main(base + ["--window", "1", "--labels", str(labels), "--labelled-area", str(area), "--quiet"]) == 0
    counts = len(_features(labels)), len(_features(area))
    wanted = sum(p["window"] == 2 for p in _features(loop["proposals"]))
    assert wanted > 0 and counts[0] > 0

    def accept(label_filter: str, area_filter: str = "", window: int = 2) -> int:
        return main(base + ["--window", str(window), "--labels", f"{labels}|layername=labels|subset={label_filter}",
                            "--labelled-area", f"{area}|layername=area" + (f"|subset={area_filter}" if area_filter
                                                                            else "")])

    assert accept('"class" = 2') == 2  # the proposals are class 1: the filter hides every one
    err = capsys.readouterr().err
    assert f"The label layer '{labels}|layername=labels' has the filter '\"class\" = 2'" in err, err
    assert f"hide {wanted} of the {wanted} polygons accepted" in err and "Query Builder" in err, err
    assert "Nothing was appended" in err
    assert (len(_features(labels)), len(_features(area))) == counts
    assert accept('"class" >= 1', '"window" <= 2', window=3) == 2  # the area's filter would hide window 3
    err = capsys.readouterr().err
    assert "The labelled area" in err and "hide 1 of the 1 windows" in err, err
    assert (len(_features(labels)), len(_features(area))) == counts  # the labels not appended to either
    assert accept('"class" >= 1', '"window" <= 2') == 0  # a filter that selects everything appended is no obstacle
    assert (len(_features(labels)), len(_features(area))) == (counts[0] + wanted, counts[1] + 1)
    assert accept('"kind" = 1', window=1) == 2  # a filter naming no field of the layer: the reader's own error
    assert "has no field 'kind', which its filter" in capsys.readouterr().err
