"""The explorers of grokbook.teaching.widgets, driven through their controls."""

import numpy as np
import pytest
import torch

import grokbook as gb
from grokbook.teaching import widgets

pytest.importorskip("ipywidgets")


def test_phase_explorer_follows_its_controls(wd_sweep):
    ex = widgets.phase_explorer(wd_sweep)
    for panel, alpha, xi in [("wd = 0", 0.4, 0.0), ("wd = 2", 0.8, 0.4)]:
        ex.panel.value, ex.alpha.value, ex.xi.value = panel, alpha, xi
        row = wd_sweep.cell(alpha, xi, panel=panel)
        assert f"test {row.test_acc:.1%}" in ex.summary.value and row.phase in ex.summary.value
        assert panel in ex.summary.value
    assert ex.update().run == wd_sweep.cell(0.8, 0.4, wd=2).run


def test_pruning_explorer_reports_the_curves(tmp_path):
    torch.manual_seed(0)
    result = gb.train(gb.grid(alpha=[0.6], xi=[0.2]), gb.Config(p=11, width=20, steps=40),
                      progress=False)
    ex = widgets.pruning_explorer(result, fractions=np.linspace(0, 1, 6))
    for order, f in [("low", 0.4), ("high", 0.8), ("random", 0.2)]:
        ex.order.value, ex.fraction.value = order, f
        row = ex.update()
        want = gb.prune_curve(result.model, result.data, 0, order=order,
                              fractions=np.linspace(0, 1, 6))
        want = want[np.isclose(want.fraction, f)].iloc[0]
        assert row.test_acc == want.test_acc and row.n_pruned == round(f * 20)
        assert f"test {want.test_acc:.1%}" in ex.summary.value
    with pytest.raises(ValueError, match="run must lie in"):
        widgets.pruning_explorer(result, run=1)
