"""The sweep cache: stored results equal a direct training, resume gives the same numbers as a
straight run, and a missing, stale or damaged file is reported, never used."""
from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import torch

import grokbook
from grokbook import Config, grid
from grokbook.engine.train import train
from grokbook.store import digest, files, provenance, sweeps
from grokbook.store.executors import InProcess
from grokbook.store.definitions import Part, Sweep
from grokbook.store.files import CacheError
from grokbook.store.sweeps import load_sweep, run_sweep


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # bit-identical chunks (see test_engine)
    yield
    torch.set_num_threads(n)


def tiny(steps=30, batchnorm=False):
    runs = tuple(grid(alpha=[0.4, 0.7], xi=[0.0, 0.3], wd=[0.0, 1.0]))
    cfg = Config(p=11, width=16, steps=steps, log_every=5,
                 batch_size=16 if batchnorm else None, batchnorm=batchnorm)
    return Sweep("tiny", "quick", (Part("a", cfg, runs[:5]), Part("b", cfg, runs[5:])),
                 history_every=10)


def test_stored_sweep_equals_direct_training(tmp_path):
    s = tiny()
    run_sweep(s, directory=tmp_path, chunk_runs=3, progress=False)
    data = load_sweep(s, directory=tmp_path)
    direct = train(list(s.parts[0].runs) + list(s.parts[1].runs), s.parts[0].config,
                   progress=False)
    assert len(data.runs) == 8 and data.runs.part.tolist() == [0] * 5 + [1] * 3
    for col in ("train_acc", "test_acc", "loss", "wd", "alpha"):
        np.testing.assert_array_equal(data.runs[col].to_numpy(), direct.runs[col].to_numpy())
    assert data.runs.phase.tolist() == direct.runs.phase.tolist()
    thinned = direct.history[direct.history.step % 10 == 0].reset_index(drop=True)
    np.testing.assert_array_equal(data.history.sort_values(["run", "step"]).test_acc.to_numpy(),
                                  thinned.test_acc.to_numpy())
    assert set(data.history.step) == {0, 10, 20, 30}
    np.testing.assert_allclose(data.ipr, direct.ipr().numpy(), atol=1e-3)  # float16
    assert data.gamma is None
    prov = data.provenance
    assert prov["version"] == grokbook.__version__ and prov["device"] == "cpu"
    line = data.describe()
    assert line.startswith("tiny (quick profile): 8 runs in 2 part(s), trained on cpu in ")
    assert f"grokbook {grokbook.__version__}" in line
    assert prov["seconds"] > 0 and prov["definition"]["name"] == "tiny"


def stored_arrays(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files if k != "__meta__"}


def assert_same_arrays(a, b):
    a, b = stored_arrays(a), stored_arrays(b)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("batchnorm", [False, True], ids=["full-batch", "minibatch-batchnorm"])
def test_worker_processes_give_the_one_process_result(tmp_path, batchnorm):
    """Two spawned 1-thread workers over chunks of 2 runs store exactly what one process stores."""
    s = tiny(steps=20, batchnorm=batchnorm)
    one = run_sweep(s, directory=tmp_path / "one", workers=1, progress=False)
    two = run_sweep(s, directory=tmp_path / "two", workers=2, chunk_runs=2, progress=False)
    assert_same_arrays(one, two)
    meta = load_sweep(s, directory=tmp_path / "two").provenance
    assert meta["workers"] == 2 and meta["wall_seconds"] > 0


def test_resume_with_another_chunk_size_gives_identical_results(tmp_path):
    """Chunk files name their runs, so a resume with another --chunk-runs never mixes extents."""
    s = tiny()
    straight = run_sweep(s, directory=tmp_path / "straight", workers=1, progress=False)
    for first, second in ((2, 3), (3, 2)):
        d = tmp_path / f"resumed-{first}-{second}"
        run_sweep(s, directory=d, chunk_runs=first, max_chunks=2, workers=1, progress=False)
        resumed = run_sweep(s, directory=d, chunk_runs=second, workers=1, progress=False)
        assert len(load_sweep(s, directory=d).runs) == 8
        assert_same_arrays(straight, resumed)


