"""Every figure of gb.plots drawn on a small table or a small trained network (Agg
backend), checked for what it must show -- facets, axis labels, legend entries, the numbers on
its lines and cells -- not for pixels."""
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import seaborn as sns

import grokbook as gb
from grokbook.core.phases import majority_grid
from grokbook.teaching.plots.memorization import CAPACITY_PANELS
from grokbook.teaching.plots.style import LABELS
from grokbook.teaching.plots.task import MASK_KINDS
from grokbook.teaching.plots.training import COEXISTENCE_METRICS, STAGE_METRICS


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_the_book_theme_is_set():
    assert plt.rcParams["axes.spines.top"] is False and plt.rcParams["legend.frameon"] is False
    cycle = [c["color"] for c in plt.rcParams["axes.prop_cycle"]]
    assert matplotlib.colors.to_hex(cycle[0]) == matplotlib.colors.to_hex(sns.color_palette("colorblind")[0])


def test_long_history_is_tidy(grokking_history):
    h = grokking_history()
    runs = pd.DataFrame({"run": [0, 1, 2], "wd": [5.0, 0.0, 1.0]})
    long = gb.plots.long_history(h, ["train_acc", "test_acc"], runs)
    assert len(long) == 2 * len(h) and set(long.metric) == {"train (labels as given)", "test"}
    row = long[(long.run == 2) & (long.step == 50) & (long.metric == "test")]
    assert row.value.item() == 0.9 and row.wd.item() == 1.0


# ----------------------------------------------------------------------------- chapters 1 and 3
def test_chapter1_figures():
    splits = gb.make_splits(11, "add", [0.5], [0.3], [0])
    assert [ax.get_title() for ax in gb.plots.task_tables(11)] == [
        "(m + n) mod 11", "(m − n) mod 11", "(m × n) mod 11", "(m ÷ n) mod 11"]
    ax = gb.plots.run_masks(splits)
    cat = gb.data.mask_categories(splits)
    assert legend_texts(ax) == [f"{k} ({(cat == i).sum()})" for i, k in enumerate(MASK_KINDS)]
    assert gb.plots.given_labels(splits).get_title() == "training labels as given"
    counts = np.array([0, 1, 1, 2, 5])
    ax = gb.plots.chance_correct_histogram(counts, 30, 11)
    assert legend_texts(ax) == ["Binomial(30, 1/11)", "mean ± 1 sd", "5 seeds"]
    heights = {round(b.get_x() + b.get_width() / 2): b.get_height() for b in ax.containers[0]
               if b.get_height() > 0}
    assert heights == {0: 0.2, 1: 0.4, 2: 0.2, 5: 0.2}  # each count's share of the seeds


def test_chapter3_figures():
    model = gb.analytic_solution(13, 20, seed=0)  # weights that require grad: plots must detach
    assert len(gb.plots.neuron_weights(model, neuron=3)) == 2
    table = gb.neuron_fourier(model)
    ax = gb.plots.ipr_comparison({"trained": gb.model_ipr(model)[0], "random": [0.1, 1 + 1e-7]}, p=13)
    assert legend_texts(ax) == ["trained", "random"] and ax.get_yscale() == "log"
    ax = gb.plots.frequency_counts(table, p=13)
    bars = {round(p.get_x() + p.get_width() / 2): p.get_height() for p in ax.patches}
    want = table.freq_u.value_counts()
    assert all(bars[int(s)] == n for s, n in want.items())
    assert gb.plots.phase_mismatch(table).get_xlabel().startswith(r"$\varphi_W")
    ax = gb.plots.analytic_accuracy_curve([10, 20], [[0.5, 0.6], [1.0, 1.0]], p=13)
    mean = [line for line in ax.get_lines() if line.get_label() == "mean"][0]
    assert np.allclose(mean.get_ydata(), [0.55, 1.0])


