"""Chapter 1, the task and the corruption: the p x p tables of each operation (``task_tables``,
``task_table_image``), one run's split and corrupted pairs (``run_masks``), the labels as the network
is given them (``given_labels``), and how many corrupted labels land on the truth by chance
(``chance_correct_histogram``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from ...analysis.stats import binomial_pmf
from ...engine.data import mask_categories
from .style import PALETTE, get_ax, get_axes

__all__ = ["task_table_image", "task_tables", "run_masks", "given_labels", "chance_correct_histogram"]


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
    ax = get_ax(ax, figsize=(3.5, 3.5))
    return _table_image(values, p, ax, f"(m {OP_SYMBOLS[op]} n) mod {p}", cmap)


def task_tables(p: int, ops=("add", "subtract", "multiply", "divide"), axes=None):
    """``task_table_image`` for several operations side by side; returns the axes."""
    axes = get_axes(axes, len(ops), 3, 3.3)
    for op, ax in zip(ops, axes):
        task_table_image(p, op, ax=ax)
    return axes


def run_masks(splits, run: int = 0, ax=None):
    """One run's split and corruption on the p x p grid, each kind of pair in its colour."""
    p = splits.p
    cat = mask_categories(splits, run)  # grokbook.data
    ax = get_ax(ax, figsize=(4.2, 5))
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
    ax = get_ax(ax, figsize=(3.5, 3.5))
    return _table_image(values, p, ax, "training labels as given", cmap)


def chance_correct_histogram(counts, n_corrupted: int, p: int, ax=None):
    """How many corrupted labels equal the truth, over many seeds (``counts``, one per seed),
    against Binomial(n, 1/p)."""
    counts = np.asarray(counts)
    ax = get_ax(ax)
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
