"""grokbook: the thin package under the book.

To grok or not to grok (Doshi, Das, He, Gromov, ICLR 2024), reproduced with
one idea: a sweep is a batch.  K runs are trained as one tensor program.

The package is in five layers, each importing only those below it (docs/ARCHITECTURE.md):

    teaching   checks, plots, explorers, claims, prose, coursework, pages
    store      named sweeps, their files, provenance and digest, executors, views
    analysis   pruning, memorization scores, histories, statistics
    engine     tasks, the batched MLP and transformer, the training loop, IPR
    core       settings and validators, the profiles' sizes, the paper's phase rules

This file is the chapters' one door (``import grokbook as gb``): the names below.
"""
from .version import __version__
from .engine import cpu as _cpu

_cpu.start_threads_flushing()  # before any other torch work of ours (see its docstring)
from .core import profiles, settings
from .core.phases import (OUTCOMES, PHASES, THRESHOLD, cell_phases, phase, phase_counts,
                          phase_grid, phases)
from .core.profiles import PROFILES, Profile, profile, setup
from .core.settings import OPS, Config, Run, TransformerConfig, grid
from .engine import data, fourier, models, transformer
from .engine.data import Splits, make_splits, split_and_corrupt, task_table
from .engine.fourier import (analytic_accuracy, analytic_solution, ipr_of_vectors, model_ipr,
                             neuron_fourier, neuron_ipr)
from .engine.models import ACTIVATIONS, BatchedMLP
from .engine.train import SweepResult, evaluate, train
from .analysis import ensembles, history, memorization, prune, stats
from .analysis.history import first_step, grokking_steps
from .analysis.prune import prune_curve, prune_curves, prune_order
from .store import capacity, sweeps, transformer_diagram
from .store.files import CacheError
from .store.sweeps import get_sweep, load_sweep, run_sweep
from .teaching import claims, explorers, prose
from .teaching.prose import glue
from .teaching.checks import every_check as _every_check
from .teaching.plots import every_plot as _every_plot


def _namespace(name: str, doc: str, members: dict):
    import types
    module = types.ModuleType(name, doc)
    module.__dict__.update(members)
    return module


checks = _namespace("grokbook.checks", "Every exercise's check: gb.checks.<name>(your_function).",
                    _every_check())
plots = _namespace("grokbook.plots", "Every figure of the book: gb.plots.<name>(...).", _every_plot())
