"""The book's figures, grouped by what they show (CHAPTERS); ``gb.plots`` holds them all.

- style: the theme, the colours of metrics and phases, the axes helpers every module shares.
- task: chapter 1's tables and corruption.
- training: accuracies over training (chapters 2, 3, 4, 7, 10).
- neurons: Fourier features and IPR (chapters 3 to 7, 10).
- pruning: chapter 5 (and 10).
- phases: phase diagrams (chapters 6, 10) and the introduction's figure.
- memorization: chapters 8 and 9.

``every_plot()`` holds the public functions (``__all__``) of each module.
"""
from __future__ import annotations

from ..catalog import public_members

CHAPTERS = ("style", "task", "training", "neurons", "pruning", "phases", "memorization")


def every_plot() -> dict:
    """{name: function} of every module in CHAPTERS (a name in two modules is an error)."""
    return public_members(__name__, CHAPTERS)
