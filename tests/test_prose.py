"""The chapters' prose states no hand-typed result: every measured number comes from a cell.

A number an experiment produces (an accuracy, an AUC, a fraction, a time, a ratio) is glued by the
cell that computes it (``gb.glue(name, value)``) and pasted into the markdown with
``{glue:text}`name:.3f```, so the text cannot drift from the run.  What the markdown may still
type by hand:

- a setting: a number right after the name of a parameter (``α 0.7``, ``$\\xi = 0.35$``,
  ``wd 15``, ``lr 0.01``, ``dropout 0.9``, ``batch 64`` ...), lists and ranges of them included;
- a threshold or a claim's strength: a number after a comparison (``≥ 90%``, ``$< 0.3$``, ``at
  least``, ``below``, ``within`` ...), which the chapter asserts;
- the paper's own figures, marked ``<span class="paper">...</span>`` (styled in the book, so the
  reader sees they are quoted).

Integers (step counts, chapter and figure numbers, sizes) are not checked.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]_*.ipynb"))

PARAMETER = (r"α|ξ|η|λ|γ|σ²?|\\alpha|\\xi|\\eta|\\lambda|\\gamma|\\sigma(?:\^2)?|alpha|xi|wd|lr|"
             r"learning rate|weight decays?|dropout(?: rates?)?|rates?|batch(?:es)?(?: sizes?)?|"
             r"subsets?(?: of)?|p|N|r|s|t|seeds?|steps?|temperatures?|widths?|fractions?(?: of)?")
SEPARATOR = r"(?:\s|[-=≈∈:,…/{}\[\]()$~*_%]|\\%|\\[{}]|\\dots|\\ldots|\\in|\\approx|\\times|×|to|and|or|\d|\.)*"
ALLOWED_BEFORE = re.compile(
    r"(?:(?<![A-Za-z])(?:" + PARAMETER + r")|≥|≤|<|>|\\geq|\\leq|\\ge|\\le|&lt;|&gt;|"
    r"at least|at most|below|above|under|over|within|than|up to|between)" + SEPARATOR + r"$")
RESULT = re.compile(r"(?<![\w.])(?:\d+\.\d+|\d+(?:\.\d+)?\s*(?:%|\\%|percent)|"
                    r"\d+(?:\.\d+)?\s*(?:s|ms|min|minutes|seconds|h|hours)\b)")
REMOVED = [r"\{glue(?::\w+)?\}`[^`]*`",  # pasted from a cell
           r"\{cite[:\w]*\}`[^`]*`",  # citations
           r'<span class="paper"[^>]*>.*?</span>',  # the paper's figures, marked as such
           r"`[^`]*`", r"https?://\S+", r"\]\([^)]*\)"]  # code, links


def cells(path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        src = cell["source"]
        yield i, cell["cell_type"], "".join(src) if isinstance(src, list) else src


def hand_typed(text: str) -> list[str]:
    """The result-like numbers of a markdown text that no allowed context explains."""
    for pattern in REMOVED:
        text = re.sub(pattern, " ", text, flags=re.S)
    found = []
    for m in RESULT.finditer(text):
        if not ALLOWED_BEFORE.search(text[max(0, m.start() - 40):m.start()]):
            found.append(f"{m.group()!r} in …{text[max(0, m.start() - 50):m.end() + 10]!r}")
    return found


def test_the_detector_finds_results_and_passes_settings():
    assert hand_typed("test accuracy 0.93 after training")
    assert hand_typed("the AUC is 1.00 for the coexisting subsets")
    assert hand_typed("it took 12 s on the CPU")
    assert hand_typed("73% of the neurons")
    for ok in ("at $\\alpha = 0.7$, $\\xi = 0.25$", "wd 0, 5.5, 15 and 20", "lr 0.01", "dropout 0.9",
               "test accuracy ≥ 90%", "train below $100(1.05 - \\xi)\\%$", "at least 0.99",
               "AUC {glue:text}`auc_coex:.2f`", '<span class="paper">65.4%</span> in the paper',
               "`gb.grid(alpha=0.8)`", "step 400 of 1500", "$\\sigma^2 = 0.1$"):
        assert not hand_typed(ok), ok


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_no_hand_typed_result_in_the_prose(path):
    found = [f"cell {i}: {hit}" for i, kind, text in cells(path) if kind == "markdown"
             for hit in hand_typed(text)]
    assert not found, ("numbers typed into the prose; glue them from the cell that computes them "
                       "(gb.glue), or mark the paper's figures:\n" + "\n".join(found))


GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`([A-Za-z_]\w*)(?::[^`]*)?`")
GLUE_CALL = re.compile(r"gb\.glue\(\s*[\"']([A-Za-z_]\w*)[\"']")


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_pasted_number_is_glued_in_its_chapter(path):
    """Each {glue:text}`name` of the markdown has a gb.glue("name", ...) in a code cell of the same
    chapter (the book build, with -W, then checks that the executed cell did glue it)."""
    used = {m.group(1) for _, kind, text in cells(path) if kind == "markdown"
            for m in GLUE_ROLE.finditer(text)}
    glued = [m.group(1) for _, kind, text in cells(path) if kind == "code"
             for m in GLUE_CALL.finditer(text)]
    assert not used - set(glued), f"pasted but never glued: {sorted(used - set(glued))}"
    repeated = sorted({name for name in glued if glued.count(name) > 1})
    assert not repeated, f"glued twice (the last one wins, silently): {repeated}"


# --------------------------------------------------------------------------- the page as a reader sees it
# (grokbook.pages defines visible cells, check lines, claims and figures.)
from grokbook import pages  # noqa: E402

CHECK_SHARE = 0.15  # at most this share of a chapter's visible code lines are checks (outside the exercises)
PAGE_WIDTH = 77  # characters of code a 1280-pixel-wide window shows before it cuts a line (measured in Chromium: 77.4)
HIDDEN_INPUT = {"remove-input", "hide-input"}
NOT_IN_A_CLAIMS_CELL = re.compile(r"\bgb\.train\(|\bgb\.plots\.|\bplt\.|\bprune|\btrain_at\(|\bgb\.widgets\.|"
                                  r"\bgb\.transformer\.train|\.fit\(|\bmz\.\w*(?:ensemble|train)")
PLUMBING = [r"\b(?:quick|book|full) profile", r"\bprofiles?\b", r"\.npz\b", r"\bSLURM\b", r"\bDask\b",
            r"\bhash(?:es)?\b", r"\bexecutor", r"jupyter-cache", r"describe\(\)", r"results/",
            r"as (?:a )?checks? on these numbers", r"[Tt]hese check the code", r"\bthe check(?:s)? below\b"]


def sections(path):
    """(section number, cell) for every cell outside the exercises; a new section at each ## or ### heading."""
    cs = pages.cells(path)
    section = 0
    for c in cs[:pages.exercises_start(cs)]:
        if c["kind"] == "markdown":
            section += len(re.findall(r"^#{1,3}\s", c["source"], re.M))
        yield section, c


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_checks_are_a_small_share_of_the_visible_code(path):
    c = pages.counts(path)
    assert c.check_share <= CHECK_SHARE, (
        f"{c.check_lines} of {c.visible_code_lines} visible code lines are checks (assert, print, glue, "
        f"claims): {c.check_share:.0%} > {CHECK_SHARE:.0%}; move them into the section's claims cell")


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_claims_sit_in_one_hidden_cell_per_section(path):
    per_section, problems = {}, []
    for section, c in sections(path):
        if c["kind"] != "code":
            continue
        n = pages.claims(c["source"])
        hidden_input = bool(c["tags"] & HIDDEN_INPUT)
        if n and not hidden_input:
            problems.append(f"cell {c['index']}: {n} claim(s) in a cell the page shows; move them to the "
                            "section's claims cell (tagged remove-input)")
        if hidden_input:
            bad = NOT_IN_A_CLAIMS_CELL.findall(c["source"])
            if bad:
                problems.append(f"cell {c['index']}: a hidden cell trains, prunes, scores or plots ({bad}); "
                                "only claim checks may be hidden")
        if n:
            per_section.setdefault(section, []).append(c["index"])
            if not c["source"].rstrip().endswith("gb.claims.table()"):
                problems.append(f"cell {c['index']}: a claims cell ends with gb.claims.table(), which shows "
                                "the reader what was checked")
    problems += [f"section {s}: {len(ix)} claims cells {ix}, at most one per section"
                 for s, ix in per_section.items() if len(ix) > 1]
    assert not problems, "\n".join(problems)


