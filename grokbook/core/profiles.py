"""Every size of every profile, in one place: ``quick`` for tests and CI on a 2-core CPU,
``book`` for the rendered book (its sweeps made on a 2-core CPU and committed), ``full`` for the
paper's sizes.  Every ``Config`` of the package is built by ``Profile.config`` here.

How each size was chosen, with its measurements: docs/profiles.md.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np


def axis(lo: float, hi: float, n: int) -> tuple:
    """n evenly spaced values from lo to hi, rounded to 4 decimals (a phase diagram's axis)."""
    return tuple(round(float(v), 4) for v in np.linspace(lo, hi, n))


@dataclass(frozen=True)
class Profile:
    """A profile: its name, its sizes and the device a chapter trains on (``setup`` picks it).
    The sizes from ``p`` to ``weight_decays`` are the default experiment's (a chapter's ``P``);
    ``config()`` makes a training Config of them."""

    name: str
    p: int
    width: int
    steps: int
    alpha: float
    xi: float
    weight_decays: tuple  # the four outcomes: Coexistence, Partial, Full Inversion, Forgetting
    # phase diagrams
    alphas: tuple
    xis: tuple
    dropouts: tuple
    batch_sizes: tuple
    seeds: tuple  # of every cell of the weight-decay phase diagram (the others: seed 0)
    # the memorization ensemble
    ensemble_t: int
    ensemble_alpha: float
    ensemble_xi: float
    ensemble_subset: float
    ensemble_steps: int
    ensemble_weight_decays: tuple  # Coexistence, Partial and Full Inversion of the full-data network
    ensemble_seeds: tuple  # one corrupted training set (and initialisation) per seed, t models each
    device: str = "cpu"
    # The weight-decay diagram's own grid, where it is not (alphas, xis): the paper's Figure 3 is
    # 9 x 9 at p = 97, a three-hour sweep on a 2-core CPU beside the 17 x 17 of the other diagrams.
    weight_decay_axes: tuple | None = None
    # The order its panels train in, panel after panel, where it matters (a sweep that outlasts
    # a session finishes the paper's Figure 3, wd 0 and 15, first); None: the grid's order.
    weight_decay_order: tuple | None = None

    def config(self, *, steps: int | None = None, **overrides):
        """The ``grokbook.Config`` of this profile: its p, width and ``steps`` (default: the
        profile's), logged every ``log_interval(steps)`` steps; ``overrides`` (batch_size,
        batchnorm, log_every, ...) win.  The one place a Config is made from a profile."""
        from .settings import Config
        steps = self.steps if steps is None else steps
        kw = dict(p=self.p, width=self.width, steps=steps, log_every=log_interval(steps))
        kw.update(overrides)
        return Config(**kw)


PROFILES = {prof.name: prof for prof in (
    Profile("full", p=97, width=500, steps=2000, alpha=0.5, xi=0.35, weight_decays=(0, 5, 15, 20),
            alphas=axis(0.1, 0.9, 17), xis=axis(0.0, 0.8, 17),
            dropouts=(0.0, 0.3, 0.6, 0.9), batch_sizes=(8, 32, 64, 256), seeds=(0,),
            ensemble_t=64, ensemble_alpha=0.5, ensemble_xi=0.35, ensemble_subset=0.7, ensemble_steps=2000,
            ensemble_weight_decays=(0.0, 5.0, 15.0), ensemble_seeds=(0, 1, 2),
            weight_decay_axes=(axis(0.1, 0.9, 9), axis(0.0, 0.8, 9)), weight_decay_order=(0, 15, 5, 20)),
    Profile("quick", p=53, width=300, steps=1500, alpha=0.7, xi=0.25, weight_decays=(0, 5.5, 15, 20),
            alphas=(0.4, 0.65, 0.9), xis=(0.1, 0.3, 0.5),
            dropouts=(0.0, 0.3, 0.6), batch_sizes=(32, 128), seeds=(0, 1, 2),
            ensemble_t=12, ensemble_alpha=0.7, ensemble_xi=0.25, ensemble_subset=0.7, ensemble_steps=400,
            ensemble_weight_decays=(0.0, 6.0, 15.0), ensemble_seeds=(0, 1, 2)),
    # The reader's scale: the quick network, the sweeps a 2-core CPU makes in about an hour and
    # a quarter (results/README.md has the measured times).
    Profile("book", p=53, width=300, steps=1500, alpha=0.7, xi=0.25, weight_decays=(0, 5.5, 15, 20),
            alphas=axis(0.1, 0.9, 9), xis=axis(0.0, 0.8, 9),
            dropouts=(0.0, 0.3, 0.6, 0.9), batch_sizes=(8, 32, 64, 256), seeds=(0, 1, 2),
            ensemble_t=48, ensemble_alpha=0.9, ensemble_xi=0.35, ensemble_subset=0.9,
            ensemble_steps=1500, ensemble_weight_decays=(2.0, 6.5, 15.0), ensemble_seeds=(0, 1, 2)),
)}
# Chapter 9's capacity sections (grokbook.capacity): the widths of the width sweep, from well below
# to well above the width the analytic solution needs (about 200 at p = 97, chapter 3), each
# width one stored sweep at the profile's alpha and xi, without weight decay and at the profile's
# Partial Inversion weight decay, three seeds; logged at every step (wide networks fit the changed
# labels within ten or twenty steps: the speed of memorization needs every step).
CAPACITY_WIDTHS = (25, 50, 100, 150, 200, 300, 400, 800)
CAPACITY_SEEDS = (0, 1, 2)
CAPACITY_LOG_EVERY = 1
# The paper's BatchNorm |gamma|-IPR setting (its Fig. 5): chapter 6 trains it live at each profile's
# network, three seeds (a 2-core CPU: a few seconds at p = 53).
BATCHNORM_GAMMA = dict(batch_size=64, alpha=0.65, xi=0.2, seeds=(0, 1, 2))
LOGS_PER_RUN = 40  # a history of about 40 points per run, whatever its length


def log_interval(steps: int) -> int:
    """Steps between two logged points of a run of ``steps`` steps (about LOGS_PER_RUN points)."""
    return max(1, steps // LOGS_PER_RUN)


def profile(name: str | None = None) -> Profile:
    """The profile asked for: ``name``, else $GROKBOOK_PROFILE, else 'full'."""
    name = name or os.environ.get("GROKBOOK_PROFILE", "full")
    if name not in PROFILES:
        raise ValueError(f"profile must be one of {tuple(PROFILES)}, got {name!r}")
    return PROFILES[name]


CHAPTER_PROFILES = ("book", "full")  # the profiles a chapter runs in (and CI executes)


def setup(name: str | None = None, device: str = "auto", quiet: bool = False) -> Profile:
    """The profile cell of every chapter: pick the sizes and the device, say which.

    A chapter runs in the book profile (the rendered book: the 2-core CPU's sizes) or the full one
    (the paper's).  The quick profile sizes the unit tests and the command line's demo; a chapter
    asked for it runs in the book profile, which trains the same network, and says so.
    """
    import torch

    from .settings import resolve_device
    from ..version import __version__

    prof = profile(name)
    if prof.name not in CHAPTER_PROFILES:
        print(f"The {prof.name} profile sizes the unit tests only; this chapter runs in the book profile "
              "(the same network, the sweeps from results/).")
        prof = profile("book")
    dev = str(resolve_device(device))
    prof = replace(prof, device=dev)
    if not quiet:
        gpu = f" ({torch.cuda.get_device_name()})" if dev.startswith("cuda") else ""
        paper = PROFILES["full"]
        scale = ("the paper's network" if (prof.p, prof.width) == (paper.p, paper.width)
                 else f"the paper's: p = {paper.p}, N = {paper.width}")
        print(f"The network: p = {prof.p}, N = {prof.width} neurons, {prof.steps} steps, "
              f"α = {prof.alpha}, ξ = {prof.xi}\n({scale}); on {dev}{gpu}, grokbook {__version__}")
    return prof


# ----------------------------------------------------------------------------- the transformer
@dataclass(frozen=True)
class TransformerSizes:
    """The transformer chapter's sizes (the paper's Fig. 7 setting: alpha 0.8, xi 0.2, MSE,
    full-batch AdamW).  ``weight_decays``: none, one that inverts part of the corrupted labels,
    one that inverts them all; ``seeds``: the runs of each (split, corruption, initialisation).
    The measurements behind them: docs/profiles.md.
    """

    p: int
    d: int
    heads: int
    wide: int
    steps: int
    lr: float
    alpha: float
    xi: float
    weight_decays: tuple
    seeds: tuple
    logs: int = 60  # logged points per run
    measured: bool = True  # False: never run, its weight decays a guess (the chapter's claims unchecked)

    def config(self, **overrides):
        """The ``TransformerConfig`` of these sizes (overrides win)."""
        from .settings import TransformerConfig
        kw = dict(p=self.p, d=self.d, heads=self.heads, wide=self.wide, steps=self.steps,
                  log_every=max(1, self.steps // self.logs))
        kw.update(overrides)
        return TransformerConfig(**kw)


TRANSFORMERS = {
    # The paper's sizes and lr, a GPU's: never run here (no GPU was lent), so its weight decays
    # are a guess, the quick ones' lr x wd (the decay rate per step) at the paper's lr 1e-3.
    # Chapter 10 on a CPU trains the book's sizes instead, with a note.
    "full": TransformerSizes(p=97, d=128, heads=4, wide=4, steps=3000, lr=1e-3, alpha=0.8, xi=0.2,
                             weight_decays=(0.0, 10.0, 15.0), seeds=(0, 1, 2), measured=False),
    "quick": TransformerSizes(p=53, d=64, heads=4, wide=4, steps=3000, lr=5e-3, alpha=0.8, xi=0.2,
                              weight_decays=(0.0, 2.0, 3.0), seeds=(0, 1, 2)),
}
TRANSFORMERS["book"] = TRANSFORMERS["quick"]  # the chapter trains live: the reader's scale is CI's


def transformer_sizes(name: str | None = None, device: str = "cpu", quiet: bool = True,
                      measured_only: bool = True) -> TransformerSizes:
    """A profile's transformer sizes.  The full profile's are the paper's, sized for a GPU and
    never run (no GPU was lent): chapter 10 asserts its claims only at sizes whose phases were
    measured, so unless ``measured_only=False`` (exercise 5) the book's are used instead, and
    unless ``quiet`` a note says so; on a CPU the book's always are."""
    name = profile(name).name
    sizes = TRANSFORMERS[name]
    on_gpu = str(device).startswith("cuda")
    if name != "book" and (not on_gpu and name == "full" or measured_only and not sizes.measured):
        if not quiet:
            why = ("are a GPU's" if not on_gpu else
                   "have never been run, so their weight decays are a guess")
            print(f"note: the paper's transformer sizes (p {sizes.p}, d {sizes.d}, {sizes.steps} "
                  f"steps) {why}; this page trains the book profile's transformer instead")
        return TRANSFORMERS["book"]
    return sizes
