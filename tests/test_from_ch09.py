"""Chapter 9's checks of its own code (capacity, the speed of memorization and forgetting), kept
out of the chapter: its longer run is the width sweep's run trained on, and its second-split
forgetting has one row per network and counts a label fitted at the start as forgotten no earlier
than step 1.  Small sizes; the stored width sweep is read, not trained."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

import grokbook as gb
from grokbook.store import capacity
from grokbook.store import sweeps
from grokbook.analysis import memorization as mz

CFG = gb.Config(p=11, width=24, steps=40, log_every=10)


def test_forgetting_has_one_network_per_weight_decay_and_seed():
    """Was chapter 8's second-split check, now chapter 9's: the full-data networks of
    gb.grid(wd=..., seed=...) give one forgetting row each, so selecting a weight decay selects
    one network per seed; and a pair fitted before the second split starts is forgotten at step 1
    at the earliest (the chapter's "fitted at start" column counts those pairs)."""
    wds, seeds = [0.0, 2.0], [0, 1, 2]
    result = gb.train(gb.grid(alpha=0.6, xi=0.3, wd=wds, seed=seeds), CFG, device="cpu",
                      progress=False)
    second = mz.second_split(result.data.train, seed=0)
    forget = mz.second_split_forgetting(result.model, result.data, second,
                                        lr=result.runs.lr.to_numpy(), wd=result.runs.wd.to_numpy(),
                                        steps=5)
    assert forget.shape == (len(wds) * len(seeds), CFG.p ** 2)
    table = pd.DataFrame({"wd": result.runs.wd, "seed": result.runs.data_seed})
    for wd in wds:
        assert sorted(table[table.wd == wd].seed) == seeds
    fitted = (result.model().detach().argmax(-1) == result.data.labels)
    assert fitted.any() and (forget[fitted] >= 1).all()
    assert ((forget == 0) <= ~fitted).all()  # never known: not fitted at the start either


def test_a_longer_run_continues_the_same_run():
    """Chapter 9's 'four times longer' trains the sweep's run with more steps: nothing in the
    training depends on the number of steps, so the first steps are the shorter run's, exactly."""
    run = gb.Run(alpha=0.6, xi=0.3, wd=0.0, data_seed=0, model_seed=0)
    short = gb.train(run, CFG, device="cpu", progress=False, keep_model=False).history
    longer = gb.train(run, dataclasses.replace(CFG, steps=4 * CFG.steps), device="cpu",
                      progress=False, keep_model=False).history
    assert longer.step.max() == 4 * CFG.steps
    common = longer[longer.step <= CFG.steps].reset_index(drop=True)
    columns = ["step", "loss", "test_loss", "train_acc", "test_acc", "corrupt_acc"]
    assert np.array_equal(common[columns].to_numpy(), short[columns].to_numpy())


def test_the_longer_run_has_the_width_sweeps_settings():
    """The chapter builds its longer run from the stored widest sweep (its config and its first
    run's alpha, xi and learning rate): that is the sweep definition's run at weight decay 0 and
    seed 0, with the same network and initialization."""
    widest = max(capacity.WIDTHS)
    stored = gb.get_sweep(capacity.sweep_name(widest), "book", progress=False)
    setting = stored.runs.iloc[0]
    made = gb.Run(alpha=float(setting.alpha), xi=float(setting.xi), lr=float(setting.lr), wd=0.0,
                  data_seed=0, model_seed=0)
    part = sweeps.SWEEPS[capacity.sweep_name(widest)]("book").parts[0]
    assert made in part.runs
    config = stored.config()
    assert config == part.config and config.width == widest and config.init_std is None
    assert (stored.runs.alpha == setting.alpha).all() and (stored.runs.lr == setting.lr).all()
