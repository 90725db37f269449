"""Scratch (memory) layers for the plugin tests, made as a user makes them in QGIS, with a selection.

A layer's feature ids are a ``QgsFeatureIds``, a Qt ``QSet``: PyQGIS hands ``allFeatureIds()`` and
``selectedFeatureIds()`` over in the set's iteration order, which Qt's hash seed decides, and Qt draws that seed at
random in every process (``QT_HASH_SEED`` fixes it). So ``list(layer.allFeatureIds())[0]`` is the first feature
added in some processes and the second in others: pick features by the ids ``addFeatures`` returns instead."""

from __future__ import annotations


def scratch_squares(image: str, boxes: list[tuple[int, int, int, int]], select: int):
    """A memory layer of pixel squares (col0, col1, row0, row1) of ``image``, in its CRS; square ``select`` (its
    position in ``boxes``) is the one selected."""
    import rasterio
    from qgis.core import QgsFeature, QgsGeometry, QgsPointXY, QgsVectorLayer

    with rasterio.open(image) as ds:
        t, crs = ds.transform, ds.crs
    layer = QgsVectorLayer(f"Polygon?crs={crs.to_string()}", "labelled squares", "memory")
    features = []
    for c0, c1, r0, r1 in boxes:
        ring = [QgsPointXY(*(t * (c, r))) for c, r in ((c0, r0), (c1, r0), (c1, r1), (c0, r1))]
        feature = QgsFeature()
        feature.setGeometry(QgsGeometry.fromPolygonXY([ring]))
        features.append(feature)
    ok, added = layer.dataProvider().addFeatures(features)
    assert ok and len(added) == len(boxes)
    layer.selectByIds([added[select].id()])  # the feature made from boxes[select], whatever the set order
    return layer
