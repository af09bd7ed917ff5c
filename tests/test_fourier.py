"""IPR and the analytic solution (grokbook.engine.fourier) against closed forms and brute force."""
import math

import pytest
import torch

from grokbook.engine.data import task_table
from grokbook.engine.fourier import (analytic_accuracy, analytic_solution, ipr_of_vectors, model_ipr,
                              neuron_ipr)
from grokbook.engine.models import BatchedMLP

import numpy as np

import grokbook as gb


F64 = torch.float64


def cosine(p, s, phase=0.3, dtype=F64):
    i = torch.arange(p, dtype=F64)
    return torch.cos(2 * math.pi * s * i / p + phase).to(dtype)


def brute_force_ipr(x):
    """IPR of one float64 vector: DFT by explicit cos/sin sums over k = 0 .. p//2."""
    p = len(x)
    x = [float(v) for v in x]
    mags = []
    for k in range(p // 2 + 1):
        re = sum(x[j] * math.cos(2 * math.pi * k * j / p) for j in range(p))
        im = -sum(x[j] * math.sin(2 * math.pi * k * j / p) for j in range(p))
        mags.append(math.hypot(re, im))
    norm = math.sqrt(sum(m * m for m in mags))
    if norm == 0:
        return 0.0
    return sum((m / norm) ** 4 for m in mags)


@pytest.mark.parametrize("p", [97, 53, 20])
def test_pure_cosine_has_ipr_one(p):
    for s in range(1, p // 2 + 1):
        for phase in (0.0, 0.3, 2.0):
            assert abs(ipr_of_vectors(cosine(p, s, phase)).item() - 1) < 1e-12, (s, phase)


def test_constant_vector_has_ipr_one():
    assert abs(ipr_of_vectors(torch.full((97,), -0.7, dtype=F64)).item() - 1) < 1e-12


def test_two_equal_frequencies_have_ipr_one_half():
    """Closed form: two coefficients of equal magnitude -> 2 * (1/sqrt 2)^4 = 1/2."""
    p = 97
    x = cosine(p, 3, 0.1) + cosine(p, 17, 1.2)
    assert abs(ipr_of_vectors(x).item() - 0.5) < 1e-12


@pytest.mark.parametrize("p, rel", [(97, 0.03), (401, 0.01)])
def test_random_gaussian_mean_ipr(p, rel):
    """Independent coefficients of equal variance: E[IPR] -> 2 / (p//2 + 1)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20000, p, generator=g, dtype=F64)
    mean = ipr_of_vectors(x).mean().item()
    assert mean == pytest.approx(2 / (p // 2 + 1), rel=rel)


def test_zero_vector_has_ipr_zero_never_nan():
    for dtype in (torch.float32, F64):
        z = torch.zeros(3, 97, dtype=dtype)
        out = ipr_of_vectors(z)
        assert torch.equal(out, torch.zeros(3, dtype=dtype))
        tiny = ipr_of_vectors(torch.full((2, 97), 1e-30, dtype=dtype))
        assert torch.isfinite(tiny).all()
    # a zero neuron among nonzero ones: 0 for it only
    U = torch.stack([cosine(31, 2), torch.zeros(31, dtype=F64)])
    ipr = neuron_ipr(U, U, U.T)
    assert ipr.tolist() == pytest.approx([1.0, 0.0], abs=1e-12)


def test_tiny_float64_vector_keeps_its_ipr():
    x = cosine(97, 5)
    assert abs(ipr_of_vectors(x * 1e-30).item() - 1) < 1e-12


@pytest.mark.parametrize("dtype, scales, tol", [
    (F64, [1e-100, 1e-30, 1e-8, 3.7, 1e8, 1e30, 1e100], 1e-12),
    (torch.float32, [1e-15, 1e-8, 3.7, 1e8, 1e15], 1e-5),
])
def test_ipr_invariant_to_scaling(dtype, scales, tol):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(10, 61, generator=g, dtype=F64)
    base = ipr_of_vectors(x)
    for c in scales:
        torch.testing.assert_close(ipr_of_vectors((c * x).to(dtype)).double(), base, rtol=tol,
                                   atol=tol)
        torch.testing.assert_close(ipr_of_vectors((-c * x).to(dtype)).double(), base, rtol=tol,
                                   atol=tol)


@pytest.mark.parametrize("scale", [1e-25, 1e-30, 1e18])
def test_ipr_scale_invariant_float32_extreme_scales(scale):
    x = (cosine(97, 5) * scale).float()
    assert x.abs().max() > 0 and torch.isfinite(x).all()
    assert abs(ipr_of_vectors(x).item() - 1) < 1e-4


def test_ipr_invariant_to_cyclic_shift():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(8, 53, generator=g, dtype=F64)
    base = ipr_of_vectors(x)
    for shift in (1, 7, 52):
        torch.testing.assert_close(ipr_of_vectors(torch.roll(x, shift, dims=-1)), base,
                                   rtol=1e-12, atol=1e-14)
    # but not to an arbitrary permutation (so the check above is not vacuous)
    perm = torch.randperm(53, generator=g)
    assert not torch.allclose(ipr_of_vectors(x[:, perm]), base, rtol=1e-3)


@pytest.mark.parametrize("p", [13, 16])
def test_neuron_ipr_matches_brute_force_dft(p):
    g = torch.Generator().manual_seed(p)
    N = 5
    U = torch.randn(N, p, generator=g, dtype=F64)
    V = torch.randn(N, p, generator=g, dtype=F64)
    W = torch.randn(p, N, generator=g, dtype=F64)
    U[1] = cosine(p, 3)  # one structured neuron, one zero vector
    V[2] = 0.0
    ipr = neuron_ipr(U, V, W)
    assert ipr.shape == (N,)
    for k in range(N):
        expected = (brute_force_ipr(U[k]) + brute_force_ipr(V[k]) + brute_force_ipr(W[:, k])) / 3
        assert ipr[k].item() == pytest.approx(expected, rel=1e-12, abs=1e-14)
    # batched shapes (K, N, p) and a model give the same numbers
    model = BatchedMLP(U[None].clone(), V[None].clone(), W[None].clone())
    torch.testing.assert_close(model_ipr(model)[0], ipr, rtol=0, atol=0)


# ----------------------------------------------------------------------------- analytic solution
@pytest.mark.parametrize("width", [200, 300, 500])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_analytic_solution_is_exact_at_p97(width, seed):
    assert analytic_accuracy(97, width, seed=seed) == 1.0


@pytest.mark.parametrize("seed", [0, 3])
def test_analytic_solution_subtract_is_exact(seed):
    assert analytic_accuracy(97, 300, seed=seed, op="subtract") == 1.0
    # and it really computes m - n, not m + n
    model = analytic_solution(97, 300, seed=seed, op="subtract", dtype=F64)
    add_truth, _ = task_table(97, "add")
    with torch.no_grad():
        pred = model()[0].argmax(-1)
    assert (pred == add_truth).double().mean().item() < 0.05


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_analytic_solution_is_not_trivially_exact(seed):
    assert analytic_accuracy(97, 20, seed=seed) < 1.0


def test_analytic_accuracy_matches_brute_force_forward():
    p, N = 31, 40
    model = analytic_solution(p, N, seed=5, dtype=F64)
    U, V, W = (t[0].detach() for t in (model.U, model.V, model.W))
    correct = 0
    for m in range(p):
        for n in range(p):
            out = W @ (U[:, m] + V[:, n]) ** 2
            correct += int(out.argmax().item() == (m + n) % p)
    acc = analytic_accuracy(p, N, seed=5)
    assert acc == correct / p**2
    assert 0.2 < acc < 1.0  # a width where the check is informative


@pytest.mark.parametrize("op", ["add", "subtract"])
def test_analytic_solution_neurons_are_pure_cosines(op):
    model = analytic_solution(97, 100, seed=4, op=op, dtype=F64)
    U, V, W = model.U[0].detach(), model.V[0].detach(), model.W[0].detach()
    for vectors in (U, V, W.T):
        assert (ipr_of_vectors(vectors) - 1).abs().max().item() < 1e-12
    assert (model_ipr(model) - 1).abs().max().item() < 1e-12
    # and the three vectors of a neuron share one frequency (Eq. 2)
    freq = [torch.fft.rfft(v, dim=-1).abs().argmax(-1) for v in (U, V, W.T)]
    assert torch.equal(freq[0], freq[1]) and torch.equal(freq[0], freq[2])
    assert freq[0].min() >= 1 and freq[0].max() <= 48


def test_analytic_solution_mean_correct_output_closed_form():
    """Mean over all pairs of the correct-label output is exactly A^3 N / 2 (A = (4/N)^(1/3)): 2."""
    for width, seed in ((50, 0), (300, 1)):
        model = analytic_solution(97, width, seed=seed, dtype=F64)
        truth, _ = task_table(97, "add")
        with torch.no_grad():
            correct = model()[0].gather(1, truth[:, None])
        assert correct.mean().item() == pytest.approx(2.0, rel=1e-12)


def test_analytic_solution_is_seeded():
    a = analytic_solution(53, 30, seed=1)
    b = analytic_solution(53, 30, seed=1)
    c = analytic_solution(53, 30, seed=2)
    assert torch.equal(a.U, b.U) and torch.equal(a.W, b.W)
    assert not torch.equal(a.U, c.U)


# ----------------------------------------------------------------------------- moved from the chapter helper tests
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
