"""The batched transformer (grokbook.engine.transformer) against a per-run float64 loop written out by
hand (outputs and gradients) and its attention against torch.nn.MultiheadAttention."""
from __future__ import annotations

import json
import math
import os
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import grokbook
from grokbook.analysis.prune import prune_curve
from grokbook.engine.reference import ReferenceTransformer, train_transformer_one
from grokbook.core.settings import Run
from grokbook.engine.train import evaluate
from grokbook.core.profiles import transformer_sizes
from grokbook.core.settings import TransformerConfig
from grokbook.engine.transformer import (NAMES, BatchedTransformer, embedding_spectrum,
                                  neuron_ipr, train_transformers)
from grokbook.store.transformer_diagram import StaleDiagramWarning, code_digest, diagram_path, load_diagram



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


# ----------------------------------------------------------------------------- the fast path
def test_the_fast_path_is_the_general_path_in_outputs_and_gradients():
    """depth 1: the per-token projections, the last position only and the pruning mask give the
    same outputs and gradients as the general forward over both positions (float64)."""
    p, K = 11, 3
    g = torch.Generator().manual_seed(2)
    index = torch.randint(0, p * p, (K, 40), generator=g)
    mask = (torch.rand(K, 16, generator=g) > 0.3).double()
    weights = torch.randn(K, 40, p, generator=g, dtype=torch.float64)
    grads = []
    for fast in (True, False):
        model = BatchedTransformer(p, seeds=[0, 1, 2], d=8, heads=2, wide=2, dtype=torch.float64)
        out = model(index, mask, fast=fast)
        (out * weights).sum().backward()
        grads.append((out.detach(), {n: getattr(model, n).grad for n in NAMES}))
    (fast_out, fast_grad), (slow_out, slow_grad) = grads
    assert torch.allclose(fast_out, slow_out, rtol=1e-12, atol=1e-13)
    for name in NAMES:
        assert torch.allclose(fast_grad[name], slow_grad[name], rtol=1e-10, atol=1e-12), name


def test_a_pruned_neuron_is_a_neuron_whose_weights_are_zero():
    model = BatchedTransformer(7, seeds=[0, 1], d=8, heads=2, wide=2, dtype=torch.float64)
    mask = torch.ones(2, 16, dtype=torch.float64)
    mask[0, [1, 5]] = 0
    mask[1, 9] = 0
    masked = model(neuron_mask=mask)
    with torch.no_grad():
        model.up[0, 0][:, [1, 5]] = 0
        model.up[1, 0][:, 9] = 0
    assert torch.allclose(masked, model(), rtol=1e-13, atol=1e-14)


def reference_preactivation(w: dict, m: int, n: int, heads: int, s: float) -> torch.Tensor:
    """One pair by hand: the last block's MLP pre-activation at the last position (wide d,)."""
    x = torch.stack([w["embed"][m] + w["position"][0], w["embed"][n] + w["position"][1]])
    d = x.shape[1]
    dh = d // heads
    depth = w["qkv"].shape[0]
    for layer in range(depth):
        q, k, v = (x @ w["qkv"][layer]).split(d, dim=-1)
        rows = []
        for t in range(2):
            parts = []
            for h in range(heads):
                sl = slice(h * dh, (h + 1) * dh)
                a = torch.softmax(torch.stack([q[t, sl] @ k[u, sl] for u in range(2)]) / dh ** (0.5 * (1 + s)), 0)
                parts.append(a[0] * v[0, sl] + a[1] * v[1, sl])
            rows.append(torch.cat(parts))
        x = x + torch.stack(rows) @ w["out"][layer]
        if layer == depth - 1:
            return x[1] @ w["up"][layer]
        x = x + torch.relu(x @ w["up"][layer]) @ w["down"][layer]


def numpy_ipr(rows: np.ndarray) -> np.ndarray:
    mag = np.abs(np.fft.rfft(rows, axis=-1))
    mag = mag / np.linalg.norm(mag, axis=-1, keepdims=True)
    return (mag ** 4).sum(-1)


