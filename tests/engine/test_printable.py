"""Names from files shown to a person (issue 40, item 8): control characters as escapes, long names cut, the full
name kept in JSON. A catalogue's task holding ``ESC[2J`` cleared the terminal of ``models list``."""

from __future__ import annotations

import json

from engine.cli.main import main
from engine.text import NAME_LIMIT, name, printable
from tests.engine.ready_fixtures import fake_csmask, package_entry, write_catalogue

ESCAPE = "\x1b[2Jcleared\x1b]0;owned\x07"


def test_control_characters_become_escapes_and_long_names_are_cut():
    assert printable(ESCAPE) == "\\x1b[2Jcleared\\x1b]0;owned\\x07"
    assert printable("a\u202eevil\u2066b") == "a\\u202eevil\\u2066b"  # bidi overrides reorder a line
    assert printable("line 1\n\tline 2\r", lines=True) == "line 1\n\tline 2\\x0d"  # a message keeps its lines
    assert printable("line 1\nline 2") == "line 1\\x0aline 2"  # a name does not
    assert printable("forêt, 森林") == "forêt, 森林"  # printable text stays as it is
    long = "x" * 200
    assert len(name(long)) == NAME_LIMIT and name(long).endswith("\u2026")


def test_models_list_prints_a_catalogues_names_inert_and_json_keeps_them(tmp_path, monkeypatch, capsys):
    folder = fake_csmask(tmp_path / "site")
    entry = package_entry("fake-4b", folder)
    entry["task"] = f"cloud {ESCAPE} masking"
    monkeypatch.setenv("DUALSTREAM_CATALOGUE", str(write_catalogue(tmp_path / "c.json", [entry])))
    monkeypatch.setenv("DUALSTREAM_MODELS_DIR", str(tmp_path / "models"))
    assert main(["models", "list"]) == 0
    listed = capsys.readouterr().out
    assert "\x1b" not in listed and "\x07" not in listed
    assert "cloud \\x1b[2Jcleared" in listed
    assert main(["models", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert next(r for r in rows if r["name"] == "fake-4b")["task"] == f"cloud {ESCAPE} masking"
