"""The engine's CPU step: the paper's MLP trained on each run's training rows only, in
cache-sized tiles, with the gradients written out by hand.

On a GPU the step computes the whole p x p table (``grokbook.models``); on a 2-core CPU that
wastes the test pairs' work and, worse, streams (K, p^2, N) tensors through memory several
times a step.  Here one training step of K runs is, for each *tile* -- a group of G runs with
the same number of rows and T of their rows, sized so that the (G, T, N) hidden tensor stays in
the CPU's caches (``TILE_ELEMENTS``, measured) --

    a   = U^T[m] + V^T[n]                 gather the rows' pre-activations    (G, T, N)
    a  *= dropout mask / (1 - rate)        (dropout runs only)
    h   = a^2            [BatchNorm(h)]    the hidden layer                    (G, T, N)
    out = h W^T                                                               (G, T, p)
    g   = 2 (out - onehot(y)) / (p n)      d loss / d out of the mean MSE     (G, T, p)
    dW += g^T h,   dh = g W,   da = 2 a dh [/(1 - rate)]
    dU^T[m] += da, dV^T[n] += da           index_add                          (G p, N)

which is the same loss and gradient as the autograd graph of ``BatchedMLP`` over the training
rows (tested in float64 against it and against the per-run loop of ``grokbook.reference``).
The row order is the pairs' table order, so sums differ from the full-table step only in
float rounding.  BatchNorm needs the whole batch in one tile, so with BatchNorm T is the batch.

Dropout masks come from a per-run NumPy SFC64 stream (torch's per-generator ``rand`` is
single-threaded and costs more than the step's products here): 16 random bits per unit, a unit
kept when they fall below ``round((1 - rate) 2^16)``, kept units scaled by the inverse of that
realised keep probability, so E[mask] = 1 exactly and the realised rate differs from the asked
one by less than 2^-17.

``setup_allocator`` stops glibc from returning the step's large blocks to the OS after every
step (which made every step page-fault its hidden tensors afresh).
"""
from __future__ import annotations

import ctypes
import ctypes.util
from contextlib import contextmanager

import numpy as np
import torch

from .models import BN_EPS, BN_MOMENTUM

# Elements of one (G, T, N) tile.  Measured on the 2-core Zen 4 machine (p 53, N 300, K 36,
# full batch): 0.3-0.5 M elements (1-2 MB fp32) is best, G = 6 runs x T = 256 rows at 390
# model-steps/s against 280 with all rows of all runs at once.
TILE_ELEMENTS = 400_000
MAX_TILE_RUNS = 6
DROPOUT_BITS = 16

_allocator_done = False


def setup_allocator() -> bool:
    """Keep freed memory in the process (glibc): no mmap for big blocks, no trimming.

    Returns whether the setting took (False off glibc).  Called by ``train`` on a CPU, once.
    """
    global _allocator_done
    if _allocator_done:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
    ok = mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, 2**30) == 1
    _allocator_done = ok
    return ok


def flush_denormals_on() -> bool:
    """Whether the CPU flushes denormal floats to zero now.

    ``train`` turns flushing on while it trains on a CPU.  Weights that decay towards zero
    (weight decay, BatchNorm de-amplifying a neuron, Forgetting) pass through the denormal
    range below 1.2e-38, where x86 arithmetic is tens of times slower; a minibatch BatchNorm
    sweep ran 5x faster with flushing.  Only numbers below that range change (to 0).
    """
    return bool((torch.tensor([1e-39], dtype=torch.float32) * 2.0).item() == 0.0)



@contextmanager
def runtime(device):
    """The CPU's settings while a trainer runs on ``device``, restored after: freed memory kept in
    the process (``setup_allocator``) and denormals flushed to zero (``flush_denormals_on``).
    Nothing changes on another device."""
    if torch.device(device).type != "cpu":
        yield
        return
    setup_allocator()
    was = flush_denormals_on()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(was)


def start_threads_flushing() -> None:
    """Start torch's OpenMP worker threads with denormals flushed to zero.

    ``train`` flushes denormals while it trains on a CPU (weights decaying to zero pass through
    the denormal range, where x86 arithmetic is many times slower), but
    ``torch.set_flush_denormal`` acts on the calling thread only, and a worker thread keeps the
    floating-point mode it was created with.  A pool created by earlier torch work, with flushing
    off, computed half of every later step with slow denormals (measured: a quick-profile
    Forgetting run 16x slower).  ``import grokbook`` calls this first, so the pool is created
    flushing; it changes nothing for the calling thread.  (A pool that already exists when
    grokbook is imported keeps its mode: import grokbook before other torch work.)
    """
    was = flush_denormals_on()
    torch.set_flush_denormal(True)
    try:
        torch.ones(1 << 22).mul_(2.0).sum()  # a parallel op: the pool starts here, flushing
    finally:
        torch.set_flush_denormal(was)


