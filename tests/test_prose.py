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
