"""Pruning by IPR order (grokbook.analysis.prune) against argsort and literal weight surgery."""
import numpy as np
import pytest
import torch

from grokbook.engine.data import make_splits
from grokbook.engine.fourier import analytic_solution, model_ipr
from grokbook.engine.models import BatchedMLP
from grokbook.analysis.prune import prune_curve, prune_curves, prune_masks, prune_order
from grokbook.engine.train import Config, Run, evaluate, train


import grokbook as gb


F64 = torch.float64
FRACTIONS = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]


@pytest.fixture(scope="module")
def trained():
    """Two small trained runs with a spread of neuron IPRs."""
    runs = [Run(alpha=0.5, xi=0.2, lr=0.01, wd=1.0, data_seed=0, model_seed=0),
            Run(alpha=0.6, xi=0.35, lr=0.01, wd=0.0, data_seed=1, model_seed=1)]
    result = train(runs, Config(p=23, width=48, steps=150, log_every=150), dtype=F64,
                   device="cpu", progress=False)
    ipr = model_ipr(result.model)
    assert ipr.std(1).min() > 0.01  # distinct IPRs: the orders are meaningful
    return result


@pytest.mark.parametrize("order", ["low", "high", "random"])
def test_masks_remove_round_f_n_neurons_in_order(order):
    g = torch.Generator().manual_seed(0)
    N = 37
    ipr = torch.rand(N, generator=g, dtype=F64)
    fractions = [0.0, 0.05, 0.1, 0.33, 0.5, 0.77, 1.0]
    masks = prune_masks(ipr, fractions, order, seed=4)
    assert masks.shape == (len(fractions), N)
    if order == "low":
        ranked = sorted(range(N), key=lambda i: ipr[i].item())
    elif order == "high":
        ranked = sorted(range(N), key=lambda i: -ipr[i].item())
    else:
        ranked = torch.randperm(N, generator=torch.Generator().manual_seed(4)).tolist()
    for row, f in zip(masks, fractions):
        n = round(f * N)
        assert int((row == 0).sum()) == n
        assert set(torch.nonzero(row == 0).squeeze(1).tolist()) == set(ranked[:n])
        assert set(row.unique().tolist()) <= {0.0, 1.0}
    # nested: a larger fraction prunes a superset
    assert ((masks[1:] <= masks[:-1])).all()


def test_prune_order_against_argsort():
    ipr = torch.tensor([0.3, 0.1, 0.9, 0.1, 0.5])
    assert prune_order(ipr, "low").tolist() == [1, 3, 0, 4, 2]  # ties in index order
    assert prune_order(ipr, "high").tolist()[:3] == [2, 4, 0]
    a = prune_order(ipr, "random", seed=1)
    assert sorted(a.tolist()) == list(range(5))
    assert torch.equal(a, prune_order(ipr, "random", seed=1))
    assert any(not torch.equal(a, prune_order(ipr, "random", seed=s)) for s in range(2, 6))


def test_fraction_zero_reproduces_evaluate(trained):
    model, data = trained.model, trained.data
    full = evaluate(model, data)
    for run in (0, 1):
        df = prune_curve(model, data, run, order="low", fractions=FRACTIONS)
        assert df.fraction.tolist() == FRACTIONS
        assert df.n_pruned.tolist() == [round(f * 48) for f in FRACTIONS]
        row = df.iloc[0]
        for name, value in full.items():
            v = value[run].item()
            if np.isnan(v):
                assert np.isnan(row[name])
            else:
                assert row[name] == v, name
        assert row.test_acc == trained.runs.test_acc[run]


def test_fraction_one_outputs_zeros_and_predicts_label_zero(trained):
    model, data = trained.model, trained.data
    for run in (0, 1):
        row = prune_curve(model, data, run, fractions=[1.0]).iloc[0]
        train_mask, test_mask = data.train[run], data.test[run]
        # argmax of an all-zero output is label 0
        assert row.train_acc == (data.labels[run][train_mask] == 0).double().mean().item()
        assert row.test_acc == (data.truth[test_mask] == 0).double().mean().item()
        # MSE of a zero output against one-hot targets is exactly 1 / p
        assert row.loss == pytest.approx(1 / 23, rel=1e-12)
    masks = torch.zeros(1, 48, dtype=F64)
    with torch.no_grad():
        assert torch.equal(model.select([0])(neuron_mask=masks), torch.zeros(1, 23 * 23, 23,
                                                                             dtype=F64))


def surgery_metrics(model, data, run, pruned):
    """Literally zero the pruned neurons' U, V rows and W columns, then evaluate."""
    U = model.U[run].detach().clone()
    V = model.V[run].detach().clone()
    W = model.W[run].detach().clone()
    U[pruned] = 0
    V[pruned] = 0
    W[:, pruned] = 0
    cut = BatchedMLP(U[None], V[None], W[None], activation=model.activation).eval()
    return evaluate(cut, data.select([run]))


