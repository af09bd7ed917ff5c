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

Training (``train_transformers``): K runs as one program, full batch, MSE, per-run AdamW, logged
like the MLP engine.  The analogues of the MLP's IPR: ``neuron_ipr`` (the MLP block's neurons) and
``embedding_spectrum`` (the token embedding).  Chapter 10 uses them; its stored phase diagram lives
in ``grokbook.transformer_diagram``.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import pandas as pd
import torch

from .cpu import runtime, training_rows
from .loop import run_steps
from .data import Splits, make_splits
from .fourier import ipr_of_vectors
from ..core.settings import Run, TransformerConfig, check_int, check_seed, resolve_device
from .tables import METRICS, history_frame, runs_frame
from .train import BatchedAdamW, MaskedMSE, evaluate

NAMES = ("embed", "position", "qkv", "out", "up", "down", "head")


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

    def select(self, index) -> "BatchedTransformer":
        """A detached copy holding only the runs ``index`` (a list of run numbers)."""
        out = copy.deepcopy(self)
        for name in NAMES:
            setattr(out, name, torch.nn.Parameter(getattr(self, name)[index].detach().clone()))
        return out.train(self.training)

    def weight_norm(self) -> torch.Tensor:
        """Per-run 2-norm of all the weights together, (K,)."""
        return torch.sqrt(sum((getattr(self, n).detach() ** 2).flatten(1).sum(1) for n in NAMES))

    def _pairs(self, index):
        if index is None:
            return torch.arange(self.p * self.p, device=self.embed.device).expand(self.K, -1)
        return index

    def forward(self, index=None, neuron_mask=None, *, fast: bool = True) -> torch.Tensor:
        """Outputs (K, B, p) at the last position, for the table (index None) or ``index`` (K, B).

        ``neuron_mask`` (K, wide d), if given, multiplies the neurons of the last block's MLP
        (0 prunes a neuron).  ``fast`` (depth 1 only) computes what reaches the read-out and no
        more: the projections of each token once (p rows, not p^2) gathered per pair, the attention
        and the MLP of the last position only.  It is the same function as the general path
        (``fast=False``), which the tests check in float64.
        """
        if fast and self.depth == 1:
            return self._forward_last(self._pairs(index), neuron_mask)
        x = self.tokens(index)
        K, B, T, d = x.shape
        for layer in range(self.depth):
            x = x + self.attention(x, layer)
            hidden = torch.relu(x.reshape(K, B * T, d) @ self.up[:, layer])
            if neuron_mask is not None and layer == self.depth - 1:
                hidden = hidden * neuron_mask[:, None, :]
            x = x + (hidden @ self.down[:, layer]).reshape(K, B, T, d)
        return x[:, :, -1] @ self.head * self.d ** (-0.5 * (1 + self.s))

    def _last_position(self, index):
        """The residual at the last position after attention, (K, B, d), for a one-block model."""
        K, p, d, h = self.K, self.p, self.d, self.heads
        dh = d // h
        e0 = self.embed + self.position[:, :1]  # every token at position 0, (K, p, d)
        e1 = self.embed + self.position[:, 1:]  # ... at position 1
        W = self.qkv[:, 0]
        k0v0 = e0 @ W[:, :, d:]  # keys and values of every token at position 0, (K, p, 2d)
        q1, k1, v1 = (e1 @ W).split(d, dim=-1)
        q1 = q1 * dh ** (-0.5 * (1 + self.s))
        self_score = (q1 * k1).reshape(K, p, h, dh).sum(-1)  # token n attending to itself, (K, p, h)
        # one gather per position: rows of the per-token tables, one per pair
        run = torch.arange(K, device=index.device)[:, None] * p
        at1 = torch.cat([q1, v1, e1, self_score], -1).reshape(K * p, -1)
        q1, v1, e1, self_score = at1.index_select(0, (run + index % p).reshape(-1)).reshape(
            K, -1, at1.shape[-1]).split([d, d, d, h], dim=-1)
        k0, v0 = k0v0.reshape(K * p, 2 * d).index_select(0, (run + index // p).reshape(-1)).reshape(
            K, -1, 2 * d).split(d, dim=-1)
        cross = (q1 * k0).reshape(*k0.shape[:2], h, dh).sum(-1)  # n attending to m, (K, B, h)
        a0 = torch.sigmoid(cross - self_score).repeat_interleave(dh, dim=-1)  # softmax of two
        return e1 + (v1 + a0 * (v0 - v1)) @ self.out[:, 0]

    def _forward_last(self, index, neuron_mask):
        x = self._last_position(index)
        hidden = torch.relu(x @ self.up[:, 0])
        if neuron_mask is not None:
            hidden = hidden * neuron_mask[:, None, :]
        x = x + hidden @ self.down[:, 0]
        return x @ self.head * self.d ** (-0.5 * (1 + self.s))

    @torch.no_grad()
    def preactivations(self) -> torch.Tensor:
        """(K, p*p, wide d): the last block's MLP pre-activations at the last position, every pair."""
        if self.depth == 1:
            return self._last_position(self._pairs(None)) @ self.up[:, 0]
        x = self.tokens()
        K, B, T, d = x.shape
        last = self.depth - 1
        for layer in range(last):
            x = x + self.attention(x, layer)
            x = x + (torch.relu(x.reshape(K, B * T, d) @ self.up[:, layer]) @ self.down[:, layer]).reshape(K, B, T, d)
        x = x + self.attention(x, last)
        return x[:, :, -1] @ self.up[:, last]


# ----------------------------------------------------------------------------- neurons and spectra
def neuron_ipr(model: BatchedTransformer) -> torch.Tensor:
    """(K, wide d): the IPR of every neuron of the MLP block, the transformer's analogue of the MLP's.

    The MLP's neuron k has three functions of a residue: its input from m (row k of U), from n
    (row k of V) and its output to each class q (column k of W).  A transformer neuron's input is
    not a sum of a function of m and one of n (attention mixes them), so its two input functions
    are the means of its pre-activation over the other token: f(m) = mean_n h(m, n) and
    g(n) = mean_m h(m, n); its output function is its row of ``down`` read out through ``head``.
    The IPR is the mean of the three vectors' IPRs (``grokbook.fourier.ipr_of_vectors``), so a
    neuron whose three functions are pure cosines scores 1, as in the MLP.
    """
    K, p = model.K, model.p
    with torch.no_grad():
        h = model.preactivations().reshape(K, p, p, -1)
        out = model.down[:, -1] @ model.head  # (K, wide d, p)
        return (ipr_of_vectors(h.mean(2).transpose(1, 2)) + ipr_of_vectors(h.mean(1).transpose(1, 2))
                + ipr_of_vectors(out)) / 3


def embedding_spectrum(model: BatchedTransformer) -> torch.Tensor:
    """(K, p//2 + 1): the share of the token embedding's squared norm at each frequency.

    The embedding is p vectors of length d, a function of the token for each of its d columns;
    its real DFT along the tokens, squared magnitudes summed over the columns and normalised to
    sum 1.  A generalizing transformer concentrates it on a few key frequencies (the role the
    IPR plays for the MLP's weights); a memorizing one spreads it.
    """
    with torch.no_grad():
        power = torch.fft.rfft(model.embed.double(), dim=1).abs().square().sum(-1)
        return (power / power.sum(-1, keepdim=True)).float()


# ----------------------------------------------------------------------------- training
@dataclass
class TransformerResult:
    """What ``train_transformers`` returns: as ``grokbook.train.SweepResult`` (``runs``: one row
    per run with final metrics and phase; ``history``: one row per run per logged step; the final
    ``model`` and the runs' ``data``), its ``mean_ipr`` being the transformer's ``neuron_ipr``."""

    config: TransformerConfig
    runs: pd.DataFrame
    history: pd.DataFrame
    model: BatchedTransformer
    data: Splits
    seconds: float

    def ipr(self) -> torch.Tensor:
        """(K, wide d) IPR of every neuron of the MLP block of every run."""
        return neuron_ipr(self.model)


def concat_results(results) -> TransformerResult:
    """One result from several ``train_transformers`` results of the same config, as if their runs
    had been one batch: runs numbered on (the first result's runs first), the models' weights and
    the runs' data stacked along the run axis, the seconds summed.  (A chapter trains its runs in
    a few cells, each under its time budget, and reads them as one table.)"""
    results = list(results)
    if not results:
        raise ValueError("results must hold at least one TransformerResult, got none")
    first = results[0]
    for k, r in enumerate(results[1:], 1):
        if not isinstance(r, TransformerResult):
            raise TypeError(f"results[{k}] must be a TransformerResult, got {type(r).__name__}")
        if r.config != first.config:
            raise ValueError(f"results[{k}] was trained with another config: {r.config} != {first.config}")
        if (r.data.p, r.data.op) != (first.data.p, first.data.op):
            raise ValueError(f"results[{k}] is on another task: p {r.data.p}, {r.data.op}")
    runs, history, offset = [], [], 0
    for r in results:
        runs.append(r.runs.assign(run=r.runs.run + offset))
        history.append(r.history.assign(run=r.history.run + offset))
        offset += r.model.K
    model = copy.deepcopy(first.model)
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.data = torch.cat([dict(r.model.named_parameters())[name].detach() for r in results])
    data = Splits(first.data.p, first.data.op, first.data.truth, first.data.valid,
                  *(torch.cat([getattr(r.data, f) for r in results]) for f in ("train", "labels", "corrupted")))
    return TransformerResult(first.config, pd.concat(runs, ignore_index=True), pd.concat(history, ignore_index=True),
                             model, data, sum(r.seconds for r in results))


def _log(model, data):
    metrics = evaluate(model, data, loss="mse")
    metrics["mean_ipr"] = neuron_ipr(model).mean(1)
    metrics["weight_norm"] = model.weight_norm()
    finite = torch.stack([torch.isfinite(t.detach()).flatten(1).all(1) for t in model.parameters()]).all(0)
    metrics["finite"] = metrics["finite"] * finite.to(metrics["finite"].dtype)
    return torch.stack([metrics[m].to(torch.float64) for m in METRICS]).cpu()  # (metrics, K)


def train_transformers(runs, config: TransformerConfig = TransformerConfig(), *, device="auto",
                       progress: bool = False, fast: bool = True) -> TransformerResult:
    """Train every run of ``runs`` (a list of ``Run``: alpha, xi, lr, wd, data and model seeds)
    as one batched transformer: each run on its own training pairs (its split and corruption are
    those of the MLP's run with the same seeds), full batch, MSE, AdamW with per-run lr and
    weight decay (PyTorch's convention, on every weight).  Dropout is not part of the paper's
    transformer: a run with dropout > 0 is refused.  ``device``: "auto" (a GPU if there is one),
    "cpu", "cuda", ...; the returned model and data are on the CPU.  ``fast=False`` trains through
    the general forward (both positions; the benchmark's control), the same function.
    """
    if isinstance(runs, Run):
        runs = [runs]
    runs = list(runs)
    if not runs or not all(isinstance(r, Run) for r in runs):
        raise ValueError("runs must be a non-empty list of Run (see grokbook.grid)")
    if not isinstance(config, TransformerConfig):
        raise ValueError(f"config must be a TransformerConfig, got {type(config).__name__}")
    for i, r in enumerate(runs):
        if r.dropout != 0:
            raise ValueError(f"dropout must be 0 for a transformer run (the paper's has none), "
                             f"run {i} has {r.dropout}")
    if len(set(runs)) < len(runs):
        raise ValueError("runs holds the same run twice: drop the duplicate or give it another seed")
    device = resolve_device(device)
    cpu_data = make_splits(config.p, config.op, [r.alpha for r in runs], [r.xi for r in runs],
                           [r.data_seed for r in runs], [r.subset for r in runs],
                           [r.subset_seed for r in runs])
    data = cpu_data.to(device)
    model = BatchedTransformer(config.p, [r.model_seed for r in runs], d=config.d,
                               heads=config.heads, depth=config.depth, wide=config.wide, s=config.s,
                               device=device)
    vec = lambda name: torch.tensor([float(getattr(r, name)) for r in runs], device=device)
    opt = BatchedAdamW(model.parameters(), vec("lr"), vec("wd"), config.betas, config.eps)
    # each run's training pairs, padded to the longest with weight 0
    rows = training_rows(cpu_data.train)
    B = max(len(r) for r in rows)
    index = torch.stack([torch.cat([r, r[:1].expand(B - len(r))]) for r in rows]).to(device)
    weights = torch.stack([(torch.arange(B) < len(r)).float() for r in rows]).to(device)
    labels = data.labels.gather(1, index)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=config.steps, desc=f"{len(runs)} transformer runs", leave=False)

    def step(s):
        MaskedMSE.apply(model(index, fast=fast), labels, weights).sum().backward()
        opt.step()

    start = time.perf_counter()
    try:
        with runtime(device):
            model.train()
            logs = run_steps(config.steps, config.log_every, step, lambda s: _log(model, data), bar)
    finally:
        if bar is not None:
            bar.close()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    history = history_frame([logs], len(logs))
    return TransformerResult(config, runs_frame(runs, cpu_data, history, config), history,
                             model.cpu().eval(), cpu_data, seconds)
