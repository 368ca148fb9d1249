"""Independent jobs on a local process pool or a Dask cluster (DESIGN.md section 10).

Monte-Carlo trials, per-array SPICE runs, RTL regressions and effective-weight
extraction per array are independent jobs: the same function over many small
tasks that share one large, read-only payload (a compiled model, a set of
arrays, an evaluation set).

    tasks = [Task(f"seed={s}", {"seed": s}) for s in range(100)]
    results = run_jobs(trial, tasks, shared=payload, workers=4)                  # local pool
    results = run_jobs(trial, tasks, shared=payload, scheduler="tcp://host:8786")  # Dask

`fn(shared, **task.args)` runs once per task; `run_jobs` returns its results in
the order of `tasks`, whatever the number of workers or the order tasks finish
in. A task carries everything that makes it random (its seed), so its result
does not depend on where it ran.

Where tasks run (`scheduler`, else the environment variable `ANNCC_SCHEDULER`):
- nothing, `workers=1`: in this process, one task after the other;
- nothing, `workers>1`: a pool of spawned processes; `shared` is pickled once per
  process (the pool's initializer), not per task; a script calling it needs no
  `if __name__ == "__main__":` guard unless `fn` or `shared` comes from the script
  itself (`main_module_hidden`);
- `tcp://HOST:PORT` (or a `distributed.Client`): Dask distributed; `shared` is
  scattered to every worker once (`Client.scatter(broadcast=True)`) and the tasks
  name it, so Dask hands each task the worker's own copy. The dashboard link is
  printed.

Faults. A task that raises is a deterministic failure (same task, same seed,
same exception): it is not retried, and `run_jobs` raises `JobsFailed` at the
end naming each failed task once with its cause, after every other task has
run. A worker that dies (killed, out of memory) is an accident of the machine:
its tasks run again on another worker (the local pool is rebuilt; Dask's
scheduler reschedules them, and the shared payload is scattered again if the
only copy died with the worker), up to `max_attempts` times in all.

Resume. With `results_path`, the results file (JSON: a study fingerprint and a
result per task key) is rewritten atomically each time a task finishes, so an
interrupted study keeps what it finished; `resume=True` reads it back and runs
only the missing tasks (the fingerprint must match). Results must then be JSON
values (numbers, strings, lists, dicts).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from anncc.errors import AnnccError

#: The environment variable naming a Dask scheduler when `--scheduler` is not given.
SCHEDULER_ENV = "ANNCC_SCHEDULER"
#: Results-file format tag (a file of another format is refused, not overwritten on resume).
RESULTS_FORMAT = "anncc-jobs/1"


@dataclass(frozen=True)
class Task:
    """One independent job: a unique `key` (results are keyed by it) and the keyword
    arguments of the job function (its seed among them)."""

    key: str
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskFailure:
    """A task that raised: its key, the exception's one-line cause and its traceback."""

    key: str
    cause: str
    traceback: str = ""


class JobsFailed(AnnccError):
    """Some tasks failed deterministically (or killed every worker they ran on)."""

    def __init__(self, failures: list[TaskFailure], total: int, results_path: Path | None = None):
        self.failures = failures
        shown = "; ".join(f"{f.key}: {f.cause}" for f in failures[:5])
        more = f"; and {len(failures) - 5} more" if len(failures) > 5 else ""
        hint = (f"finished results are kept in {results_path}; rerun with --resume to run only the rest"
                if results_path else None)
        super().__init__(f"{len(failures)} of {total} jobs failed: {shown}{more}", hint=hint)


class _Shared:
    """The payload as the tasks see it (a box, so that Dask scatters it as one piece)."""

    def __init__(self, value: Any):
        self.value = value


def resolve_scheduler(scheduler: Any = None) -> Any:
    """`scheduler` if given, else `$ANNCC_SCHEDULER`, else None (local). '' and 'local' mean local."""
    if scheduler is None:
        scheduler = os.environ.get(SCHEDULER_ENV) or None
    if isinstance(scheduler, str) and scheduler.strip() in ("", "local"):
        return None
    return scheduler


# --------------------------------------------------------------------------- results file


class ResultsFile:
    """A study's finished results, `{task key: result}`, saved atomically after each task.

    `study` is the fingerprint (JSON data) of what the tasks compute; resuming
    from a file written for another study is refused.
    """

    def __init__(self, path: str | os.PathLike[str], study: Mapping[str, Any], resume: bool):
        self.path = Path(path)
        self.study = json.loads(json.dumps(dict(study), sort_keys=True, default=str))
        self.results: dict[str, Any] = {}
        if resume and self.path.exists():
            self.results = self._read()
        self._last_save = 0.0

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as e:
            raise AnnccError(f"cannot read results file {self.path}: {e}") from None
        if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT:
            raise AnnccError(f"{self.path} is not an anncc results file ({RESULTS_FORMAT})")
        if data.get("study") != self.study:
            raise AnnccError(f"{self.path} holds results of another study",
                             hint="same build, data, conditions and options are needed to resume; "
                                  "drop --resume to start over")
        return dict(data.get("results", {}))

    def add(self, key: str, value: Any) -> None:
        self.results[key] = value
        self.save()

    def save(self) -> None:
        from anncc.files import atomic_write_text

        doc = {"format": RESULTS_FORMAT, "study": self.study, "results": self.results}
        atomic_write_text(self.path, json.dumps(doc, sort_keys=True) + "\n")


