"""The exercise checks of chapter 10, Transformers on corrupted data
(book/10_transformers.ipynb), in the order the chapter calls them."""
from __future__ import annotations

import torch

from .harness import as_frame, case_seed, close, report, report_experiment

__all__ = ["embedding_spectrum", "transformer_neuron_ipr", "pruning_against_random"]


def embedding_spectrum(fn) -> bool:
    """``fn(E)`` returns, for an embedding E of shape (p, d) (row t: token t), the share of its
    power at each frequency s = 0 .. p//2: |rfft of each column along the tokens|^2, summed over
    the d columns, divided by the total (the shares sum to 1)."""
    g = torch.Generator().manual_seed(case_seed(9))
    def want(E):
        power = torch.fft.rfft(E, dim=0).abs().square().sum(1)
        return power / power.sum()
    def random_case(p, d):
        E = (torch.randn(p, d, generator=g, dtype=torch.float64)
             * torch.rand(d, generator=g, dtype=torch.float64))
        return lambda f: close(f(E.clone()), want(E), f"random E of shape ({p}, {d})", atol=1e-9)
    t = torch.arange(31, dtype=torch.float64)[:, None]
    cosines = torch.cos(2 * torch.pi * 5 * t / 31 + torch.linspace(0, 3, 8, dtype=torch.float64))
    one = torch.zeros(16, dtype=torch.float64)
    one[5] = 1.0
    flat = torch.zeros(16, dtype=torch.float64)
    flat[0] = 1.0
    cases = [lambda f: close(f(cosines.clone()), one, "8 cosines of frequency 5, p = 31", atol=1e-9),
             lambda f: close(f(torch.ones(31, 4, dtype=torch.float64)
                               * torch.arange(1.0, 5.0, dtype=torch.float64)),
                             flat, "every token embedded alike (all power at frequency 0)", atol=1e-9)]
    cases += [random_case(p, d) for p, d in ((7, 3), (8, 5), (53, 64))]
    return report("embedding_spectrum", fn, cases)


def transformer_neuron_ipr(fn) -> bool:
    """``fn(pre, out)`` returns the (N,) IPR of N transformer MLP neurons from their
    pre-activations ``pre`` of shape (p, p, N) (pair (m, n), neuron k) and their output vectors
    ``out`` of shape (N, p): the mean of three IPRs (``grokbook.ipr_of_vectors``), of
    f(m) = mean over n of pre[m, n, k], of g(n) = mean over m of pre[m, n, k], and of out[k]."""
    from ...engine.fourier import ipr_of_vectors

    g = torch.Generator().manual_seed(case_seed(19))

    def want(pre, out):
        return (ipr_of_vectors(pre.mean(1).T) + ipr_of_vectors(pre.mean(0).T) + ipr_of_vectors(out)) / 3

    def random_case(p, N):
        pre = torch.randn(p, p, N, generator=g, dtype=torch.float64)
        out = torch.randn(N, p, generator=g, dtype=torch.float64)
        return lambda f: close(f(pre.clone(), out.clone()), want(pre, out), f"random, p={p}, N={N}",
                               atol=1e-9)

    def cosine_case(f):  # pre[m, n, k] = cos(w_k m) + cos(w_k n + phi) + a product term of mean 0
        p, N = 31, 5
        t = torch.arange(p, dtype=torch.float64)
        freq = torch.arange(1, N + 1, dtype=torch.float64)
        c = lambda x, phi=0.0: torch.cos(2 * torch.pi * freq * x[:, None] / p + phi)  # (p, N)
        pre = c(t)[:, None, :] + c(t, 1.0)[None, :, :] + c(t)[:, None, :] * c(t, 2.0)[None, :, :]
        close(f(pre.clone(), c(t, 0.5).T.clone()), torch.ones(N, dtype=torch.float64),
               "pure cosines in m, in n and out (and a product of two, mean 0 over either token)", atol=1e-9)

    cases = [cosine_case] + [random_case(p, N) for p, N in ((7, 3), (31, 16), (53, 40))]
    return report("transformer_neuron_ipr", fn, cases)


def pruning_against_random(experiment, result, runs, fraction: float = 0.2) -> bool:
    """Chapter 10's experiment.  ``experiment()`` prunes a ``fraction`` of the MLP neurons of each
    transformer in ``runs`` (run numbers of ``result``, the chapter's runs with the smaller weight
    decay) twice, lowest IPR first and in random order (``gb.prune_curve`` with ``order="low"``
    and ``order="random"``, its default seed), and returns a DataFrame with one row per run and
    order: ``run``, ``order``, ``corrupt_acc``, ``test_acc``.

    The claim: the IPR finds the memorizing neurons better than chance.  In every run, pruning
    lowest IPR first leaves at most as many changed labels fitted as random pruning, and keeps
    the test accuracy higher by at least 0.1."""
    from ...analysis.prune import prune_curve

    runs = [int(r) for r in runs]
    claim = (f"pruning {fraction:.0%} of the neurons lowest IPR first removes at least as many memorized "
             "labels as random pruning, and keeps test accuracy at least 0.1 higher")
    want = {(r, o): prune_curve(result.model, result.data, r, order=o, fractions=[fraction]).iloc[0]
            for r in runs for o in ("low", "random")}

    def yours(res):
        res = as_frame(res, ("run", "order", "corrupt_acc", "test_acc"), "one row per run and order")
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
            assert low.corrupt_acc <= rnd.corrupt_acc, (
                f"run {r}: more changed labels stay than after random pruning")
            assert low.test_acc >= rnd.test_acc + 0.1, (
                f"run {r}: test accuracy not 0.1 above random pruning's")

    return report_experiment("pruning_against_random", experiment, claim, [yours, better_than_chance])
