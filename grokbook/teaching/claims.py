"""A chapter's claims: each one checked on the chapter's own numbers, with the margin it holds by.

    gb.claims.check("forget.inverted_fitted", inverted.changed_fitted_at_start, "<=", 0.3,
                    kind="changed fraction", what="Full Inversion: few changed labels to forget",
                    contrast={"Coexistence": coexisting.changed_fitted_at_start})

``phase(name, runs, "Full Inversion", what=...)`` asserts a phase for every run and records how
far each run's accuracies lie inside that phase's boundaries.

``check`` raises ``ClaimError`` (an ``AssertionError``) when a value is on the wrong side of the
threshold, with a message naming the claim, the worst value, the threshold and the shortfall, so a
failing build says which claim failed and by how much.  When it holds it returns the margin: how
far the worst value (over the seeds) is inside the threshold.  ``contrast`` gives the values of
the phase the claim sets itself against; their margin on the other side of the threshold says
that the threshold still separates the two.

Float sums change order between CPUs (and between a run alone and the same run in a batch): a
run's accuracies move by up to 0.03 and its fraction of changed labels fitted by up to 0.09
(``SPREAD``).  A claim that holds by less than its kind's spread may fail on the next machine.
For any other kind (an AUC, a correlation, a ratio, a step count) the spread is measured by
running the chapters twice, with one torch thread and with two (``scripts/claim_margins.py``).

On the page, a chapter checks a section's claims in one cell whose code the book hides
(``remove-input``) and whose last line, ``gb.claims.table()``, shows the reader what was checked:
one row per claim, its values over the seeds, what it needs, and the margin.

When the environment variable ``GROKBOOK_CLAIMS_LOG`` names a file (the chapter executor sets it),
every checked claim is appended to it as one JSON line; ``scripts/claim_margins.py`` turns those
lines into the table of margins in ``docs/claims.md``.
"""
from __future__ import annotations

import json
import math
import os
import platform

import numpy as np

from ..core.phases import (COEXISTENCE, FORGETTING, FULL_INVERSION, MEMORIZATION, PARTIAL_INVERSION, PHASES,
                     THRESHOLD)

SPREAD = {"accuracy": 0.03, "changed fraction": 0.09}  # measured between two CPUs (module docstring)
OPS = {">=": lambda v, t: v - t, ">": lambda v, t: v - t, "<=": lambda v, t: t - v, "<": lambda v, t: t - v}
LOG = "GROKBOOK_CLAIMS_LOG"


class ClaimError(AssertionError):
    """A chapter's claim that its own numbers do not bear out."""


def _values(values) -> list:
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError("values must hold at least one number (one per seed), got none")
    return [float(v) for v in arr]


def _margin(values: list, op: str, threshold: float) -> float:
    """The worst value's distance inside the threshold (negative: on the wrong side; NaN: a NaN value)."""
    if any(math.isnan(v) for v in values):
        return math.nan
    return min(OPS[op](v, threshold) for v in values)


