"""The per-run loop, in the style of the authors' code: one nn.Module, one
torch.optim.AdamW, one run after another, one-hot inputs.

It is the engine's independent reference (tests compare K batched runs with
these runs, trained one at a time) and the baseline of the benchmark.  It
shares only the initial weights and, for minibatches, the batch indices with
the engine; the forward pass, the loss and the optimizer are PyTorch's own.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import pair_inputs, split_and_corrupt, task_table
from .models import ACTIVATIONS, BN_MOMENTUM, BN_EPS, init_weights
from .cpu import minibatch_index
from ..core.settings import Config, Run


class ReferenceMLP(nn.Module):
    """one-hot(m) ++ one-hot(n) -> Linear(2p, N) -> phi -> [BatchNorm1d] -> Linear(N, p), no biases."""

    def __init__(self, p, width, activation="quadratic", batchnorm=False, dropout=0.0):
        super().__init__()
        self.hidden = nn.Linear(2 * p, width, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.phi = ACTIVATIONS[activation]
        self.bn = nn.BatchNorm1d(width, eps=BN_EPS, momentum=BN_MOMENTUM) if batchnorm else None
        self.out = nn.Linear(width, p, bias=False)

    def forward(self, x):
        h = self.phi(self.dropout(self.hidden(x)))
        if self.bn is not None:
            h = self.bn(h)
        return self.out(h)


def one_hot_inputs(p, device="cpu", dtype=torch.float32):
    m, n = pair_inputs(p)
    return torch.cat([F.one_hot(m, p), F.one_hot(n, p)], 1).to(device=device, dtype=dtype)


def train_one(run: Run, config: Config, device="cpu", dtype=torch.float32):
    """Train one run with the plain loop; returns (model, final metrics dict)."""
    p = config.p
    train, labels, corrupted = split_and_corrupt(p, config.op, run.alpha, run.xi, run.data_seed)
    truth, valid = task_table(p, config.op)
    X = one_hot_inputs(p, device, dtype)
    Y = F.one_hot(labels, p).to(device=device, dtype=dtype)
    train_idx = train.nonzero().squeeze(1).to(device)

    model = ReferenceMLP(p, config.width, config.activation, config.batchnorm, run.dropout)
    U, V, W = init_weights(p, config.width, run.model_seed, config.init_std)
    with torch.no_grad():
        model.hidden.weight.copy_(torch.cat([U, V], 1))
        model.out.weight.copy_(W)
    model.to(device=device, dtype=dtype)
    opt = torch.optim.AdamW(model.parameters(), lr=run.lr, betas=config.betas, eps=config.eps,
                            weight_decay=run.wd)
    criterion = nn.MSELoss() if config.loss == "mse" else nn.CrossEntropyLoss()
    target = Y if config.loss == "mse" else labels.to(device)
    seed = torch.tensor([run.model_seed])
    model.train()
    for step in range(config.steps):
        if config.batch_size is None:
            idx = train_idx
        else:
            idx = minibatch_index(train[None], seed, step, config.batch_size)[0].to(device)
        opt.zero_grad()
        loss = criterion(model(X[idx]), target[idx])
        loss.backward()
        opt.step()

    model.eval()
    with torch.no_grad():
        pred = model(X).argmax(1).cpu()
    changed = corrupted & (labels != truth)
    test = valid & ~train
    acc = lambda hit, mask: (hit & mask).sum().item() / max(mask.sum().item(), 1)
    metrics = {
        "train_acc": acc(pred == labels, train),
        "test_acc": acc(pred == truth, test),
        "corrupt_acc": acc(pred == labels, changed),
        "clean_acc": acc(pred == labels, train & ~changed),
    }
    return model, metrics


def weights(model: ReferenceMLP):
    """(U, V, W) of a reference model in the engine's per-run shapes."""
    p = model.out.weight.shape[0]
    hidden = model.hidden.weight.detach()
    return hidden[:, :p], hidden[:, p:], model.out.weight.detach()


