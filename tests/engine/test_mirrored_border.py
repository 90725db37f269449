"""The mirrored border of segment: tiles that reach past the scene, the image mirrored there, on a grid that steps
from the mirrored corner; and an imported model's own tiling (overlap, border, threshold) applied unless given."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from engine.api import ConfigError, describe_model, import_model, segment, segment_many
from engine.config import BulkConfig, SegmentConfig
from engine.segment.plan import plan_segmentation
from engine.segment.tiling import TileGrid, blend_window, overlap_pixels, plan_axis, tile_count
from tests.engine.foreign_onnx import context_model, deepness_metadata, linear_model

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

TILE, BORDER = 32, 7
CLASSES = ["background", "cloud", "shadow"]


def test_a_border_steps_the_tiles_from_before_the_region_until_one_starts_past_it():
    offsets = plan_axis(0, 70, 32, 24, 70, border=7)
    assert offsets == [-7, 17, 41, 65]  # the first pixel 7 deep in a tile; the last tile starts inside
    assert tile_count(70, 32, 24, border=7) == len(offsets)
    inside = plan_axis(10, 50, 32, 24, 70, border=7)
    assert inside == [3, 27]  # a region inside the image: the border is real image, read as it is
    with pytest.raises(ValueError, match="border 32"):
        plan_axis(0, 70, 32, 24, 70, border=32)
    grid = TileGrid.plan((0, 0, 70, 50), (70, 50), 32, 8, border=7)
    assert grid.rows[0] == grid.cols[0] == -7 and grid.border == 7


def write_scene(path: Path, raw: np.ndarray) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=raw.shape[2], height=raw.shape[1], count=raw.shape[0],
                       dtype="float32", crs="EPSG:32633", transform=from_origin(500000, 6000000, 30, 30)) as ds:
        ds.write(raw)
    return path


def reference(raw: np.ndarray, onnx_path: Path, overlap: int, border: int) -> np.ndarray:
    """What segment must give: the scene mirrored (edge pixel repeated) by ``border``, tiles every stride from
    the mirrored corner, each tile's probabilities weighted by the blend window, summed and normalised."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    _, height, width = raw.shape
    padded = np.pad(raw, ((0, 0), (border, border + TILE), (border, border + TILE)), mode="symmetric")
    stride = TILE - overlap
    weights = blend_window(TILE, max(overlap, 1)).astype(np.float64)
    total = np.zeros((len(CLASSES), height + 2 * TILE, width + 2 * TILE))
    weight = np.zeros((height + 2 * TILE, width + 2 * TILE))
    for row in range(0, height + border, stride):  # padded coordinates: image row = row - border
        for col in range(0, width + border, stride):
            tile = padded[None, :, row:row + TILE, col:col + TILE].astype(np.float32)
            probs = session.run(None, {"x": tile})[0][0]
            total[:, row:row + TILE, col:col + TILE] += probs * weights
            weight[row:row + TILE, col:col + TILE] += weights
    inner = (slice(border, border + height), slice(border, border + width))
    return total[:, inner[0], inner[1]] / weight[inner]


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, np.ndarray]:
    folder = tmp_path_factory.mktemp("context")
    rng = np.random.default_rng(3)
    onnx_path = context_model(folder / "context.onnx", rng.normal(size=(3, 4, 5, 5)) * 0.3)
    raw = rng.random((4, 61, 75)).astype(np.float32)  # not a multiple of the stride: a last tile runs far past
    return onnx_path, write_scene(folder / "scene.tif", raw), raw


def imported(onnx_path: Path, folder: Path, overlap: float = 0.25) -> str:
    """The context model imported with a tile size, an overlap and a mirrored border of its maker's."""
    return import_model(str(onnx_path), str(folder / "context.dsmodel"),
                        changes={"bands": 4, "class_names": CLASSES, "tile_size": TILE, "overlap": overlap,
                                 "border": BORDER}).path


@contextmanager
def planned(**settings) -> Iterator:
    """The plan of a segment run with these settings (its reader closed after)."""
    plan = plan_segmentation(SegmentConfig(**settings))
    try:
        yield plan
    finally:
        plan.reader.close()


def test_the_border_reproduces_a_mirrored_scene_tiled_from_its_corner(context, tmp_path):
    onnx_path, image, raw = context
    bundle = imported(onnx_path, tmp_path)
    probabilities = tmp_path / "p.tif"
    segment(SegmentConfig(image=str(image), models=[bundle], output=str(tmp_path / "c.tif"),
                          probabilities=str(probabilities), device="cpu"))
    with rasterio.open(probabilities) as src:
        ours = src.read().astype(np.float64)
    expected = reference(raw, onnx_path, overlap_pixels(TILE, 0.25), BORDER)
    assert np.abs(ours - expected).max() < 1e-5
    # without the border the edges come out otherwise: the test sees the difference it guards
    segment(SegmentConfig(image=str(image), models=[bundle], output=str(tmp_path / "c0.tif"),
                          probabilities=str(tmp_path / "p0.tif"), device="cpu", border=0))
    with rasterio.open(tmp_path / "p0.tif") as src:
        assert np.abs(src.read() - expected).max() > 1e-3


