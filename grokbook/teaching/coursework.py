"""Coursework: student notebooks and their autograders from the chapters, and the exercises' tables.

The chapters stay the one source.  In a chapter's Exercises section every code cell tagged
``hide-cell`` is a solution (the book hides it behind a click); the cell before it is the stub
that raises ``NotImplementedError`` and calls ``grokbook.checks.<name>(fn)``.  A student notebook
is the chapter without those solution cells, with a note on top, in the plain Markdown of its
Colab copy (the generator of ``grokbook.teaching.colab``), with a Colab badge for its own path;
beside it, its autograder (``grokbook.teaching.autograder``).  Grading is
``grokbook.teaching.grades`` (the verdicts: ``grokbook.teaching.grading``):

    python -m grokbook assign --out assignments            # student notebooks and autograders
    python -m grokbook grade submissions/ --autograder assignments/autograder/NN_name.zip

Every exercise follows one format (``exercise_list`` parses it and names the cell that breaks it):
a markdown cell that opens with ``**N. Title.** *Easy · about M minutes.*`` (Easy, Medium or Hard),
states the exercise and ends with one ``:::{dropdown} Hint`` block; the stub; the solution tagged
``hide-cell``.  An open exercise, "(Open.)" in its title, has neither check nor solution.  The
instructors' page lists every exercise in tables made from the chapters:

    python -m grokbook.teaching.coursework --exercise-table            # print them
    python -m grokbook.teaching.coursework --exercise-table --update   # write them into book/instructors.md
"""
from __future__ import annotations

import copy
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from . import book, checks

SOLUTION_TAG = book.SOLUTION_TAG
NOTE = ("> **Coursework version.** The solutions of this chapter's exercises are removed; their "
        "statements and hints are kept. Write each function where it raises `NotImplementedError`; the "
        "cell's `gb.checks` call tests it (a function against the reference on random inputs, an "
        "experiment against the chapter's claim) and says what passed.")
CHECK_CALL = re.compile(r"gb\.checks\.(\w+)\(")


_source = book.cell_source


def exercise_start(cells) -> int:
    """The index of the cell that holds the '## Exercises' heading (ValueError if none)."""
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "markdown" and re.search(r"^## Exercises\s*$", _source(cell), re.M):
            return i
    raise ValueError("the notebook has no '## Exercises' section")


# ----------------------------------------------------------------------------- the exercises' format
DIFFICULTIES = ("Easy", "Medium", "Hard")  # a formula to transcribe; some thought or an experiment; a derivation or a design
HEAD = re.compile(r"^\*\*(\d+)\. (.+?)\*\* \*(" + "|".join(DIFFICULTIES) + r") · about (\d+) minutes\.\*$")
HEAD_FORMAT = "**N. Title.** *Easy|Medium|Hard · about M minutes.*"
STARTS_EXERCISE = re.compile(r"^\*\*\d+\.", re.M)  # a line that opens an exercise, well formed or not
HINT_OPEN = ":::{dropdown} Hint"
OPEN_MARK = "(Open.)"


@dataclass(frozen=True)
class Exercise:
    """One exercise of a chapter, as its Exercises section gives it.

    ``cell``, ``stub`` and ``solution`` are cell indices (``stub``/``solution`` None where the
    exercise has none); ``checks`` the ``gb.checks`` functions its stub calls."""
    chapter: str
    number: int
    title: str
    difficulty: str
    minutes: int
    checks: tuple
    has_solution: bool
    cell: int
    stub: int | None
    solution: int | None
    statement: str
    hint: str

    @property
    def open(self) -> bool:
        return OPEN_MARK in self.title


def _where(chapter: str, cells, i: int) -> str:
    name = f"{chapter}: " if chapter else ""
    return f"{name}cell {i} (id {cells[i].get('id', '?')})"


