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

from .data import task_table
from .fourier import ipr_of_vectors


def _report(name: str, fn, cases) -> bool:
    """Run ``cases`` (callables taking ``fn``, each raising AssertionError on a mismatch)."""
    try:
        for i, case in enumerate(cases):
            try:
                case(fn)
            except AssertionError as err:
                raise AssertionError(f"{name}: case {i + 1} of {len(cases)} failed: {err}") from None
    except NotImplementedError:
        print(f"{name}: not attempted yet (your function raises NotImplementedError)")
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

    from .history import first_step

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

    from .history import grokking_steps

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
    from .fourier import analytic_solution
    from .models import BatchedMLP

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
    from .data import split_and_corrupt

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
    from .train import evaluate

    class _Table(torch.nn.Module):  # a "model" that outputs one-hot predictions
        def __init__(self, pred, p):
            super().__init__()
            self.out = torch.nn.functional.one_hot(pred, p).double()[None]

        def forward(self, neuron_mask=None):
            return self.out

    def case(p, alpha, xi, g):
        from .data import Splits
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


def prune_mask(fn) -> bool:
    """``fn(ipr, fraction, order)`` returns an (N,) 0/1 mask that removes round(fraction * N)
    neurons: the lowest-IPR ones for order "low", the highest-IPR ones for "high".
    (1 keeps a neuron, 0 prunes it.)"""
    from .prune import prune_masks

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
    from .models import BatchedMLP

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

    from .phases import phase

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

    from .stats import spearman as reference

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

    from .history import stages

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

    from .memorization import feldman_scores

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

    from .memorization import roc_auc as reference

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


# --- chapter 9 checks ---
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
