"""The assertions chapter 1 made about the code, as tests (issue 30): the task table is a Latin
square with balanced labels, and one run's masks split the table into the four kinds of pairs the
chapter counts.  Each checks gb.task_table / gb.make_splits against a brute-force loop over the
pairs, in plain Python integers, at small sizes and at the chapter's own (p = 53, alpha 0.7,
xi 0.25, data seed 0, and the 500 seeds of its binomial count)."""
from __future__ import annotations

import pytest
import torch

import grokbook as gb
from grokbook.engine.data import mask_categories

CHAPTER = dict(p=53, alpha=0.7, xi=0.25)  # the book's data (chapter 1 runs at these sizes)


def brute_force_kinds(p, op, train, labels, corrupted):
    """Each pair's kind by a loop over (m, n), from the masks' entries and the task's rule alone:
    None (no label), "test", "clean", "came back" (corrupted, given label true), "changed"."""
    kinds = []
    for m in range(p):
        for n in range(p):
            i = m * p + n
            if op == "divide" and n == 0:
                kinds.append(None)
                continue
            true = {"add": (m + n) % p, "subtract": (m - n) % p, "multiply": (m * n) % p,
                    "divide": next((q for q in range(p) if (q * n) % p == m), None)}[op]
            if not train[i]:
                kinds.append("test")
            elif not corrupted[i]:
                kinds.append("clean")
            elif labels[i] == true:
                kinds.append("came back")
            else:
                kinds.append("changed")
    return kinds


@pytest.mark.parametrize("p", [5, 7, 13, 53])
def test_addition_table_is_a_latin_square_with_balanced_labels(p):
    """Chapter 1, 'The tables': every row and column of (m + n) mod p is a permutation of Z_p,
    and each label is the answer for exactly p pairs."""
    truth, valid = gb.task_table(p, "add")
    table = truth.reshape(p, p).tolist()
    assert bool(valid.all())
    for m in range(p):
        assert sorted(table[m]) == list(range(p)), f"row {m}"
        assert sorted(table[n][m] for n in range(p)) == list(range(p)), f"column {m}"
    counts = {}
    for m in range(p):
        for n in range(p):
            counts[table[m][n]] = counts.get(table[m][n], 0) + 1
    assert counts == {label: p for label in range(p)}


@pytest.mark.parametrize("p", [5, 7, 53])
def test_division_labels_every_pair_but_n_zero(p):
    """Chapter 1: division has no answer for n = 0; every other pair, p (p - 1) of them, has one."""
    _, valid = gb.task_table(p, "divide")
    expected = [n != 0 for m in range(p) for n in range(p)]
    assert valid.tolist() == expected
    assert sum(expected) == p * (p - 1)


@pytest.mark.parametrize("p, op, alpha, xi, seed", [
    (CHAPTER["p"], "add", CHAPTER["alpha"], CHAPTER["xi"], 0),  # the chapter's run
    (7, "add", 0.5, 0.35, 3), (11, "subtract", 0.3, 1.0, 1), (13, "divide", 0.6, 0.5, 2),
    (5, "multiply", 0.9, 0.0, 4)])
def test_one_runs_masks_are_the_four_kinds_of_pairs(p, op, alpha, xi, seed):
    """Chapter 1, 'One run's data': train and test split the labelled pairs, only training pairs
    are corrupted, changed = the corrupted pairs whose given label is not the true one, labels are
    true everywhere else, n_train = round(alpha * pairs), n_c = round(xi * n_train); the four kinds
    the chapter tabulates (and plots) partition the table."""
    s = gb.make_splits(p, op, [alpha], [xi], [seed])
    train, test = s.train[0].tolist(), s.test[0].tolist()
    corrupted, changed = s.corrupted[0].tolist(), s.changed[0].tolist()
    labels = s.labels[0].tolist()
    kinds = brute_force_kinds(p, op, train, labels, corrupted)
    n_pairs = sum(k is not None for k in kinds)
    n_train = sum(train)

    assert n_train == round(alpha * n_pairs)
    assert sum(corrupted) == round(xi * n_train)
    for i, kind in enumerate(kinds):
        assert not (train[i] and test[i]), i
        assert (train[i] or test[i]) == (kind is not None), i
        assert corrupted[i] <= train[i], i  # only training pairs are corrupted
        assert changed[i] == (kind == "changed"), i
        assert bool(s.clean[0, i]) == (kind in ("clean", "came back")), i
        if kind in ("test", "clean"):
            assert labels[i] == int(s.truth[i]), i  # uncorrupted labels are the truth

    # grokbook's own labelling of the four kinds (the chapter's figure) is the same partition
    codes = {None: -1, "test": 0, "clean": 1, "came back": 2, "changed": 3}
    assert mask_categories(s).tolist() == [codes[k] for k in kinds]


def test_the_chapters_500_seeds_are_500_independent_runs():
    """Chapter 1 counts the corrupted pairs correct by chance over 500 seeds in one batch: each row
    of the batch is the run of its seed alone, and its count is n_c - changed."""
    p, alpha, xi = CHAPTER["p"], CHAPTER["alpha"], CHAPTER["xi"]
    seeds = list(range(500))
    many = gb.make_splits(p, "add", [alpha] * len(seeds), [xi] * len(seeds), seeds)
    counts = (many.corrupted & ~many.changed).sum(dim=1)
    for seed in (0, 1, 250, 499):
        train, labels, corrupted = gb.split_and_corrupt(p, "add", alpha, xi, seed)
        assert torch.equal(many.train[seed], train) and torch.equal(many.labels[seed], labels)
        truth = [(m + n) % p for m in range(p) for n in range(p)]
        came_back = sum(1 for i in range(p * p) if corrupted[i] and int(labels[i]) == truth[i])
        assert int(counts[seed]) == came_back
        assert int(many.changed[seed].sum()) == int(corrupted.sum()) - came_back