# --------------------------------------------------------------------------- running one task


def _call(fn: Callable[..., Any], shared: _Shared, key: str, args: Mapping[str, Any]) -> Any:
    """Run one task; an exception becomes a TaskFailure value (deterministic: never retried)."""
    try:
        return fn(shared.value, **args)
    except Exception as e:  # noqa: BLE001 - every task error is reported, none kills the study
        cause = f"{type(e).__name__}: {e}".splitlines()[0][:300]
        return TaskFailure(key, cause, traceback.format_exc())


_POOL_SHARED: dict[str, _Shared] = {}

#: Set to 1 in every job worker: the workers are the parallelism, so the IR-drop solver
#: (`anncc.runtime.irdrop.parallel`) starts no processes of its own there.
SOLVER_PROCESSES_ENV = "ANNCC_SOLVER_PROCESSES"


def _worker_call(fn: Callable[..., Any], shared: _Shared, key: str, args: Mapping[str, Any]) -> Any:
    """`_call` on a Dask worker (which may run several tasks at once in threads)."""
    os.environ[SOLVER_PROCESSES_ENV] = "1"
    return _call(fn, shared, key, args)


def _pool_init(shared: _Shared, threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ[SOLVER_PROCESSES_ENV] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    _POOL_SHARED["shared"] = shared


def _pool_call(fn: Callable[..., Any], key: str, args: Mapping[str, Any]) -> Any:
    return _call(fn, _POOL_SHARED["shared"], key, args)


# --------------------------------------------------------------------------- the front door


def run_jobs(fn: Callable[..., Any], tasks: Sequence[Task], shared: Any = None, *, workers: int = 1,
             scheduler: Any = None, results_path: str | os.PathLike[str] | None = None,
             study: Mapping[str, Any] | None = None, resume: bool = False, progress: bool = False,
             desc: str = "jobs", max_attempts: int = 3) -> list[Any]:
    """Results of `fn(shared, **task.args)` for every task, in the order of `tasks`.

    See the module docstring for where tasks run, faults and resuming. `fn`
    must be importable by name (a module-level function) to run in other
    processes. Raises `JobsFailed` if any task failed, after all others ran.
    """
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        raise AnnccError("task keys must be unique")
    if workers < 1:
        raise AnnccError(f"workers must be >= 1, got {workers}")
    book = ResultsFile(results_path, study or {}, resume) if results_path is not None else None
    done: dict[str, Any] = {}
    if book is not None:
        done = {k: book.results[k] for k in keys if k in book.results}
    todo = [t for t in tasks if t.key not in done]
    failures: list[TaskFailure] = []
    bar = _progress_bar(len(tasks), len(done), desc, progress)

    def finished(key: str, value: Any) -> None:
        if isinstance(value, TaskFailure):
            failures.append(value)
        else:
            done[key] = value
            if book is not None:
                book.add(key, value)
        bar.update(1)

    try:
        scheduler = resolve_scheduler(scheduler)
        box = _Shared(shared)
        if not todo:
            pass
        elif scheduler is not None:
            _run_dask(fn, todo, box, scheduler, finished, max_attempts, progress)
        elif workers == 1 or len(todo) == 1:
            for t in todo:
                finished(t.key, _call(fn, box, t.key, t.args))
        else:
            _run_pool(fn, todo, box, min(workers, len(todo)), finished, max_attempts)
    finally:
        bar.close()
    if failures:
        order = {k: i for i, k in enumerate(keys)}
        failures.sort(key=lambda f: order[f.key])
        raise JobsFailed(failures, len(tasks), book.path if book is not None else None)
    return [done[k] for k in keys]


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, initial: int, desc: str, progress: bool) -> Any:
    if not progress:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="task", file=sys.stderr, leave=False)


# --------------------------------------------------------------------------- local process pool


@contextlib.contextmanager
def main_module_hidden(hide: bool = True) -> Iterator[None]:
    """Start spawned workers that do not run the user's script again.

    A spawned worker re-imports the parent's `__main__` from its file (as
    `__mp_main__`), which runs a user script that has no `if __name__ ==
    "__main__":` guard from the top: it compiles its model again in every worker,
    and its own pool then fails to start there. Workers whose functions and payload
    live in `anncc` do not need it: while they start (`hide`), `__main__` shows no
    file and no module spec, so multiprocessing leaves it alone.
    """
    main = sys.modules.get("__main__")
    if not hide or main is None:
        yield
        return
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _needs_main(fn: Callable[..., Any], box: _Shared) -> bool:
    """Whether the workers need the user's `__main__` (the job function or payload is from it)."""
    if getattr(fn, "__module__", None) == "__main__":
        return True
    try:
        return b"__main__" in pickle.dumps(box)
    except Exception:  # noqa: BLE001 - an unpicklable payload fails in the pool with its own message
        return True


