"""Execute chapters' code cells in order, in one namespace, without Jupyter.

For machines that have PyTorch but no Jupyter kernel (a bare GPU box): it runs
what make book executes, prints each cell's time, and fails on the first error or
broken claim.  Figures are drawn off-screen.

    GROKBOOK_PROFILE=full python scripts/run_chapter.py book/02_grokking_clean.ipynb [...]
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")


def run(path: Path) -> float:
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    namespace = {"__name__": "__main__"}
    cwd = os.getcwd()
    os.chdir(path.parent)  # as the chapter executor does
    start = time.perf_counter()
    try:
        for i, cell in enumerate(cells):
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            t = time.perf_counter()
            exec(compile(src, f"{path.name}[cell {i}]", "exec"), namespace)
            print(f"  cell {i:2d}: {time.perf_counter() - t:6.1f} s", flush=True)
    finally:
        os.chdir(cwd)
        import matplotlib.pyplot as plt
        plt.close("all")
    return time.perf_counter() - start


def main():
    total = 0.0
    for arg in sys.argv[1:]:
        print(f"{arg} (profile {os.environ.get('GROKBOOK_PROFILE', 'full')})", flush=True)
        seconds = run(Path(arg).resolve())
        total += seconds
        print(f"{arg}: all cells ran, claims hold, {seconds:.1f} s", flush=True)
    print(f"total {total:.1f} s")


if __name__ == "__main__":
    main()
