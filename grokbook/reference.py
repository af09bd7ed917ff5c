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
from .settings import Config, Run


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