@pytest.mark.parametrize("first,second", [(2, 3), (3, 2)])
def test_a_resume_with_another_chunk_size_trains_only_the_missing_runs(tmp_path, first, second):
    """The finished chunks of an interrupted sweep are kept whatever size the resume cuts the rest
    to: the new plan holds them as they are, covers every run once and in order, and a resumed
    chunk leaves their files untouched."""
    from grokbook.store.files import chunk_is_current, plan_chunks
    s = tiny()
    partial = run_sweep(s, directory=tmp_path, chunk_runs=first, max_chunks=1, workers=1,
                        progress=False)
    finished = {p.name: p.read_bytes() for p in partial.glob("*.npz")}
    assert len(finished) == 1
    chunks = plan_chunks(s, partial, "cpu", 1, second)
    kept = [c for c in chunks if chunk_is_current(s, c)]
    assert [c.path.name for c in kept] == list(finished)
    assert [(c.part, r) for c in chunks for r in range(c.lo, c.hi)] == [
        (i, r) for i, part in enumerate(s.parts) for r in range(len(part.runs))]
    assert all(c.hi - c.lo <= second for c in chunks if c not in kept)
    run_sweep(s, directory=tmp_path, chunk_runs=second, max_chunks=1, workers=1, progress=False)
    assert all((partial / name).read_bytes() == data for name, data in finished.items())
    assert len(list(partial.glob("*.npz"))) == 2


@pytest.mark.parametrize("bad", [dict(workers=0), dict(workers=1.5), dict(workers=True),
                                 dict(max_chunks=-1), dict(chunk_runs=0)])
def test_run_sweep_refuses_bad_executor_settings(tmp_path, bad):
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        run_sweep(tiny(), directory=tmp_path, progress=False, **bad)


def test_batchnorm_sweep_stores_gamma(tmp_path):
    s = tiny(steps=10, batchnorm=True)
    run_sweep(s, directory=tmp_path, progress=False)
    data = load_sweep(s, directory=tmp_path)
    direct = train(list(s.parts[0].runs), s.parts[0].config, progress=False)
    np.testing.assert_allclose(data.gamma[:5], direct.model.gamma.detach().abs().numpy(), rtol=1e-3)


def test_resume_after_interruption_gives_identical_results(tmp_path):
    s = tiny()
    straight = run_sweep(s, directory=tmp_path / "straight", chunk_runs=2, progress=False)
    partial = run_sweep(s, directory=tmp_path / "resumed", chunk_runs=2, progress=False,
                        max_chunks=2)  # "interrupted" after two of four chunks
    assert partial.is_dir() and len(list(partial.glob("*.npz"))) == 2
    with pytest.raises(CacheError, match="no cached result"):
        load_sweep(s, directory=tmp_path / "resumed")
    # a chunk cut off mid-write is trained again, not trusted
    (partial / "part1-runs0-2.npz").write_bytes(b"PK\x03\x04 truncated")
    resumed = run_sweep(s, directory=tmp_path / "resumed", chunk_runs=2, progress=False)
    assert not partial.exists()
    a, b = np.load(straight), np.load(resumed)
    for k in a.files:
        if k != "__meta__":
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_missing_result_says_how_to_regenerate(tmp_path):
    with pytest.raises(CacheError, match="python -m grokbook sweep tiny"):
        load_sweep(tiny(), directory=tmp_path)


def test_stale_definition_is_reported(tmp_path):
    run_sweep(tiny(steps=30), directory=tmp_path, progress=False)
    with pytest.raises(CacheError, match="stale"):
        load_sweep(tiny(steps=40), directory=tmp_path)


def test_file_renamed_onto_another_definition_is_stale(tmp_path):
    path = run_sweep(tiny(steps=30), directory=tmp_path, progress=False)
    other = sweeps.cache_path(tiny(steps=40), tmp_path)
    path.rename(other)
    with pytest.raises(CacheError, match="stale"):
        load_sweep(tiny(steps=40), directory=tmp_path)


