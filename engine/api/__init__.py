"""The engine's public surface: the one door the ``dualstream`` command and the QGIS plugin go through.

A front end builds a typed request from the settings' declarations (:mod:`.configs`), calls one job function
with a :class:`Callback` for progress and cancellation, and shows the typed result it gets back. Nothing a run
needs happens in a front end: the automatic choices, the output checks, the seed, the class colours and the
report copy happen here, once, whichever front end asked.

- :mod:`.configs`  the declarations, the settings sections and config classes, the model registry's answers
- :mod:`.protocol`  the callback and stage protocol, the error hierarchy and how messages name a setting
- :mod:`.files`     output formats and path checks, model bundles read and described; web layers, source names
- :mod:`.training`  ``train``: a model bundle from rasters and labels
- :mod:`.inference` ``segment``, ``segment_many``, ``evaluate``, ``polygons``; ``compare``, ``change_table``,
  ``class_areas``
- :mod:`.tools`     ``describe_model``, ``export``, ``import_model``, ``check_environment``, ``make_sample``
- :mod:`.prompted`  ``label_with_prompts``, ``prompted_session``, ``predict_prompts``: Segment Anything prompts;
  ``stac_layer``; ``check_polygon_layer``, ``class_field``: how a label layer takes a class number; ``suggest``:
  where labelling next helps the model most; ``propose``, ``accept``: the loop after it
- :mod:`.ready`     ``ready_models``, ``get_ready_model``: models made elsewhere, from the catalogue

Each part lists its public names once, in its own ``__all__``; this package hands on exactly those (``PARTS``).
Importing it never imports torch: the plugin loads it to say what is missing.
"""

from .. import __version__
from . import configs, files, inference, prompted, protocol, ready, tools, training

#: The parts whose ``__all__`` make the engine's public surface.
PARTS = (configs, protocol, files, training, inference, tools, prompted, ready)
globals().update({name: getattr(part, name) for part in PARTS for name in part.__all__})

__all__ = ["__version__", *(name for part in PARTS for name in part.__all__)]