def figure_names():
    names = {}
    for path in CHAPTERS:
        for c in pages.cells(path):
            if pages.draws_figure(c):
                names.setdefault(pages.figure_options(c).get("name"), []).append(f"{path.stem} cell {c['index']}")
    return names


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_figure_is_numbered_captioned_and_introduced(path):
    cs = pages.cells(path)
    body = cs[:pages.exercises_start(cs)]
    problems = []
    for c in body:
        if not pages.draws_figure(c):
            continue
        opts = pages.figure_options(c)
        name, caption = opts.get("name", ""), opts.get("caption", "")
        if not (name.startswith("fig-") and len(caption.split()) >= 6):
            problems.append(f"cell {c['index']}: a figure without a name fig-... and a caption of a sentence "
                            '(cell metadata "mystnb": {"figure": {"name": ..., "caption": ...}})')
            continue
        before = "\n".join(d["source"] for d in body[:c["index"]] if d["kind"] == "markdown")
        if f"{{numref}}`{name}`" not in before and not re.search(r"\{numref\}`[^`]*<" + re.escape(name) + ">`", before):
            problems.append(f"cell {c['index']}: figure {name} is not referred to ({{numref}}`{name}`) by "
                            "the text before it, which tells the reader what to look at")
    assert not problems, "\n".join(problems)