def test_other_version_is_stale(tmp_path, monkeypatch):
    s = tiny(steps=10)
    run_sweep(s, directory=tmp_path, progress=False)
    monkeypatch.setattr(grokbook.version, "__version__", "9.9.9")
    with pytest.raises(CacheError, match="stale.*grokbook 0.1.0"):
        load_sweep(s, directory=tmp_path)


def copy_engine(tmp_path):
    """A copy of the package's sources (the digest reads a package folder)."""
    import shutil
    src = tmp_path / "grokbook"
    shutil.copytree(digest.PACKAGE, src, ignore=shutil.ignore_patterns("__pycache__"))
    return src


def test_engine_digest_ignores_docstrings_and_comments_but_not_code(tmp_path):
    from grokbook.store.digest import engine_digest
    src = copy_engine(tmp_path)
    base = engine_digest(src)
    assert base == engine_digest()
    train_py = src / "engine" / "train.py"
    text = train_py.read_text()
    train_py.write_text(text.replace('"""', '"""A new first line.\n', 1) + "\n# a comment\n\n")
    assert engine_digest(src) == base
    assert "(0.9, 0.98)" in text
    train_py.write_text(text.replace("(0.9, 0.98)", "(0.9, 0.99)", 1))
    assert engine_digest(src) != base
    train_py.write_text(text)
    # of memorization.py only the function behind the stored log-probabilities counts
    mem = src / "analysis" / "memorization.py"
    text = mem.read_text()
    mem.write_text(text + "\n\ndef another_score(x):\n    return x\n")
    assert engine_digest(src) == base
    assert "dim=-1)" in text
    mem.write_text(text.replace("torch.log_softmax(out.double() / temperature, dim=-1)",
                                "torch.log_softmax(out.double() / temperature / 2, dim=-1)"))
    assert engine_digest(src) != base


def test_moving_engine_code_leaves_the_digest_alone(tmp_path):
    """Pieces are keyed by qualified name: a function moved to another engine module, a
    chunk function moved to another store module, an import path changed or the order of a
    file's definitions changed leave the digest (and the stored parts) as they were."""
    src = copy_engine(tmp_path)
    base, parts = digest.engine_digest(src), digest.engine_parts(src)
    train_py, models_py = src / "engine" / "train.py", src / "engine" / "models.py"
    train = train_py.read_text()
    start = train.index("def example_loss(")
    end = train.index("\ndef ", start + 1)
    moved = train[start:end]
    train_py.write_text(train[:start] + train[end:])
    models_py.write_text(models_py.read_text() + "\n\n" + moved)
    assert digest.engine_digest(src) == base
    files_py = src / "store" / "files.py"
    text = files_py.read_text()
    start = text.index("def _merge_chunks(")
    end = text.index("\ndef ", start + 1)
    files_py.write_text(text[:start] + text[end:])
    (src / "store" / "merging.py").write_text("import numpy as np\n\n" + text[start:end])
    assert digest.engine_digest(src) == base and digest.engine_parts(src) == parts
    # a renamed piece is another piece: the result that used the old name is stale
    models_py.write_text(models_py.read_text().replace("def example_loss(", "def pair_loss("))
    assert digest.engine_digest(src) != base
    assert digest.changed_parts(parts, src) == ["pair_loss"]


def test_an_ambiguous_or_missing_piece_is_refused(tmp_path):
    src = copy_engine(tmp_path)
    (src / "store" / "copy.py").write_text("def _merge_chunks(pieces):\n    return pieces\n")
    with pytest.raises(ValueError, match="_merge_chunks.*2 modules"):
        digest.engine_digest(src)
    (src / "store" / "copy.py").unlink()
    (src / "engine" / "extra.py").write_text("def train():\n    pass\n")
    assert digest.engine_digest(src) == digest.engine_digest()  # not an engine module
    with pytest.raises(ValueError, match="no module"):
        digest.find_pieces(["no_such_function"], digest._package_sources(src))


