"""The book as a test subject: clean notebooks, one skeleton, a build without warnings, and
pages that render in a real browser.  (The chapters themselves run once per profile, in
scripts/execute_chapters.py; the tests marked built_book read what ``make book`` built.)"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import sync_chapters  # noqa: E402

CHAPTERS = sync_chapters.chapters()
SKELETON = ["## What you will learn", "## Setup", "## The idea", "## The experiment",
            "## What we learned", "## Exercises"]


def cells(path):
    return json.loads(path.read_text())["cells"]


def source(cell):
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def test_every_toc_chapter_exists():
    listed = re.findall(r"file:\s*(\S+)", (ROOT / "_toc.yml").read_text())
    missing = [f for f in listed if not any((ROOT / f"{f}{ext}").exists() for ext in (".ipynb", ".md"))]
    assert not missing, f"_toc.yml lists pages that do not exist: {missing}"
    assert CHAPTERS, "no chapters found"


@pytest.mark.parametrize("path", sorted(ROOT.glob("book/**/*.ipynb")), ids=lambda p: p.name)
def test_notebook_stored_without_outputs(path):
    dirty = [i for i, c in enumerate(cells(path))
             if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"


def test_standard_first_cells_match_config():
    bad = [p.name for p in CHAPTERS if not sync_chapters.sync(p, check=True)]
    assert not bad, f"badge/setup cells out of date in {bad}: run python scripts/sync_chapters.py"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_skeleton_and_claims(path):
    text = [source(c) for c in cells(path)]
    markdown = "\n".join(t for t, c in zip(text, cells(path)) if c["cell_type"] == "markdown")
    positions = [markdown.find(h + "\n") for h in SKELETON]
    assert all(p >= 0 for p in positions), f"{path.name}: missing sections {[h for h, p in zip(SKELETON, positions) if p < 0]}"
    assert positions == sorted(positions), f"{path.name}: sections out of order"
    code = "\n".join(t for t, c in zip(text, cells(path)) if c["cell_type"] == "code")
    assert "gb.claims.table()" in code, f"{path.name}: checks no claim (gb.claims.check ... gb.claims.table())"
    assert "gb.setup(" in code, f"{path.name}: no profile cell (gb.setup())"
    assert "gb.checks." in code, f"{path.name}: exercises have no grokbook.teaching.checks call"


BUILT = ROOT / "_build"


@pytest.fixture(scope="session")
def built_book():
    """The book as ``make book`` built it (``make test`` builds it in the book profile, then runs
    these tests): the build's log and its html folder."""
    log, html = BUILT / "book-build.log", BUILT / "html"
    if not (log.exists() and html.exists()):
        if os.environ.get("CI"):
            pytest.fail("no built book: make test runs `make book` before the built_book tests")
        pytest.skip("no built book (make book)")
    return log.read_text(), html


@pytest.mark.built_book
def test_book_builds_without_warnings(built_book):
    log, html = built_book
    assert "build succeeded" in log, f"jupyter-book build failed:\n{log[-4000:]}"
    executed = [line for line in log.splitlines() if "Executing notebook" in line]
    assert not executed, "the build executed chapters again (each runs once, in scripts/execute_chapters.py):\n" + "\n".join(executed)
    # Sphinx's warnings ("file:line: WARNING: ..."); the kernel's own log lines are not about the book
    warnings = [line for line in log.splitlines() if "WARNING:" in line]
    assert not warnings, "build warnings:\n" + "\n".join(warnings)
    for name in re.findall(r"(?:root|file):\s*(\S+)", (ROOT / "_toc.yml").read_text()):
        assert (html / f"{name}.html").exists(), f"no page for {name}"
    for page in sorted((html / "book").glob("[0-9][0-9]_*.html")):  # the chapters: numbers pasted, quotes styled
        text = page.read_text()
        assert "{glue" not in text, f"{page.name}: a glue role was not replaced by its number"
        assert "_static/grokbook.css" in text, f"{page.name}: the book's stylesheet is missing"


def needs_chromium():
    """Skip without Playwright or Chromium; in CI, fail: it must have both."""
    pytest.importorskip("playwright", reason="pip install playwright (drives the system Chromium)")
    if not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")):
        if os.environ.get("CI"):
            pytest.fail("CI must install Chromium (apt-get install chromium)")
        pytest.skip("no Chromium on this machine")


@pytest.mark.built_book
def test_pages_render_in_chromium(built_book):
    log, html = built_book
    needs_chromium()
    import check_book_html
    problems = check_book_html.check(html, html.parent / "screenshots")
    assert not problems, "\n".join(problems)


@pytest.mark.built_book
def test_every_chapter_figure_is_numbered_and_captioned(built_book):
    """Each image a chapter draws, and each explorer, sits in a numbered figure with its caption
    (myst-nb's figure metadata), so the text can say "Fig. 4.2" and the reader knows what the
    figure shows."""
    log, html = built_book
    problems = []
    for page in sorted((html / "book").glob("[0-9][0-9]_*.html")):
        main = page.read_text().split('<main', 1)[-1]
        drawn = r'<img\b[^>]*src="([^"]+)"|<div class="gb-explorer" id="([^"]+)"'
        for m in re.finditer(drawn, main):
            if m.group(1) is not None and ("_images/" not in m.group(1)  # not the theme's icons
                                           or "colab-badge" in m.group(1)):  # nor the badge
                continue
            before, after = main[:m.start()], main[m.end():]
            inside = before.rfind("<figure") > before.rfind("</figure>")
            caption = re.match(r'(?s).*?</figure>', after)
            if not (inside and caption and 'class="caption-number"' in caption.group()):
                problems.append(f"{page.name}: {m.group(1) or m.group(2)} is not in a numbered, "
                                "captioned figure")
    assert not problems, "\n".join(problems)


@pytest.mark.built_book
def test_explorers_driven_in_chromium_offline(built_book):
    """Each of the four explorers, on its page with every request outside the book refused: it
    renders with no console error, shows for a chosen cell, step or fraction the stored value,
    keeps its static picture without JavaScript, and its page stays under a few MB
    (scripts/check_explorers.py)."""
    log, html = built_book
    needs_chromium()
    import check_explorers
    problems = check_explorers.check(html)
    assert not problems, "\n".join(problems)
