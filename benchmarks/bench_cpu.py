"""The CPU engine against the per-run loop, every path, in one run on this machine.

    python benchmarks/bench_cpu.py                 # make bench-cpu; about 6 minutes on 2 cores
    python benchmarks/bench_cpu.py --steps 40 --repeats 1 --sizes 1,9 --no-workers   # a smoke run

What it prints, all measured in this one process (ratios are the point; an idle machine gives
the absolute numbers; two jobs on two cores distort each other):

* the machine's fp32 matmul peak with the engine's threads (the best of square products of a
  few sizes, median of ``--repeats``), the ceiling that "% of peak" refers to;
* per path -- weight decay (full batch), dropout 0.3 (full batch), minibatch 32, BatchNorm
  (minibatch 64, the paper's setting) -- model-steps/s of the engine at each K in ``--sizes``
  and of the per-run loop (``grokbook.engine.reference.train_one``: one nn.Module and one
  torch.optim.AdamW per run, one-hot inputs on the training pairs, as in the authors' code),
  the ratio engine / loop, training examples per second, the useful GFLOP/s and their share of
  the peak, and the seconds one 1500-step run costs inside a sweep of K runs;
* per path, one process with all threads against ``--workers`` 1-thread worker processes over
  the chunks of a 36-run sweep (``grokbook.run_sweep(workers=...)``), the way sweeps run.

Runs: the quick profile's network (p 53, N 300) at alpha 0.7, xi 0.25, K runs with their own
seeds and the four weight decays of the profile in turn.  The engine logs every 37 steps, as a
1500-step sweep does (``steps // 40``), so the evaluation on the whole table is in its time; the
loop logs nothing.  Useful FLOPs of one model-step: the three products over the rows trained on,
6 n N p (n = the training pairs, or the batch), everything else left out.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

import grokbook
from grokbook import Config, Run
from grokbook import train
from grokbook.engine.reference import train_one
from grokbook.store.definitions import Part, Sweep
from grokbook.store.provenance import cpu_model
from grokbook.store.sweeps import run_sweep

P, WIDTH, ALPHA, XI = 53, 300, 0.7, 0.25
WDS = (0.0, 5.5, 15.0, 20.0)
PATHS = {
    "weight decay": dict(config=dict(), dropout=0.0),
    "dropout 0.3": dict(config=dict(), dropout=0.3),
    "minibatch 32": dict(config=dict(batch_size=32), dropout=0.0),
    "BatchNorm 64": dict(config=dict(batch_size=64, batchnorm=True), dropout=0.0),
}
RUN_STEPS = 1500


def matmul_peak(repeats: int) -> tuple[float, int]:
    """(GFLOP/s, size) of the fastest square fp32 product on this machine."""
    best = (0.0, 0)
    for n in (1024, 2048, 3072):
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            for _ in range(3):
                a @ b
            times.append((time.perf_counter() - t) / 3)
        rate = 2 * n ** 3 / statistics.median(times) / 1e9
        best = max(best, (rate, n))
    return best


def runs_for(K: int, dropout: float) -> list[Run]:
    return [Run(alpha=ALPHA, xi=XI, wd=WDS[k % 4], dropout=dropout, data_seed=k, model_seed=k)
            for k in range(K)]


def rows_per_step(config: Config) -> int:
    n_train = round(ALPHA * P * P)
    return n_train if config.batch_size is None else config.batch_size


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=100, help="training steps per timing")
    ap.add_argument("--repeats", type=int, default=3, help="timings per number (median)")
    ap.add_argument("--sizes", default="1,9,36", help="K values of the engine")
    ap.add_argument("--loop-runs", type=int, default=2, help="runs the per-run loop trains")
    ap.add_argument("--paths", default=",".join(PATHS), help="comma-separated, from: " + ", ".join(PATHS))
    ap.add_argument("--workers", type=int, default=2, help="worker processes of the sweep check")
    ap.add_argument("--no-workers", action="store_true", help="skip the worker-process check")
    ap.add_argument("--json", default=None, help="also write the table to this file")
    args = ap.parse_args()
    paths = args.paths.split(",")
    for path in paths:
        if path not in PATHS:
            ap.error(f"--paths: {path!r} is not one of {', '.join(PATHS)}")
    sizes = [int(k) for k in args.sizes.split(",")]
    threads = torch.get_num_threads()
    grokbook.engine.cpu.setup_allocator()

    peak, peak_n = matmul_peak(args.repeats)
    print(f"grokbook {grokbook.__version__}, torch {torch.__version__}, {cpu_model()}, "
          f"{threads} threads")
    print(f"fp32 matmul peak: {peak:.0f} GFLOP/s ({peak_n} x {peak_n} products, {threads} threads)")
    print(f"p {P}, N {WIDTH}, alpha {ALPHA}, xi {XI}; {args.steps} steps a timing, median of "
          f"{args.repeats}; engine logs every 37 steps\n")

    header = (f"{'path':<14}{'who':<14}{'K':>4}{'model-steps/s':>15}{'x loop':>8}"
              f"{'examples/s':>12}{'GFLOP/s':>9}{'% peak':>8}{'s / run':>9}")
    print(header)
    table = []
    for path in paths:
        spec = PATHS[path]
        config = Config(p=P, width=WIDTH, steps=args.steps, log_every=37, **spec["config"])
        rows = rows_per_step(config)
        flops = 6.0 * rows * WIDTH * P

        loop_runs = runs_for(args.loop_runs, spec["dropout"])
        loop_cfg = Config(**{**vars(config), "log_every": args.steps})
        train_one(loop_runs[0], Config(**{**vars(loop_cfg), "steps": 3}))  # warm-up
        seconds = median_time(lambda: [train_one(r, loop_cfg) for r in loop_runs], args.repeats)
        loop_rate = len(loop_runs) * args.steps / seconds
        results = [("per-run loop", len(loop_runs), loop_rate)]
        for K in sizes:
            runs = runs_for(K, spec["dropout"])
            train(runs[:1], Config(**{**vars(config), "steps": 2}), device="cpu", progress=False)
            seconds = median_time(lambda: train(runs, config, device="cpu", progress=False,
                                                keep_model=False), args.repeats)
            results.append(("engine", K, K * args.steps / seconds))
        for who, K, rate in results:
            row = dict(path=path, who=who, K=K, rate=rate, ratio=rate / loop_rate,
                       examples_s=rate * rows, gflop_s=rate * flops / 1e9,
                       pct_peak=100 * rate * flops / 1e9 / peak, s_per_run=RUN_STEPS / rate)
            table.append(row)
            print(f"{path:<14}{who:<14}{K:>4}{rate:>15,.0f}{row['ratio']:>7.2f}x"
                  f"{row['examples_s']:>12,.0f}{row['gflop_s']:>9.1f}{row['pct_peak']:>7.1f}%"
                  f"{row['s_per_run']:>9.2f}", flush=True)

    workers = []
    if not args.no_workers:
        print(f"\nA 36-run sweep ({3 * args.steps} steps): one process with {threads} threads against "
              f"{args.workers} worker processes with {max(1, threads // args.workers)} thread(s) each, "
              f"one chunk of {36 // args.workers} runs each")
        print(f"{'path':<14}{'1 process':>12}{f'{args.workers} workers':>12}{'ratio':>8}")
        for path in paths:
            spec = PATHS[path]
            steps = 3 * args.steps  # long enough that spawning the workers (~2 s) is a small part
            config = Config(p=P, width=WIDTH, steps=steps, log_every=37, **spec["config"])
            s = Sweep("bench", "quick", (Part(path, config, tuple(runs_for(36, spec["dropout"]))),),
                      history_every=37)
            rates = []
            for n in (1, args.workers):
                def once():
                    with tempfile.TemporaryDirectory() as d:  # one chunk per worker
                        run_sweep(s, device="cpu", directory=d, workers=n, chunk_runs=36 // n,
                                  progress=False)
                rates.append(36 * steps / median_time(once, args.repeats))
            workers.append(dict(path=path, one_process=rates[0], workers=rates[1],
                                ratio=rates[1] / rates[0]))
            print(f"{path:<14}{rates[0]:>12,.0f}{rates[1]:>12,.0f}{rates[1] / rates[0]:>7.2f}x",
                  flush=True)
        print("(model-steps/s, spawning the workers included)")

    if args.json:
        Path(args.json).write_text(json.dumps(
            {"cpu": cpu_model(), "threads": threads, "torch": torch.__version__,
             "grokbook": grokbook.__version__, "peak_gflop_s": peak, "args": vars(args),
             "rows": table, "workers": workers}, indent=2))


if __name__ == "__main__":
    main()
