"""Every destination parameter of every DualStream algorithm refuses to write onto an input of the run.

The test walks the real provider's algorithms and their destination parameters (files, folders, rasters,
vectors, sinks, HTML); an algorithm with destinations but no entry in ``RUNS`` fails, so a new output cannot
skip the check. Each destination is pointed at an input of the run: ``processing.run`` must refuse it before
any work, naming the parameter, and leave the input as it was.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

pytestmark = pytest.mark.qgis

# algorithm id -> (parameters with the inputs as {key} placeholders and outputs in {out}, the input each
# destination is pointed at)
RUNS = {
    "dualstream:train": ({"INPUT": "{image}", "LABELS": "{label_vector}", "EPOCHS": 1, "OUTPUT": "{out}/m.dsmodel"},
                         "image"),
    "dualstream:segment": ({"INPUT": "{image}", "MODEL": "{bundle}", "OUTPUT": "{out}/o.tif"}, "image"),
    "dualstream:segmentbulk": ({"INPUT": ["{image}"], "MODEL": "{bundle}", "OUTPUT": "{out}/bulk"}, "image"),
    "dualstream:evaluate": ({"INPUT": "{prediction}", "LABELS": "{label_vector}", "OUTPUT": "{out}/m.json"},
                            "label_vector"),
    "dualstream:polygons": ({"INPUT": "{prediction}", "OUTPUT": "{out}/p.gpkg"}, "prediction"),
    "dualstream:suggest": ({"MODEL": "{bundle}", "INPUT": ["{image}"], "LABELLED_AREA": "{label_vector}",
                            "OUTPUT": "{out}/w.gpkg"}, "label_vector"),
    "dualstream:labelsam": ({"INPUT": "{image}", "PROMPTS": "{label_vector}", "OUTPUT": "{out}/l.gpkg"},
                            "label_vector"),
    "dualstream:propose": ({"WINDOWS": "{label_vector}", "MODEL": "{bundle}", "OUTPUT": "{out}/p.gpkg"},
                           "label_vector"),
    "dualstream:trainchange": ({"INPUT": "{image}", "AFTER": "{after}", "LABELS": "{label_vector}", "EPOCHS": 1,
                                "OUTPUT": "{out}/c.dsmodel"}, "after"),
    "dualstream:detectchange": ({"INPUT": "{image}", "AFTER": "{after}", "MODEL": "{bundle}",
                                 "OUTPUT": "{out}/c.tif"}, "after"),
    "dualstream:comparechange": ({"INPUT": "{prediction}", "AFTER": "{after_classes}", "OUTPUT": "{out}/c.tif"},
                                 "prediction"),
    "dualstream:trainseason": ({"DATES": ["{image}", "{after}"], "LABELS": "{label_vector}", "EPOCHS": 1,
                                "OUTPUT": "{out}/s.dsmodel"}, "after"),
    "dualstream:segmentseason": ({"DATES": ["{image}", "{after}"], "MODEL": "{bundle}", "OUTPUT": "{out}/s.tif"},
                                 "after"),
    # no inputs: its folder pointed at an existing file (someone's image) must be refused all the same
    "dualstream:sampledata": ({}, "image"),
}


def destinations() -> list[tuple[str, str, str]]:
    """(algorithm id, parameter name, parameter type) of every destination of the provider's algorithms."""
    from qgis.core import QgsApplication

    provider = QgsApplication.processingRegistry().providerById("dualstream")
    return sorted((alg.id(), d.name(), d.type()) for alg in provider.algorithms()
                  for d in alg.destinationParameterDefinitions())


@pytest.fixture(scope="module")
def inputs(plugin, tmp_path_factory) -> dict[str, str]:
    """Real inputs: a scene with raster and polygon labels, a prediction, and a bundle-named file (the checks
    refuse before the bundle is read)."""
    from engine.data.synthetic import make_scene

    root = tmp_path_factory.mktemp("destinations")
    scene = make_scene(root, "s", size=(64, 64), seed=3, label_from="both")
    later = make_scene(root, "t", size=(64, 64), seed=4)  # the place at a later date, for the change algorithms
    bundle = root / "model.dsmodel"
    bundle.write_bytes(b"not read before the destinations are checked" * 8)
    return {"image": scene["image"], "label": scene["label"], "label_vector": scene["label_vector"],
            "prediction": scene["label"], "bundle": str(bundle), "after": later["image"],
            "after_classes": later["label"]}


def test_every_algorithm_with_destinations_is_walked(plugin):
    walked = {alg for alg, _name, _type in destinations()}
    assert walked, "the provider lists no destination parameter at all"
    assert walked <= set(RUNS), f"algorithms {sorted(walked - set(RUNS))} have destinations but no entry in RUNS"
    kinds = {kind for _alg, _name, kind in destinations()}
    assert {"fileDestination", "folderDestination", "rasterDestination", "vectorDestination", "sink"} <= kinds


def _digests(paths: list[str]) -> dict[str, str]:
    files = [p for path in paths for p in ([Path(path)] if Path(path).is_file() else Path(path).parent.iterdir())]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_each_destination_refuses_an_input(plugin, inputs, tmp_path):
    import processing
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    class Recorder(QgsProcessingFeedback):
        def __init__(self) -> None:
            super().__init__()
            self.errors: list[str] = []

        def reportError(self, error: str, fatalError: bool = False) -> None:  # noqa: N802 - QGIS API
            self.errors.append(error)

    walked = destinations()
    before = _digests(list(inputs.values()))
    for alg, name, kind in walked:
        template, target_key = RUNS[alg]
        out = tmp_path / f"{alg.split(':')[1]}_{name}"
        out.mkdir()
        params = {key: ([v.format(out=out, **inputs) for v in value] if isinstance(value, list)
                        else value.format(out=out, **inputs) if isinstance(value, str) else value)
                  for key, value in template.items()}
        target = inputs[target_key]
        params[name] = target
        feedback = Recorder()
        with pytest.raises(QgsProcessingException) as caught:
            processing.run(alg, params, feedback=feedback)
        said = " ".join([str(caught.value), *feedback.errors])
        assert f"({name})" in said and target in said, f"{alg} {name} ({kind}): {said}"
        assert "would overwrite" in said or "not a folder" in said, f"{alg} {name} ({kind}): {said}"
        assert _digests(list(inputs.values())) == before, f"{alg} {name} changed an input"
        assert not any(out.iterdir()), f"{alg} {name} wrote {sorted(p.name for p in out.iterdir())}"
