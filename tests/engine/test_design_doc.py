"""docs/design.md's module tables against the tree: every module they name exists, every module is named.

A table row's first cell is a package folder (``engine/``, ``io/``, ``algorithms/``); the backquoted names ending
in ``.py`` in the row are its modules (``bulk/runner.py`` inside a subfolder). A family folder (``unet/``) stands
for its two modules, ``configuration_unet.py`` and ``modeling_unet.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DESIGN = REPO / "docs" / "design.md"
TABLES = {"## The engine's packages": REPO / "engine", "## The plugin": REPO / "dualstream_qgis"}


def named_modules(text: str, root: Path) -> tuple[set[Path], list[str]]:
    """(the module files a table names, the names that are no file or folder) for the table under ``text``."""
    named: set[Path] = set()
    missing = []
    for line in text.splitlines():
        cells = line.split("|")
        if len(cells) < 4 or not (first := re.fullmatch(r"\s*`([\w/]+/)`\s*", cells[1])):
            continue
        folder = root if first.group(1).rstrip("/") == root.name else root / first.group(1)
        for name in re.findall(r"`([\w/]+(?:\.py|/))`", "|".join(cells[2:])):
            path = folder / name
            if name.endswith("/"):
                family = [path / f"configuration_{path.name}.py", path / f"modeling_{path.name}.py"]
                if all(p.is_file() for p in family):
                    named.update(family)
                elif not path.is_dir() and not (root / name).is_dir():
                    missing.append(f"{first.group(1)} {name}")
            elif path.is_file():
                named.add(path)
            elif not (root / name).is_file() and not (REPO / name).is_file():  # named from the top
                missing.append(f"{first.group(1)} {name}")
    return named, missing


def table(heading: str) -> str:
    text = DESIGN.read_text(encoding="utf-8")
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:] if end < 0 else text[start:end]


def test_design_doc_names_every_module_and_only_modules_that_exist():
    for heading, root in TABLES.items():
        named, missing = named_modules(table(heading), root)
        modules = {p for p in root.rglob("*.py") if p.name != "__init__.py" or p.parent == root}
        unnamed = sorted(str(p.relative_to(REPO)) for p in modules - named)
        print(f"{heading[3:]}: {len(named)} modules named, {len(modules)} in the tree")
        assert missing == [], f"docs/design.md ({heading}) names what is not in the tree: {missing}"
        assert unnamed == [], f"docs/design.md ({heading}) does not name: {unnamed}"


def test_the_engine_package_map_names_the_tree():
    """engine/__init__.py's map (a newcomer's first page) omitted api/, ready/, suggest/ and text.py: it names
    every package folder and top-level module of the engine, and nothing that is gone."""
    import engine

    named = set(re.findall(r"^- ``([\w./]+)``", engine.__doc__ or "", re.M))
    root = REPO / "engine"
    tree = {f"{p.parent.name}/" for p in root.glob("*/__init__.py")}
    tree |= {p.name for p in root.glob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    print(f"engine/__init__.py map: {len(named)} entries, {len(tree)} in the tree")
    assert named == tree, f"not in the map: {sorted(tree - named)}; in the map, not in the tree: {sorted(named - tree)}"


def test_the_table_reader_sees_a_missing_and_an_unnamed_module(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "fam").mkdir()
    for name in ("a.py", "sub/b.py", "fam/configuration_fam.py", "fam/modeling_fam.py"):
        (tmp_path / "pkg" / name).write_text("")
    text = "| package | its modules |\n|---|---|\n| `sub/` | `b.py`, `gone.py` |\n| `pkg/` | `fam/` |\n"

    named, missing = named_modules(text, tmp_path / "pkg")

    assert named == {tmp_path / "pkg" / p for p in ("sub/b.py", "fam/configuration_fam.py", "fam/modeling_fam.py")}
    assert missing == ["sub/ gone.py"]


def test_the_readme_is_a_front_page():
    """The README is a manual's front page, held under 450 lines (it grew to 498): details live in docs/, and
    every docs/ page it links to exists."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) < 450
    links = set(re.findall(r"\]\((docs/[^)#]+)", text))
    assert links and all((REPO / link).exists() for link in links), sorted(x for x in links if not (REPO / x).exists())


def test_readme_command_list_names_every_command():
    """The README's list of the ``dualstream`` commands is the command line's own list."""
    import argparse

    from engine.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    text = (REPO / "README.md").read_text(encoding="utf-8")
    line = " ".join(text[text.index("Without QGIS: `dualstream COMMAND` ("):].split(";")[0].split())
    listed = re.findall(r"`(\w+)`", line)
    print(f"README commands: {listed}")
    assert sorted(listed) == sorted(sub.choices), f"README lists {listed}; the command line has {sorted(sub.choices)}"


def package_map_gaps(root: Path) -> dict[str, list[str]]:
    """package ``__init__.py`` -> the modules (and subpackages) of its folder that its docstring does not name.

    A module is named by a backquoted word that is it, as ``raster``, ``raster.py``, ``bulk/``, ``:mod:`.plan``` or
    a dotted path ending in it. A model family's folder (``unet/``: ``configuration_unet.py``, ``modeling_unet.py``)
    is its own map, as in docs/design.md."""
    import ast

    gaps = {}
    for init in sorted(root.rglob("__init__.py")):
        folder = init.parent
        held = {p.stem for p in folder.glob("*.py") if p.name != "__init__.py"}
        held |= {p.parent.name for p in folder.glob("*/__init__.py")}
        held -= {f"{kind}_{folder.name}" for kind in ("configuration", "modeling")}
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        named = {part for token in re.findall(r"`+([^`]+)`+", doc) for part in re.split(r"[./:~]+", token) if part}
        named |= {name[:-3] for name in named if name.endswith(".py")}
        missing = sorted(held - named - {"__main__"})
        if missing:
            gaps[str(init.relative_to(root.parent))] = missing
    return gaps


def test_every_package_docstring_names_every_module_it_holds():
    """A package's docstring is its map: segment/__init__.py omitted the image resolver a newcomer looks for,
    config/ and prompted/ omitted modules. Each names every module and subpackage of its folder."""
    gaps = package_map_gaps(REPO / "engine")
    print(f"package docstrings that omit modules: {gaps or 'none'}")
    assert gaps == {}


def test_the_map_reader_sees_an_unnamed_module(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text('"""``a.py`` and :mod:`.sub`."""\n')
    (tmp_path / "pkg" / "sub" / "__init__.py").write_text('"""Only ``b``."""\n')
    for name in ("a.py", "gone.py", "sub/b.py", "sub/c.py"):
        (tmp_path / "pkg" / name).write_text("")

    assert package_map_gaps(tmp_path / "pkg") == {"pkg/__init__.py": ["gone"], "pkg/sub/__init__.py": ["c"]}


def test_every_package_all_lists_only_names_that_exist():
    """``engine/models/__init__.py``'s ``__all__`` named two functions that were gone, so ``from engine.models
    import *`` raised: a star import works for every package of the engine."""
    import importlib

    packages = sorted(".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "engine").rglob("__init__.py"))
    broken = {}
    for name in packages:
        module = importlib.import_module(name)
        try:
            exec(f"from {name} import *", {})  # noqa: S102 - the star import itself is what is checked
        except (AttributeError, ImportError) as exc:
            broken[name] = f"{exc} (__all__: {[n for n in getattr(module, '__all__', []) if not hasattr(module, n)]})"
    print(f"{len(packages)} packages star-imported; broken: {broken or 'none'}")
    assert len(packages) > 20 and broken == {}
