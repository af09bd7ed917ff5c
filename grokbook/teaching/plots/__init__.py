"""The book's figures, one module per chapter (CHAPTERS); ``gb.plots`` holds them all.

Nothing is imported here: ``every_plot()`` reads the public functions (``__all__``) of each module.
"""
from __future__ import annotations

import importlib

CHAPTERS = ("unsplit",)


def every_plot() -> dict:
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
