"""One rule in one place (issue 79, item 11): the suffixes a change dataset's pair folders take come from the format
table (engine/io/formats.py), and what an imported model assumed is answered by the model view
(engine/bundle/view.py), which its callers ask instead of the import's record."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from engine.bundle.view import model_view
from engine.io.formats import FORMAT_TABLE, GEOTIFF

ENGINE = Path(__file__).resolve().parents[2] / "engine"


def _suffix_tuples(path: Path) -> list[tuple[int, list[str]]]:
    """(line, suffixes) of each literal tuple or list of two or more file suffixes in a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.Tuple, ast.List)) and len(node.elts) > 1:
            texts = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if len(texts) == len(node.elts) and all(t.startswith(".") and 2 <= len(t) <= 6 for t in texts):
                found.append((node.lineno, texts))
    return found


def test_raster_suffix_lists_live_in_the_format_table_only():
    """data/sources.PAIR_SUFFIXES listed (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp") beside the table."""
    image_suffixes = {".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp", ".vrt", ".img", ".jp2"}
    outside = {f"{path.relative_to(ENGINE.parent)}:{line}": texts for path in sorted(ENGINE.rglob("*.py"))
               if path.name != "formats.py" for line, texts in _suffix_tuples(path)
               if len(set(texts) & image_suffixes) > 1}
    assert outside == {}


def test_pair_folders_take_each_pair_file_the_table_lists(tmp_path):
    from engine.data.sources import _pairs

    pair_file = FORMAT_TABLE["pair_file"]
    assert set(GEOTIFF.suffixes) < set(pair_file.suffixes) and {".png", ".jpg"} <= set(pair_file.suffixes)
    for folder in ("A", "B", "label"):
        (tmp_path / folder).mkdir()
        for number, suffix in enumerate(pair_file.suffixes):
            (tmp_path / folder / f"tile_{number}{suffix}").write_bytes(b"")
        (tmp_path / folder / "notes.txt").write_text("not an image")
    scenes, problems = _pairs(tmp_path, None)
    assert problems == [] and len(scenes) == len(pair_file.suffixes)
    assert sorted(Path(s.image).suffix for s in scenes) == sorted(pair_file.suffixes)


def test_the_model_view_answers_what_an_imported_model_assumed(tmp_path):
    """segment/members.py read the import's record beside the view; the view answers it, for a graph that says
    nothing of itself (Deepness's defaults)."""
    pytest.importorskip("onnx")
    from engine.bundle.model_files import read_model_metadata
    from tests.engine.foreign_onnx import linear_model

    bare = linear_model(tmp_path / "bare.onnx", np.eye(3), np.zeros(3), tile=32)
    view = model_view(read_model_metadata(bare).data)
    said = "; ".join(view.assumed)
    assert view.imported and len(view.assumed) > 2 and "the raw values / 255 (mean 0, std 1)" in said
    assert "tiles of 32 px (fixed by the graph)" in said


def test_only_the_bundle_package_reads_an_imports_record():
    callers = sorted(str(path.relative_to(ENGINE.parent)) for path in ENGINE.rglob("*.py")
                     if "import_record" in path.read_text(encoding="utf-8")
                     and path.parent.name != "bundle")
    assert callers == []
