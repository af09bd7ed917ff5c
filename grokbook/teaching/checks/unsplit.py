"""Exercise checks, ARENA-style: ``grokbook.checks.<name>(your_fn)``.

Each check calls your function on fresh random inputs, compares it with the
package's reference implementation, and says what passed.  A stub that still
raises ``NotImplementedError`` is reported as "not attempted yet" (and the
check returns False) so that a chapter with open exercises still runs from
top to bottom; a wrong answer raises ``AssertionError`` with the first case
that failed.
"""
from __future__ import annotations

import torch

from ...engine.data import task_table
from ...engine.fourier import ipr_of_vectors


def _report(name: str, fn, cases) -> bool:
    """Run ``cases`` (callables taking ``fn``, each raising AssertionError on a mismatch)."""
    try:
        for i, case in enumerate(cases):
            try:
                case(fn)
            except AssertionError as err:
                raise AssertionError(f"{name}: case {i + 1} of {len(cases)} failed: {err}") from None
    except NotImplementedError:
        print(f"{name}: not attempted yet\n(your function raises NotImplementedError)")
        return False
    print(f"{name}: all {len(cases)} cases passed")
    return True


def _close(got, want, what, atol=1e-6, rtol=1e-5):
    got = torch.as_tensor(got, dtype=torch.float64)
    want = torch.as_tensor(want, dtype=torch.float64)
    assert got.shape == want.shape, f"{what}: shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    assert torch.allclose(got, want, atol=atol, rtol=rtol), (
        f"{what}: max difference {(got - want).abs().max().item():.3g}")


def task_labels(fn) -> bool:
    """``fn(p, op)`` returns the (p, p) table of op(m, n) mod p (row m, column n).

    Division entries with n = 0 are not compared.
    """
    def case(p, op):
        def run(f):
            truth, valid = task_table(p, op)
            got = torch.as_tensor(f(p, op)).reshape(-1)
            assert got.numel() == p * p, f"p={p}, op={op}: {got.numel()} entries, expected {p * p}"
            bad = ((got != truth) & valid).nonzero()
            assert len(bad) == 0, (f"p={p}, op={op}: wrong label at (m, n) = "
                                   f"{divmod(bad[0].item(), p)}")
        return run
    return _report("task_labels", fn, [case(p, op) for p in (5, 7, 13)
                                       for op in ("add", "subtract", "multiply", "divide")])


def expected_chance_correct(fn) -> bool:
    """``fn(n_corrupted, p)``: expected number of corrupted labels that equal the truth by chance."""
    g = torch.Generator().manual_seed(1)
    cases = []
    for _ in range(5):
        n, p = int(torch.randint(10, 5000, (1,), generator=g)), int(torch.randint(2, 200, (1,), generator=g))
        cases.append(lambda f, n=n, p=p: _close(f(n, p), n / p, f"n_corrupted={n}, p={p}"))
    return _report("expected_chance_correct", fn, cases)


def ipr(fn) -> bool:
    """``fn(x)`` returns the IPR of every vector along the last dim of x (..., p); 0 for a
    vector of zeros (not NaN)."""
    g = torch.Generator().manual_seed(2)
    def random_case(shape):
        x = torch.randn(*shape, generator=g, dtype=torch.float64)
        return lambda f: _close(f(x.clone()), ipr_of_vectors(x), f"random input of shape {shape}")
    i = torch.arange(31, dtype=torch.float64)
    cosine = torch.cos(2 * torch.pi * 4 * i / 31 + 0.3)

    def zero_case(f):  # a neuron that weight decay has erased: IPR 0 by convention, never NaN
        x = torch.randn(4, 53, generator=g, dtype=torch.float64)
        x[[1, 3]] = 0
        got = torch.as_tensor(f(x.clone()), dtype=torch.float64)
        assert not torch.isnan(got).any(), (
            "zero vectors (rows 1 and 3) gave NaN: their spectrum is all zeros, so normalising "
            "it divides 0 by 0; define the IPR of a zero vector as 0")
        _close(got, ipr_of_vectors(x), "a batch with two zero vectors (their IPR is 0)")

    cases = [random_case((97,)), random_case((8, 53)), random_case((3, 5, 31)),
             lambda f: _close(f(cosine), torch.tensor(1.0, dtype=torch.float64), "a pure cosine"),
             zero_case]
    return _report("ipr", fn, cases)


# --- chapter 1 checks ------------------------------------------------------------------------
def inversion_train_accuracy(fn) -> bool:
    """``fn(xi, p)``: expected train accuracy (labels as given) of a network that predicts the
    *true* label of every training pair, when a fraction xi of the training labels was
    redrawn uniformly from [0, p).  (The answer is what "Full Inversion" scores.)
    """
    g = torch.Generator().manual_seed(3)
    cases = [lambda f: _close(f(0.0, 97), 1.0, "xi=0, p=97"),
             lambda f: _close(f(0.35, 97), 1 - 0.35 + 0.35 / 97, "xi=0.35, p=97 (the paper's)")]
    for _ in range(5):
        xi = float(torch.rand((), generator=g, dtype=torch.float64))
        p = int(torch.randint(2, 200, (1,), generator=g))
        cases.append(lambda f, xi=xi, p=p: _close(f(xi, p), 1 - xi + xi / p, f"xi={xi:.3f}, p={p}"))
    return _report("inversion_train_accuracy", fn, cases)



# --- chapter 2 checks ------------------------------------------------------------------------
def _never(x) -> bool:
    """A 'never reached' answer: None or NaN."""
    return x is None or (isinstance(x, float) and x != x) or (
        hasattr(x, "item") and getattr(x, "ndim", 1) == 0 and x.item() != x.item())


def _same_step(got, want, what):
    if want != want:  # NaN: never reached
        assert _never(got), f"{what}: got {got!r}, expected None or NaN (never reached)"
        return
    assert not _never(got), f"{what}: got {got!r} (never), expected step {want:g}"
    got = float(got)
    assert got == want, f"{what}: got {got:g}, expected {want:g}"


def first_crossing(fn) -> bool:
    """``fn(steps, values, threshold)``: the first step whose value is >= threshold, else None.

    ``steps`` and ``values`` are 1-D arrays of equal length (a logged curve, steps
    increasing but not necessarily evenly spaced).  NaN is accepted for "never".
    """
    import numpy as np
    import pandas as pd

    from ...analysis.history import first_step

    def want(steps, values, threshold):
        frame = pd.DataFrame({"run": 0, "step": steps, "m": values})
        return first_step(frame, "m", threshold, 0)

    def case(steps, values, threshold, what):
        steps, values = np.asarray(steps), np.asarray(values, dtype=float)
        def run(f):
            got = f(steps.copy(), values.copy(), threshold)
            _same_step(got, want(steps, values, threshold), what)
        return run

    g = np.random.default_rng(3)
    cases = [
        case([0, 10, 20, 30, 40], [0.1, 0.5, 0.97, 0.99, 1.0], 0.99, "a rising curve"),
        case([0, 5, 10, 20, 40, 80], [0.0, 0.2, 0.9, 0.6, 0.95, 1.0], 0.9,
             "a value exactly at the threshold, then a dip (the first crossing counts)"),
        case([0, 10, 20, 30], [0.1, 0.2, 0.3, 0.4], 0.99, "a curve that never gets there"),
        case([0, 10, 20], [1.0, 1.0, 1.0], 0.99, "a curve that starts above the threshold"),
        case([0, 3, 7, 50, 400], [0.0, 0.1, 0.2, 0.3, 0.95], 0.5, "unevenly spaced steps"),
    ]
    for _ in range(3):
        n = int(g.integers(20, 200))
        steps = np.cumsum(g.integers(1, 30, n)) - 1
        values = np.clip(np.cumsum(g.normal(0.01, 0.05, n)), 0, 1)
        cases.append(case(steps, values, float(g.uniform(0.2, 0.8)), "a random walk"))
    return _report("first_crossing", fn, cases)


