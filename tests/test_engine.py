"""The batched engine (grokbook.engine.train) against the plain per-run loop, itself and closed forms."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from grokbook.engine import reference
from grokbook.engine.data import make_splits
from grokbook.engine.models import BatchedMLP, dropout_masks, init_weights
from grokbook.core.phases import PHASES
from grokbook.engine.cpu import minibatch_index
from grokbook.core.settings import Config, Run, grid
from grokbook.engine.tables import METRICS
from grokbook.engine.train import BatchedAdamW, bytes_per_run, chunk_size, evaluate, train

F64 = torch.float64

# A mix of every per-run setting in one batch.
MIXED = [
    Run(alpha=0.5, xi=0.2, lr=0.01, wd=0.0, data_seed=0, model_seed=0),
    Run(alpha=0.6, xi=0.0, lr=0.005, wd=5.0, data_seed=1, model_seed=2),
    Run(alpha=0.4, xi=0.35, lr=0.02, wd=1.0, data_seed=3, model_seed=1),
    Run(alpha=0.7, xi=0.1, lr=0.003, wd=15.0, data_seed=7, model_seed=7),
]
SMALL = dict(p=23, width=64, steps=60, log_every=60)


def close(actual, expected, rtol=1e-9):
    """Tight relative agreement, scaled by the size of the reference tensor."""
    expected = expected.detach().to(actual.dtype)
    scale = expected.abs().max().item()
    torch.testing.assert_close(actual.detach(), expected, rtol=rtol, atol=rtol * max(scale, 1e-300))


# ----------------------------------------------------------------------------- (a) vs reference loop
REFERENCE_CONFIGS = {
    "full-batch-mse": dict(),
    "full-batch-cross-entropy": dict(loss="cross_entropy"),
    "minibatch-32": dict(batch_size=32),
    "minibatch-32-batchnorm": dict(batch_size=32, batchnorm=True),
    "full-batch-batchnorm": dict(batchnorm=True),
    "full-batch-relu": dict(activation="relu"),
}


@pytest.mark.parametrize("extra", list(REFERENCE_CONFIGS.values()), ids=list(REFERENCE_CONFIGS))
def test_batched_runs_equal_reference_loop(extra):
    config = Config(**SMALL, **extra)
    result = train(MIXED, config, dtype=F64, device="cpu", progress=False)
    assert result.model.U.dtype == F64
    for k, run in enumerate(MIXED):
        model, metrics = reference.train_one(run, config, dtype=F64)
        U, V, W = reference.weights(model)
        close(result.model.U[k], U)
        close(result.model.V[k], V)
        close(result.model.W[k], W)
        if config.batchnorm:
            close(result.model.gamma[k], model.bn.weight)
            close(result.model.beta[k], model.bn.bias)
            close(result.model.running_mean[k], model.bn.running_mean)
            close(result.model.running_var[k], model.bn.running_var)
        # not vacuous: the run moved far from its initial weights
        U0, _, _ = init_weights(config.p, config.width, run.model_seed)
        assert (result.model.U[k] - U0.double()).norm() > 0.1 * U0.norm()
        row = result.runs.iloc[k]
        assert row.train_acc == metrics["train_acc"]
        assert row.test_acc == metrics["test_acc"]
        assert row.clean_acc == metrics["clean_acc"]
        if row.n_changed > 0:  # the reference reports 0 for an empty set, the engine NaN
            assert row.corrupt_acc == metrics["corrupt_acc"]
        else:
            assert math.isnan(row.corrupt_acc)


# ----------------------------------------------------------------------------- (b) chunking
CHUNK_RUNS = MIXED + [
    Run(alpha=0.5, xi=0.3, lr=0.01, wd=1.0, dropout=0.2, data_seed=4, model_seed=4),
    Run(alpha=0.6, xi=0.1, lr=0.01, wd=0.0, dropout=0.5, data_seed=5, model_seed=5),
]


@pytest.fixture
def threads():
    """Run a test with a given number of intra-op CPU threads, restored afterwards."""
    saved = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(saved)


def chunked_results(config):
    """The same runs in one chunk, in chunks of 1 and in chunks of 2, 2, 2."""
    one = train(CHUNK_RUNS, config, device="cpu", progress=False)
    one_run = bytes_per_run(config) / 2**30
    singles = train(CHUNK_RUNS, config, max_memory_gb=one_run, device="cpu", progress=False)
    gb = 2.5 * one_run
    assert chunk_size(config, torch.device("cpu"), gb, torch.float32) == 2
    assert chunk_size(config, torch.device("cpu"), one_run, torch.float32) == 1
    two = train(CHUNK_RUNS, config, max_memory_gb=gb, device="cpu", progress=False)
    return one, singles, two


def assert_same_results(one, other):
    pd.testing.assert_frame_equal(one.history, other.history, check_exact=True)
    pd.testing.assert_frame_equal(one.runs, other.runs, check_exact=True)
    names = ("U", "V", "W") + (("gamma", "beta", "running_mean", "running_var")
                               if one.config.batchnorm else ())
    for name in names:
        assert torch.equal(getattr(one.model, name), getattr(other.model, name)), name


@pytest.mark.parametrize("extra", [dict(), dict(batch_size=32, batchnorm=True)],
                         ids=["full-batch", "minibatch-batchnorm"])
def test_chunking_does_not_change_numbers(extra, threads):
    """Every random draw (init, dropout masks, minibatches) is per run: chunks change nothing.

    One CPU thread, so that the BLAS's own batch-size-dependent blocking (see the test
    below) does not enter; this checks the engine's plumbing of randomness exactly.
    """
    threads(1)
    config = Config(p=23, width=64, steps=40, log_every=10, **extra)
    one, singles, two = chunked_results(config)
    assert_same_results(one, singles)
    assert_same_results(one, two)
    assert len(one.history) == len(CHUNK_RUNS) * 5


def bmm_is_batch_variant(config):
    """Does torch.bmm round a run's output differently in a batch of 1 than in the full batch?"""
    model = BatchedMLP.init(config.p, config.width, [r.model_seed for r in CHUNK_RUNS]).eval()
    with torch.no_grad():
        return not torch.equal(model()[0], model.select([0])()[0])


