"""Every figure of grokbook.plots drawn on a small table or a small trained network (Agg
backend): what it must show (panels, lines, labels, patches), not pixels."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import grokbook as gb
from grokbook import plots


def test_chapter1_figures_return_axes():
    splits = gb.make_splits(11, "add", [0.5], [0.3], [0])
    assert len(plots.task_tables(11)) == 4
    for ax in (plots.task_table_image(11, "divide"), plots.run_masks(splits), plots.given_labels(splits),
               plots.chance_correct_histogram(np.array([0, 1, 1, 2, 5]), 30, 11)):
        assert isinstance(ax, matplotlib.axes.Axes)


def test_chapter3_figures_return_axes():
    model = gb.analytic_solution(13, 20, seed=0)  # weights that require grad: plots must detach
    assert len(plots.neuron_weights(model, neuron=3)) == 2
    table = gb.neuron_fourier(model)
    for ax in (plots.ipr_comparison({"a": gb.model_ipr(model)[0], "b": [0.1, 1 + 1e-7]}, p=13),
               plots.frequency_counts(table, p=13), plots.phase_mismatch(table),
               plots.analytic_accuracy_curve([10, 20], [[0.5, 0.6], [1.0, 1.0]], p=13)):
        assert isinstance(ax, matplotlib.axes.Axes)


def test_grokking_plots_return_axes(grokking_history):
    h = grokking_history()
    runs = pd.DataFrame({"run": [0, 1, 2], "wd": [5.0, 0.0, 1.0]})
    ax = plots.grokking(h, run=0)
    assert ax.get_xscale() == "symlog" and len(ax.patches) == 1  # the shaded delay
    assert any("30 steps" in t.get_text() for t in ax.texts)
    ax = plots.grokking(h, run=1)  # never generalizes: no shading, no error
    assert len(ax.patches) == 0
    ax = plots.compare_runs(h, runs, "mean_ipr", by="wd")
    assert [l.get_text() for l in ax.get_legend().get_texts()] == ["wd = 5", "wd = 0", "wd = 1"]
    ax = plots.delay_bars(h, runs, by="wd")
    texts = [t.get_text() for t in ax.texts]
    assert texts[0] == "30" and texts[1].startswith("never") and texts[2].startswith("never")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["5", "0", "1"]
    matplotlib.pyplot.close("all")


@pytest.fixture(scope="module")
def small():
    result = gb.train(gb.grid(alpha=0.6, xi=0.3), gb.Config(p=11, width=32, steps=40, log_every=10),
                      progress=False)
    return result


def test_coexistence_plot(small):
    ax = plots.coexistence(small.history)
    assert len(ax.get_lines()) == 5  # four metrics and the 90% line
    assert ax.get_ylabel() == "accuracy"


def test_ipr_split_counts():
    ipr = np.array([0.05, 0.1, 0.2, 0.45, 0.7, 0.9, 1.0 + 1e-7])
    ax = plots.ipr_split(ipr, low=0.3, high=0.6)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("IPR < 0.3 (memorizing): 3 ")
    assert labels[1].startswith("in between: 1 ")
    assert labels[2].startswith("IPR > 0.6 (generalizing): 3 ")


def test_pruning_plots(small):
    curves = gb.prune_curves(small.model, small.data, fractions=np.linspace(0, 1, 5))
    rand = pd.concat([gb.prune_curve(small.model, small.data, order="random", seed=s,
                                     fractions=np.linspace(0, 1, 5)).assign(seed=s) for s in range(3)])
    both = pd.concat([curves[curves.order != "random"], rand])
    axes = plots.pruning(both)
    assert len(axes) == 3 and all(len(ax.get_lines()) == 4 for ax in axes)
    assert len(axes[2].collections) >= 1  # the band over random seeds
    ax = plots.pruning_by_order(both, "test_acc", mark=0.5, mark_label="low-IPR neurons")
    assert len(ax.get_lines()) == 4
    x, y = ax.get_lines()[0].get_data()
    low = curves[curves.order == "low"]
    assert np.allclose(x, low.fraction) and np.allclose(y, low.test_acc)
    assert ax.get_ylabel() == "test accuracy"
    assert plots.pruning_by_order(curves, "corrupt_acc").get_ylabel().startswith("accuracy on corrupted")


def test_phase_diagrams_draw_one_panel_per_value(wd_sweep):
    axes = plots.phase_diagrams(wd_sweep.runs, "wd")
    assert [ax.get_title() for ax in axes] == ["wd = 0", "wd = 2"]
    img = axes[1].images[0].get_array()
    assert img.shape == (2, 3)  # alpha rows x xi columns
    _, _, table = gb.phase_grid(wd_sweep.runs[wd_sweep.runs.wd == 2.0])
    assert (np.asarray(img) == np.vectorize(gb.PHASES.index)(table)).all()


def test_sweep_cell_marks_the_selected_cell(wd_sweep):
    axes = plots.sweep_cell(wd_sweep, "wd = 0", 0.8, 0.2)
    (patch,) = axes[0].patches
    assert patch.get_xy() == (1 - 0.5, 1 - 0.5)  # xi index 1, alpha index 1
    assert "α = 0.8, ξ = 0.2" in axes[1].get_title()


def test_pruning_view_shades_the_pruned_neurons():
    rng = np.random.default_rng(0)
    ipr = rng.uniform(0, 1, 50)
    curves = pd.DataFrame({"order": "low", "fraction": [0.0, 0.5, 1.0], **{
        m: [1.0, 0.5, 0.0] for m in ("test_acc", "corrupt_acc", "corrupt_true_acc", "clean_acc")}})
    axes = plots.pruning_view(ipr, curves, "low", 0.3)
    labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert labels == ["kept: 35", "pruned: 15"]


def test_two_stage_plots(stage_history):
    h = stage_history()
    runs = pd.DataFrame({"run": [0, 1, 2], "wd": [0, 15, 20],
                         "phase": ["Coexistence", "Full Inversion", "Forgetting / Confusion"]})
    axes = plots.stage_panels(h, runs, inverted=0.75, marks=[20, 40])
    assert len(axes) == 3 and len(axes[1].lines) == 4 + 1 + 2
    axes = plots.ipr_snapshots({"a": np.random.rand(50), "b": np.random.rand(3, 50)})
    assert len(axes) == 2
    plt.close("all")
