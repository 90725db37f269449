"""The label side of a scene (:class:`SceneLabels`, a part of :class:`~.scene.SceneReader`): a label raster or
polygon layer set up against the image grid, mapped to classes, read on a tile's grid, its values counted.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from ..callbacks import QuietCallback
from ..errors import AlignmentError, DataError
from ..io.formats import is_vector_path
from .align import check_overlap, tile_grid, warp_to_grid
from .labels import LabelMapper, VectorLabels, raw_key
from .raster import RasterGrid, grid_of, read_window
from .reproject import NEAR_DEGREES


class SceneLabels:
    """The label methods of :class:`~.scene.SceneReader` (which sets the attributes they read)."""

    def _setup_label(self, path: str) -> None:
        if is_vector_path(path):
            if not self.georeferenced:
                raise DataError(f"The label layer '{path}' is a vector layer but the {self.role} '{self.image}' has no "
                                f"georeferencing; give a label raster on the {self.role}'s pixel grid instead.")
            self._vector = self._vector_labels(path, self.callback)
            bounds = self._vector.bounds()
            if bounds is None and self._vector.far:
                raise AlignmentError(f"The label layer '{path}' does not overlap the {self.role} '{self.image}': its "
                                     f"{self._vector.far} polygon(s) lie more than {NEAR_DEGREES:g}° away.")
            if bounds is not None:
                check_overlap(self.grid, _box_grid(bounds, self.grid.crs), self.image, path, "label layer", self.role)
            return
        if self.label_after_field:
            raise DataError(f"The label '{path}' is a raster, but an after-class field ('{self.label_after_field}') "
                            f"was given, which polygon labels have: map a raster's transition codes to classes with "
                            f"the label mapping instead, or leave the after-class field out.")
        ds = self._open(path, "label raster")
        grid = grid_of(ds)
        if grid.same_as(self.grid) or (not grid.georeferenced and grid.shape == self.grid.shape):
            if not grid.georeferenced and self.georeferenced:
                self.callback.warning(f"The label raster '{path}' has no georeferencing; it has the {self.role}'s "
                                      f"size, so it is assumed to be on the {self.role}'s grid.")
            self.label_same_grid = True
            return
        if not grid.georeferenced or not self.georeferenced:
            raise AlignmentError(f"The label raster '{path}' ({grid.width}x{grid.height}) and the {self.role} "
                                 f"'{self.image}' ({self.grid.width}x{self.grid.height}) are on different grids and at "
                                 f"least one has no georeferencing, so they cannot be aligned; georeference both or "
                                 f"give them the same size.")
        check_overlap(self.grid, grid, self.image, path, "label raster", self.role)

    def _vector_labels(self, path: str, callback: Any) -> VectorLabels:
        return VectorLabels(path, self.grid.crs, self.mapper, self.label_field, callback, near=self.grid.bounds,
                            after_field=self.label_after_field)

    @property
    def label_polygon_count(self) -> int | None:
        """Polygons of a vector label layer (None for a raster label or none)."""
        return None if self._vector is None else len(self._vector.shapes)

    def use_label_mapping(self, mapping: dict[str, int] | None) -> None:
        """Map the labels with ``mapping`` from now on (a mapping recognised from the label scan); a label layer's
        polygons are read again with it (quietly: their warnings were given)."""
        self.label_mapping = dict(mapping) if mapping else None
        self.mapper = LabelMapper(self.label_mapping, self.label_default_class, self.ignore_index,
                                  self.label_path or "", self.label_classes)
        if self._vector is not None and self.label_path is not None:
            self._vector = self._vector_labels(self.label_path, QuietCallback())

    def read_raw_label(self, col_off: int, row_off: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw label raster values (float64) on a tile and where they are valid (raster labels only)."""
        window = int(col_off), int(row_off), int(width), int(height)
        ds = self._open(self.label_path, "label raster")
        if self.label_same_grid:
            raw, ok = read_window(ds, *window, [1])
        else:
            raw, ok = warp_to_grid(ds, tile_grid(self.grid, *window), [1], resampling="nearest",
                                   src_crs=ds.crs or self.grid.crs)
        return raw[0].astype(np.float64), ok

    def _read_label(self, tile: RasterGrid, col_off: int, row_off: int, valid: np.ndarray) -> np.ndarray:
        if self._vector is not None:
            label = self._vector.rasterize(tile)
            label[~valid] = self.ignore_index
        else:
            raw, ok = self.read_raw_label(col_off, row_off, tile.width, tile.height)
            label = self.mapper.map_raster(raw, ok & valid)
        if self.region.active:
            label[~self.region.mask(tile)] = self.ignore_index
        return label

    def label_value_counts(self, block: int = 1024) -> dict[str, int]:
        """Raw value -> pixel count over the whole label (raster), or class -> polygon count (vector)."""
        if self.label_path is None:
            return {}
        if self._vector is not None:
            return {str(k): v for k, v in Counter(cls for _, cls in self._vector.shapes).items()}  # polygons a class
        counts: dict[str, int] = {}
        for row in range(0, self.grid.height, block):
            for col in range(0, self.grid.width, block):
                h, w = min(block, self.grid.height - row), min(block, self.grid.width - col)
                raw, ok = self.read_raw_label(col, row, w, h)
                count_values(raw[ok], counts)
        return counts


def count_values(values: np.ndarray, counts: dict[str, int]) -> None:
    """Add each raw label value's pixel count to ``counts`` (keyed ``"3"``, or ``"2.5"`` for a fraction)."""
    if values.size == 0:
        return
    if np.all(values == np.floor(values)) and values.min() >= 0 and values.max() < 65536:
        n = np.bincount(values.astype(np.int64))
        keys = np.flatnonzero(n)
        n = n[keys]
    else:
        keys, n = np.unique(values, return_counts=True)
    for key, c in zip(map(raw_key, keys), n):
        counts[key] = counts.get(key, 0) + int(c)


def _box_grid(bounds: tuple[float, float, float, float], crs: Any) -> RasterGrid:
    """A one-pixel grid covering ``bounds`` (used for overlap checks of vector extents)."""
    from affine import Affine

    xmin, ymin, xmax, ymax = bounds
    return RasterGrid(crs, Affine(max(xmax - xmin, 1e-9), 0, xmin, 0, -max(ymax - ymin, 1e-9), ymax), 1, 1)
