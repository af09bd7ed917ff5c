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
           r"`[^`]*`", r"https?://\S+", r"\]\([^)]*\)",  # code, links
           r"\*(?:Easy|Medium|Hard) · about \d+ minutes\.\*"]  # an exercise's time: an estimate, not a result


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
    assert hand_typed("the training took about 5 minutes"), "only an exercise's own estimate is exempt"
    for ok in ("at $\\alpha = 0.7$, $\\xi = 0.25$", "wd 0, 5.5, 15 and 20", "lr 0.01", "dropout 0.9",
               "test accuracy ≥ 90%", "train below $100(1.05 - \\xi)\\%$", "at least 0.99",
               "AUC {glue:text}`auc_coex:.2f`", '<span class="paper">65.4%</span> in the paper',
               "`gb.grid(alpha=0.8)`", "step 400 of 1500", "$\\sigma^2 = 0.1$",
               "**2. Correct by chance.** *Easy · about 5 minutes.*"):
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
# (grokbook.teaching.pages defines visible cells, check lines, claims and figures.)
from grokbook.teaching import pages  # noqa: E402

CHECK_SHARE = 0.15  # at most this share of a chapter's visible code lines are checks (outside the exercises)
PAGE_WIDTH = 77  # characters of code a 1280-pixel-wide window shows before it cuts a line (measured in Chromium: 77.4)
HIDDEN_INPUT = {"remove-input", "hide-input"}
NOT_IN_A_CLAIMS_CELL = re.compile(r"\bgb\.train\(|\bgb\.plots\.|\bplt\.|\bprune|\btrain_at\(|\bgb\.explorers\.|"
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


# --------------------------------------------------------------------------- the exercises, as a course gives them
# Each exercise: a markdown cell whose first line is "**N. Title.** *Easy|Medium|Hard · about M minutes.*",
# the statement, then one closed ":::{dropdown} Hint" block; then the stub (raises NotImplementedError, calls
# gb.checks.<name>) and the solution cell tagged hide-cell (collapsed in the book, removed from the student
# notebook).  An open exercise ("(Open.)" in its title) has no check and no solution.  grokbook.teaching.coursework's
# exercise_list parses this and names the cell that breaks it; the instructors' page lists what it finds.
import sys  # noqa: E402

from grokbook.teaching.coursework import CHECK_CALL, HEAD, HINT_OPEN, SOLUTION_TAG, exercise_list  # noqa: E402

sys.path.insert(0, str(BOOK.parent / "scripts"))
import sync_chapters  # noqa: E402

TOC_CHAPTERS = sync_chapters.chapters()


def exercises_of(path):
    try:
        return exercise_list(path)
    except ValueError as err:
        pytest.fail(f"{err}\n(the format: grokbook.teaching.coursework.exercise_list's docstring)")


@pytest.mark.parametrize("path", TOC_CHAPTERS, ids=[p.stem for p in TOC_CHAPTERS])
def test_every_exercise_gives_difficulty_time_and_one_hint(path):
    cs = pages.cells(path)
    exs = exercises_of(path)
    assert [e.number for e in exs] == list(range(1, len(exs) + 1)), "exercise numbers run 1, 2, ... without gaps"
    for e in exs:
        text = cs[e.cell]["source"]
        text = text[text.index(f"**{e.number}. "):]  # exercise 1 may share the Exercises heading's cell
        first = text.splitlines()[0]
        assert HEAD.match(first), f"cell {e.cell}: first line {first!r}"
        assert text.count(HINT_OPEN) == 1 and text.count("{dropdown}") == 1, f"cell {e.cell}: one hint dropdown"
        assert text.index(HINT_OPEN) > len(first), f"cell {e.cell}: the hint comes after the statement"
        assert e.difficulty in ("Easy", "Medium", "Hard") and e.minutes > 0


@pytest.mark.parametrize("path", TOC_CHAPTERS, ids=[p.stem for p in TOC_CHAPTERS])
def test_every_solution_is_collapsed_after_a_stub_that_calls_its_check(path):
    cs = pages.cells(path)
    exs = exercises_of(path)
    solutions = set()
    for e in exs:
        if not e.has_solution:
            assert e.open and not e.checks, f"exercise {e.number}: no solution, so it is open and has no check"
            continue
        stub, solution = cs[e.stub], cs[e.solution]
        assert e.cell < e.stub < e.solution, f"exercise {e.number}: the hint (cell {e.cell}), then the stub, then the solution"
        assert SOLUTION_TAG in solution["tags"], f"cell {e.solution}: a solution is collapsed (tag {SOLUTION_TAG})"
        assert SOLUTION_TAG not in stub["tags"] and "NotImplementedError" in stub["source"]
        assert CHECK_CALL.search(stub["source"]) and set(CHECK_CALL.findall(solution["source"])) & set(e.checks)
        solutions.add(e.solution)
    start = pages.exercises_start(cs)
    tagged = {c["index"] for c in cs[start:] if c["kind"] == "code" and SOLUTION_TAG in c["tags"]}
    assert tagged == solutions, f"cells {sorted(tagged - solutions)} are tagged {SOLUTION_TAG} but solve no exercise"


@pytest.mark.parametrize("path", TOC_CHAPTERS, ids=[p.stem for p in TOC_CHAPTERS])
def test_the_exercises_introduction_says_what_each_exercise_gives(path):
    cs = pages.cells(path)
    intro = cs[pages.exercises_start(cs)]["source"].split("## Exercises", 1)[1]
    intro = re.split(r"^\*\*1\. ", intro, flags=re.M)[0]  # in case exercise 1 shares the cell
    said = " ".join(intro.split()).lower()
    for word in ("difficulty", "hint", "collapsed"):
        assert word in said, f"the Exercises introduction does not mention the {word}: {intro.strip()[:300]!r}"
    if any(e.open for e in exercise_list(path)):
        assert "open" in said, "the chapter has open exercises; the introduction says they have no solution"


# A small chapter to break on purpose: the parser must name the cell and say what is wrong.
GOOD_1 = ("**1. The ceiling.** *Easy · about 10 minutes.*\n\nReturn the training accuracy of a network that "
          "predicts every true label.\n\n:::{dropdown} Hint\nCount the pairs it gets wrong: the changed ones only.\n:::")
GOOD_2 = ("**2. (Open.) A question.** *Hard · about 45 minutes.*\n\nWhy does it work?\n\n:::{dropdown} Hint\n"
          "Think of the two populations of neurons and what each one stores.\n:::")
STUB = "def f(xi, p):\n    raise NotImplementedError\n\n\ngb.checks.inversion_train_accuracy(f)"
SOLUTION = "def f(xi, p):\n    return 1 - xi * (1 - 1 / p)\n\n\nassert gb.checks.inversion_train_accuracy(f)"


def toy(ex1=GOOD_1, ex2=GOOD_2, solution_tags=("hide-cell",), extra=()):
    def cell(kind, text, tags=()):
        return {"cell_type": kind, "id": f"t{abs(hash((kind, text))) % 10**8}", "metadata": {"tags": list(tags)},
                "source": text}
    return {"cells": [cell("markdown", "# A chapter"), cell("markdown", "## Exercises\n\nEach exercise gives ..."),
                      cell("markdown", ex1), cell("code", STUB), cell("code", SOLUTION, solution_tags),
                      cell("markdown", ex2), *[cell(*x) for x in extra]]}


def test_the_parser_reads_a_good_chapter():
    one, two = exercise_list(toy(), "00_toy")
    assert (one.number, one.title, one.difficulty, one.minutes, one.checks, one.has_solution) == (
        1, "The ceiling.", "Easy", 10, ("inversion_train_accuracy",), True)
    assert (one.cell, one.stub, one.solution) == (2, 3, 4) and one.hint.startswith("Count the pairs")
    assert two.open and not two.has_solution and two.checks == () and two.minutes == 45
    merged = toy()
    merged["cells"][1]["source"] += "\n\n" + GOOD_1  # exercise 1 in the heading's cell
    del merged["cells"][2]
    assert [e.number for e in exercise_list(merged)] == [1, 2]


BROKEN = {
    "no difficulty or time": (dict(ex1=GOOD_1.replace(" *Easy · about 10 minutes.*", "")), "starts with the line"),
    "a difficulty of another name": (dict(ex1=GOOD_1.replace("Easy", "Tricky")), "starts with the line"),
    "a time that is no number": (dict(ex1=GOOD_1.replace("10 minutes", "ten minutes")), "starts with the line"),
    "no hint": (dict(ex1=GOOD_1.split("\n\n:::")[0]), "exactly one hint"),
    "two hints": (dict(ex1=GOOD_1 + "\n\n:::{dropdown} Hint\nAnother one, with enough words.\n:::"), "exactly one hint"),
    "a hint of another name": (dict(ex1=GOOD_1.replace("{dropdown} Hint", "{dropdown} A hint")), "exactly one hint"),
    "a hint never closed": (dict(ex1=GOOD_1.removesuffix("\n:::")), "never closed"),
    "a hint that opens itself": (dict(ex1=GOOD_1.replace("Hint\n", "Hint\n:open:\n")), "opens by itself"),
    "an empty hint": (dict(ex1=GOOD_1.replace("Count the pairs it gets wrong: the changed ones only.", "Think.")),
                      "the hint is empty"),
    "the hint before the statement": (dict(ex1="**1. The ceiling.** *Easy · about 10 minutes.*\n\n:::{dropdown} Hint\n"
                                           "Count the pairs it gets wrong, the changed ones.\n:::\n\nReturn it."),
                                      "text after the hint"),
    "a hint left in the statement": (dict(ex1=GOOD_1.replace("true label.", "true label (hint: count).")),
                                     "move it into the hint"),
    "a solution the book shows": (dict(solution_tags=()), "one stub cell"),
    "a stub without a check": (dict(extra=[("code", "x = 1")], ex2=GOOD_2.replace("(Open.) ", "")), "one stub cell"),
    "a gap in the numbers": (dict(ex2=GOOD_2.replace("**2.", "**3.")), "numbers run 1, 2"),
    "a solution to an open exercise": (dict(extra=[("code", STUB), ("code", SOLUTION, ("hide-cell",))]),
                                       "an open exercise has none"),
    "two exercises in one cell": (dict(ex1=GOOD_1 + "\n\n" + GOOD_2), "two exercises in one cell"),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_the_parser_names_the_cell_that_breaks_the_format(case):
    change, message = BROKEN[case]
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        exercise_list(toy(**change), "00_toy")
    assert re.search(r"00_toy: cell \d+ \(id t\d+\)", str(err.value)), str(err.value)

