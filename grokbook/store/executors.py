"""Where a sweep's chunks train: here, a pool of local processes, a Dask cluster, or SLURM.

``run_sweep`` cuts a sweep into chunks of runs.  The chunks are independent, and each finished
chunk is one file in the sweep's ``.partial`` folder, so an interrupted sweep resumes.  An
executor decides where the chunks train:

- ``InProcess()``: one after another, in this process (the default);
- ``LocalPool(workers)``: spawned processes on this machine (``--workers N``);
- ``Dask(address)``: the workers of a running Dask cluster (``--dask tcp://host:8786``);
- ``Slurm(folder, **parameters)``: one SLURM job per chunk through submitit (``--slurm FOLDER``).

An executor knows nothing of sweeps: ``run_sweep`` hands it a ``Work``.  Away from this process,
``work.train`` (``files.train_chunk``) trains a chunk and returns the bytes of its file; back
here ``work.store`` (``files.store_chunk``) checks them (the sweep's key, the chunk's runs, the
engine's digest) and writes them into the ``.partial`` folder as each one arrives.  So Dask's
workers need no shared file system, and a chunk trained by other grokbook code is refused,
never merged.

A chunk whose worker dies is trained again: Dask's scheduler reschedules it (up to its
``distributed.scheduler.allowed-failures``, 3 by default); the pool and SLURM executors submit it
again, up to ``retries`` times.  An exception raised by the training itself is not retried: it
would repeat.  Past that, the error says so, and the finished chunks stay saved for a rerun.

With one thread per chunk (the remote executors' default) a run's numbers do not depend on which
process trains it or with which runs it is batched, so the merged sweep equals the in-process one
bit for bit (tests/test_executors.py).  With more threads, keep the chunking and thread count.
"""
from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Callable, NamedTuple

import torch

from ..core.settings import check_int, check_optional_int

DASK_SCHEMES = ("tcp://", "tls://", "ucx://", "inproc://")
DEFAULT_TIMEOUT_MIN = 120  # a SLURM job's time limit unless timeout_min is given


class Chunk(NamedTuple):
    """Runs [lo, hi) of part ``part`` of a sweep (runs ``first_run`` + ... of the whole sweep),
    stored at ``path``; ``label`` names it in messages and task names."""
    part: int
    lo: int
    hi: int
    first_run: int
    path: Path
    label: str


class Work(NamedTuple):
    """What ``run_sweep`` hands an executor.

    ``train(chunk, threads)``: trains a chunk anywhere (picklable), returns (bytes of its file,
    {"host", "pid", "seconds", "torch", ...}); ``store(chunk, data, info)``: checks and writes
    such a chunk here; ``train_here(chunk, progress)``: trains and writes one in this process,
    returns its seconds."""
    name: str
    chunks: list
    train: Callable
    store: Callable
    train_here: Callable


class _Bar:
    """A progress bar over the runs of ``chunks`` (or nothing)."""

    def __init__(self, work: Work, where: str, show: bool):
        self.bar = None
        if show:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=sum(c.hi - c.lo for c in work.chunks), unit="run",
                            desc=f"{work.name}: {len(work.chunks)} chunks on {where}")

    def done(self, chunk):
        if self.bar is not None:
            self.bar.update(chunk.hi - chunk.lo)

    def close(self):
        if self.bar is not None:
            self.bar.close()


class Executor:
    """Trains a list of chunks; every chunk's file exists when ``run`` returns.

    ``workers``: how many chunks train at once (sizes the default chunks: two per worker);
    None where that is not known (SLURM).  ``remote``: the chunks may train on other machines,
    which resolve the device themselves ("auto": each worker's GPU if it has one); a local
    pool's device is this machine's, resolved here."""
    workers: int | None = 1
    remote = False
    log: list

    def run(self, work: Work, progress: bool) -> None:
        raise NotImplementedError

    def _stored(self, work, chunk, data, info):
        work.store(chunk, data, info)
        self.log.append(dict(chunk=chunk.label, **{k: info[k] for k in ("host", "pid", "seconds")}))


class InProcess(Executor):
    """The chunks one after another in this process (with its progress bar per chunk)."""

    def __init__(self):
        self.log = []

    def run(self, work, progress):
        import socket
        for c in work.chunks:
            seconds = work.train_here(c, progress)
            self.log.append(dict(chunk=c.label, host=socket.gethostname(), pid=os.getpid(),
                                 seconds=round(seconds, 3)))

    def __str__(self):
        return "in process"


