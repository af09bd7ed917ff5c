"""The grader (grokbook.teaching.grading, grades, transfer, autograder).

- What crosses between a student's kernel and the grader (transfer): every type a check sends or
  gets back survives the trip unchanged; anything else, and any pickle, is refused without running.
- Every check's verdict through that trip, with hidden cases (a case salt): the reference answers
  of tests/test_checks.py pass, stubs are not attempted, each wrong answer fails with its case.
- The questions of every chapter come from its stub cells, the same from the chapter as from its
  student notebook; the autograder zip holds them.
- Slow: the crafted submissions (grokbook.teaching.crafted: the forgeries and the old cases) graded
  from their autograder zip in fresh kernels, and chapter 1's assignment with its solutions pasted in.
"""
from __future__ import annotations

import json
import pickle
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import grokbook as gb
from grokbook.teaching import crafted, grading, transfer
from grokbook.teaching.autograder import gradescope_results, read_autograder, write_autograder
from grokbook.teaching.book import chapters
from grokbook.teaching.checks import harness
from grokbook.teaching.coursework import exercises, student_notebook
from grokbook.teaching.grades import grade
from test_checks import EXPERIMENTS, TABLE, spread, stub

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- transfer
def roundtrip(value, tmp_path):
    transfer.write(value, tmp_path / "m")
    return transfer.read(tmp_path / "m")


def test_a_training_result_crosses_whole(tmp_path):
    r = gb.train(gb.grid(alpha=0.5, xi=0.2, wd=[0.0, 1.0]), gb.Config(p=11, width=16, steps=20, log_every=10),
                 progress=False)
    back = roundtrip(r, tmp_path)
    assert type(back) is gb.SweepResult and back.config == r.config
    pd.testing.assert_frame_equal(back.runs, r.runs)
    pd.testing.assert_frame_equal(back.history, r.history)
    for name in ("U", "V", "W"):
        assert torch.equal(getattr(back.model, name), getattr(r.model, name))
    assert torch.equal(back.data.labels, r.data.labels) and torch.equal(back.data.train, r.data.train)
    with torch.no_grad():
        for k in ("train_acc", "test_acc", "corrupt_acc"):
            assert torch.equal(gb.evaluate(back.model, back.data)[k], gb.evaluate(r.model, r.data)[k])


def test_plain_values_frames_and_arrays_cross_unchanged(tmp_path):
    frame = pd.DataFrame({"run": [0, 1, 2], "auc": [0.5, float("nan"), 1.0], "phase": ["a", None, "c"],
                          "ok": [True, False, True]}).set_index("phase")
    frame["cat"] = pd.Categorical(["x", "y", "x"])
    frame.attrs["provenance"] = {"made": "here"}
    value = {"frame": frame, "series": pd.Series([1.5, 2.5], index=["a", "b"], name="s"),
             (1, "k"): [None, True, 3, 2 ** 70, -0.0, "text"], 2.5: (np.arange(6).reshape(2, 3), np.float32(1.5)),
             "t": torch.arange(5, dtype=torch.int16), "strings": np.array(["a", "bb"]), "empty": {}}
    back = roundtrip(value, tmp_path)
    pd.testing.assert_frame_equal(back["frame"], frame)
    assert back["frame"].attrs == frame.attrs
    pd.testing.assert_series_equal(back["series"], value["series"])
    assert back[(1, "k")] == value[(1, "k")] and back["empty"] == {}
    assert np.array_equal(back[2.5][0], value[2.5][0]) and back[2.5][1] == np.float32(1.5)
    assert back[2.5][1].dtype == np.float32
    assert torch.equal(back["t"], value["t"]) and back["t"].dtype == torch.int16
    assert back["strings"].tolist() == ["a", "bb"]


@pytest.mark.parametrize("value, named", [(lambda x: x, "function"), (object(), "builtins.object"),
                                          (pd.DataFrame({"a": [1]}, index=pd.MultiIndex.from_tuples([(1, 2)])),
                                           "MultiIndex")])
def test_what_cannot_cross_is_refused_by_name(value, named, tmp_path):
    with pytest.raises(transfer.TransferError, match=named):
        transfer.write(value, tmp_path / "m")


class Bomb:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_is_never_loaded(tmp_path):
    marker = tmp_path / "ran"
    for message in ({"returned": Bomb(marker)}, {"structure": "1", "tensors": [Bomb(marker)]}):
        with open(tmp_path / "m", "wb") as f:
            pickle.dump(message, f)
        with pytest.raises(transfer.TransferError, match="it was not loaded"):
            transfer.read(tmp_path / "m")
    torch.save({"structure": "1", "tensors": [Bomb(marker)]}, tmp_path / "m")
    with pytest.raises(transfer.TransferError):
        transfer.read(tmp_path / "m")
    assert not marker.exists()


