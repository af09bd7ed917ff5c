"""Checks that chapter 2 (grokking on clean data) used to make in its narrative, or states in its
prose, on the code rather than on a claim of the paper: the sweep's grid holds one run per weight
decay and seed, the IPR gives a pure wave 1 and a random vector about 2 / (floor(p/2) + 1), and the
model and loop the chapter writes out in plain PyTorch start from the engine's initial weights and
train the engine's run."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import grokbook as gb
from ipr_reference import ipr as reference_ipr


def test_grid_gives_each_weight_decay_one_run_per_seed():
    """Chapter 2 reads 'the wd 1 runs' as one run per seed (its claims are 'every seed'): the grid
    of four weight decays by three seeds is the Cartesian product, each pair once, and a seed sets
    both the data and the model seed."""
    wds, seeds = [0, 1, 2, 5], [0, 1, 2]
    runs = gb.grid(alpha=0.35, xi=0.0, wd=wds, seed=seeds)
    got = [(r.wd, r.data_seed) for r in runs]
    assert sorted(got) == sorted(itertools.product(wds, seeds))
    assert len(set(got)) == len(got) == len(wds) * len(seeds)
    assert all(r.model_seed == r.data_seed for r in runs)
    assert all(r.alpha == 0.35 and r.xi == 0.0 for r in runs)
    for wd in wds:
        assert sorted(r.data_seed for r in runs if r.wd == wd) == seeds


@pytest.mark.parametrize("p", [53, 97])
def test_ipr_of_a_pure_wave_is_one(p):
    """'A pure cosine gives 1': any frequency and phase, also in float32."""
    m = np.arange(p)
    for freq, phase in [(1, 0.0), (5, 0.3), (p // 2, 1.7)]:
        wave = np.cos(2 * np.pi * freq * m / p + phase)
        ours = gb.ipr_of_vectors(torch.tensor(wave)).item()
        assert ours == pytest.approx(1.0, abs=1e-9)
        assert ours == pytest.approx(reference_ipr(wave), abs=1e-12)
        assert gb.ipr_of_vectors(torch.tensor(wave, dtype=torch.float32)).item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("p", [53, 97])
def test_ipr_of_random_vectors_matches_its_definition_and_the_spread_value(p):
    """The chapter's reference line, the mean IPR of random Gaussian vectors, is the IPR by its
    definition (vector by vector, against numpy in float64), and about 2 / (floor(p/2) + 1), the
    value The idea quotes for a vector spread over every frequency."""
    x = torch.randn(2000, p, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ours = gb.ipr_of_vectors(x).numpy()
    ref = reference_ipr(x.numpy())
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=0)
    spread = 2 / (p // 2 + 1)
    assert abs(ours.mean() / spread - 1) < 0.15


# ----------------------------------------------------------------------------- the model in thirty lines
# Chapter 2 writes the model and its loop out in plain PyTorch and shows that the engine trains the
# same run.  The same loop, here at a small size (not imported from the notebook).
class PlainMLP(torch.nn.Module):
    def __init__(self, p, N, seed, dtype):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        std = (16 * N) ** (-1 / 3)

        def draw(rows, cols):
            return torch.nn.Parameter((torch.randn(rows, cols, generator=g) * std).to(dtype))

        self.U, self.V, self.W = draw(N, p), draw(N, p), draw(p, N)

    def forward(self, e_m, e_n):
        h = e_m @ self.U.T + e_n @ self.V.T
        return h**2 @ self.W.T


def plain_losses(p, N, pairs, labels, *, wd, seed, steps, lr=0.01, dtype=torch.float64):
    model = PlainMLP(p, N, seed, dtype)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd, betas=(0.9, 0.98), eps=1e-8)
    eye = torch.eye(p, dtype=dtype)
    e_m, e_n, target = eye[pairs // p], eye[pairs % p], eye[labels[pairs]]
    losses = []
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(model(e_m, e_n), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, np.array(losses)


def test_the_plain_model_starts_from_the_engines_initial_weights():
    """'The engine draws its initial weights the same way, in the same order': same seed, same U, V, W."""
    from grokbook.engine.models import init_weights
    for p, N, seed in [(23, 64, 0), (53, 300, 2)]:
        plain = PlainMLP(p, N, seed, torch.float32)
        for ours, engine in zip((plain.U, plain.V, plain.W), init_weights(p, N, seed)):
            assert torch.equal(ours.detach(), engine)


@pytest.mark.parametrize("wd, seed", [(1.0, 0), (5.0, 3)])
def test_the_engine_trains_the_plain_loops_run(wd, seed):
    """The chapter's float64 comparison at p = 23, N = 64: the engine's train loss logged at every
    step is the plain loop's loss before each step (the same number up to rounding, far below the
    chapter's 1e-9 over its first 100 steps), and the final weights agree."""
    p, N, alpha, steps = 23, 64, 0.5, 60
    splits = gb.make_splits(p, "add", [alpha], [0.0], [seed])
    pairs, labels = splits.train[0].nonzero().squeeze(1), splits.labels[0]
    model, losses = plain_losses(p, N, pairs, labels, wd=wd, seed=seed, steps=steps)
    run = gb.grid(alpha=alpha, xi=0.0, wd=wd, seed=seed)
    result = gb.train(run, gb.Config(p=p, width=N, steps=steps, log_every=1), dtype=torch.float64,
                      device="cpu", progress=False)
    engine = result.history.loss.to_numpy()
    assert len(engine) == steps + 1  # steps 0 .. steps: the loss before each step, and the final one
    np.testing.assert_allclose(engine[:steps], losses, rtol=1e-10, atol=0)
    assert losses[-1] < 0.5 * losses[0]  # not vacuous: the run trained
    for name in "UVW":
        ours, theirs = getattr(model, name).detach(), getattr(result.model, name)[0]
        torch.testing.assert_close(theirs, ours, rtol=1e-9, atol=1e-9 * ours.abs().max().item())
