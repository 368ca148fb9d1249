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

`effective_weights_blocks(g, r_wire, r_contact)` does the same for the column-block
solver of small arrays (`blocks.effective_weights_batch`, a whole layer group of
arrays of at most 64 rows at once): the batch is cut into chunks, a few per worker.

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
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

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
    """A worker solves one task at a time on one thread: no dense-nd threads, BLAS and torch at 1."""
    os.environ[SOLVER_PROCESSES_ENV] = "1"
    import torch

    from anncc.runtime.irdrop import dense_nd

    dense_nd._ND_WORKERS = 1
    torch.set_num_threads(1)
    _keep_freed_memory()


def _keep_freed_memory() -> None:
    """Make this (worker) process's malloc keep freed memory for the next task.

    A task allocates and frees tens of MB of temporaries; glibc serves blocks that
    large with fresh mmaps and unmaps them on free, so every task pays the kernel to
    map and zero its pages again (~2,400 page faults per 256×256 dense-nd solve).
    Raising the mmap and trim thresholds keeps them in the heap. Only in the solver's
    own worker processes; nothing happens where glibc's `mallopt` is missing.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h>
    mallopt(m_mmap_threshold, _MMAP_THRESHOLD_MAX)
    mallopt(m_trim_threshold, (1 << 31) - 1)


#: glibc's largest mmap threshold on 64-bit systems (4 MiB · sizeof(long)): larger blocks
#: are always mapped afresh, so the pool's column-block chunks stay below it.
_MMAP_THRESHOLD_MAX = 32 * 2**20


def _solve(cells: NDArray[np.float64], r_wire_ohm: float, r_contact_ohm: float) -> NDArray[np.float64]:
    from anncc.runtime import irdrop

    return irdrop.effective_weights(cells, MeshParams(r_wire_ohm, r_contact_ohm))


def _solve_blocks(g: NDArray[np.float64], r_wire_ohm: float, r_contact_ohm: float) -> NDArray[np.float64]:
    from anncc.runtime.irdrop.blocks import effective_weights_batch

    return effective_weights_batch(g, r_wire_ohm, r_contact_ohm).numpy()


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


#: `effective_weights_blocks` uses the pool from this much work (Σ columns·rows³ over the
#: batch, about 1 ns each on one thread: ~0.5 s), or whenever the pool is running and the
#: batch makes at least two chunks.
_MIN_BLOCK_WORK_FOR_POOL = 5 * 10**8
#: Chunks per worker process (smaller chunks balance the workers; each costs one round trip).
_BLOCK_CHUNKS_PER_PROCESS = 4
#: A pool chunk's [B, M, N, N] float64 blocks hold at most this many numbers (16 MiB): below
#: glibc's mmap threshold, so the workers reuse their memory (`_keep_freed_memory`).
_POOL_CHUNK_CELLS = 2**21


def block_chunk(b: int, rows: int, cols: int) -> int | None:
    """Arrays per pool chunk for a batch of b arrays of rows×cols (`effective_weights_blocks`),
    or None when the batch is solved in place."""
    n = solver_processes()
    work = b * cols * rows ** 3
    if n > 1 and b > 1 and (work >= _MIN_BLOCK_WORK_FOR_POOL or (_POOL is not None and _POOL_SIZE == n)):
        per = max(1, min(_POOL_CHUNK_CELLS // max(1, cols * rows * rows),
                         -(-b // (n * _BLOCK_CHUNKS_PER_PROCESS))))
        if -(-b // per) >= 2:
            return per
    return None


#: Chunks in flight per worker process ahead of the one the caller takes (`effective_weights_stream`).
_STREAM_AHEAD_PER_PROCESS = 3


def effective_weights_stream(cells: Callable[[int, int], Tensor], b: int, rows: int, cols: int,
                             r_wire_ohm: float, r_contact_ohm: float
                             ) -> Iterator[tuple[int, int, Tensor]]:
    """`effective_weights_blocks` of b arrays of rows×cols (at most `blocks.MAX_ROWS` rows) as
    a stream: yields (i0, i1, G_eff of arrays i0..i1−1) in order, where `cells(i0, i1)` makes
    those arrays' cell conductances [i1 − i0, rows, cols] (float64) when they are needed.

    On the pool, chunks are made and sent ahead (`_STREAM_AHEAD_PER_PROCESS` per worker), so
    whatever the caller does with one chunk's G_eff, and its making of the next chunks' cells,
    runs while the workers solve: a layer group's first IR-drop read no longer alternates
    between the main process (cells, then count matrices, for the whole group) and the
    workers (the solves), each waiting for the other. The numbers are `effective_weights_blocks`'
    bit for bit (every array is solved on its own whatever its chunk).
    """
    from anncc.runtime.irdrop.blocks import effective_weights_batch

    per = block_chunk(b, rows, cols)
    pool = _pool(solver_processes()) if per is not None else None
    if pool is None or per is None:  # in place, a chunk of the solver's own size at a time
        from anncc.runtime.irdrop.blocks import CHUNK_CELLS

        step = max(1, CHUNK_CELLS // max(1, cols * rows * rows))
        for i in range(0, b, step):
            j = min(b, i + step)
            yield i, j, effective_weights_batch(cells(i, j), r_wire_ohm, r_contact_ohm)
        return
    spans = [(i, min(b, i + per)) for i in range(0, b, per)]
    ahead = _STREAM_AHEAD_PER_PROCESS * _POOL_SIZE
    futures: deque[Future[NDArray[np.float64]]] = deque()  # chunks sent-1 … k, in order
    sent = 0
    live: ProcessPoolExecutor | None = pool
    for k, (i, j) in enumerate(spans):
        while live is not None and sent < min(len(spans), k + ahead):
            i0, i1 = spans[sent]
            g64 = np.ascontiguousarray(cells(i0, i1).detach().to(torch.float64).numpy())
            try:
                futures.append(live.submit(_solve_blocks, g64, r_wire_ohm, r_contact_ohm))
            except BrokenProcessPool:
                live = None
                break
            sent += 1
        g_eff = None
        if futures:  # the front one is chunk k's
            try:
                g_eff = torch.from_numpy(futures.popleft().result())
            except BrokenProcessPool:  # a worker died (memory?): this chunk and the rest here
                live = None
                futures.clear()
                shutdown_pool()
        if g_eff is None:
            g_eff = effective_weights_batch(cells(i, j), r_wire_ohm, r_contact_ohm)
        yield i, j, g_eff


def effective_weights_blocks(g: Tensor, r_wire_ohm: float, r_contact_ohm: float) -> Tensor:
    """`blocks.effective_weights_batch(g, r_wire_ohm, r_contact_ohm)` for arrays g [B, N, M]
    of at most `blocks.MAX_ROWS` rows, in chunks spread over the pool of worker processes when
    the batch is large. Each array is solved on its own whatever the chunk, so the pool gives
    the in-place batch's numbers at one torch thread bit for bit; an in-place solve at more
    threads may differ from them in the last bits (measured on 64×64 arrays), as it already
    differed with the thread count before the pool.

    Why: the column-block solver is batched torch linear algebra whose batched Cholesky
    factorizations and inverses run one matrix after another on one core; torch's own
    threads gain little there and, on a machine with anything else running, its OpenMP
    workers wait on each other (32x64 arrays: 2.0 ms each on one thread, 49 ms on two
    threads beside one busy process; measured on the project's 2-core machine, 1 Dec 2026).
    Worker processes at one thread each scale with the cores instead.
    """
    b, rows, cols = g.shape
    if b == 0 or block_chunk(b, rows, cols) is None:
        from anncc.runtime.irdrop.blocks import effective_weights_batch

        return effective_weights_batch(g, r_wire_ohm, r_contact_ohm)
    parts = effective_weights_stream(lambda i, j: g[i:j], b, rows, cols, r_wire_ohm, r_contact_ohm)
    return torch.cat([part for _, _, part in parts])
