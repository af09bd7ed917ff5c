"""A sweep on 1 and 2 Dask workers against one process: the scaling of ``grokbook.store.executors``.

    python benchmarks/bench_cluster.py                      # 48 runs x 500 steps: about 3 min on 2 cores
    python benchmarks/bench_cluster.py --runs 12 --steps 50 # a smoke run

The sweep is ``--runs`` runs spread evenly over the book's weight-decay phase diagram (p 53,
N 300, full batch, wd 0: a run's cost grows with its training fraction alpha), cut short to
``--steps`` steps, in chunks of ``--chunk-runs``.  It is trained

* in this process with all threads (what ``--workers 1`` does: the baseline), and with 1 thread;
* on a Dask ``LocalCluster`` of 1 and of 2 one-thread worker processes (``--dask``), the cluster
  started beforehand (its start-up is printed apart, as a real cluster is up already);
* on 2 local worker processes (``--workers 2``), their start-up included.

It prints wall seconds, runs per second and the ratios against the baseline and against one Dask
worker, and then a model of more workers: chunks are independent and each returns a file of tens
of kB, so W workers need about ceil(chunks / W) chunk-times.  Every setting stores the same
numbers (checked here, bit for bit, among the one-thread settings).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch

import grokbook as gb
from grokbook.store.executors import Dask, LocalPool
from grokbook.store.definitions import Part, Sweep
from grokbook.store.provenance import cpu_model
from grokbook.store.sweeps import run_sweep


def the_sweep(runs: int, steps: int) -> Sweep:
    full = gb.sweeps.sweep("weight_decay_phase_diagram", "book")
    part = full.parts[0]
    cfg = dataclasses.replace(part.config, steps=steps, log_every=min(steps, part.config.log_every))
    picked = part.runs[::max(1, len(part.runs) // runs)][:runs]  # spread over the grid's alphas
    return Sweep("bench_cluster", "book", (Part(part.label, cfg, picked),),
                 history_every=full.history_every)


def arrays(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files if k != "__meta__"}


def equal(a, b) -> bool:
    """Bit for bit, NaN equal to NaN."""
    if a.dtype.kind == "f":
        return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    return np.array_equal(a, b)


def timed(s, chunk_runs, **where):
    with tempfile.TemporaryDirectory() as folder:
        t = time.perf_counter()
        path = run_sweep(s, directory=folder, chunk_runs=chunk_runs, progress=False, **where)
        wall = time.perf_counter() - t
        return wall, arrays(path), gb.sweeps.load_sweep(s, directory=folder).provenance


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=48)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--chunk-runs", type=int, default=12)
    ap.add_argument("--json", default=None, help="also write the table here")
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    s = the_sweep(args.runs, args.steps)
    chunks = math.ceil(args.runs / args.chunk_runs)
    threads = torch.get_num_threads()
    print(f"{args.runs} runs (p {s.parts[0].config.p}, N {s.parts[0].config.width}, "
          f"{args.steps} steps) in {chunks} chunks of {args.chunk_runs}; {cpu_model()}, "
          f"torch {torch.__version__}, {threads} threads here", flush=True)
    rows, reference = [], None

    def record(name, wall, got, prov, startup=None):
        nonlocal reference
        same = None  # the 2-thread baseline may sum in another order: not compared
        if name == "1 process, 1 thread":
            reference, same = got, "reference"
        elif reference is not None:
            same = "yes" if all(equal(got[k], reference[k]) for k in reference) else "NO"
        rows.append(dict(setting=name, wall=round(wall, 2), runs_per_s=round(args.runs / wall, 3),
                         chunk_seconds=round(prov["seconds"] / chunks, 2), startup=startup,
                         same_as_one_thread=same))
        print(f"  {name}: {wall:.1f} s" + (f" (cluster start {startup:.1f} s)" if startup else ""),
              flush=True)

    record(f"1 process, {threads} threads", *timed(s, args.chunk_runs, workers=1))
    torch.set_num_threads(1)
    record("1 process, 1 thread", *timed(s, args.chunk_runs, workers=1))
    torch.set_num_threads(threads)
    for n in (1, 2):
        t = time.perf_counter()
        # (Dask's nannies set OMP_NUM_THREADS=1 in this process's environment for good: restore it)
        with mock.patch.dict(os.environ), LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True,
                dashboard_address=None) as cluster, Client(cluster) as client:
            client.run(lambda: __import__("grokbook"))  # a real cluster's workers are warm
            startup = time.perf_counter() - t
            record(f"Dask, {n} worker{'s' if n > 1 else ''} x 1 thread",
                   *timed(s, args.chunk_runs, executor=Dask(client)), startup=startup)
    record("2 local worker processes (start-up included)",
           *timed(s, args.chunk_runs, executor=LocalPool(2)))

    base = rows[0]["wall"]
    one_worker = next(r["wall"] for r in rows if r["setting"].startswith("Dask, 1 "))
    print(f"\n| setting | wall s | runs/s | vs 1 process, {threads} threads | vs 1 Dask worker "
          f"| s per chunk | same numbers |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        same = r["same_as_one_thread"] or "not compared"
        print(f"| {r['setting']} | {r['wall']:.1f} | {r['runs_per_s']:.2f} | "
              f"{base / r['wall']:.2f}x | {one_worker / r['wall']:.2f}x | {r['chunk_seconds']:.1f} "
              f"| {same} |")
    per_chunk = next(r["chunk_seconds"] for r in rows if r["setting"].startswith("Dask, 1 "))
    total = gb.sweeps.sweep("weight_decay_phase_diagram", "book").n_runs
    n = math.ceil(total / args.chunk_runs)
    chunk = per_chunk * 1500 / args.steps  # the book's 1500 steps
    print(f"\nA model, not a measurement: the book's weight-decay diagram ({total} runs x 1500 "
          f"steps, {n} chunks of {args.chunk_runs}, {chunk:.0f} s a chunk on one thread) on W "
          "one-thread workers, each on its own core, takes about ceil(chunks / W) chunk-times:")
    print("  " + ", ".join(f"W={w}: {math.ceil(n / w) * chunk / 60:.1f} min" for w in (1, 2, 8, 32, n)))
    if args.json:
        Path(args.json).write_text(json.dumps(dict(vars(args), rows=rows), indent=2))


if __name__ == "__main__":
    main()
