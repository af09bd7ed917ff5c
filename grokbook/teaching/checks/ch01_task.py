"""The exercise checks of chapter 1, Modular arithmetic and corrupted labels
(book/01_task_and_corruption.ipynb), in the order the chapter calls them."""
from __future__ import annotations

import torch

from ...engine.data import task_table
from .harness import case_seed, close, report, report_experiment

__all__ = ["task_labels", "expected_chance_correct", "inversion_train_accuracy", "corruption_spread"]


def task_labels(fn) -> bool:
    """``fn(p, op)`` returns the (p, p) table of op(m, n) mod p (row m, column n).

    Division entries with n = 0 are not compared.
    """
    def case(p, op):
        def run(f):
            truth, valid = task_table(p, op)
            got = torch.as_tensor(f(p, op)).reshape(-1)
            assert got.numel() == p * p, f"p={p}, op={op}: {got.numel()} entries, expected {p * p}"
            bad = ((got != truth) & valid).nonzero()
            assert len(bad) == 0, (f"p={p}, op={op}: wrong label at (m, n) = "
                                   f"{divmod(bad[0].item(), p)}")
        return run
    return report("task_labels", fn, [case(p, op) for p in (5, 7, 13)
                                       for op in ("add", "subtract", "multiply", "divide")])


def expected_chance_correct(fn) -> bool:
    """``fn(n_corrupted, p)``: expected number of corrupted labels that equal the truth by chance."""
    g = torch.Generator().manual_seed(case_seed(1))
    cases = []
    for _ in range(5):
        n, p = int(torch.randint(10, 5000, (1,), generator=g)), int(torch.randint(2, 200, (1,), generator=g))
        cases.append(lambda f, n=n, p=p: close(f(n, p), n / p, f"n_corrupted={n}, p={p}"))
    return report("expected_chance_correct", fn, cases)


def inversion_train_accuracy(fn) -> bool:
    """``fn(xi, p)``: expected train accuracy (labels as given) of a network that predicts the
    *true* label of every training pair, when a fraction xi of the training labels was
    redrawn uniformly from [0, p).  (The answer is what "Full Inversion" scores.)
    """
    g = torch.Generator().manual_seed(case_seed(3))
    cases = [lambda f: close(f(0.0, 97), 1.0, "xi=0, p=97"),
             lambda f: close(f(0.35, 97), 1 - 0.35 + 0.35 / 97, "xi=0.35, p=97 (the paper's)")]
    for _ in range(5):
        xi = float(torch.rand((), generator=g, dtype=torch.float64))
        p = int(torch.randint(2, 200, (1,), generator=g))
        cases.append(lambda f, xi=xi, p=p: close(f(xi, p), 1 - xi + xi / p, f"xi={xi:.3f}, p={p}"))
    return report("inversion_train_accuracy", fn, cases)


def corruption_spread(experiment, p: int, n_train: int, xi: float) -> bool:
    """Chapter 1's experiment.  ``experiment()`` returns a dict of two 1-D arrays of the number
    of *changed* labels (given label != truth) among ``n_train`` training labels, each over at
    least 200 seeds: ``"exact"``, with round(xi n_train) labels redrawn as grokbook does, and
    ``"independent"``, with every label redrawn on its own with probability xi.

    The claim: the exact count's mean and spread are those of n_c - Binomial(n_c, 1/p); the
    independent count's are those of Binomial(n_train, xi (1 - 1/p)), a spread several times
    wider (at least 3 times here)."""
    import math

    n_c = round(xi * n_train)
    q = xi * (1 - 1 / p)
    theory = {"exact": (n_c * (1 - 1 / p), math.sqrt(n_c * (1 / p) * (1 - 1 / p))),
              "independent": (n_train * q, math.sqrt(n_train * q * (1 - q)))}
    claim = (f"with {n_train} training labels at p = {p}, xi = {xi}: exactly {n_c} redrawn gives "
             f"{theory['exact'][0]:.1f} ± {theory['exact'][1]:.2f} changed labels; each redrawn "
             f"with probability xi gives {theory['independent'][0]:.1f} ± "
             f"{theory['independent'][1]:.2f}, at least 3 times the spread")

    def counts(out, key):
        assert isinstance(out, dict) and key in out, 'return a dict with keys "exact" and "independent"'
        c = torch.as_tensor(out[key], dtype=torch.float64).reshape(-1)
        assert len(c) >= 200, f"{key}: {len(c)} seeds; the exercise asks for at least 200"
        assert ((c >= 0) & (c <= n_train) & (c == c.round())).all(), (
            f"{key}: counts must be whole numbers in [0, {n_train}]")
        return c

    def matches_theory(key):
        def case(out):
            c = counts(out, key)
            mean, sd = theory[key]
            se = sd / math.sqrt(len(c))
            assert abs(c.mean().item() - mean) < 4 * se + 1e-9, (
                f"{key}: mean {c.mean().item():.2f}, expected {mean:.2f} (4 standard errors: {4 * se:.2f})")
            assert abs(c.std().item() / sd - 1) < 0.25, (
                f"{key}: standard deviation {c.std().item():.2f}, expected {sd:.2f} (within 25%)")
        return case

    def wider(out):
        ratio = counts(out, "independent").std().item() / counts(out, "exact").std().item()
        print(f"corruption_spread: spread independent / exact = {ratio:.1f} "
              f"(theory {theory['independent'][1] / theory['exact'][1]:.1f})")
        assert ratio >= 3, f"the independent count's spread is only {ratio:.2f} times the exact one's"

    return report_experiment("corruption_spread", experiment, claim,
                              [matches_theory("exact"), matches_theory("independent"), wider])
