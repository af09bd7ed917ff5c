"""Command line: ``python -m grokbook run ...`` trains one setting or a small grid.

Comma-separated values make a grid:

    python -m grokbook run --profile quick --wd 0,5,15,20
    python -m grokbook run --p 97 --width 500 --alpha 0.5 --xi 0.35 --wd 0,5,15,20 --json
"""
from __future__ import annotations

import argparse
import json
import sys


from .core.profiles import PROFILES, profile
from .store.files import CacheError
from .core.settings import grid, resolve_device
from .engine.train import train

TABLE_COLUMNS = ["alpha", "xi", "wd", "dropout", "lr", "seed", "train_acc", "test_acc",
                 "corrupt_acc", "corrupt_true_acc", "phase"]


def _values(kind, name):
    def parse(text):
        try:
            vals = [kind(v) for v in text.split(",") if v.strip() != ""]
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{name}: cannot read {text!r} as {kind.__name__}s")
        if not vals:
            raise argparse.ArgumentTypeError(f"--{name} needs at least one value")
        return vals
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grokbook",
                                     description="Grokking on corrupted modular arithmetic.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train one setting or a small grid; print the final table")
    run.add_argument("--profile", choices=tuple(PROFILES), default=None,
                     help="default sizes (quick: CI-sized; book: the rendered book's; full: the paper's; default: "
                          "$GROKBOOK_PROFILE, else full). Flags override.")
    run.add_argument("--p", type=int, help="modulus (profile's default)")
    run.add_argument("--op", default="add", help="add, subtract, multiply or divide")
    run.add_argument("--alpha", type=_values(float, "alpha"), help="train fraction(s)")
    run.add_argument("--xi", type=_values(float, "xi"), help="corrupted fraction(s) of training labels")
    run.add_argument("--wd", type=_values(float, "wd"), default=[0.0],
                     help="weight decay(s), AdamW convention (the four outcomes: 0,5,15,20 full; 0,5.5,15,20 quick)")
    run.add_argument("--dropout", type=_values(float, "dropout"), default=[0.0], help="dropout rate(s)")
    run.add_argument("--lr", type=_values(float, "lr"), default=[0.01], help="learning rate(s)")
    run.add_argument("--seeds", type=_values(int, "seeds"), default=[0], help="seed(s): data and model")
    run.add_argument("--width", type=int, help="hidden width N")
    run.add_argument("--steps", type=int, help="optimizer steps")
    run.add_argument("--activation", default="quadratic")
    run.add_argument("--loss", default="mse", help="mse or cross_entropy")
    run.add_argument("--batch-size", type=int, default=None, help="minibatch size (default: full batch)")
    run.add_argument("--batchnorm", action="store_true", help="BatchNorm after the activation")
    run.add_argument("--log-every", type=int, default=None, help="history resolution in steps")
    run.add_argument("--device", default="auto", help="auto, cpu or cuda")
    run.add_argument("--json", action="store_true", help="print the table as JSON")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    from .store.sweeps import SWEEPS
    sw = sub.add_parser("sweep", help="train a named sweep and store it in results/ (resumes)")
    sw.add_argument("name", nargs="?", choices=tuple(SWEEPS),
                    help="the sweep to make (or --all)")
    sw.add_argument("--all", action="store_true", help="every named sweep, one after another")
    sw.add_argument("--profile", choices=tuple(PROFILES), default=None,
                    help="quick, book or full (default: $GROKBOOK_PROFILE, else full)")
    sw.add_argument("--device", default="auto", help="auto, cpu or cuda")
    sw.add_argument("--chunk-runs", type=int, default=None,
                    help="runs per saved chunk (default: 36 on a CPU or SLURM, 289 on a GPU; with "
                         "several workers 2 chunks per worker, at least 9 runs)")
    sw.add_argument("--workers", type=int, default=None,
                    help="worker processes over the chunks (default: 1, this process; see "
                         "book/performance.md)")
    sw.add_argument("--dask", metavar="ADDRESS", default=None,
                    help="train the chunks on a Dask cluster: its scheduler's address, "
                         "tcp://host:8786 (one chunk per task, one thread each)")
    sw.add_argument("--slurm", metavar="FOLDER", default=None,
                    help="train each chunk as a SLURM job through submitit; FOLDER (shared with the "
                         "nodes) keeps the jobs' files")
    sw.add_argument("--slurm-option", metavar="KEY=VALUE", action="append", default=[],
                    help="a submitit parameter of the jobs, e.g. timeout_min=60, cpus_per_task=4, "
                         "slurm_partition=cpu (repeat it)")
    sw.add_argument("--slurm-cluster", default="slurm",
                    help="submitit's cluster: slurm (default), or local to try the jobs on this machine")
    sw.add_argument("--results", default=None, help="folder (default: results/ of the repository)")
    sw.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    td = sub.add_parser("transformer-diagram",
                        help="train chapter 10's transformer weight decay x xi diagram; store it in results/")
    td.add_argument("--profile", choices=tuple(PROFILES), default=None,
                    help="whose transformer sizes (full: the book's on a CPU; default: $GROKBOOK_PROFILE, else full)")
    td.add_argument("--results", default=None, help="folder (default: results/ of the repository)")
    td.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    asg = sub.add_parser("assign", help="write student notebooks (the chapters without their solutions) "
                                        "and their autograders (autograder/NN_name.zip)")
    asg.add_argument("--out", default="assignments", help="folder for the student notebooks")
    asg.add_argument("chapters", nargs="*", help="chapter notebooks (default: every chapter of _toc.yml)")

    gr = sub.add_parser("grade", help="grade a folder of submitted notebooks: grades.csv and grades.md")
    gr.add_argument("submissions", help="folder of submitted .ipynb (one per student, or a folder each)")
    gr.add_argument("--out", default="grades", help="folder for grades.csv and grades.md")
    gr.add_argument("--autograder", default=None,
                    help="the assignment's autograder (assignments/autograder/NN_name.zip, or the folder it "
                         "was unpacked into); default: the book chapter whose title each submission carries")
    gr.add_argument("--reference", default=None,
                    help="instead of --autograder: the assignment notebook whose exercises are graded")
    gr.add_argument("--case-seed", type=int, default=None,
                    help="the seed of the checks' hidden cases (default: a fresh one, written into grades.md)")
    gr.add_argument("--gradescope", default=None,
                    help="also write Gradescope's results.json here (one submission)")
    gr.add_argument("--time-limit", type=int, default=600, help="seconds per submission")
    gr.add_argument("--cell-timeout", type=int, default=300, help="seconds per cell")
    return parser


