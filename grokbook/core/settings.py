"""Settings: what a run is, what a sweep's runs share, and the one set of validators.

``Config`` (the task, the architecture, the schedule: shared by a sweep's runs), ``Run`` (one
run's alpha, xi, lr, weight decay, dropout, seeds), ``grid`` (their Cartesian products) and the
checks every module uses on its inputs (``check_int``, ``check_positive``, ``check_fraction``,
``check_seed``, ``check_task``, ...): each raises ValueError naming the parameter and the allowed
range, and returns the value as a plain Python number, so that the same settings give the same
definition (and cache key) however they were typed.

This module imports nothing else of the package: everything above it (data, models, the engine,
profiles, sweeps) may import it.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, fields

import numpy as np
import torch

ACTIVATION_NAMES = ("quadratic", "relu", "gelu", "tanh", "silu", "linear")  # grokbook.models.ACTIVATIONS

OPS = ("add", "subtract", "multiply", "divide")


# The smallest modulus: the IPR needs at least two non-zero frequencies (p // 2 >= 2) to tell a
# Fourier feature from a spread spectrum; at p = 3 every zero-mean vector is a pure cosine.
MIN_P = 5


def is_integer(value) -> bool:
    """A Python or NumPy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def as_number(name: str, value) -> float:
    """``value`` as a Python float if it is a real number (int, float, a NumPy scalar or a 0-d
    torch tensor, not a bool or a string); else ValueError naming ``name``."""
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not value.is_complex() \
            and value.dtype != torch.bool:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                     np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    return float(value)


def check_int(name: str, value, low: int = 1) -> int:
    """An integer (not a bool) >= ``low``, as a Python int; else ValueError naming ``name``."""
    if not is_integer(value) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_optional_int(name: str, value, low: int = 1):
    """None, or an integer (not a bool) >= ``low`` as a Python int; else ValueError naming ``name``."""
    if value is not None and (not is_integer(value) or value < low):
        raise ValueError(f"{name} must be None or an integer >= {low}, got {value!r}")
    return None if value is None else int(value)


def is_number(value) -> bool:
    """A Python or NumPy real number, not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def check_positive(name: str, value) -> float:
    """A positive finite number, as a Python float; else ValueError naming ``name``."""
    if not is_number(value) or not (0 < value < math.inf):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def check_seed(name: str, value) -> int:
    if not is_integer(value) or not 0 <= value < 2**31:
        raise ValueError(f"{name} must be an integer in [0, 2**31), got {value!r}")
    return int(value)


def is_prime(p: int) -> bool:
    return p >= 2 and all(p % d for d in range(2, int(p**0.5) + 1))


def check_task(p, op) -> None:
    """Raise ValueError unless (p, op) is a task this package can build."""
    p = check_int("p", p, MIN_P)
    if op not in OPS:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")
    if op == "divide" and not is_prime(p):
        raise ValueError(f"p must be prime for op='divide' (Z_p must be a field), got p={p}")


def check_fraction(name: str, value, *, closed: bool) -> float:
    """alpha lives in (0, 1), xi in [0, 1]; returns the value as a float."""
    value = as_number(name, value)
    ok = 0.0 <= value <= 1.0 if closed else 0.0 < value < 1.0
    if not ok:
        interval = "[0, 1]" if closed else "(0, 1)"
        raise ValueError(f"{name} must lie in {interval}, got {value}")
    return value



def check_activation(activation) -> None:
    if activation not in ACTIVATION_NAMES:
        raise ValueError(f"activation must be one of {ACTIVATION_NAMES}, got {activation!r}")


LOSSES = ("mse", "cross_entropy")


@dataclass(frozen=True)
class Config:
    """What all runs of a sweep share: the task, the architecture, the schedule."""

    p: int = 97
    op: str = "add"
    width: int = 500
    activation: str = "quadratic"
    batchnorm: bool = False
    batch_size: int | None = None  # None: full batch
    steps: int = 2000
    loss: str = "mse"
    init_std: float | None = None  # None: the paper's (16 N)^(-1/3)
    betas: tuple = (0.9, 0.98)
    eps: float = 1e-8
    log_every: int = 20

    def __post_init__(self):
        check_task(self.p, self.op)
        check_int("width", self.width)
        check_activation(self.activation)
        if not isinstance(self.batchnorm, (bool, np.bool_)):
            raise ValueError(f"batchnorm must be True or False, got {self.batchnorm!r}")
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size)
        check_int("steps", self.steps)
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.init_std is not None:
            std = as_number("init_std", self.init_std)
            if not (std > 0 and math.isfinite(std)):
                raise ValueError(f"init_std must be a positive finite number, got {self.init_std!r}")
        if not (isinstance(self.betas, (tuple, list)) and len(self.betas) == 2
                and all(is_number(b) for b in self.betas)):
            raise ValueError(f"betas must be a pair of numbers in [0, 1), got {self.betas!r}")
        b1, b2 = self.betas
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"betas must each lie in [0, 1), got {self.betas}")
        eps = as_number("eps", self.eps)
        if not (eps > 0 and math.isfinite(eps)):
            raise ValueError(f"eps must be a positive finite number, got {self.eps!r}")
        check_int("log_every", self.log_every)
        # plain Python values: the same definition (and cache key) however they were given
        for name in ("p", "width", "steps", "log_every") + (("batch_size",) * (self.batch_size is not None)):
            object.__setattr__(self, name, int(getattr(self, name)))
        object.__setattr__(self, "batchnorm", bool(self.batchnorm))
        object.__setattr__(self, "betas", (float(b1), float(b2)))
        object.__setattr__(self, "eps", eps)
        if self.init_std is not None:
            object.__setattr__(self, "init_std", std)


@dataclass(frozen=True)
class Run:
    """One run's own settings."""

    alpha: float = 0.5
    xi: float = 0.35
    lr: float = 0.01
    wd: float = 0.0
    dropout: float = 0.0  # on a CPU realised as round((1 - dropout) 2^16) / 2^16 kept (grokbook.cpu)
    data_seed: int = 0
    model_seed: int = 0
    subset: float = 1.0  # < 1: train on this random fraction of the run's training set
    subset_seed: int = 0  # which fraction (see grokbook.data.split_and_corrupt)

    def __post_init__(self):
        def number(name, ok, allowed):
            value = as_number(name, getattr(self, name))
            if not ok(value):
                raise ValueError(f"{name} must {allowed}, got {getattr(self, name)!r}")
            object.__setattr__(self, name, value)  # a plain float, however it was given

        for name, closed in (("alpha", False), ("xi", True), ("subset", True)):
            object.__setattr__(self, name, check_fraction(name, getattr(self, name), closed=closed))
        number("lr", lambda v: 0 < v < math.inf, "be a positive finite number")
        number("wd", lambda v: 0 <= v < math.inf, "be a finite number >= 0")
        number("dropout", lambda v: 0 <= v < 1, "lie in [0, 1)")
        if self.subset == 0:
            raise ValueError("subset must lie in (0, 1], got 0.0")
        for name in ("data_seed", "model_seed", "subset_seed"):
            object.__setattr__(self, name, check_seed(name, getattr(self, name)))