@pytest.mark.parametrize("structure, message", [
    ({"$": "dataclass", "type": "Popen", "fields": {}}, "not one the grader builds"),
    ({"$": "module", "type": "Sequential", "attrs": {}, "parameters": {}, "buffers": {}}, "not one the grader builds"),
    ({"$": "tensor", "i": 3}, "outside the message"),
    ({"$": "eval", "v": "1"}, "unknown kind"),
    ({"no": "tag"}, "malformed")])
def test_a_forged_structure_builds_nothing_else(structure, message, tmp_path):
    torch.save({"structure": json.dumps(structure), "tensors": []}, tmp_path / "m")
    with pytest.raises(transfer.TransferError, match=message):
        transfer.read(tmp_path / "m")


# ----------------------------------------------------------------------------- verdicts
def local_kernel(tmp_path, namespace, cell_timeout=60):
    """A Kernel whose 'notebook' is ``namespace`` in this process: every request and answer still
    crosses as a message (transfer), through the same ``grading.answer`` the student's kernel runs."""
    return grading.Kernel(tmp_path, cell_timeout, lambda name: grading.answer(namespace, str(tmp_path), name))


@pytest.fixture
def hidden_cases():
    harness.CASE_SALT = 123456789
    yield
    harness.CASE_SALT = 0


def verdict_of(tmp_path, name, fn, args=()):
    namespace = {"fn": fn, **{f"a{i}": a for i, a in enumerate(args)}}
    q = grading.Question(1, "", name, "fn", tuple(f"a{i}" for i in range(len(args))))
    return grading.verdict(q, local_kernel(tmp_path, namespace))


@pytest.mark.parametrize("name", sorted(TABLE))
def test_every_check_grades_through_the_kernel_with_hidden_cases(name, tmp_path, hidden_cases):
    right, wrongs = TABLE[name]
    assert verdict_of(tmp_path, name, right) == ("passed", "")
    assert verdict_of(tmp_path, name, stub) == ("not attempted", "")
    for what, wrong in wrongs.items():
        status, message = verdict_of(tmp_path, name, wrong)
        assert status == "failed" and message.startswith(f"{name}: case "), (what, message)


def test_the_hidden_cases_differ_from_the_visible_ones(hidden_cases):
    harness.CASE_SALT = 0
    visible = torch.Generator().manual_seed(harness.case_seed(1))
    harness.CASE_SALT = 123456789
    hidden = torch.Generator().manual_seed(harness.case_seed(1))
    seen = [torch.randint(10, 5000, (5,), generator=g).tolist() for g in (visible, hidden)]
    assert seen[0] != seen[1]


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_experiment_check_grades_what_crossed(name, tmp_path, hidden_cases):
    make_args, wrongs = EXPERIMENTS[name]
    args = make_args()
    assert verdict_of(tmp_path, name, stub, args) == ("not attempted", "")
    for what, (experiment, message) in wrongs.items():
        out = experiment()
        status, got = verdict_of(tmp_path, name, lambda: out, args)
        assert status == "failed" and got.startswith(f"{name}: case "), (what, got)


def test_an_experiment_that_passes_passes_through_the_kernel(tmp_path, hidden_cases):
    assert verdict_of(tmp_path, "corruption_spread", lambda: spread(), (53, 1966, 0.25)) == ("passed", "")


def test_the_student_errors_reach_the_verdict_by_name(tmp_path):
    assert verdict_of(tmp_path, "ipr", lambda x: 1 / 0) == ("failed", "ZeroDivisionError: division by zero")
    status, message = verdict_of(tmp_path, "ipr", lambda x: object())
    assert status == "failed" and "a builtins.object cannot be sent to the grader" in message


# ----------------------------------------------------------------------------- questions, autograder
@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.name)
def test_the_questions_come_from_the_stubs_alike_in_chapter_and_student_notebook(path):
    chapter = json.loads(path.read_text())
    qs = grading.questions(chapter, path.stem)
    assert qs == grading.questions(student_notebook(chapter), path.stem)
    assert [q.check for q in qs] == exercises(chapter)
    assert all(q.number >= 1 and q.title for q in qs)


