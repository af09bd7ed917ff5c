"""The exercise checks of chapter 5, Pruning the memorizing neurons
(book/05_pruning.ipynb), in the order the chapter calls them."""
from __future__ import annotations

import torch

from .harness import as_frame, case_seed, close, report, report_experiment

__all__ = ["prune_mask", "pruned_output", "pruning_by_norm"]


def prune_mask(fn) -> bool:
    """``fn(ipr, fraction, order)`` returns an (N,) 0/1 mask that removes round(fraction * N)
    neurons: the lowest-IPR ones for order "low", the highest-IPR ones for "high".
    (1 keeps a neuron, 0 prunes it.)"""
    from ...analysis.prune import prune_masks

    g = torch.Generator().manual_seed(case_seed(7))

    def case(N, fraction, order):
        ipr = torch.rand(N, generator=g, dtype=torch.float64)

        def run(f):
            got = torch.as_tensor(f(ipr.clone(), fraction, order)).reshape(-1)
            want = prune_masks(ipr, [fraction], order)[0]
            close(got, want, f"N={N}, fraction={fraction}, order={order!r}", atol=0, rtol=0)
        return run

    cases = [case(N, f, o) for N, f in ((10, 0.3), (300, 0.0), (300, 0.25), (500, 0.7), (97, 1.0))
             for o in ("low", "high")]
    return report("prune_mask", fn, cases)


def pruned_output(fn) -> bool:
    """``fn(U, V, W, mask, m, n)`` returns the p outputs for the pair (m, n) of the network with
    the neurons where ``mask`` (N,) is 0 removed: W (mask * (U[:, m] + V[:, n])^2)."""
    from ...engine.models import BatchedMLP

    g = torch.Generator().manual_seed(case_seed(8))

    def reference(U, V, W, mask, m, n):
        with torch.no_grad():
            return BatchedMLP(U[None], V[None], W[None])(neuron_mask=mask[None])[0, m * U.shape[1] + n]

    def case(N, p, keep):
        U, V, W = (torch.randn(*s, generator=g, dtype=torch.float64) for s in ((N, p), (N, p), (p, N)))
        mask = (torch.rand(N, generator=g) < keep).double()
        m, n = (int(torch.randint(0, p, (1,), generator=g)) for _ in range(2))
        return lambda f: close(f(U.clone(), V.clone(), W.clone(), mask.clone(), m, n),
                                reference(U, V, W, mask, m, n),
                                f"N={N}, p={p}, {int(mask.sum())} of {N} neurons kept, (m, n)=({m}, {n})")

    cases = [case(5, 7, 0.6), case(64, 13, 0.5), case(300, 53, 0.3), case(50, 11, 1.0), case(50, 11, 0.0)]
    return report("pruned_output", fn, cases)


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
        out = as_frame(out, columns, "one row per fraction")
        fractions = out.fraction.to_numpy(dtype=float)
        assert len(set(fractions.round(6))) >= 5 and any(abs(fractions - 0.5) < 1e-9), (
            f"prune at five or more fractions including 0.5, got {fractions.round(3).tolist()}")
        want = measure(fractions.tolist(), norm)
        for c in columns[1:]:
            assert np.allclose(out[c].to_numpy(dtype=float), want[c], atol=1e-6), (
                f"{c}: yours {out[c].round(4).tolist()}, the network pruned lowest norm first "
                f"gives {want[c].round(4).tolist()}")

    def magnitude_finds_them(out):
        out = as_frame(out, columns, "one row per fraction")
        half = out[(out.fraction - 0.5).abs() < 1e-9].iloc[0]
        print(f"pruning_by_norm: half the neurons pruned lowest norm first: changed labels fitted "
              f"{half.corrupt_acc:.3f}, clean {half.clean_acc:.3f}, test {half.test_acc:.3f}")
        assert half.corrupt_acc <= 0.3, f"{half.corrupt_acc:.3f} of the changed labels still fitted"
        assert half.clean_acc >= 0.95, f"only {half.clean_acc:.3f} of the clean labels still fitted"

    def ipr_first(out):
        out = as_frame(out, columns, "one row per fraction")
        by_ipr = measure(out.fraction.astype(float).tolist(), ipr)["corrupt_acc"]
        by_norm = out.corrupt_acc.to_numpy(dtype=float)
        print("pruning_by_norm: changed labels fitted by fraction (IPR | norm): " + ", ".join(
            f"{f:g}: {a:.3f} | {b:.3f}" for f, a, b in zip(out.fraction, by_ipr, by_norm)))
        worse = by_ipr - by_norm
        assert (worse <= 0.02).all(), (
            f"by IPR, more changed labels stay at fractions {out.fraction[worse > 0.02].tolist()}")

    return report_experiment("pruning_by_norm", experiment, claim, [yours, magnitude_finds_them, ipr_first])
