"""Every exercise check of grokbook.checks, along one axis: a table of (a correct answer, plausible
wrong answers) per check.  For each check: the correct answer passes and says so; a stub that
raises NotImplementedError is reported as not attempted (False, no exception); each wrong answer
fails with an AssertionError that names the check and the failing case.  A new check without a
row in the table fails ``test_every_check_has_a_row``.
"""
from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
import torch

import grokbook as gb
from grokbook import checks
from grokbook.fourier import ipr_of_vectors
from grokbook.memorization import feldman_scores
from grokbook.memorization import roc_auc as reference_auc
from grokbook.stats import spearman as reference_spearman


# ----------------------------------------------------------------------------- answers
def task_labels(p, op):
    truth, _ = gb.task_table(p, op)
    return truth.reshape(p, p)


def explicit_dft(x):  # independent of torch.fft: the DFT as a sum
    p = len(x)
    j = torch.arange(p, dtype=torch.float64)
    s = torch.arange(p // 2 + 1, dtype=torch.float64)[:, None]
    re, im = (x * torch.cos(2 * torch.pi * s * j / p)).sum(1), (x * torch.sin(2 * torch.pi * s * j / p)).sum(1)
    return torch.sqrt(re ** 2 + im ** 2)


def first_crossing(steps, values, threshold):
    hit = np.nonzero(np.asarray(values) >= threshold)[0]
    return int(steps[hit[0]]) if len(hit) else None


def grokking_delay(history, run, threshold):
    h = history[history.run == run].sort_values("step")
    fit = first_crossing(h.step.to_numpy(), h.train_acc.to_numpy(), threshold)
    grok = first_crossing(h.step.to_numpy(), h.test_acc.to_numpy(), threshold)
    return None if fit is None or grok is None else grok - fit


def corrupted_accuracies(pred, labels, truth, train):
    changed = train & (labels != truth)
    clean = train & ~changed
    return ((pred == labels)[changed].double().mean(), (pred == truth)[changed].double().mean(),
            (pred == labels)[clean].double().mean())


def naive_ipr(x):  # right on every vector but the zero one, where it divides 0 by 0
    mag = torch.fft.rfft(x, dim=-1).abs()
    return ((mag / torch.linalg.vector_norm(mag, dim=-1, keepdim=True)) ** 4).sum(-1)


def prune_mask(ipr, fraction, order):
    ranked = torch.argsort(ipr, descending=(order == "high"))
    out = torch.ones(len(ipr))
    out[ranked[: round(fraction * len(ipr))]] = 0
    return out


def phase_grid(runs):
    return gb.phase_grid(runs.assign(phase=gb.phases(runs.train_acc, runs.test_acc, runs.xi)))


def corrupted_accuracy(pred, labels, truth, train):
    changed = train & (labels != truth)
    if not changed.any():
        return float("nan"), float("nan")
    return (pred == labels)[changed].float().mean().item(), (pred == truth)[changed].float().mean().item()


def unlearning_step(steps, acc, inverted, fit=0.95, tol=0.03):
    up = np.nonzero(acc >= fit)[0]
    if not len(up):
        return None
    down = np.nonzero((acc <= inverted + tol) & (np.arange(len(acc)) >= up[0]))[0]
    return steps[down[0]] if len(down) else None


def loo_change(X, Y, lam):
    H = X @ torch.linalg.solve(X.T @ X + lam * torch.eye(X.shape[1], dtype=X.dtype), X.T)
    h = torch.diagonal(H)
    return (h / (1 - h))[:, None] * (Y - H @ Y)


def _never_as_zero(f):
    return lambda *a: (lambda r: 0 if r is None else r)(f(*a))


def _shuffled_axes(runs):  # axes in order of appearance, not sorted
    runs = runs.assign(phase=gb.phases(runs.train_acc, runs.test_acc, runs.xi))
    a, x = runs.alpha.unique(), runs.xi.unique()
    return a, x, runs.pivot(index="alpha", columns="xi", values="phase").loc[a, x].to_numpy()


def _boundary_as_full(runs):  # train = 1.05 - xi counted as Full Inversion
    runs = runs.assign(phase=gb.phases(runs.train_acc, runs.test_acc, runs.xi))
    a, x, t = gb.phase_grid(runs)
    for r in runs.itertuples():
        if r.test_acc >= 0.9 and abs(r.train_acc - (1.05 - r.xi)) < 1e-12:
            t[list(a).index(r.alpha), list(x).index(r.xi)] = "Full Inversion"
    return a, x, t


def _feldman(member, correct):
    return feldman_scores(member, correct).score.to_numpy()


# check name -> (a correct answer, {what the wrong answer gets wrong: the wrong answer})
TABLE = {
    "task_labels": (task_labels, {
        "m - n for subtract": lambda p, op: task_labels(p, "subtract" if op == "add" else op),
        "labels not reduced mod p": lambda p, op: task_labels(p, op) + (p if op == "multiply" else 0),
        "transposed table": lambda p, op: task_labels(p, op).T,
    }),
    "expected_chance_correct": (lambda n, p: n / p, {
        "n / (p - 1)": lambda n, p: n / (p - 1),
        "n (p - 1) / p, the changed ones": lambda n, p: n * (p - 1) / p,
    }),
    "ipr": (lambda x: ipr_of_vectors(x), {
        "no normalisation": lambda x: (torch.fft.rfft(x, dim=-1).abs() ** 4).sum(-1),
        "squares, not 4th powers": lambda x: ((lambda m: m / torch.linalg.vector_norm(m, dim=-1, keepdim=True))(
            torch.fft.rfft(x, dim=-1).abs()) ** 2).sum(-1),
        "the constant term dropped": lambda x: ipr_of_vectors(x - x.mean(-1, keepdim=True)),
        "NaN for a zero vector": lambda x: naive_ipr(x),
    }),
    "inversion_train_accuracy": (lambda xi, p: 1 - xi * (1 - 1 / p), {
        "forgets the labels right by chance": lambda xi, p: 1 - xi,
        "1 - xi / p": lambda xi, p: 1 - xi / p,
    }),
    "first_crossing": (first_crossing, {
        "the index, not the step": lambda s, v, t: (lambda h: int(h[0]) if len(h) else None)(np.nonzero(v >= t)[0]),
        "strictly above the threshold": lambda s, v, t: (lambda h: int(s[h[0]]) if len(h) else None)(np.nonzero(v > t)[0]),
        "the last crossing from below": lambda s, v, t: (lambda h: int(s[h[-1]]) if len(h) else None)(
            np.nonzero((v[1:] >= t) & (v[:-1] < t))[0] + 1),
        "0 instead of None when never": _never_as_zero(first_crossing),
    }),
    "grokking_delay": (grokking_delay, {
        "ignores the run": lambda h, r, t: grokking_delay(h.assign(run=0), 0, t),
        "the grokking step, not the delay": lambda h, r, t: (lambda d: None if d is None else first_crossing(
            h[h.run == r].step.to_numpy(), h[h.run == r].test_acc.to_numpy(), t))(grokking_delay(h, r, t)),
        "a hard-coded threshold": lambda h, r, t: grokking_delay(h, r, 0.99),
        "0 instead of None when never": _never_as_zero(grokking_delay),
    }),
    "dft_magnitudes": (explicit_dft, {
        "drops the sine part": lambda x: torch.fft.rfft(x).real.abs(),
        "all p coefficients": lambda x: torch.fft.fft(x).abs(),
        "another scaling": lambda x: torch.fft.rfft(x, norm="ortho").abs(),
    }),
    "network_output": (lambda U, V, W, m, n: W @ (U[:, m] + V[:, n]) ** 2, {
        "inputs swapped": lambda U, V, W, m, n: W @ (U[:, n] + V[:, m]) ** 2,
        "cross term only": lambda U, V, W, m, n: W @ (U[:, m] * V[:, n]),
        "no activation": lambda U, V, W, m, n: W @ (U[:, m] + V[:, n]),
    }),
    "corrupted_accuracies": (corrupted_accuracies, {
        "given and true swapped": lambda pr, l, t, tr: corrupted_accuracies(pr, t, l, tr),
        "divides by every training pair": lambda pr, l, t, tr: (
            ((pr == l) & tr & (l != t)).sum() / tr.sum(), ((pr == t) & tr & (l != t)).sum() / tr.sum(),
            corrupted_accuracies(pr, l, t, tr)[2]),
        "clean accuracy over all training pairs": lambda pr, l, t, tr: (
            *corrupted_accuracies(pr, l, t, tr)[:2], (pr == l)[tr].double().mean()),
    }),
    "prune_mask": (prune_mask, {
        "orders swapped": lambda ipr, f, o: prune_mask(ipr, f, "high" if o == "low" else "low"),
        "keeps the ones to prune": lambda ipr, f, o: 1 - prune_mask(ipr, f, o),
        "prunes too many": lambda ipr, f, o: prune_mask(ipr, min(1.0, f + 0.05), o),
    }),
    "pruned_output": (lambda U, V, W, k, m, n: W @ (k * (U[:, m] + V[:, n]) ** 2), {
        "masks the input side only": lambda U, V, W, k, m, n: W @ (k * U[:, m] + V[:, n]) ** 2,
        "ignores the mask": lambda U, V, W, k, m, n: W @ (U[:, m] + V[:, n]) ** 2,
    }),
    "phase_grid": (phase_grid, {
        "the boundary train = 1.05 - xi as Full Inversion": _boundary_as_full,
        "axes not sorted": _shuffled_axes,
    }),
    "spearman": (reference_spearman, {
        "Pearson on the values": lambda x, y: np.corrcoef(x, y)[0, 1],
        "ties broken by order": lambda x, y: np.corrcoef(np.argsort(np.argsort(x, kind="stable")),
                                                         np.argsort(np.argsort(y, kind="stable")))[0, 1],
    }),
    "corrupted_accuracy": (corrupted_accuracy, {
        "every training pair": lambda pr, l, t, tr: ((pr == l)[tr].float().mean().item(),
                                                     (pr == t)[tr].float().mean().item()),
        "test pairs included": lambda pr, l, t, tr: ((pr == l)[l != t].float().mean().item(),
                                                     (pr == t)[l != t].float().mean().item()),
    }),
    "unlearning_step": (unlearning_step, {
        "stage 1 need not come first": lambda s, a, inv, fit=0.95, tol=0.03: (
            lambda d: s[d[0]] if len(d) else None)(np.nonzero(a <= inv + tol)[0]),
        "strict inequality at fit": lambda s, a, inv, fit=0.95, tol=0.03: unlearning_step(s, a, inv, fit + 1e-9, tol),
    }),
    "feldman_score": (_feldman, {
        "the mean over models that trained on it only": lambda m, c: (
            (m.double() * c.double()).sum(0) / m.double().sum(0)).numpy(),
        "0 instead of NaN where a set is empty": lambda m, c: np.nan_to_num(_feldman(m, c)),
    }),
    "roc_auc": (lambda s, pos: reference_auc(s, pos), {
        "ties counted as wins": lambda s, pos: float((s[pos][:, None] >= s[~pos][None, :]).mean()),
        "ties counted as losses": lambda s, pos: float((s[pos][:, None] > s[~pos][None, :]).mean()),
    }),
    "embedding_spectrum": (lambda E: (lambda P: P / P.sum())(
        torch.stack([explicit_dft(E[:, j]) for j in range(E.shape[1])], 1).square().sum(1)), {
        "magnitudes, not their squares": lambda E: (lambda P: P / P.sum())(torch.fft.rfft(E, dim=0).abs().sum(1)),
        "each column's shares, averaged": lambda E: (lambda P: P / P.sum(0)).__call__(
            torch.fft.rfft(E, dim=0).abs().square()).mean(1),
        "along the embedding, not the tokens": lambda E: (lambda P: P / P.sum())(
            torch.fft.rfft(E, dim=1).abs().square().sum(0)),
    }),
    "loo_change": (loo_change, {
        "the residual, not the change": lambda X, Y, lam: (lambda H: Y - H @ Y)(
            X @ torch.linalg.solve(X.T @ X + lam * torch.eye(X.shape[1], dtype=X.dtype), X.T)),
        "no ridge term": lambda X, Y, lam: loo_change(X, Y, 0.0),
    }),
}


def stub(*args, **kwargs):
    raise NotImplementedError


def public_checks():
    return sorted(name for name, f in vars(checks).items()
                  if inspect.isfunction(f) and f.__module__ == checks.__name__ and not name.startswith("_"))


def test_every_check_has_a_row():
    assert sorted(TABLE) == public_checks()


@pytest.mark.parametrize("name", sorted(TABLE))
def test_the_correct_answer_passes(name, capsys):
    assert getattr(checks, name)(TABLE[name][0]) is True
    assert re.fullmatch(rf"{name}: all \d+ cases passed\n", capsys.readouterr().out)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_a_stub_is_not_attempted(name, capsys):
    assert getattr(checks, name)(stub) is False
    assert capsys.readouterr().out == (
        f"{name}: not attempted yet (your function raises NotImplementedError)\n")


WRONG = [(name, what) for name in sorted(TABLE) for what in TABLE[name][1]]


@pytest.mark.parametrize("name, what", WRONG, ids=[f"{n}: {w}" for n, w in WRONG])
def test_a_wrong_answer_fails_naming_the_case(name, what, capsys):
    with pytest.raises(AssertionError, match=rf"^{name}: case \d+ of \d+ failed: \S"):
        getattr(checks, name)(TABLE[name][1][what])
    assert "passed" not in capsys.readouterr().out


def test_the_ipr_check_says_what_a_zero_vector_should_give(capsys):
    with pytest.raises(AssertionError, match=r"^ipr: case 5 of 5 failed: zero vectors .* gave NaN"):
        checks.ipr(naive_ipr)
    x = torch.randn(3, 53, dtype=torch.float64)
    x[1] = 0
    assert torch.isnan(naive_ipr(x)[1]) and ipr_of_vectors(x)[1] == 0  # the case is a real one
