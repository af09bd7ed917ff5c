"""Per-example memorization scores, each against an independent reference:
explicit loops, brute-force refits, pairwise counts, hand computations."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

import grokbook as gb
from grokbook.analysis import ensembles
from grokbook.analysis import memorization as mz
from grokbook.engine.data import make_splits, split_and_corrupt, task_table
from grokbook.engine.train import bytes_per_run


def _random_ensemble(t=10, P=40, seed=0):
    g = np.random.default_rng(seed)
    member = torch.as_tensor(g.random((t, P)) < 0.6)
    correct = torch.as_tensor(g.random((t, P)) < 0.7)
    return member, correct


# ----------------------------------------------------------------------------- subsets (data, Run)
def test_subset_is_a_subset_of_the_same_corrupted_training_set():
    p, alpha, xi = 13, 0.6, 0.3
    train, labels, corrupted = split_and_corrupt(p, "add", alpha, xi, 4)
    truth, _ = task_table(p, "add")
    n_train = int(train.sum())
    for s in (1, 2, 3):
        t2, l2, c2 = split_and_corrupt(p, "add", alpha, xi, 4, subset=0.7, subset_seed=s)
        assert int(t2.sum()) == round(0.7 * n_train)
        assert bool((t2 <= train).all()) and bool((c2 == (corrupted & t2)).all())
        assert bool((l2[t2] == labels[t2]).all()), "kept pairs keep their (corrupted) labels"
        assert bool((l2[~t2] == truth[~t2]).all()), "a left-out pair is an unseen pair"
    a = split_and_corrupt(p, "add", alpha, xi, 4, subset=0.7, subset_seed=1)[0]
    b = split_and_corrupt(p, "add", alpha, xi, 4, subset=0.7, subset_seed=2)[0]
    assert not bool((a == b).all())
    full = split_and_corrupt(p, "add", alpha, xi, 4, subset=1.0, subset_seed=9)
    assert all(bool((x == y).all()) for x, y in zip(full, (train, labels, corrupted)))


def test_make_runs_passes_subsets_and_keeps_its_old_call():
    old = make_splits(11, "add", [0.5, 0.5], [0.2, 0.2], [0, 1])
    new = make_splits(11, "add", [0.5, 0.5], [0.2, 0.2], [0, 1], [1.0, 0.5], [0, 3])
    assert bool((old.train[0] == new.train[0]).all())
    assert int(new.train[1].sum()) == round(0.5 * int(old.train[1].sum()))
    with pytest.raises(ValueError, match="same length"):
        make_splits(11, "add", [0.5], [0.2], [0], [1.0, 0.5], [0, 1])


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.5, True, "half", float("nan")])
def test_bad_subset_is_refused(bad):
    with pytest.raises(ValueError, match="subset"):
        gb.Run(subset=bad)
    if not isinstance(bad, str):
        with pytest.raises(ValueError, match="subset"):
            split_and_corrupt(11, "add", 0.5, 0.2, 0, subset=bad)


@pytest.mark.parametrize("bad", [-1, 2**31, 1.5, True])
def test_bad_subset_seed_is_refused(bad):
    with pytest.raises(ValueError, match="subset_seed"):
        gb.Run(subset_seed=bad)


def test_ensemble_runs():
    runs = ensembles.ensemble_runs(5, alpha=0.6, xi=0.2, wd=3.0, subset=0.7, first_subset_seed=10)
    assert [r.subset_seed for r in runs] == [10, 11, 12, 13, 14]
    assert len({(r.alpha, r.xi, r.wd, r.data_seed, r.model_seed, r.subset) for r in runs}) == 1
    for bad in (dict(t=1), dict(t=2.5), dict(subset=1.0), dict(subset=0), dict(first_subset_seed=-1)):
        kw = dict(t=4, alpha=0.5, xi=0.2)
        kw.update(bad)
        with pytest.raises(ValueError, match=next(iter(bad))):
            ensembles.ensemble_runs(**kw)


# ----------------------------------------------------------------------------- leave-some-out scores
def test_feldman_scores_against_an_explicit_loop():
    member, correct = _random_ensemble()
    member[:, 0] = True  # every model saw example 0: undefined
    f = mz.feldman_scores(member, correct)
    t, P = member.shape
    for i in range(P):
        seen = [float(correct[k, i]) for k in range(t) if member[k, i]]
        unseen = [float(correct[k, i]) for k in range(t) if not member[k, i]]
        assert f.n_in[i] == len(seen) and f.n_out[i] == len(unseen)
        if seen and unseen:
            assert f.score[i] == pytest.approx(sum(seen) / len(seen) - sum(unseen) / len(unseen))
        else:
            assert math.isnan(f.score[i])


def test_density_ratio_against_an_explicit_loop():
    member, _ = _random_ensemble(seed=1)
    logp = torch.as_tensor(np.random.default_rng(2).normal(-3, 2, member.shape))
    got = mz.density_ratio_scores(member, logp)
    for i in range(member.shape[1]):
        a = [float(logp[k, i]) for k in range(member.shape[0]) if member[k, i]]
        b = [float(logp[k, i]) for k in range(member.shape[0]) if not member[k, i]]
        want = np.mean(a) - np.mean(b) if a and b else np.nan
        assert got[i] == pytest.approx(want, nan_ok=True)


def test_surprisal_against_an_explicit_loop():
    member, _ = _random_ensemble(seed=8)
    logp = torch.as_tensor(np.random.default_rng(9).normal(-3, 2, member.shape))
    got = mz.surprisal_scores(member, logp)
    for i in range(member.shape[1]):
        a = [-float(logp[k, i]) for k in range(member.shape[0]) if member[k, i]]
        b = [-float(logp[k, i]) for k in range(member.shape[0]) if not member[k, i]]
        assert got["in"][i] == pytest.approx(np.mean(a) if a else np.nan, nan_ok=True)
        assert got["out"][i] == pytest.approx(np.mean(b) if b else np.nan, nan_ok=True)
    assert np.allclose(got["out"] - got["in"], mz.density_ratio_scores(member, logp), equal_nan=True)


def test_scores_refuse_bad_shapes():
    member, correct = _random_ensemble()
    with pytest.raises(ValueError, match="member"):
        mz.feldman_scores(member.float(), correct)
    with pytest.raises(ValueError, match="values"):
        mz.feldman_scores(member, correct[:, :5])


def test_label_logprob_against_a_hand_softmax():
    g = torch.Generator().manual_seed(0)
    out = torch.randn(3, 4, 7, generator=g)
    labels = torch.randint(0, 7, (3, 4), generator=g)
    got = mz.label_logprob(out, labels, temperature=0.25)
    for a in range(3):
        for b in range(4):
            z = [math.exp(float(v) / 0.25) for v in out[a, b]]
            assert float(got[a, b]) == pytest.approx(math.log(z[labels[a, b]] / sum(z)), rel=1e-9)
    with pytest.raises(ValueError, match="temperature"):
        mz.label_logprob(out, labels, temperature=0)
    with pytest.raises(ValueError, match="labels"):
        mz.label_logprob(out, labels[:, :2])


def test_mse_probability_is_the_gaussian_likelihood():
    """softmax(f / s^2) is the Gaussian likelihood exp(-|f - e_y|^2 / (2 s^2)) normalised over y."""
    f = torch.randn(9, dtype=torch.float64)
    s2 = mz.TEMPERATURE
    gauss = torch.stack([torch.exp(-((f - torch.eye(9, dtype=torch.float64)[y]) ** 2).sum() / (2 * s2))
                         for y in range(9)])
    want = torch.log(gauss / gauss.sum())
    got = mz.label_logprob(f.expand(9, 9), torch.arange(9))
    assert torch.allclose(got, want)


# ----------------------------------------------------------------------------- ROC AUC and reliability
def test_roc_auc_against_a_pairwise_count():
    g = np.random.default_rng(4)
    s = g.integers(0, 6, 60).astype(float)  # many ties
    s[[3, 17]] = np.nan
    y = g.random(60) < 0.3
    pos = [a for a, l in zip(s, y) if l and not np.isnan(a)]
    neg = [a for a, l in zip(s, y) if not l and not np.isnan(a)]
    want = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg) / (len(pos) * len(neg))
    assert mz.roc_auc(s, y) == pytest.approx(want)
    assert mz.roc_auc([1, 2, 3], np.array([False, True, True])) == 1.0
    assert mz.roc_auc([1, 2, 3], np.array([True, False, False])) == 0.0
    assert math.isnan(mz.roc_auc([1, 2], np.array([True, True])))
    with pytest.raises(ValueError, match="positives"):
        mz.roc_auc([1, 2], [1, 0])
    with pytest.raises(ValueError, match="same length"):
        mz.roc_auc([1, 2, 3], np.array([True, False]))


def test_spearman_brown():
    assert mz.spearman_brown(0.5) == pytest.approx(2 / 3)
    assert mz.spearman_brown(0.5, 3) == pytest.approx(1.5 / 2)
    with pytest.raises(ValueError, match="factor"):
        mz.spearman_brown(0.5, 0)


def test_split_half_against_a_hand_computation():
    g = np.random.default_rng(5)
    t, P = 12, 80
    truth = g.random(P)  # per-example probability of being right when seen; 0.5 unseen
    member = torch.as_tensor(g.random((t, P)) < 0.5)
    correct = torch.as_tensor(g.random((t, P)) < np.where(member.numpy(), truth, 0.5))
    got = mz.split_half(member, correct, n_splits=3, seed=7)
    gen = torch.Generator().manual_seed(7)
    rs = []
    for _ in range(3):
        perm = torch.randperm(t, generator=gen).tolist()
        halves = []
        for h in (perm[:6], perm[6:]):
            score = []
            for i in range(P):
                a = [float(correct[k, i]) for k in h if member[k, i]]
                b = [float(correct[k, i]) for k in h if not member[k, i]]
                score.append(np.mean(a) - np.mean(b) if a and b else np.nan)
            halves.append(np.array(score))
        ok = ~np.isnan(halves[0]) & ~np.isnan(halves[1])
        rs.append(np.corrcoef(halves[0][ok], halves[1][ok])[0, 1])
    r = np.mean(rs)
    assert got["r_half"] == pytest.approx(r)
    assert got["reliability"] == pytest.approx(2 * r / (1 + r))
    with pytest.raises(ValueError, match="t >= 4"):
        mz.split_half(member[:3], correct[:3])
    with pytest.raises(ValueError, match="n_splits"):
        mz.split_half(member, correct, n_splits=0)


def test_binomial_reliability_by_hand_and_as_a_bound():
    g = np.random.default_rng(7)
    member = torch.as_tensor(g.random((6, 9)) < 0.5)
    correct = torch.as_tensor(g.random((6, 9)) < 0.6)
    got = mz.binomial_reliability(member, correct)
    rows = []  # by hand: the pairs seen by >= 2 models and missed by >= 2
    for i in range(9):
        a = [float(correct[k, i]) for k in range(6) if member[k, i]]
        b = [float(correct[k, i]) for k in range(6) if not member[k, i]]
        if len(a) >= 2 and len(b) >= 2:
            ma, mb = np.mean(a), np.mean(b)
            rows.append((ma - mb, ma * (1 - ma) / (len(a) - 1) + mb * (1 - mb) / (len(b) - 1),
                         0.25 / len(a) + 0.25 / len(b)))
    score, noise, worst = np.array(rows).T
    observed = np.var(score, ddof=1)
    assert len(rows) >= 3
    assert got["observed_var"] == pytest.approx(observed)
    assert got["plug_in"] == pytest.approx(1 - noise.mean() / observed)
    assert got["bound"] == pytest.approx(max(0, 1 - worst.mean() / observed))
    # a simulated ensemble: the bound stays below the split-half reliability
    g = np.random.default_rng(6)
    t, P = 32, 400
    a = g.random(P)
    member = torch.as_tensor(g.random((t, P)) < 0.5)
    correct = torch.as_tensor(g.random((t, P)) < np.where(member.numpy(), a, 1 - a))
    rel = mz.split_half(member, correct, n_splits=10)["reliability"]
    b = mz.binomial_reliability(member, correct)
    assert b["bound"] <= rel and abs(b["plug_in"] - rel) < 0.1


# ----------------------------------------------------------------------------- leverage
def _refit_ridge(X, Y, lam):
    A = X.T @ X + lam * torch.eye(X.shape[1], dtype=torch.float64)
    return torch.linalg.solve(A, X.T @ Y)


@pytest.mark.parametrize("lam", [0.1, 1.0])
def test_ridge_loo_against_n_refits(lam):
    p = 7
    train, labels, _ = split_and_corrupt(p, "add", 0.6, 0.3, 1)
    index = train.nonzero().squeeze(1)
    y = labels[index]
    got = mz.ridge_loo(p, index, y, lam=lam)
    X = mz.one_hot_pairs(p, index)
    Y = torch.nn.functional.one_hot(y, p).double()
    full = X @ _refit_ridge(X, Y, lam)
    for i in range(len(index)):
        keep = torch.arange(len(index)) != i
        loo = X[i] @ _refit_ridge(X[keep], Y[keep], lam)
        assert got.loo_change[i] == pytest.approx(float(full[i, y[i]] - loo[y[i]]), abs=1e-10)
        assert got.residual[i] == pytest.approx(float(1 - full[i, y[i]]), abs=1e-10)
    H = X @ torch.linalg.solve(X.T @ X + lam * torch.eye(2 * p, dtype=torch.float64), X.T)
    assert np.allclose(got.leverage, torch.diagonal(H).numpy())


@pytest.mark.parametrize("kind", mz.RIDGE_KERNELS)
def test_kernel_ridge_loo_against_n_refits(kind):
    p, lam = 7, 0.5
    train, labels, _ = split_and_corrupt(p, "add", 0.6, 0.3, 2)
    index = train.nonzero().squeeze(1)
    y = labels[index]
    got = mz.kernel_ridge_loo(p, index, y, lam=lam, kind=kind)
    Y = torch.nn.functional.one_hot(y, p).double()
    n = len(index)
    for i in range(n):
        keep = (torch.arange(n) != i).nonzero().squeeze(1)
        K = mz.pair_kernel(p, index[keep], index[keep], kind)
        coef = torch.linalg.solve(K + lam * torch.eye(len(keep), dtype=torch.float64), Y[keep])
        loo = mz.pair_kernel(p, index[i:i + 1], index[keep], kind) @ coef
        Kf = mz.pair_kernel(p, index, index, kind)
        full = Kf[i] @ torch.linalg.solve(Kf + lam * torch.eye(n, dtype=torch.float64), Y)
        assert got.loo_change[i] == pytest.approx(float(full[y[i]] - loo[0, y[i]]), abs=1e-9)


def test_pair_kernel_by_hand():
    p = 5
    k = mz.pair_kernel(p, [0 * p + 1], [0 * p + 1, 0 * p + 2, 3 * p + 1, 3 * p + 4], "rbf", gamma=0.5)
    assert torch.allclose(k[0], torch.exp(-0.5 * torch.tensor([0.0, 2, 2, 4], dtype=torch.float64)))
    q = mz.pair_kernel(p, [1], [1, 2, 9], "quadratic")
    assert q[0].tolist() == [9.0, 4.0, 1.0]
    with pytest.raises(ValueError, match="kind"):
        mz.pair_kernel(p, [1], [2], "cubic")
    with pytest.raises(ValueError, match="index"):
        mz.one_hot_pairs(p, [25])


def test_leverage_is_nearly_constant_on_one_hot_pairs():
    p = 23
    train, labels, _ = split_and_corrupt(p, "add", 0.7, 0.25, 0)
    index = train.nonzero().squeeze(1)
    for frame in (mz.ridge_loo(p, index, labels[index]),
                  mz.kernel_ridge_loo(p, index, labels[index])):
        h = frame.leverage
        assert h.std() / h.mean() < 0.1


def test_leverage_input_checks():
    with pytest.raises(ValueError, match="lam"):
        mz.ridge_loo(5, [0, 1], [0, 1], lam=-1)
    with pytest.raises(ValueError, match="labels"):
        mz.ridge_loo(5, [0, 1], [0, 7])
    with pytest.raises(ValueError, match="same length"):
        mz.kernel_ridge_loo(5, [0, 1, 2], [0, 1])


# ----------------------------------------------------------------------------- with the engine
CFG = gb.Config(p=11, width=24, steps=60, log_every=10)


def test_fit_recorder_against_retraining():
    runs = gb.grid(alpha=0.6, xi=0.3, wd=[0.0, 1.0], seed=3)
    rec = mz.FitRecorder()
    result = gb.train(runs, CFG, device="cpu", progress=False, on_log=rec,
                      max_memory_gb=bytes_per_run(CFG) / 2**30)  # one run a chunk
    assert rec.first_fit.shape == (2, 121)
    fitted = {}
    for step in range(0, 61, 10):
        if step == 0:
            model = gb.BatchedMLP.init(11, 24, [3, 3])
        else:
            model = gb.train(runs, gb.Config(p=11, width=24, steps=step, log_every=10),
                             device="cpu", progress=False).model
        fitted[step] = (model.eval()().argmax(-1) == result.data.labels)
    first = torch.full((2, 121), math.nan, dtype=torch.float64)
    for step in sorted(fitted, reverse=True):
        first[fitted[step]] = step
    assert torch.equal(first.isnan(), rec.first_fit.isnan())
    assert torch.equal(first.nan_to_num(-1), rec.first_fit.nan_to_num(-1))
    last = torch.full((2, 121), math.nan, dtype=torch.float64)
    still = fitted[60].clone()
    last[still] = 60
    for step in range(50, -1, -10):
        still &= fitted[step]
        last[still] = step
    assert torch.equal(last.nan_to_num(-1), rec.last_fit.nan_to_num(-1))


def test_on_log_must_be_callable():
    with pytest.raises(ValueError, match="on_log"):
        gb.train(gb.grid(), CFG, progress=False, on_log=3)


def test_pruning_drop_against_a_hand_forward():
    result = gb.train(gb.grid(alpha=0.6, xi=0.3, seed=1), CFG, device="cpu", progress=False)
    model, data = result.model, result.data
    fractions = [0.0, 0.25, 0.5]
    got = mz.pruning_drop(model, data, 0, fractions=fractions)
    ipr = result.ipr()[0]
    order = torch.argsort(ipr, stable=True)
    U, V, W = (t[0].detach().double() for t in (model.U, model.V, model.W))
    m, n = torch.arange(11).repeat_interleave(11), torch.arange(11).repeat(11)
    correct = []
    for f in fractions:
        mask = torch.ones(24, dtype=torch.float64)
        mask[order[: round(f * 24)]] = 0
        out = ((U[:, m] + V[:, n]) ** 2 * mask[:, None]).T @ W.T
        correct.append((out.argmax(-1) == data.labels[0]).double())
    want = correct[0] - torch.stack(correct).mean(0)
    assert np.allclose(got, want.numpy())
    with pytest.raises(ValueError, match="run"):
        mz.pruning_drop(model, data, 5)


def test_score_table():
    s = {"a": np.array([1.0, 2.0, np.nan, 0.0]), "b": np.array([0.0, 1.0, 2.0, 3.0])}
    pos = np.array([False, True, True, False])
    table = mz.score_table(s, pos, np.array([True, True, True, True]))
    assert table.loc["a", "auc"] == pytest.approx(1.0) and table.loc["a", "defined"] == 3
    assert table.loc["b", "auc"] == pytest.approx(0.5)


# ----------------------------------------------------------------------------- the named sweep
def test_per_example_records_round_trip_through_the_cache(tmp_path):
    from grokbook.store import sweeps
    runs = tuple(ensembles.ensemble_runs(4, alpha=0.6, xi=0.3, subset=0.7, data_seed=1))
    s = sweeps.Sweep("tiny_ensemble", "quick", (sweeps.Part("wd 0", CFG, runs),), history_every=20,
                     per_example=True)
    plain = sweeps.Sweep("tiny_ensemble", "quick", (sweeps.Part("wd 0", CFG, runs),),
                         history_every=20)
    assert "per_example" in s.definition() and "per_example" not in plain.definition()
    assert s.key() != plain.key()
    sweeps.run_sweep(s, device="cpu", directory=tmp_path, progress=False, chunk_runs=3)
    data = sweeps.load_sweep(s, directory=tmp_path)
    assert data.per_example["pred"].dtype == np.int16 and data.per_example["pred"].shape == (4, 121)
    stored = ensembles.ensemble_from_sweep(data, range(4))
    result = gb.train(list(runs), CFG, device="cpu", progress=False)  # the same runs, live
    train, given, changed = ensembles.parent_data(11, "add", runs[0])
    out = result.model()
    assert torch.equal(stored.member, result.data.train) and torch.equal(stored.pred, out.argmax(-1))
    assert torch.equal(stored.given, given) and torch.equal(stored.changed, changed)
    assert stored.temperature == mz.TEMPERATURE and stored.temperatures == mz.TEMPERATURES
    assert data.per_example["logp"].shape == (4, 121, len(mz.TEMPERATURES))
    for T in mz.TEMPERATURES:  # every stored temperature against the live outputs (float16 storage)
        live = mz.label_logprob(out, given.expand(4, -1), T)
        assert torch.allclose(stored.at_temperature(T).logp, live, rtol=2e-3, atol=2e-2), T
        assert ensembles.ensemble_from_sweep(data, [1, 3], temperature=T).logp.shape == (2, 121)
    with pytest.raises(ValueError, match="temperature must be one of"):
        stored.at_temperature(0.5)
    two = stored.select([0, 2])
    assert two.t == 2 and len(two.runs) == 2 and two.at_temperature(1.0).logp.shape == (2, 121)
    sweeps.run_sweep(plain, device="cpu", directory=tmp_path, progress=False)
    with pytest.raises(ValueError, match="per-example"):
        ensembles.ensemble_from_sweep(sweeps.load_sweep(plain, directory=tmp_path), range(4))


# ----------------------------------------------------------------------------- the chapter's figures
# ----------------------------------------------------------------------------- chapter 8's plumbing
def test_on_table_against_a_loop():
    g = np.random.default_rng(3)
    index = g.choice(121, size=30, replace=False)
    values = g.normal(size=30)
    out = mz.on_table(11, index, values)
    for i in range(121):
        hit = np.flatnonzero(index == i)
        assert (out[i] == values[hit[0]]) if len(hit) else np.isnan(out[i])
    with pytest.raises(ValueError, match="values"):
        mz.on_table(11, index, values[:-1])
    with pytest.raises(ValueError, match="index"):
        mz.on_table(11, [121], [1.0])


def test_run_scores_equal_the_scores_one_by_one():
    """run_scores gathers chapter 8's scores: each entry equals the function it stands for."""
    cfg = gb.Config(p=11, width=24, steps=40, log_every=10)
    parent = gb.Run(alpha=0.6, xi=0.3, wd=1.0)
    fit = mz.FitRecorder()
    full = gb.train([parent], cfg, device="cpu", progress=False, on_log=fit)
    subsets = gb.train(ensembles.ensemble_runs(4, alpha=0.6, xi=0.3, wd=1.0), cfg, device="cpu",
                       progress=False)
    train, given, changed = ensembles.parent_data(11, "add", parent)
    out = subsets.model()
    e = ensembles.Ensemble(subsets.data.train, out.argmax(-1), mz.label_logprob(out, given.expand(4, -1)),
                           train, given, subsets.data.truth, changed, subsets.runs)
    index = train.nonzero().squeeze(1)
    ridge = mz.ridge_loo(11, index, given[index], lam=1.0)
    kernel = mz.kernel_ridge_loo(11, index, given[index], lam=1.0, kind="rbf")
    got = mz.run_scores(e, full, 0, given, first_fit=fit.first_fit[0].numpy(), ridge=ridge,
                        kernel=kernel, index=index, never=50.0)
    low = float((full.ipr()[0] < gb.prune.LOW_IPR).float().mean())
    surprisal = mz.surprisal_scores(e.member, e.logp)
    on = lambda v: mz.on_table(11, index.numpy(), v)
    want = {
        "Feldman": mz.feldman_scores(e.member, e.correct).score.to_numpy(),
        "density ratio": mz.density_ratio_scores(e.member, e.logp),
        "surprisal, left out": surprisal["out"].to_numpy(),
        "surprisal, trained on": surprisal["in"].to_numpy(),
        "reproduced": (full.model()[0].argmax(-1) == given).double().numpy(),
        "time to fit": np.where(np.isnan(fit.first_fit[0].numpy()), 50.0, fit.first_fit[0].numpy()),
        "pruning drop": mz.pruning_drop(full.model, full.data, 0, fractions=np.linspace(0, low, 6)),
        "leverage (kernel)": on(kernel.leverage),
        "LOO change (ridge)": on(ridge.loo_change),
        "LOO change (kernel)": on(kernel.loo_change),
    }
    assert list(got) == list(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
        assert got[name].shape == (121,)


def test_heldout_loglik_against_a_loop():
    g = torch.Generator().manual_seed(5)
    t, P = 5, 30
    member = torch.rand(t, P, generator=g) < 0.6
    logps = {T: -torch.rand(t, P, generator=g, dtype=torch.float64) / T for T in (0.1, 1.0)}
    e = ensembles.Ensemble(member, torch.zeros(t, P, dtype=torch.long), logps[0.1], member[0],
                           torch.zeros(P), torch.zeros(P), member[0], pd.DataFrame(index=range(t)), 0.1,
                           logps)
    got = ensembles.heldout_loglik(e)
    for T in (0.1, 1.0):
        per_model = [sum(logps[T][k, i].item() for i in range(P) if not member[k, i]) /
                     sum(1 for i in range(P) if not member[k, i]) for k in range(t)]
        assert got[T] == pytest.approx(sum(per_model) / t, rel=1e-12)
    assert list(got.index) == [0.1, 1.0]


# ----------------------------------------------------------------------------- second-split forgetting
def test_second_split_is_half_of_each_training_set_and_reproducible():
    data = make_splits(11, "add", [0.5, 0.7], [0.2, 0.2], [0, 1])
    second = mz.second_split(data.train, seed=3)
    assert not (second & ~data.train).any()
    for k in range(2):
        assert int(second[k].sum()) == round(0.5 * int(data.train[k].sum()))
    assert torch.equal(second, mz.second_split(data.train, seed=3))
    assert not torch.equal(second, mz.second_split(data.train, seed=4))
    with pytest.raises(ValueError, match="fraction"):
        mz.second_split(data.train, fraction=1.5)


def forgetting_by_loop(model, data, second, lr, wd, steps, betas=(0.9, 0.98), eps=1e-8):
    """Each run on its own, with torch.optim.AdamW and the network written out by hand."""
    p = data.p
    m, n = torch.arange(p).repeat_interleave(p), torch.arange(p).repeat(p)  # pair i = (m, n) = divmod(i, p)
    out_steps = []
    for k in range(model.K):
        U, V, W = (t[k].detach().clone().requires_grad_(True) for t in (model.U, model.V, model.W))
        opt = torch.optim.AdamW([U, V, W], lr=float(lr[k]), weight_decay=float(wd[k]), betas=betas, eps=eps)
        target = torch.nn.functional.one_hot(data.labels[k], p).to(U.dtype)
        last = torch.full((p * p,), -1)
        for step in range(steps + 1):
            out = ((U[:, m] + V[:, n]) ** 2).T @ W.T  # (P, p)
            last[out.argmax(1) == data.labels[k]] = step
            if step == steps:
                break
            loss = ((out - target) ** 2).mean(1)[second[k]].mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        out_steps.append(last + 1)
    return torch.stack(out_steps)


def test_second_split_forgetting_matches_a_per_run_loop():
    runs = gb.grid(alpha=0.6, xi=0.3, wd=[0.0, 2.0])
    result = gb.train(runs, gb.Config(p=7, width=12, steps=60, log_every=60), dtype=torch.float64,
                      progress=False)
    second = mz.second_split(result.data.train, seed=1)
    lr, wd = result.runs.lr.to_numpy(), result.runs.wd.to_numpy()
    got = mz.second_split_forgetting(result.model, result.data, second, lr=lr, wd=wd, steps=25)
    want = forgetting_by_loop(result.model, result.data, second, lr, wd, 25)
    assert torch.equal(got, want)
    # kept and forgotten both occur
    assert ((got >= 0) & (got <= 26)).all() and (got == 26).any() and (got < 26).any()
    assert torch.equal(result.model.U, result.model.U.detach())  # the trained networks are left alone


def test_second_split_forgetting_refuses_bad_input():
    result = gb.train(gb.grid(alpha=0.6, xi=0.3), gb.Config(p=7, width=8, steps=5), progress=False)
    d = result.data
    ok = dict(lr=[0.01], wd=[0.0], steps=3)
    with pytest.raises(ValueError, match=r"second must be \(K, P\)"):
        mz.second_split_forgetting(result.model, d, d.train[:, :10], **ok)
    with pytest.raises(ValueError, match="second must hold training pairs only"):
        mz.second_split_forgetting(result.model, d, d.test, **ok)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        mz.second_split_forgetting(result.model, d, mz.second_split(d.train), lr=[0.01], wd=[0.0], steps=0)
    with pytest.raises(ValueError, match=r"lr must be one number or 1 \(one per run\), each positive"):
        mz.second_split_forgetting(result.model, d, mz.second_split(d.train), lr=[-0.01], wd=[0.0], steps=3)
    with pytest.raises(ValueError, match=r"wd must be one number or 1"):
        mz.second_split_forgetting(result.model, d, mz.second_split(d.train), lr=0.01, wd=[0.0, 1.0], steps=3)
