"""Pruning neurons by IPR order, without retraining (the paper's Fig. 2).

Removing neuron k zeroes its output (U_k, V_k and W_:k drop out of the sum),
done with a neuron mask so the trained weights are never touched.  The
fractions of a pruning curve are evaluated as one batch: F copies of a run,
copy f missing its first round(f N) neurons in the chosen order.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..core.settings import check_fraction, check_seed
from ..engine.fourier import model_ipr
from ..engine.models import ACTIVATIONS, BatchedMLP
from ..engine.train import evaluate

ORDERS = ("low", "high", "random")
LOW_IPR = 0.3  # a neuron with IPR below it counts as memorizing (the book's low-IPR population)


def prune_order(ipr: torch.Tensor, order: str, seed: int = 0) -> torch.Tensor:
    """Neuron indices in pruning order: lowest IPR first, highest first, or random."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if order == "random":
        check_seed("seed", seed)
        return torch.randperm(len(ipr), generator=torch.Generator().manual_seed(seed))
    return torch.argsort(ipr.cpu(), descending=(order == "high"), stable=True)


def prune_masks(ipr: torch.Tensor, fractions, order: str, seed: int = 0) -> torch.Tensor:
    """(F, N) masks: row f keeps all but the first round(f N) neurons of the order."""
    fractions = [check_fraction("fraction", f, closed=True) for f in fractions]
    ranked = prune_order(ipr, order, seed)
    N = len(ipr)
    masks = torch.ones(len(fractions), N)
    for row, f in enumerate(fractions):
        masks[row, ranked[: round(f * N)]] = 0.0
    return masks


def neuron_iprs(model) -> torch.Tensor:
    """(K, N) IPR of every neuron: the MLP's (``grokbook.fourier.model_ipr``) or, for a
    ``grokbook.transformer.BatchedTransformer``, of its MLP block (``transformer.neuron_ipr``)."""
    from ..engine.transformer import BatchedTransformer, neuron_ipr
    if isinstance(model, BatchedTransformer):
        return neuron_ipr(model)
    return model_ipr(model)


def prune_curve(model: BatchedMLP, data, run: int = 0, *, order: str = "low",
                fractions=np.linspace(0, 1, 21), seed: int = 0, loss: str = "mse") -> pd.DataFrame:
    """Accuracies of run ``run`` with a growing fraction of its neurons pruned.

    ``model`` is a ``BatchedMLP`` or a ``grokbook.transformer.BatchedTransformer`` (whose
    neurons are those of its MLP block).

    Returns one row per fraction: fraction, n_pruned and the metrics of
    ``grokbook.train.evaluate`` (train, test, corrupted, clean accuracy...).
    """
    if not 0 <= run < model.K:
        raise ValueError(f"run must lie in [0, {model.K}), got {run}")
    ipr = neuron_iprs(model)[run]
    masks = prune_masks(ipr, fractions, order, seed)
    F = len(masks)
    single = model.select([run] * F).eval()
    weight = next(single.parameters())
    masks = masks.to(device=weight.device, dtype=weight.dtype)
    metrics = evaluate(single, data.select([run] * F).to(weight.device), loss=loss,
                       neuron_mask=masks)
    df = pd.DataFrame({k: v.double().cpu().numpy() for k, v in metrics.items()})
    df.insert(0, "n_pruned", (masks == 0).sum(1).cpu().numpy())
    df.insert(0, "fraction", np.asarray(fractions, dtype=float))
    df.insert(0, "order", order)
    return df


def prune_curves(model: BatchedMLP, data, run: int = 0, *, orders=ORDERS, **kw) -> pd.DataFrame:
    """``prune_curve`` for several orders, stacked."""
    return pd.concat([prune_curve(model, data, run, order=o, **kw) for o in orders],
                     ignore_index=True)


@torch.no_grad()
def neuron_output_scale(model: BatchedMLP) -> torch.Tensor:
    """(K, N): how much each neuron moves the output, ||W_:,k|| times the standard deviation of
    its hidden output a_k(m, n) over the p^2 pairs of the table (after phi and, with BatchNorm,
    after the normalisation and gamma, as in evaluation).  The root-mean-square size of the
    neuron's centred term W_:,k a_k in the output sum: the neuron's volume, whichever of gamma
    and W carries it (BatchNorm's scale can move between the two)."""
    a = ACTIVATIONS[model.activation](model.preactivation())  # (K, p*p, N)
    if model.batchnorm:  # as in evaluation (running statistics); the model's mode is left as it was
        training = model.training
        model.eval()
        try:
            a = model._batchnorm(a, None)
        finally:
            model.train(training)
    spread = a.double().std(dim=1, unbiased=False)  # (K, N)
    return spread * torch.linalg.vector_norm(model.W.double(), dim=1)  # ||W_:,k|| over outputs
