"""Reading a training history: when a run fits, when it generalizes, the delay between.

``history`` is a ``SweepResult.history`` frame: one row per run per logged step.
"""
from __future__ import annotations

import pandas as pd


def first_step(history, metric: str, threshold: float = 0.99, run: int = 0) -> float:
    """The first logged step at which ``metric`` of ``run`` is >= ``threshold``; NaN if never.

    ``history`` is a ``SweepResult.history`` frame (one row per run per logged step).
    """
    h = history[history.run == run].sort_values("step")
    if h.empty:
        raise ValueError(f"run {run} is not in the history (runs: {sorted(history.run.unique())})")
    hit = h.step[h[metric] >= threshold]  # NaN never counts as reached
    return float(hit.iloc[0]) if len(hit) else float("nan")


def grokking_steps(history, threshold: float = 0.99, metrics=()):
    """Per run: when it fits the training set, when it generalizes, and the delay between.

    A frame indexed by run with ``fit_step`` (first step train accuracy >= threshold),
    ``grok_step`` (first step test accuracy >= threshold) and ``delay`` (their difference);
    NaN where a run never gets there within its steps.  For each name in ``metrics``
    a column ``<name>_at_grok`` holds that metric at ``grok_step`` (NaN if never).
    """
    rows = []
    for run in sorted(history.run.unique()):
        fit = first_step(history, "train_acc", threshold, run)
        grok = first_step(history, "test_acc", threshold, run)
        row = dict(run=int(run), fit_step=fit, grok_step=grok, delay=grok - fit)
        at = history[(history.run == run) & (history.step == grok)]
        for m in metrics:
            row[f"{m}_at_grok"] = float(at[m].iloc[0]) if len(at) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows).set_index("run")