class ReferenceTransformer(nn.Module):
    """The paper's transformer for one run, in plain torch.nn as the authors write it: token and
    position embeddings, ``depth`` blocks of self-attention (``F.scaled_dot_product_attention``
    with the muP scale d_head^-(1+s)/2) and a ReLU MLP, each on a skip connection, over both
    positions, no LayerNorm or biases; the read-out of the last position times d^-(1+s)/2."""

    def __init__(self, p, d=128, heads=4, depth=1, wide=4, s=1.0):
        super().__init__()
        self.heads, self.s, self.d = heads, s, d
        self.embed = nn.Embedding(p, d)
        self.position = nn.Parameter(torch.zeros(2, d))
        self.qkv = nn.ModuleList(nn.Linear(d, 3 * d, bias=False) for _ in range(depth))
        self.out = nn.ModuleList(nn.Linear(d, d, bias=False) for _ in range(depth))
        self.up = nn.ModuleList(nn.Linear(d, wide * d, bias=False) for _ in range(depth))
        self.down = nn.ModuleList(nn.Linear(wide * d, d, bias=False) for _ in range(depth))
        self.head = nn.Linear(d, p, bias=False)

    def forward(self, tokens):  # tokens (B, 2) -> outputs at the last position (B, p)
        x = self.embed(tokens) + self.position
        B, T, d = x.shape
        dh = d // self.heads
        for qkv, out, up, down in zip(self.qkv, self.out, self.up, self.down):
            q, k, v = (t.view(B, T, self.heads, dh).transpose(1, 2) for t in qkv(x).split(d, -1))
            y = F.scaled_dot_product_attention(q, k, v, scale=dh ** (-0.5 * (1 + self.s)))
            x = x + out(y.transpose(1, 2).reshape(B, T, d))
            x = x + down(torch.relu(up(x)))
        return self.head(x[:, -1]) * d ** (-0.5 * (1 + self.s))

    @classmethod
    def from_batched(cls, model, run: int = 0) -> "ReferenceTransformer":
        """Run ``run`` of a ``grokbook.transformer.BatchedTransformer``, its weights copied."""
        ref = cls(model.p, model.d, model.heads, model.depth, model.wide, model.s)
        with torch.no_grad():
            ref.embed.weight.copy_(model.embed[run])
            ref.position.copy_(model.position[run])
            for layer in range(model.depth):
                ref.qkv[layer].weight.copy_(model.qkv[run, layer].T)
                ref.out[layer].weight.copy_(model.out[run, layer].T)
                ref.up[layer].weight.copy_(model.up[run, layer].T)
                ref.down[layer].weight.copy_(model.down[run, layer].T)
            ref.head.weight.copy_(model.head[run].T)
        return ref.to(model.embed.dtype)


def train_transformer_one(run: Run, config, device="cpu"):
    """One transformer run with the plain loop (``config``: a TransformerConfig): full batch on the
    run's training pairs, nn.MSELoss on one-hot targets, torch.optim.AdamW.  Returns (model,
    final metrics dict) like ``train_one``."""
    from .transformer import BatchedTransformer
    p = config.p
    train, labels, corrupted = split_and_corrupt(p, config.op, run.alpha, run.xi, run.data_seed,
                                                 run.subset, run.subset_seed)
    truth, valid = task_table(p, config.op)
    m, n = pair_inputs(p)
    tokens = torch.stack([m, n], 1).to(device)
    Y = F.one_hot(labels, p).float().to(device)
    idx = train.nonzero().squeeze(1).to(device)
    init = BatchedTransformer(p, [run.model_seed], d=config.d, heads=config.heads,
                              depth=config.depth, wide=config.wide, s=config.s)
    model = ReferenceTransformer.from_batched(init).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=run.lr, betas=config.betas, eps=config.eps,
                            weight_decay=run.wd)
    criterion = nn.MSELoss()
    for _ in range(config.steps):
        opt.zero_grad()
        criterion(model(tokens[idx]), Y[idx]).backward()
        opt.step()
    with torch.no_grad():
        pred = model(tokens).argmax(1).cpu()
    changed = corrupted & (labels != truth)
    test = valid & ~train
    acc = lambda hit, mask: (hit & mask).sum().item() / max(mask.sum().item(), 1)
    return model, {"train_acc": acc(pred == labels, train), "test_acc": acc(pred == truth, test),
                   "corrupt_acc": acc(pred == labels, changed),
                   "clean_acc": acc(pred == labels, train & ~changed)}