def test_chunking_with_many_threads_changes_only_rounding(threads):
    """With several threads MKL's bmm rounds a batch of 1 differently from a batch of K > 1,
    so chunks agree to float rounding, not bit for bit (documented in grokbook.engine.train)."""
    n = max(4, torch.get_num_threads())
    threads(n)
    config = Config(p=23, width=64, steps=40, log_every=10)
    if not bmm_is_batch_variant(config):
        pytest.skip(f"torch.bmm is batch-size invariant with {n} threads on this machine")
    one, singles, _ = chunked_results(config)
    for name in "UVW":  # same random draws; only the BLAS's rounding differs
        torch.testing.assert_close(getattr(one.model, name), getattr(singles.model, name),
                                   rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------------- (c) batch neighbours
@pytest.mark.parametrize("extra", [dict(), dict(batch_size=32), dict(loss="cross_entropy")],
                         ids=["full-batch", "minibatch", "cross-entropy"])
def test_run_does_not_depend_on_batch_neighbours(extra):
    config = Config(**SMALL, **extra)
    batch = train(CHUNK_RUNS, config, dtype=F64, device="cpu", progress=False)
    for k in (0, 2, 5):
        alone = train([CHUNK_RUNS[k]], config, dtype=F64, device="cpu", progress=False)
        for name in "UVW":
            close(getattr(batch.model, name)[k], getattr(alone.model, name)[0], rtol=1e-12)
        cols = [c for c in METRICS if c in ("train_acc", "test_acc", "corrupt_acc", "clean_acc")]
        a = batch.history[batch.history.run == k][cols].to_numpy()
        b = alone.history[cols].to_numpy()
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- (d) determinism
def test_same_seeds_bit_identical():
    config = Config(p=23, width=64, steps=40, log_every=10, batch_size=32)
    runs = CHUNK_RUNS[:2] + CHUNK_RUNS[-2:]
    a = train(runs, config, device="cpu", progress=False)
    b = train(runs, config, device="cpu", progress=False)
    pd.testing.assert_frame_equal(a.history, b.history, check_exact=True)
    pd.testing.assert_frame_equal(a.runs, b.runs, check_exact=True)
    for name in "UVW":
        assert torch.equal(getattr(a.model, name), getattr(b.model, name))
    c = train([Run(**{**vars(r), "model_seed": r.model_seed + 100}) for r in runs], config,
              device="cpu", progress=False)
    assert not torch.equal(a.model.U, c.model.U)


def test_training_does_not_depend_on_global_rng():
    config = Config(p=23, width=32, steps=10, log_every=10)
    run = Run(dropout=0.3)
    torch.manual_seed(1)
    a = train([run], config, device="cpu", progress=False)
    torch.manual_seed(2)
    b = train([run], config, device="cpu", progress=False)
    assert torch.equal(a.model.U, b.model.U)


# ----------------------------------------------------------------------------- (e) optimizer
def test_batched_adamw_equals_torch_adamw():
    K, steps = 3, 6
    lr = torch.tensor([0.01, 0.003, 0.1], dtype=F64)
    wd = torch.tensor([0.0, 5.0, 0.5], dtype=F64)
    betas, eps = (0.8, 0.95), 1e-6
    g = torch.Generator().manual_seed(0)
    shapes = [(K, 4, 5), (K, 6)]
    init = [torch.randn(s, generator=g, dtype=F64) for s in shapes]
    grads = [[torch.randn(s, generator=g, dtype=F64) for s in shapes] for _ in range(steps)]

    params = [torch.nn.Parameter(t.clone()) for t in init]
    opt = BatchedAdamW(params, lr, wd, betas, eps)
    for step in range(steps):
        for prm, gr in zip(params, grads[step]):
            prm.grad = gr.clone()
        opt.step()

    for k in range(K):
        ref = [torch.nn.Parameter(t[k].clone()) for t in init]
        ref_opt = torch.optim.AdamW(ref, lr=lr[k].item(), weight_decay=wd[k].item(),
                                    betas=betas, eps=eps)
        for step in range(steps):
            for prm, gr in zip(ref, grads[step]):
                prm.grad = gr[k].clone()
            ref_opt.step()
        for prm, r in zip(params, ref):
            torch.testing.assert_close(prm[k].detach(), r.detach(), rtol=1e-13, atol=1e-15)
    # and the update really depended on the run: lr differs, so do the results
    assert not torch.allclose(params[0][0] - init[0][0], params[0][1] - init[0][1])


def test_batched_adamw_decay_only_closed_form():
    """With zero gradients Adam's update is 0: each step is w <- w (1 - lr wd)."""
    lr = torch.tensor([0.01, 0.02], dtype=F64)
    wd = torch.tensor([20.0, 0.0], dtype=F64)
    w = torch.nn.Parameter(torch.ones(2, 3, dtype=F64))
    opt = BatchedAdamW([w], lr, wd)
    for _ in range(7):
        w.grad = torch.zeros_like(w)
        opt.step()
    assert torch.allclose(w[0], torch.full((3,), 0.8 ** 7, dtype=F64), rtol=1e-14)
    assert torch.equal(w[1], torch.ones(3, dtype=F64))


# ----------------------------------------------------------------------------- (f) history
def test_history_columns_and_sanity():
    runs = [Run(alpha=0.5, xi=0.0, wd=1.0), Run(alpha=0.5, xi=0.35, wd=1.0, data_seed=1)]
    config = Config(p=23, width=32, steps=50, log_every=20)
    result = train(runs, config, device="cpu", progress=False)
    h = result.history
    assert list(h.columns) == ["run", "step"] + list(METRICS)
    for k in range(2):
        assert h[h.run == k].step.tolist() == [0, 20, 40, 50]
    for col in ("train_acc", "test_acc", "clean_acc"):
        assert h[col].between(0, 1).all()
    assert h[h.run == 0].corrupt_acc.isna().all() and h[h.run == 0].corrupt_true_acc.isna().all()
    assert h[h.run == 1].corrupt_acc.between(0, 1).all()
    assert (h.weight_norm > 0).all() and h.mean_ipr.between(0, 1).all()
    assert (h.loss >= 0).all() and (h.test_loss >= 0).all()
    assert (h.finite == 1).all() and not result.runs.diverged.any()

    df = result.runs
    assert "phase" in df.columns and set(df.phase) <= set(PHASES)
    assert df.run.tolist() == [0, 1] and len(df) == 2
    data = make_splits(23, "add", [0.5, 0.5], [0.0, 0.35], [0, 1])
    assert df.n_train.tolist() == data.train.sum(1).tolist()
    assert df.n_changed.tolist() == data.changed.sum(1).tolist()
    final = h[h.step == 50].set_index("run")
    for col in METRICS:
        if col != "finite":  # the runs table says diverged / diverged_at instead
            np.testing.assert_array_equal(df[col].to_numpy(), final[col].to_numpy())

    # step 0 is logged before any update: the weight norm of the seeded init
    for k, run in enumerate(runs):
        U, V, W = init_weights(23, 32, run.model_seed)
        expected = math.sqrt(sum((t.double() ** 2).sum().item() for t in (U, V, W)))
        assert h[(h.run == k) & (h.step == 0)].weight_norm.item() == pytest.approx(expected, rel=1e-6)
    assert df.weight_norm.tolist() == pytest.approx(result.model.weight_norm().tolist(), rel=1e-12)


def brute_force_metrics(U, V, W, labels, truth, train, test, changed):
    """Forward pass with one loop over pairs, quadratic activation, float64."""
    p = U.shape[1]
    U, V, W = U.double(), V.double(), W.double()
    pred = torch.empty(p * p, dtype=torch.int64)
    sq = torch.empty(p * p, dtype=F64)
    for i in range(p * p):
        m, n = divmod(i, p)
        out = W @ (U[:, m] + V[:, n]) ** 2
        pred[i] = out.argmax()
        target = torch.zeros(p, dtype=F64)
        target[labels[i]] = 1
        sq[i] = ((out - target) ** 2).mean()
    acc = lambda hit, mask: (hit & mask).sum().item() / mask.sum().item()
    return {"train_acc": acc(pred == labels, train), "test_acc": acc(pred == truth, test),
            "corrupt_acc": acc(pred == labels, changed),
            "corrupt_true_acc": acc(pred == truth, changed),
            "loss": sq[train].mean().item(), "test_loss": sq[test].mean().item()}


def test_evaluate_matches_brute_force_forward():
    config = Config(p=17, width=40, steps=80, log_every=80)
    runs = [Run(alpha=0.6, xi=0.3, lr=0.01, wd=0.5, data_seed=3, model_seed=4),
            Run(alpha=0.5, xi=0.5, lr=0.02, wd=0.0, data_seed=5, model_seed=6)]
    result = train(runs, config, dtype=F64, device="cpu", progress=False)
    data = result.data
    metrics = evaluate(result.model, data)
    for k in range(2):
        ref = brute_force_metrics(result.model.U[k].detach(), result.model.V[k].detach(),
                                  result.model.W[k].detach(), data.labels[k], data.truth,
                                  data.train[k], data.test[k], data.changed[k])
        for name, value in ref.items():
            assert metrics[name][k].item() == pytest.approx(value, rel=1e-12, abs=1e-15), name
            assert result.runs.iloc[k][name] == pytest.approx(value, rel=1e-12, abs=1e-15), name
    assert 0 < metrics["train_acc"].min() and metrics["corrupt_acc"].max() > 0


def test_model_index_forward_equals_table_forward():
    model = BatchedMLP.init(13, 20, [0, 1, 2], dtype=F64)
    g = torch.Generator().manual_seed(0)
    index = torch.randint(0, 13 * 13, (3, 25), generator=g)
    full = model()
    part = model(index)
    torch.testing.assert_close(part, full.gather(1, index[:, :, None].expand(-1, -1, 13)),
                               rtol=1e-14, atol=1e-14)


def test_init_weights_closed_form_std():
    """The paper's init variance (16 N)^(-2/3): std 0.05 at N = 500."""
    U, V, W = init_weights(97, 500, seed=0)
    for t in (U, V, W):
        assert t.std().item() == pytest.approx(0.05, rel=0.02)
    assert not torch.equal(U, V)


# ----------------------------------------------------------------------------- minibatches
def test_minibatch_index_draws_distinct_training_pairs():
    data = make_splits(23, "add", [0.5, 0.3, 0.7], [0.1, 0.1, 0.1], [0, 1, 2])
    seeds = torch.tensor([0, 1, 2])
    seen = torch.zeros_like(data.train)
    for step in range(200):
        idx = minibatch_index(data.train, seeds, step, 32)
        assert idx.shape == (3, 32)
        for k in range(3):
            assert len(set(idx[k].tolist())) == 32
            assert data.train[k, idx[k]].all()
        seen.scatter_(1, idx, True)
        # a run's batch depends only on its own seed and mask
        alone = minibatch_index(data.train[1:2], seeds[1:2], step, 32)
        assert torch.equal(alone[0], idx[1])
    # over 200 steps every training pair shows up
    assert torch.equal(seen, data.train)
    assert not torch.equal(minibatch_index(data.train, seeds, 0, 32),
                           minibatch_index(data.train, seeds, 1, 32))


def test_minibatches_sample_training_pairs_uniformly():
    """Each training pair is in a step's batch with probability B / n_train (5 sigma per pair)."""
    data = make_splits(23, "add", [0.5], [0.0], [0])
    n, B, S = int(data.train.sum()), 32, 2000
    counts = torch.zeros(23 * 23)
    seeds = torch.tensor([3])
    for step in range(S):
        counts[minibatch_index(data.train, seeds, step, B)[0]] += 1
    q = B / n
    sd = math.sqrt(S * q * (1 - q))
    assert ((counts[data.train[0]] - S * q).abs() < 5 * sd).all()
    assert (counts[~data.train[0]] == 0).all()


# ----------------------------------------------------------------------------- (g) dropout
def test_dropout_masks_expectation_and_rate():
    rates = torch.tensor([0.0, 0.1, 0.5, 0.9], dtype=F64)
    gens = [torch.Generator().manual_seed(s) for s in range(4)]
    shape = (4, 500, 200)
    masks = dropout_masks(shape, rates, gens, "cpu", F64)
    n = shape[1] * shape[2]
    for k, r in enumerate(rates.tolist()):
        keep = 1 - r
        dropped = (masks[k] == 0).double().mean().item()
        assert abs(dropped - r) < 5 * math.sqrt(r * keep / n) + 1e-12
        assert set(masks[k].unique().tolist()) <= {0.0, 1 / keep}
        # E[mask] = 1: kept units are scaled by 1 / (1 - rate)
        sd = math.sqrt(r / keep / n)  # std of the mean of n masks
        assert abs(masks[k].mean().item() - 1) < 5 * sd + 1e-12
    assert torch.equal(masks[0], torch.ones(shape[1:], dtype=F64))
    # each run's mask comes from its own generator, not from the batch
    alone = dropout_masks((1,) + shape[1:], rates[2:3], [torch.Generator().manual_seed(2)],
                          "cpu", F64)
    assert torch.equal(alone[0], masks[2])


def test_dropout_rate_zero_is_no_dropout(threads):
    """A rate-0 run trained beside a dropout run equals the same run trained with no dropout at all.

    (One thread: see test_chunking_does_not_change_numbers_many_threads.)
    """
    threads(1)
    config = Config(p=23, width=32, steps=30, log_every=10)
    plain = Run(alpha=0.5, xi=0.2, wd=1.0, data_seed=2, model_seed=3)
    alone = train([plain], config, device="cpu", progress=False)
    mixed = train([Run(**{**vars(plain), "dropout": 0.0}),
                   Run(**{**vars(plain), "dropout": 0.5})], config, device="cpu", progress=False)
    assert torch.equal(mixed.model.U[0], alone.model.U[0])
    assert torch.equal(mixed.model.W[0], alone.model.W[0])
    assert not torch.allclose(mixed.model.U[1], alone.model.U[0])  # dropout 0.5 did act
    # the forward pass itself: zero rates leave the output unchanged
    model = BatchedMLP.init(11, 16, [0, 1], dtype=F64).train()
    gens = [torch.Generator().manual_seed(s) for s in range(2)]
    torch.testing.assert_close(model(dropout=torch.zeros(2, dtype=F64), generators=gens), model(),
                               rtol=0, atol=0)
    # and eval mode never drops
    model.eval()
    assert torch.equal(model(dropout=torch.full((2,), 0.5, dtype=F64), generators=gens), model())


def test_train_accepts_single_run_and_grid():
    config = Config(p=11, width=8, steps=3, log_every=1)
    a = train(Run(), config, device="cpu", progress=False)
    assert len(a.runs) == 1 and a.history.step.tolist() == [0, 1, 2, 3]
    runs = grid(wd=[0, 5], seed=[0, 1])
    assert [(r.wd, r.data_seed, r.model_seed) for r in runs] == [(0, 0, 0), (0, 1, 1), (5, 0, 0),
                                                                  (5, 1, 1)]
    assert all(r.alpha == 0.5 and r.xi == 0.35 and r.lr == 0.01 for r in runs)


# ----------------------------------------------------------------------------- custom autograd
def test_squared_table_matches_autograd_and_finite_differences():
    from grokbook.engine.models import SquaredTable
    g = torch.Generator().manual_seed(0)
    Ut = torch.randn(2, 5, 3, generator=g, dtype=F64, requires_grad=True)
    Vt = torch.randn(2, 5, 3, generator=g, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(SquaredTable.apply, (Ut, Vt))
    # against the plain expression: (U_m + V_n)^2 over the table, index m * p + n
    h = SquaredTable.apply(Ut, Vt)
    plain = torch.stack([(Ut[:, m] + Vt[:, n]) ** 2 for m in range(5) for n in range(5)], 1)
    torch.testing.assert_close(h, plain, rtol=0, atol=0)
    grad = torch.randn(h.shape, generator=g, dtype=F64)
    a = torch.autograd.grad(h, (Ut, Vt), grad)
    b = torch.autograd.grad(plain, (Ut, Vt), grad)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=1e-13, atol=1e-13)


def test_masked_mse_matches_mean_loss_and_finite_differences():
    from grokbook.engine.train import MaskedMSE, example_loss
    g = torch.Generator().manual_seed(1)
    K, B, p = 3, 7, 5
    out = torch.randn(K, B, p, generator=g, dtype=F64, requires_grad=True)
    labels = torch.randint(0, p, (K, B), generator=g)
    weights = (torch.rand(K, B, generator=g) < 0.6).to(F64)
    weights[:, 0] = 1.0
    loss = MaskedMSE.apply(out, labels, weights)
    # independent: explicit one-hot, weighted mean over examples of the mean over p
    onehot = torch.zeros(K, B, p, dtype=F64)
    for k in range(K):
        for i in range(B):
            onehot[k, i, labels[k, i]] = 1
    ref = (((out - onehot) ** 2).mean(-1) * weights).sum(1) / weights.sum(1)
    torch.testing.assert_close(loss, ref, rtol=1e-14, atol=0)
    torch.testing.assert_close(ref, (example_loss(out, labels, "mse") * weights).sum(1)
                               / weights.sum(1), rtol=1e-14, atol=0)
    gr = torch.randn(K, generator=g, dtype=F64)
    a, = torch.autograd.grad(loss, out, gr)
    b, = torch.autograd.grad(ref, out, gr)
    torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-15)
    assert torch.autograd.gradcheck(lambda o: MaskedMSE.apply(o, labels, weights), (out,))


