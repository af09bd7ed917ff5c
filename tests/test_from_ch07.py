"""What chapter 7 (the two stages) relies on in the code, tested at small sizes.

The chapter looks at its networks in the middle of training through ``gb.train``'s ``on_log``
hook: at every logged step it keeps the IPR of every neuron.  These tests check that what the
hook sees *is* the network at that step: training twice with the same seeds gives identical
weights, a shorter run with the same seeds retraces the longer one, and the model the hook is
handed at step s equals the final model of a run trained for s steps (and its IPR is the one
the history logs, and the one a float64 brute-force DFT gives).  They used to be asserts in the
chapter, which retrained its runs to get the snapshots.
"""
import numpy as np
import pandas as pd
import pytest
import torch

import grokbook as gb
from ipr_reference import ipr as reference_ipr

CFG = dict(p=23, width=48, log_every=10)  # small: each training takes well under a second
RUNS = gb.grid(alpha=0.7, xi=0.25, wd=[0.0, 15.0], seed=[0, 1])  # no wd and wd: two stories


def weights(model):
    return {name: getattr(model, name).detach().clone() for name in "UVW"}


class Snapshots:
    """An ``on_log`` hook that keeps a copy of every run's weights at every logged step."""

    def __init__(self):
        self.at = {}  # (step, first run of the chunk) -> {"U", "V", "W"}

    def __call__(self, step, first_run, model, data):
        self.at[step, first_run] = weights(model)

    def step(self, s):
        parts = [w for (t, _), w in sorted(self.at.items()) if t == s]
        return {n: torch.cat([w[n] for w in parts]) for n in "UVW"}


def test_training_twice_with_the_same_seeds_gives_identical_weights():
    config = gb.Config(steps=60, **CFG)
    a = gb.train(RUNS, config, device="cpu", progress=False)
    b = gb.train(RUNS, config, device="cpu", progress=False)
    pd.testing.assert_frame_equal(a.history, b.history, check_exact=True)
    for name, w in weights(a.model).items():
        assert torch.equal(w, getattr(b.model, name)), name


def test_a_shorter_run_retraces_the_longer_one():
    """The same batch trained for 30 and for 80 steps: the short history is, bit for bit, the
    first part of the long one."""
    short = gb.train(RUNS, gb.Config(steps=30, **CFG), device="cpu", progress=False)
    long = gb.train(RUNS, gb.Config(steps=80, **CFG), device="cpu", progress=False)
    head = long.history[long.history.step <= 30].reset_index(drop=True)
    pd.testing.assert_frame_equal(short.history, head, check_exact=True)


@pytest.mark.parametrize("step", [0, 30, 50])
def test_the_on_log_snapshot_is_the_network_at_that_step(step):
    """What on_log is handed at step s equals the final weights of a run trained for s steps
    (step 0: the initial weights), and its IPR is the logged mean IPR and the brute-force one."""
    snaps = Snapshots()
    long = gb.train(RUNS, gb.Config(steps=80, **CFG), device="cpu", progress=False,
                    on_log=snaps)
    at = snaps.step(step)
    if step == 0:
        model = gb.BatchedMLP.init(CFG["p"], CFG["width"], [r.model_seed for r in RUNS])
    else:
        model = gb.train(RUNS, gb.Config(steps=step, **CFG), device="cpu",
                         progress=False).model
    for name, w in weights(model).items():
        assert torch.equal(at[name], w), name
    ipr = (reference_ipr(at["U"]) + reference_ipr(at["V"])
           + reference_ipr(at["W"].transpose(1, 2))) / 3  # (runs, N)
    np.testing.assert_allclose(ipr, gb.model_ipr(model).double().numpy(), rtol=1e-5, atol=1e-7)
    logged = long.history[long.history.step == step].sort_values("run").mean_ipr.to_numpy()
    np.testing.assert_allclose(ipr.mean(1), logged, rtol=1e-5)


def test_the_on_log_hook_leaves_training_unchanged():
    config = gb.Config(steps=60, **CFG)
    plain = gb.train(RUNS, config, device="cpu", progress=False)
    kept = []
    hooked = gb.train(RUNS, config, device="cpu", progress=False,
                      on_log=lambda step, lo, model, data: kept.append(gb.model_ipr(model)))
    assert len(kept) == len(range(0, 60, 10)) + 1  # every logged step, one chunk
    pd.testing.assert_frame_equal(plain.history, hooked.history, check_exact=True)
    for name, w in weights(plain.model).items():
        assert torch.equal(w, getattr(hooked.model, name)), name


def test_the_grid_has_one_run_per_weight_decay_and_seed():
    """The chapter's batch: four weight decays times three seeds, each pair once."""
    wds, seeds = [0.0, 5.5, 15.0, 20.0], [0, 1, 2]
    runs = gb.grid(alpha=0.7, xi=0.25, wd=wds, seed=seeds)
    assert len(runs) == len(wds) * len(seeds)
    pairs = [(r.wd, r.data_seed) for r in runs]
    assert sorted(pairs) == sorted((w, s) for w in wds for s in seeds)
    assert all(r.model_seed == r.data_seed for r in runs)
