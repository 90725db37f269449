"""Polygon outlines against reference polygons: union IoU, vertices per polygon, share of right-angle corners, and
(with --match) polygon-level precision, recall and F1 at IoU >= 0.5. With --smoothing: how far smoothed outlines
moved from the raw ones (area between them per length of boundary) and how much smoothed neighbours overlap.

    python bench/polygon_quality.py OURS.gpkg REFERENCE.geojson --extent RASTER.tif [--match]
    python bench/polygon_quality.py SMOOTH.gpkg RAW.gpkg --smoothing

Figures in docs/polygons.md.
"""

from __future__ import annotations

import argparse
import json
import statistics

import numpy as np
from osgeo import gdal, ogr, osr

gdal.UseExceptions()
ogr.UseExceptions()


def _polygons(path: str, target: osr.SpatialReference, extent: ogr.Geometry, where: str | None) -> list:
    source = ogr.Open(path)
    layer = source.GetLayer(0)
    if where:
        layer.SetAttributeFilter(where)
    srs = layer.GetSpatialRef()
    transform = None
    if srs is not None and not srs.IsSame(target):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        transform = osr.CoordinateTransformation(srs, target)
    out = []
    for feature in layer:
        geometry = feature.GetGeometryRef().Clone()
        if transform is not None:
            geometry.Transform(transform)
        geometry = ogr.ForceToMultiPolygon(geometry.MakeValid().Intersection(extent))
        for i in range(geometry.GetGeometryCount()):
            part = geometry.GetGeometryRef(i)
            if part.GetArea() > 0:
                out.append(part.Clone())
    return out


def _corners(polygon: ogr.Geometry) -> tuple[int, int]:
    """(corners, corners within 10 degrees of a right angle) of the exterior ring."""
    ring = np.array(polygon.GetGeometryRef(0).GetPoints())[:-1, :2]
    if len(ring) < 3:
        return 0, 0
    before, after = ring - np.roll(ring, 1, axis=0), np.roll(ring, -1, axis=0) - ring
    angle = np.degrees(np.abs(np.arctan2(before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0],
                                         (before * after).sum(axis=1))))
    return len(ring), int(np.count_nonzero(np.abs(angle - 90) <= 10))


def _union(polygons: list) -> ogr.Geometry:
    collection = ogr.Geometry(ogr.wkbMultiPolygon)
    for p in polygons:
        collection.AddGeometry(p)
    return collection.UnionCascaded()


def _matches(ours: list, reference: list) -> int:
    """Greedy one-to-one matches at IoU >= 0.5 (each reference polygon matched once)."""
    used, matched = set(), 0
    for p in ours:
        envelope = p.GetEnvelope()
        for j, r in enumerate(reference):
            if j in used:
                continue
            e = r.GetEnvelope()
            if e[0] > envelope[1] or e[1] < envelope[0] or e[2] > envelope[3] or e[3] < envelope[2]:
                continue
            inter = p.Intersection(r).GetArea()
            if inter and inter / (p.GetArea() + r.GetArea() - inter) >= 0.5:
                used.add(j)
                matched += 1
                break
    return matched


def measure(ours_path: str, reference_path: str, raster: str, where: str | None = None,
            match: bool = False) -> dict:
    dataset = gdal.Open(raster)
    target = osr.SpatialReference(wkt=dataset.GetProjection())
    target.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    x0, dx, _, y0, _, dy = dataset.GetGeoTransform()
    x1, y1 = x0 + dx * dataset.RasterXSize, y0 + dy * dataset.RasterYSize
    extent = ogr.CreateGeometryFromWkt(f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))")
    ours = _polygons(ours_path, target, extent, where)
    reference = _polygons(reference_path, target, extent, None)
    a, b = _union(ours), _union(reference)
    inter = a.Intersection(b).GetArea()
    corners = [_corners(p) for p in ours]
    result = {"polygons": len(ours), "reference_polygons": len(reference),
              "union_iou": round(inter / (a.GetArea() + b.GetArea() - inter), 4),
              "median_vertices": statistics.median(c for c, _ in corners) if corners else 0,
              "right_angle_share": round(sum(r for _, r in corners) / max(1, sum(c for c, _ in corners)), 3)}
    if match:
        matched = _matches(ours, reference)
        precision, recall = matched / max(1, len(ours)), matched / max(1, len(reference))
        result.update(matched=matched, precision=round(precision, 3), recall=round(recall, 3),
                      f1=round(2 * precision * recall / max(1e-9, precision + recall), 3))
    return result


def smoothing(smooth_path: str, raw_path: str) -> dict:
    """Mean displacement (area between the raw and smoothed outline of each feature, over the raw boundary's
    length: map units) and the area where smoothed features overlap each other."""
    smooth_source, raw_source = ogr.Open(smooth_path), ogr.Open(raw_path)
    smooth, raw = smooth_source.GetLayer(0), raw_source.GetLayer(0)
    moved = length = overlap = 0.0
    vertices_raw = vertices_smooth = count = 0
    for a, b in zip(raw, smooth):
        ga, gb = a.GetGeometryRef(), b.GetGeometryRef()
        moved += ga.SymDifference(gb).GetArea()
        length += ga.Boundary().Length()
        vertices_raw += sum(ga.GetGeometryRef(i).GetGeometryRef(0).GetPointCount()
                            for i in range(ga.GetGeometryCount()))
        vertices_smooth += sum(gb.GetGeometryRef(i).GetGeometryRef(0).GetPointCount()
                               for i in range(gb.GetGeometryCount()))
        count += 1
    probe_source = ogr.Open(smooth_path)
    probe = probe_source.GetLayer(0)
    smooth.ResetReading()
    for feature in smooth:
        geometry = feature.GetGeometryRef()
        probe.SetSpatialFilter(geometry)
        for other in probe:
            if other.GetFID() > feature.GetFID():
                overlap += geometry.Intersection(other.GetGeometryRef()).GetArea()
        probe.SetSpatialFilter(None)
    return {"polygons": count, "mean_displacement": round(moved / max(length, 1e-9), 4),
            "overlap_area": round(overlap, 6), "vertices_raw": vertices_raw, "vertices_smooth": vertices_smooth}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ours")
    parser.add_argument("reference")
    parser.add_argument("--extent", help="raster whose extent and CRS the comparison uses")
    parser.add_argument("--smoothing", action="store_true", help="OURS smoothed against REFERENCE, its raw outlines")
    parser.add_argument("--where", help="attribute filter on OURS, e.g. \"class_id = 1\"")
    parser.add_argument("--match", action="store_true", help="also polygon-level F1 at IoU >= 0.5")
    args = parser.parse_args()
    if args.smoothing:
        print(json.dumps(smoothing(args.ours, args.reference)))
        return
    if not args.extent:
        parser.error("--extent is required")
    print(json.dumps(measure(args.ours, args.reference, args.extent, args.where, args.match)))


if __name__ == "__main__":
    main()
