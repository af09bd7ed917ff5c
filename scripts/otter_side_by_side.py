"""What otter-grader 7 gives grokbook's crafted submissions, beside the verdicts grokbook must give.

Otter runs a submission's tests in the student's own kernel: it appends a cell that runs the tests
there and pickles the results, which the grading process then unpickles
(``otter/execute/preprocessor.py``).  Whatever the student's cells changed in that kernel (a check
replaced, ``print`` patched, ...) is what the tests meet.  grokbook grades with its own grader
(``python -m grokbook grade``), which calls the checks in another process and reads no pickle.

This script turns ``crafted.chapter()`` into an otter master notebook (a question per exercise,
its hidden test asserting ``gb.checks.<name>(<fn>) is True`` on cases drawn afresh, as grokbook's
grader draws them) and grades every crafted submission with otter, each in its own folder, in the
order grokbook grades them (by file name):

    python -m otter assign --no-run-tests master.ipynb dist       # dist/autograder/master-autograder_*.zip
    python -m otter run --no-logo -a dist/autograder/master-autograder_*.zip -o DIR SUBMISSION.ipynb

(local grading, no Docker; ``otter run`` has no timeout, so a run still going after ``--timeout``
seconds is killed, its kernel with it).  It prints a markdown table, otter's points per question
beside ``crafted.EXPECTED``, then what the submissions did outside otter's kernel: the pickle
bomb's marker file, the editor's edit of wrong.ipynb and its grades/ (its background process is
killed here, by its id).  Run it (about 3 minutes for all of them):

    python scripts/otter_side_by_side.py [--only correct,printed] [--out DIR] [--json PATH] [--timeout S]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grokbook.teaching import crafted  # noqa: E402

OTTER = [sys.executable, "-m", "otter"]  # the otter of this interpreter (the "otter" command)
CONFIG = """# ASSIGNMENT CONFIG
init_cell: false
check_all_cell: false
export_cell: false
tests:
  ok_format: false
generate:
  pdf: false"""
# otter passes the test function the notebook's globals of the same names (gb is imported again)
TEST = """# HIDDEN
def test_{name}({name}):
    import random
    import grokbook as gb
    from grokbook.teaching.checks import harness
    harness.CASE_SALT = random.randrange(1, 2 ** 31)  # fresh cases, as grokbook's grader draws
    try:
        assert gb.checks.{name}({name}) is True
    finally:
        harness.CASE_SALT = 0"""


def _cell(kind, text):
    cell = {"cell_type": kind, "metadata": {}, "source": text}
    return cell if kind != "code" else {**cell, "execution_count": None, "outputs": []}


def master_notebook() -> dict:
    """``crafted.chapter()`` in otter 7's master format: each exercise (statement, stub, solution
    tagged hide-cell) becomes a question named after its check, with its solution and a hidden test."""
    nb = crafted.chapter()
    cells, out = nb["cells"], [_cell("raw", CONFIG)]
    for i, c in enumerate(cells):
        if "hide-cell" in c["metadata"].get("tags", []):  # the solution; cells i-2, i-1: statement, stub
            name = re.search(r"gb\.checks\.(\w+)\(", c["source"])[1]
            body = re.sub(r"^(    .*\n)+", lambda m: f"    # BEGIN SOLUTION\n{m[0]}    # END SOLUTION\n",
                          c["source"].replace("assert gb.checks", "gb.checks"), flags=re.M)
            del out[-2:]  # the statement and the stub, put back inside the question
            out += [_cell("raw", f"# BEGIN QUESTION\nname: {name}\npoints: 1"), cells[i - 2],
                    _cell("raw", "# BEGIN SOLUTION"), _cell("code", body), _cell("raw", "# END SOLUTION"),
                    _cell("raw", "# BEGIN TESTS"), _cell("code", TEST.format(name=name)),
                    _cell("raw", "# END TESTS"), _cell("raw", "# END QUESTION")]
        else:
            out.append(c)
    return {**nb, "cells": out}


def assign(folder: Path) -> Path:
    """Write the master notebook into ``folder``, run ``otter assign`` on it; the autograder zip."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "master.ipynb").write_text(json.dumps(master_notebook(), indent=1))
    run = subprocess.run([*OTTER, "assign", "--no-run-tests", "master.ipynb", "dist"], cwd=folder,
                         capture_output=True, text=True)
    if run.returncode:
        raise RuntimeError(f"otter assign failed:\n{run.stdout}{run.stderr}")
    return next((folder / "dist" / "autograder").glob("*.zip"))


def _kill(procs) -> int:
    """Kill the given processes (psutil.Process), each by its id; the number that were alive."""
    alive = [p for p in procs if p.is_running()]
    for p in alive:
        with contextlib.suppress(Exception):  # gone meanwhile
            p.kill()
    return len(alive)


