"""The CPU step (grokbook.engine.cpu) against autograd over the same rows and masks, in float64; its
dropout streams, its minibatch sampler, its tiling and its thread-independence."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grokbook.engine import cpu
from grokbook.engine.data import make_splits
from grokbook.engine.models import BatchedMLP
from grokbook.engine.train import Config, Run, train

F64 = torch.float64
P, N = 13, 24


def setup_runs(batch_size=None, batchnorm=False, dropout=(0.0, 0.3, 0.6)):
    K = len(dropout)
    data = make_splits(P, "add", [0.5] * K, [0.2] * K, list(range(K)))
    model = BatchedMLP.init(P, N, list(range(10, 10 + K)), batchnorm=batchnorm, dtype=F64).train()
    if batchnorm:  # away from the identity, so that gamma and beta matter
        with torch.no_grad():
            model.gamma.uniform_(0.5, 1.5)
            model.beta.uniform_(-0.2, 0.2)
    config = Config(p=P, width=N, batch_size=batch_size, batchnorm=batchnorm)
    return data, model, config, list(range(10, 10 + K)), list(dropout)


def autograd_grads(model, data, rows, keep_masks, keep_probs):
    """The loss of BatchedMLP's own graph over ``rows`` with the given dropout masks."""
    model = model.select(list(range(model.K)))
    for t in model.parameters():
        t.requires_grad_(True)
    index = torch.stack(rows)
    a = model.preactivation(index)
    a = a * keep_masks / torch.tensor(keep_probs, dtype=F64)[:, None, None]
    h = a * a
    if model.batchnorm:
        h = model._batchnorm(h, None)
    out = torch.bmm(h, model.W.transpose(1, 2))
    target = torch.nn.functional.one_hot(data.labels.gather(1, index), P).to(F64)
    loss = ((out - target) ** 2).mean((1, 2)).sum()  # mean MSE per run, summed over runs
    loss.backward()
    names = ("U", "V", "W") + (("gamma", "beta") if model.batchnorm else ())
    return {n: getattr(model, n).grad for n in names}, model


@pytest.mark.parametrize("extra", [dict(), dict(batch_size=16), dict(batch_size=16, batchnorm=True),
                                   dict(batchnorm=True)],
                         ids=["full-batch", "minibatch", "minibatch-batchnorm", "full-batch-batchnorm"])
def test_step_gradients_equal_autograd(extra):
    data, model, config, seeds, rates = setup_runs(**extra)
    step = cpu.Step(model, data, config, seeds, rates)
    # the same rows and masks, drawn by fresh copies of the step's sampler and streams
    rows = (cpu.training_rows(data.train) if config.batch_size is None
            else cpu.MinibatchSampler(cpu.training_rows(data.train), seeds, config.batch_size).batch(0))
    streams = cpu.DropoutStreams(seeds, rates)
    masks = []
    for k, r in enumerate(rows):
        keep = np.empty((len(r), N), dtype=bool)
        streams.mask(k, streams.bits(k, len(r), N), keep)
        masks.append(torch.from_numpy(keep).to(F64))
    expected, ref_model = autograd_grads(model, data, rows, torch.stack(masks), streams.keep)
    step(0)
    for name, grad in expected.items():
        got = getattr(model, name).grad
        torch.testing.assert_close(got, grad, rtol=1e-10, atol=1e-12 * grad.abs().max().item())
        assert grad.abs().max() > 0
    if config.batchnorm:  # the running statistics move as BatchNorm1d's do
        torch.testing.assert_close(model.running_mean, ref_model.running_mean, rtol=1e-10, atol=1e-14)
        torch.testing.assert_close(model.running_var, ref_model.running_var, rtol=1e-10, atol=1e-14)