def test_chapter_1s_experiment_question_takes_the_chapters_values():
    qs = {q.check: q for q in grading.questions(json.loads(chapters()[0].read_text()))}
    assert (qs["corruption_spread"].target, qs["corruption_spread"].args) == ("corruption_experiment",
                                                                               ("P.p", "n_train", "P.xi"))


def test_an_autograder_reads_back_as_written_and_refuses_another_file(tmp_path):
    student = student_notebook(crafted.chapter())
    path = write_autograder(student, "crafted", tmp_path / "a.zip")
    assignment = read_autograder(path)
    assert assignment == grading.Assignment.from_notebook(student, "crafted")
    with zipfile.ZipFile(path) as z:
        z.extractall(tmp_path / "unpacked")
        assert "--autograder /autograder/source" in z.read("run_autograder").decode()
    assert read_autograder(tmp_path / "unpacked") == assignment
    (tmp_path / "b.zip").write_text("not a zip")
    with pytest.raises(ValueError, match="autograder: .* is not an autograder zip"):
        read_autograder(tmp_path / "b.zip")


def test_gradescope_gets_one_test_per_exercise(tmp_path):
    table = pd.DataFrame([dict(student="s", exercise="a", status="passed", message="", tampering=""),
                          dict(student="s", exercise="b", status="failed", message="case 1", tampering="")])
    out = json.loads(gradescope_results(table, tmp_path / "results.json").read_text())
    assert out["score"] == 1.0 and [t["score"] for t in out["tests"]] == [1.0, 0.0]
    assert out["tests"][1]["output"] == "failed: case 1" and all(t["max_score"] == 1.0 for t in out["tests"])


def test_without_an_autograder_each_submission_is_graded_as_the_chapter_its_title_names(tmp_path):
    by_title = grading.book_assignments()
    assert len(by_title) == len(chapters())
    for path in chapters():
        chapter = json.loads(path.read_text())
        assert by_title[grading.title(chapter)].questions == grading.questions(chapter, path.stem)
    nb = student_notebook(crafted.chapter())  # titled "A chapter": none of the book's
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "s.ipynb").write_text(json.dumps(nb))
    table = grade(tmp_path / "subs", tmp_path / "g")
    assert table.status.tolist() == ["did not run"] and "name the assignment with --autograder" in table.message[0]


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="submissions must be a folder"):
        grade(tmp_path / "none", tmp_path / "g")
    with pytest.raises(ValueError, match="cell_timeout must be a whole number of seconds >= 1, got 0"):
        grade(tmp_path, tmp_path / "g", cell_timeout=0)


# ----------------------------------------------------------------------------- graded in kernels
@pytest.mark.slow
def test_the_crafted_submissions_and_forgeries_grade_as_they_should(tmp_path):
    subs, grades_dir, marker = tmp_path / "submissions", tmp_path / "grades", tmp_path / "pickle-ran"
    subs.mkdir()
    for name, nb in crafted.crafted(subs, grades_dir, marker).items():
        (subs / f"{name}.ipynb").write_text(nb if isinstance(nb, str) else json.dumps(nb))
    wrong_before = (subs / "wrong.ipynb").read_bytes()
    zip_path = write_autograder(student_notebook(crafted.chapter()), "crafted", tmp_path / "autograder.zip")
    table = grade(subs, grades_dir, autograder=zip_path, time_limit=120, cell_timeout=8)
    got = {}
    for r in table.itertuples():
        got.setdefault(r.student, {})[r.exercise] = r.status
    assert got == crafted.EXPECTED
    assert not any(s == "passed" for f in crafted.FORGED for s in got[f].values()), "a forgery passed"
    messages = {(r.student, r.exercise): r.message for r in table.itertuples()}
    assert messages[("wrong", crafted.B)].startswith(f"{crafted.B}: case ")
    assert messages[("memorized", crafted.A)].startswith(f"{crafted.A}: case 1 of 5 failed")
    assert "ZeroDivisionError" in messages[("crashing", crafted.A)]
    assert "it was not loaded" in messages[("pickled_reply", crafted.A)] and not marker.exists()
    # the editor: the submission it edited is graded from the copy read at the start; it is named
    tampering = table.drop_duplicates("student").set_index("student").tampering
    assert (subs / "wrong.ipynb").read_bytes() != wrong_before, "the editor did edit the file"
    assert "wrong.ipynb" in tampering["editor"] and "grades.csv" in tampering["editor"]
    assert "left 1 process(es) running" in tampering["editor"]
    assert not tampering.drop("editor").str.len().any(), "only the editor tampered"
    time.sleep(1)  # the editor's process, had it survived, rewrites grades.csv every 0.2 s
    csv = pd.read_csv(grades_dir / "grades.csv", keep_default_na=False)
    assert csv[["student", "exercise", "status"]].values.tolist() == table[["student", "exercise", "status"]].values.tolist()
    md = (grades_dir / "grades.md").read_text()
    assert "| correct |  | passed | passed |" in md and "## Tampering" in md and "case seed" in md
    assert len(list(subs.iterdir())) == len(crafted.EXPECTED), "the vandal deleted only its copy"


