"""The batched transformer against the per-run loop, same runs, same process.

The loop is ``grokbook.engine.reference.train_transformer_one``: one torch.nn transformer
(``ReferenceTransformer``: nn.Embedding, nn.Linear, F.scaled_dot_product_attention, over both
positions, as the authors write it) and one torch.optim.AdamW per run, one run after another,
full batch on the run's training pairs.  The batched path is
``grokbook.engine.transformer.train_transformers``: K runs as one program, only what reaches the
read-out computed (each token's projections once, the last position's attention and MLP), and
the whole table evaluated every ``log_every`` steps (the loop evaluates only at the end).
"batched, general" is the same batch through the general forward (both positions, every pair's
projections): the first ratio is batching alone, the second batching and the one-block fast path.

Both train the chapter's setting (a profile's transformer sizes; alpha 0.8, xi 0.2) for
``--steps`` steps.  The loop's rate does not depend on K, so it is measured on ``--loop-runs``
runs; throughput is model-steps per second (runs x steps / s), the ratio is batched / loop.
The final accuracies of the loop's runs are printed beside the batched runs' (the same runs:
the same initial weights, split and corruption), as a check that both train the same model.

    python benchmarks/bench_transformer.py                        # make bench-transformer
    python benchmarks/bench_transformer.py --steps 20 --sizes 1,3 --loop-runs 1   # smoke run
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import torch

import grokbook
from grokbook import Run
from grokbook.core.profiles import transformer_sizes
from grokbook.engine.reference import train_transformer_one
from grokbook.engine.transformer import train_transformers


def runs_of(k: int, sizes) -> list[Run]:
    """K runs: the profile's weight decays in turn, each with its own seed."""
    wds = sizes.weight_decays
    return [Run(alpha=sizes.alpha, xi=sizes.xi, lr=sizes.lr, wd=wds[i % len(wds)],
                data_seed=i, model_seed=i) for i in range(k)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick", help="whose transformer sizes (quick, book, full)")
    ap.add_argument("--sizes", default="1,3,6,12", help="K values of the batched path")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--loop-runs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = transformer_sizes(args.profile)
    config = sizes.config(steps=args.steps, log_every=max(1, sizes.steps // 60))
    print(f"grokbook {grokbook.__version__} | torch {torch.__version__} | {platform.processor() or platform.machine()}"
          f" | {torch.get_num_threads()} threads | p {config.p}, d {config.d}, {config.heads} heads, "
          f"{config.steps} steps, log every {config.log_every}")

    loop_runs = runs_of(args.loop_runs, sizes)
    start = time.perf_counter()
    loop_metrics = [train_transformer_one(r, config)[1] for r in loop_runs]
    loop_seconds = time.perf_counter() - start
    loop_rate = len(loop_runs) * config.steps / loop_seconds

    rows = [{"path": "per-run loop", "K": len(loop_runs), "seconds": loop_seconds,
             "model_steps_per_s": loop_rate, "ratio": 1.0}]
    batched_final = None
    for k in (int(s) for s in args.sizes.split(",")):
        for fast in (False, True):
            result = train_transformers(runs_of(k, sizes), config, device="cpu", fast=fast)
            rate = k * config.steps / result.seconds
            rows.append({"path": "batched" if fast else "batched, general", "K": k,
                         "seconds": result.seconds, "model_steps_per_s": rate, "ratio": rate / loop_rate})
        if k >= len(loop_runs) and batched_final is None:
            batched_final = result.runs.iloc[:len(loop_runs)]

    print(f"\n{'path':<18}{'K':>4}{'seconds':>10}{'model-steps/s':>16}{'vs loop':>9}")
    for r in rows:
        print(f"{r['path']:<18}{r['K']:>4}{r['seconds']:>10.1f}{r['model_steps_per_s']:>16.1f}{r['ratio']:>8.1f}x")
    if batched_final is not None:
        print("\nthe same runs' final accuracies (loop | batched):")
        for i, m in enumerate(loop_metrics):
            b = batched_final.iloc[i]
            print(f"  run {i} (wd {loop_runs[i].wd:g}): train {m['train_acc']:.3f} | {b.train_acc:.3f}, "
                  f"test {m['test_acc']:.3f} | {b.test_acc:.3f}, corrupted {m['corrupt_acc']:.3f} | {b.corrupt_acc:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": vars(args), "rows": rows, "loop_metrics": loop_metrics}, f, indent=1)


if __name__ == "__main__":
    main()
