"""Named sweeps, cached with provenance, resumable.

A sweep (``grokbook.store.definitions``) is one or more parts, each a ``Config`` and a tuple of
``Run``.  The book's sweeps are defined here by name, for each profile; ``run_sweep(name)``
trains one and stores it in ``results/`` under a file named by a hash of its full definition,
with its provenance (definition, package version, git commit, device, seconds).
``load_sweep(name)`` reads it back, and refuses a file whose definition, contents or version do
not match -- a stale or damaged result is reported, never used.  ``get_sweep`` is what a chapter
calls.

Interrupted (Ctrl-C, a lost Colab session)?  Run the same command again: each part is trained in
fixed chunks of runs, every finished chunk is saved at once, and a restart trains only the missing
chunks.  Since every run's randomness is its own and the chunks are the same, the result equals a
straight-through run.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import time
import warnings
from pathlib import Path

import torch

from ..core.phases import phases
from ..core import profiles
from ..core.profiles import CAPACITY_LOG_EVERY, CAPACITY_SEEDS, CAPACITY_WIDTHS
from ..core.settings import Config, check_optional_int, grid, resolve_device
from ..engine.train import train
from .definitions import Part, Sweep
from .digest import changed_parts, engine_digest
from .executors import InProcess, executor_for
from .files import (CacheError, cache_path, check_arrays, chunk_is_current, chunk_work, frame,
                    plan_chunks, read_npz, results_dir, store_sweep)
from .views import StoredSweep


class StaleResultWarning(UserWarning):
    """A full-profile result made by engine code that has changed since (see ``engine_digest``)."""


def _phase_diagram(name, prof, knob, values, description, seeds=(0,), **config):
    cfg = prof.config(**config)
    runs = tuple(grid(alpha=list(prof.alphas), xi=list(prof.xis), **{knob: list(values)},
                      seed=list(seeds)))
    return Sweep(name, prof.name, (Part(f"{knob} sweep", cfg, runs),),
                 history_every=cfg.log_every, description=description)


def _weight_decay_diagram(name):
    prof = profiles.profile(name)
    s = _phase_diagram(
        "weight_decay_phase_diagram", prof, "wd", prof.weight_decays,
        "phase diagram over alpha x xi for the profile's four weight decays (paper Fig. 3: "
        "0 / 5 / 15 / 20), each cell with the profile's seeds", seeds=prof.seeds)
    if prof.weight_decay_axes is None and prof.weight_decay_order is None:
        return s
    alphas, xis = prof.weight_decay_axes or (prof.alphas, prof.xis)
    order = prof.weight_decay_order or prof.weight_decays
    if sorted(map(float, order)) != sorted(map(float, prof.weight_decays)):
        raise ValueError(f"profile {prof.name!r}: weight_decay_order {order} must list the "
                         f"weight decays {prof.weight_decays}, each once")
    (part,) = s.parts
    runs = tuple(run for wd in order for run in grid(
        alpha=list(alphas), xi=list(xis), wd=[wd], seed=list(prof.seeds)))
    return dataclasses.replace(s, parts=(dataclasses.replace(part, runs=runs),))


def _dropout_diagram(name):
    prof = profiles.profile(name)
    return _phase_diagram(
        "dropout_phase_diagram", prof, "dropout", prof.dropouts,
        "phase diagram over alpha x xi for dropout on the pre-activation (paper: 0 / 0.3 / 0.6 "
        "/ 0.9)")


def _batchnorm_diagram(name):
    prof = profiles.profile(name)
    parts = []
    for b in prof.batch_sizes:
        for bn in (True, False):
            cfg = prof.config(batch_size=b, batchnorm=bn)
            parts.append(Part(f"batch {b}, {'BatchNorm' if bn else 'no BatchNorm'}", cfg,
                              tuple(grid(alpha=list(prof.alphas), xi=list(prof.xis)))))
    return Sweep("batchnorm_phase_diagram", prof.name, tuple(parts),
                 history_every=parts[0].config.log_every,
                 description="phase diagram over alpha x xi with BatchNorm after phi, per "
                             "minibatch size, beside the same minibatches without BatchNorm")


def ensemble_config(profile: str | None = None) -> Config:
    """The ``Config`` of the memorization ensemble and of chapter 8's full-data networks."""
    prof = profiles.profile(profile)
    return prof.config(steps=prof.ensemble_steps)


