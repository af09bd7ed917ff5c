"""Modular-arithmetic tasks, train/test splits and label corruption.

The task is the whole p x p table of a modular operation: pair (m, n) lives at
index ``m * p + n`` and its true label is ``op(m, n) mod p``.  For ``divide``
the pairs with n = 0 have no label; they are marked invalid and belong to
neither the training nor the test set.

A *run* sees the table through masks: which pairs it trains on, which of its
training labels were chosen for corruption, and which of those really changed
(a uniformly random label equals the true one with probability 1/p).  K runs
are K rows of the same masks, so a sweep is a batch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.settings import check_fraction, check_seed, check_task


def task_table(p: int, op: str = "add") -> tuple[torch.Tensor, torch.Tensor]:
    """True labels and validity of every pair of the p x p table.

    Returns ``truth`` (p*p,) int64 and ``valid`` (p*p,) bool, indexed by m*p + n.
    """
    check_task(p, op)
    m = torch.arange(p).repeat_interleave(p)
    n = torch.arange(p).repeat(p)
    valid = torch.ones(p * p, dtype=torch.bool)
    if op == "add":
        truth = (m + n) % p
    elif op == "subtract":
        truth = (m - n) % p
    elif op == "multiply":
        truth = (m * n) % p
    else:  # divide: m * n^(p-2) mod p by Fermat; n = 0 has no answer
        inverse = torch.tensor([pow(int(b), p - 2, p) if b else 0 for b in range(p)])
        truth = (m * inverse[n]) % p
        valid = n != 0
    return truth, valid


def split_and_corrupt(p: int, op: str, alpha: float, xi: float, seed: int,
                      subset: float = 1.0, subset_seed: int = 0):
    """One run's training mask, given labels and corruption masks.

    A fraction ``alpha`` of the valid pairs (rounded) trains; a fraction ``xi``
    of those training pairs (rounded) gets a label drawn uniformly from [0, p).
    Everything comes from one CPU generator seeded with ``seed``, so the same
    seed gives the same split and labels on every machine and in every batch.

    ``subset`` < 1 keeps only a random fraction (rounded, at least one pair) of
    that training set, drawn from a second generator seeded with ``subset_seed``:
    the runs of a leave-some-out ensemble share one corrupted training set and
    differ only in which of its pairs they see.  A left-out pair is simply an
    unseen pair: it joins the test set with its true label.
    """
    alpha = check_fraction("alpha", alpha, closed=False)
    xi = check_fraction("xi", xi, closed=True)
    check_seed("data_seed", seed)
    subset = check_fraction("subset", subset, closed=True)
    if subset == 0:
        raise ValueError("subset must lie in (0, 1], got 0.0")
    check_seed("subset_seed", subset_seed)
    truth, valid = task_table(p, op)
    pairs = valid.nonzero().squeeze(1)
    n_train = round(alpha * len(pairs))
    if not 1 <= n_train < len(pairs):
        raise ValueError(
            f"alpha={alpha} leaves {n_train} of {len(pairs)} pairs for training; "
            "alpha must leave at least one training and one test pair"
        )
    g = torch.Generator().manual_seed(seed)
    train_idx = pairs[torch.randperm(len(pairs), generator=g)[:n_train]]
    n_corrupt = round(xi * n_train)
    corrupt_idx = train_idx[torch.randperm(n_train, generator=g)[:n_corrupt]]
    random_labels = torch.randint(0, p, (n_corrupt,), generator=g)

    train = torch.zeros(p * p, dtype=torch.bool)
    train[train_idx] = True
    corrupted = torch.zeros(p * p, dtype=torch.bool)
    corrupted[corrupt_idx] = True
    labels = truth.clone()
    labels[corrupt_idx] = random_labels
    if subset < 1:
        keep = max(1, round(subset * n_train))
        g_sub = torch.Generator().manual_seed(subset_seed)
        left_out = train_idx[torch.randperm(n_train, generator=g_sub)[keep:]]
        train[left_out] = False
        corrupted[left_out] = False
        labels[left_out] = truth[left_out]
    return train, labels, corrupted


@dataclass
class Splits:
    """The splits of K runs over one task: masks and labels of shape (K, p*p).

    (One name per idea: a ``Run`` is one run's settings, ``Splits`` the data side of K runs,
    and ``runs`` a table of runs -- the DataFrame of a result or a stored sweep.)

    ``labels`` are the labels as given (corrupted where ``corrupted``; the truth
    on test pairs, which are never corrupted).  ``changed`` marks the corrupted
    pairs whose label really differs from the truth: the examples that can
    only be fitted by memorizing.
    """

    p: int
    op: str
    truth: torch.Tensor  # (P,) int64
    valid: torch.Tensor  # (P,) bool
    train: torch.Tensor  # (K, P) bool
    labels: torch.Tensor  # (K, P) int64
    corrupted: torch.Tensor  # (K, P) bool

    @property
    def changed(self) -> torch.Tensor:
        return self.corrupted & (self.labels != self.truth)

    @property
    def test(self) -> torch.Tensor:
        return self.valid & ~self.train

    @property
    def clean(self) -> torch.Tensor:
        """Training pairs whose given label is the true one."""
        return self.train & ~self.changed

    def __len__(self) -> int:
        return self.train.shape[0]

    def select(self, index) -> "Splits":
        """A subset of the runs (a slice, a list of run indices or a bool mask)."""
        return Splits(self.p, self.op, self.truth, self.valid,
                    self.train[index], self.labels[index], self.corrupted[index])

    def to(self, device) -> "Splits":
        return Splits(self.p, self.op, *(t.to(device) for t in
                    (self.truth, self.valid, self.train, self.labels, self.corrupted)))


def make_splits(p: int, op: str, alphas, xis, seeds, subsets=None, subset_seeds=None) -> Splits:
    """Stack the splits of K runs; ``alphas``, ``xis``, ``seeds`` (and, optionally,
    ``subsets`` and ``subset_seeds``; see ``split_and_corrupt``) have length K."""
    subsets = [1.0] * len(alphas) if subsets is None else subsets
    subset_seeds = [0] * len(alphas) if subset_seeds is None else subset_seeds
    if not len(alphas) == len(xis) == len(seeds) == len(subsets) == len(subset_seeds):
        raise ValueError("alphas, xis, seeds, subsets and subset_seeds must have the same length")
    if len(alphas) == 0:
        raise ValueError("at least one run is needed")
    truth, valid = task_table(p, op)
    parts = [split_and_corrupt(p, op, a, x, s, f, fs)
             for a, x, s, f, fs in zip(alphas, xis, seeds, subsets, subset_seeds)]
    train, labels, corrupted = (torch.stack(t) for t in zip(*parts))
    return Splits(p, op, truth, valid, train, labels, corrupted)


def mask_categories(splits: Splits, run: int = 0) -> np.ndarray:
    """(p*p,) int: -1 no label, 0 test, 1 clean train, 2 corrupted but unchanged, 3 changed."""
    cat = np.full(splits.p * splits.p, -1)
    cat[splits.test[run].numpy()] = 0
    cat[(splits.train[run] & ~splits.corrupted[run]).numpy()] = 1
    cat[(splits.corrupted[run] & ~splits.changed[run]).numpy()] = 2
    cat[splits.changed[run].numpy()] = 3
    return cat


def pair_inputs(p: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(m, n) of every table index, each (p*p,) int64."""
    return torch.arange(p).repeat_interleave(p), torch.arange(p).repeat(p)