class LocalPool(Executor):
    """``workers`` spawned processes on this machine, ``torch.get_num_threads() // workers``
    threads each.  A worker that dies breaks the pool: the unfinished chunks are submitted again
    to a new one, at most ``retries`` times."""

    def __init__(self, workers: int, retries: int = 2):
        self.workers, self.retries = check_int("workers", workers), check_int("retries", retries, low=0)
        self.log = []
        self.restarts = 0  # pools broken by a dead worker and started again

    def run(self, work, progress):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool
        threads = max(1, torch.get_num_threads() // self.workers)
        bar = _Bar(work, f"{self.workers} workers", progress)
        pending, rounds = list(work.chunks), 0
        ctx = multiprocessing.get_context("spawn")  # fork after OpenMP threads is unsafe
        while pending:
            try:
                with ProcessPoolExecutor(self.workers, mp_context=ctx) as pool:
                    jobs = {pool.submit(work.train, c, threads): c for c in pending}
                    for job in as_completed(jobs):
                        data, info = job.result()  # a failed chunk raises here, with its traceback
                        self._stored(work, jobs[job], data, info)
                        pending.remove(jobs[job])
                        bar.done(jobs[job])
            except BrokenProcessPool:
                rounds += 1
                self.restarts += 1
                if rounds > self.retries:
                    bar.close()
                    raise RuntimeError(
                        f"sweep {work.name!r}: a worker process died {rounds} times ({len(pending)} "
                        f"chunks unfinished, retries={self.retries}); the finished chunks are saved: "
                        "run the sweep again to resume") from None
        bar.close()

    def __str__(self):
        return f"{self.workers} local worker processes"


class Dask(Executor):
    """The workers of a Dask cluster: ``address`` of its scheduler ("tcp://host:8786") or a
    ``distributed.Client``.  Each chunk is one task, trained with ``threads`` torch threads (1:
    a worker with n threads trains n chunks at once).  ``timeout``: seconds to wait for the
    scheduler and for its first worker."""
    remote = True

    def __init__(self, address, threads: int = 1, timeout: float = 60):
        from distributed import Client
        self.threads, self.timeout, self.log = check_optional_int("threads", threads), timeout, []
        self._given = self._own = None  # a client given is the caller's; one made here, ours
        if isinstance(address, Client):
            self._given, self.address = address, address.scheduler.address
        elif isinstance(address, str) and address.startswith(DASK_SCHEMES):
            self.address = address
            self.client  # connect now: an address nothing answers is refused at once
        else:
            raise ValueError(f"address must be a Dask scheduler address ({', '.join(DASK_SCHEMES)}"
                             f"...) or a distributed.Client, got {address!r}")

    @property
    def client(self):
        """The client given, else one of our own (connected when needed, closed after a run)."""
        if self._given is not None:
            return self._given
        if self._own is None:
            from distributed import Client
            try:
                self._own = Client(self.address, timeout=self.timeout, set_as_default=False)
            except OSError as err:
                raise ConnectionError(
                    f"cannot reach the Dask scheduler at {self.address} ({err}); start one with "
                    "`dask scheduler` and workers with `dask worker ADDRESS`") from None
        return self._own

    def close(self):
        """Close the client this executor made (a client it was given stays open)."""
        if self._own is not None:
            self._own.close()
            self._own = None

    @property
    def workers(self) -> int:
        """Chunks the cluster trains at once now: its workers' threads (at least 1)."""
        return max(1, sum(self.client.nthreads().values()))

    def run(self, work, progress):
        from distributed import as_completed
        from distributed.client import FutureCancelledError
        try:
            self.client.wait_for_workers(1, timeout=self.timeout)
        except TimeoutError:
            raise TimeoutError(f"the Dask scheduler at {self.address} has had no worker for "
                               f"{self.timeout} s; start one with `dask worker {self.address}`"
                               ) from None
        bar = _Bar(work, f"Dask at {self.address}", progress)
        tag = uuid.uuid4().hex[:8]
        futures = {self.client.submit(work.train, c, self.threads, key=f"{c.label}-{tag}",
                                      pure=False): c for c in work.chunks}
        lost = []  # chunks whose workers died too often: the others still finish and are saved
        try:
            for future in as_completed(futures, loop=self.client.loop):
                c = futures[future]
                try:
                    data, info = future.result()
                except FutureCancelledError as err:
                    lost.append(f"{c.label} (cancelled: {err})")
                    continue
                except Exception as err:
                    if type(err).__name__ != "KilledWorker":
                        raise  # the training's own error, with the worker's traceback
                    lost.append(f"{c.label} ({err})")
                    continue
                self._stored(work, c, data, info)
                bar.done(c)
        finally:
            bar.close()
            for future in futures:
                future.release()
            self.close()
        if lost:
            raise RuntimeError(
                f"sweep {work.name!r}: {len(lost)} chunk(s) lost their worker too many times: "
                f"{'; '.join(lost)}; the {len(work.chunks) - len(lost)} other chunks are saved: "
                "run the sweep again to resume")

    def __str__(self):
        return f"Dask at {self.address}"


class Slurm(Executor):
    """One SLURM job per chunk through submitit.  ``folder``: where submitit keeps its jobs'
    files (shared with the compute nodes); ``parameters``: submitit's (``timeout_min``,
    ``cpus_per_task``, ``mem_gb``, ``slurm_partition``, ...).  A chunk trains with
    ``cpus_per_task`` threads (default 1).  A job that ends without a result (killed, timed
    out, preempted) is submitted again, at most ``retries`` times.  ``timeout_min`` defaults to
    DEFAULT_TIMEOUT_MIN (submitit's own default, 5 min, would end most chunks of the paper's
    sizes, again and again).  ``cluster``: submitit's
    (default "slurm"; "local" runs the jobs as processes here, as the tests do)."""
    remote = True
    workers = None

    def __init__(self, folder, retries: int = 2, cluster: str = "slurm", poll: float = 5.0,
                 **parameters):
        import submitit
        self.retries, self.poll, self.log = check_int("retries", retries, low=0), poll, []
        self.resubmitted = []  # labels of the chunks whose job ended without a result
        self.folder = Path(folder)
        try:
            self.executor = submitit.AutoExecutor(folder=self.folder, cluster=cluster)
        except RuntimeError as err:
            raise RuntimeError(f"cannot submit to cluster {cluster!r} ({err}); on a machine "
                               "without SLURM, use --dask or --workers") from None
        parameters = {"timeout_min": DEFAULT_TIMEOUT_MIN, **parameters}  # submitit's is 5 min
        self.threads = check_optional_int("threads", parameters.get("cpus_per_task", 1))
        self.executor.update_parameters(**parameters)
        self.parameters = parameters
        self.cluster = cluster

    def run(self, work, progress):
        from submitit.core.utils import UncompletedJobError
        bar = _Bar(work, f"{self.cluster} jobs", progress)

        def submit(c):
            self.executor.update_parameters(name=c.label)
            return self.executor.submit(work.train, c, self.threads)

        jobs, tries, lost = {c: submit(c) for c in work.chunks}, Counter(), []
        try:
            while jobs:
                for c, job in list(jobs.items()):
                    if not job.done():
                        continue
                    try:
                        data, info = job.result()
                    except UncompletedJobError as err:  # no result: the job died
                        tries[c] += 1
                        if tries[c] > self.retries:  # the other jobs still finish and are saved
                            lost.append(f"{c.label} (job {job.job_id}, {tries[c]} times: "
                                        f"{str(err).splitlines()[0]}; timed out? raise "
                                        f"timeout_min, now {self.parameters['timeout_min']})")
                            del jobs[c]
                        else:
                            self.resubmitted.append(c.label)
                            jobs[c] = submit(c)
                        continue
                    self._stored(work, c, data, info)
                    del jobs[c]
                    bar.done(c)
                if jobs:
                    time.sleep(self.poll)
        finally:
            bar.close()
        if lost:
            raise RuntimeError(
                f"sweep {work.name!r}: {len(lost)} chunk(s) ended without a result: "
                f"{'; '.join(lost)}; the {len(work.chunks) - len(lost)} other chunks are saved: "
                "run the sweep again to resume")

    def __str__(self):
        return f"{self.cluster} jobs (submitit, {self.folder})"


def executor_for(executor=None, workers=None) -> Executor:
    """The executor that ``run_sweep(executor=..., workers=...)`` asks for.

    ``executor``: an Executor, a Dask scheduler address ("tcp://host:8786") or a
    ``distributed.Client``; else ``workers`` local processes (default 1: in this process)."""
    if executor is not None and workers is not None:
        raise ValueError("give workers (local processes) or executor (a cluster), not both")
    if executor is None:
        workers = check_int("workers", 1 if workers is None else workers)
        return InProcess() if workers == 1 else LocalPool(workers)
    if isinstance(executor, Executor):
        return executor
    if isinstance(executor, str) and executor.startswith(DASK_SCHEMES):
        return Dask(executor)
    if type(executor).__name__ == "Client" and type(executor).__module__.startswith("distributed"):
        return Dask(executor)
    raise ValueError(f"executor must be a grokbook.executors.Executor, a Dask scheduler address "
                     f"({', '.join(DASK_SCHEMES)}...) or a distributed.Client, got {executor!r}")


__all__ = ["Chunk", "Work", "Executor", "InProcess", "LocalPool", "Dask", "Slurm", "executor_for"]
