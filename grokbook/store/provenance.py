"""Where a stored result came from: its definition and key, the package version, the checkout's
commit, the engine's digest and pieces, the command, the device, the CPU and its threads, torch
and Python, the training seconds and the time it was made."""
from __future__ import annotations

import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from .definitions import Sweep
from .digest import engine_digest, engine_parts
from ..version import __version__

ROOT = Path(__file__).resolve().parents[2]  # the checkout (or the folder of an installed package)


def git_commit():
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


def command_line() -> str:
    """The command line that is making a result (for its provenance)."""
    argv = [Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"] + sys.argv[1:]
    if argv[0] == "__main__.py":
        argv[0] = "python -m grokbook"
    return " ".join(argv)


def sweep_provenance(s: Sweep, device, seconds, command=None) -> dict:
    """The provenance of sweep ``s`` trained on ``device`` in ``seconds`` by ``command`` (default:
    this process's command line)."""
    dev = str(device)
    if dev.startswith("cuda"):
        dev += f" ({torch.cuda.get_device_name()})"
    return {"definition": s.definition(), "key": s.key(), "version": __version__,
            "command": command or command_line(), "git_commit": git_commit(),
            "engine": engine_digest(per_example=s.per_example),
            "engine_parts": engine_parts(per_example=s.per_example), "device": dev, "cpu": cpu_model(),
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "seconds": round(seconds, 2),
            "created": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
