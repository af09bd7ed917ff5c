"""Tasks, splits and label corruption (grokbook.engine.data) against brute force."""
import math

import pytest
import torch

from grokbook.core.settings import OPS
from grokbook.engine.data import Splits, make_splits, pair_inputs, split_and_corrupt, task_table


import grokbook as gb



def brute_force_table(p, op):
    """Truth and validity of every pair, one Python loop, no torch arithmetic."""
    truth, valid = [], []
    for m in range(p):
        for n in range(p):
            if op == "add":
                truth.append((m + n) % p), valid.append(True)
            elif op == "subtract":
                truth.append((m - n) % p), valid.append(True)
            elif op == "multiply":
                truth.append((m * n) % p), valid.append(True)
            elif op == "divide":
                if n == 0:
                    truth.append(None), valid.append(False)
                else:  # the unique q with q * n = m (mod p), found by search
                    q = [q for q in range(p) if (q * n) % p == m]
                    assert len(q) == 1
                    truth.append(q[0]), valid.append(True)
    return truth, valid


@pytest.mark.parametrize("op", ["add", "subtract", "multiply"])
@pytest.mark.parametrize("p", [5, 6, 7, 10, 12, 23])
def test_task_table_matches_brute_force(p, op):
    truth, valid = task_table(p, op)
    ref_truth, ref_valid = brute_force_table(p, op)
    assert truth.dtype == torch.int64 and valid.dtype == torch.bool
    assert truth.shape == valid.shape == (p * p,)
    assert truth.tolist() == ref_truth
    assert valid.tolist() == ref_valid


@pytest.mark.parametrize("p", [5, 7, 11, 13, 23])
def test_task_table_divide_matches_brute_force(p):
    truth, valid = task_table(p, "divide")
    ref_truth, ref_valid = brute_force_table(p, "divide")
    assert valid.tolist() == ref_valid
    assert valid.sum().item() == p * (p - 1)
    for i, (t, v) in enumerate(zip(truth.tolist(), ref_truth)):
        if ref_valid[i]:
            assert t == v, i


