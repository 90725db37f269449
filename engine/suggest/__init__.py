"""Where to label next: square windows of one or more scenes, ranked by how much labelling them is expected to help.

``ranking.py`` (pure numpy: each window's uncertainty, disagreement, predicted classes and labelled share, and the
greedy choice that spreads the windows over scenes and classes, away from what is labelled), ``run.py`` (the model(s)
over the scenes, the labelled area rasterised, the GeoPackage of windows written, styled with its rank labels for
QGIS).
"""
