"""Ensembles of subset models: t networks trained on random subsets of one corrupted training set.

The ensemble is one call of the engine: the runs differ only in ``subset_seed``
(see ``grokbook.data.split_and_corrupt``), so they share the corrupted labels
and see different random subsets of the same training pairs.  ``Ensemble`` holds
their per-example records, read back from a stored ensemble sweep by
``ensemble_from_sweep``; the scores computed from it are in ``memorization``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..core.settings import Run, check_fraction, check_int, check_seed
from ..engine.data import split_and_corrupt, task_table
from .memorization import TEMPERATURE


def ensemble_runs(t: int, *, alpha: float, xi: float, wd: float = 0.0, subset: float = 0.7,
                  data_seed: int = 0, model_seed: int = 0, first_subset_seed: int = 1,
                  **run) -> list[Run]:
    """t runs that differ only in their random training subset (subset seeds
    first_subset_seed, first_subset_seed + 1, ...): same task, same corrupted
    labels (``data_seed``), same initial weights (``model_seed``)."""
    t = check_int("t", t, 2)
    subset = check_fraction("subset", subset, closed=False)
    check_seed("first_subset_seed", first_subset_seed)
    if first_subset_seed + t > 2**31:
        raise ValueError(f"first_subset_seed + t must stay below 2**31, got {first_subset_seed + t}")
    return [Run(alpha=alpha, xi=xi, wd=wd, data_seed=data_seed, model_seed=model_seed,
                subset=subset, subset_seed=first_subset_seed + k, **run) for k in range(t)]


def parent_data(p: int, op: str, run: Run):
    """The full corrupted training set a subset run draws from: (train, given labels, changed),
    each (p*p,), with ``given`` the labels as given (corrupted ones included)."""
    train, given, corrupted = split_and_corrupt(p, op, run.alpha, run.xi, run.data_seed)
    truth, _ = task_table(p, op)
    return train, given, corrupted & (given != truth)


@dataclass
class Ensemble:
    """Per-example records of t models trained on random subsets of one corrupted training set.

    ``member`` (t, P) bool: which pairs model k trained on; ``pred`` (t, P): its predicted
    label of every pair; ``logp`` (t, P): log-probability (``memorization.label_logprob``) of each pair's
    given label at ``temperature``.  ``train``, ``given``, ``truth``, ``changed`` (P,) describe
    the full training set the subsets were drawn from; ``runs`` is one row per model (its phase
    included).  ``logps`` (optional, {temperature: (t, P)}): the log-probabilities at other
    temperatures too (``at_temperature``).
    """

    member: torch.Tensor
    pred: torch.Tensor
    logp: torch.Tensor
    train: torch.Tensor
    given: torch.Tensor
    truth: torch.Tensor
    changed: torch.Tensor
    runs: pd.DataFrame
    temperature: float = TEMPERATURE
    logps: dict | None = None

    @property
    def t(self) -> int:
        return self.member.shape[0]

    @property
    def temperatures(self) -> tuple:
        """The temperatures this ensemble has log-probabilities for."""
        return tuple(self.logps) if self.logps else (self.temperature,)

    def at_temperature(self, temperature: float) -> "Ensemble":
        """The same ensemble with ``logp`` at another stored temperature (sigma^2)."""
        if temperature == self.temperature:
            return self
        if not self.logps or temperature not in self.logps:
            raise ValueError(f"temperature must be one of the stored {self.temperatures}, "
                             f"got {temperature!r}")
        return Ensemble(self.member, self.pred, self.logps[temperature], self.train, self.given,
                        self.truth, self.changed, self.runs, temperature, self.logps)

    @property
    def correct(self) -> torch.Tensor:
        """(t, P) bool: model k predicts pair i's given label."""
        return self.pred == self.given

    def select(self, models) -> "Ensemble":
        """The ensemble of a subset of its models (indices or a bool mask)."""
        models = torch.as_tensor(models)
        rows = models.nonzero().squeeze(1) if models.dtype == torch.bool else models
        return Ensemble(self.member[rows], self.pred[rows], self.logp[rows], self.train,
                        self.given, self.truth, self.changed,
                        self.runs.iloc[rows.numpy()].reset_index(drop=True), self.temperature,
                        {k: v[rows] for k, v in self.logps.items()} if self.logps else None)


def _check_one_parent(runs):
    keys = {(r.alpha, r.xi, r.data_seed) for r in runs}
    if len(keys) != 1:
        raise ValueError("runs must share alpha, xi and data_seed (one corrupted training set); "
                         f"got {len(keys)} different ones")


def ensemble_from_sweep(data, rows, temperature: float = TEMPERATURE) -> Ensemble:
    """An ``Ensemble`` from a stored sweep (``grokbook.store.views.StoredSweep`` with per-example
    records) for the runs ``rows`` (indices into ``data.runs``), its ``logp`` at ``temperature``
    (one of the stored ``TEMPERATURES``; the others in ``logps``)."""
    if data.per_example is None:
        raise ValueError("this sweep stored no per-example records (Sweep.per_example=False)")
    rows = list(rows)
    df = data.runs.iloc[rows].reset_index(drop=True)
    runs = [Run(**{k: (v.item() if isinstance(v, np.generic) else v)
                   for k, v in row.items() if k in Run.__dataclass_fields__})
            for row in df.to_dict("records")]
    _check_one_parent(runs)
    p = int(data.provenance["definition"]["parts"][0]["config"]["p"])
    op = data.provenance["definition"]["parts"][0]["config"]["op"]
    train, given, changed = parent_data(p, op, runs[0])
    truth, _ = task_table(p, op)
    rec = data.per_example
    temps = tuple(data.provenance["definition"]["per_example"]["temperatures"])
    if rec["logp"].shape[-1] != len(temps):
        raise ValueError(f"stored log-probabilities have {rec['logp'].shape[-1]} temperatures, "
                         f"the definition lists {len(temps)}")
    logps = {float(T): torch.as_tensor(rec["logp"][rows, :, i].astype(np.float64))
             for i, T in enumerate(temps)}
    e = Ensemble(member=torch.as_tensor(rec["member"][rows]),
                 pred=torch.as_tensor(rec["pred"][rows].astype(np.int64)),
                 logp=logps[temps[0]], train=train, given=given, truth=truth, changed=changed,
                 runs=df, temperature=temps[0], logps=logps)
    return e.at_temperature(temperature)


def heldout_loglik(ensemble: Ensemble) -> pd.Series:
    """Per stored temperature, the mean log-probability of the given label over the pairs each
    model did not train on (its left-out training pairs and the test pairs), averaged over the
    models: the held-out likelihood by which chapter 8 chooses sigma^2."""
    held = ~ensemble.member
    out = {T: float(((ensemble.at_temperature(T).logp * held).sum(1) / held.sum(1)).mean())
           for T in ensemble.temperatures}
    return pd.Series(out, name="held-out log-likelihood").rename_axis("temperature")
