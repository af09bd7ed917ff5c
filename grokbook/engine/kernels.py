"""A fused Triton kernel for the full-table forward and backward of the paper's MLP.

The engine's eager path builds the hidden tensor h = (U^T_m + V^T_n)^2 of the
whole p x p table, shape (K, p^2, N), in memory, multiplies it by W^T, and in
the backward makes more passes over tensors of that size.  At p = 97, N = 500
that tensor is 19 MB per run: the step is bound by memory traffic, not by the
matrix products.  Here h never reaches memory:

forward, one program per (run k, first input m)
    for each block of hidden units j:  a = U^T[k, m, j] + V^T[k, :, j]   (all n at once)
                                       out[k, m, :, :] += (a * a) @ W[k, :, j]^T
backward, one program per (run k, block of hidden units j)
    load V^T[k, :, j], W[k, :, j] once; for m = 0 .. p-1:
        a, h = U^T[k, m, j] + V^T[k, :, j], a^2          (recomputed, not stored)
        G = dL/dout[k, m, :, :]                         (p x p)
        dh = G @ W[k, :, j];  dW[k, :, j] += G^T @ h
        dU^T[k, m, j] = sum_n 2 a dh;  dV^T[k, :, j] += 2 a dh

Each program owns the gradient entries it writes, so there are no atomics and
the result is deterministic: same inputs, same bits.  The outputs (K, p^2, p)
are the only large tensor left (p / N = 1/5 of the hidden tensor at the
paper's sizes).  The tiles span the whole table row (all n) and all p outputs,
padded to a power of two: this path supports p <= 128 (p = 97 pads to 128).

``precision``: "highest" multiplies in IEEE float32, "tf32" on TF32 tensor
cores, "bf16" rounds the operands of the products to bfloat16 (float32
accumulation); the elementwise parts are float32 in every case.

The kernels need a CUDA GPU.  Without one they can only run in Triton's
interpreter (numpy on the CPU, slow): ``TRITON_INTERPRET=1`` must be set before
triton is first imported (Triton decides then whether its own library functions
are compiled or interpreted) and while the kernels run.  That is how the tests
check them against the float64 eager path.  Nothing here falls back silently to
another path.
"""
import contextlib
import os
from typing import Optional

import torch

try:  # optional dependency: only the kernel="triton" path needs it
    import triton
    import triton.language as tl
    constexpr = tl.constexpr
except ImportError:  # pragma: no cover - exercised where triton is absent
    triton = None
    tl = None
    constexpr = int  # only so that the kernels' annotations below evaluate

PRECISIONS = ("highest", "tf32", "bf16")
MAX_P = 128
_DOT = {"highest": "ieee", "tf32": "tf32", "bf16": "ieee"}  # input_precision of tl.dot (bf16: operands cast)
# Launch settings, not yet tuned on a GPU.  The backward holds a (128, 128) float32 tile of the output
# gradient (64 KB of shared memory at p = 97) and its transpose: one pipeline stage keeps it within an
# H100's shared memory; more stages, larger ``block_j`` or more warps are for a GPU session to try.
FORWARD_LAUNCH = dict(num_warps=4, num_stages=3)
BACKWARD_LAUNCH = dict(num_warps=8, num_stages=1)


def available() -> bool:
    """Whether the triton package can be imported."""
    return triton is not None


def interpreting() -> bool:
    """Whether Triton's interpreter is on (``TRITON_INTERPRET=1``): kernels then run on CPU tensors."""
    knobs = getattr(triton, "knobs", None)  # triton >= 3.4; older versions read the variable itself
    if knobs is not None:
        return bool(knobs.runtime.interpret)
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


def interpreter_ready() -> bool:
    """Whether triton was imported with the interpreter on (its library functions are interpreted)."""
    if triton is None:
        return False
    from triton.runtime.interpreter import InterpretedFunction
    return isinstance(tl.zeros, InterpretedFunction)


def check_supported(device) -> None:
    """Raise a clear error unless the fused path can run on ``device``.

    ImportError without the triton package; ValueError on a CPU device unless the
    interpreter is on (a CUDA device is what the kernels are for).
    """
    if triton is None:
        raise ImportError("kernel='triton' needs the triton package (pip install triton); "
                          "use kernel='eager' without it")
    device = torch.device(device)
    if device.type == "cuda":
        return
    if device.type == "cpu" and interpreting():
        if not interpreter_ready():
            raise ValueError("TRITON_INTERPRET=1 was set after triton had been imported; set it "
                             "before the first import of triton to run the kernels on a CPU")
        return
    raise ValueError(f"kernel='triton' needs a CUDA device, got device {str(device)!r}; use "
                     "kernel='eager' on a CPU (TRITON_INTERPRET=1 runs the kernels in Triton's slow "
                     "interpreter on CPU tensors, for testing)")


