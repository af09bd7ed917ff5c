"""What a reader of a chapter's rendered page sees: the counts behind tests/test_prose.py.

A chapter notebook's cells, read as the book renders them:

- a code cell tagged ``remove-cell``, ``remove-input``, ``hide-input`` or ``hide-cell`` shows no
  code on the page (removed, or collapsed behind a toggle); every other code cell is *visible*;
- the *exercises* are the cells from the first ``## Exercises`` heading on;
- a *check line* is a line of a statement that is an ``assert``, a ``print(...)``, a
  ``gb.glue(...)`` or a ``gb.claims....`` call (every line such a statement spans);
- a *claim* is one ``gb.claims.check`` or ``gb.claims.phase`` call, or one ``assert``;
- a *figure* is an image the chapter draws (a code cell that calls ``gb.plots``, ``plt`` or a
  ``.plot`` method); it is *captioned* when the cell's metadata gives myst-nb a caption and a
  name (``"mystnb": {"figure": {"caption": ..., "name": ...}}``), which the book numbers.

    python -m grokbook.pages book/04_coexistence.ipynb ...   # one table row per chapter
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

HIDDEN_TAGS = {"remove-cell", "remove-input", "hide-input", "hide-cell"}
CHECK_CALLS = re.compile(r"^(?:print|gb\.glue|glue|gb\.claims\.\w+|claims\.\w+|check|phase)$")
CLAIM_CALLS = re.compile(r"^(?:gb\.claims\.|claims\.)?(?:check|phase)$")
FIGURE_CALL = re.compile(r"\bgb\.plots\.\w+\(|\bplt\.\w+\(|\.plot\(|\.imshow\(|\.hist\(")


def cells(path) -> list[dict]:
    """The notebook's cells, each with its source as one string and its tags."""
    nb = json.loads(Path(path).read_text())
    out = []
    for i, cell in enumerate(nb["cells"]):
        src = cell["source"]
        meta = cell.get("metadata", {})
        out.append(dict(index=i, kind=cell["cell_type"], source="".join(src) if isinstance(src, list) else src,
                        tags=set(meta.get("tags", [])), metadata=meta, id=cell.get("id", "")))
    return out


def exercises_start(cs: list[dict]) -> int:
    """The index of the cell that opens the exercises (len(cells) when there are none)."""
    for c in cs:
        if c["kind"] == "markdown" and re.search(r"^##\s+Exercises\b", c["source"], re.M):
            return c["index"]
    return len(cs)


def visible(cell: dict) -> bool:
    return cell["kind"] == "code" and not (cell["tags"] & HIDDEN_TAGS)


def _call_name(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_call_name(node.value)}.{node.attr}"
    return ""


def _tree(source: str):
    """The cell's syntax tree (IPython magics blanked), or None when it does not parse."""
    text = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    try:
        return ast.parse(text)
    except SyntaxError:
        return None


def _statements(source: str) -> list:
    """Every statement of a cell (nested ones too); [] when the cell does not parse."""
    tree = _tree(source)
    return [] if tree is None else [n for n in ast.walk(tree) if isinstance(n, ast.stmt)]


