"""The batched transformer (grokbook.transformer) against a per-run float64 loop written out by
hand (outputs and gradients) and its attention against torch.nn.MultiheadAttention."""
from __future__ import annotations

import pytest
import torch

from grokbook.transformer import BatchedTransformer

NAMES = ("embed", "position", "qkv", "out", "up", "down", "head")


def reference(w: dict, m: int, n: int, heads: int, s: float) -> torch.Tensor:
    """One run, one pair, every head and position by hand: the output at the last position (p,)."""
    x = torch.stack([w["embed"][m] + w["position"][0], w["embed"][n] + w["position"][1]])
    d = x.shape[1]
    dh = d // heads
    for layer in range(w["qkv"].shape[0]):
        qkv = x @ w["qkv"][layer]
        q, k, v = qkv[:, :d], qkv[:, d:2 * d], qkv[:, 2 * d:]
        rows = []
        for t in range(2):  # each query position
            parts = []
            for h in range(heads):
                sl = slice(h * dh, (h + 1) * dh)
                logits = torch.stack([q[t, sl] @ k[u, sl] for u in range(2)]) / dh ** (0.5 * (1 + s))
                a = torch.exp(logits - logits.max())
                a = a / a.sum()
                parts.append(a[0] * v[0, sl] + a[1] * v[1, sl])
            rows.append(torch.cat(parts))
        x = x + torch.stack(rows) @ w["out"][layer]
        x = x + torch.relu(x @ w["up"][layer]) @ w["down"][layer]
    return x[1] @ w["head"] * d ** (-0.5 * (1 + s))


@pytest.mark.parametrize("s, depth", [(1.0, 1), (0.0, 2)])
def test_outputs_and_gradients_match_a_per_run_loop(s, depth):
    p, K = 7, 3
    model = BatchedTransformer(p, seeds=[3, 4, 5], d=8, heads=2, depth=depth, wide=2, s=s,
                               dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    index = torch.randint(0, p * p, (K, 6), generator=g)
    out = model(index)
    assert out.shape == (K, 6, p)
    weights = (torch.randn(K, 6, p, generator=g, dtype=torch.float64))
    (out * weights).sum().backward()
    for k in range(K):
        w = {name: getattr(model, name)[k].detach().clone().requires_grad_(True) for name in NAMES}
        total = 0
        for b in range(6):
            m, n = divmod(int(index[k, b]), p)
            want = reference(w, m, n, heads=2, s=s)
            assert torch.allclose(out[k, b], want, rtol=1e-12, atol=1e-12), (k, b)
            total = total + (want * weights[k, b]).sum()
        total.backward()
        for name in NAMES:
            assert torch.allclose(getattr(model, name).grad[k], w[name].grad, rtol=1e-10, atol=1e-12), (k, name)


def test_the_whole_table_is_every_pair_in_order():
    model = BatchedTransformer(5, seeds=[0, 1], d=8, heads=4, dtype=torch.float64)
    table = model()
    index = torch.arange(25).expand(2, -1)
    assert table.shape == (2, 25, 5) and torch.equal(table, model(index))


def test_attention_matches_torch_multihead_attention():
    """At s = 0 (standard scaling 1/sqrt(d_head)) the attention block is nn.MultiheadAttention
    without biases, with in_proj = qkv^T and out_proj = out^T."""
    d, heads, K = 16, 4, 2
    model = BatchedTransformer(11, seeds=[1, 2], d=d, heads=heads, depth=2, s=0.0, dtype=torch.float64)
    x = torch.randn(K, 5, 2, d, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for layer in range(2):
        got = model.attention(x, layer)
        for k in range(K):
            mha = torch.nn.MultiheadAttention(d, heads, bias=False, batch_first=True, dtype=torch.float64)
            with torch.no_grad():
                mha.in_proj_weight.copy_(model.qkv[k, layer].T)
                mha.out_proj.weight.copy_(model.out[k, layer].T)
            want, _ = mha(x[k], x[k], x[k], need_weights=False)
            assert torch.allclose(got[k], want, rtol=1e-12, atol=1e-12), (layer, k)


def test_a_runs_weights_do_not_depend_on_its_batch():
    alone = BatchedTransformer(13, seeds=[7], d=8, heads=2)
    batched = BatchedTransformer(13, seeds=[5, 7, 9], d=8, heads=2)
    for name in NAMES:
        assert torch.equal(getattr(alone, name)[0], getattr(batched, name)[1]), name
    # the authors' initialisation: embeddings N(0, 1), matrices N(0, 1 / fan_in)
    big = BatchedTransformer(97, seeds=[0], d=128, heads=4)
    assert abs(big.embed.std().item() - 1) < 0.02
    assert abs(big.qkv.std().item() * 128 ** 0.5 - 1) < 0.02
    assert abs(big.down.std().item() * 512 ** 0.5 - 1) < 0.02


@pytest.mark.parametrize("kw, match", [
    (dict(d=10, heads=4), "d must be a multiple of heads"),
    (dict(heads=0), "heads"),
    (dict(depth=0), "depth"),
    (dict(s=2.0), r"s must lie in \[0, 1\]"),
    (dict(s=True), r"s must lie in \[0, 1\]"),
    (dict(seeds=[]), "seeds must hold at least one"),
    (dict(seeds=[-1]), "seed"),
])
def test_bad_settings_are_refused_by_name(kw, match):
    kw = dict(dict(seeds=[0], d=8, heads=2), **kw)
    with pytest.raises(ValueError, match=match):
        BatchedTransformer(7, **kw)
