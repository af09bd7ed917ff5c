"""python -m grokbook: run and sweep, as a user types them."""
from __future__ import annotations

import json

import pytest

from grokbook import Config, cli, grid
from grokbook.store import sweeps
from grokbook.engine.train import train
from grokbook.store.definitions import Part, Sweep


TINY = ["--p", "11", "--width", "16", "--steps", "20", "--no-progress", "--device", "cpu"]


def test_run_json_matches_the_engine(capsys):
    assert cli.main(["run", *TINY, "--alpha", "0.5", "--xi", "0,0.3", "--wd", "0,1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["runs"]) == 4 and out["device"] == "cpu"
    assert out["config"]["p"] == 11 and out["config"]["steps"] == 20
    direct = train(grid(alpha=0.5, xi=[0.0, 0.3], wd=[0.0, 1.0]),
                   Config(p=11, width=16, steps=20, log_every=1), progress=False).runs
    assert [r["train_acc"] for r in out["runs"]] == pytest.approx(direct.train_acc.tolist(), abs=1e-9)
    assert [r["phase"] for r in out["runs"]] == direct.phase.tolist()


def test_run_table(capsys):
    assert cli.main(["run", *TINY, "--wd", "0,5"]) == 0
    text = capsys.readouterr().out
    assert "2 runs" in text and "phase" in text and "train_acc" in text


@pytest.mark.parametrize("args, name", [(["--alpha", "1.5"], "alpha"), (["--xi", "-0.1"], "xi"),
                                        (["--op", "power"], "op"), (["--p", "1"], "p"),
                                        (["--wd", "a,b"], "wd"), (["--steps", "0"], "steps")])
def test_run_bad_input_names_the_parameter(args, name, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", *TINY, *args])
    assert exit_.value.code == 2
    assert name in capsys.readouterr().err


def test_sweep_command_trains_stores_and_summarises(tmp_path, monkeypatch, capsys):
    cfg = Config(p=11, width=16, steps=10, log_every=5)
    tiny = Sweep("tiny_cli", "quick", (Part("a", cfg, tuple(grid(wd=[0.0, 1.0]))),), history_every=5)
    monkeypatch.setitem(sweeps.SWEEPS, "tiny_cli", lambda prof: tiny)
    assert cli.main(["sweep", "tiny_cli", "--profile", "quick", "--device", "cpu",
                     "--results", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "2 runs" in out and "cpu" in out
    assert sweeps.load_sweep(tiny, directory=tmp_path).runs.shape[0] == 2


def test_sweep_all_makes_every_named_sweep(tmp_path, monkeypatch, capsys):
    cfg = Config(p=11, width=16, steps=10, log_every=5)
    made = {name: Sweep(name, "book", (Part("a", cfg, tuple(grid(wd=[0.0, w]))),), history_every=5)
            for name, w in (("one", 1.0), ("two", 2.0))}
    monkeypatch.setattr(sweeps, "SWEEPS", {name: (lambda prof, s=s: s) for name, s in made.items()})
    assert cli.main(["sweep", "--all", "--profile", "book", "--device", "cpu",
                     "--results", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "sweep one (book)" in out and "sweep two (book)" in out and "2 sweep(s) in" in out
    for s in made.values():
        prov = sweeps.load_sweep(s, directory=tmp_path).provenance
        assert prov["cpu"] and prov["threads"] >= 1 and "--all" in prov["command"]


@pytest.mark.parametrize("args", [["sweep"], ["sweep", "weight_decay_phase_diagram", "--all"]])
def test_sweep_needs_a_name_or_all(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(args + ["--profile", "quick"])
    assert exit_.value.code == 2 and "a sweep name or --all" in capsys.readouterr().err


def test_cli_profile_honours_the_environment(monkeypatch, capsys):
    """Like the chapters, the CLI takes its profile from $GROKBOOK_PROFILE when none is given."""
    monkeypatch.setenv("GROKBOOK_PROFILE", "quick")
    args = cli.build_parser().parse_args(["run"])
    assert args.profile is None
    assert cli.profile(args.profile).p == 53
    monkeypatch.setenv("GROKBOOK_PROFILE", "huge")
    with pytest.raises(SystemExit):
        cli.main(["run", *TINY])
    assert "profile" in capsys.readouterr().err