def transformer_diagram_command(args) -> int:
    from .store.transformer_diagram import make_diagram
    path, result = make_diagram(args.profile, root=args.results, progress=not args.no_progress)
    print(f"{path}: {len(result.runs)} runs, {result.seconds:.1f} s of training")
    print(result.runs.pivot(index="xi", columns="wd", values="phase").to_string())
    return 0


def _option_value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def sweep_executor(args):
    """Where ``python -m grokbook sweep`` trains the chunks: None (local: --workers), a Dask
    scheduler's address, or a ``grokbook.executors.Slurm``."""
    from .store.executors import Slurm
    if args.slurm_option and not args.slurm:
        raise ValueError("--slurm-option needs --slurm FOLDER")
    given = [flag for flag, value in (("--workers", args.workers), ("--dask", args.dask),
                                      ("--slurm", args.slurm)) if value is not None]
    if len(given) > 1:
        raise ValueError(f"give one of --workers, --dask and --slurm, not both {' and '.join(given)}")
    if args.dask is not None:
        return args.dask
    if args.slurm is None:
        return None
    options = {}
    for item in args.slurm_option:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--slurm-option takes KEY=VALUE (e.g. timeout_min=60), got {item!r}")
        options[key.strip()] = _option_value(value.strip())
    return Slurm(args.slurm, cluster=args.slurm_cluster, **options)


