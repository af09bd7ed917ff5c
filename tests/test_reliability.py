"""Nothing silently wrong: every bad input the reliability review tried is refused with an error
naming the parameter, odd-but-valid inputs are normalised, non-finite training is reported as
'Diverged' (never as a phase), and a damaged cache file is a CacheError, whatever byte is hit.

BAD_INPUTS is the table docs/reliability.md lists (a test checks they agree).
"""
from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import grokbook as gb
from grokbook import Config, Run, grid
from grokbook.engine.train import train
from grokbook.store import files
from grokbook.engine.fourier import ipr_of_vectors, neuron_fourier
from grokbook.core.phases import DIVERGED, PHASES, phase, phases
from grokbook.store.definitions import Part, Sweep
from grokbook.store.files import CacheError
from grokbook.store.sweeps import load_sweep, run_sweep
from grokbook.engine.train import bytes_per_run

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(p=11, width=8, steps=3, log_every=1)


def tiny_train(runs=None, config=None, **kw):
    return train(runs or [Run()], config or Config(**TINY), device="cpu", progress=False, **kw)


def tiny_sweep(name="tiny", p=7, width=4, steps=4):
    cfg = Config(p=p, width=width, steps=steps, log_every=2)
    return Sweep(name, "quick", (Part("a", cfg, tuple(grid(alpha=0.6, xi=0.5, wd=[0.0, 1.0]))),),
                 history_every=2)


