"""Capacity and the speed of memorization (chapter 9).

Two claims of the memorization debate that the corrupted task's ground truth can test:

- memorization and generalization are tied only through capacity: wider networks both
  generalize better and memorize more;
- larger models memorize faster, before any overfitting shows (Tirumala et al. 2022,
  "Memorization without overfitting").

The width sweep trains the paper's network at ``WIDTHS`` (from well below to well above the
width the analytic solution needs) at the profile's alpha and xi, without weight decay and at the
profile's Partial Inversion weight decay, three seeds each.  The engine trains one width per
program: its weights are (runs, N, p) tensors, and a stored sweep holds one (runs, N) IPR array,
so each width is its own named sweep (``capacity_N25`` ... ``capacity_N800``), stored in
``results/`` with provenance like the others.  ``capacity_table`` reads them back into one row
per run with what the section plots: test accuracy, the fraction of changed labels fitted, the
numbers of low- and high-IPR neurons, the step at which the changed labels are fitted, and the
step at which the test loss starts to rise.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..analysis.history import first_step_at_least
from ..analysis.prune import LOW_IPR
from ..core import profiles
from ..core.profiles import CAPACITY_WIDTHS as WIDTHS
from .sweeps import get_sweep

HIGH = 0.6  # IPR above HIGH: a Fourier neuron; below LOW_IPR: a memorizing one (chapter 4)
FIT = 0.9  # the changed labels count as fitted once this fraction of them is
RISE = 1.05  # the test loss "rises" once it is this factor above its lowest value so far


def sweep_name(width: int) -> str:
    """The stored sweep of one width."""
    if width not in WIDTHS:
        raise ValueError(f"width must be one of {WIDTHS}, got {width!r}")
    return f"capacity_N{width}"


def rise_step(steps, test_loss, factor: float = RISE):
    """When the test loss starts to rise: the step of its lowest value so far at the first point
    where it exceeds that lowest value by ``factor``; NaN if it never does."""
    steps, loss = np.asarray(steps, dtype=float), np.asarray(test_loss, dtype=float)
    if factor <= 1:
        raise ValueError(f"factor must be > 1, got {factor}")
    best = 0
    for i in range(len(loss)):
        if loss[i] < loss[best]:
            best = i
        elif loss[i] > factor * loss[best]:
            return float(steps[best])
    return float("nan")


def run_measures(history: pd.DataFrame) -> pd.DataFrame:
    """Per run of a history frame: ``fit_step`` (changed labels at least ``FIT`` fitted),
    ``grok_step`` (test accuracy at least 0.9) and ``rise_step`` (``rise_step`` of the test loss)."""
    rows = []
    for run, h in history.sort_values("step").groupby("run"):
        rows.append(dict(run=int(run), fit_step=first_step_at_least(h.step, h.corrupt_acc, FIT),
                         grok_step=first_step_at_least(h.step, h.test_acc, 0.9),
                         rise_step=rise_step(h.step, h.test_loss)))
    return pd.DataFrame(rows).set_index("run")


def capacity_table(profile: str | None = None, *, widths=WIDTHS, loader=None) -> pd.DataFrame:
    """One row per run of the width sweeps: width, wd, seed, test and train accuracy, the fraction
    of changed labels fitted (``corrupt_acc``), ``n_low`` / ``n_high`` neurons (IPR below ``LOW_IPR``
    / above ``HIGH``), ``fit_step``, ``grok_step`` and ``rise_step``.

    ``loader(name, profile)`` returns a stored sweep (default ``grokbook.get_sweep`` without
    progress bars: stored results are read, a missing one is trained)."""
    if loader is None:
        loader = lambda name, prof: get_sweep(name, prof, progress=False)  # noqa: E731
    profile = profiles.profile(profile).name
    frames = []
    for width in widths:
        data = loader(sweep_name(width), profile)
        runs = data.runs.set_index("run")
        ipr = np.asarray(data.ipr, dtype=float)
        table = pd.DataFrame({
            "width": width, "wd": runs.wd.astype(float), "seed": runs.data_seed.astype(int),
            "train_acc": runs.train_acc, "test_acc": runs.test_acc, "corrupt_acc": runs.corrupt_acc,
            "corrupt_true_acc": runs.corrupt_true_acc, "n_changed": runs.n_changed,
            "n_low": (ipr[runs.index] < LOW_IPR).sum(1), "n_high": (ipr[runs.index] > HIGH).sum(1),
            "phase": runs.phase}, index=runs.index)
        table = table.join(run_measures(data.history))
        frames.append(table.reset_index())
    return pd.concat(frames, ignore_index=True)

