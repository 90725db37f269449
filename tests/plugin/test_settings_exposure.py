"""Every declared setting is offered by both front ends (the command line and the Processing algorithms) or
declares why not; the Processing parameters that are settings are the declared ones, with their declared label,
default and bounds; and an engine message names a setting as each front end's own control."""

from __future__ import annotations

import dataclasses

import pytest

pytestmark = pytest.mark.qgis

#: Where each section's settings are offered: the CLI command and the Processing algorithms.
FRONT_ENDS = {
    "model": ("train", ["dualstream:train", "dualstream:trainchange", "dualstream:trainseason"]),
    "data": ("train", ["dualstream:train", "dualstream:trainchange", "dualstream:trainseason"]),
    "augment": ("train", ["dualstream:train", "dualstream:trainchange", "dualstream:trainseason"]),
    "loss": ("train", ["dualstream:train", "dualstream:trainchange", "dualstream:trainseason"]),
    "train": ("train", ["dualstream:train", "dualstream:trainchange", "dualstream:trainseason"]),
    "segment": ("segment", ["dualstream:segment", "dualstream:segmentbulk", "dualstream:detectchange",
                            "dualstream:segmentseason"]),
    "bulk": ("segment", ["dualstream:segmentbulk"]),
    "evaluate": ("evaluate", ["dualstream:evaluate"]),
    "export": ("export", []),
    "compare": ("compare", ["dualstream:comparechange"]),
    "polygons": ("polygons", ["dualstream:polygons"]),
    "suggest": ("suggest", ["dualstream:suggest"]),
    "label": ("label", ["dualstream:labelsam"]),
    "propose": ("propose", ["dualstream:propose"]),
    "accept": ("accept", ["dualstream:accept"]),
    "scene": ("train", ["dualstream:train", "dualstream:trainchange", "dualstream:trainseason"]),
}
#: Processing parameters with a value widget that are not engine settings, and why.
NOT_SETTINGS = {
    "DATES_FOLDER": "a folder of a season's dates: the DATES setting's other form (the season algorithms)",
    "LABEL_FIELD": "a field of the label layer (scene input)",
    "WEIGHTS": "ensemble weights, one per MODEL file",
    "PATTERN": "with FOLDER, the scene images (bulk input)",
    "AUX_PATTERNS": "the scenes' aux files (bulk input)",
    "ADD_TO_PROJECT": "QGIS only: load the results into the project",
    "LABEL_VALUES": "Evaluate's choice of where the label mapping comes from (the model's, class numbers, given)",
    "MODE": "Train's choice of which inputs are used: the layers or a dataset folder",
    "CONFIDENCE": "Polygons' confidence raster (an input layer)",
}
VALUE_TYPES = ("number", "enum", "boolean", "string")
#: Settings of another section an algorithm offers as that section's parameter, and why.
BORROWED = {"dualstream:suggest": {"segment.pixel_size": "a web layer scene is read as Segment reads it"},
            "dualstream:segmentseason": {"scene.dates": "a season's dates are given as Train season takes them"}}


def _cli_options(command: str) -> set[str]:
    import argparse

    from engine.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices[command]._option_string_actions)


def _undeclared(section: type | tuple[type, ...]) -> list[str]:
    """Fields of a section's config class(es) without a declaration."""
    from engine.declarations import METADATA_KEY

    return [f"{cls.__name__}.{f.name}" for cls in (section if isinstance(section, tuple) else (section,))
            for f in dataclasses.fields(cls) if METADATA_KEY not in f.metadata]