# ----------------------------------------------------------------------------- chapter 2
def test_grokking_figures(grokking_history):
    h = grokking_history()
    runs = pd.DataFrame({"run": [0, 1, 2], "wd": [5.0, 0.0, 1.0]})
    ax = gb.plots.grokking(h, run=0)
    assert ax.get_xscale() == "symlog" and len(ax.patches) == 1  # the shaded delay
    assert any("30 steps" in t.get_text() for t in ax.texts)
    assert legend_texts(ax) == ["train (labels as given)", "test"]
    ax = gb.plots.grokking(h, run=1)  # never generalizes: no shading, no error
    assert len(ax.patches) == 0
    ax = gb.plots.compare_runs(h, runs, "mean_ipr", by="wd")
    assert legend_texts(ax) == ["wd = 5", "wd = 0", "wd = 1"]
    ax = gb.plots.delay_bars(h, runs, by="wd")
    texts = [t.get_text() for t in ax.texts]
    assert texts[0] == "30" and texts[1].startswith("never") and texts[2].startswith("never")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["5", "0", "1"]


def test_compare_runs_draws_seeds_as_a_band(grokking_history):
    h = grokking_history()
    runs = pd.DataFrame({"run": [0, 1, 2], "wd": [5.0, 5.0, 1.0]})  # two seeds at wd 5
    ax = gb.plots.compare_runs(h, runs, "train_acc", by="wd", logx=False)
    assert legend_texts(ax) == ["wd = 5", "wd = 1"]
    line = ax.get_lines()[0]
    both = h[h.run.isin([0, 1])].groupby("step").train_acc.mean()
    assert np.allclose(line.get_ydata(), both.to_numpy())
    assert len(ax.collections) >= 1  # the min-max band of wd 5


# ----------------------------------------------------------------------------- chapters 4 and 5
@pytest.fixture(scope="module")
def small():
    return gb.train(gb.grid(alpha=0.6, xi=0.3), gb.Config(p=11, width=32, steps=40, log_every=10),
                    progress=False)


def test_coexistence_plot(small):
    ax = gb.plots.coexistence(small.history)
    assert legend_texts(ax) == [LABELS[m] for m in COEXISTENCE_METRICS]
    assert ax.get_ylabel() == "accuracy"
    test = [line for line in ax.get_lines() if line.get_label() == "test"]
    assert test or np.allclose(ax.get_lines()[3].get_ydata(), small.history.test_acc)


def test_ipr_split_counts():
    ipr = np.array([0.05, 0.1, 0.2, 0.45, 0.7, 0.9, 1.0 + 1e-7])
    ax = gb.plots.ipr_split(ipr, low=0.3, high=0.6)
    labels = legend_texts(ax)
    assert labels[0].startswith("IPR < 0.3 (memorizing): 3 ")
    assert labels[1].startswith("in between: 1 ")
    assert labels[2].startswith("IPR > 0.6 (generalizing): 3 ")
    assert sum(p.get_height() for p in ax.patches) == len(ipr)  # stacked: every neuron once


def test_pruning_plots(small):
    curves = gb.prune_curves(small.model, small.data, fractions=np.linspace(0, 1, 5))
    rand = pd.concat([gb.prune_curve(small.model, small.data, order="random", seed=s,
                                     fractions=np.linspace(0, 1, 5)).assign(seed=s) for s in range(3)])
    both = pd.concat([curves[curves.order != "random"], rand])
    axes = gb.plots.pruning(both)
    assert [ax.get_title() for ax in axes] == ["lowest IPR first", "highest IPR first", "random order"]
    assert legend_texts(axes[0]) == ["test", "changed labels fitted", "changed labels inverted",
                                     "clean train"]
    assert len(axes[2].collections) >= 1  # the band over random seeds
    ax = gb.plots.pruning_by_order(both, "test_acc", mark=0.5, mark_label="low-IPR neurons")
    assert legend_texts(ax) == ["lowest IPR first", "highest IPR first", "random order",
                                "low-IPR neurons"]
    x, y = ax.get_lines()[0].get_data()
    low = curves[curves.order == "low"]
    assert np.allclose(x, low.fraction) and np.allclose(y, low.test_acc)
    mean = ax.get_lines()[2].get_ydata()
    assert np.allclose(mean, rand.groupby("fraction").test_acc.mean())
    assert ax.get_ylabel() == "test accuracy"
    assert gb.plots.pruning_by_order(curves, "corrupt_acc").get_ylabel() == "changed labels fitted"


# ----------------------------------------------------------------------------- chapter 6
def cells(ax):
    """The phase codes a heatmap shows, as a (rows, columns) array, top row first."""
    mesh = ax.collections[0]
    rows, cols = (n - 1 for n in mesh.get_coordinates().shape[:2])
    return np.asarray(mesh.get_array()).reshape(rows, cols)


