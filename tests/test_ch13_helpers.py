"""Chapters 1 and 3: their exercise checks and their figure helpers (grokbook.checks, grokbook.plots).

Every new check must pass the reference solution, fail (AssertionError) on a plausible wrong
answer, and report a stub that raises NotImplementedError as "not attempted yet" (False).
"""
import math

import matplotlib
import numpy as np
import pytest
import torch

import grokbook as gb
from grokbook import checks, plots


def stub(*args):
    raise NotImplementedError


# ----------------------------------------------------------------------------- chapter 1 checks
def test_inversion_train_accuracy_check():
    assert checks.inversion_train_accuracy(lambda xi, p: 1 - xi * (1 - 1 / p)) is True
    assert checks.inversion_train_accuracy(stub) is False
    with pytest.raises(AssertionError, match="inversion_train_accuracy"):
        checks.inversion_train_accuracy(lambda xi, p: 1 - xi)  # forgets the chance-correct labels
    with pytest.raises(AssertionError):
        checks.inversion_train_accuracy(lambda xi, p: 1 - xi / p)


def test_inversion_accuracy_matches_the_masks():
    """The formula the check holds is what the masks give, on average over seeds."""
    p, alpha, xi = 31, 0.5, 0.4
    splits = gb.make_splits(p, "add", [alpha] * 200, [xi] * 200, list(range(200)))
    ceiling = 1 - splits.changed.sum(1).double() / splits.train.sum(1).double()
    assert abs(ceiling.mean().item() - (1 - xi + xi / p)) < 2e-3


# ----------------------------------------------------------------------------- chapter 3 checks
def explicit_dft(x):
    p = x.shape[-1]
    angle = 2 * math.pi * torch.outer(torch.arange(p // 2 + 1), torch.arange(p)).to(x.dtype) / p
    return torch.sqrt((torch.cos(angle) @ x) ** 2 + (torch.sin(angle) @ x) ** 2)


def test_dft_magnitudes_check():
    assert checks.dft_magnitudes(explicit_dft) is True
    assert checks.dft_magnitudes(lambda x: torch.fft.rfft(x).abs()) is True
    assert checks.dft_magnitudes(stub) is False
    with pytest.raises(AssertionError, match="dft_magnitudes"):
        checks.dft_magnitudes(lambda x: torch.fft.rfft(x).real.abs())  # drops the sine part
    with pytest.raises(AssertionError):
        checks.dft_magnitudes(lambda x: torch.fft.fft(x).abs())  # all p coefficients
    with pytest.raises(AssertionError):
        checks.dft_magnitudes(lambda x: torch.fft.rfft(x, norm="ortho").abs())  # other scaling


def test_network_output_check():
    assert checks.network_output(lambda U, V, W, m, n: W @ (U[:, m] + V[:, n]) ** 2) is True
    assert checks.network_output(stub) is False
    with pytest.raises(AssertionError, match="network_output"):
        checks.network_output(lambda U, V, W, m, n: W @ (U[:, n] + V[:, m]) ** 2)  # inputs swapped
    with pytest.raises(AssertionError):
        checks.network_output(lambda U, V, W, m, n: W @ (U[:, m] * V[:, n]))  # cross term only
    with pytest.raises(AssertionError):
        checks.network_output(lambda U, V, W, m, n: W @ (U[:, m] + V[:, n]))  # no activation


# ----------------------------------------------------------------------------- chapter 1 figures
def test_mask_categories_partition_the_table():
    splits = gb.make_splits(13, "divide", [0.6, 0.5], [0.3, 0.9], [0, 1])
    for run in range(2):
        cat = gb.data.mask_categories(splits, run)
        assert (cat == -1).sum() == 13  # n = 0 has no label
        assert (cat == 0).sum() == splits.test[run].sum()
        assert (cat == 1).sum() == (splits.train[run] & ~splits.corrupted[run]).sum()
        assert (cat == 2).sum() == (splits.corrupted[run] & ~splits.changed[run]).sum()
        assert (cat == 3).sum() == splits.changed[run].sum()


def test_binomial_pmf():
    n, q = 1646, 1 / 97
    k = np.arange(n + 1)
    pmf = gb.stats.binomial_pmf(n, q, k)
    assert abs(pmf.sum() - 1) < 1e-9
    assert abs((k * pmf).sum() - n * q) < 1e-9
    assert abs(((k - n * q) ** 2 * pmf).sum() - n * q * (1 - q)) < 1e-8
    assert abs(gb.stats.binomial_pmf(5, 0.5, np.array([2]))[0] - 10 / 32) < 1e-12


def test_chapter1_figures_return_axes():
    splits = gb.make_splits(11, "add", [0.5], [0.3], [0])
    assert len(plots.task_tables(11)) == 4
    for ax in (plots.task_table_image(11, "divide"), plots.run_masks(splits), plots.given_labels(splits),
               plots.chance_correct_histogram(np.array([0, 1, 1, 2, 5]), 30, 11)):
        assert isinstance(ax, matplotlib.axes.Axes)


# ----------------------------------------------------------------------------- chapter 3 helpers
def test_neuron_fourier_on_the_analytic_solution():
    """Eq. (2): one frequency (the drawn one) in U, V and W, phases that add, IPR 1."""
    p, N = 31, 64
    model = gb.analytic_solution(p, N, seed=3, dtype=torch.float64)
    table = gb.neuron_fourier(model)
    g = torch.Generator().manual_seed(3)  # the frequencies analytic_solution drew
    s = torch.randint(1, (p - 1) // 2 + 1, (N,), generator=g)
    assert (table.freq_u.to_numpy() == s.numpy()).all()
    assert (table.freq_v == table.freq_u).all() and (table.freq_w == table.freq_u).all()
    assert table.phase_mismatch.abs().max() < 1e-9
    assert np.allclose(table.ipr, 1.0, atol=1e-12)
    assert len(table) == N


def test_neuron_fourier_reads_phases():
    """Hand-made neuron: phases 0.3 and 1.1 in, output phase 0.3 + 1.1 + 0.5 -> mismatch 0.5."""
    p = 23
    i = torch.arange(p, dtype=torch.float64)
    cos = lambda ph: torch.cos(2 * math.pi * 4 * i / p + ph)
    U, V, W = cos(0.3)[None, None], cos(1.1)[None, None], cos(1.9)[None, :, None]
    table = gb.neuron_fourier(gb.BatchedMLP(U, V, W))
    assert table.freq_u[0] == table.freq_v[0] == table.freq_w[0] == 4
    assert abs(table.phase_mismatch[0] - 0.5) < 1e-9
    W = cos(1.4 + math.pi)[None, :, None]  # a negative amplitude is a phase shift by pi
    assert abs(abs(gb.neuron_fourier(gb.BatchedMLP(U, V, W)).phase_mismatch[0]) - math.pi) < 1e-9


def test_chapter3_figures_return_axes():
    model = gb.analytic_solution(13, 20, seed=0)  # weights that require grad: plots must detach
    assert len(plots.neuron_weights(model, neuron=3)) == 2
    table = gb.neuron_fourier(model)
    for ax in (plots.ipr_comparison({"a": gb.model_ipr(model)[0], "b": [0.1, 1 + 1e-7]}, p=13),
               plots.frequency_counts(table, p=13), plots.phase_mismatch(table),
               plots.analytic_accuracy_curve([10, 20], [[0.5, 0.6], [1.0, 1.0]], p=13)):
        assert isinstance(ax, matplotlib.axes.Axes)
