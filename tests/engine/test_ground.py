"""The one ground rule (engine/data/ground.py) and its four users against distances PROJ measures: a pixel size in
degrees or in Web Mercator's units is metres on the ground only at the equator, cos(latitude) of that elsewhere.
The expected figures come from PROJ (two points carried into the UTM zone of their longitude, where a metre is a
metre to within 0.04 %), not from the rule; a rule without the latitude is off by half at 60 degrees."""

from __future__ import annotations

import pytest
from osgeo import osr

from engine.bundle.describe import describe_bundle
from engine.bundle.onnx_metadata import resolution_cm_per_px
from engine.bundle.schema import BundleMetadata
from engine.bundle.view import model_view
from engine.data.ground import DEGREES, METRES, PIXELS, ground_unit, map_units_per_metre
from engine.data.metadata import DataMetadata
from engine.data.normalize import BandStatistics


def _srs(crs: str) -> osr.SpatialReference:
    srs = osr.SpatialReference()
    srs.SetFromUserInput(crs)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def measured(crs: str, x: float, y: float, dx: float) -> float:
    """Metres on the ground between (x, y) and (x + dx, y) in ``crs``, measured in the UTM zone of their longitude."""
    to_geo = osr.CoordinateTransformation(_srs(crs), _srs("EPSG:4326"))
    longitude, latitude, _ = to_geo.TransformPoint(x, y)
    zone = int((longitude + 180) // 6) + 1
    utm = _srs(f"EPSG:{(32600 if latitude >= 0 else 32700) + zone}")
    to_utm = osr.CoordinateTransformation(_srs(crs), utm)
    (x0, y0, _), (x1, y1, _) = to_utm.TransformPoint(x, y), to_utm.TransformPoint(x + dx, y)
    return ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5 / 0.9996  # UTM's scale on its central meridian


def _mercator_y(latitude: float) -> float:
    return osr.CoordinateTransformation(_srs("EPSG:4326"), _srs("EPSG:3857")).TransformPoint(3.0, latitude)[1]


@pytest.mark.parametrize("crs, latitude", [("EPSG:4326", 60.0), ("EPSG:4326", 0.0), ("EPSG:3857", 45.0),
                                           ("EPSG:3857", 0.0)])
def test_metres_per_map_unit_follow_the_latitude(crs, latitude):
    y = latitude if crs == "EPSG:4326" else _mercator_y(latitude)
    step = 1e-3 if crs == "EPSG:4326" else 100.0
    truth = measured(crs, 3.0 if crs == "EPSG:4326" else 333_958.5, y, step) / step  # longitude 3: zone 31's middle
    ruled = 1.0 / map_units_per_metre(crs, (3.0, y, 3.0, y) if crs == "EPSG:4326" else (333_958.5, y, 333_958.5, y))
    print(f"{crs} at {latitude}: PROJ {truth:.4f} m per unit, the rule {ruled:.4f}")
    assert ruled == pytest.approx(truth, rel=0.005)  # the rule's sphere against the ellipsoid: 0.3 % at most


def test_the_units_of_a_crs():
    assert ground_unit("EPSG:32633") == ground_unit(_srs("EPSG:32633"))
    assert (ground_unit("EPSG:32633").kind, ground_unit("EPSG:32633").mercator) == (METRES, False)  # Transverse
    assert ground_unit("EPSG:3857").mercator and ground_unit("EPSG:4326").kind == DEGREES
    assert ground_unit("EPSG:2263").metres_per_unit == pytest.approx(0.3048006)  # US survey feet
    assert ground_unit(None).kind == ground_unit("").kind == PIXELS and ground_unit(None).metres(5.0) is None
    assert ground_unit('GEOGCS["made up"').kind == DEGREES and ground_unit("PROJCS[nonsense").kind == METRES


def _data(gsd: float, crs: str) -> DataMetadata:
    stats = BandStatistics("percentile", [0.0] * 3, [255.0] * 3)
    return DataMetadata(vision_bands=3, vision_stats=stats, aux_channels=0, class_names=["a", "b"],
                        class_colors=["#000000", "#ffffff"], tile_size=64, gsd=[gsd, gsd], crs=crs)


def test_the_model_view_the_onnx_metadata_and_the_description_use_the_rule():
    degrees = 1e-4
    truth = measured("EPSG:4326", 3.0, 60.0, degrees)
    assert model_view(_data(degrees, "EPSG:4326")).pixel_size_metres(60.0) == pytest.approx(truth, rel=0.005)
    mercator = model_view(_data(10.0, "EPSG:3857")).pixel_size_metres(45.0)
    assert mercator == pytest.approx(measured("EPSG:3857", 333_958.5, _mercator_y(45.0), 10.0), rel=0.005)
    # Deepness turns centimetres back into degrees at the equator, so the metadata says them at the equator
    equator = measured("EPSG:4326", 3.0, 0.0, degrees)
    assert resolution_cm_per_px([degrees, degrees], "EPSG:4326") == pytest.approx(equator * 100, rel=0.005)
    # the description read the CRS's first word: a bundle recording "EPSG:4326" was said to be in m/px
    meta = BundleMetadata.from_dict({"model": {"name": "unet", "preset": "light", "vision_channels": 3},
                                     "data": _data(degrees, "EPSG:4326").to_dict()}, written=False)
    assert "trained at 0.0001 deg/px" in describe_bundle("m.dsmodel", meta)[0]


def test_a_model_trained_in_web_mercator_at_45_degrees_is_said_in_metres_on_the_ground(tmp_path, capsys):
    """A model trained on a Web Mercator raster at latitude 45 was "trained at 2.6913 m/px": map units, which are
    0.707 m on the ground there. The bundle records the training scenes' latitude, the model view gives metres on
    the ground at it (wherever it is asked), ``info`` says them with the map units beside them, and segment compares
    an image's pixels with the training ones in metres: a UTM image at 3 m (1.58 times the 1.9 m on the ground,
    1.11 times the map units) is warned about."""
    import subprocess

    from engine.bundle.store import read_metadata
    from engine.cli.main import main
    from engine.data.synthetic import make_scene

    units = 2.6913
    scene = make_scene(tmp_path, "mercator", size=(64, 64), crs="EPSG:3857", gsd=units, aux_channels=0,
                       origin=(333_958.5, _mercator_y(45.0)))
    model = tmp_path / "mercator.dsmodel"
    assert main(["train", "--image", scene["image"], "--label", scene["label"], "--model", "unet", "--preset",
                 "tiny", "--tile-size", "32", "--tiles-per-epoch", "8", "--batch-size", "4", "--epochs", "1",
                 "--warmup-epochs", "0", "--device", "cpu", "--num-workers", "0", "--label-map", "90=1",
                 "--out", str(model)]) == 0, capsys.readouterr().err
    data = read_metadata(model).data
    assert data.latitude == pytest.approx(45.0, abs=0.01)  # the scene's middle, 86 m south of its top at 45
    ground = measured("EPSG:3857", 333_958.5, _mercator_y(45.0), units)
    view = model_view(data)
    assert view.pixel_size_metres() == pytest.approx(ground, rel=0.005) == view.pixel_size_metres(0.0)
    capsys.readouterr()
    assert main(["info", str(model)]) == 0
    said = " ".join(capsys.readouterr().out.split())
    metres = float(said.split("trained at ", 1)[1].split(" ", 1)[0])
    assert metres == pytest.approx(ground, rel=0.005), said
    assert " m/px on the ground (2.6913 map units/px at latitude 45) with 32-px tiles" in said, said
    utm = tmp_path / "utm3.tif"
    subprocess.run(["gdalwarp", "-q", "-t_srs", "EPSG:32631", "-tr", "3", "3", scene["image"], str(utm)], check=True)
    assert main(["segment", "--image", str(utm), "--model", str(model), "--device", "cpu",
                 "--out", str(tmp_path / "utm.tif")]) == 0
    warned = " ".join(capsys.readouterr().err.split())
    assert "(3 m on the ground), 1.58 times the training pixel size (1.9 m)" in warned, warned
