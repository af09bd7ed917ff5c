"""Chapter 7's helpers: inversion_level / first_step_below / stages, the plots, and the checks.

Each check must pass the reference, report a stub as "not attempted yet", and
fail (AssertionError) on a plausible wrong implementation.
"""
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from grokbook import checks, plots
from grokbook.history import first_step_below, inversion_level, stages


def history():
    """Three runs: 0 memorizes and stays, 1 memorizes then inverts, 2 inverts then forgets."""
    steps = [0, 10, 20, 30, 40, 50]
    return pd.DataFrame({
        "run": np.repeat([0, 1, 2], 6),
        "step": steps * 3,
        "train_acc": [0.0, 0.97, 1.0, 1.0, 1.0, 1.0,
                      0.0, 0.99, 0.9, 0.77, 0.75, 0.75,
                      0.0, 0.96, 0.75, 0.75, 0.3, 0.0],
        "test_acc": [0.0, 0.1, 0.9, 0.95, 0.95, 0.95,
                     0.0, 0.2, 0.95, 1.0, 1.0, 1.0,
                     0.0, 0.1, 1.0, 1.0, 0.5, 0.49],
        "corrupt_acc": np.linspace(0, 1, 18), "corrupt_true_acc": np.linspace(1, 0, 18),
        "weight_norm": np.linspace(10, 0, 18),
    })


def test_inversion_level():
    assert inversion_level(0.0, 97) == 1.0
    assert math.isclose(inversion_level(0.35, 97), 1 - 0.35 + 0.35 / 97)


def test_first_step_below():
    h = history()
    assert first_step_below(h, "train_acc", 0.8, run=1) == 0  # step 0 is below too
    assert first_step_below(h, "train_acc", 0.8, run=1, after=10) == 30
    assert first_step_below(h, "train_acc", 0.77, run=1, after=10) == 30  # equality counts
    assert math.isnan(first_step_below(h, "train_acc", 0.9, run=0, after=10))
    assert math.isnan(first_step_below(h, "train_acc", 0.9, run=1, after=float("nan")))
    with pytest.raises(ValueError, match="run 7"):
        first_step_below(h, "train_acc", 0.5, run=7)


def test_stages():
    t = stages(history(), 0.75)
    assert t.index.tolist() == [0, 1, 2]
    assert t.loc[0, "fit_step"] == 10 and math.isnan(t.loc[0, "unlearn_step"])
    assert t.loc[0, "grok_step"] == 20 and math.isnan(t.loc[0, "forget_step"])
    assert t.loc[1].tolist()[:4] == [10, 0.99, 20, 30]
    assert math.isnan(t.loc[1, "forget_step"])
    assert t.loc[2, "unlearn_step"] == 20 and t.loc[2, "grok_step"] == 20
    assert t.loc[2, "forget_step"] == 50  # 0.5 is not below 0.5
    # a level per run
    t = stages(history(), pd.Series([0.75, 0.6, 0.75]))
    assert math.isnan(t.loc[1, "unlearn_step"]) and t.loc[2, "unlearn_step"] == 20


def test_plots():
    h = history()
    runs = pd.DataFrame({"run": [0, 1, 2], "wd": [0, 15, 20],
                         "phase": ["Coexistence", "Full Inversion", "Forgetting / Confusion"]})
    axes = plots.stage_panels(h, runs, inverted=0.75, marks=[20, 40])
    assert len(axes) == 3 and len(axes[1].lines) == 4 + 1 + 2
    axes = plots.ipr_snapshots({"a": np.random.rand(50), "b": np.random.rand(3, 50)})
    assert len(axes) == 2
    plt.close("all")


# ----------------------------------------------------------------------------- checks
def ref_corrupted_accuracy(pred, labels, truth, train):
    changed = train & (labels != truth)
    if not changed.any():
        return float("nan"), float("nan")
    return (pred == labels)[changed].float().mean().item(), (pred == truth)[changed].float().mean().item()


def ref_unlearning_step(steps, acc, inverted, fit=0.95, tol=0.03):
    up = np.nonzero(acc >= fit)[0]
    if not len(up):
        return None
    down = np.nonzero((acc <= inverted + tol) & (np.arange(len(acc)) >= up[0]))[0]
    return steps[down[0]] if len(down) else None


def stub(*args, **kw):
    raise NotImplementedError


@pytest.mark.parametrize("name, ref", [("corrupted_accuracy", ref_corrupted_accuracy),
                                       ("unlearning_step", ref_unlearning_step)])
def test_checks_pass_reference_and_report_stub(name, ref, capsys):
    check = getattr(checks, name)
    assert check(ref) is True
    assert check(stub) is False
    assert "not attempted yet" in capsys.readouterr().out


def test_corrupted_accuracy_catches_wrong():
    # counts every training pair, not only the corrupted ones
    def wrong(pred, labels, truth, train):
        return (pred == labels)[train].float().mean().item(), (pred == truth)[train].float().mean().item()
    with pytest.raises(AssertionError, match="corrupted_accuracy"):
        checks.corrupted_accuracy(wrong)
    # uses the corruption mask of all pairs, test pairs included
    def wrong2(pred, labels, truth, train):
        changed = labels != truth
        return (pred == labels)[changed].float().mean().item(), (pred == truth)[changed].float().mean().item()
    with pytest.raises(AssertionError):
        checks.corrupted_accuracy(wrong2)


def test_unlearning_step_catches_wrong():
    # forgets that stage 1 must come first
    def wrong(steps, acc, inverted, fit=0.95, tol=0.03):
        down = np.nonzero(acc <= inverted + tol)[0]
        return steps[down[0]] if len(down) else None
    with pytest.raises(AssertionError, match="unlearning_step"):
        checks.unlearning_step(wrong)
    # strict inequality at fit
    def wrong2(steps, acc, inverted, fit=0.95, tol=0.03):
        return ref_unlearning_step(steps, acc, inverted, fit + 1e-9, tol)
    with pytest.raises(AssertionError):
        checks.unlearning_step(wrong2)
