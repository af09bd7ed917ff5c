"""Every figure the book draws (matplotlib).

Each function draws on an ``ax`` (a new figure if none is given) and returns
the axes, so a chapter cell is one call plus, at most, a title.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .data import mask_categories
from .history import first_step, grokking_steps
from .phases import phase_grid
from .stats import binomial_pmf

# One colour per metric, used in every chapter.
COLORS = {
    "train_acc": "C0", "test_acc": "C1", "corrupt_acc": "C3", "corrupt_true_acc": "C2",
    "clean_acc": "C4", "loss": "C0", "test_loss": "C1", "mean_ipr": "C5", "weight_norm": "C7",
}
LABELS = {
    "train_acc": "train (labels as given)", "test_acc": "test",
    "corrupt_acc": "corrupted (given label)", "corrupt_true_acc": "corrupted (true label)",
    "clean_acc": "clean train", "loss": "train loss", "test_loss": "test loss",
    "mean_ipr": "mean IPR", "weight_norm": "weight norm",
}


def _ax(ax, figsize=(5, 3.5)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, constrained_layout=True)
    return ax


def curves(history, metrics=("train_acc", "test_acc"), run: int = 0, ax=None, logx=False,
           logy=False, label_prefix=""):
    """Metrics of one run over training steps, from a ``SweepResult.history`` frame."""
    ax = _ax(ax)
    h = history[history.run == run]
    for m in metrics:
        ax.plot(h.step, h[m], color=COLORS.get(m), label=label_prefix + LABELS.get(m, m))
    ax.set_xlabel("step")
    if logx:
        ax.set_xscale("symlog", linthresh=10)
    if logy:
        ax.set_yscale("log")
    ax.legend(frameon=False, fontsize="small")
    return ax


# --- chapter 1: the task and the corruption ---------------------------------------------
OP_SYMBOLS = {"add": "+", "subtract": "−", "multiply": "×", "divide": "÷"}

# The four kinds of pair a run sees, in the order the mask picture draws them.
MASK_KINDS = ("test", "train, clean", "corrupted, label unchanged", "corrupted, label changed")
MASK_COLORS = ("0.85", "C0", "C1", "C3")


def _table_image(values, p, ax, title, cmap="twilight"):
    """Draw a (p*p,) array as the p x p table (row m, column n); masked entries blank."""
    ax.imshow(values.reshape(p, p), cmap=cmap, vmin=0, vmax=p - 1, interpolation="nearest")
    ax.set_xlabel("n")
    ax.set_ylabel("m")
    ax.set_title(title, fontsize="medium")
    return ax


def task_table_image(p: int, op: str = "add", ax=None, cmap="twilight"):
    """The p x p table of op(m, n) mod p: row m, column n, colour = label.

    The colour map is cyclic, as Z_p is: label p - 1 sits next to label 0.
    Pairs without a label (n = 0 for ``divide``) are blank.
    """
    from .data import task_table

    truth, valid = task_table(p, op)
    values = np.ma.masked_array(truth.numpy(), mask=~valid.numpy())
    ax = _ax(ax, figsize=(3.5, 3.5))
    return _table_image(values, p, ax, f"(m {OP_SYMBOLS[op]} n) mod {p}", cmap)


def task_tables(p: int, ops=("add", "subtract", "multiply", "divide"), axes=None):
    """``task_table_image`` for several operations side by side; returns the axes."""
    if axes is None:
        _, axes = plt.subplots(1, len(ops), figsize=(3 * len(ops), 3.3), constrained_layout=True)
    axes = np.atleast_1d(axes)
    for op, ax in zip(ops, axes):
        task_table_image(p, op, ax=ax)
    return axes


def run_masks(splits, run: int = 0, ax=None):
    """One run's split and corruption on the p x p grid, each kind of pair in its colour."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    p = splits.p
    cat = mask_categories(splits, run)  # grokbook.data
    ax = _ax(ax, figsize=(4.2, 5))
    ax.imshow(np.ma.masked_less(cat, 0).reshape(p, p), cmap=ListedColormap(MASK_COLORS),
              vmin=-0.5, vmax=3.5, interpolation="nearest")
    handles = [Patch(color=c, label=f"{kind} ({(cat == i).sum()})")
               for i, (kind, c) in enumerate(zip(MASK_KINDS, MASK_COLORS))]
    ax.legend(handles=handles, frameon=False, fontsize="small", loc="upper center",
              bbox_to_anchor=(0.5, -0.14), ncol=1)
    ax.set_xlabel("n")
    ax.set_ylabel("m")
    ax.set_title("which pairs are what", fontsize="medium")
    return ax


