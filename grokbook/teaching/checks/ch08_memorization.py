"""The exercise checks of chapter 8, What counts as memorization?
(book/08_memorization.ipynb), in the order the chapter calls them."""
from __future__ import annotations

import torch

from .harness import as_frame, case_seed, close, report, report_experiment

__all__ = ["feldman_score", "roc_auc", "loo_change", "margin_score"]


def feldman_score(fn) -> bool:
    """``fn(member, correct)`` returns Feldman's score of every example, a (P,) array: over the
    models that trained on example i (``member`` (t, P) bool True) the mean of ``correct``
    (t, P) 0/1, minus the same mean over the models that did not; NaN where either set is empty."""
    import numpy as np

    from ...analysis.memorization import feldman_scores

    g = np.random.default_rng(case_seed(11))

    def case(t, P, q):
        member = torch.as_tensor(g.random((t, P)) < q)
        correct = torch.as_tensor(g.random((t, P)) < 0.6)

        def run(f):
            got = torch.as_tensor(np.array(f(member.clone(), correct.clone()), dtype=float))
            want = torch.as_tensor(feldman_scores(member, correct).score.to_numpy().copy())
            assert got.shape == want.shape, (
                f"t={t}, P={P}: shape {tuple(got.shape)}, expected {tuple(want.shape)}")
            assert torch.equal(got.isnan(), want.isnan()), (
                f"t={t}, P={P}: NaN exactly where no model (or every model) saw the example")
            close(got.nan_to_num(), want.nan_to_num(), f"t={t}, P={P}, subset fraction {q}")
        return run

    return report("feldman_score", fn, [case(t, P, q) for t, P, q in
                                         ((4, 10, 0.5), (16, 200, 0.7), (32, 500, 0.9))])


def roc_auc(fn) -> bool:
    """``fn(scores, positives)`` returns the ROC AUC: the probability that a random positive
    scores higher than a random negative, ties counting one half."""
    import numpy as np

    from ...analysis.memorization import roc_auc as reference

    g = np.random.default_rng(case_seed(12))

    def case(n, levels, what):
        scores = g.integers(0, levels, n).astype(float) if levels else g.normal(size=n)
        positives = g.random(n) < 0.3
        positives[:2] = [True, False]
        return lambda f: close(float(f(scores.copy(), positives.copy())),
                                reference(scores, positives), what)

    return report("roc_auc", fn, [case(50, 0, "50 distinct scores"),
                                   case(300, 4, "300 scores with many ties"),
                                   case(5, 2, "5 scores, two levels")])


def loo_change(fn) -> bool:
    """``fn(X, Y, lam)`` returns, for every row i of the ridge regression from X (n, d) to
    Y (n, q), how much leaving row i out changes its own prediction, yhat_i - yhat_i^(-i), an
    (n, q) array -- through the hat matrix, without refitting."""
    g = torch.Generator().manual_seed(case_seed(13))

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
            close(f(X.clone(), Y.clone(), lam), want, f"n={n}, d={d}, lam={lam}", atol=1e-8)
        return run

    return report("loo_change", fn, [case(12, 3, 1, 0.5), case(40, 10, 5, 1.0),
                                      case(30, 40, 2, 2.0)])


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

    claim = ("one trained network's margin ranks the changed pairs above the clean ones in every phase "
             "(AUC >= 0.98)")
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
        res = as_frame(res, ("run", "auc"), "one row per network of full").sort_values("run")
        assert res.run.tolist() == list(range(len(full.runs))), (
            f"one row per network of full, runs 0 .. {len(full.runs) - 1}; got {res.run.tolist()}")
        got = res.auc.to_numpy(dtype=float)
        assert np.allclose(got, want, atol=1e-6), (
            f"AUC: yours {got.round(4).tolist()}, the networks' margins give {want.round(4).tolist()}")

    def every_phase(res):
        for r, auc in zip(full.runs.itertuples(), want):
            print(f"margin_score: wd {r.wd:g}, seed {r.data_seed} ({r.phase}): AUC {auc:.4f}")
        assert (want >= 0.98).all(), f"AUC below 0.98 in runs {np.flatnonzero(want < 0.98).tolist()}"

    return report_experiment("margin_score", experiment, claim, [yours, every_phase])
