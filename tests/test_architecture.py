"""The package's layers: no import cycle inside grokbook, imports inside functions included.

An edge m -> n is any ``import grokbook.n``, ``from grokbook.n import ...``, ``from .n import ...``
or ``from . import n`` anywhere in module m (a function body too); ``from . import x`` where x is
not a module, or ``import grokbook``, is an edge to the package itself (``__init__``), which
imports every module -- so a module that reaches for the package is in a cycle.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "grokbook"


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    modules = {p.stem: p for p in package.glob("*.py")}
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name.split(".")[1] if a.name.count(".") else "__init__"
                           for a in node.names if a.name.split(".")[0] == package.name]
            elif isinstance(node, ast.ImportFrom):
                absolute = node.level == 0 and (node.module or "").split(".")[0] == package.name
                if node.level == 1 or absolute:
                    parts = (node.module or "").split(".")[absolute:]
                    if parts and parts[0]:
                        targets = [parts[0]]
                    else:  # from . import x: a module x, else a name of the package
                        targets = [a.name if a.name in modules else "__init__" for a in node.names]
            graph[name].update(t for t in targets if t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle's first appearance in a depth-first search (enough to fail on)."""
    found, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def test_the_cycle_finder_finds_cycles(tmp_path):
    pkg = tmp_path / "grokbook"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .a import f\n")
    (pkg / "a.py").write_text("def f():\n    from .b import g\n    return g()\n")
    (pkg / "b.py").write_text("def g():\n    from . import a\n    return a\n")
    (pkg / "c.py").write_text("import grokbook\n")
    (pkg / "d.py").write_text("from grokbook.a import f\n")
    graph = import_graph(pkg)
    assert graph == {"__init__": {"a"}, "a": {"b"}, "b": {"a"}, "c": {"__init__"}, "d": {"a"}}
    assert sorted(map(tuple, cycles(graph))) == [("a", "b", "a")]
    (pkg / "a.py").write_text("from . import __version__\n")
    assert ["__init__", "a", "__init__"] in cycles(import_graph(pkg))


def test_no_import_cycle_inside_the_package():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" -> ".join(c) for c in found)


def test_settings_import_nothing_of_the_package():
    assert import_graph()["settings"] == set()
