"""The paper's MLP, batched over K runs.

    f(m, n) = W phi(U e_m + V e_n)        U, V: (N, p), W: (p, N), no biases

For K runs the weights are (K, N, p), (K, N, p), (K, p, N): run k is slice k.
The input one-hot(m) + one-hot(n) times [U V] is just column m of U plus
column n of V, so the hidden pre-activation of the whole p x p table is the
broadcast sum ``U^T[:, :, None] + V^T[:, None, :]`` -- no one-hot matmul.

Dropout (per-run rate) acts on the pre-activation, BatchNorm (optional) right
after phi, as in the paper.  A ``neuron_mask`` (K, N) zeroes neurons at the
output of the hidden layer: that is how pruning removes them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.settings import ACTIVATION_NAMES, check_activation

ACTIVATIONS = {
    "quadratic": lambda x: x * x,
    "relu": F.relu,
    "gelu": F.gelu,
    "tanh": torch.tanh,
    "silu": F.silu,
    "linear": lambda x: x,
}

assert tuple(ACTIVATIONS) == ACTIVATION_NAMES  # the settings' names, the functions here

BN_EPS = 1e-5
BN_MOMENTUM = 0.1


def default_init_std(width: int) -> float:
    """The paper's init: variance (16 N)^(-2/3), i.e. std (16 N)^(-1/3) = 0.05 at N = 500."""
    return (16 * width) ** (-1 / 3)


def init_weights(p: int, width: int, seed: int, std: float | None = None):
    """One run's U (N, p), V (N, p), W (p, N) from a CPU generator: same seed, same weights anywhere."""
    std = default_init_std(width) if std is None else std
    g = torch.Generator().manual_seed(seed)
    U = torch.randn(width, p, generator=g) * std
    V = torch.randn(width, p, generator=g) * std
    W = torch.randn(p, width, generator=g) * std
    return U, V, W


