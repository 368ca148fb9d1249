"""Many arrays' exact effective weights at once, one array per worker process.

Part of `anncc.runtime.irdrop`. `effective_weights_many(cells, params)` is
`[effective_weights(g, p) for g, p in zip(cells, params)]`, the same numbers
bit for bit: each array is solved by the same code with BLAS held to one thread
in either place. What changes is where: a large batch of large arrays (a layer
of 256×256 arrays on a ResNet-scale chip, 66 ms each with dense-nd) is spread
over a pool of worker processes, one array per task.

Why processes: dense-nd's own worker threads gain little on a 256×256 mesh
(65 → 62 ms per array on 2 cores; its small merges are many short numpy calls
that hold the GIL), two threads solving two arrays reach 46 ms per array, two
processes 37 ms per array (measured on the project's 2-core machine,
1 Dec 2026, 16 random 256×256 arrays, R_wire 1 Ω, R_contact 50 Ω).

The pool is spawned on first need and kept for the life of the process (its
start, about a second, is paid once). It is used only when the work is worth it
(`_MIN_SITES_FOR_POOL` cells still to solve, or the pool already running);
smaller batches, single-core machines, and processes that are themselves
workers of a job pool (`ANNCC_SOLVER_PROCESSES=1`, which `runtime.jobs` sets in
its workers, local or Dask) solve in place. `ANNCC_SOLVER_PROCESSES=N` sets the pool size
(default: the usable cores, at most 4). If the pool cannot be started or dies,
the arrays are solved in place. The workers start without re-running the user's
script (`runtime.jobs.main_module_hidden`), so a script without an
`if __name__ == "__main__":` guard is safe.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

import numpy as np
from numpy.typing import NDArray

from anncc.runtime.irdrop.mesh import MeshParams
from anncc.runtime.jobs import SOLVER_PROCESSES_ENV, main_module_hidden

_MIN_SITES_FOR_POOL = 4 * 256 * 256  # about 0.25 s of dense-nd work: below it, solve in place
_POOL: ProcessPoolExecutor | None = None
_POOL_SIZE = 0


def solver_processes() -> int:
    """How many worker processes `effective_weights_many` may use (1: none)."""
    raw = os.environ.get(SOLVER_PROCESSES_ENV, "").strip()
    if raw:
        try:
            return max(1, int(raw))
        except ValueError:
            return 1
    from anncc.runtime.irdrop.dense_nd import _nd_worker_count

    return _nd_worker_count()  # the usable cores, at most 4 (dense-nd's own thread count)


def _worker_init() -> None:
    """A worker solves one array at a time on one thread: no dense-nd threads, BLAS at 1."""
    os.environ[SOLVER_PROCESSES_ENV] = "1"
    from anncc.runtime.irdrop import dense_nd

    dense_nd._ND_WORKERS = 1


def _solve(cells: NDArray[np.float64], r_wire_ohm: float, r_contact_ohm: float) -> NDArray[np.float64]:
    from anncc.runtime import irdrop

    return irdrop.effective_weights(cells, MeshParams(r_wire_ohm, r_contact_ohm))


def _ready() -> None:
    """A no-op task: submitting one per worker starts them all."""


def _pool(n: int) -> ProcessPoolExecutor | None:
    global _POOL, _POOL_SIZE
    if _POOL is not None and _POOL_SIZE == n:
        return _POOL
    shutdown_pool()
    try:
        with main_module_hidden():
            pool = ProcessPoolExecutor(max_workers=n, mp_context=get_context("spawn"),
                                       initializer=_worker_init)
            for f in [pool.submit(_ready) for _ in range(n)]:  # workers start on demand: all now
                f.result()
    except (OSError, AssertionError, RuntimeError, BrokenProcessPool):  # e.g. a daemonic process
        return None  # may not have children
    _POOL, _POOL_SIZE = pool, n
    return _POOL


def shutdown_pool() -> None:
    """Stop the worker processes (a later call starts new ones)."""
    global _POOL, _POOL_SIZE
    if _POOL is not None:
        _POOL.shutdown(wait=True, cancel_futures=True)
    _POOL, _POOL_SIZE = None, 0


def effective_weights_many(cells: Sequence[NDArray[np.float64]], params: Sequence[MeshParams]
                           ) -> list[NDArray[np.float64]]:
    """`irdrop.effective_weights` of every array (cell conductances [N, M], its mesh), in order."""
    if len(cells) != len(params):
        raise ValueError(f"{len(cells)} arrays but {len(params)} mesh descriptions")
    n = solver_processes()  # the pool's size stays the same whatever the batch
    sites = sum(int(np.size(c)) for c in cells)
    pool = None
    if n > 1 and len(cells) > 1 and (sites >= _MIN_SITES_FOR_POOL or (_POOL is not None and _POOL_SIZE == n)):
        pool = _pool(n)
    if pool is not None:
        try:
            return list(pool.map(_solve, cells, [p.r_wire_ohm for p in params],
                                 [p.r_contact_ohm for p in params]))
        except BrokenProcessPool:  # a worker died (memory?): solve here instead
            shutdown_pool()
    from anncc.runtime import irdrop  # the package's name, as callers (and tests) see it

    return [irdrop.effective_weights(c, p) for c, p in zip(cells, params, strict=True)]
