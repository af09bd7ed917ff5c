"""The introduction and the page "The paper and this book" state facts about the committed
weight-decay phase diagram (p = 53, N = 300) in prose; these tests recompute each from the stored
sweep, so that a regenerated result that changes them fails here rather than leaving the pages
untrue.  They read results/ only; nothing is trained."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

import grokbook as gb
from grokbook.analysis.history import inversion_level

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import intro_figure  # noqa: E402

INTRO = (ROOT / "book" / "intro.md").read_text()
PAPER = (ROOT / "book" / "paper.md").read_text()
VERDICTS = ("reproduced", "differs", "not tested")


@pytest.fixture(scope="module")
def sweep():
    return gb.get_sweep("weight_decay_phase_diagram", "book", progress=False)


def _run_history(sweep, run):
    h = sweep.history
    return h[h.run == run].sort_values("step")


def test_intro_figure_run(sweep):
    """The intro's caption and text: the outlined run is in Full Inversion, as are the other seeds
    of its cell; it first fits nearly every changed label (at least 90%) while the test accuracy
    is low, then generalizes (test >= 0.9) and answers at least 99% of the changed labels with
    their true sums, ending at the Full Inversion level 1 - xi + xi/p."""
    hero = intro_figure.HERO
    run = sweep.cell(hero["alpha"], hero["xi"], wd=hero["wd"], seed=hero["seed"])
    cell = sweep.select(wd=hero["wd"])
    cell = cell[np.isclose(cell.alpha, hero["alpha"]) & np.isclose(cell.xi, hero["xi"])]
    assert len(cell) == 3 and (cell.phase == "Full Inversion").all()
    h = _run_history(sweep, run.run)
    peak = h.corrupt_acc.idxmax()
    assert h.corrupt_acc.max() >= 0.9
    assert h.loc[peak, "test_acc"] < 0.5, "the changed labels were fitted before the rule"
    grokked = h[h.test_acc >= 0.9].step.min()
    assert h.loc[peak, "step"] < grokked
    assert h.corrupt_true_acc.iloc[-1] >= 0.99 and h.corrupt_acc.iloc[-1] <= 0.01
    level = inversion_level(hero["xi"], sweep.config().p)
    assert abs(h.train_acc.iloc[-1] - level) < 0.01
    for key, value in (("α", hero["alpha"]), ("ξ", hero["xi"])):
        assert f"{key} = {value:g}" in INTRO
    assert f"weight decay {hero['wd']:g}" in INTRO and f"seed {hero['seed']}" in INTRO


def test_intro_figure_is_drawn(tmp_path):
    out = intro_figure.main(["--out", str(tmp_path / "hero.png")])
    assert out.stat().st_size > 20_000


def test_paper_page_weight_decay_rows(sweep):
    """Row (iii), weight decay: at wd 15 the cells whose majority is Full Inversion lie at
    xi 0.2 to 0.4 and alpha >= 0.5, and without weight decay no run inverts; row (iv): in the
    fully inverted runs at wd 15 between 20% and 46% of the neurons have an IPR below 0.3."""
    runs = sweep.runs
    majority = (runs[runs.wd == 15].groupby(["alpha", "xi"]).phase
                .agg(lambda s: s.value_counts().idxmax()))
    full = majority[majority == "Full Inversion"].reset_index()
    assert len(full) and full.xi.min() == pytest.approx(0.2) and full.xi.max() == pytest.approx(0.4)
    assert full.alpha.min() == pytest.approx(0.5)
    assert "Full Inversion covers a corner ($\\xi$ 0.2 to 0.4, $\\alpha \\ge 0.5$)" in PAPER
    assert not runs[runs.wd == 0].phase.isin(["Partial Inversion", "Full Inversion"]).any()
    assert "without weight decay no run inverts" in PAPER
    low = (sweep.ipr.astype(float) < 0.3).mean(1)
    share = low[((runs.wd == 15) & (runs.phase == "Full Inversion")).to_numpy()]
    lo, hi = round(100 * share.min()), round(100 * share.max())
    assert f"{lo}% to {hi}% of the neurons keep an IPR below 0.3" in PAPER


def test_paper_page_weight_decay_row_at_the_papers_size():
    """Row (iii) at p = 97, N = 500 (the full profile's diagram, one seed per cell): the cells in
    Full Inversion at wd 15, and without weight decay the cells that invert, as the page states
    them."""
    paper = gb.get_sweep("weight_decay_phase_diagram", "full", progress=False)
    assert (paper.config().p, paper.config().width, paper.config().steps) == (97, 500, 2000)
    cells = gb.cell_phases(paper.runs, "wd")
    full = cells[(cells.wd == 15) & (cells.phase == "Full Inversion")]
    assert (f"Full Inversion covers {len(full)} of the {len(cells[cells.wd == 15])} cells "
            f"($\\xi$ {full.xi.min():g} to {full.xi.max():g}, $\\alpha \\ge {full.alpha.min():g}$)") in PAPER
    band = cells[(cells.wd == 0) & cells.phase.isin(["Partial Inversion", "Full Inversion"])]
    partial = band[band.phase == "Partial Inversion"]
    assert (f"without weight decay {len(band)} cells invert, {len(partial)} of them in Partial "
            f"Inversion ($\\alpha \\ge {partial.alpha.min():g}$, $\\xi$ {partial.xi.min():g} to "
            f"{partial.xi.max():g})") in PAPER


def test_paper_page_table():
    """Every row has a verdict of the three the page defines; every figure it links is a figure
    of a chapter (the build's nitpicky mode would also fail on a dangling one)."""
    rows = [r for r in PAPER.splitlines() if r.startswith("| ") and not r.startswith("| The paper")]
    assert len(rows) >= 12
    figures = set()
    for path in ROOT.glob("book/[0-9][0-9]_*.ipynb"):
        figures |= set(re.findall(r'"name": "(fig-[\w-]+)"', path.read_text()))
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 5, row
        assert cells[3].startswith(VERDICTS), f"no verdict in: {row}"
        for name in re.findall(r"\{numref\}`(fig-[\w-]+)`", cells[4]):
            assert name in figures, f"{name}: no chapter draws this figure"
        if not cells[3].startswith("not tested"):
            assert "{numref}" in cells[4], f"a tested claim needs its figure: {row}"


def test_intro_reading_times_are_the_chapters():
    """The intro's table of reading and exercise times is the one grokbook.teaching.pages computes from
    the chapters (prose and shown code at the reading speeds in grokbook/pages.py; the exercises'
    own stated minutes)."""
    from grokbook.teaching import pages

    chapters = sorted(ROOT.glob("book/[0-9][0-9]_*.ipynb"))
    m = re.search(r"<!-- reading-times: begin[^>]*-->\n(.*?)<!-- reading-times: end -->", INTRO, re.S)
    assert m, "book/intro.md lost its reading-times markers"
    assert m.group(1).strip() == pages.reading_times(chapters), (
        "the intro's reading times are out of date: paste the output of "
        "`python -m grokbook.teaching.pages --reading-times` between its markers")


def test_reading_minutes_rounds_to_five():
    from grokbook.teaching.pages import PageCounts, reading_minutes

    def page(words, code):
        return PageCounts("x", code, 0, 0.0, 0, 0, 0, 0, words)

    assert reading_minutes(page(0, 0)) == 5
    assert reading_minutes(page(1500, 0)) == 10  # 10 minutes of prose
    assert reading_minutes(page(1500, 100)) == 20  # and 10 of code
    assert reading_minutes(page(1500 + 375, 0)) == 10  # 12.5 rounds to 10 (half to even)