def test_phase_diagrams_facet_one_panel_per_value(wd_sweep):
    axes = gb.plots.phase_diagrams(wd_sweep.runs, "wd")
    assert [ax.get_title() for ax in axes] == ["wd = 0", "wd = 2"]
    assert axes[0].figure is axes[1].figure  # facets of one figure
    _, _, table = gb.phase_grid(wd_sweep.runs[wd_sweep.runs.wd == 2.0])
    shown = cells(axes[1])
    assert shown.shape == (2, 3)  # alpha rows x xi columns
    assert (shown[::-1] == np.vectorize(gb.OUTCOMES.index)(table)).all()  # alpha grows upwards
    assert [t.get_text() for t in axes[0].get_yticklabels()] == ["0.8", "0.4"]
    assert legend_texts(axes[-1]) == list(gb.PHASES)  # the paper's phases, named


def test_phase_diagram_marks_cells_where_seeds_disagree(wd_sweep):
    runs = wd_sweep.runs[wd_sweep.runs.wd == 0.0]
    other = runs.assign(run=runs.run + 100, phase="Forgetting / Confusion")
    both = pd.concat([runs, other, other.iloc[:1].assign(run=200)])  # 3 seeds in the first cell
    alphas, xis, table, share = majority_grid(both)
    assert table[0, 0] == "Forgetting / Confusion" and share[0, 0] == pytest.approx(2 / 3)
    ax = gb.plots.phase_diagram(both)
    assert "seeds disagree" in legend_texts(ax)
    dots = ax.collections[1].get_offsets()
    assert len(dots) == int((share < 1).sum())


def test_sweep_cell_marks_the_selected_cell(wd_sweep):
    axes = gb.plots.sweep_cell(wd_sweep, "wd = 0", 0.8, 0.2)
    (patch,) = axes[0].patches
    assert patch.get_xy() == (1, 0)  # xi index 1; alpha 0.8 is the top row
    assert "α = 0.8, ξ = 0.2" in axes[1].get_title()


def test_gamma_vs_ipr_states_the_rank_correlation():
    ipr, gamma = np.linspace(0, 1, 20), np.linspace(0, 1, 20) ** 2
    ax = gb.plots.gamma_vs_ipr(ipr, gamma, title="t")
    assert ax.get_title() == "t\nSpearman ρ = 1.00" and len(ax.collections[0].get_offsets()) == 20


def test_pruning_view_stacks_the_pruned_neurons():
    rng = np.random.default_rng(0)
    ipr = rng.uniform(0, 1, 50)
    curves = pd.DataFrame({"order": "low", "fraction": [0.0, 0.5, 1.0], **{
        m: [1.0, 0.5, 0.0] for m in ("test_acc", "corrupt_acc", "corrupt_true_acc", "clean_acc")}})
    axes = gb.plots.pruning_view(ipr, curves, "low", 0.3)
    assert legend_texts(axes[0]) == ["kept: 35", "pruned: 15"]
    assert sum(p.get_height() for p in axes[0].patches) == 50


# ----------------------------------------------------------------------------- chapter 7
def test_two_stage_plots(stage_history):
    h = stage_history()
    runs = pd.DataFrame({"run": [0, 1, 2], "wd": [0, 15, 20],
                         "phase": ["Coexistence", "Full Inversion", "Forgetting / Confusion"]})
    axes = gb.plots.stage_panels(h, runs, inverted=0.75, marks=[20, 40])
    assert [ax.get_title() for ax in axes] == ["wd = 0 (Coexistence)", "wd = 15 (Full Inversion)",
                                               "wd = 20 (Forgetting / Confusion)"]
    assert legend_texts(axes[0])[:4] == [LABELS[m] for m in STAGE_METRICS]
    assert "Full Inversion level" in legend_texts(axes[0])
    axes = gb.plots.ipr_snapshots({"a": np.random.rand(50), "b": np.random.rand(3, 50)})
    assert [ax.get_title() for ax in axes] == ["a", "b"]
    assert legend_texts(axes[1])[0].startswith("mean ")


