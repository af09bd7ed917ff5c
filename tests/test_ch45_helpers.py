"""Chapters 4 and 5: their exercise checks and their figure helpers (grokbook.checks, grokbook.plots).

Every new check must pass the reference solution, fail (AssertionError) on a plausible wrong
answer, and report a stub that raises NotImplementedError as "not attempted yet" (False).
"""
import numpy as np
import pandas as pd
import pytest
import torch

import grokbook as gb
from grokbook import checks, plots


def stub(*args):
    raise NotImplementedError


# ----------------------------------------------------------------------------- chapter 4 checks
def accuracies(pred, labels, truth, train):
    changed = train & (labels != truth)
    clean = train & ~changed
    return ((pred == labels)[changed].double().mean(), (pred == truth)[changed].double().mean(),
            (pred == labels)[clean].double().mean())


def test_corrupted_accuracies_check():
    assert checks.corrupted_accuracies(accuracies) is True
    assert checks.corrupted_accuracies(stub) is False
    with pytest.raises(AssertionError, match="corrupted_accuracies"):
        checks.corrupted_accuracies(lambda pr, l, t, tr: accuracies(pr, t, l, tr))  # swaps given/true
    with pytest.raises(AssertionError, match="corrupted_accuracies"):
        def per_training_pair(pred, labels, truth, train):  # divides by all training pairs
            changed = train & (labels != truth)
            _, _, clean = accuracies(pred, labels, truth, train)
            return (((pred == labels) & changed).sum() / train.sum(),
                    ((pred == truth) & changed).sum() / train.sum(), clean)
        checks.corrupted_accuracies(per_training_pair)
    with pytest.raises(AssertionError, match="corrupted_accuracies"):
        def clean_is_all_train(pred, labels, truth, train):  # clean accuracy over all training pairs
            a, b, _ = accuracies(pred, labels, truth, train)
            return a, b, (pred == labels)[train].double().mean()
        checks.corrupted_accuracies(clean_is_all_train)


# ----------------------------------------------------------------------------- chapter 5 checks
def mask(ipr, fraction, order):
    ranked = torch.argsort(ipr, descending=(order == "high"))
    out = torch.ones(len(ipr))
    out[ranked[: round(fraction * len(ipr))]] = 0
    return out


def test_prune_mask_check():
    assert checks.prune_mask(mask) is True
    assert checks.prune_mask(stub) is False
    with pytest.raises(AssertionError, match="prune_mask"):
        checks.prune_mask(lambda ipr, f, o: mask(ipr, f, "high" if o == "low" else "low"))
    with pytest.raises(AssertionError, match="prune_mask"):
        checks.prune_mask(lambda ipr, f, o: 1 - mask(ipr, f, o))  # keeps the ones to prune
    with pytest.raises(AssertionError, match="prune_mask"):
        checks.prune_mask(lambda ipr, f, o: mask(ipr, min(1.0, f + 0.05), o))  # prunes too many


def test_pruned_output_check():
    assert checks.pruned_output(lambda U, V, W, k, m, n: W @ (k * (U[:, m] + V[:, n]) ** 2)) is True
    assert checks.pruned_output(stub) is False
    with pytest.raises(AssertionError, match="pruned_output"):  # masks the input side only
        checks.pruned_output(lambda U, V, W, k, m, n: W @ (k * U[:, m] + V[:, n]) ** 2)
    with pytest.raises(AssertionError, match="pruned_output"):  # ignores the mask
        checks.pruned_output(lambda U, V, W, k, m, n: W @ (U[:, m] + V[:, n]) ** 2)


def test_pruned_output_agrees_with_prune_curve():
    """The mask the exercise builds is what prune_curve evaluates: all pruned gives chance."""
    result = gb.train(gb.grid(alpha=0.6, xi=0.2), gb.Config(p=11, width=24, steps=5), progress=False)
    curve = gb.prune_curve(result.model, result.data, order="low", fractions=[0.0, 1.0])
    assert curve.n_pruned.tolist() == [0, 24]
    ipr = result.ipr()[0]
    want = gb.prune.prune_masks(ipr, [0.5], "low")[0]
    assert torch.equal(mask(ipr, 0.5, "low"), want)


# ----------------------------------------------------------------------------- plots
@pytest.fixture(scope="module")
def small():
    result = gb.train(gb.grid(alpha=0.6, xi=0.3), gb.Config(p=11, width=32, steps=40, log_every=10),
                      progress=False)
    return result


def test_coexistence_plot(small):
    ax = plots.coexistence(small.history)
    assert len(ax.get_lines()) == 5  # four metrics and the 90% line
    assert ax.get_ylabel() == "accuracy"


def test_ipr_split_counts():
    ipr = np.array([0.05, 0.1, 0.2, 0.45, 0.7, 0.9, 1.0 + 1e-7])
    ax = plots.ipr_split(ipr, low=0.3, high=0.6)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("IPR < 0.3 (memorizing): 3 ")
    assert labels[1].startswith("in between: 1 ")
    assert labels[2].startswith("IPR > 0.6 (generalizing): 3 ")


def test_pruning_plots(small):
    curves = gb.prune_curves(small.model, small.data, fractions=np.linspace(0, 1, 5))
    rand = pd.concat([gb.prune_curve(small.model, small.data, order="random", seed=s,
                                     fractions=np.linspace(0, 1, 5)).assign(seed=s) for s in range(3)])
    both = pd.concat([curves[curves.order != "random"], rand])
    axes = plots.pruning(both)
    assert len(axes) == 3 and all(len(ax.get_lines()) == 4 for ax in axes)
    assert len(axes[2].collections) >= 1  # the band over random seeds
    ax = plots.pruning_by_order(both, "test_acc", mark=0.5, mark_label="low-IPR neurons")
    assert len(ax.get_lines()) == 4
    x, y = ax.get_lines()[0].get_data()
    low = curves[curves.order == "low"]
    assert np.allclose(x, low.fraction) and np.allclose(y, low.test_acc)
    assert ax.get_ylabel() == "test accuracy"
    assert plots.pruning_by_order(curves, "corrupt_acc").get_ylabel().startswith("accuracy on corrupted")