def _memorization_ensemble(name):
    """Chapter 8: for each of the profile's ensemble weight decays (Coexistence, Partial and Full
    Inversion of the full-data network) and each of its ``ensemble_seeds`` (a corrupted training
    set and an initialisation), ``ensemble_t`` models, each on a random subset of that training
    set, with per-example records stored (``Sweep.per_example``)."""
    from ..analysis.ensembles import ensemble_runs
    prof, cfg = profiles.profile(name), ensemble_config(name)
    parts = tuple(Part(f"wd {float(wd)}", cfg, tuple(
        run for seed in prof.ensemble_seeds for run in ensemble_runs(
            prof.ensemble_t, alpha=prof.ensemble_alpha, xi=prof.ensemble_xi, wd=float(wd),
            subset=prof.ensemble_subset, data_seed=seed, model_seed=seed)))
        for wd in prof.ensemble_weight_decays)
    return Sweep("memorization_ensemble", prof.name, parts, history_every=cfg.log_every,
                 description=f"{prof.ensemble_t} models per weight decay, each trained on a random "
                             f"{prof.ensemble_subset:.0%} of one corrupted training set (chapter 8)",
                 per_example=True)


def capacity_weight_decays(profile: str | None = None) -> tuple:
    """The width sweep's weight decays: none, and the profile's Partial Inversion value."""
    return (0.0, float(profiles.profile(profile).weight_decays[1]))


def _capacity_sweep(width):
    """Chapter 8's width sweep at one width (``grokbook.capacity``): the engine trains one width
    per program and a stored sweep holds one (runs, N) IPR array, so each width is a sweep."""
    def make(name):
        prof = profiles.profile(name)
        cfg = prof.config(width=width, log_every=CAPACITY_LOG_EVERY)
        runs = tuple(grid(alpha=prof.alpha, xi=prof.xi, wd=list(capacity_weight_decays(name)),
                          seed=list(CAPACITY_SEEDS)))
        return Sweep(f"capacity_N{width}", prof.name, (Part(f"N = {width}", cfg, runs),),
                     history_every=CAPACITY_LOG_EVERY,
                     description=f"width {width} at the profile's alpha and xi, without and with "
                                 "weight decay, three seeds (chapter 8's capacity section)")
    return make


SWEEPS = {
    "weight_decay_phase_diagram": _weight_decay_diagram,
    "dropout_phase_diagram": _dropout_diagram,
    "batchnorm_phase_diagram": _batchnorm_diagram,
    "memorization_ensemble": _memorization_ensemble,
    **{f"capacity_N{w}": _capacity_sweep(w) for w in CAPACITY_WIDTHS},
}


def sweep(name: str, profile: str | None = None) -> Sweep:
    """The definition of a named sweep at a profile's sizes."""
    if name not in SWEEPS:
        raise ValueError(f"sweep must be one of {tuple(SWEEPS)}, got {name!r}")
    return SWEEPS[name](profiles.profile(profile).name)


def run_sweep(name_or_sweep, profile: str | None = None, *, device="auto", directory=None,
              chunk_runs: int | None = None, progress: bool = True, max_chunks: int | None = None,
              workers: int | None = None, executor=None, command: str | None = None,
              **train_kw) -> Path:
    """Train a sweep (resuming from its saved chunks, if any) and store it; returns the path.

    Each part is split into chunks of ``chunk_runs`` runs (default ``files.plan_chunks``: 36 on
    a CPU, 289 on a GPU in one process or on SLURM; two chunks per worker and part, at least
    MIN_CHUNK_RUNS runs, with several workers); each finished chunk is saved at once under a name
    that records its runs, so an interrupted sweep resumes with any chunk size: the chunks that
    finished are kept as they are, and only the runs none of them holds are cut anew.  Where the chunks
    train (``grokbook.store.executors``): ``executor``, a Dask scheduler's address
    ("tcp://host:8786"), a ``distributed.Client`` or an Executor (``Slurm(...)``); else
    ``workers`` local processes, each with ``torch.get_num_threads() // workers`` threads.  The
    default, 1, is this process with all its threads: on the 2-core Xeon of
    book/performance.md two one-thread worker processes were 0.89x its speed for a full-batch
    sweep (weight decay), 1.00x with dropout and 0.56-0.71x for minibatch sweeps.  With
    one thread, every run's numbers are the same however the runs are chunked or spread
    (tested); with more, the products may sum in another order in a chunk of another size, and
    a run drifts by float rounding (tests/test_results.py measures how far).  A resume keeps the
    chunking, so it gives a straight run's numbers.
    ``max_chunks`` stops after that many newly trained chunks (for tests of resuming:
    the effect is the same as an interruption).  ``command`` is recorded in the provenance as
    the command that made the result (default: this process's command line).
    """
    s = name_or_sweep if isinstance(name_or_sweep, Sweep) else sweep(name_or_sweep, profile)
    # with an executor the workers resolve "auto": a CPU-only client may drive GPU workers
    device = resolve_device(device) if executor is None else _device_name(device)
    ex = executor_for(executor, workers)
    n_workers = ex.workers  # read once: a Dask cluster's changes as workers come and go
    check_optional_int("chunk_runs", chunk_runs, low=1)
    check_optional_int("max_chunks", max_chunks, low=0)
    final = cache_path(s, directory)
    partial = final.parent / (final.stem + ".partial")  # a folder of finished chunks
    chunks = plan_chunks(s, partial, device, n_workers, chunk_runs)
    todo = [c for c in chunks if not chunk_is_current(s, c)]
    stop_early = max_chunks is not None and len(todo) > max_chunks
    todo = todo[:max_chunks] if stop_early else todo
    _check_writable(partial, s)
    wall = time.perf_counter()
    if todo:
        (InProcess() if len(todo) == 1 and not ex.remote else ex).run(
            chunk_work(s, todo, device, train_kw), progress)
    if stop_early:
        return partial
    store_sweep(s, chunks, final, command, wall_seconds=round(time.perf_counter() - wall, 2),
                workers=n_workers, executor=str(ex), hosts=sorted({e["host"] for e in ex.log}))
    shutil.rmtree(partial, ignore_errors=True)
    return final