def test_train_restores_matmul_precision():
    before = torch.get_float32_matmul_precision()
    config = Config(p=11, width=8, steps=2, log_every=1)
    for precision in ("tf32", "highest"):
        result = train([Run()], config, precision=precision, device="cpu", progress=False)
        assert torch.get_float32_matmul_precision() == before
        assert result.runs.train_acc.between(0, 1).all()


# ----------------------------------------------------------------------------- GPU (skipped on CPU)
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@cuda
@pytest.mark.parametrize("extra", [dict(), dict(batch_size=32), dict(batchnorm=True)],
                         ids=["full-batch", "minibatch", "batchnorm"])
def test_cuda_equals_cpu_in_float64(extra):
    config = Config(**SMALL, **extra)
    on_cpu = train(MIXED, config, dtype=F64, device="cpu", progress=False)
    on_gpu = train(MIXED, config, dtype=F64, device="cuda", progress=False)
    assert on_gpu.device.startswith("cuda") and on_gpu.model.U.device.type == "cpu"
    for name in "UVW":
        for k in range(len(MIXED)):
            close(getattr(on_gpu.model, name)[k], getattr(on_cpu.model, name)[k])
    for col in ("train_acc", "test_acc", "clean_acc"):
        np.testing.assert_array_equal(on_gpu.runs[col].to_numpy(), on_cpu.runs[col].to_numpy())


