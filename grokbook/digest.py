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
# Only a sweep with per-example records (Sweep.per_example) runs these two: a change to them
# leaves every other sweep's result current.
PER_EXAMPLE_FUNCTIONS = (("memorization.py", "label_logprob"), ("sweeps.py", "_per_example_arrays"))
ENGINE_FUNCTIONS = (("sweeps.py", "_train_chunk_file"), ("sweeps.py", "_chunk_arrays"),
                    ("sweeps.py", "_merge_chunks")) + PER_EXAMPLE_FUNCTIONS


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


def engine_digest(root: Path = HERE, per_example: bool = True) -> str:
    """16 hex digits over the normalized sources of ENGINE_FILES and ENGINE_FUNCTIONS (without
    PER_EXAMPLE_FUNCTIONS if ``per_example`` is False: the engine of a sweep without them).

    Remembered by the files' raw bytes (reading them is cheap, parsing them is not), so an
    edited file is always digested afresh."""
    names = dict.fromkeys(ENGINE_FILES + tuple(name for name, _ in ENGINE_FUNCTIONS))
    raw = hashlib.sha256(b"".join((Path(root) / n).read_bytes() + b"\0" for n in names)).digest()
    if (raw, per_example) not in _memo:
        h = hashlib.sha256()
        for name, text in _engine_sources(Path(root), per_example):
            h.update(name.encode())
            h.update(text.encode())
        _memo[raw, per_example] = h.hexdigest()[:16]
    return _memo[raw, per_example]


def _engine_sources(root: Path, per_example: bool = True):
    """(name, normalized source) of every engine file and function, in digest order."""
    for name in ENGINE_FILES:
        yield name, normalized_source((root / name).read_text())
    for name, function in ENGINE_FUNCTIONS:
        if per_example or (name, function) not in PER_EXAMPLE_FUNCTIONS:
            yield f"{name}:{function}", normalized_source(function_source((root / name).read_text(),
                                                                         function))


def engine_parts(root: Path = HERE, per_example: bool = True) -> dict:
    """{file or file:function: 12 hex digits} of each engine piece (``per_example`` as in
    ``engine_digest``): stored with a result, so that a stale result can say which piece of the
    engine changed since, and a result is judged by the pieces its sweep runs."""
    return {name: hashlib.sha256(text.encode()).hexdigest()[:12]
            for name, text in _engine_sources(Path(root), per_example)}


def changed_parts(stored: dict | None, root: Path = HERE, per_example: bool = True) -> list:
    """The engine pieces (of those ``engine_parts(root, per_example)`` lists) whose code differs
    from ``stored`` (an ``engine_parts`` of the past); every piece if nothing was stored."""
    now = engine_parts(root, per_example)
    if not isinstance(stored, dict):
        return list(now)
    return [name for name in now if now[name] != stored.get(name)]


if __name__ == "__main__":  # python grokbook/digest.py: the digest under this interpreter
    print(engine_digest())
