"""Every figure the book draws, in seaborn's idiom over tidy tables.

A view of a table (curves over training, phase diagrams, histograms, AUC tables) is drawn by
seaborn from a long-form DataFrame whose columns each docstring names; the task tables and a
neuron's weights stay plain matplotlib.  One colour-blind-safe theme (``set_theme``, applied on
import).  Each function draws on ``ax`` / ``axes`` (new ones if none are given) and returns them;
several runs of one setting (seeds) are drawn as their mean with a min-max band.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
import pandas as pd
import seaborn as sns

from ...engine.data import mask_categories
from ...analysis.history import first_step, grokking_steps, inversion_level, long_form
from ...core.phases import OUTCOMES, PHASES, majority_grid
from ...analysis.stats import binomial_pmf, spearman

THEME = dict(context="notebook", style="ticks", palette="colorblind", font_scale=0.85,
             rc={"axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False,
                 "figure.dpi": 100, "savefig.dpi": 150})
BAND = ("pi", 100)  # seaborn's errorbar for several seeds: the min-max band around the mean


def set_theme():
    """The book's one theme (seaborn ``set_theme`` with ``THEME``); applied when plots is imported."""
    sns.set_theme(**THEME)


set_theme()
PALETTE = sns.color_palette("colorblind")

# One colour per metric, used in every chapter.
COLORS = {
    "train_acc": PALETTE[0], "test_acc": PALETTE[1], "corrupt_acc": PALETTE[3],
    "corrupt_true_acc": PALETTE[2], "clean_acc": PALETTE[4], "loss": PALETTE[0],
    "test_loss": PALETTE[1], "mean_ipr": PALETTE[5], "weight_norm": PALETTE[7],
}
LABELS = {
    "train_acc": "train (labels as given)", "test_acc": "test",
    "corrupt_acc": "changed labels fitted", "corrupt_true_acc": "changed labels inverted",
    "clean_acc": "clean train", "loss": "train loss", "test_loss": "test loss",
    "mean_ipr": "mean IPR", "weight_norm": "weight norm",
}
# The paper's phases, colour-blind safe: the generalizing phases in blues and greens,
# Memorization in vermilion, Forgetting in grey; a diverged run (no phase) in black.
PHASE_COLORS = {"Coexistence": "#0173b2", "Partial Inversion": "#56b4e9",
                "Full Inversion": "#029e73", "Memorization": "#d55e00",
                "Forgetting / Confusion": "#bbbbbb", "Diverged": "#000000"}
TRUTH_COLORS = {"changed": PALETTE[3], "clean": PALETTE[0]}


def _ax(ax, figsize=(5, 3.5)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, constrained_layout=True)
    return ax


def _axes(axes, n: int, width: float, height: float, sharey: bool = False, squeeze: bool = True):
    """``axes`` as an array, or a new row of n panels of ``width`` x ``height`` inches each."""
    if axes is None:
        _, axes = plt.subplots(1, n, figsize=(width * n, height), sharey=sharey,
                               constrained_layout=True, squeeze=False)
        return axes[0] if squeeze else axes
    return np.atleast_1d(axes)


def _logx(ax, logx: bool):
    if logx:
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlim(left=0)


def long_history(history, metrics, runs=None) -> pd.DataFrame:
    """``grokbook.history.long_form`` with each metric named by its label (the legend's text)."""
    out = long_form(history, metrics, runs)
    out["metric"] = out.metric.map(lambda m: LABELS.get(m, m))
    return out


def _metric_palette(metrics):
    return {LABELS.get(m, m): COLORS.get(m, PALETTE[i % len(PALETTE)]) for i, m in enumerate(metrics)}


def _legend(ax, **kw):
    if ax.get_legend() is not None:
        sns.move_legend(ax, kw.pop("loc", "best"), title=kw.pop("title", None),
                        fontsize=kw.pop("fontsize", "small"), **kw)


def curves(history, metrics=("train_acc", "test_acc"), run: int = 0, ax=None, logx=False,
           logy=False):
    """Metrics of one run over training steps, from a history frame (columns run, step and the
    metrics; ``SweepResult.history``)."""
    ax = _ax(ax)
    data = long_history(history[history.run == run], metrics)
    sns.lineplot(data, x="step", y="value", hue="metric", palette=_metric_palette(metrics),
                 errorbar=None, ax=ax)
    ax.set_ylabel("")
    _logx(ax, logx)
    if logy:
        ax.set_yscale("log")
    _legend(ax, title=None)
    return ax


# --- chapter 1: the task and the corruption ---------------------------------------------
OP_SYMBOLS = {"add": "+", "subtract": "−", "multiply": "×", "divide": "÷"}

# The four kinds of pair a run sees, in the order the mask picture draws them.
MASK_KINDS = ("test", "train, clean", "corrupted, label unchanged", "corrupted, label changed")
MASK_COLORS = ("0.85", "C0", "C1", "C3")


def _table_image(values, p, ax, title, cmap="twilight"):
    """Draw a (p*p,) array as the p x p table (row m, column n); masked entries blank."""
    ax.imshow(values.reshape(p, p), cmap=cmap, vmin=0, vmax=p - 1, interpolation="nearest")
    ax.set(xlabel="n", ylabel="m")
    ax.set_title(title, fontsize="medium")
    return ax


