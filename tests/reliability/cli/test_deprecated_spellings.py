"""Spellings in the engine that newer packages deprecate (issue 33, item 6): ``*`` between an Affine and a
transform or a coordinate tuple (affine 3 wants ``@``, which affine 2 lacks; numpy 2.x warns on the arrays).
The engine composes and applies transforms with ``engine.data.raster.compose`` / ``apply`` instead. Debian 12's
affine 2.4 and numpy 1.24 do not warn, so the source itself is checked; the test configuration turns any
DeprecationWarning raised from the engine's own modules into an error where the packages do warn.
"""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[3] / "engine"


def _is_transform(node: ast.AST) -> bool:
    """An Affine built in place, an inverted transform, or a name/attribute called ``*transform``/``inv``."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        base = node.func.value
        return isinstance(base, ast.Name) and base.id == "Affine"
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return name.endswith("transform") or name == "inv"


def test_engine_never_multiplies_transforms_with_star() -> None:
    found = []
    for path in sorted(ENGINE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) \
                    and (_is_transform(node.left) or _is_transform(node.right)):
                found.append(f"{path.relative_to(ENGINE.parent)}:{node.lineno}")
    assert not found, f"affine '*' spelled in the engine (use raster.compose / raster.apply): {found}"


def test_deprecation_warnings_from_the_engine_are_errors_in_its_tests() -> None:
    import warnings

    import pytest

    code = compile("import warnings\nwarnings.warn('old spelling', DeprecationWarning)\n", "<engine>", "exec")
    with pytest.raises(DeprecationWarning):
        exec(code, {"__name__": "engine.data.raster"})  # attributed to an engine module: an error here
    with warnings.catch_warnings(record=True):
        exec(code, {"__name__": "some_other_package"})  # another package's: not ours to fail on