def _unwritable_results(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return run_sweep(tiny_sweep(), directory=blocker / "results", progress=False)


# description -> (what to call, the parameter the error must name, the error's type)
BAD_INPUTS = {
    "p = 2 (below the smallest modulus, 5)": (lambda t: Config(p=2), "p", ValueError),
    "p = 4": (lambda t: Config(p=4), "p", ValueError),
    "p = 5000 (about 93 GiB a run)": (lambda t: tiny_train(config=Config(p=5000, width=500, steps=1)),
                                      "p=5000", ValueError),
    "batchnorm = 'no'": (lambda t: Config(batchnorm="no"), "batchnorm", ValueError),
    "batchnorm = 1": (lambda t: Config(batchnorm=1), "batchnorm", ValueError),
    "eps = inf": (lambda t: Config(eps=math.inf), "eps", ValueError),
    "eps = '1e-8' (a string)": (lambda t: Config(eps="1e-8"), "eps", ValueError),
    "init_std = '0.1' (a string)": (lambda t: Config(init_std="0.1"), "init_std", ValueError),
    "alpha = '0.5' (a string)": (lambda t: Run(alpha="0.5"), "alpha", ValueError),
    "xi = '0.2' (a string)": (lambda t: Run(xi="0.2"), "xi", ValueError),
    "lr = '0.01' (a string)": (lambda t: Run(lr="0.01"), "lr", ValueError),
    "wd = '5' (a string)": (lambda t: Run(wd="5"), "wd", ValueError),
    "dropout = None": (lambda t: Run(dropout=None), "dropout", ValueError),
    "alpha = a 2-element tensor": (lambda t: Run(alpha=torch.tensor([0.5, 0.6])), "alpha", ValueError),
    "grid(wd=[0, 0]) (a duplicate)": (lambda t: grid(wd=[0, 0]), "wd", ValueError),
    "grid(seed=[0, 0]) (a duplicate)": (lambda t: grid(seed=[0, 0]), "seed", ValueError),
    "grid(wd=[0, 0.0]) (the same number twice)": (lambda t: grid(wd=[0, 0.0]), "wd", ValueError),
    "train([Run(), Run()]) (a duplicate run)": (lambda t: tiny_train([Run(), Run()]), "runs", ValueError),
    "max_memory_gb below one run": (lambda t: tiny_train(max_memory_gb=1e-9), "max_memory_gb", ValueError),
    "max_memory_gb = '4'": (lambda t: tiny_train(max_memory_gb="4"), "max_memory_gb", ValueError),
    "max_memory_gb = nan": (lambda t: tiny_train(max_memory_gb=math.nan), "max_memory_gb", ValueError),
    "run_sweep(max_chunks=-1)": (lambda t: run_sweep(tiny_sweep(), directory=t, max_chunks=-1,
                                                     progress=False), "max_chunks", ValueError),
    "a results folder that cannot be written": (_unwritable_results, "--results", CacheError),
}

# the same through the command line: exit status 2 and the parameter named on stderr
BAD_CLI = {
    "--p 2": (["run", "--p", "2"], "p"),
    "--p 5000": (["run", "--p", "5000", "--width", "500", "--steps", "1"], "p=5000"),
    "--seeds 0,0": (["run", "--seeds", "0,0"], "seed"),
    "--wd 0,0": (["run", "--wd", "0,0"], "wd"),
    "--alpha 0.5,0.5": (["run", "--alpha", "0.5,0.5"], "alpha"),
    "--results under a file": (["sweep", "weight_decay_phase_diagram", "--profile", "quick",
                                "--results", "{blocker}/results"], "--results"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_naming_the_parameter(case, tmp_path, monkeypatch):
    make, name, kind = BAD_INPUTS[case]
    monkeypatch.setattr(files, "_train_chunk_file",  # refused before any training
                        lambda *a, **k: pytest.fail("trained before refusing"))
    with pytest.raises(kind, match=rf"(?<![\w-]){re.escape(name)}(?![\w])"):
        make(tmp_path)


@pytest.mark.parametrize("case", list(BAD_CLI))
def test_bad_command_line_is_refused_naming_the_parameter(case, tmp_path):
    argv, name = BAD_CLI[case]
    (tmp_path / "blocker").write_text("a file")
    argv = [a.replace("{blocker}", str(tmp_path / "blocker")) for a in argv]
    out = subprocess.run([sys.executable, "-m", "grokbook", *argv, "--no-progress"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={"PATH": "/usr/bin:/bin", "GROKBOOK_PROFILE": "quick",
                              "PYTHONPATH": str(ROOT)})
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w])", out.stderr), out.stderr


def test_the_reliability_page_lists_every_bad_input():
    section = (ROOT / "docs" / "reliability.md").read_text()
    for case in list(BAD_INPUTS) + list(BAD_CLI):
        assert f"| {case} |" in section, case


# ----------------------------------------------------------------------------- accepted, normalised
def test_numbers_of_any_kind_are_stored_as_plain_python_values():
    run = Run(alpha=torch.tensor(0.5), xi=np.float32(0.25), wd=np.int64(5), data_seed=np.int64(3))
    assert run == Run(alpha=0.5, xi=0.25, wd=5.0, data_seed=3)
    assert all(type(getattr(run, f)) is float for f in ("alpha", "xi", "lr", "wd", "dropout", "subset"))
    assert all(type(getattr(run, f)) is int for f in ("data_seed", "model_seed", "subset_seed"))
    cfg = Config(p=np.int64(53), width=np.int32(300), batchnorm=np.bool_(True), eps=np.float32(1e-8),
                 betas=[0.9, 0.98])
    assert (type(cfg.p), type(cfg.width), type(cfg.batchnorm), cfg.betas) == (int, int, bool, (0.9, 0.98))
    json.dumps(gb.sweeps.Sweep("x", "quick", (Part("a", cfg, (run,)),), 1).definition())
    # the same settings give the same cache key however they were typed
    s1 = Sweep("x", "quick", (Part("a", Config(p=11), (Run(wd=5),)),), 1)
    s2 = Sweep("x", "quick", (Part("a", Config(p=np.int64(11)), (Run(wd=np.float64(5.0)),)),), 1)
    assert s1.key() == s2.key()


def test_the_boundaries_are_accepted():
    Config(p=5, op="divide")
    tiny_train(max_memory_gb=bytes_per_run(Config(**TINY)) / 2**30)
    assert len(grid(wd=[0, 5], seed=[0, 1])) == 4  # no duplicate within a list


# ----------------------------------------------------------------------------- non-finite training
def test_a_diverging_run_is_reported_never_classified(recwarn):
    """lr 1e30 blows one run up; its neighbour in the batch keeps the numbers it has alone."""
    sane, wild = Run(alpha=0.6, xi=0.2), Run(alpha=0.6, xi=0.2, lr=1e30)
    cfg = Config(p=11, width=16, steps=20, log_every=5)
    with pytest.warns(RuntimeWarning, match=r"run\(s\) 1 \(step \d+\) diverged"):
        both = tiny_train([sane, wild], cfg)
    alone = tiny_train([sane], cfg)
    row = both.runs.iloc[1]
    assert row.phase == DIVERGED and row.diverged and not both.runs.diverged[0]
    for col in ("train_acc", "test_acc", "corrupt_acc", "corrupt_true_acc", "clean_acc", "mean_ipr"):
        assert math.isnan(row[col]), col
    assert both.runs.phase[0] in PHASES
    for col in ("train_acc", "test_acc", "loss"):
        assert both.runs[col][0] == alone.runs[col][0]
    h = both.history[both.history.run == 1]
    assert (h.finite[h.step >= row.diverged_at] == 0).all()
    assert (h.finite[h.step < row.diverged_at] == 1).all()


def test_huge_initial_weights_diverge():
    with pytest.warns(RuntimeWarning, match="diverged"):
        result = tiny_train(config=Config(p=11, width=8, steps=5, init_std=1e30))
    assert result.runs.phase.tolist() == [DIVERGED]
    assert result.runs.diverged_at[0] == 0  # the outputs overflow at once


def test_ipr_of_non_finite_vectors_is_nan_and_of_zero_vectors_zero():
    x = torch.zeros(4, 11)
    x[0, 3], x[1, 0], x[2] = math.nan, math.inf, torch.cos(2 * math.pi * 2 * torch.arange(11) / 11)
    got = ipr_of_vectors(x)
    assert math.isnan(got[0]) and math.isnan(got[1])
    assert abs(got[2] - 1) < 1e-6 and got[3] == 0


def test_a_silent_neuron_has_no_frequency():
    """An all-zero neuron must not look like a perfect analytic neuron (mismatch 0, one frequency)."""
    model = gb.analytic_solution(11, 3, seed=1)
    with torch.no_grad():
        model.U[0, 1].zero_(); model.V[0, 1].zero_(); model.W[0, :, 1].zero_()
        model.U[0, 2, 0] = math.nan
    table = neuron_fourier(model)
    assert abs(table.phase_mismatch[0]) < 1e-6  # float32 weights
    assert table[["freq_u", "freq_v", "freq_w", "phase_mismatch"]].iloc[1].isna().all()
    assert math.isnan(table.freq_u[2]) and math.isnan(table.phase_mismatch[2])
    assert not ((table.freq_u == table.freq_v) & (table.freq_u == table.freq_w))[1:].any()


def test_phases_of_diverged_runs():
    assert phase(0.99, 0.99, 0.1, diverged=True) == DIVERGED
    assert phases([0.99, 0.99], [0.99, 0.99], [0.1, 0.1], [False, True]).tolist() == \
        ["Coexistence", DIVERGED]
    with pytest.raises(ValueError, match="test_acc"):  # NaN without the flag is an error
        phase(0.5, math.nan, 0.1)


def test_a_stored_diverged_run_loads_as_diverged(tmp_path):
    cfg = Config(p=7, width=4, steps=4, log_every=2)
    s = Sweep("wild", "quick", (Part("a", cfg, (Run(alpha=0.6), Run(alpha=0.6, lr=1e30))),), 2)
    with pytest.warns(RuntimeWarning, match="diverged"):
        run_sweep(s, directory=tmp_path, progress=False)
    assert load_sweep(s, directory=tmp_path).runs.phase.tolist()[1] == DIVERGED


# ----------------------------------------------------------------------------- damaged caches
@pytest.fixture(scope="module")
def small_cache(tmp_path_factory):
    d = tmp_path_factory.mktemp("cache")
    s = tiny_sweep("flip", p=5, width=3, steps=2)
    path = run_sweep(s, directory=d, progress=False)
    return s, path, path.read_bytes()


@pytest.mark.slow
def test_every_single_byte_flip_is_caught_or_harmless(small_cache, tmp_path):
    """Each byte of a small real cache file, inverted: the reader either refuses the file with a
    CacheError or returns exactly the original arrays and provenance.  Every 7th flip goes
    through load_sweep end to end, the rest through its reading layer."""
    s, path, original = small_cache
    arrays0, meta0 = files.read_npz(path)
    target = files.cache_path(s, tmp_path)
    caught = harmless = 0
    for i in range(len(original)):
        damaged = bytearray(original)
        damaged[i] ^= 0xFF
        target.write_bytes(bytes(damaged))
        try:
            if i % 7 == 0:
                load_sweep(s, directory=tmp_path)  # end to end: refused, or loads
                arrays, meta = files.read_npz(target)
            else:
                arrays, meta = files.read_npz(target)
                files.check_arrays(target, arrays, s.n_runs)
        except CacheError as err:
            assert str(target) in str(err) and "regenerate" in str(err)
            caught += 1
            continue
        assert meta == meta0 and arrays.keys() == arrays0.keys(), i
        for k in arrays:
            np.testing.assert_array_equal(arrays[k], arrays0[k], err_msg=f"byte {i}: {k}")
        harmless += 1
    assert caught + harmless == len(original) and caught > 0 and harmless > 0


def test_edited_provenance_is_caught(small_cache, tmp_path):
    s, path, _ = small_cache
    arrays, meta = files.read_npz(path)
    for field, value in (("device", "cuda (NVIDIA H100)"), ("seconds", meta["seconds"] + 1),
                         ("git_commit", "0" * 40), ("torch", "9.9"), ("python", "2.7")):
        assert meta[field] != value
        forged = dict(meta, **{field: value})  # the old digest kept
        buf = {**arrays, "__meta__": np.array(json.dumps(forged))}
        target = files.cache_path(s, tmp_path)
        np.savez_compressed(target, **buf)
        with pytest.raises(CacheError, match="digest"):
            load_sweep(s, directory=tmp_path)


def test_a_missing_array_is_caught(small_cache, tmp_path):
    """A file whose digest is consistent but which lacks an array a sweep needs."""
    s, path, _ = small_cache
    arrays, meta = files.read_npz(path)
    for name in ("ipr", "runs/train_acc", "runs/diverged"):
        rest = {k: v for k, v in arrays.items() if k != name}
        meta_rest = {k: v for k, v in meta.items() if k != "digest"}
        target = files.cache_path(s, tmp_path)
        files._write(target, rest, meta_rest)
        with pytest.raises(CacheError, match=f"missing {re.escape(name)}"):
            load_sweep(s, directory=tmp_path)
    short = dict(arrays, ipr=arrays["ipr"][:1])
    files._write(files.cache_path(s, tmp_path), short,
                  {k: v for k, v in meta.items() if k != "digest"})
    with pytest.raises(CacheError, match="rows"):
        load_sweep(s, directory=tmp_path)