def task_table_image(p: int, op: str = "add", ax=None, cmap="twilight"):
    """The p x p table of op(m, n) mod p: row m, column n, colour = label.

    The colour map is cyclic, as Z_p is: label p - 1 sits next to label 0.
    Pairs without a label (n = 0 for ``divide``) are blank.
    """
    from ...engine.data import task_table

    truth, valid = task_table(p, op)
    values = np.ma.masked_array(truth.numpy(), mask=~valid.numpy())
    ax = _ax(ax, figsize=(3.5, 3.5))
    return _table_image(values, p, ax, f"(m {OP_SYMBOLS[op]} n) mod {p}", cmap)


def task_tables(p: int, ops=("add", "subtract", "multiply", "divide"), axes=None):
    """``task_table_image`` for several operations side by side; returns the axes."""
    axes = _axes(axes, len(ops), 3, 3.3)
    for op, ax in zip(ops, axes):
        task_table_image(p, op, ax=ax)
    return axes


def run_masks(splits, run: int = 0, ax=None):
    """One run's split and corruption on the p x p grid, each kind of pair in its colour."""
    p = splits.p
    cat = mask_categories(splits, run)  # grokbook.data
    ax = _ax(ax, figsize=(4.2, 5))
    ax.imshow(np.ma.masked_less(cat, 0).reshape(p, p), cmap=ListedColormap(MASK_COLORS),
              vmin=-0.5, vmax=3.5, interpolation="nearest")
    handles = [Patch(color=c, label=f"{kind} ({(cat == i).sum()})")
               for i, (kind, c) in enumerate(zip(MASK_KINDS, MASK_COLORS))]
    ax.legend(handles=handles, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.14))
    ax.set(xlabel="n", ylabel="m")
    ax.set_title("which pairs are what", fontsize="medium")
    return ax


def given_labels(splits, run: int = 0, ax=None, cmap="twilight"):
    """The training labels as given to the network (test pairs blank): corruption is the noise."""
    p = splits.p
    values = np.ma.masked_array(splits.labels[run].numpy(), mask=~splits.train[run].numpy())
    ax = _ax(ax, figsize=(3.5, 3.5))
    return _table_image(values, p, ax, "training labels as given", cmap)


def chance_correct_histogram(counts, n_corrupted: int, p: int, ax=None):
    """How many corrupted labels equal the truth, over many seeds (``counts``, one per seed),
    against Binomial(n, 1/p)."""
    counts = np.asarray(counts)
    ax = _ax(ax)
    k = np.arange(max(0, counts.min() - 3), counts.max() + 4)
    sns.histplot(pd.DataFrame({"correct by chance": counts}), x="correct by chance", discrete=True,
                 stat="probability", color=PALETTE[1], alpha=0.6, ax=ax, label=f"{len(counts)} seeds")
    ax.plot(k, binomial_pmf(n_corrupted, 1 / p, k), "k.-", lw=1,
            label=f"Binomial({n_corrupted}, 1/{p})")
    mean, sd = n_corrupted / p, np.sqrt(n_corrupted * (1 / p) * (1 - 1 / p))
    ax.axvline(mean, color="k", ls=":", lw=1)
    ax.axvspan(mean - sd, mean + sd, color="0.9", zorder=0, label="mean ± 1 sd")
    ax.set(xlabel="corrupted labels that are correct by chance", ylabel="fraction of seeds")
    ax.legend(fontsize="small")
    return ax


# --- chapter 2: grokking on clean data ----------------------------------------------------
def grokking(history, run: int = 0, threshold: float = 0.99, ax=None):
    """Train and test accuracy of one run over (log-scaled) steps, the grokking delay shaded."""
    ax = curves(history, ("train_acc", "test_acc"), run=run, ax=ax, logx=True)
    fit = first_step(history, "train_acc", threshold, run)
    grok = first_step(history, "test_acc", threshold, run)
    for step, metric in ((fit, "train_acc"), (grok, "test_acc")):
        if np.isfinite(step):
            ax.axvline(step, color=COLORS[metric], ls=":", lw=1)
    if np.isfinite(fit) and np.isfinite(grok) and grok > fit:
        ax.axvspan(fit, grok, color="0.92", zorder=0)
        ax.text(np.sqrt(max(fit, 1) * grok), 0.5, f"delay\n{grok - fit:.0f} steps",
                ha="center", va="center", fontsize="small")
    ax.axhline(threshold, color="0.6", lw=0.5)
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    return ax


def compare_runs(history, runs, metric: str = "test_acc", by: str = "wd", ax=None,
                 logx: bool = True, cmap: str = "viridis", reference: float | None = None,
                 reference_label: str | None = None):
    """One metric over training for the runs of ``runs`` (e.g. ``result.runs``), one line per
    value of ``by``; several runs with the same value (seeds) are their mean and min-max band.

    ``reference`` draws a dashed horizontal line (a baseline, e.g. the IPR of random weights).
    """
    ax = _ax(ax)
    data = long_history(history[history.run.isin(runs.run)], [metric], runs[["run", by]])
    order = [f"{by} = {v:g}" for v in dict.fromkeys(runs[by])]  # in the order of the runs table
    data[by] = data[by].map(lambda v: f"{by} = {v:g}")
    sns.lineplot(data, x="step", y="value", hue=by, hue_order=order, errorbar=BAND, ax=ax,
                 palette=dict(zip(order, sns.color_palette(cmap, len(order) + 1))))
    if reference is not None:
        ax.axhline(reference, color="0.4", ls="--", lw=1, label=reference_label)
    ax.set_xlabel("step")
    ax.set_ylabel({"train_acc": "train accuracy", "test_acc": "test accuracy"}.get(
        metric, LABELS.get(metric, metric)))
    _logx(ax, logx)
    ax.legend(fontsize="small")
    return ax


