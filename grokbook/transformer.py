"""The paper's transformer (its Fig. 7), batched over K runs: a sweep is a batch here too.

The authors' encoder-only model on the two tokens a, b of a pair: learned token and position
embeddings, ``depth`` blocks of multi-head self-attention and a ReLU MLP (``wide`` x d wide), each
added to a skip connection, no LayerNorm, no biases, and a linear read-out of the last position,
in the authors' muP parametrisation (s = 1): attention logits divided by d_head^((1+s)/2) and the
read-out multiplied by d^(-(1+s)/2).  Their defaults: d = 128, 4 heads, depth 1, wide 4.

For K runs every weight carries a leading K: ``embed`` (K, p, d), ``position`` (K, 2, d),
``qkv`` (K, depth, d, 3d), ``out`` (K, depth, d, d), ``up`` (K, depth, d, wide d),
``down`` (K, depth, wide d, d), ``head`` (K, d, p); run k is slice k, drawn from a CPU generator
seeded with its own seed, so a run's initial weights do not depend on the batch it is in.
Initialisation as the authors': embeddings N(0, 1), every matrix N(0, 1/fan_in).

This module is the model only (forward, initialisation); training it is issue 17's next step.
"""
from __future__ import annotations

import math

import torch

from .settings import check_int, check_seed


def init_transformer_weights(p: int, d: int, depth: int, wide: int, seed: int) -> dict:
    """One run's weights (no K axis) from a CPU generator seeded with ``seed``."""
    g = torch.Generator().manual_seed(check_seed("seed", seed))
    normal = lambda *shape, fan_in=None: torch.randn(*shape, generator=g) / (
        math.sqrt(fan_in) if fan_in else 1.0)
    return {
        "embed": normal(p, d),
        "position": normal(2, d),
        "qkv": normal(depth, d, 3 * d, fan_in=d),
        "out": normal(depth, d, d, fan_in=d),
        "up": normal(depth, d, wide * d, fan_in=d),
        "down": normal(depth, wide * d, d, fan_in=wide * d),
        "head": normal(d, p, fan_in=d),
    }


class BatchedTransformer(torch.nn.Module):
    """K encoder-only transformers on the pairs (m, n) of Z_p (see the module docstring)."""

    def __init__(self, p: int, seeds, *, d: int = 128, heads: int = 4, depth: int = 1, wide: int = 4,
                 s: float = 1.0, dtype=torch.float32, device="cpu"):
        super().__init__()
        self.p = check_int("p", p, 2)
        self.d, self.heads = check_int("d", d), check_int("heads", heads)
        self.depth, self.wide = check_int("depth", depth), check_int("wide", wide)
        if d % heads:
            raise ValueError(f"d must be a multiple of heads ({heads}), got {d}")
        if isinstance(s, bool) or not (isinstance(s, (int, float)) and 0 <= s <= 1):
            raise ValueError(f"s must lie in [0, 1] (0: standard, 1: muP), got {s!r}")
        self.s = float(s)
        seeds = list(seeds)
        if not seeds:
            raise ValueError("seeds must hold at least one seed (one per run)")
        runs = [init_transformer_weights(p, d, depth, wide, k) for k in seeds]
        for name in runs[0]:
            stacked = torch.stack([r[name] for r in runs]).to(device=device, dtype=dtype)
            setattr(self, name, torch.nn.Parameter(stacked))

    @property
    def K(self) -> int:
        return self.embed.shape[0]

    def tokens(self, index=None) -> torch.Tensor:
        """The embedded pairs, (K, B, 2, d): token m at position 0, token n at position 1, for the
        whole table (index None, B = p*p, pair (m, n) at m p + n) or the pairs ``index`` (K, B)."""
        K, p = self.K, self.p
        if index is None:
            index = torch.arange(p * p, device=self.embed.device).expand(K, -1)
        k = torch.arange(K, device=index.device)[:, None]
        x = torch.stack([self.embed[k, index // p], self.embed[k, index % p]], dim=2)
        return x + self.position[:, None, :, :]

    def attention(self, x: torch.Tensor, layer: int) -> torch.Tensor:
        """Multi-head self-attention of block ``layer`` over the two positions: (K, B, 2, d)."""
        K, B, T, d = x.shape
        h, dh = self.heads, d // self.heads
        q, k, v = (x.reshape(K, B * T, d) @ self.qkv[:, layer]).split(d, dim=-1)
        q, k, v = (t.reshape(K, B, T, h, dh).transpose(2, 3) for t in (q, k, v))  # (K, B, h, T, dh)
        scores = q @ k.transpose(-1, -2) / dh ** (0.5 * (1 + self.s))
        y = (scores.softmax(dim=-1) @ v).transpose(2, 3).reshape(K, B * T, d)
        return (y @ self.out[:, layer]).reshape(K, B, T, d)

    def forward(self, index=None) -> torch.Tensor:
        """Outputs (K, B, p) at the last position, for the table (index None) or ``index`` (K, B)."""
        x = self.tokens(index)
        K, B, T, d = x.shape
        for layer in range(self.depth):
            x = x + self.attention(x, layer)
            hidden = torch.relu(x.reshape(K, B * T, d) @ self.up[:, layer])
            x = x + (hidden @ self.down[:, layer]).reshape(K, B, T, d)
        return x[:, :, -1] @ self.head * self.d ** (-0.5 * (1 + self.s))
