"""Sweeps on other executors: a real Dask LocalCluster (two worker processes), a local process
pool and submitit's local jobs (SLURM's interface) each store exactly the one-process sweep,
also when a worker is killed in the middle of a chunk; a chunk trained by other code is refused."""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from unittest import mock

import numpy as np
import psutil
import pytest
import torch
from distributed import Client, LocalCluster

from grokbook import Config, grid
from grokbook import cli
from grokbook.store.executors import Chunk, Dask, InProcess, LocalPool, Slurm, executor_for
from grokbook.store import files
from grokbook.store.definitions import Part, Sweep
from grokbook.store.files import CacheError, store_chunk, train_chunk
from grokbook.store.sweeps import load_sweep, run_sweep

STEPS = 2500  # a chunk of 2 runs trains for about 1-2 s: long enough to be killed mid-way
CHUNK = 2


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # as every remote chunk trains: bit-identical chunks
    yield
    torch.set_num_threads(n)


def slow(steps=STEPS):
    runs = tuple(grid(alpha=[0.4, 0.7], xi=[0.0, 0.3], wd=[0.0, 1.0]))
    cfg = Config(p=23, width=64, steps=steps, log_every=50)
    return Sweep("slow", "quick", (Part("a", cfg, runs[:6]), Part("b", cfg, runs[6:])),
                 history_every=500)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The sweep trained in this process, one thread, the tests' chunking: the reference."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        path = run_sweep(slow(), directory=tmp_path_factory.mktemp("one"), chunk_runs=CHUNK,
                         workers=1, progress=False)
    finally:
        torch.set_num_threads(n)
    return stored_arrays(path)


def stored_arrays(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files if k != "__meta__"}


def assert_same_sweep(reference: dict, path):
    got = stored_arrays(path)
    assert got.keys() == reference.keys()
    for k in reference:
        np.testing.assert_array_equal(got[k], reference[k], err_msg=k)


@pytest.fixture(autouse=True)
def environment_kept():
    """Dask's nannies set OMP_NUM_THREADS=1 (and MALLOC_TRIM_THRESHOLD_) in the environment of
    the process that starts them, for good: every later subprocess (the chapters' kernels under
    the chapter executor) would train on one thread.  Each test restores it, and this checks that it did."""
    def environment():
        return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    before = environment()
    yield
    assert environment() == before


@contextlib.contextmanager
def local_cluster(**config):
    """A two-worker LocalCluster and a client of it, the environment restored afterwards."""
    import dask
    with mock.patch.dict(os.environ), dask.config.set(config), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=None) as c, Client(c, set_as_default=False) as client:
        yield client


@pytest.fixture
def cluster():
    with local_cluster() as client:
        yield client


