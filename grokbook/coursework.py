"""Coursework: student notebooks from the chapters, and a grader for a class's submissions.

The chapters stay the one source.  In a chapter's Exercises section every code cell tagged
``hide-cell`` is a solution (the book hides it behind a click); the cell before it is the stub
that raises ``NotImplementedError`` and calls ``grokbook.checks.<name>(fn)``.  A student notebook
is the chapter without those solution cells, with a note on top and a Colab badge for its own
path.  This uses the project's own tags over nbformat rather than otter-grader or nbgrader: the
chapters already mark their solutions, and the checks already say "passed", "not attempted" or
"case i of n failed", so neither tool's cell syntax nor its grading server is needed.

Grading runs every submitted notebook in a fresh kernel, in its own temporary folder and its own
process with a time limit (a cell over the cell limit is interrupted and the next cells run), and
reads the checks' own report lines from the outputs:

    python -m grokbook assign --out assignments            # student notebooks
    python -m grokbook grade submissions/ --out grades     # grades.csv and grades.md
"""
from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOLUTION_TAG = "hide-cell"
NOTE = ("> **Coursework version.** The solutions of this chapter's exercises are removed. Write "
        "each function where it raises `NotImplementedError`; the cell's `gb.checks` call tests it "
        "against the reference on random inputs and says what passed.")
CHECK_CALL = re.compile(r"gb\.checks\.(\w+)\(")
PASSED = re.compile(r"^(\w+): all \d+ cases passed$", re.M)
NOT_ATTEMPTED = re.compile(r"^(\w+): not attempted yet", re.M)
FAILED = re.compile(r"(\w+): (case \d+ of \d+ failed: .*)")
STATUSES = ("passed", "failed", "not attempted", "timed out", "did not run")


def _source(cell) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def _exercise_start(cells) -> int:
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "markdown" and re.search(r"^## Exercises\s*$", _source(cell), re.M):
            return i
    raise ValueError("the notebook has no '## Exercises' section")


def solution_cells(nb: dict) -> list[int]:
    """Indices of the solution cells: code cells tagged hide-cell in the Exercises section."""
    cells = nb["cells"]
    start = _exercise_start(cells)
    return [i for i, c in enumerate(cells) if i > start and c["cell_type"] == "code"
            and SOLUTION_TAG in c.get("metadata", {}).get("tags", [])]


def exercises(nb: dict) -> list[str]:
    """The checks a notebook's Exercises section calls, in order, each once."""
    cells = nb["cells"]
    start = _exercise_start(cells)
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


def write_assignments(out_dir, chapters=None) -> list[Path]:
    """Write the student notebook of every chapter (default: the _toc.yml's) into ``out_dir``."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import sync_chapters  # the repository URL and branch live in _config.yml

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    url, branch = sync_chapters.repository()
    slug = url.removeprefix("https://github.com/")
    written = []
    for path in (sync_chapters.chapters() if chapters is None else [Path(p) for p in chapters]):
        target = out_dir / path.name
        try:
            rel = target.resolve().relative_to(ROOT).as_posix()
        except ValueError:  # outside the repository: a path for wherever the instructor publishes it
            rel = f"assignments/{path.name}"
        badge = sync_chapters.BADGE.format(slug=slug, branch=branch, path=rel)
        nb = student_notebook(json.loads(Path(path).read_text()), badge)
        target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        written.append(target)
    return written


# ----------------------------------------------------------------------------- grading
def _run_one(notebook: Path, out: Path, cell_timeout: int) -> None:
    """Execute ``notebook`` in a fresh kernel in its folder (errors do not stop later cells) and
    write the executed notebook to ``out``.  Runs in a worker process (``grade``)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3", allow_errors=True,
                            interrupt_on_timeout=True,  # a cell over its time is stopped, the rest run
                            resources={"metadata": {"path": str(notebook.parent)}})
    client.execute()
    nbformat.write(nb, out)


def _outputs_text(cell) -> str:
    parts = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            parts.append(_source({"source": o.get("text", "")}))
        elif o.get("output_type") == "error":
            parts.append(f"{o.get('ename')}: {o.get('evalue')}")
    return "\n".join(parts)


