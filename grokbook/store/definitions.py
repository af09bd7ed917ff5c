"""What a sweep is: one or more *parts*, each a ``Config`` shared by its runs (the architecture,
the batch size, BatchNorm on or off) and a tuple of ``Run``; its full definition as plain JSON
data, and the key (a hash of that definition) that names its stored file."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from ..core.settings import Config

FORMAT = 2  # bump when the stored layout changes (2: the digest covers the provenance too)


@dataclass(frozen=True)
class Part:
    """Runs that share one Config."""

    label: str
    config: Config
    runs: tuple


@dataclass(frozen=True)
class Sweep:
    """A named sweep at one profile's sizes: its parts, and every how many steps its stored
    history keeps a point."""

    name: str
    profile: str
    parts: tuple
    history_every: int
    description: str = ""
    per_example: bool = False  # also store every run's prediction of every pair (files.py)

    @property
    def n_runs(self) -> int:
        return sum(len(p.runs) for p in self.parts)

    def definition(self) -> dict:
        """Everything that determines the results, as plain JSON data."""
        out = {"name": self.name, "profile": self.profile, "format": FORMAT,
               "history_every": self.history_every,
               "parts": [{"label": p.label, "config": asdict(p.config),
                          "runs": [asdict(r) for r in p.runs]} for p in self.parts]}
        if self.per_example:
            from ..analysis.memorization import TEMPERATURES
            out["per_example"] = {"temperatures": list(TEMPERATURES)}
        return out

    def key(self) -> str:
        """16 hex digits over the definition: the name of the sweep's stored file."""
        text = json.dumps(self.definition(), sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

