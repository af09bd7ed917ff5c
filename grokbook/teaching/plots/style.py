"""The look every figure shares: the book's seaborn theme (applied on import), one colour per metric
and per phase, and the helpers that give a figure its axes, its log step axis and its legend.

Figures are drawn in seaborn's idiom over tidy tables (long-form DataFrames whose columns each
docstring names); the task tables and a neuron's weights stay plain matplotlib.  Each figure draws
on ``ax`` / ``axes`` (new ones if none are given) and returns them; several runs of one setting
(seeds) are drawn as their mean with a min-max band (``BAND``).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ...analysis.history import long_form

__all__ = ["set_theme", "long_history"]


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


def get_ax(ax, figsize=(5, 3.5)):
    """``ax``, or a new one of ``figsize`` inches."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, constrained_layout=True)
    return ax


def get_axes(axes, n: int, width: float, height: float, sharey: bool = False, squeeze: bool = True):
    """``axes`` as an array, or a new row of n panels of ``width`` x ``height`` inches each."""
    if axes is None:
        _, axes = plt.subplots(1, n, figsize=(width * n, height), sharey=sharey,
                               constrained_layout=True, squeeze=False)
        return axes[0] if squeeze else axes
    return np.atleast_1d(axes)


def log_steps(ax, logx: bool):
    """With ``logx``, a symlog step axis (linear below 10 steps) starting at step 0."""
    if logx:
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlim(left=0)


def long_history(history, metrics, runs=None) -> pd.DataFrame:
    """``grokbook.history.long_form`` with each metric named by its label (the legend's text)."""
    out = long_form(history, metrics, runs)
    out["metric"] = out.metric.map(lambda m: LABELS.get(m, m))
    return out


def metric_palette(metrics):
    """{legend label: colour} of ``metrics``, each in its ``COLORS`` colour."""
    return {LABELS.get(m, m): COLORS.get(m, PALETTE[i % len(PALETTE)]) for i, m in enumerate(metrics)}


def tidy_legend(ax, **kw):
    """Move ``ax``'s legend (if it has one) to ``loc`` with ``title``, in small type."""
    if ax.get_legend() is not None:
        sns.move_legend(ax, kw.pop("loc", "best"), title=kw.pop("title", None),
                        fontsize=kw.pop("fontsize", "small"), **kw)