def test_an_imported_models_own_tiling_applies_unless_given(context, tmp_path):
    onnx_path, image, _ = context
    bundle = imported(onnx_path, tmp_path, overlap=0.125)
    assert ("  as its maker ran it (segment's defaults for it): tiles overlapping by 12.5 %, the scene mirrored by "
            f"{BORDER} px") in describe_model(bundle)
    out = str(tmp_path / "c.tif")
    with planned(image=str(image), models=[bundle], output=out) as plan:
        assert (plan.overlap, plan.grid.border, plan.grid.cols[0]) == (4, BORDER, -BORDER)
    with planned(image=str(image), models=[bundle], output=out, overlap=0.25, border=0) as plan:
        assert (plan.overlap, plan.grid.border, plan.grid.cols[0]) == (8, 0, 0)
    with pytest.raises(ConfigError, match=r"border.*\(40 px\) must be less than the tile size \(32 px\)"):
        plan_segmentation(SegmentConfig(image=str(image), models=[bundle], output=out, border=40))


def test_a_deepness_models_threshold_and_overlap_apply_unless_given(tmp_path):
    rng = np.random.default_rng(5)
    onnx_path = linear_model(tmp_path / "roads.onnx", rng.normal(size=(1, 3)), rng.normal(size=1), head="sigmoid",
                             metadata=deepness_metadata(["road"], tile=32, seg_thresh=0.3, tiles_overlap=40))
    image = write_scene(tmp_path / "scene.tif", rng.random((3, 40, 40)).astype(np.float32))
    out = str(tmp_path / "c.tif")
    with planned(image=str(image), models=[str(onnx_path)], output=out) as plan:
        assert (plan.cfg.threshold, plan.cfg.overlap, plan.grid.border) == (0.3, 0.4, 0)
    with planned(image=str(image), models=[str(onnx_path)], output=out, threshold=0.6) as plan:
        assert plan.cfg.threshold == 0.6


def test_bulk_runs_an_imported_model_with_its_own_tiling(context, tmp_path):
    onnx_path, image, raw = context
    bundle = imported(onnx_path, tmp_path)
    folder = tmp_path / "scenes"
    folder.mkdir()
    write_scene(folder / "one.tif", raw)
    write_scene(folder / "two.tif", raw[:, ::-1].copy())
    result = segment_many(BulkConfig(images=[str(folder / "*.tif")], out_dir=str(tmp_path / "out"),
                                     probabilities=True),
                          SegmentConfig(models=[bundle], device="cpu"))
    assert result.ok
    for name, values in (("one", raw), ("two", raw[:, ::-1])):
        with rasterio.open(tmp_path / "out" / f"{name}_probabilities.tif") as src:
            ours = src.read().astype(np.float64)
        assert np.abs(ours - reference(values, onnx_path, overlap_pixels(TILE, 0.25), BORDER)).max() < 1e-5


def test_a_model_whose_maker_recorded_no_overlap_gets_segments_own(tmp_path):
    rng = np.random.default_rng(6)
    metadata = deepness_metadata(["field", "forest"], tile=32)
    del metadata["tiles_overlap"]
    onnx_path = linear_model(tmp_path / "land.onnx", rng.normal(size=(2, 3)), rng.normal(size=2), metadata=metadata)
    image = write_scene(tmp_path / "scene.tif", rng.random((3, 40, 40)).astype(np.float32))
    with planned(image=str(image), models=[str(onnx_path)], output=str(tmp_path / "c.tif")) as plan:
        assert (plan.cfg.overlap, plan.overlap) == (0.25, 8)


@pytest.mark.parametrize("aoi", [False, True])
def test_a_border_with_aux_rasters_reads_the_same_in_reader_processes(tmp_path, aoi):
    """A model of our own with aux rasters and a mirrored border: the aux is read at each tile's own place, the
    image mirrored; reader processes (parts shared by the windows actually read) give what one reader gives."""
    from engine.data import synthetic
    from tests.helpers import make_bundle

    scene = synthetic.make_scene(tmp_path / "s", "s", size=(90, 110), seed=2, aux_channels=6)
    model = make_bundle(tmp_path / "m.dsmodel", aux_channels=6, num_classes=3, seed=1)
    extent = None
    if aoi:  # a region inside the image: its border is real image, read as it is
        from engine.data.raster import grid_of, open_raster

        with open_raster(scene["image"]) as dataset:
            xmin, ymin, xmax, ymax = grid_of(dataset).bounds
        extent = [xmin + (xmax - xmin) * 0.2, ymin + (ymax - ymin) * 0.1, xmax, ymax - (ymax - ymin) * 0.3]
    runs = {}
    for name, options in (("one", {"readers": 1}), ("processes", {"readers": 2, "reader_processes": True})):
        probabilities = tmp_path / f"{name}_p.tif"
        result = segment(SegmentConfig(image=scene["image"], aux=scene["aux"], models=[model], device="cpu",
                                       output=str(tmp_path / f"{name}.tif"), probabilities=str(probabilities),
                                       tile_size=32, overlap=0.25, border=8, extent=extent, **options))
        with rasterio.open(probabilities) as src:
            runs[name] = src.read()
        assert result.tiles > 0
    assert np.isfinite(runs["one"]).all()
    np.testing.assert_array_equal(runs["one"], runs["processes"])
