"""One picture of polygon outlines over their image: reference, raw and regularised (docs/polygons.md).

    python bench/polygon_picture.py IMAGE.tif OUT.png REFERENCE.geojson:black RAW.gpkg:red REGULARISED.gpkg:cyan \
        [--crop=COL0,ROW0,COL1,ROW1]
"""

from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from osgeo import gdal, ogr, osr  # noqa: E402

gdal.UseExceptions()


def main() -> None:
    crop = [a for a in sys.argv[1:] if a.startswith("--crop=")]
    image, out, *layers = [a for a in sys.argv[1:] if not a.startswith("--crop=")]
    dataset = gdal.Open(image)
    rgb = np.dstack([dataset.GetRasterBand(i).ReadAsArray() for i in (1, 2, 3)]).astype(np.float64)
    low, high = np.percentile(rgb, 2), np.percentile(rgb, 98)
    rgb = np.clip((rgb - low) / (high - low), 0, 1)
    x0, dx, _, y0, _, dy = dataset.GetGeoTransform()
    target = osr.SpatialReference(wkt=dataset.GetProjection())
    target.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    figure, axis = plt.subplots(figsize=(9, 9), dpi=90)
    axis.imshow(rgb, extent=(x0, x0 + dx * rgb.shape[1], y0 + dy * rgb.shape[0], y0))
    for spec in layers:
        path, color, *width = spec.split(":")
        source = ogr.Open(path)
        layer = source.GetLayer(0)
        srs = layer.GetSpatialRef()
        transform = None
        if srs is not None and not srs.IsSame(target):
            srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
            transform = osr.CoordinateTransformation(srs, target)
        for feature in layer:
            geometry = feature.GetGeometryRef().Clone()
            if transform is not None:
                geometry.Transform(transform)
            geometry = ogr.ForceToMultiPolygon(geometry)
            for i in range(geometry.GetGeometryCount()):
                polygon = geometry.GetGeometryRef(i)
                for j in range(polygon.GetGeometryCount()):
                    ring = np.array(polygon.GetGeometryRef(j).GetPoints())
                    axis.plot(ring[:, 0], ring[:, 1], color=color, linewidth=float(width[0]) if width else 1.2)
        axis.plot([], [], color=color, label=path.rsplit("/", 1)[-1])
    c0, r0, c1, r1 = ([int(v) for v in crop[0].split("=", 1)[1].split(",")] if crop
                      else (0, 0, rgb.shape[1], rgb.shape[0]))
    axis.set_xlim(x0 + dx * c0, x0 + dx * c1)
    axis.set_ylim(y0 + dy * r1, y0 + dy * r0)
    axis.legend(loc="lower right")
    axis.set_axis_off()
    figure.savefig(out, bbox_inches="tight")


if __name__ == "__main__":
    main()
