"""The aux side of a scene (:class:`SceneAux`, a part of :class:`~.scene.SceneReader`): aux rasters of any CRS,
resolution and extent opened and checked against the image, and warped (bilinear) onto a tile's aux grid (the tile
transform scaled by ``aux_ratio``), one tile at a time or in blocks that planned tiles share; an ungeoreferenced
aux file stretched over the whole image; the image's own X bands read instead where a model takes them.

Tile by tile (training's random tiles, a tile off the aux lattice), aux files on one grid (the same CRS, transform,
size and nodata, as a reference scene's four 12-band files are) are read once into one float32 stack (small files
only, ``STACK_BYTES``) and warped in one call: a warp's cost is mostly per call, so four files cost about half as
much, with the same values (GDAL warps each band alone; ``tests/engine/test_alignment.py``). The stack is an
in-memory GDAL dataset, not a numpy array: ``reproject`` of an array works in proportion to the whole array on
every call (a 528-px stack: 8.2 against 1.3 ms a tile), a dataset's warp reads only the source window it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from ..errors import DataError
from .align import (
    aux_grid,
    check_overlap,
    open_warped_blocks,
    resize_transform,
    tile_grid,
    warp_to_grid,
    warped_blocks_xml,
)
from .raster import RasterGrid, grid_of, has_own_mask, read_window
from .tile_parts import assemble_window

STACK_BYTES = 16 * 2**20  # aux files of one grid held in memory (float32) per scene and process, at most
EXACT_IN_FLOAT32 = ("uint8", "int8", "uint16", "int16")  # file dtypes whose every value float32 holds exactly
STACKABLE_DTYPES = (*EXACT_IN_FLOAT32, "float32")  # the stack's warp then reads what the file's warp reads


@dataclass
class _AuxSource:
    path: str
    bands: list[int]
    georeferenced: bool
    array: np.ndarray | None = None  # whole file in memory for the ungeoreferenced fallback
    transform: Any = None
    grid_key: Any = None  # (CRS, transform, size, nodata) where it may be warped in a stack with its neighbours


class SceneAux:
    """The aux methods of :class:`~.scene.SceneReader` (which sets the attributes they read)."""

    def _setup_aux(self) -> None:
        """Each aux raster opened and checked; the channels they give (or the image's X bands)."""
        self._aux: list[_AuxSource] = [self._setup_aux_file(p) for p in self.aux_paths]
        self.aux_file_bands: list[int] = [len(a.bands) for a in self._aux]  # bands used of each aux file
        self.aux_channels: int = len(self.selection.x) if self.selection.x else sum(self.aux_file_bands)
        self._aux_stacks: list[list[int]] = self._plan_stacks()  # the indexes of files warped together tile by tile
        self._warped_xml: dict[Any, str] = {}  # warped VRTs' XML, shared by the worker copies (``_warped``)

    def _plan_stacks(self) -> list[list[int]]:
        """Runs of neighbouring aux files that share a grid and fit ``STACK_BYTES`` together; a file alone where
        none does (a file of another grid, a large file, a file with its own mask)."""
        stacks: list[list[int]] = []
        size = 0
        for index, src in enumerate(self._aux):
            nbytes = 4 * len(src.bands) * int(np.prod(src.grid_key[2])) if src.grid_key is not None else 0
            if (stacks and src.grid_key is not None and src.grid_key == self._aux[stacks[-1][-1]].grid_key
                    and size + nbytes <= STACK_BYTES):
                stacks[-1].append(index)
                size += nbytes
            else:
                size = nbytes
                stacks.append([index])
        return stacks

    def _setup_aux_file(self, path: str) -> _AuxSource:
        ds = self._open(path, "aux raster")
        wanted = ds.count if self.aux_bands_per_file is None else int(self.aux_bands_per_file)
        if ds.count < wanted:
            raise DataError(f"The aux raster '{path}' has {ds.count} band(s) but {wanted} are needed per aux file "
                            f"(aux_bands_per_file); give files with at least {wanted} bands or lower "
                            f"aux_bands_per_file.")
        bands = list(range(1, wanted + 1))
        grid = grid_of(ds)
        if not grid.georeferenced:
            self.callback.warning(f"The aux raster '{path}' has no georeferencing: it is stretched over the whole "
                                  f"image '{self.image}' (the reference's whole-file resize). Georeference it for "
                                  f"correct alignment.")
            data, ok = read_window(ds, 0, 0, ds.width, ds.height, bands)
            data[:, ~ok] = np.nan
            return _AuxSource(path, bands, False, data, resize_transform(self.grid, ds.width, ds.height))
        if not self.georeferenced:
            raise DataError(f"The aux raster '{path}' is georeferenced but the {self.role} '{self.image}' is not; "
                            f"georeference the {self.role} (or give ungeoreferenced aux files, which are stretched "
                            f"over it).")
        if grid.crs is None and self.grid.crs is not None:
            self.callback.warning(f"The aux raster '{path}' has no CRS; assuming the image CRS.")
        check_overlap(self.grid, grid, self.image, path, "aux raster")
        return _AuxSource(path, bands, True, grid_key=self._grid_key(ds, bands, grid))

    def _grid_key(self, ds: Any, bands: list[int], grid: RasterGrid) -> Any:
        """What aux files must share to be warped in one stack: (CRS, transform, (height, width), nodata); None for
        a file never stacked (a dtype float32 does not hold exactly, its own mask, nodata per band)."""
        nodata = {ds.nodatavals[b - 1] for b in bands}
        if (ds.dtypes[0] not in STACKABLE_DTYPES or len(set(ds.dtypes)) > 1 or len(nodata) > 1
                or any(has_own_mask(ds, b) for b in bands)):
            return None
        return (grid.crs or self.grid.crs, grid.transform, (ds.height, ds.width), nodata.pop())

    def read_aux(self, col_off: int, row_off: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Only the aux rasters of a tile (no X bands: they come with :meth:`read`'s vision): (Ca, h//r, w//r)
        float32 and its validity mask."""
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
        regular = lattice.owned(by, bx)[1] == (0, 0)  # on the lattice's own grid, not shifted inward
        return self._read_aux(tile_grid(self.grid, col, row, width, height),
                              RasterioWindow(col // r, row // r, width // r, height // r) if regular else None)

    def _warped(self, src: _AuxSource) -> Any | None:
        """This thread's warped VRT of an aux file over the regular aux blocks (each block's warp then runs without
        Python's lock); None where GDAL will not take the block size (the blocks are then warped one by one)."""
        handles = self._own_handles()  # first: it drops the handles of a parent process
        key, xml, block = self._warped_xml_of(src)
        if key not in handles:
            handles[key] = open_warped_blocks(xml, block)
        return handles[key]

    def _warped_xml_of(self, src: _AuxSource) -> tuple[Any, str, tuple[int, int]]:
        """(key, XML, block size) of an aux file's warped VRT over the regular aux blocks, made once for this
        reader and its worker copies: a copy opens the VRT, not the aux file."""
        lattice, r = self.parts.aux, self.aux_ratio
        key, block = ("warped", src.path, lattice), (lattice.tile_w // r, lattice.tile_h // r)
        xml = self._warped_xml.get(key)
        if xml is None:
            ds = self._open(src.path, "aux raster")
            grid = aux_grid(tile_grid(self.grid, 0, 0, *lattice.extent), r)
            xml = self._warped_xml[key] = warped_blocks_xml(ds, grid, block, src_crs=ds.crs or self.grid.crs)
        return key, xml, block

    def describe_warps(self) -> None:
        """The warped VRTs' XML of the shared aux blocks made here (``share_parts`` first): the copies sent to
        reader processes open the VRTs, not the aux files (one VRT made a scene, not one a process)."""
        if self.parts is not None and self.parts.aux is not None:
            for src in self._aux:
                if src.georeferenced:
                    self._warped_xml_of(src)

    def _read_aux(self, tile: RasterGrid, block: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Every aux file warped onto the tile's aux grid, concatenated, and where all are valid. ``block``: the
        tile is a regular aux block, read at this window of the warped VRTs instead."""
        grid = aux_grid(tile, self.aux_ratio)
        arrays, valid = [], np.ones(grid.shape, dtype=bool)
        for index, stack in enumerate(self._aux_stacks):
            if block is None and len(stack) > 1:
                stacked = self._stack_dataset(index)
                crs, _, _, nodata = self._aux[stack[0]].grid_key
                pieces = [warp_to_grid(stacked, grid, list(range(1, stacked.count + 1)), resampling="bilinear",
                                       src_crs=crs, src_nodata=nodata)]
            else:
                pieces = [self._warp_file(self._aux[i], grid, block) for i in stack]
            for data, ok in pieces:
                arrays.append(data)
                valid &= ok
        aux = arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=0)  # each piece is a new array
        if not valid.all():
            aux[:, ~valid] = 0.0
        return aux, valid

    def _warp_file(self, src: _AuxSource, grid: RasterGrid, block: Any) -> tuple[np.ndarray, np.ndarray]:
        """One aux file on the tile's aux grid (``block``: at that window of this reader's warped VRT)."""
        warped = self._warped(src) if (src.georeferenced and block is not None) else None
        if warped is not None:
            data = warped.read(src.bands, window=block)
            return data, np.isfinite(data).all(axis=0)
        if src.georeferenced:
            ds = self._open(src.path, "aux raster")
            return warp_to_grid(ds, grid, src.bands, resampling="bilinear", src_crs=ds.crs or self.grid.crs)
        return warp_to_grid(src.array, grid, resampling="bilinear", src_transform=src.transform,
                            src_crs=self.grid.crs)

    def _stack_dataset(self, index: int) -> Any:
        """The stack's files (their used bands, in order) read whole into one in-memory float32 dataset, once per
        process: a handle of this reader's, closed and dropped as its files' handles are."""
        import rasterio

        key, sources = ("stack", index), [self._aux[i] for i in self._aux_stacks[index]]
        if key not in self._own_handles():  # it drops the handles of a parent process
            crs, transform = sources[0].grid_key[:2]
            array = np.concatenate([self._open(s.path, "aux raster").read(s.bands, out_dtype="float32")
                                    for s in sources])
            dataset = rasterio.open(f"aux_stack_{index}", "w", driver="MEM", width=array.shape[2],
                                    height=array.shape[1], count=array.shape[0], dtype="float32",
                                    transform=transform, crs=crs)
            dataset.write(array)
            self._handles[key] = dataset
        return self._handles[key]
