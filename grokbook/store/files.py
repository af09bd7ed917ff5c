"""A stored sweep's files: one ``.npz`` per sweep in ``results/`` (named by the sweep's key), and
while it trains, one per finished chunk of runs in its ``.partial`` folder.

A file holds arrays and a JSON provenance, with a sha256 over both: a file that does not match
its digest, or lacks an array a sweep needs, is a CacheError, never read.  A sweep's file keeps the
final metrics of every run, its history every ``history_every`` steps, the IPR of every neuron
(float16) and, with BatchNorm, every neuron's |gamma| (float16); with ``Sweep.per_example``, every
run's prediction of every pair too.

Chunks are the unit of work of ``grokbook.store.executors``: ``train_chunk`` trains one anywhere
and returns its file's bytes, ``store_chunk`` checks them here, and ``store_sweep`` merges the
finished chunks into the sweep's file.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import re
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..core.settings import resolve_device
from ..engine.train import train
from .definitions import Sweep
from .digest import engine_digest
from .executors import Chunk, Work
from .provenance import ROOT, sweep_provenance

# One process on a CPU: chunks of 36 runs.  The engine's rate per run saturates by K = 36
# (benchmarks/bench_cpu.py: 733 model-steps/s at K = 9, 743 at 36), and bigger chunks only add
# memory traffic: the book's weight-decay sweep ran at about 600 model-steps/s in chunks of 289.
CPU_CHUNK_RUNS = 36
GPU_CHUNK_RUNS = 289  # one process on a GPU
# Several workers: two chunks per worker (and part), so that they end together, but never fewer
# runs than batch well (the same benchmark, weight decay: 733 model-steps/s at K = 9, 587 at
# K = 1).
MIN_CHUNK_RUNS = 9


class CacheError(RuntimeError):
    """A cached sweep that is missing, stale or damaged; the message says which and what to do."""


def results_dir(path=None) -> Path:
    """Where results live: ``path``, else $GROKBOOK_RESULTS, else the repository's results/
    (a checkout or an editable install), else ./results."""
    if path or os.environ.get("GROKBOOK_RESULTS"):
        return Path(path or os.environ["GROKBOOK_RESULTS"])
    return ROOT / "results" if (ROOT / "results").is_dir() else Path.cwd() / "results"


def cache_path(s: Sweep, directory=None) -> Path:
    """The file of sweep ``s`` in ``results_dir(directory)``, named by its key."""
    return results_dir(directory) / f"{s.name}-{s.profile}-{s.key()}.npz"


def _digest(arrays: dict, meta: dict) -> str:
    """sha256 over every array (name, dtype, shape, bytes) and the metadata (the provenance:
    definition, device, seconds, commit, ...) but its own ``digest`` entry."""
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(k.encode()); h.update(str(a.dtype).encode()); h.update(str(a.shape).encode())
        h.update(a.tobytes())
    rest = {k: v for k, v in meta.items() if k != "digest"}
    h.update(json.dumps(rest, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _frame_arrays(prefix, df):
    """The columns of ``df`` as arrays named ``prefix`` + column (strings for objects)."""
    out = {}
    for c in df.columns:
        v = df[c].to_numpy()
        out[f"{prefix}{c}"] = v.astype(str) if v.dtype == object else v
    return out


def frame(prefix, arrays) -> pd.DataFrame:
    """The table stored as the arrays named ``prefix`` + column (``_frame_arrays``)."""
    return pd.DataFrame({k[len(prefix):]: arrays[k] for k in sorted(arrays) if k.startswith(prefix)})


def _write(path: Path, arrays: dict, meta: dict):
    """Atomically write arrays + meta (with a digest of both) to one .npz."""
    meta = json.loads(json.dumps(meta, default=str))  # what a reader will see
    meta["digest"] = _digest(arrays, meta)
    buf = io.BytesIO()
    np.savez_compressed(buf, __meta__=np.array(json.dumps(meta, default=str)), **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)


def read_npz(path: Path):
    """(arrays, meta) of a file written by _write; CacheError if it is damaged in any way."""
    fix = "delete it and regenerate it"
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        meta = json.loads(str(arrays.pop("__meta__")))
    except Exception as err:  # noqa: BLE001 -- a damaged zip raises many kinds (zlib, struct, ...)
        raise CacheError(f"{path}: damaged cache file ({type(err).__name__}: {err}); {fix}") from None
    if not isinstance(meta, dict) or meta.get("digest") != _digest(arrays, meta):
        raise CacheError(f"{path}: damaged cache file (its contents or provenance do not match "
                         f"their digest); {fix}")
    return arrays, meta


def check_arrays(path: Path, arrays: dict, n_runs: int):
    """CacheError unless a (digest-consistent) file holds every array a sweep needs, shaped right."""
    need = ["ipr", "runs/run", "runs/part", "runs/xi", "runs/train_acc", "runs/test_acc",
            "runs/diverged", "history/run", "history/step"]
    missing = [k for k in need if k not in arrays]
    lengths = {k: len(v) for k, v in arrays.items() if k.startswith("runs/") and v.ndim == 1}
    if missing or set(lengths.values()) != {n_runs} or len(arrays["ipr"]) != n_runs:
        what = (f"missing {', '.join(missing)}" if missing else
                f"{sorted(set(lengths.values()) | {len(arrays['ipr'])})} rows where the sweep "
                f"has {n_runs} runs")
        raise CacheError(f"{path}: damaged cache file ({what}); delete it and regenerate it")


def plan_chunks(s: Sweep, folder: Path, device, workers: int | None,
                chunk_runs: int | None = None) -> list:
    """The chunks of sweep ``s``, each a file in ``folder`` named by its runs, in run order.

    The chunks already finished in ``folder`` (current, whatever size they were cut to) are kept;
    the runs between them are cut into chunks of ``chunk_runs`` runs, by default CPU_CHUNK_RUNS on
    a CPU and GPU_CHUNK_RUNS on a GPU for one worker (or SLURM), and two per worker and part, but
    at least MIN_CHUNK_RUNS, for several.  So a sweep resumed with another ``chunk_runs`` (or
    another number of workers) trains only the runs no finished chunk holds."""
    chunks, first = [], 0
    for i, part in enumerate(s.parts):
        n = len(part.runs)
        one = GPU_CHUNK_RUNS if str(device).startswith("cuda") else CPU_CHUNK_RUNS
        size = chunk_runs or (one if not workers or workers == 1 else
                              max(MIN_CHUNK_RUNS, -(-n // (2 * workers))))
        new = lambda lo, hi: Chunk(i, lo, hi, first + lo, folder / f"part{i}-runs{lo}-{hi}.npz",
                                   f"{s.name}-{s.profile}-part{i}-runs{lo}-{hi}")
        lo = 0
        for a, b in finished_ranges(s, folder, i, n) + [(n, n)]:
            chunks += [new(x, min(a, x + size)) for x in range(lo, a, size)]
            if a < b:
                chunks.append(new(a, b))
            lo = b
        first += n
    return chunks


def finished_ranges(s: Sweep, folder: Path, part: int, n_runs: int) -> list:
    """The run ranges [(lo, hi), ...] of part ``part`` that current chunk files in ``folder``
    hold, sorted and disjoint (of two overlapping files, the one starting first is kept)."""
    found = []
    for path in Path(folder).glob(f"part{part}-runs*-*.npz"):
        m = re.fullmatch(rf"part{part}-runs(\d+)-(\d+)\.npz", path.name)
        if not m:
            continue
        lo, hi = int(m[1]), int(m[2])
        chunk = Chunk(part, lo, hi, 0, path, path.stem)
        if 0 <= lo < hi <= n_runs and chunk_is_current(s, chunk):
            found.append((lo, hi))
    kept, end = [], 0
    for lo, hi in sorted(found):
        if lo >= end:
            kept.append((lo, hi))
            end = hi
    return kept


def chunk_is_current(s: Sweep, chunk: Chunk) -> bool:
    """Whether ``chunk``'s file holds its runs of sweep ``s``, made by this engine code (a
    chunk made by other code, or cut off mid-write, is trained again)."""
    if not chunk.path.exists():
        return False
    try:
        _, meta = read_npz(chunk.path)
    except CacheError:
        return False
    return (meta.get("key") == s.key() and meta.get("engine") == engine_digest()
            and meta.get("runs") == [chunk.lo, chunk.hi])


def _chunk_arrays(result, part_index, first_run, history_every):
    runs = result.runs.copy()
    runs["run"] = runs["run"] + first_run
    runs.insert(1, "part", part_index)
    h = result.history
    last = h.step.max()
    h = h[(h.step % history_every == 0) | (h.step == last)].copy()
    h["run"] = h["run"] + first_run
    arrays = {**_frame_arrays("runs/", runs), **_frame_arrays("history/", h),
              "ipr": result.ipr().numpy().astype(np.float16)}
    if result.model.batchnorm:
        arrays["gamma"] = result.model.gamma.detach().abs().numpy().astype(np.float16)
    return arrays


@torch.no_grad()
def _per_example_arrays(result, group: int = 16):
    """Sweep.per_example: each run's predicted label of every pair (int16) and the pairs the run
    trained on (bool), each (K, P), and the log-probability of the pair's given label in the run's
    full training set at each of grokbook.memorization.TEMPERATURES (float16, (K, P, T); see
    grokbook.memorization.label_logprob)."""
    from ..engine.data import make_splits
    from ..analysis.memorization import TEMPERATURES, label_logprob
    df, cfg = result.runs, result.config
    given = make_splits(cfg.p, cfg.op, [float(a) for a in df.alpha], [float(x) for x in df.xi],
                      [int(s) for s in df.data_seed]).labels  # subsets left out: the full set
    model = result.model.eval()
    pred, logp = [], []
    for lo in range(0, model.K, group):  # (group, P, p) outputs at a time
        out = model.select(list(range(lo, min(model.K, lo + group))))()
        pred.append(out.argmax(-1).numpy().astype(np.int16))
        logp.append(np.stack([label_logprob(out, given[lo:lo + group], T).numpy()
                              for T in TEMPERATURES], -1).astype(np.float16))
    return {"example/pred": np.concatenate(pred), "example/logp": np.concatenate(logp),
            "example/member": result.data.train.numpy()}


def _train_chunk_file(s: Sweep, part_index: int, lo: int, hi: int, first_run: int, path,
                      device, progress, train_kw) -> float:
    """Train runs [lo, hi) of part ``part_index`` and write them to ``path``; returns seconds.

    The unit of work of every executor: in this process, or in a worker process."""
    part = s.parts[part_index]
    t = time.perf_counter()
    result = train(list(part.runs[lo:hi]), part.config, device=device, progress=progress,
                   **train_kw)
    arrays = _chunk_arrays(result, part_index, first_run, s.history_every)
    if s.per_example:
        arrays.update(_per_example_arrays(result))
    seconds = time.perf_counter() - t
    _write(Path(path), arrays, {"key": s.key(), "engine": engine_digest(), "seconds": seconds,
                                "device": result.device, "runs": [lo, hi],
                                "threads": torch.get_num_threads()})
    return seconds


def train_chunk(s: Sweep, chunk: Chunk, threads: int | None, *, device: str, train_kw: dict):
    """Train one chunk wherever this is called (a worker process, a Dask worker, a SLURM job):
    (the bytes of its file, where and how it ran).  The unit of work of
    ``grokbook.store.executors``."""
    import socket
    import tempfile
    if threads:
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="grokbook-chunk-") as folder:
        path = Path(folder) / "chunk.npz"
        seconds = _train_chunk_file(s, chunk.part, chunk.lo, chunk.hi, chunk.first_run, path,
                                    resolve_device(device), False, train_kw)
        data = path.read_bytes()
    return data, {"host": socket.gethostname(), "pid": os.getpid(), "seconds": round(seconds, 3),
                  "torch": torch.__version__, "threads": torch.get_num_threads()}


def store_chunk(s: Sweep, chunk: Chunk, data: bytes, info: dict) -> None:
    """Check a chunk that ``train_chunk`` trained elsewhere and write it into the sweep's
    ``.partial`` folder; CacheError (nothing written) if it is damaged, holds other runs or
    was made by other engine code."""
    where = f"{info.get('host', '?')} (process {info.get('pid', '?')})"
    incoming = chunk.path.with_suffix(".incoming")
    incoming.write_bytes(data)
    try:
        try:
            _, meta = read_npz(incoming)
        except CacheError:
            raise CacheError(f"chunk {chunk.label} came back damaged from {where}") from None
        if meta.get("engine") != engine_digest():
            raise CacheError(
                f"chunk {chunk.label} was trained on {where} by other grokbook engine code "
                f"(digest {meta.get('engine')}; this process has {engine_digest()}): install this "
                "checkout of grokbook on every worker")
        if meta.get("key") != s.key() or meta.get("runs") != [chunk.lo, chunk.hi]:
            raise CacheError(f"chunk {chunk.label} came back from {where} holding sweep "
                             f"{meta.get('key')} runs {meta.get('runs')}, not sweep {s.key()} "
                             f"runs {[chunk.lo, chunk.hi]}")
        if info.get("torch", torch.__version__) != torch.__version__:
            warnings.warn(f"chunk {chunk.label} was trained on {where} with torch "
                          f"{info['torch']}, this process has {torch.__version__}: the sweep is "
                          "valid but may not equal a one-process result bit for bit",
                          RuntimeWarning, stacklevel=2)
        os.replace(incoming, chunk.path)
    finally:
        incoming.unlink(missing_ok=True)


def chunk_work(s: Sweep, chunks: list, device, train_kw: dict) -> Work:
    """The ``Work`` an executor does to train ``chunks`` of sweep ``s`` on ``device`` (with
    ``train``'s keywords ``train_kw``)."""
    return Work(s.name, chunks,
                functools.partial(train_chunk, s, device=str(device), train_kw=train_kw),
                functools.partial(store_chunk, s),
                lambda c, bar: _train_chunk_file(s, c.part, c.lo, c.hi, c.first_run, c.path,
                                                 device, bar, train_kw))


def _merge_chunks(pieces: list) -> dict:
    """The arrays of a whole sweep from its chunks' arrays, in run order."""
    arrays = {}
    for k in sorted(set().union(*(a.keys() for a in pieces))):
        # gamma exists only for BatchNorm parts: NaN for the runs of the other parts
        arrays[k] = np.concatenate([a[k] if k in a else np.full_like(a["ipr"], np.nan)
                                    for a in pieces])
    return arrays


def store_sweep(s: Sweep, chunks: list, path: Path, command: str | None = None, **extra) -> None:
    """Merge the finished ``chunks`` of sweep ``s`` into its file at ``path``, with its provenance
    (``sweep_provenance``: the chunks' devices and seconds, ``command``) and ``extra`` entries."""
    pieces = [read_npz(c.path) for c in chunks]
    devices = sorted({m["device"] for _, m in pieces})
    meta = sweep_provenance(s, devices[0] if len(devices) == 1 else ", ".join(devices),
                            sum(m["seconds"] for _, m in pieces), command)
    meta.update(extra)
    threads = sorted({m["threads"] for _, m in pieces if "threads" in m})
    if threads:  # what the chunks trained with (a worker's share, not this process's threads)
        meta["threads"] = threads[0] if len(threads) == 1 else threads
    _write(path, _merge_chunks([a for a, _ in pieces]), meta)
