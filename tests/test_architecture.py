"""The import guard: no import circle between project modules, and data flows one way.

The walker reads every ``.py`` file under a root folder with :mod:`ast` (nothing is
imported or run) and draws an edge from a module to each project module it imports.
Which imports count: **every** ``import``/``from ... import`` statement anywhere in the
file: at module level, inside functions and methods, and under ``if TYPE_CHECKING``.
A function-level import still makes one module need the other (it only delays the
need), so hiding a circle inside a function does not hide it from this test. Relative
imports are resolved against the importing module's package. ``from pkg import name``
is an edge to ``pkg.name`` when that is a module of the tree, else to ``pkg``. Importing
a submodule draws no implicit edge to its parent package's ``__init__`` (Python has the
parent half-imported by then, which is no circle), and a module naming itself (a
package's ``from . import member`` of its own attribute) is no edge.

The rules (docs/architecture.md, "Data flows one way"):

* ``ranking/`` imports neither ``training/`` nor ``serving/`` nor ``shelfrank/``;
* ``training/`` and ``serving/`` never import each other;
* no circle between project modules (a strongly connected set of two or more modules).

The walker is generic over the root and the package names, so new modules are covered
without editing this file; the last tests plant a circle and a forbidden import in a
temporary package and prove the checks fail on them.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ranking", "training", "serving", "shelfrank", "bench")
# importer package -> packages it must never import
FORBIDDEN = {
    "ranking": ("training", "serving", "shelfrank"),
    "training": ("serving",),
    "serving": ("training",),
}


def module_files(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under the root's packages."""
    out = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> list[tuple[list[str], int]]:
    """Every import (candidate dotted names, most specific first; line), wherever it sits."""
    names = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [([alias.name], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names += [([f"{base}.{alias.name}", base], node.lineno) for alias in node.names]
    return names


def _resolve(candidates: list[str], files: dict[str, Path]) -> str | None:
    """The first candidate that is a project module, else the nearest enclosing one."""
    for name in candidates:
        if name in files:
            return name
    target = candidates[-1]
    while target and target not in files:
        target = target.rpartition(".")[0]
    return target or None


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """module -> {project module it imports: line of its first such import}."""
    files = module_files(root, packages)
    graph: dict[str, dict[str, int]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: dict[str, int] = {}
        for candidates, line in sorted(_imported_names(tree, module, path.name == "__init__.py"),
                                       key=lambda item: item[1]):
            target = _resolve(candidates, files)
            if target is not None and target != module:  # a package naming its own members
                edges.setdefault(target, line)
        graph[module] = edges
    return graph


def import_circles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected sets of two or more modules (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(start: str) -> None:  # iterative, so a deep tree cannot overflow the stack
        work = [(start, iter(sorted(graph.get(start, {}))))]
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
                    work.append((child, iter(sorted(graph.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                if len(members) > 1:
                    circles.append(sorted(members))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return circles


def forbidden_imports(graph: dict[str, dict[str, int]],
                      forbidden: dict[str, tuple[str, ...]]) -> list[str]:
    """'importer:line -> imported' for every import against the one-way rules."""
    out = []
    for module, edges in sorted(graph.items()):
        banned = forbidden.get(module.split(".")[0], ())
        out += [f"{module}:{line} -> {target}" for target, line in sorted(edges.items())
                if target.split(".")[0] in banned]
    return out


def test_project_has_no_import_circle() -> None:
    graph = import_graph(ROOT, PACKAGES)
    assert len(graph) > 100  # the walker found the project, not an empty folder
    circles = import_circles(graph)
    assert circles == [], "import circles (edges counted at module and function level): " + "; ".join(
        " <-> ".join(c) for c in circles)


def test_data_flows_one_way() -> None:
    assert forbidden_imports(import_graph(ROOT, PACKAGES), FORBIDDEN) == []


def _plant(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_walker_finds_a_planted_circle_hidden_in_a_function(tmp_path: Path) -> None:
    _plant(tmp_path, {
        "core/__init__.py": "",
        "core/a.py": "from core.b import thing\n",
        "core/b.py": "def thing():\n    from . import c\n    return c\n",
        "core/c.py": "import core.a\n",
        "core/d.py": "from core import a\n",  # imports into the circle, is not part of it
    })
    graph = import_graph(tmp_path, ("core",))
    assert graph["core.b"] == {"core.c": 2}
    assert graph["core.d"] == {"core.a": 1}
    assert import_circles(graph) == [["core.a", "core.b", "core.c"]]


def test_walker_finds_a_planted_forbidden_import(tmp_path: Path) -> None:
    _plant(tmp_path, {
        "ranking/__init__.py": "",
        "ranking/engine.py": "import numpy\n\ndef helper():\n    from training.train import x\n",
        "training/__init__.py": "",
        "training/train.py": "from ranking.engine import helper\nx = 1\n",
        "serving/__init__.py": "",
        "serving/app.py": "from ranking import engine\n",
    })
    graph = import_graph(tmp_path, ("ranking", "training", "serving"))
    assert forbidden_imports(graph, FORBIDDEN) == ["ranking.engine:4 -> training.train"]
    assert import_circles(graph) == [["ranking.engine", "training.train"]]


def test_walker_passes_a_clean_tree(tmp_path: Path) -> None:
    _plant(tmp_path, {
        "ranking/__init__.py": "from ranking.engine import helper\n",
        "ranking/engine.py": "import numpy\n\ndef helper():\n    return numpy.zeros(1)\n",
        "training/__init__.py": "",
        "training/train.py": "from ranking import engine\nfrom ranking.engine import helper\n",
    })
    graph = import_graph(tmp_path, ("ranking", "training"))
    assert graph["training.train"] == {"ranking.engine": 1}
    assert import_circles(graph) == []
    assert forbidden_imports(graph, FORBIDDEN) == []
