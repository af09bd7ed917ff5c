"""Which training pairs are memorized, and how many a network can hold.

- chapter 8, what counts as memorization: ``score_histograms`` and ``auc_heatmap`` (scores on the
  changed against the clean pairs), ``reliability_curve``, ``in_out``, ``leverage_panels``.
- chapter 9, capacity and forgetting: ``capacity_curves`` (against the width N).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ...analysis.prune import LOW_IPR
from .style import PALETTE, TRUTH_COLORS, get_ax, get_axes, tidy_legend

__all__ = ["score_histograms", "auc_heatmap", "reliability_curve", "in_out", "leverage_panels",
           "capacity_curves"]


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
    axes = get_axes(axes, len(scores), 3.1, 2.6)
    for k, (ax, (name, values)) in enumerate(zip(axes, scores.items())):
        _truth_hist(ax, values, changed, clean, "score", bins, legend=(k == 0), counts=True)
        ax.set_title(name if aucs is None else f"{name}\nAUC {aucs[name]:.2f}", fontsize="small")
        ax.set_xlabel("")
    tidy_legend(axes[0], title=None, fontsize="x-small")
    return axes


def auc_heatmap(table, ax=None, cmap="RdBu_r"):
    """ROC AUC of every score (rows) in every setting (columns) of a frame, annotated; 0.5 (no
    separation) is white, 1 (changed labels score higher) red, 0 (lower) blue."""
    ax = get_ax(ax, figsize=(1.6 + 1.5 * table.shape[1], 0.9 + 0.38 * table.shape[0]))
    sns.heatmap(table.astype(float), ax=ax, cmap=cmap, vmin=0, vmax=1, center=0.5, annot=True,
                fmt=".2f", annot_kws={"fontsize": "small"}, cbar_kws={"label": "ROC AUC"})
    ax.set_title("ROC AUC against the changed labels", fontsize="medium")
    return ax


def reliability_curve(curve, ax=None):
    """Reliability of a score against the number of models t, from a frame with columns ``t``,
    ``reliability`` (split-half, Spearman-Brown), ``plug_in`` and ``bound`` (binomial)."""
    ax = get_ax(ax)
    names = {"reliability": "split-half (Spearman–Brown)", "plug_in": "binomial, plug-in",
             "bound": "binomial lower bound"}
    data = curve.melt(id_vars=["t"], value_vars=list(names), var_name="estimate")
    data["estimate"] = data.estimate.map(names)
    sns.lineplot(data, x="t", y="value", hue="estimate", style="estimate", markers=True,
                 palette=[PALETTE[0], PALETTE[2], "0.4"], errorbar=None, ax=ax)
    ax.set(xlabel="models t", ylabel="reliability")
    ax.set_ylim(-0.02, 1.02)
    tidy_legend(ax, title=None)
    return ax


def in_out(frames: dict, changed, clean, axes=None, jitter: float = 0.015, seed: int = 0):
    """Per panel (one per ``{title: feldman_scores frame}``): each training pair's accuracy over
    the models that did not see it (x: is it an outlier to them?) against the models that did
    (y: is it fitted?).  Memorized = top left; outliers = the whole left side."""
    axes = get_axes(axes, len(frames), 3.3, 3.2, sharey=True)
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
    tidy_legend(axes[0], title=None, markerscale=3)
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
    tidy_legend(axes[0, 0], title=None, fontsize="x-small")
    return axes


CAPACITY_PANELS = (("test_acc", "test accuracy"), ("corrupt_acc", "changed labels fitted"),
                   ("low_share", f"share of neurons with IPR < {LOW_IPR}"),
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
