"""Checks that chapter 2 (grokking on clean data) used to make in its narrative, or states in its
prose, on the code rather than on a claim of the paper: the sweep's grid holds one run per weight
decay and seed, and the IPR gives a pure wave 1 and a random vector about 2 / (floor(p/2) + 1)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import grokbook as gb
from ipr_reference import ipr as reference_ipr


def test_grid_gives_each_weight_decay_one_run_per_seed():
    """Chapter 2 reads 'the wd 1 runs' as one run per seed (its claims are 'every seed'): the grid
    of four weight decays by three seeds is the Cartesian product, each pair once, and a seed sets
    both the data and the model seed."""
    wds, seeds = [0, 1, 2, 5], [0, 1, 2]
    runs = gb.grid(alpha=0.35, xi=0.0, wd=wds, seed=seeds)
    got = [(r.wd, r.data_seed) for r in runs]
    assert sorted(got) == sorted(itertools.product(wds, seeds))
    assert len(set(got)) == len(got) == len(wds) * len(seeds)
    assert all(r.model_seed == r.data_seed for r in runs)
    assert all(r.alpha == 0.35 and r.xi == 0.0 for r in runs)
    for wd in wds:
        assert sorted(r.data_seed for r in runs if r.wd == wd) == seeds


@pytest.mark.parametrize("p", [53, 97])
def test_ipr_of_a_pure_wave_is_one(p):
    """'A pure cosine gives 1': any frequency and phase, also in float32."""
    m = np.arange(p)
    for freq, phase in [(1, 0.0), (5, 0.3), (p // 2, 1.7)]:
        wave = np.cos(2 * np.pi * freq * m / p + phase)
        ours = gb.ipr_of_vectors(torch.tensor(wave)).item()
        assert ours == pytest.approx(1.0, abs=1e-9)
        assert ours == pytest.approx(reference_ipr(wave), abs=1e-12)
        assert gb.ipr_of_vectors(torch.tensor(wave, dtype=torch.float32)).item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("p", [53, 97])
def test_ipr_of_random_vectors_matches_its_definition_and_the_spread_value(p):
    """The chapter's reference line, the mean IPR of random Gaussian vectors, is the IPR by its
    definition (vector by vector, against numpy in float64), and about 2 / (floor(p/2) + 1), the
    value The idea quotes for a vector spread over every frequency."""
    x = torch.randn(2000, p, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ours = gb.ipr_of_vectors(x).numpy()
    ref = reference_ipr(x.numpy())
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=0)
    spread = 2 / (p // 2 + 1)
    assert abs(ours.mean() / spread - 1) < 0.15