@cuda
def test_cuda_chunking_with_dropout_within_float_tolerance():
    config = Config(p=23, width=64, steps=40, log_every=10)
    one = train(CHUNK_RUNS, config, dtype=F64, device="cuda", progress=False)
    singles = train(CHUNK_RUNS, config, dtype=F64, device="cuda",
                    max_memory_gb=bytes_per_run(config, F64) / 2**30, progress=False)
    for name in "UVW":
        for k in range(len(CHUNK_RUNS)):
            close(getattr(one.model, name)[k], getattr(singles.model, name)[k], rtol=1e-10)


@pytest.mark.parametrize("before", [False, True])
def test_train_flushes_denormals_on_cpu_and_restores_the_setting(before):
    from grokbook.engine import cpu
    seen = []
    torch.set_flush_denormal(before)
    try:
        train(grid(alpha=[0.5], xi=[0.1]), Config(p=7, width=8, steps=4, log_every=2),
              device="cpu", progress=False,
              on_log=lambda *args: seen.append(cpu.flush_denormals_on()))
        assert seen and all(seen)  # on while training
        assert cpu.flush_denormals_on() is before  # as it was afterwards
    finally:
        torch.set_flush_denormal(False)


@pytest.mark.parametrize("steps,log_every", [(0, 1), (1, 1), (7, 3), (9, 3), (10, 20)])
def test_the_one_loop_logs_then_steps_in_order(steps, log_every):
    """run_steps against the loop written out: a log at 0, at every log_every-th step and at the
    last, each before that step's update; steps 0 ... steps-1 stepped once each, in order."""
    from grokbook.engine.loop import run_steps
    events = []
    logs = run_steps(steps, log_every, lambda s: events.append(("step", s)),
                     lambda s: events.append(("log", s)) or s * 10)
    want = []
    for s in range(steps + 1):
        if s % log_every == 0 or s == steps:
            want.append(("log", s))
        if s < steps:
            want.append(("step", s))
    assert events == want
    assert logs == [(s, s * 10) for kind, s in want if kind == "log"]


def test_the_one_loop_moves_the_bar_by_run_steps():
    from grokbook.engine.loop import run_steps

    class Bar:
        total = 0

        def update(self, n):
            self.total += n
    bar = Bar()
    run_steps(23, 5, lambda s: None, lambda s: None, bar, runs=4)
    assert bar.total == 23 * 4