def sweep_command(args) -> int:
    import time

    from .store.sweeps import SWEEPS, load_sweep, run_sweep, sweep
    if args.all == (args.name is not None):
        raise ValueError("give a sweep name or --all (not both)")
    names = list(SWEEPS) if args.all else [args.name]
    executor = sweep_executor(args)
    wall = time.perf_counter()
    for name in names:
        s = sweep(name, args.profile)
        print(f"sweep {s.name} ({s.profile}): {s.n_runs} runs in {len(s.parts)} part(s), "
              f"key {s.key()}", flush=True)
        path = run_sweep(s, device=resolve_device(args.device), directory=args.results,
                         chunk_runs=args.chunk_runs, workers=args.workers, executor=executor,
                         progress=not args.no_progress, command=args.command_line)
        data = load_sweep(s, directory=args.results)
        prov = data.provenance
        print(f"{path}: {len(data.runs)} runs, {prov['seconds']:.1f} s of training on "
              f"{prov['device']} ({prov.get('cpu', '?')}, {prov.get('threads', '?')} threads; "
              f"{prov.get('executor', 'in process')})")
        print(data.runs.groupby("part").phase.value_counts().unstack(fill_value=0).to_string(),
              flush=True)
    print(f"{len(names)} sweep(s) in {time.perf_counter() - wall:.0f} s of wall time "
          "(resumed chunks not counted)")
    return 0


def run_command(args) -> dict:
    prof = profile(args.profile)
    given = dict(p=args.p, width=args.width, log_every=args.log_every)  # flags override the profile
    config = prof.config(steps=args.steps, op=args.op, activation=args.activation,
                         batchnorm=args.batchnorm, batch_size=args.batch_size, loss=args.loss,
                         **{k: v for k, v in given.items() if v is not None})
    runs = grid(alpha=args.alpha or [prof.alpha], xi=args.xi or [prof.xi], wd=args.wd,
                dropout=args.dropout, lr=args.lr, seed=args.seeds)
    result = train(runs, config, device=resolve_device(args.device), progress=not args.no_progress)
    table = result.runs.rename(columns={"data_seed": "seed"})[TABLE_COLUMNS]
    return {"config": {k: v for k, v in vars(config).items()}, "device": result.device,
            "seconds": round(result.seconds, 3), "runs": table}


def main(argv=None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.command_line = " ".join(["python -m grokbook", *argv])  # recorded with a sweep's result
    try:
        if args.command == "sweep":
            return sweep_command(args)
        if args.command == "transformer-diagram":
            return transformer_diagram_command(args)
        if args.command == "assign":
            from .teaching.autograder import write_assignments
            for path in write_assignments(args.out, args.chapters or None):
                print(path)
            return 0
        if args.command == "grade":
            from .teaching.grades import grade
            table = grade(args.submissions, args.out, reference=args.reference, autograder=args.autograder,
                          time_limit=args.time_limit, cell_timeout=args.cell_timeout,
                          case_seed=args.case_seed)
            if args.gradescope:
                from .teaching.autograder import gradescope_results
                gradescope_results(table, args.gradescope)
            if (table.tampering != "").any():
                print("tampering found: see grades.md", file=sys.stderr)
            print(table.pivot(index="student", columns="exercise", values="status").fillna("").to_string()
                  if len(table) else "no submissions found")
            return 0
        out = run_command(args)
    except (ValueError, CacheError, ConnectionError, TimeoutError) as err:
        parser.error(str(err))
    table = out["runs"]
    if args.json:
        out = dict(out, runs=json.loads(table.to_json(orient="records")))
        print(json.dumps(out, indent=2))
    else:
        c = out["config"]
        print(f"p={c['p']} op={c['op']} N={c['width']} steps={c['steps']} "
              f"on {out['device']}: {len(table)} runs in {out['seconds']:.1f} s")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
