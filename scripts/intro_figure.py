"""Draw the introduction's figure (book/_generated/hero.png) from the committed weight-decay
phase diagram: the book profile's sweep, never retrained here.

    python scripts/intro_figure.py [--out book/_generated/hero.png]

The run it follows (weight decay 15, alpha 0.8, xi 0.3, seed 0) and the sentences of book/intro.md
about it are checked in tests/test_book.py (test_intro_figure_run).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import grokbook as gb  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HERO = dict(wd=15.0, alpha=0.8, xi=0.3, seed=0)  # the figure's run, named in its caption


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "book" / "_generated" / "hero.png")
    args = parser.parse_args(argv)
    gb.plots.set_theme()
    sweep = gb.get_sweep("weight_decay_phase_diagram", "book", progress=False)
    fig, run = gb.plots.hero(sweep, **HERO)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=130)
    print(f"{args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}: "
          f"run {run.run}, {run.phase}")
    return args.out


if __name__ == "__main__":
    main()
