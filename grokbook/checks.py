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
from .phases import phase as _phase


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
    """``fn(x)`` returns the IPR of every vector along the last dim of x (..., p)."""
    g = torch.Generator().manual_seed(2)
    def random_case(shape):
        x = torch.randn(*shape, generator=g, dtype=torch.float64)
        return lambda f: _close(f(x.clone()), ipr_of_vectors(x), f"random input of shape {shape}")
    i = torch.arange(31, dtype=torch.float64)
    cosine = torch.cos(2 * torch.pi * 4 * i / 31 + 0.3)
    cases = [random_case((97,)), random_case((8, 53)), random_case((3, 5, 31)),
             lambda f: _close(f(cosine), torch.tensor(1.0, dtype=torch.float64), "a pure cosine")]
    return _report("ipr", fn, cases)


def phase(fn) -> bool:
    """``fn(train_acc, test_acc, xi)`` returns the paper's phase name (see grokbook.phases)."""
    grid = [(a, b, x) for a in (0.2, 0.62, 0.7, 0.78, 0.9, 0.95) for b in (0.5, 0.9, 1.0)
            for x in (0.1, 0.35)]
    def run(f):
        for a, b, x in grid:
            want, got = _phase(a, b, x), f(a, b, x)
            assert got == want, f"train={a}, test={b}, xi={x}: {got!r}, expected {want!r}"
    return _report("phase", fn, [run])


# --- chapter 1 checks ------------------------------------------------------------------------


# --- chapter 2 checks ------------------------------------------------------------------------


# --- chapter 3 checks ------------------------------------------------------------------------
