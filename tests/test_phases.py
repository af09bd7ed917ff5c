"""The paper's phase rules (Appendix C) on hand-made numbers."""
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

import grokbook as gb
from grokbook.core.phases import (COEXISTENCE, FORGETTING, FULL_INVERSION, MEMORIZATION, PARTIAL_INVERSION,
                             PHASES, phase, phases)


def rule(train, test, xi):
    """Appendix C written out independently, in exact decimal arithmetic.

    Each float is read as the decimal it prints as (0.7 is 7/10), so the
    boundaries are the paper's, not binary floating point's.
    """
    train, test, xi = (Fraction(repr(float(v))) for v in (train, test, xi))
    if test >= Fraction(9, 10):
        if train >= Fraction(9, 10):
            return COEXISTENCE
        return PARTIAL_INVERSION if train >= Fraction(105, 100) - xi else FULL_INVERSION
    return MEMORIZATION if train >= Fraction(9, 10) else FORGETTING


@pytest.mark.parametrize("train, test, xi, expected", [
    # the paper's reference outcomes
    (0.98, 0.98, 0.35, COEXISTENCE),
    (0.78, 1.00, 0.35, PARTIAL_INVERSION),
    (0.654, 1.00, 0.35, FULL_INVERSION),
    (0.01, 0.01, 0.35, FORGETTING),
    (1.00, 0.02, 0.35, MEMORIZATION),
    # boundaries: 0.9 belongs to the upper side
    (0.9, 0.9, 0.35, COEXISTENCE),
    (0.9, 0.8999, 0.35, MEMORIZATION),
    (0.8999, 0.9, 0.35, PARTIAL_INVERSION),
    (0.9, 0.5, 0.0, MEMORIZATION),
    (0.8999, 0.8999, 0.0, FORGETTING),
    (1.0, 1.0, 0.0, COEXISTENCE),
    (0.0, 0.0, 1.0, FORGETTING),
    (0.0, 1.0, 1.0, FULL_INVERSION),  # 0 < 1.05 - 1
    (0.8, 1.0, 0.25, PARTIAL_INVERSION),  # exactly 1.05 - xi (0.8 is also 1.05 - 0.25 in floats)
    (0.79, 1.0, 0.25, FULL_INVERSION),
])
def test_phase_table(train, test, xi, expected):
    assert phase(train, test, xi) == expected
    assert rule(train, test, xi) == expected


@pytest.mark.parametrize("xi", [0.25, 0.3, 0.5, 0.75, 0.15])
def test_partial_full_boundary_is_1_05_minus_xi(xi):
    b = round(1.05 - xi, 12)  # the decimal boundary (1.05 - 0.75 is 0.30000000000000004 in floats)
    if b >= 0.9:  # xi <= 0.15: every train accuracy below 0.9 is Full Inversion
        assert phase(0.8999, 1.0, xi) == FULL_INVERSION
        return
    assert phase(b, 1.0, xi) == PARTIAL_INVERSION  # exactly at the boundary
    assert phase(np.nextafter(b, 0), 1.0, xi) == FULL_INVERSION
    assert phase(b + 1e-9, 1.0, xi) == PARTIAL_INVERSION
    assert phase(b - 1e-9, 1.0, xi) == FULL_INVERSION


@pytest.mark.parametrize("train, xi", [(1372 / 1960, 0.35), (0.05, 1.0)])
def test_decimal_boundary_partial_inversion(train, xi):
    assert rule(train, 1.0, xi) == PARTIAL_INVERSION  # exact decimal arithmetic: on the boundary
    assert phase(train, 1.0, xi) == PARTIAL_INVERSION


