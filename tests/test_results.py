"""The committed results are what the code makes.

results/ holds every sweep the chapters read (the quick profile's, for CI, and the book
profile's, for the rendered book and as the full profile's stand-in).  Retraining them all takes
over an hour, so this test retrains a few runs of each: one run per panel (a phase diagram, a
BatchNorm part, an ensemble's weight decay), chosen at random.  The seed of that choice is printed
in the test log's header (``spot-check seed: ...``); set GROKBOOK_SPOTCHECK_SEED to replay it.

A retrained run must match the stored one:
- train, test and corrupted accuracy within ACC_TOL (0.02) each;
- the same phase, unless the stored accuracies lie within ACC_TOL of a phase boundary (then the
  accuracies decide);
- its neurons' IPR within IPR_TOL (0.02) on average (stored as float16).
On the machine that made them the numbers are identical; the tolerances are for another CPU,
whose float sums may round differently.
"""
import os
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from grokbook import Run, THRESHOLD, train
from grokbook.sweeps import SWEEPS, load_sweep, results_dir, sweep

SPOTCHECK_SEED = int(os.environ["GROKBOOK_SPOTCHECK_SEED"])  # set by conftest.py
ACC_TOL = 0.02
IPR_TOL = 0.02
FILES = sorted(results_dir().glob("*.npz"))
NAME = re.compile(r"^(?P<name>.+)-(?P<profile>quick|book|full)-(?P<key>[0-9a-f]{16})\.npz$")


def test_results_are_committed_and_current():
    """Every file in results/ is a sweep of today's definitions; quick and book are complete."""
    made = defaultdict(set)
    for path in FILES:
        m = NAME.match(path.name)
        assert m, f"{path.name}: not a sweep result (NAME-PROFILE-KEY.npz)"
        assert m["name"] in SWEEPS, f"{path.name}: no sweep is called {m['name']!r}"
        assert sweep(m["name"], m["profile"]).key() == m["key"], (
            f"{path.name}: made from another definition of the sweep; regenerate it "
            f"(python -m grokbook sweep {m['name']} --profile {m['profile']}) and delete this one")
        made[m["profile"]].add(m["name"])
    for profile in ("quick", "book"):
        assert made[profile] == set(SWEEPS), f"{profile}: missing {set(SWEEPS) - made[profile]}"
    size = sum(p.stat().st_size for p in FILES) / 2**20
    assert size < 40, f"results/ holds {size:.1f} MB: every Colab user downloads it"


def near_boundary(row) -> bool:
    """Whether stored accuracies lie within ACC_TOL of a phase boundary."""
    bounds = [(row.train_acc, THRESHOLD), (row.test_acc, THRESHOLD),
              (row.train_acc, 1.05 - row.xi)]
    return any(abs(a - b) < ACC_TOL for a, b in bounds)


def chosen_runs(data, rng) -> list[int]:
    """One run (its global index) per panel of a stored sweep, at random."""
    return [int(rng.choice(runs.run.to_numpy())) for runs in data.panels().values()]


@pytest.mark.slow
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name.rsplit("-", 1)[0])
def test_spot_check_committed_result(path):
    m = NAME.match(path.name)
    s = sweep(m["name"], m["profile"])
    data = load_sweep(s)
    rng = np.random.default_rng([SPOTCHECK_SEED, sorted(SWEEPS).index(s.name),
                                 ["quick", "book", "full"].index(s.profile)])
    picked = chosen_runs(data, rng)
    starts = np.cumsum([0] + [len(p.runs) for p in s.parts])
    by_part = defaultdict(list)
    for run in picked:
        part = int(np.searchsorted(starts, run, side="right") - 1)
        by_part[part].append(run)
    failures = []
    for part, runs in by_part.items():
        definition = [s.parts[part].runs[r - starts[part]] for r in runs]
        assert all(isinstance(r, Run) for r in definition)
        fresh = train(definition, s.parts[part].config, progress=False)
        ipr = fresh.ipr().numpy()
        for k, run in enumerate(runs):
            old, new = data.runs.loc[data.runs.run == run].iloc[0], fresh.runs.iloc[k]
            what = f"run {run} ({data.summary(old)})"
            for col in ("train_acc", "test_acc", "corrupt_acc"):
                if abs(old[col] - new[col]) > ACC_TOL:
                    failures.append(f"{what}: {col} {old[col]:.4f} stored, {new[col]:.4f} now")
            if old.phase != new.phase and not near_boundary(old):
                failures.append(f"{what}: phase {old.phase} stored, {new.phase} now")
            gap = np.abs(data.ipr[run].astype(float) - ipr[k]).mean()
            if gap > IPR_TOL:
                failures.append(f"{what}: IPR differs by {gap:.3f} on average")
    print(f"{path.name}: retrained runs {picked} (seed {SPOTCHECK_SEED})")
    assert not failures, "\n".join(failures)