def grokking_delay(fn) -> bool:
    """``fn(history, run, threshold)``: steps from train acc >= threshold to test acc >= threshold.

    ``history`` is a ``SweepResult.history``-like frame (columns run, step, train_acc,
    test_acc, ...; several runs).  Return None (or NaN) when either never gets there.
    """
    import numpy as np
    import pandas as pd

    from ...analysis.history import grokking_steps

    g = np.random.default_rng(4)

    def frame(K, T, every):
        steps = np.arange(T) * every
        rows = []
        for run in range(K):
            fit, grok = g.integers(1, T // 3), g.integers(T // 4, T + T // 2)
            tr = np.clip((np.arange(T) + 1) / (fit + 1), 0, 1) * g.uniform(0.97, 1.0, T)
            tr[fit:] = 1.0
            te = np.where(np.arange(T) >= grok, 1.0, g.uniform(0, 0.98, T))
            rows.append(pd.DataFrame({"run": run, "step": steps, "train_acc": tr, "test_acc": te,
                                      "loss": g.uniform(size=T)}))
        return pd.concat(rows, ignore_index=True)

    def case(history, run, threshold, what):
        def go(f):
            want = grokking_steps(history, threshold).loc[run, "delay"]
            _same_step(f(history.copy(), run, threshold), want, what)
        return go

    hand = pd.DataFrame({"run": [0] * 4 + [1] * 4, "step": [0, 10, 20, 30] * 2,
                         "train_acc": [0.2, 1.0, 1.0, 1.0, 0.1, 0.5, 1.0, 1.0],
                         "test_acc": [0.0, 0.1, 0.4, 1.0, 0.0, 0.0, 0.2, 0.3]})
    cases = [case(hand, 0, 0.99, "run 0 of a two-run history (delay 20)"),
             case(hand, 1, 0.99, "run 1, which never generalizes"),
             case(hand, 1, 0.25, "run 1 at threshold 0.25 (delay 20)")]
    for K, T, every in ((3, 60, 10), (5, 100, 5), (2, 40, 20)):
        h = frame(K, T, every)
        for run in range(K):
            cases.append(case(h, run, 0.99, f"random history, {K} runs, run {run}"))
    return _report("grokking_delay", fn, cases)



# --- chapter 3 checks ------------------------------------------------------------------------
def dft_magnitudes(fn) -> bool:
    """``fn(x)`` returns |X_s| for s = 0 .. p//2 of a length-p vector x, where
    X_s = sum_j x_j (cos(2 pi s j / p) - i sin(2 pi s j / p)), i.e. ``torch.fft.rfft(x).abs()``.
    """
    g = torch.Generator().manual_seed(4)
    def random_case(p):
        x = torch.randn(p, generator=g, dtype=torch.float64)
        return lambda f: _close(f(x.clone()), torch.fft.rfft(x).abs(), f"random x of length {p}",
                                atol=1e-8)
    i = torch.arange(31, dtype=torch.float64)
    cosine = 2.0 * torch.cos(2 * torch.pi * 5 * i / 31 + 1.0)
    want = torch.zeros(16, dtype=torch.float64)
    want[5] = 31.0  # amplitude 2 times p / 2
    cases = [lambda f: _close(f(cosine.clone()), want, "2 cos(2 pi 5 j / 31 + 1)", atol=1e-8)]
    cases += [random_case(p) for p in (7, 8, 53, 97)]
    return _report("dft_magnitudes", fn, cases)


def network_output(fn) -> bool:
    """``fn(U, V, W, m, n)`` returns the network's p outputs for the pair (m, n):
    f(m, n) = W (U[:, m] + V[:, n])^2 with U, V of shape (N, p) and W of shape (p, N).
    """
    from ...engine.fourier import analytic_solution
    from ...engine.models import BatchedMLP

    g = torch.Generator().manual_seed(5)
    def reference(U, V, W, m, n):
        with torch.no_grad():
            return BatchedMLP(U[None], V[None], W[None])()[0, m * U.shape[1] + n]
    def random_case(N, p):
        U, V, W = (torch.randn(*s, generator=g, dtype=torch.float64) for s in ((N, p), (N, p), (p, N)))
        m, n = (int(torch.randint(0, p, (1,), generator=g)) for _ in range(2))
        return lambda f: _close(f(U.clone(), V.clone(), W.clone(), m, n), reference(U, V, W, m, n),
                                f"random weights N={N}, p={p}, (m, n)=({m}, {n})")
    def analytic_case(f):
        model = analytic_solution(31, 300, seed=1, dtype=torch.float64)
        U, V, W = (t[0].detach() for t in (model.U, model.V, model.W))
        for m, n in ((3, 4), (30, 30), (0, 17)):
            out = torch.as_tensor(f(U.clone(), V.clone(), W.clone(), m, n))
            _close(out, reference(U, V, W, m, n), f"analytic solution, (m, n)=({m}, {n})")
            assert int(out.argmax()) == (m + n) % 31, f"analytic solution, (m, n)=({m}, {n}): argmax"
    cases = [random_case(5, 7), random_case(64, 13), random_case(300, 53), analytic_case]
    return _report("network_output", fn, cases)



# --- chapters 4 and 5 checks ---
def _random_split(g, p, alpha, xi):
    """Random predictions and a random split with corrupted labels, as plain tensors."""
    from ...engine.data import split_and_corrupt

    seed = int(torch.randint(0, 10_000, (1,), generator=g))
    train, labels, corrupted = split_and_corrupt(p, "add", alpha, xi, seed)
    truth, _ = task_table(p, "add")
    # predictions: mostly the given label, some the truth, some random
    pick = torch.randint(0, 3, labels.shape, generator=g)
    pred = torch.where(pick == 0, labels, torch.where(pick == 1, truth,
                       torch.randint(0, p, labels.shape, generator=g)))
    return pred, labels, truth, train


def corrupted_accuracies(fn) -> bool:
    """``fn(pred, labels, truth, train)`` returns (corrupt_acc, corrupt_true_acc, clean_acc).

    All four are (p*p,) tensors over the table: predictions, labels as given, true labels,
    the training mask.  The corrupted examples are the training pairs whose given label
    differs from the truth (a redrawn label that came out right is clean); corrupt_acc
    compares the prediction there with the given label, corrupt_true_acc with the true one;
    clean_acc is the accuracy on the other training pairs.
    """
    from ...engine.train import evaluate

    class _Table(torch.nn.Module):  # a "model" that outputs one-hot predictions
        def __init__(self, pred, p):
            super().__init__()
            self.out = torch.nn.functional.one_hot(pred, p).double()[None]

        def forward(self, neuron_mask=None):
            return self.out

    def case(p, alpha, xi, g):
        from ...engine.data import Splits
        pred, labels, truth, train = _random_split(g, p, alpha, xi)
        valid = torch.ones(p * p, dtype=torch.bool)
        data = Splits(p, "add", truth, valid, train[None], labels[None], (labels != truth)[None] & train[None])
        want = evaluate(_Table(pred, p), data)

        def run(f):
            got = f(pred.clone(), labels.clone(), truth.clone(), train.clone())
            assert len(got) == 3, f"p={p}: return three numbers, got {len(got)}"
            for name, value in zip(("corrupt_acc", "corrupt_true_acc", "clean_acc"), got):
                _close(float(value), want[name][0].item(), f"p={p}, alpha={alpha}, xi={xi}: {name}")
        return run

    g = torch.Generator().manual_seed(6)
    cases = [case(p, a, x, g) for p, a, x in ((7, 0.6, 0.5), (31, 0.5, 0.35), (53, 0.7, 0.25),
                                               (97, 0.3, 0.9))]
    return _report("corrupted_accuracies", fn, cases)


def phase_rule(fn) -> bool:
    """``fn(train_acc, test_acc, xi)`` returns the paper's phase name (``grokbook.PHASES``):
    with a threshold of 0.9 on both accuracies, Coexistence (both at least 0.9), Memorization
    (train only), Forgetting / Confusion (neither), and with test >= 0.9 but train < 0.9 Partial
    Inversion if train >= 1.05 - xi, else Full Inversion.  The cases sit on and beside every
    boundary."""
    from ...core.phases import phase

    g = torch.Generator().manual_seed(4)

    def case(train, test, xi, what):
        def run(f):
            got, want = f(train, test, xi), phase(train, test, xi)
            assert got == want, f"{what}: train {train}, test {test}, xi {xi}: {got!r}, expected {want!r}"
        return run

    cases = [case(0.9, 0.9, 0.3, "both exactly at the threshold"),
             case(0.95, 0.899, 0.3, "test just below the threshold"),
             case(0.5, 0.2, 0.3, "neither"),
             case(0.75, 0.99, 0.3, "train exactly at 1.05 - xi"),
             case(0.7499, 0.99, 0.3, "train just below 1.05 - xi"),
             case(0.65, 1.0, 0.35, "the paper's xi, near its Full Inversion level"),
             case(0.88, 0.97, 0.1, "small xi: 1.05 - xi is above the threshold")]
    for _ in range(20):
        train, test, xi = (round(float(v), 3) for v in torch.rand(3, generator=g))
        cases.append(case(train, test, xi, "random"))
    return _report("phase_rule", fn, cases)


def prune_mask(fn) -> bool:
    """``fn(ipr, fraction, order)`` returns an (N,) 0/1 mask that removes round(fraction * N)
    neurons: the lowest-IPR ones for order "low", the highest-IPR ones for "high".
    (1 keeps a neuron, 0 prunes it.)"""
    from ...analysis.prune import prune_masks

    g = torch.Generator().manual_seed(7)

    def case(N, fraction, order):
        ipr = torch.rand(N, generator=g, dtype=torch.float64)

        def run(f):
            got = torch.as_tensor(f(ipr.clone(), fraction, order)).reshape(-1)
            want = prune_masks(ipr, [fraction], order)[0]
            _close(got, want, f"N={N}, fraction={fraction}, order={order!r}", atol=0, rtol=0)
        return run

    cases = [case(N, f, o) for N, f in ((10, 0.3), (300, 0.0), (300, 0.25), (500, 0.7), (97, 1.0))
             for o in ("low", "high")]
    return _report("prune_mask", fn, cases)


def pruned_output(fn) -> bool:
    """``fn(U, V, W, mask, m, n)`` returns the p outputs for the pair (m, n) of the network with
    the neurons where ``mask`` (N,) is 0 removed: W (mask * (U[:, m] + V[:, n])^2)."""
    from ...engine.models import BatchedMLP

    g = torch.Generator().manual_seed(8)

    def reference(U, V, W, mask, m, n):
        with torch.no_grad():
            return BatchedMLP(U[None], V[None], W[None])(neuron_mask=mask[None])[0, m * U.shape[1] + n]

    def case(N, p, keep):
        U, V, W = (torch.randn(*s, generator=g, dtype=torch.float64) for s in ((N, p), (N, p), (p, N)))
        mask = (torch.rand(N, generator=g) < keep).double()
        m, n = (int(torch.randint(0, p, (1,), generator=g)) for _ in range(2))
        return lambda f: _close(f(U.clone(), V.clone(), W.clone(), mask.clone(), m, n),
                                reference(U, V, W, mask, m, n),
                                f"N={N}, p={p}, {int(mask.sum())} of {N} neurons kept, (m, n)=({m}, {n})")

    cases = [case(5, 7, 0.6), case(64, 13, 0.5), case(300, 53, 0.3), case(50, 11, 1.0), case(50, 11, 0.0)]
    return _report("pruned_output", fn, cases)


# --- chapter 6 checks ---
def phase_grid(fn) -> bool:
    """``fn(runs)``: from a frame with one row per run (columns alpha, xi, train_acc, test_acc,
    in any order) return ``(alphas, xis, table)``: the sorted distinct alphas and xis and the
    (len(alphas), len(xis)) array of phase names (``grokbook.PHASES``), ``table[i, j]`` the phase
    of the run at alphas[i], xis[j] by the paper's rules."""
    import numpy as np
    import pandas as pd

    from ...core.phases import phase

    g = np.random.default_rng(6)

    def case(alphas, xis, what):
        rows = [dict(alpha=a, xi=x, train_acc=float(g.choice([g.uniform(0, 1), min(round(1.05 - x, 12), 1.0),
                                                   0.9])),
                     test_acc=float(g.choice([g.uniform(0, 1), 0.9, 1.0])))
                for a in alphas for x in xis]
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

    return _report("phase_grid", fn, [
        case([0.3, 0.6, 0.9], [0.0, 0.2, 0.35, 0.5], "3 x 4, rows shuffled"),
        case([0.5], [0.1, 0.35], "one alpha (boundary train = 1.05 - xi included)"),
        case([0.9, 0.1, 0.5, 0.7], [0.6], "one xi, alphas given out of order"),
    ])


def spearman(fn) -> bool:
    """``fn(x, y)``: Spearman's rank correlation of two 1-D arrays -- Pearson's correlation of
    their ranks, tied values sharing the average of their ranks."""
    import numpy as np

    from ...analysis.stats import spearman as reference

    g = np.random.default_rng(16)

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
    return _report("spearman", fn, cases)


# --- chapter 7 checks ---
def corrupted_accuracy(fn) -> bool:
    """``fn(pred, labels, truth, train)``: accuracy on the *corrupted* training examples
    (training pairs whose given label differs from the truth), against the given labels and
    against the true labels, as a pair of floats.  All arguments are 1-D tensors of the same
    length (``train`` boolean).  With no corrupted example, return (nan, nan).
    """
    import math

    def want(pred, labels, truth, train):
        changed = train & (labels != truth)
        if not changed.any():
            return float("nan"), float("nan")
        return ((pred == labels)[changed].double().mean().item(),
                (pred == truth)[changed].double().mean().item())

    def case(pred, labels, truth, train, what):
        def run(f):
            got = f(pred.clone(), labels.clone(), truth.clone(), train.clone())
            assert len(got) == 2, f"{what}: return a pair (given, true), got {got!r}"
            for g_, w_, name in zip(got, want(pred, labels, truth, train), ("given", "true")):
                g_ = float(g_)
                if math.isnan(w_):
                    assert math.isnan(g_), f"{what}: {name}-label accuracy {g_}, expected nan"
                else:
                    assert abs(g_ - w_) < 1e-6, f"{what}: {name}-label accuracy {g_:.4f}, expected {w_:.4f}"
        return run

    g = torch.Generator().manual_seed(7)
    truth = torch.tensor([0, 1, 2, 3, 4, 0])
    labels = torch.tensor([0, 3, 2, 1, 4, 2])  # pairs 1, 3 and 5 corrupted
    train = torch.tensor([True, True, True, True, False, True])
    cases = [case(truth.clone(), labels, truth, train, "predicting every true label (Full Inversion)"),
             case(labels.clone(), labels, truth, train, "predicting every given label (memorization)"),
             case(truth.clone(), truth.clone(), truth, train, "no corrupted label at all"),
             case(labels.clone(), labels, truth, torch.tensor([True, False, True, True, True, True]),
                  "a corrupted pair outside the training set does not count")]
    for n, p in ((50, 7), (500, 53), (3000, 97)):
        truth = torch.randint(0, p, (n,), generator=g)
        corrupt = torch.rand(n, generator=g) < 0.3
        labels = torch.where(corrupt, torch.randint(0, p, (n,), generator=g), truth)
        pick = torch.rand(n, generator=g)
        pred = torch.where(pick < 0.4, truth, torch.where(pick < 0.7, labels,
                                                          torch.randint(0, p, (n,), generator=g)))
        train = torch.rand(n, generator=g) < 0.6
        cases.append(case(pred, labels, truth, train, f"random, n={n}, p={p}"))
    return _report("corrupted_accuracy", fn, cases)


def unlearning_step(fn) -> bool:
    """``fn(steps, train_acc, inverted, fit=0.95, tol=0.03)``: the first logged step at which
    the train accuracy, having first reached ``fit`` (stage 1), has come down to at most
    ``inverted + tol`` (stage 2); None (or NaN) if either never happens.
    """
    import numpy as np
    import pandas as pd

    from ...analysis.history import stages

    def want(steps, acc, inverted, fit, tol):
        frame = pd.DataFrame({"run": 0, "step": steps, "train_acc": acc, "test_acc": 0.0})
        return stages(frame, inverted, fit=fit, tol=tol).loc[0, "unlearn_step"]

    def case(steps, acc, inverted, what, fit=0.95, tol=0.03):
        steps, acc = np.asarray(steps), np.asarray(acc, dtype=float)
        def run(f):
            got = f(steps.copy(), acc.copy(), inverted, fit, tol)
            _same_step(got, want(steps, acc, inverted, fit, tol), what)
        return run

    g = np.random.default_rng(7)
    cases = [
        case([0, 10, 20, 30, 40, 50], [0.0, 0.6, 0.99, 0.9, 0.76, 0.75], 0.75, "memorize, then unlearn"),
        case([0, 10, 20, 30], [0.0, 0.5, 0.78, 0.76], 0.75,
             "below the level before ever memorizing: it only counts after stage 1"),
        case([0, 10, 20, 30], [0.0, 0.97, 1.0, 0.99], 0.75, "memorizes and never unlearns"),
        case([0, 10, 20, 30], [0.0, 0.95, 0.8, 0.77], 0.75, "exactly at fit counts as stage 1"),
        case([0, 5, 50, 60, 400], [0.1, 0.99, 0.7, 0.6, 0.01], 0.7, "unevenly spaced, then forgets",
             tol=0.0),
    ]
    for _ in range(3):
        n = int(g.integers(20, 150))
        steps = np.cumsum(g.integers(1, 20, n)) - 1
        up = np.clip(np.cumsum(np.abs(g.normal(0.05, 0.05, n))), 0, 1)
        down = np.clip(1 - np.cumsum(np.abs(g.normal(0.0, 0.01, n))), 0.6, 1)
        cases.append(case(steps, np.minimum(up, down), float(g.uniform(0.6, 0.8)), "a random curve"))
    return _report("unlearning_step", fn, cases)


# --- chapter 8: what counts as memorization ---
def feldman_score(fn) -> bool:
    """``fn(member, correct)`` returns Feldman's score of every example, a (P,) array: over the
    models that trained on example i (``member`` (t, P) bool True) the mean of ``correct``
    (t, P) 0/1, minus the same mean over the models that did not; NaN where either set is empty."""
    import numpy as np

    from ...analysis.memorization import feldman_scores

    g = np.random.default_rng(11)

    def case(t, P, q):
        member = torch.as_tensor(g.random((t, P)) < q)
        correct = torch.as_tensor(g.random((t, P)) < 0.6)

        def run(f):
            got = torch.as_tensor(np.array(f(member.clone(), correct.clone()), dtype=float))
            want = torch.as_tensor(feldman_scores(member, correct).score.to_numpy().copy())
            assert got.shape == want.shape, f"t={t}, P={P}: shape {tuple(got.shape)}, expected {tuple(want.shape)}"
            assert torch.equal(got.isnan(), want.isnan()), (
                f"t={t}, P={P}: NaN exactly where no model (or every model) saw the example")
            _close(got.nan_to_num(), want.nan_to_num(), f"t={t}, P={P}, subset fraction {q}")
        return run

    return _report("feldman_score", fn, [case(t, P, q) for t, P, q in
                                         ((4, 10, 0.5), (16, 200, 0.7), (32, 500, 0.9))])


def roc_auc(fn) -> bool:
    """``fn(scores, positives)`` returns the ROC AUC: the probability that a random positive
    scores higher than a random negative, ties counting one half."""
    import numpy as np

    from ...analysis.memorization import roc_auc as reference

    g = np.random.default_rng(12)

    def case(n, levels, what):
        scores = g.integers(0, levels, n).astype(float) if levels else g.normal(size=n)
        positives = g.random(n) < 0.3
        positives[:2] = [True, False]
        return lambda f: _close(float(f(scores.copy(), positives.copy())),
                                reference(scores, positives), what)

    return _report("roc_auc", fn, [case(50, 0, "50 distinct scores"),
                                   case(300, 4, "300 scores with many ties"),
                                   case(5, 2, "5 scores, two levels")])


def loo_change(fn) -> bool:
    """``fn(X, Y, lam)`` returns, for every row i of the ridge regression from X (n, d) to
    Y (n, q), how much leaving row i out changes its own prediction, yhat_i - yhat_i^(-i), an
    (n, q) array -- through the hat matrix, without refitting."""
    g = torch.Generator().manual_seed(13)

    def case(n, d, q, lam):
        X = torch.randn(n, d, generator=g, dtype=torch.float64)
        Y = torch.randn(n, q, generator=g, dtype=torch.float64)

        def run(f):
            want = torch.empty(n, q, dtype=torch.float64)
            A = lambda Xs: Xs.T @ Xs + lam * torch.eye(d, dtype=torch.float64)
            full = X @ torch.linalg.solve(A(X), X.T @ Y)
            for i in range(n):  # n refits: the brute-force reference
                keep = torch.arange(n) != i
                want[i] = full[i] - X[i] @ torch.linalg.solve(A(X[keep]), X[keep].T @ Y[keep])
            _close(f(X.clone(), Y.clone(), lam), want, f"n={n}, d={d}, lam={lam}", atol=1e-8)
        return run

    return _report("loo_change", fn, [case(12, 3, 1, 0.5), case(40, 10, 5, 1.0),
                                      case(30, 40, 2, 2.0)])


# --- chapter 10 checks ---
def embedding_spectrum(fn) -> bool:
    """``fn(E)`` returns, for an embedding E of shape (p, d) (row t: token t), the share of its
    power at each frequency s = 0 .. p//2: |rfft of each column along the tokens|^2, summed over
    the d columns, divided by the total (the shares sum to 1)."""
    g = torch.Generator().manual_seed(9)
    def want(E):
        power = torch.fft.rfft(E, dim=0).abs().square().sum(1)
        return power / power.sum()
    def random_case(p, d):
        E = torch.randn(p, d, generator=g, dtype=torch.float64) * torch.rand(d, generator=g, dtype=torch.float64)
        return lambda f: _close(f(E.clone()), want(E), f"random E of shape ({p}, {d})", atol=1e-9)
    t = torch.arange(31, dtype=torch.float64)[:, None]
    cosines = torch.cos(2 * torch.pi * 5 * t / 31 + torch.linspace(0, 3, 8, dtype=torch.float64))
    one = torch.zeros(16, dtype=torch.float64)
    one[5] = 1.0
    flat = torch.zeros(16, dtype=torch.float64)
    flat[0] = 1.0
    cases = [lambda f: _close(f(cosines.clone()), one, "8 cosines of frequency 5, p = 31", atol=1e-9),
             lambda f: _close(f(torch.ones(31, 4, dtype=torch.float64) * torch.arange(1.0, 5.0, dtype=torch.float64)),
                              flat, "every token embedded alike (all power at frequency 0)", atol=1e-9)]
    cases += [random_case(p, d) for p, d in ((7, 3), (8, 5), (53, 64))]
    return _report("embedding_spectrum", fn, cases)


# --- experiments: the student runs one, the check measures it again and tests a claim ---
def _report_experiment(name: str, experiment, claim: str, cases) -> bool:
    """Call ``experiment()`` once and run ``cases`` (callables taking what it returned, each
    raising AssertionError on a mismatch) as ``_report`` does.  ``claim`` is printed first, so
    a failure reads against what was claimed."""
    if not callable(experiment):
        raise TypeError(f"{name}: pass your experiment function itself (not its result), got "
                        f"{type(experiment).__name__}")
    try:
        result = experiment()
    except NotImplementedError:
        print(f"{name}: not attempted yet\n(your experiment raises NotImplementedError)")
        return False
    print(f"{name}: the claim: {claim}")
    return _report(name, result, cases)


_METRICS = ("train_acc", "test_acc", "corrupt_acc", "corrupt_true_acc", "clean_acc")


def _remeasured(result):
    """The runs of a ``gb.train`` result with their final accuracies measured again from the
    networks it returned, on splits made again from each run's own settings, and each run's
    mean neuron IPR.  Fails if the result's data is not the task's split for those settings, or
    if ``result.runs`` states other accuracies than the networks give."""
    import numpy as np

    from ...engine.data import make_splits
    from ...engine.fourier import model_ipr
    from ...engine.train import SweepResult, evaluate

    assert isinstance(result, SweepResult), (
        f"return what gb.train returns (a SweepResult), got {type(result).__name__}")
    assert result.model is not None, ("the result kept no networks (keep_model=False): the check "
                                      "measures them again, so train with keep_model=True")
    runs, c = result.runs, result.config
    data = make_splits(c.p, c.op, runs.alpha.tolist(), runs.xi.tolist(), runs.data_seed.tolist(),
                       runs.subset.tolist(), runs.subset_seed.tolist())
    same = (torch.equal(data.train, result.data.train) and torch.equal(data.labels, result.data.labels))
    assert same, "result.data is not the task's split and corruption for the runs' settings"
    with torch.no_grad():
        measured = evaluate(result.model, data, loss=c.loss)
    table = runs[["run", "alpha", "xi", "wd", "lr", "data_seed", "model_seed"]].copy()
    last = result.history[result.history.step == result.history.step.max()].set_index("run")
    for name in _METRICS:
        got = measured[name].double().numpy()
        for where, stated in (("result.runs", runs[name]), ("result.history's last step",
                                                             last[name].reindex(runs.run))):
            stated = stated.to_numpy(dtype=float)
            assert np.allclose(got, stated, atol=1e-6, equal_nan=True), (
                f"{name} in {where} is not what the networks give: {np.round(stated, 4).tolist()} "
                f"stated, {np.round(got, 4).tolist()} measured")
        table[name] = got
    table["mean_ipr"] = model_ipr(result.model).mean(1).double().numpy()
    return table


def _settings(table, **fixed):
    """Assert that every run has the ``fixed`` settings (name=value or name=predicate)."""
    for name, want in fixed.items():
        values = sorted(float(v) for v in set(table[name].round(6)))
        ok = all(want(v) for v in values) if callable(want) else values == [round(float(want), 6)]
        asked = want.__doc__ if callable(want) else f"{name} = {float(want):g} for every run"
        assert ok, f"the runs' {name}: {values}; the exercise asks for {asked}"


def corruption_spread(experiment, p: int, n_train: int, xi: float) -> bool:
    """Chapter 1's experiment.  ``experiment()`` returns a dict of two 1-D arrays of the number
    of *changed* labels (given label != truth) among ``n_train`` training labels, each over at
    least 200 seeds: ``"exact"``, with round(xi n_train) labels redrawn as grokbook does, and
    ``"independent"``, with every label redrawn on its own with probability xi.

    The claim: the exact count's mean and spread are those of n_c - Binomial(n_c, 1/p); the
    independent count's are those of Binomial(n_train, xi (1 - 1/p)), a spread several times
    wider (at least 3 times here)."""
    import math

    n_c = round(xi * n_train)
    q = xi * (1 - 1 / p)
    theory = {"exact": (n_c * (1 - 1 / p), math.sqrt(n_c * (1 / p) * (1 - 1 / p))),
              "independent": (n_train * q, math.sqrt(n_train * q * (1 - q)))}
    claim = (f"with {n_train} training labels at p = {p}, xi = {xi}: exactly {n_c} redrawn gives "
             f"{theory['exact'][0]:.1f} ± {theory['exact'][1]:.2f} changed labels; each redrawn "
             f"with probability xi gives {theory['independent'][0]:.1f} ± "
             f"{theory['independent'][1]:.2f}, at least 3 times the spread")

    def counts(out, key):
        assert isinstance(out, dict) and key in out, f'return a dict with keys "exact" and "independent"'
        c = torch.as_tensor(out[key], dtype=torch.float64).reshape(-1)
        assert len(c) >= 200, f"{key}: {len(c)} seeds; the exercise asks for at least 200"
        assert ((c >= 0) & (c <= n_train) & (c == c.round())).all(), (
            f"{key}: counts must be whole numbers in [0, {n_train}]")
        return c

    def matches_theory(key):
        def case(out):
            c = counts(out, key)
            mean, sd = theory[key]
            se = sd / math.sqrt(len(c))
            assert abs(c.mean().item() - mean) < 4 * se + 1e-9, (
                f"{key}: mean {c.mean().item():.2f}, expected {mean:.2f} (4 standard errors: {4 * se:.2f})")
            assert abs(c.std().item() / sd - 1) < 0.25, (
                f"{key}: standard deviation {c.std().item():.2f}, expected {sd:.2f} (within 25%)")
        return case

    def wider(out):
        ratio = counts(out, "independent").std().item() / counts(out, "exact").std().item()
        print(f"corruption_spread: spread independent / exact = {ratio:.1f} "
              f"(theory {theory['independent'][1] / theory['exact'][1]:.1f})")
        assert ratio >= 3, f"the independent count's spread is only {ratio:.2f} times the exact one's"

    return _report_experiment("corruption_spread", experiment, claim,
                              [matches_theory("exact"), matches_theory("independent"), wider])


def more_data_shorter_delay(experiment) -> bool:
    """Chapter 2's experiment.  ``experiment()`` returns the result of one ``gb.train`` call:
    clean runs (xi 0) at one weight decay > 0 and at least three training fractions alpha.

    The claim: every run fits and then generalizes (train and test accuracy at least 99%), and
    the grokking delay (``gb.grokking_steps``) shrinks as alpha grows: it never grows from one
    alpha to the next, and at the largest alpha it is at most a third of the smallest alpha's."""
    from ...analysis.history import grokking_steps

    claim = "more training data, shorter grokking delay (at the largest alpha at most 1/3 of the smallest's)"

    def settings(result):
        table = _remeasured(result)
        assert table.alpha.nunique() >= 3, f"train at least three alphas, got {sorted(table.alpha.unique())}"
        assert table.alpha.nunique() == len(table), "one run per alpha (one seed)"

        def positive(v):
            """one weight decay > 0"""
            return v > 0
        _settings(table, xi=0.0, wd=positive)
        assert table.wd.nunique() == 1, f"one weight decay for every run, got {sorted(table.wd.unique())}"
        bad = table[(table.train_acc < 0.99) | (table.test_acc < 0.99)]
        assert bad.empty, (f"every run should reach 99% train and test accuracy; alpha "
                           f"{bad.alpha.tolist()} ended at test {bad.test_acc.round(3).tolist()}")

    def shrinks(result):
        steps = grokking_steps(result.history).join(result.runs.set_index("run").alpha)
        delays = steps.sort_values("alpha").set_index("alpha").delay
        print("more_data_shorter_delay: delay by alpha: "
              + ", ".join(f"{a:g}: {d:.0f}" for a, d in delays.items()))
        assert (delays.diff().dropna() <= 0).all(), f"the delay grows somewhere: {delays.to_dict()}"
        assert delays.iloc[-1] <= delays.iloc[0] / 3, (
            f"at the largest alpha the delay is {delays.iloc[-1]:.0f} steps, more than a third of "
            f"{delays.iloc[0]:.0f} at the smallest")

    return _report_experiment("more_data_shorter_delay", experiment, claim, [settings, shrinks])


def fourier_without_weight_decay(experiment) -> bool:
    """Chapter 3's experiment.  ``experiment()`` returns the result of one ``gb.train`` call:
    clean runs (xi 0) at one alpha, with at least one run without weight decay and one with.

    The claim: the network generalizes with or without weight decay (test accuracy at least
    99%), but only weight decay makes (almost) every neuron one Fourier mode: the 5th percentile
    of the neurons' IPR is above 0.9 in every run with weight decay and below 0.6 in every run
    without, whose mean IPR is lower by at least 0.1."""
    from ...engine.fourier import model_ipr

    claim = ("without weight decay the network still generalizes, but not every neuron becomes "
             "a Fourier mode: 5th-percentile IPR < 0.6 without, > 0.9 with weight decay")

    def settings(result):
        table = _remeasured(result)
        _settings(table, xi=0.0)
        assert table.alpha.nunique() == 1, f"one alpha for every run, got {sorted(table.alpha.unique())}"
        assert (table.wd == 0).any() and (table.wd > 0).any(), (
            f"train with and without weight decay, got wd {sorted(table.wd.unique())}")
        bad = table[table.test_acc < 0.99]
        assert bad.empty, f"runs at wd {bad.wd.tolist()} ended at test accuracy {bad.test_acc.round(3).tolist()} < 0.99"

    def fourier(result):
        table = _remeasured(result)
        q05 = model_ipr(result.model).double().quantile(0.05, dim=1).numpy()
        for r, wd, low, mean in zip(table.run, table.wd, q05, table.mean_ipr):
            print(f"fourier_without_weight_decay: run {r}, wd {wd:g}: 5th-percentile IPR {low:.3f}, mean {mean:.3f}")
        decayed = (table.wd > 0).to_numpy()
        assert (q05[decayed] > 0.9).all(), f"with weight decay, 5th-percentile IPR {q05[decayed].round(3).tolist()}: not all > 0.9"
        assert (q05[~decayed] < 0.6).all(), f"without weight decay, 5th-percentile IPR {q05[~decayed].round(3).tolist()}: not all < 0.6"
        gap = table.mean_ipr[decayed].min() - table.mean_ipr[~decayed].max()
        assert gap >= 0.1, f"mean IPR with weight decay exceeds the one without by only {gap:.3f}"

    return _report_experiment("fourier_without_weight_decay", experiment, claim, [settings, fourier])


def more_corruption_memorization(experiment, low: float = 0.3) -> bool:
    """Chapter 4's experiment.  ``experiment()`` returns the result of one ``gb.train`` call:
    runs without weight decay at one alpha and at least two corruptions xi, one below 0.5 and
    one of at least 0.5.

    The claim: the network keeps memorizing the changed labels however many there are (at least
    90% of them fitted in every run, 99% at xi >= 0.5), but from xi 0.5 on it stops
    generalizing (test accuracy below 10%: Memorization), and the number of low-IPR neurons (IPR
    below ``low``) grows with xi: it never falls from one xi to the next, and is larger at the
    largest xi than at the smallest."""
    from ...engine.fourier import model_ipr

    claim = ("more changed labels: all still memorized, test accuracy at chance from xi 0.5 on, "
             f"and more neurons with IPR < {low}")

    def settings(result):
        table = _remeasured(result)
        _settings(table, wd=0.0)
        assert table.alpha.nunique() == 1, f"one alpha for every run, got {sorted(table.alpha.unique())}"
        assert (table.xi < 0.5).any() and (table.xi >= 0.5).any(), (
            f"train at a xi below 0.5 and one of at least 0.5, got {sorted(table.xi.unique())}")

    def memorizes(result):
        table = _remeasured(result).sort_values("xi")
        for r in table.itertuples():
            print(f"more_corruption_memorization: xi {r.xi:g}: changed labels fitted {r.corrupt_acc:.3f}, "
                  f"test accuracy {r.test_acc:.3f}")
        assert (table.corrupt_acc >= 0.9).all(), f"changed labels fitted: {table.corrupt_acc.round(3).tolist()}"
        high = table[table.xi >= 0.5]
        assert (high.corrupt_acc >= 0.99).all(), f"at xi >= 0.5, changed labels fitted: {high.corrupt_acc.round(3).tolist()}"
        assert (high.test_acc < 0.1).all(), f"at xi >= 0.5, test accuracy {high.test_acc.round(3).tolist()}: not all < 0.1"

    def more_neurons(result):
        table = _remeasured(result)
        table["n_low"] = (model_ipr(result.model) < low).sum(1).numpy()
        n_low = table.groupby("xi").n_low.mean()
        print(f"more_corruption_memorization: neurons with IPR < {low} by xi: "
              + ", ".join(f"{x:g}: {n:.0f}" for x, n in n_low.items()))
        assert (n_low.diff().dropna() >= 0).all(), f"the count falls somewhere: {n_low.to_dict()}"
        assert n_low.iloc[-1] > n_low.iloc[0], f"no more low-IPR neurons at xi {n_low.index[-1]:g} than at {n_low.index[0]:g}"

    return _report_experiment("more_corruption_memorization", experiment, claim,
                              [settings, memorizes, more_neurons])


def full_inversion_line(experiment) -> bool:
    """Chapter 6's experiment.  ``experiment()`` returns the result of one ``gb.train`` call: a
    line of cells at one alpha and one weight decay (the chapter's Full Inversion value), with
    at least four corruptions xi in (0, 0.3].

    The claim: along the whole line the network is fully inverted: it answers at least 95% of
    the changed training pairs with their true label, its test accuracy is at least 99%, and
    its training accuracy sits at the Full Inversion level 1 - xi (1 - 1/p), within 0.02."""
    claim = "at the Full Inversion weight decay every xi up to 0.3 inverts: train accuracy 1 - xi (1 - 1/p)"

    def settings(result):
        table = _remeasured(result)

        def line(v):
            """xi in (0, 0.3]"""
            return 0 < v <= 0.3
        _settings(table, xi=line)
        assert table.xi.nunique() >= 4, f"train at least four xi, got {sorted(table.xi.unique())}"
        assert table.alpha.nunique() == 1 and table.wd.nunique() == 1, "one alpha and one weight decay"

    def inverted(result):
        table = _remeasured(result).sort_values("xi")
        level = 1 - table.xi * (1 - 1 / result.config.p)
        for r, fi in zip(table.itertuples(), level):
            print(f"full_inversion_line: xi {r.xi:g}: train accuracy {r.train_acc:.4f} (level {fi:.4f}), "
                  f"changed pairs answered truly {r.corrupt_true_acc:.3f}, test {r.test_acc:.4f}")
        assert (table.corrupt_true_acc >= 0.95).all(), (
            f"changed pairs answered with the true label: {table.corrupt_true_acc.round(3).tolist()}")
        assert (table.test_acc >= 0.99).all(), f"test accuracy: {table.test_acc.round(4).tolist()}"
        off = (table.train_acc - level).abs()
        assert (off <= 0.02).all(), f"train accuracy off the Full Inversion level by {off.round(4).tolist()}"

    return _report_experiment("full_inversion_line", experiment, claim, [settings, inverted])


def inversion_grows_with_weight_decay(experiment, partial_wd: float, full_wd: float) -> bool:
    """Chapter 7's experiment.  ``experiment()`` returns the result of one ``gb.train`` call:
    runs at one alpha and xi > 0 with at least four weight decays from the chapter's Partial
    Inversion value ``partial_wd`` to its Full Inversion value ``full_wd`` (both included).

    The claim: stage 2 goes further the larger the weight decay.  The fraction of changed
    training pairs answered with their true label never falls by more than 0.03 from one weight
    decay to the next (near 1 it wavers by a pair or two); it is below 0.9 at ``partial_wd`` (part of the changed labels stay
    memorized) and at least 0.95 at ``full_wd``; every run generalizes (test accuracy >= 95%)."""
    claim = (f"from wd {partial_wd:g} to {full_wd:g} the changed pairs answered truly grow from "
             "below 0.9 to at least 0.95, never falling on the way")

    def settings(result):
        table = _remeasured(result)

        def between(v):
            """weight decays from partial_wd to full_wd"""
            return partial_wd - 1e-6 <= v <= full_wd + 1e-6
        _settings(table, wd=between)
        wds = sorted(table.wd.unique())
        assert len(wds) >= 4, f"train at least four weight decays, got {wds}"
        assert abs(wds[0] - partial_wd) < 1e-6 and abs(wds[-1] - full_wd) < 1e-6, (
            f"include both ends, {partial_wd:g} and {full_wd:g}; got {wds}")
        assert table.alpha.nunique() == 1 and table.xi.nunique() == 1 and (table.xi > 0).all(), (
            "one alpha and one xi > 0 for every run")

    def grows(result):
        table = _remeasured(result)
        truly = table.groupby("wd").corrupt_true_acc.mean()
        print("inversion_grows_with_weight_decay: changed pairs answered truly by wd: "
              + ", ".join(f"{wd:g}: {a:.3f}" for wd, a in truly.items()))
        assert (table.test_acc >= 0.95).all(), f"test accuracy: {table.test_acc.round(3).tolist()}"
        assert (truly.diff().dropna() >= -0.03).all(), f"it falls somewhere: {truly.round(3).to_dict()}"
        assert truly.iloc[0] < 0.9, f"at wd {truly.index[0]:g} already {truly.iloc[0]:.3f} (not Partial Inversion)"
        assert truly.iloc[-1] >= 0.95, f"at wd {truly.index[-1]:g} only {truly.iloc[-1]:.3f} (not Full Inversion)"

    return _report_experiment("inversion_grows_with_weight_decay", experiment, claim, [settings, grows])


def transformer_neuron_ipr(fn) -> bool:
    """``fn(pre, out)`` returns the (N,) IPR of N transformer MLP neurons from their
    pre-activations ``pre`` of shape (p, p, N) (pair (m, n), neuron k) and their output vectors
    ``out`` of shape (N, p): the mean of three IPRs (``grokbook.ipr_of_vectors``), of
    f(m) = mean over n of pre[m, n, k], of g(n) = mean over m of pre[m, n, k], and of out[k]."""
    from ...engine.fourier import ipr_of_vectors

    g = torch.Generator().manual_seed(19)

    def want(pre, out):
        return (ipr_of_vectors(pre.mean(1).T) + ipr_of_vectors(pre.mean(0).T) + ipr_of_vectors(out)) / 3

    def random_case(p, N):
        pre = torch.randn(p, p, N, generator=g, dtype=torch.float64)
        out = torch.randn(N, p, generator=g, dtype=torch.float64)
        return lambda f: _close(f(pre.clone(), out.clone()), want(pre, out), f"random, p={p}, N={N}", atol=1e-9)

    def cosine_case(f):  # pre[m, n, k] = cos(w_k m) + cos(w_k n + phi) + a product term of mean 0
        p, N = 31, 5
        t = torch.arange(p, dtype=torch.float64)
        freq = torch.arange(1, N + 1, dtype=torch.float64)
        c = lambda x, phi=0.0: torch.cos(2 * torch.pi * freq * x[:, None] / p + phi)  # (p, N)
        pre = c(t)[:, None, :] + c(t, 1.0)[None, :, :] + c(t)[:, None, :] * c(t, 2.0)[None, :, :]
        _close(f(pre.clone(), c(t, 0.5).T.clone()), torch.ones(N, dtype=torch.float64),
               "pure cosines in m, in n and out (and a product of two, mean 0 over either token)", atol=1e-9)

    cases = [cosine_case] + [random_case(p, N) for p, N in ((7, 3), (31, 16), (53, 40))]
    return _report("transformer_neuron_ipr", fn, cases)


def _frame(out, columns, what):
    """``out`` as a DataFrame with at least ``columns`` (assertion messages name them)."""
    import pandas as pd

    assert isinstance(out, pd.DataFrame), f"return a pandas DataFrame ({what}), got {type(out).__name__}"
    missing = [c for c in columns if c not in out.columns]
    assert not missing, f"the DataFrame lacks the column(s) {missing} ({what})"
    return out.reset_index(drop=True)


def pruning_by_norm(experiment, result, run: int = 0) -> bool:
    """Chapter 5's experiment.  ``experiment()`` prunes the network ``run`` of ``result`` (the
    chapter's ``gb.train`` result, without weight decay) lowest weight norm first, the norm of
    neuron k being ||U_k||^2 + ||V_k||^2 + ||W_:k||^2, at five or more fractions including 0.5,
    and returns a DataFrame with one row per fraction: ``fraction``, ``corrupt_acc``,
    ``clean_acc``, ``test_acc`` (``gb.evaluate`` with a ``neuron_mask``).

    The claim: magnitude finds the memorizing neurons too.  With half the neurons pruned at
    most 30% of the changed labels are still fitted while at least 95% of the clean training
    labels are, and pruning by IPR (lowest first) removes the changed labels at least as fast:
    at every fraction at most 0.02 more of them stay fitted than after pruning by norm."""
    import numpy as np

    from ...engine.fourier import model_ipr
    from ...analysis.prune import prune_masks
    from ...engine.train import evaluate

    claim = ("pruning the smallest-norm neurons also removes the memorized labels (at half the "
             "neurons, <= 30% still fitted, clean >= 95%), and pruning by IPR removes them at least as fast")
    model = result.model
    norm = (model.U.detach().square().sum(-1) + model.V.detach().square().sum(-1)
            + model.W.detach().square().sum(-2))[run]
    ipr = model_ipr(model)[run]
    columns = ("fraction", "corrupt_acc", "clean_acc", "test_acc")

    def measure(fractions, score):
        masks = torch.ones(len(fractions), model.K, norm.shape[0], dtype=model.U.dtype)
        masks[:, run] = prune_masks(score, fractions, "low").to(model.U.dtype)
        with torch.no_grad():
            rows = [evaluate(model, result.data, neuron_mask=mask) for mask in masks]
        return {c: np.array([r[c][run].item() for r in rows]) for c in columns[1:]}

    def yours(out):
        out = _frame(out, columns, "one row per fraction")
        fractions = out.fraction.to_numpy(dtype=float)
        assert len(set(fractions.round(6))) >= 5 and any(abs(fractions - 0.5) < 1e-9), (
            f"prune at five or more fractions including 0.5, got {fractions.round(3).tolist()}")
        want = measure(fractions.tolist(), norm)
        for c in columns[1:]:
            assert np.allclose(out[c].to_numpy(dtype=float), want[c], atol=1e-6), (
                f"{c}: yours {out[c].round(4).tolist()}, the network pruned lowest norm first "
                f"gives {want[c].round(4).tolist()}")

    def magnitude_finds_them(out):
        out = _frame(out, columns, "one row per fraction")
        half = out[(out.fraction - 0.5).abs() < 1e-9].iloc[0]
        print(f"pruning_by_norm: half the neurons pruned lowest norm first: changed labels fitted "
              f"{half.corrupt_acc:.3f}, clean {half.clean_acc:.3f}, test {half.test_acc:.3f}")
        assert half.corrupt_acc <= 0.3, f"{half.corrupt_acc:.3f} of the changed labels still fitted"
        assert half.clean_acc >= 0.95, f"only {half.clean_acc:.3f} of the clean labels still fitted"

    def ipr_first(out):
        out = _frame(out, columns, "one row per fraction")
        by_ipr = measure(out.fraction.astype(float).tolist(), ipr)["corrupt_acc"]
        by_norm = out.corrupt_acc.to_numpy(dtype=float)
        print("pruning_by_norm: changed labels fitted by fraction (IPR | norm): " + ", ".join(
            f"{f:g}: {a:.3f} | {b:.3f}" for f, a, b in zip(out.fraction, by_ipr, by_norm)))
        worse = by_ipr - by_norm
        assert (worse <= 0.02).all(), f"by IPR, more changed labels stay at fractions {out.fraction[worse > 0.02].tolist()}"

    return _report_experiment("pruning_by_norm", experiment, claim, [yours, magnitude_finds_them, ipr_first])


def margin_score(experiment, full) -> bool:
    """Chapter 8's experiment.  ``experiment()`` scores every training pair of each network of
    ``full`` (the chapter's networks trained on all the data) by minus its margin: the largest
    output at another label minus the output at the given label.  It returns a DataFrame with
    one row per network: ``run`` and ``auc``, the ROC AUC of the score for the changed pairs
    against the clean training pairs (``grokbook.memorization.roc_auc``).

    The claim: one network's margin finds the changed labels in every phase (AUC at least
    0.98), Coexistence, where they are fitted, included."""
    import numpy as np

    from ...analysis.memorization import roc_auc

    claim = "one trained network's margin ranks the changed pairs above the clean ones in every phase (AUC >= 0.98)"
    with torch.no_grad():
        out = full.model().double()  # (K, p*p, p)
    data = full.data
    labels = data.labels
    at_label = out.gather(2, labels[..., None]).squeeze(2)
    others = out.scatter(2, labels[..., None], -float("inf")).amax(2)
    score = others - at_label
    want = np.array([roc_auc(score[k][data.train[k]].numpy(), data.changed[k][data.train[k]].numpy())
                     for k in range(len(full.runs))])

    def yours(res):
        res = _frame(res, ("run", "auc"), "one row per network of full").sort_values("run")
        assert res.run.tolist() == list(range(len(full.runs))), (
            f"one row per network of full, runs 0 .. {len(full.runs) - 1}; got {res.run.tolist()}")
        got = res.auc.to_numpy(dtype=float)
        assert np.allclose(got, want, atol=1e-6), (
            f"AUC: yours {got.round(4).tolist()}, the networks' margins give {want.round(4).tolist()}")

    def every_phase(res):
        for r, auc in zip(full.runs.itertuples(), want):
            print(f"margin_score: wd {r.wd:g}, seed {r.data_seed} ({r.phase}): AUC {auc:.4f}")
        assert (want >= 0.98).all(), f"AUC below 0.98 in runs {np.flatnonzero(want < 0.98).tolist()}"

    return _report_experiment("margin_score", experiment, claim, [yours, every_phase])


def pruning_against_random(experiment, result, runs, fraction: float = 0.2) -> bool:
    """Chapter 10's experiment.  ``experiment()`` prunes a ``fraction`` of the MLP neurons of each
    transformer in ``runs`` (run numbers of ``result``, the chapter's runs with the smaller weight
    decay) twice, lowest IPR first and in random order (``gb.prune_curve`` with ``order="low"``
    and ``order="random"``, its default seed), and returns a DataFrame with one row per run and
    order: ``run``, ``order``, ``corrupt_acc``, ``test_acc``.

    The claim: the IPR finds the memorizing neurons better than chance.  In every run, pruning
    lowest IPR first leaves at most as many changed labels fitted as random pruning, and keeps
    the test accuracy higher by at least 0.1."""
    import numpy as np

    from ...analysis.prune import prune_curve

    runs = [int(r) for r in runs]
    claim = (f"pruning {fraction:.0%} of the neurons lowest IPR first removes at least as many memorized "
             "labels as random pruning, and keeps test accuracy at least 0.1 higher")
    want = {(r, o): prune_curve(result.model, result.data, r, order=o, fractions=[fraction]).iloc[0]
            for r in runs for o in ("low", "random")}

    def yours(res):
        res = _frame(res, ("run", "order", "corrupt_acc", "test_acc"), "one row per run and order")
        got = {(int(r.run), r.order): r for r in res.itertuples()}
        assert sorted(got) == sorted(want), f"rows for runs {runs} and orders low, random; got {sorted(got)}"
        for key, w in want.items():
            for c in ("corrupt_acc", "test_acc"):
                assert abs(getattr(got[key], c) - w[c]) < 1e-6, (
                    f"run {key[0]}, order {key[1]}: {c} {getattr(got[key], c):.4f}; pruning gives {w[c]:.4f}")

    def better_than_chance(res):
        for r in runs:
            low, rnd = want[r, "low"], want[r, "random"]
            print(f"pruning_against_random: run {r}: changed labels fitted {low.corrupt_acc:.3f} (low IPR) | "
                  f"{rnd.corrupt_acc:.3f} (random); test {low.test_acc:.3f} | {rnd.test_acc:.3f}")
            assert low.corrupt_acc <= rnd.corrupt_acc, f"run {r}: more changed labels stay than after random pruning"
            assert low.test_acc >= rnd.test_acc + 0.1, f"run {r}: test accuracy not 0.1 above random pruning's"

    return _report_experiment("pruning_against_random", experiment, claim, [yours, better_than_chance])


# --- chapter 9: capacity, the speed of memorization and forgetting ---
def forgetting_step(fn) -> bool:
    """``fn(known)``: ``known`` is a (T + 1, P) bool tensor, row t saying which of P pairs the
    network predicts with their given label after t steps of training on the second split.
    Return the (P,) step at which each pair is forgotten for good: one after the last step at
    which it is known; 0 if it never is, T + 1 if it still is at the end (as
    ``grokbook.memorization.second_split_forgetting`` counts)."""
    g = torch.Generator().manual_seed(21)

    def want(known):
        steps = torch.arange(known.shape[0])[:, None].expand_as(known)
        return torch.where(known, steps, -1).amax(0) + 1

    def case(known, what):
        def run(f):
            got = torch.as_tensor(f(known.clone()))
            w = want(known)
            assert got.shape == w.shape, f"{what}: shape {tuple(got.shape)}, expected {tuple(w.shape)}"
            bad = (got.double() != w.double()).nonzero().reshape(-1)
            assert len(bad) == 0, (f"{what}: pair {bad[0].item()} (known at steps "
                                   f"{known[:, bad[0]].nonzero().reshape(-1).tolist()}): "
                                   f"{got[bad[0]].item():g}, expected {w[bad[0]].item()}")
        return run

    hand = torch.tensor([[1, 0, 1, 1, 0, 0],   # step 0
                         [1, 0, 0, 1, 0, 0],
                         [1, 0, 1, 1, 0, 0],
                         [1, 0, 1, 0, 0, 0],
                         [1, 0, 0, 0, 0, 0],
                         [1, 0, 0, 0, 0, 1]], dtype=torch.bool).T.contiguous()  # (6 steps, 6 pairs)
    cases = [case(hand, "six pairs by hand: always known, never known, forgotten twice ...")]
    for T, P in ((10, 20), (200, 500), (800, 1000)):
        gone = torch.randint(0, T + 2, (P,), generator=g)  # forgotten for good at this step
        steps = torch.arange(T + 1)[:, None]
        flicker = torch.rand(T + 1, P, generator=g) < 0.15  # lost for a step, then back
        known = (steps < gone) & ~(flicker & (steps < gone - 1))
        cases.append(case(known, f"random, {T} steps, {P} pairs (some flicker before they go)"))
    return _report("forgetting_step", fn, cases)


def loss_rise_step(fn) -> bool:
    """``fn(steps, test_loss, factor)``: when the test loss starts to rise.  Walk along the curve
    keeping its lowest value so far; at the first point where the loss is more than ``factor``
    times that lowest value, return the step *of the lowest value*; None (or NaN) if that never
    happens (``grokbook.capacity.rise_step``)."""
    import numpy as np

    from ...store.capacity import rise_step

    def case(steps, loss, factor, what):
        steps, loss = np.asarray(steps), np.asarray(loss, dtype=float)

        def run(f):
            _same_step(f(steps.copy(), loss.copy(), factor), rise_step(steps, loss, factor), what)
        return run

    g = np.random.default_rng(22)
    cases = [
        case([0, 1, 2, 3, 4, 5], [1.0, 0.8, 0.6, 0.7, 0.9, 1.2], 1.05, "down, then up"),
        case([0, 1, 2, 3], [1.0, 0.5, 0.8, 0.3], 1.05,
             "a rise, then a lower minimum later (the rise already started)"),
        case([0, 10, 20, 30], [1.0, 0.5, 0.52, 0.3], 1.05, "a bump smaller than the factor"),
        case([0, 1, 2, 3, 4], [1.0, 1.2, 1.5, 0.4, 0.2], 1.05, "rising from the first step"),
        case([0, 1, 2, 3, 4], [1.0, 0.9, 0.8, 0.7, 0.6], 1.05, "only falling: never"),
        case([0, 3, 7, 50, 400], [2.0, 1.0, 1.05, 1.2, 3.0], 1.1, "unevenly spaced steps"),
    ]
    for _ in range(3):
        n = int(g.integers(30, 300))
        steps = np.cumsum(g.integers(1, 20, n)) - 1
        trend = np.exp(-np.arange(n) / g.uniform(5, 40)) + np.arange(n) * g.uniform(0, 0.01)
        loss = trend * np.exp(g.normal(0, 0.02, n))
        cases.append(case(steps, loss, float(g.uniform(1.02, 1.2)), "a noisy curve"))
    return _report("loss_rise_step", fn, cases)


def memorizing_width(fn) -> bool:
    """``fn(table, level)``: ``table`` has one row per run of a width sweep, with columns
    ``width``, ``wd``, ``seed`` and ``corrupt_acc`` (the fraction of its changed labels a run
    fits).  Return a dict {weight decay: the smallest width at which *every* seed fits at least
    ``level`` of its changed labels}, None for a weight decay where no width does."""
    import numpy as np
    import pandas as pd

    def want(table, level):
        out = {}
        for wd, rows in table.groupby("wd"):
            every = rows.groupby("width").corrupt_acc.min()
            hit = every[every >= level]
            out[float(wd)] = int(hit.index.min()) if len(hit) else None
        return out

    def case(table, level, what):
        def run(f):
            got = f(table.copy(), level)
            w = want(table, level)
            assert isinstance(got, dict), f"{what}: return a dict, got {type(got).__name__}"
            got = {float(k): v for k, v in got.items()}
            assert sorted(got) == sorted(w), f"{what}: keys {sorted(got)}, expected the weight decays {sorted(w)}"
            for wd, width in w.items():
                if width is None:
                    assert _never(got[wd]), f"{what}: wd {wd:g}: got {got[wd]!r}, expected None (no width does)"
                else:
                    assert not _never(got[wd]) and float(got[wd]) == width, (
                        f"{what}: wd {wd:g}: got {got[wd]!r}, expected width {width}")
        return run

    g = np.random.default_rng(23)

    def table(widths, wds, seeds, shuffle=True):
        rows = []
        for wd in wds:
            middle = g.uniform(np.log(widths[0]), np.log(widths[-1]) + 1)
            for width in widths:
                for seed in range(seeds):
                    acc = 1 / (1 + np.exp(-3 * (np.log(width) - middle))) + g.normal(0, 0.08)
                    rows.append(dict(width=width, wd=wd, seed=seed, corrupt_acc=float(np.clip(acc, 0, 1))))
        frame = pd.DataFrame(rows)
        return frame.sample(frac=1, random_state=int(g.integers(1000))) if shuffle else frame

    hand = pd.DataFrame(dict(width=[50, 50, 100, 100, 200, 200] * 2, wd=[0.0] * 6 + [5.5] * 6,
                             seed=[0, 1] * 6, corrupt_acc=[0.0, 0.1, 0.95, 0.8, 0.97, 1.0,
                                                           0.0, 0.0, 0.2, 0.1, 0.5, 0.6]))
    cases = [case(hand, 0.9, "a small table by hand (one seed short at N = 100)")]
    widths = [25, 50, 100, 150, 200, 300, 400, 800]
    for level in (0.5, 0.9):
        cases.append(case(table(widths, [0.0, 5.5], 3), level, f"a random sweep, level {level}"))
    cases.append(case(table([10, 20, 40, 80], [0.0, 1.0, 2.0], 4), 0.7, "four widths, three weight decays"))
    return _report("memorizing_width", fn, cases)


def forgetting_without_weight_decay(experiment, full, second, runs, steps: int) -> bool:
    """Chapter 9's experiment.  ``experiment()`` runs second-split forgetting
    (``grokbook.memorization.second_split_forgetting``) on the networks ``runs`` (row numbers of
    ``full``, the chapter's networks trained on all their data): trained on their second split
    ``second`` (K, P) only, for ``steps`` steps at each run's learning rate but with weight decay
    0.  It returns a DataFrame with one row per run: ``run``; ``auc``, the ROC AUC of minus the
    forgetting step for the changed pairs of the first half (the training pairs outside
    ``second``) against its clean pairs; ``changed_kept`` and ``clean_kept``, the fractions of the
    first half's changed and clean labels still predicted after the last step.

    The claim: forgetting is not weight decay's doing.  Without it these networks still forget
    most of their changed labels (at most 30% kept) and keep most of their clean ones (at least
    70%), and the forgetting step still finds the changed labels (AUC at least 0.85)."""
    import dataclasses

    import numpy as np
    import pandas as pd

    from ...analysis.memorization import roc_auc, second_split_forgetting

    runs = sorted(int(r) for r in runs)
    claim = ("without weight decay on the second split the networks still forget their changed labels "
             "(<= 30% kept, clean >= 70% kept, AUC >= 0.85)")
    cache = {}

    def reference():
        """The forgetting measured again (once, and only for an attempted experiment)."""
        if not cache:
            data = full.data
            sub = dataclasses.replace(data, train=data.train[runs], labels=data.labels[runs],
                                      corrupted=data.corrupted[runs])
            step = second_split_forgetting(full.model.select(runs), sub, second[runs],
                                           lr=full.runs.lr.to_numpy()[runs], wd=0.0, steps=steps)
            rows = []
            for i, k in enumerate(runs):
                first = (data.train[k] & ~second[k]).numpy()
                changed = data.changed[k].numpy()[first]
                s = step[i].numpy()[first].astype(float)
                rows.append(dict(run=k, auc=roc_auc(-s, changed), changed_kept=(s[changed] > steps).mean(),
                                 clean_kept=(s[~changed] > steps).mean()))
            cache["want"] = pd.DataFrame(rows).set_index("run")
        return cache["want"]

    columns = ("auc", "changed_kept", "clean_kept")

    def yours(res):
        res = _frame(res, ("run",) + columns, "one row per network")
        assert sorted(res.run.astype(int)) == runs, f"one row per network of runs {runs}; got {res.run.tolist()}"
        res = res.set_index(res.run.astype(int))
        want = reference()
        for c in columns:  # another batch of networks may differ by a pair or two
            got, w = res.loc[runs, c].to_numpy(dtype=float), want.loc[runs, c].to_numpy(dtype=float)
            assert np.allclose(got, w, atol=0.03), (
                f"{c}: yours {got.round(3).tolist()}, second-split forgetting without weight decay "
                f"gives {w.round(3).tolist()}")

    def still_forgets(res):
        want = reference()
        for k, r in want.iterrows():
            print(f"forgetting_without_weight_decay: run {k}: AUC {r.auc:.3f}, changed labels kept "
                  f"{r.changed_kept:.3f}, clean labels kept {r.clean_kept:.3f}")
        assert (want.changed_kept <= 0.3).all(), f"changed labels kept: {want.changed_kept.round(3).tolist()}"
        assert (want.clean_kept >= 0.7).all(), f"clean labels kept: {want.clean_kept.round(3).tolist()}"
        assert (want.auc >= 0.85).all(), f"AUC: {want.auc.round(3).tolist()}"

    return _report_experiment("forgetting_without_weight_decay", experiment, claim, [yours, still_forgets])