def _parse_exercise_cell(text: str, where: str) -> dict:
    """The parts of one exercise's markdown cell; ValueError naming ``where`` if it breaks the format."""
    lines = text.strip().splitlines()
    m = HEAD.match(lines[0].strip()) if lines else None
    if not m:
        raise ValueError(f"{where}: an exercise starts with the line {HEAD_FORMAT!r} "
                         f"(difficulty Easy, Medium or Hard; time in whole minutes), not {lines[0][:90] if lines else ''!r}")
    number, title, difficulty, minutes = int(m.group(1)), m.group(2).strip(), m.group(3), int(m.group(4))
    if STARTS_EXERCISE.search("\n".join(lines[1:])):
        raise ValueError(f"{where}: two exercises in one cell; give each exercise its own cell")
    if not 1 <= minutes <= 240:
        raise ValueError(f"{where}: about {minutes} minutes is no estimate of a student's time")
    dropdowns = [k for k, line in enumerate(lines) if "{dropdown}" in line]
    opens = [k for k in dropdowns if lines[k].strip() == HINT_OPEN]
    if len(opens) != 1 or len(dropdowns) != 1:
        found = [lines[k].strip() for k in dropdowns]
        raise ValueError(f"{where}: an exercise has exactly one hint, in a {HINT_OPEN!r} ... ':::' block "
                         f"after its statement; found {found or 'none'}")
    start = opens[0]
    close = next((k for k in range(start + 1, len(lines)) if lines[k].strip() == ":::"), None)
    if close is None:
        raise ValueError(f"{where}: the hint's dropdown is never closed (a line ':::')")
    body = [line for line in lines[start + 1:close]]
    if any(line.strip().startswith(":open:") for line in body):
        raise ValueError(f"{where}: the hint's dropdown opens by itself (:open:); it starts closed")
    hint = "\n".join(line for line in body if not re.match(r"^\s*:\w+:", line)).strip()
    if len(hint.split()) < 5:
        raise ValueError(f"{where}: the hint is empty or a few words; it says something that helps")
    if any(line.strip() for line in lines[close + 1:]):
        raise ValueError(f"{where}: text after the hint's dropdown; the hint closes the exercise's cell")
    statement = "\n".join(lines[1:start]).strip()
    if not statement:
        raise ValueError(f"{where}: no statement between the exercise's first line and its hint")
    if re.search(r"\(hints?\b|\bhints?:", statement, re.I):
        raise ValueError(f"{where}: a hint inside the statement; move it into the hint's dropdown")
    return dict(number=number, title=title, difficulty=difficulty, minutes=minutes, statement=statement,
                hint=hint)


def exercise_list(nb, chapter: str = "") -> list[Exercise]:
    """The exercises of a chapter (a notebook dict, or its path), in order.

    The Exercises section is the ``## Exercises`` heading's cell (the heading and an introduction;
    exercise 1 may follow in the same cell, from a line of its own), then for each exercise: its
    markdown cell (first line ``**N. Title.** *Easy · about M minutes.*``, the statement, then one
    ``:::{dropdown} Hint`` block that ends the cell), the stub code cell (raises NotImplementedError, calls ``gb.checks.<name>``) and the solution
    cell tagged ``hide-cell``.  An open exercise (``(Open.)`` in its title) has no check and no
    solution.  Numbers run 1, 2, ... .  Raises ValueError naming the cell that breaks the format."""
    if not isinstance(nb, dict):
        path = Path(nb)
        nb, chapter = json.loads(path.read_text()), chapter or path.stem
    cells = nb["cells"]
    start = exercise_start(cells)
    texts = {}  # markdown index -> the exercise's text
    groups = []  # [markdown index, [code indices]]
    first = STARTS_EXERCISE.search(_source(cells[start]))
    if first:  # exercise 1 may share the heading's cell, from its own line on
        texts[start] = _source(cells[start])[first.start():]
        groups.append([start, []])
    for i in range(start + 1, len(cells)):
        kind = cells[i]["cell_type"]
        if kind == "markdown":
            groups.append([i, []])
        elif kind == "code":
            if not groups:
                raise ValueError(f"{_where(chapter, cells, i)}: a code cell before the first exercise")
            groups[-1][1].append(i)
    out = []
    for md, code in groups:
        where = _where(chapter, cells, md)
        parts = _parse_exercise_cell(texts.get(md, _source(cells[md])), where)
        if parts["number"] != len(out) + 1:
            raise ValueError(f"{where}: exercise {parts['number']} where exercise {len(out) + 1} comes "
                             "(numbers run 1, 2, ... without gaps)")
        hidden = [i for i in code if SOLUTION_TAG in cells[i].get("metadata", {}).get("tags", [])]
        shown = [i for i in code if i not in hidden]
        checks = tuple(dict.fromkeys(n for i in shown for n in CHECK_CALL.findall(_source(cells[i]))))
        is_open = OPEN_MARK in parts["title"]
        if is_open:
            if hidden:
                raise ValueError(f"{_where(chapter, cells, hidden[0])}: a solution (hide-cell) to an open "
                                 "exercise; an open exercise has none")
            if checks:
                raise ValueError(f"{where}: an open exercise calls gb.checks.{checks[0]}; a checked exercise "
                                 f"is not open (drop {OPEN_MARK!r} from its title, or the check)")
            stub = solution = None
        else:
            if len(shown) != 1 or not checks or "NotImplementedError" not in _source(cells[shown[0]]):
                raise ValueError(f"{where}: a graded exercise is followed by one stub cell that raises "
                                 f"NotImplementedError and calls gb.checks.<name>(...); found {len(shown)} "
                                 f"shown code cell(s){' without a check' if shown and not checks else ''}")
            if len(hidden) != 1:
                raise ValueError(f"{where}: a graded exercise has one solution cell tagged {SOLUTION_TAG!r} "
                                 f"after its stub (collapsed in the book); found {len(hidden)}")
            stub, solution = shown[0], hidden[0]
            if solution < stub:
                raise ValueError(f"{_where(chapter, cells, solution)}: the solution comes before its stub")
            if not set(CHECK_CALL.findall(_source(cells[solution]))) & set(checks):
                raise ValueError(f"{_where(chapter, cells, solution)}: the solution does not call its stub's "
                                 f"check gb.checks.{checks[0]}")
        out.append(Exercise(chapter=chapter, number=parts["number"], title=parts["title"],
                            difficulty=parts["difficulty"], minutes=parts["minutes"], checks=checks,
                            has_solution=not is_open, cell=md, stub=stub, solution=solution,
                            statement=parts["statement"], hint=parts["hint"]))
    if not out:
        raise ValueError(f"{_where(chapter, cells, start)}: the Exercises section has no exercise")
    return out


