"""Chapter 5, pruning (and chapter 10's transformers): accuracies against the fraction of neurons
pruned, one panel per order (``pruning``) or one line per order (``pruning_by_order``), and the
pruning explorer's view (``pruning_view``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from .style import BAND, LABELS, PALETTE, get_ax, get_axes, metric_palette, tidy_legend

__all__ = ["pruning", "pruning_by_order", "pruning_view"]


PRUNE_ORDERS = {"low": ("lowest IPR first", PALETTE[3]), "high": ("highest IPR first", PALETTE[2]),
                "random": ("random order", "0.35")}


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
    axes = get_axes(axes, len(orders), 4, 3.2, sharey=True)
    data = _prune_frame(curves, metrics)
    for k, (order, ax) in enumerate(zip(orders, axes)):
        sns.lineplot(data[data.order == order], x="fraction", y="value", hue="metric",
                     palette=metric_palette(metrics), errorbar=BAND, ax=ax, legend=(k == 0))
        ax.set_title(PRUNE_ORDERS.get(order, (order,))[0], fontsize="medium")
        ax.set(xlabel="fraction of neurons pruned", ylabel="accuracy" if k == 0 else "",
               ylim=(-0.02, 1.02))
    tidy_legend(axes[0], title=None)
    return axes


def pruning_by_order(curves, metric: str = "corrupt_acc", orders=("low", "high", "random"),
                     ax=None, mark: float | None = None, mark_label: str | None = None):
    """One metric against the fraction pruned, one line per order (random: mean and min-max band);
    ``mark`` draws a vertical line (e.g. the fraction of low-IPR neurons)."""
    ax = get_ax(ax)
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


def pruning_view(ipr, curves, order: str, fraction: float, seed: int = 0, axes=None):
    """The pruning explorer's view: the IPR histogram with the neurons pruned at ``fraction`` in
    ``order`` stacked apart, and the accuracies against the fraction pruned with ``fraction``
    marked."""
    import torch

    from ...analysis.prune import prune_order
    ipr = np.asarray(ipr, dtype=float)
    axes = get_axes(axes, 2, 5, 3.2)
    gone = prune_order(torch.as_tensor(ipr), order, seed)[: round(fraction * len(ipr))].numpy()
    kept = np.ones(len(ipr), bool)
    kept[gone] = False
    names = {True: f"kept: {kept.sum()}", False: f"pruned: {(~kept).sum()}"}
    sns.histplot(pd.DataFrame({"IPR": np.clip(ipr, 0, 1), "neurons": [names[k] for k in kept]}),
                 x="IPR", hue="neurons", hue_order=[names[True], names[False]], multiple="stack",
                 bins=np.linspace(0, 1, 41), palette=[PALETTE[5], "0.8"], ax=axes[0])
    axes[0].set_ylabel("neurons")
    tidy_legend(axes[0], title=None)
    pruning(curves, orders=(order,), axes=np.array([axes[1]]))
    axes[1].axvline(fraction, color="k", ls=":", lw=1)
    return axes
