"""The Colab notebooks (grokbook.teaching.colab): every chapter in plain Markdown that Colab
renders completely, and the student notebooks made the same way.

Each notebook's Markdown is rendered with a CommonMark renderer (markdown-it-py), and the test
fails on any MyST role or directive left in the result; every number the chapter glues into its
prose (as the book's run printed it), every citation and every figure caption of the chapter must
appear in the rendered text."""
from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import types

import pytest
from markdown_it import MarkdownIt

from grokbook.teaching import autograder, book, colab, coursework

CHAPTERS = book.chapters()
MD = MarkdownIt("commonmark")
LEFT = re.compile(r"\{[a-z]+(?::[a-z]+)*\}(?:`|<code>)|:::|\{dropdown\}")


def rendered(nb: dict) -> str:
    """The notebook's Markdown cells, rendered as CommonMark HTML."""
    return "\n".join(MD.render(book.cell_source(c)) for c in nb["cells"] if c["cell_type"] == "markdown")


def inline(md_text: str) -> str:
    return MD.renderInline(md_text)


def expected_pieces(chapter) -> list[str]:
    """What the book's page shows and the Colab notebook must show too: each glued value (as the
    book's run printed it), each citation's author-year text, each figure's caption."""
    nb = json.loads(chapter.read_text())
    glue, refs = colab.read_glue()[chapter.stem], colab.references()
    pieces = []
    for c in nb["cells"]:
        if c["cell_type"] != "markdown":
            continue
        for m in colab.ROLE.finditer(book.cell_source(c)):
            if m["role"] == "glue:text":
                name, _, spec = m["body"].partition(":")
                pieces.append(html.escape(colab.glued_text(glue[name], spec), quote=False))
            elif m["role"].startswith("cite"):
                for key in m["body"].split(","):
                    pieces.append(inline(refs[key.strip()].text(m["role"] == "cite:t")))
    for c in nb["cells"]:
        figure = c.get("metadata", {}).get("mystnb", {}).get("figure")
        if figure:
            pieces.append(inline(re.sub(r"\{[a-z:]+\}`[^`]*`", "", figure["caption"]).split("  ")[0])[:60])
    return pieces


def assert_plain_and_complete(nb: dict, chapter) -> None:
    text = rendered(nb)
    left = LEFT.search(text)
    assert not left, f"{chapter.name}: MyST left after rendering: {text[left.start() - 40:left.end() + 40]!r}"
    missing = [p for p in expected_pieces(chapter) if p not in text]
    assert not missing, f"{chapter.name}: the Colab text lacks {missing[:5]}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_colab_notebook_renders_completely(chapter):
    nb = json.loads((colab.COLAB_DIR / chapter.name).read_text())
    assert_plain_and_complete(nb, chapter)
    assert colab.book.colab_badge(f"colab/{chapter.name}") in book.cell_source(nb["cells"][0])
    solutions = [c for c in nb["cells"] if book.cell_source(c).startswith(colab.SOLUTION_TITLE)]
    assert all(c["metadata"]["cellView"] == "form" for c in solutions)
    original = json.loads(chapter.read_text())
    assert len(solutions) == len(coursework.solution_cells(original))  # every one collapsed
    code = lambda n: [book.cell_source(c).removeprefix(colab.SOLUTION_TITLE + "\n")
                      .removeprefix(colab.CHECKS_TITLE + "\n").removeprefix(colab.NUMBERS_TITLE + "\n")
                      for c in n["cells"] if c["cell_type"] == "code"]
    assert code(nb) == code(original)  # the same code, cell for cell
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")


def test_student_notebooks_render_completely(tmp_path):
    written = autograder.write_assignments(tmp_path)
    for path, chapter in zip(written, CHAPTERS):
        nb = json.loads(path.read_text())
        assert_plain_and_complete(nb, chapter)
        assert not any(book.cell_source(c).startswith(colab.SOLUTION_TITLE) for c in nb["cells"])


def test_committed_colab_notebooks_are_what_the_chapters_make():
    assert colab.stale_notebooks() == [], f"run `{colab.WRITE_COMMAND}`"


def test_glue_file_holds_every_number_the_chapters_paste():
    glue = colab.read_glue()
    for chapter in CHAPTERS:
        names = colab.glued_names(json.loads(chapter.read_text()))
        missing = names - set(glue.get(chapter.stem, {}))
        assert not missing, f"{chapter.name}: {sorted(missing)} not in results/glue-book.json: `{colab.GLUE_COMMAND}`"


