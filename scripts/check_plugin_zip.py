"""Check a plugin zip against the rules of the official QGIS plugin repository (plugins.qgis.org), offline.

The repository refuses an upload that breaks one of these (its validator, qgis/QGIS-Django
``qgis-app/plugins/validator.py``); this script applies the same rules before an upload, plus this project's own:

- at most 25 MB; a zip that unpacks (CRC checked); no path with ``..`` or a leading ``/``; no ``.pyc`` file and no
  ``__pycache__``, ``.git`` or ``__MACOSX`` folder;
- one top-level folder, named with ASCII letters, digits, ``-`` and ``_`` (starting with a letter), holding
  ``__init__.py``, ``metadata.txt`` and ``LICENSE``;
- ``metadata.txt`` has a ``[general]`` section with every required key (name, description, version,
  qgisMinimumVersion, author, email, about, tracker, repository), boolean flags that are true/false, an icon that
  is in the zip, an author without ``/``, and tracker/repository/homepage URLs with a scheme and a host that are
  not the template's placeholders (the repository also requests them; that needs a network and is not done here);
- this project: ``supportsQt6=True`` (QGIS 4 offers the plugin only then) and a changelog that starts with the
  version.

Usage: ``python scripts/check_plugin_zip.py dist/dualstream_qgis.zip`` (``make package`` runs it); exit code 1
and one line per problem when the zip would be refused.
"""

from __future__ import annotations

import argparse
import configparser
import re
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlparse

MAX_BYTES = 25_000_000
REQUIRED = ("name", "description", "version", "qgisMinimumVersion", "author", "email", "about", "tracker",
            "repository")
BOOLEANS = ("experimental", "deprecated", "server", "supportsQt6")
FORBIDDEN_DIRS = ("__MACOSX", ".git", "__pycache__")
PLACEHOLDER_URLS = {"tracker": "http://bugs", "repository": "http://repo", "homepage": "http://homepage"}
PACKAGE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]+$")


def check_zip(path: Path) -> list[str]:
    """The problems that would make the plugin repository (or this project) refuse the zip; empty when none."""
    path = Path(path)
    if not path.is_file():
        return [f"{path} does not exist; build it with `make package`."]
    if path.stat().st_size > MAX_BYTES:
        return [f"{path} is {path.stat().st_size / 1e6:.1f} MB; the repository takes at most {MAX_BYTES / 1e6:.0f} MB."]
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        return [f"{path} is not a zip file ({exc})."]
    with archive:
        problems = _names(archive.namelist())
        bad = archive.testzip()
        if bad:
            problems.append(f"{bad}: corrupt in the zip (CRC error); build the zip again.")
        names = archive.namelist()
        tops = sorted({name.split("/")[0] for name in names})
        if len(tops) != 1 or not any("/" in n for n in names):
            return problems + [f"the zip must hold exactly one top-level folder, found: {', '.join(tops)}."]
        top = tops[0]
        if not PACKAGE_NAME.match(top):
            problems.append(f"top-level folder '{top}' must start with an ASCII letter and hold only letters, "
                            "digits, '-' and '_'.")
        for required in ("__init__.py", "metadata.txt", "LICENSE"):
            if f"{top}/{required}" not in names:
                problems.append(f"{top}/{required} is missing from the zip.")
        if f"{top}/metadata.txt" in names:
            text = archive.read(f"{top}/metadata.txt").decode("utf-8")
            problems += check_metadata(text, lambda rel: f"{top}/{rel.removeprefix('./')}" in names)
    return problems


def _names(names: list[str]) -> list[str]:
    problems = []
    for name in names:
        if ".." in name or name.startswith("/"):
            problems.append(f"{name}: a path with '..' or a leading '/' is refused.")
        if ".pyc" in name:
            problems.append(f"{name}: compiled Python (.pyc) is refused.")
        for forbidden in FORBIDDEN_DIRS:
            if forbidden in name.split("/"):
                problems.append(f"{name}: a '{forbidden}' folder is refused.")
    return problems


def check_metadata(text: str, has_file=lambda rel: True) -> list[str]:
    """Problems of a metadata.txt text; ``has_file(relative_path)`` says whether the plugin ships a file."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive (qgisMinimumVersion)
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        return [f"metadata.txt does not parse: {exc}"]
    if not parser.has_section("general"):
        return ["metadata.txt has no [general] section."]
    meta = dict(parser.items("general"))
    problems = [f"metadata.txt lacks '{key}'." for key in REQUIRED if not meta.get(key, "").strip()]
    for key in BOOLEANS:
        if key in meta and meta[key].strip().lower() not in ("true", "false", "1", "0"):
            problems.append(f"metadata.txt: {key}={meta[key]} is not True or False.")
    if meta.get("supportsQt6", "").strip().lower() not in ("true", "1"):
        problems.append("metadata.txt: supportsQt6 must be True (QGIS 4 offers the plugin only then).")
    if "/" in meta.get("author", ""):
        problems.append("metadata.txt: the author must not contain '/'.")
    icon = meta.get("icon", "").strip()
    if icon and not has_file(icon):
        problems.append(f"metadata.txt: icon '{icon}' is not in the plugin.")
    for key in ("tracker", "repository", "homepage"):
        url = meta.get(key, "").strip()
        if not url and key == "homepage":
            continue
        parsed = urlparse(url)
        if url == PLACEHOLDER_URLS[key] or parsed.scheme not in ("http", "https") or not parsed.netloc:
            problems.append(f"metadata.txt: {key}={url!r} is not a valid http(s) link.")
    version = meta.get("version", "").strip()
    changelog = meta.get("changelog", "").strip()
    if version and not changelog.startswith(version):
        problems.append(f"metadata.txt: the changelog does not start with the version {version}.")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("zip", type=Path, help="the plugin zip, e.g. dist/dualstream_qgis.zip")
    args = parser.parse_args(argv)
    problems = check_zip(args.zip)
    for problem in problems:
        print(f"plugin repository check: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"{args.zip}: passes the QGIS plugin repository's checks (size, layout, metadata, LICENSE, Qt6)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
