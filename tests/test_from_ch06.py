"""Checks that chapter 6 (regularization and phase diagrams) used to make in its narrative, on the
code rather than on a claim of the paper: the stored weight-decay sweep is the sweep the profile
defines, and the phase explorer shows the run the sweep holds at the cell it is set to."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from grokbook.store import sweeps
from grokbook.core.profiles import profile


@pytest.mark.parametrize("name", ["quick", "book", "full"])
def test_weight_decay_sweep_defines_the_profiles_four_weight_decays(name):
    """Chapter 6 names its panels none / partial / full / forgetting from the sweep's sorted weight
    decays: they must be the profile's four, each over the whole alpha x xi grid and every seed."""
    s = sweeps.sweep("weight_decay_phase_diagram", name)
    want = profile(name)
    runs = [r for part in s.parts for r in part.runs]
    assert sorted({r.wd for r in runs}) == sorted(want.weight_decays)
    alphas, xis = want.weight_decay_axes or (want.alphas, want.xis)
    expected = set(itertools.product(alphas, xis, want.weight_decays, want.seeds))
    got = [(r.alpha, r.xi, r.wd, r.data_seed) for r in runs]
    assert all(r.model_seed == r.data_seed for r in runs)
    assert len(got) == len(set(got)) == len(expected)  # every cell once per seed
    assert set(got) == expected


@pytest.fixture(scope="module")
def quick_wd():
    return sweeps.load_sweep("weight_decay_phase_diagram", "quick")  # committed in results/


def test_stored_quick_sweep_has_the_profiles_weight_decays(quick_wd):
    assert sorted(quick_wd.runs.wd.unique()) == sorted(profile("quick").weight_decays)


def test_phase_explorer_shows_the_sweeps_run_at_every_cell(quick_wd):
    """The explorer holds, at every panel and cell, the run that a plain filter of the runs table
    finds there (seed 0), its final accuracies, the phase most of the cell's seeds reach (counted
    here), and its curves: the history of that run in whole percents."""
    pytest.importorskip("altair")
    import grokbook as gb
    cells, steps = gb.explorers.phase_cells([quick_wd])
    runs = quick_wd.runs
    assert len(cells) == runs.groupby(["wd", "alpha", "xi"]).ngroups
    for c in cells.itertuples():
        wd = float(c.panel.removeprefix("wd = "))
        here = runs[np.isclose(runs.wd, wd) & np.isclose(runs.alpha, c.alpha)
                    & np.isclose(runs.xi, c.xi)]
        hit = here[here.data_seed == 0]
        assert len(hit) == 1 and c.run == hit.run.iloc[0]
        assert c.test_acc == pytest.approx(hit.test_acc.iloc[0], abs=1e-4)
        counts = here.phase.value_counts()
        top = counts.max()
        assert counts[c.phase] == top and c.share == pytest.approx(top / len(here))
        h = quick_wd.history[quick_wd.history.run == c.run].set_index("step").sort_index()
        mine = steps[steps.panel == c.panel].sort_values("i")
        kept = mine.step.tolist()
        assert kept[0] == h.index[0] and kept[-1] == h.index[-1] and len(kept) <= 25
        assert c.te == [round(100 * h.test_acc[s]) for s in kept]
