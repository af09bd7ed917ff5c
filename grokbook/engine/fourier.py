"""Fourier analysis of neurons: the IPR, and the analytic generalizing solution.

IPR convention (the authors'): a neuron k has three weight vectors of length
p -- row k of U, row k of V and column k of W, each a function of a residue.
For each, take the magnitudes of its real DFT (``torch.fft.rfft``, p//2 + 1
coefficients, the constant term included), normalise them to unit 2-norm and
sum their 4th powers.  The neuron's IPR is the mean over the three vectors.

A pure cosine at a non-zero frequency has one coefficient: IPR 1.  A random
Gaussian vector spreads over all of them: IPR about 2 / (p//2 + 1) (0.04 at
p = 97).  A vector that is exactly zero (a neuron "forgotten" under weight
decay) has no spectrum to normalise; its IPR is defined as 0, never NaN.  A vector holding
NaN or infinity (a diverged run) gives NaN, so it cannot pass for a forgotten neuron.
"""
from __future__ import annotations

import math

import pandas as pd
import torch

from .data import task_table
from ..core.settings import check_seed
from .models import BatchedMLP


def ipr_of_vectors(x: torch.Tensor) -> torch.Tensor:
    """IPR of each vector along the last dim (length p): |rfft|, unit 2-norm, sum of 4th powers.

    Computed in float64 whatever the input (returned in the input's dtype). Zero vectors give 0;
    a vector holding NaN or infinity gives NaN (it has no spectrum, and is no forgotten neuron).
    """
    # In float64, and scaled by the largest magnitude first: weights decayed to 1e-40
    # (float32 denormals) or huge ones neither lose their bits nor under/overflow.
    mag = torch.fft.rfft(x.to(torch.float64), dim=-1).abs()
    top = mag.amax(dim=-1, keepdim=True)
    mag = mag / torch.where(top > 0, top, torch.ones_like(top))
    norm = torch.linalg.vector_norm(mag, dim=-1, keepdim=True)
    safe = torch.where(norm > 0, norm, torch.ones_like(norm))
    ipr = ((mag / safe) ** 4).sum(-1)
    ipr = torch.where(norm.squeeze(-1) > 0, ipr, torch.zeros_like(ipr))
    ipr = torch.where(torch.isfinite(x).all(-1), ipr, torch.full_like(ipr, float("nan")))
    return ipr.to(x.dtype) if x.is_floating_point() else ipr