def other_pythons():
    import glob
    found = {}
    for exe in sorted(glob.glob("/root/.pyenv/versions/3.*/bin/python3")):
        version = exe.split("/")[-3].rsplit(".", 1)[0]
        if tuple(int(v) for v in version.split(".")) >= (3, 9):  # requires-python
            found.setdefault(version, exe)
    return [exe for version, exe in found.items()]


def test_engine_digest_is_the_same_on_every_python_version():
    """The digest under this interpreter equals the one other Python versions compute (the
    module imports only the standard library, so a bare interpreter runs it)."""
    import subprocess
    import sys
    pythons = [p for p in other_pythons() if not p.startswith(sys.prefix)]
    if len(pythons) < 2:
        pytest.skip("needs two other Python versions (pyenv) on this machine")
    for exe in pythons:
        out = subprocess.run([exe, digest.__file__], capture_output=True,
                             text=True, timeout=60, check=True).stdout.strip()
        assert out == digest.engine_digest(), exe


def test_phase_column_is_recomputed_on_load(tmp_path, monkeypatch):
    """A change to the phase rules never leaves stored phases wrong: they are derived on load."""
    s = tiny(steps=10)
    run_sweep(s, directory=tmp_path, progress=False)
    before = load_sweep(s, directory=tmp_path).runs
    import importlib
    phases = importlib.import_module("grokbook.core.phases")
    monkeypatch.setattr(phases, "THRESHOLD", 0.0)  # everything generalizes and fits
    after = load_sweep(s, directory=tmp_path).runs
    assert (after.phase == phases.COEXISTENCE).all() and not (before.phase == phases.COEXISTENCE).all()


def _other_engine(monkeypatch):
    """The engine digest as other code would compute it: where chunks, provenance and results are checked."""
    for module in (files, provenance, sweeps):
        monkeypatch.setattr(module, "engine_digest", lambda per_example=True: "0123456789abcdef")
    monkeypatch.setattr(sweeps, "changed_parts", lambda stored, per_example=True: ["train.py"])


def test_quick_result_from_other_engine_code_is_stale_and_retrained(tmp_path, monkeypatch):
    s = tiny(steps=10)
    path = run_sweep(s, directory=tmp_path, progress=False)
    _other_engine(monkeypatch)
    with pytest.raises(CacheError, match="other engine code.*stale"):
        load_sweep(s, directory=tmp_path)
    monkeypatch.setattr(sweeps, "sweep", lambda name, profile=None: s)
    before = path.stat().st_mtime_ns
    data = sweeps.get_sweep("tiny", directory=tmp_path, progress=False)
    assert data.provenance["engine"] == "0123456789abcdef" and path.stat().st_mtime_ns > before


def test_full_result_from_other_engine_code_warns(tmp_path, monkeypatch):
    q = tiny(steps=10)
    s = Sweep("tiny", "full", q.parts, history_every=10)
    run_sweep(s, directory=tmp_path, progress=False)
    _other_engine(monkeypatch)
    with pytest.warns(sweeps.StaleResultWarning, match="other engine code.*regenerate"):
        data = load_sweep(s, directory=tmp_path)
    assert len(data.runs) == 8


def test_chunk_from_other_engine_code_is_trained_again(tmp_path, monkeypatch):
    s = tiny(steps=10)
    partial = run_sweep(s, directory=tmp_path, chunk_runs=3, max_chunks=1, progress=False)
    assert len(list(partial.glob("*.npz"))) == 1
    _other_engine(monkeypatch)
    path = run_sweep(s, directory=tmp_path, chunk_runs=3, progress=False)
    assert load_sweep(s, directory=tmp_path).provenance["engine"] == "0123456789abcdef"
    assert path.exists()


