"""scripts/execute_chapters.py: each chapter executed once, its outputs cached for the book build,
its cells timed, its claims logged, its exercises checked (stubs not attempted, solutions passed)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import execute_chapters  # noqa: E402

STUB = ("def expected_chance_correct(n, p):\n    raise NotImplementedError\n\n\n"
        "gb.checks.expected_chance_correct(expected_chance_correct)")
SOLUTION = ("def expected_chance_correct(n, p):\n    return n / p\n\n\n"
            "assert gb.checks.expected_chance_correct(expected_chance_correct)")


def cell(kind, text, tags=(), outputs=None):
    cell.made = getattr(cell, "made", 0) + 1
    c = {"id": f"cell-{cell.made}", "cell_type": kind, "metadata": {"tags": list(tags)} if tags else {}, "source": text}
    if kind == "code":
        c.update(execution_count=None, outputs=outputs or [])
    return c


def stream(text):
    return [{"output_type": "stream", "name": "stdout", "text": text}]


def executed(stub_says, solution_says):
    return {"cells": [cell("markdown", "## Exercises"), cell("code", STUB, outputs=stream(stub_says)),
                      cell("code", SOLUTION, ["hide-cell"], outputs=stream(solution_says))]}


def test_the_exercises_are_checked_in_the_chapters_own_outputs():
    ok = executed("expected_chance_correct: not attempted yet (the stub raises NotImplementedError)\n",
                  "expected_chance_correct: all 10 cases passed\n")
    assert execute_chapters.coursework_problems(ok) == []
    stub_passes = executed("expected_chance_correct: all 10 cases passed\n", "expected_chance_correct: all 10 cases passed\n")
    assert "its stub reports 'passed'" in execute_chapters.coursework_problems(stub_passes)[0]
    fails = executed("expected_chance_correct: not attempted yet\n",
                     "expected_chance_correct: case 2 of 10 failed: 3 != 4\n")
    assert "its solution reports 'failed'" in execute_chapters.coursework_problems(fails)[0]


def test_cell_seconds_from_the_kernels_timestamps():
    c = {"metadata": {"execution": {"iopub.execute_input": "2026-12-06T10:00:00.250000Z",
                                    "shell.execute_reply": "2026-12-06T10:01:40.750000Z"}}}
    assert execute_chapters.cell_seconds(c) == pytest.approx(100.5)
    assert execute_chapters.cell_seconds({"metadata": {}}) is None


def test_the_stamp_names_the_profile():
    assert execute_chapters.stamp("book") == execute_chapters.stamp("book")
    assert execute_chapters.stamp("book") != execute_chapters.stamp("full")


def notebook(path: Path, extra: str = ""):
    nb = {"cells": [cell("code", "import grokbook as gb\nP = gb.setup(quiet=True)"),
                    cell("code", "gb.claims.check('tiny.ok', [0.95, 0.97], '>=', 0.9, kind='accuracy', what='fine')\n" + extra),
                    cell("markdown", "## Exercises"), cell("code", STUB), cell("code", SOLUTION, ["hide-cell"])],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


@pytest.mark.slow
def test_a_chapter_runs_once_into_the_cache_the_build_reads(tmp_path, capsys):
    import nbformat
    from jupyter_cache import get_cache

    chapter = notebook(tmp_path / "01_tiny.ipynb")
    args = [str(chapter), "--profile", "book", "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out")]
    assert execute_chapters.main(args) == 0
    record = get_cache(str(tmp_path / "cache")).match_cache_notebook(nbformat.read(chapter, as_version=4))
    assert record.data["profile"] == "book" and record.data["stamp"] == execute_chapters.stamp("book")
    times = json.loads((tmp_path / "out" / "cells.json").read_text())["01_tiny"]
    assert [c["cell"] for c in times["cells"]] == [0, 1, 3, 4] and all(c["seconds"] >= 0 for c in times["cells"])
    logged = (tmp_path / "out" / "claims" / "01_tiny.jsonl").read_text()
    assert json.loads(logged)["name"] == "tiny.ok" and json.loads(logged)["profile"] == "book"
    capsys.readouterr()
    assert execute_chapters.main(args) == 0  # current: not executed again
    assert "cached outputs are current" in capsys.readouterr().out

    broken = notebook(tmp_path / "02_broken.ipynb", extra="gb.claims.check('tiny.bad', [0.5], '>=', 0.9, kind='accuracy', what='broken')")
    assert execute_chapters.main([str(broken)] + args[1:]) == 1
    err = capsys.readouterr().err
    assert "02_broken.ipynb" in err and "tiny.bad" in err and "0.5 >= 0.9" in err
