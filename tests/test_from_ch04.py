"""Checks of code that chapter 4 (coexistence) used to assert inline, now tested at small sizes.

The chapter scores memorization on the *changed* pairs (corrupted pairs whose redrawn label
differs from the true one) and compares that with the paper's count over every corrupted pair.
These tests check, against a brute-force loop over the pairs in float64, that the engine's
columns are those changed-pair scores, and that the paper's count is the mix of the changed and
the unchanged corrupted pairs that the chapter describes.
"""
from __future__ import annotations

import math

import pytest
import torch

import grokbook as gb
from grokbook.core.settings import Config

P_SMALL, WIDTH, STEPS = 13, 48, 40


@pytest.fixture(scope="module")
def small_result():
    """Three runs at a small p, with corruption heavy enough that every seed has changed pairs
    and (at p = 13, about one draw in 13) some corrupted pairs redrawn to their true label."""
    runs = gb.grid(alpha=0.7, xi=0.5, wd=0.0, seed=[0, 1, 2])
    config = Config(p=P_SMALL, width=WIDTH, steps=STEPS, log_every=STEPS)
    return gb.train(runs, config, device="cpu", progress=False)


def _pairs(result, k):
    """Brute force, one pair at a time: (prediction, given label, true label, train, corrupted)."""
    with torch.no_grad():
        pred = result.model()[k].argmax(-1)
    d = result.data
    p = d.p
    out = []
    for m in range(p):
        for n in range(p):
            i = m * p + n
            out.append((int(pred[i]), int(d.labels[k, i]), (m + n) % p, bool(d.train[k, i]),
                        bool(d.corrupted[k, i])))
    return out


def _mean(flags):
    flags = list(flags)
    return sum(flags) / len(flags) if flags else math.nan


def test_the_corruption_masks_follow_the_notation(small_result):
    """corrupted: round(xi n_train) training pairs; changed: the corrupted ones whose label moved."""
    d = small_result.data
    for k, run in enumerate(small_result.runs.itertuples()):
        n_train = int(d.train[k].sum())
        assert int(d.corrupted[k].sum()) == round(run.xi * n_train)
        assert not (d.corrupted[k] & ~d.train[k]).any(), "only training pairs are corrupted"
        moved = d.labels[k] != d.truth
        assert torch.equal(d.changed[k], d.corrupted[k] & moved)
        assert not (moved & ~d.corrupted[k]).any(), "no label moves outside the corrupted pairs"
        assert int(d.changed[k].sum()) == run.n_changed


def test_engine_scores_are_changed_pair_counts(small_result):
    """corrupt_acc / corrupt_true_acc: the changed pairs against the given / the true label;
    clean_acc: the other training pairs (their given label is the true one)."""
    for k, run in enumerate(small_result.runs.itertuples()):
        pairs = _pairs(small_result, k)
        changed = [(pr, lab, tru) for pr, lab, tru, tr, cor in pairs if cor and lab != tru]
        other = [(pr, lab) for pr, lab, tru, tr, cor in pairs if tr and not (cor and lab != tru)]
        assert changed, "the test needs changed pairs"
        assert run.corrupt_acc == pytest.approx(_mean(pr == lab for pr, lab, _ in changed), abs=1e-12)
        assert run.corrupt_true_acc == pytest.approx(_mean(pr == tru for pr, _, tru in changed), abs=1e-12)
        assert run.clean_acc == pytest.approx(_mean(pr == lab for pr, lab in other), abs=1e-12)


def test_paper_count_mixes_changed_and_unchanged_pairs(small_result):
    """The paper's true-label score over every corrupted pair equals the changed pairs' score and
    the unchanged corrupted pairs' fitted share, weighted by how many there are of each."""
    seen_unchanged = False
    for k, run in enumerate(small_result.runs.itertuples()):
        pairs = _pairs(small_result, k)
        corrupted = [(pr, lab, tru) for pr, lab, tru, tr, cor in pairs if cor]
        unchanged = [(pr, lab) for pr, lab, tru in corrupted if lab == tru]
        seen_unchanged |= bool(unchanged)
        share = len(unchanged) / len(corrupted)
        paper = _mean(pr == tru for pr, _, tru in corrupted)
        fitted_unchanged = _mean(pr == lab for pr, lab in unchanged) if unchanged else 0.0
        mixed = (1 - share) * run.corrupt_true_acc + share * fitted_unchanged
        assert paper == pytest.approx(mixed, abs=1e-12)
    assert seen_unchanged, "at p = 13 some corrupted pair should be redrawn to its true label"