# ----------------------------------------------------------------------------- the rewriting
@pytest.fixture
def ctx():
    refs = colab.references()
    return colab.Context("test", {"acc": 0.98765, "n": 12, "cells": "(α 0.9, ξ 0.35)", "lt": "a < b"},
                         {"fig-a": "Fig. 6.1", "fig-b": "Fig. 6.2"}, refs, [])


def test_roles_become_plain_markdown(ctx):
    text = ("At {glue:text}`acc:.1%` in {glue:text}`n` runs at {glue:text}`cells` ({glue:text}`lt`); "
            "see {numref}`fig-b`, {numref}`Figure %s <fig-a>`, {cite:t}`doshi2024grok` and "
            "{cite:p}`gromov2023grokking,nanda2023progress`, {cite}`feldman2020does`, {doc}`notation` "
            "and {doc}`the appendix <performance>`.")
    out = colab.plain_markdown(text, ctx)
    assert ">98.8%</abbr> in <abbr" in out and ">12</abbr> runs" in out and "(α 0.9, ξ 0.35)" in out
    assert ">a &lt; b</abbr>" in out
    assert "see Fig. 6.2, Figure 6.1," in out
    assert "Doshi *et al.* [2024]" in out
    assert "[Gromov, 2023; Nanda *et al.*, 2023]" in out and "[Feldman, 2020]" in out
    assert ctx.cited == ["doshi2024grok", "gromov2023grokking", "nanda2023progress", "feldman2020does"]
    assert "[Notation and glossary](https://github.com/grokbook/grokbook/blob/main/book/notation.md)" in out
    assert "[the appendix](https://github.com/grokbook/grokbook/blob/main/book/performance.md)" in out
    assert not colab.LEFTOVER.search(out)


def test_dropdown_becomes_details(ctx):
    text = "Try.\n\n:::{dropdown} Hint\nUse `np.sort` and {glue:text}`n`.\n:::\n\nThen more."
    out = colab.plain_markdown(text, ctx)
    assert out == ("Try.\n\n<details>\n<summary>Hint</summary>\n\nUse `np.sort` and "
                   f'<abbr title="{colab.BOOK_VALUE}">12</abbr>.\n\n</details>\n\nThen more.')
    html_ = MD.render(out)
    assert "<details>" in html_ and "<code>np.sort</code>" in html_  # the body is still Markdown


def test_what_cannot_be_rewritten_is_refused(ctx):
    with pytest.raises(KeyError, match="pastes 'missing'.*glue-from"):
        colab.plain_markdown("{glue:text}`missing`", ctx)
    with pytest.raises(KeyError, match="nobody2020"):
        colab.plain_markdown("{cite:p}`nobody2020`", ctx)
    with pytest.raises(KeyError, match="names no figure"):
        colab.plain_markdown("{numref}`fig-z`", ctx)
    with pytest.raises(ValueError, match="no plain-Markdown form for the role {eq}"):
        colab.plain_markdown("{eq}`one`", ctx)
    with pytest.raises(ValueError, match="MyST left"):
        colab.plain_markdown("```{note}\nhello\n```", ctx)


def test_glued_values_are_read_from_an_executed_chapter():
    executed = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "display_data", "metadata": {"scrapbook": {"name": "acc", "mime_prefix": "x/"}},
         "data": {"x/text/plain": "0.25"}},
        {"output_type": "display_data", "metadata": {"scrapbook": {"name": "where", "mime_prefix": ""}},
         "data": {"text/plain": ["'(α 0.9, ", "ξ 0.35)'"]}},
        {"output_type": "stream", "name": "stdout", "text": "0.5\n"}]}]}
    assert colab.chapter_glue(executed) == {"acc": 0.25, "where": "(α 0.9, ξ 0.35)"}


# ----------------------------------------------------------------------------- the setup cell
def test_setup_cell_fails_with_one_sentence_when_the_repository_cannot_be_fetched(tmp_path):
    """In Colab (``google.colab`` imported) with an address that cannot be cloned, the setup cell
    stops with one sentence that names the address, not a traceback."""
    setup = book.cell_source(json.loads(CHAPTERS[0].read_text())["cells"][1])
    url, _ = book.repository()
    assert url in setup
    script = tmp_path / "setup.py"
    script.write_text("import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')\n"
                      + setup.replace(url, str(tmp_path / "no-such-repository")))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().startswith("Could not fetch the book's repository")
    assert "no-such-repository" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
