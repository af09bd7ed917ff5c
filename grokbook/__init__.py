"""grokbook: the thin package under the book.

To grok or not to grok (Doshi, Das, He, Gromov, ICLR 2024), reproduced with
one idea: a sweep is a batch.  K runs are trained as one tensor program.
"""
from .version import __version__
from . import cpu as _cpu

_cpu.start_threads_flushing()  # before any other torch work of ours (see its docstring)
from .data import Splits, make_splits, split_and_corrupt, task_table
from .fourier import (analytic_accuracy, analytic_solution, ipr_of_vectors, model_ipr, neuron_fourier,
                      neuron_ipr)
from .history import first_step, grokking_steps
from .models import ACTIVATIONS, BatchedMLP
from .phases import OUTCOMES, PHASES, THRESHOLD, phase, phase_counts, phase_grid, phases
from .profiles import PROFILES, Profile, profile, setup
from . import checks, plots, stats, widgets
from .prune import prune_curve, prune_curves, prune_order
from .sweeps import CacheError, get_sweep, load_sweep, run_sweep
from .settings import OPS, Config, Run, grid
from .train import SweepResult, evaluate, train
from . import capacity, claims, memorization, transformer, transformer_diagram
from .prose import glue

