"""The exercise checks of chapter 7, Two stages: grokking, then unlearning the changed labels
(book/07_two_stages.ipynb), in the order the chapter calls them."""
from __future__ import annotations

import torch

from .harness import assert_settings, case_seed, remeasured, report, report_experiment, same_step

__all__ = ["corrupted_accuracy", "unlearning_step", "inversion_grows_with_weight_decay"]


def corrupted_accuracy(fn) -> bool:
    """``fn(pred, labels, truth, train)``: accuracy on the *corrupted* training examples
    (training pairs whose given label differs from the truth), against the given labels and
    against the true labels, as a pair of floats.  All arguments are 1-D tensors of the same
    length (``train`` boolean).  With no corrupted example, return (nan, nan).
    """
    import math

    def want(pred, labels, truth, train):
        changed = train & (labels != truth)
        if not changed.any():
            return float("nan"), float("nan")
        return ((pred == labels)[changed].double().mean().item(),
                (pred == truth)[changed].double().mean().item())

    def case(pred, labels, truth, train, what):
        def run(f):
            got = f(pred.clone(), labels.clone(), truth.clone(), train.clone())
            assert len(got) == 2, f"{what}: return a pair (given, true), got {got!r}"
            for g_, w_, name in zip(got, want(pred, labels, truth, train), ("given", "true")):
                g_ = float(g_)
                if math.isnan(w_):
                    assert math.isnan(g_), f"{what}: {name}-label accuracy {g_}, expected nan"
                else:
                    assert abs(g_ - w_) < 1e-6, f"{what}: {name}-label accuracy {g_:.4f}, expected {w_:.4f}"
        return run

    g = torch.Generator().manual_seed(case_seed(7))
    truth = torch.tensor([0, 1, 2, 3, 4, 0])
    labels = torch.tensor([0, 3, 2, 1, 4, 2])  # pairs 1, 3 and 5 corrupted
    train = torch.tensor([True, True, True, True, False, True])
    cases = [case(truth.clone(), labels, truth, train, "predicting every true label (Full Inversion)"),
             case(labels.clone(), labels, truth, train, "predicting every given label (memorization)"),
             case(truth.clone(), truth.clone(), truth, train, "no corrupted label at all"),
             case(labels.clone(), labels, truth, torch.tensor([True, False, True, True, True, True]),
                  "a corrupted pair outside the training set does not count")]
    for n, p in ((50, 7), (500, 53), (3000, 97)):
        truth = torch.randint(0, p, (n,), generator=g)
        corrupt = torch.rand(n, generator=g) < 0.3
        labels = torch.where(corrupt, torch.randint(0, p, (n,), generator=g), truth)
        pick = torch.rand(n, generator=g)
        pred = torch.where(pick < 0.4, truth, torch.where(pick < 0.7, labels,
                                                          torch.randint(0, p, (n,), generator=g)))
        train = torch.rand(n, generator=g) < 0.6
        cases.append(case(pred, labels, truth, train, f"random, n={n}, p={p}"))
    return report("corrupted_accuracy", fn, cases)


