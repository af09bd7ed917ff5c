"""Engine vs the per-run loop, same runs, same process.

The loop is ``grokbook.reference.train_one``: one nn.Module and one
torch.optim.AdamW per run, one run after another, as in the authors' code.
The engine trains all K runs as one program.  Both train the default setting
(p = 97, N = 500, full batch, MSE, AdamW lr 0.01) on a grid of K runs
(alpha x xi, wd 0); throughput is model-steps per second (runs x steps / s).

The loop's rate does not depend on K (it is one run at a time), so it is
measured on the first ``--loop-runs`` runs of the grid for ``--loop-steps``
steps and reported as a rate; the engine trains the whole grid for
``--steps`` steps.  Results go to stdout as a table, and to --json if given.

    python benchmarks/bench_engine.py --sizes 68,289          # GPU
    python benchmarks/bench_engine.py --p 53 --width 300 --sizes 4,16 --steps 100 --loop-steps 100  # CPU
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

import grokbook
from grokbook import Config, grid, train
from grokbook.reference import train_one
from grokbook.train import resolve_device


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def runs_for(K):
    """K runs of a phase-diagram-like grid: 17 alphas x K/17 xis (or K alphas when K < 17)."""
    n_alpha = 17 if K % 17 == 0 else K
    alphas = np.linspace(0.1, 0.9, n_alpha)
    xis = np.linspace(0.0, 0.8, K // n_alpha)
    return grid(alpha=list(alphas), xi=list(xis))


def time_loop(runs, config, device):
    sync(device)
    t = time.perf_counter()
    for r in runs:
        train_one(r, config, device=device)
    sync(device)
    return time.perf_counter() - t


def time_engine(runs, config, device, **kw):
    warm = Config(**{**vars(config), "steps": 3, "log_every": 3})
    train(runs, warm, device=device, progress=False, keep_model=False, **kw)  # warm-up (and compile)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    sync(device)
    t = time.perf_counter()
    result = train(runs, config, device=device, progress=False, keep_model=False, **kw)
    sync(device)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return time.perf_counter() - t, peak, result.runs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--p", type=int, default=97)
    ap.add_argument("--width", type=int, default=500)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--sizes", default="68,289", help="comma-separated K values for the engine")
    ap.add_argument("--loop-runs", type=int, default=4)
    ap.add_argument("--loop-steps", type=int, default=500)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--paths", default="eager",
                    help="engine paths, comma-separated: eager, tf32, compile, compile+tf32 (the first is "
                         "the reference that the others' results are compared with)")
    ap.add_argument("--json", default=None, help="also write the rows to this file")
    args = ap.parse_args()

    device = resolve_device(args.device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu"
    print(f"grokbook {grokbook.__version__}, torch {torch.__version__}, device {device} ({name})")
    sizes = [int(k) for k in args.sizes.split(",")]
    rows = []

    loop_cfg = Config(p=args.p, width=args.width, steps=args.loop_steps, log_every=args.loop_steps)
    grid_runs = runs_for(max(sizes))
    loop_runs = grid_runs[:: max(1, len(grid_runs) // args.loop_runs)][: args.loop_runs]  # spread over the grid
    train_one(loop_runs[0], Config(**{**vars(loop_cfg), "steps": 5}), device=device)  # warm-up
    seconds = time_loop(loop_runs, loop_cfg, device)
    loop_rate = len(loop_runs) * args.loop_steps / seconds
    rows.append(dict(path="per-run loop", K=len(loop_runs), steps=args.loop_steps,
                     seconds=seconds, rate=loop_rate, peak_gib=float("nan")))

    cfg = Config(p=args.p, width=args.width, steps=args.steps, log_every=args.steps)
    reference = {}
    for path in args.paths.split(","):
        for K in sizes:
            runs = runs_for(K)
            seconds, peak, final = time_engine(runs, cfg, device, compile="compile" in path,
                                               precision="tf32" if "tf32" in path else "highest")
            ref = reference.setdefault(K, final)
            rows.append(dict(path=f"engine ({path})", K=K, steps=args.steps, seconds=seconds,
                             rate=K * args.steps / seconds, peak_gib=peak,
                             max_dacc=float(max((final.train_acc - ref.train_acc).abs().max(),
                                                (final.test_acc - ref.test_acc).abs().max())),
                             same_phase=float((final.phase == ref.phase).mean())))

    print(f"\np={args.p} N={args.width} full batch; model-steps/s = runs x steps / seconds")
    print("max |d acc| and same phase: final train/test accuracy and phase of each run, against the "
          "first engine path at the same K")
    print(f"{'path':<22}{'K':>5}{'steps':>7}{'seconds':>9}{'model-steps/s':>15}{'ratio':>8}"
          f"{'peak GiB':>10}{'max |d acc|':>13}{'same phase':>12}")
    for r in rows:
        r["ratio"] = r["rate"] / loop_rate
        print(f"{r['path']:<22}{r['K']:>5}{r['steps']:>7}{r['seconds']:>9.2f}{r['rate']:>15,.0f}"
              f"{r['ratio']:>7.1f}x{r['peak_gib']:>10.2f}{r.get('max_dacc', float('nan')):>13.4f}"
              f"{100 * r.get('same_phase', float('nan')):>11.0f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": name, "torch": torch.__version__, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
