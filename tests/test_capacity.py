"""grokbook.store.capacity: the width sweep's definitions, the per-run measures (against loops written
out here) and the table the chapter reads.  The committed results are spot-checked by retraining
(tests/test_results.py, like every stored sweep)."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from grokbook.analysis.prune import LOW_IPR
from grokbook.core.profiles import CAPACITY_SEEDS, profile
from grokbook.store import capacity
from grokbook.store.sweeps import SWEEPS, sweep


@pytest.mark.parametrize("name", ["quick", "book", "full"])
def test_each_width_is_one_sweep_at_the_profile_setting(name):
    s = profile(name)
    for width in capacity.WIDTHS:
        sw = sweep(capacity.sweep_name(width), name)
        assert sw.name in SWEEPS and len(sw.parts) == 1
        cfg = sw.parts[0].config
        assert (cfg.width, cfg.p, cfg.steps, cfg.log_every) == (width, s.p, s.steps, 1)
        runs = sw.parts[0].runs
        assert {r.alpha for r in runs} == {s.alpha} and {r.xi for r in runs} == {s.xi}
        assert sorted({r.wd for r in runs}) == [0.0, float(s.weight_decays[1])]
        assert sorted({r.data_seed for r in runs}) == list(CAPACITY_SEEDS)
        assert len(runs) == 2 * len(CAPACITY_SEEDS)
    widths = sorted(capacity.WIDTHS)
    assert widths[0] <= 50 and widths[-1] >= 800, "from well below to well above about 200"


def test_a_width_not_in_the_sweep_is_refused():
    with pytest.raises(ValueError, match=r"width must be one of \(25, .*got 99"):
        capacity.sweep_name(99)


def rise_by_loop(steps, loss, factor):
    """The definition, spelled out: walk the curve, remember the lowest point so far."""
    low_step, low = steps[0], loss[0]
    for s, v in zip(steps, loss):
        if v > factor * low:
            return float(low_step)
        if v < low:
            low_step, low = s, v
    return math.nan


@pytest.mark.parametrize("seed", range(20))
def test_rise_step_agrees_with_the_loop(seed):
    rng = np.random.default_rng(seed)
    steps = np.arange(0, 300, 3)
    loss = np.exp(np.cumsum(rng.normal(0, 0.03, len(steps))))  # a random walk, up and down
    want = rise_by_loop(steps, loss, 1.05)
    got = capacity.rise_step(steps, loss, 1.05)
    assert (math.isnan(want) and math.isnan(got)) or got == want


def test_rise_step_on_curves_we_understand():
    steps = np.arange(10)
    assert math.isnan(capacity.rise_step(steps, np.linspace(1, 0.1, 10)))  # only falls
    u = np.array([1.0, 0.8, 0.6, 0.5, 0.51, 0.6, 0.9, 0.4, 0.3, 0.2])
    assert capacity.rise_step(steps, u) == 3.0  # 0.6 > 1.05 * 0.5: the rise starts at step 3
    assert capacity.rise_step(steps, [1.0, 1.2, 1.3, 1.0, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1]) == 0.0
    assert math.isnan(capacity.rise_step(steps, 1 + 0.01 * np.sin(steps)))  # wiggles inside 5%
    with pytest.raises(ValueError, match="factor must be > 1"):
        capacity.rise_step(steps, u, 1.0)


def fake_sweep(width, rng):
    """A stored sweep's shape: six runs, a history logged at every step, an IPR per neuron."""
    runs = pd.DataFrame({"run": range(6), "wd": [0.0] * 3 + [5.5] * 3, "data_seed": [0, 1, 2] * 2,
                         "train_acc": rng.random(6), "test_acc": rng.random(6),
                         "corrupt_acc": rng.random(6), "corrupt_true_acc": rng.random(6),
                         "n_changed": 100, "phase": "Coexistence"})
    steps = np.arange(50)
    rows = [dict(run=r, step=s, corrupt_acc=min(1, s / (10 + 5 * r)), test_acc=min(1, s / 40),
                 test_loss=1 + 0.01 * s) for r in range(6) for s in steps]
    return SimpleNamespace(runs=runs, history=pd.DataFrame(rows), ipr=rng.random((6, width)))


def test_the_table_counts_neurons_and_reads_steps_like_a_loop():
    rng = np.random.default_rng(0)
    stored = {w: fake_sweep(w, rng) for w in (25, 50)}
    table = capacity.capacity_table("book", widths=(25, 50),
                                    loader=lambda name, profile: stored[int(name.split("_N")[1])])
    assert len(table) == 12 and sorted(table.width.unique()) == [25, 50]
    for row in table.itertuples():
        data = stored[row.width]
        ipr = data.ipr[row.run]
        assert row.n_low == sum(v < LOW_IPR for v in ipr)
        assert row.n_high == sum(v > capacity.HIGH for v in ipr)
        h = data.history[data.history.run == row.run]
        assert row.fit_step == min(s for s, a in zip(h.step, h.corrupt_acc) if a >= capacity.FIT)
        assert row.grok_step == 36  # 36 / 40 = 0.9
        assert row.rise_step == 0.0  # the test loss climbs from the start: 1.05 at step 5
        assert row.test_acc == data.runs.test_acc[row.run]
