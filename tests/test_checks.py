"""Every exercise check (``gb.checks``: grokbook.teaching.checks, one module per chapter), along one
axis: a table of (a correct answer, plausible wrong answers) per check.  For each check: the correct
answer passes and says so; a stub that raises NotImplementedError is reported as not attempted (False,
no exception); each wrong answer fails with an AssertionError that names the check and the failing case.
A new check without a row in the table fails ``test_every_check_has_a_row``; one that is not in its
chapter's module, in the chapter's order, fails ``test_each_chapter_module_holds_its_chapters_checks``.
"""
from __future__ import annotations

import importlib
import inspect
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import grokbook as gb
from grokbook.teaching.checks import CHAPTERS
from grokbook.engine.fourier import ipr_of_vectors
from grokbook.analysis.memorization import feldman_scores
from grokbook.analysis.memorization import roc_auc as reference_auc
from grokbook.analysis.stats import spearman as reference_spearman


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


def forgetting_step(known):  # the step after the last one at which each pair is known
    steps = torch.arange(known.shape[0])[:, None]
    return torch.where(known, steps, -1).amax(0) + 1


def first_lost(known):  # the first step at which a pair is not known: not "for good"
    lost = ~known
    return torch.where(lost.any(0), lost.int().argmax(0), known.shape[0])


def loss_rise_step(steps, loss, factor, report="lowest", against="lowest so far"):
    lowest = 0
    for i in range(len(loss)):
        if loss[i] < loss[lowest]:
            lowest = i if against == "lowest so far" else lowest
        elif loss[i] > factor * loss[lowest]:
            return steps[lowest] if report == "lowest" else steps[i] if report == "here" else steps[int(np.argmin(loss))]
    return None


def memorizing_width(table, level, over_seeds="min", every_wider=False, pooled=False):
    out = {}
    groups = [(wd, table) for wd in table.wd.unique()] if pooled else table.groupby("wd")
    for wd, rows in groups:
        ok = getattr(rows.groupby("width").corrupt_acc, over_seeds)() >= level
        widths = sorted(ok.index)
        if every_wider:  # the smallest width from which on every wider one reaches the level
            out[wd] = next((int(w) for i, w in enumerate(widths) if ok[widths[i:]].all()), None)
        else:
            out[wd] = int(ok[ok].index.min()) if ok.any() else None
    return out


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


