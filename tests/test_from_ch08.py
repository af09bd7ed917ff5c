"""Chapter 8's checks of its own code (what counts as memorization), moved out of the chapter
(issue 30): each one at a small size, against an independent reference (refitting in float64, the
parent training set drawn again).  The checks of the capacity and forgetting sections, which became
chapter 9, are in tests/test_from_ch09.py."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import grokbook as gb
from grokbook.analysis import ensembles
from grokbook.analysis import memorization as mz
from grokbook.store import sweeps

CFG = gb.Config(p=11, width=24, steps=40, log_every=10)


def _refit(X, Y, lam):
    """Ridge coefficients, solved from scratch (float64)."""
    return torch.linalg.solve(X.T @ X + lam * torch.eye(X.shape[1], dtype=torch.float64), X.T @ Y)


def test_hat_matrix_shortcut_equals_refitting_on_a_corrupted_training_set():
    """Was chapter 8's leverage cell: h/(1 - h) x residual (mz.ridge_loo) is the change of a pair's
    own prediction at its given label when the ridge model is refitted without the pair, on the
    chapter's kind of data (a corrupted training set from parent_data, lam 1), for every pair."""
    p = 11
    train, given, changed = ensembles.parent_data(p, "add", gb.Run(alpha=0.7, xi=0.3, data_seed=0))
    assert changed.any()  # the labels include changed ones
    index = train.nonzero().squeeze(1)
    labels = given[index]
    linear = mz.ridge_loo(p, index, labels, lam=1.0)
    X = mz.one_hot_pairs(p, index)
    Y = torch.nn.functional.one_hot(labels, p).double()
    yhat = X @ _refit(X, Y, 1.0)
    for i in range(len(index)):
        keep = torch.arange(len(index)) != i
        refit = X[i] @ _refit(X[keep], Y[keep], 1.0)
        want = float(yhat[i, labels[i]] - refit[labels[i]])
        assert abs(want - linear.loo_change[i]) < 1e-10, i


def test_ensemble_from_sweep_sees_only_its_parent_training_set(tmp_path):
    """Was chapter 8's ensemble cell: per weight decay (part) and data seed, the ensemble read from a
    stored sweep has its t models, each trained inside the parent's training set, with the parent's
    labels as given (corrupted ones included), and the parent's changed pairs."""
    t, alpha, xi, wds, seeds = 3, 0.7, 0.3, (0.0, 1.0), (0, 1)
    parts = tuple(sweeps.Part(f"wd {wd:g}", CFG, tuple(
        run for s in seeds for run in ensembles.ensemble_runs(t, alpha=alpha, xi=xi, wd=wd, subset=0.7,
                                                               data_seed=s, model_seed=s)))
        for wd in wds)
    s = sweeps.Sweep("tiny_ensemble_ch08", "quick", parts, history_every=20, per_example=True)
    sweeps.run_sweep(s, device="cpu", directory=tmp_path, progress=False, workers=1)
    data = sweeps.load_sweep(s, directory=tmp_path)
    part, seed_of = data.runs.part.to_numpy(), data.runs.data_seed.to_numpy()
    for i, wd in enumerate(wds):
        for seed in seeds:
            e = ensembles.ensemble_from_sweep(data, np.flatnonzero((part == i) & (seed_of == seed)))
            train, given, changed = ensembles.parent_data(CFG.p, CFG.op, gb.Run(alpha=alpha, xi=xi,
                                                                                data_seed=seed))
            assert e.t == t
            assert torch.equal(e.train, train) and torch.equal(e.given, given)
            assert torch.equal(e.changed, changed)
            assert not (e.member & ~train).any(), "a model saw a pair outside the training set"
            assert (e.member.sum(1) == round(0.7 * int(train.sum()))).all()
            assert (e.runs.wd == wd).all() and (e.runs.data_seed == seed).all()
    with pytest.raises(ValueError, match="data_seed"):  # two corrupted training sets in one ensemble
        ensembles.ensemble_from_sweep(data, np.flatnonzero(part == 0))

