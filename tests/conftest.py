"""Shared helpers for the grokbook test suite.

The repository root is put on sys.path so that a plain ``pytest`` works without
installing the package (``python -m pytest`` adds the working directory anyway).
"""
import os
import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

import grokbook
from grokbook.store.sweeps import Part, Sweep, load_sweep, run_sweep

matplotlib.use("Agg")  # figures off-screen, for every test

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The random choice of the runs tests/test_results.py retrains: new each session unless
# GROKBOOK_SPOTCHECK_SEED is set, and printed in the log's header so that a failure can be replayed.
if not os.environ.get("GROKBOOK_SPOTCHECK_SEED"):
    import secrets
    os.environ["GROKBOOK_SPOTCHECK_SEED"] = str(secrets.randbelow(2**31))


def pytest_report_header(config):
    return (f"spot-check seed: {os.environ['GROKBOOK_SPOTCHECK_SEED']} (replay with "
            f"GROKBOOK_SPOTCHECK_SEED={os.environ['GROKBOOK_SPOTCHECK_SEED']})")


@pytest.fixture(autouse=True)
def _restore_torch_defaults():
    """Keep tests from leaking global torch state into each other."""
    dtype = torch.get_default_dtype()
    precision = torch.get_float32_matmul_precision()
    yield
    torch.set_default_dtype(dtype)
    torch.set_float32_matmul_precision(precision)


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every figure a test drew."""
    yield
    import matplotlib.pyplot as plt
    plt.close("all")


# ----------------------------------------------------------------------------- shared data
# Hand-made histories and small stored sweeps read by the tests of several modules
# (history, plots, phases, widgets, sweeps).
@pytest.fixture
def grokking_history():
    """A hand-made grokking history (call it for a fresh copy)."""
    def make():
        """Three runs: 0 groks (fit at 10, test at 40), 1 never generalizes, 2 fits late."""
        steps = [0, 10, 20, 30, 40, 50]
        return pd.DataFrame({
            "run": np.repeat([0, 1, 2], 6),
            "step": steps * 3,
            "train_acc": [0.1, 1.0, 1.0, 1.0, 1.0, 1.0,
                          0.1, 0.995, 1.0, 1.0, 1.0, 1.0,
                          0.0, 0.2, 0.5, 0.8, 0.9, 0.991],
            "test_acc": [0.0, 0.1, 0.5, 0.9, 0.99, 1.0,
                         0.0, 0.1, 0.1, 0.2, 0.2, float("nan"),
                         0.0, 0.1, 0.3, 0.5, 0.7, 0.9],
            "loss": np.linspace(1, 0.01, 18), "test_loss": np.linspace(1, 0.1, 18),
            "mean_ipr": np.linspace(0.04, 0.9, 18),
        })

    return make


@pytest.fixture
def stage_history():
    """A hand-made two-stage history (call it for a fresh copy)."""
    def make():
        """Three runs: 0 memorizes and stays, 1 memorizes then inverts, 2 inverts then forgets."""
        steps = [0, 10, 20, 30, 40, 50]
        return pd.DataFrame({
            "run": np.repeat([0, 1, 2], 6),
            "step": steps * 3,
            "train_acc": [0.0, 0.97, 1.0, 1.0, 1.0, 1.0,
                          0.0, 0.99, 0.9, 0.77, 0.75, 0.75,
                          0.0, 0.96, 0.75, 0.75, 0.3, 0.0],
            "test_acc": [0.0, 0.1, 0.9, 0.95, 0.95, 0.95,
                         0.0, 0.2, 0.95, 1.0, 1.0, 1.0,
                         0.0, 0.1, 1.0, 1.0, 0.5, 0.49],
            "corrupt_acc": np.linspace(0, 1, 18), "corrupt_true_acc": np.linspace(1, 0, 18),
            "weight_norm": np.linspace(10, 0, 18),
        })

    return make


def small_sweep(tmp_path, batches=()):
    """A small stored sweep: alpha 0.4 / 0.8 x xi 0 / 0.2 / 0.4 at wd 0 and 2 (one part), or, with
    ``batches``, every other of those runs at each batch size with and without BatchNorm."""
    runs = tuple(grokbook.grid(alpha=[0.4, 0.8], xi=[0.0, 0.2, 0.4], wd=[0.0, 2.0]))
    config = lambda **kw: grokbook.Config(p=11, width=24, steps=30, log_every=10, **kw)
    parts = tuple(Part(f"batch {b}, {'BatchNorm' if bn else 'no BatchNorm'}",
                       config(batch_size=b, batchnorm=bn), runs[::2])
                  for b in batches for bn in (True, False)) or (Part("wd sweep", config(), runs),)
    s = Sweep("small", "quick", parts, history_every=10)
    run_sweep(s, directory=tmp_path, progress=False)
    return load_sweep(s, directory=tmp_path)


@pytest.fixture(scope="module")
def wd_sweep(tmp_path_factory):
    return small_sweep(tmp_path_factory.mktemp("wd"))


@pytest.fixture(scope="module")
def bn_sweep(tmp_path_factory):
    return small_sweep(tmp_path_factory.mktemp("bn"), batches=(16,))


@pytest.fixture(scope="module")
def bn_sweeps(tmp_path_factory):
    """Batch 8 and 16, with and without BatchNorm: four parts."""
    return small_sweep(tmp_path_factory.mktemp("bn2"), batches=(8, 16))
