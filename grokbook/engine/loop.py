"""The package's one training loop: log, step, repeat.

Every trainer (``train``'s chunks of MLP runs, ``train_transformers``, second-split forgetting)
builds its networks, its optimizer and a ``step(s)`` function for its device path, then hands
them to ``run_steps``; the loop itself knows nothing of models, devices or losses.
"""
from __future__ import annotations


def run_steps(steps: int, log_every: int, step, log, bar=None, runs: int = 1) -> list:
    """Call ``log(s)`` at s = 0, every ``log_every`` steps and at ``steps``, and ``step(s)`` (one
    optimizer step of every run) for s = 0 ... steps - 1, logging before stepping; return the
    logged ``[(s, log(s)), ...]``.  ``bar`` (a progress bar over run-steps) moves every 10 steps
    by 10 x ``runs``."""
    logs = []
    for s in range(steps + 1):
        if s % log_every == 0 or s == steps:
            logs.append((s, log(s)))
        if s == steps:
            break
        step(s)
        if bar is not None and (s + 1) % 10 == 0:
            bar.update(10 * runs)
    if bar is not None:
        bar.update((steps % 10) * runs)
    return logs
