"""Every figure the book draws (matplotlib).

Each function draws on an ``ax`` (a new figure if none is given) and returns
the axes, so a chapter cell is one call plus, at most, a title.
"""
from __future__ import annotations

import matplotlib

if matplotlib.get_backend().lower() == "agg" or not matplotlib.get_backend():
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

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


def ipr_histogram(iprs: dict, ax=None, bins=np.linspace(0, 1, 41)):
    """Histograms of per-neuron IPR, one per entry of ``{name: values}``."""
    ax = _ax(ax)
    for name, values in iprs.items():
        ax.hist(np.asarray(values).ravel(), bins=bins, alpha=0.6, label=name)
    ax.set_xlabel("IPR")
    ax.set_ylabel("neurons")
    ax.legend(frameon=False, fontsize="small")
    return ax


# --- chapter 1: the task and the corruption ---------------------------------------------


# --- chapter 2: grokking on clean data ----------------------------------------------------


# --- chapter 3: Fourier features and the IPR -----------------------------------------------
