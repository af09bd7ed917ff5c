"""What chapter 10 (book/10_transformers.ipynb) relies on in the code, tested here at small sizes
(the chapter checks only the paper's claims): its three batches read as one table, one run per seed
and weight decay; the step at half the training is logged; the stored phase diagram has the cells
the chapter reads; the pruning table reads the fractions it asks for; the embedding's spectrum is a
share of a float64 DFT; the MLP block has wide x d neurons."""
from __future__ import annotations

import copy
import dataclasses
import math
import warnings

import numpy as np
import pytest
import torch

import grokbook as gb
from grokbook.core.profiles import TRANSFORMERS, transformer_sizes
from grokbook.analysis.prune import prune_curves
from grokbook.engine.train import evaluate
from grokbook.engine.transformer import (BatchedTransformer, concat_results, embedding_spectrum, neuron_ipr,
                                  train_transformers)
from grokbook.store.transformer_diagram import StaleDiagramWarning, load_diagram


def small_sizes(**kw):
    """The chapter's sizes (weight decays, seeds, alpha, xi, lr) on a tiny transformer."""
    base = dict(p=7, d=8, heads=2, wide=2, steps=8, logs=4)
    base.update(kw)
    return dataclasses.replace(transformer_sizes("book"), **base)


def train_at(T, wd):
    """The chapter's train_at: the seeds of one weight decay, as one batch."""
    runs = gb.grid(alpha=T.alpha, xi=T.xi, lr=T.lr, wd=wd, seed=list(T.seeds))
    return train_transformers(runs, T.config(), device="cpu")


@pytest.fixture(scope="module")
def chapter_like():
    """The chapter's experiment at a tiny size: one batch per weight decay, read as one result."""
    T = small_sizes()
    trained = {wd: train_at(T, wd) for wd in T.weight_decays}
    return T, trained, concat_results(trained.values())


def test_the_three_batches_hold_one_run_per_seed_and_weight_decay(chapter_like):
    T, _, result = chapter_like
    runs = result.runs
    assert len(runs) == len(T.weight_decays) * len(T.seeds)
    assert runs.run.tolist() == list(range(len(runs)))
    for wd in T.weight_decays:
        at = runs[runs.wd == wd]
        assert sorted(at.data_seed) == sorted(T.seeds), (wd, at.data_seed.tolist())
        assert sorted(at.model_seed) == sorted(T.seeds), (wd, at.model_seed.tolist())


def test_each_run_of_the_joined_batches_is_the_run_trained_alone(chapter_like):
    """The batched transformer against a single run: every run of the chapter's table, trained
    alone (a batch of one), gives the same numbers and weights."""
    T, _, result = chapter_like
    for r in result.runs.itertuples():
        run = gb.grid(alpha=T.alpha, xi=T.xi, lr=T.lr, wd=r.wd, seed=[r.data_seed])
        alone = train_transformers(run, T.config(), device="cpu")
        for name in ("train_acc", "test_acc", "corrupt_acc", "corrupt_true_acc", "clean_acc"):
            assert getattr(r, name) == pytest.approx(alone.runs[name].iloc[0], abs=1e-6), (r.run, name)
        assert r.mean_ipr == pytest.approx(alone.runs.mean_ipr.iloc[0], rel=1e-4)
        assert torch.allclose(result.model.embed[r.run], alone.model.embed[0], rtol=1e-5, atol=1e-6)
        assert torch.allclose(result.model.up[r.run], alone.model.up[0], rtol=1e-5, atol=1e-6)