def test_every_setting_is_in_both_front_ends_or_says_why_not(plugin):
    from qgis.core import QgsApplication

    from dualstream_qgis.compat import PARAMETER_ADVANCED, PARAMETER_OPTIONAL
    from engine.api import AUTOMATIC, family_setting
    from engine.config import SETTINGS_SECTIONS
    from engine.declarations import declared, format_default

    registry = QgsApplication.processingRegistry()
    lines, exposed = [], {"cli": 0, "qgis": 0, "total": 0}
    for section, cls in SETTINGS_SECTIONS.items():
        assert _undeclared(cls) == [], f"section {section} has fields without a declaration"
        command, alg_ids = FRONT_ENDS[section]
        options = _cli_options(command)
        algorithms = [registry.algorithmById(alg_id) for alg_id in alg_ids]
        for s in declared(cls):
            exposed["total"] += 1
            if s.flag is None or s.param is None:
                where = "neither front end" if s.flag is None and s.param is None else \
                    "not on the CLI" if s.flag is None else "not in QGIS"
                reasons = dict.fromkeys(r for r in (s.decl.no_cli, s.decl.no_qgis) if r)
                lines.append(f"  {section}.{s.name}: {where}: {'; '.join(reasons)}")
            if s.flag is None:
                assert s.decl.no_cli, f"{section}.{s.name}: no flag and no reason"
            else:
                assert s.flag in options, f"{section}.{s.name}: {s.flag} is not an option of `{command}`"
                exposed["cli"] += 1
            if s.param is None:
                assert s.decl.no_qgis, f"{section}.{s.name}: no Processing parameter and no reason"
                continue
            found = [(a, a.parameterDefinition(s.param)) for a in algorithms if a.parameterDefinition(s.param)]
            assert found, f"{section}.{s.name}: {s.param} is in none of {alg_ids}"
            exposed["qgis"] += 1
            base = s
            for alg, definition in found:
                if base.decl.custom_qgis:
                    continue
                # a model family's own form (Train change detection) offers the setting as the family declares it
                s = family_setting(f"{section}.{base.name}", getattr(alg, "FAMILY", None)) or base
                # the generated parameter is the declaration's: label, help, default, advanced flag
                assert definition.description() == s.decl.label and definition.help().startswith(s.decl.help)
                if s.decl.auto and s.qgis_default is None and s.decl.off is None and s.kind in (int, float):
                    # left unset in the form, the engine chooses: said automatic
                    assert definition.help() == f"{s.decl.help} Automatic: {s.decl.auto}."
                    assert definition.metadata().get("dualstream_automatic") == AUTOMATIC, (alg.id(), s.param)
                elif s.decl.auto:  # chosen from the data and the device when left at its default: the help says how
                    assert definition.help() == f"{s.decl.help} Left at its default: {s.decl.auto}."
                elif s.decl.default_note and definition.flags() & PARAMETER_OPTIONAL:
                    # a number left unset: the engine takes the model's, and the help says what that is
                    assert s.default is None and definition.defaultValue() is None
                    assert definition.help() == f"{s.decl.help} Not set: {s.decl.default_note}."
                else:
                    assert definition.help() == s.decl.help
                advanced = bool(definition.flags() & PARAMETER_ADVANCED)
                assert advanced == s.decl.advanced, s.param
                default = definition.defaultValue()
                if definition.type() == "enum":  # the engine's choices (a registry's), in its order
                    assert definition.options() == list(s.choices), s.param
                    default = definition.options()[default]
                elif definition.type() == "string":
                    default = default or ""
                expected = s.qgis_default
                if definition.type() == "string":
                    expected = format_default(s, expected)
                if expected is None:
                    expected = s.decl.off
                assert default == expected, f"{s.param}: default {default!r}, declared {expected!r}"
                if definition.type() == "number" and s.decl.minimum is not None:
                    assert definition.minimum() == s.decl.minimum, s.param
            s = base
    # the reverse: every value parameter of the algorithms is a declared setting or named as not one
    for alg_id in {a for _, ids in FRONT_ENDS.values() for a in ids}:
        alg = registry.algorithmById(alg_id)
        sections = [sec for sec, (_, ids) in FRONT_ENDS.items() if alg_id in ids]
        params = {s.param for sec in sections for s in declared(SETTINGS_SECTIONS[sec]) if s.param}
        for key in BORROWED.get(alg_id, {}):
            section, name = key.split(".")
            params |= {s.param for s in declared(SETTINGS_SECTIONS[section]) if s.name == name}
        for definition in alg.parameterDefinitions():
            if definition.type() in VALUE_TYPES:
                assert definition.name() in params or definition.name() in NOT_SETTINGS, \
                    f"{alg_id} {definition.name()} is a hand-written setting; declare it in engine/config/"
    print(f"\n{exposed['total']} declared settings: {exposed['cli']} on the command line, {exposed['qgis']} in "
          f"QGIS; deliberately not offered:\n" + "\n".join(lines))
    assert exposed["qgis"] >= 40 and exposed["cli"] >= 70  # the front ends did not lose their options


