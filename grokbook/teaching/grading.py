"""Grading a class's notebooks: verdicts computed where the students' code never ran.

Each submission runs in a fresh Jupyter kernel (the *student's kernel*), driven by a worker process
of its own.  The student's cells run there, with their own ``gb.checks`` calls, whose printed lines
and return values the grader ignores: a student may print "all cases passed", replace
``gb.checks.<name>`` or patch ``print``, and none of it reaches a verdict.  After the last cell,
the worker runs each exercise's check itself, in its own process, on the assignment's terms:

- the questions (which check, which of the student's functions, which of the chapter's values as
  the check's arguments) come from the assignment (``questions``), never from the submission;
- where the check calls the student's function, the call goes to the student's kernel, and only
  the value it returned comes back, through ``grokbook.teaching.transfer`` (no pickle is read);
- the random cases are drawn from a seed chosen when grading starts (``harness.CASE_SALT``),
  not the fixed seeds the notebook's own checks use: the hidden tests;
- the verdict is what the check returned or raised: True passed, False not attempted, an
  AssertionError failed with its message.

The worker sends the verdicts to the grader over a pipe the kernel does not inherit.  The grader
(``grade``) reads every submission into memory before it runs any, grades each from that copy,
and between submissions kills whatever a submission left running and checks that no other
submission, no grade file and no file of the grokbook package changed on disk (what it cannot
prevent, it reports).
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import secrets
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import book, transfer

STATUSES = ("passed", "failed", "not attempted", "timed out", "did not run")
_PREFIX = "__grokbook_grading"


@dataclass(frozen=True)
class Question:
    """One graded exercise: ``check`` is called as ``check(<target>, *args, **kwargs)``, where
    ``target`` names the student's function and ``args``/``kwargs`` are expressions evaluated in
    the student's kernel (the chapter's values: its parameters, its trained networks)."""
    number: int
    title: str
    check: str
    target: str
    args: tuple = ()
    kwargs: tuple = ()  # ((name, expression), ...)


def check_call(source: str, name: str, where: str) -> Question:
    """The call ``gb.checks.<name>(...)`` in a stub cell's ``source``, as a Question's parts."""
    tree = ast.parse(source)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and n.func.attr == name and ast.unparse(n.func.value) == "gb.checks"]
    if len(calls) != 1:
        raise ValueError(f"{where}: expected one call gb.checks.{name}(...), found {len(calls)}")
    call = calls[0]
    if not call.args or not isinstance(call.args[0], ast.Name):
        raise ValueError(f"{where}: gb.checks.{name}'s first argument must name the student's function")
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        raise ValueError(f"{where}: gb.checks.{name} is called with *args or **kwargs")
    return Question(0, "", name, call.args[0].id, tuple(ast.unparse(a) for a in call.args[1:]),
                    tuple((k.arg, ast.unparse(k.value)) for k in call.keywords))


def questions(nb: dict, chapter: str = "") -> list[Question]:
    """The graded exercises of an assignment (a chapter, or its student notebook), in order: each
    stub cell of its Exercises section (a code cell not tagged as a solution) that calls a check,
    numbered by the exercise heading above it."""
    from .coursework import CHECK_CALL, HEAD, SOLUTION_TAG, STARTS_EXERCISE, exercise_start

    out, number, name_of = [], 0, {}
    for cell in nb["cells"][exercise_start(nb["cells"]):]:
        source = book.cell_source(cell)
        if cell["cell_type"] == "markdown":
            for line in source.splitlines():
                m = HEAD.match(line.strip())
                if m:
                    number, name_of[int(m.group(1))] = int(m.group(1)), m.group(2).strip()
                elif STARTS_EXERCISE.match(line):
                    raise ValueError(f"{chapter or 'the assignment'}: an exercise heading out of format: {line[:80]!r}")
        elif SOLUTION_TAG not in cell.get("metadata", {}).get("tags", []):
            for name in dict.fromkeys(CHECK_CALL.findall(source)):
                q = check_call(source, name, f"{chapter or 'the assignment'}, exercise {number}")
                out.append(Question(number, name_of.get(number, ""), name, q.target, q.args, q.kwargs))
    return out


def title(nb: dict) -> str | None:
    """A notebook's title: its first '# ' heading."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in book.cell_source(cell).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return None


