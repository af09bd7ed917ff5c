"""Two budgets, one code path: ``quick`` for tests and CI on a 2-core CPU,
``full`` for readers (the paper's sizes).

The quick sizes were chosen by measurement, not by shrinking everything:
p = 53, N = 300, alpha = 0.7, xi = 0.25, 1500 full-batch steps still shows all
four outcomes of the paper's default experiment (Coexistence at wd 0, Partial
Inversion at wd 5.5, Full Inversion at wd 15, Forgetting at wd 20).  Partial
Inversion is a narrow band there (train accuracy in [0.80, 0.90)): wd 5 ends at
0.896, wd 5.5 at 0.873, wd 6 at 0.829, wd 6.5 at 0.795, so the quick profile
uses 5.5, the middle of the band.  Smaller p (31, 41) at these alpha, xi mostly
memorizes without generalizing.

A chapter picks its profile from the environment variable GROKBOOK_PROFILE
(``quick`` or ``full``; default ``full``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

PROFILES = {
    # weight_decays: the four outcomes (Coexistence, Partial, Full Inversion, Forgetting)
    "full": dict(p=97, width=500, steps=2000, alpha=0.5, xi=0.35, weight_decays=(0, 5, 15, 20)),
    "quick": dict(p=53, width=300, steps=1500, alpha=0.7, xi=0.25, weight_decays=(0, 5.5, 15, 20)),
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


@dataclass(frozen=True)
class Profile:
    """A chapter's sizes and device; ``config()`` turns them into a training Config."""

    name: str
    p: int
    width: int
    steps: int
    alpha: float
    xi: float
    weight_decays: tuple
    device: str

    def config(self, **overrides):
        """A ``grokbook.Config`` with this profile's p, width and steps (overrides win)."""
        from .train import Config
        kw = dict(p=self.p, width=self.width, steps=self.steps)
        kw.update(overrides)
        return Config(**kw)


def setup(name: str | None = None, device: str = "auto", quiet: bool = False) -> Profile:
    """The profile cell of every chapter: pick the sizes and the device, say which."""
    import torch

    from . import __version__
    from .train import resolve_device

    name = profile_name(name)
    dev = str(resolve_device(device))
    prof = Profile(name=name, device=dev, **PROFILES[name])
    if not quiet:
        gpu = f" ({torch.cuda.get_device_name()})" if dev.startswith("cuda") else ""
        print(f"grokbook {__version__} | profile {name}: p={prof.p}, N={prof.width}, "
              f"{prof.steps} steps, alpha={prof.alpha}, xi={prof.xi} | device {dev}{gpu}")
    return prof
