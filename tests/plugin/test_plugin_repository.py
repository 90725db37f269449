"""The plugin zip meets the official QGIS plugin repository's rules, and metadata.txt describes the plugin as it is.

``scripts/check_plugin_zip.py`` applies the repository's upload checks offline; it passes the zip ``make package``
builds and refuses zips broken in each way the repository refuses. The metadata names every algorithm the
provider registers (about and changelog), declares Qt6 support and the same links as pyproject.toml.
"""

from __future__ import annotations

import configparser
import zipfile
from pathlib import Path

import pytest
import tomllib

from scripts.assemble_plugin import REPO, build_zip
from scripts.check_plugin_zip import check_zip
from scripts.check_plugin_zip import main as check_main


def metadata() -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(REPO / "metadata.txt", encoding="utf-8")
    return dict(parser.items("general"))


@pytest.fixture(scope="module")
def plugin_zip(tmp_path_factory) -> Path:
    return build_zip(tmp_path_factory.mktemp("dist") / "dualstream_qgis.zip")


def rewrite(source: Path, target: Path, drop=(), replace=None, add=None) -> Path:
    """A copy of the zip without the ``drop`` entries, with ``replace[name](bytes) -> bytes`` and ``add`` applied."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            if name in drop:
                continue
            data = src.read(name)
            dst.writestr(name, (replace or {}).get(name, lambda b: b)(data))
        for name, data in (add or {}).items():
            dst.writestr(name, data)
    return target


def test_the_built_zip_passes(plugin_zip, capsys):
    assert check_zip(plugin_zip) == []
    assert check_main([str(plugin_zip)]) == 0
    assert "passes the QGIS plugin repository's checks" in capsys.readouterr().out


def _edit_metadata(edit):
    return {"dualstream_qgis/metadata.txt": lambda data: edit(data.decode("utf-8")).encode("utf-8")}


BROKEN = {
    "pyc": ({"add": {"dualstream_qgis/__pycache__/provider.cpython-311.pyc": b"\0"}},
            ["compiled Python (.pyc) is refused", "a '__pycache__' folder is refused"]),
    "license": ({"drop": ["dualstream_qgis/LICENSE"]}, ["dualstream_qgis/LICENSE is missing"]),
    "two folders": ({"add": {"other/readme.txt": b"x"}}, ["exactly one top-level folder"]),
    "tracker": ({"replace": _edit_metadata(lambda t: "\n".join(
        line for line in t.splitlines() if not line.startswith("tracker=")))}, ["lacks 'tracker'"]),
    "placeholder": ({"replace": _edit_metadata(lambda t: t.replace(
        metadata()["repository"], "http://repo"))}, ["repository='http://repo' is not a valid http(s) link"]),
    "qt6": ({"replace": _edit_metadata(lambda t: t.replace("supportsQt6=True", "supportsQt6=False"))},
            ["supportsQt6 must be True"]),
    "icon": ({"drop": ["dualstream_qgis/" + metadata()["icon"]]}, ["is not in the plugin"]),
    "changelog": ({"replace": _edit_metadata(lambda t: t.replace("changelog=" + metadata()["version"],
                                                                 "changelog=9.9.9"))},
                  ["changelog does not start with the version"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_repository_rule_refuses_a_zip_that_breaks_it(plugin_zip, tmp_path, case, capsys):
    edits, expected = BROKEN[case]
    broken = rewrite(plugin_zip, tmp_path / f"{case.replace(' ', '_')}.zip", **edits)
    problems = check_zip(broken)
    for text in expected:
        assert any(text in problem for problem in problems), (case, problems)
    assert check_main([str(broken)]) == 1
    assert "plugin repository check:" in capsys.readouterr().err


def test_metadata_names_every_algorithm_and_declares_qt6(plugin):
    meta = metadata()
    names = [alg.displayName() for alg in plugin.provider.algorithms()]
    assert len(names) >= 7, names
    missing_about = [n for n in names if n not in meta["about"]]
    missing_changelog = [n for n in names if n not in meta["changelog"]]
    assert not missing_about and not missing_changelog, (missing_about, missing_changelog)
    assert meta["supportsQt6"] == "True" and meta["qgisMinimumVersion"] == "3.22"
    assert meta["qgisMaximumVersion"].startswith("4.")
    import engine

    assert meta["version"] == engine.__version__ and meta["changelog"].startswith(engine.__version__)


def test_metadata_links_are_the_packages_links():
    meta = metadata()
    urls = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["urls"]
    assert meta["homepage"] == urls["Homepage"]
    assert meta["repository"] == urls["Repository"]
    assert meta["tracker"] == urls["Issues"]