# ----------------------------------------------------------------------------- the student's kernel
def answer(namespace: dict, folder: str, call: str) -> None:
    """Run in the student's kernel: read the grader's request ``folder/call.request``, evaluate it
    in ``namespace`` (the notebook's globals) and write what came of it to ``folder/call.reply``."""
    folder = Path(folder)
    request = transfer.read(folder / f"{call}.request")
    try:
        if request["kind"] == "value":
            out = {"returned": eval(request["expression"], namespace)}  # noqa: S307 - the assignment's text
        else:
            fn = eval(request["target"], namespace)  # noqa: S307
            out = {"returned": fn(*request["args"], **request["kwargs"])}
    except Exception as err:  # noqa: BLE001 - the student's error is the answer
        out = {"raised": type(err).__name__, "message": str(err)[:2000]}
    try:
        transfer.write(out, folder / f"{call}.reply")
    except transfer.TransferError as err:
        transfer.write({"raised": "TransferError", "message": str(err)}, folder / f"{call}.reply")


class StudentError(Exception):
    """The student's function raised (``name``: the exception's type) or its answer could not be read."""

    def __init__(self, name: str, message: str):
        super().__init__(f"{name}: {message}")
        self.name = name


class CallTimedOut(Exception):
    pass


class KernelGone(Exception):
    pass


class Kernel:
    """The student's kernel as the grader sees it: ``ask`` sends a request, has the kernel answer
    it (``run(name)``: execute ``answer`` there for the request ``name``) and returns the answer."""

    def __init__(self, folder: Path, cell_timeout: int, run):
        self.folder, self.cell_timeout, self.run, self.calls = Path(folder), cell_timeout, run, 0

    def ask(self, request: dict):
        self.calls += 1
        name = f"call{self.calls}_{secrets.token_hex(4)}"
        transfer.write(request, self.folder / f"{name}.request")
        start = time.monotonic()
        self.run(name)
        reply_path = self.folder / f"{name}.reply"
        if not reply_path.exists():
            if time.monotonic() - start >= self.cell_timeout - 1:
                raise CallTimedOut()
            raise StudentError("KernelError", "the notebook's kernel gave no answer (grokbook could "
                                              "not be imported there, or the call was interrupted)")
        reply = transfer.read(reply_path)
        if not isinstance(reply, dict) or not ({"returned"} == set(reply) or {"raised", "message"} == set(reply)):
            raise StudentError("TransferError", "a malformed answer from the notebook's kernel")
        if "raised" in reply:
            if reply["raised"] == "NotImplementedError":
                raise NotImplementedError(reply["message"])
            raise StudentError(str(reply["raised"]), str(reply["message"]))
        return reply["returned"]

    @classmethod
    def of_client(cls, client, folder: Path, cell_timeout: int) -> "Kernel":
        """The kernel an nbclient ``client`` holds: each request runs as one more cell."""
        import nbformat
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        def run(name):
            cell = nbformat.v4.new_code_cell(f"from grokbook.teaching.grading import answer as {_PREFIX}\n"
                                             f"{_PREFIX}(globals(), {str(folder)!r}, {name!r})")
            client.nb.cells.append(cell)
            try:
                client.execute_cell(cell, len(client.nb.cells) - 1)
            except CellTimeoutError:
                raise CallTimedOut() from None
            except DeadKernelError:
                raise KernelGone("the notebook's kernel died") from None

        return cls(folder, cell_timeout, run)


class RemoteFunction:
    """Stands for the student's function ``target`` in the grader's process: calling it calls the
    function in the student's kernel and returns (a copy of) what it returned."""

    def __init__(self, kernel: Kernel, target: str):
        self.kernel, self.target = kernel, target

    def __call__(self, *args, **kwargs):
        return self.kernel.ask({"kind": "call", "target": self.target, "args": list(args), "kwargs": kwargs})


def verdict(question: Question, kernel, check=None) -> tuple[str, str]:
    """(status, message) of one question: the check run in this process on the student's function
    (``kernel.ask`` answers for the student's kernel)."""
    import contextlib
    import io

    from .checks import every_check

    check = check or every_check()[question.check]
    try:
        args = [kernel.ask({"kind": "value", "expression": e}) for e in question.args]
        kwargs = {k: kernel.ask({"kind": "value", "expression": e}) for k, e in question.kwargs}
        with contextlib.redirect_stdout(io.StringIO()):
            result = check(RemoteFunction(kernel, question.target), *args, **kwargs)
    except NotImplementedError:
        return "not attempted", ""
    except AssertionError as err:
        return "failed", str(err)[:300]
    except CallTimedOut:
        return "timed out", f"a call ran over the {getattr(kernel, 'cell_timeout', '?')} s limit"
    except KernelGone as err:
        return "did not run", str(err)
    except StudentError as err:
        return "failed", str(err)[:300]
    except transfer.TransferError as err:
        return "failed", f"what the notebook returned cannot be graded: {err}"[:300]
    except Exception as err:  # noqa: BLE001 - the check choked on what the student returned
        return "failed", f"{type(err).__name__}: {err}"[:300]
    if result is True:
        return "passed", ""
    if result is False:
        return "not attempted", ""
    return "failed", f"the check returned {result!r}"


