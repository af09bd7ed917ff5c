"""Run every Colab notebook (colab/) as Colab would, in another Python: not part of CI.

    python scripts/colab_like_run.py --python /tmp/colab313/bin/python [--out _build/colab-like]

``--python`` is a virtual environment made like Colab's runtime (its Python and the versions of
its preinstalled packages: torch, numpy, pandas, matplotlib, seaborn, ipywidgets, ipykernel; see
the note of the issue that asked for this run for the versions and the date of their source).
Each notebook runs in a fresh kernel of that Python, in a folder of its own that holds a clone
of this repository's HEAD as ``grokbook-repo`` (what the setup cell's ``git clone`` makes in
Colab: the address in _config.yml is a placeholder until the book is published), with
``google.colab`` importable, so the setup cell does in that folder what it does in Colab: it
installs requirements.txt with pip and puts the clone on the path.  Without a GPU the chapters
pick the profile Colab picks (GROKBOOK_PROFILE unset: the full one, on the CPU).  Prints the
seconds of each notebook and the first error, and writes the executed copies into ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STARTUP = "import sys, types\nsys.modules.setdefault('google.colab', types.ModuleType('google.colab'))\n"


def run(notebook: Path, python: str, out: Path, timeout: int) -> tuple[float, str | None]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run(["git", "clone", "-q", str(ROOT), str(tmp / "grokbook-repo")], check=True)
        ipython = tmp / "ipython" / "profile_default" / "startup"
        ipython.mkdir(parents=True)
        (ipython / "00-colab.py").write_text(STARTUP)  # the kernel believes it is in Colab
        (tmp / notebook.name).write_text(notebook.read_text())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GROKBOOK_", "PYTHON", "VIRTUAL_ENV"))}
        env.update(IPYTHONDIR=str(tmp / "ipython"), MPLBACKEND="module://matplotlib_inline.backend_inline")
        code = (f"import nbformat, sys\nfrom nbclient import NotebookClient\n"
                f"nb = nbformat.read({str(tmp / notebook.name)!r}, as_version=4)\n"
                f"try:\n    NotebookClient(nb, timeout={timeout}, kernel_name='python3', "
                f"resources={{'metadata': {{'path': {str(tmp)!r}}}}}).execute()\n"
                f"finally:\n    nbformat.write(nb, {str(out / notebook.name)!r})\n")
        start = time.perf_counter()
        done = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        error = None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["?"])[-1]
        return seconds, error


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", required=True, help="the Colab-like environment's python")
    ap.add_argument("--out", default=str(ROOT / "_build" / "colab-like"))
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    ap.add_argument("notebooks", nargs="*", help="default: every notebook in colab/")
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    notebooks = [Path(n).resolve() for n in args.notebooks] or sorted((ROOT / "colab").glob("*.ipynb"))
    versions = subprocess.run([args.python, "-c", "import sys, torch, numpy, pandas, matplotlib, seaborn, "
                               "ipywidgets, ipykernel; print(sys.version.split()[0], *(m.__name__ + ' ' + "
                               "m.__version__ for m in (torch, numpy, pandas, matplotlib, seaborn, ipywidgets, "
                               "ipykernel)), sep='; ')"], capture_output=True, text=True).stdout.strip()
    print(f"environment: Python {versions}", flush=True)
    results = {}
    for nb in notebooks:
        seconds, error = run(nb, args.python, out, args.timeout)
        results[nb.name] = dict(seconds=round(seconds, 1), error=error)
        print(f"{nb.name:36s} {seconds:7.1f} s  {'ok' if error is None else 'FAILED: ' + error}", flush=True)
    (out / "times.json").write_text(json.dumps(dict(environment=versions, notebooks=results), indent=1))
    print(f"total {sum(r['seconds'] for r in results.values()):.0f} s")
    return 1 if any(r["error"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
