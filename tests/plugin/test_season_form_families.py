"""Train season's form with an encoder that picks another family than the season family (Presto: eoseries, a
frozen pixel-series encoder and a light head, no decoder), under a real QgsApplication: the help says what that
family takes (the engine's declarations, not copies), a decoder chosen with it is refused naming the parameters
(defect: it was dropped unsaid and the model trained without it), and a run with the decoder left alone says it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from tests.plugin.keeping_feedback import Log

pytestmark = pytest.mark.qgis

DAYS = ("2024-03-01", "2024-05-01", "2024-07-01")
TRAIN = {"EPOCHS": 1, "WARMUP_EPOCHS": 0, "TILE_SIZE": 32, "TILES_PER_EPOCH": 4, "DEVICE": "cpu", "SEED": 0}


def _write(path: Path, values: np.ndarray, date: str | None = None, dtype: str = "float32") -> str:
    profile = {"driver": "GTiff", "width": 64, "height": 64, "count": 1, "dtype": dtype, "crs": "EPSG:32633",
               "transform": from_origin(500000.0, 5000000.0, 10.0, 10.0)}
    with rasterio.open(path, "w", **profile) as out:
        out.write(values[None].astype(dtype))
        if date:
            out.update_tags(ACQUISITIONDATETIME=f"{date}T10:00:00")
            out.set_band_description(1, "ndvi")  # Presto places the bands by name
    return str(path)


@pytest.fixture(scope="module")
def presto_season(tmp_path_factory):
    from tests.engine.eo_fixtures import write_presto_release

    root = tmp_path_factory.mktemp("presto_form")
    write_presto_release(root / "presto")
    rng = np.random.default_rng(1)
    dates = [_write(root / f"s2_{day}.tif", 0.3 + 0.1 * t + 0.02 * rng.standard_normal((64, 64)), day)
             for t, day in enumerate(DAYS)]
    label = _write(root / "label.tif", np.repeat([[0, 1]], 32, axis=1).repeat(64, axis=0), dtype="uint8")
    return {"dates": dates, "label": label, "release": str(root / "presto")}


def _form(alg, season: dict, out: Path, **given) -> dict:
    encoders = alg.parameterDefinition("ENCODER").options()
    return {**TRAIN, "DATES": season["dates"], "LABELS": season["label"], "ENCODER": encoders.index("presto"),
            "PRETRAINED": season["release"], "OUTPUT": str(out), **given}


def test_the_help_says_what_the_presto_family_takes_from_the_engine(plugin):
    from qgis.core import QgsApplication

    from engine.models.eoseries.configuration_eoseries import EOSeriesConfig

    alg = QgsApplication.processingRegistry().algorithmById("dualstream:trainseason")
    text = alg.shortHelpString()
    decoder = alg.parameterDefinition("DECODER").description()
    assert (f"Encoder presto (or galileo_nano, galileo_tiny and galileo_base with 'Model family' "
            f"(MODEL_FAMILY) eoseries): the eoseries family ({EOSeriesConfig.CARD.architecture}). ") in text
    assert EOSeriesConfig.description in text  # the family's own declaration, not a copy
    assert f"It takes no '{decoder}' (DECODER)." in text, text


def test_a_decoder_chosen_with_presto_is_refused_naming_it(plugin, presto_season, tmp_path):
    import processing
    from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingException

    alg = QgsApplication.processingRegistry().algorithmById("dualstream:trainseason")
    decoders = alg.parameterDefinition("DECODER").options()
    out = tmp_path / "m.dsmodel"
    form = _form(alg, presto_season, out, DECODER=decoders.index("fpn"))
    ok, message = alg.checkParameterValues(form, QgsProcessingContext())
    assert not ok and "the eoseries family" in message and "takes no" in message and "(DECODER)" in message
    assert "Leave" in message and "at its default, or choose an encoder of the season family" in message
    with pytest.raises(QgsProcessingException, match="takes no"):
        processing.run("dualstream:trainseason", form, feedback=Log())
    assert not out.exists()
    unset = _form(alg, presto_season, out)  # the decoder left at its default: no problem for the form
    assert alg.checkParameterValues(unset, QgsProcessingContext())[0]
    resnet = _form(alg, presto_season, out, DECODER=decoders.index("fpn"))
    resnet["ENCODER"] = alg.parameterDefinition("ENCODER").options().index("tiny_resnet")
    assert alg.checkParameterValues(resnet, QgsProcessingContext())[0]  # the season family takes a decoder


def test_a_presto_run_says_what_its_family_takes(plugin, presto_season, tmp_path):
    import processing
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().algorithmById("dualstream:trainseason")
    log = Log()
    out = tmp_path / "presto.dsmodel"
    processing.run("dualstream:trainseason", _form(alg, presto_season, out), feedback=log)
    assert out.is_file()
    assert any(line.startswith("Encoder presto (or galileo_nano") and "): the eoseries family" in line
               and "takes no" in line for line in log.lines)


def test_galileo_reads_each_pixel_series_when_the_form_names_eoseries(plugin, presto_season):
    """Choosing Galileo picked the season family whatever the eoseries description said; the form now has the
    season families to choose from (automatic: the season family, eoseries for Presto) and keeps the one named."""
    from qgis.core import QgsApplication, QgsProcessingContext

    alg = QgsApplication.processingRegistry().algorithmById("dualstream:trainseason")
    families = alg.parameterDefinition("MODEL_FAMILY").options()
    assert families == ["season", "eoseries", "auto"]
    encoders = alg.parameterDefinition("ENCODER").options()
    context = QgsProcessingContext()
    form = _form(alg, presto_season, Path("unused.dsmodel"), ENCODER=encoders.index("galileo_nano"),
                 MODEL_FAMILY=families.index("eoseries"))
    assert alg.checkParameterValues(form, context)[0]
    assert alg._model_settings(form, context)["name"] == "eoseries"
    form["MODEL_FAMILY"] = families.index("auto")
    assert alg._model_settings(form, context)["name"] == "season"
    presto = _form(alg, presto_season, Path("unused.dsmodel"), MODEL_FAMILY=families.index("auto"))
    assert alg._model_settings(presto, context)["name"] == "eoseries"