def delay_bars(history, runs, by: str = "wd", threshold: float = 0.99, ax=None):
    """The grokking delay of every run, one bar per value of ``by`` (several seeds: the mean,
    each seed a dot).

    A value whose runs never reach ``threshold`` test accuracy gets a hatched bar as tall as
    the training ran, marked "never": its delay is longer than we looked.
    """
    ax = _ax(ax)
    table = grokking_steps(history, threshold)
    last = float(history.step.max())
    data = runs[["run", by]].assign(delay=table.loc[runs.run, "delay"].to_numpy())
    labels = [f"{v:g}" for v in dict.fromkeys(data[by])]  # in the order of the runs table
    data[by] = data[by].map(lambda v: f"{v:g}")
    done = data[np.isfinite(data.delay)]
    sns.barplot(done, x=by, y="delay", order=labels, color=PALETTE[1], errorbar=None, ax=ax)
    if (done.groupby(by).size() > 1).any():  # several seeds: each one a dot
        sns.stripplot(done, x=by, y="delay", order=labels, color="0.2", size=3, ax=ax)
    for i, label in enumerate(labels):
        d = done.delay[done[by] == label].mean()  # NaN: no run of this value got there
        if np.isnan(d):
            ax.bar(i, last, color="none", edgecolor="0.5", hatch="//")
        ax.text(i, last if np.isnan(d) else d, f"never\n(in {last:.0f} steps)" if np.isnan(d)
                else f"{d:.0f}", ha="center", va="bottom", fontsize="small")
    ax.set(xlabel=by, ylabel="grokking delay (steps)")
    ax.set_title(f"from train acc ≥ {threshold:.0%} to test acc ≥ {threshold:.0%}",
                 fontsize="small")
    ax.set_ylim(0, last * 1.2)
    return ax


# --- chapter 3: Fourier features and the IPR -----------------------------------------------
VECTOR_NAMES = ("U row (input m)", "V row (input n)", "W column (output q)")


