"""The aux side of a scene (:class:`SceneAux`, a part of :class:`~.scene.SceneReader`): aux rasters of any CRS,
resolution and extent opened and checked against the image, and warped (bilinear) onto a tile's aux grid (the tile
transform scaled by ``aux_ratio``), one tile at a time or in blocks that planned tiles share; an ungeoreferenced
aux file stretched over the whole image; the image's own X bands read instead where a model takes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from ..errors import DataError
from .align import aux_grid, check_overlap, resize_transform, tile_grid, warp_to_grid, warped_blocks
from .raster import RasterGrid, grid_of, read_window
from .tile_parts import assemble_window


@dataclass
class _AuxSource:
    path: str
    bands: list[int]
    georeferenced: bool
    array: np.ndarray | None = None  # whole file in memory for the ungeoreferenced fallback
    transform: Any = None


class SceneAux:
    """The aux methods of :class:`~.scene.SceneReader` (which sets the attributes they read)."""

    def _take_aux(self, aux: list[str] | tuple[str, ...], bands_per_file: int | None, ratio: int) -> None:
        """The aux rasters' paths and layout, checked before the image is opened (its X bands need ratio 1)."""
        self.aux_paths = [str(p) for p in aux]
        self.aux_bands_per_file = bands_per_file
        self.aux_ratio = int(ratio)
        if self.aux_ratio < 1:
            raise DataError(f"aux_ratio must be >= 1 (got {ratio}).")

    def _setup_aux(self) -> None:
        """Each aux raster opened and checked; the channels they give (or the image's X bands)."""
        self._aux: list[_AuxSource] = [self._setup_aux_file(p) for p in self.aux_paths]
        self.aux_file_bands: list[int] = [len(a.bands) for a in self._aux]  # bands used of each aux file
        self.aux_channels: int = len(self.selection.x) if self.selection.x else sum(self.aux_file_bands)

    def _setup_aux_file(self, path: str) -> _AuxSource:
        ds = self._open(path, "aux raster")
        wanted = ds.count if self.aux_bands_per_file is None else int(self.aux_bands_per_file)
        if ds.count < wanted:
            raise DataError(
                f"The aux raster '{path}' has {ds.count} band(s) but {wanted} are needed per aux file "
                f"(aux_bands_per_file); give files with at least {wanted} bands or lower aux_bands_per_file."
            )
        bands = list(range(1, wanted + 1))
        grid = grid_of(ds)
        if not grid.georeferenced:
            self.callback.warning(
                f"The aux raster '{path}' has no georeferencing: it is stretched over the whole image "
                f"'{self.image}' (the reference's whole-file resize). Georeference it for correct alignment."
            )
            data, ok = read_window(ds, 0, 0, ds.width, ds.height, bands)
            data[:, ~ok] = np.nan
            return _AuxSource(path, bands, False, data, resize_transform(self.grid, ds.width, ds.height))
        if not self.georeferenced:
            raise DataError(
                f"The aux raster '{path}' is georeferenced but the {self.role} '{self.image}' is not; georeference "
                f"the {self.role} (or give ungeoreferenced aux files, which are stretched over it)."
            )
        if grid.crs is None and self.grid.crs is not None:
            self.callback.warning(f"The aux raster '{path}' has no CRS; assuming the image CRS.")
        check_overlap(self.grid, RasterGrid(grid.crs or self.grid.crs, grid.transform, grid.width, grid.height),
                      self.image, path, "aux raster")
        return _AuxSource(path, bands, True)

    def read_aux(self, col_off: int, row_off: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Only the aux stream of a tile: (Ca, h//r, w//r) float32 and its validity mask."""
        if self.selection.x:
            return read_window(self._open(self.image, "image"), int(col_off), int(row_off), int(width), int(height),
                               list(self.selection.x))
        return self._read_aux(tile_grid(self.grid, int(col_off), int(row_off), int(width), int(height)))

    def _aux_from_blocks(self, col_off: int, row_off: int, width: int, height: int,
                         tile: RasterGrid) -> tuple[np.ndarray, np.ndarray]:
        """A tile's aux, cut from the shared aux blocks where it lies on the aux grid, else warped on its own."""
        lattice, r = (None if self.parts is None else self.parts.aux), self.aux_ratio
        keys = None if lattice is None else lattice.blocks(col_off, row_off, width, height)
        if keys is None:
            if self.parts is not None:
                self.parts.count("aux_own_warp")
            return self._read_aux(tile)
        pieces = []
        for by, bx in keys:
            data, ok = self.parts.take(("aux", by, bx), partial(self._aux_block, by, bx))
            (col, row, w, h), (dx, dy) = lattice.owned(by, bx)
            ys, xs = slice(dy // r, (dy + h) // r), slice(dx // r, (dx + w) // r)
            pieces.append(((col // r, row // r, w // r, h // r), data[:, ys, xs], ok[ys, xs]))
        return assemble_window(pieces, col_off // r, row_off // r, width // r, height // r, self.aux_channels)

    def _aux_block(self, by: int, bx: int) -> tuple[np.ndarray, np.ndarray]:
        """Aux block (by, bx) of the lattice: regular blocks read from this reader's warped VRTs, the inward-shifted
        edge blocks (off the VRTs' block grid) warped as a tile's own (the same values where the two coincide)."""
        from rasterio.windows import Window as RasterioWindow

        lattice, r = self.parts.aux, self.aux_ratio
        col, row, width, height = lattice.block(by, bx)
        tile = tile_grid(self.grid, col, row, width, height)
        if not lattice.is_regular(by, bx):
            return self._read_aux(tile)
        return self._read_aux(tile, RasterioWindow(col // r, row // r, width // r, height // r))

    def _warped(self, src: _AuxSource) -> Any | None:
        """This reader's warped VRT of an aux file over the regular aux blocks (own handle per thread, as
        ``_open``); None where GDAL will not take the block size (the blocks are then warped one by one)."""
        ds = self._open(src.path, "aux raster")  # first: it drops the handles of a parent process
        lattice, r = self.parts.aux, self.aux_ratio
        key = ("warped", src.path, lattice)
        if key not in self._handles:
            grid = aux_grid(tile_grid(self.grid, 0, 0, *lattice.extent), r)
            self._handles[key] = warped_blocks(ds, grid, (lattice.tile_w // r, lattice.tile_h // r),
                                               src_crs=ds.crs or self.grid.crs)
        return self._handles[key]

    def _read_aux(self, tile: RasterGrid, block: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Every aux file warped onto the tile's aux grid, concatenated, and where all of them are valid.
        ``block``: the tile is a regular aux block, read at this window of the warped VRTs instead."""
        grid = aux_grid(tile, self.aux_ratio)
        arrays, valid = [], np.ones(grid.shape, dtype=bool)
        for src in self._aux:
            warped = self._warped(src) if (src.georeferenced and block is not None) else None
            if warped is not None:
                data = warped.read(src.bands, window=block)
                ok = np.isfinite(data).all(axis=0)
            elif src.georeferenced:
                ds = self._open(src.path, "aux raster")
                data, ok = warp_to_grid(ds, grid, src.bands, resampling="bilinear",
                                        src_crs=ds.crs or self.grid.crs)
            else:  # stretched over the image from memory
                data, ok = warp_to_grid(src.array, grid, resampling="bilinear", src_transform=src.transform,
                                        src_crs=self.grid.crs)
            arrays.append(data)
            valid &= ok
        aux = np.concatenate(arrays, axis=0)
        aux[:, ~valid] = 0.0
        return aux, valid
