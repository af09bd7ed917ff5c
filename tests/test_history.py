"""Reading a history (grokbook.analysis.history): fit and grokking steps, inversion level, stages,
against hand-made histories whose answers are known."""
import math

import numpy as np
import pandas as pd
import pytest

import grokbook as gb
from grokbook.analysis.history import first_step_at_least, first_step_below, inversion_level, stages


def test_first_step_at_least_against_a_loop():
    def loop(steps, values, level, after):
        for s, v in zip(steps, values):
            if s >= after and v >= level:  # NaN compares False: never reached
                return float(s)
        return float("nan")

    g = np.random.default_rng(0)
    for _ in range(50):
        n = int(g.integers(1, 30))
        steps = np.cumsum(g.integers(1, 20, n)) - 1
        values = g.random(n)
        values[g.random(n) < 0.2] = np.nan
        level, after = float(g.random()), float(g.integers(0, 100))
        got, want = first_step_at_least(steps, values, level, after), loop(steps, values, level, after)
        assert got == want or (math.isnan(got) and math.isnan(want)), (steps, values, level, after)
    assert first_step_at_least([0, 5, 10], [0.1, 0.95, 0.2], 0.9) == 5.0
    assert first_step_at_least([0, 5], [0.9, 0.1], 0.9) == 0.0  # equality counts
    assert math.isnan(first_step_at_least([0, 5], [0.1, float("nan")], 0.9))
    assert math.isnan(first_step_at_least([0, 5], [1.0, 1.0], 0.9, after=float("nan")))


def test_first_step(grokking_history):
    h = grokking_history()
    assert gb.first_step(h, "train_acc", 0.99, run=0) == 10
    assert gb.first_step(h, "test_acc", 0.99, run=0) == 40
    assert math.isnan(gb.first_step(h, "test_acc", 0.99, run=1))
    assert gb.first_step(h, "train_acc", 0.99, run=2) == 50
    assert gb.first_step(h, "test_acc", 0.5, run=2) == 30  # exactly at the threshold counts
    # order of rows does not matter
    assert gb.first_step(h.sample(frac=1, random_state=0), "test_acc", 0.99, run=0) == 40
    with pytest.raises(ValueError, match="run 7"):
        gb.first_step(h, "test_acc", 0.99, run=7)


def test_grokking_steps(grokking_history):
    t = gb.grokking_steps(grokking_history())
    assert t.index.tolist() == [0, 1, 2]
    assert t.loc[0].tolist() == [10, 40, 30]
    assert t.loc[1, "fit_step"] == 10 and math.isnan(t.loc[1, "delay"])
    assert t.loc[2, "fit_step"] == 50 and math.isnan(t.loc[2, "grok_step"])
    assert gb.grokking_steps(grokking_history(), threshold=0.9).loc[2, "delay"] == 10
    t = gb.grokking_steps(grokking_history(), metrics=["mean_ipr", "loss"])
    h = grokking_history()
    assert t.loc[0, "mean_ipr_at_grok"] == h.mean_ipr[4]  # run 0 reaches 99% test acc at step 40
    assert t.loc[0, "loss_at_grok"] == h.loss[4]
    assert math.isnan(t.loc[1, "mean_ipr_at_grok"])


def test_inversion_level():
    assert inversion_level(0.0, 97) == 1.0
    assert math.isclose(inversion_level(0.35, 97), 1 - 0.35 + 0.35 / 97)


def test_first_step_below(stage_history):
    h = stage_history()
    assert first_step_below(h, "train_acc", 0.8, run=1) == 0  # step 0 is below too
    assert first_step_below(h, "train_acc", 0.8, run=1, after=10) == 30
    assert first_step_below(h, "train_acc", 0.77, run=1, after=10) == 30  # equality counts
    assert math.isnan(first_step_below(h, "train_acc", 0.9, run=0, after=10))
    assert math.isnan(first_step_below(h, "train_acc", 0.9, run=1, after=float("nan")))
    with pytest.raises(ValueError, match="run 7"):
        first_step_below(h, "train_acc", 0.5, run=7)


def test_stages(stage_history):
    t = stages(stage_history(), 0.75)
    assert t.index.tolist() == [0, 1, 2]
    assert t.loc[0, "fit_step"] == 10 and math.isnan(t.loc[0, "unlearn_step"])
    assert t.loc[0, "grok_step"] == 20 and math.isnan(t.loc[0, "forget_step"])
    assert t.loc[1].tolist()[:4] == [10, 0.99, 20, 30]
    assert math.isnan(t.loc[1, "forget_step"])
    assert t.loc[2, "unlearn_step"] == 20 and t.loc[2, "grok_step"] == 20
    assert t.loc[2, "forget_step"] == 50  # 0.5 is not below 0.5
    # a level per run
    t = stages(stage_history(), pd.Series([0.75, 0.6, 0.75]))
    assert math.isnan(t.loc[1, "unlearn_step"]) and t.loc[2, "unlearn_step"] == 20


def test_long_form_against_a_loop(grokking_history):
    h = grokking_history()
    runs = pd.DataFrame({"run": [0, 1, 2], "wd": [5.0, 0.0, 1.0]})
    from grokbook.analysis.history import long_form
    long = long_form(h, ["train_acc", "mean_ipr"], runs)
    assert len(long) == 2 * len(h)
    for row in h.itertuples():
        for m in ("train_acc", "mean_ipr"):
            hit = long[(long.run == row.run) & (long.step == row.step) & (long.metric == m)]
            assert hit.value.item() == getattr(row, m) and hit.wd.item() == runs.wd[row.run]