def preload() -> None:
    """Import every module of grokbook now, so that a file the student's kernel rewrites later
    cannot change the code this process grades with."""
    import importlib
    import pkgutil

    root = Path(__file__).resolve().parents[1]
    for info in pkgutil.walk_packages([str(root)], f"{root.name}."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)


def work(notebook: Path, job: dict, fd: int) -> None:
    """The worker: run ``notebook`` in a fresh kernel, then every question of ``job``; write the
    verdicts as JSON to the pipe ``fd``.  Runs in its own process (``grade``)."""
    preload()
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    from .checks import harness

    harness.CASE_SALT = int(job["salt"])
    folder = Path(job["calls"])
    folder.mkdir()
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(nb, timeout=job["cell_timeout"], kernel_name="python3", allow_errors=True,
                            interrupt_on_timeout=True, shutdown_kernel="immediate",
                            resources={"metadata": {"path": str(notebook.parent)}})
    results = {}
    try:
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
            kernel = Kernel.of_client(client, folder, job["cell_timeout"])
            for q in job["questions"]:
                q = Question(**{**q, "args": tuple(q["args"]), "kwargs": tuple(map(tuple, q["kwargs"]))})
                results[q.check] = verdict(q, kernel)
    except DeadKernelError:
        pass
    results = {q["check"]: results.get(q["check"], ("did not run", "the notebook's kernel died"))
               for q in job["questions"]}
    with os.fdopen(fd, "w") as pipe:
        json.dump(results, pipe)


# ----------------------------------------------------------------------------- around the workers
def package_digest() -> str:
    """sha256 over the grokbook package's Python files (a submission must not change them)."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def folder_digest(folder: Path) -> dict:
    """{relative path: sha256} of every file under ``folder`` (none if it does not exist)."""
    folder = Path(folder)
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def changed_files(before: dict, after: dict) -> list[str]:
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def become_subreaper() -> bool:
    """Make this process adopt the orphans of its descendants (Linux), so that a process a
    submission leaves behind can be found and killed; False where the system has no such call."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def descendants(pid: int | None = None) -> list[int]:
    """The processes below ``pid`` (default: this one), from /proc; empty where there is none."""
    pid = os.getpid() if pid is None else pid
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state == "Z":  # a zombie: already dead, waiting to be reaped
            continue
        children.setdefault(int(ppid), []).append(int(entry.name))
    out, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def kill_leftovers(left: list[int]) -> None:
    """Kill the processes ``left`` (a submission's leftovers, found by ``descendants``)."""
    import signal

    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for pid in left:  # reap the ones that are our children (adopted, as subreaper)
        try:
            os.waitpid(pid, 0)
        except OSError:  # not our child: its own parent reaps it
            pass


@dataclass
class Assignment:
    """What is graded: the questions of one chapter's assignment, and the chapter's title."""
    chapter: str
    title: str | None
    questions: list

    @classmethod
    def from_notebook(cls, nb: dict, chapter: str) -> "Assignment":
        return cls(chapter, title(nb), questions(nb, chapter))

    def job(self) -> list[dict]:
        return [asdict(q) for q in self.questions]


def book_assignments() -> dict:
    """{title: Assignment} of the book's chapters (a submission without an assignment named is
    graded against the chapter whose title it carries)."""
    out = {}
    for path in book.chapters():
        a = Assignment.from_notebook(json.loads(path.read_text()), path.stem)
        out[a.title] = a
    return out


def run_worker(notebook: Path, work_dir: Path, job: dict, time_limit: int) -> tuple[dict | None, str]:
    """Run ``work`` on ``notebook`` in a new process; (verdicts or None, why none)."""
    import subprocess
    import threading

    read_end, write_end = os.pipe()
    code = ("import sys, json; from pathlib import Path; from grokbook.teaching.grading import work; "
            "work(Path(sys.argv[1]), json.loads(sys.stdin.read()), int(sys.argv[2]))")
    log = work_dir.parent / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", code, str(notebook), str(write_end)], cwd=work_dir,
                                stdin=subprocess.PIPE, stdout=out, stderr=out, pass_fds=(write_end,),
                                start_new_session=True)
    os.close(write_end)
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: os.read(read_end, 65536), b"")),
                              daemon=True)
    reader.start()
    proc.stdin.write(json.dumps(job).encode())
    proc.stdin.close()
    try:
        proc.wait(timeout=time_limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        reader.join(5)
        os.close(read_end)
        return None, "timed out"
    reader.join(10)
    os.close(read_end)
    try:
        verdicts = json.loads(b"".join(chunks).decode())
    except (ValueError, UnicodeDecodeError):
        tail = log.read_text(errors="replace").strip().splitlines()
        return None, (tail[-1] if tail else f"the worker exited with {proc.returncode}")[:300]
    return verdicts, ""