def test_tile_sizes_change_only_rounding(monkeypatch):
    """Tiny tiles (many runs' rows split) and one big tile give the same gradients in float64."""
    grads = []
    for elements, runs in ((200, 1), (10**9, 6)):
        monkeypatch.setattr(cpu, "TILE_ELEMENTS", elements)
        monkeypatch.setattr(cpu, "MAX_TILE_RUNS", runs)
        data, model, config, seeds, rates = setup_runs()
        step = cpu.Step(model, data, config, seeds, rates)
        assert len(step.plan) == (6 if elements == 200 else 1)  # 2 row tiles a run, or one tile
        step(0)
        grads.append([model.U.grad.clone(), model.V.grad.clone(), model.W.grad.clone()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)


def test_blocks_split_runs_by_row_count_and_cache_size():
    assert cpu.blocks([10, 10, 20, 20, 20], None, 1, False) == [(0, 2, 10), (2, 5, 20)]
    big = cpu.TILE_ELEMENTS  # one run's rows alone fill a tile: even groups, row tiles
    out = cpu.blocks([big] * (cpu.MAX_TILE_RUNS + 2), None, 2, False)
    sizes = [hi - lo for lo, hi, _ in out]
    assert len(sizes) == 2 and max(sizes) - min(sizes) <= 1 and max(sizes) <= cpu.MAX_TILE_RUNS
    assert all(T * 2 * size <= cpu.TILE_ELEMENTS for (_, _, T), size in zip(out, sizes))
    assert cpu.blocks([big], None, 2, False) == [(0, 1, cpu.TILE_ELEMENTS // 2)]  # one run, big tile
    # BatchNorm needs the whole batch in one tile, however large
    assert cpu.blocks([big] * 2, None, 2, True) == [(0, 1, big), (1, 2, big)]


def test_dropout_streams_rate_expectation_and_independence():
    rates = [0.0, 0.1, 0.5, 0.9]
    streams = cpu.DropoutStreams([0, 1, 2, 3], rates)
    rows, width = 400, 250
    n = rows * width
    for k, r in enumerate(rates):
        assert abs(streams.keep[k] - (1 - r)) < 2.0 ** -17  # the realised rate, documented
        keep = np.empty((rows, width), dtype=bool)
        streams.mask(k, streams.bits(k, rows, width), keep)
        q = streams.keep[k]
        assert abs(keep.mean() - q) < 5 * math.sqrt(q * (1 - q) / n) + 1e-12
    assert streams.bits(0, rows, width) is None  # rate 0 draws nothing
    # a run's bits depend on its own seed only, and each step's draw is fresh
    a = cpu.DropoutStreams([7, 2], [0.5, 0.5])
    b = cpu.DropoutStreams([2], [0.5])
    first = a.bits(1, 5, 8).copy()
    np.testing.assert_array_equal(first, b.bits(0, 5, 8))
    assert not np.array_equal(first, a.bits(1, 5, 8))
    # rows drawn in pieces (tiles) equal the rows drawn at once, for any width
    for width in (8, 7):
        whole = cpu.DropoutStreams([3], [0.5]).bits(0, 9, width)
        s = cpu.DropoutStreams([3], [0.5])
        pieces = np.concatenate([s.bits(0, 2, width), s.bits(0, 4, width), s.bits(0, 3, width)])
        np.testing.assert_array_equal(whole, pieces)


def test_minibatch_sampler_is_a_shuffled_pass_per_epoch():
    data = make_splits(23, "add", [0.5, 0.3], [0.1, 0.1], [0, 1])
    rows = cpu.training_rows(data.train)
    B = 32
    sampler = cpu.MinibatchSampler(rows, [0, 1], B)
    for k in range(2):
        per_epoch = len(rows[k]) // B
        for epoch in range(3):
            seen = torch.cat([sampler.batch(epoch * per_epoch + j)[k] for j in range(per_epoch)])
            assert len(set(seen.tolist())) == per_epoch * B  # no pair twice in an epoch
            assert data.train[k, seen].all()
        # stateless replay (the reference loop's) and a run alone give the same batches
        step = 2 * per_epoch + 1
        alone = cpu.minibatch_index(data.train[k:k + 1], [k], step, B)[0]
        assert torch.equal(alone, cpu.MinibatchSampler(rows, [0, 1], B).batch(step)[k])
    e0 = cpu.epoch_order(5, 0, 100)
    assert sorted(e0.tolist()) == list(range(100)) and not torch.equal(e0, cpu.epoch_order(5, 1, 100))


def test_allocator_setup_takes_on_glibc():
    import platform
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")
    assert cpu.setup_allocator() is True


@pytest.mark.parametrize("extra", [dict(), dict(batch_size=32, batchnorm=True)],
                         ids=["full-batch", "minibatch-batchnorm"])
def test_one_and_two_threads_give_the_same_bits(extra):
    """Worker processes train with one thread, a single process with two: the same numbers."""
    runs = [Run(alpha=a, xi=0.2, wd=wd, dropout=d, data_seed=s, model_seed=s)
            for s, (a, wd, d) in enumerate([(0.5, 0, 0), (0.7, 5, 0.3), (0.7, 1, 0.6)])]
    config = Config(p=23, width=64, steps=30, log_every=10, **extra)
    saved = torch.get_num_threads()
    out = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            out.append(train(runs, config, device="cpu", progress=False))
    finally:
        torch.set_num_threads(saved)
    for name in "UVW":
        assert torch.equal(getattr(out[0].model, name), getattr(out[1].model, name)), name


def test_worker_threads_start_flushing_denormals():
    """torch's OpenMP workers keep the floating-point mode they start with: importing grokbook
    first starts them flushing denormals (train sets the calling thread itself).  In a fresh
    interpreter with 2 threads, the workers' share of an op on denormals comes out as zero; with
    the pool started before grokbook, none does."""
    import os
    import subprocess
    import sys
    if (os.cpu_count() or 1) < 2:
        pytest.skip("needs two cores")
    op = "torch.set_num_threads(2); y = torch.full((1 << 22,), 1e-39).mul(1.0); print(float((y == 0).float().mean()))"
    first = subprocess.run([sys.executable, "-c", f"import torch, grokbook; {op}"],
                           capture_output=True, text=True, check=True).stdout
    late = subprocess.run([sys.executable, "-c", f"import torch; torch.ones(1 << 22).mul(2.0); import grokbook; {op}"],
                          capture_output=True, text=True, check=True).stdout
    assert 0 < float(first) < 1 and float(late) == 0