# ----------------------------------------------------------------------------- chapter 8
def test_chapter8_figures():
    import torch

    from grokbook.analysis import memorization as mz
    g = np.random.default_rng(0)
    changed = g.random(200) < 0.2
    clean = ~changed
    scores = {"a": g.random(200), "b": np.where(g.random(200) < 0.1, np.nan, g.random(200))}
    axes = gb.plots.score_histograms(scores, changed, clean, aucs={"a": 0.5, "b": 0.6})
    assert [ax.get_title() for ax in axes] == ["a\nAUC 0.50", "b\nAUC 0.60"]
    assert legend_texts(axes[0]) == [f"changed ({changed.sum()})", f"clean ({clean.sum()})"]
    table = pd.DataFrame({"wd 0": [0.9, np.nan], "wd 5": [0.5, 0.1]}, index=["x", "y"])
    ax = gb.plots.auc_heatmap(table)
    assert sorted(t.get_text() for t in ax.texts) == ["0.10", "0.50", "0.90"]  # NaN left blank
    curve = pd.DataFrame({"t": [4, 8], "reliability": [0.5, 0.7], "plug_in": [0.4, 0.6],
                          "bound": [0.1, 0.3]})
    ax = gb.plots.reliability_curve(curve)
    assert legend_texts(ax) == ["split-half (Spearman–Brown)", "binomial, plug-in", "binomial lower bound"]
    assert np.allclose(ax.get_lines()[0].get_ydata(), [0.5, 0.7])
    member = torch.as_tensor(g.random((6, 200)) < 0.7)
    correct = torch.as_tensor(g.random((6, 200)) < 0.5)
    frame = mz.feldman_scores(member, correct)
    axes = gb.plots.in_out({"one": frame, "two": frame}, changed, clean)
    assert [ax.get_title() for ax in axes] == ["one", "two"]
    assert legend_texts(axes[0]) == ["clean", "changed"]
    pairs = changed | clean
    n = np.isfinite(frame.acc_in.to_numpy()[pairs] + frame.acc_out.to_numpy()[pairs]).sum()
    assert len(axes[0].collections[0].get_offsets()) == n
    loo = pd.DataFrame({"leverage": g.random(200), "loo_change": g.normal(size=200)})
    axes = gb.plots.leverage_panels({"r": loo}, changed, clean)
    assert axes.shape == (1, 2)
    assert [ax.get_xlabel() for ax in axes[0]] == ["leverage h", "LOO change at the given label"]


# ----------------------------------------------------------------------------- chapter 9
def test_chapter9_figures():
    share = np.zeros(6)
    share[2] = 1.0
    ax = gb.plots.embedding_spectra({"inverted": share, "flat": np.full(6, 1 / 6)})
    assert legend_texts(ax) == ["inverted", "flat"]
    assert list(ax.lines[0].get_ydata()) == list(share) and ax.get_xlabel().startswith("frequency")
    plt.close("all")
    runs = pd.DataFrame({"wd": [0.0, 0.0, 3.0, 3.0], "xi": [0.1, 0.2, 0.1, 0.2],
                         "phase": ["Memorization", "Memorization", "Full Inversion", "Coexistence"]})
    ax = gb.plots.weight_decay_diagram(runs, title="t")
    assert ax.get_ylabel() == "weight decay" and ax.get_title() == "t"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["3", "0"]  # growing upwards
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.1", "0.2"]
    plt.close("all")


def test_capacity_curves_one_panel_per_measure_one_line_per_weight_decay():
    rows = [dict(width=N, wd=wd, seed=s, test_acc=1.0 - N / 1000, corrupt_acc=min(1.0, N / 400),
                 n_low=N // 2, fit_step=(float("nan") if N < 100 else 1000 / N + s))
            for N in (25, 100, 400) for wd in (0.0, 5.5) for s in range(3)]
    axes = gb.plots.capacity_curves(pd.DataFrame(rows))
    assert [ax.get_ylabel() for ax in axes] == [label for _, label in CAPACITY_PANELS]
    for ax in axes:
        assert ax.get_xscale() == "log" and list(ax.get_xticks()) == [25, 100, 400]
        drawn = [line for line in ax.get_lines() if len(line.get_xdata())]  # (not the legend's)
        assert len(drawn) == 2  # one mean line per weight decay
    shares = axes[2].get_lines()[0].get_ydata()
    assert np.allclose(shares, [0.48, 0.5, 0.5])  # n_low / width, the mean over seeds
    assert np.allclose(axes[3].get_lines()[0].get_xdata(), [100, 400])  # no dot where never fitted
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == ["wd = 0", "wd = 5.5"]
    plt.close("all")
