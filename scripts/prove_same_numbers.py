"""Prove a change to the engine's code changes no number: train one chunk of every path the stored
results use with COMMIT's package and with today's, and compare every array bit for bit.

    python scripts/prove_same_numbers.py --against COMMIT [--write]

The paths (book profile): weight decay and dropout (the CPU step, full batch), BatchNorm and plain
minibatches, the memorization ensemble (per-example records), a width of the capacity sweep
(logged at every step), the transformer of chapter 10's diagram, second-split forgetting, and the
autograd step (cross-entropy, dropout, minibatches).  Each is trained in a fresh process for each
package; the chunk files the store would write (or the transformer's and forgetting's arrays)
must be identical.  With ``--write``, and only if every path is identical and every result was
current at COMMIT, each result's provenance gets today's engine digest and a record of the proof
under ``rekeyed`` (``scripts/rekey_results.py`` does the writing); the arrays are not touched.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

# name: (sweep, which part, the chunk's first run: the first of the part's runs that fits, 3 runs)
CHUNKS = {
    "weight decay": ("weight_decay_phase_diagram", "lambda p: 0", "lambda r: r.wd == 15 and r.xi > 0"),
    "dropout": ("dropout_phase_diagram", "lambda p: 0", "lambda r: r.dropout == 0.3 and r.xi > 0"),
    "BatchNorm": ("batchnorm_phase_diagram",
                  "lambda p: next(i for i, x in enumerate(p) if x.config.batchnorm)", "lambda r: r.xi > 0"),
    "minibatch": ("batchnorm_phase_diagram",
                  "lambda p: next(i for i, x in enumerate(p) if not x.config.batchnorm)",
                  "lambda r: r.xi > 0"),
    "ensemble": ("memorization_ensemble", "lambda p: 1", "lambda r: True"),
    "capacity": ("capacity_N25", "lambda p: 0", "lambda r: r.wd > 0"),
}

WORKER = '''
import sys, numpy as np, torch
sys.path.insert(0, {tree!r})
import grokbook
from grokbook.store import files, sweeps
what, out = {what!r}, {out!r}
if what in {chunks!r}:
    name, pick, first = {chunks!r}[what]
    s = sweeps.sweep(name, "book")
    part = eval(pick)(s.parts)
    lo = next(i for i, r in enumerate(s.parts[part].runs) if eval(first)(r))
    files._train_chunk_file(s, part, lo, lo + 3, lo, out + ".chunk.npz", "cpu", False, {{}})
    with np.load(out + ".chunk.npz") as f:
        arrays = {{k: f[k] for k in f.files if k != "__meta__"}}
elif what == "transformer":
    from grokbook.core.profiles import transformer_sizes
    from grokbook.store.transformer_diagram import diagram_runs
    from grokbook.engine.transformer import train_transformers
    sizes = transformer_sizes("book", device="cpu")
    r = train_transformers(diagram_runs(sizes)[:2], sizes.config(), device="cpu")
    arrays = {{"history": r.history.drop(columns="run").to_numpy(float),
              **{{"w/" + k: v.detach().numpy() for k, v in r.model.named_parameters()}}}}
else:
    runs = grokbook.grid(alpha=0.6, xi=0.3, wd=[0.0, 2.0], dropout=[0.0, 0.3], seed=0)
    if what == "autograd":
        config = grokbook.Config(p=23, width=40, steps=300, batch_size=16, loss="cross_entropy",
                                 log_every=30)
        r = grokbook.train(runs, config, device="cpu", progress=False)
        arrays = {{"history": r.history.drop(columns="run").to_numpy(float),
                  **{{"w/" + k: v.detach().numpy() for k, v in r.model.named_parameters()}}}}
    else:  # second-split forgetting
        from grokbook.analysis.memorization import second_split_forgetting
        config = grokbook.Config(p=23, width=40, steps=200, log_every=200)
        r = grokbook.train(runs[:2], config, device="cpu", progress=False)
        g = torch.Generator().manual_seed(0)
        second = r.data.train & (torch.rand(r.data.train.shape, generator=g) < 0.5)
        arrays = {{"forgotten": second_split_forgetting(r.model, r.data, second, lr=1e-2, wd=1.0,
                                                       steps=50).numpy()}}
np.savez(out, **arrays)
'''

PATHS = tuple(CHUNKS) + ("transformer", "autograd", "second-split forgetting")


def train_path(tree: Path, what: str, out: Path) -> dict:
    code = WORKER.format(tree=str(tree), what=what, out=str(out), chunks=CHUNKS)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tree)
    with np.load(str(out) + ".npz") as f:
        return {k: f[k] for k in f.files}


def same(a: dict, b: dict) -> list:
    """The names of the arrays that differ (in name set, shape, dtype or any bit)."""
    diff = sorted(set(a) ^ set(b))
    for k in sorted(set(a) & set(b)):
        x, y = a[k], b[k]
        if x.shape != y.shape or x.dtype != y.dtype or x.tobytes() != y.tobytes():
            diff.append(k)
    return diff


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--against", required=True, metavar="COMMIT")
    ap.add_argument("--write", action="store_true", help="re-key the results if every path agrees")
    ap.add_argument("--results", default=str(ROOT / "results"))
    args = ap.parse_args(argv)
    import rekey_results
    commit = subprocess.run(["git", "rev-parse", args.against], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        old = rekey_results.old_tree(commit, Path(tmp) / "old").parent
        for what in PATHS:
            then = train_path(old, what, Path(tmp) / f"old-{what.replace(' ', '_')}")
            now = train_path(ROOT, what, Path(tmp) / f"new-{what.replace(' ', '_')}")
            diff = same(then, now)
            print(f"{what:<24} {len(now):>3} arrays, {sum(v.size for v in now.values()):>9} numbers: "
                  + ("bit-identical" if not diff else f"DIFFER: {', '.join(diff)}"))
            failed += [what] if diff else []
    if failed:
        print(f"not the same numbers: {', '.join(failed)}")
        return 1
    if args.write:
        command = f"python scripts/prove_same_numbers.py --against {args.against} --write"
        rekey_results.rekey(commit, args.results, command,
                            why="one chunk of every stored path retrained by that commit's code and "
                                "by today's, bit-identical: " + ", ".join(PATHS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
