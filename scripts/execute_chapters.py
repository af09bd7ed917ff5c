"""Execute every chapter once in a profile; the book build then renders these outputs.

    python scripts/execute_chapters.py --profile book [--cache _build/.jupyter_cache] [--force] [CHAPTER ...]

Each chapter runs top to bottom in one Jupyter kernel (its folder as the working directory, the
profile in GROKBOOK_PROFILE), and its executed notebook goes into the jupyter-cache that
``jupyter-book build`` (``execute_notebooks: cache``) reads: the build renders the outputs
without executing the chapter again.  So one execution per profile is at once the chapters'
test (a failing cell or claim fails this command), the book's pages and the coursework check:

- **cells**: every cell's seconds go to ``_build/chapters/PROFILE/cells.json``, and the slowest
  ones are printed, with a note for each cell over the profile's budget (100 s in the book
  profile, 400 s in the full one, on a 2-core CPU);
- **claims**: every ``gb.claims.check`` a chapter makes is logged to
  ``_build/chapters/PROFILE/claims/CHAPTER.jsonl`` (``scripts/claim_margins.py`` reads them);
- **coursework**: in the executed chapter, every exercise's stub cell must report "not attempted"
  and every solution cell "passed" (the student notebook is the chapter without its solution
  cells, so its stubs ran in this very kernel).

A chapter whose cached execution is for the same profile, the same package and results and the
same torch (the stamp) is not executed again unless ``--force``.
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))
import sync_chapters  # noqa: E402

BUDGET = {"quick": 100, "book": 100, "full": 400}  # seconds per cell on a 2-core CPU (issue 29)
TIMEOUT = {"quick": 300, "book": 300, "full": 1200}  # the kernel's hard limit per cell


def stamp(profile: str) -> str:
    """What a chapter's outputs depend on besides its own cells: the profile, the package's code,
    the committed results, torch and Python."""
    import torch
    h = hashlib.sha256(f"{profile}|torch {torch.__version__}|python {sys.version_info[:2]}".encode())
    for folder in ("grokbook", "results"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and ".partial" not in path.as_posix() \
                    and path.name != "glue-book.json":  # the chapters' output (teaching.colab), not an input
                h.update(path.relative_to(ROOT).as_posix().encode())
                h.update(path.read_bytes())
    return h.hexdigest()[:16]


def cell_seconds(cell) -> float | None:
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return None
    parse = lambda s: dt.datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def first_line(cell) -> str:
    src = cell.get("source", "")
    src = "".join(src) if isinstance(src, list) else src
    lines = [line for line in src.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return (lines[0] if lines else "")[:70]


PASSED = re.compile(r"^(\w+): all \d+ cases passed$", re.M)
NOT_ATTEMPTED = re.compile(r"^(\w+): not attempted yet", re.M)
FAILED = re.compile(r"^(\w+): case \d+ of \d+ failed", re.M)


def reported(cells: list, names: list[str]) -> dict:
    """{check: 'passed' | 'not attempted' | 'failed' | 'silent'} from the report lines the chapter's own
    cells printed.  This checks the chapter as the book runs it; grading never reads printed text
    (grokbook.teaching.grading computes its verdicts outside the student's kernel)."""
    found = {}
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        text = "\n".join("".join(o.get("text", "")) if isinstance(o.get("text", ""), list) else o.get("text", "")
                         for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        for name in PASSED.findall(text):
            found.setdefault(name, "passed")
        for name in NOT_ATTEMPTED.findall(text):
            found.setdefault(name, "not attempted")
        for name in FAILED.findall(text):
            found.setdefault(name, "failed")
    return {n: found.get(n, "silent") for n in names}


def coursework_problems(executed: dict) -> list[str]:
    """Stubs must report 'not attempted' and solutions 'passed', in the chapter's own execution."""
    from grokbook.teaching.coursework import exercises, solution_cells
    names = exercises(executed)
    solutions = set(solution_cells(executed))
    before = reported([c for i, c in enumerate(executed["cells"]) if i not in solutions], names)
    after = reported([executed["cells"][i] for i in sorted(solutions)], names)
    problems = [f"exercise {n}: its stub reports {before[n]!r}, not 'not attempted'"
                for n in names if before[n] != "not attempted"]
    problems += [f"exercise {n}: its solution reports {after[n]!r}, not 'passed'"
                 for n in names if after[n] != "passed"]
    return problems


def execute(path: Path, profile: str, out: Path, timeout: int):
    """Run one chapter in a fresh kernel; return (executed notebook or None, seconds, error text)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    nb = nbformat.read(path, as_version=4)
    log = out / "claims" / f"{path.stem}.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    saved = {k: os.environ.get(k) for k in ("GROKBOOK_PROFILE", "GROKBOOK_CLAIMS_LOG", "GROKBOOK_CHAPTER")}
    os.environ.update(GROKBOOK_PROFILE=profile, GROKBOOK_CLAIMS_LOG=str(log), GROKBOOK_CHAPTER=path.stem)
    start = time.perf_counter()
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False, record_timing=True,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        error = None
    except CellExecutionError as e:  # the cell's exception: its name and message first, then where
        where = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
        error = f"{e.ename}: {e.evalue}\n{where[-2500:]}"
    except CellTimeoutError as e:
        error = f"cell timed out after {timeout} s: {e}"
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb, time.perf_counter() - start, error


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("chapters", nargs="*", help="chapter notebooks (default: every chapter of _toc.yml)")
    ap.add_argument("--profile", required=True, choices=sorted(BUDGET))
    ap.add_argument("--cache", default=None, help="jupyter-cache folder the book build reads (default "
                    "_build/.jupyter_cache; a chapter cached for another profile is executed again)")
    ap.add_argument("--out", default=None, help="cell times, claims logs, executed copies (default _build/chapters/PROFILE)")
    ap.add_argument("--force", action="store_true", help="execute even the chapters whose cached outputs are current")
    args = ap.parse_args(argv)

    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    profile = args.profile
    default_cache = ROOT / "_build" / ".jupyter_cache"  # where `jupyter-book build .` looks
    # absolute: the kernels run in the chapters' folder, and write the claims logs under `out`
    cache = get_cache(str(Path(args.cache).resolve() if args.cache else default_cache))
    out = Path(args.out).resolve() if args.out else ROOT / "_build" / "chapters" / profile
    out.mkdir(parents=True, exist_ok=True)
    chapters = [Path(c).resolve() for c in args.chapters] or sync_chapters.chapters()
    current = stamp(profile)
    times_file = out / "cells.json"
    times = json.loads(times_file.read_text()) if times_file.exists() else {}
    failures, slow = [], []
    print(f"executing {len(chapters)} chapter(s), profile {profile}, stamp {current}", flush=True)
    for path in chapters:
        nb = nbformat.read(path, as_version=4)
        record = None
        try:
            record = cache.match_cache_notebook(nb)
        except KeyError:
            pass
        if record is not None and record.data.get("stamp") == current and not args.force:
            print(f"{path.name}: cached outputs are current ({record.data.get('execution_seconds', 0):.0f} s when made)", flush=True)
            continue
        print(f"{path.name}: executing ...", flush=True)
        executed, seconds, error = execute(path, profile, out, TIMEOUT[profile])
        timed = ((i, c, cell_seconds(c)) for i, c in enumerate(executed.cells) if c.cell_type == "code")
        cells = [dict(cell=i, seconds=t, code=first_line(c)) for i, c, t in timed if t is not None]
        times[path.stem] = dict(seconds=round(seconds, 1), cells=cells)
        if error is not None:
            failures.append(f"{path.name}: {error.splitlines()[0]}")
            print(f"{path.name}: FAILED after {seconds:.0f} s\n{error}", flush=True)
            continue
        problems = coursework_problems(json.loads(nbformat.writes(executed)))
        if problems:
            failures.append(f"{path.name}: " + "; ".join(problems))
            print(f"{path.name}: coursework check failed: " + "; ".join(problems), flush=True)
            continue
        nbformat.write(executed, out / path.name)
        cached = copy.deepcopy(executed)  # the cache matches on the cells' metadata: drop the timings
        for c in cached.cells:
            c.metadata.pop("execution", None)
        cache.cache_notebook_bundle(CacheBundleIn(cached, str(path), data=dict(
            execution_seconds=seconds, stamp=current, profile=profile)), check_validity=False, overwrite=True)
        top = max(cells, key=lambda c: c["seconds"]) if cells else None
        over = [c for c in cells if c["seconds"] > BUDGET[profile]]
        slow += [(path.name, c) for c in over]
        print(f"{path.name}: {seconds:.0f} s, slowest cell {top['cell']} {top['seconds']:.0f} s"
              + (f"; {len(over)} cell(s) over the {BUDGET[profile]} s budget" if over else ""), flush=True)
    times_file.write_text(json.dumps(times, indent=1))

    print(f"\n{'chapter':34s} {'seconds':>8s} {'slowest cell':>13s}")
    for name, t in times.items():
        top = max(t["cells"], key=lambda c: c["seconds"]) if t["cells"] else {"cell": "-", "seconds": 0}
        print(f"{name:34s} {t['seconds']:8.1f} {top['seconds']:9.1f} (#{top['cell']})")
    print(f"{'total':34s} {sum(t['seconds'] for t in times.values()):8.1f}")
    for name, c in slow:
        print(f"NOTE: {name} cell {c['cell']} took {c['seconds']:.0f} s, over the {BUDGET[profile]} s budget: {c['code']}")
    if failures:
        print(f"\n{len(failures)} chapter(s) failed:\n" + "\n".join(f[:1000] for f in failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
