"""Named sweeps, cached with provenance, resumable.

A sweep is one or more *parts*, each a ``Config`` (shared by its runs: the
architecture, the batch size, BatchNorm on or off) and a list of ``Run``.  The
book's sweeps are defined here by name, for each profile; ``run_sweep(name)``
trains one and stores it in ``results/`` under a file named by a hash of its
full definition, with its provenance (definition, package version, git commit,
device, seconds).  ``load_sweep(name)`` reads it back, and refuses a file whose
definition, contents or version do not match -- a stale or damaged result is
reported, never used.

Interrupted (Ctrl-C, a lost Colab session)?  Run the same command again: each
part is trained in fixed chunks of runs, every finished chunk is saved at once,
and a restart trains only the missing chunks.  Since every run's randomness is
its own and the chunks are the same, the result equals a straight-through run.

What is stored is compact: the final metrics of every run, its history every
``history_every`` steps, the IPR of every neuron (float16) and, with
BatchNorm, every neuron's |gamma| (float16).
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..core.phases import phases
from ..core.profiles import config as config_of
from ..core.profiles import CAPACITY_LOG_EVERY, CAPACITY_SEEDS, CAPACITY_WIDTHS, profile_name, sizes
from .executors import Chunk, InProcess, Work, executor_for
from ..core.settings import RUN_FIELDS, Config, grid, resolve_device
from ..engine.train import train

ROOT = Path(__file__).resolve().parents[2]
FORMAT = 2  # bump when the stored layout changes (2: the digest covers the provenance too)


class CacheError(RuntimeError):
    """A cached sweep that is missing, stale or damaged; the message says which and what to do."""


class StaleResultWarning(UserWarning):
    """A full-profile result made by engine code that has changed since (see ``engine_digest``)."""


# ----------------------------------------------------------------------------- definitions
@dataclass(frozen=True)
class Part:
    """Runs that share one Config."""

    label: str
    config: Config
    runs: tuple


@dataclass(frozen=True)
class Sweep:
    name: str
    profile: str
    parts: tuple
    history_every: int
    description: str = ""
    per_example: bool = False  # also store every run's prediction of every pair (see below)

    @property
    def n_runs(self) -> int:
        return sum(len(p.runs) for p in self.parts)

    def definition(self) -> dict:
        """Everything that determines the results, as plain JSON data."""
        out = {"name": self.name, "profile": self.profile, "format": FORMAT,
               "history_every": self.history_every,
               "parts": [{"label": p.label, "config": asdict(p.config),
                          "runs": [asdict(r) for r in p.runs]} for p in self.parts]}
        if self.per_example:
            from ..analysis.memorization import TEMPERATURES
            out["per_example"] = {"temperatures": list(TEMPERATURES)}
        return out

    def key(self) -> str:
        text = json.dumps(self.definition(), sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _phase_diagram(name, profile, knob, values, description, seeds=(0,), **config):
    s = sizes(profile)
    cfg = config_of(profile, **config)
    runs = tuple(grid(alpha=list(s.alphas), xi=list(s.xis), **{knob: list(values)},
                      seed=list(seeds)))
    return Sweep(name, profile, (Part(f"{knob} sweep", cfg, runs),),
                 history_every=cfg.log_every, description=description)


def _weight_decay_diagram(profile):
    return _phase_diagram(
        "weight_decay_phase_diagram", profile, "wd", sizes(profile).weight_decays,
        "phase diagram over alpha x xi for the profile's four weight decays (paper Fig. 3: "
        "0 / 5 / 15 / 20), each cell with the profile's seeds", seeds=sizes(profile).seeds)


def _dropout_diagram(profile):
    return _phase_diagram(
        "dropout_phase_diagram", profile, "dropout", sizes(profile).dropouts,
        "phase diagram over alpha x xi for dropout on the pre-activation (paper: 0 / 0.3 / 0.6 "
        "/ 0.9)")


def _batchnorm_diagram(profile):
    s = sizes(profile)
    parts = []
    for b in s.batch_sizes:
        for bn in (True, False):
            cfg = config_of(profile, batch_size=b, batchnorm=bn)
            parts.append(Part(f"batch {b}, {'BatchNorm' if bn else 'no BatchNorm'}", cfg,
                              tuple(grid(alpha=list(s.alphas), xi=list(s.xis)))))
    return Sweep("batchnorm_phase_diagram", profile, tuple(parts),
                 history_every=parts[0].config.log_every,
                 description="phase diagram over alpha x xi with BatchNorm after phi, per "
                             "minibatch size, beside the same minibatches without BatchNorm")


def ensemble_config(profile: str | None = None) -> Config:
    """The ``Config`` of the memorization ensemble and of chapter 8's full-data networks."""
    return config_of(profile, steps=sizes(profile).ensemble_steps)


