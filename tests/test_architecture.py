"""The package's layers: every import inside grokbook, those inside functions included, points to
its own layer or one below, along an allowed edge; no private name crosses a module; no module is
longer than 500 lines.

An edge m -> n is any ``import grokbook.x.n``, ``from grokbook.x.n import ...`` or relative import
(``from .n``, ``from ..x.n``, ``from . import n``) anywhere in module m, a function body too.
Modules are named by their dotted path inside the package (``engine.train``); ``from . import x``
where x is not a module, or ``import grokbook``, is an edge to the package itself (``__init__``),
which imports every layer -- so no module below the top may reach for it.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "grokbook"

# Bottom to top.  A module imports modules of its own layer or of the layers below it.
LAYERS = ("core", "engine", "analysis", "store", "teaching")
BASE = {"version"}                     # imported by any layer; imports nothing
TOP = {"__init__", "__main__", "cli"}  # the package's doors: may import any layer
MAX_LINES = 500


def module_names(package: Path = PACKAGE) -> dict[str, Path]:
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(module: str, node: ast.ImportFrom, modules: dict) -> list[str]:
    """The package modules an ImportFrom in ``module`` reaches."""
    if node.level == 0:
        parts = (node.module or "").split(".")
        if parts[0] != PACKAGE.name:
            return []
        base = parts[1:]
    else:
        is_package = modules[module].name == "__init__.py"
        here = module.split(".") if module != "__init__" else []
        here = here if is_package else here[:-1]
        if node.level - 1 > len(here):
            raise ValueError(f"{module}: relative import beyond the package")
        base = here[:len(here) - (node.level - 1)] + ((node.module or "").split(".") if node.module else [])
    targets = []
    for alias in node.names:
        full = ".".join(base + [alias.name])
        if full in modules:
            targets.append(full)
        elif ".".join(base) in modules:
            targets.append(".".join(base))
        elif not base:
            targets.append("__init__")
    return targets


def import_edges(package: Path = PACKAGE) -> list[tuple[str, str, int, list[str]]]:
    """(module, target module, line, names imported) of every import inside the package."""
    modules = module_names(package)
    edges = []
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    if parts[0] == package.name:
                        target = ".".join(parts[1:]) or "__init__"
                        edges.append((name, target, node.lineno, []))
            elif isinstance(node, ast.ImportFrom):
                for target in dict.fromkeys(_resolve(name, node, modules)):
                    edges.append((name, target, node.lineno, [a.name for a in node.names]))
    return [e for e in edges if e[1] != e[0]]


def rank(module: str) -> int:
    top = module.split(".")[0]
    if module in BASE:
        return -1
    if module in TOP:
        return len(LAYERS)
    return LAYERS.index(top)


def violations(package: Path = PACKAGE) -> list[str]:
    found = []
    modules = module_names(package)
    for src, dst, line, names in import_edges(package):
        if dst == "__init__" and src not in TOP - {"__init__"}:
            found.append(f"{src}:{line} imports the package itself")
        elif rank(dst) > rank(src):
            found.append(f"{src}:{line} imports {dst} (layer {dst.split('.')[0]} is above "
                         f"{src.split('.')[0]})")
        private = [n for n in names if n.startswith("_") and not n.startswith("__")
                   and f"{dst}.{n}" not in modules]
        if private:
            found.append(f"{src}:{line} takes private {', '.join(private)} from {dst}")
    return found


def layer_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for src, dst, _, _ in import_edges(package):
        graph.setdefault(src, set()).add(dst)
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


def test_every_import_points_down_or_sideways():
    found = violations()
    assert not found, "imports against the layers:\n" + "\n".join(found)


def test_no_import_cycle_inside_the_package():
    found = cycles(layer_graph())
    assert not found, "import cycles: " + "; ".join(" -> ".join(c) for c in found)


def test_every_module_is_in_a_layer_and_short():
    too_long = {name: n for name, path in module_names().items()
                if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"
    for name in module_names():
        assert name in BASE | TOP or name.split(".")[0] in LAYERS, name


def test_core_imports_nothing_above_it():
    graph = layer_graph()
    for name in module_names():
        if name.startswith("core"):
            assert all(t.startswith("core") or t in BASE for t in graph.get(name, ())), name


@pytest.fixture
def toy(tmp_path):
    pkg = tmp_path / "grokbook"
    for layer in ("core", "engine", "store"):
        (pkg / layer).mkdir(parents=True)
        (pkg / layer / "__init__.py").write_text('"""A layer."""\n')
    (pkg / "__init__.py").write_text("from .engine.train import train\n")
    (pkg / "version.py").write_text("__version__ = '0'\n")
    (pkg / "core" / "settings.py").write_text("from ..version import __version__\n")
    (pkg / "engine" / "train.py").write_text("from ..core.settings import __version__\n\n"
                                             "def train():\n    from . import models\n")
    (pkg / "engine" / "models.py").write_text("import grokbook.core.settings\n")
    (pkg / "store" / "sweeps.py").write_text("from grokbook.engine import train\n")
    return pkg


def test_the_checker_passes_a_layered_package(toy):
    assert violations(toy) == []
    assert layer_graph(toy) == {"__init__": {"engine.train"}, "core.settings": {"version"},
                                "engine.train": {"core.settings", "engine.models"},
                                "engine.models": {"core.settings"}, "store.sweeps": {"engine.train"}}


def test_the_checker_fails_on_an_upward_import_even_inside_a_function(toy):
    (toy / "engine" / "models.py").write_text("def f():\n    from ..store.sweeps import x\n")
    assert violations(toy) == ["engine.models:2 imports store.sweeps (layer store is above engine)"]
    (toy / "engine" / "models.py").write_text("import grokbook.store.sweeps\n")
    assert violations(toy) == ["engine.models:1 imports store.sweeps (layer store is above engine)"]
    (toy / "engine" / "models.py").write_text("import grokbook\n")
    assert violations(toy) == ["engine.models:1 imports the package itself"]
    (toy / "core" / "settings.py").write_text("from .. import engine\n")
    assert sorted(violations(toy)) == ["core.settings:1 imports engine (layer engine is above core)",
                                       "engine.models:1 imports the package itself"]


def test_the_checker_fails_on_a_private_name_across_modules(toy):
    (toy / "store" / "sweeps.py").write_text("from ..engine.train import _log, train\n")
    assert violations(toy) == ["store.sweeps:1 takes private _log from engine.train"]


def test_the_cycle_finder_finds_cycles(toy):
    (toy / "engine" / "models.py").write_text("from .train import train\n")
    assert cycles(layer_graph(toy)) == [["engine.train", "engine.models", "engine.train"]]
