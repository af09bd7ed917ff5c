"""The assertion chapter 5 made about the code, as tests (issue 30): the pruning explorer holds
gb.prune_curves' curves and, at each fraction, the neurons a brute-force ranking prunes; and a pruning curve is what the
chapter's idea says it is, the network with the pruned neurons' terms deleted from the output sum
(checked against a float64 loop over the pairs and the neurons that knows nothing of masks or
batches).  Small trained networks, a few seconds."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import grokbook as gb

FRACTIONS = np.linspace(0, 1, 21).round(2)  # the chapter's fractions


@pytest.fixture(scope="module")
def coexisting():
    """Two small runs without weight decay on corrupted labels (the chapter's setting, small)."""
    runs = gb.grid(alpha=0.7, xi=0.25, wd=0.0, seed=[0, 1])
    return gb.train(runs, gb.Config(p=11, width=24, steps=150, log_every=150),
                    dtype=torch.float64, device="cpu", progress=False)


def test_the_explorer_shows_gb_prune_curves(coexisting):
    """Chapter 5, 'Explore': at every order and fraction the explorer holds gb.prune_curves' row,
    and its histograms split the neurons as a plain ranking by IPR (random: prune_order) does."""
    pytest.importorskip("altair")
    ipr = gb.model_ipr(coexisting.model)[0]
    reference = gb.prune_curves(coexisting.model, coexisting.data, fractions=FRACTIONS)
    states = gb.explorers.pruning_explorer(ipr, reference, "low", 0.65).tables["states"]
    assert len(states) == 3 * len(FRACTIONS)
    N = len(ipr)
    for row in states.itertuples():
        order = {v: k for k, v in gb.explorers.ORDER_NAMES.items()}[row.order]
        want = reference[(reference.order == order) & np.isclose(reference.fraction, row.fraction)]
        for m in ("test_acc", "corrupt_acc", "clean_acc"):
            assert row._asdict()[m] == pytest.approx(want[m].iloc[0], abs=1e-4)
        ranked = (sorted(range(N), key=lambda k: float(ipr[k]), reverse=order == "high")
                  if order != "random" else gb.prune_order(ipr, "random", 0).tolist())
        gone = ranked[:round(row.fraction * N)]
        assert row.pruned == len(gone)
        edges = np.linspace(0, 1, len(row.gone) + 1)
        count = lambda ks: [sum(1 for k in ks if edges[b] <= min(float(ipr[k]), 1) and
                                (min(float(ipr[k]), 1) < edges[b + 1] or b == len(edges) - 2))
                            for b in range(len(edges) - 1)]
        assert list(row.gone) == count(gone)
        assert list(row.kept) == count([k for k in range(N) if k not in set(gone)])


def brute_force_curve(model, data, run, order, fractions):
    """Accuracies with the first round(f N) neurons of ``order`` removed, by deleting their terms
    from f(m, n) = sum_k W[:, k] (U[k, m] + V[k, n])^2, one pair at a time, in float64 numpy."""
    U = model.U[run].detach().double().numpy()
    V = model.V[run].detach().double().numpy()
    W = model.W[run].detach().double().numpy()
    N, p = U.shape
    ipr = gb.model_ipr(model)[run].double().numpy()
    ranked = sorted(range(N), key=lambda k: ipr[k], reverse=(order == "high"))
    labels = data.labels[run].tolist()
    train, corrupted = data.train[run].tolist(), data.corrupted[run].tolist()
    rows = []
    for f in fractions:
        gone = set(ranked[:round(f * N)])
        kept = [k for k in range(N) if k not in gone]
        hits = {"test": [], "changed_given": [], "changed_true": [], "clean": []}
        for m in range(p):
            for n in range(p):
                i, true = m * p + n, (m + n) % p
                out = sum((W[:, k] * (U[k, m] + V[k, n]) ** 2 for k in kept), np.zeros(p))
                pred = int(np.argmax(out))
                if not train[i]:
                    hits["test"].append(pred == true)
                elif corrupted[i] and labels[i] != true:
                    hits["changed_given"].append(pred == labels[i])
                    hits["changed_true"].append(pred == true)
                else:
                    hits["clean"].append(pred == labels[i])
        rows.append({k: float(np.mean(v)) for k, v in hits.items()})
    return rows


@pytest.mark.parametrize("order", ["low", "high"])
def test_a_pruning_curve_deletes_the_pruned_neurons_terms(coexisting, order):
    """Chapter 5, 'The idea': pruning without retraining deletes one term of the output sum per
    pruned neuron; gb.prune_curve's accuracies (test, changed labels against the given and the
    true label, clean) equal a loop that sums over the kept neurons only."""
    fractions = [0.0, 0.25, 0.5, 0.75, 1.0]
    for run in (0, 1):
        curve = gb.prune_curve(coexisting.model, coexisting.data, run, order=order,
                               fractions=fractions)
        for (_, got), want in zip(curve.iterrows(), brute_force_curve(
                coexisting.model, coexisting.data, run, order, fractions)):
            assert got.test_acc == pytest.approx(want["test"], abs=1e-12)
            assert got.corrupt_acc == pytest.approx(want["changed_given"], abs=1e-12)
            assert got.corrupt_true_acc == pytest.approx(want["changed_true"], abs=1e-12)
            assert got.clean_acc == pytest.approx(want["clean"], abs=1e-12)
