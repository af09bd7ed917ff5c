"""Phase diagrams: alpha against xi, each cell coloured by its phase.

- chapter 6, regularization: ``phase_diagram``, ``phase_diagrams`` (one per regularizer value),
  ``phase_diagrams_beside`` (two networks' diagrams, one row each) and ``sweep_cell`` (the phase
  explorer's view of one cell).
- chapter 10, transformers: ``weight_decay_diagram`` (weight decay against xi).
- the introduction: ``hero``, the book's opening figure.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import ListedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from ...analysis.history import inversion_level
from ...core.phases import OUTCOMES, PHASES, majority_grid
from .neurons import ipr_split
from .style import PHASE_COLORS, get_ax
from .training import STAGE_METRICS, curves, stage_panels

__all__ = ["phase_diagram", "phase_diagrams", "phase_diagrams_beside", "sweep_cell",
           "weight_decay_diagram", "hero"]


def phase_diagram(runs, ax=None, title: str = "", mark=None, legend: bool = True):
    """One phase diagram from a runs table (columns alpha, xi, phase; several runs per cell
    allowed): alpha (rows, growing upwards) against xi (columns), each cell coloured by its
    majority phase; cells whose seeds disagree are marked with a dot.  ``mark=(alpha, xi)``
    outlines one cell (the explorer's selection)."""
    ax = get_ax(ax, figsize=(3.6, 3.2))
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


def phase_diagrams_beside(rows: dict, by: str, axes=None):
    """Several sweeps' phase diagrams, one row per sweep: ``rows`` maps a row's label (e.g. the
    network's sizes) to its runs table; the columns are the values of column ``by`` in sorted
    order, paired by position (the rows must have as many values each).  One legend for all.
    Returns the axes, an array of shape (rows, columns)."""
    if not rows:
        raise ValueError("rows must hold at least one runs table")
    values = {label: sorted(runs[by].unique()) for label, runs in rows.items()}
    ncol = {len(v) for v in values.values()}
    if len(ncol) != 1:
        raise ValueError(f"every row must have as many values of {by!r}: {values}")
    ncol = ncol.pop()
    if axes is None:
        axes = plt.subplots(len(rows), ncol, figsize=(2.35 * ncol + 1.6, 2.6 * len(rows)),
                            layout="constrained", squeeze=False)[1]
    axes = np.asarray(axes).reshape(len(rows), ncol)
    disagree = False
    for r, (label, runs) in enumerate(rows.items()):
        for c, v in enumerate(values[label]):
            ax = phase_diagram(runs[runs[by] == v], ax=axes[r, c], title=f"{label}\n{by} = {v:g}",
                               legend=False)
            if c:
                ax.set_ylabel("")
            if r < len(rows) - 1:
                ax.set_xlabel("")
        disagree |= bool(runs.groupby([by, "alpha", "xi"]).phase.nunique().gt(1).any())
    every = pd.concat(list(rows.values()))
    _phase_legend(axes[0, -1], every.phase, disagree)
    return axes


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


def weight_decay_diagram(runs, ax=None, title: str = ""):
    """A phase diagram over weight decay (rows, growing upwards) and xi (columns) from a runs
    table with columns wd, xi, phase (e.g. ``grokbook.transformer_diagram.load_diagram``)."""
    ax = phase_diagram(runs.rename(columns={"alpha": "_alpha"}).rename(columns={"wd": "alpha"}),
                       ax=ax, title=title)
    ax.set_ylabel("weight decay")
    return ax


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