RUN_FIELDS = tuple(f.name for f in fields(Run))


def grid(**values) -> list[Run]:
    """The Cartesian product of the given per-run settings, e.g. ``grid(wd=[0, 5, 15, 20])``.

    ``seed=[...]`` sets data_seed and model_seed together.  Unnamed settings keep
    the defaults of ``Run`` (the paper's alpha 0.5, xi 0.35, lr 0.01).
    """
    if "seed" in values:
        if "data_seed" in values or "model_seed" in values:
            raise ValueError("give either seed or data_seed/model_seed, not both")
        seeds = values.pop("seed")
        values["_seed"] = seeds
    for name in values:
        if name not in RUN_FIELDS and name != "_seed":
            raise ValueError(f"unknown run setting {name!r}; choose from {RUN_FIELDS + ('seed',)}")
    names = list(values)
    lists = [list(v) if isinstance(v, (list, tuple, range, np.ndarray)) else [v] for v in values.values()]
    for name, vals in zip(names, lists):
        if len(vals) == 0:
            raise ValueError(f"{name.lstrip('_')} needs at least one value")
        plain = [v.item() if isinstance(v, (np.generic, torch.Tensor)) else v for v in vals]
        repeated = sorted({repr(v) for i, v in enumerate(plain)
                           if any(v == w and type(v) is not bool for w in plain[:i])})
        if repeated:
            raise ValueError(f"{name.lstrip('_')} lists {', '.join(repeated)} more than once: every "
                             "run would be trained twice with the same numbers")
    runs = []
    for combo in itertools.product(*lists):
        kw = dict(zip(names, combo))
        if "_seed" in kw:
            s = kw.pop("_seed")
            kw["data_seed"] = kw["model_seed"] = s
        kw = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in kw.items()}
        runs.append(Run(**kw))
    return runs


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available")
    return device




__all__ = ["Config", "Run", "RUN_FIELDS", "grid", "resolve_device", "OPS", "MIN_P", "LOSSES",
           "ACTIVATION_NAMES", "is_integer", "is_number", "as_number", "check_int", "check_positive",
           "check_seed", "check_fraction", "check_task", "check_activation", "is_prime"]


@dataclass(frozen=True)
class TransformerConfig:
    """The task and the transformer shared by the runs of a transformer sweep.

    Defaults are the paper's (Fig. 7): p 97, d 128, 4 heads, one block, MLP 4 d wide, muP (s 1),
    MSE on one-hot targets, full-batch AdamW with betas (0.9, 0.98), 3000 steps.
    """

    p: int = 97
    op: str = "add"
    d: int = 128
    heads: int = 4
    depth: int = 1
    wide: int = 4
    s: float = 1.0
    steps: int = 3000
    betas: tuple = (0.9, 0.98)
    eps: float = 1e-8
    log_every: int = 50

    def __post_init__(self):
        check_task(self.p, self.op)
        for name in ("d", "heads", "depth", "wide", "steps", "log_every"):
            check_int(name, getattr(self, name))
        if self.d % self.heads:
            raise ValueError(f"d must be a multiple of heads ({self.heads}), got {self.d}")
        if isinstance(self.s, bool) or not (isinstance(self.s, (int, float)) and 0 <= self.s <= 1):
            raise ValueError(f"s must lie in [0, 1] (0: standard, 1: muP), got {self.s!r}")
        if (not isinstance(self.betas, tuple) or len(self.betas) != 2
                or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in self.betas)):
            raise ValueError(f"betas must be a pair of numbers in [0, 1), got {self.betas!r}")
        check_positive("eps", self.eps)