def check_lines(source: str) -> set[int]:
    """The line numbers (1-based) of the cell's check statements (module docstring)."""
    lines = set()
    for node in _statements(source):
        is_check = isinstance(node, ast.Assert) or (
            isinstance(node, (ast.Expr, ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Call)
            and CHECK_CALLS.match(_call_name(node.value.func)))
        if is_check:
            lines.update(range(node.lineno, node.end_lineno + 1))
    return lines


def claims(source: str) -> int:
    """How many claims the cell checks: gb.claims.check / phase calls and asserts."""
    tree = _tree(source)
    if tree is None:
        return 0
    return sum(1 for node in ast.walk(tree) if isinstance(node, ast.Assert)
               or (isinstance(node, ast.Call) and CLAIM_CALLS.match(_call_name(node.func))))


def code_lines(source: str) -> list[str]:
    """The non-blank lines of a cell."""
    return [line for line in source.splitlines() if line.strip()]


def draws_figure(cell: dict) -> bool:
    return cell["kind"] == "code" and "remove-cell" not in cell["tags"] and bool(FIGURE_CALL.search(cell["source"]))


def figure_options(cell: dict) -> dict:
    return cell["metadata"].get("mystnb", {}).get("figure", {}) or {}


def prose_words(text: str) -> int:
    return len(re.findall(r"[A-Za-z][A-Za-z'’-]*", text))


@dataclass
class PageCounts:
    chapter: str
    visible_code_lines: int
    check_lines: int
    check_share: float
    claims: int
    claims_hidden: int
    figures: int
    figures_captioned: int
    prose_words: int


def counts(path) -> PageCounts:
    """A chapter's counts outside its exercises (module docstring)."""
    cs = cells(path)
    body = cs[:exercises_start(cs)]
    vis = [c for c in body if visible(c)]
    n_code = sum(len(code_lines(c["source"])) for c in vis)
    n_check = 0
    for c in vis:
        src_lines = c["source"].splitlines()
        n_check += sum(1 for i in check_lines(c["source"]) if src_lines[i - 1].strip())
    n_claims = sum(claims(c["source"]) for c in body if c["kind"] == "code")
    hidden = sum(claims(c["source"]) for c in body if c["kind"] == "code" and not visible(c))
    figs = [c for c in body if draws_figure(c)]
    captioned = [c for c in figs if figure_options(c).get("caption") and figure_options(c).get("name")]
    words = sum(prose_words(c["source"]) for c in body if c["kind"] == "markdown" and "remove-cell" not in c["tags"])
    return PageCounts(Path(path).stem, n_code, n_check, round(n_check / max(n_code, 1), 3), n_claims, hidden,
                      len(figs), len(captioned), words)


def table(paths) -> str:
    rows = [counts(p) for p in paths]
    head = ("| chapter | visible code lines | check lines | share | claims | of them hidden | figures "
            "| captioned | words of prose |\n|---|---|---|---|---|---|---|---|---|")
    body = [f"| {r.chapter} | {r.visible_code_lines} | {r.check_lines} | {r.check_share:.0%} | {r.claims} "
            f"| {r.claims_hidden} | {r.figures} | {r.figures_captioned} | {r.prose_words} |" for r in rows]
    return "\n".join([head, *body])


# Reading speeds behind the intro's table of reading times: technical prose with formulas at
# 150 words a minute, shown code at 10 lines a minute; rounded to 5 minutes, at least 5.
PROSE_WORDS_PER_MINUTE = 150
CODE_LINES_PER_MINUTE = 10


def reading_minutes(c: PageCounts) -> int:
    """Minutes to read a chapter's page outside its exercises: its prose and its shown code."""
    raw = c.prose_words / PROSE_WORDS_PER_MINUTE + c.visible_code_lines / CODE_LINES_PER_MINUTE
    return max(5, 5 * round(raw / 5))


def title(path) -> str:
    """The chapter's title: its first level-1 heading."""
    for cell in cells(path):
        m = re.search(r"^# (.+)$", cell["source"], re.M) if cell["kind"] == "markdown" else None
        if m:
            return m.group(1).strip()
    raise ValueError(f"{path}: no '# title' heading")


def reading_times(paths) -> str:
    """The intro's table: per chapter, the minutes to read it and the minutes its exercises
    take as they state them (grokbook.coursework.exercise_list)."""
    from .coursework import exercise_list, minutes_text

    rows = ["| chapter | reading | exercises |", "|---|---|---|"]
    total_read = total_ex = 0
    for number, path in enumerate(paths, 1):
        path = Path(path)
        read = reading_minutes(counts(path))
        ex = sum(e.minutes for e in exercise_list(path))
        total_read, total_ex = total_read + read, total_ex + ex
        rows.append(f"| {number}. {{doc}}`{title(path)} <{path.stem}>` | {minutes_text(read)} | {minutes_text(ex)} |")
    rows.append(f"| all | {minutes_text(total_read)} | {minutes_text(total_ex)} |")
    return "\n".join(rows)


if __name__ == "__main__":
    import sys

    CHAPTERS = sorted((Path(__file__).resolve().parents[2] / "book").glob("[0-9][0-9]_*.ipynb"))
    paths = sys.argv[1:] or CHAPTERS
    if paths and paths[0] == "--reading-times":  # the intro's table: every chapter, numbered in order
        print(reading_times(paths[1:] or CHAPTERS))
    elif paths and paths[0] == "--json":
        print(json.dumps([asdict(counts(p)) for p in paths[1:]], indent=1))
    else:
        print(table(paths))