def check(name: str, values, op: str, threshold: float, *, kind: str, what: str,
          contrast: dict | None = None, stored: bool = False) -> float:
    """Assert ``value op threshold`` for every value (one per seed, or one); return the margin.

    ``name``: the claim's identifier within its chapter; ``op``: one of ``>=``, ``>``, ``<=``,
    ``<``; ``kind``: what the values are ("accuracy", "changed fraction", "AUC", "ratio", ...);
    ``what``: the claim in words; ``contrast``: {label: values} of the phase the claim is set
    against (recorded with their margin on the other side, not asserted); ``stored``: the values
    come from a committed result in results/ (the same numbers on every machine, so no spread).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if op not in OPS:
        raise ValueError(f"op must be one of {', '.join(OPS)}, got {op!r}")
    if not isinstance(threshold, (int, float, np.number)) or not math.isfinite(float(threshold)):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"kind must be a non-empty string, got {kind!r}")
    threshold = float(threshold)
    vals = _values(values)
    margin = _margin(vals, op, threshold)
    other = {str(label): _values(v) for label, v in (contrast or {}).items()}
    # the contrast's margin: how far its *best* value lies on the other side of the threshold
    other_margin = {label: -max(OPS[op](v, threshold) for v in v_) for label, v_ in other.items()}
    strict = op in (">", "<")
    holds = not math.isnan(margin) and (margin > 0 if strict else margin >= 0)
    _record(dict(name=name, what=what, kind=kind, op=op, threshold=threshold, values=vals,
                 margin=margin, holds=holds, contrast=other, contrast_margin=other_margin, stored=bool(stored)))
    if not holds:
        worst = min(vals, key=lambda v: OPS[op](v, threshold)) if not math.isnan(margin) else math.nan
        raise ClaimError(f"claim {name!r} ({what}): {kind} {worst:.4g} {op} {threshold:g} does not hold "
                         f"(short by {-margin:.3g}); values {[round(v, 4) for v in vals]}")
    return margin


def phase_margins(runs, expected: str) -> list:
    """Per run (a table with ``train_acc``, ``test_acc`` and ``xi``): how far its accuracies lie
    inside the boundaries of phase ``expected`` (the paper's rules, ``grokbook.phases``); negative
    where the run is on the wrong side of one of them."""
    t = THRESHOLD
    out = []
    for train, test, xi in zip(_values(runs["train_acc"]), _values(runs["test_acc"]), _values(runs["xi"])):
        full = round(1.05 - xi, 12)
        sides = {COEXISTENCE: (test - t, train - t),
                 PARTIAL_INVERSION: (test - t, t - train, train - full),
                 FULL_INVERSION: (test - t, full - train),
                 MEMORIZATION: (t - test, train - t),
                 FORGETTING: (t - test, t - train)}
        if expected not in sides:
            raise ValueError(f"expected must be one of the phases {PHASES}, got {expected!r}")
        out.append(min(sides[expected]))
    return out


def phase(name: str, runs, expected: str, *, what: str, contrast: dict | None = None,
          stored: bool = False) -> float:
    """Assert that every run of ``runs`` (one per seed) is in phase ``expected``; return the margin:
    the smallest distance of a run's train or test accuracy from a boundary of that phase (an
    accuracy, so its spread between machines is 0.03).  ``contrast``: {label: runs} of another phase,
    recorded with their distance from ``expected``'s boundaries (negative: outside, as they should be);
    ``stored``: as for ``check``."""
    margins = phase_margins(runs, expected)
    got = list(runs["phase"])
    holds = all(g == expected for g in got)
    other = {str(k): phase_margins(v, expected) for k, v in (contrast or {}).items()}
    margin = min(margins)
    _record(dict(name=name, what=what, kind="accuracy", op="phase", threshold=expected, values=margins,
                 margin=margin, holds=holds, contrast=other,
                 contrast_margin={k: -max(v) for k, v in other.items()}, stored=bool(stored)))
    if not holds:
        raise ClaimError(f"claim {name!r} ({what}): phases {got}, expected {expected} in every run "
                         f"(accuracy margins to its boundaries {[round(m, 4) for m in margins]})")
    return margin


_pending: list = []  # the claims checked since the last table()


def _record(row: dict) -> None:
    _pending.append(dict(row))
    path = os.environ.get(LOG)
    if not path:
        return
    import torch

    from ..store.provenance import cpu_model
    row.update(chapter=os.environ.get("GROKBOOK_CHAPTER", ""), profile=os.environ.get("GROKBOOK_PROFILE", ""),
               threads=torch.get_num_threads(), cpu=cpu_model(), machine=platform.machine())
    with open(path, "a") as f:
        f.write(json.dumps(row, allow_nan=True) + "\n")


def read_log(path) -> list:
    """The claims recorded in one log file, one dict per checked claim (the latest check of a name wins)."""
    rows = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                rows[row["name"]] = row
    return list(rows.values())


def _number(v: float) -> str:
    if math.isnan(v):
        return "nan"
    if v != 0 and (abs(v) >= 1e4 or abs(v) < 1e-3):
        return f"{v:.2g}"
    if float(v).is_integer() and abs(v) >= 10:
        return f"{v:.0f}"
    return f"{v:.3g}" if abs(v) < 1 else f"{v:.4g}"


def _measured(row: dict) -> str:
    vals = row["values"]
    if row["op"] == "phase":
        n = len(vals)
        return f"{row['threshold']} in {'the run' if n == 1 else f'all {n} runs'}"
    if len(vals) == 1:
        return _number(vals[0])
    lo, hi = min(vals), max(vals)
    span = _number(lo) if _number(lo) == _number(hi) else f"{_number(lo)} to {_number(hi)}"
    return f"{span} ({len(vals)} values)"


def _needed(row: dict) -> str:
    if row["op"] == "phase":
        return "inside its boundaries"
    sign = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}[row["op"]]
    return f"{sign} {_number(row['threshold'])}"


class ClaimsTable:
    """The claims one cell checked, as a small table for the page (``table()``)."""

    columns = ("claim", "measured", "needed", "margin")

    def __init__(self, rows: list):
        self.rows = [dict(claim=r["what"], measured=_measured(r), needed=_needed(r),
                          margin=("accuracy " if r["op"] == "phase" else "") + _number(r["margin"]))
                     for r in rows]

    def __len__(self):
        return len(self.rows)

    def __repr__(self):
        width = {c: max([len(c)] + [len(r[c]) for r in self.rows]) for c in self.columns}
        lines = ["  ".join(c.ljust(width[c]) for c in self.columns)]
        lines += ["  ".join(r[c].ljust(width[c]) for c in self.columns) for r in self.rows]
        return "\n".join(lines)

    def _repr_html_(self):
        from html import escape
        head = "".join(f"<th>{escape(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{escape(r[c])}</td>" for c in self.columns) + "</tr>"
                       for r in self.rows)
        return (f'<table class="claims"><caption>Checked on this page\'s runs: every claim holds</caption>'
                f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def table() -> ClaimsTable:
    """The claims checked since the previous ``table()`` (in this kernel), as a table for the page.

    Every one of them held: a claim that does not raises ``ClaimError`` when it is checked.
    Raises ``ValueError`` when no claim was checked since the last table (an empty claims cell)."""
    rows = list(_pending)
    _pending.clear()
    if not rows:
        raise ValueError("no claim was checked since the last table(): call gb.claims.check or "
                         "gb.claims.phase first")
    return ClaimsTable(rows)