@pytest.mark.parametrize("damage", ["flip", "truncate", "digest"])
def test_damaged_file_is_reported(tmp_path, damage):
    s = tiny(steps=10)
    path = run_sweep(s, directory=tmp_path, progress=False)
    raw = bytearray(path.read_bytes())
    if damage == "flip":  # a run of bytes in the middle of the compressed data
        mid = len(raw) // 2
        raw[mid:mid + 64] = bytes(b ^ 0xFF for b in raw[mid:mid + 64])
        path.write_bytes(bytes(raw))
    elif damage == "truncate":
        path.write_bytes(bytes(raw[: len(raw) // 2]))
    else:  # a well-formed file whose numbers were changed after the fact
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
        arrays["runs/test_acc"] = arrays["runs/test_acc"] + 0.01
        np.savez_compressed(path, **arrays)
    with pytest.raises(CacheError, match="damaged"):
        load_sweep(s, directory=tmp_path)


def test_get_sweep_full_profile_never_trains_silently(tmp_path):
    """No full result and no book result to fall back on: an error that names the command."""
    with pytest.raises(CacheError, match="regenerate.*--profile book"):
        sweeps.get_sweep("weight_decay_phase_diagram", "full", directory=tmp_path)
    assert not list(tmp_path.iterdir())


def as_profile(s, profile):
    return Sweep(s.name, profile, s.parts, history_every=s.history_every)


@pytest.fixture
def tiny_named(monkeypatch):
    """sweeps.sweep("tiny", profile) -> the tiny sweep made for that profile."""
    monkeypatch.setattr(sweeps, "sweep", lambda name, profile=None: as_profile(
        tiny(steps=10 if profile != "full" else 20), grokbook.profile(profile).name))


def test_full_profile_falls_back_to_the_book_result_with_a_note(tmp_path, tiny_named, capsys):
    book = sweeps.sweep("tiny", "book")
    run_sweep(book, directory=tmp_path, progress=False)
    data = sweeps.get_sweep("tiny", "full", directory=tmp_path)
    note = capsys.readouterr().out
    assert "no full-profile result" in note and "book-profile result instead" in note
    assert "recompute=True" in note and "p = 11" in note
    assert data.profile == "book" and data.provenance["definition"]["profile"] == "book"
    assert data.config().steps == 10  # the book sweep's own configuration
    assert len(list(tmp_path.glob("*.npz"))) == 1  # nothing trained


def test_damaged_full_result_is_reported_not_replaced(tmp_path, tiny_named):
    run_sweep(sweeps.sweep("tiny", "book"), directory=tmp_path, progress=False)
    full = sweeps.cache_path(sweeps.sweep("tiny", "full"), tmp_path)
    full.write_bytes(b"not a zip")
    with pytest.raises(CacheError, match="damaged"):
        sweeps.get_sweep("tiny", "full", directory=tmp_path)


def test_book_profile_never_trains_silently(tmp_path, tiny_named):
    with pytest.raises(CacheError, match="regenerate it with: python -m grokbook sweep tiny "
                                         "--profile book"):
        sweeps.get_sweep("tiny", "book", directory=tmp_path)
    assert not list(tmp_path.glob("*.npz"))


def test_recompute_prints_an_estimate_then_trains(tmp_path, tiny_named, capsys):
    data = sweeps.get_sweep("tiny", "full", directory=tmp_path, recompute=True, progress=False)
    out = capsys.readouterr().out
    assert "Training sweep 'tiny' (full profile, 8 runs)" in out and "estimated" in out
    assert data.profile == "full" and data.config().steps == 20


def test_estimate_scales_the_probe_to_the_whole_sweep(monkeypatch):
    """Each part: (probe seconds) / (probe runs x probe steps) x (runs x steps)."""
    calls, clock = [], iter([0.0, 2.0, 10.0, 13.0])
    monkeypatch.setattr(sweeps, "train", lambda runs, cfg, **kw: calls.append((len(runs), cfg.steps)))
    monkeypatch.setattr(sweeps.time, "perf_counter", lambda: next(clock))
    s = tiny(steps=30)  # parts of 5 and 3 runs
    est = sweeps.estimate_seconds(s, probe_steps=10, probe_runs=4)
    assert calls == [(1, 1), (4, 10), (1, 1), (3, 10)]  # a warm-up step, then the probe
    assert est == pytest.approx(2.0 / (4 * 10) * 5 * 30 + 3.0 / (3 * 10) * 3 * 30)


def test_provenance_records_machine_command_and_engine_pieces(tmp_path):
    s = tiny(steps=10)
    run_sweep(s, directory=tmp_path, progress=False)
    prov = load_sweep(s, directory=tmp_path).provenance
    assert prov["cpu"] == provenance.cpu_model() and prov["cpu"]
    assert prov["threads"] == torch.get_num_threads() and prov["torch"] == torch.__version__
    assert prov["command"] and prov["seconds"] > 0 and prov["git_commit"]
    assert prov["engine_parts"] == digest.engine_parts(per_example=s.per_example)  # the pieces it runs
    assert "_per_example_arrays" not in prov["engine_parts"] and "train" in prov["engine_parts"]
    # a stale result says which piece of the engine changed
    changed = dict(prov["engine_parts"], **{"train": "000000000000"})
    assert digest.changed_parts(changed, per_example=False) == ["train"]
    assert digest.changed_parts(None) == list(digest.engine_parts())


def test_stale_result_names_the_changed_engine_piece(tmp_path, monkeypatch):
    s = as_profile(tiny(steps=10), "book")
    run_sweep(s, directory=tmp_path, progress=False)
    monkeypatch.setattr(sweeps, "engine_digest", lambda per_example=True: "0123456789abcdef")
    monkeypatch.setattr(sweeps, "changed_parts", lambda stored, per_example=True: ["models.py"])
    with pytest.warns(sweeps.StaleResultWarning, match="changed since: models.py"):
        load_sweep(s, directory=tmp_path)


def test_cell_picks_one_seed(tmp_path):
    runs = tuple(grid(alpha=[0.4, 0.7], xi=[0.0, 0.3], seed=[0, 1, 2]))
    s = Sweep("seeds", "quick", (Part("a", Config(p=11, width=16, steps=5, log_every=5), runs),),
              history_every=5)
    run_sweep(s, directory=tmp_path, progress=False)
    data = load_sweep(s, directory=tmp_path)
    for seed in (0, 1, 2):
        row = data.cell(0.7, 0.3, seed=seed)
        assert (row.alpha, row.xi, row.data_seed, row.model_seed) == (0.7, 0.3, seed, seed)
    assert data.cell(0.7, 0.3).data_seed == 0
    assert np.array_equal(data.cell_ipr(0.4, 0.0, seed=2), data.ipr[int(data.cell(0.4, 0.0, seed=2).run)])
    with pytest.raises(ValueError, match="seed must be one of \\[0, 1, 2\\]"):
        data.cell(0.7, 0.3, seed=5)


def test_named_sweeps_match_the_paper():
    # the weight-decay diagram: the paper's Figure 3, 9 alpha x 9 xi, trained panel after panel
    # with wd 0 and 15 (the figure's two panels) first, so a sweep that outlasts a session
    # finishes them first
    wd = sweeps.sweep("weight_decay_phase_diagram", "full")
    runs = pd.DataFrame([r.__dict__ for r in wd.parts[0].runs])
    assert wd.n_runs == 9 * 9 * 4
    assert sorted(runs.wd.unique()) == [0, 5, 15, 20]
    assert runs.wd.tolist() == [w for w in (0, 15, 5, 20) for _ in range(81)]
    assert runs.alpha.nunique() == 9 and runs.alpha.min() == 0.1 and runs.alpha.max() == 0.9
    assert runs.xi.nunique() == 9 and runs.xi.min() == 0.0 and runs.xi.max() == 0.8
    for _, panel in runs.groupby("wd"):  # every cell once, in grid order (alpha, then xi)
        assert list(zip(panel.alpha, panel.xi)) == [(a, x) for a in sorted(set(runs.alpha))
                                                     for x in sorted(set(runs.xi))]
    # the other full diagrams keep the 17 x 17 grid
    drop_runs = sweeps.sweep("dropout_phase_diagram", "full").parts[0].runs
    assert len({(r.alpha, r.xi) for r in drop_runs}) == 17 * 17
    cfg = wd.parts[0].config
    assert (cfg.p, cfg.width, cfg.steps) == (97, 500, 2000)
    drop = pd.DataFrame([r.__dict__ for r in sweeps.sweep("dropout_phase_diagram", "full").parts[0].runs])
    assert sorted(drop.dropout.unique()) == [0, 0.3, 0.6, 0.9]
    bn = sweeps.sweep("batchnorm_phase_diagram", "full")
    assert sorted({(p.config.batch_size, p.config.batchnorm) for p in bn.parts}) == \
        [(b, n) for b in (8, 32, 64, 256) for n in (False, True)]
    assert wd.key() == sweeps.sweep("weight_decay_phase_diagram", "full").key()
    assert wd.key() != sweeps.sweep("weight_decay_phase_diagram", "quick").key()
    with pytest.raises(ValueError, match="sweep must be one of"):
        sweeps.sweep("no_such_sweep")
    with pytest.raises(ValueError, match="chunk_runs"):
        run_sweep(tiny(), chunk_runs=0)


def test_weight_decay_order_must_list_the_profiles_weight_decays(monkeypatch):
    import dataclasses
    from grokbook.core import profiles
    full = profiles.PROFILES["full"]
    for order in ((0, 15, 5), (0, 15, 5, 21), (0, 0, 15, 5, 20)):
        monkeypatch.setitem(profiles.PROFILES, "full",
                            dataclasses.replace(full, weight_decay_order=order))
        with pytest.raises(ValueError, match="weight_decay_order .* must list the weight decays"):
            sweeps.sweep("weight_decay_phase_diagram", "full")


def test_a_sweep_trains_in_this_process_by_default(tmp_path):
    """Without workers or executor even a full-batch CPU sweep big enough to split trains in this
    process: two worker processes were no faster (book/performance.md: 0.89x for weight decay)."""
    runs = tuple(grid(alpha=[0.5], xi=[0.1], seed=list(range(12))))
    s = Sweep("w", "quick", (Part("a", Config(p=11, width=16, steps=5, log_every=5), runs),), 5)
    run_sweep(s, device="cpu", directory=tmp_path, chunk_runs=4, progress=False)
    meta = load_sweep(s, directory=tmp_path).provenance
    assert meta["workers"] == 1 and meta["executor"] == str(InProcess())


def test_named_book_sweeps_are_the_readers_scale():
    """The issue's book scale: 9 x 9 (alpha 0.1..0.9, xi 0..0.8), every Fig. 3 family, three
    seeds per weight-decay cell, a minibatch-only control beside each BatchNorm part."""
    wd = pd.DataFrame([r.__dict__ for r in sweeps.sweep("weight_decay_phase_diagram", "book").parts[0].runs])
    assert sorted(wd.alpha.unique()) == pytest.approx(np.arange(1, 10) / 10)
    assert sorted(wd.xi.unique()) == pytest.approx(np.arange(0, 9) / 10)
    assert sorted(wd.wd.unique()) == [0, 5.5, 15, 20]
    assert (wd.groupby(["alpha", "xi", "wd"]).size() == 3).all()
    assert (wd.data_seed == wd.model_seed).all() and sorted(wd.data_seed.unique()) == [0, 1, 2]
    drop = pd.DataFrame([r.__dict__ for r in sweeps.sweep("dropout_phase_diagram", "book").parts[0].runs])
    assert sorted(drop.dropout.unique()) == [0, 0.3, 0.6, 0.9] and len(drop) == 4 * 81
    bn = sweeps.sweep("batchnorm_phase_diagram", "book")
    assert [(p.config.batch_size, p.config.batchnorm) for p in bn.parts] == \
        [(b, n) for b in (8, 32, 64, 256) for n in (True, False)]
    assert all(len(p.runs) == 81 for p in bn.parts)
    ens = sweeps.sweep("memorization_ensemble", "book")
    assert all(len(p.runs) >= 32 for p in ens.parts)
    assert all(p.config.p == 53 and p.config.width == 300 and p.config.steps == 1500
               for name in sweeps.SWEEPS if not name.startswith("capacity_")
               for p in sweeps.sweep(name, "book").parts)
    assert all(p.config.p == 53 and p.config.steps == 1500 and p.config.width == int(name.split("_N")[1])
               for name in sweeps.SWEEPS if name.startswith("capacity_")
               for p in sweeps.sweep(name, "book").parts)  # the width sweep: one width each


def test_the_named_ensemble_sweep_follows_the_profile():
    for prof in ("quick", "book", "full"):
        s, sz = sweeps.sweep("memorization_ensemble", prof), grokbook.profile(prof)
        n_seeds = len(sz.ensemble_seeds)
        assert s.per_example and len(s.parts) == 3 and s.n_runs == 3 * sz.ensemble_t * n_seeds
        assert [p.runs[0].wd for p in s.parts] == list(sz.ensemble_weight_decays)
        assert all(p.config == sweeps.ensemble_config(prof) and p.config.steps == sz.ensemble_steps
                   for p in s.parts)
        for part in s.parts:
            assert {(r.alpha, r.xi, r.data_seed, r.model_seed, r.subset) for r in part.runs} == \
                {(sz.ensemble_alpha, sz.ensemble_xi, k, k, sz.ensemble_subset) for k in sz.ensemble_seeds}
            for k in sz.ensemble_seeds:
                assert len({r.subset_seed for r in part.runs if r.data_seed == k}) == sz.ensemble_t
    assert all(len(grokbook.profile(p).ensemble_seeds) >= 3 for p in ("quick", "book"))
    assert grokbook.profile("quick").ensemble_weight_decays == (0.0, 6.0, 15.0)
    assert grokbook.profile("full").ensemble_weight_decays == (0.0, 5.0, 15.0)
    assert grokbook.profile("book").ensemble_weight_decays == (2.0, 6.5, 15.0)


# ------------------------------------------------------------------- moved from the chapter helper tests
def test_gamma_is_stored_for_batchnorm_parts_only(bn_sweep):
    q = {k.label: runs for k, runs in bn_sweep.panels().items()}
    assert list(q) == ["batch 16, BatchNorm", "batch 16, no BatchNorm"]
    bn = q["batch 16, BatchNorm"].run.to_numpy()
    plain = q["batch 16, no BatchNorm"].run.to_numpy()
    assert np.isfinite(bn_sweep.gamma[bn]).all() and (bn_sweep.gamma[bn] > 0).any()
    assert np.isnan(bn_sweep.gamma[plain]).all()


def test_a_change_to_per_example_code_leaves_other_sweeps_current(tmp_path):
    """The per-example functions (digest.PER_EXAMPLE_FUNCTIONS) make numbers only for a sweep
    with per-example records: a change there makes that sweep's results stale, no other."""
    src = copy_engine(tmp_path)
    mem = src / "analysis" / "memorization.py"
    before_all, before_plain = digest.engine_parts(src), digest.engine_parts(src, per_example=False)
    text = mem.read_text()
    mem.write_text(text.replace("torch.log_softmax(out.double() / temperature, dim=-1)",
                                "torch.log_softmax(out.double() / temperature / 2, dim=-1)"))
    assert digest.changed_parts(before_all, src) == ["label_logprob"]
    assert digest.changed_parts(before_plain, src, per_example=False) == []
    assert digest.changed_parts(before_all, src, per_example=False) == []
    assert digest.engine_digest(src, per_example=False) == digest.engine_digest(per_example=False)
    assert digest.engine_digest(src) != digest.engine_digest()
