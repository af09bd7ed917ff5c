"""A stored sweep as chapters read it (``StoredSweep``): its runs, thinned histories, IPRs and
provenance, and views of the runs by panel (one phase diagram each), by setting and by grid cell."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..core.settings import RUN_FIELDS, Config


@dataclass(frozen=True)
class Panel:
    """One phase diagram of a stored sweep: its part, the setting it fixes (``knob``: wd,
    dropout or lr; None if the part varies none) at ``value``, and a label for titles."""

    part: int
    knob: str | None
    value: float | None
    label: str


def _find_panel(table: dict, label: str) -> Panel:
    """The key of ``table`` (from ``StoredSweep.panels``) whose label is ``label``."""
    for key in table:
        if key.label == label:
            return key
    raise ValueError(f"panel must be one of {[k.label for k in table]}, got {label!r}")


@dataclass
class StoredSweep:
    """A stored sweep read back from results/: ``runs`` (one row per run, with its part),
    ``history`` (thinned), ``ipr`` (K, N) and, with BatchNorm, ``gamma`` (K, N) |gamma|;
    ``provenance``.  Arrays and tables only, no networks: ``gb.train`` returns a ``SweepResult``,
    the live networks of a sweep trained here and their tables."""

    runs: pd.DataFrame
    history: pd.DataFrame
    ipr: np.ndarray
    gamma: np.ndarray | None
    provenance: dict
    per_example: dict | None = None  # Sweep.per_example: "pred", "member" (K, P), "logp" (K, P, temperatures)

    # ------------------------------------------------------------------ views of the runs
    KNOBS = ("wd", "dropout", "lr")  # per-run settings a sweep's panels may vary

    @property
    def profile(self) -> str:
        """The profile it was made for (in the full profile, possibly the book's: see get_sweep)."""
        return self.provenance["definition"]["profile"]

    def config(self, part: int = 0):
        """The ``Config`` the runs of part ``part`` were trained with (p, width, steps, ...)."""
        return Config(**self.parts[part]["config"])

    @property
    def parts(self) -> list:
        """The sweep's parts as stored: [{"label": ..., "config": {...}, "runs": [...]}, ...]."""
        return self.provenance["definition"]["parts"]

    def panels(self) -> dict:
        """``{Panel: runs}``: one panel per part and value of the setting the sweep varies (wd,
        dropout or lr), in the order the sweep defines them; each a phase diagram's runs."""
        runs = self.runs
        knobs = [k for k in self.KNOBS if runs[k].nunique() > 1]
        if len(knobs) > 1:
            raise ValueError(f"a panel varies one setting, this sweep varies {knobs}")
        out = {}
        for key, group in runs.groupby(["part", *knobs], sort=True):
            part, *value = key if isinstance(key, tuple) else (key,)
            knob = knobs[0] if knobs else None
            value = float(value[0]) if value else None
            names = (([self.parts[part]["label"]] if len(self.parts) > 1 or not knobs else [])
                     + ([f"{knob} = {value:g}"] if knobs else []))
            out[Panel(int(part), knob, value, ", ".join(names))] = group
        return out

    def panel(self, label: str) -> "Panel":
        """The panel whose label (e.g. 'wd = 15', 'batch 64, BatchNorm') is ``label``."""
        return _find_panel(self.panels(), label)

    def panel_runs(self) -> pd.DataFrame:
        """``runs`` with a ``panel`` column (each run's panel label), for faceted figures."""
        labels = pd.Series(index=self.runs.index, dtype=object)
        for k, group in self.panels().items():
            labels[group.index] = k.label
        return self.runs.assign(panel=labels)

    def select(self, **settings) -> pd.DataFrame:
        """The runs with the given settings, in grid order (alpha, then xi), renumbered from 0.

        Per-run settings (``wd=15``, ``dropout=0.3``, ``alpha=0.65``) select runs; the parts'
        Config fields (``batch_size=64``, ``batchnorm=True``) select parts."""
        runs = self.runs
        for name, value in settings.items():
            if name in RUN_FIELDS:
                runs = runs[np.isclose(runs[name].astype(float), float(value))]
            elif all(name in part["config"] for part in self.parts):
                keep = [i for i, part in enumerate(self.parts) if part["config"][name] == value]
                runs = runs[runs.part.isin(keep)]
            else:
                raise ValueError(f"{name} is neither a run setting {RUN_FIELDS} nor a field of "
                                 "this sweep's Config")
        if runs.empty:
            raise ValueError(f"no run of sweep {self.provenance['definition']['name']!r} has "
                             f"{settings}")
        return runs.sort_values(["part", "alpha", "xi"], kind="stable").reset_index(drop=True)

    def cell(self, alpha: float, xi: float, panel: "Panel | str | None" = None, *,
             seed: int = 0, **settings) -> pd.Series:
        """The run at (alpha, xi) of one panel (a ``Panel``, its label, or ``settings`` as in
        ``select``: ``cell(0.65, 0.3, wd=15)``, ``cell(0.65, 0.3, batch_size=64, batchnorm=True)``).
        Where a cell holds several seeds, the run of ``seed`` (its data and model seed)."""
        if panel is not None:
            table = self.panels()
            runs = table[_find_panel(table, panel) if isinstance(panel, str) else panel]
        else:
            runs = self.select(**settings)
        hit = runs[np.isclose(runs.alpha, alpha) & np.isclose(runs.xi, xi)]
        if len(hit) > 1 and hit.data_seed.nunique() == len(hit):
            if seed not in set(hit.data_seed):
                raise ValueError(f"seed must be one of {sorted(hit.data_seed)} at this cell, "
                                 f"got {seed!r}")
            hit = hit[hit.data_seed == seed]
        if len(hit) != 1:
            what = "is not a cell of the grid" if hit.empty else "is not one cell: name the panel"
            raise ValueError(f"(alpha, xi) = ({alpha}, {xi}) {what}: alpha in "
                             f"{sorted(runs.alpha.unique())}, xi in {sorted(runs.xi.unique())}")
        return hit.iloc[0]

    def cell_ipr(self, alpha: float, xi: float, panel=None, *, seed: int = 0,
                 **settings) -> np.ndarray:
        """The IPR of every neuron (float) of the run ``cell(alpha, xi, panel, seed=seed, ...)``."""
        return self.ipr[int(self.cell(alpha, xi, panel, seed=seed, **settings).run)].astype(float)

    @staticmethod
    def summary(row: pd.Series) -> str:
        """One line on a run (a row of ``runs``): its settings, accuracies and phase."""
        return (f"α = {row.alpha:g}, ξ = {row.xi:g}, wd = {row.wd:g}, dropout = {row.dropout:g}: "
                f"train {row.train_acc:.1%}, test {row.test_acc:.1%}, changed labels fitted "
                f"{row.corrupt_acc:.1%}, inverted {row.corrupt_true_acc:.1%} "
                f"→ {row.phase}")

    def describe(self) -> str:
        """Where this result came from, in one line (name, profile, runs, device, time)."""
        p = self.provenance
        d = p["definition"]
        return (f"{d['name']} ({d['profile']} profile): {len(self.runs)} runs in "
                f"{len(d['parts'])} part(s), trained on {p['device']} in {p['seconds']:.0f} s "
                f"(grokbook {p['version']}, torch {p['torch']}, {p['created']})")
