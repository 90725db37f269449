"""Shared fixtures: small synthetic GeoTIFF scenes written by ``engine.data.synthetic`` (session-scoped).

- ``synthetic_scene``: dict of str paths of one 128x128 scene (4-band uint16 R,G,B,NIR in EPSG:32652 at 1 m;
  label 90 = class 1): "image", "label" (GeoTIFF), "label_vector" (GeoPackage, field "class" = 90),
  "aux" (list of one 48-band float32 GeoTIFF in EPSG:4326, ~8 m, not pixel-aligned). seed 0, label_from "both".
- ``synthetic_scene_reference_aux``: the same kind of scene with the reference aux layout (4 files x 12 bands:
  GEMS_, AIR_Pollution_CO_, AIR_Pollution_NO2_, AIR_Pollution_SO2_ + name).
- ``reference_dataset``: str root of the reference layout (ts_sn/ tl_sn/ t_ap/ t_gems/ vs_sn/ vl_sn/ v_ap/
  v_gems/), 3 train + 2 val scenes of 128x128, 12-band aux files, label 90 = class 1, plus tl_sn_gpkg/ and
  vl_sn_gpkg/ polygon labels.
Treat the files as read-only: they are shared by every test of the session.

- ``tiny_model``: ``tiny_model(family, vision, aux, classes, **options)`` builds a registered family at its tiny
  preset, seeded, with aux fused the way the family takes it (early fusion for the single-stream baselines).
- ``bulk_scenes``: a folder of three scenes of different sizes (``tests.helpers.BULK_SIZES``), each
  ``<name>.tif`` with its 6-band ``<name>_aux.tif``; ``bulk_model``: a seeded 3-class tiny bundle taking that aux.

- ``change_pairs``: pairs of dates (``engine.data.synthetic_pairs``: buildings built and torn down, each date in its
  own light) p0, p1, p2, a sensor pair with nothing changed, and a pair whose later date is on a coarser grid;
  ``change_model``: a tiny change model trained on p0 and p1 from the command line, validated on p2.

Shared helpers that are not fixtures (``make_bundle``, ...) are in ``tests/helpers.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from engine.data import synthetic
from tests.helpers import make_bundle, write_bulk_scenes


@pytest.fixture(scope="session")
def synthetic_scene(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("synthetic_scene")
    return synthetic.make_scene(root, "scene", size=(128, 128), seed=0, aux_channels=48, label_from="both")


@pytest.fixture(scope="session")
def synthetic_scene_reference_aux(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("synthetic_scene_ref_aux")
    return synthetic.make_scene(root, "scene", size=(128, 128), seed=0, aux_channels=[12, 12, 12, 12])


@pytest.fixture(scope="session")
def reference_dataset(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("reference_dataset")
    return synthetic.make_reference_dataset(root, n_train=3, n_val=2, size=(128, 128), seed=0, aux_bands=12,
                                            vectors=True)


@pytest.fixture(scope="session")
def tiny_model() -> Callable[..., Any]:
    from engine.models import AutoModelConfig, build_model

    def build(family: str, vision: int = 3, aux: int = 0, classes: int = 1, **options: Any) -> Any:
        import torch

        torch.manual_seed(0)
        if aux and "aux_fusion" in AutoModelConfig.config_class(family).__dataclass_fields__:
            options.setdefault("aux_fusion", "early")
        from tests.engine.eo_fixtures import by_name

        return build_model(family, preset="tiny", vision_channels=vision, aux_channels=aux, num_classes=classes,
                           **by_name(family, vision, options)).eval()

    return build


@pytest.fixture(scope="session")
def mlm_errors() -> Callable[[dict], list[str]]:
    """``mlm_errors(item)``: the messages of validating a STAC item against the published MLM v1.5.2 JSON Schema
    (and the classification / raster / processing schemas it refers to), read from tests/data/stac_schemas."""
    import json
    import warnings
    from pathlib import Path

    import jsonschema

    folder = Path(__file__).resolve().parents[1] / "data" / "stac_schemas"
    base = "https://stac-extensions.github.io"
    store = {f"{base}/{name}/{version}/schema.json": json.loads((folder / f"{name}-{version}.json").read_text())
             for name, version in (("mlm", "v1.5.2"), ("classification", "v1.1.0"), ("raster", "v1.1.0"),
                                   ("processing", "v1.1.0"))}
    schema = store[f"{base}/mlm/v1.5.2/schema.json"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # RefResolver: the API Debian's jsonschema 4.10 has
        resolver = jsonschema.RefResolver(base_uri=schema["$id"], referrer=schema, store=store)
    validator = jsonschema.validators.validator_for(schema)(schema, resolver=resolver)
    return lambda item: [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(item)]


@pytest.fixture(scope="session")
def bulk_scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of three good scenes for bulk runs (read-only for the tests)."""
    return write_bulk_scenes(tmp_path_factory.mktemp("bulk") / "good")


@pytest.fixture(scope="session")
def bulk_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A seeded tiny bundle with 3 classes that takes the 6-band aux of ``bulk_scenes``."""
    return make_bundle(tmp_path_factory.mktemp("bulk_model") / "m.dsmodel", aux_channels=6, num_classes=3, seed=3)


@pytest.fixture(scope="session")
def change_pairs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from engine.data.synthetic_pairs import make_pair

    root = tmp_path_factory.mktemp("change_pairs")
    made = {f"p{i}": make_pair(root, seed=i, name=f"p{i}") for i in range(3)}
    made["sensor"] = make_pair(root, seed=9, changes=0, name="sensor")
    made["coarser"] = make_pair(root, seed=2, after_grid="coarser", name="coarser")
    return made


@pytest.fixture(scope="session")
def change_model(change_pairs: dict, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny change model trained once on two pairs (about 15 s on 2 cores), validated on a third."""
    from engine.cli.main import main

    out = tmp_path_factory.mktemp("change_model") / "change.dsmodel"
    args = []
    for key, prefix in (("p0", ""), ("p1", ""), ("p2", "val-")):
        pair = change_pairs[key]
        args += [f"--{prefix}image", pair.before, f"--{prefix}after", pair.after, f"--{prefix}label", pair.change]
    code = main(["train", *args, "--model", "change", "--preset", "tiny", "--epochs", "12", "--tile-size", "64",
                 "--tiles-per-epoch", "64", "--lr", "0.003", "--out", str(out), "--quiet"])
    assert code == 0
    return str(out)

