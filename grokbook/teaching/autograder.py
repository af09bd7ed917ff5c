"""Assignments: the student notebooks, and the autograder of each, a zip that ``python -m grokbook
grade`` and Gradescope both read.

``python -m grokbook assign`` (``write_assignments``, ``make assignments``) writes the autograder
beside each student notebook; it is
made from the chapter's text alone, so no chapter is executed to make it.  It holds:

- ``assignment.json``: the chapter, its title and its questions (``grading.Question``: which check,
  on which of the student's functions, with which of the chapter's values);
- the student notebook it was made with, and its sha256 in ``assignment.json``;
- ``setup.sh`` and ``run_autograder``, Gradescope's two scripts: the first installs torch (CPU)
  and grokbook at the commit the zip was made from; the second grades the one submission in
  ``/autograder/submission`` with this same zip and writes ``/autograder/results/results.json``.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import zipfile
from pathlib import Path

from . import book, colab, grading
from .coursework import student_notebook

FORMAT = "grokbook-autograder 1"
SETUP = """#!/usr/bin/env bash
# Gradescope's setup: Python, torch (the CPU build) and grokbook at the commit this zip was made from.
set -euo pipefail
apt-get update -qq && apt-get install -y -qq python3 python3-pip python3-venv git >/dev/null
python3 -m venv /opt/grokbook && . /opt/grokbook/bin/activate
pip install -q torch=={torch} --index-url https://download.pytorch.org/whl/cpu
pip install -q "grokbook @ git+{url}@{commit}"
"""
RUN = """#!/usr/bin/env bash
# Gradescope's run: grade /autograder/submission with this autograder, write results.json.
set -euo pipefail
. /opt/grokbook/bin/activate
mkdir -p /autograder/results
python3 -m grokbook grade /autograder/submission --autograder /autograder/source \\
  --out /autograder/results/grades --gradescope /autograder/results/results.json
"""


def commit() -> str:
    """The repository's commit (the one Gradescope installs), or 'main' outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=book.ROOT, capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip() or "main"
    except (OSError, subprocess.SubprocessError):
        return "main"


def write_autograder(student: dict, chapter: str, path) -> Path:
    """Write the autograder zip of the student notebook ``student`` (of ``chapter``) to ``path``."""
    import torch

    assignment = grading.Assignment.from_notebook(student, chapter)
    if not assignment.questions:
        raise ValueError(f"{chapter}: no graded exercise to make an autograder of")
    text = json.dumps(student, indent=1, ensure_ascii=False) + "\n"
    spec = dict(format=FORMAT, chapter=chapter, title=assignment.title, questions=assignment.job(),
                notebook=f"{chapter}.ipynb", notebook_sha256=hashlib.sha256(text.encode()).hexdigest())
    url, _ = book.repository()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("assignment.json", json.dumps(spec, indent=1) + "\n")
        z.writestr(spec["notebook"], text)
        for name, body in (("setup.sh", SETUP.format(torch=torch.__version__.split("+")[0], url=url,
                                                     commit=commit())), ("run_autograder", RUN)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            z.writestr(info, body)
    return path


def read_autograder(path) -> grading.Assignment:
    """The Assignment of an autograder: its zip, or the folder it was unpacked into (Gradescope's
    /autograder/source).  ValueError if it is not one this grokbook reads."""
    path = Path(path)
    try:
        if path.is_dir():
            spec = json.loads((path / "assignment.json").read_text())
        else:
            with zipfile.ZipFile(path) as z:
                spec = json.loads(z.read("assignment.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise ValueError(f"autograder: {str(path)!r} is not an autograder zip or folder ({err})") from None
    if not isinstance(spec, dict) or spec.get("format") != FORMAT:
        raise ValueError(f"autograder: {str(path)!r} has format {spec.get('format') if isinstance(spec, dict) else None!r}, "
                         f"not {FORMAT!r}")
    questions = [grading.Question(**{**q, "args": tuple(q["args"]), "kwargs": tuple(map(tuple, q["kwargs"]))})
                 for q in spec["questions"]]
    return grading.Assignment(spec["chapter"], spec["title"], questions)


def gradescope_results(table, path) -> Path:
    """Gradescope's results.json from a grades table of one submission: one test per exercise,
    1 point each, its status and message as the test's output."""
    tests = [dict(name=f"{r.exercise}", score=float(r.status == "passed"), max_score=1.0,
                  status="passed" if r.status == "passed" else "failed",
                  output=r.status + (f": {r.message}" if r.message else "")
                  + (f"\nTampering: {r.tampering}" if r.tampering else ""))
             for r in table.itertuples()]
    out = dict(score=sum(t["score"] for t in tests), tests=tests,
               output="Graded by grokbook: each exercise's check run outside the notebook's kernel.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    return path


def write_assignments(out_dir, chapters=None) -> list[Path]:
    """Write the student notebook of every chapter (default: the _toc.yml's) into ``out_dir``, and
    its autograder into ``out_dir/autograder/<chapter>.zip`` (``write_autograder``);
    returns the notebooks' paths.  Nothing is executed."""

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    glue, refs = colab.read_glue(), colab.references()
    written = []
    for path in (book.chapters() if chapters is None else [Path(p) for p in chapters]):
        target = out_dir / path.name
        try:
            rel = target.resolve().relative_to(book.ROOT).as_posix()
        except ValueError:  # outside the repository: a path for wherever the instructor publishes it
            rel = f"assignments/{path.name}"
        # the chapter without its solutions, in the plain Markdown of its Colab copy
        nb = colab.colab_notebook(student_notebook(json.loads(Path(path).read_text())), Path(path),
                                  glue[Path(path).stem], refs, badge_path=rel)
        target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        write_autograder(nb, Path(path).stem, out_dir / "autograder" / f"{Path(path).stem}.zip")
        written.append(target)
    return written