def _strays(grades: Path):
    """Processes, not this one or its parents, whose command line names ``grades`` (the editor's loop,
    started in a session of its own, outlives otter's kernel)."""
    import psutil

    mine = {psutil.Process().pid} | {p.pid for p in psutil.Process().parents()}
    return [p for p in psutil.process_iter(["cmdline"])
            if p.pid not in mine and str(grades) in " ".join(p.info["cmdline"] or [])]


def grade(zip_path: Path, notebook: Path, folder: Path, timeout: float) -> dict:
    """``otter run`` on one submission in ``folder``: {"scores": {question: points} or None,
    "note": what went wrong, "seconds": how long it ran}."""
    import psutil

    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    proc = subprocess.Popen([*OTTER, "run", "--no-logo", "-a", str(zip_path), "-o", str(folder), str(notebook)],
                            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env={**os.environ, "TMPDIR": str(folder)})
    note = ""
    try:
        log = proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:  # otter run has no timeout: kill it and its kernel (its temporary
        # folder, under TMPDIR, goes with ``folder``)
        _kill(psutil.Process(proc.pid).children(recursive=True) + [psutil.Process(proc.pid)])
        log, note = proc.communicate()[0], f"still running after {timeout:g} s, killed"
    seconds = time.perf_counter() - start
    (folder / "otter-run.log").write_text(log)
    results = folder / "results.json"
    if not note and (proc.returncode or not results.exists()):
        note = f"otter run failed: {(log.strip().splitlines() or ['?'])[-1][:80]}"
    scores = None if note else {t["name"]: t["score"] for t in json.loads(results.read_text())["tests"]
                                if "score" in t}  # Gradescope's format: each question, and "Public Tests"
    return {"scores": scores, "note": note, "seconds": seconds}


def side_by_side(names=None, out=None, timeout=60.0) -> tuple[dict, dict]:
    """Grade the crafted submissions ``names`` (default all) with otter in ``out`` (default a temporary
    folder): ({name: grade's dict}, {effect: what the submissions did outside otter's kernel})."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(out or tmp).resolve()
        subs, marker = folder / "submissions", folder / "pickle-ran"
        notebooks = crafted.crafted(subs, folder / "grades", marker)
        subs.mkdir(parents=True, exist_ok=True)
        for name, nb in notebooks.items():
            (subs / f"{name}.ipynb").write_text(nb if isinstance(nb, str) else json.dumps(nb, indent=1))
        wrong_before = (subs / "wrong.ipynb").read_text()
        zip_path = assign(folder / "assign")
        results = {}
        for name in sorted(names or notebooks):  # grokbook's order: by file name
            results[name] = grade(zip_path, subs / f"{name}.ipynb", folder / "runs" / name, timeout)
        effects = {"pickle marker created": marker.exists(),
                   "wrong.ipynb edited": (subs / "wrong.ipynb").read_text() != wrong_before,
                   "grades/ written": (folder / "grades").exists(),
                   "stray processes killed": _kill(_strays(folder / "grades"))}
    return results, effects


def table(results: dict) -> str:
    """The markdown table: otter's points per question and total, grokbook's expected verdicts."""
    a, b = crafted.A, crafted.B
    lines = [f"| submission | otter: {a} | otter: {b} | otter total | grokbook must give | otter run (s) |",
             "|---|---|---|---|---|---|"]
    for name, r in results.items():
        forged = " (forged)" if name in crafted.FORGED else ""
        expected = "; ".join(f"{q}: {v}" for q, v in crafted.EXPECTED[name].items())
        if r["scores"] is None:
            cells = [r["note"], "", "—"]
        else:
            cells = [f"{r['scores'].get(q, 0):g}/1" for q in (a, b)] + [f"{sum(r['scores'].values()):g}/2"]
        lines.append(f"| {name}{forged} | {' | '.join(cells)} | {expected} | {r['seconds']:.1f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="comma-separated names of crafted submissions (default: all)")
    ap.add_argument("--out", help="keep the files here (default: a temporary folder)")
    ap.add_argument("--json", help="write {submission: {question: score}} here")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds before an otter run is killed")
    args = ap.parse_args(argv)
    names = args.only.split(",") if args.only else None
    unknown = set(names or ()) - set(crafted.EXPECTED)
    if unknown:
        ap.error(f"no crafted submission {sorted(unknown)}; there are {sorted(crafted.EXPECTED)}")
    start = time.perf_counter()
    results, effects = side_by_side(names, args.out, args.timeout)
    print(table(results) + "\n")
    for what, value in effects.items():
        print(f"- {what}: {value}")
    runs = sum(r["seconds"] for r in results.values())
    print(f"\notter run: {runs:.1f} s in all; with otter assign: {time.perf_counter() - start:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({n: r["scores"] for n, r in results.items()}, indent=1))
    return results, effects


if __name__ == "__main__":
    main()