def test_figure_names_are_unique_in_the_book():
    twice = {n: where for n, where in figure_names().items() if n and len(where) > 1}
    assert not twice, f"figure names used twice: {twice}"


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_no_plumbing_or_test_report_in_the_prose(path):
    found = []
    for c in pages.cells(path):
        if c["kind"] != "markdown" or "remove-cell" in c["tags"]:
            continue
        text = re.sub(r"`[^`]*`", " ", c["source"])  # code spans name functions, not plumbing
        found += [f"cell {c['index']}: {m.group()!r} in …{text[max(0, m.start() - 60):m.end() + 30]!r}…"
                  for pattern in PLUMBING for m in re.finditer(pattern, text)]
    for c in pages.cells(path):
        if pages.visible(c) and re.search(r"\.describe\(\)", c["source"]):
            found.append(f"cell {c['index']}: shows a provenance dump (.describe())")
    assert not found, "plumbing or test-report language on the page:\n" + "\n".join(found)


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_chapter_links_the_notation_page(path):
    markdown = "\n".join(c["source"] for c in pages.cells(path) if c["kind"] == "markdown")
    assert re.search(r"\{doc\}`[^`]*notation>?`|\{ref\}`[^`]*notation>?`|\]\((?:\./)?notation(?:\.md)?\)", markdown), \
        "no link to the notation and glossary page ({doc}`notation`)"


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_no_code_line_runs_past_the_page_edge(path):
    long = [f"cell {c['index']}: {len(line)} chars: {line[:60]}…" for c in pages.cells(path)
            if c["kind"] == "code" and not (c["tags"] & {"remove-cell", "remove-input"})
            for line in c["source"].splitlines() if len(line) > PAGE_WIDTH]
    assert not long, f"code lines longer than {PAGE_WIDTH} characters (cut at the page's edge):\n" + "\n".join(long)


def test_the_page_counts_read_a_cell_as_the_book_does():
    src = ('x = f(1)\nassert x > 0, \\\n    "positive"\nprint(x)\n'
           'gb.claims.check("a", x, ">=", 0, kind="ratio",\n                what="w")\ny = 2\n')
    assert pages.check_lines(src) == {2, 3, 4, 5, 6}
    assert pages.claims(src) == 2
    assert pages.visible(dict(kind="code", tags={"remove-input"})) is False
    assert pages.visible(dict(kind="code", tags=set())) is True