def _device_name(device) -> str:
    """``device`` checked for its form only ("auto", "cuda:1"): a cluster's workers have the GPUs."""
    if str(device) == "auto":
        return "auto"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        parsed = None
    if parsed is None or parsed.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return str(parsed)

def _check_writable(folder: Path, s: Sweep):
    """CacheError before any training if the results folder cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise CacheError(f"cannot write the results of sweep {s.name!r} to {folder.parent} "
                         f"({type(err).__name__}: {err}); choose a writable folder with --results "
                         "or $GROKBOOK_RESULTS") from None


def stale_parts(meta: dict, s: Sweep) -> list:
    """The engine pieces that sweep ``s`` runs and whose code changed since the result with
    provenance ``meta`` was made (empty: current).  A sweep without per-example records does not
    run ``digest.PER_EXAMPLE_FUNCTIONS``, so a change there leaves its results current."""
    if meta.get("engine") == engine_digest(per_example=s.per_example):
        return []
    return changed_parts(meta.get("engine_parts"), per_example=s.per_example)


def load_sweep(name_or_sweep, profile: str | None = None, *, directory=None) -> StoredSweep:
    """Read a stored sweep; CacheError if it is missing, stale or damaged."""
    from .. import version
    __version__ = version.__version__  # read now (a test changes it)
    s = name_or_sweep if isinstance(name_or_sweep, Sweep) else sweep(name_or_sweep, profile)
    path = cache_path(s, directory)
    if not path.exists():
        others = sorted(path.parent.glob(f"{s.name}-{s.profile}-*.npz"))
        hint = (f" (found {', '.join(o.name for o in others)}: made from another definition -- "
                "stale)") if others else ""
        raise CacheError(f"no cached result for sweep {s.name!r} ({s.profile} profile) at {path}"
                         f"{hint}; regenerate it with: python -m grokbook sweep {s.name} "
                         f"--profile {s.profile}")
    arrays, meta = read_npz(path)
    if meta.get("key") != s.key() or meta.get("definition") != json.loads(
            json.dumps(s.definition(), default=list)):
        raise CacheError(f"{path}: stale cache file (made from a different sweep definition); "
                         f"regenerate it with: python -m grokbook sweep {s.name} --profile {s.profile}")
    if meta.get("version") != __version__:
        raise CacheError(f"{path}: stale cache file (made by grokbook {meta.get('version')}, this "
                         f"is {__version__}); regenerate it with: python -m grokbook sweep {s.name} "
                         f"--profile {s.profile}")
    changed = stale_parts(meta, s)
    if changed:
        msg = (f"{path}: made by other engine code (digest {meta.get('engine')}, now "
               f"{engine_digest(per_example=s.per_example)}; changed since: {', '.join(changed)})")
        if s.profile == "quick":  # cheap to remake, so never reuse it
            raise CacheError(msg + "; stale")
        warnings.warn(msg + f"; regenerate it with: python -m grokbook sweep {s.name} --profile "
                      f"{s.profile}", StaleResultWarning, stacklevel=2)
    check_arrays(path, arrays, s.n_runs)
    per_example = {k[len("example/"):]: arrays[k] for k in arrays if k.startswith("example/")}
    runs = frame("runs/", arrays)
    # the phase rules are not part of the engine digest: apply today's
    runs["phase"] = phases(runs.train_acc, runs.test_acc, runs.xi, runs.diverged)
    return StoredSweep(runs=runs, history=frame("history/", arrays),
                     ipr=arrays["ipr"], gamma=arrays.get("gamma"), provenance=meta,
                     per_example=per_example or None)


# A profile whose sweeps a CPU cannot make reads those of a smaller one when its own are missing.
FALLBACK = {"full": "book"}


def estimate_seconds(name_or_sweep, profile: str | None = None, *, device="auto",
                     probe_steps: int = 10, probe_runs: int = 8) -> float:
    """A rough estimate of the seconds ``run_sweep`` needs on ``device``: each part's first
    ``probe_runs`` runs are trained for ``probe_steps`` steps, and the time per run and step is
    scaled to the part's runs and steps (batching more runs is usually a little faster per run,
    so this errs long)."""
    s = name_or_sweep if isinstance(name_or_sweep, Sweep) else sweep(name_or_sweep, profile)
    device = resolve_device(device)
    total = 0.0
    for part in s.parts:
        runs = list(part.runs[:probe_runs])
        cfg = dataclasses.replace(part.config, steps=probe_steps, log_every=probe_steps)
        train(runs[:1], dataclasses.replace(cfg, steps=1, log_every=1), device=device,
              progress=False)  # warm up (first-call allocations)
        t = time.perf_counter()
        train(runs, cfg, device=device, progress=False)
        per_run_step = (time.perf_counter() - t) / (len(runs) * probe_steps)
        total += per_run_step * len(part.runs) * part.config.steps
    return total


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


def get_sweep(name: str, profile: str | None = None, *, recompute: bool = False,
              device="auto", directory=None, progress: bool = True, workers: int | None = None,
              executor=None) -> StoredSweep:
    """What a chapter calls: the stored result if it is there.

    - quick profile: a missing or stale result is trained live (it takes a minute or two);
    - book profile: the committed results; a missing one raises CacheError saying how to make it;
    - full profile: the full-scale result if one exists, else the book-scale one, with a note
      saying so (the paper's sweeps take hours on a CPU);
    - ``recompute=True``: train this profile's sweep here and now (after printing an estimate of
      the time for the book and full profiles), then return it.

    A sweep that is trained trains where ``workers`` / ``executor`` say (``run_sweep``: local
    processes, a Dask cluster's address such as "tcp://host:8786", an Executor).

    A result made by older engine code is used with a ``StaleResultWarning``; a damaged one
    raises CacheError.  Nothing is retrained behind the reader's back.
    """
    s = sweep(name, profile)
    if recompute:
        if s.profile != "quick" and executor is None:
            print(f"Training sweep {s.name!r} ({s.profile} profile, {s.n_runs} runs) on "
                  f"{resolve_device(device)}: estimated "
                  f"{_hours(estimate_seconds(s, device=device))} (from a 10-step probe)",
                  flush=True)
        run_sweep(s, device=device, directory=directory, progress=progress, workers=workers,
                  executor=executor)
        return load_sweep(s, directory=directory)
    try:
        return load_sweep(s, directory=directory)
    except CacheError:
        if s.profile == "quick":
            run_sweep(s, device=device, directory=directory, progress=progress, workers=workers,
                      executor=executor)
            return load_sweep(s, directory=directory)
        if s.profile not in FALLBACK or cache_path(s, directory).exists():
            raise  # a damaged or stale file of this profile is reported, not replaced
    smaller = FALLBACK[s.profile]
    data = load_sweep(name, smaller, directory=directory)
    cfg = data.config()
    alphas, xis = data.runs.alpha.nunique(), data.runs.xi.nunique()
    print(f"Note: no {s.profile}-profile result of sweep {name!r} in {results_dir(directory)}; "
          f"this is the {smaller}-profile result instead (p = {cfg.p}, N = {cfg.width}, "
          f"{cfg.steps} steps, {alphas} alpha x {xis} xi, {len(data.runs)} runs). The "
          f"{s.profile} sweep ({s.n_runs} runs) is for a GPU: gb.get_sweep({name!r}, "
          f"recompute=True) trains it here after an estimate of its time.", flush=True)
    return data