def read_grades(executed: dict, names: list[str]) -> dict:
    """{check: (status, message)} from an executed notebook's outputs."""
    found = {}
    for cell in executed["cells"]:
        if cell["cell_type"] != "code":
            continue
        text = _outputs_text(cell)
        called = CHECK_CALL.findall(_source(cell))
        for name in PASSED.findall(text):
            found.setdefault(name, ("passed", ""))
        for name in NOT_ATTEMPTED.findall(text):
            found.setdefault(name, ("not attempted", ""))
        for name, message in FAILED.findall(text):
            found.setdefault(name, ("failed", message.strip()))
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        for name in called:  # the check's cell raised something else (the student's code crashed)
            if errors and name not in found:
                if errors[0].get("ename") == "KeyboardInterrupt":  # stopped at the cell time limit
                    found[name] = ("timed out", "the cell ran over its time limit")
                else:
                    found[name] = ("failed", f"{errors[0].get('ename')}: {errors[0].get('evalue')}"[:300])
    return {name: found.get(name, ("did not run", "")) for name in names}


def grade(submissions, out_dir, *, reference=None, time_limit: int = 600, cell_timeout: int = 300):
    """Grade every ``*.ipynb`` in ``submissions`` (a folder; one file per student, or one folder
    per student).  Each runs in a fresh kernel, in a copy of its own folder, in its own process
    killed after ``time_limit`` seconds.  The exercises are those the ``reference`` notebook's
    Exercises section checks (default: each submission's own).  Writes grades.csv and grades.md
    into ``out_dir``; returns the table (one row per student and exercise)."""
    import pandas as pd

    submissions, out_dir = Path(submissions), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ref_names = exercises(json.loads(Path(reference).read_text())) if reference else None
    rows = []
    for path in sorted(submissions.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        student = path.relative_to(submissions).with_suffix("").as_posix()
        try:
            names = ref_names or exercises(json.loads(path.read_text()))
        except (ValueError, json.JSONDecodeError, KeyError) as err:
            rows.append(dict(student=student, exercise="(notebook)", status="did not run",
                             message=f"not a chapter notebook: {err}"[:300]))
            continue
        with tempfile.TemporaryDirectory(prefix="grokbook-grade-") as tmp:
            work = Path(tmp) / "work"
            shutil.copytree(path.parent, work, ignore=shutil.ignore_patterns("*.ipynb"))
            shutil.copy(path, work / path.name)
            executed = Path(tmp) / "executed.ipynb"
            cmd = [sys.executable, "-c", "import sys; from pathlib import Path; from grokbook.coursework "
                   "import _run_one; _run_one(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))",
                   str(work / path.name), str(executed), str(cell_timeout)]
            status, message = None, ""
            try:
                proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=time_limit,
                                      start_new_session=True)
                if not executed.exists():
                    status, message = "did not run", (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]
            except subprocess.TimeoutExpired:
                status, message = "timed out", f"over the {time_limit} s limit"
            if status is None:
                grades = read_grades(json.loads(executed.read_text()), names)
            else:
                grades = {n: (status, message) for n in names}
        rows += [dict(student=student, exercise=n, status=s, message=m) for n, (s, m) in grades.items()]
    table = pd.DataFrame(rows, columns=["student", "exercise", "status", "message"])
    table.to_csv(out_dir / "grades.csv", index=False)
    summary = (table.pivot(index="student", columns="exercise", values="status")
               if len(table) else pd.DataFrame())
    lines = ["# Grades", "", f"{table.student.nunique()} submissions, statuses: "
             + ", ".join(f"{s} {int((table.status == s).sum())}" for s in STATUSES), ""]
    if len(summary):
        lines += ["| student | " + " | ".join(summary.columns) + " |",
                  "|---" * (len(summary.columns) + 1) + "|"]
        lines += [f"| {student} | " + " | ".join(str(v) for v in row) + " |" for student, row in summary.iterrows()]
    failed = table[table.status != "passed"]
    if len(failed):
        lines += ["", "## Messages", ""] + [f"- {r.student}, {r.exercise}: {r.status}" + (f" — {r.message}" if r.message else "")
                                            for r in failed.itertuples()]
    (out_dir / "grades.md").write_text("\n".join(lines) + "\n")
    return table
