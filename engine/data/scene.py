"""One scene: a vision raster, optional aux rasters and an optional label, read tile by tile on the vision grid.

Every tile is a window (col_off, row_off, width, height) of the vision raster's grid. A scene's later dates
(change detection) are read onto the tile grid and stacked after the image's bands (:mod:`.dates`); aux rasters are
warped onto the tile's aux grid (:mod:`.scene_aux`); raster labels are warped (nearest) onto the tile grid, vector
labels reprojected once and rasterised per tile (:mod:`.scene_labels`).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from ..callbacks import Callback
from ..config.bands import BandSelection
from ..errors import AlignmentError, DataError
from ..time_axis import per_date, valid_on_all
from .acquisition import of_dataset
from .align import footprint_in, tile_grid
from .dates import DATE_ROLE, LaterDate, date_uses, read_date_tile, scene_dates
from .edge_fill import find_collar
from .labels import LabelMapper, RegionMask, VectorLabels
from .raster import RasterGrid, apply, band_count, grid_of, has_own_mask, open_raster, read_raw, read_window
from .reproject import NEAR_DEGREES
from .scene_aux import EXACT_IN_FLOAT32, SceneAux
from .scene_labels import SceneLabels
from .tile_parts import AuxLattice, CellLayout, SharedParts, Window, assemble_window, planned_uses


@dataclass
class TileArrays:
    """What :meth:`SceneReader.read` returns for one tile (raw values, not normalised)."""

    # (Cv, h, w) float32 (or the file's 8/16-bit integer dtype: ``read(keep_dtype=True)``); with later dates
    # (T*Cv, h, w) float32, the dates' bands in time order
    vision: np.ndarray
    valid: np.ndarray  # (h, w) bool
    date_valid: np.ndarray | None = None  # several dates: (T, h, w) bool, each date's own validity
    aux: np.ndarray | None = None  # (Ca, h//r, w//r) float32
    aux_valid: np.ndarray | None = None  # (h//r, w//r) bool
    label: np.ndarray | None = None  # (h, w) uint8 classes with the ignore index
    transform: Any = None  # the tile's affine transform in the image CRS


class SceneReader(SceneLabels, SceneAux):
    """Reads aligned tiles of (vision, aux, label) from one scene.

    Args:
        image: the vision raster (all its bands are used unless ``bands``/``x_bands`` select some).
        aux: aux rasters of any CRS/resolution/extent; the first ``aux_bands_per_file`` (None: all) bands of each.
        label: a label raster or a polygon layer (GeoPackage/GeoJSON/Shapefile).
        label_field: vector attribute holding the class; None = every polygon is class 1.
        label_after_field: with ``label_field``, the attribute of the class after a change (from-to classes).
        label_mapping: {raw value as string: class}, others -> ``label_default_class``; None: raw values are classes.
        ignore_index: label value for nodata, outside the image, and outside ``extent``/``aoi``.
        label_classes: the classes the label may hold (past 255 read as UInt16, as such a class raster is).
        aux_ratio: vision pixels per aux pixel along each axis.
        extent: [xmin, ymin, xmax, ymax] in ``extent_crs`` (default the image CRS) restricting the labels.
        aoi: polygon layer restricting the labels: the labelled area of partial labels (outside: ignored).
        bands: vision bands of the image, from 1 (None = all bands not in ``x_bands``).
        x_bands: image bands read as the aux input at full resolution (CMX's X modality; ``aux_ratio`` 1, no aux).
        role: what ``image`` is to the user, in messages ("image"; evaluation reads a "prediction").
        after: the scene's later dates (change detection): images of the same place, in time order, whose bands
            (the same as ``image``'s, or ``after_bands``) are stacked after the image's in every tile.
        after_bands: each later date's own bands, from 1 (bands picked by name per file); None = ``bands``.
        opened: files open already (the image door's datasets), by path, taken over: closed with the reader.
        dates_hold_data: the image door found valid pixels in every date: no all-nodata check.
        say_checks: say the image's fill collar (:mod:`.edge_fill`) and georeferencing in the log; a reader of an
            image whose checks were said already (a warped working copy) reads its collar as nodata all the same.
        inside: the image's part inside its fill collar, found on the image this one was warped from (col0, row0,
            col1, row1 on this grid); None: looked for here.
        each_date: a season's dates: a pixel is valid where any date holds data, each date's own validity in
            ``date_valid`` (a change model's: valid where every date does, the others zeroed there too).
    """

    def __init__(self, image: str, aux: list[str] | tuple[str, ...] = (), label: str | None = None, *,
                 label_field: str | None = None, label_after_field: str | None = None,
                 label_mapping: dict[str, int] | None = None, label_default_class: int = 0, ignore_index: int = 255,
                 label_classes: int = 255, aux_bands_per_file: int | None = None, aux_ratio: int = 8,
                 callback: Callback | None = None, extent: list[float] | None = None, extent_crs: str | None = None,
                 aoi: str | None = None, bands: list[int] | None = None, x_bands: list[int] | None = None,
                 role: str = "image", after: list[str] | tuple[str, ...] = (),
                 after_bands: list[list[int]] | None = None, opened: dict[str, Any] | None = None,
                 dates_hold_data: bool = False, each_date: bool = False, say_checks: bool = True,
                 inside: tuple[int, int, int, int] | None = None):
        self.image, self.role = str(image), role
        self.each_date = each_date
        self.callback = callback or Callback()
        self.label_path = None if label is None else str(label)  # said with the georeferencing, set up last
        self.label_after_field = label_after_field
        # the aux layout, checked before the image is opened (its X bands need ratio 1)
        self.aux_paths, self.aux_bands_per_file = [str(p) for p in aux], aux_bands_per_file
        self.aux_ratio = int(aux_ratio)
        if self.aux_ratio < 1:
            raise DataError(f"aux_ratio must be >= 1 (got {aux_ratio}).")
        self._handles: dict[Any, Any] = dict(opened or {})  # path -> open dataset
        self._pid = os.getpid()
        self.parts: SharedParts | None = None  # parts shared by planned tiles (share_parts); None: tile by tile
        self._open_image(bands, x_bands, say_checks, inside)
        if say_checks:
            self._say_georeferencing(after)
        self.after_paths = [str(p) for p in after]  # checked against the image: :func:`~.dates.scene_dates`
        # the later dates (their files, bands and grids), in time order
        self.later_dates: list[LaterDate] = scene_dates(self, self._open, after_bands, dates_hold_data) if after else []
        self._date_bands = sum(len(date.bands) for date in self.later_dates)
        self.dates = 1 + len(self.later_dates)  # the dates of the place it holds (1: one image; 2: before, after)
        # each date's acquisition date (None where unknown), in time order: a season's day numbers
        self.taken = [self.acquisition.date, *(date.date for date in self.later_dates)]
        self._setup_aux()
        self.label_field, self.label_mapping, self.label_default_class = label_field, label_mapping, label_default_class
        self.ignore_index, self.label_classes = int(ignore_index), int(label_classes)
        self.mapper = LabelMapper(label_mapping, label_default_class, self.ignore_index, self.label_path or "",
                                  self.label_classes)
        self._vector: VectorLabels | None = None
        self.label_same_grid = False
        if self.label_path is not None:
            self._setup_label(self.label_path)
        self._setup_region(extent, extent_crs, aoi)

    def _open_image(self, bands: list[int] | None, x_bands: list[int] | None, say_checks: bool,
                    inside: tuple[int, int, int, int] | None) -> None:
        image_ds = self._open(self.image, "image")
        self.grid: RasterGrid = grid_of(image_ds)
        self.image_bands: int = band_count(image_ds)  # an alpha band is the image's mask, not one of its bands
        self.selection = BandSelection.of(bands, x_bands)
        self.selection.check(self.image_bands, self.image)
        vision = self.selection.vision_bands(self.image_bands)
        self.vision_bands: int = len(vision)
        # one read a tile: the vision and X bands (None: every band, in file order; an alpha band is read as the mask)
        self._read_bands = (vision + list(self.selection.x or ())
                            if self.selection.active or self.image_bands < image_ds.count else None)
        self._cell_bands = len(self._read_bands) if self._read_bands else self.image_bands  # the vision and X bands
        if self.selection.x and (self.aux_paths or self.aux_ratio != 1):
            raise DataError(f"x_bands take the aux input from the {self.role} '{self.image}' itself (aux ratio 1); "
                            f"give either x_bands or aux rasters, not both.")
        self.vision_dtype: str = image_ds.dtypes[0]
        # the dtype ``read(keep_dtype=True)`` keeps: integers that float32 holds exactly, else float32
        self._exact_dtype = np.dtype(self.vision_dtype if self.vision_dtype in EXACT_IN_FLOAT32 else "float32")
        self._image_masked = has_own_mask(image_ds, (self._read_bands or [1])[0])  # asked once, not per cell
        self.georeferenced = self.grid.georeferenced
        self.gsd: tuple[float, float] = self.grid.res  # pixel size (x, y) in map units (pixels when ungeoreferenced)
        self.crs_wkt = None if self.grid.crs is None else self.grid.crs.to_wkt()
        self.acquisition = of_dataset(self.image, image_ds)  # each tile's date and place, for encoders taking them
        # an image's fill collar is nodata (a class raster read for evaluation or comparison has none: its edge rows
        # may well be one class)
        # ``inside`` given: the collar was found on the image this one was warped from (a warp blends it into its
        # edge, where it is no longer one value), so it is not looked for here
        collar = find_collar(image_ds, self._read_bands or list(range(1, self.image_bands + 1))) \
            if self.role == "image" and inside is None else None
        self.inside: tuple[int, int, int, int] | None = inside if collar is None else collar.inside
        if collar is not None and say_checks:
            self.callback.info(collar.said(self.image))

    def _say_georeferencing(self, after: list[str] | tuple[str, ...]) -> None:
        if not self.georeferenced:  # what it means for its later dates and label (aux rasters: a warning of their own)
            size = f"{self.grid.width}x{self.grid.height} px"
            dates = "".join(f"; the later date '{p}' is paired with it pixel for pixel, so it must show the same "
                            f"place at the same size ({size})" for p in after)  # nothing on the ground tells
            label = (f"; the label '{self.label_path}' is taken pixel for pixel, so it must cover the same area at "
                     f"the same size ({size})" if self.label_path else "")
            self.callback.warning(f"The {self.role} '{self.image}' has no georeferencing (no CRS, no geotransform): "
                                  f"working in pixel space{dates}{label}.")
        elif self.grid.crs is None:
            self.callback.warning(f"The {self.role} '{self.image}' has a geotransform but no CRS; map units are "
                                  f"assumed.")

    def _setup_region(self, extent: list[float] | None, extent_crs: str | None, aoi: str | None) -> None:
        """The extent / area of interest restricting the labels (training) or the region read (inference)."""
        self.aoi = aoi
        labelled = self.label_path is not None  # training: the area labelled completely
        self.region = RegionMask(
            self.grid.crs, extent, extent_crs or None, aoi, self.callback, near=self.grid.bounds,
            role="labelled area" if labelled else "area-of-interest layer",
            if_empty=("nothing is labelled in it yet; draw the outlines of what you labelled completely, or leave "
                      "it out to use the whole label layer") if labelled else "give a polygon layer")
        if self.region.active and not self.georeferenced:
            raise DataError(f"An extent/AOI was given but the {self.role} '{self.image}' has no georeferencing.")

    # ----------------------------------------------------------------------------------------- opening
    def _own_handles(self) -> dict[Any, Any]:
        """This process's open datasets: a forked worker drops its parent's (GDAL handles are not shared)."""
        if self._pid != os.getpid():
            self._handles = {}
            self._pid = os.getpid()
        return self._handles

    def _open(self, path: str, role: str) -> Any:
        ds = self._own_handles().get(path)
        if ds is None or ds.closed:
            ds = open_raster(path, role)
            self._handles[path] = ds
        return ds

    def image_dataset(self) -> Any:
        """The reader's own open image dataset, for checks that sample it (one open a scene: a bulk run of small
        scenes pays every open); the reader closes it."""
        return self._open(self.image, self.role)

    # ----------------------------------------------------------------------------------------- regions
    def region_window(self) -> tuple[int, int, int, int]:
        """(col_off, row_off, width, height) of the image part inside the extent/AOI (whole image if none)."""
        if self.region.empty:
            raise AlignmentError(f"The AOI does not overlap the {self.role} '{self.image}': its polygons lie more "
                                 f"than {NEAR_DEGREES:g}° away.")
        bounds = self.region.bounds()
        if bounds is None:
            return (0, 0, self.grid.width, self.grid.height)
        c0, r0, c1, r1 = self.pixel_box(bounds)
        if c1 <= c0 or r1 <= r0:
            raise AlignmentError(f"The extent/AOI does not overlap the {self.role} '{self.image}'.")
        return (c0, r0, c1 - c0, r1 - r0)

    def dates_window(self) -> tuple[int, int, int, int]:
        """:meth:`region_window` narrowed to the later dates' common footprint and inside the image's fill collar:
        where training draws its tiles and holds out its validation band, as a pixel is valid only where every date
        holds data."""
        col, row, width, height = self.region_window()
        c0, r0, c1, r1 = col, row, col + width, row + height
        if self.inside is not None:
            c0, r0, c1, r1 = max(c0, self.inside[0]), max(r0, self.inside[1]), min(c1, self.inside[2]), \
                min(r1, self.inside[3])
        for date in self.later_dates:
            if date.grid is None or not date.grid.georeferenced or not self.georeferenced:
                continue  # pixel space: the dates are the same size
            try:
                box = self.pixel_box(footprint_in(date.grid, self.grid.crs))
            except Exception:  # noqa: BLE001 - PROJ errors vary; the dates' overlap was checked the other way round
                continue
            c0, r0, c1, r1 = max(c0, box[0]), max(r0, box[1]), min(c1, box[2]), min(r1, box[3])
        if (c1 <= c0 or r1 <= r0) and not self.later_dates:  # the extent/AOI overlaps only the fill collar
            raise AlignmentError(f"The extent/AOI lies in the fill collar of the {self.role} '{self.image}' (edge "
                                 f"lines of one value, read as nodata); give an extent or AOI over its imagery.")
        if c1 <= c0 or r1 <= r0:  # the dates overlap (scene_dates), but not inside the extent/AOI
            raise AlignmentError(f"The later dates of the {self.role} '{self.image}' do not cover its extent/AOI; "
                                 f"give an extent or AOI where every date holds data.")
        return (c0, r0, c1 - c0, r1 - r0)

    def pixel_box(self, bounds: tuple[float, float, float, float], slack: float = 0.0) -> tuple[int, int, int, int]:
        """(col0, row0, col1, row1) of ``bounds`` (map units) on the image grid, outward to whole pixels, clipped;
        ``slack`` (pixels): a corner that far past a pixel edge still counts as on it."""
        inv = ~self.grid.transform
        cols, rows = zip(*(apply(inv, x, y) for x in bounds[0::2] for y in bounds[1::2]))  # the four corners
        c0, r0 = max(int(np.floor(min(cols) + slack)), 0), max(int(np.floor(min(rows) + slack)), 0)
        c1 = min(int(np.ceil(max(cols) - slack)), self.grid.width)
        r1 = min(int(np.ceil(max(rows) - slack)), self.grid.height)
        return c0, r0, c1, r1

    # ----------------------------------------------------------------------------------------- reading
    def read(self, col_off: int, row_off: int, width: int, height: int, keep_dtype: bool = False) -> TileArrays:
        """Read one tile (may reach outside the image: those pixels are invalid / ignore index). ``keep_dtype``: from
        shared cells, 8- or 16-bit integer vision stays in the file's dtype (float32 holds it exactly; half the
        bytes or less to batch and copy to a GPU)."""
        col_off, row_off, width, height = int(col_off), int(row_off), int(width), int(height)
        if width < 1 or height < 1:
            raise DataError(f"Tile size must be positive (got {width}x{height}).")
        first = self._cell_bands  # (never X bands with later dates: scene_dates refuses them)
        # a change model's tile: every date's bands in one float32 array, each filled in place
        stack = np.empty((first + self._date_bands, height, width), np.float32) if self.later_dates else None
        if self.parts is not None and self.parts.cells is not None:
            dtype = self._exact_dtype if keep_dtype and stack is None else np.float32
            vision, valid = self._image_from_cells(col_off, row_off, width, height, dtype,
                                                   None if stack is None else stack[:first])
        else:
            vision, valid = read_window(self._open(self.image, "image"), col_off, row_off, width, height,
                                        self._read_bands, self.inside)
            if stack is not None:
                stack[:first] = vision
        tile = tile_grid(self.grid, col_off, row_off, width, height)
        aux = aux_valid = None
        if self.selection.x:
            vision, aux = vision[:self.vision_bands], vision[self.vision_bands:].astype(np.float32, copy=False)
            aux_valid = valid.copy()
        elif self._aux:
            aux, aux_valid = self._aux_from_blocks(col_off, row_off, width, height, tile)
        date_valid = None
        if stack is not None:  # the later dates' bands after the image's, each date's invalid pixels zeroed
            each = [valid]
            for index, (date, into) in enumerate(zip(self.later_dates, per_date(stack, self.dates, axis=0)[1:])):
                each.append(read_date_tile(date, index, self._open(date.path, DATE_ROLE), tile, col_off, row_off,
                                           self.parts, into))
            date_valid, vision = np.stack(each), stack
            # a season: valid where any date holds data; a change: where every date does, the others zeroed there
            valid = date_valid.any(axis=0) if self.each_date else valid_on_all(date_valid)
            if not self.each_date and not valid.all():
                vision[:, ~valid] = 0.0
        label = None if self.label_path is None else self._read_label(tile, col_off, row_off, valid)
        return TileArrays(vision, valid, date_valid, aux, aux_valid, label, tile.transform)

    def share_parts(self, windows: Iterable[Window]) -> SharedParts:
        """Read each image cell and aux block under these tile windows once, for all the tiles that need it
        (:mod:`.tile_parts`), shared with this reader's ``worker_copy()``s. Training keeps per-tile reads: random
        tiles rarely share parts."""
        windows = [tuple(int(v) for v in window) for window in windows]
        image_ds = self._open(self.image, "image")
        block_h, block_w = image_ds.block_shapes[0]
        tile = max(windows[0][2:]) if windows else 0
        cells = CellLayout.for_blocks(self.grid.width, self.grid.height, block_w, block_h, tile)
        lattice = None
        if windows and self._aux and not self.selection.x:
            _, _, tile_w, tile_h = windows[0]
            if tile_w % self.aux_ratio == 0 and tile_h % self.aux_ratio == 0:  # else every tile warps its own
                lattice = AuxLattice(self.grid.width, self.grid.height, tile_w, tile_h, self.aux_ratio)
        uses = planned_uses(windows, cells, lattice)
        self.parts = SharedParts(uses | date_uses(uses, self.later_dates), cells, lattice)  # dates: the same cells
        return self.parts

    def stop_sharing(self) -> None:
        """Back to reading every tile on its own; frees the parts held."""
        self.parts = None

    def _image_from_cells(self, col_off: int, row_off: int, width: int, height: int, dtype: Any = np.float32,
                          out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The image window assembled from its cells (the same values as ``read_window``), into ``out`` if given."""
        cells = self.parts.cells
        pieces = [(cells.window(cy, cx), *self.parts.take(("cell", cy, cx), partial(self._read_cell, cy, cx)))
                  for cy, cx in cells.cells(col_off, row_off, width, height)]
        return assemble_window(pieces, col_off, row_off, width, height, self._cell_bands, dtype, out)

    def _read_cell(self, cy: int, cx: int) -> tuple[np.ndarray, np.ndarray]:
        return read_raw(self._open(self.image, "image"), *self.parts.cells.window(cy, cx), self._read_bands,
                        masked=self._image_masked, inside=self.inside)

    # ----------------------------------------------------------------------------------------- lifecycle
    def close(self) -> None:
        for ds in self._handles.values():
            if ds is not None:  # a warped VRT GDAL would not make
                ds.close()
        self._handles = {}

    def worker_copy(self) -> SceneReader:
        """A reader for another thread (GDAL handles serve one thread at a time): its own handles, the same
        (read-only) setup and shared parts."""
        clone = copy.copy(self)  # through __getstate__: no handles (reopened lazily), no parts
        clone.parts = self.parts  # made once for all the threads
        return clone

    def portable(self) -> SceneReader:
        """A copy to pickle into a reader process: no GDAL handles, no shared parts (a process plans its own), a
        plain callback (the caller's may be a QGIS feedback or a progress bar; reading a tile never warns)."""
        clone = copy.copy(self)
        clone.callback = Callback()
        return clone

    def __enter__(self) -> SceneReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        # GDAL handles cannot be pickled (reopened lazily); parts hold thread locks (a process plans its own)
        return {**self.__dict__, "_handles": {}, "parts": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return (f"SceneReader(image={self.image!r}, {self.grid.width}x{self.grid.height}x{self.vision_bands}, "
                f"aux_channels={self.aux_channels}, label={self.label_path!r})")