def test_index_convention_is_m_times_p_plus_n():
    p = 11
    m, n = pair_inputs(p)
    truth, _ = task_table(p, "subtract")
    for i in range(p * p):
        assert (m[i].item(), n[i].item()) == divmod(i, p)
        assert truth[i].item() == (i // p - i % p) % p


SPLIT_CASES = [
    (23, "add", 0.5, 0.35, 0),
    (23, "subtract", 0.3, 0.0, 1),
    (23, "multiply", 0.8, 1.0, 2),
    (23, "divide", 0.5, 0.2, 3),
    (31, "add", 0.7, 0.25, 12345),
    (13, "divide", 0.1, 0.5, 2**31 - 1),
]


@pytest.mark.parametrize("p, op, alpha, xi, seed", SPLIT_CASES)
def test_split_and_corrupt_sizes_and_masks(p, op, alpha, xi, seed):
    truth, valid = task_table(p, op)
    train, labels, corrupted = split_and_corrupt(p, op, alpha, xi, seed)
    n_valid = int(valid.sum())
    n_train = round(alpha * n_valid)
    assert train.dtype == corrupted.dtype == torch.bool and labels.dtype == torch.int64
    assert int(train.sum()) == n_train
    assert int(corrupted.sum()) == round(xi * n_train)
    assert not (train & ~valid).any(), "invalid pairs (divide by 0) must never train"
    assert not (corrupted & ~train).any(), "corrupted must be a subset of train"
    assert torch.equal(labels[~corrupted], truth[~corrupted])
    test = valid & ~train
    assert int(test.sum()) == n_valid - n_train
    assert torch.equal(labels[test], truth[test]), "test labels are never corrupted"
    assert int(labels.min()) >= 0 and int(labels.max()) < p


def test_changed_is_subset_of_corrupted_and_clean_complements_it():
    data = make_splits(23, "add", [0.5, 0.5, 0.9], [0.35, 1.0, 0.0], [0, 1, 2])
    changed = data.changed
    assert not (changed & ~data.corrupted).any()
    assert torch.equal(changed, data.corrupted & (data.labels != data.truth))
    assert changed.any()
    assert not changed[2].any()  # xi = 0
    assert torch.equal(data.clean, data.train & ~changed)
    assert torch.equal(data.test, data.valid & ~data.train)
    # labels outside changed are the truth, so clean + test are always correctly labelled
    assert torch.equal(data.labels[~changed], data.truth.expand_as(data.labels)[~changed])


def test_corrupted_label_equals_truth_with_probability_one_over_p():
    """A uniform random label is the true one with probability 1/p: binomial 5-sigma bound."""
    p, alpha, xi = 11, 0.5, 0.5
    hits = total = 0
    label_counts = torch.zeros(p)
    for seed in range(300):
        train, labels, corrupted = split_and_corrupt(p, "add", alpha, xi, seed)
        truth, _ = task_table(p, "add")
        hits += int((labels[corrupted] == truth[corrupted]).sum())
        total += int(corrupted.sum())
        label_counts += torch.bincount(labels[corrupted], minlength=p)
    q = 1 / p
    assert total == 300 * round(xi * round(alpha * p * p))
    assert abs(hits - total * q) < 5 * math.sqrt(total * q * (1 - q))
    # and the random labels are uniform over [0, p): every class within 5 sigma
    expected = total / p
    assert ((label_counts - expected).abs() < 5 * math.sqrt(expected * (1 - q))).all()


def test_training_pairs_are_a_uniform_sample():
    """Each valid pair trains with probability alpha across seeds (5-sigma, per pair)."""
    p, alpha, S = 7, 0.4, 400
    counts = torch.zeros(p * p)
    for seed in range(S):
        counts += split_and_corrupt(p, "divide", alpha, 0.0, seed)[0].float()
    _, valid = task_table(p, "divide")
    frac = round(alpha * int(valid.sum())) / int(valid.sum())
    assert (counts[~valid] == 0).all()
    sd = math.sqrt(S * frac * (1 - frac))
    assert ((counts[valid] - S * frac).abs() < 5 * sd).all()


def test_same_seed_identical_different_seed_different():
    a = split_and_corrupt(23, "add", 0.5, 0.35, 7)
    b = split_and_corrupt(23, "add", 0.5, 0.35, 7)
    c = split_and_corrupt(23, "add", 0.5, 0.35, 8)
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    assert not torch.equal(a[0], c[0])
    assert not torch.equal(a[1], c[1])
    assert not torch.equal(a[2], c[2])


def test_split_does_not_touch_global_rng():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    split_and_corrupt(23, "add", 0.5, 0.35, 1)
    assert torch.equal(torch.rand(3), expected)


def test_make_runs_rows_equal_individual_calls():
    alphas, xis, seeds = [0.5, 0.3, 0.7, 0.5], [0.35, 0.0, 1.0, 0.35], [0, 1, 2, 0]
    data = make_splits(23, "divide", alphas, xis, seeds)
    truth, valid = task_table(23, "divide")
    assert isinstance(data, Splits) and len(data) == 4
    assert data.train.shape == data.labels.shape == data.corrupted.shape == (4, 23 * 23)
    assert torch.equal(data.truth, truth) and torch.equal(data.valid, valid)
    for k, (a, x, s) in enumerate(zip(alphas, xis, seeds)):
        train, labels, corrupted = split_and_corrupt(23, "divide", a, x, s)
        assert torch.equal(data.train[k], train)
        assert torch.equal(data.labels[k], labels)
        assert torch.equal(data.corrupted[k], corrupted)
    # rows 0 and 3 share every setting
    assert torch.equal(data.labels[0], data.labels[3])


def test_runs_select_and_to():
    data = make_splits(13, "add", [0.5, 0.3, 0.7], [0.35, 0.0, 1.0], [0, 1, 2])
    sub = data.select([2, 0])
    assert len(sub) == 2
    assert torch.equal(sub.train, data.train[[2, 0]])
    assert torch.equal(sub.labels[1], data.labels[0])
    assert torch.equal(sub.changed, data.changed[[2, 0]])
    moved = data.to("cpu")
    assert torch.equal(moved.labels, data.labels) and moved.p == 13 and moved.op == "add"


def test_ops_constant():
    assert set(OPS) == {"add", "subtract", "multiply", "divide"}


@pytest.mark.parametrize("p", [2, 3, 4])
def test_moduli_below_five_are_refused(p):
    """The IPR needs two non-zero frequencies (p // 2 >= 2): p < 5 is no task for this book."""
    with pytest.raises(ValueError, match=r"p must be an integer >= 5"):
        task_table(p)


# ----------------------------------------------------------------------------- moved from the chapter helper tests
def test_inversion_accuracy_matches_the_masks():
    """The formula the check holds is what the masks give, on average over seeds."""
    p, alpha, xi = 31, 0.5, 0.4
    splits = gb.make_splits(p, "add", [alpha] * 200, [xi] * 200, list(range(200)))
    ceiling = 1 - splits.changed.sum(1).double() / splits.train.sum(1).double()
    assert abs(ceiling.mean().item() - (1 - xi + xi / p)) < 2e-3


def test_mask_categories_partition_the_table():
    splits = gb.make_splits(13, "divide", [0.6, 0.5], [0.3, 0.9], [0, 1])
    for run in range(2):
        cat = gb.data.mask_categories(splits, run)
        assert (cat == -1).sum() == 13  # n = 0 has no label
        assert (cat == 0).sum() == splits.test[run].sum()
        assert (cat == 1).sum() == (splits.train[run] & ~splits.corrupted[run]).sum()
        assert (cat == 2).sum() == (splits.corrupted[run] & ~splits.changed[run]).sum()
        assert (cat == 3).sum() == splits.changed[run].sum()