def test_half_the_training_is_a_logged_step_at_every_size():
    """The chapter reads the fraction of changed labels fitted at step steps // 2."""
    for name, T in TRANSFORMERS.items():
        every = T.config().log_every
        assert (T.steps // 2) % every == 0 and T.steps % every == 0, (name, T.steps, every)


def test_the_history_logs_half_the_steps_and_ends_at_the_runs_table(chapter_like):
    T, _, result = chapter_like
    h = result.history
    assert T.steps // 2 in set(h.step) and h.step.max() == T.steps
    fitted = h.pivot(index="step", columns="run", values="corrupt_acc")
    for r in result.runs.itertuples():
        rows = h[h.run == r.run]
        # a loop over the logged rows: the peak, the value at half the steps and at the end
        peak = max(rows.corrupt_acc)
        assert fitted[r.run].max() == peak
        at_half = [v for s, v in zip(rows.step, rows.corrupt_acc) if s == T.steps // 2]
        assert fitted.loc[T.steps // 2, r.run] == at_half[0]
        assert r.corrupt_acc == rows.corrupt_acc.iloc[-1] == fitted[r.run].iloc[-1]


def test_the_stored_diagram_has_the_cells_the_chapter_reads():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StaleDiagramWarning)
        diagram = load_diagram("book")
    assert diagram is not None, "the book's transformer phase diagram must be committed"
    T = transformer_sizes("book")
    NONE, PART, FULL = T.weight_decays
    assert not diagram.duplicated(["wd", "xi"]).any(), "one cell per (wd, xi)"
    corrupted = diagram[diagram.xi > 0]
    xis = sorted(set(corrupted.xi))
    assert len(corrupted[corrupted.wd == NONE]) == len(xis) >= 1
    at_full = corrupted[corrupted.wd == FULL]
    assert len(at_full[at_full.xi <= T.xi + 1e-9]) >= 1
    assert len(at_full[np.isclose(at_full.xi, T.xi + 0.1)]) == 1
    assert len(corrupted[corrupted.wd > FULL]) >= 1
    assert {"train_acc", "test_acc", "corrupt_acc", "corrupt_true_acc", "xi", "phase"} <= set(diagram)


def test_the_pruning_table_reads_the_rows_of_the_fractions_it_asks_for(chapter_like):
    """The chapter's pruning: fractions np.linspace(0, 0.5, 11); it reads the rows at 0, at 0.2
    (lowest IPR first) and at 0.1 (highest first). Each row is the run with that many of its
    lowest- (highest-) IPR neurons' input weights set to zero by hand."""
    T, _, result = chapter_like
    FRACTIONS, AT = np.linspace(0, 0.5, 11), 0.2
    run = int(result.runs[result.runs.wd == T.weight_decays[1]].run.iloc[0])
    curves = prune_curves(result.model, result.data, run, orders=("low", "high"), fractions=FRACTIONS)
    n = T.wide * T.d
    ipr = neuron_ipr(result.model)[run]
    for order, at in (("low", AT), ("high", AT / 2)):
        c = curves[curves.order == order]
        assert len(c) == len(FRACTIONS)
        assert len(c[c.fraction == 0]) == 1 and len(c[np.isclose(c.fraction, at)]) == 1
        row = c[np.isclose(c.fraction, at)].iloc[0]
        assert row.n_pruned == round(at * n)
        ranked = sorted(range(n), key=lambda j: float(ipr[j]), reverse=(order == "high"))
        model = copy.deepcopy(result.model)
        with torch.no_grad():
            for j in ranked[:int(row.n_pruned)]:
                model.up[run, :, :, j] = 0.0  # relu(0) = 0: the neuron's output is gone
            want = evaluate(model, result.data, loss="mse")
        for name in ("corrupt_acc", "clean_acc", "test_acc"):
            assert row[name] == pytest.approx(float(want[name][run]), abs=1e-6), (order, name)
    start = curves[(curves.order == "low") & (curves.fraction == 0)].iloc[0]
    final = result.runs[result.runs.run == run].iloc[0]
    for name in ("corrupt_acc", "clean_acc", "test_acc"):
        assert start[name] == pytest.approx(final[name], abs=1e-6), name


def test_the_embedding_spectrum_is_the_share_of_a_float64_dft():
    p, d = 11, 6
    model = BatchedTransformer(p, seeds=[0, 1], d=d, heads=2)
    got = embedding_spectrum(model).double()
    assert got.shape == (2, p // 2 + 1)
    for k in range(2):
        E = model.embed[k].detach().double().numpy()
        power = []
        for f in range(p // 2 + 1):  # the DFT written out, summed over the columns
            re = sum(E[t] * math.cos(2 * math.pi * f * t / p) for t in range(p))
            im = sum(E[t] * math.sin(2 * math.pi * f * t / p) for t in range(p))
            power.append(float((re ** 2 + im ** 2).sum()))
        want = np.array(power) / sum(power)
        np.testing.assert_allclose(got[k].numpy(), want, rtol=1e-5, atol=1e-7)
        assert got[k].sum().item() == pytest.approx(1.0, abs=1e-6)
        # the chapter's top-5 share: the five largest shares, summed
        top = np.sort(got[k].numpy())[::-1][:5].sum()
        assert top == pytest.approx(sum(sorted(want, reverse=True)[:5]), rel=1e-5)


def test_the_mlp_block_has_wide_times_d_neurons_with_an_ipr_each(chapter_like):
    T, _, result = chapter_like
    ipr = result.ipr()
    assert ipr.shape == (len(result.runs), T.wide * T.d)
    assert torch.isfinite(ipr).all() and (ipr > 0).all() and (ipr <= 1 + 1e-6).all()
    np.testing.assert_allclose(ipr.mean(1).numpy(), result.runs.mean_ipr.to_numpy(), rtol=1e-5)


def test_chapter_never_asserts_at_unmeasured_transformer_sizes(capsys):
    """The paper's transformer sizes were never run: on a GPU in the full profile the chapter
    trains the book's (whose phases were measured), and says so; exercise 5 asks for them."""
    book = transformer_sizes("book")
    assert not TRANSFORMERS["full"].measured and TRANSFORMERS["book"].measured
    assert transformer_sizes("full", "cuda", quiet=False) == book
    assert "have never been run" in capsys.readouterr().out
    assert transformer_sizes("full", "cpu", quiet=False) == book
    assert "a GPU's" in capsys.readouterr().out
    assert transformer_sizes("full", "cuda", measured_only=False) == TRANSFORMERS["full"]
    assert transformer_sizes("full", "cpu", measured_only=False) == book  # a CPU: never the paper's
    assert transformer_sizes("book", "cuda") == book
