"""``python -m grokbook grade submissions/``: a class's notebooks graded, and the grade files.

``grade`` reads every submission into memory, then grades each in a worker process of its own
(``grading.work``: the notebook in a fresh kernel, the verdicts computed outside it).  Between two
submissions it kills whatever the last one left running, and compares the submissions, the grades
folder and the grokbook package on disk with what they were when grading began: a submission that
changed any of them is named in the grades ("tampering"), the others are graded from the copies
read at the start, and if the package changed, grading stops.
"""
from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from pathlib import Path

from . import grading
from .grading import STATUSES


def grade(submissions, out_dir, *, reference=None, autograder=None, time_limit: int = 600,
          cell_timeout: int = 300, case_seed: int | None = None):
    """Grade every ``*.ipynb`` under ``submissions`` (one file per student, or one folder each)
    against ``autograder`` (a zip from ``python -m grokbook assign``), else the ``reference``
    assignment notebook, else the book chapter whose title each submission carries.  Writes
    grades.csv and grades.md into ``out_dir``; returns the table (one row per student and exercise,
    with its status, message and any tampering found while it ran).  ``case_seed`` draws the
    checks' hidden cases (default: a fresh one, written into grades.md)."""
    import pandas as pd

    from .autograder import read_autograder

    submissions, out_dir = Path(submissions), Path(out_dir)
    if not submissions.is_dir():
        raise ValueError(f"submissions must be a folder of .ipynb files, got {str(submissions)!r}")
    for name, value in (("time_limit", time_limit), ("cell_timeout", cell_timeout)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number of seconds >= 1, got {value!r}")
    if autograder is not None:
        fixed = read_autograder(autograder)
    elif reference is not None:
        fixed = grading.Assignment.from_notebook(json.loads(Path(reference).read_text()), Path(reference).stem)
    else:
        fixed = None
    by_title = grading.book_assignments() if fixed is None else {}
    salt = secrets.randbits(62) if case_seed is None else int(case_seed)
    # everything a submission could touch, as it is before any runs
    paths = sorted(p for p in submissions.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    originals = {p: p.read_bytes() for p in paths}
    subs_before, grades_before = grading.folder_digest(submissions), grading.folder_digest(out_dir)
    package_before = grading.package_digest()
    grading.become_subreaper()
    already = set(grading.descendants())
    rows, stopped = [], None
    for path in paths:
        student = path.relative_to(submissions).with_suffix("").as_posix()
        tampering = []
        try:
            nb = json.loads(originals[path])
            assignment = fixed or by_title.get(grading.title(nb))
            if assignment is None:
                raise ValueError(f"its title {grading.title(nb)!r} is none of the book's chapters; name the "
                                 "assignment with --autograder")
        except (ValueError, AttributeError, TypeError) as err:
            rows.append(dict(student=student, exercise="(notebook)", status="did not run",
                             message=f"not a chapter notebook: {err}"[:300], tampering=""))
            continue
        checks = [q.check for q in assignment.questions]
        if stopped:
            rows += [dict(student=student, exercise=c, status="did not run", message=stopped, tampering="")
                     for c in checks]
            continue
        with tempfile.TemporaryDirectory(prefix="grokbook-grade-") as tmp:
            work = Path(tmp) / "work"
            shutil.copytree(path.parent, work, ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
            (work / path.name).write_bytes(originals[path])
            job = dict(questions=assignment.job(), salt=salt, cell_timeout=cell_timeout,
                       calls=str(Path(tmp) / "calls"))
            verdicts, why = grading.run_worker(work / path.name, work, job, time_limit)
        left = [p for p in grading.descendants() if p not in already]
        if left:
            grading.kill_leftovers(left)
            tampering.append(f"left {len(left)} process(es) running after its notebook ended; they were killed")
        if verdicts is None:
            status = "timed out" if why == "timed out" else "did not run"
            message = f"over the {time_limit} s limit" if why == "timed out" else why
            verdicts = {c: (status, message) for c in checks}
        others = grading.changed_files(subs_before, grading.folder_digest(submissions))
        if others:
            tampering.append("changed files of the submissions folder while it ran: " + ", ".join(others)[:300]
                             + " (every submission is graded from the copy read before grading began)")
            subs_before = grading.folder_digest(submissions)
        touched = grading.changed_files(grades_before, grading.folder_digest(out_dir))
        if touched:
            tampering.append("changed the grades folder while it ran: " + ", ".join(touched)[:200]
                             + " (the grades are written after every submission has run)")
            grades_before = grading.folder_digest(out_dir)
        if grading.package_digest() != package_before:
            tampering.append("changed the grokbook package on disk while it ran; grading stopped")
            stopped = f"not graded: the grokbook package changed on disk while {student} ran; restore it and grade again"
        for c in checks:
            status, message = verdicts.get(c, ("did not run", "no verdict"))
            if status not in STATUSES:
                status, message = "did not run", f"an unknown verdict {status!r}"
            rows.append(dict(student=student, exercise=c, status=status, message=str(message)[:300],
                             tampering="; ".join(tampering)))
    table = pd.DataFrame(rows, columns=["student", "exercise", "status", "message", "tampering"])
    write_grades(table, out_dir, salt)
    return table


def write_grades(table, out_dir: Path, salt: int) -> None:
    """grades.csv (the table) and grades.md (students by exercises, then every message and every
    tampering found) in ``out_dir``, replacing whatever is there."""
    import pandas as pd

    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("grades.csv", "grades.md"):
        if (out_dir / name).is_symlink():
            (out_dir / name).unlink()
    table.to_csv(out_dir / "grades.csv", index=False)
    summary = (table.pivot(index="student", columns="exercise", values="status").fillna("")
               if len(table) else pd.DataFrame())
    lines = ["# Grades", "", f"{table.student.nunique()} submissions, statuses: "
             + ", ".join(f"{s} {int((table.status == s).sum())}" for s in STATUSES),
             "", f"The checks' hidden cases were drawn with the case seed {salt}.", ""]
    if len(summary):
        lines += ["| student | " + " | ".join(summary.columns) + " |",
                  "|---" * (len(summary.columns) + 1) + "|"]
        lines += [f"| {student} | " + " | ".join(str(v) for v in row) + " |" for student, row in summary.iterrows()]
    failed = table[(table.status != "passed") & (table.message != "")]
    if len(failed):
        lines += ["", "## Messages", ""] + [f"- {r.student}, {r.exercise}: {r.status}" + (f" — {r.message}" if r.message else "")
                                            for r in failed.itertuples()]
    tampered = table[table.tampering != ""].drop_duplicates("student")
    if len(tampered):
        lines += ["", "## Tampering", ""] + [f"- {r.student}: {r.tampering}" for r in tampered.itertuples()]
    (out_dir / "grades.md").write_text("\n".join(lines) + "\n")