def given_labels(splits, run: int = 0, ax=None, cmap="twilight"):
    """The training labels as given to the network (test pairs blank): corruption is the noise."""
    p = splits.p
    values = np.ma.masked_array(splits.labels[run].numpy(), mask=~splits.train[run].numpy())
    ax = _ax(ax, figsize=(3.5, 3.5))
    return _table_image(values, p, ax, "training labels as given", cmap)


def chance_correct_histogram(counts, n_corrupted: int, p: int, ax=None):
    """How many corrupted labels equal the truth, over many seeds, against Binomial(n, 1/p)."""
    counts = np.asarray(counts)
    ax = _ax(ax)
    k = np.arange(max(0, counts.min() - 3), counts.max() + 4)
    ax.hist(counts, bins=np.append(k, k[-1] + 1) - 0.5, density=True, color="C1", alpha=0.6,
            label=f"{len(counts)} seeds")
    ax.plot(k, binomial_pmf(n_corrupted, 1 / p, k), "k.-", lw=1,
            label=f"Binomial({n_corrupted}, 1/{p})")
    mean, sd = n_corrupted / p, np.sqrt(n_corrupted * (1 / p) * (1 - 1 / p))
    ax.axvline(mean, color="k", ls=":", lw=1)
    ax.axvspan(mean - sd, mean + sd, color="0.9", zorder=0, label="mean ± 1 sd")
    ax.set_xlabel("corrupted labels that are correct by chance")
    ax.set_ylabel("fraction of seeds")
    ax.legend(frameon=False, fontsize="small")
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
    """One metric over training for every run of ``runs`` (e.g. ``result.runs``), labelled by ``by``.

    ``reference`` draws a dashed horizontal line (a baseline, e.g. the IPR of random weights).
    """
    ax = _ax(ax)
    colors = plt.get_cmap(cmap)(np.linspace(0, 0.85, len(runs)))
    for color, (_, row) in zip(colors, runs.iterrows()):
        h = history[history.run == row["run"]]
        ax.plot(h.step, h[metric], color=color, label=f"{by} = {row[by]:g}")
    if reference is not None:
        ax.axhline(reference, color="0.4", ls="--", lw=1, label=reference_label)
    ax.set_xlabel("step")
    ax.set_ylabel({"train_acc": "train accuracy", "test_acc": "test accuracy"}.get(
        metric, LABELS.get(metric, metric)))
    if logx:
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlim(left=0)
    ax.legend(frameon=False, fontsize="small")
    return ax


