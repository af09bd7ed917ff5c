"""Chapter 6: the phase-diagram figures and the explorers (grokbook.plots, grokbook.widgets),
on small sweeps trained here, against brute-force loops over the runs."""
import numpy as np
import pandas as pd
import pytest
import torch

import grokbook as gb
from grokbook import plots, widgets
from grokbook.sweeps import Part, Sweep, load_sweep, run_sweep

pytest.importorskip("ipywidgets")


def small_sweep(tmp_path, batchnorm=False):
    runs = tuple(gb.grid(alpha=[0.4, 0.8], xi=[0.0, 0.2, 0.4], wd=[0.0, 2.0]))
    if batchnorm:
        parts = tuple(Part(f"batch 16, {'BatchNorm' if bn else 'no BatchNorm'}",
                           gb.Config(p=11, width=24, steps=30, log_every=10, batch_size=16,
                                     batchnorm=bn), runs[::2]) for bn in (True, False))
    else:
        parts = (Part("wd sweep", gb.Config(p=11, width=24, steps=30, log_every=10), runs),)
    s = Sweep("small", "quick", parts, history_every=10)
    run_sweep(s, directory=tmp_path, progress=False)
    return load_sweep(s, directory=tmp_path)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return small_sweep(tmp_path_factory.mktemp("wd"))


@pytest.fixture(scope="module")
def bn_data(tmp_path_factory):
    return small_sweep(tmp_path_factory.mktemp("bn"), batchnorm=True)


def test_phase_grid_matches_a_loop(data):
    runs = data.runs[data.runs.wd == 2.0]
    alphas, xis, table = gb.phase_grid(runs)
    assert list(alphas) == [0.4, 0.8] and list(xis) == [0.0, 0.2, 0.4]
    for _, row in runs.iterrows():
        assert table[list(alphas).index(row.alpha), list(xis).index(row.xi)] == row.phase
    with pytest.raises(ValueError, match="one run per"):
        gb.phase_grid(data.runs)  # two wd values per cell


def test_phase_counts_add_up(data):
    counts = gb.phase_counts(data.runs, "wd")
    assert list(counts.columns) == list(gb.PHASES)
    for wd, row in counts.iterrows():
        assert row.sum() == (data.runs.wd == wd).sum() == 6
        for ph in gb.PHASES:
            assert row[ph] == ((data.runs.wd == wd) & (data.runs.phase == ph)).sum()


def test_phase_diagrams_draw_one_panel_per_value(data):
    axes = plots.phase_diagrams(data.runs, "wd")
    assert [ax.get_title() for ax in axes] == ["wd = 0", "wd = 2"]
    img = axes[1].images[0].get_array()
    assert img.shape == (2, 3)  # alpha rows x xi columns
    _, _, table = gb.phase_grid(data.runs[data.runs.wd == 2.0])
    assert (np.asarray(img) == np.vectorize(gb.PHASES.index)(table)).all()


def test_gamma_is_stored_for_batchnorm_parts_only(bn_data):
    q = {k.label: runs for k, runs in bn_data.panels().items()}
    assert list(q) == ["batch 16, BatchNorm", "batch 16, no BatchNorm"]
    bn = q["batch 16, BatchNorm"].run.to_numpy()
    plain = q["batch 16, no BatchNorm"].run.to_numpy()
    assert np.isfinite(bn_data.gamma[bn]).all() and (bn_data.gamma[bn] > 0).any()
    assert np.isnan(bn_data.gamma[plain]).all()


def test_phase_explorer_follows_its_controls(data):
    ex = widgets.phase_explorer(data)
    for panel, alpha, xi in [("wd = 0", 0.4, 0.0), ("wd = 2", 0.8, 0.4)]:
        ex.panel.value, ex.alpha.value, ex.xi.value = panel, alpha, xi
        row = data.cell(alpha, xi, panel=panel)
        assert f"test {row.test_acc:.1%}" in ex.summary.value and row.phase in ex.summary.value
        assert panel in ex.summary.value
    assert ex.update().run == data.cell(0.8, 0.4, wd=2).run


def test_sweep_cell_marks_the_selected_cell(data):
    axes = plots.sweep_cell(data, "wd = 0", 0.8, 0.2)
    (patch,) = axes[0].patches
    assert patch.get_xy() == (1 - 0.5, 1 - 0.5)  # xi index 1, alpha index 1
    assert "α = 0.8, ξ = 0.2" in axes[1].get_title()


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


def test_pruning_view_shades_the_pruned_neurons():
    rng = np.random.default_rng(0)
    ipr = rng.uniform(0, 1, 50)
    curves = pd.DataFrame({"order": "low", "fraction": [0.0, 0.5, 1.0], **{
        m: [1.0, 0.5, 0.0] for m in ("test_acc", "corrupt_acc", "corrupt_true_acc", "clean_acc")}})
    axes = plots.pruning_view(ipr, curves, "low", 0.3)
    labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert labels == ["kept: 35", "pruned: 15"]


# ----------------------------------------------------------------------------- chapter 6 checks
def stub(*args):
    raise NotImplementedError


def test_phase_grid_check():
    assert gb.checks.phase_grid(lambda runs: gb.phase_grid(
        runs.assign(phase=gb.phases(runs.train_acc, runs.test_acc, runs.xi)))) is True
    assert gb.checks.phase_grid(stub) is False

    def no_boundary(runs):  # train = 1.05 - xi counted as Full Inversion
        runs = runs.assign(phase=gb.phases(runs.train_acc, runs.test_acc, runs.xi))
        a, x, t = gb.phase_grid(runs)
        for r in runs.itertuples():
            if r.test_acc >= 0.9 and abs(r.train_acc - (1.05 - r.xi)) < 1e-12:
                t[list(a).index(r.alpha), list(x).index(r.xi)] = "Full Inversion"
        return a, x, t
    with pytest.raises(AssertionError, match="phase_grid"):
        gb.checks.phase_grid(no_boundary)

    def unsorted(runs):  # axes in order of appearance
        runs = runs.assign(phase=gb.phases(runs.train_acc, runs.test_acc, runs.xi))
        a, x = runs.alpha.unique(), runs.xi.unique()
        return a, x, runs.pivot(index="alpha", columns="xi", values="phase").loc[a, x].to_numpy()
    with pytest.raises(AssertionError, match="phase_grid"):
        gb.checks.phase_grid(unsorted)


def test_spearman_check():
    from grokbook.stats import spearman
    assert gb.checks.spearman(spearman) is True
    assert gb.checks.spearman(stub) is False
    with pytest.raises(AssertionError, match="spearman"):  # Pearson on the values
        gb.checks.spearman(lambda x, y: np.corrcoef(x, y)[0, 1])
    with pytest.raises(AssertionError, match="spearman"):  # ties broken by order, not averaged
        gb.checks.spearman(lambda x, y: np.corrcoef(np.argsort(np.argsort(x, kind="stable")),
                                                    np.argsort(np.argsort(y, kind="stable")))[0, 1])
