"""The shape of the tree: imports point one way (web -> devices -> domain -> store), no module
imports another in a loop, and none hides an import of ours inside a function to dodge one.

Read from the source with `ast`, so a loop is caught even where Python would tolerate it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kakatong"

# A module may import its own layer and those below it. The package itself holds only
# __version__, which anyone may read.
LAYERS = {"kakatong": 0, "store": 0, "domain": 1, "devices": 2, "web": 3, "glue": 4}
# What the lower layers must never import: the web framework (the domain and the store are plain
# functions over models, called by views, API, CLI and tests alike).
WEB_FRAMEWORKS = ("flask", "flask_babel", "flask_login", "flask_wtf", "werkzeug", "wtforms")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def read_sources(root: Path) -> dict[str, tuple[bool, str]]:
    """module -> (is a package, source)"""
    return {
        module_name(path, root): (path.name == "__init__.py", path.read_text(encoding="utf-8"))
        for path in sorted(root.rglob("*.py"))
    }


def imports(sources: dict[str, tuple[bool, str]]) -> list[tuple[str, str, bool, int]]:
    """Every import of a module of ours: (importer, imported, at the top level, line)."""
    found = []
    for name, (is_package, text) in sources.items():
        tree = ast.parse(text)
        top = set(map(id, tree.body))
        package = name if is_package else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                # `from . import ledger` imports the module ledger; `from .db import db` the
                # module db.
                targets = [
                    f"{source}.{alias.name}" if f"{source}.{alias.name}" in sources else source
                    for alias in node.names
                ]
            else:
                continue
            for target in targets:
                if target in sources:
                    found.append((name, target, id(node) in top, node.lineno))
    return found


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "kakatong"
    return parts[1] if parts[1] in LAYERS else "glue"


def is_blueprint_registry(importer: str, imported: str) -> bool:
    """A blueprint's route module importing its own package (for `bp`), which imports the
    route modules to register them: the Flask idiom, and no loop at run time."""
    return importer.rpartition(".")[0] == imported


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, list[str]] = {}
    for a, b in edges:
        graph.setdefault(a, []).append(b)
        graph.setdefault(b, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or (node, node) in edges:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def problems(sources: dict[str, tuple[bool, str]]) -> list[str]:
    found = []
    edges = set()
    for importer, imported, at_top, line in imports(sources):
        where = f"{importer}:{line} imports {imported}"
        if not at_top:
            found.append(f"{where} inside a function or block")
        if LAYERS[layer(imported)] > LAYERS[layer(importer)]:
            found.append(f"{where}: {layer(importer)} may not import {layer(imported)}")
        if not is_blueprint_registry(importer, imported):
            edges.add((importer, imported))
    found += [f"import loop: {' <-> '.join(loop)}" for loop in cycles(edges)]
    for name, (_, text) in sources.items():
        if LAYERS[layer(name)] > LAYERS["devices"]:
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import | ast.ImportFrom) and not getattr(node, "level", 0):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom):
                    modules = [node.module or ""]
                for module in modules:
                    if module.split(".")[0] in WEB_FRAMEWORKS:
                        found.append(f"{name}:{node.lineno} imports {module}")
    return found


def test_the_tree_has_no_import_loop_no_upward_import_and_no_hidden_import():
    assert problems(read_sources(PACKAGE)) == []


def test_each_layer_is_a_folder_that_says_what_it_owns_and_may_import():
    for folder in ("store", "domain", "devices", "web"):
        init = PACKAGE / folder / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and "import" in doc, folder


# ---------------------------------------------------------------- the checker itself


def _tree(**modules: str) -> dict[str, tuple[bool, str]]:
    sources = {"kakatong": (True, "")}
    for name, text in modules.items():
        dotted = "kakatong." + name.replace("__", ".")
        sources[dotted] = (False, text)
        parent = dotted.rpartition(".")[0]
        while parent not in sources:
            sources[parent] = (True, "")
            parent = parent.rpartition(".")[0]
    return sources


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        (
            _tree(domain__a="from . import b\n", domain__b="from .a import x\n"),
            "import loop: kakatong.domain.a <-> kakatong.domain.b",
        ),
        (
            _tree(domain__a="from ..devices import printer\n", devices__printer=""),
            "domain may not import devices",
        ),
        (_tree(store__models="from ..domain.codes import X\n", domain__codes=""), "store may"),
        (_tree(web__v="from ..cli import x\n", cli=""), "web may not import glue"),
        (
            _tree(domain__a="def f():\n    from .b import y\n", domain__b=""),
            "inside a function",
        ),
        (_tree(domain__a="from flask import g\n"), "imports flask"),
        (_tree(store__db="import werkzeug.exceptions\n"), "imports werkzeug"),
    ],
)
def test_the_checker_finds_what_it_is_there_to_find(sources, expected):
    assert any(expected in problem for problem in problems(sources)), problems(sources)


def test_the_checker_allows_a_blueprint_registering_its_routes_and_imports_downward():
    sources = _tree(
        web__bp__routes="from . import bp\nfrom ...domain import ledger\n",
        domain__ledger="from ..store.db import db\n",
        store__db="",
    )
    sources["kakatong.web.bp"] = (True, "bp = 1\nfrom . import routes\n")
    assert problems(sources) == []
