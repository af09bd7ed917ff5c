"""The book's exercise checks, one module per chapter (CHAPTERS); ``gb.checks`` holds them all.

Nothing is imported here: ``every_check()`` reads the public functions (``__all__``) of each module.
"""
from __future__ import annotations

import importlib

CHAPTERS = ("ch01_task", "ch02_grokking", "ch03_fourier", "ch04_coexistence", "ch05_pruning",
            "ch06_regularization", "ch07_two_stages", "ch08_memorization", "ch09_capacity",
            "ch10_transformers")


def every_check() -> dict:
    """{name: function} of every module in CHAPTERS (a name in two modules is an error)."""
    found = {}
    for chapter in CHAPTERS:
        module = importlib.import_module(f"{__name__}.{chapter}")
        names = getattr(module, "__all__", None) or [
            n for n, v in vars(module).items()
            if callable(v) and not n.startswith("_") and getattr(v, "__module__", None) == module.__name__]
        for name in names:
            if name in found:
                raise ValueError(f"{name} is defined in two modules of {__name__}")
            found[name] = getattr(module, name)
    return found