def test_phases_vectorised_equals_elementwise():
    rng = np.random.default_rng(0)
    n = 500
    grid = np.array([0.0, 0.5, 0.7, 0.75, 0.8, 0.85, 0.8999, 0.9, 0.95, 1.0])
    train = np.concatenate([rng.uniform(0, 1, n), rng.choice(grid, n)])
    test = np.concatenate([rng.uniform(0, 1, n), rng.choice(grid, n)])
    xi = np.concatenate([rng.uniform(0, 1, n), rng.choice([0.0, 0.1, 0.25, 0.5, 1.0], n)])
    out = phases(train, test, xi)
    assert out.shape == (2 * n,) and out.dtype == object
    assert list(out) == [phase(a, b, x) for a, b, x in zip(train, test, xi)]
    assert set(out) == set(PHASES)  # every phase occurs, so the comparison covers all branches
    # pandas columns and a scalar xi broadcast
    df = pd.DataFrame({"train": train[:20], "test": test[:20]})
    assert list(phases(df.train, df.test, 0.35)) == [phase(a, b, 0.35)
                                                     for a, b in zip(train[:20], test[:20])]


def test_phase_rule_against_independent_rule_on_grid():
    values = [i / 100 for i in range(0, 101, 5)] + [0.899, 0.901]
    for train in values:
        for test in (0.0, 0.5, 0.899, 0.9, 1.0):
            for xi in (0.0, 0.1, 0.25, 0.5, 1.0):
                b = 1.05 - xi
                if abs(train - b) < 1e-9:  # the float boundary is tested on its own above
                    continue
                assert phase(train, test, xi) == rule(train, test, xi), (train, test, xi)


# ----------------------------------------------------------------------------- tables of runs
def test_phase_grid_matches_a_loop(wd_sweep):
    runs = wd_sweep.runs[wd_sweep.runs.wd == 2.0]
    alphas, xis, table = gb.phase_grid(runs)
    assert list(alphas) == [0.4, 0.8] and list(xis) == [0.0, 0.2, 0.4]
    for _, row in runs.iterrows():
        assert table[list(alphas).index(row.alpha), list(xis).index(row.xi)] == row.phase
    with pytest.raises(ValueError, match="one run per"):
        gb.phase_grid(wd_sweep.runs)  # two wd values per cell


def test_phase_counts_add_up(wd_sweep):
    counts = gb.phase_counts(wd_sweep.runs, "wd")
    assert list(counts.columns) == list(gb.PHASES)
    for wd, row in counts.iterrows():
        assert row.sum() == (wd_sweep.runs.wd == wd).sum() == 6
        for ph in gb.PHASES:
            assert row[ph] == ((wd_sweep.runs.wd == wd) & (wd_sweep.runs.phase == ph)).sum()


def test_phase_counts_per_cell_count_each_cell_once_by_its_majority():
    """A hand-made panel: three seeds per cell, the majority phase counted once per cell (a tie
    goes to the phase listed first in OUTCOMES), against a brute-force count."""
    import pandas as pd
    rng = np.random.default_rng(3)
    rows = []
    for wd in (0.0, 5.0):
        for alpha in (0.3, 0.6):
            for xi in (0.0, 0.2, 0.4):
                for seed in range(3):
                    rows.append(dict(wd=wd, alpha=alpha, xi=xi, data_seed=seed,
                                     phase=str(rng.choice(gb.PHASES[:3]))))
    runs = pd.DataFrame(rows)
    counts = gb.phase_counts(runs, "wd", per="cell")
    for wd, row in counts.iterrows():
        expected = {ph: 0 for ph in gb.PHASES}
        panel = runs[runs.wd == wd]
        for _, cell in panel.groupby(["alpha", "xi"]):
            tally = {ph: int((cell.phase == ph).sum()) for ph in gb.OUTCOMES}
            best = max(tally.values())
            expected[next(ph for ph in gb.OUTCOMES if tally[ph] == best)] += 1
        assert row.to_dict() == expected and row.sum() == 6
    table = gb.cell_phases(runs, "wd")
    assert len(table) == 12
    for r in table.itertuples():
        cell = runs[(runs.wd == r.wd) & (runs.alpha == r.alpha) & (runs.xi == r.xi)]
        assert r.share == (cell.phase == r.phase).mean() >= 1 / 3
    assert gb.phase_counts(runs[runs.data_seed == 0], "wd", per="cell").equals(
        gb.phase_counts(runs[runs.data_seed == 0], "wd"))  # one seed: cells are runs
    with pytest.raises(ValueError, match="per must be 'run' or 'cell'"):
        gb.phase_counts(runs, "wd", per="seed")
