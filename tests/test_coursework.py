"""Coursework (grokbook.teaching.coursework): student notebooks and autograders from every chapter (that
their stubs report "not attempted" and their solutions "passed" is checked in the chapters' one execution,
by scripts/execute_chapters.py), and the instructors' exercise tables.  The grader: tests/test_grading.py."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from grokbook.teaching.book import chapters
from grokbook.teaching.crafted import RIGHT_A, RIGHT_B, STUB_A, STUB_B, cell
from grokbook.teaching.coursework import (HINT_OPEN, TABLE_BEGIN, TABLE_COMMAND, TABLE_END, check_kind,
                                          exercise_list, exercise_table, exercises, solution_cells,
                                          student_notebook, table_in, update_table)
from grokbook.teaching.autograder import write_assignments

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = chapters()


def source(cell):
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_a_student_notebook_keeps_every_check_and_no_solution(path):
    chapter = json.loads(path.read_text())
    student = student_notebook(chapter)
    solutions = {source(chapter["cells"][i]) for i in solution_cells(chapter)}
    assert solutions, f"{path.name}: no solution cell found (tag hide-cell in the Exercises section)"
    assert not solutions & {source(c) for c in student["cells"]}
    assert exercises(student) == exercises(chapter) and exercises(chapter)
    stubs = [c for c in student["cells"] if "NotImplementedError" in source(c) and "gb.checks." in source(c)]
    assert len(stubs) == len(exercises(chapter)), "every check has its stub"
    assert not any("assert gb.checks" in source(c) for c in student["cells"]), "no solution asserting its check"
    assert student["cells"][1]["id"] == "coursework-note"
    assert len(student["cells"]) == len(chapter["cells"]) - len(solutions) + 1


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_a_student_notebook_keeps_every_exercise_and_its_hint(path):
    chapter = json.loads(path.read_text())
    student = student_notebook(chapter)
    statements = [source(chapter["cells"][e.cell]) for e in exercise_list(chapter, path.stem)]
    assert all(text in {source(c) for c in student["cells"]} for text in statements), "every exercise kept as it is"
    hints = sum(source(c).count(HINT_OPEN) for c in student["cells"] if c["cell_type"] == "markdown")
    assert hints == len(statements), "the student notebook keeps one hint per exercise"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_chapter_has_three_graded_exercises_one_an_experiment(path):
    """Issue 18's bar: at least three exercises with a check, and one of them an experiment (a
    check that calls the student's experiment and tests a claim on what it returns)."""
    names = exercises(json.loads(path.read_text()))
    assert len(names) >= 3, f"{path.name}: graded exercises {names}"
    experiments = [n for n in names if check_kind(n) == "experiment"]
    assert experiments, f"{path.name}: no experiment among {names}"


def test_assign_writes_every_chapter_with_a_badge_for_its_own_path_and_its_autograder(tmp_path):
    import shutil
    import zipfile

    out = ROOT / "_build" / "assignments-test"
    written = write_assignments(out)
    try:
        assert [p.name for p in written] == [p.name for p in CHAPTERS]
        badge = source(json.loads(written[0].read_text())["cells"][0])
        assert "colab-badge.svg" in badge and f"_build/assignments-test/{written[0].name}" in badge
        for path, chapter_path in zip(written, CHAPTERS):
            with zipfile.ZipFile(out / "autograder" / f"{path.stem}.zip") as z:
                spec = json.loads(z.read("assignment.json"))
                assert z.read(spec["notebook"]) == path.read_bytes(), "the zip holds the student notebook as written"
                assert {"setup.sh", "run_autograder"} <= set(z.namelist())
            assert [q["check"] for q in spec["questions"]] == exercises(json.loads(chapter_path.read_text()))
    finally:
        shutil.rmtree(out)
    elsewhere = write_assignments(tmp_path, [CHAPTERS[0]])
    assert f"assignments/{CHAPTERS[0].name}" in source(json.loads(elsewhere[0].read_text())["cells"][0])


