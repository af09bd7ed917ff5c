"""otter-grader 7 beside grokbook's grader, on a few crafted submissions (scripts/otter_side_by_side.py).

Otter runs its tests in the student's kernel, so a submission that replaces ``gb.checks.<name>``
gets full points there; grokbook's grader must give it none (``crafted.EXPECTED``).  What is
asserted here is what otter 7.0.0 gave when this was written, nothing assumed: a replaced check
and a replaced ``report`` (where chapter 1's checks look it up) get full points under otter; a
replaced ``pickle.dump`` makes otter's grading process run the student's code when it unpickles
the results (it creates a file), where grokbook's grader reads no pickle; a submission that edits
another on disk changes that one's grade.  About a minute:
``otter assign`` and seven ``otter run``s, a kernel each.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from grokbook.teaching import crafted

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("correct", "editor", "printed", "replaced_check", "patched_report", "pickled_results", "wrong")


@pytest.fixture(scope="module")
def otter_scores(tmp_path_factory):
    """({name: {question: otter's points}} for NAMES, graded by the script's functions, and what
    the submissions did outside otter's kernel)."""
    pytest.importorskip("otter", reason="otter-grader is not installed (it is in the dev extras: "
                                        "pip install otter-grader)")
    spec = importlib.util.spec_from_file_location("otter_side_by_side", ROOT / "scripts" / "otter_side_by_side.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    results, effects = script.side_by_side(NAMES, tmp_path_factory.mktemp("otter"), timeout=120)
    notes = {name: r["note"] for name, r in results.items()}
    assert all(r["scores"] is not None for n, r in results.items() if n != "pickled_results"), notes
    return {name: r["scores"] for name, r in results.items()}, effects, notes


def _points(scores):
    return [scores[q] for q in (crafted.A, crafted.B)]


@pytest.fixture(scope="module")
def otter_points(otter_scores):
    return {name: _points(s) for name, s in otter_scores[0].items() if s is not None}


@pytest.mark.slow
def test_otter_grades_the_honest_submissions(otter_points):
    assert otter_points["correct"] == [1, 1]
    assert otter_points["printed"] == [0, 0]  # printed pass lines fool no test


@pytest.mark.slow
def test_forgeries_pass_under_otter_and_must_not_under_grokbook(otter_points, otter_scores):
    for name in ("replaced_check", "patched_report"):  # the hole: the tests run where the student's code ran
        assert otter_points[name] == [1, 1], name
        assert "passed" not in crafted.EXPECTED[name].values()
    # otter's grading process loaded the kernel's pickle: the student's code ran there, then otter
    # found no results in it and gave no grade
    assert otter_scores[1]["pickle marker created"]
    assert "not a GradingResults" in otter_scores[2]["pickled_results"]
    # the editor (graded first, by name) fixed wrong.ipynb on disk, and otter graded the edited file
    assert otter_scores[1]["wrong.ipynb edited"] and otter_points["wrong"] == [1, 1]
    assert crafted.EXPECTED["wrong"][crafted.B] == "failed"
    assert "passed" not in crafted.EXPECTED["pickled_results"].values()