def delay_bars(history, runs, by: str = "wd", threshold: float = 0.99, ax=None):
    """The grokking delay of every run, one bar per value of ``by``.

    A run that never reaches ``threshold`` test accuracy gets a hatched bar as tall as
    the training ran, marked "never": its delay is longer than we looked.
    """
    ax = _ax(ax)
    table = grokking_steps(history, threshold)
    last = float(history.step.max())
    labels = [f"{v:g}" for v in runs[by]]
    for i, run in enumerate(runs["run"]):
        delay = table.loc[run, "delay"]
        if np.isfinite(delay):
            ax.bar(i, delay, color="C1")
            ax.text(i, delay, f"{delay:.0f}", ha="center", va="bottom", fontsize="small")
        else:
            ax.bar(i, last, color="none", edgecolor="0.5", hatch="//")
            ax.text(i, last, f"never\n(in {last:.0f} steps)", ha="center", va="bottom",
                    fontsize="small")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_xlabel(by)
    ax.set_ylabel("grokking delay (steps)")
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

    from .fourier import neuron_ipr, neuron_weights_as_functions

    vectors = [v.detach().double() for v in neuron_weights_as_functions(model, run, neuron)]
    p = len(vectors[0])
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 2.8), constrained_layout=True)
    residues, freqs = np.arange(p), np.arange(p // 2 + 1)
    for i, (vec, name) in enumerate(zip(vectors, VECTOR_NAMES)):
        axes[0].plot(residues, vec.numpy(), ".-", lw=0.8, ms=3, color=f"C{i}", label=name)
        axes[1].bar(freqs + (i - 1) * 0.27, torch.fft.rfft(vec).abs().numpy(), width=0.27,
                    color=f"C{i}", label=name)
    with torch.no_grad():
        ipr = neuron_ipr(*(t[None, None] for t in vectors[:2]), vectors[2][None, :, None]).item()
    axes[0].set_xlabel("residue")
    axes[0].set_ylabel("weight")
    axes[0].set_title(f"{title} neuron {neuron}: weights (IPR {ipr:.2f})".strip(), fontsize="medium")
    axes[1].set_xlabel("frequency s")
    axes[1].set_ylabel("|rfft|")
    axes[1].set_title("their DFT magnitudes", fontsize="medium")
    axes[1].legend(frameon=False, fontsize="small")
    return axes


def ipr_comparison(iprs: dict, p: int | None = None, ax=None, bins=np.linspace(0, 1, 51)):
    """Histograms of per-neuron IPR, one per entry of ``{name: values}``, on a log count axis.

    Values are clipped into [0, 1] (an exact cosine can round to 1 + 1e-7); with ``p`` the
    Gaussian level 2 / (p//2 + 1) is marked.
    """
    ax = _ax(ax, figsize=(6, 3.2))
    for i, (name, values) in enumerate(iprs.items()):
        values = np.clip(np.asarray(values, dtype=float).ravel(), 0, 1)
        ax.hist(values, bins=bins, alpha=0.6, color=f"C{i}", label=name)
    if p is not None:
        ax.axvline(2 / (p // 2 + 1), color="k", ls=":", lw=1, label="Gaussian ≈ 2/(p//2+1)")
    ax.set_yscale("log")
    ax.set_xlabel("IPR")
    ax.set_ylabel("neurons")
    ax.legend(frameon=False, fontsize="small")
    return ax


def frequency_counts(table, p: int, ax=None):
    """How many neurons use each frequency (U's dominant one), from ``neuron_fourier``."""
    ax = _ax(ax, figsize=(6, 2.8))
    freqs = np.arange(1, p // 2 + 1)
    freq = table.freq_u.dropna().to_numpy().astype(int)  # NaN: neurons with no frequency
    counts = np.bincount(freq, minlength=p // 2 + 1)[1:]
    ax.bar(freqs, counts, color="C5")
    ax.set_xlabel("dominant frequency s")
    ax.set_ylabel("neurons")
    return ax


def phase_mismatch(table, ax=None, bins=np.linspace(-np.pi, np.pi, 49)):
    """Histogram of phi_W - phi_U - phi_V per neuron, from ``neuron_fourier``."""
    ax = _ax(ax, figsize=(5, 2.8))
    ax.hist(table.phase_mismatch.dropna(), bins=bins, color="C2")
    ax.set_xlabel(r"$\varphi_W - \varphi_U - \varphi_V$ (radians)")
    ax.set_ylabel("neurons")
    ax.set_xticks([-np.pi, -np.pi / 2, 0, np.pi / 2, np.pi], ["−π", "−π/2", "0", "π/2", "π"])
    return ax


def analytic_accuracy_curve(widths, accuracies, p: int, ax=None):
    """Accuracy of the analytic solution against its width N; ``accuracies`` (len(widths), seeds)."""
    acc = np.asarray(accuracies, dtype=float)
    widths = np.asarray(widths)
    ax = _ax(ax)
    for j in range(acc.shape[1]):
        ax.plot(widths, acc[:, j], "o", color="C0", alpha=0.4, ms=4,
                label="one draw of frequencies and phases" if j == 0 else None)
    ax.plot(widths, acc.mean(1), "-", color="C0", label="mean")
    ax.axhline(1.0, color="0.6", lw=0.5)
    ax.set_xscale("log")
    ax.set_xlabel("width N")
    ax.set_ylabel(f"accuracy on all {p}² pairs")
    ax.legend(frameon=False, fontsize="small")
    return ax



# --- chapters 4 and 5: coexistence and pruning ---
COEXISTENCE_METRICS = ("corrupt_acc", "corrupt_true_acc", "clean_acc", "test_acc")
PRUNE_ORDERS = {"low": ("lowest IPR first", "C3"), "high": ("highest IPR first", "C2"),
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
    """Histogram of one network's neuron IPRs: below ``low`` (memorizing, red), above ``high``
    (generalizing, green), in between (grey); each group's count in the legend."""
    values = np.clip(np.asarray(ipr, dtype=float).ravel(), 0, 1)
    ax = _ax(ax, figsize=(6, 3.2))
    groups = ((values < low, f"IPR < {low:g} (memorizing)", "C3"),
              ((values >= low) & (values <= high), "in between", "0.6"),
              (values > high, f"IPR > {high:g} (generalizing)", "C2"))
    for mask, name, color in groups:
        ax.hist(values[mask], bins=bins, color=color,
                label=f"{name}: {mask.sum()} ({mask.mean():.0%})")
    for x in (low, high):
        ax.axvline(x, color="k", ls=":", lw=1)
    ax.set_xlabel("IPR")
    ax.set_ylabel("neurons")
    ax.legend(frameon=False, fontsize="small")
    return ax


def _order_mean(curves, order, metric):
    """Fractions, mean, min and max of ``metric`` over the curves of one order (several seeds)."""
    c = curves[curves.order == order].groupby("fraction")[metric]
    return c.mean().index.to_numpy(), c.mean().to_numpy(), c.min().to_numpy(), c.max().to_numpy()


def pruning(curves, metrics=("test_acc", "corrupt_acc", "corrupt_true_acc", "clean_acc"),
            orders=("low", "high", "random"), axes=None):
    """Accuracies against the fraction of neurons pruned, one panel per order, from
    ``grokbook.prune_curves``.  An order with several curves (e.g. random order with a ``seed``
    column) is drawn as its mean with a min-max band."""
    if axes is None:
        _, axes = plt.subplots(1, len(orders), figsize=(4 * len(orders), 3.2), sharey=True,
                               constrained_layout=True)
    axes = np.atleast_1d(axes)
    for order, ax in zip(orders, axes):
        for m in metrics:
            x, mean, lo, hi = _order_mean(curves, order, m)
            ax.plot(x, mean, color=COLORS.get(m), label=LABELS.get(m, m))
            if (hi > lo).any():
                ax.fill_between(x, lo, hi, color=COLORS.get(m), alpha=0.2, lw=0)
        ax.set_title(PRUNE_ORDERS.get(order, (order,))[0], fontsize="medium")
        ax.set_xlabel("fraction of neurons pruned")
        ax.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("accuracy")
    axes[0].legend(frameon=False, fontsize="small")
    return axes


def pruning_by_order(curves, metric: str = "corrupt_acc", orders=("low", "high", "random"),
                     ax=None, mark: float | None = None, mark_label: str | None = None):
    """One metric against the fraction pruned, one line per order (random: mean and min-max band);
    ``mark`` draws a vertical line (e.g. the fraction of low-IPR neurons)."""
    ax = _ax(ax)
    for order in orders:
        name, color = PRUNE_ORDERS.get(order, (order, None))
        x, mean, lo, hi = _order_mean(curves, order, metric)
        ax.plot(x, mean, color=color, label=name)
        if (hi > lo).any():
            ax.fill_between(x, lo, hi, color=color, alpha=0.2, lw=0)
    if mark is not None:
        ax.axvline(mark, color="k", ls=":", lw=1, label=mark_label)
    ax.set_xlabel("fraction of neurons pruned")
    ax.set_ylabel(LABELS.get(metric, metric).replace("corrupted", "accuracy on corrupted", 1)
                  if metric.startswith("corrupt") else f"{LABELS.get(metric, metric)} accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(frameon=False, fontsize="small")
    return ax


# --- chapter 6: regularization and phase diagrams ---
PHASE_COLORS = {"Coexistence": "#4c72b0", "Partial Inversion": "#8fd18a",
                "Full Inversion": "#2a8a3e", "Memorization": "#c44e52",
                "Forgetting / Confusion": "#bbbbbb", "Diverged": "#000000"}


def phase_diagram(runs, ax=None, title: str = "", mark=None, legend: bool = True):
    """One phase diagram: alpha (rows) against xi (columns), each cell coloured by its phase.
    ``mark=(alpha, xi)`` outlines one cell (the explorer's selection)."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch, Rectangle

    from .phases import OUTCOMES, PHASES
    ax = _ax(ax, figsize=(3.6, 3.2))
    alphas, xis, table = phase_grid(runs)
    codes = np.vectorize(OUTCOMES.index)(table)  # the five phases, and Diverged (black) if any
    ax.imshow(codes, origin="lower", aspect="auto", vmin=-0.5, vmax=len(OUTCOMES) - 0.5,
              cmap=ListedColormap([PHASE_COLORS[p] for p in OUTCOMES]), interpolation="nearest")
    shown = PHASES + tuple(o for o in OUTCOMES[len(PHASES):] if (table == o).any())
    step = max(1, len(xis) // 5)
    ax.set_xticks(range(0, len(xis), step), [f"{x:.2g}" for x in xis[::step]])
    ax.set_yticks(range(0, len(alphas), step), [f"{a:.2g}" for a in alphas[::step]])
    ax.set_xlabel(r"corruption $\xi$")
    ax.set_ylabel(r"training fraction $\alpha$")
    ax.set_title(title, fontsize="medium")
    if mark is not None:
        i, j = list(alphas).index(mark[0]), list(xis).index(mark[1])
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="k", lw=2))
    if legend:
        ax.legend(handles=[Patch(color=PHASE_COLORS[p], label=p) for p in shown],
                  frameon=False, fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1))
    return ax


def phase_diagrams(runs, by: str, panels=None, axes=None, titles=None):
    """One phase diagram per value of column ``by`` (e.g. wd, dropout, part), side by side,
    with one shared legend.  ``panels`` picks and orders the values; ``titles`` labels them."""
    panels = list(panels if panels is not None else sorted(runs[by].unique()))
    if axes is None:
        _, axes = plt.subplots(1, len(panels), figsize=(2.9 * len(panels) + 1.6, 2.9),
                               sharey=True, constrained_layout=True)
    axes = np.atleast_1d(axes)
    for k, (ax, v) in enumerate(zip(axes, panels)):
        title = titles[k] if titles is not None else f"{by} = {v:g}"
        phase_diagram(runs[runs[by] == v], ax=ax, title=title, legend=(k == len(panels) - 1))
        if k:
            ax.set_ylabel("")
    return axes


def gamma_vs_ipr(ipr, gamma, ax=None, title: str = ""):
    """Each neuron's BatchNorm |gamma| against its IPR, with the Spearman rank correlation."""
    from .stats import spearman
    ipr, gamma = np.asarray(ipr, float).ravel(), np.asarray(gamma, float).ravel()
    ax = _ax(ax, figsize=(4.2, 3.2))
    ax.scatter(ipr, gamma, s=6, alpha=0.5, color="C5", lw=0)
    ax.set_xlabel("IPR")
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
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(13, 3.3), constrained_layout=True,
                               gridspec_kw={"width_ratios": [1.0, 1.25, 1.0]})
    phase_diagram(data.panels()[panel], ax=axes[0], title=panel.label, mark=(row.alpha, row.xi),
                  legend=False)
    curves(data.history, STAGE_METRICS, run=int(row.run), ax=axes[1], logx=True)
    axes[1].set_ylim(-0.02, 1.02)
    axes[1].set_title(f"α = {row.alpha:g}, ξ = {row.xi:g}: {row.phase}", fontsize="medium")
    ipr_split(data.ipr[int(row.run)], ax=axes[2])
    return axes


def pruning_view(ipr, curves, order: str, fraction: float, seed: int = 0, axes=None):
    """The pruning explorer's view: the IPR histogram with the neurons pruned at ``fraction`` in
    ``order`` shaded, and the accuracies against the fraction pruned with ``fraction`` marked."""
    from .prune import prune_order
    import torch
    ipr = np.asarray(ipr, dtype=float)
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.2), constrained_layout=True)
    gone = prune_order(torch.as_tensor(ipr), order, seed)[: round(fraction * len(ipr))].numpy()
    kept = np.ones(len(ipr), bool)
    kept[gone] = False
    bins = np.linspace(0, 1, 41)
    axes[0].hist([np.clip(ipr[kept], 0, 1), np.clip(ipr[~kept], 0, 1)], bins=bins, stacked=True,
                 color=["C5", "0.8"], label=[f"kept: {kept.sum()}", f"pruned: {(~kept).sum()}"])
    axes[0].set_xlabel("IPR")
    axes[0].set_ylabel("neurons")
    axes[0].legend(frameon=False, fontsize="small")
    pruning(curves, orders=(order,), axes=np.array([axes[1]]))
    axes[1].axvline(fraction, color="k", ls=":", lw=1)
    return axes


# --- chapter 7: two stages ---
STAGE_METRICS = ("train_acc", "test_acc", "corrupt_acc", "corrupt_true_acc")


def stage_panels(history, runs, metrics=STAGE_METRICS, by: str = "wd", inverted=None,
                 marks=(), axes=None, logx: bool = True):
    """One panel per run of ``runs`` (e.g. ``result.runs``): ``metrics`` over training.

    ``inverted`` draws the Full Inversion train accuracy (``grokbook.history.inversion_level``)
    as a dashed line; ``marks`` are steps drawn as dotted vertical lines in every panel
    (e.g. the steps of snapshots).  Returns the axes.
    """
    if axes is None:
        _, axes = plt.subplots(1, len(runs), figsize=(3.4 * len(runs), 3.2), sharey=True,
                               constrained_layout=True)
    axes = np.atleast_1d(axes)
    for ax, (_, row) in zip(axes, runs.iterrows()):
        h = history[history.run == row["run"]]
        for m in metrics:
            ax.plot(h.step, h[m], color=COLORS.get(m), label=LABELS.get(m, m))
        if inverted is not None:
            ax.axhline(inverted, color="0.4", ls="--", lw=1, label="Full Inversion level")
        for s in marks:
            ax.axvline(s, color="0.6", ls=":", lw=1)
        ax.set_title(f"{by} = {row[by]:g}" + (f" ({row['phase']})" if "phase" in row else ""),
                     fontsize="medium")
        ax.set_xlabel("step")
        if logx:
            ax.set_xscale("symlog", linthresh=10)
            ax.set_xlim(left=0)
    axes[0].set_ylabel("accuracy")
    axes[0].legend(frameon=False, fontsize="x-small", loc="center left")
    return axes


def ipr_snapshots(iprs: dict, axes=None, bins=np.linspace(0, 1, 26), color="C5"):
    """Histograms of per-neuron IPR side by side, one panel per ``{title: values}`` entry
    (e.g. one per snapshot step), with each panel's mean marked.  Returns the axes."""
    if axes is None:
        _, axes = plt.subplots(1, len(iprs), figsize=(3.2 * len(iprs), 2.8), sharey=True,
                               constrained_layout=True)
    axes = np.atleast_1d(axes)
    for ax, (title, values) in zip(axes, iprs.items()):
        values = np.asarray(values, dtype=float).ravel()
        ax.hist(values, bins=bins, color=color)
        ax.axvline(values.mean(), color="0.3", ls="--", lw=1, label=f"mean {values.mean():.2f}")
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel("IPR")
        ax.legend(frameon=False, fontsize="small")
    axes[0].set_ylabel("neurons")
    return axes


# --- chapter 8: what counts as memorization ---
TRUTH_COLORS = {"changed": "C3", "clean": "C0"}


def _split(values, changed, clean):
    values = np.asarray(values, dtype=float)
    return {"changed": values[np.asarray(changed, bool)], "clean": values[np.asarray(clean, bool)]}


def score_histograms(scores: dict, changed, clean, aucs: dict | None = None, axes=None, bins=30):
    """One panel per ``{name: per-example score}``: the score's distribution on the changed
    training pairs (red) and the clean ones (blue), each normalised, AUC in the title."""
    if axes is None:
        _, axes = plt.subplots(1, len(scores), figsize=(3.1 * len(scores), 2.6),
                               constrained_layout=True)
    axes = np.atleast_1d(axes)
    for ax, (name, values) in zip(axes, scores.items()):
        groups = _split(values, changed, clean)
        finite = np.concatenate([v[~np.isnan(v)] for v in groups.values()])
        edges = np.histogram_bin_edges(finite, bins=bins) if finite.size else bins
        for g, v in groups.items():
            v = v[~np.isnan(v)]
            if v.size:
                ax.hist(v, bins=edges, color=TRUTH_COLORS[g], alpha=0.55, density=True,
                        label=f"{g} ({v.size})")
        title = name if aucs is None else f"{name}\nAUC {aucs[name]:.2f}"
        ax.set_title(title, fontsize="small")
        ax.set_yticks([])
    axes[0].legend(frameon=False, fontsize="x-small")
    return axes


def auc_heatmap(table, ax=None, cmap="RdBu_r"):
    """ROC AUC of every score (rows) in every setting (columns) of a frame, annotated; 0.5 (no
    separation) is white, 1 (changed labels score higher) red, 0 (lower) blue."""
    ax = _ax(ax, figsize=(1.6 + 1.5 * table.shape[1], 0.9 + 0.38 * table.shape[0]))
    values = table.to_numpy(dtype=float)
    ax.imshow(values, cmap=cmap, vmin=0, vmax=1, aspect="auto")
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, "–" if np.isnan(v) else f"{v:.2f}", ha="center", va="center",
                fontsize="small", color="k" if np.isnan(v) or 0.2 < v < 0.8 else "w")
    ax.set_xticks(range(table.shape[1]), table.columns, fontsize="small")
    ax.set_yticks(range(table.shape[0]), table.index, fontsize="small")
    ax.set_title("ROC AUC against the changed labels", fontsize="medium")
    return ax


def reliability_curve(curve, ax=None):
    """Reliability of a score against the number of models t, from a frame with columns ``t``,
    ``reliability`` (split-half, Spearman-Brown), ``plug_in`` and ``bound`` (binomial)."""
    ax = _ax(ax)
    ax.plot(curve.t, curve.reliability, "o-", color="C0", label="split-half (Spearman–Brown)")
    ax.plot(curve.t, curve.plug_in, "s--", color="C2", label="binomial, plug-in")
    ax.plot(curve.t, curve.bound, "v:", color="0.4", label="binomial lower bound")
    ax.set_xlabel("models t")
    ax.set_ylabel("reliability")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(frameon=False, fontsize="small")
    return ax


def in_out(frames: dict, changed, clean, axes=None, jitter: float = 0.015, seed: int = 0):
    """Per panel (one per ``{title: feldman_scores frame}``): each training pair's accuracy over
    the models that did not see it (x: is it an outlier to them?) against the models that did
    (y: is it fitted?).  Memorized = top left; outliers = the whole left side."""
    if axes is None:
        _, axes = plt.subplots(1, len(frames), figsize=(3.3 * len(frames), 3.2), sharey=True,
                               constrained_layout=True)
    axes = np.atleast_1d(axes)
    g = np.random.default_rng(seed)
    for ax, (title, f) in zip(axes, frames.items()):
        for name, mask in (("clean", clean), ("changed", changed)):
            x, y = (np.asarray(f[c], dtype=float)[np.asarray(mask, bool)] for c in ("acc_out", "acc_in"))
            ax.scatter(x + g.normal(0, jitter, x.size), y + g.normal(0, jitter, y.size), s=4,
                       alpha=0.35, color=TRUTH_COLORS[name], label=name, lw=0)
        ax.plot([0, 1], [0, 1], color="0.6", lw=0.7)
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel("accuracy without it (models that did not see it)")
        ax.set_xlim(-0.08, 1.08)
        ax.set_ylim(-0.08, 1.08)
    axes[0].set_ylabel("accuracy with it")
    axes[0].legend(frameon=False, fontsize="small", markerscale=3)
    return axes


def leverage_panels(frames: dict, changed, clean, axes=None, bins=30):
    """For each ``{title: ridge_loo frame}``: leverage h of the changed and the clean training
    pairs (left), and the leave-one-out change h / (1 - h) x residual (right)."""
    if axes is None:
        _, axes = plt.subplots(len(frames), 2, figsize=(7, 2.4 * len(frames)), squeeze=False,
                               constrained_layout=True)
    for row, (title, f) in zip(np.atleast_2d(axes), frames.items()):
        for ax, col, label in ((row[0], "leverage", "leverage h"),
                               (row[1], "loo_change", "LOO change at the given label")):
            groups = _split(f[col], changed, clean)
            edges = np.histogram_bin_edges(np.concatenate(list(groups.values())), bins=bins)
            for g, v in groups.items():
                ax.hist(v, bins=edges, color=TRUTH_COLORS[g], alpha=0.55, density=True, label=g)
            ax.set_xlabel(label)
            ax.set_yticks([])
            ax.set_title(title, fontsize="small")
    np.atleast_2d(axes)[0, 0].legend(frameon=False, fontsize="x-small")
    return axes