def neuron_weights(model, neuron: int, run: int = 0, axes=None, title: str = ""):
    """One neuron's three weight vectors as functions of the residue (left) and their |rfft| (right).

    Row ``neuron`` of U and of V, column ``neuron`` of W; the title gives the neuron's IPR.
    """
    import torch

    from ...engine.fourier import neuron_ipr, neuron_weights_as_functions

    vectors = [v.detach().double() for v in neuron_weights_as_functions(model, run, neuron)]
    p = len(vectors[0])
    axes = _axes(axes, 2, 5, 2.8)
    residues, freqs = np.arange(p), np.arange(p // 2 + 1)
    for i, (vec, name) in enumerate(zip(vectors, VECTOR_NAMES)):
        axes[0].plot(residues, vec.numpy(), ".-", lw=0.8, ms=3, color=f"C{i}", label=name)
        axes[1].bar(freqs + (i - 1) * 0.27, torch.fft.rfft(vec).abs().numpy(), width=0.27,
                    color=f"C{i}", label=name)
    with torch.no_grad():
        ipr = neuron_ipr(*(t[None, None] for t in vectors[:2]), vectors[2][None, :, None]).item()
    axes[0].set(xlabel="residue", ylabel="weight")
    axes[0].set_title(f"{title} neuron {neuron}: weights (IPR {ipr:.2f})".strip(), fontsize="medium")
    axes[1].set(xlabel="frequency s", ylabel="|rfft|")
    axes[1].set_title("their DFT magnitudes", fontsize="medium")
    axes[1].legend(fontsize="small")
    return axes


def _ipr_frame(iprs: dict, name: str = "network") -> pd.DataFrame:
    """``{name: per-neuron IPRs}`` as a long frame: columns ``IPR`` (clipped into [0, 1]: an exact
    cosine can round to 1 + 1e-7) and ``name``."""
    return pd.concat([pd.DataFrame({"IPR": np.clip(np.asarray(v, dtype=float).ravel(), 0, 1),
                                    name: k}) for k, v in iprs.items()], ignore_index=True)


def ipr_comparison(iprs: dict, p: int | None = None, ax=None, bins=np.linspace(0, 1, 51)):
    """Histograms of per-neuron IPR, one hue per entry of ``{name: values}``, on a log count
    axis; with ``p`` the Gaussian level 2 / (p//2 + 1) is marked."""
    ax = _ax(ax, figsize=(6, 3.2))
    sns.histplot(_ipr_frame(iprs), x="IPR", hue="network", bins=bins, element="step", alpha=0.4, ax=ax)
    if p is not None:
        ax.axvline(2 / (p // 2 + 1), color="k", ls=":", lw=1)
        ax.text(2 / (p // 2 + 1), 1.0, " Gaussian ≈ 2/(p//2+1)", transform=ax.get_xaxis_transform(),
                va="top", fontsize="x-small")
    ax.set(yscale="log", ylabel="neurons")
    _legend(ax, title=None)
    return ax


def frequency_counts(table, p: int, ax=None):
    """How many neurons use each frequency (U's dominant one), from ``neuron_fourier`` (column
    ``freq_u``; NaN: a neuron with no frequency, left out)."""
    ax = _ax(ax, figsize=(6, 2.8))
    sns.histplot(table.dropna(subset=["freq_u"]), x="freq_u", discrete=True, color=PALETTE[5],
                 ax=ax)
    ax.set_xlim(0.5, p // 2 + 0.5)
    ax.set(xlabel="dominant frequency s", ylabel="neurons")
    return ax


def phase_mismatch(table, ax=None, bins=np.linspace(-np.pi, np.pi, 49)):
    """Histogram of phi_W - phi_U - phi_V per neuron, from ``neuron_fourier`` (column
    ``phase_mismatch``)."""
    ax = _ax(ax, figsize=(5, 2.8))
    sns.histplot(table.dropna(subset=["phase_mismatch"]), x="phase_mismatch", bins=bins,
                 color=PALETTE[2], ax=ax)
    ax.set(xlabel=r"$\varphi_W - \varphi_U - \varphi_V$ (radians)", ylabel="neurons")
    ax.set_xticks([-np.pi, -np.pi / 2, 0, np.pi / 2, np.pi], ["−π", "−π/2", "0", "π/2", "π"])
    return ax


def analytic_accuracy_curve(widths, accuracies, p: int, ax=None):
    """Accuracy of the analytic solution against its width N; ``accuracies`` (len(widths), draws):
    each draw of frequencies and phases a dot, their mean a line."""
    acc = np.asarray(accuracies, dtype=float)
    data = pd.DataFrame({"width N": np.repeat(np.asarray(widths), acc.shape[1]),
                         "accuracy": acc.ravel()})
    ax = _ax(ax)
    sns.scatterplot(data, x="width N", y="accuracy", color=PALETTE[0], alpha=0.4, s=16, ax=ax,
                    label="one draw of frequencies and phases")
    sns.lineplot(data, x="width N", y="accuracy", color=PALETTE[0], errorbar=None, ax=ax,
                 label="mean")
    ax.axhline(1.0, color="0.6", lw=0.5)
    ax.set_xscale("log")
    ax.set_ylabel(f"accuracy on all {p}² pairs")
    ax.legend(fontsize="small")
    return ax


# --- chapters 4 and 5: coexistence and pruning ---
COEXISTENCE_METRICS = ("corrupt_acc", "corrupt_true_acc", "clean_acc", "test_acc")
PRUNE_ORDERS = {"low": ("lowest IPR first", PALETTE[3]), "high": ("highest IPR first", PALETTE[2]),
                "random": ("random order", "0.35")}


def coexistence(history, run: int = 0, ax=None, logx: bool = True):
    """Accuracy on the corrupted pairs (given and true label), the clean training pairs and the
    test pairs over training: memorization and generalization, side by side."""
    ax = curves(history, COEXISTENCE_METRICS, run=run, ax=ax, logx=logx)
    ax.axhline(0.9, color="0.6", lw=0.5)
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    return ax


def ipr_split(ipr, low: float = 0.3, high: float = 0.6, ax=None, bins=np.linspace(0, 1, 41)):
    """Histogram of one network's neuron IPRs, stacked by group: below ``low`` (memorizing),
    above ``high`` (generalizing), in between; each group's count in the legend."""
    values = np.clip(np.asarray(ipr, dtype=float).ravel(), 0, 1)
    ax = _ax(ax, figsize=(6, 3.2))
    groups = {f"IPR < {low:g} (memorizing)": (values < low, PHASE_COLORS["Memorization"]),
              "in between": ((values >= low) & (values <= high), "0.6"),
              f"IPR > {high:g} (generalizing)": (values > high, PHASE_COLORS["Full Inversion"])}
    names = {g: f"{g}: {m.sum()} ({m.mean():.0%})" for g, (m, _) in groups.items()}
    group = np.select([m for m, _ in groups.values()], [names[g] for g in groups], default="")
    sns.histplot(pd.DataFrame({"IPR": values, "neurons": group}), x="IPR", hue="neurons",
                 hue_order=list(names.values()), bins=bins, multiple="stack", alpha=0.8,
                 palette={names[g]: c for g, (_, c) in groups.items()}, ax=ax)
    for x in (low, high):
        ax.axvline(x, color="k", ls=":", lw=1)
    ax.set_ylabel("neurons")
    _legend(ax, title=None)
    return ax


def _prune_frame(curves, metrics):
    """Pruning curves (columns order, fraction, the metrics[, seed]) in long form."""
    ids = [c for c in ("order", "fraction", "seed") if c in curves]
    out = curves.melt(id_vars=ids, value_vars=list(metrics), var_name="metric")
    out["metric"] = out.metric.map(lambda m: LABELS.get(m, m))
    return out


def pruning(curves, metrics=("test_acc", "corrupt_acc", "corrupt_true_acc", "clean_acc"),
            orders=("low", "high", "random"), axes=None):
    """Accuracies against the fraction of neurons pruned, one panel per order, from
    ``grokbook.prune_curves`` (columns order, fraction, the metrics; a ``seed`` column for
    several random orders, drawn as their mean and min-max band)."""
    axes = _axes(axes, len(orders), 4, 3.2, sharey=True)
    data = _prune_frame(curves, metrics)
    for k, (order, ax) in enumerate(zip(orders, axes)):
        sns.lineplot(data[data.order == order], x="fraction", y="value", hue="metric",
                     palette=_metric_palette(metrics), errorbar=BAND, ax=ax, legend=(k == 0))
        ax.set_title(PRUNE_ORDERS.get(order, (order,))[0], fontsize="medium")
        ax.set(xlabel="fraction of neurons pruned", ylabel="accuracy" if k == 0 else "",
               ylim=(-0.02, 1.02))
    _legend(axes[0], title=None)
    return axes


def pruning_by_order(curves, metric: str = "corrupt_acc", orders=("low", "high", "random"),
                     ax=None, mark: float | None = None, mark_label: str | None = None):
    """One metric against the fraction pruned, one line per order (random: mean and min-max band);
    ``mark`` draws a vertical line (e.g. the fraction of low-IPR neurons)."""
    ax = _ax(ax)
    name = {o: PRUNE_ORDERS.get(o, (o, "0.5"))[0] for o in orders}
    sns.lineplot(curves[curves.order.isin(orders)].assign(order=lambda d: d.order.map(name)),
                 x="fraction", y=metric, hue="order", hue_order=list(name.values()), errorbar=BAND,
                 palette={name[o]: PRUNE_ORDERS.get(o, (o, "0.5"))[1] for o in orders}, ax=ax)
    if mark is not None:
        ax.axvline(mark, color="k", ls=":", lw=1, label=mark_label)
    label = LABELS.get(metric, metric)
    ax.set(xlabel="fraction of neurons pruned", ylim=(-0.02, 1.02),
           ylabel=label if metric.startswith("corrupt") else f"{label} accuracy")
    ax.legend(fontsize="small")
    return ax


# --- chapter 6: regularization and phase diagrams ---
def phase_diagram(runs, ax=None, title: str = "", mark=None, legend: bool = True):
    """One phase diagram from a runs table (columns alpha, xi, phase; several runs per cell
    allowed): alpha (rows, growing upwards) against xi (columns), each cell coloured by its
    majority phase; cells whose seeds disagree are marked with a dot.  ``mark=(alpha, xi)``
    outlines one cell (the explorer's selection)."""
    ax = _ax(ax, figsize=(3.6, 3.2))
    alphas, xis, table, share = majority_grid(runs)
    codes = pd.DataFrame(np.vectorize(OUTCOMES.index)(table)[::-1], index=[f"{a:.2g}" for a in alphas[::-1]],
                         columns=[f"{x:.2g}" for x in xis])
    sns.heatmap(codes, ax=ax, cmap=ListedColormap([PHASE_COLORS[p] for p in OUTCOMES]),
                vmin=-0.5, vmax=len(OUTCOMES) - 0.5, cbar=False, linewidths=0.5, linecolor="white",
                square=False)
    uncertain = np.argwhere((share < 1)[::-1])
    ax.scatter(uncertain[:, 1] + 0.5, uncertain[:, 0] + 0.5, s=10, color="k", marker="o")
    ax.set(xlabel=r"corruption $\xi$", ylabel=r"training fraction $\alpha$")
    ax.tick_params(axis="y", rotation=0)
    if len(xis) > 6:  # a fine grid: every other xi labelled, so the labels do not run together
        ax.set_xticklabels([f"{x:.2g}" if k % 2 == 0 else "" for k, x in enumerate(xis)], rotation=0)
    ax.set_title(title, fontsize="medium")
    if mark is not None:
        i = len(alphas) - 1 - list(alphas).index(mark[0])
        j = list(xis).index(mark[1])
        ax.add_patch(Rectangle((j, i), 1, 1, fill=False, ec="k", lw=2))
    if legend:
        _phase_legend(ax, runs.phase, (share < 1).any())
    return ax


def _phase_legend(ax, phases, disagree: bool):
    """The legend: the paper's five phases, Diverged if present, the seeds-disagree mark."""
    shown = PHASES + tuple(o for o in OUTCOMES[len(PHASES):] if (np.asarray(phases) == o).any())
    handles = [Patch(color=PHASE_COLORS[p], label=p) for p in shown]
    handles += [Line2D([], [], color="k", marker="o", ls="", ms=3, label="seeds disagree")] * bool(disagree)
    ax.legend(handles=handles, fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1))


def phase_diagrams(runs, by: str, panels=None, axes=None, titles=None):
    """One phase diagram per value of column ``by`` (e.g. wd, dropout, panel) of a runs table,
    as facets of one figure with one shared legend.  ``panels`` picks and orders the values;
    ``titles`` labels them.  Returns the axes."""
    panels = list(panels if panels is not None else sorted(runs[by].unique()))
    titles = titles if titles is not None else [f"{by} = {v:g}" for v in panels]
    data = runs[runs[by].isin(panels)]
    ncol = len(panels) if len(panels) <= 3 else 2  # four panels: 2 x 2, readable in the column
    if axes is None:
        axes = sns.FacetGrid(data, col=by, col_order=panels, col_wrap=ncol, height=2.8,
                             aspect=0.95).axes.flat
    axes = np.asarray(list(axes))
    for k, (ax, v) in enumerate(zip(axes, panels)):
        phase_diagram(data[data[by] == v], ax=ax, title=titles[k], legend=False)
        if k % ncol:
            ax.set_ylabel("")
    _phase_legend(axes[-1], data.phase, data.groupby([by, "alpha", "xi"]).phase.nunique().gt(1).any())
    return axes


def gamma_vs_ipr(ipr, gamma, ax=None, title: str = ""):
    """Each neuron's BatchNorm |gamma| against its IPR, with the Spearman rank correlation."""
    ipr, gamma = np.asarray(ipr, float).ravel(), np.asarray(gamma, float).ravel()
    ax = _ax(ax, figsize=(4.2, 3.2))
    sns.scatterplot(pd.DataFrame({"IPR": ipr, "|gamma|": gamma}), x="IPR", y="|gamma|", s=8,
                    alpha=0.5, color=PALETTE[5], linewidth=0, ax=ax)
    ax.set_ylabel(r"BatchNorm $|\gamma|$")
    ax.set_title((title + "\n" if title else "") + f"Spearman ρ = {spearman(ipr, gamma):.2f}",
                 fontsize="medium")
    return ax


def sweep_cell(data, panel, alpha: float, xi: float, axes=None):
    """One cell of a stored sweep, as the explorer shows it: the panel's (a ``Panel`` or its label)
    phase diagram with the cell outlined, that run's accuracies over training, its neurons' IPR.
    Returns the axes."""
    panel = data.panel(panel) if isinstance(panel, str) else panel
    row = data.cell(alpha, xi, panel=panel)
    axes = axes if axes is not None else plt.subplots(1, 3, figsize=(13, 3.3), layout="constrained",
                                                      width_ratios=[1.0, 1.25, 1.0])[1]
    phase_diagram(data.panels()[panel], axes[0], panel.label, (row.alpha, row.xi), legend=False)
    curves(data.history, STAGE_METRICS, run=int(row.run), ax=axes[1], logx=True)
    axes[1].set_ylim(-0.02, 1.02)
    axes[1].set_title(f"α = {row.alpha:g}, ξ = {row.xi:g}: {row.phase}", fontsize="medium")
    ipr_split(data.ipr[int(row.run)], ax=axes[2])
    return axes


def pruning_view(ipr, curves, order: str, fraction: float, seed: int = 0, axes=None):
    """The pruning explorer's view: the IPR histogram with the neurons pruned at ``fraction`` in
    ``order`` stacked apart, and the accuracies against the fraction pruned with ``fraction``
    marked."""
    import torch

    from ...analysis.prune import prune_order
    ipr = np.asarray(ipr, dtype=float)
    axes = _axes(axes, 2, 5, 3.2)
    gone = prune_order(torch.as_tensor(ipr), order, seed)[: round(fraction * len(ipr))].numpy()
    kept = np.ones(len(ipr), bool)
    kept[gone] = False
    names = {True: f"kept: {kept.sum()}", False: f"pruned: {(~kept).sum()}"}
    sns.histplot(pd.DataFrame({"IPR": np.clip(ipr, 0, 1), "neurons": [names[k] for k in kept]}),
                 x="IPR", hue="neurons", hue_order=[names[True], names[False]], multiple="stack",
                 bins=np.linspace(0, 1, 41), palette=[PALETTE[5], "0.8"], ax=axes[0])
    axes[0].set_ylabel("neurons")
    _legend(axes[0], title=None)
    pruning(curves, orders=(order,), axes=np.array([axes[1]]))
    axes[1].axvline(fraction, color="k", ls=":", lw=1)
    return axes


# --- chapter 7: two stages ---
STAGE_METRICS = ("train_acc", "test_acc", "corrupt_acc", "corrupt_true_acc")


def stage_panels(history, runs, metrics=STAGE_METRICS, by: str = "wd", inverted=None,
                 marks=(), axes=None, logx: bool = True):
    """One panel per value of ``by`` among ``runs`` (e.g. ``result.runs``): ``metrics`` over
    training (several seeds: mean and min-max band).

    ``inverted`` draws the Full Inversion train accuracy (``grokbook.history.inversion_level``)
    as a dashed line; ``marks`` are steps drawn as dotted vertical lines in every panel
    (e.g. the steps of snapshots).  Returns the axes.
    """
    values = list(dict.fromkeys(runs[by]))
    axes = _axes(axes, len(values), 3.4, 3.2, sharey=True)
    data = long_history(history[history.run.isin(runs.run)], metrics, runs[["run", by]])
    for k, (ax, v) in enumerate(zip(axes, values)):
        sns.lineplot(data[data[by] == v], x="step", y="value", hue="metric",
                     palette=_metric_palette(metrics), errorbar=BAND, ax=ax, legend=(k == 0))
        if inverted is not None:
            ax.axhline(inverted, color="0.4", ls="--", lw=1, label="Full Inversion level")
        for s in marks:
            ax.axvline(s, color="0.6", ls=":", lw=1)
        phase = f" ({runs[runs[by] == v].phase.mode().iloc[0]})" if "phase" in runs else ""
        ax.set_title(f"{by} = {v:g}{phase}", fontsize="medium")
        ax.set_ylabel("accuracy" if k == 0 else "")
        _logx(ax, logx)
    axes[0].legend(fontsize="x-small", loc="center left")
    return axes


def ipr_snapshots(iprs: dict, axes=None, bins=np.linspace(0, 1, 26), color=None):
    """Histograms of per-neuron IPR side by side, one panel per ``{title: values}`` entry
    (e.g. one per snapshot step), with each panel's mean marked.  Returns the axes."""
    axes = _axes(axes, len(iprs), 3.2, 2.8, sharey=True)
    data = _ipr_frame(iprs, "panel")
    for k, (ax, title) in enumerate(zip(axes, iprs)):
        values = data[data.panel == title]
        sns.histplot(values, x="IPR", bins=bins, color=color or PALETTE[5], ax=ax)
        ax.axvline(values.IPR.mean(), color="0.3", ls="--", lw=1, label=f"mean {values.IPR.mean():.2f}")
        ax.set_title(title, fontsize="medium")
        ax.set_ylabel("neurons" if k == 0 else "")
        ax.legend(fontsize="small")
    return axes


# --- chapter 8: what counts as memorization ---
def _truth_frame(values, changed, clean, name="score") -> pd.DataFrame:
    """Per-pair values of the changed and the clean training pairs as a long frame: columns
    ``name`` and ``pairs`` ("changed" / "clean"); NaN values left out."""
    values = np.asarray(values, dtype=float)
    parts = [pd.DataFrame({name: values[np.asarray(mask, bool)], "pairs": g})
             for g, mask in (("changed", changed), ("clean", clean))]
    out = pd.concat(parts, ignore_index=True)
    return out[np.isfinite(out[name])]


def _truth_hist(ax, values, changed, clean, name, bins, legend, counts=False):
    """``values`` of the changed and the clean training pairs as two normalised histograms."""
    data = _truth_frame(values, changed, clean, name)
    if counts:  # name each group with its size
        n = data.pairs.value_counts()
        data["pairs"] = data.pairs.map(lambda g: f"{g} ({n[g]})")
    order = [g for g in dict.fromkeys(data.pairs)]
    sns.histplot(data, x=name, hue="pairs", hue_order=order, stat="density", common_norm=False,
                 bins=bins, alpha=0.55, ax=ax, legend=legend,
                 palette={g: TRUTH_COLORS[g.split()[0]] for g in order})
    ax.set_ylabel("")
    ax.set_yticks([])


def score_histograms(scores: dict, changed, clean, aucs: dict | None = None, axes=None, bins=30):
    """One panel per ``{name: per-example score}``: the score's distribution on the changed
    training pairs and the clean ones, each normalised, AUC in the title.  Returns the axes."""
    axes = _axes(axes, len(scores), 3.1, 2.6)
    for k, (ax, (name, values)) in enumerate(zip(axes, scores.items())):
        _truth_hist(ax, values, changed, clean, "score", bins, legend=(k == 0), counts=True)
        ax.set_title(name if aucs is None else f"{name}\nAUC {aucs[name]:.2f}", fontsize="small")
        ax.set_xlabel("")
    _legend(axes[0], title=None, fontsize="x-small")
    return axes


def auc_heatmap(table, ax=None, cmap="RdBu_r"):
    """ROC AUC of every score (rows) in every setting (columns) of a frame, annotated; 0.5 (no
    separation) is white, 1 (changed labels score higher) red, 0 (lower) blue."""
    ax = _ax(ax, figsize=(1.6 + 1.5 * table.shape[1], 0.9 + 0.38 * table.shape[0]))
    sns.heatmap(table.astype(float), ax=ax, cmap=cmap, vmin=0, vmax=1, center=0.5, annot=True,
                fmt=".2f", annot_kws={"fontsize": "small"}, cbar_kws={"label": "ROC AUC"})
    ax.set_title("ROC AUC against the changed labels", fontsize="medium")
    return ax


def reliability_curve(curve, ax=None):
    """Reliability of a score against the number of models t, from a frame with columns ``t``,
    ``reliability`` (split-half, Spearman-Brown), ``plug_in`` and ``bound`` (binomial)."""
    ax = _ax(ax)
    names = {"reliability": "split-half (Spearman–Brown)", "plug_in": "binomial, plug-in",
             "bound": "binomial lower bound"}
    data = curve.melt(id_vars=["t"], value_vars=list(names), var_name="estimate")
    data["estimate"] = data.estimate.map(names)
    sns.lineplot(data, x="t", y="value", hue="estimate", style="estimate", markers=True,
                 palette=[PALETTE[0], PALETTE[2], "0.4"], errorbar=None, ax=ax)
    ax.set(xlabel="models t", ylabel="reliability")
    ax.set_ylim(-0.02, 1.02)
    _legend(ax, title=None)
    return ax


def in_out(frames: dict, changed, clean, axes=None, jitter: float = 0.015, seed: int = 0):
    """Per panel (one per ``{title: feldman_scores frame}``): each training pair's accuracy over
    the models that did not see it (x: is it an outlier to them?) against the models that did
    (y: is it fitted?).  Memorized = top left; outliers = the whole left side."""
    axes = _axes(axes, len(frames), 3.3, 3.2, sharey=True)
    g = np.random.default_rng(seed)
    for k, (ax, (title, f)) in enumerate(zip(axes, frames.items())):
        data = pd.DataFrame({"acc_out": f["acc_out"], "acc_in": f["acc_in"],
                             "pairs": np.where(changed, "changed", "clean")})[changed | clean].dropna()
        data[["acc_out", "acc_in"]] += g.normal(0, jitter, (len(data), 2))
        sns.scatterplot(data, x="acc_out", y="acc_in", hue="pairs", hue_order=["clean", "changed"],
                        palette=TRUTH_COLORS, s=6, alpha=0.35, linewidth=0, ax=ax, legend=(k == 0))
        ax.plot([0, 1], [0, 1], color="0.6", lw=0.7)
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel("accuracy without it (models that did not see it)")
        ax.set_ylabel("accuracy with it" if k == 0 else "")
        ax.set(xlim=(-0.08, 1.08), ylim=(-0.08, 1.08))
    _legend(axes[0], title=None, markerscale=3)
    return axes


def leverage_panels(frames: dict, changed, clean, axes=None, bins=30):
    """For each ``{title: ridge_loo frame}``: leverage h of the changed and the clean training
    pairs (left), and the leave-one-out change h / (1 - h) x residual (right)."""
    axes = np.atleast_2d(axes if axes is not None else plt.subplots(
        len(frames), 2, figsize=(7, 2.4 * len(frames)), squeeze=False, layout="constrained")[1])
    for r, (row, (title, f)) in enumerate(zip(axes, frames.items())):
        for c, (ax, col, label) in enumerate(((row[0], "leverage", "leverage h"),
                                              (row[1], "loo_change", "LOO change at the given label"))):
            _truth_hist(ax, f[col], changed, clean, label, bins, legend=(r == 0 and c == 0))
            ax.set_title(title, fontsize="small")
    _legend(axes[0, 0], title=None, fontsize="x-small")
    return axes


# --- chapter 10: transformers ---
def embedding_spectra(spectra: dict, ax=None):
    """The share of the token embedding's power at each frequency (``grokbook.transformer.
    embedding_spectrum`` of one run), one line per entry of ``spectra`` (label -> (p//2 + 1,))."""
    ax = _ax(ax, figsize=(6, 3.2))
    for label, share in spectra.items():
        share = np.asarray(share)
        ax.plot(np.arange(len(share)), share, marker="o", ms=3, lw=1, label=label)
    ax.set(xlabel="frequency k (of the token, period p / k)", ylabel="share of the embedding's power",
           ylim=(0, None))
    ax.legend(fontsize="small")
    return ax


def weight_decay_diagram(runs, ax=None, title: str = ""):
    """A phase diagram over weight decay (rows, growing upwards) and xi (columns) from a runs
    table with columns wd, xi, phase (e.g. ``grokbook.transformer_diagram.load_diagram``)."""
    ax = phase_diagram(runs.rename(columns={"alpha": "_alpha"}).rename(columns={"wd": "alpha"}),
                       ax=ax, title=title)
    ax.set_ylabel("weight decay")
    return ax


# --- chapter 9: capacity ---
CAPACITY_PANELS = (("test_acc", "test accuracy"), ("corrupt_acc", "changed labels fitted"),
                   ("low_share", "share of neurons with IPR < 0.3"),
                   ("fit_step", "step: 90% of the changed labels fitted"))


def capacity_curves(table, axes=None):
    """Four panels against the width N (log axis), one line per weight decay (each seed a dot,
    the line their mean): test accuracy, the fraction of changed labels fitted, the share of
    low-IPR neurons, and the step at which 90% of the changed labels are fitted (runs that never
    fit them have no dot)."""
    data = table.assign(low_share=table.n_low / table.width,
                        weight_decay=[f"wd = {wd:g}" for wd in table.wd])
    if axes is None:
        _, axes = plt.subplots(1, len(CAPACITY_PANELS), figsize=(4 * len(CAPACITY_PANELS), 3.2),
                               constrained_layout=True)
    for ax, (column, label) in zip(axes, CAPACITY_PANELS):
        sns.scatterplot(data, x="width", y=column, hue="weight_decay", palette=PALETTE[:2],
                        alpha=0.5, s=16, ax=ax, legend=False)
        sns.lineplot(data, x="width", y=column, hue="weight_decay", palette=PALETTE[:2],
                     errorbar=None, ax=ax, legend=column == CAPACITY_PANELS[0][0])
        ax.set_xscale("log")
        widths = sorted(data.width.unique())
        ax.set_xticks(widths, [str(w) for w in widths], fontsize="small")
        ax.minorticks_off()
        ax.set_xlabel("width N")
        ax.set_ylabel(label)
    if axes[0].get_legend() is not None:
        axes[0].get_legend().set_title(None)
    return axes


# --- the introduction ---------------------------------------------------------------------
def hero(sweep, wd: float, alpha: float, xi: float, seed: int = 0, p: int | None = None):
    """The book's opening figure: the phase diagram of one weight-decay panel of ``sweep`` (a
    stored ``weight_decay_phase_diagram``) with the cell (``alpha``, ``xi``) outlined, beside that
    run's accuracies over training (log step axis) and the Full Inversion level
    1 - xi + xi/p as a dashed line.  Returns (figure, the run's row)."""
    run = sweep.cell(alpha, xi, wd=wd, seed=seed)
    runs = sweep.select(wd=wd)
    p = p if p is not None else sweep.config().p
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.2, 3.4), width_ratios=(1, 1.1),
                                      layout="constrained")
    phase_diagram(runs, ax=left, title=f"weight decay {wd:g}: every run's phase", mark=(alpha, xi))
    stage_panels(sweep.history, runs[runs.run == run.run], inverted=inversion_level(xi, p), axes=[right])
    right.set(ylim=(-0.02, 1.02), title=f"the outlined run: {run.phase}")
    right.title.set_fontsize("medium")
    right.legend(fontsize="x-small", loc="center right", frameon=True, framealpha=0.9)
    return fig, run
