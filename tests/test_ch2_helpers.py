"""Chapter 2's helpers: first_step / grokking_steps, the plots, and the exercise checks.

Each check must pass the reference, report a stub as "not attempted yet", and
fail (AssertionError) on a plausible wrong implementation.
"""
import math

import matplotlib

import numpy as np
import pandas as pd
import pytest

import grokbook as gb
from grokbook import checks, plots


def history():
    """Three runs: 0 groks (fit at 10, test at 40), 1 never generalizes, 2 fits late."""
    steps = [0, 10, 20, 30, 40, 50]
    return pd.DataFrame({
        "run": np.repeat([0, 1, 2], 6),
        "step": steps * 3,
        "train_acc": [0.1, 1.0, 1.0, 1.0, 1.0, 1.0,
                      0.1, 0.995, 1.0, 1.0, 1.0, 1.0,
                      0.0, 0.2, 0.5, 0.8, 0.9, 0.991],
        "test_acc": [0.0, 0.1, 0.5, 0.9, 0.99, 1.0,
                     0.0, 0.1, 0.1, 0.2, 0.2, float("nan"),
                     0.0, 0.1, 0.3, 0.5, 0.7, 0.9],
        "loss": np.linspace(1, 0.01, 18), "test_loss": np.linspace(1, 0.1, 18),
        "mean_ipr": np.linspace(0.04, 0.9, 18),
    })


def test_first_step():
    h = history()
    assert gb.first_step(h, "train_acc", 0.99, run=0) == 10
    assert gb.first_step(h, "test_acc", 0.99, run=0) == 40
    assert math.isnan(gb.first_step(h, "test_acc", 0.99, run=1))
    assert gb.first_step(h, "train_acc", 0.99, run=2) == 50
    assert gb.first_step(h, "test_acc", 0.5, run=2) == 30  # exactly at the threshold counts
    # order of rows does not matter
    assert gb.first_step(h.sample(frac=1, random_state=0), "test_acc", 0.99, run=0) == 40
    with pytest.raises(ValueError, match="run 7"):
        gb.first_step(h, "test_acc", 0.99, run=7)


def test_grokking_steps():
    t = gb.grokking_steps(history())
    assert t.index.tolist() == [0, 1, 2]
    assert t.loc[0].tolist() == [10, 40, 30]
    assert t.loc[1, "fit_step"] == 10 and math.isnan(t.loc[1, "delay"])
    assert t.loc[2, "fit_step"] == 50 and math.isnan(t.loc[2, "grok_step"])
    assert gb.grokking_steps(history(), threshold=0.9).loc[2, "delay"] == 10
    t = gb.grokking_steps(history(), metrics=["mean_ipr", "loss"])
    h = history()
    assert t.loc[0, "mean_ipr_at_grok"] == h.mean_ipr[4]  # run 0 reaches 99% test acc at step 40
    assert t.loc[0, "loss_at_grok"] == h.loss[4]
    assert math.isnan(t.loc[1, "mean_ipr_at_grok"])


def test_plots_return_axes():
    h = history()
    runs = pd.DataFrame({"run": [0, 1, 2], "wd": [5.0, 0.0, 1.0]})
    ax = plots.grokking(h, run=0)
    assert ax.get_xscale() == "symlog" and len(ax.patches) == 1  # the shaded delay
    assert any("30 steps" in t.get_text() for t in ax.texts)
    ax = plots.grokking(h, run=1)  # never generalizes: no shading, no error
    assert len(ax.patches) == 0
    ax = plots.compare_runs(h, runs, "mean_ipr", by="wd")
    assert [l.get_text() for l in ax.get_legend().get_texts()] == ["wd = 5", "wd = 0", "wd = 1"]
    ax = plots.delay_bars(h, runs, by="wd")
    texts = [t.get_text() for t in ax.texts]
    assert texts[0] == "30" and texts[1].startswith("never") and texts[2].startswith("never")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["5", "0", "1"]
    matplotlib.pyplot.close("all")


# ----------------------------------------------------------------------------- the checks
def ref_first_crossing(steps, values, threshold):
    hit = np.nonzero(np.asarray(values) >= threshold)[0]
    return int(steps[hit[0]]) if len(hit) else None


def ref_grokking_delay(history, run, threshold):
    h = history[history.run == run].sort_values("step")
    fit = ref_first_crossing(h.step.to_numpy(), h.train_acc.to_numpy(), threshold)
    grok = ref_first_crossing(h.step.to_numpy(), h.test_acc.to_numpy(), threshold)
    return None if fit is None or grok is None else grok - fit


def stub(*args):
    raise NotImplementedError


def test_first_crossing_check(capsys):
    assert checks.first_crossing(ref_first_crossing) is True
    assert "all" in capsys.readouterr().out
    # NaN for "never" is accepted too
    nan_version = lambda s, v, t: (lambda r: float("nan") if r is None else r)(
        ref_first_crossing(s, v, t))
    assert checks.first_crossing(nan_version) is True
    assert checks.first_crossing(stub) is False
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize("wrong", [
    # the index, not the step
    lambda s, v, t: (lambda h: int(h[0]) if len(h) else None)(np.nonzero(v >= t)[0]),
    # strictly above the threshold
    lambda s, v, t: (lambda h: int(s[h[0]]) if len(h) else None)(np.nonzero(v > t)[0]),
    # the last crossing from below instead of the first step at or above
    lambda s, v, t: (lambda h: int(s[h[-1]]) if len(h) else None)(
        np.nonzero((v[1:] >= t) & (v[:-1] < t))[0] + 1),
    # 0 instead of None when never
    lambda s, v, t: (lambda h: int(s[h[0]]) if len(h) else 0)(np.nonzero(v >= t)[0]),
])
def test_first_crossing_check_fails_wrong(wrong):
    with pytest.raises(AssertionError, match="first_crossing"):
        checks.first_crossing(wrong)


def test_grokking_delay_check(capsys):
    assert checks.grokking_delay(ref_grokking_delay) is True
    assert checks.grokking_delay(stub) is False
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize("wrong", [
    # ignores the run: takes the first row of any run that crosses
    lambda h, r, t: ref_grokking_delay(h.assign(run=0), 0, t),
    # the step at which test accuracy gets there, not the delay
    lambda h, r, t: (lambda d: None if d is None else
                     ref_first_crossing(h[h.run == r].step.to_numpy(),
                                        h[h.run == r].test_acc.to_numpy(), t))(
        ref_grokking_delay(h, r, t)),
    # hard-codes the threshold
    lambda h, r, t: ref_grokking_delay(h, r, 0.99),
    # 0 instead of None when it never generalizes
    lambda h, r, t: (lambda d: 0 if d is None else d)(ref_grokking_delay(h, r, t)),
])
def test_grokking_delay_check_fails_wrong(wrong):
    with pytest.raises(AssertionError, match="grokking_delay"):
        checks.grokking_delay(wrong)