# ----------------------------------------------------------------------------- the kernels
# Plain functions, turned into Triton kernels at first use (``_kernels``): triton.jit decides
# at decoration time whether to compile or to interpret, so building late lets a test switch
# the interpreter on after importing this module.

def _forward(Ut, Vt, W, Out, p, N,
             BN: constexpr, BQ: constexpr, BJ: constexpr,
             DOT: constexpr, BF16: constexpr, EMULATE: constexpr):
    k = tl.program_id(0).to(tl.int64)
    m = tl.program_id(1)
    n = tl.arange(0, BN)
    q = tl.arange(0, BQ)
    nm = n < p
    qm = q < p
    base = k * p * N
    acc = tl.zeros((BN, BQ), dtype=tl.float32)
    for j0 in range(0, N, BJ):
        j = j0 + tl.arange(0, BJ)
        jm = j < N
        u = tl.load(Ut + base + m * N + j, mask=jm, other=0.0)                     # (BJ,)
        v = tl.load(Vt + base + n[:, None] * N + j[None, :],
                    mask=nm[:, None] & jm[None, :], other=0.0)                    # (BN, BJ)
        wt = tl.load(W + base + q[None, :] * N + j[:, None],
                     mask=qm[None, :] & jm[:, None], other=0.0)                   # (BJ, BQ) = W^T
        a = u[None, :] + v
        h = a * a
        if BF16:  # round the operands to bfloat16 (EMULATE: then back to float32, see _kernels)
            h = h.to(tl.bfloat16)
            wt = wt.to(tl.bfloat16)
            if EMULATE:
                h = h.to(tl.float32)
                wt = wt.to(tl.float32)
        acc = tl.dot(h, wt, acc, input_precision=DOT)
    rows = m * p + n
    tl.store(Out + k * p * p * p + rows[:, None] * p + q[None, :], acc,
             mask=nm[:, None] & qm[None, :])


def _backward(Ut, Vt, W, G, dUt, dVt, dW, p, N,
              BN: constexpr, BQ: constexpr, BJ: constexpr,
              DOT: constexpr, BF16: constexpr, EMULATE: constexpr):
    k = tl.program_id(0).to(tl.int64)
    j = tl.program_id(1) * BJ + tl.arange(0, BJ)
    n = tl.arange(0, BN)
    q = tl.arange(0, BQ)
    jm = j < N
    nm = n < p
    qm = q < p
    base = k * p * N
    v = tl.load(Vt + base + n[:, None] * N + j[None, :], mask=nm[:, None] & jm[None, :], other=0.0)
    w = tl.load(W + base + q[:, None] * N + j[None, :], mask=qm[:, None] & jm[None, :], other=0.0)
    if BF16:
        w = w.to(tl.bfloat16)
        if EMULATE:
            w = w.to(tl.float32)
    dv = tl.zeros((BN, BJ), dtype=tl.float32)
    dw = tl.zeros((BQ, BJ), dtype=tl.float32)
    gbase = k * p * p * p
    for m in range(p):
        u = tl.load(Ut + base + m * N + j, mask=jm, other=0.0)                     # (BJ,)
        a = u[None, :] + v                                                        # (BN, BJ)
        h = a * a
        rows = m * p + n
        g = tl.load(G + gbase + rows[:, None] * p + q[None, :],
                    mask=nm[:, None] & qm[None, :], other=0.0)                    # (BN, BQ)
        if BF16:
            g = g.to(tl.bfloat16)
            h = h.to(tl.bfloat16)
            if EMULATE:
                g = g.to(tl.float32)
                h = h.to(tl.float32)
        dh = tl.dot(g, w, input_precision=DOT)                                     # (BN, BJ)
        dw = tl.dot(tl.trans(g), h, dw, input_precision=DOT)                       # (BQ, BJ)
        d = 2.0 * a * dh                              # padded rows: g = 0 there, so dh = 0
        tl.store(dUt + base + m * N + j, tl.sum(d, axis=0), mask=jm)
        dv += d
    tl.store(dVt + base + n[:, None] * N + j[None, :], dv, mask=nm[:, None] & jm[None, :])
    tl.store(dW + base + q[:, None] * N + j[None, :], dw, mask=qm[:, None] & jm[None, :])


