"""Prompted labelling with Segment Anything models: a click, a box or a word in map coordinates -> polygons.

``model.py`` (the prompt model types and the models by name, what a type needs beyond the project's packages, a
model loaded strictly, an image embedded once, prompts answered), ``session.py`` (a window's embedding kept in a
small LRU cache; prompts in map coordinates; masks into georeferenced polygons), ``labels.py`` (prompts from a
vector file or a text, polygons written to a GeoPackage), and the loop after ``suggest``: ``propose.py`` (its
windows read back too), ``accept.py``, and ``class_field.py`` (the one rule for a class number written into a label
layer, for ``accept`` and a map tool's Accept). The picture comes through the image door, ``engine.imagery.picture``.
"""
