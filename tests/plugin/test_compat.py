"""dualstream_qgis/compat.py on the real QGIS the tests run in (3.22 here; 3.40 and 3.44 in `make test-qgis`).

Every ``NAME = pick("<QGIS 4 spelling>", "<old spelling>")`` must: give the QGIS 4 spelling's value where this QGIS
has it and the old one's where not (the same enum value either way); keep its fallback only because QGIS 3.22
lacks the QGIS 4 spelling (on 3.22 none of them resolves, else the plugin should use it directly); and be used by
the plugin under that one name. tests/plugin/test_qt6.py checks the QGIS 4 spellings against QGIS 4's API.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPAT = REPO / "dualstream_qgis" / "compat.py"
#: The oldest QGIS the plugin supports (metadata.txt's qgisMinimumVersion), where every fallback is needed.
OLDEST = 32200
#: The QGIS names read in QGIS 4's Qt6 bindings (tests/plugin/test_qt6.py checks the plugin's names against them).
QGIS4_NAMES = json.loads((REPO / "tests" / "data" / "qgis4_api.json").read_text(encoding="utf-8"))["names"]


def lookups() -> list[tuple[str, str, str]]:
    """``(NAME, new, old)`` for every ``NAME = pick("new", "old")`` in compat.py."""
    found = []
    for node in ast.parse(COMPAT.read_text(encoding="utf-8")).body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", None) == "pick"):
            new, old = (arg.value for arg in node.value.args)
            found.append((node.targets[0].id, new, old))
    return found


def resolve(path: str):
    from qgis import core

    value = core
    for part in path.split("."):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value


def test_each_lookup_prefers_the_qgis4_spelling_and_falls_back_only_where_needed():
    from qgis.core import Qgis

    from dualstream_qgis import compat

    found = lookups()
    assert len(found) >= 12, found  # the scan found the lookups (an empty one would prove nothing)
    for name, new, old in found:
        # QGIS 4's spelling: most enums moved into Qgis; a scoped enum kept in its class (QgsSymbolLayer.Property)
        # must be one read in QGIS 4's bindings
        assert new.startswith("Qgis.") or new in QGIS4_NAMES, (name, new)
        old_value, new_value = resolve(old), resolve(new)
        assert old_value is not None, f"{old} is gone from QGIS {Qgis.QGIS_VERSION}: compat.{name} needs a look"
        value = getattr(compat, name)
        # the QGIS 4 spelling's enum type where this QGIS has it; one enum value under both spellings
        assert type(value) is type(new_value if new_value is not None else old_value), name
        assert value == old_value, name
        if Qgis.QGIS_VERSION_INT < OLDEST + 100:
            assert new_value is None, f"QGIS {Qgis.QGIS_VERSION} has {new}: use it directly, not through compat"


#: Modules another change of issue #36 has in flight (the dependency installer); they move to compat.py with it.


def test_the_plugin_uses_compat_instead_of_the_old_spellings():
    """No module but compat.py spells an enum the old way compat.py replaces (``QgsProcessing.SourceType...``)."""
    old_spellings = {old for _name, _new, old in lookups()}
    offenders = []
    for path in sorted((REPO / "dualstream_qgis").rglob("*.py")):
        if path == COMPAT:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute):
                text = ast.unparse(node)
                if text in old_spellings:
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno} {text}")
    assert offenders == []


def test_pick_names_both_spellings_when_neither_exists():
    from dualstream_qgis.compat import pick

    assert pick("Qgis.MessageLevel.Warning", "Qgis.NoSuchThing") == resolve("Qgis.MessageLevel.Warning")
    assert pick("Qgis.NoSuchEnum.Value", "Qgis.MessageLevel.Critical") == resolve("Qgis.MessageLevel.Critical")
    with pytest.raises(AttributeError, match=r"neither Qgis\.NoSuchEnum\.Value nor QgsProcessing\.NoSuchType"):
        pick("Qgis.NoSuchEnum.Value", "QgsProcessing.NoSuchType")


def test_field_types_make_integer_text_and_real_fields():
    """QgsField takes them (QVariant types before QGIS 3.38, QMetaType ones from 3.38), and the fields get the
    types Qt numbers alike in both: Int 2, QString 10, Double 6."""
    from qgis.core import QgsField

    from dualstream_qgis.compat import field_types

    fields = [QgsField(name, kind) for name, kind in zip("itr", field_types())]
    assert [int(field.type()) for field in fields] == [2, 10, 6]
    assert [field.isNumeric() for field in fields] == [True, False, True]
