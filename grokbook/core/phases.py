"""The paper's phases (Appendix C), from final train and test accuracy.

Accuracies are fractions in [0, 1]; train accuracy is measured against the
labels as given (corrupted ones included).  With a threshold of 90%:

    test >= 0.9, train >= 0.9                     Coexistence
    test >= 0.9, 1.05 - xi <= train < 0.9         Partial Inversion
    test >= 0.9, train < 1.05 - xi                Full Inversion
    test <  0.9, train >= 0.9                     Memorization
    test <  0.9, train <  0.9                     Forgetting / Confusion

A run whose weights or outputs stopped being finite numbers (an overflow, a NaN) has no
phase: it is reported as ``DIVERGED``, never as one of the five (its accuracies are NaN).

Full inversion is the network predicting the *true* label of (nearly) every
corrupted example, so train accuracy falls to about 1 - xi; the 0.05 margin
absorbs the corrupted labels that are right by chance and a few stragglers.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .settings import check_fraction

COEXISTENCE = "Coexistence"
PARTIAL_INVERSION = "Partial Inversion"
FULL_INVERSION = "Full Inversion"
MEMORIZATION = "Memorization"
FORGETTING = "Forgetting / Confusion"
PHASES = (COEXISTENCE, PARTIAL_INVERSION, FULL_INVERSION, MEMORIZATION, FORGETTING)
DIVERGED = "Diverged"  # not a phase: the run's numbers are not finite (see the module docstring)
OUTCOMES = PHASES + (DIVERGED,)
THRESHOLD = 0.9


def phase(train_acc: float, test_acc: float, xi: float, diverged: bool = False) -> str:
    """The phase of one run; ``DIVERGED`` if ``diverged`` (its accuracies are then ignored)."""
    if diverged:
        return DIVERGED
    train_acc = check_fraction("train_acc", train_acc, closed=True)
    test_acc = check_fraction("test_acc", test_acc, closed=True)
    xi = check_fraction("xi", xi, closed=True)
    if test_acc >= THRESHOLD:
        if train_acc >= THRESHOLD:
            return COEXISTENCE
        # round away the float error of 1.05 - xi (0.7000000000000001 for xi = 0.35)
        return PARTIAL_INVERSION if train_acc >= round(1.05 - xi, 12) else FULL_INVERSION
    return MEMORIZATION if train_acc >= THRESHOLD else FORGETTING


def phases(train_acc, test_acc, xi, diverged=False) -> np.ndarray:
    """Vectorised ``phase`` over arrays (or pandas columns) of equal length."""
    return np.array([phase(a, b, x, bool(d)) for a, b, x, d in
                     np.broadcast(np.asarray(train_acc), np.asarray(test_acc), np.asarray(xi),
                                  np.asarray(diverged, dtype=bool))],
                    dtype=object)


# ----------------------------------------------------------------------------- tables of runs
def phase_grid(runs, value_col: str = "phase"):
    """(alphas, xis, table) of one panel: ``table[i, j]`` is ``value_col`` at alpha_i, xi_j
    (one run per cell; several seeds in a cell are refused -- pick one first)."""
    if runs.duplicated(["alpha", "xi"]).any():
        raise ValueError("runs must hold one run per (alpha, xi) cell; select one panel and seed")
    alphas, xis = np.sort(runs.alpha.unique()), np.sort(runs.xi.unique())
    table = runs.pivot(index="alpha", columns="xi", values=value_col).loc[alphas, xis]
    return alphas, xis, table.to_numpy()


def phase_counts(runs, by: str, per: str = "run"):
    """How many runs (``per="run"``) or cells (``per="cell"``: each (alpha, xi) cell once, in
    the phase most of its runs end in, as ``majority_grid`` colours it) of each panel fall in
    each phase: a (value of ``by`` x phase) table."""
    if per not in ("run", "cell"):
        raise ValueError(f"per must be 'run' or 'cell', got {per!r}")
    if per == "cell":
        runs = cell_phases(runs, by)
    counts = runs.groupby(by)["phase"].value_counts().unstack(fill_value=0)
    shown = list(PHASES) + [o for o in OUTCOMES[len(PHASES):] if o in counts.columns]
    return counts.reindex(columns=shown, fill_value=0)


def cell_phases(runs, by: str):
    """One row per panel (value of ``by``) and (alpha, xi) cell: the phase most of the cell's
    runs (seeds) end in, as ``majority_grid`` colours it, and ``share``, the fraction of them in
    it (1: the seeds agree)."""
    rows = []
    for value, panel in runs.groupby(by):
        alphas, xis, table, share = majority_grid(panel)
        rows += [{by: value, "alpha": a, "xi": x, "phase": table[i, j], "share": share[i, j]}
                 for i, a in enumerate(alphas) for j, x in enumerate(xis)
                 if table[i, j] is not None]
    return pd.DataFrame(rows, columns=[by, "alpha", "xi", "phase", "share"])


def majority_grid(runs):
    """(alphas, xis, table, share) of one panel whose cells may hold several runs (seeds):
    ``table[i, j]`` the phase most runs at (alpha_i, xi_j) are in (a tie goes to the phase listed
    first in OUTCOMES), ``share[i, j]`` the fraction of them in it (1: the seeds agree).  A cell
    without runs is None with share NaN."""
    alphas, xis = np.sort(runs.alpha.unique()), np.sort(runs.xi.unique())
    table = np.full((len(alphas), len(xis)), None, dtype=object)
    share = np.full((len(alphas), len(xis)), np.nan)
    for (a, x), group in runs.groupby(["alpha", "xi"]):
        counts = group.phase.value_counts()
        best = min(counts.index, key=lambda ph: (-counts[ph], OUTCOMES.index(ph)))
        i, j = np.searchsorted(alphas, a), np.searchsorted(xis, x)
        table[i, j], share[i, j] = best, counts[best] / len(group)
    return alphas, xis, table, share