def _run_pool(fn: Callable[..., Any], todo: list[Task], box: _Shared, workers: int,
              finished: Callable[[str, Any], None], max_attempts: int) -> None:
    """A spawned process pool; rebuilt when a worker dies, its unfinished tasks run again."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    attempts = dict.fromkeys((t.key for t in todo), 0)
    remaining = list(todo)
    needs_main = _needs_main(fn, box)
    while remaining:
        broken: list[Task] = []
        with ProcessPoolExecutor(max_workers=min(workers, len(remaining)),
                                 mp_context=get_context("spawn"), initializer=_pool_init,
                                 initargs=(box, threads)) as pool:
            with main_module_hidden(not needs_main):  # workers start as tasks are submitted
                futures = {pool.submit(_pool_call, fn, t.key, t.args): t for t in remaining}
            pending = set(futures)
            while pending:
                ready, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in ready:
                    t = futures[f]
                    try:
                        finished(t.key, f.result())
                    except BrokenProcessPool:
                        broken.append(t)
        remaining = []
        for t in broken:
            attempts[t.key] += 1
            if attempts[t.key] >= max_attempts:
                finished(t.key, TaskFailure(t.key, f"its worker process died {attempts[t.key]} times"))
            else:
                remaining.append(t)


# --------------------------------------------------------------------------- Dask distributed


def _connect(scheduler: Any) -> tuple[Any, bool]:
    try:
        from distributed import Client
    except ImportError:
        raise AnnccError("--scheduler needs dask[distributed]",
                         hint="pip install 'dask[distributed]'") from None
    if isinstance(scheduler, Client):
        return scheduler, False
    _probe(str(scheduler))
    try:
        return Client(str(scheduler), timeout="30s", set_as_default=False), True
    except (OSError, TimeoutError) as e:
        raise AnnccError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None


def _probe(address: str) -> None:
    """Fail at once (not after Dask's connect retries) when nothing listens at a tcp:// address."""
    import socket
    from urllib.parse import urlsplit

    if not address.startswith("tcp://"):
        return
    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise AnnccError(f"a Dask scheduler address looks like tcp://HOST:8786, got '{address}'")
    try:
        socket.create_connection((host, port), timeout=10).close()
    except OSError as e:
        raise AnnccError(f"cannot reach the Dask scheduler at {address}: {e}") from None


def _run_dask(fn: Callable[..., Any], todo: list[Task], box: _Shared, scheduler: Any,
              finished: Callable[[str, Any], None], max_attempts: int, progress: bool) -> None:
    """Submit every task against one broadcast copy of the payload; collect as they finish."""
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    client, owned = _connect(scheduler)
    try:
        if progress:
            link = getattr(client, "dashboard_link", None)
            print(f"anncc: Dask scheduler {client.scheduler.address}"
                  + (f", dashboard {link}" if link else ""), file=sys.stderr)
        shared = client.scatter(box, broadcast=True)
        attempts = dict.fromkeys((t.key for t in todo), 0)
        futures: dict[Any, Task] = {}

        def submit(t: Task) -> Any:
            fut = client.submit(_worker_call, fn, shared, t.key, dict(t.args), pure=False, retries=0)
            futures[fut] = t
            return fut

        stream = as_completed([submit(t) for t in todo], loop=client.loop)
        for fut in stream:
            t = futures.pop(fut)
            if fut.status == "finished":
                try:
                    value = fut.result()
                except Exception:  # noqa: BLE001 - its worker died before the result reached us
                    value = _LOST
                if value is not _LOST:
                    fut.release()  # the result is ours: Dask must not recompute it if a worker dies
                    finished(t.key, value)
                    continue
            cause = _infrastructure_cause(fut, KilledWorker)
            attempts[t.key] += 1
            if cause.startswith("KilledWorker") or attempts[t.key] >= max_attempts:
                finished(t.key, TaskFailure(t.key, cause))
                continue
            if shared.status != "finished":  # the only copy of the payload died with a worker
                shared = client.scatter(box, broadcast=True)
            stream.add(submit(t))
    finally:
        if owned:
            client.close()


_LOST = object()


def _infrastructure_cause(fut: Any, killed_worker: type) -> str:
    """Why a Dask future ended without a value (its task never raised: `_call` catches that)."""
    if fut.status in ("cancelled", "finished", "lost"):
        return f"{fut.status} (its worker or its input data was lost)"
    try:
        exc = fut.exception(timeout=5)
    except Exception as e:  # noqa: BLE001 - a future that cannot even say why
        return f"{type(e).__name__}: {e}"
    if isinstance(exc, killed_worker):
        return f"KilledWorker: it killed every worker it ran on ({exc})"
    return f"{type(exc).__name__}: {exc}"


__all__ = [
    "RESULTS_FORMAT",
    "SCHEDULER_ENV",
    "JobsFailed",
    "ResultsFile",
    "Task",
    "TaskFailure",
    "resolve_scheduler",
    "run_jobs",
]
