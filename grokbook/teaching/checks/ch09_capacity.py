"""The exercise checks of chapter 9, Capacity, the speed of memorization and forgetting
(book/09_capacity_and_forgetting.ipynb), in the order the chapter calls them."""
from __future__ import annotations

import torch

from .harness import as_frame, case_seed, never, report, report_experiment, same_step

__all__ = ["forgetting_step", "loss_rise_step", "memorizing_width", "forgetting_without_weight_decay"]


def forgetting_step(fn) -> bool:
    """``fn(known)``: ``known`` is a (T + 1, P) bool tensor, row t saying which of P pairs the
    network predicts with their given label after t steps of training on the second split.
    Return the (P,) step at which each pair is forgotten for good: one after the last step at
    which it is known; 0 if it never is, T + 1 if it still is at the end (as
    ``grokbook.memorization.second_split_forgetting`` counts)."""
    g = torch.Generator().manual_seed(case_seed(21))

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
    return report("forgetting_step", fn, cases)


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
            same_step(f(steps.copy(), loss.copy(), factor), rise_step(steps, loss, factor), what)
        return run

    g = np.random.default_rng(case_seed(22))
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
    return report("loss_rise_step", fn, cases)


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
            assert sorted(got) == sorted(w), (
                f"{what}: keys {sorted(got)}, expected the weight decays {sorted(w)}")
            for wd, width in w.items():
                if width is None:
                    assert never(got[wd]), (
                        f"{what}: wd {wd:g}: got {got[wd]!r}, expected None (no width does)")
                else:
                    assert not never(got[wd]) and float(got[wd]) == width, (
                        f"{what}: wd {wd:g}: got {got[wd]!r}, expected width {width}")
        return run

    g = np.random.default_rng(case_seed(23))

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
                             seed=[0, 1] * 6, corrupt_acc=[0.0, 0.1, 0.99, 0.85, 0.97, 1.0,
                                                           0.0, 0.0, 0.2, 0.1, 0.5, 0.6]))
    gap = pd.DataFrame(dict(width=[50, 50, 100, 100, 200, 200], wd=[0.0] * 6, seed=[0, 1] * 3,
                            corrupt_acc=[0.95, 0.92, 0.5, 0.95, 0.99, 0.99]))
    cases = [case(hand, 0.9, "a small table by hand (one seed short at N = 100)"),
             case(gap, 0.9, "by hand: N = 50 reaches it, N = 100 does not, N = 200 does")]
    widths = [25, 50, 100, 150, 200, 300, 400, 800]
    for level in (0.5, 0.9):
        cases.append(case(table(widths, [0.0, 5.5], 3), level, f"a random sweep, level {level}"))
    cases.append(case(table([10, 20, 40, 80], [0.0, 1.0, 2.0], 4), 0.7, "four widths, three weight decays"))
    return report("memorizing_width", fn, cases)


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
        res = as_frame(res, ("run",) + columns, "one row per network")
        assert sorted(res.run.astype(int)) == runs, (
            f"one row per network of runs {runs}; got {res.run.tolist()}")
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

    return report_experiment("forgetting_without_weight_decay", experiment, claim, [yours, still_forgets])
