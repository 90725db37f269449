"""The bundle describer (``dualstream info`` and the QGIS Segment dialogs) says what the metadata means."""

from __future__ import annotations

from engine.bundle.describe import describe_bundle, format_metadata
from engine.bundle.schema import BundleMetadata

UTM = 'PROJCS["WGS 84 / UTM zone 52N",GEOGCS["WGS 84"],UNIT["metre",1]]'
WGS84 = 'GEOGCS["WGS 84",DATUM["WGS_1984"],UNIT["degree",0.0174532925199433]]'


def _meta(crs: str | None, gsd: list[float], **train: object) -> BundleMetadata:
    data = {"gsd": gsd, "crs": crs, "tile_size": 192, "vision_bands": 4, "class_names": ["a", "b"],
            "class_colors": ["#000000", "#ffffff"], "aux_channels": 0,
            "vision_stats": {"method": "percentile", "low": [0.0] * 4, "high": [1.0] * 4}}
    return BundleMetadata.from_dict({
        "model": {"name": "unet", "preset": "light", "vision_channels": 4, "aux_channels": 0}, "data": data,
        "train": {"warmup_epochs": 0, "epochs": 100, "batch_size": 4, "learning_rate": 3e-4, **train}}, written=False)


def test_the_training_pixel_size_is_given_in_the_units_of_its_crs():
    assert "trained at 0.5 m/px with 192-px tiles" in describe_bundle("m.dsmodel", _meta(UTM, [0.5, 0.5]))[0]
    assert "trained at 0.0001 deg/px" in describe_bundle("m.dsmodel", _meta(WGS84, [1e-4, 1e-4]))[0]
    # a bundle from before the training latitude was recorded: Mercator's map units are no metres, said so
    assert ("trained at 10 map units/px of a Mercator CRS (the training latitude is not recorded)"
            in describe_bundle("m.dsmodel", _meta("EPSG:3857", [10.0, 10.0]))[0])
    feet = describe_bundle("m.dsmodel", _meta("EPSG:2263", [1.0, 1.0]))[0]  # US survey feet: not "1 m/px"
    assert "trained at 0.3048 m/px on the ground (1 map units/px)" in feet, feet
    # imagery without a CRS: its 1 x 1 pixel size is no size on the ground
    first = describe_bundle("m.dsmodel", _meta(None, [1.0, 1.0]))[0]
    assert "m/px" not in first and "imagery without georeferencing" in first


def test_a_time_budget_makes_the_epochs_an_upper_bound():
    budget = format_metadata("m.dsmodel", _meta(UTM, [1.0, 1.0], time_budget=5.0))
    assert "Training: 0 frozen + at most 100 epochs within a time budget of 5 min," in budget
    plain = format_metadata("m.dsmodel", _meta(UTM, [1.0, 1.0], time_budget=None))
    assert "Training: 0 frozen + 100 epochs, batch 4" in plain


def test_a_season_of_one_band_dates_is_said_in_the_singular():
    """A season of NDVI dates was "27 dates in time order, each: 1 bands" in the QGIS model summary."""
    meta = BundleMetadata.from_dict({
        "model": {"name": "season", "preset": "tiny", "vision_channels": 1, "aux_channels": 0, "dates": 27},
        "data": {"gsd": [10.0, 10.0], "crs": UTM, "tile_size": 32, "vision_bands": 1, "class_names": ["a", "b"],
                 "class_colors": ["#000000", "#ffffff"], "aux_channels": 0, "dates": 27,
                 "vision_stats": {"method": "meanstd", "low": [0.5], "high": [0.2]}}}, written=False)
    lines = describe_bundle("season.dsmodel", meta)
    assert "  27 dates in time order, each: 1 band, in the training order" in lines, lines
    assert "  image: 4 bands, in the training order" in describe_bundle("m.dsmodel", _meta(UTM, [1.0, 1.0]))


def test_the_windows_held_out_to_validate_are_said_and_old_bundles_say_none():
    """Where a model was validated (pixels training never saw: where to score its map) is in its description."""
    meta = _meta(UTM, [1.0, 1.0])
    assert not any("validated on" in line for line in describe_bundle("m.dsmodel", meta))  # a bundle before it
    meta.data.held_out = [{"scene": "scene.tif", "window": [0, 607, 626, 256]}]
    lines = describe_bundle("m.dsmodel", BundleMetadata.from_dict(meta.to_dict(), written=False))
    assert "  validated on windows held out of training: 'scene.tif' columns 0-625, rows 607-862" in lines, lines
