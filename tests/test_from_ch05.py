"""The assertion chapter 5 made about the code, as tests (issue 30): the pruning explorer shows
gb.prune_curves' curves and reports the row its controls select; and a pruning curve is what the
chapter's idea says it is, the network with the pruned neurons' terms deleted from the output sum
(checked against a float64 loop over the pairs and the neurons that knows nothing of masks or
batches).  Small trained networks, a few seconds."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import grokbook as gb

pytest.importorskip("ipywidgets")
from grokbook.teaching import widgets  # noqa: E402

FRACTIONS = np.linspace(0, 1, 21).round(2)  # the chapter's fractions


@pytest.fixture(scope="module")
def coexisting():
    """Two small runs without weight decay on corrupted labels (the chapter's setting, small)."""
    runs = gb.grid(alpha=0.7, xi=0.25, wd=0.0, seed=[0, 1])
    return gb.train(runs, gb.Config(p=11, width=24, steps=150, log_every=150),
                    dtype=torch.float64, device="cpu", progress=False)


def test_the_explorer_shows_gb_prune_curves(coexisting):
    """Chapter 5, 'Explore': the explorer's curves are gb.prune_curves' (every order, the
    chapter's fractions), and at the position the book draws (lowest IPR first, some fraction)
    its summary reports that row's accuracies."""
    ex = widgets.pruning_explorer(coexisting, fractions=FRACTIONS)
    reference = gb.prune_curves(coexisting.model, coexisting.data, fractions=FRACTIONS)
    assert ex.curves.equals(reference)
    for order, fraction in [("low", 0.65), ("high", 0.3), ("random", 0.5)]:
        ex.order.value, ex.fraction.value = order, float(fraction)
        row = reference[(reference.order == order) & np.isclose(reference.fraction, fraction)].iloc[0]
        assert ex.update().test_acc == row.test_acc
        assert f"test {row.test_acc:.1%}" in ex.summary.value
        assert f"changed labels fitted {row.corrupt_acc:.1%}" in ex.summary.value


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