def _memorization_ensemble(profile):
    """Chapter 8: for each of the profile's ensemble weight decays (Coexistence, Partial and Full
    Inversion of the full-data network) and each of its ``ensemble_seeds`` (a corrupted training
    set and an initialisation), ``ensemble_t`` models, each on a random subset of that training
    set, with per-example records stored (``Sweep.per_example``)."""
    from ..analysis.memorization import ensemble_runs
    s, cfg = sizes(profile), ensemble_config(profile)
    parts = tuple(Part(f"wd {float(wd)}", cfg, tuple(
        run for seed in s.ensemble_seeds for run in ensemble_runs(
            s.ensemble_t, alpha=s.ensemble_alpha, xi=s.ensemble_xi, wd=float(wd),
            subset=s.ensemble_subset, data_seed=seed, model_seed=seed)))
        for wd in s.ensemble_weight_decays)
    return Sweep("memorization_ensemble", profile, parts, history_every=cfg.log_every,
                 description=f"{s.ensemble_t} models per weight decay, each trained on a random "
                             f"{s.ensemble_subset:.0%} of one corrupted training set (chapter 8)",
                 per_example=True)


def capacity_weight_decays(profile: str | None = None) -> tuple:
    """The width sweep's weight decays: none, and the profile's Partial Inversion value."""
    return (0.0, float(sizes(profile).weight_decays[1]))