#: Settings whose Processing parameter the algorithm makes itself for another thing than the declaration says,
#: and why (the parameter's label and help are then the algorithm's own).
OWN_TEXT = {
    "data.train_scenes": "one image layer of the scene list: its label and aux are parameters of their own "
                         "(the scene section's)",
    "segment.extent_crs": "the extent parameter carries its own CRS",
    "label.extent_crs": "the extent parameter carries its own CRS",
    "suggest.extent_crs": "the extent parameter carries its own CRS",
    "compare.extent_crs": "the extent parameter carries its own CRS",
    "bulk.extent_crs": "the extent parameter carries its own CRS",
}
#: The same for one algorithm only (``alg_id``: ``section.field``): the change algorithms name their inputs and
#: output as dates and change, where the declaration speaks of one image and its classes.
OWN_TEXT_IN = {
    "dualstream:trainchange": {"scene.image": "the first date (before)", "scene.label": "the change labels"},
    "dualstream:detectchange": {"segment.image": "the first date (before)", "segment.output": "the change raster"},
}


def test_file_and_layer_parameters_take_the_declared_texts(plugin):
    """A parameter an algorithm makes itself (a layer, file or destination widget) is labelled and explained by
    the setting's declaration, as the generated ones are (the help may go on with what only the dialog does)."""
    from qgis.core import QgsApplication

    from engine.config import SETTINGS_SECTIONS
    from engine.declarations import declared

    registry = QgsApplication.processingRegistry()
    checked = 0
    for alg_id in sorted({a for _, ids in FRONT_ENDS.values() for a in ids}):
        alg = registry.algorithmById(alg_id)
        owners = {}  # parameter id -> the setting that declares it (bulk's over segment's in Segment in bulk)
        for section, (_, ids) in FRONT_ENDS.items():
            if alg_id in ids:
                owners.update({s.param: (section, s) for s in declared(SETTINGS_SECTIONS[section])
                               if s.decl.custom_qgis and s.param})
        for param, (section, s) in owners.items():
            definition = alg.parameterDefinition(param)
            key = f"{section}.{s.name}"
            if definition is None or key in OWN_TEXT or key in OWN_TEXT_IN.get(alg_id, {}):
                continue
            assert definition.description() == s.decl.label, f"{alg_id} {param}: label not the declaration's"
            assert definition.help().startswith(s.decl.help), f"{alg_id} {param}: help not the declaration's"
            checked += 1
    assert checked >= 15, checked  # Train, Segment, Segment in bulk and Evaluate all make some


def test_engine_messages_name_the_setting_as_each_front_end_shows_it(plugin, scenes, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    from engine.cli.options import flag_name
    from engine.config import DataConfig
    from engine.errors import ConfigError, mention

    with pytest.raises(ConfigError) as raised:
        DataConfig(tile_size=48)
    assert str(raised.value).startswith("tile_size must be")  # logs and summaries: the setting's own name
    assert raised.value.render(flag_name).startswith("--tile-size must be")
    assert ConfigError(f"lower {mention('train.resume')}").render(flag_name) == "lower --resume"
    # QGIS: the dialog's parameter, whatever the engine checked
    with pytest.raises(QgsProcessingException, match=r"'Tile size \(pixels\)' \(TILE_SIZE\) must be a positive"):
        processing.run("dualstream:train", {"DATA_FOLDER": str(tmp_path), "TILE_SIZE": 48,
                                            "OUTPUT": str(tmp_path / "x.dsmodel")})
    with pytest.raises(QgsProcessingException, match=r"'Label mapping \(VALUE=CLASS, for 'this mapping'\)' "
                                                     r"\(LABEL_MAPPING\): '90' is not VALUE=CLASS"):
        processing.run("dualstream:evaluate", {"INPUT": scenes["s1"]["label"], "LABELS": scenes["s1"]["label"],
                                               "LABEL_MAPPING": "90", "OUTPUT": str(tmp_path / "x.json")})


def test_progress_messages_name_the_setting_as_each_front_end_shows_it(qgis_app):
    import io

    from qgis.core import QgsProcessingFeedback

    from dualstream_qgis.feedback import FeedbackCallback
    from engine.cli.progress import TqdmCallback
    from engine.errors import mention

    message = f"Set {mention('segment.resample_to_training_gsd')} to predict at the training pixel size."

    class Recording(QgsProcessingFeedback):
        warnings: list[str] = []

        def pushWarning(self, text):  # noqa: N802 - QGIS API
            self.warnings.append(text)

    feedback = Recording()
    FeedbackCallback(feedback).warning(message)
    assert feedback.warnings == ["Set 'Resample to the training resolution' (RESAMPLE_TO_TRAINING_GSD) to predict "
                                 "at the training pixel size."]
    stream = io.StringIO()
    with TqdmCallback(stream=stream) as callback:
        callback.warning(message)
    assert "warning: Set --resample-to-training-gsd to predict" in stream.getvalue()