_BUILT = {}


def _kernels():
    """The jitted (or, with the interpreter on, interpreted) kernels, built once per mode.

    In the interpreter (triton 3.9) tl.dot multiplies bfloat16 operands as their integer bit
    patterns, so there the bf16 path rounds its operands to bfloat16 and multiplies them in
    float32 (kernel flag EMULATE): the same products (a product of two bfloat16 numbers is exact
    in float32), the same float32 accumulation.
    """
    mode = interpreting()
    if mode not in _BUILT:
        _BUILT[mode] = (triton.jit(_forward), triton.jit(_backward))
    return _BUILT[mode]


def _blocks(p: int, width: int, block_j: Optional[int]):
    B = max(16, triton.next_power_of_2(p))
    if block_j is None:
        block_j = 32 if width >= 32 else 16
    return B, block_j


def _on(device):
    """Launch on the tensors' GPU (Triton launches on the current CUDA device)."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()


# ----------------------------------------------------------------------------- autograd
class FusedTableMLP(torch.autograd.Function):
    """out = W phi(U e_m + V e_n) for every pair of the table, (K, p^2, p), phi(x) = x^2."""

    @staticmethod
    def forward(ctx, U, V, W, precision, block_j):
        K, N, p = U.shape
        Ut = U.detach().transpose(1, 2).contiguous()
        Vt = V.detach().transpose(1, 2).contiguous()
        Wc = W.detach().contiguous()
        B, BJ = _blocks(p, N, block_j)
        out = torch.empty(K, p * p, p, device=U.device, dtype=U.dtype)
        fwd, _ = _kernels()
        with _on(U.device):
            fwd[(K, p)](Ut, Vt, Wc, out, p, N, BN=B, BQ=B, BJ=BJ,
                        DOT=_DOT[precision], BF16=precision == "bf16", EMULATE=interpreting(),
                        **FORWARD_LAUNCH)
        ctx.save_for_backward(Ut, Vt, Wc)
        ctx.precision, ctx.block_j = precision, block_j
        return out

    @staticmethod
    def backward(ctx, grad):
        Ut, Vt, W = ctx.saved_tensors
        K, p, N = Ut.shape
        B, BJ = _blocks(p, N, ctx.block_j)
        grad = grad.contiguous()
        dUt, dVt, dW = (torch.empty_like(t) for t in (Ut, Vt, W))
        _, bwd = _kernels()
        with _on(Ut.device):
            bwd[(K, triton.cdiv(N, BJ))](Ut, Vt, W, grad, dUt, dVt, dW, p, N, BN=B, BQ=B, BJ=BJ,
                                         DOT=_DOT[ctx.precision], BF16=ctx.precision == "bf16",
                                         EMULATE=interpreting(), **BACKWARD_LAUNCH)
        return dUt.transpose(1, 2), dVt.transpose(1, 2), dW, None, None


def table_mlp(U, V, W, *, precision: str = "highest", block_j: Optional[int] = None) -> torch.Tensor:
    """The outputs (K, p^2, p) of K quadratic MLPs on the whole table, by the fused kernels.

    U, V: (K, N, p), W: (K, p, N), float32, on a CUDA device (or CPU with the
    interpreter on).  Differentiable in U, V and W.  ``block_j``: hidden units
    per tile (a power of two >= 16; default 32).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if U.dim() != 3 or U.shape != V.shape or W.shape != (U.shape[0], U.shape[2], U.shape[1]):
        raise ValueError(f"U, V must be (K, N, p) and W (K, p, N); got {tuple(U.shape)}, "
                         f"{tuple(V.shape)}, {tuple(W.shape)}")
    if not (U.dtype == V.dtype == W.dtype == torch.float32):
        raise ValueError(f"kernel='triton' needs float32 weights, got {U.dtype}, {V.dtype}, {W.dtype}")
    if not (U.device == V.device == W.device):
        raise ValueError("U, V and W must be on the same device")
    p = U.shape[2]
    if p > MAX_P:
        raise ValueError(f"kernel='triton' supports p <= {MAX_P} (one tile spans a table row), got p={p}")
    if block_j is not None and not (isinstance(block_j, int) and block_j >= 16
                                    and block_j & (block_j - 1) == 0):
        raise ValueError(f"block_j must be a power of two >= 16, got {block_j!r}")
    check_supported(U.device)
    return FusedTableMLP.apply(U, V, W, precision, block_j)
