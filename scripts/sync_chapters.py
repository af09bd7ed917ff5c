"""Write the standard first two cells into every chapter, from _config.yml.

Every chapter opens with the same two cells: a Colab badge, which opens the chapter's Colab
copy (colab/, made by grokbook.teaching.colab), and a setup cell (hidden in the book) that is safe
to re-run -- in Colab it clones the repository (the package *and* its cached
results) and puts it on the path; anywhere else it does nothing.  The
repository URL lives in _config.yml only (grokbook.teaching.book reads it); this script copies it here.

    python scripts/sync_chapters.py          # rewrite the cells
    python scripts/sync_chapters.py --check  # exit 1 if any chapter disagrees (the tests do this)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from grokbook.teaching.book import BOOK_BADGE, ROOT, chapters, colab_badge, repository  # noqa: E402

SETUP = '''# Setup (safe to re-run). In Colab: fetch the repository -- the grokbook package and its
# cached results -- and put it on the path. Locally (pip install -e .) this does nothing.
import os, subprocess, sys
if "google.colab" in sys.modules:
    if not os.path.isdir("grokbook-repo"):
        fetched = subprocess.run(["git", "clone", "--depth", "1", "--branch", "{branch}", "{url}", "grokbook-repo"],
                                 capture_output=True, text=True)
        if fetched.returncode:
            raise SystemExit("Could not fetch the book's repository, {url} (branch {branch}): "
                             "check the address in this cell, or upload the repository as the folder grokbook-repo.")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r", "grokbook-repo/requirements.txt"], check=True)
    sys.path.insert(0, os.path.abspath("grokbook-repo"))'''

def standard_cells(path: Path):
    url, branch = repository()
    # the badge opens the chapter's Colab copy (colab/, plain Markdown: grokbook.teaching.colab)
    badge = {"cell_type": "markdown", "id": "colab-badge", "metadata": {},
             "source": colab_badge(f"colab/{path.name}", image=BOOK_BADGE)}
    setup = {"cell_type": "code", "execution_count": None, "id": "setup", "metadata": {"tags": ["remove-cell"]},
             "outputs": [], "source": SETUP.format(url=url, branch=branch)}
    return [badge, setup]


def _src(cell):
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def is_standard(cell, want):
    return cell.get("cell_type") == want["cell_type"] and _src(cell) == want["source"] \
        and cell.get("id") == want["id"] \
        and cell.get("metadata", {}).get("tags") == want["metadata"].get("tags")


def sync(path: Path, check: bool) -> bool:
    nb = json.loads(path.read_text())
    want = standard_cells(path)
    cells = nb["cells"]
    ok = len(cells) >= 2 and all(is_standard(c, w) for c, w in zip(cells[:2], want)) \
        and nb.get("nbformat_minor", 0) >= 5 and all("id" in c for c in cells)
    if ok or check:
        return ok
    # drop any earlier version of the standard cells, then put the current ones first
    while cells and ("colab-badge.svg" in _src(cells[0]) or "google.colab" in _src(cells[0])):
        cells.pop(0)
    nb["cells"] = want + cells
    nb["nbformat"], nb["nbformat_minor"] = 4, max(5, nb.get("nbformat_minor", 0))  # cell ids
    used = {c["id"] for c in nb["cells"] if "id" in c}
    for i, cell in enumerate(nb["cells"]):
        if "id" not in cell:
            cell["id"] = next(f"cell-{i}-{k}" for k in range(100) if f"cell-{i}-{k}" not in used)
            used.add(cell["id"])
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return True


def main():
    check = "--check" in sys.argv
    bad = [p for p in chapters() if not sync(p, check)]
    for p in bad:
        print(f"{p.relative_to(ROOT)}: first cells differ from the standard badge + setup cells "
              "(run python scripts/sync_chapters.py)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