def unlearning_step(fn) -> bool:
    """``fn(steps, train_acc, inverted, fit=0.95, tol=0.03)``: the first logged step at which
    the train accuracy, having first reached ``fit`` (stage 1), has come down to at most
    ``inverted + tol`` (stage 2); None (or NaN) if either never happens.
    """
    import numpy as np
    import pandas as pd

    from ...analysis.history import stages

    def want(steps, acc, inverted, fit, tol):
        frame = pd.DataFrame({"run": 0, "step": steps, "train_acc": acc, "test_acc": 0.0})
        return stages(frame, inverted, fit=fit, tol=tol).loc[0, "unlearn_step"]

    def case(steps, acc, inverted, what, fit=0.95, tol=0.03):
        steps, acc = np.asarray(steps), np.asarray(acc, dtype=float)
        def run(f):
            got = f(steps.copy(), acc.copy(), inverted, fit, tol)
            same_step(got, want(steps, acc, inverted, fit, tol), what)
        return run

    g = np.random.default_rng(case_seed(7))
    cases = [
        case([0, 10, 20, 30, 40, 50], [0.0, 0.6, 0.99, 0.9, 0.76, 0.75], 0.75, "memorize, then unlearn"),
        case([0, 10, 20, 30], [0.0, 0.5, 0.78, 0.76], 0.75,
             "below the level before ever memorizing: it only counts after stage 1"),
        case([0, 10, 20, 30], [0.0, 0.97, 1.0, 0.99], 0.75, "memorizes and never unlearns"),
        case([0, 10, 20, 30], [0.0, 0.95, 0.8, 0.77], 0.75, "exactly at fit counts as stage 1"),
        case([0, 5, 50, 60, 400], [0.1, 0.99, 0.7, 0.6, 0.01], 0.7, "unevenly spaced, then forgets",
             tol=0.0),
    ]
    for _ in range(3):
        n = int(g.integers(20, 150))
        steps = np.cumsum(g.integers(1, 20, n)) - 1
        up = np.clip(np.cumsum(np.abs(g.normal(0.05, 0.05, n))), 0, 1)
        down = np.clip(1 - np.cumsum(np.abs(g.normal(0.0, 0.01, n))), 0.6, 1)
        cases.append(case(steps, np.minimum(up, down), float(g.uniform(0.6, 0.8)), "a random curve"))
    return report("unlearning_step", fn, cases)


def inversion_grows_with_weight_decay(experiment, partial_wd: float, full_wd: float) -> bool:
    """Chapter 7's experiment.  ``experiment()`` returns the result of one ``gb.train`` call:
    runs at one alpha and xi > 0 with at least four weight decays from the chapter's Partial
    Inversion value ``partial_wd`` to its Full Inversion value ``full_wd`` (both included).

    The claim: stage 2 goes further the larger the weight decay.  The fraction of changed
    training pairs answered with their true label never falls by more than 0.03 from one weight
    decay to the next (near 1 it wavers by a pair or two); it is below 0.9 at ``partial_wd`` (part
    of the changed labels stay memorized) and at least 0.95 at ``full_wd``; every run generalizes
    (test accuracy >= 95%)."""
    claim = (f"from wd {partial_wd:g} to {full_wd:g} the changed pairs answered truly grow from "
             "below 0.9 to at least 0.95, never falling on the way")

    def settings(result):
        table = remeasured(result)

        def between(v):
            """weight decays from partial_wd to full_wd"""
            return partial_wd - 1e-6 <= v <= full_wd + 1e-6
        assert_settings(table, wd=between)
        wds = sorted(table.wd.unique())
        assert len(wds) >= 4, f"train at least four weight decays, got {wds}"
        assert abs(wds[0] - partial_wd) < 1e-6 and abs(wds[-1] - full_wd) < 1e-6, (
            f"include both ends, {partial_wd:g} and {full_wd:g}; got {wds}")
        assert table.alpha.nunique() == 1 and table.xi.nunique() == 1 and (table.xi > 0).all(), (
            "one alpha and one xi > 0 for every run")

    def grows(result):
        table = remeasured(result)
        truly = table.groupby("wd").corrupt_true_acc.mean()
        print("inversion_grows_with_weight_decay: changed pairs answered truly by wd: "
              + ", ".join(f"{wd:g}: {a:.3f}" for wd, a in truly.items()))
        assert (table.test_acc >= 0.95).all(), f"test accuracy: {table.test_acc.round(3).tolist()}"
        assert (truly.diff().dropna() >= -0.03).all(), f"it falls somewhere: {truly.round(3).to_dict()}"
        assert truly.iloc[0] < 0.9, (
            f"at wd {truly.index[0]:g} already {truly.iloc[0]:.3f} (not Partial Inversion)")
        assert truly.iloc[-1] >= 0.95, (
            f"at wd {truly.index[-1]:g} only {truly.iloc[-1]:.3f} (not Full Inversion)")

    return report_experiment("inversion_grows_with_weight_decay", experiment, claim, [settings, grows])
