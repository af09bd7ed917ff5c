"""Accuracies over training steps.

- ``curves``: any metrics of one run (chapters 2, 3).
- chapter 2, grokking on clean data: ``grokking`` (the delay shaded), ``compare_runs`` (one metric,
  one line per setting, also chapter 7), ``delay_bars``.
- chapter 4, coexistence: ``coexistence`` (memorized and generalized pairs side by side).
- chapter 7, two stages (and chapter 10's transformers): ``stage_panels``, one panel per setting.
"""
from __future__ import annotations

import numpy as np
import seaborn as sns

from ...analysis.history import first_step, grokking_steps
from .style import (BAND, COLORS, LABELS, PALETTE, get_ax, get_axes, log_steps, long_history, metric_palette,
                    tidy_legend)

__all__ = ["curves", "grokking", "compare_runs", "delay_bars", "coexistence", "stage_panels"]


def curves(history, metrics=("train_acc", "test_acc"), run: int = 0, ax=None, logx=False,
           logy=False):
    """Metrics of one run over training steps, from a history frame (columns run, step and the
    metrics; ``SweepResult.history``)."""
    ax = get_ax(ax)
    data = long_history(history[history.run == run], metrics)
    sns.lineplot(data, x="step", y="value", hue="metric", palette=metric_palette(metrics),
                 errorbar=None, ax=ax)
    ax.set_ylabel("")
    log_steps(ax, logx)
    if logy:
        ax.set_yscale("log")
    tidy_legend(ax, title=None)
    return ax


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
    ax = get_ax(ax)
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
    log_steps(ax, logx)
    ax.legend(fontsize="small")
    return ax


def delay_bars(history, runs, by: str = "wd", threshold: float = 0.99, ax=None):
    """The grokking delay of every run, one bar per value of ``by`` (several seeds: the mean,
    each seed a dot).

    A value whose runs never reach ``threshold`` test accuracy gets a hatched bar as tall as
    the training ran, marked "never": its delay is longer than we looked.
    """
    ax = get_ax(ax)
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


COEXISTENCE_METRICS = ("corrupt_acc", "corrupt_true_acc", "clean_acc", "test_acc")


def coexistence(history, run: int = 0, ax=None, logx: bool = True):
    """Accuracy on the corrupted pairs (given and true label), the clean training pairs and the
    test pairs over training: memorization and generalization, side by side."""
    ax = curves(history, COEXISTENCE_METRICS, run=run, ax=ax, logx=logx)
    ax.axhline(0.9, color="0.6", lw=0.5)
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    return ax


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
    axes = get_axes(axes, len(values), 3.4, 3.2, sharey=True)
    data = long_history(history[history.run.isin(runs.run)], metrics, runs[["run", by]])
    for k, (ax, v) in enumerate(zip(axes, values)):
        sns.lineplot(data[data[by] == v], x="step", y="value", hue="metric",
                     palette=metric_palette(metrics), errorbar=BAND, ax=ax, legend=(k == 0))
        if inverted is not None:
            ax.axhline(inverted, color="0.4", ls="--", lw=1, label="Full Inversion level")
        for s in marks:
            ax.axvline(s, color="0.6", ls=":", lw=1)
        phase = f" ({runs[runs[by] == v].phase.mode().iloc[0]})" if "phase" in runs else ""
        ax.set_title(f"{by} = {v:g}{phase}", fontsize="medium")
        ax.set_ylabel("accuracy" if k == 0 else "")
        log_steps(ax, logx)
    axes[0].legend(fontsize="x-small", loc="center left")
    return axes