def chapter():
    """A chapter's skeleton: two stubs and their solutions, without the exercises' statements."""
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
            "cells": [cell("markdown", "# A chapter"), cell("code", "import grokbook as gb"),
                      cell("markdown", "## Exercises"),
                      cell("code", STUB_A), cell("code", RIGHT_A.replace("gb.checks", "assert gb.checks"), ["hide-cell"]),
                      cell("code", STUB_B), cell("code", RIGHT_B.replace("gb.checks", "assert gb.checks"), ["hide-cell"])]}


def defined_names(text):
    import ast
    names = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def loaded_names(text):
    import ast
    return {n.id for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_kept_cell_needs_what_only_a_solution_defined(path):
    """The chapter runs top to bottom (scripts/execute_chapters.py); the student notebook is it without the solution
    cells, so it runs too unless a kept cell reads a name that only a removed solution defined
    (the stubs' own checks report "not attempted": tests/test_checks.py)."""
    chapter = json.loads(path.read_text())
    removed = set(solution_cells(chapter))
    code = [(i, source(c)) for i, c in enumerate(chapter["cells"]) if c["cell_type"] == "code"]
    for i in sorted(removed):
        only_there = defined_names(code_text := source(chapter["cells"][i]))
        only_there -= set().union(*(defined_names(t) for j, t in code if j not in removed and j < i))
        for j, text in code:
            if j > i and j not in removed:
                needed = (loaded_names(text) & only_there) - set().union(
                    *(defined_names(t) for k, t in code if i < k <= j and k not in removed))
                assert not needed, f"{path.name}: cell {j} reads {needed}, defined only by solution cell {i}: {code_text[:60]!r}"


# ----------------------------------------------------------------------------- the instructors' page
def test_the_instructors_page_lists_the_exercises_as_the_chapters_give_them():
    page = ROOT / "book" / "instructors.md"
    block = table_in(page.read_text())
    assert block is not None, f"book/instructors.md has lost the lines {TABLE_BEGIN!r} ... {TABLE_END!r}"
    assert block == exercise_table(), (
        f"the exercise tables of book/instructors.md differ from the chapters' exercises; regenerate them: "
        f"{TABLE_COMMAND}")


def test_the_table_is_made_from_the_chapters_and_written_between_the_markers(tmp_path):
    toy = chapter()
    toy["cells"][2]["source"] = "## Exercises\n\nEach exercise gives its difficulty and time ..."
    toy["cells"].insert(3, cell("markdown", "**1. Correct by chance.** *Easy · about 5 minutes.*\n\nReturn it."
                                            "\n\n:::{dropdown} Hint\nEach redrawn label is uniform over p labels.\n:::"))
    toy["cells"].insert(6, cell("markdown", "**2. The ceiling | a bar.** *Medium · about 70 minutes.*\n\nReturn it."
                                            "\n\n:::{dropdown} Hint\nCount what the network gets wrong there.\n:::"))
    toy["cells"].append(cell("markdown", "**3. (Open.) Why?** *Hard · about 45 minutes.*\n\nSay why.\n\n"
                                         ":::{dropdown} Hint\nThink of the two populations of neurons.\n:::"))
    path = tmp_path / "04_toy.ipynb"
    path.write_text(json.dumps(toy))
    table = exercise_table([path])
    lines = table.splitlines()
    assert "| 1. Correct by chance | Easy | 5 min | `expected_chance_correct` | function |" in lines
    assert "| 2. The ceiling \\| a bar | Medium | 1 h 10 min | `inversion_train_accuracy` | function |" in lines
    assert "| 3. Why? | Hard | 45 min | none | open |" in lines
    assert "| 4. {doc}`04_toy` | 3 | 2 | 1 | 2 h | 1 h 15 min |" in lines
    assert "**Chapter 4, {doc}`04_toy`**" in lines
    page = tmp_path / "instructors.md"
    page.write_text(f"# For instructors\n\n{TABLE_BEGIN}\n\nold table\n\n{TABLE_END}\n\nThe rest.\n")
    assert update_table(page, table) and not update_table(page, table)
    assert table_in(page.read_text()) == table and page.read_text().endswith(f"{TABLE_END}\n\nThe rest.\n")

