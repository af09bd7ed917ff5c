"""The IPR by its definition, for the tests: float64 NumPy, the DFT written out as a matrix product.

``ipr(u)``: the IPR of each vector along the last axis of ``u`` — the magnitudes of its discrete
Fourier coefficients at frequencies 0 .. p//2, scaled to unit 2-norm, their fourth powers summed;
a zero vector gives 0 (grokbook.engine.fourier's convention). No FFT and no grokbook code, so it is an
independent reference for ``gb.ipr_of_vectors`` and ``gb.model_ipr``.
"""
from __future__ import annotations

import numpy as np


def ipr(u):
    u = np.asarray(u, dtype=np.float64)
    p = u.shape[-1]
    dft = np.exp(-2j * np.pi * np.outer(np.arange(p), np.arange(p // 2 + 1)) / p)
    mag = np.abs(u @ dft)
    norm = np.sqrt((mag ** 2).sum(-1, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = ((mag / norm) ** 4).sum(-1)
    out = np.where(norm[..., 0] > 0, out, 0.0)
    return float(out) if out.ndim == 0 else out
