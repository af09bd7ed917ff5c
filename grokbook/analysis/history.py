"""Reading a training history: when a run fits, when it generalizes, the delay between.

``history`` is a ``SweepResult.history`` frame: one row per run per logged step.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def long_form(history, metrics, runs=None) -> pd.DataFrame:
    """A history in long (tidy) form: one row per run, step and metric, columns ``run``,
    ``step``, ``metric`` (its name), ``value``, plus the columns of ``runs`` (a runs table:
    e.g. wd, seed, phase) joined on ``run``."""
    out = history.melt(id_vars=["run", "step"], value_vars=list(metrics), var_name="metric")
    if runs is not None:
        out = out.merge(runs.drop(columns=[c for c in ("step",) if c in runs]), on="run",
                        how="left", suffixes=("", "_run"))
    return out


def first_step_at_least(steps, values, level: float, after: float = -np.inf) -> float:
    """The first of ``steps`` (a logged curve, steps increasing) at or after ``after`` whose value
    is >= ``level``; NaN if there is none or if ``after`` is NaN (an earlier event that never
    happened).  NaN values never count as reached."""
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    if after != after:
        return float("nan")
    hit = np.flatnonzero((steps >= after) & (values >= level))
    return float(steps[hit[0]]) if len(hit) else float("nan")


def _run_history(history, run: int) -> pd.DataFrame:
    """The rows of one run of a history, by step."""
    h = history[history.run == run].sort_values("step")
    if h.empty:
        raise ValueError(f"run {run} is not in the history (runs: {sorted(history.run.unique())})")
    return h


def first_step(history, metric: str, threshold: float = 0.99, run: int = 0) -> float:
    """The first logged step at which ``metric`` of ``run`` is >= ``threshold``; NaN if never.

    ``history`` is a ``SweepResult.history`` frame (one row per run per logged step).
    """
    h = _run_history(history, run)
    return first_step_at_least(h.step, h[metric], threshold)


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


# --- chapter 7: two stages ---
def inversion_level(xi: float, p: int) -> float:
    """Train accuracy (labels as given) of a network that predicts every *true* label:
    a fraction xi of the training labels was redrawn from [0, p), and 1/p of those
    redraws landed on the truth, so 1 - xi + xi / p.  Full Inversion scores this."""
    return 1 - xi + xi / p


def first_step_below(history, metric: str, threshold: float, run: int = 0,
                     after: float = 0) -> float:
    """The first logged step >= ``after`` at which ``metric`` of ``run`` is <= ``threshold``;
    NaN if never (or if ``after`` is NaN).  The mirror image of ``first_step``."""
    h = _run_history(history, run)
    return first_step_at_least(h.step, -h[metric], -threshold, after)  # value <= t: -value >= -t


def stages(history, inverted, fit: float = 0.95, grok: float = 0.9, tol: float = 0.03,
           forget: float = 0.5):
    """Per run, the steps of the two stages (and of forgetting), read off a history.

    ``inverted``: the train accuracy of Full Inversion (see ``inversion_level``), one
    number or one per run (a mapping / Series indexed by run).  Columns:

    - ``fit_step``: first step with train accuracy >= ``fit`` (stage 1: corrupted labels
      memorized too; train accuracy is against the labels as given);
    - ``peak_train``: the highest train accuracy up to ``grok_step`` (or overall if never);
    - ``grok_step``: first step with test accuracy >= ``grok``;
    - ``unlearn_step``: first step after ``fit_step`` with train accuracy <= inverted + tol
      (stage 2: the corrupted labels unlearned);
    - ``forget_step``: first step after ``grok_step`` with test accuracy < ``forget``.

    NaN where a run never gets there.
    """
    rows = []
    for run in sorted(history.run.unique()):
        level = inverted if isinstance(inverted, (int, float)) else float(inverted[run])
        h = history[history.run == run]
        fit_step = first_step(history, "train_acc", fit, run)
        grok_step = first_step(history, "test_acc", grok, run)
        upto = h if grok_step != grok_step else h[h.step <= grok_step]
        rows.append(dict(
            run=int(run), fit_step=fit_step, peak_train=float(upto.train_acc.max()),
            grok_step=grok_step,
            unlearn_step=first_step_below(history, "train_acc", level + tol, run, after=fit_step),
            forget_step=first_step_below(history, "test_acc", forget - 1e-12, run, after=grok_step),
        ))
    return pd.DataFrame(rows).set_index("run")
