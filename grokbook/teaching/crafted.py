"""Crafted submissions: what the grader must grade right, forgeries included.

A two-exercise assignment (``chapter``: chapter 1's ``expected_chance_correct`` and
``inversion_train_accuracy``) and the submissions made from its student notebook (``crafted``),
each with the verdicts it must get (``EXPECTED``).  The book's tests grade them on every change;
an instructor can write them out and grade them too:

    python -m grokbook.teaching.crafted --out crafted/
    python -m grokbook grade crafted/submissions --autograder crafted/autograder.zip --out crafted/grades
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .coursework import student_notebook

A, B = "expected_chance_correct", "inversion_train_accuracy"
STUB_A = f"def {A}(n, p):\n    raise NotImplementedError\n\n\ngb.checks.{A}({A})"
STUB_B = f"def {B}(xi, p):\n    raise NotImplementedError\n\n\ngb.checks.{B}({B})"
RIGHT_A = f"def {A}(n, p):\n    return n / p\n\n\ngb.checks.{A}({A})"
RIGHT_B = f"def {B}(xi, p):\n    return 1 - xi * (1 - 1 / p)\n\n\ngb.checks.{B}({B})"
PASS_LINES = f'print("{A}: all 5 cases passed")\nprint("{B}: all 7 cases passed")'

# What each forgery does, in the code a student would add (cells after the setup cell).
FORGERIES = {
    "printed": PASS_LINES,
    "replaced_check": (
        "import grokbook as gb\n"
        f"gb.checks.{A} = lambda fn: print('{A}: all 5 cases passed') or True\n"
        f"gb.checks.{B} = lambda fn: print('{B}: all 7 cases passed') or True"),
    # the report function the checks call, replaced where chapter 1's checks look it up
    "patched_report": (
        "import grokbook.teaching.checks.ch01_task as ch01\n"
        "ch01.report = lambda name, fn, cases: print(f'{name}: all {len(cases)} cases passed') or True"),
    "patched_print": (
        "import builtins, re\n"
        "_print = builtins.print\n"
        "def print(*args, **kw):\n"
        "    text = ' '.join(map(str, args))\n"
        "    _print(re.sub(r'^(\\w+): .*', r'\\1: all 5 cases passed', text), **kw)\n"
        "builtins.print = print"),
    # the grader's answer machinery in the kernel replaced by one that writes a pickle which
    # would run code (create a file) if the grader loaded it with pickle
    "pickled_reply": (
        "import pickle, grokbook.teaching.grading as grading\n"
        "class Bomb:\n"
        "    def __reduce__(self):\n"
        "        import os\n"
        "        return (os.system, ('touch {marker}',))\n"
        "def answer(namespace, folder, call):\n"
        "    with open(f'{{folder}}/{{call}}.reply', 'wb') as f:\n"
        "        pickle.dump({{'returned': Bomb()}}, f)\n"
        "grading.answer = answer"),
    # pickle.dump replaced, so that whatever a grader pickles in the kernel to read back later
    # runs code (creates a file) when that grader loads it
    "pickled_results": (
        "import os, pickle\n"
        "class Bomb:\n"
        "    def __reduce__(self):\n"
        "        return (os.system, ('touch {marker}',))\n"
        "_dump = pickle.dump\n"
        "pickle.dump = lambda obj, f, *a, **k: _dump(Bomb(), f, *a, **k)"),
}
# the visible cases' answers, remembered: the notebook's own check passes, the hidden cases do not
MEMORIZED = (
    "import torch\n"
    "_g = torch.Generator().manual_seed(1)\n"
    "_seen = {}\n"
    "for _ in range(5):\n"
    "    _n = int(torch.randint(10, 5000, (1,), generator=_g))\n"
    "    _p = int(torch.randint(2, 200, (1,), generator=_g))\n"
    "    _seen[(_n, _p)] = _n / _p\n"
    f"def {A}(n, p):\n    return _seen.get((n, p), 0.0)\n\n\ngb.checks.{A}({A})")
# a cell that edits another submission and the grades, and leaves a process that keeps doing it
EDITOR = (
    "import json, os, subprocess, sys\n"
    "other = {other!r}\n"
    "nb = json.load(open(other))\n"
    "for c in nb['cells']:\n"
    "    c['source'] = ''.join(c['source']).replace('1 - xi * (1)', '1 - xi * (1 - 1 / p)')\n"
    "json.dump(nb, open(other, 'w'))\n"
    "os.makedirs({grades!r}, exist_ok=True)\n"
    "open(os.path.join({grades!r}, 'grades.csv'), 'w').write('student,exercise,status\\neditor,all,passed\\n')\n"
    "loop = 'import time, os\\nwhile True:\\n    open(os.path.join(%r, \"grades.csv\"), \"w\").write(\"forged\")\\n    time.sleep(0.2)' % {grades!r}\n"
    "subprocess.Popen([sys.executable, '-c', loop], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)")
VANDAL = "import os\nfor f in os.listdir('.'):\n    os.remove(f)\n"

EXPECTED = {
    "correct": {A: "passed", B: "passed"},
    "wrong": {A: "passed", B: "failed"},
    "crashing": {A: "failed", B: "passed"},
    "endless": {A: "timed out", B: "passed"},
    "empty": {A: "not attempted", B: "not attempted"},
    "vandal": {A: "passed", B: "not attempted"},
    "garbled": {"(notebook)": "did not run"},
    "memorized": {A: "failed", B: "not attempted"},
    "printed": {A: "not attempted", B: "not attempted"},
    "replaced_check": {A: "not attempted", B: "not attempted"},
    "patched_report": {A: "not attempted", B: "not attempted"},
    "patched_print": {A: "not attempted", B: "not attempted"},
    "pickled_reply": {A: "failed", B: "failed"},
    "pickled_results": {A: "not attempted", B: "not attempted"},
    "editor": {A: "not attempted", B: "not attempted"},
}
FORGED = ("memorized", "printed", "replaced_check", "patched_report", "patched_print", "pickled_reply",
          "pickled_results", "editor")


def cell(kind, text, tags=()):
    """A notebook cell of ``kind`` ('markdown' or 'code') holding ``text``, tagged ``tags``."""
    c = {"cell_type": kind, "id": f"c{abs(hash(text)) % 10 ** 8}", "metadata": {"tags": list(tags)} if tags else {},
         "source": text}
    if kind == "code":
        c.update(execution_count=None, outputs=[])
    return c


def chapter() -> dict:
    """The two-exercise chapter the crafted submissions answer (its solutions tagged hide-cell)."""
    return {"nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "cells": [cell("markdown", "# A chapter"), cell("code", "import grokbook as gb"),
                      cell("markdown", "## Exercises\n\n**1. Correct by chance.** *Easy · about 5 minutes.*\n\n"
                                        "Return the expected number.\n\n:::{dropdown} Hint\nEach redrawn label is "
                                        "uniform over p labels.\n:::"),
                      cell("code", STUB_A), cell("code", RIGHT_A.replace("gb.checks", "assert gb.checks"), ["hide-cell"]),
                      cell("markdown", "**2. The ceiling.** *Easy · about 5 minutes.*\n\nReturn it.\n\n"
                                        ":::{dropdown} Hint\nCount what the network gets wrong there.\n:::"),
                      cell("code", STUB_B), cell("code", RIGHT_B.replace("gb.checks", "assert gb.checks"), ["hide-cell"])]}


def submission(replace: dict | None = None, added: str | None = None) -> dict:
    """The student notebook with cells replaced (old source -> new) and a cell ``added`` after
    its first code cell."""
    nb = student_notebook(chapter())
    for c in nb["cells"]:
        for old, new in (replace or {}).items():
            if c["source"] == old:
                c["source"] = new
    if added is not None:
        at = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code") + 1
        nb["cells"].insert(at, cell("code", added))
    return nb


def crafted(submissions: Path, grades: Path, marker: Path) -> dict:
    """{name: notebook dict, or text for an unreadable file}: every crafted submission.  The editor
    edits ``submissions/wrong.ipynb`` (to pass) and ``grades``; the pickled reply would create ``marker``."""
    out = {
        "correct": submission({STUB_A: RIGHT_A, STUB_B: RIGHT_B}),
        "wrong": submission({STUB_A: RIGHT_A, STUB_B: RIGHT_B.replace("1 - 1 / p", "1")}),
        "crashing": submission({STUB_A: RIGHT_A.replace("return n / p", "return n / 0"), STUB_B: RIGHT_B}),
        "endless": submission({STUB_A: RIGHT_A.replace("return n / p", "while True:\n        pass"), STUB_B: RIGHT_B}),
        "empty": submission(),
        "vandal": submission({STUB_A: VANDAL + RIGHT_A}),
        "garbled": "{ not json",
        "memorized": submission({STUB_A: MEMORIZED}),
        "editor": submission(added=EDITOR.format(other=str(Path(submissions) / "wrong.ipynb"),
                                                 grades=str(Path(grades)))),
    }
    for name, code in FORGERIES.items():
        out[name] = submission(added=code.format(marker=str(marker)) if "{marker}" in code else code)
    assert set(out) == set(EXPECTED)
    return out


def write(folder) -> Path:
    """Write the crafted submissions into ``folder/submissions`` and the assignment's autograder
    into ``folder/autograder.zip``; returns the submissions folder."""
    from .autograder import write_autograder

    folder = Path(folder)
    subs = folder / "submissions"
    subs.mkdir(parents=True, exist_ok=True)
    for name, nb in crafted(subs, folder / "grades", folder / "pickle-ran").items():
        (subs / f"{name}.ipynb").write_text(nb if isinstance(nb, str) else json.dumps(nb, indent=1))
    write_autograder(student_notebook(chapter()), "crafted", folder / "autograder.zip")
    return subs


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(prog="python -m grokbook.teaching.crafted", description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="folder for submissions/ and autograder.zip")
    print(write(ap.parse_args().out))
    sys.exit(0)
