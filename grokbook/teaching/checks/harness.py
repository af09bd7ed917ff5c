"""The machinery every exercise check shares, ARENA-style: ``grokbook.checks.<name>(your_fn)``.

Each check calls your function on fresh random inputs, compares it with the
package's reference implementation, and says what passed.  A stub that still
raises ``NotImplementedError`` is reported as "not attempted yet" (and the
check returns False) so that a chapter with open exercises still runs from
top to bottom; a wrong answer raises ``AssertionError`` with the first case
that failed.  An experiment check (``report_experiment``) calls the student's
experiment once, measures its result again and tests a claim on it.
"""
from __future__ import annotations

import torch

# The grader's hidden cases: 0 in a notebook (each check's fixed seeds, the cases a student sees),
# a number drawn when grading starts in the grader's process (grokbook.teaching.grading).
CASE_SALT = 0


def case_seed(seed: int) -> int:
    """The seed of a check's random cases: ``seed`` itself in a notebook, another one (fixed by
    ``CASE_SALT``) when the grader runs the check."""
    return seed if CASE_SALT == 0 else (seed * 1_000_003 + CASE_SALT) % 2 ** 62


def report(name: str, fn, cases) -> bool:
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


def report_experiment(name: str, experiment, claim: str, cases) -> bool:
    """Call ``experiment()`` once and run ``cases`` (callables taking what it returned, each
    raising AssertionError on a mismatch) as ``report`` does.  ``claim`` is printed first, so
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
    return report(name, result, cases)


def close(got, want, what, atol=1e-6, rtol=1e-5):
    """Assert that ``got`` has ``want``'s shape and values (``torch.allclose``); ``what`` names the case."""
    got = torch.as_tensor(got, dtype=torch.float64)
    want = torch.as_tensor(want, dtype=torch.float64)
    assert got.shape == want.shape, f"{what}: shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    assert torch.allclose(got, want, atol=atol, rtol=rtol), (
        f"{what}: max difference {(got - want).abs().max().item():.3g}")


def never(x) -> bool:
    """A 'never reached' answer: None or NaN."""
    return x is None or (isinstance(x, float) and x != x) or (
        hasattr(x, "item") and getattr(x, "ndim", 1) == 0 and x.item() != x.item())


def same_step(got, want, what):
    """Assert that ``got`` is the step ``want``, or a 'never' (``never``) where ``want`` is NaN."""
    if want != want:  # NaN: never reached
        assert never(got), f"{what}: got {got!r}, expected None or NaN (never reached)"
        return
    assert not never(got), f"{what}: got {got!r} (never), expected step {want:g}"
    got = float(got)
    assert got == want, f"{what}: got {got:g}, expected {want:g}"


_METRICS = ("train_acc", "test_acc", "corrupt_acc", "corrupt_true_acc", "clean_acc")


def remeasured(result):
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


def assert_settings(table, **fixed):
    """Assert that every run has the ``fixed`` settings (name=value or name=predicate)."""
    for name, want in fixed.items():
        values = sorted(float(v) for v in set(table[name].round(6)))
        ok = all(want(v) for v in values) if callable(want) else values == [round(float(want), 6)]
        asked = want.__doc__ if callable(want) else f"{name} = {float(want):g} for every run"
        assert ok, f"the runs' {name}: {values}; the exercise asks for {asked}"


def as_frame(out, columns, what):
    """``out`` as a DataFrame with at least ``columns`` (assertion messages name them)."""
    import pandas as pd

    assert isinstance(out, pd.DataFrame), f"return a pandas DataFrame ({what}), got {type(out).__name__}"
    missing = [c for c in columns if c not in out.columns]
    assert not missing, f"the DataFrame lacks the column(s) {missing} ({what})"
    return out.reset_index(drop=True)