@pytest.mark.slow
def test_chapter_1s_assignment_graded_with_its_solutions_pasted_in(tmp_path):
    """A real assignment, from ``write_assignments``' zip, graded by the command of the zip's own
    ``run_autograder`` (Gradescope's, with its folders moved under tmp_path): chapter 1 run in a
    kernel, its four checks computed outside it (the experiment's arguments are the chapter's own
    values), and Gradescope's results.json."""
    from grokbook.teaching.autograder import write_assignments
    from grokbook.teaching.coursework import solution_cells

    path = chapters()[0]
    chapter = json.loads(path.read_text())
    student = json.loads(write_assignments(tmp_path / "a", [path])[0].read_text())
    solutions = [chapter["cells"][i] for i in solution_cells(chapter)]
    stubs = [i for i, c in enumerate(student["cells"]) if "raise NotImplementedError" in "".join(c["source"])]
    assert len(stubs) == len(solutions) == 4
    for i, solution in zip(stubs, solutions):
        student["cells"][i]["source"] = "".join(solution["source"]).replace("assert gb.checks", "gb.checks")
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "solved.ipynb").write_text(json.dumps(student))
    # graded as Gradescope would: the zip unpacked into <root>/source, the command of its run_autograder
    root = tmp_path / "autograder"
    with zipfile.ZipFile(tmp_path / "a" / "autograder" / f"{path.stem}.zip") as z:
        z.extractall(root / "source")
        run = z.read("run_autograder").decode()
    command = run[run.index("python3 -m grokbook grade"):].replace("\\\n", " ").strip()
    command = command.replace("/autograder/submission", str(tmp_path / "subs")).replace("/autograder", str(root))
    command = command.replace("python3", sys.executable, 1)
    subprocess.run(command, shell=True, check=True, cwd=tmp_path, timeout=600)
    table = pd.read_csv(root / "results" / "grades" / "grades.csv", keep_default_na=False)
    assert table.status.tolist() == ["passed"] * 4, table.to_string()
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 4.0 and [t["name"] for t in results["tests"]] == table.exercise.tolist()


def test_the_instructors_page_states_the_forgeries_verdicts_as_graded():
    """The table of book/instructors.md: each crafted forgery, and the verdict EXPECTED (and the
    test above) give the exercise it forges."""
    text = (ROOT / "book" / "instructors.md").read_text()
    table = text[text.index("| submission | what it does | verdict |"):].split("\n\n")[0].splitlines()[2:]
    rows = {r.split("|")[1].strip().replace(" ", "_"): r.split("|")[3].strip() for r in table}
    assert set(rows) == set(crafted.FORGED)
    for name, said in rows.items():  # the exercise it forges (the memorized one forges only the first)
        assert said.split(",")[0].split(" (")[0] == crafted.EXPECTED[name][crafted.A], (name, said)


def test_a_changed_package_stops_grading_and_names_the_submission(tmp_path, monkeypatch):
    """The package's files are compared after every submission (here the workers are stand-ins
    and the package 'changes' while the second submission runs)."""
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("a", "b", "c"):
        (subs / f"{name}.ipynb").write_text(json.dumps(student_notebook(crafted.chapter())))
    digests = iter(["start", "start", "changed", "changed", "changed"])
    monkeypatch.setattr(grading, "package_digest", lambda: next(digests))
    monkeypatch.setattr(grading, "run_worker",
                        lambda notebook, work, job, limit: ({q["check"]: ("passed", "") for q in job["questions"]}, ""))
    zip_path = write_autograder(student_notebook(crafted.chapter()), "crafted", tmp_path / "a.zip")
    table = grade(subs, tmp_path / "g", autograder=zip_path)
    by = table.drop_duplicates("student").set_index("student")
    assert table[table.student == "a"].status.tolist() == ["passed", "passed"] and by.tampering["a"] == ""
    assert "changed the grokbook package on disk" in by.tampering["b"]
    assert table[table.student == "c"].status.tolist() == ["did not run"] * 2
    assert "while b ran" in by.message["c"]