@pytest.mark.parametrize("order", ["low", "high", "random"])
def test_mask_equals_zeroing_weights(trained, order):
    model, data = trained.model, trained.data
    run = 1
    df = prune_curve(model, data, run, order=order, fractions=FRACTIONS, seed=3)
    ipr = model_ipr(model)[run]
    ranked = {"low": torch.argsort(ipr, stable=True),
              "high": torch.argsort(-ipr, stable=True),
              "random": torch.randperm(48, generator=torch.Generator().manual_seed(3))}[order]
    for f, (_, row) in zip(FRACTIONS, df.iterrows()):
        pruned = ranked[: round(f * 48)]
        ref = surgery_metrics(model, data, run, pruned)
        for name in ("train_acc", "test_acc", "corrupt_acc", "clean_acc"):
            assert row[name] == ref[name].item(), (f, name)
        for name in ("loss", "test_loss"):
            assert row[name] == pytest.approx(ref[name].item(), rel=1e-12)
    # different orders really prune differently
    assert df.test_acc.nunique() > 1


def test_prune_curves_stacks_orders(trained):
    df = prune_curves(trained.model, trained.data, 0, fractions=[0.0, 0.5])
    assert df.order.tolist() == ["low", "low", "high", "high", "random", "random"]
    assert df[df.fraction == 0].test_acc.nunique() == 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_pruning_of_analytic_solution_keeps_test_accuracy(seed):
    """N = 500 at p = 97: any random half of the neurons (>= 250 left) still solves the task."""
    model = analytic_solution(97, 500, seed=seed, dtype=F64)
    data = make_splits(97, "add", [0.5], [0.0], [seed])
    df = prune_curve(model, data, order="random", fractions=[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.95],
                     seed=seed)
    assert (df.test_acc.iloc[:-1] == 1.0).all()
    assert (df.train_acc.iloc[:-1] == 1.0).all()
    assert df.test_acc.iloc[-1] < 1.0  # 25 neurons left: not enough, so the check has teeth


# ----------------------------------------------------------------------------- moved from the chapter helper tests
def mask(ipr, fraction, order):
    """The pruning exercise's mask, written independently: rank, then zero the first fraction."""
    ranked = torch.argsort(ipr, descending=(order == "high"))
    out = torch.ones(len(ipr))
    out[ranked[: round(fraction * len(ipr))]] = 0
    return out


def test_pruned_output_agrees_with_prune_curve():
    """The mask the exercise builds is what prune_curve evaluates: all pruned gives chance."""
    result = gb.train(gb.grid(alpha=0.6, xi=0.2), gb.Config(p=11, width=24, steps=5), progress=False)
    curve = gb.prune_curve(result.model, result.data, order="low", fractions=[0.0, 1.0])
    assert curve.n_pruned.tolist() == [0, 24]
    ipr = result.ipr()[0]
    want = gb.prune.prune_masks(ipr, [0.5], "low")[0]
    assert torch.equal(mask(ipr, 0.5, "low"), want)


@pytest.mark.parametrize("batchnorm", [False, True])
def test_neuron_output_scale_is_the_size_of_the_neurons_term(batchnorm):
    """Against the output itself: the network with neuron k and without it differ by k's term
    W_:,k a_k; its centred root-mean-square size over the table is the scale."""
    from grokbook.analysis.prune import neuron_output_scale
    torch.manual_seed(0)
    model = gb.BatchedMLP.init(7, 5, seeds=[1, 2], batchnorm=batchnorm, dtype=torch.float64)
    if batchnorm:  # a trained-looking state: gamma far from 1, running statistics far from 0 / 1
        model.gamma.data = torch.randn(2, 5, dtype=torch.float64)
        model.beta.data = torch.randn(2, 5, dtype=torch.float64)
        model.running_mean += 0.3
        model.running_var *= 2.0
    model.train()  # the scale is the evaluation one whatever the mode, and the mode is kept
    got = neuron_output_scale(model)
    assert model.training
    model.eval()
    with torch.no_grad():
        full = model()
        for k in range(5):
            mask = torch.ones(2, 5, dtype=torch.float64)
            mask[:, k] = 0
            term = full - model(neuron_mask=mask)  # (K, 49, 7): neuron k's share of every output
            centred = term - term.mean(dim=1, keepdim=True)
            want = centred.pow(2).sum(-1).mean(1).sqrt()
            assert torch.allclose(got[:, k], want, rtol=1e-10), (k, got[:, k], want)
