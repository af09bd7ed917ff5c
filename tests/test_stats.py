"""grokbook.analysis.stats against scipy (an independent implementation) and closed forms."""
import numpy as np
import pytest

from grokbook.analysis.stats import ranks, spearman


import grokbook as gb


scipy_stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("seed", range(5))
def test_spearman_equals_scipy(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 8, 60).astype(float)  # many ties
    y = x + rng.normal(0, 2, 60)
    assert spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x, y).statistic, abs=1e-12)
    np.testing.assert_allclose(ranks(x), scipy_stats.rankdata(x))


def test_spearman_closed_forms():
    x = np.arange(10.0)
    assert spearman(x, x ** 3) == pytest.approx(1.0)
    assert spearman(x, -np.exp(x)) == pytest.approx(-1.0)


@pytest.mark.parametrize("x, y, match", [([1, 2], [1, 2, 3], "same length"), ([1], [1], "same length"),
                                         ([1, np.nan], [1, 2], "NaN"), ([1, 1], [1, 2], "constant")])
def test_spearman_bad_input(x, y, match):
    with pytest.raises(ValueError, match=match):
        spearman(x, y)


# ----------------------------------------------------------------------------- moved from the chapter helper tests
def test_binomial_pmf():
    n, q = 1646, 1 / 97
    k = np.arange(n + 1)
    pmf = gb.stats.binomial_pmf(n, q, k)
    assert abs(pmf.sum() - 1) < 1e-9
    assert abs((k * pmf).sum() - n * q) < 1e-9
    assert abs(((k - n * q) ** 2 * pmf).sum() - n * q * (1 - q)) < 1e-8
    assert abs(gb.stats.binomial_pmf(5, 0.5, np.array([2]))[0] - 10 / 32) < 1e-12
