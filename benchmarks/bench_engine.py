"""Engine vs the per-run loop, same runs, same process; achieved FLOP/s against the roofline.

The loop is ``grokbook.engine.reference.train_one``: one nn.Module and one
torch.optim.AdamW per run, one run after another, as in the authors' code.
The engine trains all K runs as one program.  Both train the default setting
(p = 97, N = 500, full batch, MSE, AdamW lr 0.01) on a grid of K runs
(alpha x xi, wd 0); throughput is model-steps per second (runs x steps / s).

The loop's rate does not depend on K (it is one run at a time), so it is
measured on the first ``--loop-runs`` runs of the grid for ``--loop-steps``
steps and reported as a rate; the engine trains the whole grid for
``--steps`` steps.  Results go to stdout as a table, and to --json if given.

Engine paths (``--paths``, comma-separated; the first is the reference that the
others' final accuracies and phases are compared with):

    eager            plain PyTorch, float32 products       train(...)
    tf32 / bf16      the same with TF32 products / bfloat16 autocast (precision=...)
    compile[+tf32]   torch.compile of the forward/backward (compile=True)
    triton[+tf32|+bf16]  the fused Triton kernels (kernel="triton"; CUDA only,
                     skipped with a note on a CPU)

FLOPs of one model-step (``flops_per_step``), counted analytically, useful work
only: the three products over the whole table -- forward out = h W^T, backward
dh = G W and dW = G^T h, each 2 p^2 N p multiply-adds -- are 6 p^3 N; the
elementwise work on the hidden tensor (a = u + v, h = a^2 in the forward;
2 a dh and the sums over n and over m in the backward) adds 6 p^2 N.  The loss
(~5 p^3) and AdamW (~40 N p) are below 0.2% and left out; so is the padding
that a kernel computes and throws away.  At p = 97, N = 500: 2.77 GFLOP.

Roofline of one model-step: the larger of FLOPs / peak FLOP/s (the peak of the
path's product precision: FP32 on CUDA cores for "highest", TF32 or BF16 tensor
cores otherwise, dense) and bytes / memory bandwidth, where bytes is the least
traffic a fused step needs -- the (p^2, p) output gradient written once and
read once, 2 p^3 x 4 bytes, plus the weights, their gradients and AdamW's state
(~ 3 N p x 4 x 8 bytes).  "% roofline" is the achieved rate over that bound.
Peaks per device are in PEAKS (with sources); on other devices the column is
blank.

    python benchmarks/bench_engine.py --sizes 68,289 --steps 1000 \\
        --paths eager,tf32,bf16,compile+tf32,triton,triton+tf32,triton+bf16          # GPU
    python benchmarks/bench_engine.py --device cpu --p 53 --width 300 --sizes 1,4,16 \\
        --steps 50 --loop-runs 2 --loop-steps 50                                      # CPU
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import time

import numpy as np
import torch

import grokbook
from grokbook import Config, grid
from grokbook import train
from grokbook.engine.reference import train_one
from grokbook.core.settings import resolve_device

# Dense peaks (no structured sparsity), TFLOP/s, and memory bandwidth, TB/s, from NVIDIA's data
# sheets: H100 (SXM5 / PCIe) "NVIDIA H100 Tensor Core GPU" datasheet; H200 "NVIDIA H200 Tensor Core
# GPU" datasheet (SXM); A100 "NVIDIA A100 Tensor Core GPU" datasheet (80 GB SXM); T4 "NVIDIA T4"
# datasheet (no TF32 or BF16 tensor cores: those paths fall back to FP32 / are unsupported; its
# 65 TFLOP/s are FP16).  Matched by substring of torch.cuda.get_device_name(), first match wins.
PEAKS = {
    "H100 PCIe": dict(highest=51.2, tf32=378.0, bf16=756.0, tb_s=2.0),
    "H100": dict(highest=66.9, tf32=494.7, bf16=989.4, tb_s=3.35),   # SXM5 (e.g. "H100 80GB HBM3")
    "H200": dict(highest=66.9, tf32=494.7, bf16=989.4, tb_s=4.8),
    "A100": dict(highest=19.5, tf32=156.0, bf16=312.0, tb_s=2.039),
    "T4": dict(highest=8.1, tf32=8.1, bf16=float("nan"), tb_s=0.32),
}


def device_peaks(name: str):
    for key, peaks in PEAKS.items():
        if all(word in name for word in key.split()):
            return key, peaks
    return None, None


def flops_per_step(p: int, width: int) -> float:
    """Useful FLOPs of one full-batch training step of one run (see the module docstring)."""
    return 6.0 * p ** 3 * width + 6.0 * p ** 2 * width


def bytes_per_step(p: int, width: int) -> float:
    """The least memory traffic of one fused training step of one run, float32 (module docstring)."""
    return 2.0 * p ** 3 * 4 + 3 * width * p * 4 * 8


def roofline_rate(p, width, precision, peaks):
    """Model-steps/s at the roofline: the slower of the compute and the memory bound."""
    if peaks is None:
        return float("nan")
    compute = peaks[precision] * 1e12 / flops_per_step(p, width)
    memory = peaks["tb_s"] * 1e12 / bytes_per_step(p, width)
    return min(compute, memory)


def parse_path(path: str):
    """'compile+tf32' -> dict(compile=True, kernel='eager', precision='tf32')."""
    words = path.split("+")
    allowed = {"eager", "compile", "triton", "tf32", "bf16"}
    if not words or any(w not in allowed for w in words) or len(set(words)) != len(words):
        raise ValueError(f"--paths: each path is one of eager, compile, triton, optionally +tf32 or "
                         f"+bf16 (or tf32 / bf16 alone, meaning eager); got {path!r}")
    precisions = [w for w in words if w in ("tf32", "bf16")]
    if len(precisions) > 1 or ("compile" in words and "triton" in words):
        raise ValueError(f"--paths: {path!r} combines exclusive options")
    return dict(compile="compile" in words, kernel="triton" if "triton" in words else "eager",
                precision=precisions[0] if precisions else "highest")


def fmt(x, spec, width, suffix=""):
    """x formatted right-aligned in width (+ suffix), or a dash where it is NaN."""
    text = "-" if math.isnan(x) else format(x, spec) + suffix
    return f"{text:>{width + len(suffix)}}"


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
                    help="engine paths, comma-separated: eager, tf32, bf16, compile, compile+tf32, triton, "
                         "triton+tf32, triton+bf16 (the first is the reference that the others' results "
                         "are compared with)")
    ap.add_argument("--json", default=None, help="also write the rows to this file")
    args = ap.parse_args()

    device = resolve_device(args.device)
    paths = [(path, parse_path(path)) for path in args.paths.split(",")]
    name = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu"
    peak_key, peaks = device_peaks(name) if device.type == "cuda" else (None, None)
    print(f"grokbook {grokbook.__version__}, torch {torch.__version__}, device {device} ({name}"
          f"{', ' + str(torch.get_num_threads()) + ' threads' if device.type == 'cpu' else ''})")
    if peaks is not None:
        print(f"roofline peaks ({peak_key}, dense): FP32 {peaks['highest']} / TF32 {peaks['tf32']} / "
              f"BF16 {peaks['bf16']} TFLOP/s, {peaks['tb_s']} TB/s")
    sizes = [int(k) for k in args.sizes.split(",")]
    flops = flops_per_step(args.p, args.width)
    rows = []

    loop_cfg = Config(p=args.p, width=args.width, steps=args.loop_steps, log_every=args.loop_steps)
    grid_runs = runs_for(max(sizes))
    loop_runs = grid_runs[:: max(1, len(grid_runs) // args.loop_runs)][: args.loop_runs]  # spread over the grid
    train_one(loop_runs[0], Config(**{**vars(loop_cfg), "steps": 5}), device=device)  # warm-up
    seconds = time_loop(loop_runs, loop_cfg, device)
    loop_rate = len(loop_runs) * args.loop_steps / seconds
    rows.append(dict(path="per-run loop", K=len(loop_runs), steps=args.loop_steps,
                     seconds=seconds, rate=loop_rate, peak_gib=float("nan"),
                     roofline=roofline_rate(args.p, args.width, "highest", peaks)))

    cfg = Config(p=args.p, width=args.width, steps=args.steps, log_every=args.steps)
    reference = {}
    for path, kw in paths:
        if kw["kernel"] == "triton" and device.type != "cuda":
            print(f"engine ({path}): skipped, the Triton kernels need a CUDA GPU")
            continue
        for K in sizes:
            runs = runs_for(K)
            seconds, peak, final = time_engine(runs, cfg, device, **kw)
            ref = reference.setdefault(K, final)
            rows.append(dict(path=f"engine ({path})", K=K, steps=args.steps, seconds=seconds,
                             rate=K * args.steps / seconds, peak_gib=peak,
                             roofline=roofline_rate(args.p, args.width, kw["precision"], peaks),
                             max_dacc=float(max((final.train_acc - ref.train_acc).abs().max(),
                                                (final.test_acc - ref.test_acc).abs().max())),
                             same_phase=float((final.phase == ref.phase).mean())))

    print(f"\np={args.p} N={args.width} full batch; model-steps/s = runs x steps / seconds; "
          f"{flops / 1e9:.3g} GFLOP per model-step (6 p^3 N + 6 p^2 N)")
    print("max |d acc| and same phase: final train/test accuracy and phase of each run, against the "
          "first engine path at the same K; % roofline: of the bound for the path's precision")
    print(f"{'path':<24}{'K':>5}{'steps':>7}{'seconds':>9}{'model-steps/s':>15}{'TFLOP/s':>9}"
          f"{'% roofline':>11}{'ratio':>8}{'peak GiB':>10}{'max |d acc|':>13}{'same phase':>12}")
    for r in rows:
        r["ratio"] = r["rate"] / loop_rate
        r["tflop_s"] = r["rate"] * flops / 1e12
        r["pct_roofline"] = 100 * r["rate"] / r["roofline"]
        print(f"{r['path']:<24}{r['K']:>5}{r['steps']:>7}{r['seconds']:>9.2f}{r['rate']:>15,.0f}"
              f"{fmt(r['tflop_s'], '.3f', 9)}{fmt(r['pct_roofline'], '.1f', 10, '%')}{r['ratio']:>7.1f}x"
              f"{fmt(r['peak_gib'], '.2f', 10)}{fmt(r.get('max_dacc', np.nan), '.4f', 13)}"
              f"{fmt(100 * r.get('same_phase', np.nan), '.0f', 11, '%')}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": name, "torch": torch.__version__, "grokbook": grokbook.__version__,
                       "flops_per_step": flops, "bytes_per_step": bytes_per_step(args.p, args.width),
                       "peaks": peaks, "args": vars(args), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
