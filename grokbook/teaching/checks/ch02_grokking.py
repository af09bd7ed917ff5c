"""The exercise checks of chapter 2, Grokking on clean data
(book/02_grokking_clean.ipynb), in the order the chapter calls them."""
from __future__ import annotations

from .harness import assert_settings, case_seed, remeasured, report, report_experiment, same_step

__all__ = ["first_crossing", "grokking_delay", "more_data_shorter_delay"]


def first_crossing(fn) -> bool:
    """``fn(steps, values, threshold)``: the first step whose value is >= threshold, else None.

    ``steps`` and ``values`` are 1-D arrays of equal length (a logged curve, steps
    increasing but not necessarily evenly spaced).  NaN is accepted for "never".
    """
    import numpy as np

    from ...analysis.history import first_step_at_least as want

    def case(steps, values, threshold, what):
        steps, values = np.asarray(steps), np.asarray(values, dtype=float)
        def run(f):
            got = f(steps.copy(), values.copy(), threshold)
            same_step(got, want(steps, values, threshold), what)
        return run

    g = np.random.default_rng(case_seed(3))
    cases = [
        case([0, 10, 20, 30, 40], [0.1, 0.5, 0.97, 0.99, 1.0], 0.99, "a rising curve"),
        case([0, 5, 10, 20, 40, 80], [0.0, 0.2, 0.9, 0.6, 0.95, 1.0], 0.9,
             "a value exactly at the threshold, then a dip (the first crossing counts)"),
        case([0, 10, 20, 30], [0.1, 0.2, 0.3, 0.4], 0.99, "a curve that never gets there"),
        case([0, 10, 20], [1.0, 1.0, 1.0], 0.99, "a curve that starts above the threshold"),
        case([0, 3, 7, 50, 400], [0.0, 0.1, 0.2, 0.3, 0.95], 0.5, "unevenly spaced steps"),
    ]
    for _ in range(3):
        n = int(g.integers(20, 200))
        steps = np.cumsum(g.integers(1, 30, n)) - 1
        values = np.clip(np.cumsum(g.normal(0.01, 0.05, n)), 0, 1)
        cases.append(case(steps, values, float(g.uniform(0.2, 0.8)), "a random walk"))
    return report("first_crossing", fn, cases)


def grokking_delay(fn) -> bool:
    """``fn(history, run, threshold)``: steps from train acc >= threshold to test acc >= threshold.

    ``history`` is a ``SweepResult.history``-like frame (columns run, step, train_acc,
    test_acc, ...; several runs).  Return None (or NaN) when either never gets there.
    """
    import numpy as np
    import pandas as pd

    from ...analysis.history import grokking_steps

    g = np.random.default_rng(case_seed(4))

    def frame(K, T, every):
        steps = np.arange(T) * every
        rows = []
        for run in range(K):
            fit, grok = g.integers(1, T // 3), g.integers(T // 4, T + T // 2)
            tr = np.clip((np.arange(T) + 1) / (fit + 1), 0, 1) * g.uniform(0.97, 1.0, T)
            tr[fit:] = 1.0
            te = np.where(np.arange(T) >= grok, 1.0, g.uniform(0, 0.98, T))
            rows.append(pd.DataFrame({"run": run, "step": steps, "train_acc": tr, "test_acc": te,
                                      "loss": g.uniform(size=T)}))
        return pd.concat(rows, ignore_index=True)

    def case(history, run, threshold, what):
        def go(f):
            want = grokking_steps(history, threshold).loc[run, "delay"]
            same_step(f(history.copy(), run, threshold), want, what)
        return go

    hand = pd.DataFrame({"run": [0] * 4 + [1] * 4, "step": [0, 10, 20, 30] * 2,
                         "train_acc": [0.2, 1.0, 1.0, 1.0, 0.1, 0.5, 1.0, 1.0],
                         "test_acc": [0.0, 0.1, 0.4, 1.0, 0.0, 0.0, 0.2, 0.3]})
    cases = [case(hand, 0, 0.99, "run 0 of a two-run history (delay 20)"),
             case(hand, 1, 0.99, "run 1, which never generalizes"),
             case(hand, 1, 0.25, "run 1 at threshold 0.25 (delay 20)")]
    for K, T, every in ((3, 60, 10), (5, 100, 5), (2, 40, 20)):
        h = frame(K, T, every)
        for run in range(K):
            cases.append(case(h, run, 0.99, f"random history, {K} runs, run {run}"))
    return report("grokking_delay", fn, cases)


def more_data_shorter_delay(experiment) -> bool:
    """Chapter 2's experiment.  ``experiment()`` returns the result of one ``gb.train`` call:
    clean runs (xi 0) at one weight decay > 0 and at least three training fractions alpha.

    The claim: every run fits and then generalizes (train and test accuracy at least 99%), and
    the grokking delay (``gb.grokking_steps``) shrinks as alpha grows: it never grows from one
    alpha to the next, and at the largest alpha it is at most a third of the smallest alpha's."""
    from ...analysis.history import grokking_steps

    claim = "more training data, shorter grokking delay (at the largest alpha at most 1/3 of the smallest's)"

    def settings(result):
        table = remeasured(result)
        assert table.alpha.nunique() >= 3, f"train at least three alphas, got {sorted(table.alpha.unique())}"
        assert table.alpha.nunique() == len(table), "one run per alpha (one seed)"

        def positive(v):
            """one weight decay > 0"""
            return v > 0
        assert_settings(table, xi=0.0, wd=positive)
        assert table.wd.nunique() == 1, f"one weight decay for every run, got {sorted(table.wd.unique())}"
        bad = table[(table.train_acc < 0.99) | (table.test_acc < 0.99)]
        assert bad.empty, (f"every run should reach 99% train and test accuracy; alpha "
                           f"{bad.alpha.tolist()} ended at test {bad.test_acc.round(3).tolist()}")

    def shrinks(result):
        steps = grokking_steps(result.history).join(result.runs.set_index("run").alpha)
        delays = steps.sort_values("alpha").set_index("alpha").delay
        print("more_data_shorter_delay: delay by alpha: "
              + ", ".join(f"{a:g}: {d:.0f}" for a, d in delays.items()))
        assert (delays.diff().dropna() <= 0).all(), f"the delay grows somewhere: {delays.to_dict()}"
        assert delays.iloc[-1] <= delays.iloc[0] / 3, (
            f"at the largest alpha the delay is {delays.iloc[-1]:.0f} steps, more than a third of "
            f"{delays.iloc[0]:.0f} at the smallest")

    return report_experiment("more_data_shorter_delay", experiment, claim, [settings, shrinks])
