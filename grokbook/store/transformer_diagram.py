"""Chapter 10's transformer phase diagram (weight decay x xi, one seed per cell), stored in
results/ with its provenance by ``python -m grokbook transformer-diagram`` and read by
``load_diagram``: never retrained behind the reader; made by other code, used with a warning."""
from __future__ import annotations

import hashlib
import json
import platform
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch

from . import digest
from ..core.profiles import profile, transformer_sizes
from ..core.settings import grid
from .provenance import command_line, cpu_model, git_commit
from ..engine.transformer import train_transformers
from ..version import __version__

DIAGRAM_WDS = (0.0, 1.0, 2.0, 3.0, 4.0)
DIAGRAM_XIS = (0.0, 0.1, 0.2, 0.3, 0.4)
DIAGRAM_COLUMNS = ["wd", "xi", "train_acc", "test_acc", "corrupt_acc", "corrupt_true_acc", "mean_ipr",
                   "phase"]


class StaleDiagramWarning(UserWarning):
    """A stored transformer diagram made by other code than the package's now."""


def diagram_runs(sizes) -> list:
    """The weight decay x xi phase diagram of a profile's transformer (``TransformerSizes``):
    DIAGRAM_WDS x DIAGRAM_XIS at the sizes' alpha and lr, seed 0."""
    return grid(alpha=sizes.alpha, xi=list(DIAGRAM_XIS), lr=sizes.lr, wd=list(DIAGRAM_WDS), seed=[0])


# The transformer's code that makes a stored number, by qualified name (an edit elsewhere, say a
# new helper for a figure, leaves the stored diagram current); two names are also the MLP
# engine's, so they name their module.
TRAINING_CODE = ("init_transformer_weights", "BatchedTransformer", "transformer.neuron_ipr",
                 "TransformerConfig", "transformer._log", "train_transformers")


def code_digest(root=None) -> str:
    """16 hex digits over the code that makes a transformer result: the MLP engine's pieces
    (``digest.engine_pieces`` without the per-example functions) and TRAINING_CODE, each by its
    qualified name, without comments and docstrings (``root``: another copy of the package)."""
    sources = digest._package_sources(digest.PACKAGE if root is None else Path(root))
    pieces = digest.engine_pieces(sources, per_example=False)
    pieces.update(digest.find_pieces(TRAINING_CODE, sources))
    return digest.pieces_digest(pieces)


def diagram_path(name: str | None = None, root=None):
    """results/transformer_phase_diagram-KEY.json, KEY a hash of the profile's sizes and the grid
    (profiles with the same transformer sizes share the file: quick and book do)."""
    name = profile(name).name
    sizes = transformer_sizes(name, device="cpu")
    # the sizes that train the runs: whether they were ever measured is no part of the definition
    trained = {k: v for k, v in asdict(sizes).items() if k != "measured"}
    definition = json.dumps({"sizes": trained, "wds": DIAGRAM_WDS, "xis": DIAGRAM_XIS}, sort_keys=True)
    key = hashlib.sha256(definition.encode()).hexdigest()[:16]
    root = Path(__file__).resolve().parents[2] / "results" if root is None else Path(root)
    return root / f"transformer_phase_diagram-{key}.json"


def make_diagram(name: str | None = None, *, root=None, progress: bool = True):
    """Train the profile's transformer phase diagram (one batch) and store it with provenance."""
    name = profile(name).name
    sizes = transformer_sizes(name, device="cpu")
    result = train_transformers(diagram_runs(sizes), sizes.config(), device="cpu", progress=progress)
    path = diagram_path(name, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"provenance": {"command": command_line(), "version": __version__, "git_commit": git_commit(),
                             "code": code_digest(), "cpu": cpu_model(), "threads": torch.get_num_threads(),
                             "torch": torch.__version__, "python": platform.python_version(),
                             "seconds": round(result.seconds, 1),
                             "created": time.strftime("%Y-%m-%d %H:%M:%S %Z")},
              "runs": result.runs[DIAGRAM_COLUMNS].to_dict(orient="records")}
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path, result


def load_diagram(name: str | None = None, root=None):
    """The stored phase diagram (a DataFrame, its provenance in ``.attrs``), or None with a note
    naming the command that makes it.  Made by other code than the package's now: used, with a
    ``StaleDiagramWarning``.  Never trained here (a chapter does not retrain behind the reader)."""
    path = diagram_path(name, root)
    if not path.exists():
        print(f"note: no stored transformer phase diagram for these sizes ({path.name}); "
              f"make it with: python -m grokbook transformer-diagram --profile {profile(name).name}")
        return None
    record = json.loads(path.read_text())
    runs = pd.DataFrame(record["runs"])
    runs.attrs["provenance"] = record["provenance"]
    if record["provenance"].get("code") != code_digest():
        warnings.warn(f"{path.name} was made by other transformer or engine code than this package's "
                      f"(made at commit {record['provenance'].get('git_commit')}); it is shown as it "
                      "was stored. Remake it with python -m grokbook transformer-diagram",
                      StaleDiagramWarning, stacklevel=2)
    return runs
