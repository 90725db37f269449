"""The Bands text of every algorithm that reads imagery for a model goes to the engine as typed, and the engine's
one rule (engine/config/bands.py) judges it: before, Segment, Segment in bulk, Suggest and Propose dropped empty
entries ("2,,3" ran as 2,3 and ",,," as every band) while ``--bands`` refused them."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from tests.helpers import make_bundle

pytestmark = [pytest.mark.qgis]
pytest.importorskip("torch")

LABEL = "'Bands (in the model's order; empty: by name)' (BANDS)"
REFUSED = {"2,,3": "'2,,3' has an empty entry; give band numbers or names separated by single commas",
           ",,,": "',,,' has an empty entry",
           "\u00b22,1": "holds the character '\u00b2', which is no digit 0-9"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, plugin):
    """A 3-band model, a 4-band image, a layer of one prompt and the windows Suggest picks in the image."""
    import processing
    from osgeo import ogr, osr

    root = tmp_path_factory.mktemp("band-text")
    model = make_bundle(root / "three.dsmodel", vision_bands=3, num_classes=2, class_names=["a", "b"], seed=2)
    image = root / "four.tif"
    with rasterio.open(image, "w", driver="GTiff", width=64, height=64, count=4, dtype="uint16", crs="EPSG:32633",
                       transform=from_origin(500000, 6000000, 10, 10)) as ds:
        ds.write(np.random.default_rng(5).integers(100, 4000, size=(4, 64, 64)).astype(np.uint16))
    ref = osr.SpatialReference()
    ref.ImportFromEPSG(32633)
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(root / "prompts.gpkg"))
    layer = source.CreateLayer("prompts", srs=ref, geom_type=ogr.wkbPoint)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt("POINT (500300 5999700)"))
    layer.CreateFeature(feature)
    feature = layer = source = None
    windows = root / "windows.gpkg"
    processing.run("dualstream:suggest", {"MODEL": str(model), "INPUT": [str(image)], "BANDS": "1,2,3", "COUNT": 2,
                                          "WINDOW": 16, "OUTPUT": str(windows)})
    return {"root": root, "model": str(model), "image": str(image), "prompts": str(root / "prompts.gpkg"),
            "windows": str(windows)}


def _runs(inputs: dict, bands: object) -> dict[str, dict]:
    root, model, image = inputs["root"], inputs["model"], inputs["image"]
    return {
        "segment": {"INPUT": image, "MODEL": model, "BANDS": bands, "OUTPUT": str(root / "classes.tif")},
        "segmentbulk": {"INPUT": [image], "MODEL": model, "BANDS": bands, "OUTPUT": str(root / "bulk")},
        "suggest": {"MODEL": model, "INPUT": [image], "COUNT": 2, "WINDOW": 16, "BANDS": bands,
                    "OUTPUT": str(root / "more.gpkg")},
        "propose": {"MODEL": model, "WINDOWS": inputs["windows"], "BANDS": bands, "OUTPUT": str(root / "p.gpkg")},
        "labelsam": {"INPUT": image, "PROMPTS": inputs["prompts"], "MODEL": str(root / "no-sam"), "BANDS": bands,
                     "OUTPUT": str(root / "labels.gpkg")},
    }


@pytest.mark.parametrize("text", list(REFUSED))
def test_every_bands_parameter_gives_the_engines_refusal(inputs, text):
    import processing
    from qgis.core import QgsProcessingException

    for alg, params in _runs(inputs, text).items():
        with pytest.raises(QgsProcessingException) as caught:
            processing.run(f"dualstream:{alg}", params)
        message = str(caught.value)
        label = "'Bands shown as red, green, blue (empty: by name)' (BANDS)" if alg == "labelsam" else LABEL
        assert message.startswith(label) and REFUSED[text] in message, (alg, message)
        assert "--bands" not in message, message


def test_the_command_line_gives_the_same_refusal_with_its_flag(inputs, capsys):
    from engine.cli import main

    code = main(["segment", "--model", inputs["model"], "--image", inputs["image"], "--bands", "2,,3",
                 "--out", str(inputs["root"] / "cli.tif")])
    assert code != 0
    assert "--bands '2,,3' has an empty entry" in capsys.readouterr().err


@pytest.mark.parametrize("bands", ["3;2;1", [3, 2, 1], " 3, 2 ,1 "])
def test_semicolons_and_lists_still_choose_the_bands(inputs, bands):
    """QGIS joins a list with ';' and a script may pass one: the engine reads both as 3,2,1."""
    import processing

    out = inputs["root"] / "ok.tif"
    out.unlink(missing_ok=True)
    processing.run("dualstream:segment", {"INPUT": inputs["image"], "MODEL": inputs["model"], "BANDS": bands,
                                          "OUTPUT": str(out)})
    assert out.exists()
