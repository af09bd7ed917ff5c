"""The fused Triton kernels (grokbook.engine.kernels) against the float64 eager path.

On a CUDA machine the kernels run compiled on the GPU.  Without one they run in Triton's
interpreter (numpy on the CPU): Triton decides when it is first imported whether its own library
functions are interpreted, so this module sets TRITON_INTERPRET=1 around that import (pytest
imports every test module before running any test), and the ``device`` fixture sets it again for
each test that runs a kernel (grokbook.engine.kernels builds its kernels at first use, once per mode).
The interpreter checks the kernels' indexing, masking and algebra; it does not emulate TF32, and
it says nothing about speed (benchmarks/bench_engine.py on a GPU does).
"""
import os
import sys

import numpy as np
import pytest
import torch

CUDA = torch.cuda.is_available()
if not CUDA and "triton" not in sys.modules:
    _saved = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        import triton  # noqa: F401  (imported here, in interpreter mode)
    except ImportError:
        pass
    finally:  # do not leak the switch into other test modules
        if _saved is None:
            del os.environ["TRITON_INTERPRET"]
        else:
            os.environ["TRITON_INTERPRET"] = _saved

from grokbook.engine import kernels  # noqa: E402
from grokbook.engine.models import BatchedMLP, SquaredTable  # noqa: E402
from grokbook.engine.train import Config, Run, train  # noqa: E402

needs_triton = pytest.mark.skipif(
    not kernels.available(),
    reason="triton is not installed (pip install triton): the fused kernels are tested in its interpreter")

F64 = torch.float64
# relative error bounds, max |error| / max |reference|: float32 products over N <= 64 terms, and
# bfloat16 operands (unit roundoff 2^-8) with float32 accumulation
BOUND = {"highest": 2e-6, "bf16": 2e-2}


@pytest.fixture
def device(monkeypatch):
    """Where the kernels run: the GPU, or the CPU in Triton's interpreter."""
    if CUDA:
        return "cuda"
    if not kernels.interpreter_ready():
        pytest.skip("triton was imported before TRITON_INTERPRET=1 could be set; run "
                    "tests/test_kernels.py on its own")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    return "cpu"


def rel_err(actual, expected):
    return ((actual.double() - expected).abs().max() / expected.abs().max()).item()


def reference(U, V, W, G):
    """Outputs and gradients of sum(out * G) by the eager path in float64."""
    U, V, W = (t.detach().to(F64).requires_grad_() for t in (U, V, W))
    out = torch.bmm(SquaredTable.apply(U.transpose(1, 2), V.transpose(1, 2)), W.transpose(1, 2))
    out.backward(G.to(F64))
    return out.detach(), U.grad, V.grad, W.grad


def random_inputs(K, p, N, seed):
    g = torch.Generator().manual_seed(seed)
    std = (16 * N) ** (-1 / 3) * 3  # the paper's init, a little larger so that h is not tiny
    U, V = (torch.randn(K, N, p, generator=g) * std for _ in range(2))
    W = torch.randn(K, p, N, generator=g) * std
    G = torch.randn(K, p * p, p, generator=g)
    return U, V, W, G


# ----------------------------------------------------------------------------- the kernels alone
SHAPES = [  # K, p, N, block_j: ragged j blocks (40 = 16 + 16 + 8), p from 7 to 13, one run
    (2, 7, 8, 16),
    (2, 11, 40, 16),
    (1, 13, 33, 32),
    (3, 13, 24, None),
]


@needs_triton
@pytest.mark.parametrize("precision", ["highest", "bf16"])
@pytest.mark.parametrize("K, p, N, block_j", SHAPES)
def test_kernels_match_float64_reference(device, K, p, N, block_j, precision):
    seed = 1000 * K + 100 * p + N + (precision == "bf16")  # fresh inputs per case, reproducible
    U, V, W, G = random_inputs(K, p, N, seed)
    ref_out, ref_dU, ref_dV, ref_dW = reference(U, V, W, G)
    params = [t.to(device).requires_grad_() for t in (U, V, W)]
    out = kernels.table_mlp(*params, precision=precision, block_j=block_j)
    assert out.shape == (K, p * p, p) and out.dtype == torch.float32
    out.backward(G.to(device))
    errors = [rel_err(out.cpu(), ref_out)] + [rel_err(t.grad.cpu(), r)
                                              for t, r in zip(params, (ref_dU, ref_dV, ref_dW))]
    assert max(errors) < BOUND[precision], errors
    if precision == "bf16":  # not vacuous: the operands really were rounded
        assert max(errors) > 1e-5, errors


@needs_triton
def test_kernels_deterministic(device):
    """No atomics: the same inputs give the same bits."""
    U, V, W, G = random_inputs(2, 11, 40, 0)
    results = []
    for _ in range(2):
        params = [t.to(device).requires_grad_() for t in (U, V, W)]
        out = kernels.table_mlp(*params, block_j=16)
        out.backward(G.to(device))
        results.append([out.detach()] + [t.grad for t in params])
    for a, b in zip(*results):
        assert torch.equal(a, b)


@needs_triton
def test_model_forward_with_neuron_mask(device):
    """The model's triton forward (used in evaluation) matches the eager one, pruned neurons included."""
    U, V, W, _ = random_inputs(2, 11, 24, 1)
    model = BatchedMLP(U, V, W).to(device).eval()
    mask = (torch.rand(2, 24, generator=torch.Generator().manual_seed(2)) > 0.3).float()
    with torch.no_grad():
        eager = BatchedMLP(U.double(), V.double(), W.double())(neuron_mask=mask.double())
        model.kernel = "triton"
        fused = model(neuron_mask=mask.to(device))
    assert rel_err(fused.cpu(), eager) < BOUND["highest"]
    with pytest.raises(ValueError, match="kernel='triton'"):
        model(torch.zeros(2, 5, dtype=torch.long, device=device))  # a minibatch: the kernels compute the table only


