"""The tables of a trained sweep: one row per run (its settings, final metrics and phase) and one
per run per logged step (the history), built from the loop's logs."""
from __future__ import annotations

import warnings
from dataclasses import asdict

import numpy as np
import pandas as pd
import torch

from ..core.phases import phases
from ..core.settings import Config
from .data import Splits

METRICS = ("loss", "test_loss", "train_acc", "test_acc", "corrupt_acc", "corrupt_true_acc",
           "clean_acc", "mean_ipr", "weight_norm", "finite")  # finite: 1 if weights and outputs are finite, else 0


def history_frame(histories, n_logs) -> pd.DataFrame:
    frames, offset = [], 0
    for logs in histories:
        steps = np.array([s for s, _ in logs])
        values = torch.stack([v for _, v in logs]).numpy()  # (T, metrics, K)
        T, _, K = values.shape
        frame = pd.DataFrame({"run": np.tile(np.arange(offset, offset + K), T),
                              "step": np.repeat(steps, K)})
        for i, name in enumerate(METRICS):
            frame[name] = values[:, i, :].reshape(-1)
        frames.append(frame)
        offset += K
    return pd.concat(frames).sort_values(["run", "step"], kind="stable").reset_index(drop=True)


def runs_frame(runs, data: Splits, history: pd.DataFrame, config: Config) -> pd.DataFrame:
    df = pd.DataFrame([asdict(r) for r in runs])
    df.insert(0, "run", np.arange(len(runs)))
    df["n_train"] = data.train.sum(1).numpy()
    df["n_changed"] = data.changed.sum(1).numpy()
    final = history[history.step == config.steps].set_index("run")
    for name in METRICS:
        if name != "finite":
            df[name] = final.loc[df.run, name].to_numpy()
    bad = history[history.finite == 0].groupby("run").step.min()
    df["diverged_at"] = bad.reindex(df.run).to_numpy()  # first logged step not finite, else NaN
    df["diverged"] = ~np.isnan(df.diverged_at.to_numpy(dtype=float))
    df["phase"] = phases(df.train_acc, df.test_acc, df.xi, df.diverged)
    if df.diverged.any():
        which = ", ".join(f"{r} (step {int(s)})" for r, s in zip(df.run[df.diverged],
                                                                  df.diverged_at[df.diverged]))
        warnings.warn(f"run(s) {which} diverged: their weights or outputs are not finite numbers. "
                      "Their accuracies are NaN and their phase is 'Diverged'; lower lr or "
                      "init_std", RuntimeWarning, stacklevel=3)
    return df