def neuron_ipr(U: torch.Tensor, V: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """IPR per neuron: U, V (..., N, p) and W (..., p, N) give (..., N)."""
    return (ipr_of_vectors(U) + ipr_of_vectors(V) + ipr_of_vectors(W.transpose(-1, -2))) / 3


def model_ipr(model: BatchedMLP) -> torch.Tensor:
    """(K, N) IPR of every neuron of every run."""
    with torch.no_grad():
        return neuron_ipr(model.U, model.V, model.W)


def analytic_solution(p: int, width: int, *, seed: int = 0, op: str = "add",
                      dtype=torch.float32) -> BatchedMLP:
    """The generalizing network of the paper's Eq. (2) (Gromov 2023), as a K = 1 model.

        U_ki = A cos(2 pi s_k i / p + phi_k),   V_kj = A cos(2 pi s'_k j / p + psi_k),
        W_qk = A cos(2 pi s_k q / p + phi_k + psi_k)      (cos is even: the paper's -(...))

    with s'_k = s_k for addition and -s_k for subtraction, a frequency s_k drawn
    uniformly from 1 .. (p-1)/2 for each neuron and uniform random phases.  The
    cross term 2 U_km V_kn of (U_km + V_kn)^2 holds cos(2 pi s_k (m + n)/p + phi + psi);
    W projects it onto q = m + n, and the random phases average the other terms
    away, so the network is exact once the width is large enough (N >~ 200 at
    p = 97).  The correct output is A^3 N / 2 on average; A = (4 / N)^(1/3) makes
    it 2.  A must be positive (the paper's sign of A is a typo: with -A every
    output flips sign and the answer becomes the smallest output).
    """
    if op not in ("add", "subtract"):
        raise ValueError(f"op must be 'add' or 'subtract' for the analytic solution, got {op!r}")
    task_table(p, op)
    if p < 3:
        raise ValueError(f"p must be >= 3 for the analytic solution, got {p}")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be an integer >= 1, got {width!r}")
    check_seed("seed", seed)
    g = torch.Generator().manual_seed(seed)
    s = torch.randint(1, (p - 1) // 2 + 1, (width,), generator=g).double()
    phi = 2 * math.pi * torch.rand(width, generator=g, dtype=torch.float64)
    psi = 2 * math.pi * torch.rand(width, generator=g, dtype=torch.float64)
    sign = 1.0 if op == "add" else -1.0
    i = torch.arange(p, dtype=torch.float64)
    U = torch.cos(2 * math.pi * s[:, None] * i / p + phi[:, None])
    V = torch.cos(2 * math.pi * sign * s[:, None] * i / p + psi[:, None])
    W = torch.cos(2 * math.pi * s[None, :] * i[:, None] / p + (phi + psi)[None, :])
    # Correct-label output: each neuron adds A^3 cos^2(...) = A^3 / 2 on average, so N A^3 / 2 = 2.
    A = (4.0 / width) ** (1 / 3)
    model = BatchedMLP((A * U)[None].to(dtype), (A * V)[None].to(dtype), (A * W)[None].to(dtype))
    return model.eval()


def analytic_accuracy(p: int, width: int, *, seed: int = 0, op: str = "add") -> float:
    """Fraction of all p^2 pairs the analytic solution classifies correctly."""
    model = analytic_solution(p, width, seed=seed, op=op, dtype=torch.float64)
    truth, _ = task_table(p, op)
    with torch.no_grad():
        pred = model()[0].argmax(-1)
    return (pred == truth).double().mean().item()


def neuron_fourier(model, run: int = 0):
    """Per neuron of one run: IPR, the dominant non-zero frequency of U row, V row, W column,
    and the phase mismatch phi_W - phi_U - phi_V (wrapped into (-pi, pi]) at U's frequency.

    A neuron of the analytic solution has one frequency s in all three vectors and a
    mismatch of exactly 0: W's phase is the sum of the input phases (paper Eq. 2).

    A vector with no non-zero frequency (all zero or constant, e.g. a neuron forgotten under
    weight decay) or with non-finite entries has no dominant frequency: its ``freq_*`` is NaN,
    and so is the neuron's mismatch (so it never passes for an analytic neuron; the frequency
    columns are floats for that reason).
    """
    with torch.no_grad():
        U, V, W = (t[run].detach().double().cpu() for t in (model.U, model.V, model.W))
        coef = [torch.fft.rfft(x, dim=-1) for x in (U, V, W.T)]  # each (N, p//2 + 1)
        freq = [c.abs()[:, 1:].argmax(-1) + 1 for c in coef]
        defined = [(c.abs()[:, 1:].amax(-1) > 0) & torch.isfinite(x).all(-1)
                   for c, x in zip(coef, (U, V, W.T))]
        phase = [c.gather(1, freq[0][:, None]).squeeze(1).angle() for c in coef]
        mismatch = torch.remainder(phase[2] - phase[0] - phase[1] + math.pi, 2 * math.pi) - math.pi
        nan = torch.tensor(float("nan"), dtype=torch.float64)
        mismatch = torch.where(defined[0] & defined[1] & defined[2], mismatch, nan)
        freq = [torch.where(d, f.double(), nan) for f, d in zip(freq, defined)]
        ipr = neuron_ipr(U, V, W)
    return pd.DataFrame({"ipr": ipr.numpy(), "freq_u": freq[0].numpy(), "freq_v": freq[1].numpy(),
                         "freq_w": freq[2].numpy(), "phase_mismatch": mismatch.numpy()})


def neuron_weights_as_functions(model: BatchedMLP, run: int, neuron: int):
    """The three length-p vectors of one neuron, as functions of a residue (for plots)."""
    with torch.no_grad():
        return (model.U[run, neuron].cpu(), model.V[run, neuron].cpu(), model.W[run, :, neuron].cpu())


__all__ = ["ipr_of_vectors", "neuron_ipr", "model_ipr", "analytic_solution", "analytic_accuracy",
           "neuron_weights_as_functions", "neuron_fourier"]
