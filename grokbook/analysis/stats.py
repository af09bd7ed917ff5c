"""Small statistics the chapters need, in numpy (no scipy dependency)."""
from __future__ import annotations

import numpy as np


def ranks(x) -> np.ndarray:
    """Ranks 1..n of the values of ``x``, ties given their average rank."""
    x = np.asarray(x, dtype=float).ravel()
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    r = np.empty(len(x))
    r[order] = np.arange(1, len(x) + 1)
    # average the ranks within each run of equal values
    _, start, counts = np.unique(sorted_x, return_index=True, return_counts=True)
    for s, c in zip(start, counts):
        if c > 1:
            r[order[s:s + c]] = s + (c + 1) / 2
    return r


def spearman(x, y) -> float:
    """Spearman's rank correlation of ``x`` and ``y`` (Pearson's r of their ranks)."""
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape or len(x) < 2:
        raise ValueError(f"x and y must have the same length >= 2, got {len(x)} and {len(y)}")
    if np.isnan(x).any() or np.isnan(y).any():
        raise ValueError("x and y must not contain NaN")
    rx, ry = ranks(x), ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    den = np.sqrt((rx ** 2).sum() * (ry ** 2).sum())
    if den == 0:
        raise ValueError("spearman is undefined when x or y is constant")
    return float((rx * ry).sum() / den)


def binomial_pmf(n: int, q: float, k) -> np.ndarray:
    """P(Binomial(n, q) = k) for an array of k (log-space, safe for large n)."""
    from math import lgamma, log

    k = np.asarray(k)
    logc = np.array([lgamma(n + 1) - lgamma(j + 1) - lgamma(n - j + 1) for j in k.ravel()])
    return np.exp(logc + k.ravel() * log(q) + (n - k.ravel()) * log(1 - q)).reshape(k.shape)