class BatchedMLP(torch.nn.Module):
    """K independent MLPs in one set of tensors (see module docstring).

    ``kernel = "triton"`` (set by ``train(..., kernel="triton")``) computes the full-table forward
    and backward with the fused kernels of ``grokbook.kernels`` (``kernel_precision``: "highest",
    "tf32" or "bf16"); any other use of the model then raises instead of falling back.
    """

    kernel = "eager"
    kernel_precision = "highest"

    def __init__(self, U, V, W, activation: str = "quadratic", batchnorm: bool = False):
        super().__init__()
        check_activation(activation)
        if U.dim() != 3 or U.shape != V.shape or W.shape != (U.shape[0], U.shape[2], U.shape[1]):
            raise ValueError(f"U, V must be (K, N, p) and W (K, p, N); got {tuple(U.shape)}, "
                             f"{tuple(V.shape)}, {tuple(W.shape)}")
        self.U = torch.nn.Parameter(U)
        self.V = torch.nn.Parameter(V)
        self.W = torch.nn.Parameter(W)
        self.activation = activation
        self.batchnorm = batchnorm
        K, N, _ = U.shape
        if batchnorm:
            self.gamma = torch.nn.Parameter(torch.ones(K, N, dtype=U.dtype, device=U.device))
            self.beta = torch.nn.Parameter(torch.zeros(K, N, dtype=U.dtype, device=U.device))
            self.register_buffer("running_mean", torch.zeros(K, N, dtype=U.dtype, device=U.device))
            self.register_buffer("running_var", torch.ones(K, N, dtype=U.dtype, device=U.device))

    @classmethod
    def init(cls, p: int, width: int, seeds, *, std: float | None = None, activation="quadratic",
             batchnorm=False, device="cpu", dtype=torch.float32) -> "BatchedMLP":
        """Fresh weights for K = len(seeds) runs, each from its own seed."""
        parts = [init_weights(p, width, s, std) for s in seeds]
        U, V, W = (torch.stack(t).to(device=device, dtype=dtype) for t in zip(*parts))
        return cls(U, V, W, activation=activation, batchnorm=batchnorm)

    @property
    def K(self) -> int:
        return self.U.shape[0]

    @property
    def width(self) -> int:
        return self.U.shape[1]

    @property
    def p(self) -> int:
        return self.U.shape[2]

    def preactivation(self, index=None) -> torch.Tensor:
        """U e_m + V e_n for the whole table (index None: (K, p*p, N)) or pairs index (K, B)."""
        Ut, Vt = self.U.transpose(1, 2), self.V.transpose(1, 2)  # (K, p, N)
        if index is None:
            K, p, N = Ut.shape
            return (Ut[:, :, None, :] + Vt[:, None, :, :]).reshape(K, p * p, N)
        k = torch.arange(self.K, device=index.device)[:, None]
        return Ut[k, index // self.p] + Vt[k, index % self.p]

    def forward(self, index=None, *, dropout=None, generators=None, bn_weights=None,
                neuron_mask=None) -> torch.Tensor:
        """Outputs (K, B, p) for the table (index None) or the pairs ``index`` (K, B).

        In training mode ``dropout`` (K,) rates (None: no dropout) drop pre-activations with masks drawn
        from the per-run ``generators``; BatchNorm uses the statistics of the batch,
        weighted by ``bn_weights`` (K, B) (the training mask in full-batch training).
        In eval mode neither dropout nor batch statistics are used.
        """
        dropping = self.training and dropout is not None
        if self.kernel == "triton":
            if index is not None or self.activation != "quadratic" or dropping or self.batchnorm:
                raise ValueError("kernel='triton' computes only the full table (index=None) of the "
                                 "quadratic MLP without dropout or BatchNorm")
            from .kernels import table_mlp
            W = self.W if neuron_mask is None else self.W * neuron_mask[:, None, :]
            return table_mlp(self.U, self.V, W, precision=self.kernel_precision)
        if index is None and self.activation == "quadratic" and not dropping:
            h = SquaredTable.apply(self.U.transpose(1, 2), self.V.transpose(1, 2))
        else:
            h = self.preactivation(index)
            if dropping:
                h = h * dropout_masks(h.shape, dropout, generators, h.device, h.dtype)
            h = ACTIVATIONS[self.activation](h)
        if self.batchnorm:
            h = self._batchnorm(h, bn_weights)
        if neuron_mask is not None:
            h = h * neuron_mask[:, None, :]
        return torch.bmm(h, self.W.transpose(1, 2))

    def _batchnorm(self, h, weights):
        if self.training:
            if weights is None:
                weights = torch.ones(h.shape[:2], dtype=h.dtype, device=h.device)
            w = weights.to(h.dtype)
            n = w.sum(1, keepdim=True)  # (K, 1)
            mean = (w[:, :, None] * h).sum(1) / n
            var = (w[:, :, None] * (h - mean[:, None, :]) ** 2).sum(1) / n
            with torch.no_grad():  # PyTorch's convention: running variance is unbiased
                unbiased = var * n / (n - 1).clamp(min=1)
                self.running_mean.lerp_(mean, BN_MOMENTUM)
                self.running_var.lerp_(unbiased, BN_MOMENTUM)
        else:
            mean, var = self.running_mean, self.running_var
        h = (h - mean[:, None, :]) / torch.sqrt(var[:, None, :] + BN_EPS)
        return h * self.gamma[:, None, :] + self.beta[:, None, :]

    def weight_norm(self) -> torch.Tensor:
        """Per-run 2-norm of all of U, V, W together, (K,)."""
        return torch.sqrt(sum((t.detach() ** 2).flatten(1).sum(1) for t in (self.U, self.V, self.W)))

    def select(self, index) -> "BatchedMLP":
        """A detached copy holding only the runs ``index``."""
        out = BatchedMLP(self.U[index].detach().clone(), self.V[index].detach().clone(),
                         self.W[index].detach().clone(), self.activation, self.batchnorm)
        if self.batchnorm:
            with torch.no_grad():
                for name in ("gamma", "beta", "running_mean", "running_var"):
                    getattr(out, name).copy_(getattr(self, name)[index])
        return out.train(self.training)


class SquaredTable(torch.autograd.Function):
    """(U^T_m + V^T_n)^2 for every pair of the table, (K, p*p, N), with a lean backward.

    Autograd's own graph for ``(a + b) ** 2`` makes several passes over the
    (K, p*p, N) hidden tensor in the backward; here it is one product and two
    reductions: dL/dU^T_m = 2 sum_n h_mn g_mn, dL/dV^T_n = 2 sum_m h_mn g_mn.
    """

    @staticmethod
    def forward(ctx, Ut, Vt):
        K, p, N = Ut.shape
        h = Ut[:, :, None, :] + Vt[:, None, :, :]  # (K, p, p, N)
        ctx.save_for_backward(h)
        return (h * h).reshape(K, p * p, N)

    @staticmethod
    def backward(ctx, grad):
        (h,) = ctx.saved_tensors
        g = grad.reshape(h.shape) * h
        return 2 * g.sum(2), 2 * g.sum(1)


def dropout_masks(shape, rates, generators, device, dtype):
    """Inverted-dropout masks (K, B, N): run k keeps a unit with probability 1 - rates[k].

    Each run draws from its own generator, so a run's masks do not depend on
    which other runs share the batch.
    """
    if generators is None or len(generators) != shape[0]:
        raise ValueError("dropout needs one generator per run")
    keep = 1.0 - rates.to(device=device, dtype=dtype)
    u = torch.stack([torch.rand(shape[1:], generator=g, device=device, dtype=dtype)
                     for g in generators])
    return (u < keep[:, None, None]).to(dtype) / keep.clamp(min=1e-12)[:, None, None]