# ----------------------------------------------------------------------------- training
RUNS = [Run(alpha=0.6, xi=0.2, lr=0.05, wd=0.0, data_seed=0, model_seed=0),
        Run(alpha=0.7, xi=0.35, lr=0.05, wd=5.0, data_seed=2, model_seed=2)]
TRAIN = Config(p=11, width=16, steps=12, log_every=4)


@needs_triton
def test_training_matches_eager(device):
    """A few full-batch AdamW steps: the same accuracies and phases as the eager path in float32 and
    float64, every logged metric and the final weights equal to float32 rounding."""
    fused = train(RUNS, TRAIN, device=device, kernel="triton", progress=False)
    eager = train(RUNS, TRAIN, device=device, kernel="eager", progress=False)
    exact = train(RUNS, TRAIN, device="cpu", dtype=F64, progress=False)
    cols = ["loss", "test_loss", "train_acc", "test_acc", "corrupt_acc", "clean_acc", "weight_norm"]
    for name in ("train_acc", "test_acc", "clean_acc", "corrupt_acc", "phase"):
        assert fused.runs[name].tolist() == eager.runs[name].tolist(), name
    assert fused.runs.phase.tolist() == exact.runs.phase.tolist()
    np.testing.assert_allclose(fused.history[cols].to_numpy(), exact.history[cols].to_numpy(), rtol=1e-4)
    for name in "UVW":
        assert rel_err(getattr(fused.model, name).detach(), getattr(exact.model, name).detach()) < 1e-4
    assert fused.model.kernel == "eager"  # the model comes back as an ordinary one
    # not vacuous: training fitted most training examples, and the runs differ in phase or accuracy
    assert (fused.runs.train_acc > 0.5).all()
    assert fused.history.train_acc.nunique() > 3


# ----------------------------------------------------------------------------- errors, not fallbacks
def test_kernel_name_is_validated():
    with pytest.raises(ValueError, match="kernel must be one of"):
        train(RUNS[:1], TRAIN, device="cpu", kernel="fused", progress=False)


UNSUPPORTED = {
    "minibatch": (dict(batch_size=8), {}, "batch_size"),
    "cross_entropy": (dict(loss="cross_entropy"), {}, "loss"),
    "relu": (dict(activation="relu"), {}, "activation"),
    "batchnorm": (dict(batchnorm=True), {}, "batchnorm"),
    "float64": ({}, dict(dtype=F64), "dtype"),
    "compile": ({}, dict(compile=True), "compile"),
    "p": (dict(p=131), {}, "p <= 128"),
}


@pytest.mark.parametrize("config_kw, train_kw, word", list(UNSUPPORTED.values()), ids=list(UNSUPPORTED))
def test_unsupported_settings_are_refused(config_kw, train_kw, word):
    config = Config(**{**vars(TRAIN), **config_kw})
    with pytest.raises(ValueError, match=rf"kernel='triton' needs .*{word}"):
        train(RUNS[:1], config, device="cpu", kernel="triton", progress=False, **train_kw)


def test_dropout_is_refused():
    with pytest.raises(ValueError, match="kernel='triton' needs dropout=0"):
        train([Run(dropout=0.1)], TRAIN, device="cpu", kernel="triton", progress=False)


@needs_triton
def test_cpu_without_interpreter_is_refused(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(ValueError, match="kernel='triton' needs a CUDA device"):
        train(RUNS[:1], TRAIN, device="cpu", kernel="triton", progress=False)
    U, V, W, _ = random_inputs(1, 7, 16, 0)
    with pytest.raises(ValueError, match="needs a CUDA device"):
        kernels.table_mlp(U, V, W)


def test_missing_triton_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(kernels, "triton", None)
    with pytest.raises(ImportError, match="pip install triton"):
        train(RUNS[:1], TRAIN, device="cpu", kernel="triton", progress=False)


@needs_triton
@pytest.mark.parametrize("kw, word", [(dict(precision="fp8"), "precision"), (dict(block_j=24), "block_j"),
                                      (dict(block_j=8), "block_j")])
def test_table_mlp_arguments(device, kw, word):
    U, V, W = (t.to(device) for t in random_inputs(1, 7, 16, 0)[:3])
    with pytest.raises(ValueError, match=word):
        kernels.table_mlp(U, V, W, **kw)


@needs_triton
def test_table_mlp_shapes_and_dtype(device):
    U, V, W = (t.to(device) for t in random_inputs(1, 7, 16, 0)[:3])
    with pytest.raises(ValueError, match="float32"):
        kernels.table_mlp(U.double(), V.double(), W.double())
    with pytest.raises(ValueError, match=r"W \(K, p, N\)"):
        kernels.table_mlp(U, V, W.transpose(1, 2))


# ----------------------------------------------------------------------------- bf16 on the eager path
def test_bf16_autocast_path():
    """precision='bf16' on the eager path: products in bfloat16, the same outcome at small sizes."""
    config = Config(p=11, width=32, steps=30, log_every=30)
    fp32 = train(RUNS, config, device="cpu", progress=False)
    bf16 = train(RUNS, config, device="cpu", precision="bf16", progress=False)
    assert not torch.equal(fp32.model.U, bf16.model.U)  # not vacuous: the products were rounded
    assert rel_err(bf16.model.U, fp32.model.U.double()) < 0.1
    assert (bf16.runs.phase == fp32.runs.phase).all()
    with pytest.raises(ValueError, match="precision='bf16' needs dtype"):
        train(RUNS, config, device="cpu", dtype=F64, precision="bf16", progress=False)
