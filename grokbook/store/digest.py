"""A digest of the code that makes a sweep's stored numbers, keyed by qualified names.

The engine is a set of *pieces*: every top-level function, class and assignment of the engine
modules (ENGINE_MODULES), and the named functions of other modules that turn a trained chunk into
stored arrays (CHUNK_FUNCTIONS, PER_EXAMPLE_FUNCTIONS).  A piece is keyed by its qualified name
(``BatchedMLP``, ``train``, ``ACTIVATIONS``), not by the file it sits in, and hashed over its
source without docstrings, imports, comments, trailing spaces and blank lines.  The digest hashes the
sorted (name, source) pairs, so moving a function to another module, reordering a file or editing
a comment leaves a result current; a change to the code does not.  A name defined in two modules
is written ``module.name`` (the module's file name without ``.py``); such a piece stays put.

Only the standard library's ``ast`` and ``tokenize`` are used, stable across Python 3.8-3.13, so a
result made on 3.11 is not "stale" on Colab's 3.12, and the test can compute the digest under
other interpreters without torch.
"""
from __future__ import annotations

import ast
import hashlib
import io
import tokenize
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]

# Every top-level piece of these modules makes stored numbers (imports excepted).  The phase
# column is recomputed when a result is loaded, so the phase rules are not among them.
ENGINE_MODULES = ("engine/data.py", "engine/models.py", "engine/train.py", "engine/loop.py",
                  "engine/tables.py", "engine/cpu.py", "engine/fourier.py")
# Wherever they are in the package: the functions that store a trained chunk and merge chunks.
CHUNK_FUNCTIONS = ("_train_chunk_file", "_chunk_arrays", "_merge_chunks")
# Only a sweep with per-example records (Sweep.per_example) runs these: a change to them leaves
# every other sweep's result current.
PER_EXAMPLE_FUNCTIONS = ("label_logprob", "_per_example_arrays")


def _dropped_lines(tree) -> set[int]:
    """The lines of docstrings and of import statements (a module's path is where code sits,
    not what it computes: the names it brings in are pieces of their own)."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            lines.update(range(node.lineno, node.end_lineno + 1))
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    return lines


def normalized_source(text: str) -> str:
    """``text`` without docstrings, imports, comments, trailing spaces and blank lines."""
    lines = text.splitlines()
    drop = _dropped_lines(ast.parse(text))
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            row, col = tok.start
            lines[row - 1] = lines[row - 1][:col]
    kept = (line.rstrip() for i, line in enumerate(lines, 1) if i not in drop)
    return "\n".join(line for line in kept if line.strip())


def module_pieces(text: str) -> dict[str, str]:
    """{qualified name: normalized source} of the top-level pieces of a module's ``text``:
    functions and classes (with their decorators) by name, assignments by their targets, any
    other statement but an import or the module's docstring by its own normalized text."""
    tree = ast.parse(text)
    lines = text.splitlines()
    pieces = {}
    for i, node in enumerate(tree.body):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the module's docstring
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        source = normalized_source("\n".join(lines[first - 1:node.end_lineno]))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [",".join(ast.unparse(t) for t in targets)]
        else:
            names = [source]
        for name in names:
            if name in pieces:
                raise ValueError(f"{name!r} is defined twice at the top of one module")
            pieces[name] = source
    return pieces


def _package_sources(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(Path(root).rglob("*.py"))}


def find_pieces(names, sources: dict[str, str]) -> dict[str, str]:
    """{name: normalized source} of each named top-level function or class, found in whichever
    of ``sources`` ({path: text}) defines it; ``module.name`` picks one module's."""
    found = {}
    for name in names:
        module, _, bare = name.rpartition(".")
        hits = [module_pieces(text)[bare] for path, text in sources.items()
                if (not module or Path(path).stem == module) and bare in _top_names(text)]
        if len(hits) != 1:
            where = "no module" if not hits else f"{len(hits)} modules (write it module.{bare})"
            raise ValueError(f"engine piece {name!r} is defined in {where}")
        found[name] = hits[0]
    return found


def _top_names(text: str) -> set[str]:
    return {node.name for node in ast.parse(text).body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def engine_pieces(sources: dict[str, str], per_example: bool = True) -> dict[str, str]:
    """{qualified name: normalized source} of every piece of the engine (``sources``: {path
    relative to the package folder: text}; without
    PER_EXAMPLE_FUNCTIONS if ``per_example`` is False: the engine of a sweep without them)."""
    pieces = {}
    for path in ENGINE_MODULES:
        for name, source in module_pieces(sources[path]).items():
            if name in pieces:
                raise ValueError(f"engine piece {name!r} is defined in two engine modules")
            pieces[name] = source
    named = CHUNK_FUNCTIONS + (PER_EXAMPLE_FUNCTIONS if per_example else ())
    pieces.update(find_pieces(named, sources))
    return pieces


def pieces_digest(pieces: dict[str, str]) -> str:
    """16 hex digits over the sorted (name, source) pairs of ``pieces``."""
    h = hashlib.sha256()
    for name in sorted(pieces):
        h.update(name.encode() + b"\0" + pieces[name].encode() + b"\0")
    return h.hexdigest()[:16]


_memo: dict = {}


def _pieces(root, per_example: bool) -> dict[str, str]:
    """The engine's pieces in the package folder ``root`` (default: this package), remembered by
    the raw bytes of its files (reading them is cheap, parsing them is not), so an edited file is
    always digested afresh."""
    sources = _package_sources(PACKAGE if root is None else Path(root))
    raw = hashlib.sha256("\0".join(f"{k}\0{v}" for k, v in sources.items()).encode()).digest()
    if (raw, per_example) not in _memo:
        _memo[raw, per_example] = engine_pieces(sources, per_example)
    return _memo[raw, per_example]


def engine_digest(root=None, per_example: bool = True) -> str:
    """16 hex digits over the engine's pieces (``engine_pieces``) in the package folder ``root``
    (default: this package)."""
    return pieces_digest(_pieces(root, per_example))


def engine_parts(root=None, per_example: bool = True) -> dict:
    """{qualified name: 12 hex digits} of each engine piece: stored with a result, so that a
    stale result can say which piece of the engine changed since."""
    return {name: hashlib.sha256(text.encode()).hexdigest()[:12]
            for name, text in sorted(_pieces(root, per_example).items())}


def changed_parts(stored: dict | None, root=None, per_example: bool = True) -> list:
    """The engine pieces whose code differs from ``stored`` (an ``engine_parts`` of the past),
    new ones included (a renamed piece is a new one); every piece if nothing was stored."""
    now = engine_parts(root, per_example)
    if not isinstance(stored, dict):
        return list(now)
    return [name for name in now if now[name] != stored.get(name)]


if __name__ == "__main__":  # python grokbook/store/digest.py: the digest under this interpreter
    print(engine_digest())
