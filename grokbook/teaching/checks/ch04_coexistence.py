"""The exercise checks of chapter 4, Memorization and generalization coexist
(book/04_coexistence.ipynb), in the order the chapter calls them."""
from __future__ import annotations

import torch

from ...analysis.prune import LOW_IPR
from ...engine.data import task_table
from .harness import assert_settings, case_seed, close, remeasured, report, report_experiment

__all__ = ["corrupted_accuracies", "phase_rule", "more_corruption_memorization"]


def _random_split(g, p, alpha, xi):
    """Random predictions and a random split with corrupted labels, as plain tensors."""
    from ...engine.data import split_and_corrupt

    seed = int(torch.randint(0, 10_000, (1,), generator=g))
    train, labels, corrupted = split_and_corrupt(p, "add", alpha, xi, seed)
    truth, _ = task_table(p, "add")
    # predictions: mostly the given label, some the truth, some random
    pick = torch.randint(0, 3, labels.shape, generator=g)
    pred = torch.where(pick == 0, labels, torch.where(pick == 1, truth,
                       torch.randint(0, p, labels.shape, generator=g)))
    return pred, labels, truth, train


def corrupted_accuracies(fn) -> bool:
    """``fn(pred, labels, truth, train)`` returns (corrupt_acc, corrupt_true_acc, clean_acc).

    All four are (p*p,) tensors over the table: predictions, labels as given, true labels,
    the training mask.  The corrupted examples are the training pairs whose given label
    differs from the truth (a redrawn label that came out right is clean); corrupt_acc
    compares the prediction there with the given label, corrupt_true_acc with the true one;
    clean_acc is the accuracy on the other training pairs.
    """
    from ...engine.train import evaluate

    class _Table(torch.nn.Module):  # a "model" that outputs one-hot predictions
        def __init__(self, pred, p):
            super().__init__()
            self.out = torch.nn.functional.one_hot(pred, p).double()[None]

        def forward(self, neuron_mask=None):
            return self.out

    def case(p, alpha, xi, g):
        from ...engine.data import Splits
        pred, labels, truth, train = _random_split(g, p, alpha, xi)
        valid = torch.ones(p * p, dtype=torch.bool)
        data = Splits(p, "add", truth, valid, train[None], labels[None],
                      (labels != truth)[None] & train[None])
        want = evaluate(_Table(pred, p), data)

        def run(f):
            got = f(pred.clone(), labels.clone(), truth.clone(), train.clone())
            assert len(got) == 3, f"p={p}: return three numbers, got {len(got)}"
            for name, value in zip(("corrupt_acc", "corrupt_true_acc", "clean_acc"), got):
                close(float(value), want[name][0].item(), f"p={p}, alpha={alpha}, xi={xi}: {name}")
        return run

    g = torch.Generator().manual_seed(case_seed(6))
    cases = [case(p, a, x, g) for p, a, x in ((7, 0.6, 0.5), (31, 0.5, 0.35), (53, 0.7, 0.25),
                                               (97, 0.3, 0.9))]
    return report("corrupted_accuracies", fn, cases)


def phase_rule(fn) -> bool:
    """``fn(train_acc, test_acc, xi)`` returns the paper's phase name (``grokbook.PHASES``):
    with a threshold of 0.9 on both accuracies, Coexistence (both at least 0.9), Memorization
    (train only), Forgetting / Confusion (neither), and with test >= 0.9 but train < 0.9 Partial
    Inversion if train >= 1.05 - xi, else Full Inversion.  The cases sit on and beside every
    boundary."""
    from ...core.phases import phase

    g = torch.Generator().manual_seed(case_seed(4))

    def case(train, test, xi, what):
        def run(f):
            got, want = f(train, test, xi), phase(train, test, xi)
            assert got == want, f"{what}: train {train}, test {test}, xi {xi}: {got!r}, expected {want!r}"
        return run

    cases = [case(0.9, 0.9, 0.3, "both exactly at the threshold"),
             case(0.95, 0.899, 0.3, "test just below the threshold"),
             case(0.5, 0.2, 0.3, "neither"),
             case(0.75, 0.99, 0.3, "train exactly at 1.05 - xi"),
             case(0.7499, 0.99, 0.3, "train just below 1.05 - xi"),
             case(0.65, 1.0, 0.35, "the paper's xi, near its Full Inversion level"),
             case(0.88, 0.97, 0.1, "small xi: 1.05 - xi is above the threshold")]
    for _ in range(20):
        train, test, xi = (round(float(v), 3) for v in torch.rand(3, generator=g))
        cases.append(case(train, test, xi, "random"))
    return report("phase_rule", fn, cases)


def more_corruption_memorization(experiment, low: float = LOW_IPR) -> bool:
    """Chapter 4's experiment.  ``experiment()`` returns the result of one ``gb.train`` call:
    runs without weight decay at one alpha and at least two corruptions xi, one below 0.5 and
    one of at least 0.5.

    The claim: the network keeps memorizing the changed labels however many there are (at least
    90% of them fitted in every run, 99% at xi >= 0.5), but from xi 0.5 on it stops
    generalizing (test accuracy below 10%: Memorization), and the number of low-IPR neurons (IPR
    below ``low``) grows with xi: it never falls from one xi to the next, and is larger at the
    largest xi than at the smallest."""
    from ...engine.fourier import model_ipr

    claim = ("more changed labels: all still memorized, test accuracy at chance from xi 0.5 on, "
             f"and more neurons with IPR < {low}")

    def settings(result):
        table = remeasured(result)
        assert_settings(table, wd=0.0)
        assert table.alpha.nunique() == 1, f"one alpha for every run, got {sorted(table.alpha.unique())}"
        assert (table.xi < 0.5).any() and (table.xi >= 0.5).any(), (
            f"train at a xi below 0.5 and one of at least 0.5, got {sorted(table.xi.unique())}")

    def memorizes(result):
        table = remeasured(result).sort_values("xi")
        for r in table.itertuples():
            print(f"more_corruption_memorization: xi {r.xi:g}: changed labels fitted {r.corrupt_acc:.3f}, "
                  f"test accuracy {r.test_acc:.3f}")
        assert (table.corrupt_acc >= 0.9).all(), (
            f"changed labels fitted: {table.corrupt_acc.round(3).tolist()}")
        high = table[table.xi >= 0.5]
        assert (high.corrupt_acc >= 0.99).all(), (
            f"at xi >= 0.5, changed labels fitted: {high.corrupt_acc.round(3).tolist()}")
        assert (high.test_acc < 0.1).all(), (
            f"at xi >= 0.5, test accuracy {high.test_acc.round(3).tolist()}: not all < 0.1")

    def more_neurons(result):
        table = remeasured(result)
        table["n_low"] = (model_ipr(result.model) < low).sum(1).numpy()
        n_low = table.groupby("xi").n_low.mean()
        print(f"more_corruption_memorization: neurons with IPR < {low} by xi: "
              + ", ".join(f"{x:g}: {n:.0f}" for x, n in n_low.items()))
        assert (n_low.diff().dropna() >= 0).all(), f"the count falls somewhere: {n_low.to_dict()}"
        assert n_low.iloc[-1] > n_low.iloc[0], (
            f"no more low-IPR neurons at xi {n_low.index[-1]:g} than at {n_low.index[0]:g}")

    return report_experiment("more_corruption_memorization", experiment, claim,
                              [settings, memorizes, more_neurons])
