"""Where to label next: square windows of one or more scenes, ranked by how much labelling them is expected to help.
``ranking.py`` (pure numpy: each window's uncertainty, disagreement, classes and labelled share; the greedy choice
spreading the windows over scenes and classes), ``run.py`` (the model(s) over the scenes, the windows layer written,
styled for QGIS)."""
