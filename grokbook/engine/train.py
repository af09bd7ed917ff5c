"""The engine: K runs, one tensor program.

A *run* is one (alpha, xi, lr, weight decay, dropout, seeds) point; a *sweep*
is a list of runs that share the task and the architecture (a ``Config``).
``train(runs, config)`` trains them all at once: weights (K, ...), per-run
masks and labels, per-run hyper-parameter vectors broadcast over K, and a
per-run loss whose sum has exactly each run's own gradient.  A single run is
just K = 1.  If K runs do not fit in memory they are trained in chunks; every
source of randomness (initial weights, minibatches, dropout masks) is drawn per
run, so chunking never changes what a run sees.  With one or two CPU threads the
numbers are bit-identical however the runs are chunked; some BLAS backends (MKL
with more threads) round a batch of one differently from a larger batch, which
changes results at the level of float32 rounding (~1e-7 relative).

On a CPU the paper's MLP (quadratic activation, MSE) trains through ``grokbook.cpu``: each
run's training rows only, in cache-sized tiles, gradients written out by hand, dropout masks
from per-run NumPy streams; on a GPU (and for other activations or losses) through the
autograd graph over the whole table.  Both compute the same loss and gradients; they differ
in float rounding and in the dropout masks' random streams.  Minibatches are a shuffled pass
over each run's training pairs per epoch (``grokbook.cpu.MinibatchSampler``) on every device.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F

from . import cpu
from .cpu import MinibatchSampler
from .loop import run_steps
from .tables import METRICS, history_frame, runs_frame
from .data import Splits, make_splits
from .fourier import model_ipr
from .models import BatchedMLP
from ..core.settings import Config, Run, is_number, resolve_device

# name -> torch.set_float32_matmul_precision; "bf16" also runs the training step's products in bfloat16
PRECISIONS = {"highest": "highest", "tf32": "high", "bf16": "highest"}
KERNELS = ("eager", "triton")  # "triton": the fused kernels of grokbook.kernels (GPU)


# ----------------------------------------------------------------------------- optimizer
class BatchedAdamW:
    """AdamW over tensors whose leading dim is the run, with per-run lr and wd (K,).

    PyTorch's decoupled convention: every step w <- w (1 - lr wd), then the Adam
    update.  The paper's weight decays 0 / 5 / 15 / 20 are in this convention.
    """

    def __init__(self, params, lr, wd, betas=(0.9, 0.98), eps=1e-8):
        self.params = list(params)
        self.lr, self.wd, self.betas, self.eps = lr, wd, betas, eps
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    @torch.no_grad()
    def step(self):
        self.t += 1
        b1, b2 = self.betas
        bc1, bc2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq):
            shape = (-1,) + (1,) * (p.dim() - 1)
            lr, wd = self.lr.view(shape), self.wd.view(shape)
            p.mul_(1 - lr * wd)
            m.lerp_(p.grad, 1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            denom = v.sqrt().div_(math.sqrt(bc2)).add_(self.eps)
            p.addcdiv_(m * (lr / bc1), denom, value=-1)
            p.grad = None


# ----------------------------------------------------------------------------- losses and metrics
def example_loss(out: torch.Tensor, labels: torch.Tensor, loss: str) -> torch.Tensor:
    """Per-example loss (K, B) of outputs (K, B, p) against integer labels (K, B).

    MSE is against one-hot targets, averaged over the p outputs (the paper's).
    """
    if loss == "mse":
        target = torch.zeros_like(out).scatter_(-1, labels[..., None], 1.0)
        return ((out - target) ** 2).mean(-1)
    return F.cross_entropy(out.transpose(1, 2), labels, reduction="none")


class MaskedMSE(torch.autograd.Function):
    """Per-run MSE against one-hot targets over weighted examples, (K,):

        loss_k = sum_i w_ki |out_ki - onehot(y_ki)|^2 / (p sum_i w_ki)

    the same number as ``example_loss`` averaged with weights, with a backward
    that is one pass over the (K, B, p) outputs instead of autograd's several.
    """

    @staticmethod
    def forward(ctx, out, labels, weights):
        diff = out.clone()
        diff.scatter_add_(-1, labels[..., None], torch.full_like(diff[..., :1], -1.0))
        scale = weights / (weights.sum(1, keepdim=True) * out.shape[-1])
        ctx.save_for_backward(diff, scale)
        return ((diff * diff).sum(-1) * scale).sum(1)

    @staticmethod
    def backward(ctx, grad):
        diff, scale = ctx.saved_tensors
        return diff * (2 * grad[:, None] * scale)[..., None], None, None


def _masked_mean(values, mask):
    """Mean over each run's masked entries; NaN where a run's mask is empty."""
    mask = mask.to(values.dtype)
    return (values * mask).sum(1) / mask.sum(1)


@torch.no_grad()
def evaluate(model: BatchedMLP, data: Splits, *, loss: str = "mse", neuron_mask=None) -> dict:
    """Eval-mode metrics of K runs on the whole table, each a (K,) tensor.

    train_acc is against the labels as given; test_acc against the truth;
    corrupt_acc / corrupt_true_acc are on the *changed* training examples
    (label really differs) against the given / the true label; clean_acc is
    on the other training examples.  An empty set gives NaN.
    A run whose outputs are not all finite (its weights overflowed or became NaN) has no
    prediction to score: its accuracies are NaN, and ``finite`` (K,) is 0 for it, else 1.
    """
    was_training = model.training
    model.eval()
    out = model(neuron_mask=neuron_mask)
    model.train(was_training)
    finite = torch.isfinite(out).flatten(1).all(1)
    pred = out.argmax(-1)
    given = (pred == data.labels).to(out.dtype)
    true = (pred == data.truth).to(out.dtype)
    per_example = example_loss(out, data.labels, loss)
    changed = data.changed
    nan = torch.tensor(float("nan"), dtype=out.dtype, device=out.device)
    acc = lambda values, mask: torch.where(finite, _masked_mean(values, mask), nan)
    return {
        "loss": _masked_mean(per_example, data.train),
        "test_loss": _masked_mean(per_example, data.test),
        "train_acc": acc(given, data.train),
        "test_acc": acc(true, data.test),
        "corrupt_acc": acc(given, changed),
        "corrupt_true_acc": acc(true, changed),
        "clean_acc": acc(given, data.clean),
        "finite": finite.to(out.dtype),
    }


def _generators(seeds, device):
    """Per-run dropout generators on ``device`` (streams differ from the init's)."""
    return [torch.Generator(device=device).manual_seed(int(s) * 1_000_003 + 12_345) for s in seeds]


# ----------------------------------------------------------------------------- the engine
@dataclass
class SweepResult:
    """What ``train`` returns.

    ``runs``: one row per run (its settings, final metrics, phase);
    ``history``: tidy, one row per run per logged step;
    ``model``: the final weights of all runs (CPU), ``data``: their masks (CPU).
    """

    config: Config
    runs: pd.DataFrame
    history: pd.DataFrame
    model: BatchedMLP | None
    data: Splits
    seconds: float
    device: str

    def ipr(self) -> torch.Tensor:
        """(K, N) IPR of every neuron of every run."""
        if self.model is None:
            raise ValueError("this result kept no model (keep_model=False)")
        return model_ipr(self.model)


def bytes_per_run(config: Config, dtype=torch.float32, kernel: str = "eager") -> int:
    """Rough peak memory of one run during training or evaluation (hidden tensors dominate).

    kernel="triton" never stores a hidden tensor: the (p^2, p) outputs dominate.
    """
    P, N, size = config.p ** 2, config.width, torch.finfo(dtype).bits // 8
    if kernel == "triton":
        return 6 * P * config.p * size + 12 * N * config.p * size
    rows = P if config.batch_size is None else config.batch_size
    train_bytes = 6 * rows * N * size + 4 * rows * config.p * size
    eval_bytes = 2 * P * N * size + 4 * P * config.p * size
    return max(train_bytes, eval_bytes) + 12 * N * config.p * size


def chunk_size(config: Config, device: torch.device, max_memory_gb: float | None, dtype,
               kernel: str = "eager") -> int:
    """How many runs fit at once in ``max_memory_gb`` (default: 70% of free GPU memory, 4 GB on CPU)."""
    if max_memory_gb is None:
        budget = 0.7 * torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else 4 * 2**30
    else:
        if not (is_number(max_memory_gb) and 0 < max_memory_gb < math.inf):
            raise ValueError(f"max_memory_gb must be a positive number, got {max_memory_gb!r}")
        budget = max_memory_gb * 2**30
    one = bytes_per_run(config, dtype, kernel)
    if max_memory_gb is not None and budget < one:
        raise ValueError(f"max_memory_gb={max_memory_gb:g} is less than one run needs at "
                         f"p={config.p}, width={config.width} (about {one / 2**30:.3g} GiB); "
                         "give at least that, or None for the default")
    return max(1, int(budget // one))


def available_memory(device: torch.device) -> int | None:
    """Bytes free for a run on ``device`` now (free GPU memory; the OS's MemAvailable on a CPU),
    or None where the platform does not say."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_fits(config: Config, device: torch.device, dtype=torch.float32, kernel: str = "eager"):
    """Refuse, before allocating anything, a run that cannot fit in the device's free memory."""
    need, free = bytes_per_run(config, dtype, kernel), available_memory(device)
    if free is not None and need > free:
        raise ValueError(f"one run at p={config.p}, width={config.width} needs about "
                         f"{need / 2**30:.3g} GiB on {device.type}, but only {free / 2**30:.3g} GiB "
                         "are free: lower p or width")


def train(runs, config: Config = Config(), *, device="auto", dtype=torch.float32,
          max_memory_gb: float | None = None, progress: bool = True,
          keep_model: bool = True, compile: bool = False,
          precision: str = "highest", on_log=None, kernel: str = "eager") -> SweepResult:
    """Train every run in ``runs`` (a list of ``Run``; see ``grid``) under ``config``.

    ``compile=True`` runs the forward/backward through ``torch.compile`` (fuses
    the elementwise passes over the hidden tensor; worth it on a GPU).
    ``precision="tf32"`` lets float32 matrix products use TF32 tensor cores on a
    GPU (about 1e-3 relative error per product; the benchmark measures what it
    does to the results); "highest" (default) keeps full float32; "bf16" runs the
    training step's matrix products with bfloat16 operands (autocast; evaluation
    stays float32).
    ``kernel="triton"`` computes the forward and backward with the fused Triton
    kernels of ``grokbook.kernels`` (a CUDA GPU; full batch, MSE, quadratic
    activation, no dropout, no BatchNorm, float32, p <= 128); "eager" (default)
    is plain PyTorch.
    ``on_log(step, first_run, model, data)``, if given, is called at every logged
    step with the chunk of runs being trained (runs first_run, first_run + 1, ...;
    eval mode, no gradients): a hook for per-example records such as when each
    example is first fitted.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {tuple(PRECISIONS)}, got {precision!r}")
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if precision == "bf16" and dtype != torch.float32:
        raise ValueError(f"precision='bf16' needs dtype=torch.float32, got {dtype}")
    if isinstance(runs, Run):
        runs = [runs]
    runs = list(runs)
    if not runs or not all(isinstance(r, Run) for r in runs):
        raise ValueError("runs must be a non-empty list of Run (see grokbook.grid)")
    if not isinstance(config, Config):
        raise ValueError(f"config must be a grokbook.Config, got {type(config).__name__}")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    first_seen = {}
    for i, r in enumerate(runs):
        if r in first_seen:
            raise ValueError(f"runs {first_seen[r]} and {i} are the same run ({r}): a run's numbers "
                             "depend only on its settings, so it would be trained twice; drop the "
                             "duplicate or give it another seed")
        first_seen[r] = i
    device = resolve_device(device)
    check_fits(config, device, dtype, kernel)
    data = make_splits(config.p, config.op, [r.alpha for r in runs], [r.xi for r in runs],
                     [r.data_seed for r in runs], [r.subset for r in runs],
                     [r.subset_seed for r in runs])
    if on_log is not None and not callable(on_log):
        raise ValueError(f"on_log must be None or a function (step, first_run, model, data), "
                         f"got {on_log!r}")
    if config.batch_size is not None:
        smallest = int(data.train.sum(1).min())
        if config.batch_size > smallest:
            raise ValueError(f"batch_size must be <= the smallest training set ({smallest} pairs "
                             f"here), got {config.batch_size}")

    K = len(runs)
    if kernel == "triton":
        _check_triton(runs, config, device, dtype, compile)
    size = chunk_size(config, device, max_memory_gb, dtype, kernel)
    n_logs = len(range(0, config.steps, config.log_every)) + 1
    bar = _progress(K * config.steps, progress, f"{K} run{'s' * (K > 1)} on {device.type}")
    start = time.perf_counter()
    histories, models = [], []
    saved_precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(PRECISIONS[precision])
    try:
        with cpu.runtime(device):
            for lo in range(0, K, size):
                chunk = slice(lo, min(K, lo + size))
                model, logs = _train_chunk(runs[chunk], data.select(chunk), config, device, dtype,
                                           bar, compile, on_log=on_log, first_run=lo,
                                           kernel=kernel, precision=precision)
                histories.append(logs)
                if keep_model:
                    models.append(model.cpu())
    finally:
        torch.set_float32_matmul_precision(saved_precision)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()

    history = history_frame(histories, n_logs)
    runs_df = runs_frame(runs, data, history, config)
    model = _concat_models(models) if keep_model else None
    return SweepResult(config, runs_df, history, model, data, seconds, str(device))


def _check_triton(runs, config: Config, device, dtype, compile):
    """kernel="triton" supports the paper's default setting; refuse everything else, clearly."""
    from .kernels import MAX_P, check_supported
    unsupported = [(config.batch_size is not None, f"batch_size=None (full batch), got {config.batch_size}"),
                   (config.loss != "mse", f"loss='mse', got {config.loss!r}"),
                   (config.activation != "quadratic", f"activation='quadratic', got {config.activation!r}"),
                   (config.batchnorm, "batchnorm=False"),
                   (any(r.dropout > 0 for r in runs), "dropout=0 in every run"),
                   (dtype != torch.float32, f"dtype=torch.float32, got {dtype}"),
                   (compile, "compile=False"),
                   (config.p > MAX_P, f"p <= {MAX_P}, got p={config.p}")]
    for bad, need in unsupported:
        if bad:
            raise ValueError(f"kernel='triton' needs {need}; use kernel='eager' for this setting")
    check_supported(device)


def _train_chunk(runs, data: Splits, config: Config, device, dtype, bar, compile=False,
                 on_log=None, first_run=0, kernel="eager", precision="highest"):
    """Train one chunk of runs: the networks, the step of their device path, the one loop."""
    data = data.to(device)
    model = BatchedMLP.init(config.p, config.width, [r.model_seed for r in runs],
                            std=config.init_std, activation=config.activation,
                            batchnorm=config.batchnorm, device=device, dtype=dtype).train()
    on_cpu_step = (device.type == "cpu" and kernel == "eager"
                   and cpu.supported(config, dtype, precision, compile))
    if on_cpu_step:
        step = _cpu_step(model, runs, data, config)
    else:
        step = _autograd_step(model, runs, data, config, device, dtype, compile, kernel, precision)

    def log(s):
        record = _log(model, data, config)
        if on_log is not None:
            was_training = model.training
            with torch.no_grad():
                on_log(s, first_run, model.eval(), data)
            model.train(was_training)
        return record

    logs = run_steps(config.steps, config.log_every, step, log, bar, len(runs))
    if on_cpu_step:
        cpu.transposed_storage(model, undo=True)
    model.kernel = "eager"  # the returned model is an ordinary one again (e.g. for evaluation on a CPU)
    return model.eval(), logs


def _optimizer(model, runs, config: Config):
    vec = lambda name: torch.tensor([getattr(r, name) for r in runs], device=model.U.device,
                                    dtype=model.U.dtype)
    return BatchedAdamW(model.parameters(), vec("lr"), vec("wd"), config.betas, config.eps)


def _cpu_step(model, runs, data: Splits, config: Config):
    """The CPU path (``grokbook.engine.cpu``): training rows only, tiles, hand-written gradients."""
    cpu.transposed_storage(model)
    dropout = [r.dropout for r in runs] if any(r.dropout > 0 for r in runs) else None
    backward = cpu.Step(model, data, config, [r.model_seed for r in runs], dropout)
    opt = _optimizer(model, runs, config)

    def step(s):
        backward(s)
        opt.step()
    return step


def _autograd_step(model, runs, data: Splits, config: Config, device, dtype, compile, kernel,
                   precision):
    """Every other path, through autograd: full batch or minibatches, with dropout generators,
    bf16 autocast, ``torch.compile`` or the fused Triton kernels as asked."""
    model_seeds = [r.model_seed for r in runs]
    rates = (torch.tensor([r.dropout for r in runs], device=device, dtype=dtype)
             if any(r.dropout > 0 for r in runs) else None)
    gens = _generators(model_seeds, device) if rates is not None else None
    train_f = data.train.to(dtype)
    opt = _optimizer(model, runs, config)
    sampler = (None if config.batch_size is None
               else MinibatchSampler(cpu.training_rows(data.train.cpu()), model_seeds,
                                     config.batch_size))
    if kernel == "triton":
        model.kernel, model.kernel_precision = kernel, precision
    autocast = kernel == "eager" and precision == "bf16"

    def total_loss(index):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            if index is None:
                out = model(dropout=rates, generators=gens, bn_weights=train_f)
            else:
                out = model(index, dropout=rates, generators=gens)
        out = out.to(dtype)
        if index is None:
            labels, weights = data.labels, train_f
        else:
            labels, weights = data.labels.gather(1, index), torch.ones_like(index, dtype=dtype)
        if config.loss == "mse":
            loss = MaskedMSE.apply(out, labels, weights)
        else:
            loss = (example_loss(out, labels, config.loss) * weights).sum(1) / weights.sum(1)
        return loss.sum()  # sum over runs: each run gets exactly its own gradient

    if compile:
        total_loss = torch.compile(total_loss, dynamic=False)

    def step(s):
        index = None if sampler is None else torch.stack(sampler.batch(s)).to(device)
        total_loss(index).backward()
        opt.step()
    return step


def _log(model, data, config):
    metrics = evaluate(model, data, loss=config.loss)
    metrics["mean_ipr"] = model_ipr(model).mean(1)
    metrics["weight_norm"] = model.weight_norm()
    weights_finite = torch.stack([torch.isfinite(t.detach()).flatten(1).all(1)
                                  for t in model.parameters()]).all(0)
    metrics["finite"] = metrics["finite"] * weights_finite.to(metrics["finite"].dtype)
    return torch.stack([metrics[m] for m in METRICS]).double().cpu()  # (metrics, K)


def _concat_models(models):
    if len(models) == 1:
        return models[0]
    first = models[0]
    out = BatchedMLP(*(torch.cat([getattr(m, n).detach() for m in models]) for n in "UVW"),
                     activation=first.activation, batchnorm=first.batchnorm)
    if first.batchnorm:
        with torch.no_grad():
            for name in ("gamma", "beta", "running_mean", "running_var"):
                getattr(out, name).copy_(torch.cat([getattr(m, name) for m in models]))
    return out.eval()


def _progress(total, enabled, desc):
    if not enabled:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="run-step", unit_scale=True, leave=False)
