"""``accept``: the checked windows of a proposals layer into the user's labels and labelled area.

The accepted windows' features (as the user left them) go to the label layer, their class in its class field, and
the windows' outlines to the labelled area, ready for ``train --init-from``. Each GeoPackage layer is appended to in
one SQLite transaction, both written before either is committed: a reader never sees half a window, and a layer
another program holds locked (QGIS editing it) is a clear error with neither changed. Missing files or layers are
created; the inputs are never appended to.

A layer given with QGIS's filter (``file.gpkg|layername=NAME|subset=SQL``) is appended to only where the filter
selects everything appended (tried in a transaction taken back): a hidden label would be shown by no QGIS and read
by no training, while its window joined the labelled area and was trained as background.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.proposals import AcceptConfig
from ..data.vector_layer import VectorLayer, apply_subset, whole_number
from ..errors import ConfigError, DataError, OutputError, mention
from ..io.formats import GPKG
from ..io.geopackage import Fields, create_layer, new_geopackage, spatial_ref
from ..io.locations import join_layer, layer_subset, local_file, split_layer
from ..io.writers import gdal_errors, remove_quietly
from ..runtime.environment import require
from .class_field import ClassField, check_polygon_layer, class_field
from .propose import Window, read_windows


@dataclass
class Accepted:
    """One accepted polygon: its window, class and geometry (WKT in the proposals' CRS)."""

    window: int
    class_id: int
    wkt: str


@dataclass
class AcceptResult:
    """What ``accept`` appended: the polygons to ``labels``, the windows to ``labelled_area``."""

    labels: str
    labelled_area: str
    windows: list[int]
    polygons: list[Accepted]
    notes: list[str] = field(default_factory=list)
    next_step: str = ""


def _same(a: str, b: str) -> bool:
    (fa, la), (fb, lb) = split_layer(a), split_layer(b)
    pa, pb = local_file(fa), local_file(fb)
    if not pa or not pb or not Path(pa).exists() or not Path(pb).exists():
        return bool(pa and pb) and os.path.abspath(pa) == os.path.abspath(pb) and la == lb
    return os.path.samefile(pa, pb) and (la == lb or la is None or lb is None)


def check_request(cfg: AcceptConfig) -> None:
    """The four layers given, and neither destination an input or the other destination."""
    inputs = (("accept.proposals", cfg.proposals), ("accept.windows", cfg.windows))
    outputs = (("accept.labels", cfg.labels), ("accept.labelled_area", cfg.labelled_area))
    for key, value in inputs + outputs:
        if not str(value or "").strip():
            raise ConfigError(f"accept needs {mention(key)}.")
    for out_key, out in outputs:
        for in_key, source in inputs:
            if _same(out, source):
                raise ConfigError(f"{mention(out_key)} '{out}' is the {mention(in_key)} layer: accept appends to "
                                  f"your own labels and labelled area, never to its inputs; give another layer.")
    if _same(cfg.labels, cfg.labelled_area):
        raise ConfigError(f"{mention('accept.labels')} and {mention('accept.labelled_area')} are the same layer "
                          f"'{cfg.labels}'; give two layers (two files, or file.gpkg|layername=NAME).")
    for key, value in outputs:
        if not GPKG.matches(value):
            raise ConfigError(f"{mention(key)} '{value}' is not a GeoPackage: accept appends to .gpkg layers only "
                              f"(one transaction each); save the layer as a GeoPackage first.")


def read_proposals(source: str, window_ids: list[int] | None) -> tuple[list[Accepted], list[int], Any]:
    """The proposals of the accepted windows, the windows (given, else those of the features) and the layer's
    spatial reference."""
    with VectorLayer(source, "proposals layer") as layer:
        names = layer.require_fields(("window", "class_id"), "give the layer propose wrote (window, class_id, "
                                                              "...), edited as you like.")
        ref = layer.srs()
        wanted = set(window_ids) if window_ids is not None else None
        found = []
        for feature in layer:
            geometry = feature.GetGeometryRef()
            window, class_id = feature.GetField(names["window"]), feature.GetField(names["class_id"])
            if geometry is None or geometry.IsEmpty() or window is None:
                continue
            window = whole_number(window, f"A proposal's window in '{source}'", "give it its window's rank.")
            if wanted is not None and window not in wanted:
                continue
            if class_id is None:
                raise DataError(f"A proposal of window {window} in '{source}' has no class_id; give it the class.")
            class_id = whole_number(class_id, f"The class_id of a proposal of window {window} in '{source}'",
                                    "give it a class number (0 background, 1, 2, ... as the model's classes).")
            if class_id < 0:
                raise DataError(f"A proposal of window {window} in '{source}' has the class_id {class_id}; give it a "
                                f"class number from 0.")
            found.append(Accepted(window, class_id, geometry.ExportToWkt()))
    windows = list(window_ids) if window_ids is not None else sorted({p.window for p in found})
    if not windows:
        raise DataError(f"The proposals layer '{source}' holds no proposal to accept; give "
                        f"{mention('accept.window_ids')} to accept windows as all background.")
    return found, windows, ref


class _Target:
    """A GeoPackage layer opened for appending (created when missing), with its transform from ``source_ref``."""

    def __init__(self, source: str, what: str, fields: Fields, source_ref: Any):
        ogr, osr = require("osgeo.ogr"), require("osgeo.osr")
        path, wanted = split_layer(source)
        self.source, self.what = source, what
        self.made = None if Path(path).exists() else Path(path)  # a new file: removed again when the run fails
        try:
            self.data = ogr.Open(path, 1) if self.made is None else new_geopackage(path, what)
            if self.data is None:
                raise OutputError(f"The {what} '{source}' cannot be opened for writing; check that it is a "
                                  f"GeoPackage you may write and that no other program holds it.")
            self.layer = self._pick(wanted)
            if self.layer is None:
                self.layer = create_layer(self.data, wanted or Path(path).stem, source_ref, fields)
        except RuntimeError as exc:
            raise OutputError(f"The {what} '{source}' cannot be written ({exc}); close it in other programs (in QGIS, "
                              f"stop editing it) and try again.") from exc
        check_polygon_layer(f"The {what} '{source}'", ogr.GeometryTypeToName(ogr.GT_Flatten(self.layer.GetGeomType())),
                            "give a polygon layer (or a new file).")
        ref = self.layer.GetSpatialRef()
        self.transform = None
        if ref is not None and source_ref is not None and not ref.IsSame(source_ref):
            for r in (ref, source_ref):
                r.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
            self.transform = osr.CoordinateTransformation(source_ref, ref)
        # QGIS's layer filter: checked as every reader checks it, kept off while the layer is searched for what
        # was accepted before (a label the filter hides is a label all the same)
        self.subset = layer_subset(source)
        if self.subset is not None:
            apply_subset(self.layer, self.subset, source, what)
            self.layer.SetAttributeFilter(None)
        definition = self.layer.GetLayerDefn()
        self.types = {definition.GetFieldDefn(i).GetName(): definition.GetFieldDefn(i).GetType()
                      for i in range(definition.GetFieldCount())}
        self.fields = {n.lower(): n for n in self.types}
        self.open = False

    def _pick(self, wanted: str | None) -> Any:
        """The layer named, or the file's only spatial layer; None: to be made. Several and none named: DataError
        (appending to the first would be a silent guess)."""
        ogr = require("osgeo.ogr")
        if wanted:
            return self.data.GetLayerByName(wanted)
        layers = [self.data.GetLayer(i) for i in range(self.data.GetLayerCount())]
        spatial = [layer for layer in layers if layer.GetGeomType() != ogr.wkbNone]
        if len(spatial) > 1:
            path = split_layer(self.source)[0]
            raise DataError(f"The {self.what} '{path}' holds {len(spatial)} layers "
                            f"({', '.join(layer.GetName() for layer in spatial)}); name the one to append to as "
                            f"'{path}|layername=NAME' (in QGIS: choose that layer).")
        return spatial[0] if spatial else None

    def field(self, wanted: str) -> str:
        if wanted.lower() not in self.fields:
            raise DataError(f"The {self.what} '{self.source}' has no field '{wanted}' (it has "
                            f"{', '.join(self.fields.values()) or 'none'}); give the class field as "
                            f"{mention('accept.label_field')}.")
        return self.fields[wanted.lower()]

    def class_field(self, name: str, instead: str, classes: bool = False) -> ClassField:
        """The field ``name`` under :mod:`.class_field`'s rule; ``classes``: its text values are read (class names
        are refused)."""
        ogr = require("osgeo.ogr")
        kind = self.types[name]
        named = {ogr.OFTInteger: "integer", ogr.OFTInteger64: "integer", ogr.OFTReal: "real", ogr.OFTString: "text"}
        return class_field(f"The {self.what} '{self.source}'", name, named.get(kind, ogr.GetFieldTypeName(kind)),
                           lambda: self._distinct(name) if classes else [], f"{instead} Nothing was appended.")

    def _distinct(self, name: str) -> list[Any]:
        quoted, table = name.replace('"', '""'), self.layer.GetName().replace('"', '""')
        found = self.data.ExecuteSQL(f'SELECT DISTINCT "{quoted}" FROM "{table}"')
        try:
            return [feature.GetField(0) for feature in found]
        finally:
            self.data.ReleaseResultSet(found)

    def write(self, rows: list[tuple[str, dict[str, Any]]]) -> None:
        """Add ``rows`` (WKT, field values) in a transaction left open for :meth:`commit`: the layer's lock is
        taken here, so a locked layer fails before anything is committed."""
        try:
            self._begin()
            self.open = True
            self._add(rows)
        except RuntimeError as exc:
            raise self._failed(exc) from exc

    def _begin(self) -> None:
        if self.layer.StartTransaction() != 0:
            raise RuntimeError("the transaction could not start")

    def _add(self, rows: list[tuple[str, dict[str, Any]]]) -> list[int]:
        ogr = require("osgeo.ogr")
        made = []
        for wkt, values in rows:
            for part in self._parts(self._geometry(wkt)):
                feature = ogr.Feature(self.layer.GetLayerDefn())
                for name, value in values.items():
                    feature.SetField(name, value)
                feature.SetGeometry(part)
                if self.layer.CreateFeature(feature) != 0:
                    raise RuntimeError("a feature could not be added")
                made.append(feature.GetFID())
        return made

    def hidden(self, rows: list[tuple[str, dict[str, Any]]]) -> tuple[int, int]:
        """(hidden, added): how many of the features ``rows`` would add the layer's filter leaves out, found by
        adding them in a transaction taken back; (0, 0) without a filter."""
        if not self.subset:
            return 0, 0
        try:
            self._begin()
            try:
                made = self._add(rows)
                if not made:
                    return 0, 0
                column = (self.layer.GetFIDColumn() or "fid").replace('"', '""')
                self.layer.SetAttributeFilter(f'({self.subset}) AND "{column}" IN ({", ".join(map(str, made))})')
                return len(made) - sum(1 for _ in self.layer), len(made)
            finally:
                self.layer.SetAttributeFilter(None)
                self.layer.ResetReading()
                self.layer.RollbackTransaction()
        except RuntimeError as exc:
            raise self._failed(exc) from exc

    def commit(self) -> None:
        try:
            if self.layer.CommitTransaction() != 0:
                raise RuntimeError("the transaction could not be committed")
            self.open = False
        except RuntimeError as exc:
            raise self._failed(exc) from exc

    def _failed(self, exc: BaseException) -> OutputError:
        return OutputError(f"Nothing was appended to the {self.what} '{self.source}': {exc}. If QGIS or another "
                           f"program is editing it, save and stop editing, then accept again.")

    def _geometry(self, wkt: str) -> Any:
        """The polygon ``wkt`` (in the source CRS) in the layer's CRS."""
        geometry = require("osgeo.ogr").CreateGeometryFromWkt(wkt)
        if self.transform is not None:
            geometry.Transform(self.transform)
        return geometry

    def _near(self, geometry: Any) -> list[Any]:
        """The layer's geometries whose boxes meet ``geometry``'s."""
        xmin, xmax, ymin, ymax = geometry.GetEnvelope()
        self.layer.SetSpatialFilterRect(xmin, ymin, xmax, ymax)
        try:
            return [f.GetGeometryRef().Clone() for f in self.layer if f.GetGeometryRef() is not None]
        finally:
            self.layer.SetSpatialFilter(None)
            self.layer.ResetReading()

    def covers(self, wkt: str) -> bool:
        """Whether the layer's features already cover 99 % of the polygon ``wkt`` (in the source CRS)."""
        geometry = self._geometry(wkt)
        covered = sum(other.Intersection(geometry).GetArea() for other in self._near(geometry)
                      if other.Intersects(geometry))
        return geometry.GetArea() > 0 and covered >= 0.99 * geometry.GetArea()

    def holds(self, wkt: str) -> bool:
        """Whether every part of the polygon ``wkt`` (in the source CRS) is a feature already (the same outline, to
        a millionth of its area): a label accepted before."""
        parts = self._parts(self._geometry(wkt))
        for part in parts:
            area = max(part.GetArea(), 1e-12)
            if not any(other.SymDifference(part).GetArea() <= 1e-6 * area for other in self._near(part)):
                return False
        return bool(parts)

    def _parts(self, geometry: Any) -> list[Any]:
        """``geometry`` as the layer takes it: a polygon layer gets one feature per part (a GeoPackage layer
        declared Polygon must not hold multipolygons), any other one multipolygon."""
        ogr = require("osgeo.ogr")
        multi = ogr.ForceToMultiPolygon(geometry)
        if ogr.GT_Flatten(self.layer.GetGeomType()) != ogr.wkbPolygon:
            return [multi]
        return [multi.GetGeometryRef(i).Clone() for i in range(multi.GetGeometryCount())]

    def close(self) -> None:
        """The layer closed, a transaction left open (the run failed) taken back first."""
        if self.open:
            self.layer.RollbackTransaction()
        self.layer = self.data = None


def accept(cfg: AcceptConfig) -> AcceptResult:
    """Append the accepted windows' proposals to ``cfg.labels`` and their outlines to ``cfg.labelled_area``.

    Raises ConfigError (a missing layer, a destination that is an input), DataError (not a proposals or windows
    layer, a window id they lack, no class field, a filter hiding what would be appended) or OutputError (a layer
    locked or not writable).
    """
    check_request(cfg)
    polygons, ids, ref = read_proposals(cfg.proposals, cfg.window_ids)
    windows: list[Window] = read_windows(cfg.windows, ids)
    window_ref = spatial_ref(windows[0].crs)
    with gdal_errors(require("osgeo.gdal")):
        labels = area = None
        done = False
        try:
            labels = _Target(cfg.labels, "label layer", [(cfg.label_field, "OFTInteger")], ref)
            label_field = labels.field(cfg.label_field)
            area = _Target(cfg.labelled_area, "labelled area", [("window", "OFTInteger")], window_ref)
            window_field = area.fields.get("window")
            _refuse_again(cfg, windows, polygons, labels, area)
            rule = labels.class_field(label_field, f"give a layer with an integer class field "
                                                   f"({mention('accept.label_field')}), or a new file.", classes=True)
            window_rule = area.class_field(window_field, "give a labelled area whose field 'window' holds numbers, "
                                                         "or a new file.") if window_field else None
            # both written before either is committed, so a locked layer stops the run with neither changed; two
            # layers of one file share its lock (one writer at a time): there each is written and committed in turn
            shared = _same(split_layer(cfg.labels)[0], split_layer(cfg.labelled_area)[0])
            label_rows = [(p.wkt, {label_field: rule.value(p.class_id)}) for p in polygons]
            area_rows = [(w.wkt, {window_field: window_rule.value(w.rank)} if window_rule else {}) for w in windows]
            for target, rows, things in ((labels, label_rows, "polygons accepted"), (area, area_rows, "windows")):
                hidden, added = target.hidden(rows)
                if hidden:
                    raise hidden_by_filter(target.what, join_layer(*split_layer(target.source)), str(target.subset),
                                           hidden, added, things)
            labels.write(label_rows)
            if shared:
                labels.commit()
            area.write(area_rows)
            if not shared:
                labels.commit()
            area.commit()
            done = True
        finally:
            for target in (labels, area):
                if target is not None:
                    target.close()
                    if not done and target.made is not None:
                        remove_quietly(target.made)  # a file this run made, left empty
    notes = [f"Window {w}: no polygon accepted, taken as all background." for w in ids
             if not any(p.window == w for p in polygons)]
    step = (f"Next: train again from the current model (train: {mention('train.init_from')} the model, "
            f"{mention('data.train_scenes#label')} '{cfg.labels}' with {mention('data.train_scenes#label_field')} "
            f"{cfg.label_field}, {mention('data.train_scenes#aoi')} '{cfg.labelled_area}'), then suggest again "
            f"with the same labelled area.")
    return AcceptResult(cfg.labels, cfg.labelled_area, ids, polygons, notes, step)


def hidden_by_filter(what: str, layer: str, subset: str, hidden: int, added: int, things: str) -> DataError:
    """The refusal when the filter ``subset`` of ``layer`` would hide ``hidden`` of the ``added`` ``things``
    accept appends (for a scratch layer, QGIS's expression)."""
    return DataError(f"The {what} '{layer}' has the filter '{subset}' (QGIS's layer filter), which would hide "
                     f"{hidden} of the {added} {things}: QGIS would not show them, and training given this layer "
                     f"would not read them (a window's labels hidden are trained as background). Remove the filter "
                     f"(in QGIS: the layer's Properties > Source > Query Builder, Clear) or widen it to select them, "
                     f"then accept again. Nothing was appended.")


def _refuse_again(cfg: AcceptConfig, windows: list[Window], polygons: list[Accepted], labels: _Target,
                  area: _Target) -> None:
    """DataError when a window lies in the labelled area already, or a polygon is in the labels already: training
    would count them twice. A scratch layer reaches here as a GeoPackage copy of its features."""
    again = [w.rank for w in windows if area.covers(w.wkt)]
    if again:
        raise DataError(f"Window(s) {', '.join(map(str, again))} lie inside the labelled area "
                        f"'{cfg.labelled_area}' already (accepted before?); accepting again would add their "
                        f"labels twice. Give the windows not yet accepted; nothing was appended.")
    held = sorted({p.window for p in polygons if labels.holds(p.wkt)})
    if held:
        raise DataError(f"Polygons of window(s) {', '.join(map(str, held))} are in the label layer '{cfg.labels}' "
                        f"already (accepted before, into another labelled area?); accepting again would add them "
                        f"twice. Give the windows not yet accepted; nothing was appended.")