def naive_phase(train, test, xi, margin=0.05):  # the rule as a student writes it, no rounding
    if test >= 0.9:
        if train >= 0.9:
            return "Coexistence"
        return "Partial Inversion" if train >= 1 + margin - xi else "Full Inversion"
    return "Memorization" if train >= 0.9 else "Forgetting / Confusion"


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
    "phase_rule": (naive_phase, {
        "1 - xi instead of 1.05 - xi": lambda a, b, x: naive_phase(a, b, x, margin=0.0),
        "strict inequalities at 0.9": lambda a, b, x: naive_phase(a - 1e-12 if a == 0.9 else a,
                                                                 b - 1e-12 if b == 0.9 else b, x),
        "Memorization and Forgetting swapped": lambda a, b, x: {
            "Memorization": "Forgetting / Confusion", "Forgetting / Confusion": "Memorization"}.get(
                naive_phase(a, b, x), naive_phase(a, b, x)),
    }),
    "transformer_neuron_ipr": (lambda pre, out: (ipr_of_vectors(pre.mean(1).T) + ipr_of_vectors(pre.mean(0).T)
                                                 + ipr_of_vectors(out)) / 3, {
        "inputs only": lambda pre, out: (ipr_of_vectors(pre.mean(1).T) + ipr_of_vectors(pre.mean(0).T)) / 2,
        "the IPR of the whole (p*p) pre-activation": lambda pre, out: (
            ipr_of_vectors(pre.reshape(-1, pre.shape[-1]).T) + ipr_of_vectors(out)) / 2,
        "the largest, not the mean, over the other token": lambda pre, out: (
            ipr_of_vectors(pre.amax(1).T) + ipr_of_vectors(pre.amax(0).T) + ipr_of_vectors(out)) / 3,
    }),
    "forgetting_step": (forgetting_step, {
        "the first step not known, not the last known plus one": first_lost,
        "the last step known, without the one after it": lambda k: forgetting_step(k) - 1,
        "the number of steps known": lambda k: k.sum(0),
    }),
    "loss_rise_step": (loss_rise_step, {
        "the step at which the rise is seen": lambda s, v, f: loss_rise_step(s, v, f, report="here"),
        "the step of the lowest value of the whole curve": lambda s, v, f: loss_rise_step(s, v, f, report="overall"),
        "against the first value, not the lowest so far": lambda s, v, f: loss_rise_step(s, v, f, against="first"),
        "any increase, ignoring the factor": lambda s, v, f: loss_rise_step(s, v, 1.0),
    }),
    "memorizing_width": (memorizing_width, {
        "any seed, not every seed": lambda t, lv: memorizing_width(t, lv, over_seeds="max"),
        "the mean over the seeds": lambda t, lv: memorizing_width(t, lv, over_seeds="mean"),
        "the weight decays pooled": lambda t, lv: memorizing_width(t, lv, pooled=True),
        "only from where every wider width reaches it": lambda t, lv: memorizing_width(t, lv, every_wider=True),
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
    return sorted(name for name, f in vars(gb.checks).items() if inspect.isfunction(f))


def test_every_check_has_a_row():
    assert sorted([*TABLE, *EXPERIMENTS]) == public_checks()
    assert not set(TABLE) & set(EXPERIMENTS)


BOOK = Path(__file__).resolve().parents[1] / "book"


def test_each_chapter_module_holds_its_chapters_checks():
    """checks/chNN_*.py: the checks book/NN_*.ipynb calls, in its order, as ``__all__``; every other
    function it defines is private; the chapters without a check have no module."""
    calling = {}
    for path in sorted(BOOK.glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        names = list(dict.fromkeys(re.findall(r"gb\.checks\.(\w+)\(", code)))
        if names:
            calling[path.name[:2]] = names
    assert sorted(calling) == sorted(name[2:4] for name in CHAPTERS)
    for name in CHAPTERS:
        module = importlib.import_module(f"grokbook.teaching.checks.{name}")
        assert module.__all__ == calling[name[2:4]], f"{name}.__all__ is not its chapter's checks in order"
        public = [n for n, f in vars(module).items() if inspect.isfunction(f)
                  and f.__module__ == module.__name__ and not n.startswith("_")]
        assert sorted(public) == sorted(module.__all__), f"{name}: public functions that are no check"


@pytest.mark.parametrize("name", sorted(TABLE))
def test_the_correct_answer_passes(name, capsys):
    assert getattr(gb.checks, name)(TABLE[name][0]) is True
    assert re.fullmatch(rf"{name}: all \d+ cases passed\n", capsys.readouterr().out)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_a_stub_is_not_attempted(name, capsys):
    assert getattr(gb.checks, name)(stub) is False
    assert capsys.readouterr().out == (
        f"{name}: not attempted yet\n(your function raises NotImplementedError)\n")


WRONG = [(name, what) for name in sorted(TABLE) for what in TABLE[name][1]]


@pytest.mark.parametrize("name, what", WRONG, ids=[f"{n}: {w}" for n, w in WRONG])
def test_a_wrong_answer_fails_naming_the_case(name, what, capsys):
    with pytest.raises(AssertionError, match=rf"^{name}: case \d+ of \d+ failed: \S"):
        getattr(gb.checks, name)(TABLE[name][1][what])
    assert "passed" not in capsys.readouterr().out


def test_the_ipr_check_says_what_a_zero_vector_should_give(capsys):
    with pytest.raises(AssertionError, match=r"^ipr: case 5 of 5 failed: zero vectors .* gave NaN"):
        gb.checks.ipr(naive_ipr)
    x = torch.randn(3, 53, dtype=torch.float64)
    x[1] = 0
    assert torch.isnan(naive_ipr(x)[1]) and ipr_of_vectors(x)[1] == 0  # the case is a real one


# ----------------------------------------------------------------------------- experiment checks
# An experiment check calls the student's experiment once, measures what it returned again (the
# networks, not the numbers stated beside them) and tests one of the chapter's claims.  The right
# experiments run in their chapters (scripts/execute_chapters.py), in both profiles; here: the stub, and one wrong
# experiment per way of going wrong, on networks too small to grok (trained in well under a second).
TINY = gb.Config(p=11, width=24, steps=40, log_every=10)


def tiny(alpha=(0.5,), xi=(0.0,), wd=(1.0,), keep_model=True):
    return gb.train(gb.grid(alpha=list(alpha), xi=list(xi), wd=list(wd)), TINY, progress=False,
                    keep_model=keep_model)


def tampered(result):
    result.runs["test_acc"] = 1.0
    return result


def spread(n_seeds=300, p=53, n_train=1966, xi=0.25, exact_is_corrupted=False, independent_as_exact=False):
    """The chapter 1 experiment: changed-label counts over seeds, both ways."""
    g = torch.Generator().manual_seed(1)
    n_c = round(xi * n_train)
    chance = torch.binomial(torch.full((n_seeds,), float(n_c)), torch.full((n_seeds,), 1 / p), generator=g)
    exact = torch.full((n_seeds,), float(n_c)) if exact_is_corrupted else n_c - chance
    redrawn = torch.rand(n_seeds, n_train, generator=g) < xi
    moved = torch.randint(0, p, (n_seeds, n_train), generator=g) != 0
    independent = exact if independent_as_exact else (redrawn & moved).sum(1)
    return {"exact": exact, "independent": independent}


def pruned_frame(result, score, fractions=(0, 0.1, 0.2, 0.3, 0.4, 0.5)):
    rows = []
    for f in fractions:
        mask = torch.ones(result.model.K, score.shape[-1])
        mask[0] = gb.prune.prune_masks(score[0], [f], "low")[0]
        e = gb.evaluate(result.model, result.data, neuron_mask=mask)
        rows.append(dict(fraction=f, **{c: e[c][0].item() for c in ("corrupt_acc", "clean_acc", "test_acc")}))
    return pd.DataFrame(rows)


def weight_norm(result):
    m = result.model
    return (m.U.detach().square().sum(-1) + m.V.detach().square().sum(-1) + m.W.detach().square().sum(-2))


def margin_frame(result, sign=1.0, drop_last=False):
    out = result.model().detach()
    rows = []
    for k in range(len(result.runs) - drop_last):
        labels, train = result.data.labels[k], result.data.train[k]
        at = out[k].gather(1, labels[:, None]).squeeze(1)
        others = out[k].scatter(1, labels[:, None], -float("inf")).max(1).values
        rows.append(dict(run=k, auc=reference_auc((sign * (others - at))[train].numpy(),
                                                  result.data.changed[k][train].numpy())))
    return pd.DataFrame(rows)


def random_pruning_frame(result, runs, orders=("low", "random")):
    rows = []
    for r in runs:
        for o in orders:
            c = gb.prune_curve(result.model, result.data, r, order=o, fractions=[0.2]).iloc[0]
            rows.append(dict(run=r, order=o if o != "high" else "random", corrupt_acc=c.corrupt_acc, test_acc=c.test_acc))
    return pd.DataFrame(rows)


CORRUPTED_TINY = dict(alpha=(0.6,), xi=(0.3,), wd=(0.0,))


def forgetting_args(keep=(0,), steps=5):
    """Chapter 9's experiment's arguments on networks too small to grok: the networks, their
    second split, the runs to forget, the steps."""
    result = tiny(alpha=(0.6, 0.7), xi=(0.3,), wd=(0.0,))
    return result, gb.memorization.second_split(result.data.train, seed=0), list(keep), steps


def forgetting_frame(result, second, runs, steps, wd=0.0):
    import dataclasses
    d = result.data
    sub = dataclasses.replace(d, train=d.train[runs], labels=d.labels[runs], corrupted=d.corrupted[runs])
    step = gb.memorization.second_split_forgetting(result.model.select(runs), sub, second[runs],
                                                   lr=result.runs.lr.to_numpy()[runs], wd=wd, steps=steps)
    rows = []
    for i, k in enumerate(runs):
        first = (d.train[k] & ~second[k]).numpy()
        ch = d.changed[k].numpy()[first]
        s = step[i].numpy()[first].astype(float)
        rows.append(dict(run=k, auc=reference_auc(-s, ch), changed_kept=(s[ch] > steps).mean(),
                         clean_kept=(s[~ch] > steps).mean()))
    return pd.DataFrame(rows)
# check name -> (its arguments after the experiment, {what is wrong: (the experiment, the message expected)})
EXPERIMENTS = {
    "corruption_spread": (lambda: (53, 1966, 0.25), {
        "the corrupted count, not the changed one": (lambda: spread(exact_is_corrupted=True), r"case 1 of 3 .*exact: mean"),
        "fewer than 200 seeds": (lambda: spread(n_seeds=50), r"case 1 of 3 .*50 seeds"),
        "the exact count twice": (lambda: spread(independent_as_exact=True), r"case 2 of 3 .*independent: standard deviation"),
        "not a dict": (lambda: [1, 2, 3], r"case 1 of 3 .*return a dict"),
    }),
    "more_data_shorter_delay": (lambda: (), {
        "not gb.train's result": (lambda: {"runs": None}, r"case 1 of 2 .*return what gb.train returns"),
        "no networks kept": (lambda: tiny(alpha=(0.3, 0.5, 0.7), keep_model=False), r"case 1 of 2 .*kept no networks"),
        "accuracies written by hand": (lambda: tampered(tiny(alpha=(0.3, 0.5, 0.7))),
                                       r"case 1 of 2 .*test_acc in result.runs is not what the networks give"),
        "corrupted labels": (lambda: tiny(alpha=(0.3, 0.5, 0.7), xi=(0.2,)), r"case 1 of 2 .*the runs' xi: \[0.2\]; the exercise asks for xi = 0 for every run$"),
        "two alphas": (lambda: tiny(alpha=(0.3, 0.7)), r"case 1 of 2 .*at least three alphas"),
        "networks that never grok": (lambda: tiny(alpha=(0.3, 0.5, 0.7)), r"case 1 of 2 .*every run should reach 99%"),
    }),
    "fourier_without_weight_decay": (lambda: (), {
        "no run without weight decay": (lambda: tiny(wd=(1.0, 2.0)), r"case 1 of 2 .*with and without weight decay"),
        "networks that never grok": (lambda: tiny(wd=(0.0, 1.0)), r"case 1 of 2 .*test accuracy .* < 0.99"),
    }),
    "more_corruption_memorization": (lambda: (), {
        "with weight decay": (lambda: tiny(xi=(0.2, 0.5), wd=(1.0,)), r"case 1 of 3 .*the runs' wd"),
        "no xi of 0.5 or more": (lambda: tiny(xi=(0.1, 0.3), wd=(0.0,)), r"case 1 of 3 .*at least 0.5"),
        "fewer low-IPR neurons at the larger xi": (lambda: tiny(xi=(0.2, 0.5), wd=(0.0,)), r"case 3 of 3 .*the count falls"),
    }),
    "full_inversion_line": (lambda: (), {
        "xi beyond 0.3": (lambda: tiny(xi=(0.1, 0.2, 0.3, 0.4), wd=(15.0,)), r"case 1 of 2 .*xi in \(0, 0.3\]"),
        "three cells": (lambda: tiny(xi=(0.1, 0.2, 0.3), wd=(15.0,)), r"case 1 of 2 .*at least four xi"),
        "networks that never invert": (lambda: tiny(xi=(0.1, 0.15, 0.2, 0.3), wd=(15.0,)),
                                       r"case 2 of 2 .*answered with the true label"),
    }),
    "inversion_grows_with_weight_decay": (lambda: (5.5, 15.0), {
        "an end missing": (lambda: tiny(xi=(0.2,), wd=(5.5, 8.0, 10.0, 12.0)), r"case 1 of 2 .*include both ends"),
        "a weight decay outside": (lambda: tiny(xi=(0.2,), wd=(0.0, 5.5, 10.0, 15.0)), r"case 1 of 2 .*the runs' wd"),
        "networks that never generalize": (lambda: tiny(xi=(0.2,), wd=(5.5, 8.0, 12.0, 15.0)),
                                           r"case 2 of 2 .*test accuracy"),
    }),
    "pruning_by_norm": (lambda: (tiny(**CORRUPTED_TINY),), {
        "not a DataFrame": (lambda: [0.5, 0.1], r"case 1 of 3 .*return a pandas DataFrame"),
        "no fraction 0.5": (lambda: pd.DataFrame(dict(fraction=[0, 0.1, 0.2, 0.3, 0.4], corrupt_acc=0.0, clean_acc=1.0,
                                                      test_acc=1.0)), r"case 1 of 3 .*including 0.5"),
    }),
    "margin_score": (lambda: (tiny(alpha=(0.6, 0.7), xi=(0.3,), wd=(0.0,)),), {
        "a row missing": (lambda: pd.DataFrame(dict(run=[0], auc=[0.5])), r"case 1 of 2 .*one row per network"),
        "the AUC of the margin, not of minus it": (lambda: pd.DataFrame(dict(run=[0, 1], auc=[0.25, 0.5])),
                                                   r"case 1 of 2 .*AUC: yours"),
    }),
    "forgetting_without_weight_decay": (forgetting_args, {
        "not a DataFrame": (lambda: {"auc": 1.0}, r"case 1 of 2 .*return a pandas DataFrame"),
        "another network's row": (lambda: pd.DataFrame(dict(run=[1], auc=[1.0], changed_kept=[0.0], clean_kept=[1.0])),
                                  r"case 1 of 2 .*one row per network of runs \[0\]"),
        "numbers not the networks'": (lambda: pd.DataFrame(dict(run=[0], auc=[0.0], changed_kept=[1.0],
                                                                clean_kept=[0.0])), r"case 1 of 2 .*auc: yours"),
    }),
    "pruning_against_random": (lambda: (tiny(**CORRUPTED_TINY), [0]), {
        "no random rows": (lambda: pd.DataFrame(dict(run=[0], order=["low"], corrupt_acc=[0.0], test_acc=[1.0])),
                           r"case 1 of 2 .*rows for runs \[0\]"),
        "numbers not the network's": (lambda: pd.DataFrame(dict(run=[0, 0], order=["low", "random"],
                                                                corrupt_acc=[0.0, 1.0], test_acc=[1.0, 0.0])),
                                      r"case 1 of 2 .*run 0, order low: corrupt_acc"),
    }),
}


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_an_experiment_stub_is_not_attempted(name, capsys):
    assert getattr(gb.checks, name)(stub, *EXPERIMENTS[name][0]()) is False
    assert capsys.readouterr().out == f"{name}: not attempted yet\n(your experiment raises NotImplementedError)\n"


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_an_experiment_check_wants_the_function_itself(name):
    with pytest.raises(TypeError, match=rf"^{name}: pass your experiment function itself"):
        getattr(gb.checks, name)({"a": "result"}, *EXPERIMENTS[name][0]())


WRONG_EXPERIMENTS = [(name, what) for name in sorted(EXPERIMENTS) for what in EXPERIMENTS[name][1]]


@pytest.mark.parametrize("name, what", WRONG_EXPERIMENTS, ids=[f"{n}: {w}" for n, w in WRONG_EXPERIMENTS])
def test_a_wrong_experiment_fails_naming_the_case(name, what, capsys):
    experiment, message = EXPERIMENTS[name][1][what]
    args = EXPERIMENTS[name][0]()
    out = experiment()
    with pytest.raises(AssertionError, match=rf"^{name}: {message}"):
        getattr(gb.checks, name)(lambda: out, *args)
    printed = capsys.readouterr().out
    assert printed.startswith(f"{name}: the claim: ") and "passed" not in printed


def test_the_chapter_1_experiment_passes_on_a_right_simulation(capsys):
    assert gb.checks.corruption_spread(lambda: spread(), 53, 1966, 0.25) is True
    assert capsys.readouterr().out.endswith("corruption_spread: all 3 cases passed\n")


def test_the_pruning_and_margin_checks_take_the_right_numbers_of_a_network(capsys):
    """On networks too small to grok, the right experiment passes its first case (its numbers are
    the network's) and fails only on the claim; a near miss (another order) fails the first."""
    result = tiny(**CORRUPTED_TINY)
    with pytest.raises(AssertionError, match=r"^pruning_by_norm: case 1 of 3 failed: corrupt_acc: yours"):
        gb.checks.pruning_by_norm(lambda: pruned_frame(result, result.ipr()), result)  # by IPR, not by norm
    try:
        gb.checks.pruning_by_norm(lambda: pruned_frame(result, weight_norm(result)), result)
    except AssertionError as err:
        assert re.match(r"pruning_by_norm: case [23] of 3 failed", str(err)), err
    both = tiny(alpha=(0.6, 0.7), xi=(0.3,), wd=(0.0,))
    with pytest.raises(AssertionError, match=r"^margin_score: case 1 of 2 failed: AUC: yours"):
        gb.checks.margin_score(lambda: margin_frame(both, sign=-1.0), both)
    try:
        assert gb.checks.margin_score(lambda: margin_frame(both), both)
    except AssertionError as err:
        assert re.match(r"margin_score: case 2 of 2 failed: AUC below 0.98", str(err)), err
    with pytest.raises(AssertionError, match=r"^pruning_against_random: case 1 of 2 failed: run 0, order random"):
        gb.checks.pruning_against_random(lambda: random_pruning_frame(result, [0], ("low", "high")), result, [0])
    try:
        gb.checks.pruning_against_random(lambda: random_pruning_frame(result, [0]), result, [0])
    except AssertionError as err:
        assert re.match(r"pruning_against_random: case 2 of 2 failed", str(err)), err


def test_the_forgetting_check_takes_the_right_numbers_of_the_networks(capsys):
    """Chapter 9's experiment on networks too small to grok: second-split forgetting without weight
    decay passes the first case (its numbers are the networks'), whichever run it is given; the
    same forgetting at a large weight decay fails it."""
    result, second, runs, steps = forgetting_args(keep=(1,), steps=30)
    right = forgetting_frame(result, second, runs, steps)
    try:
        assert gb.checks.forgetting_without_weight_decay(lambda: right, result, second, runs, steps)
    except AssertionError as err:
        assert re.match(r"forgetting_without_weight_decay: case 2 of 2 failed", str(err)), err
    assert "forgetting_without_weight_decay: the claim: " in capsys.readouterr().out
    other = forgetting_frame(result, second, runs, steps, wd=50.0)
    columns = ["auc", "changed_kept", "clean_kept"]
    assert (other[columns] - right[columns]).abs().to_numpy().max() > 0.03  # a real near miss
    with pytest.raises(AssertionError, match=r"^forgetting_without_weight_decay: case 1 of 2 failed: \w+: yours"):
        gb.checks.forgetting_without_weight_decay(lambda: other, result, second, runs, steps)
