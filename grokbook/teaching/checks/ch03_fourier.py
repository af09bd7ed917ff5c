"""The exercise checks of chapter 3, Fourier features and the IPR
(book/03_fourier_and_ipr.ipynb), in the order the chapter calls them."""
from __future__ import annotations

import torch

from ...engine.fourier import ipr_of_vectors
from .harness import assert_settings, case_seed, close, remeasured, report, report_experiment

__all__ = ["ipr", "dft_magnitudes", "network_output", "fourier_without_weight_decay"]


def ipr(fn) -> bool:
    """``fn(x)`` returns the IPR of every vector along the last dim of x (..., p); 0 for a
    vector of zeros (not NaN)."""
    g = torch.Generator().manual_seed(case_seed(2))
    def random_case(shape):
        x = torch.randn(*shape, generator=g, dtype=torch.float64)
        return lambda f: close(f(x.clone()), ipr_of_vectors(x), f"random input of shape {shape}")
    i = torch.arange(31, dtype=torch.float64)
    cosine = torch.cos(2 * torch.pi * 4 * i / 31 + 0.3)

    def zero_case(f):  # a neuron that weight decay has erased: IPR 0 by convention, never NaN
        x = torch.randn(4, 53, generator=g, dtype=torch.float64)
        x[[1, 3]] = 0
        got = torch.as_tensor(f(x.clone()), dtype=torch.float64)
        assert not torch.isnan(got).any(), (
            "zero vectors (rows 1 and 3) gave NaN: their spectrum is all zeros, so normalising "
            "it divides 0 by 0; define the IPR of a zero vector as 0")
        close(got, ipr_of_vectors(x), "a batch with two zero vectors (their IPR is 0)")

    cases = [random_case((97,)), random_case((8, 53)), random_case((3, 5, 31)),
             lambda f: close(f(cosine), torch.tensor(1.0, dtype=torch.float64), "a pure cosine"),
             zero_case]
    return report("ipr", fn, cases)


def dft_magnitudes(fn) -> bool:
    """``fn(x)`` returns |X_s| for s = 0 .. p//2 of a length-p vector x, where
    X_s = sum_j x_j (cos(2 pi s j / p) - i sin(2 pi s j / p)), i.e. ``torch.fft.rfft(x).abs()``.
    """
    g = torch.Generator().manual_seed(case_seed(4))
    def random_case(p):
        x = torch.randn(p, generator=g, dtype=torch.float64)
        return lambda f: close(f(x.clone()), torch.fft.rfft(x).abs(), f"random x of length {p}",
                                atol=1e-8)
    i = torch.arange(31, dtype=torch.float64)
    cosine = 2.0 * torch.cos(2 * torch.pi * 5 * i / 31 + 1.0)
    want = torch.zeros(16, dtype=torch.float64)
    want[5] = 31.0  # amplitude 2 times p / 2
    cases = [lambda f: close(f(cosine.clone()), want, "2 cos(2 pi 5 j / 31 + 1)", atol=1e-8)]
    cases += [random_case(p) for p in (7, 8, 53, 97)]
    return report("dft_magnitudes", fn, cases)


def network_output(fn) -> bool:
    """``fn(U, V, W, m, n)`` returns the network's p outputs for the pair (m, n):
    f(m, n) = W (U[:, m] + V[:, n])^2 with U, V of shape (N, p) and W of shape (p, N).
    """
    from ...engine.fourier import analytic_solution
    from ...engine.models import BatchedMLP

    g = torch.Generator().manual_seed(case_seed(5))
    def reference(U, V, W, m, n):
        with torch.no_grad():
            return BatchedMLP(U[None], V[None], W[None])()[0, m * U.shape[1] + n]
    def random_case(N, p):
        U, V, W = (torch.randn(*s, generator=g, dtype=torch.float64) for s in ((N, p), (N, p), (p, N)))
        m, n = (int(torch.randint(0, p, (1,), generator=g)) for _ in range(2))
        return lambda f: close(f(U.clone(), V.clone(), W.clone(), m, n), reference(U, V, W, m, n),
                                f"random weights N={N}, p={p}, (m, n)=({m}, {n})")
    def analytic_case(f):
        model = analytic_solution(31, 300, seed=1, dtype=torch.float64)
        U, V, W = (t[0].detach() for t in (model.U, model.V, model.W))
        for m, n in ((3, 4), (30, 30), (0, 17)):
            out = torch.as_tensor(f(U.clone(), V.clone(), W.clone(), m, n))
            close(out, reference(U, V, W, m, n), f"analytic solution, (m, n)=({m}, {n})")
            assert int(out.argmax()) == (m + n) % 31, f"analytic solution, (m, n)=({m}, {n}): argmax"
    cases = [random_case(5, 7), random_case(64, 13), random_case(300, 53), analytic_case]
    return report("network_output", fn, cases)


def fourier_without_weight_decay(experiment) -> bool:
    """Chapter 3's experiment.  ``experiment()`` returns the result of one ``gb.train`` call:
    clean runs (xi 0) at one alpha, with at least one run without weight decay and one with.

    The claim: the network generalizes with or without weight decay (test accuracy at least
    99%), but only weight decay makes (almost) every neuron one Fourier mode: the 5th percentile
    of the neurons' IPR is above 0.9 in every run with weight decay and below 0.6 in every run
    without, whose mean IPR is lower by at least 0.1."""
    from ...engine.fourier import model_ipr

    claim = ("without weight decay the network still generalizes, but not every neuron becomes "
             "a Fourier mode: 5th-percentile IPR < 0.6 without, > 0.9 with weight decay")

    def settings(result):
        table = remeasured(result)
        assert_settings(table, xi=0.0)
        assert table.alpha.nunique() == 1, f"one alpha for every run, got {sorted(table.alpha.unique())}"
        assert (table.wd == 0).any() and (table.wd > 0).any(), (
            f"train with and without weight decay, got wd {sorted(table.wd.unique())}")
        bad = table[table.test_acc < 0.99]
        assert bad.empty, (f"runs at wd {bad.wd.tolist()} ended at test accuracy "
                           f"{bad.test_acc.round(3).tolist()} < 0.99")

    def fourier(result):
        table = remeasured(result)
        q05 = model_ipr(result.model).double().quantile(0.05, dim=1).numpy()
        for r, wd, low, mean in zip(table.run, table.wd, q05, table.mean_ipr):
            print(f"fourier_without_weight_decay: run {r}, wd {wd:g}: 5th-percentile IPR {low:.3f}, "
                  f"mean {mean:.3f}")
        decayed = (table.wd > 0).to_numpy()
        assert (q05[decayed] > 0.9).all(), (
            f"with weight decay, 5th-percentile IPR {q05[decayed].round(3).tolist()}: not all > 0.9")
        assert (q05[~decayed] < 0.6).all(), (
            f"without weight decay, 5th-percentile IPR {q05[~decayed].round(3).tolist()}: not all < 0.6")
        gap = table.mean_ipr[decayed].min() - table.mean_ipr[~decayed].max()
        assert gap >= 0.1, f"mean IPR with weight decay exceeds the one without by only {gap:.3f}"

    return report_experiment("fourier_without_weight_decay", experiment, claim, [settings, fourier])