def in_background(fn):
    """Run ``fn`` in a thread; join() re-raises what it raised."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as err:  # noqa: BLE001 -- handed to the test
            box["error"] = err
    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def join(timeout=300):
        thread.join(timeout)
        assert not thread.is_alive(), "the sweep did not finish"
        if "error" in box:
            raise box["error"]
        return box.get("value")
    return thread, join


def wait_for(condition, timeout=120, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_a_dask_cluster_stores_the_one_process_sweep(tmp_path, cluster, one_process):
    ex = Dask(cluster)
    assert ex.workers == 2
    path = run_sweep(slow(), directory=tmp_path, chunk_runs=CHUNK, executor=ex, progress=False)
    assert_same_sweep(one_process, path)
    assert sorted(e["chunk"] for e in ex.log) == sorted(
        f"slow-quick-part{i}-runs{lo}-{lo + 2}" for i, n in ((0, 6), (1, 2)) for lo in range(0, n, 2))
    workers = cluster.run(os.getpid)
    assert {e["pid"] for e in ex.log} <= set(workers.values())
    assert os.getpid() not in {e["pid"] for e in ex.log}  # trained away from this process
    meta = load_sweep(slow(), directory=tmp_path).provenance
    assert meta["executor"] == f"Dask at {cluster.scheduler.address}" and meta["workers"] == 2
    assert meta["threads"] == 1 and meta["hosts"] == sorted({e["host"] for e in ex.log})
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.slow
def test_a_dask_worker_killed_mid_chunk_is_retried(tmp_path, cluster, one_process):
    ex = Dask(cluster)
    pids = cluster.run(os.getpid)
    thread, join = in_background(lambda: run_sweep(slow(), directory=tmp_path, chunk_runs=CHUNK,
                                                   executor=ex, progress=False))

    def executing():
        now = cluster.run(lambda dask_worker: [str(ts.key) for ts in dask_worker.state.executing])
        return next(((w, keys[0]) for w, keys in now.items() if keys), None)
    worker, key = wait_for(executing, what="a chunk to start on a worker")
    time.sleep(0.3)  # in the middle of it (a chunk takes over a second)
    os.kill(pids[worker], signal.SIGKILL)
    join()
    chunk = key.rsplit("-", 1)[0]  # the key is the chunk's label and a tag
    done = [e for e in ex.log if e["chunk"] == chunk]
    assert len(done) == 1 and done[0]["pid"] != pids[worker], (chunk, ex.log)
    assert len(ex.log) == 4
    assert_same_sweep(one_process, load_path(tmp_path))


def load_path(folder):
    (path,) = folder.glob("slow-quick-*.npz")
    return path


@pytest.mark.slow
def test_a_local_pool_worker_killed_mid_chunk_is_retried(tmp_path, one_process, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))  # a chunk's temporary folder: it is training
    (tmp_path / "tmp").mkdir()
    ex = LocalPool(2)
    thread, join = in_background(lambda: run_sweep(slow(), directory=tmp_path / "out",
                                                   chunk_runs=CHUNK, executor=ex, progress=False))
    wait_for(lambda: len(list((tmp_path / "tmp").glob("grokbook-chunk-*"))) == 2,
             what="both workers training")
    workers = [p for p in psutil.Process().children() if "spawn_main" in " ".join(p.cmdline())]
    assert len(workers) == 2, [p.cmdline() for p in psutil.Process().children()]
    victim = workers[0]  # both are mid-chunk: either will do
    victim.kill()
    join()
    assert ex.restarts == 1
    assert victim.pid not in {e["pid"] for e in ex.log}
    assert len(ex.log) == 4  # the chunks lost with the pool trained again
    assert_same_sweep(one_process, load_path(tmp_path / "out"))


@pytest.mark.slow
def test_slurm_jobs_through_submitit_store_the_one_process_sweep_and_a_killed_job_is_resubmitted(
        tmp_path, one_process, monkeypatch):
    """submitit's "local" cluster runs each job as processes here, through SLURM's interface."""
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import submitit.core.core
    # submitit waits 15 s for a lost job's result to appear on a cluster's shared file system
    monkeypatch.setattr(submitit.core.core.Job, "_results_timeout_s", 1)
    ex = Slurm(tmp_path / "jobs", cluster="local", poll=0.1, timeout_min=10)
    thread, join = in_background(lambda: run_sweep(slow(), directory=tmp_path / "out",
                                                   chunk_runs=CHUNK, executor=ex, progress=False))
    wait_for(lambda: list((tmp_path / "tmp").glob("grokbook-chunk-*")), what="a job training")

    def jobs():
        found = []
        for p in psutil.Process().children():
            try:
                if "submitit" in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                    found.append(p)
            except psutil.Error:
                pass
        return found
    job = wait_for(jobs, what="a job's process")[0]
    family = [job] + job.children(recursive=True)  # the job as SLURM would end it: all of it
    for p in family:
        p.kill()
    join()
    assert len(ex.resubmitted) == 1
    assert not {p.pid for p in family} & {e["pid"] for e in ex.log}
    assert len(ex.log) == 4
    assert_same_sweep(one_process, load_path(tmp_path / "out"))
    assert load_sweep(slow(), directory=tmp_path / "out").provenance["executor"].startswith(
        "local jobs (submitit")


@pytest.mark.slow
def test_an_error_in_the_training_is_raised_not_retried(tmp_path, cluster):
    ex = Dask(cluster)
    with pytest.raises(ValueError, match="precision"):
        run_sweep(slow(steps=5), directory=tmp_path, chunk_runs=4, executor=ex, progress=False,
                  precision="fastest")
    assert ex.log == []


def test_a_chunk_from_other_code_or_of_other_runs_is_refused(tmp_path, monkeypatch):
    s = slow(steps=5)
    (tmp_path / "p").mkdir()
    chunk = Chunk(0, 0, 2, 0, tmp_path / "p" / "part0-runs0-2.npz", "slow-part0-runs0-2")
    data, info = train_chunk(s, chunk, 1, device="cpu", train_kw={})
    with pytest.raises(CacheError, match="came back damaged"):
        store_chunk(s, chunk, data[:-10], info)
    with pytest.raises(CacheError, match=r"holding sweep .* runs \[0, 2\], not sweep .* runs \[2, 4\]"):
        store_chunk(s, chunk._replace(lo=2, hi=4), data, info)
    monkeypatch.setattr(files, "engine_digest", lambda **kw: "0" * 16)
    with pytest.raises(CacheError, match="other grokbook engine code .* install this checkout"):
        store_chunk(s, chunk, data, info)
    assert list((tmp_path / "p").iterdir()) == []  # nothing stored, nothing left behind
    monkeypatch.undo()
    with pytest.warns(RuntimeWarning, match="torch 0.0.1"):
        store_chunk(s, chunk, data, dict(info, torch="0.0.1"))
    assert chunk.path.exists()


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(executor="http://host:8786"), ValueError, "executor must be .* Dask scheduler address"),
    (dict(executor=3), ValueError, "executor must be"),
    (dict(executor="tcp://127.0.0.1:1", workers=2), ValueError, "give workers .* or executor"),
    (dict(workers=0), ValueError, "workers must be an integer >= 1"),
])
def test_bad_executor_settings_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        executor_for(**kwargs)


def test_executors_refuse_bad_settings_by_name(tmp_path):
    with pytest.raises(ConnectionError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        Dask("tcp://127.0.0.1:9", timeout=1)
    with pytest.raises(ValueError, match="threads must be None or an integer >= 1"):
        Dask("tcp://127.0.0.1:9", threads=0)
    with pytest.raises(ValueError, match="retries must be an integer >= 0"):
        LocalPool(2, retries=-1)
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        LocalPool(0)
    with pytest.raises(RuntimeError, match="cannot submit to cluster 'slurm'.*use --dask or --workers"):
        Slurm(tmp_path, cluster="slurm")
    with pytest.raises(ValueError, match="device must be"):
        run_sweep(slow(), directory=tmp_path, executor=InProcess(), device="tpu")
    assert isinstance(executor_for(), InProcess) and isinstance(executor_for(workers=2), LocalPool)


def test_the_command_line_builds_the_executor(tmp_path, capsys):
    parse = cli.build_parser().parse_args
    ex = cli.sweep_executor(parse(["sweep", "capacity_N25", "--slurm", str(tmp_path),
                                   "--slurm-option", "timeout_min=30", "--slurm-option",
                                   "slurm_partition=cpu", "--slurm-cluster", "local"]))
    assert isinstance(ex, Slurm) and ex.parameters == dict(timeout_min=30, slurm_partition="cpu")
    default = cli.sweep_executor(parse(["sweep", "capacity_N25", "--slurm", str(tmp_path),
                                        "--slurm-cluster", "local"]))
    assert default.parameters == dict(timeout_min=120)  # not submitit's 5 min
    assert cli.sweep_executor(parse(["sweep", "capacity_N25"])) is None
    assert cli.sweep_executor(parse(["sweep", "capacity_N25", "--dask", "tcp://h:1"])) == "tcp://h:1"
    for argv, match in ((["--dask", "tcp://h:1", "--workers", "2"], "not both --workers and --dask"),
                        (["--slurm", str(tmp_path), "--slurm-option", "timeout_min"], "KEY=VALUE"),
                        (["--slurm-option", "timeout_min=3"], "--slurm-option needs --slurm")):
        with pytest.raises(SystemExit):
            cli.main(["sweep", "capacity_N25", *argv])
        assert match in capsys.readouterr().err


@pytest.mark.slow
def test_a_chunk_that_keeps_losing_its_worker_fails_clearly_and_the_sweep_resumes(tmp_path,
                                                                                  one_process):
    """With the scheduler allowing no lost worker, a kill ends the sweep with a message; the
    chunks that finished stay saved, and the same call finishes the sweep."""
    with local_cluster(**{"distributed.scheduler.allowed-failures": 0}) as client:
        pids = client.run(os.getpid)
        ex = Dask(client)
        thread, join = in_background(lambda: run_sweep(slow(), directory=tmp_path, chunk_runs=CHUNK,
                                                       executor=ex, progress=False))

        def executing():
            now = client.run(lambda dask_worker: [str(ts.key) for ts in dask_worker.state.executing])
            return next((w for w, keys in now.items() if keys), None)
        worker = wait_for(executing, what="a chunk to start on a worker")
        os.kill(pids[worker], signal.SIGKILL)
        with pytest.raises(RuntimeError, match="lost their worker too many times: slow-quick-part.*"
                                               "other chunks are saved: run the sweep again"):
            join()
        saved = len(list(tmp_path.glob("*.partial/*.npz")))
        again = Dask(client)
        path = run_sweep(slow(), directory=tmp_path, chunk_runs=CHUNK, executor=again,
                         progress=False)
    assert saved >= 1 and len(again.log) == 4 - saved  # only the chunks that had not finished
    assert_same_sweep(one_process, path)


@pytest.mark.slow
def test_the_command_line_trains_a_named_sweep_on_a_dask_cluster(tmp_path, cluster, capsys,
                                                                 one_process, monkeypatch):
    """``python -m grokbook sweep NAME --dask ADDRESS`` and ``get_sweep(NAME, executor=ADDRESS)``
    store the one-process sweep (here a small sweep registered under a name for the test)."""
    import grokbook as gb
    from grokbook.store import sweeps
    monkeypatch.setitem(sweeps.SWEEPS, "slow", lambda profile: slow())
    address = cluster.scheduler.address
    assert cli.main(["sweep", "slow", "--profile", "quick", "--dask", address, "--chunk-runs",
                     str(CHUNK), "--results", str(tmp_path / "cli"), "--no-progress"]) == 0
    assert f"Dask at {address}" in capsys.readouterr().out
    assert_same_sweep(one_process, load_path(tmp_path / "cli"))
    data = gb.get_sweep("slow", "quick", directory=tmp_path / "get", executor=address,
                        progress=False)  # missing in the quick profile: trained, on the cluster
    clients = cluster.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.clients))
    assert clients == sorted(["fire-and-forget", cluster.id]), clients  # those made here: closed
    assert data.provenance["executor"] == f"Dask at {address}" and len(data.runs) == 8
    assert_same_sweep(one_process, load_path(tmp_path / "get"))  # other chunks, same numbers
