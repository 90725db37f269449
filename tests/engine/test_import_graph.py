"""The import graph of engine/ and dualstream_qgis/: no cycles, no private names imported across modules.

Read statically with ``ast`` (nothing is imported), every import counted wherever it sits: at the top, inside a
function or under ``if TYPE_CHECKING``, so an import moved into a function to dodge a cycle is still one.
``from package import name`` counts as an import of the submodule when ``name`` is one, else of the package.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("engine", "dualstream_qgis")


def find_modules(root: Path, packages: tuple[str, ...]) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package's __init__) for every .py file under ``packages``."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def imports_of(name: str, path: Path, is_package: bool, known: dict) -> list[tuple[str, str | None, int]]:
    """(imported module, imported attribute or None, line) for each import of a module in ``known``."""
    package = name if is_package else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names if alias.name in known]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                if f"{source}.{alias.name}" in known:
                    found.append((f"{source}.{alias.name}", None, node.lineno))
                elif source in known:
                    found.append((source, alias.name, node.lineno))
    return found


def import_graph(root: Path, packages: tuple[str, ...]) -> tuple[dict[str, set[str]], list[str]]:
    """(module -> modules it imports, the cross-module imports of private names as readable lines)."""
    known = find_modules(root, packages)
    graph: dict[str, set[str]] = {name: set() for name in known}
    private = []
    for name, (path, is_package) in known.items():
        for target, attribute, line in imports_of(name, path, is_package, known):
            if target == name:
                continue
            graph[name].add(target)
            if attribute and attribute.startswith("_") and not attribute.startswith("__"):
                private.append(f"{path.relative_to(root)}:{line} imports {attribute} from {target}")
    return graph, private


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_engine_and_plugin_have_no_import_cycle_and_no_private_import():
    graph, private = import_graph(REPO, PACKAGES)
    edges = sum(len(targets) for targets in graph.values())
    print(f"import graph: {len(graph)} modules, {edges} imports between them; "
          f"cycles: {cycles(graph) or 'none'}; private names imported across modules: {private or 'none'}")
    assert len(graph) > 100 and edges > 300  # the walk found the code
    assert cycles(graph) == [], "import cycles (move what both sides need into a module of its own)"
    assert private == [], "private names imported from another module (make them public or move them)"


def test_the_walker_finds_a_lazy_cycle_and_a_private_import(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from .sub import b\n\ndef _helper():\n    pass\n")
    (package / "sub" / "b.py").write_text("def f():\n    from ..a import _helper\n")  # lazy, inside a function
    (package / "c.py").write_text("import pkg.a\n")

    graph, private = import_graph(tmp_path, ("pkg",))

    assert graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.c"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.sub.b"]]
    assert private == [f"{Path('pkg/sub/b.py')}:2 imports _helper from pkg.a"]


def test_no_test_module_imports_another():
    """Shared test code lives in tests/helpers.py and the conftest fixtures, not in another test module (whose
    import would also collect its tests twice and couple the two files)."""
    offenders = []
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name.rpartition(".")[2].startswith("test_") for name in names):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []


def _engine_imports(graph: dict[str, set[str]], front_end: str) -> dict[str, set[str]]:
    """Module of ``front_end`` -> the modules of the engine outside it that it imports."""
    return {name: {t for t in targets if t.split(".")[0] == "engine" and not t.startswith(front_end)}
            for name, targets in graph.items() if name.startswith(front_end)}


def test_front_ends_reach_the_engine_only_through_its_api():
    """The command line and the plugin import engine.api and nothing else of the engine: renaming an internal
    module can break neither at run time. The plugin's one dynamic import (engine_bridge.engine_api) is
    checked from its source, since it names the package by string."""
    graph, _ = import_graph(REPO, PACKAGES)
    cli = _engine_imports(graph, "engine.cli")
    used = sorted(set().union(*cli.values()))
    print(f"the CLI imports of the engine: {used}")
    assert used == ["engine.api"], {name: sorted(t) for name, t in cli.items() if t - {"engine.api"}}
    plugin = {name: sorted(t) for name, t in graph.items()
              if name.startswith("dualstream_qgis") and any(x.startswith("engine") for x in t)}
    assert plugin == {}, "the plugin imports the engine statically; use engine_bridge.engine_api()"
    dynamic = []
    for path in sorted((REPO / "dualstream_qgis").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module" and \
                    "algorithms" not in ast.unparse(node.args[0]):  # the provider loads its own algorithms
                dynamic.append(f"{path.relative_to(REPO)}:{node.lineno} {ast.unparse(node.args[0])}")
    print(f"the plugin's imports of the engine: {dynamic}")
    bridge = Path("dualstream_qgis") / "engine_bridge.py"
    assert all(entry.startswith(str(bridge)) for entry in dynamic), dynamic
    assert sorted(entry.split(" ", 1)[1] for entry in dynamic) == ["f'{engine().__name__}.api'", "name"]
    uses = {path.relative_to(REPO) for path in (REPO / "dualstream_qgis").rglob("*.py")
            if "engine_api()" in path.read_text(encoding="utf-8")}
    print(f"plugin modules that call engine_api(): {sorted(map(str, uses))}")
    assert len(uses) > 10  # the walk found the plugin's uses
    # a function that keeps the engine's API in a local calls it ``api``, whatever it takes from it (it was bound
    # under ten names: errors, safety, expects, ...)
    names = {target.id for path in (REPO / "dualstream_qgis").rglob("*.py")
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(node, ast.Assign)
             and ast.unparse(node.value) == "engine_api()" for target in node.targets if isinstance(target, ast.Name)}
    assert names == {"api"}, names


# The engine's packages from the bottom up: a package imports only packages on its own level or below (never a
# sibling on its level: siblings stay independent). docs/design.md ("Layers") says the same in words.
LAYERS = (
    ("__init__", "errors", "callbacks", "declarations", "text", "time_axis", "file_dates"),
    ("runtime",),
    ("io",),
    ("models",),
    ("config",),
    ("data",),
    ("bundle",),
    ("imagery",),
    ("export", "ready"),
    ("training",),
    ("segment", "evaluate"),
    ("prompted", "suggest"),
    ("api",),
    ("cli",),
    ("__main__",),
)


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """engine package (or top-level module) -> the others it imports."""
    def package(module: str) -> str:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else "__init__"

    packages: dict[str, set[str]] = {}
    for name, targets in graph.items():
        if name.startswith("engine"):
            packages.setdefault(package(name), set()).update(
                package(t) for t in targets if t.startswith("engine") and package(t) != package(name))
    return packages


def test_engine_packages_import_only_downwards():
    graph, _ = import_graph(REPO, ("engine",))
    packages = package_graph(graph)
    level = {name: i for i, names in enumerate(LAYERS) for name in names}
    assert set(packages) <= set(level), f"packages missing from LAYERS: {sorted(set(packages) - set(level))}"
    for name in sorted(packages, key=lambda n: level[n]):
        print(f"{name} (layer {level[name]}) -> {', '.join(sorted(packages[name], key=lambda n: level[n])) or '-'}")
    shared_layer_ok = set(LAYERS[0])  # the core leans on itself
    upward = [f"{a} -> {b}" for a, targets in packages.items() for b in targets
              if level[b] > level[a] or (level[b] == level[a] and a not in shared_layer_ok)]
    assert upward == [], "imports of a package above (or beside) the importer: move the code down"
    assert cycles(packages) == []


def test_segment_reaches_export_only_for_the_onnx_cache():
    """segment runs bundles through their cached ONNX exports and nothing else of export/ (backend.py imported the
    exporter for its size limit, which is the bundle's)."""
    graph, _ = import_graph(REPO, ("engine",))
    reached = sorted({f"{a} -> {b}" for a, targets in graph.items() if a.startswith("engine.segment")
                      for b in targets if b.startswith("engine.export")})
    print(f"segment -> export: {reached}")
    assert reached and all(edge.endswith(" -> engine.export.onnx_cache") for edge in reached), reached


def test_design_doc_says_the_same_layers():
    """docs/design.md's "Layers" sentence lists LAYERS in the same order (``a`` < ``b``, siblings by commas)."""
    text = (REPO / "docs" / "design.md").read_text(encoding="utf-8")
    sentence = " ".join(text[text.index("**Layers.**"):].split("\n\n")[0].split())
    order = sentence[sentence.index("the core"):].split(". ")[0]
    said = [tuple(re.findall(r"`(\w+)`", part)) for part in order.split(" < ")]
    declared_layers = [tuple(n for n in names if n not in ("__init__", "__main__")) for names in LAYERS]
    print(f"docs/design.md layers: {said}")
    assert said == [names for names in declared_layers if names]


def test_bench_has_no_import_cycle():
    graph, _ = import_graph(REPO, ("bench",))
    edges = {f"{a} -> {b}" for a, targets in graph.items() for b in targets}
    print(f"bench import graph: {len(graph)} modules; {'; '.join(sorted(edges))}")
    assert len(graph) > 10 and "bench.bench_bulk -> bench.bulk_inputs" in edges  # the walk found the code
    assert cycles(graph) == [], "import cycles in bench/ (move what both sides need into a module of its own)"


def test_no_file_of_the_engine_the_plugin_or_the_bench_is_over_500_lines():
    files = [path for folder in ("engine", "dualstream_qgis", "bench") for path in (REPO / folder).rglob("*.py")]
    long = {str(path.relative_to(REPO)): n for path in files
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > 500}
    assert len(files) > 250  # the walk found the code
    assert long == {}, "files over 500 lines: split them by part (a named step, a concern of its own)"


def test_design_doc_package_table_is_the_tree_in_layer_order():
    """docs/design.md's table of the engine's packages has one row per package folder of the tree, in LAYERS
    order from the bottom up (after the ``engine/`` row of the top-level modules), and no row for a folder that is
    gone."""
    text = (REPO / "docs" / "design.md").read_text(encoding="utf-8")
    start = text.index("## The engine's packages")
    section = text[start:text.index("\n## ", start + 1)]
    rows = [m.group(1) for m in re.finditer(r"^\| `(\w+)/` \|", section, re.M)]
    folders = {p.parent.name for p in (REPO / "engine").glob("*/__init__.py")}
    level = {name: i for i, names in enumerate(LAYERS) for name in names}
    in_order = sorted(folders, key=lambda n: (level.get(n, len(LAYERS)), n))
    print(f"docs/design.md package rows: {rows}")
    assert rows[0] == "engine", "the table opens with the engine/ row (the top-level modules)"
    assert set(rows[1:]) == folders, f"rows {sorted(set(rows[1:]) ^ folders)}: a package without a row, or a row " \
                                     "without a package"
    assert [r for r in rows[1:] if r in level] == [n for n in in_order if n in rows], \
        f"the rows follow the layers from the bottom up: {in_order}"


def test_no_model_family_imports_another_family():
    """A family is one folder: what several families use (the decoders) lives in a shared module of
    engine/models, never in one family's modelling file that another imports."""
    graph, _ = import_graph(REPO, ("engine",))
    family = re.compile(r"engine\.models\.(\w+)\.(?:modeling|configuration)_\1$")
    found = {name: family.match(name).group(1) for name in graph if family.match(name)}
    crossing = sorted(f"{a} -> {b}" for a in found for b in graph[a] if b in found and found[b] != found[a])
    print(f"{len(found)} family modules; imports across families: {crossing or 'none'}")
    assert len(found) > 10 and "engine.models.change.modeling_change" in found  # the walk found the families
    assert crossing == [], "a family imports another's module: move what they share to engine/models/"