def _capacity_sweep(width):
    """Chapter 8's width sweep at one width (``grokbook.capacity``): the engine trains one width
    per program and a stored sweep holds one (runs, N) IPR array, so each width is a sweep."""
    def make(profile):
        s = sizes(profile)
        cfg = config_of(profile, width=width, log_every=CAPACITY_LOG_EVERY)
        runs = tuple(grid(alpha=s.alpha, xi=s.xi, wd=list(capacity_weight_decays(profile)),
                          seed=list(CAPACITY_SEEDS)))
        return Sweep(f"capacity_N{width}", profile, (Part(f"N = {width}", cfg, runs),),
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
    return SWEEPS[name](profile_name(profile))


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Panel:
    """One phase diagram of a stored sweep: its part, the setting it fixes (``knob``: wd,
    dropout or lr; None if the part varies none) at ``value``, and a label for titles."""

    part: int
    knob: str | None
    value: float | None
    label: str


def _find_panel(table: dict, label: str) -> Panel:
    """The key of ``table`` (from ``SweepData.panels``) whose label is ``label``."""
    for key in table:
        if key.label == label:
            return key
    raise ValueError(f"panel must be one of {[k.label for k in table]}, got {label!r}")


@dataclass
class SweepData:
    """A stored sweep: ``runs`` (one row per run, with its part), ``history`` (thinned),
    ``ipr`` (K, N) and, with BatchNorm, ``gamma`` (K, N) |gamma|; ``provenance``."""

    runs: pd.DataFrame
    history: pd.DataFrame
    ipr: np.ndarray
    gamma: np.ndarray | None
    provenance: dict
    per_example: dict | None = None  # Sweep.per_example: "pred", "member" (K, P), "logp" (K, P, temperatures)

    # ------------------------------------------------------------------ views of the runs
    KNOBS = ("wd", "dropout", "lr")  # per-run settings a sweep's panels may vary

    @property
    def profile(self) -> str:
        """The profile it was made for (in the full profile, possibly the book's: see get_sweep)."""
        return self.provenance["definition"]["profile"]

    def config(self, part: int = 0):
        """The ``Config`` the runs of part ``part`` were trained with (p, width, steps, ...)."""
        return Config(**self.parts[part]["config"])

    @property
    def parts(self) -> list:
        """The sweep's parts as stored: [{"label": ..., "config": {...}, "runs": [...]}, ...]."""
        return self.provenance["definition"]["parts"]

    def panels(self) -> dict:
        """``{Panel: runs}``: one panel per part and value of the setting the sweep varies (wd,
        dropout or lr), in the order the sweep defines them; each a phase diagram's runs."""
        runs = self.runs
        knobs = [k for k in self.KNOBS if runs[k].nunique() > 1]
        if len(knobs) > 1:
            raise ValueError(f"a panel varies one setting, this sweep varies {knobs}")
        out = {}
        for key, group in runs.groupby(["part", *knobs], sort=True):
            part, *value = key if isinstance(key, tuple) else (key,)
            knob = knobs[0] if knobs else None
            value = float(value[0]) if value else None
            names = (([self.parts[part]["label"]] if len(self.parts) > 1 or not knobs else [])
                     + ([f"{knob} = {value:g}"] if knobs else []))
            out[Panel(int(part), knob, value, ", ".join(names))] = group
        return out

    def panel(self, label: str) -> "Panel":
        """The panel whose label (e.g. 'wd = 15', 'batch 64, BatchNorm') is ``label``."""
        return _find_panel(self.panels(), label)

    def panel_runs(self) -> pd.DataFrame:
        """``runs`` with a ``panel`` column (each run's panel label), for faceted figures."""
        labels = pd.Series(index=self.runs.index, dtype=object)
        for k, group in self.panels().items():
            labels[group.index] = k.label
        return self.runs.assign(panel=labels)

    def select(self, **settings) -> pd.DataFrame:
        """The runs with the given settings, in grid order (alpha, then xi), renumbered from 0.

        Per-run settings (``wd=15``, ``dropout=0.3``, ``alpha=0.65``) select runs; the parts'
        Config fields (``batch_size=64``, ``batchnorm=True``) select parts."""
        runs = self.runs
        for name, value in settings.items():
            if name in RUN_FIELDS:
                runs = runs[np.isclose(runs[name].astype(float), float(value))]
            elif all(name in part["config"] for part in self.parts):
                keep = [i for i, part in enumerate(self.parts) if part["config"][name] == value]
                runs = runs[runs.part.isin(keep)]
            else:
                raise ValueError(f"{name} is neither a run setting {RUN_FIELDS} nor a field of "
                                 "this sweep's Config")
        if runs.empty:
            raise ValueError(f"no run of sweep {self.provenance['definition']['name']!r} has "
                             f"{settings}")
        return runs.sort_values(["part", "alpha", "xi"], kind="stable").reset_index(drop=True)

    def cell(self, alpha: float, xi: float, panel: "Panel | str | None" = None, *,
             seed: int = 0, **settings) -> pd.Series:
        """The run at (alpha, xi) of one panel (a ``Panel``, its label, or ``settings`` as in
        ``select``: ``cell(0.65, 0.3, wd=15)``, ``cell(0.65, 0.3, batch_size=64, batchnorm=True)``).
        Where a cell holds several seeds, the run of ``seed`` (its data and model seed)."""
        if panel is not None:
            table = self.panels()
            runs = table[_find_panel(table, panel) if isinstance(panel, str) else panel]
        else:
            runs = self.select(**settings)
        hit = runs[np.isclose(runs.alpha, alpha) & np.isclose(runs.xi, xi)]
        if len(hit) > 1 and hit.data_seed.nunique() == len(hit):
            if seed not in set(hit.data_seed):
                raise ValueError(f"seed must be one of {sorted(hit.data_seed)} at this cell, "
                                 f"got {seed!r}")
            hit = hit[hit.data_seed == seed]
        if len(hit) != 1:
            what = "is not a cell of the grid" if hit.empty else "is not one cell: name the panel"
            raise ValueError(f"(alpha, xi) = ({alpha}, {xi}) {what}: alpha in "
                             f"{sorted(runs.alpha.unique())}, xi in {sorted(runs.xi.unique())}")
        return hit.iloc[0]

    def cell_ipr(self, alpha: float, xi: float, panel=None, *, seed: int = 0,
                 **settings) -> np.ndarray:
        """The IPR of every neuron (float) of the run ``cell(alpha, xi, panel, seed=seed, ...)``."""
        return self.ipr[int(self.cell(alpha, xi, panel, seed=seed, **settings).run)].astype(float)

    @staticmethod
    def summary(row: pd.Series) -> str:
        """One line on a run (a row of ``runs``): its settings, accuracies and phase."""
        return (f"α = {row.alpha:g}, ξ = {row.xi:g}, wd = {row.wd:g}, dropout = {row.dropout:g}: "
                f"train {row.train_acc:.1%}, test {row.test_acc:.1%}, changed labels fitted "
                f"{row.corrupt_acc:.1%}, inverted {row.corrupt_true_acc:.1%} "
                f"→ {row.phase}")

    def describe(self) -> str:
        """Where this result came from, in one line (name, profile, runs, device, time)."""
        p = self.provenance
        d = p["definition"]
        return (f"{d['name']} ({d['profile']} profile): {len(self.runs)} runs in "
                f"{len(d['parts'])} part(s), trained on {p['device']} in {p['seconds']:.0f} s "
                f"(grokbook {p['version']}, torch {p['torch']}, {p['created']})")


def results_dir(path=None) -> Path:
    """Where results live: ``path``, else $GROKBOOK_RESULTS, else the repository's results/
    (a checkout or an editable install), else ./results."""
    if path or os.environ.get("GROKBOOK_RESULTS"):
        return Path(path or os.environ["GROKBOOK_RESULTS"])
    return ROOT / "results" if (ROOT / "results").is_dir() else Path.cwd() / "results"


def cache_path(s: Sweep, directory=None) -> Path:
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
    out = {}
    for c in df.columns:
        v = df[c].to_numpy()
        out[f"{prefix}{c}"] = v.astype(str) if v.dtype == object else v
    return out


def _frame(prefix, arrays):
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


def _read(path: Path):
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


def _check_arrays(path: Path, arrays: dict, n_runs: int):
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


from .digest import changed_parts, engine_digest, engine_parts  # noqa: E402  (re-exported)


def _git_commit():
    """The checkout's commit, with "+changes" if the package's files differ from it."""
    try:
        def git(*args):
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        commit = git("rev-parse", "HEAD")
        if commit and git("status", "--porcelain", "--", "grokbook"):
            commit += "+changes"
        return commit or None
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _command() -> str:
    """The command line that is making a result (for its provenance)."""
    import sys
    argv = [Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"] + sys.argv[1:]
    if argv[0] == "__main__.py":
        argv[0] = "python -m grokbook"
    return " ".join(argv)


def _provenance(s: Sweep, device, seconds, command=None):
    from ..version import __version__
    dev = str(device)
    if dev.startswith("cuda"):
        dev += f" ({torch.cuda.get_device_name()})"
    return {"definition": s.definition(), "key": s.key(), "version": __version__,
            "command": command or _command(), "git_commit": _git_commit(),
            "engine": engine_digest(per_example=s.per_example),
            "engine_parts": engine_parts(per_example=s.per_example), "device": dev, "cpu": cpu_model(),
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "seconds": round(seconds, 2),
            "created": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


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
    (the bytes of its file, where and how it ran).  The unit of work of ``grokbook.executors``."""
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
            _, meta = _read(incoming)
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


# Measured on the 2-core machine (benchmarks/bench_cpu.py, book/performance.md): for a 36-run
# full-batch sweep two 1-thread worker processes beat one 2-thread process by 1.05-1.1x; for
# minibatch sweeps (small, fast steps) one process is faster (the workers' smaller chunks batch
# less, and spawning them costs about 2 s).
WORKER_MIN_RUNS = 12
# One process on a CPU: chunks of 36 runs.  The engine's rate per run saturates by K = 36
# (benchmarks/bench_cpu.py: 733 model-steps/s at K = 9, 743 at 36), and bigger chunks only add
# memory traffic: the book's weight-decay sweep ran at about 600 model-steps/s in chunks of 289.
CPU_CHUNK_RUNS = 36
# Several workers: two chunks per worker (and part), so that they end together, but never fewer
# runs than batch well (the same benchmark, weight decay: 733 model-steps/s at K = 9, 587 at
# K = 1).
MIN_CHUNK_RUNS = 9


def default_workers(s: "Sweep", device) -> int:
    """Worker processes for a sweep: one per core (at most 2, as measured) for a full-batch
    sweep of at least WORKER_MIN_RUNS runs on a CPU; else 1 (in this process)."""
    if torch.device(device).type != "cpu" or s.n_runs < WORKER_MIN_RUNS:
        return 1
    if any(p.config.batch_size is not None for p in s.parts):
        return 1
    return max(1, min(2, os.cpu_count() or 1, torch.get_num_threads()))


def run_sweep(name_or_sweep, profile: str | None = None, *, device="auto", directory=None,
              chunk_runs: int | None = None, progress: bool = True, max_chunks: int | None = None,
              workers: int | None = None, executor=None, command: str | None = None,
              **train_kw) -> Path:
    """Train a sweep (resuming from its saved chunks, if any) and store it; returns the path.

    Each part is split into chunks of ``chunk_runs`` runs (default: 36 on a CPU, 289 on a GPU
    in one process or on SLURM; two chunks per worker and part, at least MIN_CHUNK_RUNS runs,
    with several workers); each finished chunk is saved
    at once under a name that records its runs, so an interrupted sweep resumes with any chunk
    size.  Where the chunks train (``grokbook.executors``): ``executor``, a Dask scheduler's
    address ("tcp://host:8786"), a ``distributed.Client`` or an Executor (``Slurm(...)``); else
    ``workers`` local processes (default ``default_workers``: one per core for a full-batch CPU
    sweep), each with ``torch.get_num_threads() // workers`` threads; 1 is this process.  With
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
    ex = executor_for(executor, workers, default_workers(s, device) if executor is None else 1)
    if chunk_runs is not None and (isinstance(chunk_runs, bool) or not isinstance(chunk_runs, int)
                                   or chunk_runs < 1):
        raise ValueError(f"chunk_runs must be an integer >= 1, got {chunk_runs!r}")
    if max_chunks is not None and (isinstance(max_chunks, bool) or not isinstance(max_chunks, int)
                                   or max_chunks < 0):
        raise ValueError(f"max_chunks must be None or an integer >= 0, got {max_chunks!r}")
    final = cache_path(s, directory)
    partial = final.with_suffix("")  # a folder of finished chunks
    partial = partial.parent / (partial.name + ".partial")
    n_workers = ex.workers
    chunks, first = [], 0
    for i, part in enumerate(s.parts):
        one = 289 if str(device).startswith("cuda") else CPU_CHUNK_RUNS
        size = chunk_runs or (one if not n_workers or n_workers == 1 else
                              max(MIN_CHUNK_RUNS, -(-len(part.runs) // (2 * n_workers))))
        for lo in range(0, len(part.runs), size):
            hi = min(len(part.runs), lo + size)
            chunks.append(Chunk(i, lo, hi, first + lo, partial / f"part{i}-runs{lo}-{hi}.npz",
                                f"{s.name}-{s.profile}-part{i}-runs{lo}-{hi}"))
        first += len(part.runs)
    todo = []
    for chunk in chunks:
        if chunk.path.exists():
            try:
                _, meta = _read(chunk.path)
                if (meta.get("key") == s.key() and meta.get("engine") == engine_digest()
                        and meta.get("runs") == [chunk.lo, chunk.hi]):
                    continue  # a chunk made by other code is trained again
            except CacheError:
                pass  # a chunk cut off mid-write: train it again
        todo.append(chunk)
    if max_chunks is not None and len(todo) > max_chunks:
        todo = todo[:max_chunks]
        stop_early = True
    else:
        stop_early = False
    _check_writable(partial, s)
    wall = time.perf_counter()
    if todo:
        work = Work(s.name, todo, functools.partial(train_chunk, s, device=str(device),
                                                    train_kw=train_kw),
                    functools.partial(store_chunk, s),
                    lambda c, bar: _train_chunk_file(s, c.part, c.lo, c.hi, c.first_run, c.path,
                                                     device, bar, train_kw))
        (InProcess() if len(todo) == 1 and not ex.remote else ex).run(work, progress)
    if stop_early:
        return partial

    pieces = [_read(c.path) for c in chunks]
    arrays = _merge_chunks([a for a, _ in pieces])
    seconds = sum(m["seconds"] for _, m in pieces)
    devices = sorted({m["device"] for _, m in pieces})
    meta = _provenance(s, devices[0] if len(devices) == 1 else ", ".join(devices), seconds, command)
    meta["wall_seconds"] = round(time.perf_counter() - wall, 2)  # this call's, resumed or not
    meta["workers"] = n_workers
    meta["executor"] = str(ex)
    threads = sorted({m["threads"] for _, m in pieces if "threads" in m})
    if threads:  # what the chunks trained with (a worker's share, not this process's threads)
        meta["threads"] = threads[0] if len(threads) == 1 else threads
    meta["hosts"] = sorted({e["host"] for e in ex.log})  # where this call trained chunks
    _write(final, arrays, meta)
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


def _merge_chunks(pieces: list) -> dict:
    """The arrays of a whole sweep from its chunks' arrays, in run order."""
    arrays = {}
    for k in sorted(set().union(*(a.keys() for a in pieces))):
        # gamma exists only for BatchNorm parts: NaN for the runs of the other parts
        arrays[k] = np.concatenate([a[k] if k in a else np.full_like(a["ipr"], np.nan)
                                    for a in pieces])
    return arrays


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


def load_sweep(name_or_sweep, profile: str | None = None, *, directory=None) -> SweepData:
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
    arrays, meta = _read(path)
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
    _check_arrays(path, arrays, s.n_runs)
    per_example = {k[len("example/"):]: arrays[k] for k in arrays if k.startswith("example/")}
    runs = _frame("runs/", arrays)
    # the phase rules are not part of the engine digest: apply today's
    runs["phase"] = phases(runs.train_acc, runs.test_acc, runs.xi, runs.diverged)
    return SweepData(runs=runs, history=_frame("history/", arrays),
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
    import dataclasses
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
              executor=None) -> SweepData:
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


__all__ = ["SWEEPS", "Sweep", "Part", "SweepData", "Panel", "ensemble_config", "CacheError", "StaleResultWarning",
           "engine_digest", "estimate_seconds", "FALLBACK", "sweep", "run_sweep",
           "load_sweep", "get_sweep", "cache_path"]
