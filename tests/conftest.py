"""Shared helpers for the grokbook test suite.

The repository root is put on sys.path so that a plain ``pytest`` works without
installing the package (``python -m pytest`` adds the working directory anyway).
"""
import os
import sys

import matplotlib
import pytest
import torch

matplotlib.use("Agg")  # figures off-screen, for every test

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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
