"""The paper's default experiment: p = 97, N = 500, alpha = 0.5, xi = 0.35,
full-batch AdamW lr 0.01, 2000 steps, weight decay 0 / 5 / 15 / 20; and
xi = 0 at wd 5 (clean grokking).  All five runs train as one batch.

    python scripts/reproduce_default.py [--device cuda] [--seeds 0,1,2] [--json out.json]

Prints a Markdown table (train / test accuracy, corrupted-example accuracy
against the given and the true label, phase) and the seconds it took.
"""
from __future__ import annotations

import argparse
import json

import grokbook as gb
from grokbook.core.settings import resolve_device

PAPER = {0: "98 / 98", 5: "78 / 100", 15: "65.4 / 100", 20: "forgets"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    config = gb.Config(p=97, width=500, steps=2000, log_every=5)
    runs = gb.grid(alpha=0.5, xi=0.35, wd=[0, 5, 15, 20], seed=seeds) + gb.grid(alpha=0.5, xi=0.0, wd=5, seed=seeds)
    result = gb.train(runs, config, device=resolve_device(args.device))
    df, h = result.runs, result.history
    grok = {r: int(h[(h.run == r) & (h.test_acc >= 0.99)].step.min()) if (h[(h.run == r)].test_acc >= 0.99).any()
            else None for r in df.run}
    print(f"{len(runs)} runs, {config.steps} steps, on {result.device}: {result.seconds:.1f} s\n")
    print("| xi | wd | seed | train % | test % | corrupted: given / true label % | phase | first step test >= 99% | paper train / test |")
    print("|---|---|---|---|---|---|---|---|---|")
    for _, r in df.iterrows():
        paper = PAPER.get(int(r.wd), "") if r.xi > 0 else "groks in ~50 steps"
        corrupt = (f"{100 * r.corrupt_acc:.1f} / {100 * r.corrupt_true_acc:.1f}" if r.xi > 0 else "-")
        print(f"| {r.xi} | {r.wd:g} | {r.data_seed} | {100 * r.train_acc:.1f} | {100 * r.test_acc:.1f} | "
              f"{corrupt} | {r.phase} | {grok[r.run]} | {paper} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": result.device, "seconds": result.seconds,
                       "runs": json.loads(df.to_json(orient="records")), "first_grok_step": grok}, f, indent=2)


if __name__ == "__main__":
    main()
