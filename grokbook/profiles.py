"""Two budgets, one code path: ``quick`` for tests and CI on a 2-core CPU,
``full`` for readers (the paper's sizes).

The quick sizes were chosen by measurement, not by shrinking everything:
p = 53, N = 300, alpha = 0.7, xi = 0.25, 1500 full-batch steps still shows all
four outcomes of the paper's default experiment (Coexistence at wd 0, Partial
Inversion at wd 5, Full Inversion at wd 15, Forgetting at wd 20).  Smaller p
(31, 41) at these alpha, xi mostly memorizes without generalizing.

A chapter picks its profile from the environment variable GROKBOOK_PROFILE
(``quick`` or ``full``; default ``full``).
"""
from __future__ import annotations

import os

PROFILES = {
    "full": dict(p=97, width=500, steps=2000, alpha=0.5, xi=0.35),
    "quick": dict(p=53, width=300, steps=1500, alpha=0.7, xi=0.25),
}


def profile_name(name: str | None = None) -> str:
    """The profile asked for: ``name``, else $GROKBOOK_PROFILE, else 'full'."""
    name = name or os.environ.get("GROKBOOK_PROFILE", "full")
    if name not in PROFILES:
        raise ValueError(f"profile must be one of {tuple(PROFILES)}, got {name!r}")
    return name


def profile(name: str | None = None) -> dict:
    """The sizes of a profile, as a dict (a copy: change it freely)."""
    return dict(PROFILES[profile_name(name)])
