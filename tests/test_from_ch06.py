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
    """The explorer, set to a panel, alpha and xi, shows the run that a plain filter of the runs
    table finds at that cell (seed 0): every cell of the Full Inversion panel (the chapter's), and
    one cell of every panel."""
    pytest.importorskip("ipywidgets")
    import matplotlib.pyplot as plt

    from grokbook.teaching import widgets
    ex = widgets.phase_explorer(quick_wd)
    runs = quick_wd.runs
    wds, alphas, xis = (sorted(runs[c].unique()) for c in ("wd", "alpha", "xi"))
    cells = [(wds[2], a, x) for a in alphas for x in xis] + [(w, alphas[-1], xis[1]) for w in wds]
    for wd, alpha, xi in cells:
        ex.panel.value, ex.alpha.value, ex.xi.value = f"wd = {wd:g}", alpha, xi
        hit = runs[(runs.wd == wd) & np.isclose(runs.alpha, alpha) & np.isclose(runs.xi, xi)
                   & (runs.data_seed == 0)]
        assert len(hit) == 1
        assert ex.update().run == hit.run.iloc[0]
        plt.close("all")  # each update draws the cell's figure