def supported(config, dtype, precision, compile) -> bool:
    """Whether a chunk trains on the CPU step (else the autograd graph over the whole table)."""
    return (config.activation == "quadratic" and config.loss == "mse" and not compile
            and precision != "bf16" and dtype in (torch.float32, torch.float64))


def transposed_storage(model, undo: bool = False) -> None:
    """Store U and V as (K, p, N) in memory (the model still sees (K, N, p) views), so that the
    step gathers rows of U^T, V^T without a copy; ``undo``: back to plain contiguous (K, N, p)."""
    with torch.no_grad():
        for name in ("U", "V"):
            t = getattr(model, name).detach()
            t = t.contiguous() if undo else t.transpose(1, 2).contiguous().transpose(1, 2)
            setattr(model, name, torch.nn.Parameter(t))


def training_rows(train: torch.Tensor) -> list[torch.Tensor]:
    """Each run's training pairs in table order, a list of K int64 tensors."""
    return [row.nonzero().squeeze(1) for row in train]


def blocks(lengths, rows_per_run: int, width: int, batchnorm: bool):
    """Split K runs (consecutive, in order) into tiles: [(first, last, rows_per_tile)].

    Runs of one tile share their number of rows (``lengths``; a minibatch gives every run the same).
    """
    K = len(lengths)
    out, lo = [], 0
    while lo < K:
        hi = lo + 1
        while hi < K and lengths[hi] == lengths[lo]:
            hi += 1
        r = lengths[lo] if rows_per_run is None else rows_per_run
        if batchnorm or r * width <= TILE_ELEMENTS:
            G, T = max(1, TILE_ELEMENTS // (r * width)), r
        else:  # groups of at most MAX_TILE_RUNS runs, as even as they go, and row tiles
            G = -(-(hi - lo) // -(-(hi - lo) // MAX_TILE_RUNS))
            T = min(r, max(64, TILE_ELEMENTS // (G * width)))
        for a in range(lo, hi, G):
            out.append((a, min(hi, a + G), T))
        lo = hi
    return out


class DropoutStreams:
    """Per-run dropout masks from NumPy SFC64 streams (see the module docstring)."""

    def __init__(self, seeds, rates):
        self.rates = [float(r) for r in rates]
        self.keep_at = [round((1.0 - r) * 2**DROPOUT_BITS) for r in self.rates]
        self.keep = [t / 2**DROPOUT_BITS for t in self.keep_at]
        self.gens = [np.random.Generator(np.random.SFC64(np.random.SeedSequence([int(s), 0xD209])))
                     for s in seeds]

    def bits(self, k: int, rows: int, width: int) -> np.ndarray | None:
        """Run k's random bits for its next ``rows`` rows (rows, width) uint16, or None at rate 0.

        Every row takes ceil(width / 4) 64-bit outputs of the run's own stream, and a step's
        rows are drawn in order, so the masks do not depend on the chunk or the tile sizes."""
        if self.keep_at[k] == 2**DROPOUT_BITS:
            return None
        per_row = -(-width // 4)
        raw = self.gens[k].bit_generator.random_raw(rows * per_row)
        return raw.view(np.uint16).reshape(rows, 4 * per_row)[:, :width]

    def mask(self, k: int, bits: np.ndarray | None, out: np.ndarray) -> None:
        """Write run k's keep mask (True kept, False dropped) from its ``bits`` into ``out``."""
        if bits is None:
            out.fill(True)
        else:
            np.less(bits, self.keep_at[k], out=out)


class _Tile:
    """One tile's fixed parts: its runs [lo, hi), its rows [t0, t1) and their gather indices."""

    __slots__ = ("lo", "hi", "t0", "t1", "mt", "nt", "y", "minus_one", "scale")


class Step:
    """One training step of a chunk's K runs on the CPU; gradients into the model's ``.grad``."""

    def __init__(self, model, data, config, seeds, dropout):
        self.model, self.config = model, config
        self.p, self.N = model.p, model.width
        self.rows = training_rows(data.train)
        self.labels = data.labels
        self.lengths = [len(r) for r in self.rows]
        self.dropout = (DropoutStreams(seeds, dropout) if dropout is not None
                        and any(r > 0 for r in dropout) else None)
        self.sampler = (None if config.batch_size is None
                        else MinibatchSampler(self.rows, seeds, config.batch_size))
        self.blocks = blocks(self.lengths, config.batch_size, self.N, config.batchnorm)
        self.dtype = model.U.dtype
        self._buffers = {}
        self.plan = None if self.sampler is not None else self._plan(self.rows)

    def _plan(self, rows):
        """The tiles of a step whose rows are ``rows`` (a list of K index tensors)."""
        p, dtype = self.p, self.dtype
        plan = []
        for lo, hi, T in self.blocks:
            G = hi - lo
            idx = torch.stack(rows[lo:hi])  # (G, r)
            r = idx.shape[1]
            y = self.labels[lo:hi].gather(1, idx)
            off = (torch.arange(G) * p)[:, None]
            mi, ni = idx // p + off, idx % p + off
            for t0 in range(0, r, T):
                t = _Tile()
                t.lo, t.hi, t.t0, t.t1 = lo, hi, t0, min(r, t0 + T)
                t.mt = mi[:, t.t0:t.t1].reshape(-1)
                t.nt = ni[:, t.t0:t.t1].reshape(-1)
                t.y = y[:, t.t0:t.t1, None].contiguous()
                t.minus_one = torch.full(t.y.shape, -1.0, dtype=dtype)
                t.scale = torch.full((G, 1, 1), 2.0 / (p * r), dtype=dtype)  # d mean MSE / d out
                plan.append(t)
        return plan

    def _buffer(self, shape):
        """A reused bool buffer of this shape for a tile's masks (fresh memory costs page faults)."""
        buf = self._buffers.get(shape)
        if buf is None:
            buf = self._buffers[shape] = np.empty(shape, dtype=bool)
        return buf

    def __call__(self, step: int):
        m, p, N = self.model, self.p, self.N
        plan = self.plan if self.sampler is None else self._plan(self.sampler.batch(step))
        Ut = m.U.detach().transpose(1, 2).contiguous()  # (K, p, N): no copy (transposed_storage)
        Vt = m.V.detach().transpose(1, 2).contiguous()
        W = m.W.detach()
        gU, gV, gW = torch.zeros_like(Ut), torch.zeros_like(Vt), torch.zeros_like(W)
        bn = m.batchnorm
        if bn:
            gG, gB = torch.zeros_like(m.gamma), torch.zeros_like(m.beta)
            gamma, beta = m.gamma.detach(), m.beta.detach()
        drop = self.dropout
        if drop is not None:
            inv_keep2 = torch.tensor(drop.keep, dtype=torch.float64).pow_(-2).to(self.dtype)[:, None, None]
        for t in plan:
            lo, hi, t0, t1 = t.lo, t.hi, t.t0, t.t1
            G = hi - lo
            a = Ut[lo:hi].view(G * p, N).index_select(0, t.mt)
            a += Vt[lo:hi].view(G * p, N).index_select(0, t.nt)
            a = a.view(G, t1 - t0, N)
            if drop is not None:
                keep = self._buffer((G, t1 - t0, N))
                for i, k in enumerate(range(lo, hi)):  # tiles come in row order
                    drop.mask(k, drop.bits(k, t1 - t0, N), keep[i])
                a.mul_(torch.from_numpy(keep.view(np.uint8)))  # a * mask; 1 / keep: on the outputs
            h = a * a
            if drop is not None and bn:
                h.mul_(inv_keep2[lo:hi])
            Wg = W[lo:hi]
            if bn:
                hn, xhat, inv = _bn_forward(h, m, lo, hi, gamma, beta)
            else:
                hn = h
            out = torch.bmm(hn, Wg.transpose(1, 2))
            if drop is not None and not bn:  # (a mask / keep)^2 W^T = (a mask)^2 W^T / keep^2
                out.mul_(inv_keep2[lo:hi])
            g = out.scatter_add_(2, t.y, t.minus_one).mul_(t.scale)  # d loss / d out
            if drop is not None and not bn:
                g.mul_(inv_keep2[lo:hi])  # the same 1 / keep^2 on the way back
            gW[lo:hi].baddbmm_(g.transpose(1, 2), hn)
            dh = torch.bmm(g, Wg)
            if bn:
                dh = _bn_backward(dh, xhat, inv, gamma[lo:hi], gG[lo:hi], gB[lo:hi])
            if drop is not None and bn:
                dh.mul_(inv_keep2[lo:hi])
            da = dh.mul_(a).mul_(2.0).view(-1, N)  # a is already 0 where dropped
            gU[lo:hi].view(G * p, N).index_add_(0, t.mt, da)
            gV[lo:hi].view(G * p, N).index_add_(0, t.nt, da)
        m.U.grad = gU.transpose(1, 2)
        m.V.grad = gV.transpose(1, 2)
        m.W.grad = gW
        if bn:
            m.gamma.grad, m.beta.grad = gG, gB


def _bn_forward(h, model, lo, hi, gamma, beta):
    """BatchNorm over a tile's rows (the whole batch), updating the running statistics."""
    n = h.shape[1]
    mean = h.mean(1)
    xc = h - mean[:, None, :]
    var = (xc * xc).mean(1)
    with torch.no_grad():  # PyTorch's convention: the running variance is unbiased
        model.running_mean[lo:hi].lerp_(mean, BN_MOMENTUM)
        model.running_var[lo:hi].lerp_(var * (n / max(n - 1, 1)), BN_MOMENTUM)
    inv = torch.rsqrt(var + BN_EPS)[:, None, :]
    xhat = xc.mul_(inv)
    return xhat * gamma[lo:hi, None, :] + beta[lo:hi, None, :], xhat, inv


def _bn_backward(dy, xhat, inv, gamma, gG, gB):
    """d loss / d h through BatchNorm (batch statistics), accumulating gamma's and beta's grads."""
    gG += (dy * xhat).sum(1)
    gB += dy.sum(1)
    dx = dy.mul_(gamma[:, None, :])
    return dx.sub_(dx.mean(1, keepdim=True)).sub_(xhat * (dx * xhat).mean(1, keepdim=True)).mul_(inv)


def epoch_order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The order (a permutation of 0..n-1) in which a run with ``seed`` visits its n training
    rows in ``epoch``: a counter-based hash of (seed, epoch, position), sorted."""
    M = 0xFFFFFFFF
    pos = torch.arange(n, dtype=torch.int64)
    x = ((seed * 0x27D4EB2F) & M) ^ ((epoch * 0x165667B1) & M)
    x = (x + ((pos * 0x61C88647) & M)) & M
    for mult in (0x7FEB352D, 0x2C1B3C6D):  # a lowbias32-style mix; products stay below 2**63
        x = x ^ (x >> 16)
        x = (x * mult) & M
    x = x ^ (x >> 15)
    return (x * n + pos).argsort()  # distinct keys: no ties to break


class MinibatchSampler:
    """Minibatches as a shuffled pass over each run's training rows, epoch after epoch.

    Run k with n_k rows has n_k // B batches an epoch (the last n_k mod B rows of an epoch's order
    are left out, like ``DataLoader(drop_last=True)``); step t is batch t mod (n_k // B) of epoch
    t // (n_k // B).  A run's batches depend only on its own seed and rows.
    """

    def __init__(self, rows, seeds, batch_size: int):
        self.rows = rows
        self.seeds = [int(s) for s in seeds]
        self.B = batch_size
        self.per_epoch = [len(r) // batch_size for r in rows]
        self._epoch = [-1] * len(rows)
        self._order = [None] * len(rows)

    def batch(self, step: int) -> list[torch.Tensor]:
        out = []
        for k, rows in enumerate(self.rows):
            e, j = divmod(step, self.per_epoch[k])
            if self._epoch[k] != e:
                self._order[k] = rows[epoch_order(self.seeds[k], e, len(rows))]
                self._epoch[k] = e
            out.append(self._order[k][j * self.B:(j + 1) * self.B].sort().values)
        return out


def minibatch_index(train: torch.Tensor, seeds, step: int, batch_size: int) -> torch.Tensor:
    """(K, B) table indices of step ``step``'s minibatch of every run (see MinibatchSampler), in
    table order; stateless, for the reference loop and tests."""
    sampler = MinibatchSampler(training_rows(train.cpu()), [int(s) for s in seeds], batch_size)
    return torch.stack(sampler.batch(step)).to(train.device)