def solution_cells(nb: dict) -> list[int]:
    """Indices of the solution cells: code cells tagged hide-cell in the Exercises section."""
    cells = nb["cells"]
    start = exercise_start(cells)
    return [i for i, c in enumerate(cells) if i > start and c["cell_type"] == "code"
            and SOLUTION_TAG in c.get("metadata", {}).get("tags", [])]


def exercises(nb: dict) -> list[str]:
    """The checks a notebook's Exercises section calls, in order, each once."""
    cells = nb["cells"]
    start = exercise_start(cells)
    names = [m for c in cells[start:] if c["cell_type"] == "code" for m in CHECK_CALL.findall(_source(c))]
    return list(dict.fromkeys(names))


def student_notebook(nb: dict, badge: str | None = None) -> dict:
    """A copy of chapter ``nb`` without its solution cells and their outputs, with the coursework
    note after the title cell's badge (``badge``: the markdown of a Colab badge for the copy)."""
    out = copy.deepcopy(nb)
    drop = set(solution_cells(nb))
    out["cells"] = [c for i, c in enumerate(out["cells"]) if i not in drop]
    for cell in out["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        if badge is not None and "colab-badge.svg" in _source(cell):
            cell["source"] = badge
    note = {"cell_type": "markdown", "id": "coursework-note", "metadata": {}, "source": NOTE}
    at = next((i + 1 for i, c in enumerate(out["cells"]) if "colab-badge.svg" in _source(c)), 0)
    out["cells"].insert(at, note)
    missing = [name for name in exercises(nb) if name not in exercises(out)]
    if missing:
        raise ValueError(f"removing the solutions removed the checks {missing}: a stub cell must call them")
    return out


# ----------------------------------------------------------------------------- the instructors' table
INSTRUCTORS = book.ROOT / "book" / "instructors.md"
TABLE_COMMAND = "python -m grokbook.teaching.coursework --exercise-table --update"
TABLE_BEGIN = f"% Generated from the chapters by `{TABLE_COMMAND}`; do not edit by hand."
TABLE_END = "% End of the generated exercise tables."


def check_kind(name: str) -> str:
    """'experiment' for a check that runs the student's experiment and tests a claim on it,
    else 'function'."""
    import inspect

    fn = checks.every_check().get(name)
    if fn is None:
        raise ValueError(f"an exercise calls gb.checks.{name}, which grokbook.checks does not define")
    return "experiment" if "report_experiment(" in inspect.getsource(fn) else "function"


def minutes_text(m: int) -> str:
    """A time in minutes as the book writes it: '45 min', '1 h', '2 h 5 min'."""
    h, m = divmod(m, 60)
    return f"{m} min" if not h else f"{h} h" + (f" {m} min" if m else "")


def _cell_text(text: str) -> str:
    return text.replace("|", "\\|")


def short_title(title: str) -> str:
    """The title without the kind it announces ("(Open.)", "(an experiment)"), which the table
    shows in a column of its own."""
    title = re.sub(r"\s*\((?:an|An) experiment\.?\)", "", title.replace(OPEN_MARK, "")).strip()
    return title[:-1] if title.endswith(".") else title


def exercise_table(chapters=None) -> str:
    """Markdown: the number of exercises and their time per chapter of the book (default: the
    _toc.yml's chapters), then each chapter's exercises in a table of its own, with their kind: a
    function or an experiment, both checked and solved in the book, or open (neither).  Raises
    ValueError where a chapter's exercises break the format (exercise_list)."""
    paths = book.chapters() if chapters is None else [Path(p) for p in chapters]
    totals = ["| chapter | exercises | graded | open | time | graded ones only |", "|---|---|---|---|---|---|"]
    tables = []
    n_all = graded_all = minutes_all = graded_minutes_all = 0
    for path in paths:
        number = int(path.stem[:2])
        exs = exercise_list(path)
        rows = [f"**Chapter {number}, {{doc}}`{path.stem}`**", "",
                "| exercise | difficulty | time | check | kind |", "|---|---|---|---|---|"]
        for e in exs:
            kind = "open" if not e.has_solution else " and ".join(sorted({check_kind(n) for n in e.checks}))
            rows.append(f"| {e.number}. {_cell_text(short_title(e.title))} | {e.difficulty} | {minutes_text(e.minutes)} | "
                        f"{', '.join(f'`{n}`' for n in e.checks) or 'none'} | {kind} |")
        tables.append("\n".join(rows))
        graded = sum(e.has_solution for e in exs)
        minutes = sum(e.minutes for e in exs)
        graded_minutes = sum(e.minutes for e in exs if e.has_solution)
        totals.append(f"| {number}. {{doc}}`{path.stem}` | {len(exs)} | {graded} | {len(exs) - graded} | "
                      f"{minutes_text(minutes)} | {minutes_text(graded_minutes)} |")
        n_all, graded_all = n_all + len(exs), graded_all + graded
        minutes_all, graded_minutes_all = minutes_all + minutes, graded_minutes_all + graded_minutes
    totals.append(f"| the book | {n_all} | {graded_all} | {n_all - graded_all} | {minutes_text(minutes_all)} | "
                  f"{minutes_text(graded_minutes_all)} |")
    return ("Per chapter, the exercises' times added up (all of them, and the graded ones only):\n\n"
            + "\n".join(totals) + "\n\n" + "\n\n".join(tables) + "\n")


def table_in(text: str) -> str | None:
    """The generated block of ``text`` (a page), between its markers; None when it has none."""
    if TABLE_BEGIN not in text or TABLE_END not in text:
        return None
    return text.split(TABLE_BEGIN, 1)[1].split(TABLE_END, 1)[0].strip("\n") + "\n"


def update_table(page: Path = INSTRUCTORS, table: str | None = None) -> bool:
    """Write the generated exercise tables into ``page`` between its markers; True if it changed."""
    text = page.read_text()
    if table_in(text) is None:
        raise ValueError(f"{page}: no lines {TABLE_BEGIN!r} ... {TABLE_END!r} to put the tables between")
    table = exercise_table() if table is None else table
    before, rest = text.split(TABLE_BEGIN, 1)
    after = rest.split(TABLE_END, 1)[1]
    new = f"{before}{TABLE_BEGIN}\n\n{table}\n{TABLE_END}{after}"
    if new != text:
        page.write_text(new)
    return new != text


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m grokbook.teaching.coursework",
                                 description="The book's exercises, as the instructors' page lists them.")
    ap.add_argument("--exercise-table", action="store_true",
                    help="print the markdown tables of every exercise of the _toc.yml's chapters")
    ap.add_argument("--update", action="store_true",
                    help=f"with --exercise-table: write them into {INSTRUCTORS.relative_to(book.ROOT)} "
                         "instead, between its markers")
    args = ap.parse_args(argv)
    if not args.exercise_table:
        ap.error("nothing to do: --exercise-table [--update]")
    try:
        table = exercise_table()
    except ValueError as err:
        print(f"an exercise breaks the format: {err}", file=sys.stderr)
        return 1
    if args.update:
        changed = update_table(INSTRUCTORS, table)
        print(f"{INSTRUCTORS.relative_to(book.ROOT)}: "
              + ("tables updated" if changed else "tables already up to date"))
    else:
        print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
