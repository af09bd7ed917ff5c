"""grokbook.stats against scipy (an independent implementation) and closed forms."""
import numpy as np
import pytest

from grokbook.stats import ranks, spearman

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
