"""A digest of the code that makes a sweep's stored numbers, the same on every Python version.

The text of each engine module, less its docstrings and comments, each line stripped and blank
lines dropped: a change to a comment, a docstring or the layout leaves the digest alone, a
change to the code does not.  Only the standard library's ``ast`` positions (docstrings' line
spans) and ``tokenize`` (comments) are used, both stable across Python 3.8-3.13, so a result
made on Python 3.11 is not "stale" on Colab's 3.12.  This module imports nothing heavy, so the
test can compute the digest under other interpreters without torch.
"""
from __future__ import annotations

import ast
import hashlib
import io
import tokenize
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The modules whose code makes the numbers a sweep stores.  The phase column is recomputed
# when a result is loaded (grokbook.phases), so phases.py is not among them; of
# memorization.py only the function that makes the stored log-probabilities is, and of
# sweeps.py the functions that turn a trained chunk into stored arrays and merge the chunks
# (the sweep's definition is covered by its key; reading, views and provenance store no number).
ENGINE_FILES = ("data.py", "models.py", "train.py", "cpu.py", "fourier.py")
ENGINE_FUNCTIONS = (("memorization.py", "label_logprob"),
                    ("sweeps.py", "_train_chunk_file"), ("sweeps.py", "_chunk_arrays"),
                    ("sweeps.py", "_per_example_arrays"), ("sweeps.py", "_merge_chunks"))


def _docstring_lines(tree) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    return lines


def normalized_source(text: str) -> str:
    """``text`` without docstrings, comments, trailing spaces and blank lines."""
    lines = text.splitlines()
    drop = _docstring_lines(ast.parse(text))
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            row, col = tok.start
            lines[row - 1] = lines[row - 1][:col]
    kept = (line.rstrip() for i, line in enumerate(lines, 1) if i not in drop)
    return "\n".join(line for line in kept if line.strip())


def function_source(text: str, name: str) -> str:
    """The source of the top-level function ``name`` in ``text``."""
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return "\n".join(text.splitlines()[node.lineno - 1:node.end_lineno])
    raise ValueError(f"no function {name!r} in the module")


_memo: dict = {}


def engine_digest(root: Path = HERE) -> str:
    """16 hex digits over the normalized sources of ENGINE_FILES and ENGINE_FUNCTIONS.

    Remembered by the files' raw bytes (reading them is cheap, parsing them is not), so an
    edited file is always digested afresh."""
    names = dict.fromkeys(ENGINE_FILES + tuple(name for name, _ in ENGINE_FUNCTIONS))
    raw = hashlib.sha256(b"".join((Path(root) / n).read_bytes() + b"\0" for n in names)).digest()
    if raw not in _memo:
        _memo[raw] = _engine_digest(Path(root))
    return _memo[raw]


def _engine_digest(root: Path) -> str:
    h = hashlib.sha256()
    for name, text in _engine_sources(root):
        h.update(name.encode())
        h.update(text.encode())
    return h.hexdigest()[:16]


def _engine_sources(root: Path):
    """(name, normalized source) of every engine file and function, in digest order."""
    for name in ENGINE_FILES:
        yield name, normalized_source((root / name).read_text())
    for name, function in ENGINE_FUNCTIONS:
        yield f"{name}:{function}", normalized_source(function_source((root / name).read_text(),
                                                                     function))


def engine_parts(root: Path = HERE) -> dict:
    """{file or file:function: 12 hex digits} of each engine piece: stored with a result, so
    that a stale result can say which piece of the engine changed since."""
    return {name: hashlib.sha256(text.encode()).hexdigest()[:12]
            for name, text in _engine_sources(Path(root))}


def changed_parts(stored: dict | None, root: Path = HERE) -> list:
    """The engine pieces whose code differs from ``stored`` (an ``engine_parts`` of the past);
    every piece if nothing was stored."""
    now = engine_parts(root)
    if not isinstance(stored, dict):
        return list(now)
    return [name for name in dict.fromkeys(list(now) + list(stored))
            if now.get(name) != stored.get(name)]


if __name__ == "__main__":  # python grokbook/digest.py: the digest under this interpreter
    print(engine_digest())
