"""The exercise checks of chapter 6, Regularization and phase diagrams
(book/06_regularization.ipynb), in the order the chapter calls them."""
from __future__ import annotations

from .harness import assert_settings, case_seed, remeasured, report, report_experiment

__all__ = ["phase_grid", "spearman", "full_inversion_line"]


def phase_grid(fn) -> bool:
    """``fn(runs)``: from a frame with one row per run (columns alpha, xi, train_acc, test_acc,
    in any order) return ``(alphas, xis, table)``: the sorted distinct alphas and xis and the
    (len(alphas), len(xis)) array of phase names (``grokbook.PHASES``), ``table[i, j]`` the phase
    of the run at alphas[i], xis[j] by the paper's rules."""
    import numpy as np
    import pandas as pd

    from ...core.phases import phase

    g = np.random.default_rng(case_seed(6))

    def case(alphas, xis, what, accuracies=None):
        rows = [dict(alpha=a, xi=x, train_acc=float(g.choice([g.uniform(0, 1), min(round(1.05 - x, 12), 1.0),
                                                   0.9])),
                     test_acc=float(g.choice([g.uniform(0, 1), 0.9, 1.0])))
                for a in alphas for x in xis]
        for row, (train, test) in zip(rows, accuracies or []):  # a hand-made case's accuracies
            row.update(train_acc=train, test_acc=test)
        frame = pd.DataFrame(rows).sample(frac=1.0, random_state=int(g.integers(1 << 31)))
        frame = frame[["train_acc", "xi", "test_acc", "alpha"]].reset_index(drop=True)

        def run(f):
            got_a, got_x, table = f(frame.copy())
            assert np.allclose(got_a, sorted(alphas)) and np.allclose(got_x, sorted(xis)), (
                f"{what}: axes {list(got_a)}, {list(got_x)}, expected sorted {sorted(alphas)}, "
                f"{sorted(xis)}")
            table = np.asarray(table, dtype=object)
            assert table.shape == (len(alphas), len(xis)), (
                f"{what}: table of shape {table.shape}, expected {(len(alphas), len(xis))}")
            for r in frame.itertuples():
                i, j = sorted(alphas).index(r.alpha), sorted(xis).index(r.xi)
                want = phase(r.train_acc, r.test_acc, r.xi)
                assert table[i, j] == want, (f"{what}: cell alpha={r.alpha}, xi={r.xi} (train "
                                             f"{r.train_acc:.3f}, test {r.test_acc:.3f}) is "
                                             f"{table[i, j]!r}, expected {want!r}")
        return run

    return report("phase_grid", fn, [
        case([0.3, 0.6, 0.9], [0.0, 0.2, 0.35, 0.5], "3 x 4, rows shuffled"),
        case([0.5], [0.1, 0.35], "one alpha (boundary train = 1.05 - xi included)"),
        case([0.9, 0.1, 0.5, 0.7], [0.6], "one xi, alphas given out of order"),
        case([0.5], [0.1, 0.35], "by hand: train on the boundary 1.05 - xi, test 1",
             accuracies=[(0.95, 1.0), (0.7, 1.0)]),
    ])


def spearman(fn) -> bool:
    """``fn(x, y)``: Spearman's rank correlation of two 1-D arrays -- Pearson's correlation of
    their ranks, tied values sharing the average of their ranks."""
    import numpy as np

    from ...analysis.stats import spearman as reference

    g = np.random.default_rng(case_seed(16))

    def case(x, y, what):
        def run(f):
            got = float(f(x.copy(), y.copy()))
            want = reference(x, y)
            assert abs(got - want) < 1e-9, f"{what}: {got:.6f}, expected {want:.6f}"
        return run

    cases = []
    for k in range(3):
        x = g.normal(size=50)
        cases.append(case(x, x + g.normal(0, 0.5 + k, 50), "continuous values"))
    x = g.integers(0, 5, 40).astype(float)
    cases.append(case(x, x + g.integers(0, 3, 40), "many ties in both"))
    x = np.arange(10.0)
    cases.append(case(x, np.exp(x), "monotone but not linear: exactly 1"))
    cases.append(case(x, -x ** 3, "decreasing: exactly -1"))
    return report("spearman", fn, cases)


def full_inversion_line(experiment) -> bool:
    """Chapter 6's experiment.  ``experiment()`` returns the result of one ``gb.train`` call: a
    line of cells at one alpha and one weight decay (the chapter's Full Inversion value), with
    at least four corruptions xi in (0, 0.3].

    The claim: along the whole line the network is fully inverted: it answers at least 95% of
    the changed training pairs with their true label, its test accuracy is at least 99%, and
    its training accuracy sits at the Full Inversion level 1 - xi (1 - 1/p), within 0.02."""
    claim = "at the Full Inversion weight decay every xi up to 0.3 inverts: train accuracy 1 - xi (1 - 1/p)"

    def settings(result):
        table = remeasured(result)

        def line(v):
            """xi in (0, 0.3]"""
            return 0 < v <= 0.3
        assert_settings(table, xi=line)
        assert table.xi.nunique() >= 4, f"train at least four xi, got {sorted(table.xi.unique())}"
        assert table.alpha.nunique() == 1 and table.wd.nunique() == 1, "one alpha and one weight decay"

    def inverted(result):
        table = remeasured(result).sort_values("xi")
        level = 1 - table.xi * (1 - 1 / result.config.p)
        for r, fi in zip(table.itertuples(), level):
            print(f"full_inversion_line: xi {r.xi:g}: train accuracy {r.train_acc:.4f} (level {fi:.4f}), "
                  f"changed pairs answered truly {r.corrupt_true_acc:.3f}, test {r.test_acc:.4f}")
        assert (table.corrupt_true_acc >= 0.95).all(), (
            f"changed pairs answered with the true label: {table.corrupt_true_acc.round(3).tolist()}")
        assert (table.test_acc >= 0.99).all(), f"test accuracy: {table.test_acc.round(4).tolist()}"
        off = (table.train_acc - level).abs()
        assert (off <= 0.02).all(), f"train accuracy off the Full Inversion level by {off.round(4).tolist()}"

    return report_experiment("full_inversion_line", experiment, claim, [settings, inverted])
