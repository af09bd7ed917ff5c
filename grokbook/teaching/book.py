"""The book's chapters, as _toc.yml lists them, and its repository, as _config.yml names it.

The repository URL and branch live in _config.yml only; the Colab badges of the chapters
(scripts/sync_chapters.py) and of the student notebooks (coursework) are made from them here.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOLUTION_TAG = "hide-cell"  # a solution cell of a chapter's Exercises (collapsed in the book)
BADGE = ("[![Open In Colab]({image})]"
         "(https://colab.research.google.com/github/{slug}/blob/{branch}/{path})")
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"  # Colab's own picture
BOOK_BADGE = "../_static/colab-badge.svg"  # the chapters' copy: the book's pages load nothing from outside


def repository() -> tuple[str, str]:
    """The repository's URL and branch (_config.yml)."""
    text = (ROOT / "_config.yml").read_text()
    url = re.search(r"^repository:\s*\n\s+url:\s*(\S+)", text, re.M).group(1)
    branch = re.search(r"^repository:\s*\n(?:\s+.*\n)*?\s+branch:\s*(\S+)", text, re.M).group(1)
    return url, branch


def chapters() -> list[Path]:
    """The chapter notebooks of the _toc.yml, in its order."""
    toc = (ROOT / "_toc.yml").read_text()
    files = re.findall(r"file:\s*(\S+)", toc)
    return [ROOT / f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").exists()]


def colab_badge(path: str, image: str = COLAB_BADGE) -> str:
    """The markdown of a Colab badge that opens ``path`` (relative to the repository's root) on
    the repository's branch; ``image``: its picture (Colab's, or the book's ``BOOK_BADGE``)."""
    url, branch = repository()
    return BADGE.format(slug=url.removeprefix("https://github.com/"), branch=branch, path=path,
                        image=image)


def cell_source(cell) -> str:
    """A notebook cell's source as one string (nbformat stores a string or a list of lines)."""
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s
