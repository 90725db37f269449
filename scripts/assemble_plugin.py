"""Assemble the installable plugin folder, or the plugin zip, from a repository checkout.

The one definition of what the installed plugin contains, used by ``make deploy``, ``make package`` and
the tests::

    dualstream_qgis/            plugin code (provider, algorithms, bridges)
    dualstream_qgis/engine/     the engine, imported as ``dualstream_qgis.engine``
    dualstream_qgis/resources/  icons and QML styles
    dualstream_qgis/metadata.txt, dualstream_qgis/LICENSE
    dualstream_qgis/README.md   the user documentation (the algorithms' help link opens it)
    dualstream_qgis/docs/       the pages the README links to

Usage: ``python scripts/assemble_plugin.py --dest DIR`` (writes DIR/dualstream_qgis) or
``python scripts/assemble_plugin.py --zip dist/dualstream_qgis.zip``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLUGIN_NAME = "dualstream_qgis"
#: Never shipped: caches, and the machine-specific site-packages record written by ``make deploy``.
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".pytest_cache", "site-packages.txt")


def assemble(dest_parent: Path, repo: Path = REPO) -> Path:
    """Write ``dest_parent/dualstream_qgis`` (which must not exist yet) and return its path."""
    target = Path(dest_parent) / PLUGIN_NAME
    if target.exists():
        raise FileExistsError(f"{target} already exists; remove it or assemble into an empty folder.")
    for required in (repo / PLUGIN_NAME, repo / "engine", repo / "resources", repo / "metadata.txt", repo / "LICENSE",
                     repo / "README.md", repo / "docs"):
        if not required.exists():
            raise FileNotFoundError(f"{required} is missing: run this script from a complete DualStream checkout.")
    shutil.copytree(repo / PLUGIN_NAME, target, ignore=IGNORE)
    if (target / "engine").exists():
        raise FileExistsError(f"{repo / PLUGIN_NAME / 'engine'} must not exist in the checkout; the engine is "
                              "bundled from the top-level engine/ folder.")
    shutil.copytree(repo / "engine", target / "engine", ignore=IGNORE)
    shutil.copytree(repo / "resources", target / "resources", ignore=IGNORE)
    shutil.copy2(repo / "metadata.txt", target / "metadata.txt")
    shutil.copy2(repo / "LICENSE", target / "LICENSE")
    shutil.copy2(repo / "README.md", target / "README.md")
    shutil.copytree(repo / "docs", target / "docs", ignore=IGNORE)  # the README's links resolve in the plugin too
    return target


def build_zip(zip_path: Path, repo: Path = REPO) -> Path:
    """Write the plugin zip (one top-level ``dualstream_qgis/`` folder), atomically; return its path."""
    zip_path = Path(zip_path).resolve()
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dualstream-package-") as tmp:
        folder = assemble(Path(tmp), repo)
        partial = zip_path.with_name(zip_path.name + ".partial")
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                archive.write(path, path.relative_to(folder.parent).as_posix())
        os.replace(partial, zip_path)
    return zip_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--dest", type=Path, help="folder in which to write dualstream_qgis/")
    group.add_argument("--zip", type=Path, help="path of the zip to write, e.g. dist/dualstream_qgis.zip")
    args = parser.parse_args(argv)
    if args.zip:
        print(f"Wrote {build_zip(args.zip)}")
    else:
        args.dest.mkdir(parents=True, exist_ok=True)
        print(f"Wrote {assemble(args.dest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
