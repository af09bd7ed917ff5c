"""Bad inputs raise ValueError with a message that names the offending parameter."""
import re

import numpy as np
import pytest
import torch

from grokbook import Config, Run, analytic_accuracy, analytic_solution, grid, make_splits, phase, profile, prune_curve, prune_order, split_and_corrupt, task_table
from grokbook import train
from grokbook.engine.models import BatchedMLP
from grokbook.engine.train import bytes_per_run

TINY = dict(p=11, width=8, steps=2, log_every=1)


def run_train(config=None, runs=None, **kw):
    kw.setdefault("device", "cpu")
    return train(runs or [Run()], config or Config(**TINY), progress=False, **kw)


CASES = {
    # p
    "p=1": (lambda: Config(p=1), "p"),
    "p=0": (lambda: Config(p=0), "p"),
    "p=2.5": (lambda: Config(p=2.5), "p"),
    "p=True": (lambda: Config(p=True), "p"),
    "p=-5 table": (lambda: task_table(-5), "p"),
    "p=1 split": (lambda: split_and_corrupt(1, "add", 0.5, 0.1, 0), "p"),
    # alpha, xi
    "alpha=0": (lambda: Run(alpha=0), "alpha"),
    "alpha=1": (lambda: Run(alpha=1), "alpha"),
    "alpha=-0.1": (lambda: Run(alpha=-0.1), "alpha"),
    "alpha=1.5": (lambda: Run(alpha=1.5), "alpha"),
    "alpha=nan": (lambda: Run(alpha=float("nan")), "alpha"),
    "alpha='half'": (lambda: split_and_corrupt(11, "add", "half", 0.1, 0), "alpha"),
    "alpha too small for p": (lambda: split_and_corrupt(5, "add", 0.01, 0.1, 0), "alpha"),
    "xi=-0.01": (lambda: Run(xi=-0.01), "xi"),
    "xi=1.01": (lambda: Run(xi=1.01), "xi"),
    "xi=1.01 split": (lambda: split_and_corrupt(11, "add", 0.5, 1.01, 0), "xi"),
    # op, activation, loss
    "op unknown": (lambda: Config(op="power"), "op"),
    "op unknown table": (lambda: task_table(7, "mod"), "op"),
    "activation unknown": (lambda: Config(activation="sigmoid"), "activation"),
    "activation unknown model": (lambda: BatchedMLP(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3),
                                                    torch.zeros(1, 3, 2), activation="swish"),
                                 "activation"),
    "loss unknown": (lambda: Config(loss="hinge"), "loss"),
    # sizes
    "width=0": (lambda: Config(width=0), "width"),
    "width=-3": (lambda: Config(width=-3), "width"),
    "width=2.0": (lambda: Config(width=2.0), "width"),
    "steps=0": (lambda: Config(steps=0), "steps"),
    "steps=-1": (lambda: Config(steps=-1), "steps"),
    "divide composite p": (lambda: Config(p=10, op="divide"), "p"),
    "divide composite p table": (lambda: task_table(9, "divide"), "p"),
    "batch_size > train": (lambda: run_train(Config(**TINY, batch_size=61)), "batch_size"),
    "batch_size=0": (lambda: Config(batch_size=0), "batch_size"),
    "batch_size=True": (lambda: Config(batch_size=True), "batch_size"),
    "log_every=0": (lambda: Config(log_every=0), "log_every"),
    "init_std=0": (lambda: Config(init_std=0.0), "init_std"),
    "init_std=inf": (lambda: Config(init_std=float("inf")), "init_std"),
    "betas=(1, 0.98)": (lambda: Config(betas=(1.0, 0.98)), "betas"),
    "eps=0": (lambda: Config(eps=0.0), "eps"),
    # per-run hyper-parameters
    "lr=0": (lambda: Run(lr=0), "lr"),
    "lr=-0.01": (lambda: Run(lr=-0.01), "lr"),
    "lr=inf": (lambda: Run(lr=float("inf")), "lr"),
    "lr=nan": (lambda: Run(lr=float("nan")), "lr"),
    "wd=-1": (lambda: Run(wd=-1), "wd"),
    "wd=nan": (lambda: Run(wd=float("nan")), "wd"),
    "dropout=1": (lambda: Run(dropout=1.0), "dropout"),
    "dropout=-0.1": (lambda: Run(dropout=-0.1), "dropout"),
    "data_seed=-1": (lambda: Run(data_seed=-1), "data_seed"),
    "model_seed=-1": (lambda: Run(model_seed=-1), "model_seed"),
    "model_seed=2**31": (lambda: Run(model_seed=2**31), "model_seed"),
    "seed=-1 split": (lambda: split_and_corrupt(11, "add", 0.5, 0.1, -1), "data_seed"),
    "seed=1.5 analytic": (lambda: analytic_solution(11, 8, seed=1.5), "seed"),
    # grid
    "grid unknown setting": (lambda: grid(weight_decay=[0, 5]), "weight_decay"),
    "grid empty list": (lambda: grid(wd=[]), "wd"),
    "grid empty seed list": (lambda: grid(seed=[]), "seed"),
    "grid seed and data_seed": (lambda: grid(seed=[0], data_seed=[1]), "seed"),
    "grid bad value": (lambda: grid(lr=[0.01, -1.0]), "lr"),
    # make_splits
    "make_splits lengths": (lambda: make_splits(11, "add", [0.5], [0.1, 0.2], [0]), "alphas"),
    "make_splits empty": (lambda: make_splits(11, "add", [], [], []), "run"),
    # pruning
    "prune order unknown": (lambda: prune_order(torch.rand(5), "middle"), "order"),
    "prune fraction 1.5": (lambda: prune_curve(analytic_solution(11, 8),
                                               make_splits(11, "add", [0.5], [0.0], [0]),
                                               fractions=[0.5, 1.5]), "fraction"),
    "prune run out of range": (lambda: prune_curve(analytic_solution(11, 8),
                                                   make_splits(11, "add", [0.5], [0.0], [0]), run=1),
                               "run"),
    "prune random seed": (lambda: prune_order(torch.rand(5), "random", seed=-2), "seed"),
    # analytic solution
    "analytic op multiply": (lambda: analytic_solution(97, 100, op="multiply"), "op"),
    "analytic accuracy op divide": (lambda: analytic_accuracy(97, 100, op="divide"), "op"),
    "analytic width 0": (lambda: analytic_solution(97, 0), "width"),
    # train
    "max_memory_gb=0": (lambda: run_train(max_memory_gb=0), "max_memory_gb"),
    "max_memory_gb=-1": (lambda: run_train(max_memory_gb=-1.0), "max_memory_gb"),
    "train no runs": (lambda: train([], Config(**TINY), progress=False), "runs"),
    "train not runs": (lambda: train([{"wd": 5}], Config(**TINY), progress=False), "runs"),
    "train config type": (lambda: train([Run()], {"p": 11}, progress=False), "config"),
    "train dtype": (lambda: run_train(dtype=torch.float16), "dtype"),
    "train precision": (lambda: run_train(precision="fp8"), "precision"),
    "train kernel": (lambda: run_train(kernel="fused"), "kernel"),
    "train bf16 float64": (lambda: run_train(precision="bf16", dtype=torch.float64), "dtype"),
    # phases and profiles
    "phase train_acc > 1": (lambda: phase(1.2, 0.5, 0.1), "train_acc"),
    "phase test_acc nan": (lambda: phase(0.5, float("nan"), 0.1), "test_acc"),
    "phase xi < 0": (lambda: phase(0.5, 0.5, -0.1), "xi"),
    "profile unknown": (lambda: profile("medium"), "profile"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_raises_value_error_naming_parameter(case):
    make, name = CASES[case]
    # the name as a whole word ("p" must not match the p of "pairs")
    with pytest.raises(ValueError, match=rf"(?<![\w]){re.escape(name)}(?![\w])"):
        make()


def test_cuda_without_gpu_raises():
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is available here")
    with pytest.raises(ValueError, match="device"):
        run_train(device="cuda")


def test_good_inputs_are_accepted():
    """The boundaries of every check are accepted (the checks are not too strict)."""
    Config(p=5, width=1, steps=1, log_every=1, batch_size=1, op="divide")  # MIN_P
    Run(alpha=1e-6, xi=0.0, lr=1e-9, wd=0.0, dropout=0.0, data_seed=0, model_seed=2**31 - 1)
    Run(alpha=1 - 1e-6, xi=1.0, dropout=0.999)
    phase(0.0, 1.0, 1.0)
    assert len(grid(wd=np.array([0.0, 5.0]), seed=[0, 1])) == 4
    run_train(Config(**{**TINY, "batch_size": 60}), runs=[Run(alpha=0.5)])  # exactly n_train
    run_train(max_memory_gb=bytes_per_run(Config(**TINY)) / 2**30)  # exactly one run


def test_unknown_device_string_raises_value_error():
    with pytest.raises(ValueError, match="device"):
        run_train(device="gpu")


def test_betas_wrong_length_names_betas():
    with pytest.raises(ValueError, match="betas"):
        Config(betas=(0.9,))


def test_bool_lr_rejected():
    with pytest.raises(ValueError, match="lr"):
        Run(lr=True)


def test_numpy_integer_p_accepted_like_width():
    assert Config(p=np.int64(13), width=np.int64(8)).p == 13