@pytest.mark.parametrize("depth", [1, 2])
def test_neuron_ipr_against_a_loop_over_every_pair(depth):
    p, heads = 7, 2
    model = BatchedTransformer(p, seeds=[4, 5], d=8, heads=heads, wide=2, depth=depth, s=1.0,
                               dtype=torch.float64)
    got = neuron_ipr(model)
    assert got.shape == (2, 16)
    for k in range(2):
        w = {name: getattr(model, name)[k].detach() for name in NAMES}
        h = np.array([[reference_preactivation(w, m, n, heads, 1.0).numpy() for n in range(p)]
                      for m in range(p)])  # (p, p, N)
        out = (w["down"][-1] @ w["head"]).numpy()  # (N, p)
        want = (numpy_ipr(h.mean(1).T) + numpy_ipr(h.mean(0).T) + numpy_ipr(out)) / 3
        np.testing.assert_allclose(got[k].numpy(), want, rtol=1e-10)


def test_the_embedding_spectrum_of_pure_cosines_is_one_frequency():
    p, d = 13, 8
    model = BatchedTransformer(p, seeds=[0, 1], d=d, heads=2)
    t = torch.arange(p, dtype=torch.float64)
    with torch.no_grad():
        for k, freq in enumerate((3, 5)):
            phases = torch.rand(d, generator=torch.Generator().manual_seed(k), dtype=torch.float64) * 6
            model.embed[k] = torch.cos(2 * math.pi * freq * t[:, None] / p + phases).float()
    spectrum = embedding_spectrum(model)
    assert spectrum.shape == (2, p // 2 + 1)
    assert torch.allclose(spectrum.sum(1), torch.ones(2))
    assert spectrum[0, 3] > 1 - 1e-5 and spectrum[1, 5] > 1 - 1e-5


# ----------------------------------------------------------------------------- training
def reference_training(run: Run, config: TransformerConfig, data, k: int) -> dict:
    """One run trained by torch.optim.AdamW on the per-pair forward written out by hand, float64."""
    init = BatchedTransformer(config.p, [run.model_seed], d=config.d, heads=config.heads,
                              wide=config.wide, s=config.s, dtype=torch.float64)
    w = {name: getattr(init, name)[0].detach().clone().requires_grad_(True) for name in NAMES}
    opt = torch.optim.AdamW(w.values(), lr=run.lr, weight_decay=run.wd, betas=config.betas,
                            eps=config.eps)
    rows = data.train[k].nonzero().squeeze(1).tolist()
    for _ in range(config.steps):
        outs = torch.stack([reference(w, i // config.p, i % config.p, config.heads, config.s)
                            for i in rows])
        target = torch.nn.functional.one_hot(data.labels[k, rows], config.p).double()
        loss = ((outs - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {name: t.detach() for name, t in w.items()}


def test_training_matches_torch_adamw_on_a_per_run_loop():
    config = TransformerConfig(p=5, d=8, heads=2, wide=2, steps=4, log_every=2)
    runs = [Run(alpha=0.6, xi=0.3, lr=3e-3, wd=0.0, data_seed=1, model_seed=1),
            Run(alpha=0.8, xi=0.0, lr=1e-2, wd=2.0, data_seed=2, model_seed=3)]
    result = train_transformers(runs, config)
    for k, run in enumerate(runs):
        want = reference_training(run, config, result.data, k)
        for name in NAMES:
            assert torch.allclose(getattr(result.model, name)[k].double(), want[name],
                                  rtol=1e-4, atol=1e-5), (k, name)
    assert list(result.history.step.unique()) == [0, 2, 4]
    assert set(result.runs.columns) >= {"train_acc", "test_acc", "corrupt_acc", "mean_ipr", "phase"}


def test_a_run_gives_the_same_numbers_alone_as_in_a_batch_and_twice():
    config = TransformerConfig(p=7, d=8, heads=2, wide=2, steps=6, log_every=3)
    runs = [Run(alpha=0.7, xi=0.2, lr=1e-2, wd=w, data_seed=s, model_seed=s) for w, s in ((0, 0), (1, 1))]
    batched = train_transformers(runs, config)
    again = train_transformers(runs, config)
    alone = train_transformers(runs[1:], config)
    pd.testing.assert_frame_equal(batched.history, again.history)
    metrics = ["loss", "train_acc", "test_acc", "weight_norm"]
    np.testing.assert_allclose(batched.history[batched.history.run == 1][metrics].to_numpy(),
                               alone.history[metrics].to_numpy(), rtol=1e-5)
    assert torch.allclose(batched.model.embed[1], alone.model.embed[0], rtol=1e-5, atol=1e-6)


def test_results_trained_apart_read_as_one_batch():
    """concat_results: the runs of several results as if trained in one batch (chapter 9 trains one
    weight decay per cell): numbered on, weights and data stacked, the same numbers as one batch."""
    from grokbook.engine.transformer import concat_results

    config = TransformerConfig(p=7, d=8, heads=2, wide=2, steps=6, log_every=3)
    runs = [Run(alpha=0.7, xi=0.2, lr=1e-2, wd=w, data_seed=s, model_seed=s) for w, s in ((0, 0), (1, 1), (2, 2))]
    one = train_transformers(runs, config)
    parts = [train_transformers(runs[:1], config), train_transformers(runs[1:], config)]
    joined = concat_results(parts)
    assert joined.runs.run.tolist() == [0, 1, 2] and sorted(joined.history.run.unique()) == [0, 1, 2]
    assert joined.seconds == pytest.approx(sum(r.seconds for r in parts))
    for f in ("train", "labels", "corrupted"):
        assert torch.equal(getattr(joined.data, f), getattr(one.data, f)), f
    for (name, a), (_, b) in zip(joined.model.named_parameters(), one.model.named_parameters()):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6), name
    np.testing.assert_allclose(joined.runs[["train_acc", "test_acc", "mean_ipr"]].to_numpy(),
                               one.runs[["train_acc", "test_acc", "mean_ipr"]].to_numpy(), rtol=1e-5)
    assert torch.allclose(joined.ipr(), one.ipr(), rtol=1e-4, atol=1e-6)
    assert parts[0].model.K == 1 and parts[1].model.K == 2  # the parts are left as they were
    with pytest.raises(ValueError, match="another config"):
        concat_results([parts[0], train_transformers(runs[:1], TransformerConfig(p=7, d=8, heads=2, wide=2, steps=3))])
    with pytest.raises(ValueError, match="at least one"):
        concat_results([])


def test_a_deeper_transformer_trains_through_the_general_path():
    config = TransformerConfig(p=7, d=8, heads=2, wide=2, depth=2, steps=4, log_every=2)
    runs = [Run(alpha=0.7, xi=0.2, lr=1e-2, wd=1.0, data_seed=0, model_seed=0)]
    result = train_transformers(runs, config)
    ref, metrics = train_transformer_one(runs[0], config)
    assert torch.allclose(ref.embed.weight, result.model.embed[0], rtol=1e-4, atol=1e-5)
    assert metrics["test_acc"] == pytest.approx(result.runs.test_acc[0])
    assert result.ipr().shape == (1, 16) and np.isfinite(result.runs.mean_ipr[0])


def test_pruning_a_transformer_by_ipr_evaluates_the_masked_model():
    config = TransformerConfig(p=7, d=8, heads=2, wide=2, steps=3, log_every=3)
    result = train_transformers([Run(alpha=0.7, xi=0.2, lr=1e-2, data_seed=0, model_seed=0)], config)
    curve = prune_curve(result.model, result.data, 0, order="low", fractions=[0, 0.5, 1])
    assert list(curve.n_pruned) == [0, 8, 16]
    final = result.runs.iloc[0]
    assert curve.train_acc.iloc[0] == pytest.approx(final.train_acc)
    # every neuron pruned: the output is the skip path alone
    model = result.model
    with torch.no_grad():
        model.up.zero_()
        bare = evaluate(model, result.data)
    assert curve.test_acc.iloc[2] == pytest.approx(float(bare["test_acc"][0]))


@pytest.mark.parametrize("kw, match", [
    (dict(d=10, heads=4), "d must be a multiple of heads"),
    (dict(p=1), "p must"),
    (dict(steps=0), "steps"),
    (dict(s=-0.5), r"s must lie in \[0, 1\]"),
    (dict(betas=(0.9, 1.0)), "betas"),
    (dict(eps=0), "eps"),
])
def test_bad_configs_are_refused_by_name(kw, match):
    with pytest.raises(ValueError, match=match):
        TransformerConfig(**kw)


def test_bad_runs_are_refused_by_name():
    config = TransformerConfig(p=7, d=8, heads=2, steps=1)
    with pytest.raises(ValueError, match="dropout must be 0"):
        train_transformers([Run(dropout=0.1)], config)
    with pytest.raises(ValueError, match="same run twice"):
        train_transformers([Run(), Run()], config)
    with pytest.raises(ValueError, match="TransformerConfig"):
        train_transformers([Run()], grokbook.Config())


def test_the_torch_nn_reference_is_the_same_function():
    """grokbook.engine.reference.ReferenceTransformer (nn.Linear, F.scaled_dot_product_attention, both
    positions) computes what the batched model computes, run by run (float64)."""
    for s, depth in ((1.0, 1), (0.0, 2)):
        model = BatchedTransformer(7, seeds=[2, 3], d=8, heads=2, depth=depth, s=s, dtype=torch.float64)
        m, n = torch.arange(7).repeat_interleave(7), torch.arange(7).repeat(7)
        for k in range(2):
            ref = ReferenceTransformer.from_batched(model, k)
            assert torch.allclose(ref(torch.stack([m, n], 1)), model()[k], rtol=1e-12, atol=1e-13)


def test_the_per_run_loop_trains_the_same_runs():
    """The benchmark's baseline (train_transformer_one) ends where the batched runs end."""
    config = TransformerConfig(p=7, d=8, heads=2, wide=2, steps=8, log_every=8)
    runs = [Run(alpha=0.7, xi=0.2, lr=1e-2, wd=w, data_seed=s, model_seed=s) for w, s in ((0, 0), (1, 1))]
    batched = train_transformers(runs, config)
    for k, run in enumerate(runs):
        ref, metrics = train_transformer_one(run, config)
        assert torch.allclose(ref.embed.weight, batched.model.embed[k], rtol=1e-4, atol=1e-5)
        assert metrics["train_acc"] == pytest.approx(batched.runs.train_acc[k])
        assert metrics["test_acc"] == pytest.approx(batched.runs.test_acc[k])


# ----------------------------------------------------------------------------- the stored diagram
def test_a_missing_diagram_is_none_with_the_command_that_makes_it(tmp_path, capsys):
    assert load_diagram("quick", root=tmp_path) is None
    assert "python -m grokbook transformer-diagram --profile quick" in capsys.readouterr().out


def test_quick_book_and_full_on_a_cpu_share_one_diagram(tmp_path):
    paths = {diagram_path(name, tmp_path) for name in ("quick", "book", "full")}
    assert len(paths) == 1


def test_a_diagram_made_by_other_code_is_used_with_a_warning(tmp_path):
    path = diagram_path("book", tmp_path)
    runs = [dict(wd=0.0, xi=0.2, train_acc=1.0, test_acc=0.02, corrupt_acc=1.0, corrupt_true_acc=0.0,
                 mean_ipr=0.2, phase="Memorization")]
    record = {"provenance": {"code": code_digest(), "seconds": 1.0, "git_commit": "abc"}, "runs": runs}
    path.write_text(json.dumps(record))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        current = load_diagram("book", root=tmp_path)
    assert current.phase.tolist() == ["Memorization"] and current.attrs["provenance"]["seconds"] == 1.0
    record["provenance"]["code"] = "0" * 16
    path.write_text(json.dumps(record))
    with pytest.warns(StaleDiagramWarning, match="other transformer or engine code"):
        stale = load_diagram("book", root=tmp_path)
    assert stale.equals(current)


@pytest.mark.slow
def test_the_committed_diagram_is_what_the_code_makes():
    """Retrain one cell of the committed book diagram (chosen at random among the settled ones:
    memorizing without weight decay, or fully inverted) and compare (within 0.05: a run alone is
    not bit-identical to the same run in a batch of 25)."""
    stored = load_diagram("book")
    assert stored is not None, "the book's transformer diagram must be committed (make results)"
    sizes = transformer_sizes("book")
    settled = stored[(stored.xi > 0) & ((stored.wd == 0) | (stored.phase == "Full Inversion"))]
    rng = np.random.default_rng(int(os.environ["GROKBOOK_SPOTCHECK_SEED"]))
    cell = settled.iloc[int(rng.integers(len(settled)))]
    run = Run(alpha=sizes.alpha, xi=float(cell.xi), lr=sizes.lr, wd=float(cell.wd), data_seed=0, model_seed=0)
    again = train_transformers([run], sizes.config()).runs.iloc[0]
    for name in ("train_acc", "test_acc", "corrupt_acc"):
        assert abs(again[name] - cell[name]) < 0.05, (cell.wd, cell.xi, name, again[name], cell[name])
