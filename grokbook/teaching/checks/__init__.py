"""The book's exercise checks, one module per chapter (CHAPTERS); ``gb.checks`` holds them all.

``every_check()`` holds the public functions (``__all__``) of each module.
"""
from __future__ import annotations

from ..catalog import public_members

CHAPTERS = ("ch01_task", "ch02_grokking", "ch03_fourier", "ch04_coexistence", "ch05_pruning",
            "ch06_regularization", "ch07_two_stages", "ch08_memorization", "ch09_capacity",
            "ch10_transformers")


def every_check() -> dict:
    """{name: function} of every module in CHAPTERS (a name in two modules is an error)."""
    return public_members(__name__, CHAPTERS)
